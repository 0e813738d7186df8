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
  for every block, so each block sees exactly what the rollout saw. Exact. Its core,
  :func:`pack_blocks`, also packs SFT's token rows (:func:`pack_rows`, :func:`plan_packs`).
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

import weakref
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


def pack_blocks(
    prefix: Sequence[int], blocks: Sequence[tuple[Sequence[int], Sequence[int]]]
) -> TrainingSequence:
    """The ``packed`` layout's core, shared by the RL trainer and packed SFT: ``prefix`` once, then blocks.

    Each block is ``(ids, loss_mask)``: the tokens that follow ``prefix`` in one row (a turn's kept
    context after the prompt, then its response) and a 0/1 mask of the tokens to predict. A block
    token sees the prefix and the earlier tokens of its own block, never another block, and its
    position continues from the prefix exactly as in its own row, so every block computes what
    its row computes alone. A block's first token, when it is a target, is predicted from the
    prefix's last position (shared by all blocks).

    Example:
        >>> seq = pack_blocks([1, 2], [([3, 4], [0, 1]), ([5], [1])])
        >>> seq.ids, seq.positions, seq.target_index, seq.target_ids
        ([1, 2, 3, 4, 5], [0, 1, 2, 3, 2], [2, 1], [4, 5])
    """
    n_prefix = len(prefix)
    ids, positions, group = list(prefix), list(range(n_prefix)), [0] * n_prefix
    targets, target_ids = [], []
    for b, (block, loss_mask) in enumerate(blocks):
        if len(block) != len(loss_mask):
            raise ValueError("a block's ids and loss mask differ in length")
        start = len(ids)
        ids += block
        positions += range(n_prefix, n_prefix + len(block))
        group += [b + 1] * len(block)
        for offset, (token, keep) in enumerate(zip(block, loss_mask)):
            if not keep:
                continue
            if offset == 0 and n_prefix == 0:
                raise ValueError(
                    "a block's first token is a target but there is no prefix to predict it from"
                )
            targets.append(start + offset - 1 if offset > 0 else n_prefix - 1)
            target_ids.append(int(token))
    g = torch.tensor(group)
    causal = torch.tril(torch.ones(len(ids), len(ids), dtype=torch.bool))
    # a token sees the prefix and the earlier tokens of its own block
    allowed = causal & ((g[None, :] == 0) | (g[None, :] == g[:, None]))
    return TrainingSequence([int(i) for i in ids], positions, allowed, targets, target_ids)


def packed_sequence(history: Sequence[Segment], steps: Sequence[Step]) -> TrainingSequence:
    """``packed`` layout: prompt once, then each turn's block (its context after the prompt + response)."""
    prompt = history[0].ids
    n_prompt = len(prompt)
    blocks = []
    for step in steps:
        _check(history, step)
        if not step.pieces or step.pieces[0] != Piece(0, 0, n_prompt):
            raise ValueError("packed mode needs every turn's context to start with the whole prompt")
        rest = step.input_ids[n_prompt:]
        blocks.append((rest + step.output_ids, [0] * len(rest) + [1] * len(step.output_ids)))
    return pack_blocks(prompt, blocks)


# ----------------------------------------------------------------------------- token rows (SFT)


def shared_prefix_length(rows: Sequence[Sequence[int]], loss_masks: Sequence[Sequence[int]]) -> int:
    """How many leading tokens ``rows`` share, stopping before any row's first loss token.

    For a task's turn rows this is the task prompt (keep rule: every turn's context starts with
    it), or a little more when all turns continue alike; exact either way, since equal tokens at
    equal positions have equal states under causal attention.

    Example:
        >>> shared_prefix_length([[1, 2, 3, 9], [1, 2, 3, 4, 8]], [[0, 0, 0, 1], [0, 0, 0, 0, 1]])
        3
    """
    n = min(len(r) for r in rows)
    for mask in loss_masks:  # the prefix never holds a token to predict: it is computed once
        first = next((i for i, keep in enumerate(mask) if keep), len(mask))
        n = min(n, first)
    first_row = rows[0]
    for row in rows[1:]:
        k = 0
        while k < n and row[k] == first_row[k]:
            k += 1
        n = k
    return n


def pack_rows(rows: Sequence[Sequence[int]], loss_masks: Sequence[Sequence[int]]) -> TrainingSequence:
    """Token rows (ids + 0/1 loss mask, e.g. SFT turn rows of one task) -> one ``packed`` sequence.

    The rows' shared prefix (:func:`shared_prefix_length`) once, then each row's remainder as a
    block (:func:`pack_blocks`). Rows with no shared prefix still pack exactly (it is then only
    a batch of rows in one sequence); :func:`plan_packs` avoids packing such rows together.

    Example:
        >>> seq = pack_rows([[1, 2, 3, 4], [1, 2, 5, 6]], [[0, 0, 1, 1], [0, 0, 0, 1]])
        >>> seq.ids, seq.positions, seq.target_index, seq.target_ids
        ([1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 2, 3], [1, 2, 4], [3, 4, 6])
    """
    n = shared_prefix_length(rows, loss_masks)
    return pack_blocks(rows[0][:n], [(list(r[n:]), list(m[n:])) for r, m in zip(rows, loss_masks)])


def plan_packs(
    rows: Sequence[Sequence[int]],
    loss_masks: Sequence[Sequence[int]],
    keys: Sequence[object],
    max_tokens: int | None = None,
) -> list[list[int]]:
    """Which rows to pack together: row indices grouped by ``keys`` (task ids), in first-seen order.

    A row joins the first pack of its key where that costs fewer tokens than a sequence of its own
    and the pack stays within ``max_tokens`` (``None``: no limit); otherwise it starts a new pack.
    So a row of the task whose prefix differs (another prompt) is packed apart, never wrongly.

    Example:
        >>> rows, masks = [[1, 2, 3], [1, 2, 4], [7, 8, 9]], [[0, 0, 1]] * 3
        >>> plan_packs(rows, masks, ["a", "a", "a"])
        [[0, 1], [2]]
        >>> plan_packs(rows, masks, ["a", "a", "a"], max_tokens=3)
        [[0], [1], [2]]
    """
    packs: list[list[int]] = []
    by_key: dict[object, list[int]] = {}

    def size(members: list[int]) -> int:  # tokens of the packed sequence
        n = shared_prefix_length([rows[j] for j in members], [loss_masks[j] for j in members])
        return n + sum(len(rows[j]) - n for j in members)

    for i, key in enumerate(keys):
        for p in by_key.setdefault(key, []):
            merged = size(packs[p] + [i])
            # a row whose prefix differs would shrink the pack's shared prefix: join only when it pays
            if merged < size(packs[p]) + len(rows[i]) and (max_tokens is None or merged <= max_tokens):
                packs[p].append(i)
                break
        else:
            by_key[key].append(len(packs))
            packs.append([i])
    return packs


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


# ----------------------------------------------------------------------------- block-sparse attention

#: the attention implementation name :func:`use_block_sparse_attention` registers
BLOCK_SPARSE_ATTENTION = "mem1_block_sparse_sdpa"
QUERY_CHUNK = 256  # most queries per SDPA call: long enough for the kernels, short enough to skip keys
MIN_CHUNK = 32  # fewest queries per SDPA call (unless the sequence ends)
_plan_cache: list = [
    None,
    None,
]  # (weak reference to the last mask, its plan): every layer gets the same mask


def _chunk_plan(mask: torch.Tensor) -> list[tuple[int, int, int, torch.Tensor | None]]:
    """``(row, start, end, keys)`` per query chunk: the keys any query of the chunk may see (``None``: all)."""
    visible = mask[:, 0] > torch.finfo(mask.dtype).min  # hidden: finfo.min (or -inf)
    width = visible.shape[-1]
    plan = []
    for b in range(visible.shape[0]):
        rows = visible[b]
        # a packed block starts where a token cannot see its predecessor: chunks end there, unless
        # the chunk is still short (padding tokens each see only themselves)
        starts = set((~rows.diagonal(-1)).nonzero().flatten().add(1).tolist())
        r0 = 0
        for i in range(1, width + 1):
            if i == width or i - r0 >= QUERY_CHUNK or (i in starts and i - r0 >= MIN_CHUNK):
                keys = rows[r0:i].any(dim=0).nonzero().flatten()
                plan.append((b, r0, i, None if len(keys) == width else keys))
                r0 = i
    return plan


def block_sparse_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """SDPA that skips the keys a whole query chunk cannot see (a transformers attention function).

    Under a 4D additive mask (``packed``: blocks that see the prompt and themselves), dense SDPA
    computes every query against every key and masks most of them away: O(L^2) for a packed
    sequence of length L. Here each chunk of queries (within one block) runs SDPA against only the
    keys some of its queries may see (the prompt and its block), under the same mask entries; the
    keys left out would get weight exp(finfo.min) = 0, so the result is the same up to float
    rounding. Other masks (2D, none, decoding) go to transformers' ``sdpa`` unchanged.

    Example:
        >>> use_block_sparse_attention(model)  # doctest: +SKIP
        >>> model(input_ids=ids, attention_mask=mask4d, position_ids=pos, use_cache=False)  # doctest: +SKIP
    """
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if (
        attention_mask is None
        or attention_mask.dim() != 4
        or not attention_mask.is_floating_point()
        or query.shape[2] != key.shape[2]
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    cached_mask, plan = _plan_cache
    if cached_mask is None or cached_mask() is not attention_mask:
        plan = _chunk_plan(attention_mask)
        _plan_cache[:] = [weakref.ref(attention_mask), plan]
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    dropout = dropout if module.training else 0.0
    rows_out: dict[int, list[torch.Tensor]] = {}
    for b, r0, r1, keys in plan:
        mask = attention_mask[b : b + 1, :, r0:r1]
        k, v = key[b : b + 1], value[b : b + 1]
        if keys is not None:
            k, v, mask = k.index_select(2, keys), v.index_select(2, keys), mask.index_select(3, keys)
        out = torch.nn.functional.scaled_dot_product_attention(
            query[b : b + 1, :, r0:r1], k, v, attn_mask=mask, dropout_p=dropout, scale=scaling
        )
        rows_out.setdefault(b, []).append(out)
    attn = torch.cat([torch.cat(rows_out[b], dim=2) for b in range(query.shape[0])], dim=0)
    return attn.transpose(1, 2).contiguous(), None


def use_block_sparse_attention(model: torch.nn.Module) -> None:
    """Switch ``model`` (and the model a peft wrapper holds) to :func:`block_sparse_sdpa`.

    Only models that use ``sdpa`` are switched (``eager`` stays as it is). The name is registered
    with transformers' attention and mask interfaces once; the config does not save it.

    Example:
        >>> use_block_sparse_attention(model)  # doctest: +SKIP
        >>> model.config._attn_implementation  # doctest: +SKIP
        'mem1_block_sparse_sdpa'
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(BLOCK_SPARSE_ATTENTION, block_sparse_sdpa)
    AttentionMaskInterface.register(BLOCK_SPARSE_ATTENTION, sdpa_mask)
    config = model.config
    if config._attn_implementation == "sdpa":
        config._attn_implementation = BLOCK_SPARSE_ATTENTION
