"""``mem1 eval``: the evaluation harness on the command line.

QA (default): composed N-objective tasks from ``--data`` (directories written by ``mem1
compose``, or Hub ids) or composed on the fly from ``--source NAME=PATH`` (one task set per
objective count, same seed), answered by the model in each ``--modes`` mode over a
``--corpus`` / ``--index`` (default: the ``corpus.jsonl`` of the data or of the sources).
WebShop (``--env webshop``): the split's goals, by the model or the scripted ``expert``.

The task family (``--env``) owns everything that differs between QA and WebShop (loading the
tasks, the turn budget — QA: 6 up to 4 objectives, then objectives + 4; WebShop: 10;
``--max-turns`` overrides —, the scores and the report's columns); this module never asks
which family it runs. The flags are generated from :class:`EvalConfig` and the shared config
dataclasses with ``transformers.HfArgumentParser``. With ``--policy model``, the prompt profile,
top-k, observation cut, new tokens and turn budget a flag does not give come from the model's
``agent_config.json``, else the library (or family) default; the evaluated modes are ``--modes``
or the family's. Results go to ``--out`` (see :mod:`mem1_hf.evaluation`); rerunning the same command
resumes an interrupted run.

Example:
    $ mem1 eval --source hotpotqa=hotpotqa_dev_500.ircot.jsonl --objectives 1,2,4,8,16 \\
        --modes mem1,full_context,truncate --limit 20 --out runs/qa
    $ mem1 eval --env webshop --products P.json.gz --attributes A.json --policy expert --out runs/shop
    $ mem1 eval compare runs/qa-base runs/qa-tuned   # paired intervals of B − A (:mod:`.compare`)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mem1_hf.agent_config import SETTING_NAMES, AgentConfig
from mem1_hf.data.compose import DEFAULT_TEST_FRACTION
from mem1_hf.data.fingerprint import run_lock
from mem1_hf.errors import Mem1InputError
from mem1_hf.evaluation.report import build_summary, render_table, write_report
from mem1_hf.evaluation.runner import TRAJECTORIES, EvalJob, PolicyFactory, check_settings, run_jobs
from mem1_hf.families.webshop.reward import RewardConfig
from mem1_hf.keep_rule import MODES
from mem1_hf.loop import LoopConfig
from mem1_hf.model_loading import ModelConfig
from mem1_hf.policy import PolicyConfig
from mem1_hf.remote_policy import CompletionsConfig
from mem1_hf.retrieval.local import RetrievalConfig
from mem1_hf.scoring import ScoringConfig
from mem1_hf.settings import from_args, same_as
from mem1_hf.task_env import get_family


@dataclass
class EvalConfig:
    """The settings of ``mem1 eval`` that are its own (with :class:`~mem1_hf.policy.PolicyConfig`,
    :class:`~mem1_hf.model_loading.ModelConfig` and
    :class:`~mem1_hf.retrieval.local.RetrievalConfig` they make its flags)."""

    out: str = field(metadata={"help": "run directory (resumed if it exists)"})
    env: str = field(default="qa", metadata={"help": "task family: qa or webshop"})
    policy: str = field(
        default="model",
        metadata={"help": "expert: the family's scripted expert", "choices": ("model", "expert")},
    )
    objectives: str | None = field(
        default=None, metadata={"help": "objective counts, e.g. 1,2,4,8,16 (default: the data's)"}
    )
    modes: str | None = field(
        default=None, metadata={"help": "comma-separated modes (default: the family's)"}
    )
    limit: int | None = field(default=None, metadata={"help": "tasks per objective count (WebShop: goals)"})
    split: str = field(default="test", metadata={"help": "split of --data, or of WebShop's goals"})
    batch_size: int = same_as(LoopConfig, "batch_size", default=4)
    # None: not given (the model's agent_config.json, else the library's or family's default)
    max_turns: int | None = same_as(
        LoopConfig, "max_turns", default=None, help="override the family's turn budget per objective count"
    )
    max_obs_tokens: int | None = same_as(LoopConfig, "max_obs_tokens", default=None)
    truncate_tokens: int = same_as(LoopConfig, "truncate_tokens")
    topk: int | None = same_as(LoopConfig, "topk", default=None)
    prompt_profile: str | None = same_as(LoopConfig, "prompt_profile", default=None)
    json: bool = field(default=False, metadata={"help": "also print summary.json"})
    # QA tasks
    data: list[str] = field(
        default_factory=list,
        metadata={"help": "`mem1 compose` directory or Hub id (repeatable)", "action": "extend"},
    )
    source: list[str] = field(
        default_factory=list,
        metadata={
            "help": "NAME=PATH: compose on the fly (repeatable)",
            "action": "extend",
            "metavar": "NAME=PATH",
        },
    )
    seed: int = field(default=0, metadata={"help": "composition seed (WebShop: env seed)"})
    test_fraction: float = field(default=DEFAULT_TEST_FRACTION, metadata={"help": "--source: held-out share"})
    source_limit: int | None = field(default=None, metadata={"help": "--source: first N questions only"})
    # WebShop
    products: str | None = field(
        default=None, metadata={"help": "product file (default: $MEM1_WEBSHOP_PRODUCTS)"}
    )
    attributes: str | None = field(
        default=None, metadata={"help": "attribute file (default: $MEM1_WEBSHOP_ATTRIBUTES)"}
    )
    goal_query_map: str | None = field(default=None, metadata={"help": "optional goal_query_map.json"})

    @property
    def objective_counts(self) -> list[int] | None:
        """``--objectives`` parsed (None: the data's)."""
        return parse_objectives(self.objectives) if self.objectives else None


#: the dataclasses whose fields are ``mem1 eval``'s flags
EVAL_CONFIGS = (
    EvalConfig,
    PolicyConfig,
    ModelConfig,
    RetrievalConfig,
    ScoringConfig,
    RewardConfig,
    CompletionsConfig,
)


@dataclass
class EvalPlan:
    """Everything a run needs except the model: its jobs, settings and output directory."""

    env: str
    jobs: list[EvalJob]
    settings: dict[str, Any]
    out: Path
    policy: str
    model: ModelConfig
    generation: PolicyConfig
    #: the settings taken from the model's agent_config.json (printed once by ``mem1 eval``)
    from_checkpoint: str = ""
    #: ``--completions-url``: the model generates on that server (only its tokenizer loads here)
    completions: CompletionsConfig = field(default_factory=CompletionsConfig)


def parse_objectives(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``.

    Example:
        >>> parse_objectives("1, 2,16")
        [1, 2, 16]
    """
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise Mem1InputError(f"--objectives {text!r}: expected integers like 1,2,4,8,16") from None
    if not values or min(values) < 1:
        raise Mem1InputError(f"--objectives {text!r}: expected integers >= 1 like 1,2,4,8,16")
    return sorted(set(values))


def parse_modes(text: str) -> list[str]:
    """``"mem1,full_context"`` -> ``["mem1", "full_context"]`` (checked against the loop's modes).

    Example:
        >>> parse_modes("mem1,truncate")
        ['mem1', 'truncate']
    """
    modes = list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in modes if m not in MODES]
    if not modes:
        raise Mem1InputError(f"--modes {text!r} names no mode; give one or more of {', '.join(MODES)}")
    if bad:
        raise Mem1InputError(f"--modes {text!r}: choose from {', '.join(MODES)}")
    return modes


def build_plan(args: argparse.Namespace) -> EvalPlan:
    """Check the arguments, load the tasks and the environment (no model yet)."""
    config = from_args(EvalConfig, args)
    retrieval = from_args(RetrievalConfig, args)
    model = from_args(ModelConfig, args)
    family = get_family(config.env)
    if config.limit is not None and config.limit < 1:
        raise Mem1InputError(f"--limit must be >= 1, got {config.limit}")
    if Path(config.out).exists() and not Path(config.out).is_dir():
        raise Mem1InputError(f"--out {config.out} is a file; give a directory for the run")
    # explicit flag > the model's agent_config.json > the library's (or the family's) default; the
    # checkpoint's memory mode is not used: an evaluation runs --modes (or the family's)
    uses_model = config.policy == "model"
    checkpoint = replace(model.agent_config(config.env), mode=None) if uses_model else AgentConfig()
    given = {name: getattr(args, name, None) for name in SETTING_NAMES}
    chosen = checkpoint.merge(given)
    config = replace(
        config,
        prompt_profile=chosen.get("prompt_profile"),
        max_turns=chosen.get("max_turns"),
        topk=chosen.get("topk", LoopConfig.topk),
        max_obs_tokens=chosen.get("max_obs_tokens", LoopConfig.max_obs_tokens),
    )
    generation = from_args(
        PolicyConfig, args, max_new_tokens=chosen.get("max_new_tokens", PolicyConfig.max_new_tokens)
    )
    family.turn_budget(1, config.max_turns)  # validates --max-turns
    if config.policy == "expert" and not family.has_expert:
        raise Mem1InputError(f"--policy expert: the {family.name} family has no scripted expert")
    completions = from_args(CompletionsConfig, args)
    if completions.completions_url and not uses_model:
        raise Mem1InputError("--completions-url generates for --policy model; the expert needs no server")
    # only a missing --modes means the family's modes: `--modes ""` is a mistake, not "all"
    modes = parse_modes(",".join(family.modes) if config.modes is None else config.modes)
    profile = config.prompt_profile or family.profiles[0]
    config.objective_counts  # noqa: B018 (a typo fails before loading anything)
    settings_view = _FamilySettings(
        config, retrieval, from_args(ScoringConfig, args), from_args(RewardConfig, args)
    )
    env, tasks, extra = family.load_eval(settings_view)
    scoring = family.score_options(settings_view)
    jobs = []
    for n, chosen in tasks.items():
        for mode in modes:
            loop = LoopConfig(
                mode=mode,
                prompt_profile=profile,
                max_turns=family.turn_budget(n, config.max_turns),
                batch_size=config.batch_size,
                max_obs_tokens=config.max_obs_tokens,
                truncate_tokens=config.truncate_tokens,
                topk=config.topk,
            )
            jobs.append(EvalJob(n, mode, chosen, loop, env, scoring))
    settings = {
        "env": config.env,
        "policy": config.policy,
        "model": model.model if uses_model else None,
        "max_new_tokens": generation.max_new_tokens if uses_model else None,
        "max_turns": config.max_turns,
        "max_obs_tokens": config.max_obs_tokens,
        "truncate_tokens": config.truncate_tokens,
        "topk": config.topk,
        "split": config.split,
        "seed": config.seed,
        "prompt_profile": profile,
        # an empty list of --data / --source is recorded as None; False and 0 stay themselves
        **{k: (v if v or isinstance(v, (bool, int, float)) else None) for k, v in extra.items()},
    }
    if uses_model and generation.temperature > 0:
        settings["temperature"] = generation.temperature
    return EvalPlan(
        config.env,
        jobs,
        settings,
        Path(config.out),
        config.policy,
        model,
        generation,
        checkpoint.describe(given),
        completions,
    )


class _FamilySettings:
    """The eval, retrieval and scoring settings as one object for a family's ``load_eval``."""

    def __init__(self, *parts: Any):
        self._parts = parts

    def __getattr__(self, name: str) -> Any:
        for part in self._parts:
            if hasattr(part, name):
                return getattr(part, name)
        raise AttributeError(name)


def _policy_factory(plan: EvalPlan, model: Any, tokenizer: Any) -> PolicyFactory:
    if plan.policy == "expert":
        if tokenizer is None:  # the expert needs only a tokenizer to count tokens
            from transformers import AutoTokenizer

            from mem1_hf.defaults import tokenizer_source

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_source(plan.model.model))
        return lambda task_env, config: task_env.expert_policy(tokenizer, config.max_turns)
    if plan.completions.completions_url:  # a generation server answers; only the tokenizer loads here
        from mem1_hf.remote_policy import load_tokenizer

        tokenizer = tokenizer if tokenizer is not None else load_tokenizer(plan.model.model)
        generation = plan.generation.generation_config()
        return lambda task_env, config: plan.completions.policy(tokenizer, config.profile, generation)
    from mem1_hf.policy import ModelPolicy

    if model is None:
        model, tokenizer = plan.model.load(plan.env)
    generation_config = plan.generation.generation_config()
    return lambda task_env, config: ModelPolicy(
        model,
        tokenizer,
        config.profile,
        generation_config,
        reuse_prompt_cache=plan.generation.reuse_prompt_cache,
    )


def run_plan(
    plan: EvalPlan,
    model: Any = None,
    tokenizer: Any = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Run (or resume) the plan, write the summary, table and plots; return the summary.

    ``model``/``tokenizer`` skip loading ``plan.model`` (tests and notebooks pass their own).

    Example:
        >>> summary = run_plan(build_plan(parser.parse_args([...])), model, tokenizer)  # doctest: +SKIP
    """
    from mem1_hf.evaluation.plots import plot_summary  # matplotlib only when a run ends

    if plan.out.exists() and not plan.out.is_dir():
        raise Mem1InputError(f"--out {plan.out} is a file; give a directory for the run")
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise Mem1InputError(f"cannot create --out {plan.out}: {err.strerror}") from None
    with run_lock(plan.out):  # one writer per run folder: two would append duplicate lines
        check_settings(plan.out, plan.settings)
        factory = _policy_factory(plan, model, tokenizer)
        records = run_jobs(plan.jobs, factory, plan.out, on_record=on_record, progress=progress)
        summary = build_summary(records, plan.env, plan.settings)
        write_report(plan.out, summary)
        plot_summary(summary, plan.out)
    return summary


def _cmd_eval(args: argparse.Namespace) -> None:
    plan = build_plan(args)
    if plan.from_checkpoint:
        print(plan.from_checkpoint, file=sys.stderr)
    summary = run_plan(plan)
    print(render_table(summary))
    files = sorted(p.name for p in plan.out.iterdir() if p.is_file() and not p.name.startswith("."))
    print(f"{summary['n_tasks']} tasks in {plan.out / TRAJECTORIES}; wrote {', '.join(files)}")
    if args.json:
        print(json.dumps(summary, indent=2))


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mem1 eval`` to the ``mem1`` command line (see ``mem1_hf.cli.PLUGINS``); its flags
    come from :data:`EVAL_CONFIGS` (``subparsers`` must make ``HfArgumentParser`` parsers).

    Example:
        >>> from mem1_hf.cli import build_parser
        >>> build_parser().parse_args(["eval", "--data", "d", "--out", "o"]).batch_size
        4
    """
    p = subparsers.add_parser(
        "eval",
        dataclass_types=EVAL_CONFIGS,
        help="evaluate over composed QA tasks or WebShop goals (resumable)",
        description="Run the agent over composed multi-objective QA tasks (per objective count and "
        "mode) or WebShop goals; write trajectories.jsonl, summary.json, table.md and PNG plots. "
        "Rerunning the same command resumes an interrupted run. Turns per task: 6 up to 4 "
        "objectives, then objectives + 4 (WebShop: 10); --max-turns overrides. Means come with 95% "
        "bootstrap intervals over tasks. `mem1 eval compare RUN_A RUN_B` compares two runs task by task.",
    )
    from mem1_hf.loop import agent_setting_defaults
    from mem1_hf.settings import defer_to_checkpoint

    fallbacks = agent_setting_defaults()
    fallbacks.update(prompt_profile="the family's", max_turns="the family's budget")
    fallbacks.pop("mode")  # --modes: the family's modes, whatever the checkpoint says
    defer_to_checkpoint(p, fallbacks)
    p.set_defaults(func=_cmd_eval)
    return p
