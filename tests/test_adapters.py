"""The default agent's one adapter equals SFT adapter + RL adapter applied in turn (training/adapters.py)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_tiny_llama
from peft import LoraConfig, PeftModel, get_peft_model

from mem1_hf.errors import Mem1InputError
from mem1_hf.training.adapters import chain_lora_adapters, concat_lora_adapters

MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _random_lora(model, r: int, alpha: int, modules: list[str], seed: int):
    torch.manual_seed(seed)
    peft = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=modules))
    for name, param in peft.named_parameters():
        if "lora_" in name:  # B starts at zero: give both factors real values, as after training
            torch.nn.init.normal_(param, std=0.05)
    return peft


def test_concatenated_adapter_equals_the_two_applied_in_turn(tokenizer, tmp_path):
    base = make_tiny_llama(tokenizer)
    base.save_pretrained(tmp_path / "base")
    ids = torch.tensor([tokenizer("Who is older, Annie Morton or Terry Richardson?")["input_ids"]])

    # stage 1 (SFT): r=8 adapter on the base, saved, then merged
    sft = _random_lora(type(base).from_pretrained(tmp_path / "base"), 8, 16, MODULES, 0)
    sft.save_pretrained(tmp_path / "sft")
    merged = sft.merge_and_unload()
    # stage 2 (RL): r=4 adapter on the merged model, on fewer modules (a zero block fills the rest)
    rl = _random_lora(merged, 4, 32, MODULES[:4], 1)
    rl.save_pretrained(tmp_path / "rl")
    with torch.no_grad():
        expected = rl(ids).logits

    out = concat_lora_adapters(tmp_path / "sft", tmp_path / "rl", tmp_path / "one", dtype=torch.float32)
    config = json.loads((out / "adapter_config.json").read_text())
    assert (
        config["r"] == 12
        and config["lora_alpha"] == 12
        and sorted(config["target_modules"]) == sorted(MODULES)
    )
    fresh = type(base).from_pretrained(tmp_path / "base").eval()
    one = PeftModel.from_pretrained(fresh, str(out)).eval()
    with torch.no_grad():
        got = one(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    # the adapter really changes the model (the comparison above is not base vs base)
    with torch.no_grad(), one.disable_adapter():
        assert (one(ids).logits - expected).abs().max() > 1e-2

    # float16 storage (the shipped default's) stays within rounding of the exact result
    half = concat_lora_adapters(tmp_path / "sft", tmp_path / "rl", tmp_path / "half")
    loaded = PeftModel.from_pretrained(type(base).from_pretrained(tmp_path / "base").eval(), str(half))
    with torch.no_grad():
        assert (loaded(ids).logits - expected).abs().max() < 5e-2


def test_three_stages_chain_into_one_adapter(tokenizer, tmp_path):
    """The recipe's SFT, SFT continued and RL adapters (each on the merged model of the ones
    before) become one adapter of rank 8 + 8 + 4 with the same outputs."""
    base = make_tiny_llama(tokenizer)
    base.save_pretrained(tmp_path / "base")
    ids = torch.tensor(
        [tokenizer("Which magazine was started first, Arthur's or First for Women?")["input_ids"]]
    )
    model = type(base).from_pretrained(tmp_path / "base")
    stages = [("sft", 8, 16, MODULES), ("sft2", 8, 16, MODULES), ("rl", 4, 8, MODULES[:4])]
    for seed, (name, r, alpha, modules) in enumerate(stages):
        peft = _random_lora(model, r, alpha, modules, seed)
        peft.save_pretrained(tmp_path / name)
        if name != "rl":
            model = peft.merge_and_unload()
    with torch.no_grad():
        expected = peft(ids).logits

    out = chain_lora_adapters([tmp_path / n for n, *_ in stages], tmp_path / "one", dtype=torch.float32)
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 20
    one = PeftModel.from_pretrained(type(base).from_pretrained(tmp_path / "base").eval(), str(out)).eval()
    with torch.no_grad():
        torch.testing.assert_close(one(ids).logits, expected, atol=1e-4, rtol=1e-4)
    # one stage (a recipe that ships SFT alone): the adapter itself, on the named base
    alone = chain_lora_adapters(
        [tmp_path / "sft"], tmp_path / "x", base_model="org/base", dtype=torch.float32
    )
    assert json.loads((alone / "adapter_config.json").read_text())["base_model_name_or_path"] == "org/base"
    sft = PeftModel.from_pretrained(
        type(base).from_pretrained(tmp_path / "base").eval(), str(tmp_path / "sft")
    )
    again = PeftModel.from_pretrained(type(base).from_pretrained(tmp_path / "base").eval(), str(alone))
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(ids).logits, sft.eval()(ids).logits)
    with pytest.raises(Mem1InputError, match="at least one"):
        chain_lora_adapters([], tmp_path / "y")


def test_refuses_what_is_not_a_lora_adapter(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(Mem1InputError, match="not a LoRA adapter"):
        concat_lora_adapters(tmp_path / "x", tmp_path / "x", tmp_path / "out")
