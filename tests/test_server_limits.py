"""Bounded retrieval requests and the optional bearer token, on the real server (uvicorn, 127.0.0.1).

The index is BM25 over the 2,600 real NQ gold passages (``../shared/data/nq``); every request
goes over HTTP to a server started here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import requests
from conftest import SHARED_DATA

from mem1_hf.cli import main
from mem1_hf.envs import LocalRetrievalEnv, RemoteRetrievalEnv
from mem1_hf.retrieval.client import RetrievalServerError
from mem1_hf.retrieval.server import create_app

ROOT = Path(__file__).resolve().parents[1]
NQ_CORPUS = SHARED_DATA / "nq" / "nq_gold_passages.corpus.jsonl"


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_limits", ROOT / "benchmarks" / "retrieval_server_load.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve_in_thread = _bench().serve_in_thread


@pytest.fixture(scope="module")
def env() -> LocalRetrievalEnv:
    return LocalRetrievalEnv.from_corpus(NQ_CORPUS, retriever="bm25")


@pytest.fixture(scope="module")
def url(env):
    with serve_in_thread(create_app(env)) as base:  # the default limits
        yield base


def _post(url: str, body, **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) or hasattr(body, "__next__") else json.dumps(body)
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return requests.post(f"{url}/retrieve", data=data, headers=headers, timeout=60, **kwargs)


def test_topk_is_capped_by_default(url, env):
    huge = _post(url, {"queries": ["who wrote hamlet"], "topk": 1e9})
    assert huge.status_code == 422 and len(huge.content) < 2000  # not the corpus
    over = _post(url, {"queries": ["who wrote hamlet"], "topk": 101})
    assert over.status_code == 422 and "topk must be <= 100" in over.text
    ok = _post(url, {"queries": ["who wrote hamlet"], "topk": 100})
    assert ok.status_code == 200 and len(ok.json()["result"][0]) == 100
    assert requests.get(f"{url}/health", timeout=10).json()["limits"]["max_topk"] == 100


@pytest.mark.parametrize("topk", ["3", True, 2.5, 3.0, [3]])
def test_non_integer_topk_is_422(url, topk):
    response = _post(url, {"queries": ["who wrote hamlet"], "topk": topk})
    assert response.status_code == 422, response.text


def test_long_queries_and_large_bodies_are_refused(url):
    long = _post(url, {"queries": ["x" * 5000], "topk": 3})
    assert long.status_code == 422 and "at most 4096 characters" in long.text
    huge = _post(url, {"queries": ["x" * (10 * 1024 * 1024)], "topk": 3})  # the 10 MB query
    assert huge.status_code == 413
    # a chunked upload declares no length: the limit is counted while reading
    body = json.dumps({"queries": ["y" * 1000] * 5000}).encode()

    def chunks():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    chunked = _post(url, chunks())
    assert chunked.status_code == 413
    assert _post(url, {"queries": ["who wrote hamlet"]}).status_code == 200  # still serving


def test_limits_are_configurable(env):
    from mem1_hf.retrieval.server import Limits

    limits = Limits(max_topk=5, max_query_chars=50, max_queries=2, max_body_bytes=2000)
    with serve_in_thread(create_app(env, limits=limits)) as base:
        assert _post(base, {"queries": ["q"], "topk": 6}).status_code == 422
        assert _post(base, {"queries": ["q"], "topk": 5}).status_code == 200
        assert _post(base, {"queries": ["q" * 51]}).status_code == 422
        assert _post(base, {"queries": ["a", "b", "c"]}).status_code == 413
        assert _post(base, {"queries": ["a"], "pad": "z" * 3000}).status_code == 413


def test_optional_bearer_token(env, monkeypatch):
    monkeypatch.delenv("MEM1_RETRIEVER_TOKEN", raising=False)
    with serve_in_thread(create_app(env, token="s3cret")) as base:
        assert _post(base, {"queries": ["who wrote hamlet"]}).status_code == 401
        wrong = _post(base, {"queries": ["q"]}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert requests.get(f"{base}/health", timeout=10).json()["auth"] == "bearer"
        with pytest.raises(RetrievalServerError, match="HTTP 401"):
            RemoteRetrievalEnv(base).search(["who wrote hamlet"])
        assert len(RemoteRetrievalEnv(base, token="s3cret").search(["who wrote hamlet"])[0]) == 3
        monkeypatch.setenv("MEM1_RETRIEVER_TOKEN", "s3cret")
        assert len(RemoteRetrievalEnv(base).search(["who wrote hamlet"])[0]) == 3


def test_help_states_limits_and_no_authentication(capsys):
    with pytest.raises(SystemExit):
        main(["serve-retriever", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "--max-topk",
        "(default 100)",
        "--max-query-chars",
        "--max-body-bytes",
        "No authentication",
    ):
        assert phrase in text
    assert "MEM1_RETRIEVER_TOKEN" in text and "127.0.0.1" in text
