"""Prompt profiles: hint, observation, prompt text and the chat-template continuation rule."""

from __future__ import annotations

import pytest

from mem1_hf.errors import Mem1InputError
from mem1_hf.prompts import PROFILES, encode_prompt, get_profile


def test_hint_matches_mem1():
    profile = get_profile("mem1-qa")
    assert profile.hint(5) == "[HINT]You have 5 turns left.[/HINT]"
    assert profile.hint(1) == "[HINT]You have 1 turn left. You must answer the question now.[/HINT]"


def test_observation_format():
    obs = get_profile("mem1-qa").observation('Doc 1(Title: "A") text\n', 2)
    assert obs == '<information>\n[HINT]You have 2 turns left.[/HINT]\nDoc 1(Title: "A") text\n</information>'


def test_prompt_joins_questions_and_names_the_tags():
    prompt = get_profile("mem1-qa").build_prompt(["Who? ", "When?"])
    assert prompt.rstrip().endswith("Questions: Who?; When?")
    assert "<think>" in prompt and "<search>" in prompt and "<answer>" in prompt and "<information>" in prompt
    assert "<IS>" in get_profile("mem1-paper").build_prompt(["q"])
    assert "<think>" not in get_profile("mem1-paper").build_prompt(["q"])


def test_stop_and_banned_strings():
    qa = get_profile("mem1-qa")
    assert qa.stop_strings(last_turn=False) == ("</search>", "</answer>")
    assert qa.stop_strings(last_turn=True) == ("</answer>",)
    assert qa.banned_strings(last_turn=False) == ("<information>",)
    assert qa.banned_strings(last_turn=True) == ("<information>", "<search>")


def test_unknown_profile_is_a_user_error():
    with pytest.raises(Mem1InputError, match="unknown prompt profile"):
        get_profile("mem2")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_prompt_plus_memory_is_the_continued_assistant_turn(tokenizer, name):
    """docs/design.md: the input is the chat template of [user: prompt, assistant: memory] minus the
    trailing end-of-turn; our ids are the prompt's ids (with the generation prompt) + memory ids."""
    profile = get_profile(name)
    questions = ["Who wrote Hamlet?", "When was Yale founded?"]
    memory = (
        "<think>Hamlet: Shakespeare.</think><search>Yale founded</search><information>\nx\n</information>"
    )
    ids = (
        encode_prompt(tokenizer, profile, questions)
        + tokenizer(memory, add_special_tokens=False)["input_ids"]
    )
    messages = [
        {"role": "user", "content": profile.build_prompt(questions)},
        {"role": "assistant", "content": memory},
    ]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    end_of_turn = tokenizer.eos_token + "\n"
    assert full.endswith(end_of_turn)
    assert tokenizer.decode(ids) == full[: -len(end_of_turn)]


def test_model_without_chat_template_is_a_user_error(tokenizer):
    import copy

    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    with pytest.raises(Mem1InputError, match="chat template"):
        encode_prompt(bare, get_profile("mem1-qa"), ["q"])
