"""Prompt profiles are files (issue 26 parts 3-5): the built-in ones load from their YAML and render
exactly what they rendered before the move; a user's file loads by path; a malformed one is one
error line; ``mem1-release`` and ``search-r1`` give, turn by turn, the text and ids their authors'
format rules give (fixtures derived here from those rules as facts, not from our code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import require_data

from mem1_hf.errors import Mem1InputError
from mem1_hf.loop import LoopConfig, Task, run_agent_loop
from mem1_hf.policy import ScriptedPolicy
from mem1_hf.prompts import PROFILE_DIR, PROFILES, get_profile, load_profile

FIXTURES = Path(__file__).parent / "fixtures" / "profiles"


def _rendered(profile) -> dict:
    """What tests/fixtures/profiles/before_the_move.json recorded for each built-in profile (written
    from the profiles as Python objects, before they became files)."""
    return {
        "prompt_1": profile.build_prompt(["who wrote hamlet"]),
        "prompt_2": profile.build_prompt(["who wrote hamlet?", " when was it first performed "]),
        "hint_3": profile.hint(3),
        "hint_1": profile.hint(1),
        "observation_docs": profile.observation(
            'Doc 1(Title: "Hamlet") A play.\nDoc 2(Title: "Macbeth") Another.\n', 4
        ),
        "observation_no_newline": profile.observation("Invalid action: nope", 1),
        "stop": list(profile.stop_strings(False)),
        "stop_last": list(profile.stop_strings(True)),
        "banned": list(profile.banned_strings(False)),
        "banned_last": list(profile.banned_strings(True)),
        "invalid_message": profile.invalid_message,
        "state_tag": profile.state_tag,
        "action_tags": list(profile.action_tags),
        "final_tag": profile.final_tag,
        "search_tag": profile.search_tag,
        "discarded_tags": list(profile.discarded_tags),
        "observation_tag": profile.observation_tag,
    }


BEFORE = json.loads((FIXTURES / "before_the_move.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_builtin_profiles_render_what_they_rendered_before_the_move(name, tokenizer):
    profile = get_profile(name)
    assert profile.source == str((PROFILE_DIR / f"{name}.yaml").resolve())  # loaded from its file
    assert _rendered(profile) == BEFORE[name]
    ids = tokenizer(profile.build_prompt(["who wrote hamlet"]))["input_ids"]
    assert ids == tokenizer(BEFORE[name]["prompt_1"])["input_ids"]


def test_every_profile_file_is_a_builtin_and_loads():
    files = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
    assert (
        files
        == sorted(PROFILES)
        == sorted(["mem1-qa", "mem1-paper", "mem1-webshop", "mem1-release", "search-r1"])
    )
    for name in files:
        assert load_profile(PROFILE_DIR / f"{name}.yaml") == get_profile(name)


def test_a_users_profile_file_runs_through_the_loop(tmp_path, tokenizer, hotpot_env):
    """`extends:` a built-in and replace its instruction: the loop's prompt is the user's text, by
    path in Python (prompt_profile=PATH) as on the command line (--prompt-profile PATH)."""
    path = tmp_path / "terse.yaml"
    path.write_text(
        "extends: mem1-qa\nname: terse\ninstruction: |\n  Answer with <{{ state }}> memory. Q: {{ questions }}\n"
    )
    task = Task("t", ["Who is older, Annie Morton or Terry Richardson?"])
    script = {"0:t": ["<think>m</think><answer>Terry Richardson</answer>"]}
    trajectory = run_agent_loop(
        ScriptedPolicy(tokenizer, script), hotpot_env, [task], LoopConfig(prompt_profile=str(path))
    )[0]
    prompt = tokenizer.decode(trajectory.turns[0].input_ids)
    assert "Answer with <think> memory. Q: Who is older, Annie Morton or Terry Richardson?\n" in prompt
    assert trajectory.answers == ["Terry Richardson"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a list", "expected a mapping"),
        ("extends: mem1-qa\nname: x\nstop_words: [a]\n", "unknown key(s) stop_words"),
        (
            "name: x\nfamily: qa\nstate_tag: think\nfinal_tag: answer\ninstruction: hi\n",
            "missing action_tags",
        ),
        ("extends: mem1-qa\nname: x\ninvalid_action: retry\n", "invalid_action must be one of continue, end"),
        ("extends: mem1-qa\nname: x\nkeep: half\n", "keep must be one of memory, whole"),
        ("extends: mem1-qa\nname: x\nfinal_tag: done\n", "final_tag 'done' is not in action_tags"),
        (
            "extends: mem1-qa\nname: x\ninstruction: 'Q: {{ question }}'\n",
            "instruction: 'question' is undefined",
        ),
        ("extends: mem1-qa\nname: x\nobservation: '{% if %}'\n", "observation:"),
        ("extends: mem1-qa\nname: x\naction_tags: search\n", "action_tags must be a list of strings"),
        ("extends: mem1-qa\nname: x\nquestions: {joiner: ','}\n", "questions must be a mapping of separator"),
        ("extends: no-such-profile\n", "unknown prompt profile 'no-such-profile'"),
        ("extends: bad.yaml\nname: x\n", "extends itself"),
    ],
)
def test_a_malformed_profile_is_one_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(Mem1InputError) as err:
        get_profile(str(path))
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_malformed_profile_on_the_command_line_is_one_line(tmp_path, capsys):
    from mem1_hf.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text("extends: mem1-qa\nname: x\nkeep: half\n")
    assert main(["run", "--prompt-profile", str(path), "--corpus", str(tmp_path / "c.jsonl"), "who?"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keep must be one of memory, whole" in err[0] and "Traceback" not in err[0]


def test_a_profile_of_another_family_is_refused_by_the_environment(hotpot_env):
    from mem1_hf.task_env import as_task_env

    with pytest.raises(Mem1InputError, match="needs a qa prompt profile"):
        as_task_env(hotpot_env, "mem1-webshop")


# ----------------------------------------------------------------------------- the authors' formats
QUESTIONS = ["who is older, Annie Morton or Terry Richardson", "Which magazine was started first?"]
SCRIPT = [
    "<think>I need Annie Morton's birth year.</think><search>Annie Morton</search>",
    "<think>Annie Morton was born in 1970.</think><search>Terry Richardson</search>",
    "<think>Terry Richardson is older.</think><answer>Terry Richardson; Arthur's Magazine</answer>",
]


def _authors_documents(env, query: str, topk: int) -> str:
    """Both authors' passages2string: title = the first line of `contents`, text = the rest;
    each document 'Doc {i}(Title: {title}) {text}' and a newline."""
    out = ""
    for i, doc in enumerate(env.search([query], topk)[0]):
        title, *rest = doc.contents.split("\n")
        out += f"Doc {i + 1}(Title: {title}) " + "\n".join(rest) + "\n"
    return out


def _authors_hint(turns_left: int) -> str:
    if turns_left > 1:
        return f"[HINT]You have {turns_left} turns left.[/HINT]"
    return f"[HINT]You have {turns_left} turn left. You must answer the question now.[/HINT]"


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _release_turns(tokenizer, env, prompt: str, max_turns: int) -> list[tuple[str, list[int]]]:
    """MEM1's released inference (Mem1/inference): each turn the completion prompt is the chat
    template of [user: prompt, assistant: the kept text] with its final '<|im_end|>\\n' removed;
    the kept text is only the previous response + '<information>\\n' + hint + '\\n' + documents +
    '\\n</information>' (the older history is cleared). Its ids, as MEM1's training rollout builds
    them (Mem1/train/rollout/llm_agent/generation_think.py, _process_next_obs): the response's ids
    and the observation tokenized on its own, appended to the prompt's."""
    out, kept_text, kept_ids = [], "", []
    head = _ids(
        tokenizer,
        tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        ),
    )
    for turn, response in enumerate(SCRIPT):
        chat = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": kept_text}], tokenize=False
        )
        out.append((chat[: -len("<|im_end|>\n")], head + kept_ids))
        if "<search>" in response:
            query = response.split("<search>")[1].split("</search>")[0].strip()
            docs = _authors_documents(env, query, 3)
            observation = f"<information>\n{_authors_hint(max_turns - turn - 1)}\n{docs}\n</information>"
            kept_text = response + observation
            kept_ids = _ids(tokenizer, response) + _ids(tokenizer, observation)
    return out


def _authors_prompt_questions() -> str:
    """Both authors' data scripts: a question gets '?' when it lacks one; joined with '; '."""
    return "; ".join(q if q.endswith("?") else q + "?" for q in QUESTIONS)


def _run(tokenizer, env, profile: str, mode: str):
    task = Task("t", QUESTIONS)
    config = LoopConfig(prompt_profile=profile, mode=mode, max_turns=6, topk=3, max_obs_tokens=100_000)
    return run_agent_loop(ScriptedPolicy(tokenizer, {"0:t": SCRIPT}), env, [task], config)[0]


def test_mem1_release_turns_are_the_authors_inference_text(tokenizer, hotpot_env):
    require_data()
    trajectory = _run(tokenizer, hotpot_env, "mem1-release", "mem1")
    prompt = get_profile("mem1-release").build_prompt(QUESTIONS)
    assert prompt.endswith(f"Questions: {_authors_prompt_questions()}\n")
    expected = _release_turns(tokenizer, hotpot_env, prompt, max_turns=6)
    assert len(trajectory.turns) == len(SCRIPT) == len(expected)
    for turn, (text, ids) in zip(trajectory.turns, expected):
        assert tokenizer.decode(turn.input_ids) == text  # the authors' completion prompt, exactly
        assert turn.input_ids == ids  # token for token
    # their inference re-tokenizes the whole text each turn (vLLM text prompts): that differs from
    # these ids only where pieces meet ("</search>" + "<information>" -> "><" merges in SmolLM2's BPE)
    retokenized = _ids(tokenizer, expected[1][0])
    assert retokenized != expected[1][1] and tokenizer.decode(retokenized) == tokenizer.decode(expected[1][1])
    assert trajectory.answers == ["Terry Richardson", "Arthur's Magazine"]


def test_mem1_release_ends_the_episode_on_an_invalid_response(tokenizer, hotpot_env):
    task = Task("t", QUESTIONS)
    script = {"0:t": ["<think>hmm</think> I will look it up."]}
    trajectory = run_agent_loop(
        ScriptedPolicy(tokenizer, script), hotpot_env, [task], LoopConfig(prompt_profile="mem1-release")
    )[0]
    assert len(trajectory.turns) == 1 and trajectory.stop_reason == "invalid_action"
    mem1 = run_agent_loop(ScriptedPolicy(tokenizer, script), hotpot_env, [task], LoopConfig(max_turns=3))[0]
    assert len(mem1.turns) == 3 and mem1.stop_reason == "max_turns"  # mem1-qa corrects and goes on


def test_search_r1_turns_are_the_authors_rollout_text(tokenizer, hotpot_env):
    """Search-R1's rollout (search_r1/llm_agent/generation.py), full context: the prompt (chat
    template + generation prompt), then every response followed by '\\n\\n<information>' +
    documents stripped + '</information>\\n\\n', no turn hint; ids: each response's and each
    observation's, tokenized on its own, appended (as that rollout concatenates them)."""
    require_data()
    trajectory = _run(tokenizer, hotpot_env, "search-r1", "full_context")
    prompt = get_profile("search-r1").build_prompt(QUESTIONS)
    assert prompt.endswith(f"Question: {_authors_prompt_questions()}\n")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
    )
    ids = _ids(tokenizer, text)
    for turn, response in zip(trajectory.turns, SCRIPT):
        assert tokenizer.decode(turn.input_ids) == text
        assert turn.input_ids == ids
        if "<search>" in response:
            query = response.split("<search>")[1].split("</search>")[0].strip()
            observation = (
                f"\n\n<information>{_authors_documents(hotpot_env, query, 3).strip()}</information>\n\n"
            )
            text += response + observation
            ids += _ids(tokenizer, response) + _ids(tokenizer, observation)
    assert "[HINT]" not in text and len(trajectory.turns) == 3


def test_search_r1_corrects_an_invalid_response_outside_information(tokenizer, hotpot_env):
    task = Task("t", QUESTIONS[:1])
    script = {"0:t": ["I do not know.", "<think>ok</think><answer>Terry Richardson</answer>"]}
    config = LoopConfig(prompt_profile="search-r1", mode="full_context")
    trajectory = run_agent_loop(ScriptedPolicy(tokenizer, script), hotpot_env, [task], config)[0]
    observation = trajectory.turns[0].observation
    assert observation.startswith("\nMy previous action is invalid.") and observation.endswith(
        "Let me try again.\n"
    )
    assert "<information>" not in observation and trajectory.answers == ["Terry Richardson"]
