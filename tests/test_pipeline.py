"""The "mem1-agent" pipeline: registration, input forms, and one-line errors for bad input."""

from __future__ import annotations

import copy

import pytest
from transformers import pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import mem1_hf
from mem1_hf.errors import Mem1InputError
from mem1_hf.pipeline import normalise_tasks


@pytest.fixture(scope="module")
def tiny_agent(tiny_model, tokenizer, hotpot_env):
    return pipeline("mem1-agent", model=tiny_model, tokenizer=tokenizer, env=hotpot_env, device="cpu")


def test_task_is_registered():
    assert "mem1-agent" in PIPELINE_REGISTRY.get_supported_tasks()
    mem1_hf.register_pipeline()  # idempotent


def test_input_forms(tiny_agent):
    one = tiny_agent("Who is older, Annie Morton or Terry Richardson?", max_turns=1, max_new_tokens=4)
    assert isinstance(one, dict) and len(one["answers"]) == 1
    two = tiny_agent(["q one?", "q two?"], max_turns=1, max_new_tokens=4)
    assert len(two["answers"]) == 2 and two["questions"] == ["q one?", "q two?"]
    many = tiny_agent([["a?"], ["b?", "c?"], ["d?"]], batch_size=2, max_turns=2, max_new_tokens=4)
    assert [len(o["answers"]) for o in many] == [1, 2, 1]
    assert set(many[0]) >= {"answers", "turns", "peak_tokens", "dependency", "time_s"}
    turn = many[0]["turns"][0]
    assert set(turn) >= {
        "context_tokens",
        "generated_tokens",
        "internal_state",
        "action",
        "query",
        "answer",
        "observation",
    }
    assert "input_ids" not in turn


def test_generation_kwargs_pass_through(tiny_agent):
    out = tiny_agent(["q?"], max_turns=1, max_new_tokens=3, do_sample=True, temperature=0.7, top_p=0.9)
    assert out["turns"][0]["generated_tokens"] <= 3
    ids = tiny_agent(["q?"], max_turns=1, max_new_tokens=3, return_token_ids=True)["turns"][0]
    assert len(ids["output_ids"]) == len(ids["logprobs"]) == ids["generated_tokens"]


@pytest.mark.parametrize(
    "inputs, message",
    [
        ([], "a task is"),
        ([[]], "task 1 has no questions"),
        (["ok?", "  "], "empty question"),
        ([["ok?"], ["fine?", ""]], "task 2 has an empty question"),
        (["ok?", 3], "a task is"),
        (None, "a task is"),
    ],
)
def test_bad_tasks(inputs, message):
    with pytest.raises(Mem1InputError, match=message):
        normalise_tasks(inputs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "summarise"}, "unknown mode"),
        ({"prompt_profile": "mem2"}, "unknown prompt profile"),
        ({"max_turns": 0}, "max_turns must be >= 1"),
        ({"max_obs_tokens": 0}, "max_obs_tokens must be >= 1"),
        ({"colour": "red"}, "unknown argument"),
    ],
)
def test_bad_arguments(tiny_agent, kwargs, message):
    with pytest.raises(Mem1InputError, match=message):
        tiny_agent(["q?"], **kwargs)


def test_missing_env_and_chat_template(tiny_model, tokenizer, hotpot_env):
    no_env = pipeline("mem1-agent", model=tiny_model, tokenizer=tokenizer, device="cpu")
    with pytest.raises(Mem1InputError, match="needs an environment"):
        no_env(["q?"])
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    agent = pipeline("mem1-agent", model=tiny_model, tokenizer=bare, env=hotpot_env, device="cpu")
    with pytest.raises(Mem1InputError, match="no chat template"):
        agent(["q?"])


@pytest.mark.slow
def test_model_given_as_a_path(default_path, hotpot_env):
    agent = pipeline("mem1-agent", model=str(default_path), env=hotpot_env, device="cpu")
    out = agent(["Who is older, Annie Morton or Terry Richardson?"], max_turns=1, max_new_tokens=8)
    assert out["turns"][0]["generated_tokens"] >= 1


def test_importing_the_pipeline_module_first_registers_the_task():
    """`import mem1_hf.pipeline` before anything else (its import of transformers.pipelines runs
    mem1_hf's registration hook while it is half loaded): no circular import, the task registered."""
    import subprocess
    import sys

    code = (
        "import mem1_hf.pipeline\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "assert 'mem1-agent' in PIPELINE_REGISTRY.get_supported_tasks()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
