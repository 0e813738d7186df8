"""What reusing the task prompt's KV cache saves, with the real default model.

Two measurements, A/B interleaved in one run (the machine is shared, so compare ratios):
1. per turn: one turn's prefill (``max_new_tokens=1``) for a batch of real turn-2 contexts
   (prompt + memory + retrieved docs), with and without the cached prompt;
2. whole tasks: the agent loop over real HotpotQA tasks (mem1 mode), with and without reuse;
   the responses must be identical.

Usage: python benchmarks/prompt_cache.py [--tasks 4] [--repeats 3] [--max-new-tokens 32]
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mem1_hf.data import build_corpus  # noqa: E402
from mem1_hf.envs import LocalRetrievalEnv  # noqa: E402
from mem1_hf.loop import AgentLoop, LoopConfig, Task  # noqa: E402
from mem1_hf.model_loading import load_model  # noqa: E402
from mem1_hf.policy import GenerationRequest, ModelPolicy, PolicyConfig  # noqa: E402
from mem1_hf.prompts import (
    encode_prompt,  # noqa: E402
    get_profile,  # noqa: E402
)

DATA = Path(os.environ.get("MEM1_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _questions(n: int) -> list[str]:
    with open(DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl") as handle:
        return [json.loads(line)["question_text"] for _, line in zip(range(n), handle)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args(argv)

    model, tokenizer = load_model(None)
    profile = get_profile("mem1-qa")
    questions = _questions(2 * args.tasks)
    tasks = [Task(f"t{i}", questions[2 * i : 2 * i + 2]) for i in range(args.tasks)]
    env = LocalRetrievalEnv.from_corpus(
        build_corpus(DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl", max_questions=100)
    )

    # 1. one turn's prefill for real turn-2 contexts
    requests = []
    for task in tasks:
        prompt = encode_prompt(tokenizer, profile, task.questions)
        memory = f"<think>I first look up: {task.questions[0]}</think><search>{task.questions[0]}</search>"
        observation = profile.observation(env.search_text([task.questions[0]])[0], 4)
        rest = tokenizer(memory + observation, add_special_tokens=False)["input_ids"]
        requests.append(GenerationRequest(task.id, prompt, prompt + rest, last_turn=False))
    prefill = {True: [], False: []}
    policies = {
        reuse: ModelPolicy(
            model,
            tokenizer,
            profile,
            PolicyConfig(max_new_tokens=1).generation_config(),
            reuse_prompt_cache=reuse,
        )
        for reuse in (True, False)
    }
    policies[True].generate(requests)  # the first turn pays for the prompt cache once
    for _ in range(args.repeats):
        for reuse in (True, False):
            start = time.perf_counter()
            policies[reuse].generate(requests)
            prefill[reuse].append(time.perf_counter() - start)

    # 2. whole tasks through the loop
    loop_time = {True: [], False: []}
    responses = {}
    for _ in range(args.repeats):
        for reuse in (True, False):
            policy = ModelPolicy(
                model,
                tokenizer,
                profile,
                PolicyConfig(max_new_tokens=args.max_new_tokens).generation_config(),
                reuse_prompt_cache=reuse,
            )
            loop = AgentLoop(policy, env, LoopConfig(mode="mem1", max_turns=4, batch_size=len(tasks)))
            start = time.perf_counter()
            trajectories = loop.run(tasks)
            loop_time[reuse].append(time.perf_counter() - start)
            responses[reuse] = [[t.output_ids for t in tr.turns] for tr in trajectories]
    turns = sum(len(r) for r in responses[True])
    prompt_tokens = [len(r.prompt_ids) for r in requests]
    context_tokens = [len(r.context_ids) for r in requests]
    result = {
        "model": "SmolLM2-135M-Instruct (fp32, CPU)",
        "tasks": args.tasks,
        "batch_size": args.tasks,
        "prompt_tokens_mean": statistics.mean(prompt_tokens),
        "turn2_context_tokens_mean": statistics.mean(context_tokens),
        "share_of_turn2_context_cached": round(sum(p - 1 for p in prompt_tokens) / sum(context_tokens), 3),
        "turn_prefill_s_reuse": round(statistics.median(prefill[True]), 3),
        "turn_prefill_s_no_reuse": round(statistics.median(prefill[False]), 3),
        "turn_prefill_speedup": round(
            statistics.median(prefill[False]) / statistics.median(prefill[True]), 2
        ),
        "loop_turns": turns,
        "loop_s_reuse": round(statistics.median(loop_time[True]), 2),
        "loop_s_no_reuse": round(statistics.median(loop_time[False]), 2),
        "loop_speedup": round(statistics.median(loop_time[False]) / statistics.median(loop_time[True]), 2),
        "identical_responses": responses[True] == responses[False],
        "repeats": args.repeats,
        "max_new_tokens": args.max_new_tokens,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
