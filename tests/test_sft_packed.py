"""Packed SFT (``layout: packed``): per task, the prompt once and each turn as a masked block.

On real expert trajectories (composed HotpotQA + NQ, `mem1 trajectories --policy expert`):
* tiny random Llama: each block's positions, ids and log-probs equal its own row's (sdpa and
  eager), the 4D mask is additive (0 / finfo.min) and no block sees another; rows with another
  prompt are packed apart; training with gradient accumulation, bf16 autocast and a checkpoint
  resumes to the same adapter as an uninterrupted run.
* the real SmolLM2-135M (fp32, LoRA): per-token losses equal the rows layout's (|diff| <= 1e-4),
  and so do the step loss and every LoRA gradient, normalised as TRL's SFTTrainer normalises.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import HOTPOT_DEV, SHARED_DATA, make_tiny_llama, require_data

from mem1_hf.cli import main as mem1_main
from mem1_hf.errors import Mem1InputError
from mem1_hf.training.packing import (
    BLOCK_SPARSE_ATTENTION,
    collate,
    pack_rows,
    plan_packs,
    shared_prefix_length,
    use_block_sparse_attention,
)
from mem1_hf.training.sft import (
    PackedCollator,
    QASFTConfig,
    build_trainer,
    load_rows,
    packed_dataset,
    parse_config,
    row_count,
    run_sft,
)

NQ_ORACLE = SHARED_DATA / "nq" / "nq_open_oracle_2000.jsonl.gz"


@pytest.fixture(scope="module")
def expert_rows(tmp_path_factory):
    """Real expert turn rows over 1- and 2-objective tasks (the default recipe's settings, fewer tasks)."""
    require_data()
    from datasets import load_dataset

    from mem1_hf.data.compose import ComposeConfig, compose, write_composed

    root = tmp_path_factory.mktemp("packed")
    sources = [("hotpotqa", HOTPOT_DEV), ("nq", NQ_ORACLE)]
    argv = ["trajectories", "--out", str(root / "traj"), "--split", "train", "--objectives", "1,2"]
    for n in (1, 2):
        write_composed(
            compose(sources, ComposeConfig(objectives=n, mix=True, limit=20, seed=0)), root / f"qa{n}"
        )
        argv += ["--data", str(root / f"qa{n}")]
    argv += ["--limit", "3", "--topk", "2", "--max-obs-tokens", "160", "--fit-tokens", "96"]
    assert mem1_main(argv) == 0
    rows = load_dataset("parquet", data_files=str(root / "traj" / "data" / "train.parquet"), split="train")
    assert len(set(rows["task_id"])) == 6 and len(rows) >= 12
    return rows


def _config(tmp_path, **overrides) -> QASFTConfig:
    settings = dict(
        data="rows",
        output_dir=str(tmp_path / "sft"),
        per_device_train_batch_size=1,
        max_steps=2,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
        layout="packed",
    )
    return QASFTConfig(**{**settings, **overrides})


def _tasks(rows, which: list[int]):
    tasks = list(dict.fromkeys(rows["task_id"]))  # 1-objective tasks first, then 2-objective ones
    keep = {tasks[i] for i in which}
    return rows.filter(lambda r: r["task_id"] in keep)


def _row_logprobs(model, ids: list[int], mask: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1)
    return logp[torch.tensor(mask[1:]).bool()]


@pytest.mark.parametrize("attn", ["sdpa", "eager", "block_sparse"])
def test_each_block_computes_what_its_row_computes(expert_rows, tokenizer, attn, tmp_path):
    model = make_tiny_llama(tokenizer, attn_implementation="sdpa" if attn == "block_sparse" else attn)
    if attn == "block_sparse":  # what packed SFT runs: SDPA per query chunk over the keys it may see
        use_block_sparse_attention(model)
        assert model.config._attn_implementation == BLOCK_SPARSE_ATTENTION
    packed = packed_dataset(expert_rows, _config(tmp_path))
    assert len(packed) == 6 and row_count(packed) == len(expert_rows)  # one per task
    sequences, expected = [], []
    for group in packed:
        rows, masks = group["rows"], group["loss_masks"]
        seq = pack_rows(rows, masks)
        n = shared_prefix_length(rows, masks)
        assert n == masks[0].index(1)  # the task prompt: the first turn's whole input
        assert all(row[:n] == seq.ids[:n] for row in rows)  # once
        start = n
        for row, mask in zip(rows, masks):
            end = start + len(row) - n
            # the block holds the row's remainder at the row's own positions
            assert seq.ids[start:end] == row[n:] and seq.positions[start:end] == list(range(n, len(row)))
            block = torch.zeros(len(seq.ids), dtype=torch.bool)
            block[:n] = True
            block[start:end] = True
            for i in (start, (start + end) // 2, end - 1):  # sees the prompt and its own past, nothing else
                assert torch.equal(seq.allowed[i], block & (torch.arange(len(seq.ids)) <= i))
            expected.append(_row_logprobs(model, row, mask))
            start = end
        assert start == len(seq.ids)
        sequences.append(seq)
    batch = collate(sequences, tokenizer.pad_token_id, torch.float32)  # right-padded to the longest task
    mask = batch.attention_mask
    assert mask.dtype == torch.float32 and set(mask.unique().tolist()) == {
        0.0,
        torch.finfo(torch.float32).min,
    }
    with torch.no_grad():
        logits = model(
            input_ids=batch.input_ids, attention_mask=mask, position_ids=batch.position_ids, use_cache=False
        ).logits.float()
    chosen = torch.log_softmax(logits[batch.target_rows, batch.target_index], -1)
    packed_logp = chosen.gather(-1, batch.target_ids.unsqueeze(-1)).squeeze(-1)
    assert (packed_logp - torch.cat(expected)).abs().max().item() <= 1e-5


def test_rows_with_another_prompt_are_packed_apart(expert_rows):
    tasks = list(dict.fromkeys(expert_rows["task_id"]))
    own = expert_rows.filter(lambda r: r["task_id"] == tasks[-1])  # a 2-objective task
    rows, masks = [list(r) for r in own["input_ids"]], [list(m) for m in own["completion_mask"]]
    assert len(rows) >= 3 and plan_packs(rows, masks, ["t"] * len(rows)) == [list(range(len(rows)))]
    # the task's id on a row whose prompt shares nothing (another system prompt): its own sequence
    alien = [(rows[0][0] + 1) % 1000] + rows[0][1:]
    plan = plan_packs([rows[0], alien, *rows[1:]], [masks[0], masks[0], *masks[1:]], ["t"] * (len(rows) + 1))
    assert plan == [[0, *range(2, len(rows) + 1)], [1]]
    longest = max(len(r) for r in rows)
    capped = plan_packs(rows, masks, ["t"] * len(rows), max_tokens=longest + 200)
    assert sorted(i for p in capped for i in p) == list(range(len(rows))) and len(capped) > 1
    for pack in capped:
        assert len(pack_rows([rows[i] for i in pack], [masks[i] for i in pack])) <= longest + 200


def test_packed_training_accumulates_and_resumes_to_the_same_adapter(expert_rows, tokenizer, tmp_path):
    """bf16 autocast, 2 packed tasks per step (gradient accumulation), a checkpoint after step 1."""
    from safetensors.torch import load_file

    rows = _tasks(expert_rows, [0, 1, 3, 4])
    settings = dict(
        gradient_accumulation_steps=2, bf16=True, learning_rate=1e-2, save_strategy="steps", save_steps=1
    )
    whole = run_sft(_config(tmp_path / "a", **settings), make_tiny_llama(tokenizer), tokenizer, rows)
    assert whole.state.global_step == 2 and len(whole.train_dataset) == 4
    assert all(e["loss"] > 0 and e["num_tokens"] > 0 for e in whole.state.log_history if "loss" in e)
    out = tmp_path / "b" / "sft"
    first = _config(tmp_path / "b", max_steps=2, **settings)
    trainer = build_trainer(first, make_tiny_llama(tokenizer), tokenizer, rows)
    trainer.train()
    assert (out / "checkpoint-1").is_dir()
    resumed = run_sft(
        _config(tmp_path / "b", resume_from_checkpoint=str(out / "checkpoint-1"), **settings),
        make_tiny_llama(tokenizer),
        tokenizer,
        rows,
    )
    assert resumed.state.global_step == 2
    a = load_file(tmp_path / "a" / "sft" / "adapter_model.safetensors")
    b = load_file(out / "adapter_model.safetensors")
    assert a.keys() == b.keys() and any(v.abs().sum() > 0 for k, v in a.items() if "lora_B" in k)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_layout_is_a_config_field_with_one_line_errors(tmp_path, expert_rows, tokenizer):
    config = tmp_path / "c.yaml"
    config.write_text(f"trainer: sft\ndata: {tmp_path}/rows\nlayout: packed\nuse_cpu: true\n")
    parsed = parse_config(["--config", str(config)])
    assert parsed.layout == "packed" and parsed.dataset_kwargs["skip_prepare_dataset"] is True
    assert parse_config(["--config", str(config), "--layout", "rows"]).layout == "rows"
    with pytest.raises(Mem1InputError, match="layout"):
        parse_config(["--config", str(config), "--layout", "stitched"])
    with pytest.raises(Mem1InputError, match="packing"):
        _config(tmp_path, packing=True)
    with pytest.raises(Mem1InputError, match="task_id"):
        build_trainer(
            _config(tmp_path),
            make_tiny_llama(tokenizer),
            tokenizer,
            expert_rows.select_columns(["input_ids", "completion_mask"]),
        )


def test_the_collator_passes_a_float_mask_in_the_models_dtype():
    group = {"rows": [[5, 6, 7], [5, 6, 8, 9]], "loss_masks": [[0, 0, 1], [0, 0, 0, 1]]}
    batch = PackedCollator(pad_id=2, dtype=torch.bfloat16)([group, group])
    mask = batch["attention_mask"]
    assert mask.shape == (2, 1, 5, 5) and mask.dtype == torch.bfloat16
    visible = mask[0, 0] == 0
    # block 2 (tokens 3, 4 = ids 8, 9) sees the prompt (5, 6) and itself, not block 1 (id 7)
    assert visible[4].tolist() == [True, True, False, True, True]
    assert batch["target_index"].tolist() == [1, 3, 1, 3] and batch["target_ids"].tolist() == [7, 9, 7, 9]


@pytest.mark.slow
def test_real_model_packed_losses_and_lora_gradients_equal_the_rows_layout(
    expert_rows, default_path, tmp_path
):
    """SmolLM2-135M fp32 + LoRA r=8: TRL's rows SFT (one row per micro-batch, gradient accumulation
    over all rows) and packed SFT (2 micro-batches of packed tasks) give the same per-token losses,
    the same step loss and the same LoRA gradients."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_path)
    rows = _tasks(expert_rows, [0, 1, 5])
    rows_trainer = build_trainer(
        _config(tmp_path / "r", layout="rows"),
        AutoModelForCausalLM.from_pretrained(default_path, dtype=torch.float32),
        tokenizer,
        rows.select_columns(["input_ids", "completion_mask"]),
    )
    packed_trainer = build_trainer(
        _config(tmp_path / "p"),
        AutoModelForCausalLM.from_pretrained(default_path, dtype=torch.float32),
        tokenizer,
        rows,
    )
    # the same non-zero adapter in both (B starts at zero, which would zero A's gradients)
    torch.manual_seed(0)
    packed_params = dict(packed_trainer.model.named_parameters())
    lora = {}
    for name, param in rows_trainer.model.named_parameters():
        if "lora_" in name:
            with torch.no_grad():
                if "lora_B" in name:
                    param.normal_(0.0, 0.02)
                packed_params[name].copy_(param)
            lora[name] = (param, packed_params[name])
    assert len(lora) == 30 * 7 * 2

    # per-token losses: each row alone vs the packed forward
    rows_trainer.model.train()
    packed_trainer.model.train()
    row_logp = [
        _row_logprobs(rows_trainer.model, list(r["input_ids"]), list(r["completion_mask"]))
        for r in rows_trainer.train_dataset.map(
            lambda r: {"completion_mask": [int(x != -100) for x in r["labels"]]}
        )
    ]

    # the step: the trainers' own token counts, losses and backward passes
    row_batches = [rows_trainer.data_collator([rows_trainer.train_dataset[i]]) for i in range(len(rows))]
    groups = packed_trainer.train_dataset
    assert len(groups) == 3 and row_count(groups) == len(rows)
    packed_batches = [
        packed_trainer.data_collator([groups[0], groups[1]]),
        packed_trainer.data_collator([groups[2]]),
    ]
    _, n_rows = rows_trainer.get_batch_samples(iter(row_batches), len(row_batches), "cpu")
    _, n_packed = packed_trainer.get_batch_samples(iter(packed_batches), len(packed_batches), "cpu")
    assert int(n_rows) == int(n_packed) == sum(len(t) for t in row_logp)
    rows_loss = 0.0
    for batch in row_batches:
        loss = rows_trainer.compute_loss(rows_trainer.model, dict(batch), num_items_in_batch=n_rows)
        loss.backward()
        rows_loss += loss.item()
    packed_loss, packed_logp = 0.0, []
    for batch in packed_batches:
        loss, out = packed_trainer.compute_loss(
            packed_trainer.model, dict(batch), return_outputs=True, num_items_in_batch=n_packed
        )
        loss.backward()
        packed_loss += loss.item()
        rows_of = batch["target_rows"]
        packed_logp += [out["logprobs"][rows_of == b].detach() for b in range(int(rows_of.max()) + 1)]
    packed_flat, rows_flat = torch.cat(packed_logp), torch.cat(row_logp)  # both in task, turn order
    per_token = (packed_flat - rows_flat).abs().max().item()
    print(
        f"max |per-token loss diff| {per_token:.2e}; step loss rows {rows_loss:.6f} packed {packed_loss:.6f}"
    )
    assert per_token <= 1e-4
    assert abs(rows_loss - packed_loss) <= 1e-5 and abs(rows_loss + rows_flat.mean().item()) <= 1e-4
    worst_abs, worst_rel = 0.0, 0.0
    for name, (a, b) in lora.items():
        assert a.grad is not None and b.grad is not None, name
        diff = (a.grad - b.grad).abs().max().item()
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / max(a.grad.abs().max().item(), 1e-12))
    print(f"LoRA gradients: max |diff| {worst_abs:.2e}, max |diff| / max |grad| per tensor {worst_rel:.2e}")
    assert worst_abs <= 1e-4 and worst_rel <= 1e-4
    assert any(a.grad.abs().max() > 1e-3 for a, _ in lora.values())  # gradients are not trivially zero


def test_packing_is_about_half_the_tokens(expert_rows, tmp_path):
    groups = packed_dataset(expert_rows, _config(tmp_path))
    packed = sum(len(pack_rows(g["rows"], g["loss_masks"])) for g in groups)
    rows = sum(len(r) for r in expert_rows["input_ids"])
    assert packed < 0.75 * rows


def test_the_shipped_configs_keep_the_rows_layout():
    repo = Path(__file__).resolve().parents[1]
    for name in ("qa_sft_lora_cpu.yaml", "default_agent_sft.yaml", "default_agent_sft2.yaml"):
        assert parse_config(["--config", str(repo / "configs" / name)]).layout == "rows"


def test_max_tasks_samples_whole_trajectories(expert_rows, tmp_path):
    """max_tasks keeps every turn of N seeded tasks (what packing needs); max_rows scatters them."""
    folder = tmp_path / "traj"
    (folder / "data").mkdir(parents=True)
    expert_rows.to_parquet(str(folder / "data" / "train.parquet"))
    config = _config(tmp_path, data=str(folder), layout="packed", max_tasks=2)
    rows = load_rows(config)
    tasks = set(rows["task_id"])
    assert len(tasks) == 2
    assert len(rows) == sum(t in tasks for t in expert_rows["task_id"])  # whole trajectories
    assert set(load_rows(config)["task_id"]) == tasks  # seeded
    with pytest.raises(Mem1InputError, match="max_rows or max_tasks, not both"):
        _config(tmp_path, data=str(folder), max_tasks=2, max_rows=3)
    with pytest.raises(Mem1InputError, match="max_tasks must be >= 1"):
        _config(tmp_path, data=str(folder), max_tasks=0)


def test_several_sources_and_min_reward_for_rejection_sampling(expert_rows, tmp_path):
    """`data: A,B` trains on both; `min_reward` keeps the rows of tasks that scored at least it
    (a model's own successful rollouts beside the expert's)."""
    expert, own = tmp_path / "expert", tmp_path / "own"
    for folder, rewards in ((expert, None), (own, [float(i % 2) for i in range(len(expert_rows))])):
        (folder / "data").mkdir(parents=True)
        rows = (
            expert_rows
            if rewards is None
            else expert_rows.remove_columns("reward").add_column("reward", rewards)
        )
        rows.to_parquet(str(folder / "data" / "train.parquet"))
    both = load_rows(_config(tmp_path, data=f"{expert},{own}"))
    assert len(both) == 2 * len(expert_rows)
    kept = load_rows(_config(tmp_path, data=f"{expert},{own}", min_reward=1.0))
    expert_kept = sum(r >= 1.0 for r in expert_rows["reward"])
    assert len(kept) == expert_kept + len(expert_rows) // 2
    with pytest.raises(Mem1InputError, match="no row has reward >= 2.0"):
        load_rows(_config(tmp_path, data=str(own), min_reward=2.0))
