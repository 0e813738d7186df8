"""The demo's UI-free part: model resolution, input limits, streamed runs of several modes."""

from __future__ import annotations

import pytest
from transformers import pipeline

from mem1_hf.demo.runner import (
    MAX_QUESTION_CHARS,
    MAX_QUESTIONS,
    DemoRunner,
    check_turns,
    parse_questions,
    resolve_model,
)
from mem1_hf.errors import Mem1InputError


def test_resolve_model_prefers_argument_then_env_then_the_default_agent(tmp_path, monkeypatch, default_path):
    from mem1_hf.defaults import default_agent_path

    monkeypatch.setenv("MEM1_HF_HOME", str(tmp_path))
    monkeypatch.delenv("MEM1_MODEL", raising=False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / default_path.name).symlink_to(default_path)  # the converted base model
    # no model named: the trained default agent (base + shipped adapter, merged into the cache)
    assert resolve_model() == str(default_agent_path())
    assert resolve_model().startswith(str(tmp_path / "models"))
    monkeypatch.setenv("MEM1_MODEL", "base")  # the untrained base, for comparison
    assert resolve_model() == str(tmp_path / "models" / default_path.name)
    monkeypatch.setenv("MEM1_MODEL", "org/some-mem1-checkpoint")
    assert resolve_model() == "org/some-mem1-checkpoint"
    assert resolve_model("explicit/path") == "explicit/path"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "type at least one question"),
        ("\n  \n", "type at least one question"),
        ("\n".join(f"q{i}?" for i in range(MAX_QUESTIONS + 1)), f"at most {MAX_QUESTIONS} questions"),
        ("x" * (MAX_QUESTION_CHARS + 1), f"the limit is {MAX_QUESTION_CHARS}"),
    ],
)
def test_question_limits(text, message):
    with pytest.raises(Mem1InputError, match=message):
        parse_questions(text)


def test_turn_limits():
    assert check_turns(3.0) == 3
    for bad in (0, 11, "many", None):
        with pytest.raises(Mem1InputError):
            check_turns(bad)


def test_stream_yields_every_turn_of_each_mode_and_scores(tiny_model, tokenizer, hotpot_env):
    agent = pipeline("mem1-agent", model=tiny_model, tokenizer=tokenizer, env=hotpot_env, device="cpu")
    runner = DemoRunner(agent, hotpot_env, "tiny", max_new_tokens=6)
    golds = [["Terry Richardson"], ["Chief of Protocol"]]
    states = []
    for state in runner.stream(["q one?", "q two?"], ["mem1", "full_context"], max_turns=3, golds=golds):
        states.append(
            (
                state.active,
                {m: len(r.turns) for m, r in state.runs.items()},
                {m: r.done for m, r in state.runs.items()},
            )
        )
    final = state
    assert final.done and final.active is None
    for run in final.runs.values():
        assert len(run.turns) == len(run.result["turns"]) >= 1
        streamed = [{k: event[k] for k in turn} for event, turn in zip(run.turns, run.result["turns"])]
        assert streamed == run.result["turns"]  # what streamed is what the pipeline returned
        assert set(run.scores) == {"em_sum", "f1_sum", "em", "f1"}
    # mem1 ran first, then full_context; each yield added one turn or one result
    assert states[0][0] == "mem1" and states[-1][0] is None
    counts = [sum(s[1].values()) + sum(s[2].values()) for s in states]
    assert all(b - a in (0, 1) for a, b in zip(counts, counts[1:]))


def test_stream_reports_errors_from_the_worker(tiny_model, tokenizer, hotpot_env):
    agent = pipeline("mem1-agent", model=tiny_model, tokenizer=tokenizer, env=hotpot_env, device="cpu")
    runner = DemoRunner(agent, hotpot_env, "tiny", max_new_tokens=4)
    with pytest.raises(Mem1InputError, match="max_turns"):
        list(runner.stream(["q?"], ["mem1"], max_turns=0))
    with pytest.raises(Mem1InputError, match="unknown mode"):
        list(runner.stream(["q?"], ["truncate"], max_turns=1))
