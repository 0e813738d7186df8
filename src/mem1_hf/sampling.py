"""The checks on a turn's generation settings, before any model runs (one place for the rule).

``transformers`` rejects some bad values only deep inside ``generate`` (after the model has
loaded and the first turn has started) and silently ignores others (a negative temperature
with greedy decoding), so the pipeline, the CLI and the policy call :func:`check_sampling`.

Example:
    >>> check_sampling(256, {"do_sample": True, "temperature": 0.7, "top_p": 0.9})
    >>> check_sampling(0, {})
    Traceback (most recent call last):
    ...
    mem1_hf.errors.Mem1InputError: max_new_tokens must be an integer >= 1, got 0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mem1_hf.errors import Mem1InputError


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_sampling(max_new_tokens: Any, generation_kwargs: Mapping[str, Any] | None) -> None:
    """Raise :class:`Mem1InputError` for a response budget or sampling setting that makes no sense."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise Mem1InputError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    kwargs = dict(generation_kwargs or {})
    temperature = kwargs.get("temperature")
    if temperature is not None:
        if not _number(temperature) or temperature < 0:
            raise Mem1InputError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
        if kwargs.get("do_sample") and temperature == 0:
            raise Mem1InputError("temperature 0 with do_sample=True: use do_sample=False for greedy decoding")
    top_p = kwargs.get("top_p")
    if top_p is not None and (not _number(top_p) or not 0 < top_p <= 1):
        raise Mem1InputError(f"top_p must be in (0, 1], got {top_p!r}")
    for name, low in (("top_k", 0), ("num_beams", 1)):
        value = kwargs.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise Mem1InputError(f"{name} must be an integer >= {low}, got {value!r}")
    penalty = kwargs.get("repetition_penalty")
    if penalty is not None and (not _number(penalty) or penalty <= 0):
        raise Mem1InputError(f"repetition_penalty must be > 0, got {penalty!r}")
