"""SFT warm start: TRL SFTTrainer + LoRA on real expert turn rows; loss on response tokens only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import HOTPOT_DEV, make_tiny_llama

from mem1_hf.data.qa_sources import read_qa_file
from mem1_hf.data.trajectories import turn_rows
from mem1_hf.errors import Mem1InputError
from mem1_hf.families.qa.expert import QAExpertPolicy, QAGold
from mem1_hf.loop import AgentLoop, LoopConfig, Task
from mem1_hf.training.sft import QASFTConfig, build_trainer, main, parse_config, run_sft

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rows(tokenizer, hotpot_env):
    """Real turn rows: the expert on 3 HotpotQA dev questions over real BM25 (short observations)."""
    from datasets import Dataset

    records = read_qa_file(HOTPOT_DEV, limit=3)
    golds = {r.id: QAGold([r.question], [r.answers], [r.gold_titles]) for r in records}
    config = LoopConfig(max_turns=4, topk=1, max_obs_tokens=64)
    policy = QAExpertPolicy(tokenizer, golds, max_turns=4)
    trajectories = AgentLoop(policy, hotpot_env, config).run([Task(r.id, [r.question]) for r in records])
    out = [row for tr in trajectories for row in turn_rows(tr, tokenizer, golds[tr.task.id].answers, {})]
    assert len(out) >= 4
    return Dataset.from_list(
        [{"input_ids": r["input_ids"], "completion_mask": r["completion_mask"]} for r in out]
    )


def _config(tmp_path, **overrides) -> QASFTConfig:
    settings = dict(
        data="rows",
        output_dir=str(tmp_path / "sft"),
        per_device_train_batch_size=2,
        max_steps=2,
        lora_dropout=0.0,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
    )
    return QASFTConfig(**{**settings, **overrides})


def test_the_loss_covers_only_the_response_tokens(tmp_path, rows, tokenizer):
    trainer = build_trainer(_config(tmp_path), make_tiny_llama(tokenizer), tokenizer, rows)
    prepared = trainer.train_dataset
    for original, row in zip(rows, prepared):
        mask = original["completion_mask"]
        expected = [t if m else -100 for t, m in zip(original["input_ids"], mask)]
        assert row["labels"] == expected  # prompt, memory and observation tokens carry no loss
        assert 0 < sum(mask) < len(mask)
    batch = trainer.data_collator([prepared[0], prepared[1]])
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch))
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    # the same loss by hand, from completion_mask only
    width = batch["input_ids"].shape[1]
    masks = [
        torch.tensor(rows[i]["completion_mask"] + [0] * (width - len(rows[i]["completion_mask"])))
        for i in (0, 1)
    ]
    keep = torch.stack(masks)[:, 1:].bool()
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token_logp = logp.gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
    response_only = -token_logp[keep].mean()
    everything = -token_logp[batch["attention_mask"][:, 1:].bool()].mean()
    assert torch.allclose(loss, response_only, atol=1e-5)
    assert not torch.allclose(loss, everything, atol=1e-3)


def test_completion_only_loss_cannot_be_turned_off(tmp_path):
    with pytest.raises(Mem1InputError, match="completion_only_loss"):
        _config(tmp_path, completion_only_loss=False)


@pytest.mark.slow
def test_sft_on_four_rows_changes_only_the_adapter(tmp_path, rows, default_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(default_path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(default_path)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    config = _config(tmp_path, learning_rate=1e-3)
    trainer = run_sft(config, base, tokenizer, rows.select(range(4)))
    assert trainer.state.global_step == 2
    lora, frozen = 0, 0
    for name, param in trainer.model.named_parameters():
        if "lora_" in name:
            assert param.requires_grad
            lora += int("lora_B" in name and param.abs().sum() > 0)  # B starts at zero
        else:
            key = name.replace("base_model.model.", "", 1).replace(".base_layer", "")
            assert not param.requires_grad and torch.equal(param, before[key]), name
            frozen += 1
    assert lora > 0 and frozen == len(before) - (
        1 if "lm_head.weight" in before and base.config.tie_word_embeddings else 0
    )
    out = Path(config.output_dir)
    assert (out / "adapter_model.safetensors").is_file() and (out / "sft_summary.json").is_file()
    # the saved folder loads offline as base + adapter and differs from the base
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    ids = torch.tensor([rows[0]["input_ids"]])
    plain = AutoModelForCausalLM.from_pretrained(default_path, dtype=torch.float32)
    with torch.no_grad():
        assert not torch.allclose(loaded(ids).logits, plain(ids).logits, atol=1e-4)


def test_yaml_config_with_routing_key_and_overrides(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"trainer: sft\ndata: {tmp_path}/rows\nlora_r: 8\noutput_dir: {tmp_path}/o\nuse_cpu: true\n"
    )
    parsed = parse_config(["--config", str(config), "--lora_r", "4", "--num_train_epochs", "2"])
    assert parsed.lora_r == 4 and parsed.num_train_epochs == 2 and parsed.completion_only_loss is True
    assert parsed.data == f"{tmp_path}/rows" and parsed.lora_config().target_modules == "all-linear"
    shipped = parse_config(["--config", str(REPO / "configs" / "qa_sft_lora_cpu.yaml")])
    assert shipped.lora_r == 16 and shipped.completion_only_loss is True and shipped.base_model is None


def test_config_mistakes_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: sft\ndata: x\nlora_rank: 8\n")
    with pytest.raises(Mem1InputError, match="lora_rank"):
        parse_config(["--config", str(bad)])
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["--config", str(bad)]) == 2
    (tmp_path / "nodata.yaml").write_text("trainer: sft\nuse_cpu: true\n")
    assert main(["--config", str(tmp_path / "nodata.yaml")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
