"""The retrieval server under the response-amplification probe of issue 28, printed as JSON.

Before its bounds, a 233 KB request (thousands of queries x a large topk) made a 254 MiB answer and
1.5 GB of server RSS (2.4 GB with 3 clients). This starts ``mem1 serve-retriever`` as its own
process on 127.0.0.1 over a BM25 index of real HotpotQA passages, samples the server's RSS every
10 ms (psutil) and sends, from ``--clients`` clients at once: (1) the original probe — as many
queries as fit in 233 KB with topk 100 — and (2) the largest request the default bounds allow
(16,384 documents: 163 queries x topk 100). It reports each request's status and answer size and
the server's RSS before and at its peak.

Example:
    $ HF_HUB_OFFLINE=1 python benchmarks/server_amplification.py --source ../shared/data/hotpotqa/hotpotqa_dev_500.ircot.jsonl
    {"probe": {"status": [413, 413, 413], ...}, "largest_allowed": {"status": [200, 200, 200], ...}, ...}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests
from retrieval_server_load import free_port


def _peak_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        try:
            out.append(process.memory_info().rss)
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)


def _send(url: str, body: dict, clients: int) -> dict:
    """``clients`` simultaneous POSTs of ``body``: their statuses and answer sizes."""
    results: list[tuple[int, int]] = [(0, 0)] * clients

    def one(i: int) -> None:
        answer = requests.post(f"{url}/retrieve", json=body, timeout=300)
        results[i] = (answer.status_code, len(answer.content))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "request_bytes": len(json.dumps(body)),
        "queries": len(body["queries"]),
        "topk": body["topk"],
        "status": [s for s, _ in results],
        "answer_bytes": [n for _, n in results],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", required=True, help="a HotpotQA-format file (its passages are the corpus)"
    )
    parser.add_argument("--max-questions", type=int, default=500)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args(argv)
    mem1 = [sys.executable, "-m", "mem1_hf.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus.jsonl", Path(tmp) / "index"
        for cmd in (
            [
                "corpus",
                "--source",
                args.source,
                "--max-questions",
                str(args.max_questions),
                "--out",
                str(corpus),
            ],
            ["index", "--corpus", str(corpus), "--retriever", "bm25", "--out", str(index)],
        ):
            subprocess.run([*mem1, *cmd], check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen([*mem1, "serve-retriever", "--index", str(index), "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if requests.get(f"{url}/health", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            rss_before = psutil.Process(server.pid).memory_info().rss
            query = "who was the president of the united states in the year nineteen"  # 64 characters
            n_probe = 233_000 // (len(query) + 4)
            report = {"rss_before_mib": round(rss_before / 2**20, 1)}
            for name, body in (
                ("probe", {"queries": [query] * n_probe, "topk": 100, "return_scores": True}),
                ("largest_allowed", {"queries": [query] * 163, "topk": 100, "return_scores": True}),
            ):
                samples: list[int] = []
                stop = threading.Event()
                sampler = threading.Thread(target=_peak_rss, args=(server.pid, stop, samples))
                sampler.start()
                started = time.perf_counter()
                result = _send(url, body, args.clients)
                result["seconds"] = round(time.perf_counter() - started, 2)
                stop.set()
                sampler.join()
                result["server_peak_rss_mib"] = round(max(samples) / 2**20, 1)
                report[name] = result
        finally:
            server.terminate()
            server.wait(timeout=30)
    report["clients"] = args.clients
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
