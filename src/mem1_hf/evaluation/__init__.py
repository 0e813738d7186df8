"""The evaluation harness (``mem1 eval``): resumable runs, the paper's tables and plots.

A run directory holds:

* ``trajectories.jsonl`` — one line per finished task, written as it finishes: the full
  trajectory (``Trajectory.to_dict``) plus ``objectives``, ``mode``, ``n_turns``,
  ``invalid_actions`` and the scores (QA: ``em_sum``, ``f1_sum``, ``em``, ``f1``, ``count_ok``;
  WebShop: ``reward``, ``success``). Rerunning skips every ``(objectives, mode, task_id)``
  already there.
* ``run.json`` — the settings; a resumed run must use the same ones.
* ``summary.json`` and ``table.md`` — per objective count and mode (see :mod:`.report`).
* PNG plots (see :mod:`.plots`).

Example:
    >>> from mem1_hf.evaluation import max_turns_for
    >>> max_turns_for(8)
    12
"""

from __future__ import annotations

import importlib
from typing import Any

# names -> submodule; imported on first use, since the runner imports torch (`mem1 --help`)
_EXPORTS = {
    "build_summary": "report",
    "render_table": "report",
    "summarize_cells": "report",
    "write_report": "report",
    "EvalJob": "runner",
    "load_records": "runner",
    "max_turns_for": "runner",
    "run_jobs": "runner",
    "run_key": "runner",
    "trajectory_record": "runner",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"mem1_hf.evaluation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mem1_hf.evaluation' has no attribute {name!r}")


__all__ = [
    "EvalJob",
    "build_summary",
    "load_records",
    "max_turns_for",
    "render_table",
    "run_jobs",
    "run_key",
    "summarize_cells",
    "trajectory_record",
    "write_report",
]
