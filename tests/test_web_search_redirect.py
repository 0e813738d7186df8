"""The Serper key never follows a redirect, and never hides in an exception chain.

Two HTTP servers on 127.0.0.1 stand in for Serper and for "another host" (Serper itself is the
unreachable outside world, so it is the one thing replaced here): the first answers 307 with a
``Location`` on the second, which records every request it gets.
"""

from __future__ import annotations

import json
import threading

import pytest
from test_web_search import KEY, FakeSerper, _dead_url

from mem1_hf.envs import WebSearchEnv
from mem1_hf.retrieval.web_search import WebSearchError


@pytest.fixture
def two_servers():
    servers = [FakeSerper(), FakeSerper()]
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_gets_no_key(two_servers, status):
    serper, other = two_servers
    # "localhost" vs "127.0.0.1": another host name for requests, the same machine for the test
    target = other.url.replace("127.0.0.1", "localhost")
    serper.script = [(status, {"Location": target}, "{}")]
    env = WebSearchEnv(api_key=KEY, base_url=serper.url, max_retries=0)
    with pytest.raises(
        WebSearchError, match=rf"redirected \(HTTP {status}\) to localhost:\d+; not following"
    ):
        env.search(["capital of France"])
    assert len(serper.requests) == 1 and serper.requests[0][0]["X-API-KEY"] == KEY
    assert other.requests == []  # the other host never saw the request, let alone the key
    assert all(KEY not in json.dumps(headers) for headers, _ in other.requests)


def _chain(err: BaseException) -> list[BaseException]:
    seen = []
    while err is not None and err not in seen:
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


def test_no_exception_in_the_chain_carries_the_key(two_servers):
    serper, _ = two_servers
    failures = []
    for script in ([(500, {}, "oops")] * 2, [(200, {}, "not json")]):
        serper.script = list(script)
        with pytest.raises(WebSearchError) as err:
            WebSearchEnv(api_key=KEY, base_url=serper.url, max_retries=1, backoff=0.01).search(["q"])
        failures.append(err.value)
    with pytest.raises(WebSearchError) as down:
        WebSearchEnv(api_key=KEY, base_url=_dead_url(), max_retries=1, backoff=0.01).search(["q"])
    failures.append(down.value)
    for failure in failures:
        chain = _chain(failure)
        assert chain == [failure]  # nothing chained: a requests error would hold the prepared request
        assert KEY not in str(failure) and KEY not in repr(vars(failure))
