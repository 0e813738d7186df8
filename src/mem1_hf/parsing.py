"""Parse one model response into internal state, action and the span kept as memory.

Rules (shared by inference, evaluation and training):

* the first complete action block (``<search>…</search>`` or ``<answer>…</answer>``) wins;
  text after it is ignored;
* the internal state is the content of the state blocks (``<think>`` / ``<IS>`` /
  ``<summary>``) written before that action;
* the memory kept for the next turn is the response from the first state block through the
  end of the action (``memory_span``, character offsets; :func:`mem1_hf.keep_rule.memory_span`
  maps it to tokens). Discarded blocks (WebShop's
  ``<think>``) written before the state block fall outside it. With no state block the span
  starts at the start of the response;
* a response with no complete action is ``invalid``: the whole response is kept, the loop
  answers with a corrective observation, and the turn is used up. Nothing raises.

Example:
    >>> from mem1_hf.prompts import get_profile
    >>> p = parse_response("<think>need X</think><search>X founder</search>", get_profile("mem1-qa"))
    >>> p.action, p.content, p.internal_state
    ('search', 'X founder', 'need X')
    >>> parse_response("I do not know", get_profile("mem1-qa")).action
    'invalid'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mem1_hf.prompts import PromptProfile


@dataclass(frozen=True)
class ParsedResponse:
    """What one response did.

    Attributes:
        action: ``"search"``, ``"answer"`` (or another action tag of the profile) or ``"invalid"``.
        content: the query or answer text, stripped (``""`` when invalid).
        internal_state: the state block contents before the action, stripped.
        memory_span: ``(start, end)`` character offsets of the part kept as memory.
    """

    action: str
    content: str
    internal_state: str
    memory_span: tuple[int, int]


@lru_cache(maxsize=64)
def _block(tag: str) -> re.Pattern[str]:
    return re.compile(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.DOTALL)


def parse_response(text: str, profile: PromptProfile) -> ParsedResponse:
    """Parse ``text`` under ``profile``'s tags (see the module docstring for the rules)."""
    first = None
    for tag in profile.action_tags:
        match = _block(tag).search(text)
        if match and (first is None or match.start() < first[1].start()):
            first = (tag, match)
    if first is None:
        states = [m.group(1).strip() for m in _block(profile.state_tag).finditer(text)]
        return ParsedResponse("invalid", "", "\n".join(states), (0, len(text.rstrip())))
    tag, action = first
    states = [m for m in _block(profile.state_tag).finditer(text, 0, action.start())]
    keep_start = states[0].start() if states else 0
    if not states:
        # an unclosed state tag still marks where the memory starts
        opened = text.find(profile.open(profile.state_tag), 0, action.start())
        keep_start = max(opened, 0)
    state = "\n".join(m.group(1).strip() for m in states)
    return ParsedResponse(tag, action.group(1).strip(), state, (keep_start, action.end()))


def split_answers(answer: str, n_questions: int) -> tuple[list[str], bool]:
    """Split an ``<answer>`` text on ``;`` into one answer per question.

    Returns the answers (padded with ``""`` or cut to ``n_questions``) and whether the count
    matched; scoring gives 0 to every objective when it does not (docs/design.md).

    Example:
        >>> split_answers("Paris; 1889", 2)
        (['Paris', '1889'], True)
        >>> split_answers("Paris", 2)
        (['Paris', ''], False)
    """
    parts = [part.strip() for part in answer.split(";")] if answer.strip() else []
    matched = len(parts) == n_questions
    parts = parts[:n_questions] + [""] * max(0, n_questions - len(parts))
    return parts, matched
