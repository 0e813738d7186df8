"""The `mem1` command line, run as a real subprocess on real data."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import HOTPOT_DEV


def mem1(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mem1_hf.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus.jsonl"
    done = mem1("corpus", "--source", str(HOTPOT_DEV), "--max-questions", "30", "--out", str(corpus))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and corpus.stat().st_size > 0
    done = mem1("index", "--corpus", str(corpus), "--out", str(root / "index"))
    assert done.returncode == 0, done.stderr
    assert (root / "index" / "mem1_index.json").is_file()
    return root / "index"


@pytest.mark.slow
def test_run_json_with_the_default_model(index_dir):
    done = mem1(
        "run", "--index", str(index_dir), "--json", "--max-turns", "2", "--max-new-tokens", "24",
        "Who is older, Annie Morton or Terry Richardson?", "What is the fight song of the University of Kansas?",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(out["answers"]) == 2 and 1 <= len(out["turns"]) <= 2
    assert out["peak_tokens"] >= out["turns"][0]["context_tokens"] and out["mode"] == "mem1"


@pytest.mark.slow
def test_run_prints_a_table(index_dir):
    done = mem1(
        "run",
        "--index",
        str(index_dir),
        "--max-turns",
        "1",
        "--max-new-tokens",
        "8",
        "--gold",
        "Terry Richardson",
        "Who is older, Annie Morton or Terry Richardson?",
    )
    assert done.returncode == 0, done.stderr
    assert "peak tokens" in done.stdout and "Q: Who is older" in done.stdout
    assert "gold: Terry Richardson (" in done.stdout and "exact match" in done.stdout


def test_gold_answers_must_match_the_questions(index_dir):
    done = mem1("run", "--index", str(index_dir), "--gold", "a", "q1?", "q2?")
    _one_line_error(done, "--gold given 1 time(s) for 2 question(s)")


def _one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_corpus(tmp_path):
    _one_line_error(
        mem1("index", "--corpus", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "i")), "nope.jsonl"
    )


def test_malformed_corpus_reports_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "0", "contents": "\\"A\\"\\ntext"}\n{"id": "1", "contents": \n')
    _one_line_error(mem1("index", "--corpus", str(bad), "--out", str(tmp_path / "i")), "bad.jsonl", ":2")


def test_bad_run_arguments(index_dir, tmp_path):
    _one_line_error(mem1("run", "--index", str(tmp_path), "q?"), "not a mem1 index")
    _one_line_error(mem1("run", "--index", str(index_dir), "--max-turns", "0", "q?"), "max_turns")
    _one_line_error(mem1("run", "--index", str(index_dir), "  "), "empty question")
    _one_line_error(
        mem1("run", "--index", str(index_dir), "--model", str(tmp_path / "no-model"), "q?"),
        "cannot load model",
    )


@pytest.mark.parametrize("command", [["run"], ["eval"], ["trajectories"], ["webshop", "play"], ["compose"]])
def test_help_shows_each_default_once(command):
    done = mem1(*command, "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "(default: None)" not in text
    assert not re.search(r"\(default: [^()]*\) \(default:", text)  # a default stated twice
    if command == ["run"]:
        assert "--no-reuse-prompt-cache turn off --reuse-prompt-cache" in text
    if command == ["trajectories"]:
        assert "(default: 1.0)" in text and "(default: auto)" in text  # argparse defaults shown too
