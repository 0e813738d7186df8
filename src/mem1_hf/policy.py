"""Policies: what produces a response for each task at a turn.

* :class:`ModelPolicy` — a transformers causal LM. One ``generate`` call per turn for the whole
  batch of active tasks, with :class:`~mem1_hf.generation.StopOnTags` and
  :class:`~mem1_hf.generation.BanStrings`. It returns the sampled ids and their log-probs
  (token in, token out: the trainer trains on exactly these ids). The task prompt is the same
  at every turn, so its KV cache is computed once per task and reused: each turn the batch is
  laid out as ``[pad | cached prompt | pad | rest of the context]`` and only the rest is
  computed (position ids come from the attention mask, so padding in the middle is harmless).
* :class:`ScriptedPolicy` — replays fixed responses through the same loop, to test the loop and
  the modes deterministically and to benchmark context growth without a model.

Example:
    >>> policy = ScriptedPolicy(tokenizer, {"t0": ["<think>a</think><answer>x</answer>"]})  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from transformers import DynamicCache, GenerationConfig, LogitsProcessorList, StoppingCriteriaList

from mem1_hf.errors import Mem1InputError
from mem1_hf.generation import BanStrings, StopOnTags
from mem1_hf.prompts import PromptProfile
from mem1_hf.sampling import MAX_NEW_TOKENS, MAX_TEMPERATURE, check_sampling


@dataclass
class GenerationRequest:
    """One task's input at one turn.

    Attributes:
        key: the task's id (keys the cached prompt KV and scripted responses).
        prompt_ids: the static task prompt's ids (a prefix of ``context_ids``).
        context_ids: the full input ids built by the keep rule.
        last_turn: on the last turn only the final action may end the response and
            searching is forbidden.
    """

    key: str
    prompt_ids: list[int]
    context_ids: list[int]
    last_turn: bool


@dataclass
class GenerationResult:
    """The sampled response: ids, their log-probs under the policy, why it stopped."""

    ids: list[int]
    logprobs: list[float] = field(default_factory=list)
    stop_reason: str = "stop_string"  # "stop_string" | "eos" | "length"


class Policy(Protocol):
    """Anything the agent loop can ask for responses."""

    tokenizer: object

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...

    def release(self, key: str) -> None: ...


@dataclass
class PolicyConfig:
    """How a model policy generates: the single source of these settings (pipeline and CLIs).

    Example:
        >>> config = PolicyConfig(max_new_tokens=64, temperature=0.7).generation_config()
        >>> config.max_new_tokens, config.do_sample, config.temperature
        (64, True, 0.7)
        >>> PolicyConfig().generation_config().do_sample  # greedy by default
        False
    """

    max_new_tokens: int = field(
        default=256,
        metadata={
            "help": f"the response budget per turn (tokens; at most {MAX_NEW_TOKENS}, and at most the "
            "model's context once it is loaded)"
        },
    )
    temperature: float = field(
        default=0.0, metadata={"help": f"sampling temperature; 0 = greedy (at most {MAX_TEMPERATURE:g})"}
    )
    reuse_prompt_cache: bool = field(
        default=True, metadata={"help": "compute the task prompt's KV cache once per task and reuse it"}
    )

    def __post_init__(self) -> None:
        # the CLIs build this right after parsing: bad flags fail before any model loads
        check_sampling(self.max_new_tokens, {"temperature": self.temperature})

    def generation_config(self, **kwargs) -> GenerationConfig:
        """A ``transformers.GenerationConfig``: greedy, or sampling at ``temperature`` > 0;
        ``kwargs`` (``top_p``, ``do_sample``, …) override."""
        sampling = {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {}
        return GenerationConfig(
            **{"max_new_tokens": self.max_new_tokens, "do_sample": False, **sampling, **kwargs}
        )


class ModelPolicy:
    """A transformers causal LM as the agent's policy.

    Args:
        model: a ``PreTrainedModel`` (any device and dtype).
        tokenizer: its tokenizer (needs a pad or eos token).
        profile: the prompt profile (stop and banned strings).
        generation_config: a ``transformers.GenerationConfig`` (``max_new_tokens`` is the
            response budget per turn; ``do_sample``, ``temperature``, ``top_p``…); default:
            :meth:`PolicyConfig.generation_config` (greedy).
        reuse_prompt_cache: reuse the task prompt's KV cache across turns.

    Example:
        >>> policy = ModelPolicy(model, tokenizer, get_profile("mem1-qa"),
        ...                      PolicyConfig(max_new_tokens=64).generation_config())  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        tokenizer,
        profile: PromptProfile,
        generation_config: GenerationConfig | None = None,
        reuse_prompt_cache: bool = PolicyConfig.reuse_prompt_cache,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.profile = profile
        self.generation_config = generation_config or PolicyConfig().generation_config()
        if not self.generation_config.max_new_tokens or self.generation_config.max_new_tokens < 1:
            raise Mem1InputError("generation_config.max_new_tokens must be >= 1")
        # before the first turn, not deep inside generate after the model has started; a budget
        # beyond the model's context could never be used (and once made a run take hours)
        check_sampling(
            self.generation_config.max_new_tokens, vars(self.generation_config), self.context_limit
        )
        self.reuse_prompt_cache = reuse_prompt_cache
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._prompt_kv: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    @property
    def max_new_tokens(self) -> int:
        """The response budget per turn."""
        return int(self.generation_config.max_new_tokens)

    @property
    def context_limit(self) -> int:
        """The longest sequence (input + output) the model accepts."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 1 << 30)

    def release(self, key: str) -> None:
        """Forget a finished task's cached prompt."""
        self._prompt_kv.pop(key, None)

    # -- batch layout --------------------------------------------------------------------
    def _cached_prefix(self, request: GenerationRequest) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # The last prompt token is left out of the cache so every turn has at least one new token.
        if request.key not in self._prompt_kv:
            prefix = torch.tensor([request.prompt_ids[:-1]], device=self.model.device)
            with torch.no_grad():
                cache = self.model(input_ids=prefix, use_cache=True).cache
            self._prompt_kv[request.key] = [(layer.keys, layer.values) for layer in cache.layers]
        return self._prompt_kv[request.key]

    def _layout(self, requests: Sequence[GenerationRequest]):
        """Input ids, attention mask and (optionally) a pre-filled cache for the batch."""
        device = self.model.device
        cached = [self._cached_prefix(r) for r in requests] if self.reuse_prompt_cache else None
        n_cached = [len(r.prompt_ids) - 1 if cached else 0 for r in requests]
        rests = [r.context_ids[n:] for r, n in zip(requests, n_cached)]
        width_p, width_r = max(n_cached), max(len(x) for x in rests)
        ids = torch.full((len(requests), width_p + width_r), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, (request, n, rest) in enumerate(zip(requests, n_cached, rests)):
            ids[row, width_p - n : width_p] = torch.tensor(request.prompt_ids[:n], dtype=torch.long)
            ids[row, width_p + width_r - len(rest) :] = torch.tensor(rest, dtype=torch.long)
            mask[row, width_p - n : width_p] = 1
            mask[row, width_p + width_r - len(rest) :] = 1
        past = None
        if cached:
            layers = []
            for layer in range(len(cached[0])):
                keys, values = [], []
                for kv, n in zip(cached, n_cached):
                    k, v = kv[layer]
                    pad = (0, 0, width_p - n, 0)  # left-pad the sequence dimension
                    keys.append(torch.nn.functional.pad(k, pad))
                    values.append(torch.nn.functional.pad(v, pad))
                layers.append((torch.cat(keys), torch.cat(values)))
            past = DynamicCache(ddp_cache_data=layers, config=self.model.config)
        return ids.to(device), mask.to(device), past

    # -- generation ----------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one response per request in a single batched ``model.generate`` call."""
        ids, mask, past = self._layout(requests)
        stops = StopOnTags(
            self.tokenizer, ids.shape[1], [self.profile.stop_strings(r.last_turn) for r in requests]
        )
        bans = BanStrings(self.tokenizer, [self.profile.banned_strings(r.last_turn) for r in requests])
        longest = max(len(r.context_ids) for r in requests)
        max_new = max(1, min(self.max_new_tokens, self.context_limit - longest))
        config = copy.deepcopy(self.generation_config)
        config.max_new_tokens = max_new
        config.pad_token_id = self.pad_id
        config.return_dict_in_generate = True
        config.output_logits = True
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                cache=past,  # transformers 5: `past_key_values` is deprecated here
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([stops]),
                logits_processor=LogitsProcessorList([bans]),
            )
        new = out.sequences[:, ids.shape[1] :]
        logits = torch.stack(out.logits, dim=1).float()  # raw (unprocessed) logits per step
        temperature = (config.temperature or 1.0) if config.do_sample else 1.0
        logprobs = torch.log_softmax(logits / temperature, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        return [self._trim(new[row], logprobs[row], stops.stopped_at[row]) for row in range(len(requests))]

    def _trim(self, new: torch.Tensor, logprobs: torch.Tensor, stopped_at: int | None) -> GenerationResult:
        """Cut a row's output where it really ended (stop string or EOS); the rest is padding."""
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        length, reason = new.shape[0], "length"
        hits = [i for i, t in enumerate(new.tolist()) if t in eos_ids]
        if hits and hits[0] + 1 <= length:
            length, reason = hits[0] + 1, "eos"
        if stopped_at is not None and stopped_at <= length:
            length, reason = stopped_at, "stop_string"
        return GenerationResult(new[:length].tolist(), logprobs[:length].tolist(), reason)


class ScriptedPolicy:
    """Replay fixed responses per task: ``responses[task_id][turn]`` (the last one repeats).

    The responses are tokenized once (so they are token ids like a model's) and go through
    the same loop, keep rule and parser as a model's; their log-probs are reported as 0.

    Args:
        tokenizer: the tokenizer whose ids count the context (any real model's tokenizer).
        responses: per task id, the response text of each turn.
    """

    def __init__(self, tokenizer, responses: dict[str, Sequence[str]]):
        self.tokenizer = tokenizer
        self.responses = {k: list(v) for k, v in responses.items()}
        self._turn: dict[str, int] = {}

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request in requests:
            script = self.responses[request.key]
            turn = self._turn.get(request.key, 0)
            self._turn[request.key] = turn + 1
            text = script[min(turn, len(script) - 1)]
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            results.append(GenerationResult(ids, [0.0] * len(ids), "stop_string"))
        return results

    def release(self, key: str) -> None:
        self._turn.pop(key, None)
