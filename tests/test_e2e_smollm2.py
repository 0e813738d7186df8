"""End to end with the real default model (SmolLM2-135M-Instruct) on a real HotpotQA corpus.

A 135M model rarely follows the MEM1 format, so these tests check the loop's guarantees (the
context each mode builds, clean turns, batching), not answer quality.
"""

from __future__ import annotations

import pytest
from transformers import pipeline

import mem1_hf  # noqa: F401  (registers "mem1-agent")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(smollm2, hotpot_env):
    model, tokenizer = smollm2
    return pipeline("mem1-agent", model=model, tokenizer=tokenizer, env=hotpot_env, device="cpu")


def _obs_tokens(tokenizer, turn) -> int:
    return (
        len(tokenizer(turn["observation"], add_special_tokens=False)["input_ids"])
        if turn["observation"]
        else 0
    )


@pytest.mark.parametrize("n_questions", [2, 4])
@pytest.mark.parametrize("mode", ["mem1", "full_context", "truncate"])
def test_modes_with_the_real_model(agent, smollm2, hotpot_questions, mode, n_questions):
    tokenizer = smollm2[1]
    questions = [q for q, _ in hotpot_questions[10 : 10 + n_questions]]
    out = agent(
        questions, mode=mode, max_turns=4, max_new_tokens=48, truncate_tokens=200, return_token_ids=True
    )
    assert len(out["answers"]) == n_questions and all(isinstance(a, str) for a in out["answers"])
    turns = out["turns"]
    assert 1 <= len(turns) <= 4 and out["stop_reason"] in {"answered", "max_turns"}
    assert all(t["action"] in {"search", "answer", "invalid"} for t in turns)
    prompt = len(turns[0]["input_ids"])
    for prev, turn in zip(turns, turns[1:]):
        assert turn["input_ids"][:prompt] == turns[0]["input_ids"]  # the task prompt always leads
        grown = prev["context_tokens"] + prev["generated_tokens"] + _obs_tokens(tokenizer, prev)
        if mode == "mem1":  # prompt + one memory block + one observation, never more
            assert turn["context_tokens"] <= prompt + prev["generated_tokens"] + _obs_tokens(tokenizer, prev)
        elif mode == "full_context":  # everything so far, exactly
            assert turn["context_tokens"] == grown
            assert (
                turn["input_ids"]
                == prev["input_ids"]
                + prev["output_ids"]
                + tokenizer(prev["observation"], add_special_tokens=False)["input_ids"]
            )
        else:
            assert turn["context_tokens"] <= prompt + 200
    peak = max(t["context_tokens"] + t["generated_tokens"] for t in turns)
    assert out["peak_tokens"] == peak and out["dependency"] > 0 and out["time_s"] > 0


def test_batch_equals_one_by_one(agent, hotpot_questions):
    """fp32 greedy: batching pads the inputs, which could flip an argmax only on a near tie;
    with the reused prompt cache the padded batch computes the same logits as single runs."""
    tasks = [[hotpot_questions[20][0]], [hotpot_questions[21][0], hotpot_questions[22][0]]]
    batched = agent(tasks, batch_size=2, max_turns=3, max_new_tokens=32)
    single = [agent(task, max_turns=3, max_new_tokens=32) for task in tasks]
    assert [[t["response"] for t in o["turns"]] for o in batched] == [
        [t["response"] for t in o["turns"]] for o in single
    ]
    assert [o["answers"] for o in batched] == [o["answers"] for o in single]
