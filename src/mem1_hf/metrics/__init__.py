"""``evaluate`` metrics shipped with mem1-hf (local modules: they load offline).

Example:
    >>> import evaluate
    >>> from mem1_hf.metrics import metric_path
    >>> metric = evaluate.load(str(metric_path()))
    >>> metric.compute(predictions=["Paris; 1889"], references=[[["Paris"], ["1889"]]])
    {'em_sum': 2.0, 'f1_sum': 2.0, 'em': 1.0, 'f1': 1.0, 'count_mismatch': 0.0, 'n_tasks': 1}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_METRICS_DIR = Path(__file__).resolve().parent


def metric_path(name: str = "mem1_qa") -> Path:
    """The directory of a local ``evaluate`` module, for ``evaluate.load(str(metric_path()))``.

    Example:
        >>> metric_path().name
        'mem1_qa'
    """
    path = _METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        from mem1_hf.errors import Mem1InputError

        raise Mem1InputError(f"no metric {name!r} in {_METRICS_DIR}")
    return path


def load_metric(name: str = "mem1_qa", **kwargs: Any):
    """``evaluate.load`` of a local metric (works with ``HF_HUB_OFFLINE=1``).

    Example:
        >>> metric = load_metric()  # doctest: +SKIP
    """
    import evaluate

    return evaluate.load(str(metric_path(name)), **kwargs)


__all__ = ["load_metric", "metric_path"]
