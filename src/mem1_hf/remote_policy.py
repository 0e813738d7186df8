"""A policy on a generation server: an OpenAI-compatible ``/v1/completions`` endpoint, token in,
token out (vLLM; SGLang and TGI serve the endpoint too, see below for the extensions needed).

:class:`RemotePolicy` is a drop-in for :class:`~mem1_hf.policy.ModelPolicy` in the agent loop:
each turn it sends every active task's input ids (exactly what the keep rule built) as one
request, concurrently, and returns the sampled ids with their log-probs and why each stopped.
Nothing is decoded and re-tokenized, so the trainer replays exactly what the server sampled.

A request carries ``"prompt": [ids]``, ``max_tokens``, ``temperature`` / ``top_p`` / ``top_k``
/ ``repetition_penalty`` (sent explicitly: vLLM would otherwise apply the checkpoint's
``generation_config.json``), a ``seed`` when sampling with one, ``stop`` = the profile's stop
strings for that turn, and these vLLM extensions:

* ``include_stop_str_in_output: true`` — the closing tag is part of the response, as in-process;
* ``return_tokens_as_token_ids: true`` with ``logprobs: 0`` — each sampled token comes back as
  ``"token_id:123"`` with its log-prob (``choices[0].logprobs.tokens`` / ``token_logprobs``);
* ``skip_special_tokens: false``;
* ``bad_words`` = the profile's blocked strings (``<information>``; ``<search>`` on the last turn).

A reply without token ids or log-probs (a server without these extensions), a refused
connection, a timeout or an HTTP error is one line naming the URL and what is missing.

Example:
    >>> from mem1_hf.prompts import get_profile  # doctest: +SKIP
    >>> policy = RemotePolicy("http://gpu-box:8000", tokenizer, get_profile("mem1-qa"))  # doctest: +SKIP
    >>> trajectories = AgentLoop(policy, env, LoopConfig(batch_size=32)).run(tasks)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.policy import GenerationRequest, GenerationResult, PolicyConfig
from mem1_hf.prompts import PromptProfile
from mem1_hf.sampling import check_sampling

#: the prefix vLLM puts before each token id with ``return_tokens_as_token_ids``
TOKEN_ID_PREFIX = "token_id:"
#: what a reply without the extensions lacks, in the words of every error about it
_EXTENSIONS = (
    "vLLM's completions extensions (return_tokens_as_token_ids with logprobs, "
    "include_stop_str_in_output, bad_words)"
)


class CompletionsServerError(Mem1EnvironmentError):
    """The generation server could not be reached or failed (refused, timed out, HTTP 5xx)."""


@dataclass
class CompletionsConfig:
    """Where a :class:`RemotePolicy` generates (``mem1 run`` / ``mem1 eval``: ``--completions-url``).

    Example:
        >>> CompletionsConfig().completions_url is None  # none: the model runs in this process
        True
        >>> CompletionsConfig(completions_url="localhost:8000")
        Traceback (most recent call last):
        ...
        mem1_hf.errors.Mem1InputError: --completions-url must start with http:// or https://, got 'localhost:8000'
    """

    completions_url: str | None = field(
        default=None,
        metadata={
            "help": "generate on an OpenAI-compatible server with vLLM's extensions (e.g. `vllm serve "
            "MODEL` → http://host:8000) instead of loading the model here; the tokenizer (and the agent "
            "settings) still come from --model, which must be the model the server serves"
        },
    )
    completions_model: str | None = field(
        default=None,
        metadata={"help": "the served model's name (default: the server's first, from /v1/models)"},
    )
    completions_api_key_env: str = field(
        default="MEM1_COMPLETIONS_API_KEY",
        metadata={"help": "environment variable holding the server's bearer token (unset: none sent)"},
    )
    completions_timeout: float = field(
        default=600.0, metadata={"help": "seconds to wait for one response before failing"}
    )
    completions_concurrency: int = field(
        default=16, metadata={"help": "requests in flight at once (one per task of a turn)"}
    )
    completions_seed: int | None = field(
        default=None,
        metadata={"help": "sampling seed (each request gets its own seed derived from it); none: unseeded"},
    )

    def __post_init__(self) -> None:
        if self.completions_url is not None and not self.completions_url.startswith(("http://", "https://")):
            raise Mem1InputError(
                f"--completions-url must start with http:// or https://, got {self.completions_url!r}"
            )
        if not self.completions_timeout > 0:
            raise Mem1InputError(f"--completions-timeout must be > 0, got {self.completions_timeout!r}")
        if self.completions_concurrency < 1:
            raise Mem1InputError(
                f"--completions-concurrency must be >= 1, got {self.completions_concurrency!r}"
            )

    def policy(self, tokenizer, profile: PromptProfile, generation_config=None) -> RemotePolicy:
        """The :class:`RemotePolicy` of these settings (``completions_url`` must be set)."""
        if not self.completions_url:
            raise Mem1InputError("no --completions-url given")
        return RemotePolicy(
            self.completions_url,
            tokenizer,
            profile,
            generation_config,
            model=self.completions_model,
            api_key=os.environ.get(self.completions_api_key_env) or None,
            timeout=self.completions_timeout,
            concurrency=self.completions_concurrency,
            seed=self.completions_seed,
        )


def base_url(url: str) -> str:
    """The server's ``…/v1`` from what a user may give: the host, ``…/v1`` or ``…/v1/completions``.

    Example:
        >>> [base_url(u) for u in ("http://h:8000", "http://h:8000/v1/", "http://h:8000/v1/completions")]
        ['http://h:8000/v1', 'http://h:8000/v1', 'http://h:8000/v1']
    """
    url = url.rstrip("/")
    url = url.removesuffix("/completions")
    return url if url.endswith("/v1") else url + "/v1"


def load_tokenizer(model: str | None):
    """The tokenizer of a ``--model`` value (no weights are loaded): what the loop counts and
    decodes with while the server generates."""
    from transformers import AutoTokenizer

    from mem1_hf.defaults import tokenizer_source

    source = tokenizer_source(model)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise Mem1InputError(f"cannot load the tokenizer of --model {source!r}: {first}") from err


class RemotePolicy:
    """The agent's policy on an OpenAI-compatible completions server (see the module docstring).

    Args:
        url: the server (``http://host:8000``; ``…/v1`` and ``…/v1/completions`` work too).
        tokenizer: the served model's tokenizer (the loop encodes prompts and decodes responses).
        profile: the prompt profile (stop and blocked strings).
        generation_config: a ``transformers.GenerationConfig`` like :class:`~mem1_hf.policy.ModelPolicy`'s
            (``max_new_tokens``; ``do_sample``, ``temperature``, ``top_p``, ``top_k``,
            ``repetition_penalty``); default: :meth:`PolicyConfig.generation_config` (greedy).
        model: the served model's name; default: the first of the server's ``/v1/models``.
        api_key: the bearer token (default: none).
        timeout: seconds to wait for one response.
        concurrency: requests in flight at once.
        seed: sampling seed; request ``n`` of this policy is sent ``seed + n``.

    The server is asked for its models when the policy is made, so a wrong URL fails before the
    first turn; vLLM's ``max_model_len`` becomes :attr:`context_limit`.
    """

    def __init__(
        self,
        url: str,
        tokenizer,
        profile: PromptProfile,
        generation_config=None,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = CompletionsConfig.completions_timeout,
        concurrency: int = CompletionsConfig.completions_concurrency,
        seed: int | None = None,
    ):
        CompletionsConfig(url, model, completions_timeout=timeout, completions_concurrency=concurrency)
        self.url = base_url(url)
        self.tokenizer = tokenizer
        self.profile = profile
        self.generation_config = generation_config or PolicyConfig().generation_config()
        self.timeout = timeout
        self.concurrency = concurrency
        self.seed = seed
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.model, limit = self._served_model(model)
        self.context_limit = limit or 1 << 30
        check_sampling(self.max_new_tokens, vars(self.generation_config), limit)

    @property
    def max_new_tokens(self) -> int:
        """The response budget per turn."""
        return int(self.generation_config.max_new_tokens)

    def release(self, key: str) -> None:
        """Nothing to forget here: the server keeps its own (prefix) cache."""

    # -- the wire ------------------------------------------------------------------------
    def _send(self, method: str, path: str, payload: Any = None) -> Any:
        """One HTTP call; its JSON answer, or one error line naming the URL."""
        url = f"{self.url}/{path}"
        try:
            response = self.session.request(method, url, json=payload, timeout=self.timeout)
        except requests.Timeout:
            raise CompletionsServerError(f"{url}: no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as err:
            why = "connection refused" if "refused" in str(err).lower() else "cannot connect"
            raise CompletionsServerError(f"{url}: {why} (is the generation server running?)") from None
        if response.status_code >= 400:
            detail = _error_message(response)
            where = f"{url}: HTTP {response.status_code}{': ' + detail if detail else ''}"
            if response.status_code >= 500:
                raise CompletionsServerError(where)
            raise Mem1InputError(where)
        try:
            return response.json()
        except ValueError:
            raise CompletionsServerError(f"{url} did not answer JSON") from None

    def _served_model(self, model: str | None) -> tuple[str | None, int | None]:
        """The model to ask for and its context (vLLM's ``max_model_len``; None if not said)."""
        try:
            listing = self._send("GET", "models")
        except Mem1InputError:
            if model is None:  # a server without /v1/models: the user must name the model
                raise
            return model, None
        entries = [m for m in (listing or {}).get("data") or [] if isinstance(m, dict) and m.get("id")]
        if model is None:
            if not entries:
                raise Mem1InputError(f"{self.url}/models lists no model; give --completions-model")
            model = str(entries[0]["id"])
        entry = next((m for m in entries if m["id"] == model), None)
        if entries and entry is None:
            names = ", ".join(str(m["id"]) for m in entries)
            raise Mem1InputError(f"{self.url} does not serve {model!r}; it serves: {names}")
        limit = (entry or {}).get("max_model_len")
        return model, int(limit) if isinstance(limit, int) and limit > 0 else None

    def payload(self, request: GenerationRequest, seed: int | None = None) -> dict[str, Any]:
        """The JSON body of one request (see the module docstring)."""
        config = self.generation_config
        sampling = bool(config.do_sample)
        room = self.context_limit - len(request.context_ids)
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": list(request.context_ids),
            "max_tokens": max(1, min(self.max_new_tokens, room)),
            "temperature": float(config.temperature or 1.0) if sampling else 0.0,
            "top_p": float(config.top_p if sampling and config.top_p is not None else 1.0),
            "top_k": int(config.top_k) if sampling and config.top_k else -1,  # -1: the whole vocabulary
            "repetition_penalty": float(config.repetition_penalty or 1.0),
            "stop": list(self.profile.stop_strings(request.last_turn)),
            "include_stop_str_in_output": True,
            "return_tokens_as_token_ids": True,
            "logprobs": 0,  # the sampled token's log-prob only
            "skip_special_tokens": False,
            "bad_words": list(self.profile.banned_strings(request.last_turn)),
            "n": 1,
            "stream": False,
        }
        if sampling and seed is not None:
            body["seed"] = seed
        return body

    def _complete(self, request: GenerationRequest, seed: int | None) -> GenerationResult:
        return self._result(self._send("POST", "completions", self.payload(request, seed)))

    def _result(self, reply: Any) -> GenerationResult:
        """The sampled ids, their log-probs and the stop reason of one reply."""
        where = f"{self.url}/completions"
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise CompletionsServerError(f"{where}: the reply has no choices")
        choice = choices[0]
        logprobs = choice.get("logprobs") or {}
        tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
        if not tokens or not all(isinstance(t, str) and t.startswith(TOKEN_ID_PREFIX) for t in tokens):
            raise Mem1InputError(
                f"{where}: the reply has no token ids (logprobs.tokens as '{TOKEN_ID_PREFIX}N'); "
                f"the server must support {_EXTENSIONS}"
            )
        if not values or len(values) != len(tokens) or any(v is None for v in values):
            raise Mem1InputError(
                f"{where}: the reply has no log-prob for every sampled token (logprobs.token_logprobs); "
                f"the server must support {_EXTENSIONS}"
            )
        try:
            ids = [int(t[len(TOKEN_ID_PREFIX) :]) for t in tokens]
        except ValueError:
            raise CompletionsServerError(f"{where}: a token is not '{TOKEN_ID_PREFIX}N'") from None
        finish = choice.get("finish_reason")
        if finish == "length":
            reason = "length"
        elif finish == "stop":
            reason = self._stop_reason(choice, ids)
        else:
            raise CompletionsServerError(f"{where}: finish_reason {finish!r} (expected 'stop' or 'length')")
        return GenerationResult(ids, [float(v) for v in values], reason)

    def _stop_reason(self, choice: dict, ids: list[int]) -> str:
        """``"stop_string"`` or ``"eos"``: vLLM's ``stop_reason`` is the matched stop string (a
        str), a stop token id, or None for the end-of-sequence token; without it, the last id says."""
        if "stop_reason" in choice:
            return "stop_string" if isinstance(choice["stop_reason"], str) else "eos"
        eos = self.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        eos_ids.add(self.tokenizer.eos_token_id)
        return "eos" if ids[-1] in eos_ids else "stop_string"

    # -- the policy ----------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One HTTP request per task, ``concurrency`` at a time; results in request order."""
        with self._lock:  # seeds follow the request order, whatever the threads do
            seeds = [None if self.seed is None else self.seed + next(self._counter) for _ in requests]
        if len(requests) == 1:
            return [self._complete(requests[0], seeds[0])]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._complete, requests, seeds))

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()


def _error_message(response: requests.Response) -> str:
    """The server's own short error message (OpenAI's ``{"error": {"message"}}``, vLLM's and
    FastAPI's variants), on one line."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message: Any = body
    if isinstance(body, dict):
        message = body.get("error", body.get("message", body.get("detail", "")))
        if isinstance(message, dict):
            message = message.get("message", "")
    text = " ".join(str(message).split())
    return text if len(text) <= 300 else text[:299] + "…"
