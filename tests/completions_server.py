"""A test helper: a minimal OpenAI-compatible ``/v1/completions`` server over a transformers model.

It implements exactly the subset :class:`mem1_hf.remote_policy.RemotePolicy` sends, with vLLM's
meaning: ``prompt`` as token ids, ``max_tokens``, ``temperature`` (0 = greedy) / ``top_p`` /
``top_k`` (-1 = all) / ``repetition_penalty`` / ``seed``, ``stop`` strings (kept in the output
with ``include_stop_str_in_output``), ``bad_words``, ``logprobs`` (the sampled token's log-prob:
log-softmax of the raw float32 logits, divided by the temperature when sampling) and
``return_tokens_as_token_ids`` (tokens as ``"token_id:N"``); ``finish_reason`` is ``"stop"`` or
``"length"`` and ``stop_reason`` the matched stop string (None for the end-of-sequence token).
``GET /v1/models`` lists the model with its ``max_model_len``, as vLLM does.

Stop strings and bad words use the library's own text-level rules
(:class:`~mem1_hf.generation.StopOnTags`, :class:`~mem1_hf.generation.BanStrings`), so the server
stands in for vLLM on the wire; vLLM's ``bad_words`` ban token sequences instead (see
docs/training.md, "Rollouts on a generation server").

``extensions=False`` makes a plain OpenAI-style server (text tokens, no ``stop_reason``), the
kind the policy must refuse; ``api_key`` makes it demand that bearer token.

Example:
    >>> with serve_in_thread(create_app(model, tokenizer)) as url:  # doctest: +SKIP
    ...     policy = RemotePolicy(url, tokenizer, get_profile("mem1-qa"))
"""

from __future__ import annotations

import threading
import time
from typing import Any

import torch
from fastapi import FastAPI, Header, HTTPException
from serving import serve_app
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

from mem1_hf.generation import BanStrings, StopOnTags

MODEL_NAME = "smollm2-test"


def create_app(
    model, tokenizer, *, name: str = MODEL_NAME, extensions: bool = True, api_key: str | None = None
) -> FastAPI:
    """The app: ``GET /v1/models`` and ``POST /v1/completions`` (one prompt, one choice)."""
    app = FastAPI()
    app.state.requests = []  # every completions body received, in order
    lock = threading.Lock()  # one generation at a time (the model is shared)
    limit = int(getattr(model.config, "max_position_embeddings", 2048))

    def check_key(authorization: str | None) -> None:
        if api_key is not None and authorization != f"Bearer {api_key}":
            raise HTTPException(401, detail="invalid or missing bearer token")

    @app.get("/v1/models")
    def models(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        check_key(authorization)
        return {"object": "list", "data": [{"id": name, "object": "model", "max_model_len": limit}]}

    @app.post("/v1/completions")
    def completions(body: dict[str, Any], authorization: str | None = Header(default=None)) -> dict[str, Any]:
        check_key(authorization)
        app.state.requests.append(body)
        prompt = body.get("prompt")
        if not (isinstance(prompt, list) and prompt and all(isinstance(i, int) for i in prompt)):
            raise HTTPException(400, detail="this test server takes the prompt as a list of token ids")
        if body.get("model") not in (None, name):
            raise HTTPException(404, detail=f"the model {body.get('model')!r} does not exist")
        with lock:
            ids, logprobs, finish, stop_reason = _generate(model, tokenizer, prompt, body, extensions)
        if extensions and body.get("return_tokens_as_token_ids"):
            tokens = [f"token_id:{i}" for i in ids]
        else:
            tokens = [tokenizer.decode([i]) for i in ids]
        choice: dict[str, Any] = {
            "index": 0,
            "text": tokenizer.decode(ids, skip_special_tokens=bool(body.get("skip_special_tokens", True))),
            "logprobs": {
                "tokens": tokens,
                "token_logprobs": logprobs,
                "top_logprobs": None,
                "text_offset": [],
            }
            if body.get("logprobs") is not None
            else None,
            "finish_reason": finish,
        }
        if extensions:
            choice["stop_reason"] = stop_reason
        return {
            "id": f"cmpl-{len(app.state.requests)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": name,
            "choices": [choice],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(ids)},
        }

    return app


def _generate(model, tokenizer, prompt: list[int], body: dict[str, Any], extensions: bool):
    """``(ids, log-probs, finish_reason, stop_reason)`` of one completion."""
    temperature = float(body.get("temperature", 1.0))
    sampling = temperature > 0
    top_k = int(body.get("top_k", -1))
    config = GenerationConfig(
        max_new_tokens=int(body.get("max_tokens", 16)),
        do_sample=sampling,
        **(
            {"temperature": temperature, "top_p": float(body.get("top_p", 1.0)), "top_k": max(top_k, 0)}
            if sampling
            else {}
        ),
        repetition_penalty=float(body.get("repetition_penalty", 1.0)),
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        eos_token_id=model.generation_config.eos_token_id,
        return_dict_in_generate=True,
        output_logits=True,
    )
    stops = list(body.get("stop") or []) if extensions else []
    banned = list(body.get("bad_words") or []) if extensions else []
    ids = torch.tensor([prompt], device=model.device)
    stopper = StopOnTags(tokenizer, ids.shape[1], [stops])
    if sampling and body.get("seed") is not None:
        torch.manual_seed(int(body["seed"]))
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([stopper]),
            logits_processor=LogitsProcessorList([BanStrings(tokenizer, [banned])]),
        )
    new = out.sequences[0, ids.shape[1] :]
    logits = torch.stack(out.logits, dim=1)[0].float()  # raw logits, before the bans
    logprobs = torch.log_softmax(logits / (temperature if sampling else 1.0), dim=-1)
    picked = logprobs.gather(-1, new.unsqueeze(-1)).squeeze(-1)
    ids_out = new.tolist()
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    text = tokenizer.decode(ids_out, skip_special_tokens=False)
    matched = next((s for s in stops if s in text), None)
    if stopper.stopped_at[0] is not None and matched is not None:
        finish, stop_reason = "stop", matched
    elif ids_out and ids_out[-1] in eos_ids:
        finish, stop_reason = "stop", None
    else:
        finish, stop_reason = "length", None
    return ids_out, picked.tolist(), finish, stop_reason


serve_in_thread = serve_app  # the completions app on a free 127.0.0.1 port (tests/serving.py)
