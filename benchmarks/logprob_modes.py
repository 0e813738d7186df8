"""The trainer's replay cost in its three layouts: ``turns``, ``packed`` and ``stitched``.

SmolLM2-135M-Instruct (fp32, CPU) rolls out real composed HotpotQA tasks (2 and 8 objectives,
mem1 mode, BM25, sampling at T=1); then, on exactly those rollouts, each layout computes the
action tokens' log-probs with the policy and their values with a critic (the same model as a
``*ForSequenceClassification`` with one label), without gradients (the replay) and with a
forward + backward of the policy's log-probs (the update). Each (objectives, layout) runs in its
own process so its peak resident memory can be read (``ru_maxrss``, minus the process's RSS after
loading the models). Reports action tokens per second, positions computed, peak memory, and the
largest |log-prob − rollout log-prob| (0 up to float error for the exact layouts; the stitched gap).

Usage: python benchmarks/logprob_modes.py [--tasks 2] [--objectives 2,8] [--max-new-tokens 64] [--rollouts F]
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("turns", "packed", "stitched")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rollouts(tasks_per_count: int, objectives: list[int], max_new_tokens: int, path: Path) -> None:
    import torch
    from _common import composed_tasks
    from transformers import GenerationConfig

    from mem1_hf.envs import LocalRetrievalEnv
    from mem1_hf.families.qa import max_turns_for
    from mem1_hf.loop import AgentLoop, LoopConfig
    from mem1_hf.model_loading import load_model
    from mem1_hf.policy import ModelPolicy

    model, tokenizer = load_model(None)
    out = {}
    for n in objectives:
        tasks, _, corpus = composed_tasks(n, tasks_per_count)
        env = LocalRetrievalEnv.from_corpus(corpus, retriever="bm25")
        config = LoopConfig(
            mode="mem1", max_turns=max_turns_for(n), batch_size=len(tasks), max_obs_tokens=256
        )
        policy = ModelPolicy(
            model,
            tokenizer,
            config.profile,
            GenerationConfig(
                max_new_tokens=max_new_tokens, do_sample=True, temperature=1.0, top_k=0, top_p=1.0
            ),
        )
        torch.manual_seed(0)
        trajectories = AgentLoop(policy, env, config).run(tasks)
        out[n] = [(t.history, t.turns) for t in trajectories]
    path.write_bytes(pickle.dumps(out))


def measure(path: Path, objectives: int, mode: str) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification

    from mem1_hf.defaults import default_model_path
    from mem1_hf.model_loading import load_model
    from mem1_hf.training.forward import TokenValues, action_logprobs, action_values
    from mem1_hf.training.packing import collate, sequences_for, steps_from_turns

    policy, tokenizer = load_model(None)
    critic = AutoModelForSequenceClassification.from_pretrained(default_model_path(), num_labels=1).eval()
    critic.config.pad_token_id = tokenizer.pad_token_id
    values = TokenValues(critic)
    trajectories = pickle.loads(path.read_bytes())[objectives]
    base_rss = _rss_mb()
    positions = action_tokens = 0
    gap = 0.0
    started = time.perf_counter()
    for history, turns in trajectories:
        batch = collate(
            sequences_for(history, steps_from_turns(turns), mode), tokenizer.pad_token_id, torch.float32
        )
        with torch.no_grad():
            logprobs, _ = action_logprobs(policy, batch)
            action_values(values, batch)
        recorded = torch.tensor([lp for t in turns for lp in t.logprobs])
        gap = max(gap, (logprobs - recorded).abs().max().item())
        positions += int(batch.input_ids.numel())
        action_tokens += len(recorded)
    replay_s = time.perf_counter() - started
    policy.train()
    started = time.perf_counter()
    for history, turns in trajectories:
        batch = collate(
            sequences_for(history, steps_from_turns(turns), mode), tokenizer.pad_token_id, torch.float32
        )
        logprobs, _ = action_logprobs(policy, batch)
        (-logprobs.sum()).backward()
    update_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "objectives": objectives,
        "mode": mode,
        "trajectories": len(trajectories),
        "turns": sum(len(t) for _, t in trajectories),
        "action_tokens": action_tokens,
        "positions_computed": positions,
        "replay_tokens_per_s": action_tokens / replay_s,
        "update_tokens_per_s": action_tokens / update_s,
        "replay_s": replay_s,
        "update_s": update_s,
        "peak_rss_over_models_mb": peak_mb - base_rss,
        "max_abs_logprob_gap": gap,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="replay cost of the turns / packed / stitched layouts")
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--objectives", default="2,8")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--rollouts", default=None, help="keep the rollouts in this file (reused if it exists)"
    )
    parser.add_argument(
        "--measure", nargs=3, metavar=("PICKLE", "OBJECTIVES", "MODE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.measure:  # the child process: one (objectives, layout) cell
        print(json.dumps(measure(Path(args.measure[0]), int(args.measure[1]), args.measure[2])))
        return {}
    objectives = [int(x) for x in args.objectives.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.rollouts) if args.rollouts else Path(tmp) / "rollouts.pkl"
        if not path.is_file():
            rollouts(args.tasks, objectives, args.max_new_tokens, path)
        rows = []
        for n in objectives:
            for mode in MODES:
                done = subprocess.run(
                    [sys.executable, __file__, "--measure", str(path), str(n), mode],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    result = {"rows": rows, "speedup_packed_vs_turns": {}}
    for n in objectives:
        cell = {r["mode"]: r for r in rows if r["objectives"] == n}
        result["speedup_packed_vs_turns"][n] = {
            "replay": cell["packed"]["replay_tokens_per_s"] / cell["turns"]["replay_tokens_per_s"],
            "update": cell["packed"]["update_tokens_per_s"] / cell["turns"]["update_tokens_per_s"],
        }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
