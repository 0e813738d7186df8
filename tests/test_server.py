"""The real retrieval server (uvicorn on 127.0.0.1) over a real index, queried over HTTP.

The index is BM25 over the 2,600 real NQ gold passages in ``../shared/data/nq``; queries are
real NQ-open dev questions. Nothing is mocked: the server runs ``create_app`` under uvicorn in a
thread, the client is :class:`RemoteRetrievalEnv`, and ``mem1 serve-retriever`` runs as its own
process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import SHARED_DATA

from mem1_hf import cli
from mem1_hf.envs import LocalRetrievalEnv, RemoteRetrievalEnv
from mem1_hf.errors import Mem1InputError
from mem1_hf.retrieval.client import RetrievalServerError, _document
from mem1_hf.retrieval.server import create_app

ROOT = Path(__file__).resolve().parents[1]
NQ_CORPUS = SHARED_DATA / "nq" / "nq_gold_passages.corpus.jsonl"
NQ_DEV = SHARED_DATA / "nq" / "NQ-open.dev.jsonl"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "retrieval_server_load", ROOT / "benchmarks" / "retrieval_server_load.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()  # the load check and the server-in-a-thread helper are the benchmark's own


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    from mem1_hf.data import build_corpus

    env = LocalRetrievalEnv.from_corpus(build_corpus(NQ_CORPUS), retriever="bm25")
    return env.save(tmp_path_factory.mktemp("nq") / "nq-bm25")


@pytest.fixture(scope="module")
def local_env(index_dir) -> LocalRetrievalEnv:
    return LocalRetrievalEnv.load(index_dir)


@pytest.fixture(scope="module")
def server_url(local_env):
    with bench.serve_in_thread(create_app(local_env)) as url:
        yield url


@pytest.fixture(scope="module")
def questions() -> list[str]:
    with open(NQ_DEV) as handle:
        return [json.loads(line)["question"] for line, _ in zip(handle, range(40))]


def test_remote_results_equal_local(server_url, local_env, questions):
    remote = RemoteRetrievalEnv(server_url)
    for k in (3, 5):
        got, want = remote.search(questions, topk=k), local_env.search(questions, topk=k)
        assert [[d.to_dict() for d in row] for row in got] == [[d.to_dict() for d in row] for row in want]
    assert remote.search_text(questions[:2]) == local_env.search_text(questions[:2])
    assert remote.search([]) == []


def test_raw_json_is_the_search_r1_api(server_url, local_env, questions):
    url = f"{server_url}/retrieve"
    answer = requests.post(url, json={"queries": questions[:2], "topk": 2, "return_scores": True}, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["result"] and len(body["result"]) == 2
    for row, docs in zip(body["result"], local_env.search(questions[:2], 2)):
        assert [list(item) for item in row] == [["document", "score"]] * 2
        assert [item["document"] for item in row] == [{"id": d.id, "contents": d.contents} for d in docs]
        assert [item["score"] for item in row] == [d.score for d in docs]
    # Search-R1 defaults: return_scores false -> bare documents; topk omitted -> the server's topk (3)
    bare = requests.post(url, json={"queries": questions[:1]}, timeout=10).json()
    assert [list(doc) for doc in bare["result"][0]] == [["id", "contents"]] * 3
    assert requests.post(url, json={"queries": []}, timeout=10).json() == {"result": []}
    assert requests.post(url, json={"queries": "one string"}, timeout=10).status_code == 422
    # Search-R1: a missing or 0 topk means the server's default; a negative one is refused
    zero = requests.post(url, json={"queries": questions[:1], "topk": 0}, timeout=10)
    assert zero.status_code == 200 and zero.json() == bare
    assert requests.post(url, json={"queries": ["q"], "topk": -1}, timeout=10).status_code == 422
    # a query matching no indexed word: an empty list of documents, as Search-R1's BM25 server
    assert requests.post(url, json={"queries": ["zzqqxx"], "topk": 3}, timeout=10).json() == {"result": [[]]}
    health = requests.get(f"{server_url}/health", timeout=10).json()
    assert {k: health[k] for k in ("status", "documents", "retriever", "topk", "auth")} == {
        "status": "ok", "documents": 2600, "retriever": "bm25", "topk": 3, "auth": "none",
    }  # fmt: skip


def test_client_reads_results_without_scores_and_flashrag_docs():
    doc = _document({"id": 7, "contents": '"Hamlet"\nA play.'}, "here")
    assert (doc.id, doc.title, doc.text, doc.score) == ("7", '"Hamlet"', "A play.", None)
    split = _document({"document": {"id": "1", "title": "Hamlet", "text": "A play."}, "score": 2}, "here")
    assert (split.contents, split.score) == ('"Hamlet"\nA play.', 2.0)
    with pytest.raises(RetrievalServerError, match="no 'contents'"):
        _document({"document": {"id": "1"}}, "here")


def test_server_down_is_a_clear_error():
    port = bench.free_port()  # released: nothing listens there
    env = RemoteRetrievalEnv(f"http://127.0.0.1:{port}", max_retries=2, backoff=0.01)
    began = time.monotonic()
    with pytest.raises(RetrievalServerError) as err:
        env.search(["who wrote Hamlet"])
    message = str(err.value)
    assert message == (
        f"retrieval server http://127.0.0.1:{port} is not reachable (connection refused, 3 attempt(s)); "
        "is it running? start one with `mem1 serve-retriever --index DIR`"
    )
    assert time.monotonic() - began < 5


def test_server_error_status_is_reported(server_url):
    env = RemoteRetrievalEnv(server_url + "/nothing-here", max_retries=0)
    with pytest.raises(RetrievalServerError, match=r"answered HTTP 404: \{\"detail\":\"Not Found\"\}"):
        env.search(["q"])
    with pytest.raises(Exception, match="must start with http"):
        RemoteRetrievalEnv("127.0.0.1:8013")


def test_load_check_8_clients_x_200_queries(server_url, local_env):
    """Bounded: 1,600 single-query requests from 8 threads, stopping after 45 s regardless."""
    report = bench.run_load(
        server_url, bench.corpus_queries(local_env), clients=8, per_client=200, max_seconds=45
    )
    print("\nload check:", json.dumps(report))
    assert report["errors"] == 0, report["first_error"]
    assert report["unfinished"] == 0 and report["queries"] == 1600


def test_serve_retriever_cli_process(index_dir):
    """``mem1 serve-retriever`` in its own process (through cli's plugin mechanism), then /health."""
    port = bench.free_port()
    code = (
        "import sys; from mem1_hf import cli; cli.PLUGINS = ('mem1_hf.retrieval.server',); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    args = ["serve-retriever", "--index", str(index_dir), "--port", str(port), "--topk", "2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert {k: health[k] for k in ("status", "documents", "retriever", "topk")} == {
            "status": "ok", "documents": 2600, "retriever": "bm25", "topk": 2,
        }  # fmt: skip
        docs = RemoteRetrievalEnv(f"http://127.0.0.1:{port}", topk=2).search(["who wrote Hamlet"])
        assert len(docs[0]) == 2
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert f"serving 2600 passages (bm25) from {index_dir} on http://127.0.0.1:{port}" in output


def test_serve_retriever_user_errors(index_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "PLUGINS", ("mem1_hf.retrieval.server",))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["serve-retriever", "--index", str(index_dir), "--port", str(port)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert cli.main(["serve-retriever", "--index", str(tmp_path), "--port", "0"]) == 2
    assert "is not a mem1 index directory" in capsys.readouterr().err
    assert cli.main(["serve-retriever", "--index", str(index_dir), "--topk", "0"]) == 2
    assert "--topk must be >= 1" in capsys.readouterr().err


def test_client_gets_no_documents_for_an_unmatched_query(server_url):
    from mem1_hf.data.documents import NO_RESULTS

    remote = RemoteRetrievalEnv(server_url)
    assert remote.search(["zzqqxx", "zzqqxx Hamlet"])[0] == []
    assert remote.search_text(["zzqqxx"]) == [NO_RESULTS]


def test_backend_failure_is_a_5xx_not_a_user_error():
    """A server whose own backend (here: another retrieval server that is not running) fails
    answers HTTP 502; the client raises an environment error, not a user error."""
    from mem1_hf.errors import Mem1EnvironmentError

    dead = RemoteRetrievalEnv("http://127.0.0.1:9", max_retries=0, timeout=2)
    with bench.serve_in_thread(create_app(dead)) as url:
        answer = requests.post(f"{url}/retrieve", json={"queries": ["q"], "topk": 1}, timeout=10)
        assert answer.status_code == 502 and "not reachable" in answer.json()["detail"]
        with pytest.raises(RetrievalServerError, match="answered HTTP 502") as failed:
            RemoteRetrievalEnv(url, max_retries=0).search(["q"])
    assert isinstance(failed.value, Mem1EnvironmentError) and not isinstance(failed.value, Mem1InputError)
