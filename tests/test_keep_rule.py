"""The keep rule: what each mode keeps of a task's history."""

from __future__ import annotations

import pytest

from mem1_hf.errors import Mem1InputError
from mem1_hf.keep_rule import KeepRule, Piece, Segment


def _history(turns: int) -> list[Segment]:
    """prompt [0..4], then per turn a 6-token response (memory = tokens 1..5) and a 3-token observation."""
    history = [Segment("prompt", list(range(5)), turn=-1)]
    for t in range(turns):
        base = 100 * (t + 1)
        history.append(Segment("response", list(range(base, base + 6)), turn=t, memory_span=(1, 6)))
        history.append(Segment("observation", [base + 50, base + 51, base + 52], turn=t))
    return history


def test_first_turn_sees_only_the_prompt():
    for mode in ("mem1", "full_context", "truncate"):
        assert KeepRule(mode).context_ids(_history(0)) == [0, 1, 2, 3, 4]


def test_mem1_keeps_prompt_last_memory_and_last_observation():
    history = _history(3)
    ids = KeepRule("mem1").context_ids(history)
    assert ids == [0, 1, 2, 3, 4, 301, 302, 303, 304, 305, 350, 351, 352]
    assert KeepRule("mem1").pieces(history) == [Piece(0, 0, 5), Piece(5, 1, 6), Piece(6, 0, 3)]


def test_mem1_size_is_constant_over_turns():
    sizes = {len(KeepRule("mem1").context_ids(_history(t))) for t in range(1, 8)}
    assert sizes == {5 + 5 + 3}


def test_full_context_keeps_everything_and_grows():
    sizes = [len(KeepRule("full_context").context_ids(_history(t))) for t in range(4)]
    assert sizes == [5, 14, 23, 32]
    assert KeepRule("full_context").context_ids(_history(1)) == [
        0,
        1,
        2,
        3,
        4,
        *range(100, 106),
        150,
        151,
        152,
    ]


def test_truncate_keeps_prompt_and_last_k_tokens():
    ids = KeepRule("truncate", truncate_tokens=4).context_ids(_history(2))
    assert ids == [0, 1, 2, 3, 4, 205, 250, 251, 252]
    ids = KeepRule("truncate", truncate_tokens=100).context_ids(_history(2))
    assert ids == KeepRule("full_context").context_ids(_history(2))


def test_mem1_after_a_response_without_observation():
    # the final answer turn has no observation: the memory alone follows the prompt
    history = _history(1)[:-1]
    assert KeepRule("mem1").context_ids(history) == [0, 1, 2, 3, 4, 101, 102, 103, 104, 105]


def test_response_without_keep_span_is_kept_whole():
    history = [Segment("prompt", [1], -1), Segment("response", [7, 8], 0), Segment("observation", [9], 0)]
    assert KeepRule("mem1").context_ids(history) == [1, 7, 8, 9]


@pytest.mark.parametrize("kwargs", [{"mode": "summary"}, {"mode": "truncate", "truncate_tokens": 0}])
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(Mem1InputError):
        KeepRule(**kwargs)
