"""Log-probs, entropies and values of action tokens from a :class:`~mem1_hf.training.packing.ModelBatch`.

Training forwards always pass ``use_cache=False`` (with a cache transformers changes how it
builds masks) and only compute the vocabulary projection at the positions that predict an
action token (``logits_to_keep``), which keeps long packed sequences cheap.

Example:
    >>> batch = collate(sequences, pad_id=2, dtype=torch.float32)  # doctest: +SKIP
    >>> logprobs, entropy = action_logprobs(policy, batch, temperature=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from mem1_hf.training.packing import ModelBatch


def _model_inputs(batch: ModelBatch) -> dict:
    return {
        "input_ids": batch.input_ids,
        "attention_mask": batch.attention_mask,
        "position_ids": batch.position_ids,
        "use_cache": False,
    }


def action_logprobs(
    model: nn.Module, batch: ModelBatch, temperature: float = 1.0, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (and entropies) of ``batch.target_ids`` under softmax(logits / temperature).

    Returns flat float32 tensors in the batch's target order.
    """
    keep = torch.unique(batch.target_index)  # sorted positions whose logits are needed
    logits = model(**_model_inputs(batch), logits_to_keep=keep).logits
    column = torch.searchsorted(keep, batch.target_index)
    chosen = logits[batch.target_rows, column].float() / temperature
    logp_all = torch.log_softmax(chosen, dim=-1)
    logprobs = logp_all.gather(-1, batch.target_ids.unsqueeze(-1)).squeeze(-1)
    # entropy is only reported: keep it out of the autograd graph
    entropy = -(logp_all.detach().exp() * logp_all.detach()).sum(-1) if with_entropy else None
    return logprobs, entropy


class TokenValues(nn.Module):
    """A ``*ForSequenceClassification`` critic (``num_labels=1``) read at every position.

    ``forward`` returns ``(batch, length)`` values: the backbone's last hidden states through the
    classification head (``score``), as TRL's ``PolicyAndValueWrapper`` does. Wrapping the critic
    in a module (rather than calling its parts) keeps DDP's gradient hooks in the path.
    """

    def __init__(self, critic: nn.Module):
        super().__init__()
        self.critic = critic

    def forward(self, input_ids, attention_mask, position_ids, use_cache=False):  # noqa: D102
        inner = self.critic
        base = getattr(inner, "get_base_model", None)
        model = base() if base is not None else inner  # a peft-wrapped critic
        backbone = getattr(model, model.base_model_prefix)
        hidden = backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=use_cache
        ).last_hidden_state
        return model.score(hidden).squeeze(-1)


def action_values(values_module: nn.Module, batch: ModelBatch) -> torch.Tensor:
    """The critic's value of the state before each action token (flat float32)."""
    values = values_module(**_model_inputs(batch))
    return values[batch.target_rows, batch.target_index].float()
