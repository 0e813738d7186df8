"""ModelPolicy: batched generation with the reused prompt KV cache is exact, and its log-probs
are the model's own (the trainer relies on both)."""

from __future__ import annotations

import torch

from mem1_hf.policy import GenerationRequest, ModelPolicy, PolicyConfig
from mem1_hf.prompts import encode_prompt, get_profile

QA = get_profile("mem1-qa")


def _requests(tokenizer) -> list[GenerationRequest]:
    tasks = [
        ["Who wrote Hamlet?"],
        ["When was Yale founded?", "Who founded it?"],
        ["Where is Lawrence, Kansas?"],
    ]
    suffixes = [
        "",
        "<think>Yale: 1701.</think><search>Yale founder</search><information>\nDoc 1 x\n</information>",
        "<think>m</think>",
    ]
    requests = []
    for i, (questions, suffix) in enumerate(zip(tasks, suffixes)):
        prompt = encode_prompt(tokenizer, QA, questions)
        context = prompt + tokenizer(suffix, add_special_tokens=False)["input_ids"]
        requests.append(GenerationRequest(f"t{i}", prompt, context, last_turn=i == 2))
    return requests


def test_cached_batch_equals_uncached_one_by_one(tiny_model, tokenizer):
    requests = _requests(tokenizer)
    cached = ModelPolicy(
        tiny_model,
        tokenizer,
        QA,
        PolicyConfig(max_new_tokens=12).generation_config(),
        reuse_prompt_cache=True,
    )
    batch = cached.generate(requests)
    plain = ModelPolicy(
        tiny_model,
        tokenizer,
        QA,
        PolicyConfig(max_new_tokens=12).generation_config(),
        reuse_prompt_cache=False,
    )
    for request, result in zip(requests, batch):
        single = plain.generate([request])[0]
        assert result.ids == single.ids
        assert torch.allclose(torch.tensor(result.logprobs), torch.tensor(single.logprobs), atol=1e-4)
    # the second turn reuses the cache computed by the first
    again = cached.generate(requests)
    assert [r.ids for r in again] == [r.ids for r in batch]


def test_logprobs_equal_a_plain_forward_pass(tiny_model, tokenizer):
    requests = _requests(tokenizer)
    results = ModelPolicy(
        tiny_model, tokenizer, QA, PolicyConfig(max_new_tokens=10).generation_config()
    ).generate(requests)
    for request, result in zip(requests, results):
        ids = torch.tensor([request.context_ids + result.ids])
        with torch.no_grad():
            logits = tiny_model(ids).logits[0, len(request.context_ids) - 1 : -1]
        expected = (
            torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(result.ids)[:, None]).squeeze(-1)
        )
        assert (expected - torch.tensor(result.logprobs)).abs().max() <= 1e-4


def test_release_forgets_the_prompt_cache(tiny_model, tokenizer):
    policy = ModelPolicy(tiny_model, tokenizer, QA, PolicyConfig(max_new_tokens=2).generation_config())
    policy.generate(_requests(tokenizer)[:1])
    assert "t0" in policy._prompt_kv
    policy.release("t0")
    assert "t0" not in policy._prompt_kv


def test_trim_cuts_at_the_stop_or_eos(tiny_model, tokenizer):
    policy = ModelPolicy(tiny_model, tokenizer, QA)
    eos = tiny_model.generation_config.eos_token_id
    new = torch.tensor([5, 6, 7, eos, eos])
    logprobs = torch.zeros(5)
    assert policy._trim(new, logprobs, stopped_at=None).ids == [5, 6, 7, eos]
    assert policy._trim(new, logprobs, stopped_at=None).stop_reason == "eos"
    assert policy._trim(new, logprobs, stopped_at=2).ids == [5, 6]
    assert policy._trim(torch.tensor([5, 6, 7]), torch.zeros(3), stopped_at=None).stop_reason == "length"


def test_a_model_at_its_context_window_stops_cleanly(tokenizer, hotpot_env):
    """Full context outgrows a model with a 600-token window: the task ends with
    stop_reason="context_limit", and no turn ever asks the model for more than its window."""
    from conftest import make_tiny_llama

    from mem1_hf.loop import AgentLoop, LoopConfig, Task

    model = make_tiny_llama(
        tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=1, max_position_embeddings=600
    )
    policy = ModelPolicy(model, tokenizer, QA, PolicyConfig(max_new_tokens=64).generation_config())
    assert policy.context_limit == 600
    loop = AgentLoop(policy, hotpot_env, LoopConfig(mode="full_context", max_turns=10))
    trajectory = loop.run([Task("long", ["Who is older, Annie Morton or Terry Richardson?"])])[0]
    assert trajectory.stop_reason == "context_limit"
    assert all(t.context_tokens + t.generated_tokens <= 600 for t in trajectory.turns)
    assert len(trajectory.turns) >= 2
