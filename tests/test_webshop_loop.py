"""WebShop through the agent loop: the scripted expert, the mem1-webshop profile and the modes."""

from __future__ import annotations

import pytest
from conftest import SHARED_DATA

from mem1_hf.errors import Mem1InputError
from mem1_hf.families.webshop import WebShopEnv, WebShopTaskEnv
from mem1_hf.families.webshop.expert_policy import WebShopExpertPolicy
from mem1_hf.loop import AgentLoop, LoopConfig, Task
from mem1_hf.policy import ScriptedPolicy
from mem1_hf.prompts import get_profile

WEBSHOP = SHARED_DATA / "webshop"


@pytest.fixture(scope="module")
def shop() -> WebShopEnv:
    return WebShopEnv.from_files(
        products=WEBSHOP / "webshop_small_1000_products.json.gz",
        attributes=WEBSHOP / "items_ins_v2_1000.json",
        seed=0,
    )


def _expert_run(shop, tokenizer, goals, mode):
    task_env = WebShopTaskEnv(shop, get_profile("mem1-webshop"))
    policy = WebShopExpertPolicy(tokenizer, task_env, max_turns=10)
    config = LoopConfig(mode=mode, prompt_profile="mem1-webshop", max_turns=10, batch_size=8)
    return AgentLoop(policy, task_env, config).run([Task.from_row(g) for g in goals])


def test_expert_through_the_loop_reaches_high_reward(shop, tokenizer):
    goals = shop.goals("test")[::50][:24]
    trajectories = _expert_run(shop, tokenizer, goals, "mem1")
    rewards = [t.reward or 0.0 for t in trajectories]
    assert all(t.stop_reason == "bought" for t in trajectories)
    assert sum(rewards) / len(rewards) >= 0.95
    for t in trajectories:  # mem1: prompt + one summary/action + one page, every turn
        prompt = len(t.history[0].ids)
        for k, turn in enumerate(t.turns[1:], start=1):
            response, page = t.history[2 * k - 1], t.history[2 * k]
            assert turn.context_tokens == prompt + (response.memory_span[1] - response.memory_span[0]) + len(
                page.ids
            )


def test_think_is_dropped_and_summary_kept(shop, tokenizer):
    trajectory = _expert_run(shop, tokenizer, shop.goals("test")[:1], "mem1")[0]
    second_input = tokenizer.decode(trajectory.turns[1].input_ids)
    assert "<summary>Searched:" in second_input and "<think>" not in second_input.split("Current page:")[-1]
    full = _expert_run(shop, tokenizer, shop.goals("test")[:1], "full_context")[0]
    assert "<think>I am on the" in tokenizer.decode(full.turns[-1].input_ids)  # full context keeps it
    assert full.turns[-1].context_tokens > trajectory.turns[-1].context_tokens


def test_invalid_responses_and_turn_limit(shop, tokenizer):
    goal = shop.goals("test")[0]
    task_env = WebShopTaskEnv(shop, get_profile("mem1-webshop"))
    script = {f"0:{goal.goal_id}": ["no tags", "<summary>s</summary><answer>click[nothing here]</answer>"]}
    config = LoopConfig(prompt_profile="mem1-webshop", max_turns=3)
    trajectory = AgentLoop(ScriptedPolicy(tokenizer, script), task_env, config).run([Task.from_row(goal)])[0]
    assert trajectory.stop_reason == "max_turns" and trajectory.reward is None
    assert "My previous action is invalid" in trajectory.turns[0].observation
    assert "Invalid action" in trajectory.turns[1].observation


def test_webshop_needs_its_profile(shop, tokenizer):
    with pytest.raises(Mem1InputError, match="mem1-webshop"):
        AgentLoop(ScriptedPolicy(tokenizer, {}), shop, LoopConfig(prompt_profile="mem1-qa"))


def test_pipeline_takes_a_goal_id(shop, tiny_model, tokenizer):
    from transformers import pipeline

    import mem1_hf  # noqa: F401

    agent = pipeline("mem1-agent", model=tiny_model, tokenizer=tokenizer, env=shop, device="cpu")
    goal = shop.goals("test")[0]
    out = agent(goal.goal_id, prompt_profile="mem1-webshop", max_turns=2, max_new_tokens=4)
    assert out["stop_reason"] == "max_turns" and len(out["turns"]) == 2
    assert "Available actions" in out["turns"][0]["observation"]
    with pytest.raises(Mem1InputError, match="unknown WebShop goal"):
        agent("not-a-goal", prompt_profile="mem1-webshop", max_turns=1)
