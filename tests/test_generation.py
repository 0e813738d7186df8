"""StopOnTags and BanStrings at the token level, with the real SmolLM2 tokenizer."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from mem1_hf.generation import BanStrings, StopOnTags, vocab_texts


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _run_stops(tokenizer, texts, stops):
    """Feed each row's tokens one step at a time, as generate does; return stopped_at per row."""
    prompt = _ids(tokenizer, "Question: x")
    rows = [_ids(tokenizer, t) for t in texts]
    criteria = StopOnTags(tokenizer, len(prompt), stops)
    pad = tokenizer.pad_token_id
    for step in range(1, max(len(r) for r in rows) + 1):
        batch = [prompt + (r[:step] + [pad] * max(0, step - len(r))) for r in rows]
        criteria(torch.tensor(batch), torch.zeros(len(rows), 10))
    return criteria.stopped_at, rows


def test_stop_on_tags_is_per_row(tokenizer):
    texts = [
        "<think>a</think><search>Yale founded</search>",
        "<think>b</think><search>unclosed query",
        "<think>c</think><search>q</search> more",  # last turn: only </answer> stops
        "<think>d</think><answer>Paris</answer>",
    ]
    regular, last = ("</search>", "</answer>"), ("</answer>",)
    stopped, rows = _run_stops(tokenizer, texts, [regular, regular, last, last])
    assert stopped[1] is None and stopped[2] is None
    for row in (0, 3):
        n = stopped[row]
        assert n is not None
        text = tokenizer.decode(rows[row][:n])
        assert text.endswith(("</search>", "</answer>")), text  # stops on the completing token
        assert not tokenizer.decode(rows[row][: n - 1]).endswith(("</search>", "</answer>"))


def test_stop_when_the_tag_is_inside_a_longer_token(tokenizer):
    text = "<think>a</think><search>q</search>\n\n"
    stopped, rows = _run_stops(tokenizer, [text], [("</search>",)])
    assert "</search>" in tokenizer.decode(rows[0][: stopped[0]])


def _banned_ids(tokenizer, context: str, banned: tuple[str, ...]) -> set[int]:
    processor = BanStrings(tokenizer, [banned])
    ids = torch.tensor([_ids(tokenizer, context)])
    scores = processor(ids, torch.zeros(1, len(tokenizer)))
    return set(torch.nonzero(torch.isinf(scores[0])).flatten().tolist())


def test_ban_is_exact_on_text(tokenizer):
    """A token is banned iff appending its text would complete the banned string."""
    texts = vocab_texts(tokenizer)
    for context in ["<think>ok</think>\n<inform", "</think><information", "<think>x</think>", "abc <"]:
        tail = tokenizer.decode(_ids(tokenizer, context))
        banned = _banned_ids(tokenizer, context, ("<information>",))
        completes = {v for v, t in enumerate(texts) if "<information>" in tail[-13:] + t}
        assert banned == completes, context


def test_ban_catches_multi_token_spelling(tokenizer):
    # SmolLM2 spells the tag as '<' 'information' '>': the last piece is banned only in context
    assert [tokenizer.decode([i]) for i in _ids(tokenizer, "<information>")] == ["<", "information", ">"]
    texts = vocab_texts(tokenizer)
    close = {v for v, t in enumerate(texts) if t.startswith(">")}
    assert close <= _banned_ids(tokenizer, "<think>x</think><information", ("<information>",))
    assert not close & _banned_ids(tokenizer, "<think>x</think><inform", ("<information>",))
    word = {v for v, t in enumerate(texts) if t.startswith("information")}
    assert not word & _banned_ids(
        tokenizer, "</think>\n<", ("<information>",)
    )  # 'information' alone completes nothing


def test_ban_is_per_row(tokenizer):
    processor = BanStrings(tokenizer, [("<information>",), ("<information>", "<search>")])
    ids = torch.tensor([_ids(tokenizer, "</think><search"), _ids(tokenizer, "</think><search")])
    scores = processor(ids, torch.zeros(2, len(tokenizer)))
    close = _ids(tokenizer, ">")[0]
    assert torch.isfinite(scores[0, close]) and torch.isinf(scores[1, close])


class _Push(LogitsProcessor):
    """Test adversary: pushes the model to spell out a target string token by token."""

    def __init__(self, tokenizer, target: str, prompt_length: int):
        self.target = _ids(tokenizer, target)
        self.prompt_length = prompt_length

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.prompt_length
        scores = scores.clone()
        scores[:, self.target[step % len(self.target)]] += 1000.0
        return scores


def test_generate_cannot_write_information(tiny_model, tokenizer):
    prompt = torch.tensor([_ids(tokenizer, "<think>I will look it up.</think>")])
    push = _Push(tokenizer, "<information>", prompt.shape[1])
    common = dict(max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    free = tiny_model.generate(prompt, logits_processor=LogitsProcessorList([push]), **common)
    assert "<information>" in tokenizer.decode(free[0, prompt.shape[1] :])  # the adversary works
    ban = BanStrings(tokenizer, [("<information>",)])
    guarded = tiny_model.generate(prompt, logits_processor=LogitsProcessorList([push, ban]), **common)
    assert "<information>" not in tokenizer.decode(guarded[0, prompt.shape[1] :])
