"""PNG plots of a run's summary (matplotlib, Agg backend: no display needed).

The task family names the metrics (:attr:`ReportSpec.plots <mem1_hf.task_env.ReportSpec>`).
A family evaluated per objective count (QA) gets one PNG per metric against the number of
objectives, one line per mode — the MEM1 paper's scaling picture (``peak_tokens.png``,
``time.png``, ``em.png``); otherwise (WebShop) one PNG with a bar per mode for each metric
(``webshop.png``).

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

from mem1_hf.task_env import get_family  # noqa: E402


def plot_lines(
    summary: dict[str, Any], out_dir: Path, metrics: tuple[tuple[str, str, str], ...]
) -> list[Path]:
    """One PNG per metric (``<name>.png``): the metric against the number of objectives, one line per mode."""
    paths = []
    for name, key, label in metrics:
        filename = f"{name}.png"
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


def plot_bars(
    summary: dict[str, Any], out_dir: Path, metrics: tuple[tuple[str, str, str], ...]
) -> list[Path]:
    """One PNG (``<family>.png``) with a bar chart per metric, one bar per mode."""
    cells = summary["cells"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    for ax, (_, key, label) in zip(axes[0], metrics):
        ax.bar(
            [c["mode"] for c in cells], [c[key] for c in cells], color=[f"C{i}" for i in range(len(cells))]
        )
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    path = out_dir / f"{summary['env']}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def plot_summary(summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Draw the run's plots into ``out_dir``; return the PNG paths."""
    out_dir = Path(out_dir)
    spec = get_family(summary["env"]).report
    return (plot_lines if spec.by_objectives else plot_bars)(summary, out_dir, spec.plots)
