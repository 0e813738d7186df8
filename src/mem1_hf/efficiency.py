"""Efficiency metrics of a task, counted in the model's tokens (docs/design.md).

* peak tokens: the largest ``context + generated`` of any turn — the memory a turn needs;
* dependency: for each generated segment of length ``l`` after ``c`` context tokens, the
  attention work ``(c + l/2) * l`` summed over turns (each new token attends to everything
  before it).

Example:
    >>> peak_tokens([(100, 20), (150, 30)])
    180
    >>> dependency([(100, 20)])
    2200.0
"""

from __future__ import annotations

from collections.abc import Iterable


def peak_tokens(turns: Iterable[tuple[int, int]]) -> int:
    """Max over turns of context tokens + generated tokens; 0 for no turns."""
    return max((c + g for c, g in turns), default=0)


def dependency(turns: Iterable[tuple[int, int]]) -> float:
    """Sum over turns of ``(c + l/2) * l`` for ``c`` context and ``l`` generated tokens."""
    return float(sum((c + g / 2) * g for c, g in turns))
