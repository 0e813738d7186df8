"""A resumed ``mem1 eval`` never mixes runs: settings + content hashes in ``run.json``, one writer.

Real data, real BM25 indexes, a tiny random model over the real tokenizer (the harness does not
care about answer quality), the real WebShop expert, and a real second ``mem1 eval`` process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HOTPOT_DEV, SHARED_DATA

from mem1_hf.cli import build_parser
from mem1_hf.errors import Mem1InputError
from mem1_hf.evaluation.cli import build_plan, run_plan

ROOT = Path(__file__).resolve().parents[1]
WEBSHOP = SHARED_DATA / "webshop"
SHOP = (
    "--env", "webshop", "--policy", "expert", "--limit", "2", "--modes", "mem1",
    "--products", str(WEBSHOP / "webshop_small_1000_products.json.gz"),
    "--attributes", str(WEBSHOP / "items_ins_v2_1000.json"),
)  # fmt: skip
FAST = ("--max-new-tokens", "4", "--max-turns", "1", "--max-obs-tokens", "32", "--modes", "mem1")


def plan(*argv: str):
    return build_plan(build_parser().parse_args(["eval", *argv]))


@pytest.fixture
def corpora(tmp_path) -> tuple[Path, Path]:
    """Two corpus files: the real Search-R1 example corpus, and the same with ids shifted."""
    first = tmp_path / "a.jsonl"
    shutil.copy(SHARED_DATA / "nq" / "searchr1_example_corpus.jsonl", first)
    lines = first.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    contents = [r["contents"] for r in records]
    shifted = [{"id": r["id"], "contents": contents[(i + 1) % len(contents)]} for i, r in enumerate(records)]
    second = tmp_path / "b.jsonl"
    second.write_text("".join(json.dumps(r) + "\n" for r in shifted))
    return first, second


def _qa(out: Path, *extra: str) -> tuple[str, ...]:
    source = ("--source", f"hotpotqa={HOTPOT_DEV}", "--source-limit", "20", "--objectives", "1")
    return (*source, "--limit", "1", *FAST, "--out", str(out), *extra)


def test_resume_with_other_corpus_index_or_questions_is_refused(tmp_path, corpora, tiny_model, tokenizer):
    from mem1_hf.envs import LocalRetrievalEnv

    first, second = corpora
    out = tmp_path / "run"
    run_plan(plan(*_qa(out, "--corpus", str(first))), tiny_model, tokenizer, progress=False)
    settings = json.loads((out / "run.json").read_text())
    assert len(settings["corpus_sha256"]) == 64 and settings["retriever"] == "bm25"
    assert set(settings["source_sha256"]) == {"hotpotqa"}
    # the same command resumes (nothing to do) and the same content under another path is fine
    run_plan(plan(*_qa(out, "--corpus", str(first))), tiny_model, tokenizer, progress=False)
    copy = tmp_path / "copy.jsonl"
    shutil.copy(first, copy)
    run_plan(plan(*_qa(out, "--corpus", str(copy))), tiny_model, tokenizer, progress=False)

    def refused(*argv: str, match: str) -> None:
        with pytest.raises(Mem1InputError, match=match):
            run_plan(plan(*argv), tiny_model, tokenizer, progress=False)

    refused(*_qa(out, "--corpus", str(second)), match=r"corpus_sha256 \(the passages of --corpus")
    copy.write_text(second.read_text())  # same path, edited content
    refused(*_qa(out, "--corpus", str(copy)), match="corpus_sha256")
    index = LocalRetrievalEnv.from_corpus(second).save(tmp_path / "idx")
    refused(*_qa(out, "--index", str(index)), match="corpus_sha256")
    refused(*_qa(out, "--corpus", str(first), "--test-fraction", "0.2"), match="test_fraction: 0.1 -> 0.2")
    refused(*_qa(out, "--corpus", str(first), "--source-limit", "30"), match="source_limit: 20 -> 30")
    refused(*_qa(out, "--corpus", str(first), "--retriever", "dense"), match="retriever: 'bm25' -> 'dense'")
    assert len((out / "trajectories.jsonl").read_text().splitlines()) == 1


def test_resume_with_other_composed_data_is_refused(tmp_path, tiny_model, tokenizer):
    from mem1_hf.data.compose import ComposeConfig, compose, write_composed

    data = tmp_path / "data"
    write_composed(compose([("hotpotqa", HOTPOT_DEV)], ComposeConfig(objectives=1, limit=20)), data)
    out = tmp_path / "run"
    argv = ("--data", str(data), "--limit", "1", *FAST, "--out", str(out))
    run_plan(plan(*argv), tiny_model, tokenizer, progress=False)
    # recomposed in place with more questions: same path, other tasks
    write_composed(
        compose([("hotpotqa", HOTPOT_DEV)], ComposeConfig(objectives=1, limit=40)), data, overwrite=True
    )
    with pytest.raises(Mem1InputError, match=r"tasks_sha256 \(the questions and gold answers"):
        run_plan(plan(*argv), tiny_model, tokenizer, progress=False)


def test_webshop_resume_with_a_goal_query_map_is_refused(tmp_path, tokenizer):
    out = tmp_path / "shop"
    run_plan(plan(*SHOP, "--out", str(out)), tokenizer=tokenizer, progress=False)
    with pytest.raises(Mem1InputError, match="goal_query_map"):
        run_plan(
            plan(*SHOP, "--goal-query-map", str(WEBSHOP / "goal_query_map.json"), "--out", str(out)),
            tokenizer=tokenizer,
            progress=False,
        )


def test_a_second_writer_is_refused(tmp_path, tokenizer):
    from mem1_hf.data.fingerprint import run_lock

    out = tmp_path / "shop"
    out.mkdir()
    with run_lock(out):
        with pytest.raises(Mem1InputError, match="being written by another run"):
            run_plan(plan(*SHOP, "--out", str(out)), tokenizer=tokenizer, progress=False)
        # a real second process gets one error line and exit status 2
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        argv = [sys.executable, "-m", "mem1_hf.cli", "eval", *SHOP, "--out", str(out)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and "being written by another run" in done.stderr
        assert done.stderr.count("\n") == 1
    assert not (out / "trajectories.jsonl").exists()
    run_plan(plan(*SHOP, "--out", str(out)), tokenizer=tokenizer, progress=False)  # free again
    assert len((out / "trajectories.jsonl").read_text().splitlines()) == 2


def test_out_pointing_at_a_file_is_one_error(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(Mem1InputError, match="is a file"):
        plan(*SHOP, "--out", str(target))
