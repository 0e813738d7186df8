"""``mem1 eval compare RUN_A RUN_B``: two runs on the same tasks, compared task by task.

``RUN_A`` and ``RUN_B`` are ``mem1 eval --out`` folders. Their finished tasks
(``trajectories.jsonl``) are paired by ``(objectives, mode, task_id)``, or with ``--mode-a M
--mode-b M2`` by ``(objectives, task_id)`` between A's mode ``M`` and B's mode ``M2`` (so
``mem1 eval compare RUN RUN --mode-a full_context --mode-b mem1`` compares two modes of one
run). Only the tasks both runs finished are paired (their count is printed); runs that share
none, or pair a task id with other questions, are refused. For every (objectives, mode) cell
and every mean the summary reports (:func:`~mem1_hf.evaluation.report.task_values`) it prints
the mean of A, of B, ``B − A`` and that difference's paired 95% bootstrap interval
(:func:`~mem1_hf.evaluation.intervals.paired_bootstrap`: the same resampled tasks for both).
``--json`` prints it as JSON, ``--out FILE`` writes that JSON.

Example:
    $ mem1 eval compare runs/base runs/tuned
    $ mem1 eval compare runs/qa runs/qa --mode-a full_context --mode-b mem1 --json --out diff.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.evaluation.intervals import CONFIDENCE, RESAMPLES, SEED, paired_bootstrap
from mem1_hf.evaluation.report import task_values
from mem1_hf.evaluation.runner import SETTINGS, TRAJECTORIES, load_records

Pairs = dict[tuple[int, str, str], list[tuple[dict[str, Any], dict[str, Any]]]]


def load_run(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run folder's settings (``run.json``) and finished-task records, checked."""
    path = Path(path)
    if not path.is_dir():
        raise Mem1InputError(f"{path}: no such run folder (give a `mem1 eval --out` folder)")
    if not (path / TRAJECTORIES).is_file() or not (path / SETTINGS).is_file():
        raise Mem1InputError(f"{path} has no {TRAJECTORIES} and {SETTINGS}: not a `mem1 eval --out` folder")
    try:
        settings = json.loads((path / SETTINGS).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Mem1InputError(f"{path / SETTINGS} is not valid JSON") from None
    # no repair: the run may still be writing; its unfinished last line is simply not read
    records = load_records(path / TRAJECTORIES, repair=False)
    if not records:
        raise Mem1InputError(f"{path} has no finished tasks yet")
    return settings, records


def pair_tasks(
    a: Sequence[dict[str, Any]],
    b: Sequence[dict[str, Any]],
    mode_a: str | None = None,
    mode_b: str | None = None,
) -> Pairs:
    """The records of the tasks both runs finished, by cell ``(objectives, mode_a, mode_b)``.

    Without modes a task pairs with the same ``(objectives, mode, task_id)``; with them, A's
    ``mode_a`` tasks pair with B's ``mode_b`` tasks of the same ``(objectives, task_id)``.

    Example:
        >>> a = [{"objectives": 1, "mode": "mem1", "task_id": t, "questions": [t]} for t in "xyz"]
        >>> b = [{**r, "mode": "truncate"} for r in a[1:]]
        >>> {cell: len(p) for cell, p in pair_tasks(a, b, "mem1", "truncate").items()}
        {(1, 'mem1', 'truncate'): 2}
    """

    def keyed(records: Sequence[dict[str, Any]], mode: str | None) -> dict[tuple, dict[str, Any]]:
        chosen = [r for r in records if mode is None or r["mode"] == mode]
        return {
            (int(r["objectives"]), r["mode"] if mode is None else "", str(r["task_id"])): r for r in chosen
        }

    left, right = keyed(a, mode_a), keyed(b, mode_b)
    pairs: Pairs = {}
    for key in sorted(left.keys() & right.keys(), key=lambda k: (k[0], k[2])):
        ra, rb = left[key], right[key]
        if ra.get("questions") != rb.get("questions"):
            raise Mem1InputError(
                f"task {key[2]!r} ({key[0]} objectives) has other questions in A than in B: "
                "the runs used different task sets, they cannot be paired"
            )
        pairs.setdefault((key[0], ra["mode"], rb["mode"]), []).append((ra, rb))
    # cells in the order of A's records (objectives, then modes as they ran)
    modes = list(dict.fromkeys(r["mode"] for r in a))
    return dict(sorted(pairs.items(), key=lambda item: (item[0][0], modes.index(item[0][1]))))


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    mode_a: str | None = None,
    mode_b: str | None = None,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """The paired comparison of two run folders (what ``--json`` prints).

    Returns:
        ``a``, ``b`` (the folders), ``env``, ``confidence``, ``resamples``, ``seed``,
        ``n_paired`` / ``n_a`` / ``n_b`` (tasks paired, finished in A, in B: of the chosen
        modes),
        ``settings_differ`` (the ``run.json`` keys whose values differ) and ``cells``: per
        ``(objectives, mode_a, mode_b)``, ``n`` and ``metrics``: metric -> ``mean_a``,
        ``mean_b``, ``diff`` (B − A), ``lo``, ``hi`` (its interval) and ``n``.

    Example:
        >>> compare_runs("runs/base", "runs/tuned")["cells"][0]["metrics"]["em_sum"]  # doctest: +SKIP
        {'mean_a': 0.35, 'mean_b': 0.45, 'diff': 0.1, 'lo': 0.0, 'hi': 0.2, 'n': 20}
    """
    if (mode_a is None) != (mode_b is None):
        raise Mem1InputError("give both --mode-a and --mode-b, or neither")
    if not 0 < confidence < 1:
        raise Mem1InputError(f"--confidence must be between 0 and 1, got {confidence}")
    if resamples < 1:
        raise Mem1InputError(f"--resamples must be >= 1, got {resamples}")
    (settings_a, a), (settings_b, b) = load_run(run_a), load_run(run_b)
    env = settings_a.get("env", "qa")
    if settings_b.get("env", "qa") != env:
        raise Mem1InputError(f"A is a {env} run and B a {settings_b.get('env', 'qa')} run: nothing to pair")
    for flag, mode, records, name in (("--mode-a", mode_a, a, "A"), ("--mode-b", mode_b, b, "B")):
        modes = list(dict.fromkeys(r["mode"] for r in records))
        if mode is not None and mode not in modes:
            raise Mem1InputError(f"{flag} {mode}: run {name} has modes {', '.join(modes)}")
    pairs = pair_tasks(a, b, mode_a, mode_b)
    if not pairs:
        raise Mem1InputError(
            f"{run_a} and {run_b} share no tasks (same objective count, mode and task id); "
            "compare runs over the same tasks (same --data/--source, --split, --seed)"
        )
    cells = []
    for (objectives, left, right), matched in pairs.items():
        values = [task_values([ra for ra, _ in matched], env), task_values([rb for _, rb in matched], env)]
        metrics = {}
        for key in values[0].keys() & values[1].keys():
            (va, da), (vb, db) = values[0][key], values[1][key]
            below = (da, db) if da is not None and db is not None else None
            metrics[key] = paired_bootstrap(va, vb, confidence, resamples, seed, denominators=below)
        order = list(values[0])
        metrics = {k: metrics[k] for k in sorted(metrics, key=order.index)}
        cells.append(
            {"objectives": objectives, "mode_a": left, "mode_b": right, "n": len(matched), "metrics": metrics}
        )
    differ = sorted(
        k for k in settings_a.keys() | settings_b.keys() if settings_a.get(k) != settings_b.get(k)
    )
    return {
        "a": str(run_a),
        "b": str(run_b),
        "env": env,
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "n_paired": sum(c["n"] for c in cells),
        # the tasks that could pair: with --mode-a/--mode-b, those of the chosen modes
        "n_a": sum(mode_a is None or r["mode"] == mode_a for r in a),
        "n_b": sum(mode_b is None or r["mode"] == mode_b for r in b),
        "settings_differ": differ,
        "cells": cells,
    }


def _number(value: float, signed: bool = False) -> str:
    """Three decimals, one from 100 up (tokens, dependency), so columns stay short."""
    return f"{value:{'+' if signed else ''}.{1 if abs(value) >= 100 else 3}f}"


def render_comparison(result: dict[str, Any]) -> str:
    """The comparison as Markdown: one table per cell, a row per metric.

    Example:
        >>> print(render_comparison({"a": "A", "b": "B", "confidence": 0.95, "resamples": 10, "seed": 0,
        ...     "n_paired": 2, "n_a": 2, "n_b": 3, "settings_differ": ["model"], "cells": [
        ...     {"objectives": 1, "mode_a": "mem1", "mode_b": "mem1", "n": 2, "metrics": {"em": {
        ...     "mean_a": 0.5, "mean_b": 0.75, "diff": 0.25, "lo": 0.0, "hi": 0.5, "n": 2}}}]}), end="")
        A: A
        B: B
        2 paired tasks (of 2 finished in A, 3 in B); settings that differ: model
        B − A with its 95% paired bootstrap interval (10 resamples of the tasks, seed 0).
        <BLANKLINE>
        ## 1 objective, mem1 (2 paired tasks)
        <BLANKLINE>
        | Metric | A | B | B − A | 95% CI |
        |---|---|---|---|---|
        | em | 0.500 | 0.750 | +0.250 | [+0.000, +0.500] |
    """
    level = f"{result['confidence']:.0%}"
    differ = ", ".join(result["settings_differ"]) or "none"
    lines = [
        f"A: {result['a']}",
        f"B: {result['b']}",
        f"{result['n_paired']} paired tasks (of {result['n_a']} finished in A, {result['n_b']} in B); "
        f"settings that differ: {differ}",
        f"B − A with its {level} paired bootstrap interval ({result['resamples']:,} resamples of the "
        f"tasks, seed {result['seed']}).",
    ]
    for cell in result["cells"]:
        n = cell["objectives"]
        modes = (
            cell["mode_a"]
            if cell["mode_a"] == cell["mode_b"]
            else f"{cell['mode_a']} (A) vs {cell['mode_b']} (B)"
        )
        lines += [
            "",
            f"## {n} objective{'s' if n != 1 else ''}, {modes} ({cell['n']} paired tasks)",
            "",
            f"| Metric | A | B | B − A | {level} CI |",
            "|---|---|---|---|---|",
        ]
        for name, m in cell["metrics"].items():
            interval = f"[{_number(m['lo'], True)}, {_number(m['hi'], True)}]"
            lines.append(
                f"| {name} | {_number(m['mean_a'])} | {_number(m['mean_b'])} | "
                f"{_number(m['diff'], True)} | {interval} |"
            )
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The ``mem1 eval compare`` parser (its own: ``mem1 eval``'s flags do not apply)."""
    p = argparse.ArgumentParser(
        prog="mem1 eval compare",
        description="Compare two `mem1 eval` runs task by task: per cell and metric, the means, "
        "B − A and its paired bootstrap interval over the tasks both runs finished.",
    )
    p.add_argument("run_a", help="a `mem1 eval --out` folder (A)")
    p.add_argument("run_b", help="another one (B); may be A itself with --mode-a/--mode-b")
    p.add_argument("--mode-a", help="pair A's tasks of this mode ...")
    p.add_argument("--mode-b", help="... with B's tasks of this mode (default: the same mode)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--out", help="also write the JSON to this file")
    p.add_argument("--confidence", type=float, default=CONFIDENCE, help="interval coverage")
    p.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples of the tasks")
    p.add_argument("--seed", type=int, default=SEED, help="resampling seed")
    return p


def run(argv: Sequence[str]) -> None:
    """Parse ``argv`` (what follows ``mem1 eval compare``), compare, print (and write)."""
    args = build_parser().parse_args(argv)
    out = None
    if args.out:
        from mem1_hf.data.files import check_output_file

        out = check_output_file(args.out)
    result = compare_runs(
        args.run_a, args.run_b, args.mode_a, args.mode_b, args.confidence, args.resamples, args.seed
    )
    text = json.dumps(result, indent=2)
    print(text if args.json else render_comparison(result), end="\n" if args.json else "")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``mem1 eval compare``: a user's mistake prints one ``error: ...`` line and returns 2."""
    try:
        run(sys.argv[1:] if argv is None else argv)
    except Mem1InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
