"""The local `evaluate` module: loads offline and returns exactly what mem1_hf.scoring computes."""

from __future__ import annotations

import json
import os

import pytest
from conftest import SHARED_DATA

from mem1_hf.metrics import load_metric, metric_path
from mem1_hf.scoring import score_batch, score_task

HOTPOT_DEV = SHARED_DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"


@pytest.fixture(scope="module")
def metric():
    import evaluate

    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # conftest: loading must not need the Hub
    return evaluate.load(str(metric_path()))


@pytest.fixture(scope="module")
def tasks() -> list[tuple[str, list[list[str]]]]:
    """40 real 2-objective tasks from HotpotQA dev, with predictions of every kind."""
    golds = []
    with open(HOTPOT_DEV) as handle:
        for line in handle:
            golds.append(json.loads(line)["answers_objects"][0]["spans"])
            if len(golds) == 80:
                break
    out = []
    for i in range(0, 80, 2):
        first, second = golds[i][0], golds[i + 1][0]
        kind = (i // 2) % 5
        prediction = {
            0: f"{first}; {second}",  # both right
            1: f"The {first.upper()}; wrong answer",  # one right after normalisation
            2: f"{first}",  # too few answers
            3: f"{first} extra words; {second}",  # partial F1
            4: f"{first}; {second}; {second}",  # too many answers
        }[kind]
        out.append((prediction, [golds[i], golds[i + 1]]))
    return out


def test_metric_dir_is_an_evaluate_module():
    path = metric_path()
    assert (path / "mem1_qa.py").is_file() and (path / "README.md").is_file()
    assert "from mem1_hf.scoring import" in (path / "mem1_qa.py").read_text()


def test_hand_checked_example(metric):
    result = metric.compute(predictions=["Paris; 1890"], references=[[["Paris"], ["1889", "in 1889"]]])
    assert result == {"em_sum": 1.0, "f1_sum": 1.0, "em": 0.5, "f1": 0.5, "count_mismatch": 0.0, "n_tasks": 1}


def test_metric_equals_scoring_on_real_tasks(metric, tasks):
    predictions = [p for p, _ in tasks]
    references = [r for _, r in tasks]
    result = metric.compute(predictions=predictions, references=references, return_per_task=True)
    expected = score_batch(predictions, references)
    assert {k: result[k] for k in expected} == expected
    assert result["em_per_task"] == [score_task(p, r).em_sum for p, r in tasks]
    assert result["f1_per_task"] == [score_task(p, r).f1_sum for p, r in tasks]
    # the mix of predictions above: 8 tasks of each kind
    assert result["count_mismatch"] == pytest.approx(16 / 40)
    assert result["em_per_task"][:5] == [2.0, 1.0, 0.0, 1.0, 0.0]
    assert 1.0 < result["f1_per_task"][3] < 2.0


def test_batched_adds_equal_one_call(metric, tasks):
    for prediction, reference in tasks:
        metric.add(prediction=prediction, reference=reference)
    assert metric.compute() == score_batch([p for p, _ in tasks], [r for _, r in tasks])


def test_wrong_reference_shape_is_refused(metric):
    with pytest.raises(ValueError):
        metric.compute(predictions=["Paris"], references=["Paris"])  # not a list of lists


def test_load_metric_helper():
    assert load_metric().compute(predictions=["a spirit"], references=[[["A spirit"]]])["em_sum"] == 1.0


def test_metric_passes_the_scoring_rule(metric, tasks):
    predictions = [p for p, _ in tasks]
    references = [r for _, r in tasks]
    squad = metric.compute(predictions=predictions, references=references)
    for rule in (
        {"normalization": "mem1-eval"},
        {"count_rule": False},
        {"hotpot_yes_no": True},
        {"normalization": "mem1-eval", "count_rule": False},
    ):
        result = metric.compute(predictions=predictions, references=references, **rule)
        assert result == score_batch(predictions, references, **rule), rule
    # "The <ANSWER>" keeps its article under MEM1's eval.py normalisation: fewer exact matches
    mem1_eval = metric.compute(predictions=predictions, references=references, normalization="mem1-eval")
    assert mem1_eval["em_sum"] < squad["em_sum"]
    # by position, the too-few / too-many answers of the mix earn their right answers
    positional = metric.compute(predictions=predictions, references=references, count_rule=False)
    assert positional["em_sum"] > squad["em_sum"] and positional["count_mismatch"] == squad["count_mismatch"]
    with pytest.raises(ValueError, match="normalization"):
        metric.compute(predictions=["a"], references=[[["a"]]], normalization="lower")


def test_the_readme_metric_snippet_runs_after_import_mem1_hf():
    """`import mem1_hf` then `mem1_hf.metrics.metric_path()` (a fresh interpreter: no other test has
    imported mem1_hf.metrics), with the gold format the README shows."""
    import subprocess
    import sys

    code = (
        "import evaluate, mem1_hf\n"
        "metric = evaluate.load(str(mem1_hf.metrics.metric_path()))\n"
        "out = metric.compute(predictions=['Paris; 1889'], references=[[['Paris'], ['1889', 'in 1889']]])\n"
        "assert out['em_sum'] == 2.0, out\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
