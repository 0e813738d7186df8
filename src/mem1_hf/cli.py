"""The ``mem1`` command line.

* ``mem1 corpus --source FILE --out corpus.jsonl`` — build a retrieval corpus from HotpotQA /
  NQ files (or validate an existing corpus JSONL).
* ``mem1 index --corpus C.jsonl --out DIR [--retriever bm25|dense] [--embedder E]`` — build and
  save a BM25 or faiss index, reused by ``run --index DIR``.
* ``mem1 run [--model M] (--corpus C.jsonl | --index DIR) "q1" "q2"`` — answer one
  multi-question task and print each turn (``--json`` prints the pipeline's dict).

A user's mistake prints one ``error: …`` line and exits with status 2, never a traceback.

Example:
    $ mem1 run --corpus demo/corpus.jsonl "Who wrote Hamlet?" "When was Yale founded?"
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from mem1_hf.errors import Mem1InputError
from mem1_hf.keep_rule import MODES
from mem1_hf.prompts import PROFILES

# Modules that add their own subcommands: each has ``register_cli(subparsers)`` which adds a
# parser and sets ``func`` (a callable taking the parsed args) with ``set_defaults``.
PLUGINS: tuple[str, ...] = (
    "mem1_hf.data.compose",
    "mem1_hf.server",
    "mem1_hf.envs.webshop.play",
    "mem1_hf.evaluation.cli",
    "mem1_hf.data.trajectories",
)


def _add_retrieval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retriever", choices=("bm25", "dense"), default="bm25", help="sparse BM25 or dense faiss"
    )
    parser.add_argument("--embedder", default=None, help="dense only: sentence-transformers path or Hub id")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mem1", description="MEM1 constant-memory agents on the Hugging Face stack"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    corpus = sub.add_parser("corpus", help="build a retrieval corpus JSONL from QA data files")
    corpus.add_argument(
        "--source", action="append", required=True, help="HotpotQA / NQ-oracle / corpus file (repeatable)"
    )
    corpus.add_argument("--out", required=True, help="output corpus JSONL")
    corpus.add_argument(
        "--max-questions", type=int, default=None, help="use only the first N questions of each source"
    )
    corpus.set_defaults(func=_cmd_corpus)

    index = sub.add_parser("index", help="build and save a BM25 or dense index of a corpus")
    index.add_argument("--corpus", required=True, help="corpus JSONL ({id, contents})")
    index.add_argument("--out", required=True, help="index directory to write")
    _add_retrieval_args(index)
    index.set_defaults(func=_cmd_index)

    run = sub.add_parser("run", help="answer one multi-question task")
    run.add_argument("questions", nargs="+", help="the task's questions")
    run.add_argument("--model", default=None, help="path or Hub id (default: offline SmolLM2-135M-Instruct)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", help="corpus JSONL to index on the fly")
    source.add_argument("--index", help="index directory from `mem1 index`")
    _add_retrieval_args(run)
    run.add_argument("--mode", choices=MODES, default="mem1", help="what survives a turn")
    run.add_argument("--prompt-profile", choices=tuple(PROFILES), default="mem1-qa")
    run.add_argument("--max-turns", type=int, default=6)
    run.add_argument("--max-new-tokens", type=int, default=256)
    run.add_argument("--max-obs-tokens", type=int, default=512)
    run.add_argument("--truncate-tokens", type=int, default=1024)
    run.add_argument("--topk", type=int, default=3)
    run.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if present)")
    run.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    run.add_argument("--json", action="store_true", help="print the result dict as JSON")
    run.set_defaults(func=_cmd_run)
    for module in PLUGINS:
        importlib.import_module(module).register_cli(sub)
    return parser


def _cmd_corpus(args: argparse.Namespace) -> None:
    from mem1_hf.data import build_corpus, dedup_documents, write_corpus

    docs = [doc for source in args.source for doc in build_corpus(source, max_questions=args.max_questions)]
    if len(args.source) > 1:
        docs = dedup_documents((doc.title.strip('"'), doc.text) for doc in docs)
    write_corpus(docs, args.out)
    print(f"wrote {len(docs)} passages to {args.out}")


def _cmd_index(args: argparse.Namespace) -> None:
    from mem1_hf.envs import LocalRetrievalEnv

    env = LocalRetrievalEnv.from_corpus(args.corpus, retriever=args.retriever, embedder=args.embedder)
    env.save(args.out)
    print(f"indexed {len(env)} passages with {args.retriever} into {args.out}")


def _cmd_run(args: argparse.Namespace) -> None:
    from transformers import pipeline

    import mem1_hf  # noqa: F401  (registers the pipeline task)
    from mem1_hf.envs import LocalRetrievalEnv
    from mem1_hf.loop import LoopConfig
    from mem1_hf.models import load_model
    from mem1_hf.pipeline import normalise_tasks

    # check the cheap things before loading a model, so a typo fails in a second
    normalise_tasks(args.questions)
    loop_kwargs = dict(
        mode=args.mode,
        prompt_profile=args.prompt_profile,
        max_turns=args.max_turns,
        max_obs_tokens=args.max_obs_tokens,
        truncate_tokens=args.truncate_tokens,
        topk=args.topk,
    )
    LoopConfig(**loop_kwargs)
    if args.max_new_tokens < 1:
        raise Mem1InputError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    if args.index:
        env = LocalRetrievalEnv.load(args.index, embedder=args.embedder)
    else:
        env = LocalRetrievalEnv.from_corpus(args.corpus, retriever=args.retriever, embedder=args.embedder)
    model, tokenizer = load_model(args.model, device=args.device, dtype=args.dtype)
    agent = pipeline("mem1-agent", model=model, tokenizer=tokenizer, env=env, device=model.device)
    sampling = {"do_sample": True, "temperature": args.temperature} if args.temperature > 0 else {}
    out = agent(args.questions, max_new_tokens=args.max_new_tokens, **loop_kwargs, **sampling)
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print_result(out)


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
    for question, answer in zip(out["questions"], out["answers"]):
        console.print(
            f"[bold]Q:[/bold] {escape(question)}\n[bold]A:[/bold] {escape(answer or '(no answer)')}"
        )
    console.print(
        f"stop: {out['stop_reason']} · turns: {len(out['turns'])} · peak tokens: {out['peak_tokens']} · "
        f"dependency: {out['dependency']:.0f} · time: {out['time_s']:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mem1`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except Mem1InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
