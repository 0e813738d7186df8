"""The agent loop's own cost, as a share of plain ``model.generate`` over the same tokens.

The loop runs the real default model over real composed HotpotQA tasks (BM25 retrieval,
mem1 mode, batch size 1, greedy). Every turn's exact input ids and output length are then
replayed with a plain ``model.generate`` (no stop strings, no bans, no cache reuse, forced to
the same length). Reported, from one run:

* ``loop_outside_generate_share``: (loop wall time - time inside ``policy.generate``) / plain
  generate time — parsing, retrieval, context rebuild, bookkeeping. Target: under 10%.
* ``inside_generate_vs_plain``: time inside ``policy.generate`` / plain time — the stop and ban
  processors and the batch layout, minus what the reused prompt cache saves.

Usage: python benchmarks/overhead.py [--tasks 3] [--max-new-tokens 48]   (prints JSON)
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _common import composed_tasks

from mem1_hf.envs import LocalRetrievalEnv
from mem1_hf.loop import AgentLoop, LoopConfig
from mem1_hf.model_loading import load_model
from mem1_hf.policy import ModelPolicy
from mem1_hf.prompts import get_profile


class TimedPolicy(ModelPolicy):
    """ModelPolicy that adds up the time spent inside ``generate``."""

    inside = 0.0

    def generate(self, requests):
        start = time.perf_counter()
        try:
            return super().generate(requests)
        finally:
            self.inside += time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="agent-loop overhead vs plain generate")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--objectives", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    model, tokenizer = load_model(None)
    tasks, _, corpus = composed_tasks(args.objectives, args.tasks)
    env = LocalRetrievalEnv.from_corpus(corpus, retriever="bm25")
    result = {
        "model": "SmolLM2-135M-Instruct (fp32, CPU)",
        "tasks": args.tasks,
        "objectives": args.objectives,
    }
    for reuse in (True, False):
        policy = TimedPolicy(
            model, tokenizer, get_profile("mem1-qa"), args.max_new_tokens, reuse_prompt_cache=reuse
        )
        loop = AgentLoop(policy, env, LoopConfig(mode="mem1", max_turns=4, batch_size=1))
        start = time.perf_counter()
        trajectories = loop.run(tasks)
        loop_time = time.perf_counter() - start
        plain = 0.0
        for turn in (turn for t in trajectories for turn in t.turns):
            ids = torch.tensor([turn.input_ids])
            n = turn.generated_tokens
            start = time.perf_counter()
            with torch.no_grad():
                model.generate(
                    ids,
                    max_new_tokens=n,
                    min_new_tokens=n,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            plain += time.perf_counter() - start
        tag = "reuse_prompt_cache" if reuse else "no_prompt_cache"
        result[tag] = {
            "turns": sum(len(t.turns) for t in trajectories),
            "generated_tokens": sum(turn.generated_tokens for t in trajectories for turn in t.turns),
            "loop_s": round(loop_time, 2),
            "inside_generate_s": round(policy.inside, 2),
            "plain_generate_s": round(plain, 2),
            "loop_outside_generate_share": round((loop_time - policy.inside) / plain, 4),
            "inside_generate_vs_plain": round(policy.inside / plain, 3),
        }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
