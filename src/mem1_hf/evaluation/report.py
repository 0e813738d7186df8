"""Summaries of a run: ``summary.json`` and ``table.md`` in the MEM1 paper's layout.

Everything is computed from the records in ``trajectories.jsonl`` (one per finished task), so
a resumed run and a fresh one give the same numbers. Every cell has peak tokens, dependency,
time per task, invalid-action rate (share of turns without a valid action), turns used and
``context_limit`` / ``max_turns`` stops; the task family adds its score columns
(:meth:`~mem1_hf.task_env.TaskEnvironment.summarize` — QA: EM and F1 summed over the
objectives, MEM1's numbers, and as per-objective means, count-mismatch rate; WebShop: average
final reward, success rate) and lays out the table (:class:`~mem1_hf.task_env.ReportSpec`).

Example:
    >>> rows = summarize_cells([{"objectives": 1, "mode": "mem1", "em_sum": 1.0, "f1_sum": 1.0,
    ...     "em": 1.0, "f1": 1.0, "count_ok": True, "peak_tokens": 900, "dependency": 2e5,
    ...     "time_s": 1.5, "n_turns": 2, "invalid_actions": 0, "stop_reason": "answered"}], "qa")
    >>> rows[0]["em_sum"], rows[0]["peak_tokens"], rows[0]["n_tasks"]
    (1.0, 900.0, 1)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mem1_hf.task_env import get_family, mean

SUMMARY = "summary.json"
TABLE = "table.md"


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
        "cells": cells,
    }


def _cell(summary: dict[str, Any], objectives: int, mode: str) -> dict[str, Any] | None:
    return next((c for c in summary["cells"] if c["objectives"] == objectives and c["mode"] == mode), None)


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
    the MEM1 paper's tables. WebShop: one row per mode.
    """
    spec = get_family(summary["env"]).report
    table = _grid if spec.by_objectives else _rows
    lines = [f"# {spec.title}", ""]
    for heading, note, columns in spec.sections:
        if heading:
            lines += ["", heading, ""]
        if note:
            lines += [note, ""]
        lines += table(summary, columns)
    if spec.footer:
        lines += ["", spec.footer]
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
