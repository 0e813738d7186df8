"""Prompt profiles: the instruction text, the tags, the turn hint and the observation format.

A profile fixes everything about the text the agent reads and writes, so the parser, the keep
rule and the environment observations all take their tags from one object.

* ``mem1-qa`` (default): compatible with the released MEM1 checkpoint
  (``Mem-Lab/Qwen2.5-7B-RL-RAG-Q2-EM-Release``) and MEM1's data scripts. The internal state is
  ``<think>…</think>``, actions are ``<search>q</search>`` and ``<answer>a1; a2</answer>``.
* ``mem1-paper``: the same with the paper's ``<IS>…</IS>`` tag.
* ``mem1-webshop``: ``<think>`` (discarded every turn), ``<summary>`` (the memory) and the
  action inside ``<answer>`` (``search[...]`` / ``click[...]``).

Example:
    >>> profile = get_profile("mem1-qa")
    >>> profile.hint(3)
    '[HINT]You have 3 turns left.[/HINT]'
    >>> profile.hint(1)
    '[HINT]You have 1 turn left. You must answer the question now.[/HINT]'
    >>> profile.join_questions(["who?", "when?"])
    'who?; when?'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mem1_hf.errors import Mem1InputError

QUESTION_SEPARATOR = "; "
#: the profiles of question answering; the first is the default everywhere
QA_PROFILES = ("mem1-qa", "mem1-paper")
DEFAULT_PROFILE = QA_PROFILES[0]

_QA_INSTRUCTION = """You will answer one or more questions by reasoning step by step and searching a knowledge base.

At every step you see the questions, then your memory from the previous step and the newest search results (at the first step you see only the questions). Each step you must:

1. Reason and update your memory inside <{state}> and </{state}>. This memory is all you keep: it must carry every useful fact from your previous <{state}> and from the newest <information>, because everything older is deleted.
2. Then take exactly one action:
- If a question is still unanswered, search for it with a short keyword query inside <search> and </search>. Search for one question at a time.
- If every question is answered, give all the answers, in the order of the questions and separated by semicolons, inside <answer> and </answer>, for example <answer>answer 1; answer 2</answer>. Answers are short: a name, a date, a number or a few words, with no explanation.

Search results come back between <information> and </information>.
Always write <{state}> ... </{state}> followed by <search> ... </search> or <answer> ... </answer>.
Give exactly one answer per question, no more and no fewer.

Questions: {questions}
"""

_WEBSHOP_INSTRUCTION = """You are shopping on a web store to buy the product described in the instruction.

At every step you see the instruction, then your summary from the previous step and the current page with its available actions. Each step you must:

1. Think about the page inside <think> and </think> (this is discarded after the step).
2. Update your summary inside <summary> and </summary>: it is all you keep, so it must carry every useful fact about the goal and your progress.
3. Take exactly one action inside <answer> and </answer>: search[your query] or click[a button shown on the page].

Instruction: {questions}
"""

_INVALID = (
    "My previous action is invalid. If I want to search, I should put the query between <search> and "
    "</search>. If I want to give the final answers, I should put them between <answer> and </answer>, "
    "separated by semicolons. Let me try again."
)


_WEBSHOP_INVALID = (
    "My previous action is invalid. I must put exactly one action, search[query] or click[button], "
    "between <answer> and </answer>. Let me try again."
)


@dataclass(frozen=True)
class PromptProfile:
    """The text conventions of one agent family.

    Args:
        name: the profile's name (``--prompt-profile``).
        state_tag: the tag holding the internal state that survives a turn.
        action_tags: the tags that carry an action; the first complete one in a response wins.
        final_tag: the action that ends the task (``answer``); on the last turn it is the only
            allowed stop.
        search_tag: the action that queries the environment and is forbidden on the last turn.
        instruction: the task prompt template with a ``{questions}`` (and ``{state}``) slot.
        discarded_tags: blocks written before the memory that are dropped every turn.
        observation_tag: the tag wrapping environment observations (the model may never write it).
        invalid_message: the corrective observation after a response with no valid action.
    """

    name: str
    state_tag: str
    action_tags: tuple[str, ...]
    final_tag: str
    search_tag: str | None
    instruction: str
    discarded_tags: tuple[str, ...] = ()
    observation_tag: str = "information"
    invalid_message: str = _INVALID

    def open(self, tag: str) -> str:
        return f"<{tag}>"

    def close(self, tag: str) -> str:
        return f"</{tag}>"

    def join_questions(self, questions: Sequence[str]) -> str:
        """Questions of one task as one string, joined with ``"; "`` (MEM1's format)."""
        return QUESTION_SEPARATOR.join(q.strip() for q in questions)

    def build_prompt(self, questions: Sequence[str]) -> str:
        """The task prompt (the user message) for a list of questions."""
        return self.instruction.format(questions=self.join_questions(questions), state=self.state_tag)

    def hint(self, turns_left: int) -> str:
        """MEM1's turn hint; with one turn left it tells the model it must answer next."""
        if turns_left > 1:
            return f"[HINT]You have {turns_left} turns left.[/HINT]"
        return f"[HINT]You have {turns_left} turn left. You must answer the question now.[/HINT]"

    def observation(self, body: str, turns_left: int) -> str:
        """Wrap an environment's text (rendered docs, a page, a correction) with the hint."""
        body = body if body.endswith("\n") else body + "\n"
        tag = self.observation_tag
        return f"<{tag}>\n{self.hint(turns_left)}\n{body}</{tag}>"

    def stop_strings(self, last_turn: bool) -> tuple[str, ...]:
        """Closing tags that end a response; on the last turn only the final action's."""
        if last_turn:
            return (self.close(self.final_tag),)
        return tuple(self.close(tag) for tag in self.action_tags)

    def banned_strings(self, last_turn: bool) -> tuple[str, ...]:
        """Strings the model may not write: observations always, search on the last turn."""
        banned = [self.open(self.observation_tag)]
        if last_turn and self.search_tag is not None:
            banned.append(self.open(self.search_tag))
        return tuple(banned)


_MEM1_QA = PromptProfile(
    name="mem1-qa",
    state_tag="think",
    action_tags=("search", "answer"),
    final_tag="answer",
    search_tag="search",
    instruction=_QA_INSTRUCTION,
)

PROFILES: dict[str, PromptProfile] = {
    "mem1-qa": _MEM1_QA,
    "mem1-paper": replace(_MEM1_QA, name="mem1-paper", state_tag="IS"),  # the paper's <IS> tag
    "mem1-webshop": PromptProfile(
        name="mem1-webshop",
        state_tag="summary",
        action_tags=("answer",),
        final_tag="answer",
        search_tag=None,
        instruction=_WEBSHOP_INSTRUCTION,
        discarded_tags=("think",),
        invalid_message=_WEBSHOP_INVALID,
    ),
}


def encode_user_message(tokenizer, text: str) -> list[int]:
    """The ids of the chat template of one user message, ready for the assistant's turn.

    Later turns append the kept memory and observation ids, which equals the chat template of
    ``[user: prompt, assistant: memory]`` with its trailing end-of-turn removed (docs/design.md).

    Example:
        >>> ids = encode_user_message(tokenizer, "Questions: who?")  # doctest: +SKIP
    """
    if not getattr(tokenizer, "chat_template", None):
        raise Mem1InputError("the model's tokenizer has no chat template; pass an instruct/chat model")
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
    )
    if hasattr(ids, "keys"):  # a BatchEncoding in some transformers versions
        ids = ids["input_ids"]
    return list(ids)


def encode_prompt(tokenizer, profile: PromptProfile, questions: Sequence[str]) -> list[int]:
    """The task prompt's ids for a QA task (see :func:`encode_user_message`).

    Example:
        >>> ids = encode_prompt(tokenizer, get_profile("mem1-qa"), ["who?", "when?"])  # doctest: +SKIP
    """
    return encode_user_message(tokenizer, profile.build_prompt(questions))


def get_profile(profile: str | PromptProfile) -> PromptProfile:
    """Look up a profile by name (or pass a :class:`PromptProfile` through)."""
    if isinstance(profile, PromptProfile):
        return profile
    if profile not in PROFILES:
        raise Mem1InputError(f"unknown prompt profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[profile]
