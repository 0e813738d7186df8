"""The scripted WebShop expert as a policy of the agent loop.

It writes ``mem1-webshop`` responses (``<think>`` + ``<summary>`` + ``<answer>ACTION</answer>``)
whose action is :func:`~mem1_hf.families.webshop.expert.expert_action`'s, so the expert runs through
exactly the loop, keep rule, parser and task environment a model runs through. A high reward
then shows that the environment, its reward and the loop's WebShop path are right,
independent of any model. Its turns are also SFT rows (``mem1 trajectories --env webshop``), so
they are short and say why: the ``<think>`` names the reason for the action (discarded next
turn), the ``<summary>`` the progress a later turn needs, this turn's action included (the
instruction itself stays in the prompt, so the summary does not repeat it).

Example:
    >>> expert_response("results", "click[B07B6DVG41]", "shampoo", None, {})
    '<think>I am on the results page. One listed item fits the instruction best; I open it.</think><summary>Searched: shampoo. Open item: B07B6DVG41. Options chosen: none.</summary><answer>click[B07B6DVG41]</answer>'
    >>> expert_response("item", "click[black]", "shampoo", "B07B6DVG41", {}).split("<summary>")[1]
    'Searched: shampoo. Open item: B07B6DVG41. Options chosen: black.</summary><answer>click[black]</answer>'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from mem1_hf.families.webshop.env import WebShopSession
from mem1_hf.families.webshop.expert import expert_action
from mem1_hf.families.webshop.pages import BACK_TO_SEARCH, BUY_NOW, NEXT_PAGE, PREV_PAGE, SUB_PAGES
from mem1_hf.policy import GenerationRequest, GenerationResult


class SessionSource(Protocol):
    """Where the expert reads a running task's WebShop session (the WebShop task environment)."""

    def session(self, key: str) -> WebShopSession: ...


def _reason(kind: str, action: str) -> str:
    """Why the expert takes ``action`` on a ``kind`` page (one short sentence)."""
    if action.startswith("search["):
        return "I search for the product the instruction describes."
    target = action[len("click[") : -1]
    if kind == "results":
        if target == NEXT_PAGE.lower():
            return "No listed item fits the instruction; I look at the next page."
        if target == BACK_TO_SEARCH.lower():
            return "No listed item fits the instruction; I search again."
        # the id is written once, in the action, exactly as the page shows it: a small model copies
        # "B07B6DVG41" from the page reliably but garbles a re-cased or restated copy ("b08b9qldKD")
        return "One listed item fits the instruction best; I open it."
    if kind == "item":
        if target == BUY_NOW.lower():
            return "The options the instruction asks for are chosen; I buy it."
        return f"The instruction asks for {target}; I choose it."
    return "I go back to the item."


def _after(
    kind: str, action: str, keywords: str | None, asin: str | None, values: list[str]
) -> tuple[str | None, str | None, list[str]]:
    """The search, open item and chosen option values once ``action`` is taken."""
    if action.startswith("search["):
        return action[len("search[") : -1], None, []
    target = action[len("click[") : -1]
    if target == BACK_TO_SEARCH.lower():
        return keywords, None, []
    if kind == "results" and target not in (NEXT_PAGE.lower(), PREV_PAGE.lower()):
        return keywords, target, []  # a product link
    if kind == "item" and target == PREV_PAGE.lower():
        return keywords, None, []
    if kind == "item" and target != BUY_NOW.lower() and target not in [p.lower() for p in SUB_PAGES]:
        return keywords, asin, [*values, target]  # an option value
    return keywords, asin, values


def expert_response(
    kind: str, action: str, keywords: str | None, asin: str | None, options: dict[str, str]
) -> str:
    """The expert's turn text for ``action`` taken on a ``kind`` page in the given browser state.

    The ``<summary>`` is the progress *with this action taken* (the search typed, the item opened,
    the option clicked): what the turn writes it also keeps, so a small model copies its own
    action into its memory rather than inferring next turn what the previous click changed.
    """
    keywords, asin, values = _after(kind, action, keywords, asin, list(options.values()))
    return (
        f"<think>I am on the {kind} page. {_reason(kind, action)}</think>"
        f"<summary>Searched: {keywords or 'nothing yet'}. Open item: {asin or 'none'}. "
        f"Options chosen: {', '.join(values) or 'none'}.</summary>"
        f"<answer>{action}</answer>"
    )


class WebShopExpertPolicy:
    """Answers each request with the expert's next action for that task's session.

    Args:
        tokenizer: counts the tokens (the responses are tokenized like a model's).
        sessions: the WebShop task environment the loop runs (its ``session(key)``).
        max_turns: the episode's turn budget (the expert buys before it runs out).
    """

    def __init__(self, tokenizer: Any, sessions: SessionSource, max_turns: int):
        self.tokenizer = tokenizer
        self.sessions = sessions
        self.max_turns = max_turns

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request in requests:
            session = self.sessions.session(request.key)
            state = session.state
            action = expert_action(session.goal, session, self.max_turns)
            text = expert_response(state.kind, action, state.keywords, state.asin, state.options)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            results.append(GenerationResult(ids, [0.0] * len(ids), "stop_string"))
        return results

    def release(self, key: str) -> None:
        """Nothing to forget: the sessions belong to the task environment."""
