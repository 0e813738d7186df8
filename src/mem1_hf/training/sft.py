"""SFT warm start: TRL's ``SFTTrainer`` + a LoRA adapter on turn-level trajectory rows.

The rows come from ``mem1 trajectories`` (``input_ids`` = a turn's input + output ids exactly
as the agent loop produced them, ``completion_mask`` = 1 on the output ids). TRL ignores
``completion_mask`` on pre-tokenized rows unless ``completion_only_loss=True`` (then the
loss covers the response tokens only); :class:`QASFTConfig` sets it and refuses ``False``.

Configuration is one YAML file (every field of :class:`QASFTConfig`, i.e. TRL's ``SFTConfig``
plus the fields below) with command-line overrides, parsed by ``transformers.HfArgumentParser``.
A top-level ``trainer: sft`` key (read by ``mem1 train`` to route here) is accepted and ignored.
The adapter (and, with ``merge: true``, a merged full model in ``OUTPUT_DIR/merged``) is saved
with the tokenizer, so ``AutoModelForCausalLM.from_pretrained(OUTPUT_DIR)`` loads base +
adapter offline and ``mem1 eval --model OUTPUT_DIR`` evaluates it.

Example:
    $ python -m mem1_hf.training.sft --config configs/qa_sft_lora_cpu.yaml --num_train_epochs 1
    >>> main(["--config", "configs/qa_sft_lora_cpu.yaml", "--max_steps", "2"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trl import SFTConfig

from mem1_hf.errors import Mem1InputError
from mem1_hf.settings import read_yaml_config

#: the top-level YAML key ``mem1 train`` routes on; this module accepts and ignores it
ROUTING_KEY = "trainer"
#: the columns the trainer needs from a trajectory row (the readable ones are dropped)
TRAIN_COLUMNS = ("input_ids", "completion_mask")


@dataclass
class QASFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` plus the data, base model and LoRA settings of the MEM1 warm start.

    CPU-friendly defaults differ from TRL's: ``completion_only_loss=True`` (required),
    ``max_length=2048`` (rows are never silently cut at TRL's 1024), ``bf16=False`` and no
    gradient checkpointing (a 135M model needs neither), LoRA-sized learning rate 2e-4.

    Example:
        >>> QASFTConfig(data="runs/traj", output_dir="runs/sft").lora_r  # doctest: +SKIP
        16
    """

    data: str | None = field(
        default=None,
        metadata={"help": "trajectory dataset: a `mem1 trajectories` folder, a parquet file or a Hub id"},
    )
    data_split: str = field(default="train", metadata={"help": "split of --data to train on"})
    max_rows: int | None = field(default=None, metadata={"help": "train on N rows sampled with `seed`"})
    base_model: str | None = field(
        default=None,
        metadata={"help": "base model path or Hub id (default: the offline SmolLM2-135M-Instruct)"},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: str = field(
        default="all-linear", metadata={"help": "peft target modules: 'all-linear' or comma-separated names"}
    )
    merge: bool = field(
        default=False, metadata={"help": "also save base + adapter merged in OUTPUT_DIR/merged"}
    )
    # TRL / transformers defaults changed for this use
    output_dir: str | None = field(default="runs/sft-lora", metadata={"help": "where the adapter is saved"})
    completion_only_loss: bool | None = field(
        default=True, metadata={"help": "loss on completion_mask tokens only (must stay True here)"}
    )
    max_length: int | None = field(default=2048, metadata={"help": "longest row (longer rows are cut)"})
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW learning rate"})
    bf16: bool | None = field(default=False, metadata={"help": "bfloat16 autocast (CPU: needs use_cpu)"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory"})

    def __post_init__(self) -> None:
        if self.completion_only_loss is not True:
            raise Mem1InputError(
                "completion_only_loss must be true: without it TRL ignores completion_mask and the loss "
                "covers the prompt and observations too"
            )
        if self.max_rows is not None and self.max_rows < 1:
            raise Mem1InputError(f"max_rows must be >= 1, got {self.max_rows}")
        if self.lora_r < 1:
            raise Mem1InputError(f"lora_r must be >= 1, got {self.lora_r}")
        super().__post_init__()

    def lora_config(self):
        """The peft ``LoraConfig`` of these settings."""
        from peft import LoraConfig

        targets = self.lora_target_modules
        modules = targets if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=modules,
            task_type="CAUSAL_LM",
        )


# ----------------------------------------------------------------------------- configuration


def _read_yaml(path: str) -> dict[str, Any]:
    data = read_yaml_config(path)
    data.pop(ROUTING_KEY, None)
    known = {f.name for f in fields(QASFTConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise Mem1InputError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return data


def parse_config(argv: list[str]) -> QASFTConfig:
    """``--config FILE.yaml`` plus ``--field value`` overrides -> :class:`QASFTConfig`.

    Example:
        >>> parse_config(["--config", "configs/qa_sft_lora_cpu.yaml", "--lora_r", "8"]).lora_r  # doctest: +SKIP
        8
    """
    import argparse

    from transformers import HfArgumentParser

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    pre.add_argument(f"--{ROUTING_KEY}", default=None)  # `mem1 train --trainer sft` passes it on
    known, rest = pre.parse_known_args(argv)
    parser = HfArgumentParser((QASFTConfig,))
    if known.config:
        defaults = _read_yaml(known.config)
        # overrides on the command line win over the YAML, which wins over the dataclass
        parser.set_defaults(**defaults)
    try:
        (config,) = parser.parse_args_into_dataclasses(args=rest)
    except SystemExit as err:  # argparse already printed its one-line error
        raise Mem1InputError(f"bad training arguments: {' '.join(rest)}") from err
    except ValueError as err:
        raise Mem1InputError(str(err).strip().splitlines()[0]) from err
    if not config.data:
        raise Mem1InputError("no training data: set `data:` in the YAML or pass --data DIR")
    return config


# ----------------------------------------------------------------------------- data, trainer, run


def load_rows(config: QASFTConfig):
    """The training rows (``input_ids`` + ``completion_mask`` only) of ``config.data``."""
    import datasets

    path = Path(config.data).expanduser()
    try:
        if path.is_dir():
            # read the folder's parquet files directly: load_dataset(folder) may serve a stale cache
            # of an earlier dataset written to the same folder
            files = sorted((path / "data").glob(f"{config.data_split}*.parquet")) or sorted(
                path.glob(f"{config.data_split}*.parquet")
            )
            if not files:
                raise Mem1InputError(
                    f"{path}: no {config.data_split} parquet files (use `mem1 trajectories`)"
                )
            rows = datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
        elif path.is_file():
            rows = datasets.load_dataset("parquet", data_files=str(path), split="train")
        else:
            rows = datasets.load_dataset(config.data, split=config.data_split)
    except Mem1InputError:
        raise
    except Exception as err:  # datasets raises many types; the user needs one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise Mem1InputError(f"cannot load training data {config.data!r}: {first}") from err
    missing = [c for c in TRAIN_COLUMNS if c not in rows.column_names]
    if missing:
        raise Mem1InputError(
            f"{config.data}: missing column(s) {', '.join(missing)} (use `mem1 trajectories`)"
        )
    if config.max_rows is not None:  # a seeded sample: rows are stored in the order tasks finished
        rows = rows.shuffle(seed=config.seed).select(range(min(config.max_rows, len(rows))))
    return rows.select_columns(list(TRAIN_COLUMNS))


def load_base(config: QASFTConfig):
    """The base model (fp32) and tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mem1_hf.defaults import default_model_path

    source = config.base_model or str(default_model_path())
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise Mem1InputError(f"cannot load base model {source!r}: {first}") from err
    return model, tokenizer


def build_trainer(config: QASFTConfig, model=None, tokenizer=None, rows=None):
    """An ``SFTTrainer`` over the rows with a fresh LoRA adapter on the base model.

    Example:
        >>> trainer = build_trainer(parse_config(["--config", "c.yaml"]))  # doctest: +SKIP
        >>> trainer.train()  # doctest: +SKIP
    """
    from trl import SFTTrainer

    if model is None or tokenizer is None:
        model, tokenizer = load_base(config)
    rows = load_rows(config) if rows is None else rows
    return SFTTrainer(
        model=model,
        args=config,
        train_dataset=rows,
        processing_class=tokenizer,
        peft_config=config.lora_config(),
    )


def run_sft(config: QASFTConfig, model=None, tokenizer=None, rows=None):
    """Train, save the adapter + tokenizer (+ merged model) and ``sft_summary.json``; return the trainer."""
    started = time.perf_counter()
    trainer = build_trainer(config, model, tokenizer, rows)
    # TrainingArguments' resume_from_checkpoint: an interrupted run continues from its checkpoint
    result = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    out = Path(config.output_dir)
    trainer.save_model(str(out))
    trainer.processing_class.save_pretrained(str(out))
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)  # before a merge
    if config.merge:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(out / "merged"))
        trainer.processing_class.save_pretrained(str(out / "merged"))
    summary = {
        "data": config.data,
        "rows": len(trainer.train_dataset),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "train_runtime_s": round(time.perf_counter() - started, 1),
        "trainable_parameters": trainable,
        "lora": {"r": config.lora_r, "alpha": config.lora_alpha, "targets": config.lora_target_modules},
        "log_history": trainer.state.log_history,
    }
    (out / "sft_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return trainer


def main(argv: list[str] | None = None) -> int:
    """Parse ``--config FILE.yaml`` + overrides, run SFT; 0 on success, 2 on a user's mistake.

    Example:
        >>> main(["--config", "configs/qa_sft_lora_cpu.yaml", "--output_dir", "runs/sft"])  # doctest: +SKIP
        0
    """
    try:
        config = parse_config(list(sys.argv[1:] if argv is None else argv))
        trainer = run_sft(config)
    except Mem1InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"saved the LoRA adapter to {config.output_dir} ({len(trainer.train_dataset)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
