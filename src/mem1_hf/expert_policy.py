"""The scripted WebShop expert as a policy of the agent loop.

It writes ``mem1-webshop`` responses (``<think>`` + ``<summary>`` + ``<answer>ACTION</answer>``)
whose action is :func:`~mem1_hf.envs.webshop.expert.expert_action`'s, so the expert runs through
exactly the loop, keep rule, parser and task environment a model runs through. A high reward
then shows that the environment, its reward and the loop's WebShop path are right,
independent of any model.

Example:
    >>> task_env = as_task_env(shop, "mem1-webshop")  # doctest: +SKIP
    >>> policy = WebShopExpertPolicy(tokenizer, task_env)  # doctest: +SKIP
    >>> AgentLoop(policy, task_env, LoopConfig(prompt_profile="mem1-webshop", max_turns=10)).run(tasks)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from mem1_hf.envs.webshop.env import WebShopSession
from mem1_hf.envs.webshop.expert import expert_action
from mem1_hf.policy import GenerationRequest, GenerationResult


class SessionSource(Protocol):
    """Where the expert reads a running task's WebShop session (the WebShop task environment)."""

    def session(self, key: str) -> WebShopSession: ...


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
            action = expert_action(session.goal, session, self.max_turns)
            chosen = ", ".join(f"{k}: {v}" for k, v in session.state.options.items()) or "none"
            text = (
                f"<think>I am on the {session.state.kind} page.</think>"
                f"<summary>Goal: {session.goal.instruction} Options chosen: {chosen}.</summary>"
                f"<answer>{action}</answer>"
            )
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            results.append(GenerationResult(ids, [0.0] * len(ids), "stop_string"))
        return results

    def release(self, key: str) -> None:
        """Nothing to forget: the sessions belong to the task environment."""
