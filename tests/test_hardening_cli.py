"""Hardening, round 2 (issue 28): the CLI's bad flags and files give one ``error:`` line, and the
scoring options reproduce what they say.

Every command runs through :func:`mem1_hf.cli.main` in this process (as ``tests/test_user_errors.py``
does); no model is loaded: the bounds are checked before (loading one fails the test).
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA

from mem1_hf import model_loading
from mem1_hf.cli import main
from mem1_hf.errors import Mem1InputError

SMALL_CORPUS = SHARED_DATA / "nq" / "searchr1_example_corpus.jsonl"
NQ_DEV = SHARED_DATA / "nq" / "NQ-open.dev.jsonl"
ROOT = Path(__file__).resolve().parents[1]


def one_error(capsys, argv: list[str], match: str) -> str:
    """``mem1 ARGV`` exits with 2 after exactly one ``error:`` line containing ``match``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err, err
    return err


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    """A bound must hold before any model loads: loading one here is a failure."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the flags were checked")

    monkeypatch.setattr(model_loading, "load_model", refuse)


def command(name: str, tmp_path: Path, flags: list[str]) -> list[str]:
    """``flags`` on each command that takes them: ``run``, ``eval`` and ``trajectories``."""
    if name == "run":
        return ["run", "--corpus", str(SMALL_CORPUS), *flags, "q?"]
    if name == "eval":
        return ["eval", "--source", f"nq={NQ_DEV}", "--limit", "1", *flags, "--out", str(tmp_path / "r")]
    return [
        "trajectories",
        "--data",
        str(tmp_path / "d"),
        "--policy",
        "model",
        *flags,
        "--out",
        str(tmp_path / "t"),
    ]


COMMANDS = ("run", "eval", "trajectories")


def _missing_gpu() -> str:
    """A CUDA device this machine lacks: ``cuda`` on a CPU-only torch, else one past the last GPU."""
    return "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"


# ----------------------------------------------------------------------------- --device


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("device", ["bogus", _missing_gpu()])
def test_a_device_that_does_not_exist_names_the_ones_that_do(tmp_path, capsys, name, device):
    err = one_error(
        capsys, command(name, tmp_path, ["--device", device]), f"device '{device}' does not exist here"
    )
    assert err.rstrip().endswith("available: " + ", ".join(model_loading.available_devices())), err
    if device == "cuda" and torch.version.cuda is None:
        assert "was built without CUDA" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "t").exists()


def test_existing_devices_pass_the_check():
    assert model_loading.check_device("cpu") == "cpu" and model_loading.check_device(None) is None
    assert model_loading.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(Mem1InputError, match="available: cpu"):
        model_loading.pick_device("bogus")


# ----------------------------------------------------------------------------- --temperature / --max-new-tokens


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "-1"])
def test_temperature_is_bounded_where_it_is_parsed(tmp_path, capsys, name, value):
    one_error(
        capsys, command(name, tmp_path, ["--temperature", value]), "temperature must be >= 0 and <= 100"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_max_new_tokens_is_bounded_before_a_model_loads(tmp_path, capsys, name):
    err = one_error(
        capsys, command(name, tmp_path, ["--max-new-tokens", "1000000000"]), "max_new_tokens must be <= 32768"
    )
    assert "checked before the model loads" in err and "got 1000000000" in err


def test_a_loaded_model_bounds_max_new_tokens_by_its_context(tiny_model, tokenizer):
    from transformers import GenerationConfig

    from mem1_hf.policy import ModelPolicy
    from mem1_hf.prompts import get_profile

    context = tiny_model.config.max_position_embeddings
    with pytest.raises(Mem1InputError, match=rf"max_new_tokens must be <= {context} \(the model's context\)"):
        ModelPolicy(
            tiny_model, tokenizer, get_profile("mem1-qa"), GenerationConfig(max_new_tokens=context + 1)
        )
    assert ModelPolicy(
        tiny_model, tokenizer, get_profile("mem1-qa"), GenerationConfig(max_new_tokens=context)
    )


def test_help_states_the_bounds(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "at most 32768, and at most the model's context" in text and "(at most 100)" in text


# ----------------------------------------------------------------------------- --modes


@pytest.mark.parametrize("modes", ["", " , "])
def test_empty_modes_are_refused_not_read_as_all(tmp_path, capsys, modes):
    argv = [
        "eval",
        "--source",
        f"nq={NQ_DEV}",
        "--limit",
        "1",
        "--modes",
        modes,
        "--out",
        str(tmp_path / "r"),
    ]
    one_error(
        capsys, argv, f"--modes {modes!r} names no mode; give one or more of mem1, full_context, truncate"
    )
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------- files


def test_compose_out_naming_an_existing_file(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    argv = ["compose", "--source", f"nq={NQ_DEV}", "--limit", "20", "--out", str(target)]
    one_error(capsys, argv, f"--out {target} is a file; give a directory for the composition")
    assert target.read_text() == "keep me"


@pytest.fixture
def corrupt_composed(tmp_path) -> Path:
    """A `mem1 compose` folder whose parquet file is damaged (its footer is not parquet)."""
    folder = tmp_path / "composed"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "test.parquet").write_bytes(b"PAR1" + b"\x00" * 64)
    (folder / "data" / "train.parquet").write_bytes(b"PAR1" + b"\x00" * 64)
    return folder


def test_eval_on_a_corrupt_parquet(tmp_path, capsys, corrupt_composed):
    argv = ["eval", "--data", str(corrupt_composed), "--out", str(tmp_path / "r")]
    err = one_error(capsys, argv, "not a readable parquet file")
    assert str(corrupt_composed / "data") in err and "ArrowInvalid" not in err


def _train_error(capsys, argv: list[str]) -> str:
    """``mem1 train ARGV`` exits with 2 after one ``error:`` line and no traceback (libraries it
    imports may log other lines)."""
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_train_on_a_corrupt_parquet(tmp_path, capsys, corrupt_composed):
    line = _train_error(capsys, ["--data", str(corrupt_composed), "--output_dir", str(tmp_path / "ppo")])
    assert str(corrupt_composed / "data") in line and "not a readable parquet file" in line


def test_sft_on_a_corrupt_parquet_file(tmp_path, corrupt_composed):
    """The SFT warm start reads ``--data`` itself (``training/sft.py``): one ``error:`` line too. In a
    subprocess: datasets' logger keeps the stream it first wrote to, which pytest closes."""
    data = corrupt_composed / "data" / "train.parquet"
    argv = ["train", "--trainer", "sft", "--data", str(data), "--output_dir", str(tmp_path / "sft")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mem1_hf.cli", *argv], capture_output=True, text=True, env=env, timeout=300
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and "not a readable parquet file" in errors[0], done.stderr
    assert "ArrowInvalid" not in done.stderr  # refused before datasets logs its own schema error


# ----------------------------------------------------------------------------- scoring: MEM1's training reward


def mem1_training_em(answer_text: str, golds: list[list[str]]) -> int:
    """MEM1's ``qa_multiple.compute_score_em`` restated from its rules (the oracle): the answer text
    split on ``;``, each part stripped; part *i* scores 1 when its SQuAD-v1.1 normal form (lower
    case, ASCII punctuation removed, a/an/the removed, white space folded) equals that of any gold
    of question *i*; parts beyond the questions score 0, missing parts nothing."""

    def normal(text: str) -> str:
        text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())

    parts = [part.strip() for part in answer_text.split(";")]
    return sum(
        any(normal(gold) == normal(part) for gold in golds[i])
        for i, part in enumerate(parts)
        if i < len(golds)
    )


def _nq_tasks() -> list[list[list[str]]]:
    """2-objective tasks of real NQ-open golds: every question with a non-ASCII gold or one that
    normalises to nothing, each paired with the next question of the file."""
    rows = [json.loads(line)["answer"] for line in NQ_DEV.read_text().splitlines() if line.strip()]
    from mem1_hf.scoring import normalize_answer

    picked = [
        i for i, golds in enumerate(rows) if any(not g.isascii() or not normalize_answer(g) for g in golds)
    ]
    return [[rows[i], rows[(i + 1) % len(rows)]] for i in picked]


def _predictions(task: list[list[str]]) -> list[str]:
    first, second = task[0][0], task[1][0]
    return [
        f"{first}; {second}",
        f"“{first}”; {second}",  # curly quotes: Unicode punctuation
        first,  # one answer for two questions
        f"{first}; {second}; extra",
        "",
        f"; {second}",
        f"{first.upper()} ;{second}",
    ]


def test_mem1_train_with_no_count_rule_is_mem1s_training_reward():
    from mem1_hf.scoring import score_task, task_reward

    tasks = _nq_tasks()
    assert len(tasks) > 200  # 274 non-ASCII golds and NQ's A+, ---, ) golds
    differ = 0
    for task in tasks:
        for prediction in _predictions(task):
            expected = mem1_training_em(prediction, task)
            rule = {"normalization": "mem1-train", "count_rule": False}
            assert score_task(prediction, task, **rule).em_sum == expected, (prediction, task)
            assert task_reward(prediction, task, **rule) == expected
            differ += score_task(prediction, task, count_rule=False).em_sum != expected
    assert differ > 0  # --no-count-rule alone keeps our normaliser: not MEM1's reward, as documented


def test_scoring_help_says_what_no_count_rule_reproduces(capsys):
    from mem1_hf.evaluation.cli import build_plan  # noqa: F401  (mem1 eval's flags)

    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "MEM1's training reward exactly only with --normalization mem1-train" in text
    assert "mem1-train (MEM1's training reward qa_multiple.py" in text


def test_eval_on_a_folder_that_does_not_exist_says_so(tmp_path, capsys):
    """`--data out/hotpot_2obj` before `mem1 compose` made it: the error names the missing folder
    and how to make it, not only the Hub it also tried."""
    from mem1_hf.cli import main

    assert main(["eval", "--data", "out/no_such_folder", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "there is no such folder here" in err[0] and "mem1 compose --out" in err[0]
