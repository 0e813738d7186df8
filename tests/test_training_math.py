"""The pieces of the PPO update, checked by hand: GAE across turns, GRPO grouping, the clipped
objective, and the trainer's gradient plumbing (checkpointing, clipping, bf16, LoRA reference)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import make_tiny_llama

from mem1_hf.training.advantages import gae, grpo_advantages, token_rewards
from mem1_hf.training.forward import action_logprobs
from mem1_hf.training.packing import Step, collate, turn_sequences
from mem1_hf.training.ppo_loss import ppo_objective


def test_gae_matches_a_hand_computation_over_three_turns():
    # three turns of 2, 1 and 2 action tokens, flattened in order; outcome reward 1 on the last token
    values = torch.tensor([0.1, 0.2, 0.4, 0.3, 0.6])
    rewards = torch.tensor([0.0, -0.01, 0.0, 0.0, 1.0])
    gamma, lam = 0.9, 0.8
    expected, next_adv = [0.0] * 5, 0.0
    for t in reversed(range(5)):
        # the last token of turn 1 (index 1) bootstraps from turn 2's first action token (index 2)
        next_value = values[t + 1].item() if t < 4 else 0.0
        delta = rewards[t].item() + gamma * next_value - values[t].item()
        next_adv = delta + gamma * lam * next_adv
        expected[t] = next_adv
    adv, ret = gae(rewards, values, gamma, lam)
    assert adv.tolist() == pytest.approx(expected, abs=1e-6)
    assert ret.tolist() == pytest.approx([a + v for a, v in zip(expected, values.tolist())], abs=1e-6)
    # gamma = lam = 1 (MEM1's): every advantage is the outcome minus the token's own value
    adv1, _ = gae(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.2, 0.5, 0.9]))
    assert adv1.tolist() == pytest.approx([0.8, 0.5, 0.1], abs=1e-6)


def test_token_rewards_put_the_outcome_on_the_last_action_token():
    logprobs = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.5, -2.0, -0.25])
    rewards, kl = token_rewards(2.0, logprobs, ref, kl_coef=0.1)
    assert kl.tolist() == pytest.approx([0.5, 0.0, -0.25])
    assert rewards.tolist() == pytest.approx([-0.05, 0.0, 2.025])


def test_grpo_groups_by_task_id_and_never_divides_by_zero():
    rewards = [1.0, 0.0, 1.0, 1.0, 0.5]
    groups = ["a", "a", "b", "b", "c"]
    adv = grpo_advantages(rewards, groups)
    assert adv[0] == pytest.approx(1.0) and adv[1] == pytest.approx(-1.0)  # (r - mean) / std, std = 0.5
    assert adv[2:] == [0.0, 0.0, 0.0]  # equal rewards, and a group of one: 0, no NaN
    assert all(not math.isnan(a) for a in adv)
    assert grpo_advantages([3.0], ["x"]) == [0.0]
    # the order of rows does not matter, only the group ids
    assert grpo_advantages([0.0, 1.0, 1.0, 0.0], ["a", "b", "a", "b"]) == pytest.approx(
        [-1.0, 1.0, 1.0, -1.0]
    )


def test_clipped_objective():
    adv = torch.tensor([1.0, -1.0])
    old = torch.zeros(2)
    new = torch.log(torch.tensor([1.5, 0.5]))  # ratios 1.5 and 0.5: both outside [0.8, 1.2]
    out = ppo_objective(new, old, adv, torch.ones(2), cliprange=0.2)
    # positive advantage: min(1.5, 1.2)·1 -> loss -1.2; negative: max(-0.5, -0.8)... loss max(0.5, 0.8) = 0.8
    assert out["pg_loss_sum"].item() == pytest.approx(-1.2 + 0.8)
    assert out["clipfrac_sum"].item() == 2
    values = ppo_objective(
        new,
        old,
        adv,
        torch.ones(2),
        0.2,
        new_values=torch.tensor([1.0, 0.0]),
        old_values=torch.tensor([0.0, 0.0]),
        returns=torch.tensor([1.0, 1.0]),
        cliprange_value=0.5,
    )
    # token 0: max((1-1)^2, (0.5-1)^2) = 0.25; token 1: max(1, 1) = 1; half of the sum
    assert values["vf_loss_sum"].item() == pytest.approx(0.5 * 1.25)


def _grads(model, tokenizer, checkpointing: bool):
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    ids = tokenizer("<think>a memory</think><search>q</search>", add_special_tokens=False)["input_ids"]
    batch = collate(turn_sequences([Step([], ids[:5], ids[5:])]), tokenizer.pad_token_id, torch.float32)
    logprobs, _ = action_logprobs(model, batch)
    (-logprobs.sum()).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_gives_the_same_gradients(tokenizer):
    plain = _grads(make_tiny_llama(tokenizer), tokenizer, checkpointing=False)
    checkpointed = _grads(make_tiny_llama(tokenizer), tokenizer, checkpointing=True)
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        assert torch.allclose(plain[name], checkpointed[name], atol=1e-6), name
