"""The shipped WebShop agent: SmolLM2-135M-Instruct + the WebShop adapter in the package.

``--model`` unset (or ``default``) under the WebShop family resolves to base + that adapter,
merged once into the cache, offline; its first action on a held-out test goal is a valid search.
"""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA, require_data

from mem1_hf.defaults import DEFAULT_BASE_HUB_ID, default_adapter_path, default_agent_path, resolve_model_spec
from mem1_hf.families.webshop import WebShopEnv, WebShopTaskEnv
from mem1_hf.loop import AgentLoop, LoopConfig, Task
from mem1_hf.model_loading import load_model
from mem1_hf.policy import ModelPolicy, PolicyConfig
from mem1_hf.prompts import get_profile

WEBSHOP = SHARED_DATA / "webshop"


def test_the_webshop_adapter_is_shipped_small_on_the_hub_base():
    adapter = default_adapter_path("webshop")
    assert adapter is not None and adapter.name == "mem1-smollm2-135m-webshop"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["base_model_name_or_path"] == DEFAULT_BASE_HUB_ID
    size = sum(f.stat().st_size for f in adapter.iterdir())
    assert size <= 16 * 2**20, f"the WebShop adapter is {size / 2**20:.1f} MB (limit 16 MB)"
    assert (adapter / "TRAINING.md").is_file()


@pytest.mark.slow
def test_the_webshop_agent_resolves_offline_and_first_searches(tmp_path, monkeypatch, default_path):
    require_data()
    monkeypatch.setenv("MEM1_HF_HOME", str(tmp_path))  # an empty cache: the merge happens here
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / default_path.name).symlink_to(default_path)
    path = default_agent_path("webshop")
    assert path == tmp_path / "models" / "mem1-smollm2-135m-webshop"
    assert resolve_model_spec(None, "webshop") == resolve_model_spec("default", "webshop") == str(path)
    assert resolve_model_spec(None) != str(path)  # QA's default agent is another model
    model, tokenizer = load_model(None, family="webshop")
    shop = WebShopEnv.from_files(
        WEBSHOP / "webshop_small_1000_products.json.gz", WEBSHOP / "items_ins_v2_1000.json", seed=0
    )
    task_env = WebShopTaskEnv(shop, get_profile("mem1-webshop"))
    config = LoopConfig(prompt_profile="mem1-webshop", max_turns=1, max_obs_tokens=512)
    policy = ModelPolicy(model, tokenizer, config.profile, PolicyConfig(128).generation_config())
    goals = shop.goals("test")[:2]
    for trajectory in AgentLoop(policy, task_env, config).run([Task.from_row(g) for g in goals]):
        first = trajectory.turns[0].parsed
        assert first.action == "answer" and first.content.startswith("search["), trajectory.turns[0].response
        assert first.content.endswith("]") and len(first.content) > len("search[]")


@pytest.mark.slow
def test_pipeline_with_no_model_and_a_shop_runs_the_webshop_agent(tmp_path, monkeypatch, default_path):
    """`pipeline("mem1-agent", env=shop)`: transformers loads the task's default (the QA agent)
    before the environment is known; the WebShop environment then gets the shipped WebShop agent,
    at its own settings (agent_config.json: mem1-webshop, 10 turns)."""
    from transformers import pipeline

    import mem1_hf  # noqa: F401 (registers the task)

    require_data()
    monkeypatch.setenv("MEM1_HF_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / default_path.name).symlink_to(default_path)
    shop = WebShopEnv.from_files(
        WEBSHOP / "webshop_small_1000_products.json.gz", WEBSHOP / "items_ins_v2_1000.json", seed=0
    )
    agent = pipeline("mem1-agent", env=shop)
    out = agent(shop.goals("test")[0].goal_id, max_turns=1)
    assert agent.model.name_or_path == str(tmp_path / "models" / "mem1-smollm2-135m-webshop")
    assert agent.checkpoint_agent_config.prompt_profile == "mem1-webshop"
    first = out["turns"][0]
    assert first["action"] == "answer" and first["answer"].startswith("search["), first["response"]
