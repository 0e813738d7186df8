"""The agent loop with a scripted policy (fixed responses) over real BM25 retrieval: the modes,
the turn bookkeeping and the failure paths, independent of any model's quality."""

from __future__ import annotations

import pytest

from mem1_hf.errors import Mem1InputError
from mem1_hf.keep_rule import KeepRule
from mem1_hf.loop import AgentLoop, LoopConfig, Task, run_agent_loop
from mem1_hf.policy import ScriptedPolicy


def _script(questions: list[str], answers: list[str]) -> list[str]:
    """One search per question, then the answer (the shape of a good MEM1 trajectory)."""
    turns, memory = [], ""
    for q in questions:
        turns.append(f"<think>{memory}Next I look up: {q}</think>\n<search>{q}</search>")
        memory += f"Searched '{q}'. "
    turns.append(f"<think>{memory}All answered.</think>\n<answer>{'; '.join(answers)}</answer>")
    return turns


@pytest.fixture()
def tasks(hotpot_questions) -> list[Task]:
    picks = [hotpot_questions[0:2], hotpot_questions[2:6], hotpot_questions[6:7]]
    return [Task(f"t{i}", [q for q, _ in pick]) for i, pick in enumerate(picks)]


def _run(tasks, tokenizer, env, hotpot_questions, **config):
    golds = {q: a[0] for q, a in hotpot_questions}
    policy = ScriptedPolicy(
        tokenizer,
        {f"{i}:{t.id}": _script(t.questions, [golds[q] for q in t.questions]) for i, t in enumerate(tasks)},
    )
    return run_agent_loop(policy, env, tasks, LoopConfig(**config))


def test_mem1_context_is_prompt_plus_one_memory_plus_one_observation(
    tasks, tokenizer, hotpot_env, hotpot_questions
):
    trajectories = _run(tasks, tokenizer, hotpot_env, hotpot_questions, mode="mem1", max_turns=8)
    for trajectory in trajectories:
        history = trajectory.history
        prompt = history[0].ids
        assert trajectory.stop_reason == "answered"
        assert len(trajectory.turns) == len(trajectory.task.questions) + 1
        for k, turn in enumerate(trajectory.turns):
            assert turn.input_ids[: len(prompt)] == prompt
            if k == 0:
                assert turn.input_ids == prompt
                continue
            response, observation = history[2 * k - 1], history[2 * k]
            start, end = response.memory_span
            assert turn.input_ids == prompt + response.ids[start:end] + observation.ids
            # the recorded ids are what the keep rule gives for the history up to that turn
            assert turn.input_ids == KeepRule("mem1").context_ids(history[: 2 * k + 1])


def test_modes_grow_as_designed(tasks, tokenizer, hotpot_env, hotpot_questions):
    task = [tasks[1]]  # 4 questions: 5 turns
    sizes = {
        mode: [
            t.context_tokens
            for t in _run(task, tokenizer, hotpot_env, hotpot_questions, mode=mode, max_turns=8)[0].turns
        ]
        for mode in ("mem1", "full_context", "truncate")
    }
    full, mem1 = sizes["full_context"], sizes["mem1"]
    assert all(b > a for a, b in zip(full, full[1:]))  # full context grows every turn
    assert max(mem1) < full[-1] / 2  # 4 searches: full context holds all four observations
    history = _run(task, tokenizer, hotpot_env, hotpot_questions, mode="mem1", max_turns=8)[0].history
    bound = (
        mem1[0]
        + max(len(s.ids) for s in history if s.kind == "response")
        + max(len(s.ids) for s in history if s.kind == "observation")
    )
    assert max(mem1) <= bound  # prompt + one memory + one observation, whatever the turn
    truncated = _run(
        task, tokenizer, hotpot_env, hotpot_questions, mode="truncate", truncate_tokens=64, max_turns=8
    )[0]
    prompt_len = len(truncated.history[0].ids)
    assert all(t.context_tokens <= prompt_len + 64 for t in truncated.turns)


def test_answers_and_efficiency(tasks, tokenizer, hotpot_env, hotpot_questions):
    trajectory = _run(tasks[:1], tokenizer, hotpot_env, hotpot_questions)[0]
    golds = [a[0] for _, a in hotpot_questions[0:2]]
    assert trajectory.answers == golds and trajectory.answer_count_ok
    pairs = [(t.context_tokens, t.generated_tokens) for t in trajectory.turns]
    assert trajectory.peak_tokens == max(c + g for c, g in pairs)
    assert trajectory.dependency == pytest.approx(sum((c + g / 2) * g for c, g in pairs))
    out = trajectory.to_dict()
    assert [t["action"] for t in out["turns"]] == ["search", "search", "answer"]
    assert out["turns"][0]["query"] == hotpot_questions[0][0]
    assert out["turns"][-1]["answer"] == "; ".join(golds)
    assert out["time_s"] > 0


def test_observations_are_real_retrieval_with_the_hint(tasks, tokenizer, hotpot_env, hotpot_questions):
    trajectory = _run(tasks[:1], tokenizer, hotpot_env, hotpot_questions, max_turns=6)[0]
    first = trajectory.turns[0].observation
    assert first.startswith("<information>\n[HINT]You have 5 turns left.[/HINT]\nDoc 1(Title: ")
    assert first.endswith("</information>") and "Doc 3(Title: " in first
    assert "Corliss Archer" in first  # BM25 finds the gold paragraph for question 1


def test_invalid_turn_gets_a_correction_and_uses_a_turn(tokenizer, hotpot_env):
    task = Task("bad", ["Who is older, Annie Morton or Terry Richardson?"])
    script = {"0:bad": ["I am not sure what to do.", "<think>retry</think><answer>Terry Richardson</answer>"]}
    trajectory = run_agent_loop(
        ScriptedPolicy(tokenizer, script), hotpot_env, [task], LoopConfig(max_turns=4)
    )[0]
    assert [t.parsed.action for t in trajectory.turns] == ["invalid", "answer"]
    assert "My previous action is invalid" in trajectory.turns[0].observation
    assert "[HINT]You have 3 turns left.[/HINT]" in trajectory.turns[0].observation
    assert trajectory.answers == ["Terry Richardson"]


def test_turns_run_out_and_the_last_hint_says_answer_now(tokenizer, hotpot_env):
    task = Task("loop", ["Who is older, Annie Morton or Terry Richardson?"])
    script = {"0:loop": ["<think>m</think><search>Annie Morton</search>"]}
    trajectory = run_agent_loop(
        ScriptedPolicy(tokenizer, script), hotpot_env, [task], LoopConfig(max_turns=3)
    )[0]
    assert len(trajectory.turns) == 3 and trajectory.stop_reason == "max_turns"
    assert trajectory.answers == [""] and not trajectory.answer_count_ok
    assert "You have 1 turn left. You must answer the question now." in trajectory.turns[1].observation
    assert trajectory.turns[2].observation == ""  # nothing is retrieved after the last turn


def test_batching_gives_the_same_trajectories(tasks, tokenizer, hotpot_env, hotpot_questions):
    one = _run(tasks, tokenizer, hotpot_env, hotpot_questions, batch_size=1)
    two = _run(tasks, tokenizer, hotpot_env, hotpot_questions, batch_size=2)
    assert [t.task.id for t in two] == ["t0", "t1", "t2"]  # results come back in input order
    for a, b in zip(one, two):
        assert [t.input_ids for t in a.turns] == [t.input_ids for t in b.turns]
        assert a.answers == b.answers


def test_context_limit_ends_the_task_cleanly(tasks, tokenizer, hotpot_env, hotpot_questions):
    golds = {q: a[0] for q, a in hotpot_questions}
    task = tasks[1]
    policy = ScriptedPolicy(
        tokenizer, {f"0:{task.id}": _script(task.questions, [golds[q] for q in task.questions])}
    )
    loop = AgentLoop(policy, hotpot_env, LoopConfig(mode="full_context", max_turns=8), context_limit=900)
    trajectory = loop.run([task])[0]
    assert trajectory.stop_reason == "context_limit"
    assert 1 <= len(trajectory.turns) < 5 and all(t.context_tokens < 900 for t in trajectory.turns)


def test_observations_are_cut_to_the_budget(tasks, tokenizer, hotpot_env, hotpot_questions):
    trajectory = _run(tasks[:1], tokenizer, hotpot_env, hotpot_questions, max_obs_tokens=20)[0]
    observation = trajectory.turns[0].observation_ids
    wrapper = len(
        tokenizer("<information>\n[HINT]You have 5 turns left.[/HINT]\n\n</information>")["input_ids"]
    )
    assert len(observation) <= 20 + wrapper + 2


@pytest.mark.parametrize(
    "bad", [{"max_turns": 0}, {"batch_size": 0}, {"mode": "nope"}, {"prompt_profile": "nope"}]
)
def test_bad_config_is_a_user_error(bad):
    with pytest.raises(Mem1InputError):
        LoopConfig(**bad)
