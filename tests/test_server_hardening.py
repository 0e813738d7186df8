"""What one client can cost the real retrieval server (uvicorn on 127.0.0.1, real HTTP).

NaN / Infinity ``topk`` (422, not 500), the token checked before the body, slow clients cut off
(headers and body, HTTP 408), the connection bound (503) and the answer bounded (documents per
request and bytes, 413 naming the bound). The index is BM25 over the 2,600 real NQ gold
passages; servers run with :func:`server_config`, as ``mem1 serve-retriever`` runs them, and one
test runs the command itself. Every loop here stops by itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import SHARED_DATA
from serving import free_port
from serving import serve as serve_config

from mem1_hf.envs import LocalRetrievalEnv, RemoteRetrievalEnv
from mem1_hf.errors import Mem1InputError
from mem1_hf.retrieval.server import Limits, create_app, server_config

ROOT = Path(__file__).resolve().parents[1]
NQ_CORPUS = SHARED_DATA / "nq" / "nq_gold_passages.corpus.jsonl"


@contextmanager
def serve(env: LocalRetrievalEnv, limits: Limits | None = None, token: str | None = None) -> Iterator[str]:
    """``create_app`` under uvicorn with ``server_config`` (the command's protocol and bounds)."""
    app = create_app(env, limits=limits, token=token)
    with serve_config(lambda port: server_config(app, "127.0.0.1", port, limits)) as url:
        yield url


@pytest.fixture(scope="module")
def env() -> LocalRetrievalEnv:
    return LocalRetrievalEnv.from_corpus(NQ_CORPUS, retriever="bm25")


@pytest.fixture(scope="module")
def url(env) -> Iterator[str]:
    with serve(env) as base:  # the default limits
        yield base


@pytest.fixture(scope="module")
def queries() -> list[str]:
    # the first words of real passages: each matches at least 100 passages under BM25
    with open(NQ_CORPUS) as handle:
        found = [" ".join(json.loads(line)["contents"].split()[:14]) for line, _ in zip(handle, range(400))]
    assert len(found) == 400
    return found


def _post(url: str, data: str | bytes, headers: dict[str, str] | None = None) -> requests.Response:
    headers = {"content-type": "application/json", **(headers or {})}
    return requests.post(f"{url}/retrieve", data=data, headers=headers, timeout=60)


@pytest.mark.parametrize("topk", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_topk_is_422_not_500(url, topk):
    answer = _post(url, '{"queries": ["who wrote hamlet"], "topk": ' + topk + "}")
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "topk"] and error["msg"] == "Input should be a valid integer"
    # a NaN elsewhere in the body is echoed as text too
    assert _post(url, '{"queries": [NaN], "topk": 3}').status_code == 422
    assert _post(url, '{"queries": ["who wrote hamlet"], "topk": 3}').status_code == 200


def test_token_is_checked_before_the_body(env):
    with serve(env, token="s3cret") as base:
        for body in (
            '{"queries": "x", "topk": NaN}',
            "not json at all",
            '{"queries": ["q"], "topk": "3"}',
            json.dumps({"queries": ["q"] * 5000}),  # over max_queries
            "x" * (5 * 1024 * 1024),  # over max_body_bytes
        ):
            for headers in ({}, {"Authorization": "Bearer nope"}):
                answer = _post(base, body, headers)
                assert answer.status_code == 401, (body[:40], answer.status_code, answer.text[:200])
                assert answer.headers["www-authenticate"] == "Bearer"
                assert answer.json() == {"detail": "missing or wrong bearer token"}
        good = {"Authorization": "Bearer s3cret"}
        assert _post(base, '{"queries": ["q"], "topk": NaN}', good).status_code == 422
        assert _post(base, '{"queries": ["who wrote hamlet"]}', good).status_code == 200
        assert requests.get(f"{base}/health", timeout=10).json()["auth"] == "bearer"  # open


def _slow_client(port: int, head: bytes, drip: bytes, every: float, give_up: float) -> tuple[float, bytes]:
    """Send ``head``, then ``drip`` one byte every ``every`` s; the seconds until the server
    closes the connection (or ``give_up``) and what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=give_up) as sock:
        sock.settimeout(every)
        began = time.monotonic()
        if head:
            sock.sendall(head)
        answer = b""
        for byte in drip:
            if time.monotonic() - began > give_up:
                break
            try:
                sock.sendall(bytes([byte]))
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # reset: the server closed while we were sending
                break
            if not chunk:
                break
            answer += chunk
        return time.monotonic() - began, answer


JSON = {"content-type": "application/json"}
BODY = b'{"queries": ["who wrote hamlet"], "topk": 3}'
HEAD = (
    b"POST /retrieve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % (len(BODY) + 200)
)


def test_a_slow_body_is_cut_off_by_default(url):
    """The issue's probe: a body sent one byte a second (held 70 s before). Default: 5 s."""
    port = int(url.rsplit(":", 1)[1])
    held, answer = _slow_client(port, HEAD, BODY + b" " * 200, every=1.0, give_up=20)
    assert held < 8, held
    assert answer.startswith(b"HTTP/1.1 408") and b"request body not received within 5 s" in answer
    assert _post(url, BODY).status_code == 200  # still serving


def test_slow_headers_and_idle_connections_are_cut_off(env):
    limits = Limits(read_timeout=1.0)
    with serve(env, limits) as base:
        port = int(base.rsplit(":", 1)[1])
        held, answer = _slow_client(port, b"", HEAD + BODY, every=0.2, give_up=15)
        assert held < 3, held
        assert answer.startswith(b"HTTP/1.1 408") and b"request headers not received" in answer
        # a connection that never sends a byte is closed too (silently: no request begun)
        with socket.create_connection(("127.0.0.1", port), timeout=15) as idle:
            began = time.monotonic()
            assert idle.recv(100) == b"" and time.monotonic() - began < 3
        # a slow body under a 1 s limit
        held, answer = _slow_client(port, HEAD, BODY + b" " * 200, every=0.2, give_up=15)
        assert held < 3 and answer.startswith(b"HTTP/1.1 408"), (held, answer[:60])
        # an ordinary client on a kept-alive connection is unaffected
        with requests.Session() as session:
            for _ in range(3):
                assert (
                    session.post(f"{base}/retrieve", data=BODY, headers=JSON, timeout=10).status_code == 200
                )


def test_connections_are_bounded(env):
    with serve(env, Limits(max_connections=3, read_timeout=10.0)) as base:
        port = int(base.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        try:
            time.sleep(0.2)  # the server has accepted them
            busy = _post(base, BODY)
            assert busy.status_code == 503, busy.text
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 10
        while (status := _post(base, BODY).status_code) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200


def test_the_answer_is_bounded(url, env, queries):
    # the amplification: many queries x topk 100 (a 233 KB request answered 254 MiB)
    body = json.dumps({"queries": queries[:200], "topk": 100, "return_scores": True})
    answer = _post(url, body)
    assert answer.status_code == 413 and len(answer.content) < 1000
    assert answer.json()["detail"] == (
        "this request asks for 200 queries x topk 100 = 20000 documents; at most 16384 per "
        "request on this server (max_documents): send fewer queries"
    )
    ok = _post(url, json.dumps({"queries": queries[:163], "topk": 100}))
    assert ok.status_code == 200 and len(ok.json()["result"]) == 163  # the bound itself is served
    assert requests.get(f"{url}/health", timeout=10).json()["limits"]["max_documents"] == 16384
    with serve(env, Limits(max_response_bytes=20_000)) as small:
        big = _post(small, json.dumps({"queries": queries[:10], "topk": 10}))
        assert big.status_code == 413 and "(max_response_bytes)" in big.json()["detail"]
        assert _post(small, json.dumps({"queries": queries[:2], "topk": 3})).status_code == 200


def test_client_splits_a_batch_over_the_bound(env, queries):
    with serve(env, Limits(max_documents=10)) as base:
        assert _post(base, json.dumps({"queries": queries[:4], "topk": 3})).status_code == 413
        remote = RemoteRetrievalEnv(base, max_documents=10, max_retries=0)
        got = remote.search(queries[:25], topk=3)  # 3 queries per request, 9 requests
        want = env.search(queries[:25], topk=3)
        assert [[d.to_dict() for d in row] for row in got] == [[d.to_dict() for d in row] for row in want]
    with pytest.raises(Mem1InputError, match="max_documents must be an integer >= 1"):
        RemoteRetrievalEnv(base, max_documents=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("read_timeout", 0), ("read_timeout", float("nan")), ("max_documents", 0), ("max_connections", 1.5)],
)
def test_limits_are_checked(field, value):
    with pytest.raises(Mem1InputError, match=f"{field} must be"):
        Limits(**{field: value})


def test_serve_retriever_command_applies_the_bounds(tmp_path, env):
    """``mem1 serve-retriever`` in its own process: the new flags reach the running server."""
    index = env.save(tmp_path / "nq-bm25")
    port = free_port()
    code = (
        "import sys; from mem1_hf import cli; cli.PLUGINS = ('mem1_hf.retrieval.server',); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    flags = ["--read-timeout", "1", "--max-documents", "6", "--max-connections", "8"]
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve-retriever", "--index", str(index), "--port", str(port), *flags],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        health = None
        while health is None and time.monotonic() < deadline and process.poll() is None:
            try:
                health = requests.get(f"{base}/health", timeout=2).json()
            except requests.ConnectionError:
                time.sleep(0.2)
        assert health is not None, "the server did not start"
        assert {k: health["limits"][k] for k in ("read_timeout", "max_documents", "max_connections")} == {
            "read_timeout": 1.0, "max_documents": 6, "max_connections": 8,
        }  # fmt: skip
        assert _post(base, json.dumps({"queries": ["a", "b", "c"], "topk": 3})).status_code == 413
        held, answer = _slow_client(port, b"", HEAD + BODY, every=0.2, give_up=15)
        assert held < 3 and answer.startswith(b"HTTP/1.1 408"), (held, answer[:60])
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_help_names_the_new_bounds(capsys):
    from mem1_hf.cli import main

    with pytest.raises(SystemExit):
        main(["serve-retriever", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "--max-documents",
        "(default 16384)",
        "--max-response-bytes",
        "--read-timeout",
        "(default 5.0)",
    ):
        assert phrase in text
    assert "--max-connections" in text and "HTTP 408" in text and "HTTP 503" in text
