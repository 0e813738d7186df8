"""The evaluation harness (``mem1 eval``): resumable runs, the paper's tables and plots.

A run directory holds:

* ``trajectories.jsonl`` — one line per finished task, written as it finishes: the full
  trajectory (``Trajectory.to_dict``) plus ``objectives``, ``mode``, ``n_turns``,
  ``invalid_actions`` and the task family's scores (QA: ``golds``, ``em_sum``, ``f1_sum``,
  ``em``, ``f1``, ``count_ok``; WebShop: ``reward``, ``success``). Rerunning skips every ``(objectives, mode, task_id)``
  already there.
* ``run.json`` — the settings; a resumed run must use the same ones.
* ``summary.json`` and ``table.md`` — per objective count and mode (see :mod:`.report`), each
  mean with its 95% bootstrap interval over tasks (:mod:`.intervals`).
* PNG plots (see :mod:`.plots`).

``mem1 eval compare RUN_A RUN_B`` (:mod:`.compare`) pairs two run directories' tasks and
gives each metric's difference with its paired bootstrap interval.

Example:
    >>> from mem1_hf.evaluation import run_key
    >>> run_key({"objectives": 8, "mode": "mem1", "task_id": "n8-ab"})
    (8, 'mem1', 'n8-ab')
"""

from __future__ import annotations

from mem1_hf.evaluation.report import build_summary, render_table, summarize_cells, write_report
from mem1_hf.evaluation.runner import EvalJob, load_records, run_jobs, run_key, trajectory_record

__all__ = [
    "EvalJob",
    "build_summary",
    "load_records",
    "render_table",
    "run_jobs",
    "run_key",
    "summarize_cells",
    "trajectory_record",
    "write_report",
]
