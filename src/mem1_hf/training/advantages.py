"""Advantages for multi-turn trajectories: GAE across turns, and GRPO by task group.

A trajectory's action tokens (every sampled id of every turn, in order) form one chain of
decisions. Observation tokens are not actions: they get no reward, no advantage and no loss.

* :func:`gae` — generalised advantage estimation over that chain: the last token of turn *t*
  bootstraps from the value at the first action token of turn *t+1*; the outcome reward sits on
  the final action token (γ = λ = 1 by default, as MEM1).
* :func:`grpo_advantages` — one scalar per trajectory, ``(r - mean_group) / std_group`` over the
  rollouts of the same task id, broadcast to all of its action tokens. A group of one (or of equal
  rewards) gets 0, never a division by zero.

Example:
    >>> import torch
    >>> adv, ret = gae(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 0.5, 0.5]), gamma=1.0, lam=1.0)
    >>> adv.tolist(), ret.tolist()
    ([0.5, 0.5, 0.5], [1.0, 1.0, 1.0])
    >>> grpo_advantages([1.0, 0.0, 1.0], ["a", "a", "b"], scale_by_std=False)
    [0.5, -0.5, 0.0]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch


def token_rewards(
    score: float, logprobs: torch.Tensor, ref_logprobs: torch.Tensor | None, kl_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-action-token rewards: ``-kl_coef · (log π - log π_ref)`` (k1) plus ``score`` on the last token.

    Returns ``(rewards, kl)``.
    """
    kl = (logprobs - ref_logprobs) if ref_logprobs is not None else torch.zeros_like(logprobs)
    rewards = -kl_coef * kl
    rewards[-1] += score
    return rewards, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0, lam: float = 1.0):
    """GAE over one trajectory's action tokens (1-D tensors of equal length).

    δ_t = r_t + γ·V_{t+1} − V_t (V after the last token is 0); A_t = δ_t + γλ·A_{t+1};
    returns R_t = A_t + V_t.
    """
    advantages = torch.zeros_like(values)
    last = 0.0
    for t in reversed(range(values.shape[0])):
        next_value = values[t + 1] if t + 1 < values.shape[0] else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        last = delta + gamma * lam * last
        advantages[t] = last
    return advantages, advantages + values


def grpo_advantages(
    rewards: Sequence[float], groups: Sequence[str], scale_by_std: bool = True, eps: float = 1e-6
) -> list[float]:
    """Group-relative advantages: centre each reward on its group's mean (and scale by its std)."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    out = [0.0] * len(rewards)
    for idx in members.values():
        values = torch.tensor([float(rewards[i]) for i in idx], dtype=torch.float64)
        centred = values - values.mean()
        std = values.std(unbiased=False)
        if scale_by_std:
            centred = centred / std if std > eps else torch.zeros_like(centred)
        for i, a in zip(idx, centred.tolist()):
            out[i] = a
    return out


def whiten(values: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / sqrt(var + 1e-8)`` with statistics gathered over all processes."""
    return (values - mean) * torch.rsqrt(var + 1e-8)
