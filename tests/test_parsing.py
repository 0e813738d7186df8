"""The response parser: actions, internal state, kept span, invalid turns, answer splitting."""

from __future__ import annotations

from mem1_hf.parsing import parse_response, split_answers
from mem1_hf.prompts import get_profile

QA = get_profile("mem1-qa")


def test_search_with_state():
    text = "<think>I need the founder.</think>\n<search> Yale founder </search>"
    parsed = parse_response(text, QA)
    assert (parsed.action, parsed.content, parsed.internal_state) == (
        "search",
        "Yale founder",
        "I need the founder.",
    )
    assert parsed.memory_span == (0, len(text))


def test_answer():
    parsed = parse_response("<think>done</think><answer>Paris; 1701</answer>", QA)
    assert (parsed.action, parsed.content) == ("answer", "Paris; 1701")


def test_first_action_wins():
    text = "<think>x</think><answer>A</answer><search>q</search>"
    assert parse_response(text, QA).action == "answer"
    text = "<think>x</think><search>q</search><answer>A</answer>"
    parsed = parse_response(text, QA)
    assert (parsed.action, parsed.content) == ("search", "q")
    assert text[slice(*parsed.memory_span)] == "<think>x</think><search>q</search>"


def test_memory_span_starts_at_the_state_and_ends_at_the_action():
    text = "Sure! <think>mem</think> <search>q</search> trailing"
    parsed = parse_response(text, QA)
    assert text[slice(*parsed.memory_span)] == "<think>mem</think> <search>q</search>"


def test_unclosed_state_still_starts_the_memory():
    text = "blah <think>mem <search>q</search>"
    parsed = parse_response(text, QA)
    assert text[slice(*parsed.memory_span)] == "<think>mem <search>q</search>"
    assert parsed.internal_state == ""


def test_invalid_responses_never_raise():
    for text in ["", "no tags at all", "<search>unclosed", "<answer>", "<think>only thinking</think>"]:
        parsed = parse_response(text, QA)
        assert parsed.action == "invalid" and parsed.content == ""
        assert parsed.memory_span == (0, len(text.rstrip()))
    assert parse_response("<think>only thinking</think>", QA).internal_state == "only thinking"


def test_paper_profile_uses_is_tag():
    parsed = parse_response("<IS>state</IS><search>q</search>", get_profile("mem1-paper"))
    assert parsed.internal_state == "state"
    assert (
        parse_response("<think>t</think><search>q</search>", get_profile("mem1-paper")).internal_state == ""
    )


def test_webshop_profile_drops_think_keeps_summary():
    text = "<think>look at price</think><summary>want red shoes</summary><answer>click[buy now]</answer>"
    parsed = parse_response(text, get_profile("mem1-webshop"))
    assert (parsed.action, parsed.content, parsed.internal_state) == (
        "answer",
        "click[buy now]",
        "want red shoes",
    )
    assert (
        text[slice(*parsed.memory_span)] == "<summary>want red shoes</summary><answer>click[buy now]</answer>"
    )


def test_split_answers():
    assert split_answers("a; b ;c", 3) == (["a", "b", "c"], True)
    assert split_answers("a; b; c", 2) == (["a", "b"], False)
    assert split_answers("", 2) == (["", ""], False)
    assert split_answers("only", 1) == (["only"], True)
