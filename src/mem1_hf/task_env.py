"""The seam between the agent loop and a task family (QA, WebShop, the next one).

Everything that differs per family lives behind :class:`TaskEnvironment`: the task prompt
(:meth:`~TaskEnvironment.start`), one batched step per turn (:meth:`~TaskEnvironment.step`),
the score of a finished trajectory (:meth:`~TaskEnvironment.score`), the turn budget for N
objectives (:meth:`~TaskEnvironment.turn_budget`) and the report's columns
(:attr:`~TaskEnvironment.report`). The loop, the evaluation harness, the trainer and the Space
only call these; none of them asks which family it runs.

A family is one module in :mod:`mem1_hf.families` with one subclass here, registered with
:func:`register_family`: adding a family touches that one new file (and its line in
``mem1_hf/families/__init__.py``).

A :class:`Task` carries its gold answers when it has any; :meth:`Task.from_row` makes one
from a composed dataset row (``mem1 compose``) or a WebShop goal.

Example:
    >>> Task.from_row({"task_id": "n2-ab", "questions": ["who?", "when?"], "answers": [["Ann"], ["1990"]]})
    Task(id='n2-ab', questions=['who?', 'when?'], golds=[['Ann'], ['1990']])
    >>> task_env = as_task_env(LocalRetrievalEnv.from_corpus("c.jsonl"), get_profile("mem1-qa"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from mem1_hf.errors import Mem1InputError
from mem1_hf.parsing import ParsedResponse
from mem1_hf.prompts import PromptProfile, get_profile

#: the modules that define the task families (each registers its TaskEnvironment on import)
FAMILY_MODULES = ("mem1_hf.families.qa", "mem1_hf.families.webshop")


@dataclass
class Task:
    """One task: its questions, answered together in one ``<answer>`` (``"; "``-separated).

    Attributes:
        id: the task's id (a composed task's id, a WebShop goal id).
        questions: the objectives as the agent reads them (WebShop: the instruction).
        golds: per question, its accepted answers (None when the environment scores the task).
    """

    id: str
    questions: list[str]
    golds: list[list[str]] | None = None

    @classmethod
    def from_row(cls, row: Any) -> Task:
        """A task from a composed dataset row (``task_id``, ``questions``, ``answers``) or a
        WebShop goal (anything with ``goal_id`` and ``instruction``).

        Example:
            >>> Task.from_row({"task_id": "t", "questions": ["q"], "answers": [["a", "b"]]}).golds
            [['a', 'b']]
        """
        if isinstance(row, Mapping):
            answers = row.get("answers")
            golds = [list(a) for a in answers] if answers is not None else None
            return cls(str(row["task_id"]), list(row["questions"]), golds)
        if hasattr(row, "goal_id") and hasattr(row, "instruction"):
            return cls(str(row.goal_id), [row.instruction])
        raise Mem1InputError(
            f"cannot make a task from a {type(row).__name__}: expected a composed row or a goal"
        )


class Finished(Protocol):
    """What :meth:`TaskEnvironment.score` reads of a finished trajectory."""

    task: Task
    answer_text: str
    reward: float | None
    stop_reason: str


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


@dataclass(frozen=True)
class ReportSpec:
    """How a family's evaluation results are summarised, tabulated and plotted.

    Attributes:
        title: the heading of ``table.md``.
        by_objectives: rows are objective counts and columns mode × metric (QA); otherwise one
            row per mode.
        sections: ``(heading, note, columns)`` tables, each column a ``(name, format(cell))``.
        footer: a line under the tables.
        noted_settings: run settings printed under the tables (how the run was scored).
        plots: ``(name, key, label)`` metrics to plot: by objectives, one ``<name>.png`` per
            metric with a line per mode; otherwise one ``<family>.png`` with bars per mode.
    """

    title: str
    by_objectives: bool
    sections: tuple[tuple[str | None, str | None, tuple[tuple[str, Callable[[dict], str]], ...]], ...]
    footer: str | None = None
    plots: tuple[tuple[str, str, str], ...] = ()
    noted_settings: tuple[str, ...] = ()


def mean(values: Sequence[float]) -> float:
    """The mean of a results cell's values (0 for an empty cell), for families' ``summarize``."""
    return float(sum(values) / len(values)) if values else 0.0


def fmt_number(value: float, digits: int = 2) -> str:
    """A table cell: ``value`` with ``digits`` decimals, for families' report columns."""
    return f"{value:.{digits}f}"


_FAMILIES: dict[str, type[TaskEnvironment]] = {}


class TaskEnvironment(ABC):
    """The loop's view of one task family (see the module docstring).

    Class attributes a family sets: ``name`` (``mem1 eval --env``), ``env_type`` (the
    environment class it adapts), ``profiles`` (the prompt profiles it speaks, the first is the
    default), ``modes`` (the evaluation's default modes), ``report`` and ``has_expert``.
    """

    name: ClassVar[str]
    env_type: ClassVar[type]
    profiles: ClassVar[tuple[str, ...]]
    modes: ClassVar[tuple[str, ...]] = ("mem1", "full_context", "truncate")
    report: ClassVar[ReportSpec]
    #: whether :meth:`expert_policy` gives a scripted expert
    has_expert: ClassVar[bool] = False

    def __init__(self, env: Any, profile: PromptProfile, topk: int | None = None):
        if profile.family != self.name:
            raise Mem1InputError(
                f"the {self.name} environment needs a {self.name} prompt profile (e.g. "
                f"{', '.join(map(repr, self.profiles))}), got {profile.name!r} (family {profile.family!r})"
            )
        self.env = env
        self.profile = profile
        self.topk = topk

    # -- the loop -----------------------------------------------------------------------
    def task(self, index: int, questions: Sequence[str]) -> Task:
        """The task for the pipeline's ``index``-th input (a list of questions)."""
        return Task(f"task-{index}", [q.strip() for q in questions])

    def start(self, key: str, task: Task) -> str:
        """Begin a task; return its prompt text (the user message)."""
        return self.profile.build_prompt(task.questions)

    @abstractmethod
    def step(self, items: Sequence[StepItem]) -> list[Outcome]:
        """Apply each task's parsed response; one call per turn for the whole batch."""

    def finish(self, key: str) -> None:  # noqa: B027 (optional hook: most families keep no state)
        """Forget a finished task."""

    # -- judging a finished task --------------------------------------------------------
    @abstractmethod
    def score(self, trajectory: Finished, **options: Any) -> dict[str, Any]:
        """The scores of a finished trajectory (the evaluation record's score fields);
        ``options`` are the family's scoring options (:meth:`score_options`)."""

    @classmethod
    def score_options(cls, settings: Any) -> dict[str, Any]:
        """The :meth:`score` options ``mem1 eval``'s settings ask for (none by default)."""
        return {}

    @classmethod
    @abstractmethod
    def turn_budget(cls, objectives: int, override: int | None = None) -> int:
        """Turns for a task of ``objectives`` objectives (``override`` wins when given)."""

    @classmethod
    @abstractmethod
    def summarize(cls, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The family's score columns of one results cell, averaged over its records."""

    # -- evaluation ----------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def load_eval(cls, settings: Any) -> tuple[Any, dict[int, list[Task]], dict[str, Any]]:
        """The environment, the tasks per objective count and the extra run settings for
        ``mem1 eval`` (``settings`` is its parsed :class:`~mem1_hf.evaluation.cli.EvalConfig`)."""

    def expert_policy(self, tokenizer: Any, max_turns: int) -> Any:
        """A scripted expert policy for this family (``mem1 eval --policy expert``)."""
        raise Mem1InputError(f"--policy expert: the {self.name} family has no scripted expert")


def register_family(cls: type[TaskEnvironment]) -> type[TaskEnvironment]:
    """Class decorator: make a family known to :func:`as_task_env` and :func:`get_family`."""
    _FAMILIES[cls.name] = cls
    return cls


def families() -> dict[str, type[TaskEnvironment]]:
    """Every registered family by name (imports :data:`FAMILY_MODULES` on first use)."""
    for module in FAMILY_MODULES:
        importlib.import_module(module)
    # by name, not by registration: which family is imported first depends on the caller
    return dict(sorted(_FAMILIES.items()))


def get_family(name: str) -> type[TaskEnvironment]:
    """The family called ``name`` (``mem1 eval --env NAME``, ``summary.json``'s ``env``)."""
    known = families()
    if name not in known:
        raise Mem1InputError(f"unknown task family {name!r}; choose one of {', '.join(known)}")
    return known[name]


def family_for(env: Any) -> type[TaskEnvironment]:
    """The family whose environment type ``env`` is."""
    known = families().values()
    for family in known:
        if isinstance(env, family.env_type):
            return family
    names = ", ".join(f.env_type.__name__ for f in known)
    raise Mem1InputError(f"unsupported environment {type(env).__name__}; pass one of: {names}")


def family_name(env: Any) -> str:
    """The name of the task family ``env`` belongs to (a :class:`TaskEnvironment`, an environment
    of a registered family, or a plain search function: ``qa``)."""
    if isinstance(env, TaskEnvironment):
        return env.name
    if callable(env) and not any(isinstance(env, f.env_type) for f in families().values()):
        return "qa"
    return family_for(env).name


def as_task_env(env: Any, profile: str | PromptProfile, topk: int | None = None) -> TaskEnvironment:
    """The family adapter for ``env``; a :class:`TaskEnvironment` passes through, a plain search
    function ``fn(queries, topk)`` (documents per query) becomes a QA search environment.

    Example:
        >>> as_task_env(object(), "mem1-qa")
        Traceback (most recent call last):
        ...
        mem1_hf.errors.Mem1InputError: unsupported environment object; pass one of: SearchEnvironment, WebShopEnv
    """
    if isinstance(env, TaskEnvironment):
        return env
    if callable(env) and not any(isinstance(env, f.env_type) for f in families().values()):
        from mem1_hf.retrieval.base import FunctionSearchEnv  # a plain search function fn(queries, topk)

        env = FunctionSearchEnv(env)
    return family_for(env)(env, get_profile(profile), topk)
