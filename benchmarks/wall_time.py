"""Wall time per task with the real default model: mem1 vs full_context at 8 and 16 objectives.

The model (SmolLM2-135M-Instruct, fp32, CPU) runs the agent loop over real composed HotpotQA
tasks with BM25 retrieval, greedy, ``max_turns = objectives + 4`` (the harness's rule). Full
context grows every turn and can reach the model's context limit (8,192 tokens): such a task
ends cleanly with ``stop_reason="context_limit"``; the script reports where (turn, tokens).

Usage: python benchmarks/wall_time.py [--tasks 2] [--objectives 8,16] [--max-new-tokens 64]
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter

from _common import composed_tasks

from mem1_hf.envs import LocalRetrievalEnv
from mem1_hf.loop import AgentLoop, LoopConfig
from mem1_hf.model_loading import load_model
from mem1_hf.policy import ModelPolicy, PolicyConfig
from mem1_hf.prompts import get_profile


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="wall time per task, mem1 vs full_context")
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--objectives", default="8,16")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    model, tokenizer = load_model(None)
    profile = get_profile("mem1-qa")
    rows, env = [], None
    for n in [int(x) for x in args.objectives.split(",")]:
        tasks, _, corpus = composed_tasks(n, args.tasks)
        env = env or LocalRetrievalEnv.from_corpus(corpus, retriever="bm25")
        for mode in ("mem1", "full_context"):
            policy = ModelPolicy(
                model,
                tokenizer,
                profile,
                PolicyConfig(max_new_tokens=args.max_new_tokens).generation_config(),
            )
            config = LoopConfig(mode=mode, max_turns=n + 4, batch_size=len(tasks))
            trajectories = AgentLoop(policy, env, config).run(tasks)
            limit_hits = [
                {
                    "turns_done": len(t.turns),
                    "last_context_tokens": t.turns[-1].context_tokens if t.turns else 0,
                }
                for t in trajectories
                if t.stop_reason == "context_limit"
            ]
            actions = Counter(turn.parsed.action for t in trajectories for turn in t.turns)
            rows.append(
                {
                    "objectives": n,
                    "mode": mode,
                    "time_s_per_task": round(statistics.mean(t.time_s for t in trajectories), 2),
                    "peak_tokens": statistics.mean(t.peak_tokens for t in trajectories),
                    "turns": statistics.mean(len(t.turns) for t in trajectories),
                    "stop_reasons": dict(Counter(t.stop_reason for t in trajectories)),
                    "context_limit_hits": limit_hits,
                    "actions": dict(actions),
                }
            )
    times = {(r["objectives"], r["mode"]): r["time_s_per_task"] for r in rows}
    result = {
        "model": "SmolLM2-135M-Instruct (fp32, CPU), greedy",
        "context_limit": int(model.config.max_position_embeddings),
        "tasks_per_setting": args.tasks,
        "max_new_tokens": args.max_new_tokens,
        "rows": rows,
        "full_over_mem1_time": {
            n: round(times[(n, "full_context")] / times[(n, "mem1")], 2) for n, m in times if m == "mem1"
        },
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
