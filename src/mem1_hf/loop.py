"""The agent loop: one piece of code for the pipeline, evaluation and the RL rollout.

Each turn, for every active task: build the input ids with the keep rule, generate (one batched
call for all active tasks), parse the response, step the environment (one batched search), and
append the response and the observation to the task's history. Finished tasks leave the batch
and waiting tasks take their place. Every turn records the exact input ids it saw, the pieces
of history they came from (the trainer derives its masks from these), the sampled ids and
their log-probs.

Example:
    >>> trajectories = run_agent_loop(policy, env, [Task("t0", ["who?", "when?"])],
    ...                               LoopConfig(mode="mem1", max_turns=6))  # doctest: +SKIP
    >>> trajectories[0].answers  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mem1_hf.agent_config import SETTING_NAMES
from mem1_hf.efficiency import dependency, peak_tokens
from mem1_hf.errors import Mem1InputError
from mem1_hf.keep_rule import DEFAULT_TRUNCATE_TOKENS, MODES, KeepRule, Piece, Segment, gather, memory_span
from mem1_hf.parsing import ParsedResponse, parse_response, split_answers
from mem1_hf.policy import GenerationRequest, Policy, PolicyConfig
from mem1_hf.prompts import DEFAULT_PROFILE, PROFILES, PromptProfile, encode_user_message, get_profile
from mem1_hf.retrieval.base import DEFAULT_TOPK
from mem1_hf.task_env import StepItem, Task, as_task_env

__all__ = [
    "AgentLoop",
    "LoopConfig",
    "agent_setting_defaults",
    "Piece",
    "Segment",
    "Task",
    "Trajectory",
    "Turn",
    "gather",
    "run_agent_loop",
]


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class LoopConfig:
    """How the loop runs: the single source of these settings for the pipeline and the CLIs
    (``mem1 run`` and ``mem1 eval`` build their flags from these fields with
    ``transformers.HfArgumentParser``; the pipeline routes its keyword arguments by them).

    Example:
        >>> config = LoopConfig(mode="truncate", truncate_tokens=300)
        >>> config.keep_rule, config.profile.name
        (KeepRule(mode='truncate', truncate_tokens=300), 'mem1-qa')
    """

    mode: str = field(default="mem1", metadata=_help("what survives a turn", choices=MODES))
    prompt_profile: str = field(
        default=DEFAULT_PROFILE,
        metadata=_help(
            f"prompt profile: a built-in name ({', '.join(PROFILES)}) or a profile file (.yaml); "
            "in Python also a PromptProfile object"
        ),
    )
    max_turns: int = field(
        default=6, metadata=_help("turns per task (each response, valid or not, uses one)")
    )
    batch_size: int = field(default=1, metadata=_help("tasks generated together"))
    max_obs_tokens: int = field(default=512, metadata=_help("observations are cut to this many tokens"))
    truncate_tokens: int = field(
        default=DEFAULT_TRUNCATE_TOKENS,
        metadata=_help("history tokens kept after the prompt in truncate mode"),
    )
    topk: int = field(default=DEFAULT_TOPK, metadata=_help("documents per search"))

    def __post_init__(self) -> None:
        for name in ("max_turns", "batch_size", "max_obs_tokens", "topk"):
            if getattr(self, name) < 1:
                raise Mem1InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.keep_rule  # noqa: B018 (validates mode and truncate_tokens now, not at the first turn)
        self.profile  # noqa: B018

    @property
    def profile(self) -> PromptProfile:
        """The :class:`PromptProfile` named by ``prompt_profile``."""
        return get_profile(self.prompt_profile)

    @property
    def keep_rule(self) -> KeepRule:
        """The :class:`KeepRule` of ``mode`` and ``truncate_tokens``."""
        return KeepRule(self.mode, self.truncate_tokens)


def agent_setting_defaults() -> dict[str, object]:
    """The library default of each setting a checkpoint's ``agent_config.json`` may set: the field
    defaults of :class:`LoopConfig` and :class:`~mem1_hf.policy.PolicyConfig`, where each is defined
    once (:mod:`mem1_hf.agent_config`).

    Example:
        >>> defaults = agent_setting_defaults()
        >>> defaults["topk"], defaults["max_obs_tokens"], defaults["max_new_tokens"], defaults["max_turns"]
        (3, 512, 256, 6)
    """
    return {
        name: getattr(PolicyConfig if name in PolicyConfig.__dataclass_fields__ else LoopConfig, name)
        for name in SETTING_NAMES
    }


@dataclass
class Turn:
    """Everything one turn saw and did."""

    index: int
    input_ids: list[int]
    pieces: list[Piece]
    output_ids: list[int]
    logprobs: list[float]
    response: str
    parsed: ParsedResponse
    stop_reason: str
    observation: str = ""
    observation_ids: list[int] = field(default_factory=list)

    @property
    def context_tokens(self) -> int:
        return len(self.input_ids)

    @property
    def generated_tokens(self) -> int:
        return len(self.output_ids)

    def to_dict(self, include_ids: bool = False) -> dict:
        action = self.parsed.action
        out = {
            "turn": self.index,
            "context_tokens": self.context_tokens,
            "generated_tokens": self.generated_tokens,
            "internal_state": self.parsed.internal_state,
            "action": action,
            "query": self.parsed.content if action == "search" else None,
            "answer": self.parsed.content if action == "answer" else None,
            "observation": self.observation,
            "response": self.response,
            "stop_reason": self.stop_reason,
        }
        if include_ids:
            out.update(input_ids=self.input_ids, output_ids=self.output_ids, logprobs=self.logprobs)
        return out


@dataclass
class Trajectory:
    """A finished task: its history (the segments the keep rule reads) and its turns."""

    task: Task
    mode: str
    history: list[Segment]
    turns: list[Turn] = field(default_factory=list)
    answer_text: str = ""
    stop_reason: str = "max_turns"  # "answered" | "bought" | "max_turns" | "context_limit" | "invalid_action"
    time_s: float = 0.0
    reward: float | None = None  # the environment's reward (WebShop); QA is scored by its golds
    info: dict = field(default_factory=dict)

    @property
    def answers(self) -> list[str]:
        return split_answers(self.answer_text, len(self.task.questions))[0]

    @property
    def answer_count_ok(self) -> bool:
        return split_answers(self.answer_text, len(self.task.questions))[1]

    @property
    def peak_tokens(self) -> int:
        return peak_tokens((t.context_tokens, t.generated_tokens) for t in self.turns)

    @property
    def dependency(self) -> float:
        return dependency((t.context_tokens, t.generated_tokens) for t in self.turns)

    def to_dict(self, include_ids: bool = False) -> dict:
        return {
            "task_id": self.task.id,
            "questions": self.task.questions,
            "answers": self.answers,
            "answer_text": self.answer_text,
            "answer_count_ok": self.answer_count_ok,
            "mode": self.mode,
            "turns": [t.to_dict(include_ids) for t in self.turns],
            "peak_tokens": self.peak_tokens,
            "dependency": self.dependency,
            "time_s": self.time_s,
            "stop_reason": self.stop_reason,
            "reward": self.reward,
        }


@dataclass
class _Active:
    index: int
    key: str
    trajectory: Trajectory
    started: float


class AgentLoop:
    """Runs tasks to completion with a policy and an environment (see the module docstring).

    Args:
        policy: a :class:`~mem1_hf.policy.Policy` (model or scripted).
        env: an environment of a task family (a search environment, a ``WebShopEnv``) or a
            :class:`~mem1_hf.task_env.TaskEnvironment`.
        config: the :class:`LoopConfig`.
        context_limit: the longest input the policy accepts; a task whose next input would not
            fit ends cleanly with ``stop_reason="context_limit"``.
    """

    def __init__(self, policy: Policy, env, config: LoopConfig, context_limit: int | None = None):
        self.policy = policy
        self.config = config
        self.task_env = as_task_env(env, config.profile, config.topk)
        self.profile = config.profile
        self.keep_rule = config.keep_rule
        self.tokenizer = policy.tokenizer
        self.context_limit = context_limit or int(getattr(policy, "context_limit", 1 << 30))

    def run(
        self,
        tasks: Sequence[Task],
        on_finish: Callable[[Trajectory], None] | None = None,
        on_turn: Callable[[Trajectory, Turn, bool], None] | None = None,
    ) -> list[Trajectory]:
        """Run ``tasks`` in batches of ``config.batch_size``; results in input order.

        ``on_turn(trajectory, turn, done)`` is called after every turn's environment step (the
        turn's observation is filled in; ``done`` on the task's last turn, when its answer and
        ``stop_reason`` are final), so a caller can stream a task as it runs;
        ``on_finish(trajectory)`` is called when a task ends.
        """
        queue = deque(enumerate(tasks))
        active: list[_Active] = []
        done: dict[int, Trajectory] = {}
        while queue or active:
            while queue and len(active) < self.config.batch_size:
                active.append(self._start(*queue.popleft()))
            finished = self._step(active, on_turn)
            for state in finished:
                state.trajectory.time_s = time.perf_counter() - state.started
                self.policy.release(state.key)
                self.task_env.finish(state.key)
                done[state.index] = state.trajectory
                if on_finish is not None:
                    on_finish(state.trajectory)
            active = [s for s in active if s not in finished]
        return [done[i] for i in range(len(tasks))]

    def _start(self, index: int, task: Task) -> _Active:
        key, started = f"{index}:{task.id}", time.perf_counter()
        prompt_ids = encode_user_message(self.tokenizer, self.task_env.start(key, task))
        history = [Segment("prompt", prompt_ids, turn=-1)]
        trajectory = Trajectory(task=task, mode=self.config.mode, history=history)
        return _Active(index, key, trajectory, started)

    def _step(
        self, active: list[_Active], on_turn: Callable[[Trajectory, Turn, bool], None] | None = None
    ) -> list[_Active]:
        """One turn for every active task; returns the tasks that finished."""
        cfg, finished = self.config, []
        requests, runnable, contexts = [], [], []
        for state in active:
            history = state.trajectory.history
            pieces = self.keep_rule.pieces(history)
            ids = gather(history, pieces)
            if len(ids) >= self.context_limit:
                state.trajectory.stop_reason = "context_limit"
                finished.append(state)
                continue
            turn = len(state.trajectory.turns)
            requests.append(
                GenerationRequest(state.key, history[0].ids, ids, last_turn=turn == cfg.max_turns - 1)
            )
            runnable.append(state)
            contexts.append((ids, pieces))
        if not requests:
            return finished
        results = self.policy.generate(requests)
        items, turns = [], []
        for state, result, (ids, pieces) in zip(runnable, results, contexts):
            trajectory = state.trajectory
            index = len(trajectory.turns)
            text = self.tokenizer.decode(result.ids, skip_special_tokens=True)
            parsed = parse_response(text, self.profile)
            turn = Turn(index, ids, pieces, result.ids, result.logprobs, text, parsed, result.stop_reason)
            trajectory.turns.append(turn)
            # the profile says what survives in mem1 mode: its memory span, or the whole response
            span = (
                None
                if self.profile.keep == "whole"
                else memory_span(self.tokenizer, result.ids, parsed.memory_span)
            )
            trajectory.history.append(Segment("response", result.ids, turn=index, memory_span=span))
            items.append(StepItem(state.key, parsed, cfg.max_turns - index - 1))
            turns.append(turn)
        outcomes = self.task_env.step(items)  # one batched environment step for every task
        for state, turn, item, outcome in zip(runnable, turns, items, outcomes):
            trajectory = state.trajectory
            if outcome.info:
                trajectory.info = outcome.info
            invalid = item.parsed.action == "invalid"
            if outcome.done:
                trajectory.answer_text, trajectory.reward = outcome.answer_text, outcome.reward
                trajectory.stop_reason = outcome.stop_reason or "done"
                finished.append(state)
            elif invalid and self.profile.invalid_action == "end":  # e.g. the MEM1 authors' inference
                trajectory.stop_reason = "invalid_action"
                finished.append(state)
            elif item.turns_left <= 0:
                trajectory.stop_reason = "max_turns"
                finished.append(state)
            else:
                self._observe(state, turn, outcome.observation or "", item.turns_left, invalid)
            if on_turn is not None:
                on_turn(trajectory, turn, state in finished)
        return finished

    def _observe(self, state: _Active, turn: Turn, body: str, turns_left: int, invalid: bool = False) -> None:
        body_ids = self.tokenizer(body, add_special_tokens=False)["input_ids"]
        if len(body_ids) > self.config.max_obs_tokens:  # over-long observations are cut
            body = self.tokenizer.decode(body_ids[: self.config.max_obs_tokens], skip_special_tokens=True)
        turn.observation = self.profile.observation(body, turns_left, invalid=invalid)
        turn.observation_ids = self.tokenizer(turn.observation, add_special_tokens=False)["input_ids"]
        state.trajectory.history.append(Segment("observation", turn.observation_ids, turn=turn.index))


def run_agent_loop(
    policy: Policy, env, tasks: Sequence[Task], config: LoopConfig | None = None, **kwargs
) -> list[Trajectory]:
    """Convenience wrapper: ``AgentLoop(policy, env, config).run(tasks)``."""
    return AgentLoop(policy, env, config or LoopConfig(), **kwargs).run(tasks)
