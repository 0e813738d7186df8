"""Bootstrap confidence intervals over tasks, for ``mem1 eval`` and ``mem1 eval compare``.

The scheme, everywhere: the ``n`` tasks are resampled with replacement ``resamples`` times,
resample ``r`` being row ``r`` of ``np.random.default_rng(seed).integers(0, n, size=(resamples,
n))``; the statistic (a mean, or a ratio of sums such as invalid actions per turn) is computed
on each resample and the interval is the percentile one: the ``(1 - confidence) / 2`` and
``(1 + confidence) / 2`` quantiles of those values (numpy's default linear interpolation).
A paired comparison draws the same task indices for both runs, so per-task differences (the
same question answered by two models or modes) are what varies.

Example:
    >>> lo, hi = bootstrap_ci([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    >>> 0.2 <= lo < 0.625 < hi <= 1.0
    True
    >>> paired_bootstrap([0.0, 1.0, 0.5], [0.0, 1.0, 0.5])["diff"]
    0.0
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

#: the defaults of every interval ``mem1 eval`` writes
CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 0
#: resamples drawn at a time: bounds memory (rows x tasks) and, being even, draws the same
#: indices as one call of ``integers(0, n, size=(resamples, n))`` would
_CHUNK = 1000

Values = Sequence[float] | np.ndarray


def _check(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")


def _columns(values: Values | Sequence[Values], n: int | None = None) -> np.ndarray:
    """``values`` as a float matrix (tasks x metrics), checked: non-empty, finite."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError("need a non-empty sequence of per-task values")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"expected {n} per-task values, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise ValueError("per-task values must be finite")
    return array


def _resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """How often each task is drawn in each resample: ``(rows, n)`` count matrices, in order."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _CHUNK):
        rows = min(_CHUNK, resamples - start)
        index = rng.integers(0, n, size=(rows, n))
        flat = (index + n * np.arange(rows)[:, None]).ravel()  # one bincount for all rows
        yield np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(float)


def _statistic(counts: np.ndarray, numerators: np.ndarray, denominators: np.ndarray | None) -> np.ndarray:
    """Each resample's mean (or ratio of sums) per metric: ``(rows, metrics)``."""
    totals = counts @ numerators
    if denominators is None:
        return totals / counts.shape[1]
    below = counts @ denominators
    # a resample with nothing below (e.g. no turns) scores 0, as the summary does
    return np.divide(totals, below, out=np.zeros_like(totals), where=below != 0)


def _interval(stats: np.ndarray, confidence: float) -> np.ndarray:
    """The percentile interval of each column: ``(2, metrics)``, lower ends first."""
    tail = (1 - confidence) / 2 * 100
    return np.percentile(stats, [tail, 100 - tail], axis=0)


def bootstrap_cis(
    values: Mapping[str, Values],
    denominators: Mapping[str, Values] | None = None,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, tuple[float, float]]:
    """Intervals of several metrics of the same tasks, from the same resamples.

    Args:
        values: metric -> per-task values (all the same length, one per task).
        denominators: metric -> per-task denominators, for a metric that is a ratio of sums
            (e.g. invalid actions / turns); the others are means.
        confidence: the interval's coverage.
        resamples: bootstrap resamples of the tasks.
        seed: the resampling seed (fixed: the same run gives the same intervals).

    Example:
        >>> cis = bootstrap_cis({"em": [1, 0, 1, 1], "invalid": [0, 1, 0, 2]}, {"invalid": [2, 2, 1, 3]})
        >>> cis["em"][0] <= 0.75 <= cis["em"][1], cis["invalid"][0] <= 3 / 8 <= cis["invalid"][1]
        (True, True)
    """
    _check(confidence, resamples)
    denominators = denominators or {}
    names = list(values)
    if not names:
        return {}
    unknown = set(denominators) - set(names)
    if unknown:
        raise ValueError(f"denominators of unknown metrics: {sorted(unknown)}")
    n = _columns(values[names[0]]).shape[0]
    numerators = np.column_stack([_columns(values[k], n) for k in names])
    # a mean is a ratio over a denominator of 1 per task: a resample's sum of them is n, exactly
    below = np.column_stack([_columns(denominators.get(k, np.ones(n)), n) for k in names])
    stats = np.concatenate(
        [_statistic(counts, numerators, below) for counts in _resample_counts(n, resamples, seed)]
    )
    bounds = _interval(stats, confidence)
    return {k: (float(bounds[0, i]), float(bounds[1, i])) for i, k in enumerate(names)}


def bootstrap_ci(
    values: Values,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    denominators: Values | None = None,
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (one value per task).

    With ``denominators`` the statistic is ``sum(values) / sum(denominators)`` over each
    resample (a ratio of sums, such as invalid actions per turn).

    Example:
        >>> bootstrap_ci([0.5, 0.5, 0.5])
        (0.5, 0.5)
        >>> lo, hi = bootstrap_ci(range(100), resamples=2000)
        >>> 40 < lo < 49.5 < hi < 59
        True
    """
    extra = {"x": denominators} if denominators is not None else None
    return bootstrap_cis({"x": values}, extra, confidence, resamples, seed)["x"]


def paired_bootstrap(
    a: Values,
    b: Values,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    denominators: tuple[Values, Values] | None = None,
) -> dict[str, float | int]:
    """Means of two runs on the same tasks, their difference ``B - A`` and its interval.

    ``a[i]`` and ``b[i]`` are the two runs' values on task ``i``; every resample draws the same
    task indices for both, so the interval is that of the paired difference. With
    ``denominators`` (A's, B's) each side is a ratio of sums instead of a mean.

    Returns:
        ``mean_a``, ``mean_b``, ``diff`` (= ``mean_b - mean_a``), ``lo``, ``hi`` (the interval
        of ``diff``) and ``n`` (paired tasks).

    Example:
        >>> out = paired_bootstrap([0.2, 0.4, 0.6], [0.3, 0.5, 0.7])
        >>> round(out["diff"], 12), round(out["lo"], 12), round(out["hi"], 12), out["n"]
        (0.1, 0.1, 0.1, 3)
    """
    _check(confidence, resamples)
    sides = _columns(a), _columns(b)
    n = sides[0].shape[0]
    if sides[1].shape[0] != n:
        raise ValueError(f"paired runs need as many values: {n} in A, {sides[1].shape[0]} in B")
    below = (
        (_columns(denominators[0], n), _columns(denominators[1], n))
        if denominators is not None
        else (None, None)
    )
    everyone = np.ones((1, n))  # "resample" = the tasks themselves: the point estimates
    mean_a, mean_b = (float(_statistic(everyone, x, d)[0, 0]) for x, d in zip(sides, below))
    diffs = [
        _statistic(counts, sides[1], below[1]) - _statistic(counts, sides[0], below[0])
        for counts in _resample_counts(n, resamples, seed)
    ]
    lo, hi = _interval(np.concatenate(diffs), confidence)[:, 0]
    return {
        "mean_a": mean_a,
        "mean_b": mean_b,
        "diff": mean_b - mean_a,
        "lo": float(lo),
        "hi": float(hi),
        "n": n,
    }
