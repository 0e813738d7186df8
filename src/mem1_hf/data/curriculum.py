"""A training curriculum: the composed tasks a model already scores on (``mem1 curriculum``).

GRPO learns only from a group whose rollouts' rewards differ. A small model that scores 0 on most
tasks gives most groups the same reward and so no gradient (docs/training.md, RL runs 1-6).
Selecting, from a ``train`` split, the tasks where a ``mem1 eval`` run of the starting model
scored above a threshold keeps the tasks whose groups are likely to differ: the model's sampled
rollouts sometimes get them right, sometimes not. The selection reads only the evaluated run's
per-task scores on the *train* split; held-out (``test``) tasks are never looked at.

The output is a composed folder like ``mem1 compose``'s (``arrow/``, ``data/<split>.parquet``,
``corpus.jsonl``, ``compose.json`` with a ``curriculum`` entry saying what was kept and why,
``README.md``), so every command that takes ``--data`` takes it.

Example:
    >>> select_tasks("runs/default/data/qa_2obj", ["runs/default/eval/train-pass"],
    ...              "runs/default/data/qa_2obj_scored", min_score=0.0)  # doctest: +SKIP
    PosixPath('runs/default/data/qa_2obj_scored')

    $ mem1 curriculum --data runs/default/data/qa_2obj --scores runs/default/eval/train-pass \\
        --metric f1 --min-score 0 --out runs/default/data/qa_2obj_scored
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mem1_hf.data.compose import CORPUS_FILE, load_composed
from mem1_hf.data.files import iter_jsonl
from mem1_hf.errors import Mem1InputError

#: per-task scores a ``mem1 eval`` record carries (the per-objective means)
METRICS = ("em", "f1")


def read_scores(eval_dirs: Sequence[str | Path], metric: str = "f1") -> dict[str, float]:
    """``task_id -> score`` from ``mem1 eval`` output folders (their ``trajectories.jsonl``, or any
    ``*/trajectories.jsonl`` one level down); a task scored twice keeps its best score."""
    if metric not in METRICS:
        raise Mem1InputError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
    scores: dict[str, float] = {}
    for folder in map(Path, eval_dirs):
        files = [folder / "trajectories.jsonl"] if (folder / "trajectories.jsonl").is_file() else []
        files = files or sorted(folder.glob("*/trajectories.jsonl"))
        if not files:
            raise Mem1InputError(f"{folder}: no trajectories.jsonl (expected a `mem1 eval --out` folder)")
        for path in files:
            for _, record in iter_jsonl(path):
                task, score = record.get("task_id"), record.get(metric)
                if task is not None and score is not None:
                    scores[task] = max(scores.get(task, float("-inf")), float(score))
    return scores


def select_tasks(
    data: str | Path,
    eval_dirs: Sequence[str | Path],
    out: str | Path,
    split: str = "train",
    metric: str = "f1",
    min_score: float = 0.0,
    max_score: float = 1.0,
) -> Path:
    """Write the tasks of ``data``'s ``split`` whose evaluated ``metric`` is in ``(min_score,
    max_score]`` as a composed folder at ``out`` (other splits are left out).

    Tasks the runs did not evaluate are left out too. Raises ``Mem1InputError`` when none is kept.
    """
    import datasets

    from mem1_hf.data.cards import render_card, validate_card

    source, out = Path(data), Path(out)
    manifest_path = source / "compose.json"
    if not manifest_path.is_file():
        raise Mem1InputError(f"{source}: not a `mem1 compose` folder (no compose.json)")
    if out.resolve() == source.resolve():
        raise Mem1InputError("--out must differ from --data")
    if out.exists() and any(out.iterdir()):
        raise Mem1InputError(f"{out} is not empty")
    tasks = load_composed(source, split)
    scores = read_scores(eval_dirs, metric)
    evaluated = [tid for tid in tasks["task_id"] if tid in scores]
    if not evaluated:
        raise Mem1InputError(
            f"none of {source}'s {split!r} tasks was evaluated in {', '.join(map(str, eval_dirs))}"
        )
    kept = tasks.filter(
        lambda row: row["task_id"] in scores and min_score < scores[row["task_id"]] <= max_score
    )
    if kept.num_rows == 0:
        raise Mem1InputError(
            f"no {split!r} task scored {metric} in ({min_score}, {max_score}] ({len(evaluated)} evaluated)"
        )
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    manifest["counts"] = {split: kept.num_rows}
    manifest["curriculum"] = {
        "from": str(source),
        "split": split,
        "scores": [str(p) for p in eval_dirs],
        "metric": metric,
        "kept": f"{min_score} < {metric} <= {max_score}",
        "evaluated": len(evaluated),
        "selected": kept.num_rows,
    }
    card = validate_card(render_card(manifest))
    out.mkdir(parents=True, exist_ok=True)
    datasets.DatasetDict({split: kept}).save_to_disk(str(out / "arrow"))
    (out / "data").mkdir()
    kept.to_parquet(str(out / "data" / f"{split}.parquet"))
    if (source / CORPUS_FILE).is_file():
        shutil.copyfile(source / CORPUS_FILE, out / CORPUS_FILE)
    (out / "compose.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    card.save(str(out / "README.md"))
    return out


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mem1 curriculum`` to the ``mem1`` command line (see ``mem1_hf.cli.PLUGINS``).

    Example:
        >>> parser = argparse.ArgumentParser(prog="mem1")
        >>> _ = register_cli(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["curriculum", "--data", "d", "--scores", "e", "--out", "o"]).min_score
        0.0
    """
    parser = subparsers.add_parser(
        "curriculum",
        help="keep the composed train tasks a model already scores on (from a `mem1 eval` run)",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--data", required=True, help="a `mem1 compose` folder")
    parser.add_argument(
        "--scores",
        action="append",
        required=True,
        help="a `mem1 eval --out` folder over --split (repeatable)",
    )
    parser.add_argument("--out", required=True, help="the new composed folder")
    parser.add_argument("--split", default="train", help="the split to select from (default train)")
    parser.add_argument("--metric", choices=METRICS, default="f1", help="per-task score (default f1)")
    parser.add_argument(
        "--min-score", type=float, default=0.0, help="keep tasks scoring above this (default 0)"
    )
    parser.add_argument("--max-score", type=float, default=1.0, help="... and at most this (default 1)")
    parser.set_defaults(func=_main)
    return parser


def _main(args: argparse.Namespace) -> None:
    out = select_tasks(
        args.data, args.scores, args.out, args.split, args.metric, args.min_score, args.max_score
    )
    info = json.loads((out / "compose.json").read_text())["curriculum"]
    print(
        f"kept {info['selected']} of {info['evaluated']} evaluated {args.split} tasks ({info['kept']}): {out}"
    )
