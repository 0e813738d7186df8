"""The ``mem1`` command line.

* ``mem1 corpus --source FILE --out corpus.jsonl`` — build a retrieval corpus from HotpotQA /
  NQ files (or validate an existing corpus JSONL).
* ``mem1 index --corpus C.jsonl --out DIR [--retriever bm25|dense] [--embedder E]`` — build and
  save a BM25 or faiss index, reused by ``run --index DIR``.
* ``mem1 eval compare RUN_A RUN_B`` — two ``mem1 eval`` runs compared task by task (paired
  bootstrap intervals of B − A; :mod:`mem1_hf.evaluation.compare`).
* ``mem1 run [--model M] (--corpus C.jsonl | --index DIR) "q1" "q2"`` — answer one
  multi-question task and print each turn (``--json`` prints the pipeline's dict). Its flags
  are generated from :data:`RUN_CONFIGS` with ``transformers.HfArgumentParser`` (both
  ``--max-turns`` and ``--max_turns`` work). The agent settings a flag does not give come from
  the checkpoint's ``agent_config.json``, else the library default; one stderr line says
  which came from the checkpoint. ``--completions-url URL`` generates on a vLLM-style server
  (:mod:`mem1_hf.remote_policy`; ``mem1 eval`` takes it too), with the tokenizer of ``--model``.

A user's mistake prints one ``error: …`` line and exits with status 2, never a traceback; a
failing outside service (retrieval server, web search) prints one line and exits with 1.

Example:
    $ mem1 run --corpus demo/corpus.jsonl "Who wrote Hamlet?" "When was Yale founded?"
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from mem1_hf.data.fields import add_field_args
from mem1_hf.data.files import check_output_file
from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.settings import HelpFormatter

# Modules that add their own subcommands: each has ``register_cli(subparsers)`` which adds a
# parser and sets ``func`` (a callable taking the parsed args) with ``set_defaults``.
PLUGINS: tuple[str, ...] = (
    "mem1_hf.data.compose",
    "mem1_hf.retrieval.server",
    "mem1_hf.families.webshop.play",
    "mem1_hf.evaluation.cli",
    "mem1_hf.train",
    "mem1_hf.hub",
    "mem1_hf.demo",
    "mem1_hf.data.trajectories",
    "mem1_hf.data.curriculum",
)


#: plugin commands listed by ``mem1 --help`` without importing their module (which may import
#: torch): command -> (module, one-line help). A plugin missing here is imported eagerly.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "compose": ("mem1_hf.data.compose", "compose N-objective tasks from QA datasets"),
    "serve-retriever": (
        "mem1_hf.retrieval.server",
        "serve an index over HTTP with the Search-R1/MEM1 retrieval API",
    ),
    "webshop": ("mem1_hf.families.webshop.play", "the WebShop text shopping environment"),
    "eval": ("mem1_hf.evaluation.cli", "evaluate over composed QA tasks or WebShop goals (resumable)"),
    "train": ("mem1_hf.train", "train a MEM1 agent (PPO/GRPO or SFT) from a YAML config"),
    "push": ("mem1_hf.hub", "publish a composed dataset, a checkpoint or the demo Space to the Hub"),
    "demo": ("mem1_hf.demo", "serve the live memory demo (Gradio) on the demo corpus"),
    "curriculum": (
        "mem1_hf.data.curriculum",
        "keep the composed train tasks a model already scores on (from a `mem1 eval` run)",
    ),
    "trajectories": (
        "mem1_hf.data.trajectories",
        "write turn-level trajectory datasets (SFT / RL rows) from an expert or a model",
    ),
}
_BUILTIN_HELP = {
    "corpus": "build a retrieval corpus JSONL from QA data files",
    "index": "build and save a BM25 or dense index of a corpus",
    "run": "answer one multi-question task",
}


def run_configs() -> tuple[type, ...]:
    """The dataclasses whose fields are ``mem1 run``'s flags (one source for every default and help)."""
    from mem1_hf.loop import LoopConfig
    from mem1_hf.model_loading import ModelConfig
    from mem1_hf.policy import PolicyConfig
    from mem1_hf.remote_policy import CompletionsConfig
    from mem1_hf.retrieval.local import RetrievalConfig

    return (LoopConfig, PolicyConfig, ModelConfig, RetrievalConfig, CompletionsConfig)


def __getattr__(name: str) -> Any:
    if name == "RUN_CONFIGS":  # imports torch: computed when asked for, not at import
        return run_configs()
    raise AttributeError(f"module 'mem1_hf.cli' has no attribute {name!r}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``mem1`` parser; ``run`` and ``eval`` flags are generated from config dataclasses.

    ``command`` (what :func:`main` passes) builds only that subcommand's parser and lists the
    others by name, so ``mem1 --help`` imports no plugin (and no torch); None builds them all.

    Example:
        >>> args = build_parser().parse_args(["run", "--index", "idx", "--max-turns", "3", "q?"])
        >>> args.max_turns, args.batch_size  # given, and not an agent setting
        (3, 1)
        >>> args.max_new_tokens, args.topk, args.mode  # not given: the checkpoint's, else the library's
        (None, None, None)
    """
    parser = argparse.ArgumentParser(
        prog="mem1", description="MEM1 constant-memory agents on the Hugging Face stack"
    )
    full = lambda name: command is None or command == name  # noqa: E731
    parser_class: Any = argparse.ArgumentParser
    if any(full(name) for name in ("run", "eval")):
        # `run` and `eval` take dataclass_types (transformers, not torch, is imported here)
        from transformers import HfArgumentParser

        parser_class = HfArgumentParser
    # one help style for every command: each default shown once, where it says something
    parser_class = functools.partial(parser_class, formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=parser_class)
    for name, text in _BUILTIN_HELP.items():
        if not full(name):
            sub.add_parser(name, help=text)
    if full("corpus"):
        _add_corpus(sub)
    if full("index"):
        _add_index(sub)
    if full("run"):
        _add_run(sub)
    lazy = {module: name for name, (module, _) in LAZY_COMMANDS.items()}
    for module in PLUGINS:
        name = lazy.get(module)
        if name is None or full(name):
            importlib.import_module(module).register_cli(sub)
        else:
            sub.add_parser(name, help=LAZY_COMMANDS[name][1], add_help=False)
    return parser


def _add_corpus(sub: Any) -> None:

    corpus = sub.add_parser("corpus", help=_BUILTIN_HELP["corpus"])
    corpus.add_argument(
        "--source", action="append", required=True, help="HotpotQA / NQ-oracle / corpus file (repeatable)"
    )
    corpus.add_argument("--out", required=True, help="output corpus JSONL")
    corpus.add_argument(
        "--max-questions", type=int, default=None, help="use only the first N questions of each source"
    )
    corpus.add_argument(
        "--strict", action="store_true", help="refuse a record without passages (default: skip it, counted)"
    )
    add_field_args(corpus)
    corpus.set_defaults(func=_cmd_corpus)


def _add_index(sub: Any) -> None:
    from mem1_hf.retrieval.local import RetrievalConfig

    index = sub.add_parser("index", help=_BUILTIN_HELP["index"])
    index.add_argument("--corpus", required=True, help="corpus JSONL ({id, contents})")
    index.add_argument("--out", required=True, help="index directory to write")
    for name in ("retriever", "embedder"):
        field = next(f for f in fields(RetrievalConfig) if f.name == name)
        index.add_argument(f"--{name}", default=field.default, **field.metadata)
    index.set_defaults(func=_cmd_index)


def _add_run(sub: Any) -> None:
    from mem1_hf.loop import agent_setting_defaults
    from mem1_hf.settings import defer_to_checkpoint

    run = sub.add_parser("run", dataclass_types=run_configs(), help=_BUILTIN_HELP["run"])
    run.add_argument("questions", nargs="+", help="the task's questions")
    run.add_argument("--json", action="store_true", help="print the result dict as JSON")
    run.add_argument(
        "--gold",
        action="append",
        default=None,
        metavar="ANSWER",
        help="a question's gold answer, once per question in order (alternatives: 'a|b'): the "
        "result then shows each gold answer and its exact match",
    )
    defer_to_checkpoint(run, agent_setting_defaults())  # "not given" must differ from "given 3"
    run.set_defaults(func=_cmd_run)


def resolve_run_settings(args: argparse.Namespace, checkpoint: Any) -> tuple[Any, Any, str]:
    """``mem1 run``'s ``(LoopConfig, PolicyConfig, message)``: each agent setting from its flag,
    else from ``checkpoint`` (an :class:`~mem1_hf.agent_config.AgentConfig`), else the library
    default; ``message`` is the one line naming the settings taken from the checkpoint ("" if none).

    Example:
        >>> from mem1_hf.agent_config import AgentConfig
        >>> args = build_parser("run").parse_args(["run", "--index", "i", "--topk", "5", "q?"])
        >>> loop, policy, line = resolve_run_settings(args, AgentConfig(topk=2, max_new_tokens=128))
        >>> loop.topk, loop.max_obs_tokens, policy.max_new_tokens, line
        (5, 512, 128, 'settings from the checkpoint: max_new_tokens=128')
    """
    from mem1_hf.loop import LoopConfig
    from mem1_hf.policy import PolicyConfig
    from mem1_hf.settings import from_args

    given = vars(args)
    merged = argparse.Namespace(**checkpoint.merge(given))  # a setting neither gives: the field default
    return from_args(LoopConfig, merged), from_args(PolicyConfig, merged), checkpoint.describe(given)


def _cmd_corpus(args: argparse.Namespace) -> None:
    from mem1_hf.data import build_corpus, dedup_documents, write_corpus
    from mem1_hf.data.fields import field_map_from_args

    if args.max_questions is not None and args.max_questions < 1:
        raise Mem1InputError(f"--max-questions must be >= 1, got {args.max_questions}")
    check_output_file(args.out)
    fields = field_map_from_args(args)
    skipped: list[str] = []
    docs = [
        doc
        for source in args.source
        for doc in build_corpus(
            source, max_questions=args.max_questions, fields=fields, strict=args.strict, skipped=skipped
        )
    ]
    if len(args.source) > 1:
        docs = dedup_documents((doc.title.strip('"'), doc.text) for doc in docs)
    try:
        write_corpus(docs, args.out)
    except OSError as err:
        raise Mem1InputError(f"cannot write --out {args.out}: {err.strerror}") from None
    note = f" (skipped {len(skipped)} records without passages; --strict refuses them)" if skipped else ""
    print(f"wrote {len(docs)} passages to {args.out}{note}")


def _cmd_index(args: argparse.Namespace) -> None:
    from mem1_hf.retrieval.local import DEFAULT_RETRIEVER, LocalRetrievalEnv

    retriever = args.retriever or DEFAULT_RETRIEVER
    env = LocalRetrievalEnv.from_corpus(args.corpus, retriever=retriever, embedder=args.embedder)
    try:
        env.save(args.out)
    except OSError as err:
        raise Mem1InputError(f"cannot write the index to {args.out}: {err.strerror}") from None
    print(f"indexed {len(env)} passages with {retriever} into {args.out}")


def _cmd_run(args: argparse.Namespace) -> None:
    from transformers import pipeline

    import mem1_hf  # noqa: F401  (registers the pipeline task)
    from mem1_hf.defaults import BASE_SPEC, DEFAULT_SPEC
    from mem1_hf.model_loading import ModelConfig
    from mem1_hf.pipeline import normalise_tasks
    from mem1_hf.remote_policy import CompletionsConfig
    from mem1_hf.retrieval.local import RetrievalConfig
    from mem1_hf.settings import from_args

    # check the cheap things before loading a model, so a typo fails in a second
    normalise_tasks(args.questions)
    if args.gold is not None and len(args.gold) != len(args.questions):
        raise Mem1InputError(
            f"--gold given {len(args.gold)} time(s) for {len(args.questions)} question(s): give one per question"
        )
    model_config = from_args(ModelConfig, args)
    loop, policy, from_checkpoint = resolve_run_settings(args, model_config.agent_config())
    env = from_args(RetrievalConfig, args).build()
    offline = {
        DEFAULT_SPEC: "the trained default agent (SmolLM2-135M-Instruct + the shipped MEM1 adapter)",
        BASE_SPEC: "the untrained base model (SmolLM2-135M-Instruct)",
    }
    spec = model_config.model or DEFAULT_SPEC
    completions = from_args(CompletionsConfig, args)
    if spec in offline and not completions.completions_url:  # stderr: --json stays clean
        print(f"model: {offline[spec]}", file=sys.stderr)
    if from_checkpoint:
        print(from_checkpoint, file=sys.stderr)
    if completions.completions_url:  # a generation server answers; only the tokenizer loads here
        out = _run_on_server(args.questions, completions, model_config.model, loop, policy, env)
    else:
        model, tokenizer = model_config.load()
        agent = pipeline("mem1-agent", model=model, tokenizer=tokenizer, env=env, device=model.device)
        out = agent(args.questions, **asdict(loop), **asdict(policy))  # every setting resolved above
    if args.gold is not None:
        from mem1_hf.scoring import exact_match

        out["golds"] = [g.split("|") for g in args.gold]
        out["exact_match"] = [exact_match(a, g) for a, g in zip(out["answers"], out["golds"])]
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print_result(out)


def _run_on_server(
    questions: list[str], completions: Any, model: str | None, loop: Any, policy: Any, env: Any
) -> dict:
    """``mem1 run`` with ``--completions-url``: the pipeline's result dict, with the responses
    generated by the server (:class:`~mem1_hf.remote_policy.RemotePolicy`) and the tokenizer of
    ``--model``."""
    from mem1_hf.loop import AgentLoop
    from mem1_hf.remote_policy import load_tokenizer
    from mem1_hf.task_env import as_task_env

    task_env = as_task_env(env, loop.profile, loop.topk)
    remote = completions.policy(load_tokenizer(model), loop.profile, policy.generation_config())
    print(f"generating on {remote.url} (model {remote.model})", file=sys.stderr)
    trajectory = AgentLoop(remote, task_env, loop).run([task_env.task(0, questions)])[0]
    return trajectory.to_dict()


def _clip(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_result(out: dict) -> None:
    """A readable per-turn table, the answers and the task's efficiency numbers."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    # a pipe or CI log has no width: use a wide table rather than rich's 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=160)
    table = Table(title=f"MEM1 agent — mode {out['mode']}", show_lines=True)
    for column in (
        "turn",
        "context",
        "generated",
        "internal state",
        "action",
        "query / answer",
        "observation",
    ):
        table.add_column(column, overflow="fold")
    for turn in out["turns"]:
        cells = (
            str(turn["turn"]),
            str(turn["context_tokens"]),
            str(turn["generated_tokens"]),
            _clip(turn["internal_state"] or turn["response"], 160),
            turn["action"],
            _clip(turn["query"] or turn["answer"] or "", 80),
            _clip(turn["observation"], 120),
        )
        table.add_row(*(Text(cell) for cell in cells))  # model text is not rich markup ([HINT] etc.)
    console.print(table)
    golds = out.get("golds") or [None] * len(out["questions"])
    matches = out.get("exact_match") or [None] * len(out["questions"])
    for question, answer, gold, match in zip(out["questions"], out["answers"], golds, matches):
        line = f"[bold]Q:[/bold] {escape(question)}\n[bold]A:[/bold] {escape(answer or '(no answer)')}"
        if gold is not None:
            verdict = "right" if match else "wrong"
            line += f"\n[bold]gold:[/bold] {escape(' | '.join(gold))} ({verdict}: exact match {match:.0f})"
        console.print(line)
    console.print(
        f"stop: {out['stop_reason']} · turns: {len(out['turns'])} · peak tokens: {out['peak_tokens']} · "
        f"dependency: {out['dependency']:.0f} · time: {out['time_s']:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mem1`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # its flags come from dataclasses (HfArgumentParser), not from argparse here
        from mem1_hf.train import main as train_main

        return train_main(argv[1:])
    if argv[:2] == ["eval", "compare"]:  # its own parser: `eval`'s flags (a required --out) do not apply
        from mem1_hf.evaluation.compare import main as compare_main

        return compare_main(argv[2:])
    # the subcommand asked for (the first word); only its parser is built, so `--help` stays fast
    command = next((a for a in argv if not a.startswith("-")), "")
    try:  # Ctrl-C while the parser is built or the command starts is an interrupt, not a traceback
        args = build_parser(command).parse_args(argv)
        args.func(args)
    except Mem1InputError as err:  # the user's mistake
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Mem1EnvironmentError as err:  # a service outside failed
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
