"""Rollouts for training: the shared agent loop with a sampling policy, and the outcome reward.

The trainer never builds contexts itself: :func:`rollout` runs :class:`~mem1_hf.loop.AgentLoop`
(keep rule, parser, environment step) with :class:`~mem1_hf.policy.ModelPolicy` sampling from
softmax(logits / T) over the whole vocabulary (``top_k=0``), so each recorded log-prob is the
log-probability of the token under the distribution it was drawn from.

Example:
    >>> tasks = tasks_from_dataset(load_composed("out/hotpot_2obj", "train"))  # doctest: +SKIP
    >>> trajectories = rollout(model, tokenizer, env, tasks, config)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from mem1_hf.errors import Mem1InputError
from mem1_hf.evaluation.runner import max_turns_for
from mem1_hf.loop import AgentLoop, LoopConfig, Task, Trajectory
from mem1_hf.policy import ModelPolicy
from mem1_hf.scoring import task_reward


@dataclass
class TrainTask:
    """A task to train on: the loop's :class:`Task` and its gold answers (``None`` for WebShop goals)."""

    task: Task
    golds: list[list[str]] | None

    @property
    def objectives(self) -> int:
        return len(self.task.questions)


def tasks_from_dataset(dataset) -> list[TrainTask]:
    """Tasks from a ``mem1 compose`` dataset (``questions`` + ``answers``) or WebShop goal rows (``goal_id``).

    Raises:
        Mem1InputError: when the rows carry neither layout.
    """
    columns = set(getattr(dataset, "column_names", None) or (dataset[0].keys() if len(dataset) else ()))
    if {"questions", "answers"} <= columns:
        ids = dataset["task_id"] if "task_id" in columns else [f"task-{i}" for i in range(len(dataset))]
        return [
            TrainTask(Task(str(tid), list(q)), [list(a) for a in golds])
            for tid, q, golds in zip(ids, dataset["questions"], dataset["answers"])
        ]
    if "goal_id" in columns:
        return [TrainTask(Task(str(g), [str(g)]), None) for g in dataset["goal_id"]]
    raise Mem1InputError(
        "the training dataset has neither the composed fields (questions, answers; see `mem1 compose`) "
        f"nor WebShop goals (goal_id); it has: {', '.join(sorted(columns)) or 'no columns'}"
    )


def outcome_reward(trajectory: Trajectory, task: TrainTask, metric: str = "em") -> float:
    """EM or F1 averaged over the objectives (QA), or the environment's reward (WebShop); 0 if unanswered."""
    if task.golds is None:
        return float(trajectory.reward or 0.0)
    if trajectory.stop_reason != "answered":
        return 0.0
    return task_reward(trajectory.answer_text, task.golds, metric=metric, reduction="mean")


def valid_action_rate(trajectory: Trajectory) -> float:
    """The fraction of turns whose response held a complete action."""
    if not trajectory.turns:
        return 0.0
    return sum(t.parsed.action != "invalid" for t in trajectory.turns) / len(trajectory.turns)


def rollout(model, tokenizer, env, tasks: Sequence[TrainTask], config) -> list[Trajectory]:
    """Run ``tasks`` (already repeated for GRPO groups) with sampling; results in input order.

    Tasks are grouped by turn budget (it depends on the objective count) and each group runs
    through one :class:`AgentLoop` with ``config.rollout_batch_size`` tasks per ``generate`` call.
    """
    by_budget: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(tasks):
        budget = config.max_turns if config.max_turns else max_turns_for(t.objectives)
        if t.golds is None and not config.max_turns:
            budget = 10  # WebShop's budget
        by_budget[budget].append(i)
    out: list[Trajectory | None] = [None] * len(tasks)
    for budget, indices in sorted(by_budget.items()):
        loop_config = LoopConfig(
            mode=config.mode,
            prompt_profile=config.prompt_profile,
            max_turns=budget,
            batch_size=config.rollout_batch_size,
            max_obs_tokens=config.max_obs_tokens,
            topk=config.topk,
        )
        policy = ModelPolicy(
            model,
            tokenizer,
            loop_config.profile,
            max_new_tokens=config.response_length,
            reuse_prompt_cache=True,
            generation_kwargs={
                "do_sample": True,
                "temperature": config.temperature,
                "top_p": config.top_p,
                "top_k": 0,
            },
        )
        results = AgentLoop(policy, env, loop_config).run([tasks[i].task for i in indices])
        for i, trajectory in zip(indices, results):
            out[i] = trajectory
    return out  # type: ignore[return-value]
