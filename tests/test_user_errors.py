"""One ``error:`` line instead of a traceback or silent nonsense; indexes that match their corpus.

Real files, real indexes, the real tokenizer with a tiny random model, real subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from mem1_hf import cli
from mem1_hf.cli import main
from mem1_hf.errors import Mem1InputError

ROOT = Path(__file__).resolve().parents[1]
SMALL_CORPUS = SHARED_DATA / "nq" / "searchr1_example_corpus.jsonl"
NQ_ORACLE = SHARED_DATA / "nq" / "nq_open_oracle_2000.jsonl.gz"


def one_error(capsys, argv: list[str], match: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err, err


@pytest.fixture
def index(tmp_path) -> Path:
    from mem1_hf.envs import LocalRetrievalEnv

    return LocalRetrievalEnv.from_corpus(SMALL_CORPUS).save(tmp_path / "idx")


# ----------------------------------------------------------------------------- point 4


def test_corpus_out_is_a_folder_or_unwritable(tmp_path, capsys):
    source = ["corpus", "--source", str(NQ_ORACLE), "--max-questions", "5", "--out"]
    one_error(capsys, [*source, str(tmp_path)], "is a directory")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_error(capsys, [*source, str(blocker / "corpus.jsonl")], "cannot write")
    one_error(capsys, [*source, "/proc/mem1-corpus.jsonl"], "cannot write")  # root cannot write here either


def test_eval_out_is_an_existing_file(tmp_path, capsys):
    target = tmp_path / "runs.txt"
    target.write_text("notes")
    argv = ["eval", "--source", f"nq={SHARED_DATA / 'nq' / 'NQ-open.dev.jsonl'}", "--out", str(target)]
    one_error(capsys, argv, "is a file")
    assert target.read_text() == "notes"


def test_manifest_missing_keys_or_naming_an_unknown_retriever(index, capsys):
    from mem1_hf.envs import LocalRetrievalEnv

    manifest_path = index / "mem1_index.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({k: v for k, v in manifest.items() if k != "corpus_size"}))
    with pytest.raises(Mem1InputError, match="lacks corpus_size"):
        LocalRetrievalEnv.load(index)
    one_error(capsys, ["run", "--index", str(index), "q"], "lacks corpus_size")
    manifest_path.write_text(json.dumps({**manifest, "retriever": "splade"}))
    with pytest.raises(Mem1InputError, match="unknown retriever 'splade'.*reads bm25, dense"):
        LocalRetrievalEnv.load(index)


def test_ctrl_c_while_the_parser_is_built(monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt  # what Ctrl-C does while the plugins are imported

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["--help"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_help_imports_neither_torch_nor_transformers():
    code = (
        "import sys, contextlib, io\n"
        "from mem1_hf.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'fastapi') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pipeline_is_registered_when_transformers_pipelines_load():
    code = (
        "import mem1_hf, sys\n"
        "assert 'torch' not in sys.modules\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "print('mem1-agent' in PIPELINE_REGISTRY.get_supported_tasks())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


# ----------------------------------------------------------------------------- point 5


@pytest.mark.parametrize("n", ["0", "-1"])
def test_corpus_max_questions_below_one(tmp_path, capsys, n):
    out = tmp_path / "c.jsonl"
    one_error(capsys, ["corpus", "--source", str(NQ_ORACLE), "--max-questions", n, "--out", str(out)], ">= 1")
    assert not out.exists()


def test_pipeline_generation_settings_are_checked_before_generating(tokenizer, tiny_model):
    from transformers import pipeline

    import mem1_hf  # noqa: F401
    from mem1_hf.envs import LocalRetrievalEnv
    from mem1_hf.policy import ModelPolicy

    env = LocalRetrievalEnv.from_corpus(SMALL_CORPUS)
    agent = pipeline("mem1-agent", model=tiny_model, tokenizer=tokenizer, env=env)
    calls = []
    original = ModelPolicy.generate
    ModelPolicy.generate = lambda self, rs: calls.append(rs) or original(self, rs)
    try:
        for kwargs, match in (
            ({"max_new_tokens": 0}, "max_new_tokens must be"),
            ({"batch_size": 0}, "batch_size must be an integer >= 1"),
            ({"temperature": -1.0}, "temperature must be"),
            ({"do_sample": True, "temperature": -1.0}, "temperature must be"),
            ({"do_sample": True, "top_p": 0}, "top_p must be in"),
        ):
            with pytest.raises(Mem1InputError, match=match):
                agent(["who wrote hamlet?"], max_turns=1, **kwargs)
        assert calls == []  # refused before the first turn
        assert agent(["who wrote hamlet?"], max_turns=1, max_new_tokens=2)["turns"]  # sane settings run
    finally:
        ModelPolicy.generate = original


def test_cli_negative_temperature(capsys):
    one_error(
        capsys, ["run", "--corpus", str(SMALL_CORPUS), "--temperature", "-1", "q"], "temperature must be >= 0"
    )


def test_from_corpus_with_strings_or_empty_contents():
    from mem1_hf.envs import Document, LocalRetrievalEnv

    with pytest.raises(Mem1InputError, match="corpus item 1 is a str, not a Document"):
        LocalRetrievalEnv.from_corpus(["Paris is in France.", "Berlin is in Germany."])
    with pytest.raises(Mem1InputError, match=r"corpus item 2 \(id '1'\) has empty contents"):
        LocalRetrievalEnv.from_corpus([Document("0", '"A"\nx'), Document("1", "")])
    with pytest.raises(Mem1InputError, match="corpus must be a file path or a list"):
        LocalRetrievalEnv.from_corpus(42)


# ----------------------------------------------------------------------------- point 6


def test_index_whose_corpus_was_edited_is_refused(index):
    from mem1_hf.envs import LocalRetrievalEnv

    path = index / "corpus.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    contents = [r["contents"] for r in records]
    # every passage moved to its neighbour's id: same size, same ids, wrong passages
    shifted = [{"id": r["id"], "contents": contents[(i + 1) % len(records)]} for i, r in enumerate(records)]
    path.write_text("".join(json.dumps(r) + "\n" for r in shifted))
    with pytest.raises(Mem1InputError, match="corpus.jsonl was changed after the index was built"):
        LocalRetrievalEnv.load(index)


def test_retriever_or_embedder_that_disagree_with_the_index(index, capsys):
    from mem1_hf.envs import LocalRetrievalEnv

    with pytest.raises(Mem1InputError, match="is a bm25 index, not dense"):
        LocalRetrievalEnv.load(index, retriever="dense")
    assert LocalRetrievalEnv.load(index, retriever="bm25").kind == "bm25"
    with pytest.raises(Mem1InputError, match="--embedder applies only to dense"):
        LocalRetrievalEnv.load(index, embedder="intfloat/e5-base-v2")
    one_error(capsys, ["run", "--index", str(index), "--retriever", "dense", "q"], "is a bm25 index")
    one_error(
        capsys,
        ["serve-retriever", "--index", str(index), "--retriever", "dense", "--port", "0"],
        "bm25 index",
    )


def test_dense_index_refuses_another_embedder(tmp_path):
    from mem1_hf.envs import LocalRetrievalEnv, default_embedder_path

    dense = LocalRetrievalEnv.from_corpus(SMALL_CORPUS, retriever="dense").save(tmp_path / "dense")
    with pytest.raises(Mem1InputError, match="built with embedder the default all-MiniLM-L6-v2"):
        LocalRetrievalEnv.load(dense, embedder="intfloat/e5-base-v2")
    assert LocalRetrievalEnv.load(dense, embedder=default_embedder_path()).kind == "dense"  # the same model
