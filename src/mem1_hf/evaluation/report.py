"""Summaries of a run: ``summary.json`` and ``table.md`` in the MEM1 paper's layout.

Everything is computed from the records in ``trajectories.jsonl`` (one per finished task), so
a resumed run and a fresh one give the same numbers. Every cell has peak tokens, dependency,
time per task, invalid-action rate (share of turns without a valid action), turns used and
``context_limit`` / ``max_turns`` stops; the task family adds its score columns
(:meth:`~mem1_hf.task_env.TaskEnvironment.summarize` — QA: EM and F1 summed over the
objectives, MEM1's numbers, and as per-objective means, count-mismatch rate; WebShop: average
final reward, success rate) and lays out the table (:class:`~mem1_hf.task_env.ReportSpec`).

Every mean (and the invalid-action rate, a ratio of sums) gets a 95% bootstrap confidence
interval over the cell's tasks (:mod:`.intervals`: 10,000 resamples of the tasks with
replacement, seed 0, percentile interval): ``cell["ci"][metric] = [lo, hi]`` in
``summary.json`` (counts such as ``n_tasks`` or ``context_limit_stops`` have none; the scheme
is recorded under the summary's ``intervals``), and ``value [lo, hi]`` in ``table.md``.

Example:
    >>> rows = summarize_cells([{"objectives": 1, "mode": "mem1", "em_sum": 1.0, "f1_sum": 1.0,
    ...     "em": 1.0, "f1": 1.0, "count_ok": True, "peak_tokens": 900, "dependency": 2e5,
    ...     "time_s": 1.5, "n_turns": 2, "invalid_actions": 0, "stop_reason": "answered"}], "qa")
    >>> rows[0]["em_sum"], rows[0]["peak_tokens"], rows[0]["n_tasks"], rows[0]["ci"]["em_sum"]
    (1.0, 900.0, 1, [1.0, 1.0])
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mem1_hf.evaluation.intervals import CONFIDENCE, RESAMPLES, SEED, bootstrap_cis
from mem1_hf.task_env import get_family, mean

SUMMARY = "summary.json"
TABLE = "table.md"
#: how the intervals of ``cell["ci"]`` were computed (``summary.json``'s ``intervals``)
INTERVALS = {
    "confidence": CONFIDENCE,
    "resamples": RESAMPLES,
    "seed": SEED,
    "method": "percentile bootstrap, tasks resampled with replacement",
}
#: the per-task record field behind each mean every cell has
_COMMON_MEANS = {
    "peak_tokens": "peak_tokens",
    "dependency": "dependency",
    "time_s": "time_s",
    "turns": "n_turns",
}


def task_values(
    records: Sequence[dict[str, Any]], env: str
) -> dict[str, tuple[list[float], list[float] | None]]:
    """Per-task values of every mean a cell of family ``env`` reports: metric -> (values,
    denominators), denominators only for a ratio of sums (``invalid_rate``: invalid actions /
    turns), None for a mean.

    A family's metrics come from its ``summarize`` of each record alone; one is kept only when
    the mean of those per-task values is the cell's value, i.e. when it is a mean over tasks.

    Example:
        >>> values = task_values([{"em_sum": 1.0, "f1_sum": 1.0, "em": 1.0, "f1": 1.0, "count_ok": True,
        ...     "peak_tokens": 900, "dependency": 2e5, "time_s": 1.5, "n_turns": 2,
        ...     "invalid_actions": 1}], "qa")
        >>> values["em_sum"], values["invalid_rate"]
        (([1.0], None), ([1], [2]))
    """
    family = get_family(env)
    whole = family.summarize(records)
    single = [family.summarize([r]) for r in records]
    out: dict[str, tuple[list[float], list[float] | None]] = {}
    for key, value in whole.items():
        per_task = [s.get(key) for s in single]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in per_task)
        if numeric and isinstance(value, (int, float)) and math.isclose(mean(per_task), value, abs_tol=1e-9):
            out[key] = ([float(v) for v in per_task], None)
    for key, field in _COMMON_MEANS.items():
        out[key] = ([float(r[field]) for r in records], None)
    out["invalid_rate"] = ([r["invalid_actions"] for r in records], [r["n_turns"] for r in records])
    return out


def cell_intervals(records: Sequence[dict[str, Any]], env: str) -> dict[str, list[float]]:
    """``cell["ci"]``: metric -> ``[lo, hi]``, the bootstrap interval over the cell's tasks."""
    values = task_values(records, env)
    cis = bootstrap_cis(
        {k: v for k, (v, _) in values.items()},
        {k: d for k, (_, d) in values.items() if d is not None},
        CONFIDENCE,
        RESAMPLES,
        SEED,
    )
    return {k: [lo, hi] for k, (lo, hi) in cis.items()}


def summarize_cell(records: Sequence[dict[str, Any]], env: str) -> dict[str, Any]:
    """The numbers of one (objectives, mode) cell of family ``env``, averaged over its tasks."""
    turns = sum(r["n_turns"] for r in records)
    cell: dict[str, Any] = {
        "n_tasks": len(records),
        "peak_tokens": mean([r["peak_tokens"] for r in records]),
        "dependency": mean([r["dependency"] for r in records]),
        "time_s": mean([r["time_s"] for r in records]),
        "turns": mean([r["n_turns"] for r in records]),
        "invalid_rate": sum(r["invalid_actions"] for r in records) / turns if turns else 0.0,
        "context_limit_stops": sum(r["stop_reason"] == "context_limit" for r in records),
        "max_turns_stops": sum(r["stop_reason"] == "max_turns" for r in records),
    }
    cell.update(get_family(env).summarize(records))
    cell["ci"] = cell_intervals(records, env)
    return cell


def summarize_cells(records: Sequence[dict[str, Any]], env: str) -> list[dict[str, Any]]:
    """One row per (objectives, mode), sorted by objectives then mode order of appearance."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["objectives"], record["mode"]), []).append(record)
    modes = list(dict.fromkeys(r["mode"] for r in records))
    ordered = sorted(groups, key=lambda k: (k[0], modes.index(k[1])))
    return [{"objectives": n, "mode": mode, **summarize_cell(groups[(n, mode)], env)} for n, mode in ordered]


def build_summary(records: Sequence[dict[str, Any]], env: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``summary.json`` content: the settings, the cells, the modes and objective counts."""
    cells = summarize_cells(records, env)
    return {
        "env": env,
        "settings": settings,
        "modes": list(dict.fromkeys(c["mode"] for c in cells)),
        "objectives": sorted({c["objectives"] for c in cells}),
        "n_tasks": len(records),
        "intervals": INTERVALS,
        "cells": cells,
    }


def _cell(summary: dict[str, Any], objectives: int, mode: str) -> dict[str, Any] | None:
    return next((c for c in summary["cells"] if c["objectives"] == objectives and c["mode"] == mode), None)


def with_interval(fmt: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
    """A column's formatter that adds the cell's interval, ``value [lo, hi]``, when the column
    shows a metric that has one; the column's own formatter writes both ends (the cell with each
    metric set to its interval's lower, then upper end), so scale and digits match the value.

    Example:
        >>> show = with_interval(lambda c: f"{c['peak_tokens'] / 100:.2f}")
        >>> show({"peak_tokens": 950.0, "n_tasks": 4, "ci": {"peak_tokens": [900.0, 1000.0]}})
        '9.50 [9.00, 10.00]'
        >>> with_interval(lambda c: str(c["n_tasks"]))({"n_tasks": 4, "ci": {"peak_tokens": [9, 10]}})
        '4'
    """

    def render(cell: dict[str, Any]) -> str:
        text = fmt(cell)
        ci = cell.get("ci") or {}
        try:  # a column that reads no metric with an interval (a count) is unchanged by NaNs
            shows_interval = bool(ci) and fmt({**cell, **dict.fromkeys(ci, math.nan)}) != text
        except (TypeError, ValueError, OverflowError):
            shows_interval = False
        if not shows_interval:
            return text
        lo = fmt({**cell, **{k: v[0] for k, v in ci.items()}})
        hi = fmt({**cell, **{k: v[1] for k, v in ci.items()}})
        return f"{text} [{lo}, {hi}]"

    return render


def _grid(summary: dict[str, Any], columns: Sequence[tuple[str, Any]]) -> list[str]:
    """Rows = objective counts, columns = (mode, metric) pairs, as the paper lays them out."""
    modes = summary["modes"]
    header = ["Objectives"] + [f"{mode} {name}" for mode in modes for name, _ in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for n in summary["objectives"]:
        row = [str(n)]
        for mode in modes:
            cell = _cell(summary, n, mode)
            row += [fmt(cell) if cell else "–" for _, fmt in columns]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _rows(summary: dict[str, Any], columns: Sequence[tuple[str, Any]]) -> list[str]:
    """One row per mode (a family with one objective count)."""
    header = ["Mode"] + [name for name, _ in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell in summary["cells"]:
        lines.append("| " + " | ".join([cell["mode"]] + [fmt(cell) for _, fmt in columns]) + " |")
    return lines


def render_table(summary: dict[str, Any]) -> str:
    """``table.md`` as the run's task family lays it out (:class:`~mem1_hf.task_env.ReportSpec`).

    QA: rows of objective counts × (mode, metric) columns, EM and F1 summed over the objectives
    (so N-objective EM ranges 0..N), peak tokens in hundreds and dependency in millions, as in
    the MEM1 paper's tables. WebShop: one row per mode. Each mean is followed by its bootstrap
    interval (:func:`with_interval`), e.g. ``0.104 [0.042, 0.177]``.
    """
    spec = get_family(summary["env"]).report
    table = _grid if spec.by_objectives else _rows
    lines = [f"# {spec.title}", ""]
    for heading, note, columns in spec.sections:
        if heading:
            lines += ["", heading, ""]
        if note:
            lines += [note, ""]
        lines += table(summary, [(name, with_interval(fmt)) for name, fmt in columns])
    if spec.footer:
        lines += ["", spec.footer]
    scheme = summary.get("intervals")
    if scheme:  # summaries written before intervals existed have none
        lines += [
            "",
            f"[lo, hi]: {scheme['confidence']:.0%} bootstrap confidence interval over tasks "
            f"({scheme['resamples']:,} resamples with replacement, seed {scheme['seed']}, percentile).",
        ]
    settings = summary.get("settings", {})
    noted = [f"{key}={settings[key]}" for key in spec.noted_settings if key in settings]
    if noted:  # how the run was scored (e.g. the EM/F1 normalisation, WebShop's reward rule)
        lines += ["", "Scored with: " + ", ".join(noted) + "."]
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``summary.json`` and ``table.md`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    paths = [out_dir / SUMMARY, out_dir / TABLE]
    paths[0].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    paths[1].write_text(render_table(summary))
    return paths
