"""Shared set-up of the benchmarks: the real data, composed tasks, the scripted MEM1 trajectory."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mem1_hf.data.compose import ComposeConfig, compose  # noqa: E402
from mem1_hf.loop import Task  # noqa: E402

DATA = Path(os.environ.get("MEM1_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HOTPOT_DEV = DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"


def composed_tasks(
    objectives: int, n_tasks: int, seed: int = 0
) -> tuple[list[Task], list[list[list[str]]], list]:
    """``n_tasks`` real HotpotQA dev tasks of ``objectives`` questions (with their gold answers),
    the gold answers again as a list, and the corpus."""
    result = compose(
        [("hotpotqa", str(HOTPOT_DEV))], ComposeConfig(objectives=objectives, splits={}, seed=seed)
    )
    rows = result.dataset["train"].select(range(n_tasks))
    tasks = [Task.from_row(row) for row in rows]
    return tasks, [task.golds for task in tasks], result.corpus


def scripted_trajectory(questions: list[str], golds: list[list[str]]) -> list[str]:
    """One search per question, then the answer; the memory carries the facts found so far,
    compact as a trained MEM1 agent's internal state is."""
    responses, facts = [], []
    for i, question in enumerate(questions):
        memory = " ".join(facts) or "Nothing found yet."
        responses.append(f"<think>{memory} Next: question {i + 1}.</think>\n<search>{question}</search>")
        facts.append(f"Q{i + 1}: {golds[i][0]}.")
    responses.append(
        f"<think>{' '.join(facts)} All answered.</think>\n<answer>{'; '.join(g[0] for g in golds)}</answer>"
    )
    return responses
