"""Context growth: peak tokens and dependency per task for mem1 vs full_context vs truncate.

A scripted policy replays a fixed, well-behaved trajectory (one search per question, then the
answer; a compact memory of the facts found) through the real agent loop over real composed
HotpotQA tasks with 1, 2, 4, 8 and 16 objectives and real BM25 retrieval, so the numbers
depend only on the keep rule, not on a model. Tokens are counted with SmolLM2's tokenizer.

Targets (issue 3): mem1 peak tokens grow by at most 1.5x from 1 to 16 objectives; the
full_context / mem1 peak-token ratio at 16 objectives is at least 3.7x.

Usage: python benchmarks/context_growth.py [--tasks 5] [--objectives 1,2,4,8,16]   (prints JSON)
"""

from __future__ import annotations

import argparse
import json
import statistics

from _common import composed_tasks, scripted_trajectory
from transformers import AutoTokenizer

from mem1_hf.defaults import default_model_path
from mem1_hf.envs import LocalRetrievalEnv
from mem1_hf.loop import AgentLoop, LoopConfig
from mem1_hf.policy import ScriptedPolicy

MODES = ("mem1", "full_context", "truncate")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="context growth of the keep-rule modes")
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--objectives", default="1,2,4,8,16")
    parser.add_argument("--truncate-tokens", type=int, default=1024)
    args = parser.parse_args(argv)
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    rows, env = [], None
    for n in [int(x) for x in args.objectives.split(",")]:
        tasks, golds, corpus = composed_tasks(n, args.tasks)
        env = env or LocalRetrievalEnv.from_corpus(corpus, retriever="bm25")
        for mode in MODES:
            script = {
                f"{i}:{t.id}": scripted_trajectory(t.questions, g)
                for i, (t, g) in enumerate(zip(tasks, golds))
            }
            config = LoopConfig(
                mode=mode, max_turns=n + 1, batch_size=len(tasks), truncate_tokens=args.truncate_tokens
            )
            trajectories = AgentLoop(ScriptedPolicy(tokenizer, script), env, config).run(tasks)
            assert all(t.stop_reason == "answered" for t in trajectories)
            rows.append(
                {
                    "objectives": n,
                    "mode": mode,
                    "peak_tokens": statistics.mean(t.peak_tokens for t in trajectories),
                    "dependency": statistics.mean(t.dependency for t in trajectories),
                    "turns": statistics.mean(len(t.turns) for t in trajectories),
                }
            )
    peak = {(r["objectives"], r["mode"]): r["peak_tokens"] for r in rows}
    lo, hi = min(r["objectives"] for r in rows), max(r["objectives"] for r in rows)
    summary = {
        "tokenizer": "SmolLM2-135M-Instruct",
        "tasks_per_setting": args.tasks,
        "rows": rows,
        f"mem1_peak_growth_{lo}_to_{hi}": round(peak[(hi, "mem1")] / peak[(lo, "mem1")], 3),
        **(
            {f"mem1_peak_growth_2_to_{hi}": round(peak[(hi, "mem1")] / peak[(2, "mem1")], 3)}
            if (2, "mem1") in peak and lo != 2
            else {}
        ),
        f"full_over_mem1_peak_at_{hi}": round(peak[(hi, "full_context")] / peak[(hi, "mem1")], 3),
        f"full_over_mem1_dependency_at_{hi}": round(
            next(r["dependency"] for r in rows if r["objectives"] == hi and r["mode"] == "full_context")
            / next(r["dependency"] for r in rows if r["objectives"] == hi and r["mode"] == "mem1"),
            3,
        ),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
