"""Recorded trajectories -> training sequences, built from the keep rule's own pieces.

Token in, token out: every id comes from a :class:`~mem1_hf.loop.Turn` (``input_ids``,
``output_ids``) or from the history :class:`~mem1_hf.keep_rule.Segment` blocks the keep rule
cut them from; nothing is decoded and re-tokenized. Each action token (a sampled id) becomes a
*target*: the index of the position whose logits predict it (its predecessor in the context the
model really saw) and its id. Three layouts (``MEM1PPOConfig.logprob_mode``):

* ``turns`` — one sequence per turn: ``input_ids + output_ids``, plain causal attention. Exact.
* ``packed`` — one sequence per trajectory: the prompt once, then per turn the rest of its
  context (kept memory + observation, duplicated) and its response. A token of turn *t* sees
  the prompt and the earlier tokens of turn *t*'s block only; positions restart after the prompt
  for every block, so each block sees exactly what the rollout saw. Exact.
* ``stitched`` — MEM1's paper: the history once, every token once. A response token sees its
  turn's context pieces (mapped into the stitched sequence) and its own predecessors; an
  observation token sees what precedes it in the next turn's context. Memory tokens are computed
  once (as the response that wrote them), so later turns read their states from the wrong
  context: approximate, and the gap is measured.

Example (a toy history; real ids come from the agent loop):
    >>> from mem1_hf.keep_rule import KeepRule, Segment
    >>> from mem1_hf.training.packing import Step, sequences_for
    >>> rule = KeepRule("mem1")
    >>> history = [Segment("prompt", [1, 2], turn=-1)]
    >>> steps = [Step(rule.pieces(history), [1, 2], [3, 4])]
    >>> history += [Segment("response", [3, 4], turn=0, memory_span=(1, 2)), Segment("observation", [5], turn=0)]
    >>> steps.append(Step(rule.pieces(history), [1, 2, 4, 5], [6]))
    >>> seq = sequences_for(history, steps, "packed")[0]
    >>> seq.ids, seq.positions
    ([1, 2, 3, 4, 4, 5, 6], [0, 1, 2, 3, 2, 3, 4])
    >>> [(p, seq.ids[p + 1] if p + 1 < len(seq.ids) else None) for p in seq.target_index]
    [(1, 3), (2, 4), (5, 6)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mem1_hf.keep_rule import Piece, Segment, gather


@dataclass
class Step:
    """One turn as the trainer needs it: the pieces its input came from, the ids, the sampled ids."""

    pieces: list[Piece]
    input_ids: list[int]
    output_ids: list[int]


@dataclass
class TrainingSequence:
    """One forward pass's worth of tokens.

    Attributes:
        ids: the token ids.
        positions: each token's position id (its position in the context the rollout built).
        allowed: ``(L, L)`` booleans, ``allowed[i, j]``: token ``i`` may attend to ``j``
            (``None``: plain causal attention).
        target_index: for each action token, the index whose logits predict it.
        target_ids: the action tokens (sampled ids), in trajectory order.
    """

    ids: list[int]
    positions: list[int]
    allowed: torch.Tensor | None
    target_index: list[int]
    target_ids: list[int]

    def __len__(self) -> int:
        return len(self.ids)


def steps_from_turns(turns: Sequence) -> list[Step]:
    """The :class:`Step` of each recorded :class:`~mem1_hf.loop.Turn`."""
    return [Step(list(t.pieces), list(t.input_ids), list(t.output_ids)) for t in turns]


def _check(history: Sequence[Segment], step: Step) -> None:
    # the keep rule's pieces must rebuild exactly what the model saw: one rule, two users
    if gather(history, step.pieces) != step.input_ids:
        raise ValueError("a turn's pieces do not rebuild its input ids: rollout and training disagree")


def turn_sequences(steps: Sequence[Step]) -> list[TrainingSequence]:
    """``turns`` layout: one causal sequence per turn."""
    out = []
    for step in steps:
        n = len(step.input_ids)
        ids = step.input_ids + step.output_ids
        targets = [n - 1 + k for k in range(len(step.output_ids))]
        out.append(TrainingSequence(ids, list(range(len(ids))), None, targets, list(step.output_ids)))
    return out


def packed_sequence(history: Sequence[Segment], steps: Sequence[Step]) -> TrainingSequence:
    """``packed`` layout: prompt once, then each turn's block (its context after the prompt + response)."""
    prompt = history[0].ids
    n_prompt = len(prompt)
    ids, positions, group = list(prompt), list(range(n_prompt)), [0] * n_prompt
    targets, target_ids = [], []
    for t, step in enumerate(steps):
        _check(history, step)
        if not step.pieces or step.pieces[0] != Piece(0, 0, n_prompt):
            raise ValueError("packed mode needs every turn's context to start with the whole prompt")
        rest = step.input_ids[n_prompt:]
        start = len(ids)
        block = rest + step.output_ids
        ids += block
        positions += range(n_prompt, n_prompt + len(block))
        group += [t + 1] * len(block)
        for k, token in enumerate(step.output_ids):
            offset = len(rest) + k  # index of this token inside the block
            targets.append(start + offset - 1 if offset > 0 else n_prompt - 1)
            target_ids.append(token)
    g = torch.tensor(group)
    causal = torch.tril(torch.ones(len(ids), len(ids), dtype=torch.bool))
    # a token sees the prompt and the earlier tokens of its own block
    allowed = causal & ((g[None, :] == 0) | (g[None, :] == g[:, None]))
    return TrainingSequence(ids, positions, allowed, targets, target_ids)


def stitched_sequence(history: Sequence[Segment], steps: Sequence[Step]) -> TrainingSequence:
    """``stitched`` layout: every history token once, a mask hiding what each turn pruned."""
    offsets, ids = [], []
    for segment in history:
        offsets.append(len(ids))
        ids += segment.ids
    n = len(ids)
    allowed = torch.zeros((n, n), dtype=torch.bool)
    assigned = torch.zeros(n, dtype=torch.bool)
    n_prompt = len(history[0].ids)
    allowed[:n_prompt, :n_prompt] = torch.tril(torch.ones(n_prompt, n_prompt, dtype=torch.bool))
    assigned[:n_prompt] = True
    responses = {s.turn: k for k, s in enumerate(history) if s.kind == "response"}
    targets, target_ids = [], []
    for t, step in enumerate(steps):
        _check(history, step)
        context = torch.tensor(
            [offsets[p.segment] + i for p in step.pieces for i in range(p.start, p.end)], dtype=torch.long
        )
        # the context's own tokens not yet placed (observations, truncated slices) see what precedes
        # them in this context
        fresh = ~assigned[context]
        if fresh.any():
            prefix = torch.tril(torch.ones(len(context), len(context), dtype=torch.bool))[fresh]
            rows = context[fresh]
            allowed[rows.unsqueeze(1), context.unsqueeze(0)] = prefix
            assigned[rows] = True
        base = offsets[responses[t]]
        m = len(step.output_ids)
        span = torch.arange(base, base + m)
        allowed[span.unsqueeze(1), context.unsqueeze(0)] = True  # a response sees its turn's context
        allowed[base : base + m, base : base + m] = torch.tril(torch.ones(m, m, dtype=torch.bool))
        assigned[span] = True
        last_context = int(context[-1])
        for k, token in enumerate(step.output_ids):
            targets.append(base + k - 1 if k > 0 else last_context)
            target_ids.append(token)
    for i in (~assigned).nonzero().flatten().tolist():  # tokens no turn read: causal in place
        allowed[i, : i + 1] = True
    positions = (allowed.sum(dim=1) - 1).tolist()  # approximate for tokens reused across turns
    return TrainingSequence(ids, positions, allowed, targets, target_ids)


def sequences_for(history: Sequence[Segment], steps: Sequence[Step], mode: str) -> list[TrainingSequence]:
    """The training sequences of one trajectory in ``mode`` (``turns``, ``packed`` or ``stitched``)."""
    if mode == "turns":
        for step in steps:
            _check(history, step)
        return turn_sequences(steps)
    if mode == "packed":
        return [packed_sequence(history, steps)]
    if mode == "stitched":
        return [stitched_sequence(history, steps)]
    raise ValueError(f"unknown logprob_mode {mode!r}")


@dataclass
class ModelBatch:
    """Padded tensors for one forward pass over several :class:`TrainingSequence`.

    ``attention_mask`` is 2D (``turns``: padding only) or 4D additive float
    ``(B, 1, L, L)`` with 0 where visible and ``finfo(dtype).min`` elsewhere: boolean 4D masks
    are wrong under ``eager`` and {0, 1} float masks are read as a bias (no masking at all).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor
    target_rows: torch.Tensor
    target_index: torch.Tensor
    target_ids: torch.Tensor
    lengths: list[int]  # targets per sequence, to split the flat results back


def collate(
    sequences: Sequence[TrainingSequence], pad_id: int, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> ModelBatch:
    """Pad ``sequences`` into one :class:`ModelBatch`.

    Plain causal rows (``turns``) are left-padded, so every row's response ends at the last
    column and the vocabulary projection runs over the few columns that hold targets; masked
    sequences (``packed``/``stitched``) are right-padded (padding sees only itself).
    """
    width = max(len(s) for s in sequences)
    batch = len(sequences)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    positions = torch.zeros((batch, width), dtype=torch.long)
    structured = any(s.allowed is not None for s in sequences)
    if structured:
        allowed = torch.zeros((batch, width, width), dtype=torch.bool)
        allowed[:, torch.arange(width), torch.arange(width)] = True  # padding sees itself: no empty rows
    else:
        mask2d = torch.zeros((batch, width), dtype=torch.long)
    rows, index, targets = [], [], []
    for b, seq in enumerate(sequences):
        n = len(seq)
        shift = 0 if structured else width - n  # where the sequence starts in its row
        ids[b, shift : shift + n] = torch.tensor(seq.ids)
        positions[b, shift : shift + n] = torch.tensor(seq.positions)
        if structured:
            if seq.allowed is None:
                allowed[b, :n, :n] = torch.tril(torch.ones(n, n, dtype=torch.bool))
            else:
                allowed[b, :n, :n] = seq.allowed
        else:
            mask2d[b, shift:] = 1
        rows += [b] * len(seq.target_index)
        index += [shift + i for i in seq.target_index]
        targets += seq.target_ids
    if structured:
        mask = torch.zeros((batch, 1, width, width), dtype=dtype)
        mask.masked_fill_(~allowed.unsqueeze(1), torch.finfo(dtype).min)
    else:
        mask = mask2d
    return ModelBatch(
        ids.to(device),
        positions.to(device),
        mask.to(device),
        torch.tensor(rows, dtype=torch.long, device=device),
        torch.tensor(index, dtype=torch.long, device=device),
        torch.tensor(targets, dtype=torch.long, device=device),
        [len(s.target_index) for s in sequences],
    )
