"""Packed SFT vs one row per turn: tokens per epoch and the wall time of one epoch.

The default recipe's stage 2, smaller: real composed HotpotQA + NQ tasks (1, 2 and 4 objectives,
`mem1 compose --mix`), the scripted QA expert's MEM1 trajectories over them (`mem1 trajectories`,
top-2 documents, observations cut to 160 tokens, turns fitted into 96 tokens), every row of
those tasks. On exactly those rows, one epoch of the default recipe's SFT (SmolLM2-135M-Instruct,
LoRA r=8 on all linear layers, bf16 autocast on the CPU, batch 1; rows: 8 rows per optimizer
step as in configs/default_agent_sft.yaml, packed: 2 tasks per step) with ``layout: rows`` and
``layout: packed``, in one process, after one warm-up step each. Reports the tokens each layout
computes, the response tokens (the same), the wall time of the epoch (forward + backward +
optimizer steps) and the packed/rows ratios. Also the token ratio when rows are sampled across
many more tasks (as ``max_rows`` does), where a task rarely has more than one row to pack.

Usage: OMP_NUM_THREADS=1 python benchmarks/sft_packing.py [--tasks-per-count 4] [--workdir DIR]
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(os.environ.get("MEM1_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SOURCES = [
    ("hotpotqa", DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"),
    ("nq", DATA / "nq" / "nq_open_oracle_2000.jsonl.gz"),
]


def expert_rows(workdir: Path, tasks_per_count: int, objectives: list[int]):
    """The expert's turn rows over ``tasks_per_count`` train tasks per objective count (cached in workdir)."""
    from datasets import load_dataset

    from mem1_hf.cli import main as mem1_main
    from mem1_hf.data.compose import ComposeConfig, compose, write_composed

    out = workdir / f"traj_{tasks_per_count}"
    argv = ["trajectories", "--out", str(out), "--split", "train"]
    argv += ["--objectives", ",".join(map(str, objectives)), "--limit", str(tasks_per_count)]
    for n in objectives:
        folder = workdir / f"qa_{n}obj"
        if not (folder / "compose.json").is_file():
            config = ComposeConfig(objectives=n, mix=True, splits={"test": 0.1}, seed=0, limit=500)
            write_composed(compose([(name, str(path)) for name, path in SOURCES], config), folder)
        argv += ["--data", str(folder)]
    argv += ["--topk", "2", "--max-obs-tokens", "160", "--fit-tokens", "96"]
    if mem1_main(argv) != 0:
        raise SystemExit("mem1 trajectories failed")
    return load_dataset("parquet", data_files=str(out / "data" / "train.parquet"), split="train")


def config(layout: str, out: Path, accumulation: int):
    from mem1_hf.training.sft import QASFTConfig

    return QASFTConfig(
        data="rows",
        layout=layout,
        output_dir=str(out / layout),
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        max_length=1024,
        num_train_epochs=1,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=accumulation,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        warmup_steps=1,
        weight_decay=0.0,
        logging_steps=1000,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=True,
        dataloader_num_workers=0,
        seed=0,
        disable_tqdm=True,
    )


def epoch(layout: str, rows, out: Path, accumulation: int) -> dict:
    """One epoch of ``layout`` on ``rows`` with a fresh base model and adapter (after a warm-up step)."""
    from mem1_hf.training.packing import pack_rows
    from mem1_hf.training.sft import build_trainer, load_base

    settings = config(layout, out, accumulation)
    model, tokenizer = load_base(settings)
    trainer = build_trainer(
        settings,
        model,
        tokenizer,
        rows if layout == "packed" else rows.select_columns(["input_ids", "completion_mask"]),
    )
    data = trainer.train_dataset
    if layout == "packed":
        sequences = [pack_rows(e["rows"], e["loss_masks"]) for e in data]
        tokens, examples = sum(len(s) for s in sequences), len(sequences)
        responses = sum(len(s.target_ids) for s in sequences)
    else:
        tokens, examples = sum(len(r) for r in data["input_ids"]), len(data)
        responses = sum(sum(label != -100 for label in r[1:]) for r in data["labels"])
    # warm-up: one forward + backward outside the timing (thread pools, oneDNN kernels)
    batch = trainer._prepare_inputs(trainer.data_collator([data[0]]))
    with trainer.compute_loss_context_manager():
        trainer.compute_loss(trainer.model, batch).backward()
    trainer.model.zero_grad(set_to_none=True)
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    del trainer, model
    return {
        "examples": examples,
        "tokens": tokens,
        "response_tokens": int(responses),
        "optimizer_steps": result.global_step,
        "epoch_s": round(seconds, 1),
        "tokens_per_s": round(tokens / seconds, 1),
        "train_loss": round(result.training_loss, 4),
    }


def sampled_token_ratio(rows, n: int, seed: int = 0) -> dict:
    """Packed/rows tokens for ``n`` rows sampled from all of ``rows`` (as ``max_rows`` samples)."""
    from mem1_hf.training.packing import pack_rows
    from mem1_hf.training.sft import packed_dataset

    sample = rows.shuffle(seed=seed).select(range(min(n, len(rows))))
    packed = packed_dataset(sample, config("packed", Path(tempfile.gettempdir()), 1))
    packed_tokens = sum(len(pack_rows(e["rows"], e["loss_masks"])) for e in packed)
    row_tokens = sum(len(r) for r in sample["input_ids"])
    return {
        "rows": len(sample),
        "tasks": len(set(sample["task_id"])),
        "packed_over_rows_tokens": round(packed_tokens / row_tokens, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-per-count", type=int, default=4, help="tasks per objective count (1, 2, 4)")
    parser.add_argument("--objectives", default="1,2,4")
    parser.add_argument("--workdir", default=None, help="where data is composed and trajectories written")
    args = parser.parse_args()
    import torch

    objectives = [int(n) for n in args.objectives.split(",")]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sft_packing_"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = expert_rows(workdir, args.tasks_per_count, objectives)
    report = {
        "model": "SmolLM2-135M-Instruct, LoRA r=8 all-linear, bf16 autocast (CPU), batch 1",
        "threads": torch.get_num_threads(),
        "rows": len(rows),
        "tasks": len(set(rows["task_id"])),
        "objectives": objectives,
        "rows_layout": epoch("rows", rows, workdir, accumulation=8),
        "packed_layout": epoch("packed", rows, workdir, accumulation=2),
    }
    r, p = report["rows_layout"], report["packed_layout"]
    report["packed_over_rows"] = {
        "tokens": round(p["tokens"] / r["tokens"], 3),
        "epoch_time": round(p["epoch_s"] / r["epoch_s"], 3),
    }
    many = expert_rows(workdir, 4 * args.tasks_per_count, objectives)
    report["sampled_rows_from_4x_the_tasks"] = sampled_token_ratio(many, len(rows))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
