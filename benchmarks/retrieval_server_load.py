"""Load check of the retrieval server: N concurrent clients x M queries, printed as JSON.

Starts ``mem1_hf.retrieval.server`` over an index directory on a free 127.0.0.1 port (uvicorn in a
thread), then every client (a thread with its own :class:`RemoteRetrievalEnv`, no retries, so
failures count) sends its queries — ``--batch`` per request — and records each request's
latency. Queries are the corpus titles plus the first words of each passage, cycled. The run is
bounded: it stops after ``--max-seconds`` even if queries remain (reported as ``unfinished``).

Example:
    $ HF_HUB_OFFLINE=1 python benchmarks/retrieval_server_load.py nq-index --clients 8 --queries 200
    {"clients": 8, "queries_per_client": 200, ..., "queries_per_s": 812.3, "p50_ms": 9.1, ...}
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a daemon thread; yields its base URL.

    Example:
        >>> with serve_in_thread(create_app(env)) as url:  # doctest: +SKIP
        ...     RemoteRetrievalEnv(url).search(["q"])
    """
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_load(
    url: str,
    queries: Sequence[str],
    clients: int = 8,
    per_client: int = 200,
    *,
    batch: int = 1,
    topk: int = 3,
    max_seconds: float = 120.0,
) -> dict[str, Any]:
    """``clients`` threads each send ``per_client`` queries (``batch`` per request) to ``url``.

    Returns throughput, request latency percentiles and the error count.

    Example:
        >>> run_load("http://127.0.0.1:8013", ["who wrote Hamlet"], clients=2, per_client=10)  # doctest: +SKIP
        {'clients': 2, ..., 'errors': 0}
    """
    from mem1_hf.retrieval.client import RemoteRetrievalEnv

    latencies: list[float] = []
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + max_seconds

    def client(c: int) -> None:
        env = RemoteRetrievalEnv(url, topk=topk, timeout=30, max_retries=0)
        for start in range(0, per_client, batch):
            if time.monotonic() > stop_at:
                return
            n = min(batch, per_client - start)
            chunk = [queries[(c * per_client + start + i) % len(queries)] for i in range(n)]
            began = time.perf_counter()
            try:
                rows = env.search(chunk)
                # BM25 returns only matching passages: a query made from a passage matches >= 1
                ok = len(rows) == n and all(1 <= len(row) <= topk for row in rows)
                err = None if ok else f"short answer for {chunk[0]!r}"
            except Exception as exc:  # counted, not raised: the report says how many failed
                err = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                done[0] += n
                if err:
                    errors.append(err)

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 60)
    wall = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2) if ordered else 0.0

    return {
        "clients": clients,
        "queries_per_client": per_client,
        "batch": batch,
        "topk": topk,
        "queries": done[0],
        "requests": len(latencies),
        "unfinished": clients * per_client - done[0],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "wall_s": round(wall, 3),
        "queries_per_s": round(done[0] / wall, 1) if wall else 0.0,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "mean_ms": round(1000 * statistics.fmean(ordered), 2) if ordered else 0.0,
    }


def corpus_queries(env: Any, limit: int = 5000) -> list[str]:
    """Queries from a corpus: each passage's title and its first eight words."""
    return [
        f"{doc.title.strip(chr(34))} {' '.join(doc.text.split()[:8])}".strip() for doc in env.docs[:limit]
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", help="index directory from `mem1 index`")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--queries", type=int, default=200, help="queries per client")
    parser.add_argument("--batch", type=int, default=1, help="queries per request")
    parser.add_argument("--topk", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="stop sending after this long")
    args = parser.parse_args(argv)

    from mem1_hf.retrieval.local import LocalRetrievalEnv
    from mem1_hf.retrieval.server import create_app

    env = LocalRetrievalEnv.load(args.index)
    with serve_in_thread(create_app(env)) as url:
        report = run_load(
            url,
            corpus_queries(env),
            args.clients,
            args.queries,
            batch=args.batch,
            topk=args.topk,
            max_seconds=args.max_seconds,
        )
    report = {"index": args.index, "retriever": env.kind, "documents": len(env), **report}
    print(json.dumps(report))
    return 0 if report["errors"] == 0 and report["unfinished"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
