"""The shipped default agent: SmolLM2-135M-Instruct + the trained adapter in the package.

Resolution (``defaults.resolve_model_spec``): no model / ``default`` → base + adapter merged once
into the cache; ``base`` → the untrained base; the adapter folder itself loads offline onto the
local base though it names the base by Hub id. The demo's first turn with it is a valid search.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from mem1_hf.defaults import (
    DEFAULT_BASE_HUB_ID,
    PACKAGED_ADAPTER,
    default_adapter_path,
    default_agent_path,
    resolve_model_spec,
)
from mem1_hf.model_loading import load_model

pytestmark = pytest.mark.skipif(
    default_adapter_path() is None, reason="no adapter shipped in src/mem1_hf/adapters (make train-default)"
)


@pytest.fixture
def fresh_home(tmp_path, monkeypatch, default_path):
    """An empty MEM1_HF_HOME holding only the converted base model (no merged agent yet)."""
    monkeypatch.setenv("MEM1_HF_HOME", str(tmp_path))
    monkeypatch.delenv("MEM1_MODEL", raising=False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / default_path.name).symlink_to(default_path)
    return tmp_path


def test_shipped_adapter_is_small_and_names_its_hub_base():
    config = json.loads((PACKAGED_ADAPTER / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["base_model_name_or_path"] == DEFAULT_BASE_HUB_ID
    size = sum(f.stat().st_size for f in PACKAGED_ADAPTER.iterdir())
    assert size <= 16 * 2**20, f"the shipped adapter is {size / 2**20:.1f} MB (limit 16 MB)"


def test_default_resolves_to_base_plus_adapter_merged_once(fresh_home, default_path):
    path = default_agent_path()
    assert path == fresh_home / "models" / "mem1-smollm2-135m"
    assert resolve_model_spec(None) == resolve_model_spec("default") == str(path)
    assert resolve_model_spec("base") == str(fresh_home / "models" / default_path.name)
    assert resolve_model_spec("org/other") == "org/other"
    # the merged weights are the base's plus the adapter's B·A (alpha / r scale), module by module
    merged = load_file(str(path / "model.safetensors"))
    base = load_file(str(default_path / "model.safetensors"))
    adapter = load_file(str(PACKAGED_ADAPTER / "adapter_model.safetensors"))
    config = json.loads((PACKAGED_ADAPTER / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    name = "model.layers.0.self_attn.q_proj.weight"
    a = adapter["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].float()
    b = adapter["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"].float()
    torch.testing.assert_close(merged[name], base[name] + scale * b @ a, atol=1e-5, rtol=1e-5)
    assert (merged[name] - base[name]).abs().max() > 1e-3  # the adapter is not a no-op
    # merged once: a second call reuses the cached folder
    stamp = os.stat(path / "model.safetensors").st_mtime_ns
    assert default_agent_path() == path and os.stat(path / "model.safetensors").st_mtime_ns == stamp


def test_the_adapter_folder_loads_offline_like_the_merged_default(fresh_home):
    ids = torch.tensor([[1, 504, 3158, 314, 260, 3593, 30]])
    via_adapter, _ = load_model(str(PACKAGED_ADAPTER))
    merged = AutoModelForCausalLM.from_pretrained(default_agent_path(), dtype=torch.float32).eval()
    with torch.no_grad():
        torch.testing.assert_close(via_adapter(ids).logits, merged(ids).logits, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_demo_first_turn_with_the_shipped_adapter_is_a_valid_search(fresh_home):
    """The real trained model in the demo's runner: its first action is a well-formed search."""
    from mem1_hf.demo.runner import DemoRunner

    runner = DemoRunner.from_env()
    assert runner.model_name == str(default_agent_path())
    question = "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"
    # two turns: on a task's last turn searching is banned (the agent must answer)
    *_, final = runner.stream([question], ["mem1"], max_turns=2)
    turn = final.runs["mem1"].turns[0]
    assert turn["action"] == "search", (turn["response"], turn["stop_reason"])
    assert turn["query"].strip() and "<" not in turn["query"]


def test_the_recipe_configs_parse():
    """`make train-default`'s three configs and the GRPO experiments load with the trainers' own
    parsers (a misspelt key is an error); the experiment trains on two composed folders at once."""
    from pathlib import Path

    from mem1_hf.train import parse
    from mem1_hf.training.sft import parse_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    sft = parse_config(["--config", str(configs / "default_agent_sft.yaml")])
    assert sft.completion_only_loss is True and sft.merge is True
    more = parse_config(["--config", str(configs / "default_agent_sft2.yaml")])
    assert (
        more.completion_only_loss is True and more.base_model.endswith("sft/merged") and more.seed != sft.seed
    )
    script, args, model_args, scoring = parse(["--config", str(configs / "default_agent_grpo.yaml")])
    assert args.advantage_estimator == "grpo" and args.num_generations >= 2 and args.reward_metric == "em"
    assert (
        args.drop_tied_groups and scoring.count_rule and model_args.model_name_or_path.endswith("sft2/merged")
    )
    shop_sft = parse_config(["--config", str(configs / "webshop_sft.yaml")])
    assert shop_sft.completion_only_loss is True and shop_sft.data.endswith("webshop/traj_sft")
    script, args, model_args, _ = parse(
        [
            "--config",
            str(configs / "webshop_grpo.yaml"),
            "--env",
            "webshop",
            "--products",
            "p",
            "--attributes",
            "a",
        ]
    )
    assert script.env == "webshop" and args.advantage_estimator == "grpo" and args.num_generations >= 2
    assert model_args.model_name_or_path.endswith("webshop/sft/merged") and args.format_reward == 0.0
    run1 = parse(["--config", str(configs / "experiments" / "default_agent_grpo_run1.yaml")])
    assert run1[1].format_reward > 0 and run1[2].model_name_or_path.endswith("default/sft/merged")
    script, args, model_args, scoring = parse(
        ["--config", str(configs / "experiments" / "default_agent_grpo_curriculum.yaml")]
    )
    assert script.data.endswith("qa_2obj_scored") and args.drop_tied_groups and scoring.count_rule
    script, args, _, scoring = parse(
        ["--config", str(configs / "experiments" / "default_agent_grpo_f1.yaml")]
    )
    assert args.reward_metric == "f1" and scoring.count_rule is False and args.format_reward == 0.0
    assert [Path(p).name for p in script.data.split(",")] == ["qa_1obj", "qa_2obj"]
    script, args, _, scoring = parse(
        ["--config", str(configs / "experiments" / "default_agent_grpo_f1_long.yaml")]
    )
    assert args.reward_metric == "f1" and scoring.count_rule is True and args.lr_scheduler_type == "constant"
    assert args.max_steps > args.save_steps > 0
    _, epochs, _, _ = parse(["--config", str(configs / "experiments" / "default_agent_grpo_epochs.yaml")])
    assert epochs.num_ppo_epochs == 4 and epochs.drop_tied_groups and epochs.kl_coef == 0.02
