"""Held-out results of the default agent's recipe (scripts/eval_default.sh) as tables, JSON and a PNG.

Reads ``RUNS/eval/<model>/<mode>-<n>obj/trajectories.jsonl`` (one `mem1 eval` run per model, mode
and objective count) and the GRPO runs' ``RUNS/rl-seed*/checkpoint-*/trainer_state.json``; prints
the markdown tables of docs/training.md and one JSON line; draws the learning curve.

    python benchmarks/default_agent_report.py --runs runs/default --png docs/default_agent_learning_curve.png
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path
from typing import Any

# eval folder -> table label; "sft" is the SFT model RL starts from (stages 3 + 4: the shipped default)
MODELS = {
    "base": "base (untrained)",
    "sft": "SFT (the default agent)",
    "rl-seed0": "SFT+RL seed 0",
    "rl-seed1": "SFT+RL seed 1",
}


def read_records(folder: Path) -> list[dict[str, Any]]:
    path = folder / "trajectories.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Per-task means of one eval run's records."""
    if not records:
        return None
    turns = sum(r["n_turns"] for r in records)

    def avg(key):
        return statistics.fmean(r[key] for r in records)

    return {
        "tasks": len(records),
        "em_sum": avg("em_sum"),
        "em": avg("em"),
        "f1_sum": avg("f1_sum"),
        "f1": avg("f1"),
        "valid": 1 - sum(r["invalid_actions"] for r in records) / turns,
        "searches": statistics.fmean(sum(t["action"] == "search" for t in r["turns"]) for r in records),
        "answered": sum(any(t["action"] == "answer" for t in r["turns"]) for r in records),
        "peak_tokens": avg("peak_tokens"),
        "time_s": avg("time_s"),
    }


def read_cell(folder: Path, task_ids: set[str] | None = None) -> dict[str, Any] | None:
    """The numbers of one eval run (``task_ids``: only those tasks)."""
    records = read_records(folder)
    if task_ids is not None:
        records = [r for r in records if r["task_id"] in task_ids]
    return summarize(records)


def cells(runs: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    out = {}
    for folder in sorted((runs / "eval").glob("*/*-*obj")):
        mode, n = folder.name.rsplit("-", 1)
        cell = read_cell(folder)
        if cell is not None:
            out[(folder.parent.name, mode, int(n.removesuffix("obj")))] = cell
    return out


def main_table(found: dict) -> list[str]:
    lines = [
        "| model | objectives | tasks | EM (sum) | EM (mean) | F1 (sum) | F1 (mean) | valid actions | "
        "searches / task | answered | peak tokens | s / task |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, label in MODELS.items():
        for (m, mode, n), c in sorted(found.items(), key=lambda kv: kv[0][2]):
            if m == model and mode == "mem1":
                lines.append(
                    f"| {label} | {n} | {c['tasks']} | {c['em_sum']:.3f} | {c['em']:.3f} | {c['f1_sum']:.3f} | "
                    f"{c['f1']:.3f} | {c['valid']:.3f} | {c['searches']:.2f} | {c['answered']}/{c['tasks']} | "
                    f"{c['peak_tokens']:.0f} | {c['time_s']:.1f} |"
                )
    return lines


def mode_table(runs: Path) -> list[str]:
    """mem1 vs full_context for every model with full_context runs, on the same tasks (the
    full_context run's, a prefix of the mem1 run's)."""
    lines = [
        "| model | objectives | tasks | mem1 EM (mean) | full_context EM (mean) | mem1 peak tokens | "
        "full_context peak tokens | peak ratio (mem1 / full) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, label in MODELS.items():
        folders = (runs / "eval" / model).glob("full_context-*obj")
        for folder in sorted(folders, key=lambda p: int(p.name[13:-3])):
            full = read_records(folder)
            ids = {r["task_id"] for r in full}
            a = read_cell(runs / "eval" / model / folder.name.replace("full_context", "mem1"), ids)
            b = summarize(full)
            if a and b and a["tasks"] == b["tasks"]:
                lines.append(
                    f"| {label} | {folder.name[13:-3]} | {b['tasks']} | {a['em']:.3f} | {b['em']:.3f} | "
                    f"{a['peak_tokens']:.0f} | {b['peak_tokens']:.0f} | {a['peak_tokens'] / b['peak_tokens']:.2f} |"
                )
    return lines


def training_logs(runs: Path) -> dict[str, list[dict[str, Any]]]:
    """Each seed's per-step log (the newest checkpoint's trainer_state.json)."""
    out = {}
    for run in sorted(runs.glob("rl-seed*")):
        states = sorted(
            run.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1])
        )
        if states:
            out[run.name] = [
                e for e in json.loads(states[-1].read_text())["log_history"] if "rollout/em" in e
            ]
    return out


def heldout_curve(runs: Path, seed_run: str, n: int = 2) -> list[tuple[int, float]]:
    """Held-out EM at step 0 (the SFT model) and at each evaluated checkpoint of one seed."""
    points = []
    sft = read_cell(runs / "eval" / "sft" / f"mem1-{n}obj")
    if sft:
        points.append((0, sft["em"]))
    for folder in sorted((runs / "eval").glob(f"{seed_run}-step*")):
        cell = read_cell(folder / f"mem1-{n}obj")
        if cell:
            points.append((int(folder.name.rsplit("step", 1)[1]), cell["em"]))
    final_dir = runs / "eval" / seed_run / f"mem1-{n}obj"
    final = read_cell(final_dir)
    if final:  # the evaluated checkpoint's step, from the model path the run recorded
        model = json.loads((final_dir / "run.json").read_text()).get("model") or ""
        step = re.search(r"checkpoint-(\d+)", model)
        if step:
            points.append((int(step.group(1)), final["em"]))
    return sorted(set(points))


def plot(runs: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = training_logs(runs)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, entries in logs.items():
        steps = [e["step"] for e in entries]
        axes[0].plot(
            steps,
            [e["rollout/em"] for e in entries],
            marker="o",
            label=f"{name} EM (train rollouts)",
        )
        axes[0].plot(
            steps, [e["rollout/valid_action_rate"] for e in entries], ls="--", label=f"{name} valid actions"
        )
        axes[0].plot(
            steps, [e["objective/scores"] for e in entries], ls=":", marker="x", label=f"{name} reward"
        )
        curve = heldout_curve(runs, name)
        if curve:
            axes[1].plot(*zip(*curve), marker="s", label=name)
    axes[0].set(xlabel="GRPO step", ylabel="per-step mean", title="Training rollouts (sampled)")
    axes[1].set(
        xlabel="GRPO step (0 = SFT)",
        ylabel="EM (per-objective mean)",
        title="Held-out EM, 2 objectives, greedy",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/default")
    parser.add_argument("--png", default="docs/default_agent_learning_curve.png")
    args = parser.parse_args()
    runs = Path(args.runs)
    found = cells(runs)
    print("\n".join(main_table(found)) + "\n")
    print("\n".join(mode_table(runs)) + "\n")
    gains = {}
    for seed in ("rl-seed0", "rl-seed1"):
        a, b = found.get((seed, "mem1", 2)), found.get(("sft", "mem1", 2))
        if a and b:
            gains[seed] = a["em"] - b["em"]
    curves = {name: heldout_curve(runs, name) for name in training_logs(runs)}
    print(json.dumps({"rl_gain_em_2obj": gains, "heldout_curves": curves}))
    if training_logs(runs):
        plot(runs, Path(args.png))
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
