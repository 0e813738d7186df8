"""Adapters between environments and the agent loop.

The loop needs two things from an environment: the task's static prompt, and a batched step
that turns each task's parsed response into an outcome (an observation to show, or the end of
the task with its answer or reward). :class:`QATaskEnv` does this for search environments
(local corpus, retrieval server, web: one batched search per turn); :class:`WebShopTaskEnv`
for WebShop sessions. :func:`as_task_env` picks the adapter for an environment object.

Example:
    >>> task_env = as_task_env(LocalRetrievalEnv.from_corpus("c.jsonl"), get_profile("mem1-qa"))  # doctest: +SKIP
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mem1_hf.envs.base import FunctionSearchEnv, SearchEnvironment
from mem1_hf.errors import Mem1InputError
from mem1_hf.parsing import ParsedResponse
from mem1_hf.prompts import PromptProfile


@dataclass
class Outcome:
    """What a response led to.

    Attributes:
        done: the task ended (answered, bought).
        observation: the environment's text to show next (wrapped by the loop), if not done.
        answer_text: the final answer (QA).
        reward: the environment's reward (WebShop), if it gives one.
        stop_reason: why the task ended, when ``done``.
        info: anything else the environment reports.
    """

    done: bool
    observation: str | None = None
    answer_text: str = ""
    reward: float | None = None
    stop_reason: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepItem:
    """One task's response at a turn."""

    key: str
    parsed: ParsedResponse
    turns_left: int


class TaskEnvironment(ABC):
    """The loop's view of an environment (see the module docstring)."""

    def __init__(self, profile: PromptProfile):
        self.profile = profile

    def start(self, key: str, questions: Sequence[str], task_id: str) -> str:
        """Begin a task; return its prompt text (the user message)."""
        return self.profile.build_prompt(questions)

    @abstractmethod
    def step(self, items: Sequence[StepItem]) -> list[Outcome]:
        """Apply each task's parsed response; one call per turn for the whole batch."""

    def finish(self, key: str) -> None:  # noqa: B027 (optional hook: most adapters keep no state)
        """Forget a finished task."""


class QATaskEnv(TaskEnvironment):
    """Question answering over a search environment: search, answer, or a correction."""

    def __init__(self, env: SearchEnvironment, profile: PromptProfile, topk: int | None = None):
        super().__init__(profile)
        self.env = env
        self.topk = topk

    def step(self, items: Sequence[StepItem]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(items)
        searches = []
        for i, item in enumerate(items):
            action = item.parsed.action
            if action == self.profile.final_tag:
                outcomes[i] = Outcome(True, answer_text=item.parsed.content, stop_reason="answered")
            elif item.turns_left <= 0:
                outcomes[i] = Outcome(False)  # no turn left to read an observation
            elif action == self.profile.search_tag:
                searches.append(i)
            else:
                outcomes[i] = Outcome(False, observation=self.profile.invalid_message)
        if searches:
            texts = self.env.search_text([items[i].parsed.content for i in searches], self.topk)
            for i, text in zip(searches, texts):
                outcomes[i] = Outcome(False, observation=text, info={"query": items[i].parsed.content})
        return outcomes  # type: ignore[return-value]


class WebShopTaskEnv(TaskEnvironment):
    """WebShop: the action inside ``<answer>`` is a ``search[...]`` / ``click[...]`` step.

    Task ids are goal ids. The prompt holds the instruction and the first page; each step's
    observation is the new page with its available actions; Buy Now ends the task with
    WebShop's reward.
    """

    def __init__(self, env, profile: PromptProfile):
        super().__init__(profile)
        self.env = env
        self.sessions: dict[str, Any] = {}

    def start(self, key: str, questions: Sequence[str], task_id: str) -> str:
        # the task id is the goal id (harness); through the pipeline the "question" is the goal id
        try:
            goal = self.env.goal(task_id)
        except Mem1InputError:
            goal = self.env.goal(questions[0].strip())  # unknown too: a one-line error naming it
        session = self.env.reset(goal)
        self.sessions[key] = session
        return (
            self.profile.build_prompt([session.goal.instruction]) + "\nCurrent page:\n" + session.observation
        )

    def step(self, items: Sequence[StepItem]) -> list[Outcome]:
        outcomes = []
        for item in items:
            session = self.sessions[item.key]
            if item.parsed.action != self.profile.final_tag:
                outcomes.append(
                    Outcome(False, observation=f"{self.profile.invalid_message}\n{session.observation}")
                )
                continue
            result = session.step(item.parsed.content)
            reward = result.reward if result.done else None
            stop = "bought" if result.done else None
            outcomes.append(
                Outcome(result.done, result.observation, reward=reward, stop_reason=stop, info=result.info)
            )
        return outcomes

    def finish(self, key: str) -> None:
        self.sessions.pop(key, None)


def as_task_env(env: Any, profile: PromptProfile, topk: int | None = None) -> TaskEnvironment:
    """The adapter for ``env``: a :class:`TaskEnvironment` passes through."""
    from mem1_hf.envs.webshop import WebShopEnv

    if isinstance(env, TaskEnvironment):
        return env
    if isinstance(env, SearchEnvironment):
        return QATaskEnv(env, profile, topk)
    if isinstance(env, WebShopEnv):
        if profile.name != "mem1-webshop":
            raise Mem1InputError("the WebShop environment needs prompt_profile='mem1-webshop'")
        return WebShopTaskEnv(env, profile)
    if callable(env):  # a plain search function: fn(queries, topk) -> documents per query
        return QATaskEnv(FunctionSearchEnv(env), profile, topk)
    raise Mem1InputError(
        f"unsupported environment {type(env).__name__}; pass a search environment, a search "
        "function fn(queries, topk) or WebShopEnv"
    )
