"""Run evaluation jobs through the agent loop, appending each finished task to a JSONL file.

A job is one (objective count, mode) cell of the paper's table: its tasks and loop config.
Every finished task is written at once (one JSON line, synced: :class:`~mem1_hf.data.run_log.RunLog`),
so an interrupted run loses at most the tasks that were still running; :func:`run_jobs` skips
every ``(objectives, mode, task_id)`` already in the file (:func:`run_key`) and drops a
truncated last line left by a crash. Scores come from the job's task family
(:meth:`~mem1_hf.task_env.TaskEnvironment.score`); nothing here depends on the family.

Example:
    >>> run_key({"objectives": 2, "mode": "mem1", "task_id": "n2-ab"})
    (2, 'mem1', 'n2-ab')
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mem1_hf.data.run_log import RunLog, load_records
from mem1_hf.errors import Mem1InputError
from mem1_hf.loop import AgentLoop, LoopConfig, Task, Trajectory
from mem1_hf.policy import Policy
from mem1_hf.task_env import TaskEnvironment, as_task_env

TRAJECTORIES = "trajectories.jsonl"
SETTINGS = "run.json"

RunKey = tuple[int, str, str]
#: builds the policy of one job from its task environment and loop config
PolicyFactory = Callable[[TaskEnvironment, LoopConfig], Policy]


def run_key(record: dict[str, Any]) -> RunKey:
    """The identity of a finished task in a run: ``(objectives, mode, task_id)``."""
    return int(record["objectives"]), str(record["mode"]), str(record["task_id"])


@dataclass
class EvalJob:
    """One cell of the results table: tasks run with one loop config.

    Args:
        objectives: questions per task (1 for WebShop episodes).
        mode: the loop mode (``mem1``, ``full_context``, ``truncate``).
        tasks: the tasks, in order (QA tasks carry their gold answers).
        config: the loop config (its ``mode`` must equal ``mode``).
        env: the environment the tasks run in.
        scoring: the family's scoring options (:meth:`TaskEnvironment.score_options`, e.g. QA's
            ``normalization``); empty: the defaults.
    """

    objectives: int
    mode: str
    tasks: list[Task]
    config: LoopConfig
    env: Any
    scoring: dict[str, Any] = field(default_factory=dict)

    def keys(self) -> list[RunKey]:
        return [(self.objectives, self.mode, t.id) for t in self.tasks]


#: what a changed fingerprint key means, for the refusal message
SETTING_HINTS = {
    "corpus_sha256": "the passages of --corpus / --index",
    "tasks_sha256": "the questions and gold answers of --data / --source",
    "source_sha256": "the content of the --source files",
    "products_sha256": "the content of --products",
    "attributes_sha256": "the content of --attributes",
    "goal_query_map_sha256": "the content of --goal-query-map",
    "goals_sha256": "the WebShop goals of --split",
}


def check_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    """Write ``run.json``, or check that a resumed run uses the same settings.

    Mixing tasks run with different models, budgets, corpora or questions in one directory
    would make the table meaningless, so a mismatch is a user error naming each setting.
    """
    from mem1_hf.data.fingerprint import short_hash

    path = out_dir / SETTINGS
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Mem1InputError(f"{path} is not valid JSON; use another --out to start afresh") from None
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if changed:
            details = ", ".join(
                f"{k}{f' ({SETTING_HINTS[k]})' if k in SETTING_HINTS else ''}: "
                f"{short_hash(before.get(k))!r} -> {short_hash(settings.get(k))!r}"
                for k in changed
            )
            raise Mem1InputError(
                f"{out_dir} holds a run with other settings ({details}); use another --out to start afresh"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def trajectory_record(trajectory: Trajectory, job: EvalJob, task_env: TaskEnvironment) -> dict[str, Any]:
    """The JSONL record of a finished task: the full trajectory, its cell, its family's scores."""
    record = trajectory.to_dict()
    turns = record["turns"]
    record.update(
        objectives=job.objectives,
        mode=job.mode,
        n_turns=len(turns),
        invalid_actions=sum(t["action"] == "invalid" for t in turns),
        info=trajectory.info,
    )
    record.update(task_env.score(trajectory, **job.scoring))
    return record


def run_jobs(
    jobs: Sequence[EvalJob],
    make_policy: PolicyFactory,
    out_dir: str | Path,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Run every task not yet in ``out_dir/trajectories.jsonl``; return the jobs' records.

    Args:
        jobs: the cells to run.
        make_policy: builds a job's policy from its task environment and config.
        out_dir: the run directory (created).
        on_record: called after each record is written (e.g. to log, or to stop a test).
        progress: show a tqdm bar (None: only on a terminal).

    Example:
        >>> records = run_jobs(jobs, lambda env, cfg: ModelPolicy(model, tok, cfg.profile), "runs/a")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / TRAJECTORIES
    done = {run_key(r) for r in load_records(path)}
    pending = [(job, [t for t in job.tasks if (job.objectives, job.mode, t.id) not in done]) for job in jobs]
    total = sum(len(tasks) for _, tasks in pending)
    bar = tqdm(
        total=total, desc="evaluating", unit="task", disable=None if progress is None else not progress
    )
    with RunLog(path) as log, bar:
        for job, tasks in pending:
            if not tasks:
                continue
            bar.set_postfix_str(f"{job.objectives} obj, {job.mode}")
            task_env = as_task_env(job.env, job.config.profile, job.config.topk)

            def write(
                trajectory: Trajectory, job: EvalJob = job, task_env: TaskEnvironment = task_env
            ) -> None:
                record = trajectory_record(trajectory, job, task_env)
                log.append(record)  # on disk before we move on: a crash loses nothing
                bar.update(1)
                if on_record is not None:
                    on_record(record)

            turns = [0]

            def turned(
                trajectory: Trajectory, turn: Any, finished: bool, job: EvalJob = job, turns: list = turns
            ) -> None:
                # a task takes several turns (minutes on a CPU): show each, not only finished tasks
                turns[0] += 1
                bar.set_postfix_str(f"{job.objectives} obj, {job.mode}, {turns[0]} turns", refresh=True)

            loop = AgentLoop(make_policy(task_env, job.config), task_env, job.config)
            loop.run(tasks, on_finish=write, on_turn=turned)
    records = {run_key(r): r for r in load_records(path)}
    return [records[key] for job in jobs for key in job.keys() if key in records]
