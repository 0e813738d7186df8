"""Summaries of a run: ``summary.json`` and ``table.md`` in the MEM1 paper's layout.

Everything is computed from the records in ``trajectories.jsonl`` (one per finished task), so
a resumed run and a fresh one give the same numbers. QA cells: EM and F1 summed over the
objectives (MEM1's numbers) and as per-objective means, peak tokens, dependency, time per
task, invalid-action rate (share of turns without a valid action), turns used, count-mismatch
rate and ``context_limit`` stops. WebShop cells: average final reward, success rate
(reward == 1) and the same efficiency numbers.

Example:
    >>> rows = summarize_cells([{"objectives": 1, "mode": "mem1", "em_sum": 1.0, "f1_sum": 1.0,
    ...     "em": 1.0, "f1": 1.0, "count_ok": True, "peak_tokens": 900, "dependency": 2e5,
    ...     "time_s": 1.5, "n_turns": 2, "invalid_actions": 0, "stop_reason": "answered"}])
    >>> rows[0]["em_sum"], rows[0]["peak_tokens"], rows[0]["n_tasks"]
    (1.0, 900.0, 1)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
TABLE = "table.md"


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def summarize_cell(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The numbers of one (objectives, mode) cell, averaged over its tasks."""
    turns = sum(r["n_turns"] for r in records)
    cell: dict[str, Any] = {
        "n_tasks": len(records),
        "peak_tokens": _mean([r["peak_tokens"] for r in records]),
        "dependency": _mean([r["dependency"] for r in records]),
        "time_s": _mean([r["time_s"] for r in records]),
        "turns": _mean([r["n_turns"] for r in records]),
        "invalid_rate": sum(r["invalid_actions"] for r in records) / turns if turns else 0.0,
        "context_limit_stops": sum(r["stop_reason"] == "context_limit" for r in records),
        "max_turns_stops": sum(r["stop_reason"] == "max_turns" for r in records),
    }
    if records and "em_sum" not in records[0]:  # WebShop: no QA scores
        cell["reward"] = _mean([r["reward"] for r in records])
        cell["success_rate"] = _mean([float(r["success"]) for r in records])
    else:
        for name in ("em_sum", "f1_sum", "em", "f1"):
            cell[name] = _mean([r[name] for r in records])
        cell["count_mismatch"] = _mean([float(not r["count_ok"]) for r in records])
    return cell


def summarize_cells(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (objectives, mode), sorted by objectives then mode order of appearance."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["objectives"], record["mode"]), []).append(record)
    modes = list(dict.fromkeys(r["mode"] for r in records))
    ordered = sorted(groups, key=lambda k: (k[0], modes.index(k[1])))
    return [{"objectives": n, "mode": mode, **summarize_cell(groups[(n, mode)])} for n, mode in ordered]


def build_summary(records: Sequence[dict[str, Any]], env: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``summary.json`` content: the settings, the cells, the modes and objective counts."""
    cells = summarize_cells(records)
    return {
        "env": env,
        "settings": settings,
        "modes": list(dict.fromkeys(c["mode"] for c in cells)),
        "objectives": sorted({c["objectives"] for c in cells}),
        "n_tasks": len(records),
        "cells": cells,
    }


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


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


QA_MAIN = (
    ("EM", lambda c: _fmt(c["em_sum"])),
    ("F1", lambda c: _fmt(c["f1_sum"])),
    ("Peak (×10²)", lambda c: _fmt(c["peak_tokens"] / 100)),
    ("Dep. (×10⁶)", lambda c: _fmt(c["dependency"] / 1e6)),
    ("Time (s)", lambda c: _fmt(c["time_s"])),
)
QA_DETAIL = (
    ("EM mean", lambda c: _fmt(c["em"], 3)),
    ("F1 mean", lambda c: _fmt(c["f1"], 3)),
    ("invalid", lambda c: _fmt(c["invalid_rate"], 3)),
    ("turns", lambda c: _fmt(c["turns"], 1)),
    ("ctx-limit", lambda c: str(c["context_limit_stops"])),
    ("tasks", lambda c: str(c["n_tasks"])),
)
WEBSHOP = (
    ("Avg reward", lambda c: _fmt(c["reward"], 3)),
    ("Success", lambda c: _fmt(c["success_rate"], 3)),
    ("Peak (×10²)", lambda c: _fmt(c["peak_tokens"] / 100)),
    ("Dep. (×10⁶)", lambda c: _fmt(c["dependency"] / 1e6)),
    ("Time (s)", lambda c: _fmt(c["time_s"])),
    ("invalid", lambda c: _fmt(c["invalid_rate"], 3)),
    ("turns", lambda c: _fmt(c["turns"], 1)),
    ("ctx-limit", lambda c: str(c["context_limit_stops"])),
    ("episodes", lambda c: str(c["n_tasks"])),
)


def render_table(summary: dict[str, Any]) -> str:
    """``table.md``: QA as rows of objective counts × (mode, metric) columns; WebShop by mode.

    EM and F1 are summed over the objectives (so N-objective EM ranges 0..N), peak tokens in
    hundreds and dependency in millions, as in the MEM1 paper's tables.
    """
    if summary["env"] == "webshop":
        header = ["Mode"] + [name for name, _ in WEBSHOP]
        lines = ["# WebShop evaluation", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for cell in summary["cells"]:
            lines.append("| " + " | ".join([cell["mode"]] + [fmt(cell) for _, fmt in WEBSHOP]) + " |")
        lines += ["", "Reward is WebShop's final reward per episode; success is reward = 1."]
        settings = summary.get("settings", {})
        if "webshop_reward" in settings:
            lines.append(
                f"Reward rule: {settings['webshop_reward']}; title nouns: {settings.get('title_nouns')}."
            )
        return "\n".join(lines) + "\n"
    rule = summary.get("settings", {}).get("normalization", "squad")
    hotpot = " with HotpotQA's yes/no F1 rule" if summary.get("settings", {}).get("hotpot_yes_no") else ""
    lines = ["# Multi-objective QA evaluation", "", "EM and F1 are summed over the objectives."]
    lines += [f"Normalisation: {rule}{hotpot}.", ""]
    lines += _grid(summary, QA_MAIN)
    lines += ["", "## Details", ""]
    lines += ["Per-objective means, invalid actions per turn, turns used, context-limit stops, tasks.", ""]
    lines += _grid(summary, QA_DETAIL)
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | Path, summary: dict[str, Any]) -> list[Path]:
    """Write ``summary.json`` and ``table.md`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    paths = [out_dir / SUMMARY, out_dir / TABLE]
    paths[0].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    paths[1].write_text(render_table(summary))
    return paths
