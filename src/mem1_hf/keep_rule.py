"""THE keep rule: which tokens of a task's history the model sees at the next turn.

This module is the single source of truth for what survives a turn. The agent loop builds
every turn's input ids from :meth:`KeepRule.pieces`, and the trainer derives its attention
masks and position ids from the very same pieces, so rollout and training can never disagree
about what was kept (MEM1's released code did: its rollout kept the previous internal state
while its training mask hid it).

A task's history is a list of :class:`Segment` token blocks in order: the prompt, then for
each turn the model's response and the environment's observation. A :class:`Piece` is a
slice of one segment. Modes:

* ``mem1`` — prompt + the last response's memory span + the last observation. Constant size.
* ``full_context`` — every segment, whole. Grows every turn.
* ``truncate`` — the prompt + the last ``truncate_tokens`` tokens of everything after it.

The memory span is the part of a response that survives as memory: from the internal state
through the action. :mod:`mem1_hf.parsing` finds it in the response text
(``ParsedResponse.memory_span``, characters); :func:`memory_span` maps it onto the sampled
token ids (``Segment.memory_span``, tokens), always whole sampled tokens.

Example:
    >>> history = [Segment("prompt", [1, 2, 3], turn=-1),
    ...            Segment("response", [4, 5, 6, 7], turn=0, memory_span=(1, 4)),
    ...            Segment("observation", [8, 9], turn=0)]
    >>> KeepRule("mem1").context_ids(history)
    [1, 2, 3, 5, 6, 7, 8, 9]
    >>> KeepRule("full_context").context_ids(history)
    [1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> KeepRule("truncate", truncate_tokens=3).context_ids(history)
    [1, 2, 3, 7, 8, 9]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mem1_hf.errors import Mem1InputError

MODES = ("mem1", "full_context", "truncate")
#: history tokens ``truncate`` keeps after the prompt unless told otherwise
DEFAULT_TRUNCATE_TOKENS = 1024


@dataclass
class Segment:
    """A block of token ids in a task's history.

    Attributes:
        kind: ``"prompt"``, ``"response"`` (sampled by the model) or ``"observation"``.
        ids: the token ids: for responses exactly the sampled ids, never re-tokenized text.
        turn: the turn that produced it (``-1`` for the prompt).
        memory_span: for responses, the ``[start, end)`` token slice kept as memory in ``mem1``
            mode (see :func:`memory_span`); ``None`` keeps the whole response.
    """

    kind: str
    ids: list[int]
    turn: int
    memory_span: tuple[int, int] | None = None


@dataclass(frozen=True)
class Piece:
    """The slice ``ids[start:end]`` of ``history[segment]`` placed in a turn's context."""

    segment: int
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def memory_span(tokenizer, ids: Sequence[int], char_span: tuple[int, int]) -> tuple[int, int]:
    """Map a response's memory span from characters to tokens: the smallest ``[start, end)``
    slice of the sampled ``ids`` whose decoded text covers ``char_span``.

    Offsets refer to ``tokenizer.decode(ids, skip_special_tokens=True)``. A token that straddles
    a boundary is included, so the kept tokens are always whole sampled tokens (token in,
    token out: the memory is never re-tokenized text).

    Example:
        >>> class CharTokenizer:  # one token per character
        ...     def decode(self, ids, skip_special_tokens=True):
        ...         return "".join(chr(i) for i in ids)
        >>> text = "xx<think>m</think><search>q</search>"
        >>> memory_span(CharTokenizer(), [ord(c) for c in text], (2, len(text)))
        (2, 36)
    """
    start, end = char_span

    def prefix_len(n: int) -> int:
        return len(tokenizer.decode(ids[:n], skip_special_tokens=True))

    def first_reaching(target: int, strictly: bool) -> int:
        lo, hi = 0, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            n = prefix_len(mid)
            if n > target if strictly else n >= target:
                hi = mid
            else:
                lo = mid + 1
        return lo

    first = max(first_reaching(start, strictly=True) - 1, 0)
    last = first_reaching(end, strictly=False)
    return first, max(last, first)


def gather(history: Sequence[Segment], pieces: Sequence[Piece]) -> list[int]:
    """The token ids that ``pieces`` select from ``history``, in order."""
    return [t for p in pieces for t in history[p.segment].ids[p.start : p.end]]


@dataclass(frozen=True)
class KeepRule:
    """What survives a turn, for one mode.

    Args:
        mode: ``"mem1"``, ``"full_context"`` or ``"truncate"``.
        truncate_tokens: how many of the newest history tokens ``truncate`` keeps after the prompt.
    """

    mode: str = "mem1"
    truncate_tokens: int = DEFAULT_TRUNCATE_TOKENS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise Mem1InputError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.truncate_tokens < 1:
            raise Mem1InputError(f"truncate_tokens must be >= 1, got {self.truncate_tokens}")

    def pieces(self, history: Sequence[Segment]) -> list[Piece]:
        """The pieces of ``history`` that form the next turn's input, in order."""
        if not history or history[0].kind != "prompt":
            raise ValueError("a history starts with its prompt segment")
        prompt = Piece(0, 0, len(history[0].ids))
        rest = range(1, len(history))
        if self.mode == "full_context":
            return [prompt] + [Piece(i, 0, len(history[i].ids)) for i in rest]
        if self.mode == "truncate":
            return [prompt] + self._last_tokens(history, rest)
        return [prompt] + self._memory_and_observation(history)

    def context_ids(self, history: Sequence[Segment]) -> list[int]:
        """The next turn's input ids: the pieces' tokens concatenated."""
        return gather(history, self.pieces(history))

    @staticmethod
    def _memory_and_observation(history: Sequence[Segment]) -> list[Piece]:
        last = max((i for i, s in enumerate(history) if s.kind == "response"), default=None)
        if last is None:
            return []
        response = history[last]
        start, end = response.memory_span if response.memory_span is not None else (0, len(response.ids))
        kept = [Piece(last, start, end)] if end > start else []
        return kept + [Piece(i, 0, len(history[i].ids)) for i in range(last + 1, len(history))]

    def _last_tokens(self, history: Sequence[Segment], rest: range) -> list[Piece]:
        budget, kept = self.truncate_tokens, []
        for i in reversed(rest):
            if budget <= 0:
                break
            n = len(history[i].ids)
            take = min(n, budget)
            kept.append(Piece(i, n - take, n))
            budget -= take
        return kept[::-1]
