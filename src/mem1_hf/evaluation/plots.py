"""PNG plots of a run's summary (matplotlib, Agg backend: no display needed).

QA: peak tokens, time per task and EM (summed) against the number of objectives, one line per
mode — the MEM1 paper's scaling picture. WebShop: one bar per mode for reward, success rate,
peak tokens and time per episode.

Example:
    >>> paths = plot_summary(summary, "runs/qa")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['peak_tokens.png', 'time.png', 'em.png']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless machines and CI have no display

import matplotlib.pyplot as plt  # noqa: E402

QA_PLOTS = (
    ("peak_tokens.png", "peak_tokens", "peak tokens per task"),
    ("time.png", "time_s", "time per task (s)"),
    ("em.png", "em_sum", "EM (summed over objectives)"),
)
WEBSHOP_PLOTS = (
    ("reward", "average final reward"),
    ("success_rate", "success rate"),
    ("peak_tokens", "peak tokens"),
    ("time_s", "time per episode (s)"),
)


def plot_qa(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """One PNG per metric: the metric against the number of objectives, one line per mode."""
    paths = []
    for filename, key, label in QA_PLOTS:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for i, mode in enumerate(summary["modes"]):
            cells = [c for c in summary["cells"] if c["mode"] == mode]
            # distinct line style and marker per mode: coinciding modes stay visible
            style = dict(marker="os^dv"[i % 5], linestyle=("-", "--", ":", "-.")[i % 4], markersize=7 - i)
            ax.plot([c["objectives"] for c in cells], [c[key] for c in cells], label=mode, **style)
        ax.set_xscale("log", base=2)  # 1, 2, 4, 8, 16 evenly spaced, as in the paper
        ax.set_xticks(summary["objectives"], [str(n) for n in summary["objectives"]])
        ax.set_xlabel("objectives per task")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / filename, dpi=120)
        plt.close(fig)
        paths.append(out_dir / filename)
    return paths


def plot_webshop(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """One PNG with a bar chart per metric, one bar per mode."""
    cells = summary["cells"]
    fig, axes = plt.subplots(1, len(WEBSHOP_PLOTS), figsize=(3.2 * len(WEBSHOP_PLOTS), 3.2))
    for ax, (key, label) in zip(axes, WEBSHOP_PLOTS):
        ax.bar(
            [c["mode"] for c in cells], [c[key] for c in cells], color=[f"C{i}" for i in range(len(cells))]
        )
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    path = out_dir / "webshop.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def plot_summary(summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Draw the run's plots into ``out_dir``; return the PNG paths."""
    out_dir = Path(out_dir)
    return plot_webshop(summary, out_dir) if summary["env"] == "webshop" else plot_qa(summary, out_dir)
