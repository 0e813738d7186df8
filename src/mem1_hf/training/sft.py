"""SFT warm start: TRL's ``SFTTrainer`` + a LoRA adapter on turn-level trajectory rows.

The rows come from ``mem1 trajectories`` (``input_ids`` = a turn's input + output ids exactly
as the agent loop produced them, ``completion_mask`` = 1 on the output ids). TRL ignores
``completion_mask`` on pre-tokenized rows unless ``completion_only_loss=True`` (then the
loss covers the response tokens only); :class:`QASFTConfig` sets it and refuses ``False``.

``layout: packed`` trains on the RL trainer's ``packed`` layout instead of one sequence per row:
per task (rows of one ``task_id``), the shared task prompt once, then each turn's kept context +
response as a block under a 4D additive mask with each row's own positions
(:func:`mem1_hf.training.packing.pack_rows`). It computes exactly what the rows compute, on
about half the tokens for MEM1 turns; the loss is the same per-token mean (:class:`PackedSFTTrainer`).

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
import random
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from trl import SFTConfig, SFTTrainer

from mem1_hf.defaults import peft_quietly
from mem1_hf.errors import Mem1InputError
from mem1_hf.settings import read_yaml_config
from mem1_hf.training.forward import action_logprobs
from mem1_hf.training.packing import ModelBatch, collate, pack_rows, plan_packs, use_block_sparse_attention

#: the top-level YAML key ``mem1 train`` routes on; this module accepts and ignores it
ROUTING_KEY = "trainer"
#: the columns the trainer needs from a trajectory row (the readable ones are dropped)
TRAIN_COLUMNS = ("input_ids", "completion_mask")
#: what the packed layout also reads: the task a row belongs to and its turn (for the order)
PACK_COLUMNS = ("task_id", "turn")


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
        metadata={
            "help": "trajectory dataset: a `mem1 trajectories` folder, a parquet file or a Hub id; several "
            "joined with commas are trained on together"
        },
    )
    data_split: str = field(default="train", metadata={"help": "split of --data to train on"})
    max_rows: int | None = field(default=None, metadata={"help": "train on N rows sampled with `seed`"})
    min_reward: float | None = field(
        default=None,
        metadata={
            "help": "train only on rows whose task reward (the `reward` column: EM mean or WebShop's "
            "reward) is at least this: rejection-sampling fine-tuning on a model's own successful "
            "trajectories (`mem1 trajectories --policy model --do-sample`), mixed with expert rows"
        },
    )
    max_tasks: int | None = field(
        default=None,
        metadata={
            "help": "train on every row of N tasks (task_id) sampled with `seed`: whole trajectories, so "
            "layout packed keeps its saving (max_rows scatters a task's turns over many packs)"
        },
    )
    layout: str = field(
        default="rows",
        metadata={
            "help": "`rows`: one sequence per turn row (TRL's SFTTrainer as is). `packed`: per task (rows of one "
            "task_id), the shared prompt once, then each turn's context + response as a block under a 4D mask "
            "(the RL trainer's packed layout, exact, ~half the tokens); per_device_train_batch_size then counts "
            "packed sequences (tasks), and the loss is the same mean over response tokens",
            "choices": ["rows", "packed"],
        },
    )
    packed_max_tokens: int | None = field(
        default=None,
        metadata={
            "help": "layout packed: longest packed sequence; a task's further rows start another sequence "
            "(with the prompt again). None: one sequence per task"
        },
    )
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
        for name in ("max_rows", "max_tasks"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise Mem1InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_rows is not None and self.max_tasks is not None:
            raise Mem1InputError("set max_rows or max_tasks, not both")
        if self.lora_r < 1:
            raise Mem1InputError(f"lora_r must be >= 1, got {self.lora_r}")
        if self.layout not in ("rows", "packed"):
            raise Mem1InputError(f"layout must be 'rows' or 'packed', got {self.layout!r}")
        if self.packed_max_tokens is not None and self.packed_max_tokens < 1:
            raise Mem1InputError(f"packed_max_tokens must be >= 1, got {self.packed_max_tokens}")
        if self.layout == "packed":
            clashes = [
                name
                for name, bad in (
                    ("packing", self.packing),
                    ("padding_free", self.padding_free),
                    ("use_liger_kernel", self.use_liger_kernel),
                    ("loss_type dft", self.loss_type == "dft"),  # nll and chunked_nll: the same mean
                )
                if bad
            ]
            if clashes:
                raise Mem1InputError(f"layout packed computes its own loss: unset {', '.join(clashes)}")
            # the packed rows are built here (pack_rows), not by TRL's tokenize/truncate/label preparation
            self.dataset_kwargs = {**(self.dataset_kwargs or {}), "skip_prepare_dataset": True}
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


def _load_one(source: str, split: str):
    """The rows of one ``--data`` source: a trajectory folder, a parquet file or a Hub id."""
    import datasets

    from mem1_hf.data.files import check_parquet

    path = Path(source).expanduser()
    try:
        if path.is_dir():
            # read the folder's parquet files directly: load_dataset(folder) may serve a stale cache
            # of an earlier dataset written to the same folder
            files = sorted((path / "data").glob(f"{split}*.parquet")) or sorted(
                path.glob(f"{split}*.parquet")
            )
            if not files:
                raise Mem1InputError(f"{path}: no {split} parquet files (use `mem1 trajectories`)")
            check_parquet(files)  # a corrupt file: one line, before datasets logs its own errors
            return datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
        if path.is_file():
            check_parquet([path])
            return datasets.load_dataset("parquet", data_files=str(path), split="train")
        return datasets.load_dataset(source, split=split)
    except Mem1InputError:
        raise
    except Exception as err:  # datasets raises many types; the user needs one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise Mem1InputError(f"cannot load training data {source!r}: {first}") from err


def load_rows(config: QASFTConfig):
    """The training rows (``input_ids`` + ``completion_mask`` only) of ``config.data``: one source,
    or several joined with commas (e.g. expert rows and a model's own sampled rows, for
    rejection-sampling fine-tuning with ``min_reward``)."""
    import datasets

    sources = [s.strip() for s in str(config.data).split(",") if s.strip()]
    parts = [_load_one(source, config.data_split) for source in sources]
    if len(parts) > 1:
        shared = [c for c in parts[0].column_names if all(c in p.column_names for p in parts)]
        parts = [p.select_columns(shared) for p in parts]
        try:  # the first source's types (e.g. a reward column written as float64 by another tool)
            parts = [p if p.features == parts[0].features else p.cast(parts[0].features) for p in parts]
            rows = datasets.concatenate_datasets(parts)
        except (ValueError, TypeError) as err:  # the sources' column types cannot agree
            raise Mem1InputError(f"cannot train on {config.data} together: {err}") from err
    else:
        rows = parts[0]
    if config.min_reward is not None:
        if "reward" not in rows.column_names:
            raise Mem1InputError(f"{config.data}: min_reward needs a reward column (use `mem1 trajectories`)")
        rows = rows.filter(
            lambda r: [x is not None and x >= config.min_reward for x in r],
            input_columns="reward",
            batched=True,
        )
        if len(rows) == 0:
            raise Mem1InputError(f"{config.data}: no row has reward >= {config.min_reward}")
    missing = [c for c in TRAIN_COLUMNS if c not in rows.column_names]
    if missing:
        raise Mem1InputError(
            f"{config.data}: missing column(s) {', '.join(missing)} (use `mem1 trajectories`)"
        )
    columns = list(TRAIN_COLUMNS)
    if config.layout == "packed":
        if "task_id" not in rows.column_names:
            raise Mem1InputError(
                f"{config.data}: layout packed needs a task_id column (use `mem1 trajectories`)"
            )
        columns += [c for c in PACK_COLUMNS if c in rows.column_names]
    if config.max_tasks is not None:
        if "task_id" not in rows.column_names:
            raise Mem1InputError(f"{config.data}: max_tasks needs a task_id column (use `mem1 trajectories`)")
        tasks = sorted(set(rows["task_id"]))
        random.Random(config.seed).shuffle(tasks)
        keep = set(tasks[: config.max_tasks])
        rows = rows.filter(lambda ids: [t in keep for t in ids], input_columns="task_id", batched=True)
    if config.max_rows is not None:  # a seeded sample: rows are stored in the order tasks finished
        rows = rows.shuffle(seed=config.seed).select(range(min(config.max_rows, len(rows))))
    return rows.select_columns(columns)


# ----------------------------------------------------------------------------- the packed layout


def _truncated(ids: list[int], mask: list[int], config: QASFTConfig) -> tuple[list[int], list[int]]:
    # what TRL's preparation does to a row on the rows layout: cut to max_length; position 0 is
    # never a target (causal LM labels are shifted), so it never is here either
    if config.max_length is not None:
        cut = (
            slice(None, config.max_length)
            if config.truncation_mode == "keep_start"
            else slice(-config.max_length, None)
        )
        ids, mask = ids[cut], mask[cut]
    mask = [int(bool(m)) for m in mask]
    if mask:
        mask[0] = 0
    return ids, mask


def packed_dataset(rows, config: QASFTConfig):
    """The packed sequences of ``rows`` (``input_ids``, ``completion_mask``, ``task_id``, opt. ``turn``).

    Returns a ``datasets.Dataset``, one packed sequence per example: ``rows`` (its turn rows'
    ``input_ids``, in turn order) and ``loss_masks`` (their 0/1 masks). Rows are truncated as TRL
    truncates them on the rows layout (rows left with nothing to learn are dropped, as TRL drops
    them), grouped by task, and split where :func:`~mem1_hf.training.packing.plan_packs` says (a
    different prompt, ``packed_max_tokens``).

    Example:
        >>> packed = packed_dataset(load_rows(config), config)  # doctest: +SKIP
        >>> sum(len(r) for r in packed["rows"]) == len(load_rows(config))  # doctest: +SKIP
        True
    """
    import datasets

    if "task_id" not in rows.column_names:
        raise Mem1InputError("layout packed needs each row's task_id (use `mem1 trajectories`)")
    kept = []
    for i, row in enumerate(rows):
        ids, mask = _truncated(list(row["input_ids"]), list(row["completion_mask"]), config)
        if any(mask):
            kept.append((row["task_id"], row.get("turn", i), ids, mask))
    first_seen: dict[str, int] = {}
    for task, *_ in kept:
        first_seen.setdefault(task, len(first_seen))
    kept.sort(key=lambda r: (first_seen[r[0]], r[1]))  # stable: rows of a task together, in turn order
    ids, masks, keys = [r[2] for r in kept], [r[3] for r in kept], [r[0] for r in kept]
    packs = plan_packs(ids, masks, keys, config.packed_max_tokens)
    return datasets.Dataset.from_dict(
        {"rows": [[ids[i] for i in p] for p in packs], "loss_masks": [[masks[i] for i in p] for p in packs]}
    )


@dataclass
class PackedCollator:
    """Packs each example of :func:`packed_dataset` (:func:`~mem1_hf.training.packing.pack_rows`) and pads them.

    The attention mask is 4D additive in ``dtype`` (the model's parameter dtype): 0 where visible,
    ``finfo(dtype).min`` elsewhere (boolean 4D masks are wrong under ``eager``).

    Example:
        >>> batch = PackedCollator(pad_id=2)([{"rows": [[5, 6, 7], [5, 6, 8]], "loss_masks": [[0, 0, 1], [0, 0, 1]]}])
        >>> batch["input_ids"].tolist(), batch["position_ids"].tolist(), batch["target_index"].tolist()
        ([[5, 6, 7, 8]], [[0, 1, 2, 2]], [1, 1])
    """

    pad_id: int
    dtype: torch.dtype = torch.float32

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        sequences = [pack_rows(e["rows"], e["loss_masks"]) for e in examples]
        batch = collate(sequences, self.pad_id, self.dtype)
        return {
            "input_ids": batch.input_ids,
            "position_ids": batch.position_ids,
            "attention_mask": batch.attention_mask,
            "target_rows": batch.target_rows,
            "target_index": batch.target_index,
            "target_ids": batch.target_ids,
            "num_tokens": torch.tensor(sum(len(s) for s in sequences)),  # real tokens, for the logs
        }


class PackedSFTTrainer(SFTTrainer):
    """``SFTTrainer`` on :func:`packed_dataset` examples: the loss is the rows layout's loss.

    TRL's rows loss (``nll`` or ``chunked_nll``, the same math) with the Trainer's gradient
    accumulation is ``sum of -log p(response token) / N`` where ``N`` counts the response tokens of
    all micro-batches of one optimizer step (and, with ``average_tokens_across_devices``, of all
    processes; each process's loss is then multiplied by the process count, as DDP averages). This
    trainer computes the same: per-token log-probs at the targets only (``logits_to_keep``), the
    same ``N`` counted from the packed targets (:meth:`get_batch_samples`), the same scaling; so
    for the same rows in a step the loss and its gradients equal the rows layout's.

    Example:
        >>> trainer = build_trainer(QASFTConfig(data="traj", layout="packed"))  # doctest: +SKIP
        >>> trainer.train()  # doctest: +SKIP
    """

    loss_is_scaled_for_ga = True  # divided by the step's token count, not per micro-batch

    def _set_signature_columns_if_needed(self):
        # the Trainer keeps only these dataset columns: here, what the collator packs (TRL's own
        # override keeps the rows layout's input_ids/labels)
        if self._signature_columns is None:
            self._signature_columns = ["rows", "loss_masks"]

    def get_batch_samples(self, epoch_iterator, num_batches: int, device) -> tuple[list, torch.Tensor | None]:
        """One optimizer step's micro-batches and their response-token count (over all processes)."""
        batch_samples, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        if not batch_samples:
            return batch_samples, None
        count = torch.tensor(sum(int(b["target_ids"].numel()) for b in batch_samples), device=device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            count = self.accelerator.gather(count).sum()
        return batch_samples, count

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Mean ``-log p`` of the response tokens (over ``num_items_in_batch`` tokens when given)."""
        mode = "train" if self.model.training else "eval"
        inputs.pop("_prediction_loss_only", None)
        num_tokens = inputs.pop("num_tokens", None)
        batch = ModelBatch(lengths=[], **inputs)
        logprobs, entropy = action_logprobs(model, batch, with_entropy=True)
        if num_items_in_batch is None:
            loss = -logprobs.sum() / max(logprobs.numel(), 1)
        else:
            loss = -logprobs.sum() / num_items_in_batch
            if self.args.average_tokens_across_devices:
                loss = loss * self.accelerator.num_processes  # as Trainer.compute_loss: DDP averages
        with torch.no_grad():  # the logs SFTTrainer keeps: mean entropy of the predicted tokens, tokens seen
            total = self.accelerator.gather_for_metrics(entropy.sum().reshape(1)).sum()
            count = self.accelerator.gather_for_metrics(
                torch.tensor([entropy.numel()], device=entropy.device)
            ).sum()
            self._metrics[mode]["entropy"].append((total / count.clamp(min=1)).item())
            if mode == "train" and num_tokens is not None:
                self._total_train_tokens += (
                    self.accelerator.gather_for_metrics(num_tokens.reshape(1)).sum().item()
                )
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, {"logprobs": logprobs}) if return_outputs else loss


def load_base(config: QASFTConfig):
    """The base model (fp32) and tokenizer."""
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
    if model is None or tokenizer is None:
        model, tokenizer = load_base(config)
    rows = load_rows(config) if rows is None else rows
    if config.layout == "packed":
        packed = packed_dataset(rows, config)
        if not len(packed):
            raise Mem1InputError(f"{config.data}: no row has a response token to learn")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # dense SDPA computes every block against every other block and masks it away: skip that
        use_block_sparse_attention(model)
        with peft_quietly():  # TRL wraps the model with peft
            return PackedSFTTrainer(
                model=model,
                args=config,
                train_dataset=packed,
                data_collator=PackedCollator(pad_id, next(model.parameters()).dtype),
                processing_class=tokenizer,
                peft_config=config.lora_config(),
            )
    with peft_quietly():
        return SFTTrainer(
            model=model,
            args=config,
            train_dataset=rows,
            processing_class=tokenizer,
            peft_config=config.lora_config(),
        )


def row_count(dataset) -> int:
    """How many turn rows a trainer's dataset holds (a packed example holds several).

    Example:
        >>> row_count(build_trainer(config).train_dataset)  # doctest: +SKIP
        768
    """
    if "rows" in dataset.column_names:
        return sum(len(r) for r in dataset["rows"])
    return len(dataset)


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
        "layout": config.layout,
        "rows": row_count(trainer.train_dataset),
        "packed_sequences": len(trainer.train_dataset) if config.layout == "packed" else None,
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
    rows = row_count(trainer.train_dataset)
    print(f"saved the LoRA adapter to {config.output_dir} ({rows} rows, layout {config.layout})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
