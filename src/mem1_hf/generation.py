"""Generation helpers on transformers' own interfaces.

* :class:`StopOnTags` — a ``StoppingCriteria`` that ends each sequence of a batch on its own
  closing tags (``</search>``, ``</answer>``; on the last turn only ``</answer>``) and records
  where each sequence stopped, so padding after a stop is never taken for model output.
* :class:`BanStrings` — a ``LogitsProcessor`` that makes some strings impossible to write:
  ``<information>`` always (observations come only from the environment) and ``<search>`` on
  the last turn (the model must answer). It works on text, not on one tokenization of the
  string: a token is banned when it would complete the string given what the sequence ends
  with, so ``<inform`` + ``ation>`` is caught as well as a single ``<information>`` token.

Example:
    >>> from transformers import LogitsProcessorList, StoppingCriteriaList  # doctest: +SKIP
    >>> stops = StopOnTags(tokenizer, prompt_length=12, stops=[("</search>", "</answer>")])  # doctest: +SKIP
    >>> model.generate(ids, stopping_criteria=StoppingCriteriaList([stops]))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor, StoppingCriteria

# Per-tokenizer decoded vocabulary, built once: id -> text of that token alone.
_VOCAB_TEXT: dict[int, list[str]] = {}


def vocab_texts(tokenizer) -> list[str]:
    """The text of every token id decoded alone (cached per tokenizer object)."""
    key = id(tokenizer)
    if key not in _VOCAB_TEXT:
        _VOCAB_TEXT[key] = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return _VOCAB_TEXT[key]


# Per-tokenizer sets of token ids that complete a banned string: built once, not every turn.
_COMPLETING: dict[tuple[int, str, int], torch.Tensor] = {}


def completing_ids(tokenizer, string: str, k: int) -> torch.Tensor:
    """Ids of the tokens that complete ``string`` after a sequence ending in ``string[:k]``.

    ``k == 0``: tokens containing the whole string; ``k > 0``: tokens starting with ``string[k:]``.
    """
    key = (id(tokenizer), string, k)
    if key not in _COMPLETING:
        rest = string[k:]
        texts = vocab_texts(tokenizer)
        ids = [i for i, t in enumerate(texts) if (string in t if k == 0 else t.startswith(rest))]
        _COMPLETING[key] = torch.tensor(ids, dtype=torch.long)
    return _COMPLETING[key]


def _tail_text(tokenizer, ids: torch.Tensor, n_chars: int) -> str:
    # every token decodes to at least one character, so n_chars tokens cover n_chars characters
    return tokenizer.decode(ids[-n_chars:].tolist(), skip_special_tokens=False)


class StopOnTags(StoppingCriteria):
    """Stop each sequence once its generated text contains one of its stop strings.

    Args:
        tokenizer: the model's tokenizer (used to read the generated tail as text).
        prompt_length: length of the input ids; only tokens after it are checked.
        stops: per batch row, the strings that end that row.

    After generation, ``stopped_at[row]`` is the number of generated tokens up to and including
    the one that completed the stop string (``None`` if the row never stopped this way).
    """

    def __init__(self, tokenizer, prompt_length: int, stops: Sequence[Sequence[str]]):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.stops = [tuple(s) for s in stops]
        self.window = max((len(s) for row in self.stops for s in row), default=1) + 2
        self.stopped_at: list[int | None] = [None] * len(self.stops)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        n_generated = input_ids.shape[1] - self.prompt_length
        for row in range(input_ids.shape[0]):
            if self.stopped_at[row] is not None:
                done[row] = True
                continue
            generated = input_ids[row, self.prompt_length :]
            tail = _tail_text(self.tokenizer, generated, self.window)
            if any(stop in tail for stop in self.stops[row]):
                self.stopped_at[row] = n_generated
                done[row] = True
        return done


class BanStrings(LogitsProcessor):
    """Forbid, per batch row, every token that would complete one of that row's banned strings.

    Args:
        tokenizer: the model's tokenizer.
        banned: per batch row, the strings that row may not write.
    """

    def __init__(self, tokenizer, banned: Sequence[Sequence[str]]):
        self.tokenizer = tokenizer
        self.banned = [tuple(b) for b in banned]
        self._completing = {
            (string, k): completing_ids(tokenizer, string, k)
            for string in {s for row in self.banned for s in row}
            for k in range(len(string))
        }

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        for row, strings in enumerate(self.banned):
            if not strings:
                continue
            tail = _tail_text(self.tokenizer, input_ids[row], max(len(s) for s in strings))
            for string in strings:
                for k in range(len(string)):
                    if k == 0 or tail.endswith(string[:k]):
                        ids = self._completing[(string, k)].to(scores.device)
                        scores[row, ids[ids < scores.shape[1]]] = -float("inf")
        return scores
