"""WebSearchEnv against a real HTTP server on 127.0.0.1 that answers in Serper's JSON shape.

This machine has no internet, so google.serper.dev itself is replaced by a local
``http.server`` (in a thread) speaking Serper's API: ``POST /search`` with ``X-API-KEY`` and
``{"q", "num"}``, answered with ``{"searchParameters", "organic": [{"title", "link",
"snippet", "position"}]}``. Each test scripts the server's failures (HTTP 500, 429 with
``Retry-After``, slow answers, a rejected key) and checks what the environment does; the HTTP
traffic, retries and timeouts are real.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mem1_hf.envs import WebSearchEnv, render_docs
from mem1_hf.errors import Mem1InputError
from mem1_hf.retrieval.web_search import WebSearchError

KEY = "sk-serper-TEST-7f3a9c21d5e8b4"


class FakeSerper(ThreadingHTTPServer):
    """Serper's /search on 127.0.0.1: 12 organic results per query unless a failure is scripted."""

    daemon_threads = True
    request_queue_size = 64  # the default backlog of 5 would stall a batch of 8 connections

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/search"
        self.requests: list[tuple[dict[str, str], dict]] = []
        self.script: list[tuple[int, dict[str, str], str]] = []  # answers to give first, in order
        self.delay = 0.0
        self.echo_key = False  # a hostile/buggy service echoing the key back in its results
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: FakeSerper

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append((dict(self.headers), body))
            scripted = self.server.script.pop(0) if self.server.script else None
        if self.server.delay:
            time.sleep(self.server.delay)
        if scripted is None:
            extra = f" key={self.headers.get('X-API-KEY')}" if self.server.echo_key else ""
            organic = [
                {
                    "title": f"{body['q']} - result {i}",
                    "link": f"https://example.org/{i}?q={body['q'].replace(' ', '+')}",
                    "snippet": f"Snippet {i} about {body['q']}.{extra}",
                    "position": i,
                }
                for i in range(1, 13)
            ]
            scripted = (200, {}, json.dumps({"searchParameters": body, "organic": organic}))
        status, headers, text = scripted
        data = text.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


@pytest.fixture
def serper():
    server = FakeSerper()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens (the port was just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/search"


def _env(serper: FakeSerper, **kwargs) -> WebSearchEnv:
    return WebSearchEnv(api_key=KEY, base_url=serper.url, **{"backoff": 0.05, **kwargs})


def test_results_render_title_snippet_and_url(serper):
    docs = _env(serper).search(["capital of France"])[0]
    assert len(docs) == 10  # Serper's top 10, even when the page holds more
    assert docs[0].id == "https://example.org/1?q=capital+of+France"
    text = render_docs(docs)
    assert text.splitlines()[0] == (
        'Doc 1(Title: "capital of France - result 1") Snippet 1 about capital of France. '
        "(https://example.org/1?q=capital+of+France)"
    )
    assert text.splitlines()[9].startswith('Doc 10(Title: "capital of France - result 10")')
    assert len(_env(serper).search(["x"], topk=3)[0]) == 3


def test_request_carries_key_header_and_serper_body(serper):
    _env(serper, extra_params={"gl": "us"}).search(["who wrote Hamlet"])
    headers, body = serper.requests[0]
    assert headers["X-API-KEY"] == KEY
    assert headers["Content-Type"] == "application/json"
    assert body == {"gl": "us", "q": "who wrote Hamlet", "num": 10}


def test_key_from_environment_variable(serper, monkeypatch):
    monkeypatch.setenv("SERPER_API_KEY", "env-key-123")
    WebSearchEnv(base_url=serper.url).search(["q"])
    assert serper.requests[0][0]["X-API-KEY"] == "env-key-123"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_key_is_a_clear_error(monkeypatch, value):
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    if value is not None:
        monkeypatch.setenv("SERPER_API_KEY", value)
    with pytest.raises(Mem1InputError, match="no Serper API key: set SERPER_API_KEY"):
        WebSearchEnv()


def test_retries_after_500_and_429_then_succeeds(serper, caplog):
    serper.script = [(500, {}, '{"message": "oops"}'), (429, {"Retry-After": "1"}, '{"message": "slow"}')]
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mem1_hf"):
        docs = _env(serper).search(["q"])[0]
    assert len(docs) == 10 and len(serper.requests) == 3
    assert time.monotonic() - began >= 0.95  # Retry-After: 1 was honoured, not the 0.1 s backoff
    assert "HTTP 500" in caplog.text and "HTTP 429" in caplog.text


def test_rate_limit_that_persists_is_a_clear_error(serper):
    serper.script = [(429, {"Retry-After": "0"}, '{"message": "Too many requests"}')] * 3
    with pytest.raises(WebSearchError, match=r"rate limit still hit after 2 attempt\(s\).*HTTP 429"):
        _env(serper, max_retries=1).search(["q"])
    assert len(serper.requests) == 2


def test_service_error_is_not_retried_forever(serper):
    serper.script = [(400, {}, '{"message": "Query must not be longer than 2048"}')]
    with pytest.raises(WebSearchError, match="service answered an error.*HTTP 400.*2048"):
        _env(serper).search(["q"])
    assert len(serper.requests) == 1  # a 4xx is not transient


def test_timeout_is_a_clear_error(serper):
    serper.delay = 1.0
    began = time.monotonic()
    with pytest.raises(WebSearchError, match=r"not reachable \(timed out, 2 attempt\(s\); timeout 0.2 s\)"):
        _env(serper, timeout=0.2, max_retries=1).search(["q"])
    assert time.monotonic() - began < 1.5


def test_batch_is_sent_concurrently_and_keeps_order(serper):
    serper.delay = 0.3
    queries = [f"query {i}" for i in range(8)]
    began = time.monotonic()
    rows = _env(serper, max_concurrency=8).search(queries + ["  "])
    assert time.monotonic() - began < 8 * 0.3 / 2  # sequential would take 2.4 s
    assert [row[0].title for row in rows[:8]] == [f'"query {i} - result 1"' for i in range(8)]
    assert rows[8] == []  # a blank query costs no request
    assert len(serper.requests) == 8


def test_key_never_leaks(serper, caplog):
    """Not in repr, errors, logs (even DEBUG, urllib3 included) or observations."""
    with caplog.at_level(logging.DEBUG):
        env = _env(serper, max_retries=1)
        assert KEY not in repr(env) and KEY not in str(env) and KEY not in repr(vars(env))
        serper.echo_key = True  # the service puts the key into its snippets
        text = env.search_text(["q"])[0]
        assert "key=[redacted]" in text and KEY not in text

        serper.script = [(500, {}, f'{{"message": "bad key {KEY}"}}')] * 2
        with pytest.raises(WebSearchError) as failed:
            env.search(["q"])
        serper.script = [(403, {}, json.dumps({"message": f"Unauthorized: {KEY}", "statusCode": 403}))]
        with pytest.raises(WebSearchError, match="API key was rejected") as rejected:
            env.search(["q"])
        with pytest.raises(WebSearchError, match="not reachable") as down:
            WebSearchEnv(api_key=KEY, base_url=_dead_url(), max_retries=1, backoff=0.01).search(["q"])
    for err in (failed.value, rejected.value, down.value):
        message = str(err)
        assert KEY not in message and "\n" not in message
        # no chained requests exception (it holds the prepared request, headers included)
        assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert "[redacted]" in str(rejected.value)
    assert caplog.records and KEY not in caplog.text
