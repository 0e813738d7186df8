"""The checks on a turn's generation settings, before any model runs (one place for the rule).

``transformers`` rejects some bad values only deep inside ``generate`` (after the model has
loaded and the first turn has started) and silently ignores others (a negative temperature
with greedy decoding), so the pipeline, the CLI and the policy call :func:`check_sampling`.

Two settings have an upper bound as well: ``max_new_tokens`` at most :data:`MAX_NEW_TOKENS`
before a model is loaded (the CLIs check their flags before loading anything) and at most the
model's context once it is (``ModelPolicy``: ``context_limit``), and ``temperature`` a finite
number at most :data:`MAX_TEMPERATURE` (``nan``, ``inf`` and ``1e308`` are refused).

Example:
    >>> check_sampling(256, {"do_sample": True, "temperature": 0.7, "top_p": 0.9})
    >>> check_sampling(0, {})
    Traceback (most recent call last):
    ...
    mem1_hf.errors.Mem1InputError: max_new_tokens must be an integer in [1, 32768], got 0
    >>> check_sampling(256, {"temperature": float("nan")})
    Traceback (most recent call last):
    ...
    mem1_hf.errors.Mem1InputError: temperature must be >= 0 and <= 100 (0 = greedy), got nan
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mem1_hf.errors import Mem1InputError

#: the largest response budget per turn accepted before a model is loaded: the context of the
#: largest model MEM1 runs (Qwen2.5-7B, 32,768 tokens); a loaded model bounds it by its own context
MAX_NEW_TOKENS = 32_768
#: the largest sampling temperature accepted: well before it the next-token distribution is
#: nearly uniform; nan, inf or 1e308 would make the sampler fail or sample noise
MAX_TEMPERATURE = 100.0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_sampling(
    max_new_tokens: Any, generation_kwargs: Mapping[str, Any] | None, context_limit: int | None = None
) -> None:
    """Raise :class:`Mem1InputError` for a response budget or sampling setting that makes no sense.

    ``context_limit``: the loaded model's longest sequence; ``max_new_tokens`` may not exceed it
    (without a model: :data:`MAX_NEW_TOKENS`).
    """
    limit = MAX_NEW_TOKENS if context_limit is None else context_limit
    where = "" if context_limit is None else " (the model's context)"
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise Mem1InputError(
            f"max_new_tokens must be an integer in [1, {limit}]{where}, got {max_new_tokens!r}"
        )
    if max_new_tokens > limit:
        bound = where or " (checked before the model loads; a loaded model's context bounds it too)"
        raise Mem1InputError(f"max_new_tokens must be <= {limit}{bound}, got {max_new_tokens}")
    kwargs = dict(generation_kwargs or {})
    temperature = kwargs.get("temperature")
    if temperature is not None:
        if not _number(temperature) or not 0 <= temperature <= MAX_TEMPERATURE:  # False for nan
            raise Mem1InputError(
                f"temperature must be >= 0 and <= {MAX_TEMPERATURE:g} (0 = greedy), got {temperature!r}"
            )
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
    if penalty is not None and (not _number(penalty) or not 0 < penalty < math.inf):
        raise Mem1InputError(f"repetition_penalty must be > 0, got {penalty!r}")
