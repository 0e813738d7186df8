"""Multi-objective question answering over a search environment (MEM1's QA domains).

The prompt holds the questions; each turn a ``<search>`` goes to the environment (one batched
search for every task that searched), an ``<answer>`` ends the task, anything else gets a
correction. A finished task is scored with EM/F1 against its gold answers
(:func:`mem1_hf.scoring.score_task`: summed over objectives, MEM1's numbers, and as means).

Example:
    >>> [max_turns_for(n) for n in (1, 2, 4, 8, 16)]
    [6, 6, 6, 12, 20]
    >>> QATaskEnv.turn_budget(16, override=8)
    8
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.families.qa.tasks import Rows, retrieval_env, rows_from_data, rows_from_sources
from mem1_hf.prompts import QA_PROFILES
from mem1_hf.retrieval.base import SearchEnvironment
from mem1_hf.scoring import ScoringConfig, score_task
from mem1_hf.settings import from_args
from mem1_hf.task_env import (
    Finished,
    Outcome,
    ReportSpec,
    StepItem,
    Task,
    TaskEnvironment,
    fmt_number,
    mean,
    register_family,
)

#: objective counts evaluated when tasks are composed on the fly (the MEM1 paper's)
QA_OBJECTIVES = (1, 2, 4, 8, 16)


def max_turns_for(objectives: int, override: int | None = None) -> int:
    """Turns per task: 6 up to 4 objectives, then ``objectives + 4`` (``override`` wins).

    MEM1 gives 6 turns to tasks of up to 4 questions; a task with more questions needs at
    least one search per question plus the answer, so the budget grows with them.

    Example:
        >>> max_turns_for(2), max_turns_for(16), max_turns_for(16, override=8)
        (6, 20, 8)
    """
    if override is not None:
        if override < 1:
            raise Mem1InputError(f"--max-turns must be >= 1, got {override}")
        return override
    return 6 if objectives <= 4 else objectives + 4


REPORT = ReportSpec(
    title="Multi-objective QA evaluation",
    by_objectives=True,
    sections=(
        (
            None,
            "EM and F1 are summed over the objectives.",
            (
                ("EM", lambda c: fmt_number(c["em_sum"])),
                ("F1", lambda c: fmt_number(c["f1_sum"])),
                ("Peak (×10²)", lambda c: fmt_number(c["peak_tokens"] / 100)),
                ("Dep. (×10⁶)", lambda c: fmt_number(c["dependency"] / 1e6)),
                ("Time (s)", lambda c: fmt_number(c["time_s"])),
            ),
        ),
        (
            "## Details",
            "Per-objective means, invalid actions per turn, turns used, context-limit stops, tasks.",
            (
                ("EM mean", lambda c: fmt_number(c["em"], 3)),
                ("F1 mean", lambda c: fmt_number(c["f1"], 3)),
                ("invalid", lambda c: fmt_number(c["invalid_rate"], 3)),
                ("turns", lambda c: fmt_number(c["turns"], 1)),
                ("ctx-limit", lambda c: str(c["context_limit_stops"])),
                ("tasks", lambda c: str(c["n_tasks"])),
            ),
        ),
    ),
    plots=(
        ("peak_tokens", "peak_tokens", "peak tokens per task"),
        ("time", "time_s", "time per task (s)"),
        ("em", "em_sum", "EM (summed over objectives)"),
    ),
    noted_settings=("normalization", "count_rule", "hotpot_yes_no"),
)


@register_family
class QATaskEnv(TaskEnvironment):
    """Question answering over a search environment: search, answer, or a correction."""

    name = "qa"
    env_type = SearchEnvironment
    profiles = QA_PROFILES
    report = REPORT

    def step(self, items: Sequence[StepItem]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(items)
        searches = []
        for i, item in enumerate(items):
            action = item.parsed.action
            if action == self.profile.final_tag:
                outcomes[i] = Outcome(True, answer_text=item.parsed.content, stop_reason="answered")
            elif item.turns_left <= 0:
                outcomes[i] = Outcome(False)  # no turn left to read an observation
            elif action == self.profile.search_tag:
                searches.append(i)
            else:
                outcomes[i] = Outcome(False, observation=self.profile.invalid_message)
        if searches:
            texts = self.env.search_text([items[i].parsed.content for i in searches], self.topk)
            for i, text in zip(searches, texts):
                outcomes[i] = Outcome(False, observation=text, info={"query": items[i].parsed.content})
        return outcomes  # type: ignore[return-value]

    def score(self, trajectory: Finished, **options: Any) -> dict[str, Any]:
        """EM/F1 of the answer; ``options``: :class:`~mem1_hf.scoring.ScoringConfig`'s fields."""
        golds = trajectory.task.golds
        if golds is None:
            raise Mem1InputError(f"task {trajectory.task.id!r} has no gold answers to score against")
        # None when the agent never answered: MEM1's eval.py scores a missing <answer> 0, an empty one as ""
        answered = trajectory.stop_reason == "answered"
        score = score_task(trajectory.answer_text if answered else None, golds, **options)
        return {
            "golds": golds,
            "em_sum": score.em_sum,
            "f1_sum": score.f1_sum,
            "em": score.em_mean,
            "f1": score.f1_mean,
            "count_ok": score.count_ok,
        }

    @classmethod
    def score_options(cls, settings: Any) -> dict[str, Any]:
        return from_args(ScoringConfig, settings).to_dict()

    @classmethod
    def turn_budget(cls, objectives: int, override: int | None = None) -> int:
        return max_turns_for(objectives, override)

    @classmethod
    def summarize(cls, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        cell = {name: mean([r[name] for r in records]) for name in ("em_sum", "f1_sum", "em", "f1")}
        cell["count_mismatch"] = mean([float(not r["count_ok"]) for r in records])
        return cell

    @classmethod
    def load_eval(cls, settings: Any) -> tuple[Any, dict[int, list[Task]], dict[str, Any]]:
        if bool(settings.data) == bool(settings.source):
            raise Mem1InputError("give the tasks with --data DIR_or_hub_id or --source NAME=PATH (not both)")
        requested = settings.objective_counts
        if settings.data:
            rows, corpora = rows_from_data(settings.data, settings.split)
        else:
            rows, corpora = rows_from_sources(settings, requested or list(QA_OBJECTIVES))
        objectives = requested or sorted(rows)
        missing = [n for n in objectives if not rows.get(n)]
        if missing:
            have = ", ".join(map(str, sorted(rows))) or "none"
            raise Mem1InputError(
                f"no {settings.split} tasks with {missing} objectives in the data (it has: {have})"
            )
        env = retrieval_env(
            corpora,
            corpus=settings.corpus,
            index=settings.index,
            retriever=settings.retriever,
            embedder=settings.embedder,
        )
        tasks = {
            n: [Task.from_row(r) for r in (rows[n][: settings.limit] if settings.limit else rows[n])]
            for n in objectives
        }
        return (
            env,
            tasks,
            {
                "data": settings.data,
                "source": settings.source,
                **cls.score_options(settings),
                **_fingerprint(settings, rows, env),
            },
        )


def _fingerprint(settings: Any, rows: Rows, env: Any) -> dict[str, Any]:
    """Hashes of what the run reads (see :mod:`mem1_hf.data.fingerprint`): a resume
    with another corpus, index or questions is refused instead of mixing two runs' scores."""
    from mem1_hf.data.fingerprint import retrieval_fingerprint, sha256_json, source_hashes

    # every loaded task, not only the chosen ones: --limit and --objectives may grow on resume
    tasks = {n: [(r["task_id"], r["questions"], r["answers"]) for r in rows[n]] for n in sorted(rows)}
    return {
        **retrieval_fingerprint(env),
        "tasks_sha256": sha256_json(tasks) if settings.data else None,
        "source_sha256": source_hashes(settings.source) if settings.source else None,
        "test_fraction": settings.test_fraction if settings.source else None,
        "source_limit": settings.source_limit if settings.source else None,
    }
