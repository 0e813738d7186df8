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

from mem1_hf.efficiency import dependency, peak_tokens
from mem1_hf.errors import Mem1InputError
from mem1_hf.keep_rule import KeepRule, Piece, Segment, gather
from mem1_hf.parsing import ParsedResponse, parse_response, split_answers
from mem1_hf.policy import GenerationRequest, Policy
from mem1_hf.prompts import PromptProfile, get_profile
from mem1_hf.task_env import StepItem, as_task_env


@dataclass
class LoopConfig:
    """How the loop runs.

    Args:
        mode: what survives a turn: ``"mem1"``, ``"full_context"`` or ``"truncate"``.
        prompt_profile: ``"mem1-qa"`` (default), ``"mem1-paper"`` or a :class:`PromptProfile`.
        max_turns: turns per task (each response, valid or not, uses one).
        batch_size: tasks generated together.
        max_obs_tokens: observations (retrieved docs) are cut to this many tokens.
        truncate_tokens: history tokens kept after the prompt in ``truncate`` mode.
        topk: documents per search.
    """

    mode: str = "mem1"
    prompt_profile: str | PromptProfile = "mem1-qa"
    max_turns: int = 6
    batch_size: int = 1
    max_obs_tokens: int = 512
    truncate_tokens: int = 1024
    topk: int = 3

    def __post_init__(self) -> None:
        for name in ("max_turns", "batch_size", "max_obs_tokens", "topk"):
            if getattr(self, name) < 1:
                raise Mem1InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.profile = get_profile(self.prompt_profile)
        self.keep_rule = KeepRule(self.mode, self.truncate_tokens)


@dataclass
class Task:
    """One task: its questions, answered together in one ``<answer>`` (``"; "``-separated)."""

    id: str
    questions: list[str]


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
    stop_reason: str = "max_turns"  # "answered" | "bought" | "max_turns" | "context_limit"
    time_s: float = 0.0
    reward: float | None = None  # the environment's reward (WebShop); QA is scored by the harness
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


def token_span(tokenizer, ids: Sequence[int], char_span: tuple[int, int]) -> tuple[int, int]:
    """The smallest token slice of ``ids`` whose decoded text covers ``char_span``.

    Offsets refer to ``tokenizer.decode(ids, skip_special_tokens=True)``. A token that straddles
    a boundary is included, so the kept tokens are always whole sampled tokens.
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


@dataclass
class _Active:
    index: int
    key: str
    trajectory: Trajectory
    started: float


def encode_user_message(tokenizer, text: str) -> list[int]:
    """The ids of the chat template of one user message, ready for the assistant's turn.

    Later turns append the kept memory and observation ids, which equals the chat template of
    ``[user: prompt, assistant: memory]`` with its trailing end-of-turn removed (DESIGN.md).
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
    """The task prompt's ids for a QA task (see :func:`encode_user_message`)."""
    return encode_user_message(tokenizer, profile.build_prompt(questions))


class AgentLoop:
    """Runs tasks to completion with a policy and an environment (see the module docstring).

    Args:
        policy: a :class:`~mem1_hf.policy.Policy` (model or scripted).
        env: a search environment (QA), a ``WebShopEnv``, or a
            :class:`~mem1_hf.task_env.TaskEnvironment`.
        config: the :class:`LoopConfig`.
        context_limit: the longest input the policy accepts; a task whose next input would not
            fit ends cleanly with ``stop_reason="context_limit"``.
    """

    def __init__(self, policy: Policy, env, config: LoopConfig, context_limit: int | None = None):
        self.policy = policy
        self.config = config
        self.task_env = as_task_env(env, config.profile, config.topk)
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
        prompt_ids = encode_user_message(self.tokenizer, self.task_env.start(key, task.questions, task.id))
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
            pieces = cfg.keep_rule.pieces(history)
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
            parsed = parse_response(text, cfg.profile)
            turn = Turn(index, ids, pieces, result.ids, result.logprobs, text, parsed, result.stop_reason)
            trajectory.turns.append(turn)
            keep = token_span(self.tokenizer, result.ids, parsed.keep_span)
            trajectory.history.append(Segment("response", result.ids, turn=index, keep=keep))
            items.append(StepItem(state.key, parsed, cfg.max_turns - index - 1))
            turns.append(turn)
        outcomes = self.task_env.step(items)  # one batched environment step for every task
        for state, turn, item, outcome in zip(runnable, turns, items, outcomes):
            trajectory = state.trajectory
            if outcome.info:
                trajectory.info = outcome.info
            if outcome.done:
                trajectory.answer_text, trajectory.reward = outcome.answer_text, outcome.reward
                trajectory.stop_reason = outcome.stop_reason or "done"
                finished.append(state)
            elif item.turns_left <= 0:
                trajectory.stop_reason = "max_turns"
                finished.append(state)
            else:
                self._observe(state, turn, outcome.observation or "", item.turns_left)
            if on_turn is not None:
                on_turn(trajectory, turn, state in finished)
        return finished

    def _observe(self, state: _Active, turn: Turn, body: str, turns_left: int) -> None:
        body_ids = self.tokenizer(body, add_special_tokens=False)["input_ids"]
        if len(body_ids) > self.config.max_obs_tokens:  # over-long observations are cut
            body = self.tokenizer.decode(body_ids[: self.config.max_obs_tokens], skip_special_tokens=True)
        turn.observation = self.config.profile.observation(body, turns_left)
        turn.observation_ids = self.tokenizer(turn.observation, add_special_tokens=False)["input_ids"]
        state.trajectory.history.append(Segment("observation", turn.observation_ids, turn=turn.index))


def run_agent_loop(
    policy: Policy, env, tasks: Sequence[Task], config: LoopConfig | None = None, **kwargs
) -> list[Trajectory]:
    """Convenience wrapper: ``AgentLoop(policy, env, config).run(tasks)``."""
    return AgentLoop(policy, env, config or LoopConfig(), **kwargs).run(tasks)
