"""MEM1PPOTrainer end to end on a tiny random Llama (real SmolLM2 tokenizer, real BM25 over
HotpotQA): PPO and GRPO steps change the weights, are reproducible with a seed, and a run
interrupted and resumed from its checkpoint reaches the same weights as an uninterrupted one.
Bad input gives one clear error.

A random model never answers, so its EM is always 0; where a test needs rewards that differ
within a GRPO group it passes a simple real reward function (``reward_funcs``; here the share of
even sampled token ids), which is what TRL users do for custom rewards."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_llama
from datasets import Dataset

from mem1_hf.errors import Mem1InputError
from mem1_hf.training import MEM1PPOConfig, MEM1PPOTrainer


def _dataset(hotpot_questions, n=4):
    rows = [hotpot_questions[i : i + 2] for i in range(0, 2 * n, 2)]
    return Dataset.from_dict(
        {
            "task_id": [f"t{i}" for i in range(n)],
            "questions": [[q for q, _ in r] for r in rows],
            "answers": [[list(a) for _, a in r] for r in rows],
        }
    )


def _critic(tokenizer):
    return make_tiny_llama(tokenizer, head="critic", seed=1)


def _args(tmp_path, **overrides):
    settings = dict(
        output_dir=str(tmp_path),
        report_to="none",
        per_device_train_batch_size=2,
        num_mini_batches=2,
        num_ppo_epochs=1,
        max_steps=2,
        response_length=8,
        max_turns=2,
        max_obs_tokens=24,
        topk=1,
        rollout_batch_size=4,
        seed=3,
        logging_steps=1,
        save_steps=1,
        learning_rate=1e-3,
        critic_learning_rate=1e-3,
        disable_tqdm=True,
        micro_batch_trajectories=1,
    )
    return MEM1PPOConfig(**{**settings, **overrides})


def even_token_reward(trajectory, task) -> float:
    """The share of sampled ids that are even: varies between rollouts of one task."""
    ids = [i for t in trajectory.turns for i in t.output_ids]
    return sum(i % 2 == 0 for i in ids) / max(len(ids), 1)


def _trainer(tmp_path, tokenizer, env, data, estimator="gae", reward=even_token_reward, **overrides):
    policy = make_tiny_llama(tokenizer)
    if estimator == "grpo":
        args = _args(tmp_path, advantage_estimator="grpo", num_generations=2, **overrides)
        return MEM1PPOTrainer(
            args=args,
            processing_class=tokenizer,
            model=policy,
            train_dataset=data,
            env=env,
            reward_funcs=[reward],
        )
    args = _args(tmp_path, **overrides)
    return MEM1PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        value_model=_critic(tokenizer),
        train_dataset=data,
        env=env,
    )


def _weights(trainer) -> dict[str, torch.Tensor]:
    model = trainer.accelerator.unwrap_model(trainer.policy)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def data(hotpot_questions):
    return _dataset(hotpot_questions)


@pytest.mark.parametrize("estimator", ["gae", "grpo"])
def test_steps_change_weights_and_are_reproducible(tmp_path, tokenizer, hotpot_env, data, estimator):
    first = _trainer(tmp_path / "a", tokenizer, hotpot_env, data, estimator)
    before = _weights(first)
    metrics = first.train()
    after = _weights(first)
    assert any(not torch.equal(before[k], after[k]) for k in before), "no weight changed"
    assert metrics["rollout/logprob_diff"] <= 1e-4  # packed replay equals the rollout
    for key in ("objective/kl", "loss/policy_avg", "rollout/turns", "rollout/peak_tokens", "rollout/em"):
        assert key in metrics
    second = _trainer(tmp_path / "b", tokenizer, hotpot_env, data, estimator)
    second.train()
    again = _weights(second)
    assert all(torch.equal(after[k], again[k]) for k in after), "same seed, different weights"


def test_resume_reaches_the_same_weights(tmp_path, tokenizer, hotpot_env, data):
    straight = _trainer(tmp_path / "straight", tokenizer, hotpot_env, data)
    straight.train()
    expected = _weights(straight)

    interrupted = _trainer(tmp_path / "resumed", tokenizer, hotpot_env, data, max_steps=2)
    interrupted.total_steps = 1  # stop after the first step, as an interrupt would
    interrupted.train()
    checkpoint = tmp_path / "resumed" / "checkpoint-1"
    assert (checkpoint / "optimizer.pt").is_file() and (checkpoint / "critic" / "model.safetensors").is_file()
    resumed = _trainer(tmp_path / "resumed", tokenizer, hotpot_env, data)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 2
    got = _weights(resumed)
    for k in expected:
        assert torch.allclose(expected[k], got[k], atol=1e-6), k


def test_bad_input_is_one_clear_error(tmp_path, tokenizer, hotpot_env, data):
    policy = make_tiny_llama(tokenizer)
    with pytest.raises(Mem1InputError, match="composed fields"):
        MEM1PPOTrainer(
            args=_args(tmp_path),
            processing_class=tokenizer,
            model=policy,
            value_model=_critic(tokenizer),
            train_dataset=Dataset.from_dict({"text": ["x"]}),
            env=hotpot_env,
        )
    with pytest.raises(Mem1InputError, match="logprob_mode"):
        _args(tmp_path, logprob_mode="rows")
    with pytest.raises(Mem1InputError, match="ForSequenceClassification"):
        MEM1PPOTrainer(
            args=_args(tmp_path),
            processing_class=tokenizer,
            model=policy,
            value_model=make_tiny_llama(tokenizer),
            train_dataset=data,
            env=hotpot_env,
        )
    flash = make_tiny_llama(tokenizer)
    flash.config._attn_implementation = "flash_attention_2"
    with pytest.raises(Mem1InputError, match="4D attention masks"):
        MEM1PPOTrainer(
            args=_args(tmp_path),
            processing_class=tokenizer,
            model=flash,
            value_model=_critic(tokenizer),
            train_dataset=data,
            env=hotpot_env,
        )
    with pytest.raises(Mem1InputError, match="num_generations"):
        _args(tmp_path, advantage_estimator="grpo", num_generations=1)


def test_lora_trains_only_the_adapter_and_its_reference_is_the_base(tmp_path, tokenizer, hotpot_env, data):
    from peft import LoraConfig

    base = make_tiny_llama(tokenizer)
    original = {k: v.clone() for k, v in base.state_dict().items()}
    args = _args(tmp_path, advantage_estimator="grpo", num_generations=2, max_steps=2, kl_coef=0.5)
    trainer = MEM1PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=base,
        train_dataset=data,
        env=hotpot_env,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        reward_funcs=[even_token_reward],
    )
    assert trainer.ref_model is None  # no second copy: the reference is the policy without its adapter
    metrics = trainer.train()
    policy = trainer.accelerator.unwrap_model(trainer.policy)
    changed = {k for k, v in policy.state_dict().items() if "lora_" in k}
    assert changed
    for name, param in policy.named_parameters():
        if "lora_" not in name:
            assert not param.requires_grad, name
    merged_view = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v
        for k, v in policy.state_dict().items()
        if "lora_" not in k
    }
    for k, v in original.items():
        assert torch.equal(merged_view[k], v), f"base weight {k} changed"
    assert metrics["objective/kl"] != 0.0  # the adapter moved away from the reference
    # with the adapter disabled the policy is the untouched base model
    ids = torch.tensor([tokenizer("Who founded Yale?")["input_ids"]])
    fresh = make_tiny_llama(tokenizer)
    with torch.no_grad(), policy.disable_adapter():
        assert torch.allclose(policy(input_ids=ids).logits, fresh(input_ids=ids).logits, atol=1e-6)
        assert not torch.allclose(policy(input_ids=ids).logits, fresh(input_ids=ids).logits + 1)


def test_checkpointing_bf16_and_grad_clipping_are_applied(tmp_path, tokenizer, hotpot_env, data):
    trainer = _trainer(
        tmp_path,
        tokenizer,
        hotpot_env,
        data,
        gradient_checkpointing=True,
        bf16=True,
        max_grad_norm=1e-3,
        max_steps=1,
    )
    policy = trainer.accelerator.unwrap_model(trainer.policy)
    assert getattr(policy, "is_activation_checkpointing", None) or policy.is_gradient_checkpointing
    seen = {}
    real_clip = trainer.accelerator.clip_grad_norm_

    def spy(parameters, max_norm):  # records the norm, then really clips
        parameters = list(parameters)
        norm = real_clip(parameters, max_norm)
        after = torch.norm(torch.stack([p.grad.norm() for p in parameters if p.grad is not None]))
        seen.setdefault("pairs", []).append((float(norm), float(after)))
        return norm

    trainer.accelerator.clip_grad_norm_ = spy
    metrics = trainer.train()
    assert metrics["grad_norm"] > 1e-3
    assert all(after <= 1e-3 * 1.01 for _, after in seen["pairs"])
    assert trainer._mask_dtype() == torch.bfloat16


def test_4bit_training_on_cpu_is_one_clear_error(tmp_path, tokenizer, hotpot_env, data):
    """bitsandbytes 0.50 loads and runs 4-bit (NF4) layers on the CPU, but its CPU kernels have no
    backward: LoRA gradients through them are silently None (checked). QLoRA needs a GPU; on the CPU
    the trainer says so instead of training nothing."""
    pytest.importorskip("bitsandbytes")
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    make_tiny_llama(tokenizer).save_pretrained(tmp_path / "tiny")
    quant = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
    )
    policy = AutoModelForCausalLM.from_pretrained(
        tmp_path / "tiny", quantization_config=quant, device_map={"": "cpu"}
    )
    assert type(policy.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    args = _args(tmp_path / "run", advantage_estimator="grpo", num_generations=2, max_steps=1)
    with pytest.raises(Mem1InputError, match="needs a CUDA GPU"):
        MEM1PPOTrainer(
            args=args,
            processing_class=tokenizer,
            model=policy,
            train_dataset=data,
            env=hotpot_env,
            peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
        )


def test_webshop_goals_train_through_the_same_trainer(tmp_path, tokenizer):
    """WebShop goal rows are tasks too: the rollout runs WebShop sessions, the reward is the shop's."""
    from conftest import SHARED_DATA

    from mem1_hf.envs import WebShopEnv

    shop = WebShopEnv.from_files(
        products=SHARED_DATA / "webshop" / "webshop_small_1000_products.json.gz",
        attributes=SHARED_DATA / "webshop" / "items_ins_v2_1000.json",
    )
    goals = Dataset.from_dict({"goal_id": [g.goal_id for g in shop.goals("train")[:2]]})
    args = _args(tmp_path, prompt_profile="mem1-webshop", max_steps=1, max_turns=2, max_obs_tokens=64)
    trainer = MEM1PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=make_tiny_llama(tokenizer),
        value_model=_critic(tokenizer),
        train_dataset=goals,
        env=shop,
    )
    metrics = trainer.train()
    assert metrics["rollout/turns"] == 2 and "rollout/em" not in metrics
    assert metrics["loss/value_avg"] > 0


def test_reward_follows_the_scoring_options(tokenizer, hotpot_env):
    """EM with the count rule (our default) vs MEM1's positional training reward (no count rule)."""
    from mem1_hf.loop import AgentLoop, LoopConfig
    from mem1_hf.policy import ScriptedPolicy
    from mem1_hf.task_env import Task, as_task_env
    from mem1_hf.training.rollout import score_reward

    task = Task("t", ["Who founded Yale?", "When?"], golds=[["Elihu Yale"], ["1701"]])
    policy = ScriptedPolicy(tokenizer, {"0:t": ["<think>one answer only</think><answer>Elihu Yale</answer>"]})
    task_env = as_task_env(hotpot_env, "mem1-qa", 1)
    trajectory = AgentLoop(policy, task_env, LoopConfig(max_turns=2)).run([task])[0]
    assert score_reward(task_env.score(trajectory), "em") == 0.0  # one answer for two questions: 0
    assert score_reward(task_env.score(trajectory, count_rule=False), "em") == 0.5


def test_tied_groups_are_left_out_of_the_update(tmp_path, tokenizer, hotpot_env, data):
    """`drop_tied_groups` (DAPO's filter): a step whose GRPO groups all tie makes no update at all
    (not even the KL term's), while groups whose rewards differ still train."""

    def tied(trajectory, task) -> float:  # every rollout of a task scores the same
        return float(len(task.questions))

    trainer = _trainer(
        tmp_path / "tied",
        tokenizer,
        hotpot_env,
        data,
        "grpo",
        reward=tied,
        drop_tied_groups=True,
        kl_coef=0.1,
    )
    before = _weights(trainer)
    metrics = trainer.train()
    assert metrics["rollout/informative_groups"] == 0.0
    after = _weights(trainer)
    assert all(torch.equal(before[k], after[k]) for k in before), "a tied step changed the weights"

    informative = _trainer(tmp_path / "even", tokenizer, hotpot_env, data, "grpo", drop_tied_groups=True)
    before = _weights(informative)
    metrics = informative.train()
    assert metrics["rollout/informative_groups"] > 0  # sampled ids differ, so (mostly) do their shares
    after = _weights(informative)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_invalid_action_penalty_is_taken_per_invalid_turn(tmp_path, tokenizer, hotpot_env, data):
    """`invalid_action_penalty`: the reward loses the penalty once per invalid turn (the tiny random
    model's turns are mostly invalid), so a step's mean score is 1 − 0.5 × invalid turns."""
    trainer = _trainer(
        tmp_path / "pen",
        tokenizer,
        hotpot_env,
        data,
        "grpo",
        reward=lambda trajectory, task: 1.0,
        invalid_action_penalty=0.5,
        max_steps=1,
    )
    metrics = trainer.train()
    assert metrics["rollout/invalid_actions"] > 0
    assert metrics["objective/scores"] == pytest.approx(1.0 - 0.5 * metrics["rollout/invalid_actions"])
