"""Rollouts for training: the shared agent loop with a sampling policy, and the outcome reward.

The trainer never builds contexts itself: :func:`rollout` runs :class:`~mem1_hf.loop.AgentLoop`
(keep rule, parser, the task family's step) with :class:`~mem1_hf.policy.ModelPolicy` sampling
from softmax(logits / T) over the whole vocabulary (``top_k=0``), so each recorded log-prob is
the log-probability of the token under the distribution it was drawn from. The task family
(:mod:`mem1_hf.families`) owns the turn budget and the score, as it does for evaluation.

Example:
    >>> tasks = tasks_from_dataset(load_composed("out/hotpot_2obj", "train"))  # doctest: +SKIP
    >>> trajectories = rollout(model, tokenizer, task_env, tasks, config)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from mem1_hf.errors import Mem1InputError
from mem1_hf.loop import AgentLoop, LoopConfig, Trajectory
from mem1_hf.policy import ModelPolicy
from mem1_hf.task_env import Task, TaskEnvironment


def tasks_from_dataset(dataset, env=None) -> list[Task]:
    """Tasks from a ``mem1 compose`` dataset (``task_id``, ``questions``, ``answers``) or WebShop
    goal rows (``goal_id``; ``env`` is the ``WebShopEnv`` that knows them).

    Raises:
        Mem1InputError: when the rows carry neither layout.
    """
    columns = set(getattr(dataset, "column_names", None) or (dataset[0].keys() if len(dataset) else ()))
    if {"questions", "answers"} <= columns:
        rows = (
            dataset
            if "task_id" in columns
            else [{**r, "task_id": f"task-{i}"} for i, r in enumerate(dataset)]
        )
        return [Task.from_row(row) for row in rows]
    if "goal_id" in columns:
        if env is not None and hasattr(env, "goal"):
            return [Task.from_row(env.goal(str(g))) for g in dataset["goal_id"]]
        return [Task(str(g), [str(g)]) for g in dataset["goal_id"]]
    raise Mem1InputError(
        "the training dataset has neither the composed fields (questions, answers; see `mem1 compose`) "
        f"nor WebShop goals (goal_id); it has: {', '.join(sorted(columns)) or 'no columns'}"
    )


def score_reward(scores: dict, metric: str = "em") -> float:
    """A family's scores of one trajectory (:meth:`TaskEnvironment.score`) as a reward: ``metric``
    (QA: EM or F1 averaged over the objectives; 0 when unanswered or the answer count is wrong,
    unless the score options turn the count rule off, as MEM1's training reward does) when the
    family reports it, else its ``reward`` (WebShop)."""
    return float(scores[metric] if metric in scores else scores.get("reward") or 0.0)


def valid_action_rate(trajectory: Trajectory) -> float:
    """The fraction of turns whose response held a complete action."""
    if not trajectory.turns:
        return 0.0
    return sum(t.parsed.action != "invalid" for t in trajectory.turns) / len(trajectory.turns)


def rollout(model, tokenizer, task_env: TaskEnvironment, tasks: Sequence[Task], config) -> list[Trajectory]:
    """Run ``tasks`` (already repeated for GRPO groups) with sampling; results in input order.

    Tasks are grouped by turn budget (the family's, for their objective count, unless
    ``config.max_turns`` is set) and each group runs through one :class:`AgentLoop` with
    ``config.rollout_batch_size`` tasks per ``generate`` call.
    """
    by_budget: dict[int, list[int]] = defaultdict(list)
    for i, task in enumerate(tasks):
        by_budget[task_env.turn_budget(len(task.questions), config.max_turns)].append(i)
    policy = ModelPolicy(
        model,
        tokenizer,
        task_env.profile,
        generation_config=config.rollout_generation_config(),
        reuse_prompt_cache=True,
    )
    out: list[Trajectory | None] = [None] * len(tasks)
    for budget, indices in sorted(by_budget.items()):
        loop_config = LoopConfig(
            mode=config.mode,
            prompt_profile=task_env.profile,
            max_turns=budget,
            batch_size=config.rollout_batch_size,
            max_obs_tokens=config.max_obs_tokens,
            topk=config.topk,
        )
        results = AgentLoop(policy, task_env, loop_config).run([tasks[i] for i in indices])
        for i, trajectory in zip(indices, results):
            out[i] = trajectory
    return out  # type: ignore[return-value]
