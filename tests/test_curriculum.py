"""`mem1 curriculum`: the composed train tasks an evaluated policy scored on, as a new composed folder.

The tasks are real composed HotpotQA tasks; their scores are written in the records' format of
`mem1 eval --out` (`task_id`, `em`, `f1` per line of trajectories.jsonl, as test_evaluation.py
checks against a real model's run), so which tasks must be kept is known exactly.
"""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA, require_data

from mem1_hf.cli import main
from mem1_hf.data.cards import validate_card
from mem1_hf.data.compose import ComposeConfig, compose, load_composed, write_composed
from mem1_hf.data.curriculum import read_scores, select_tasks
from mem1_hf.errors import Mem1InputError

HOTPOT_DEV = SHARED_DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A composed 2-objective folder and an eval folder scoring 16 of its 36 train tasks."""
    require_data()
    tmp = tmp_path_factory.mktemp("curriculum")
    data = write_composed(
        compose([("hotpotqa", str(HOTPOT_DEV))], ComposeConfig(objectives=2, limit=80, splits={"test": 0.1})),
        tmp / "qa_2obj",
    )
    ids = load_composed(data, "train")["task_id"][:16]
    evaluated = tmp / "eval" / "mem1-2obj"  # found one level down, as eval_default.sh lays runs out
    evaluated.mkdir(parents=True)
    records = [
        {"task_id": t, "objectives": 2, "em": (i % 3) / 2, "f1": min(1.0, (i % 3) / 2 + 0.1)}
        for i, t in enumerate(ids)
    ]
    text = "".join(json.dumps(r) + "\n" for r in records)
    (evaluated / "trajectories.jsonl").write_text(text)
    return data, evaluated.parent


def test_keeps_exactly_the_tasks_scored_above_the_threshold(scored, tmp_path, capsys):
    data, evaluated = scored
    records = [
        json.loads(line) for line in (evaluated / "mem1-2obj" / "trajectories.jsonl").read_text().splitlines()
    ]
    assert len(records) == 16
    scores = read_scores([evaluated], "em")
    assert scores == {r["task_id"]: r["em"] for r in records}
    want = {r["task_id"] for r in records if r["em"] > 0.5}
    assert len(want) == 5  # em 1.0 at i = 2, 5, 8, 11, 14
    assert read_scores([evaluated], "f1")[records[0]["task_id"]] == pytest.approx(0.1)

    out = tmp_path / "kept"
    argv = ["curriculum", "--data", str(data), "--scores", str(evaluated), "--metric", "em"]
    assert main([*argv, "--min-score", "0.5", "--out", str(out)]) == 0
    assert f"kept {len(want)} of 16 evaluated train tasks" in capsys.readouterr().out
    kept = load_composed(out, "train")
    assert set(kept["task_id"]) == want and kept.num_rows == len(want)
    source = {row["task_id"]: row for row in load_composed(data, "train")}
    assert all(row == source[row["task_id"]] for row in kept)  # rows unchanged, only selected
    assert set(load_composed(out)) == {"train"}  # held-out tasks never travel with it
    assert (out / "corpus.jsonl").read_bytes() == (data / "corpus.jsonl").read_bytes()
    manifest = json.loads((out / "compose.json").read_text())
    assert manifest["counts"] == {"train": len(want)}
    assert manifest["curriculum"]["evaluated"] == 16 and manifest["curriculum"]["kept"] == "0.5 < em <= 1.0"
    validate_card((out / "README.md").read_text())


def test_user_mistakes(scored, tmp_path, capsys):
    data, evaluated = scored
    with pytest.raises(Mem1InputError, match="no 'train' task scored"):
        select_tasks(data, [evaluated], tmp_path / "none", min_score=1.0)
    with pytest.raises(Mem1InputError, match="no trajectories.jsonl"):
        select_tasks(data, [tmp_path], tmp_path / "x")
    with pytest.raises(Mem1InputError, match="none of"):
        select_tasks(data, [evaluated], tmp_path / "y", split="test")
    argv = ["curriculum", "--data", str(tmp_path), "--scores", str(evaluated), "--out", str(tmp_path / "z")]
    capsys.readouterr()  # drop the progress bars of the calls above
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "compose.json" in err and err.count("\n") == 1
