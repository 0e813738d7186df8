"""``mem1 eval``: the evaluation harness on the command line.

QA (default): composed N-objective tasks from ``--data`` (directories written by ``mem1
compose``, or Hub ids) or composed on the fly from ``--source NAME=PATH`` (one task set per
objective count, same seed), answered by the model in each ``--modes`` mode over a
``--corpus`` / ``--index`` (default: the ``corpus.jsonl`` of the data or of the sources).
WebShop (``--env webshop``): the split's goals, by the model or the scripted ``expert``.

Turns per task: 6 up to 4 objectives, then objectives + 4 (``--max-turns`` overrides; WebShop:
10). Results go to ``--out`` (see :mod:`mem1_hf.evaluation`); rerunning the same command
resumes an interrupted run.

Example:
    $ mem1 eval --source hotpotqa=hotpotqa_dev_500.ircot.jsonl --objectives 1,2,4,8,16 \\
        --modes mem1,full_context,truncate --limit 20 --out runs/qa
    $ mem1 eval --env webshop --products P.json.gz --attributes A.json --policy expert --out runs/shop
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.evaluation.fingerprint import run_lock, sha256_file, sha256_json
from mem1_hf.keep_rule import MODES

if TYPE_CHECKING:  # the runner imports torch: loaded when a run starts, so `mem1 --help` stays fast
    from mem1_hf.evaluation.runner import EvalJob, PolicyFactory
    from mem1_hf.loop import LoopConfig

QA_OBJECTIVES = (1, 2, 4, 8, 16)
QA_MODES = "mem1,full_context,truncate"
WEBSHOP_MODES = "mem1,full_context"


@dataclass
class EvalPlan:
    """Everything a run needs except the model: its jobs, settings and output directory."""

    env: str
    jobs: list[EvalJob]
    settings: dict[str, Any]
    out: Path
    policy: str = "model"
    model: str | None = None
    device: str | None = None
    dtype: str = "auto"
    max_new_tokens: int = 256


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
    if bad or not modes:
        raise Mem1InputError(f"--modes {text!r}: choose from {', '.join(MODES)}")
    return modes


# ----------------------------------------------------------------------------- QA tasks


Rows = dict[int, list[dict[str, Any]]]


def _rows_from_data(specs: list[str], split: str) -> tuple[Rows, list[Path]]:
    """Composed rows by objective count, and the corpus files the data directories carry."""
    from mem1_hf.data.compose import CORPUS_FILE, load_composed

    rows: Rows = {}
    corpora = []
    for spec in specs:
        for row in load_composed(spec, split):
            rows.setdefault(int(row["n_objectives"]), []).append(row)
        if (Path(spec).expanduser() / CORPUS_FILE).is_file():
            corpora.append(Path(spec).expanduser() / CORPUS_FILE)
    return rows, corpora


def _rows_from_sources(args: argparse.Namespace, objectives: list[int]) -> tuple[Rows, list]:
    """Compose one test split per objective count (same seed: the same held-out questions)."""
    from mem1_hf.data.compose import ComposeConfig, compose, parse_source

    sources = [parse_source(s) for s in args.source]
    rows: Rows = {}
    corpus = None
    for n in objectives:
        config = ComposeConfig(
            objectives=n, seed=args.seed, splits={"test": args.test_fraction}, limit=args.source_limit
        )
        result = compose(sources, config)
        rows[n] = list(result.dataset["test"])
        corpus = corpus or result.corpus
    return rows, [corpus] if corpus else []


def _source_hashes(specs: list[str]) -> dict[str, str]:
    """``--source NAME=PATH``: each local file's SHA-256 (a Hub id stands for itself)."""
    from mem1_hf.data.compose import parse_source
    from mem1_hf.data.qa_sources import is_local_spec

    hashes = {}
    for name, spec in map(parse_source, specs):
        path = Path(spec).expanduser()
        hashes[name] = sha256_file(path) if is_local_spec(spec) and path.is_file() else f"hub:{spec}"
    return hashes


def retrieval_fingerprint(env: Any) -> dict[str, Any]:
    """The settings of a retrieval environment that change results, with its corpus hash."""
    embedder = getattr(env, "embedder", None)
    return {
        "retriever": getattr(env, "kind", type(env).__name__),
        "embedder": "default" if getattr(env, "embedder_is_default", False) else embedder,
        "index_type": getattr(getattr(env, "retriever", None), "index_type", None),
        "corpus_sha256": getattr(env, "fingerprint", None),
    }


def _merged_corpus(corpora: list[Path]) -> list:
    """The passages of several data directories' corpora, each passage once."""
    from mem1_hf.data.corpus import read_corpus
    from mem1_hf.envs.base import Document

    contents = dict.fromkeys(doc.contents for path in corpora for doc in read_corpus(path))
    return [Document(id=str(i), contents=text) for i, text in enumerate(contents)]


def _retrieval_env(args: argparse.Namespace, corpora: list) -> Any:
    from mem1_hf.envs import LocalRetrievalEnv

    if args.index:
        return LocalRetrievalEnv.load(args.index, embedder=args.embedder, retriever=args.retriever)
    if not args.corpus and not corpora:
        raise Mem1InputError("the data carry no corpus.jsonl: pass --corpus C.jsonl or --index DIR")
    corpus = args.corpus or (corpora[0] if len(corpora) == 1 else _merged_corpus(corpora))
    return LocalRetrievalEnv.from_corpus(corpus, retriever=args.retriever or "bm25", embedder=args.embedder)


def _qa_jobs(args: argparse.Namespace) -> tuple[list[EvalJob], dict[str, Any]]:
    from mem1_hf.evaluation.runner import EvalJob, max_turns_for
    from mem1_hf.loop import Task

    if bool(args.data) == bool(args.source):
        raise Mem1InputError("give the tasks with --data DIR_or_hub_id or --source NAME=PATH (not both)")
    if args.policy != "model":
        raise Mem1InputError("--policy expert exists only for --env webshop; QA always uses the model")
    modes = parse_modes(args.modes or QA_MODES)
    requested = parse_objectives(args.objectives) if args.objectives else None
    if args.data:
        rows, corpora = _rows_from_data(args.data, args.split)
    else:
        rows, corpora = _rows_from_sources(args, requested or list(QA_OBJECTIVES))
    objectives = requested or sorted(rows)
    missing = [n for n in objectives if not rows.get(n)]
    if missing:
        have = ", ".join(map(str, sorted(rows))) or "none"
        raise Mem1InputError(f"no {args.split} tasks with {missing} objectives in the data (it has: {have})")
    env = _retrieval_env(args, corpora)
    # every loaded task, not only the chosen ones: --limit and --objectives may grow on resume
    tasks = {n: [(r["task_id"], r["questions"], r["answers"]) for r in rows[n]] for n in sorted(rows)}
    fingerprint = {
        **retrieval_fingerprint(env),
        "tasks_sha256": sha256_json(tasks) if args.data else None,
        "source_sha256": _source_hashes(args.source) if args.source else None,
        "test_fraction": args.test_fraction if args.source else None,
        "source_limit": args.source_limit if args.source else None,
    }
    jobs = []
    for n in objectives:
        chosen = rows[n][: args.limit] if args.limit else rows[n]
        tasks = [Task(r["task_id"], list(r["questions"])) for r in chosen]
        golds = {r["task_id"]: [list(a) for a in r["answers"]] for r in chosen}
        for mode in modes:
            config = _loop_config(args, mode, max_turns_for(n, args.max_turns), args.prompt_profile)
            jobs.append(EvalJob(n, mode, tasks, config, env, golds))
    extra = {"data": args.data, "source": args.source, "prompt_profile": args.prompt_profile}
    return jobs, {**extra, **fingerprint}


# ----------------------------------------------------------------------------- WebShop tasks


def _webshop_jobs(args: argparse.Namespace) -> tuple[list[EvalJob], dict[str, Any]]:
    from mem1_hf.envs.webshop.play import data_files, env_from_args
    from mem1_hf.evaluation.runner import WEBSHOP_MAX_TURNS, EvalJob
    from mem1_hf.loop import Task

    if args.data or args.source or args.corpus or args.index:
        raise Mem1InputError(
            "--env webshop takes --products/--attributes, not --data/--source/--corpus/--index"
        )
    modes = parse_modes(args.modes or WEBSHOP_MODES)
    shop = env_from_args(args)
    if args.split not in ("train", "test", "human", "all"):
        raise Mem1InputError(f"--split {args.split!r}: WebShop has train, test, human and all")
    goals = shop.goals(args.split)[: args.limit] if args.limit else shop.goals(args.split)
    tasks = [Task(g.goal_id, [g.instruction]) for g in goals]
    turns = args.max_turns or WEBSHOP_MAX_TURNS
    jobs = [EvalJob(1, m, tasks, _loop_config(args, m, turns, "mem1-webshop"), shop) for m in modes]
    products, attributes, query_map = data_files(args)
    return jobs, {
        "products": args.products,
        "attributes": args.attributes,
        "prompt_profile": "mem1-webshop",
        "products_sha256": sha256_file(products),
        "attributes_sha256": sha256_file(attributes),
        "goal_query_map": query_map,
        "goal_query_map_sha256": sha256_file(query_map) if query_map else None,
        "goals_sha256": sha256_json([(g.goal_id, g.instruction) for g in shop.goals(args.split)]),
    }


def _loop_config(args: argparse.Namespace, mode: str, max_turns: int, profile: str) -> LoopConfig:
    from mem1_hf.loop import LoopConfig

    return LoopConfig(
        mode=mode,
        prompt_profile=profile,
        max_turns=max_turns,
        batch_size=args.batch_size,
        max_obs_tokens=args.max_obs_tokens,
        truncate_tokens=args.truncate_tokens,
        topk=args.topk,
    )


# ----------------------------------------------------------------------------- plan and run


def build_plan(args: argparse.Namespace) -> EvalPlan:
    """Check the arguments, load the tasks and the environment (no model yet)."""
    from mem1_hf.evaluation.runner import max_turns_for

    if args.max_new_tokens < 1:
        raise Mem1InputError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    if args.limit is not None and args.limit < 1:
        raise Mem1InputError(f"--limit must be >= 1, got {args.limit}")
    if args.max_turns is not None:
        max_turns_for(1, args.max_turns)  # validates
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise Mem1InputError(f"--out {args.out} is a file; give a directory for the run")
    jobs, extra = _webshop_jobs(args) if args.env == "webshop" else _qa_jobs(args)
    settings = {
        "env": args.env,
        "policy": args.policy,
        "model": args.model if args.policy == "model" else None,
        "max_new_tokens": args.max_new_tokens if args.policy == "model" else None,
        "max_turns": args.max_turns,
        "max_obs_tokens": args.max_obs_tokens,
        "truncate_tokens": args.truncate_tokens,
        "topk": args.topk,
        "split": args.split,
        "seed": args.seed,
        **extra,
    }
    return EvalPlan(
        env=args.env,
        jobs=jobs,
        settings=settings,
        out=Path(args.out),
        policy=args.policy,
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        max_new_tokens=args.max_new_tokens,
    )


def _policy_factory(plan: EvalPlan, model: Any, tokenizer: Any) -> PolicyFactory:
    if plan.policy == "expert":
        from mem1_hf.envs.webshop.expert_policy import WebShopExpertPolicy

        if tokenizer is None:  # the expert needs only a tokenizer to count tokens
            from transformers import AutoTokenizer

            from mem1_hf.defaults import default_model_path

            tokenizer = AutoTokenizer.from_pretrained(plan.model or default_model_path())
        return lambda task_env, config: WebShopExpertPolicy(tokenizer, task_env, config.max_turns)
    from mem1_hf.policy import ModelPolicy

    if model is None:
        from mem1_hf.models import load_model

        model, tokenizer = load_model(plan.model, device=plan.device, dtype=plan.dtype)
    return lambda task_env, config: ModelPolicy(
        model, tokenizer, config.profile, max_new_tokens=plan.max_new_tokens
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
    from mem1_hf.evaluation.report import build_summary, write_report
    from mem1_hf.evaluation.runner import check_settings, run_jobs

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
    from mem1_hf.evaluation.report import render_table
    from mem1_hf.evaluation.runner import TRAJECTORIES

    plan = build_plan(args)
    summary = run_plan(plan)
    print(render_table(summary))
    files = sorted(p.name for p in plan.out.iterdir() if p.is_file() and not p.name.startswith("."))
    print(f"{summary['n_tasks']} tasks in {plan.out / TRAJECTORIES}; wrote {', '.join(files)}")
    if args.json:
        print(json.dumps(summary, indent=2))


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mem1 eval`` to the ``mem1`` command line (see ``mem1_hf.cli.PLUGINS``).

    Example:
        >>> parser = argparse.ArgumentParser(prog="mem1")
        >>> _ = register_cli(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["eval", "--data", "d", "--out", "o"]).batch_size
        4
    """
    p = subparsers.add_parser(
        "eval",
        help="evaluate over composed QA tasks or WebShop goals (resumable)",
        description="Run the agent over composed multi-objective QA tasks (per objective count and "
        "mode) or WebShop goals; write trajectories.jsonl, summary.json, table.md and PNG plots. "
        "Rerunning the same command resumes an interrupted run. Turns per task: 6 up to 4 "
        "objectives, then objectives + 4 (WebShop: 10); --max-turns overrides.",
    )
    p.add_argument("--env", choices=("qa", "webshop"), default="qa")
    p.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    p.add_argument("--model", default=None, help="path or Hub id (default: offline SmolLM2-135M-Instruct)")
    p.add_argument("--policy", choices=("model", "expert"), default="model", help="expert: WebShop only")
    p.add_argument(
        "--objectives", default=None, help=f"e.g. 1,2,4,8,16 (default: --data's, or {QA_OBJECTIVES})"
    )
    p.add_argument("--modes", default=None, help=f"default: {QA_MODES} (QA), {WEBSHOP_MODES} (WebShop)")
    p.add_argument("--limit", type=int, default=None, help="tasks per objective count (WebShop: goals)")
    p.add_argument("--split", default="test", help="split of --data, or of WebShop's goals")
    p.add_argument("--batch-size", type=int, default=4, help="tasks generated together")
    p.add_argument("--max-turns", type=int, default=None, help="override the per-objective turn rule")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--max-obs-tokens", type=int, default=512)
    p.add_argument("--truncate-tokens", type=int, default=1024)
    p.add_argument("--topk", type=int, default=3)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if present)")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    p.add_argument("--json", action="store_true", help="also print summary.json")
    qa = p.add_argument_group("QA tasks")
    qa.add_argument("--data", action="append", help="`mem1 compose` directory or Hub id (repeatable)")
    qa.add_argument("--source", action="append", metavar="NAME=PATH", help="compose on the fly (repeatable)")
    qa.add_argument("--seed", type=int, default=0, help="composition seed (WebShop: env seed)")
    qa.add_argument("--test-fraction", type=float, default=0.1, help="--source: held-out share")
    qa.add_argument("--source-limit", type=int, default=None, help="--source: first N questions only")
    qa.add_argument("--prompt-profile", choices=("mem1-qa", "mem1-paper"), default="mem1-qa")
    retrieval = qa.add_mutually_exclusive_group()
    retrieval.add_argument("--corpus", help="corpus JSONL (default: the data's corpus.jsonl)")
    retrieval.add_argument("--index", help="index directory from `mem1 index`")
    qa.add_argument(
        "--retriever", choices=("bm25", "dense"), default=None, help="default bm25; with --index: must match"
    )
    qa.add_argument("--embedder", default=None, help="dense only: sentence-transformers path or Hub id")
    shop = p.add_argument_group("WebShop")
    shop.add_argument("--products", default=None, help="product file (default: $MEM1_WEBSHOP_PRODUCTS)")
    shop.add_argument("--attributes", default=None, help="attribute file (default: $MEM1_WEBSHOP_ATTRIBUTES)")
    shop.add_argument("--goal-query-map", default=None, help="optional goal_query_map.json")
    p.set_defaults(func=_cmd_eval)
    return p
