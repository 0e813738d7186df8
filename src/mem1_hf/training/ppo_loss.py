"""The PPO / GRPO objective, top to bottom, each line named for the equation it implements.

Everything is per action token and returned as *sums* over the masked tokens, so gradient
accumulation over micro-batches divides once by the mini-batch's token count (a token mean over
the whole mini-batch, whatever the micro-batching).

Example:
    >>> import torch
    >>> z = torch.zeros(3)
    >>> out = ppo_objective(z, z, torch.ones(3), torch.ones(3), cliprange=0.2)
    >>> float(out["pg_loss_sum"]), float(out["clipfrac_sum"])
    (-3.0, 0.0)
"""

from __future__ import annotations

import torch


def ppo_objective(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
    new_values: torch.Tensor | None = None,
    old_values: torch.Tensor | None = None,
    returns: torch.Tensor | None = None,
    cliprange_value: float = 0.2,
    ref_logprobs: torch.Tensor | None = None,
    kl_loss_coef: float = 0.0,
) -> dict[str, torch.Tensor]:
    """The clipped surrogate, the clipped value loss and an optional k3 KL term, summed over ``mask``."""
    mask = mask.float()
    # r_t(θ) = π_θ(a_t|s_t) / π_θ_old(a_t|s_t)
    log_ratio = new_logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    # L^CLIP = E[max(−A·r, −A·clip(r, 1−ε, 1+ε))]   (a loss: the negated clipped objective)
    pg_losses1 = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss = torch.max(pg_losses1, pg_losses2)
    out = {
        "pg_loss_sum": (pg_loss * mask).sum(),
        "clipfrac_sum": ((pg_losses2 > pg_losses1).float() * mask).sum(),
        # approx KL(π_old‖π_θ) ≈ E[(r − 1) − log r]  (Schulman's k3), for monitoring
        "approxkl_sum": (((ratio - 1) - log_ratio) * mask).sum(),
        "ratio_sum": (ratio * mask).sum(),
    }
    loss = out["pg_loss_sum"]
    if new_values is not None:
        # L^VF = ½·max((V_θ − R)², (clip(V_θ, V_old ± ε_v) − R)²)
        clipped = old_values + torch.clamp(new_values - old_values, -cliprange_value, cliprange_value)
        vf_losses = torch.max((new_values - returns) ** 2, (clipped - returns) ** 2)
        out["vf_loss_sum"] = 0.5 * (vf_losses * mask).sum()
        out["vf_clipfrac_sum"] = (
            ((clipped - returns) ** 2 > (new_values - returns) ** 2).float() * mask
        ).sum()
    if ref_logprobs is not None and kl_loss_coef > 0:
        # GRPO's KL term: k3 = π_ref/π_θ − log(π_ref/π_θ) − 1  (unbiased, ≥ 0)
        ref_log_ratio = ref_logprobs - new_logprobs
        kl = torch.exp(ref_log_ratio) - ref_log_ratio - 1
        out["kl_loss_sum"] = (kl * mask).sum()
        loss = loss + kl_loss_coef * out["kl_loss_sum"]
    out["policy_loss_sum"] = loss
    return out
