"""EM / F1 scoring: SQuAD normalisation, multi-answer golds, the answer-count rule, sum and mean."""

from __future__ import annotations

import json
import re
import string
import unicodedata

import pytest
from conftest import SHARED_DATA

from mem1_hf.scoring import (
    aggregate,
    exact_match,
    f1_score,
    normalize_answer,
    score_batch,
    score_task,
    task_reward,
)

NQ_OPEN = SHARED_DATA / "nq" / "NQ-open.dev.jsonl"
HOTPOT_DEV = SHARED_DATA / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"


def squad_v11_normalize(s: str) -> str:
    """The official SQuAD v1.1 evaluation script's normaliser, verbatim, as the oracle."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def _nq(n: int) -> list[tuple[str, list[str]]]:
    rows = []
    with open(NQ_OPEN) as handle:
        for line in handle:
            record = json.loads(line)
            rows.append((record["question"], record["answer"]))
            if len(rows) == n:
                return rows
    return rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Beatles", "beatles"),  # leading article
        ("an apple a day", "apple day"),  # articles anywhere
        ("Theatre of the Absurd", "theatre of absurd"),  # "the" inside a word stays
        ("A", ""),
        ("U.S.A.", "usa"),  # punctuation removed without a space
        ("rock-n-roll", "rocknroll"),
        ("$1,000,000!", "1000000"),  # ASCII symbols are in string.punctuation
        ("Don't Stop", "dont stop"),
        ("  New \t York\n City ", "new york city"),  # white space folds
        ("PARIS", "paris"),
        ("“Hamlet”", "hamlet"),  # curly quotes are Unicode punctuation
        ("1939–1945", "19391945"),  # an en dash goes like a hyphen
        ("«Le Monde»", "le monde"),
        ("ＡＢＣ", "abc"),  # full-width letters (NFKC)
        ("Ro\u0308ntgen", "röntgen"),  # decomposed umlaut composes (NFKC)
        ("Röntgen", "röntgen"),  # accents are kept, as in SQuAD
    ],
)
def test_normalize_hand_checked(text, expected):
    assert normalize_answer(text) == expected


def test_normalize_equals_squad_on_real_ascii_answers():
    answers = [a for _, golds in _nq(3610) for a in golds]
    with open(HOTPOT_DEV) as handle:
        answers += [s for line in handle for s in json.loads(line)["answers_objects"][0]["spans"]]
    ascii_answers = [a for a in answers if a.isascii()]
    assert len(ascii_answers) > 3000
    assert [normalize_answer(a) for a in ascii_answers] == [squad_v11_normalize(a) for a in ascii_answers]
    # non-ASCII answers differ from SQuAD only where NFKC or non-ASCII punctuation applies
    plain = [
        a
        for a in answers
        if not a.isascii()
        and unicodedata.normalize("NFKC", a) == a
        and not any(not c.isascii() and unicodedata.category(c).startswith("P") for c in a)
    ]
    assert len(plain) > 20
    assert [normalize_answer(a) for a in plain] == [squad_v11_normalize(a) for a in plain]


def test_exact_match_is_max_over_golds():
    golds = ["14 December 1972 UTC", "December 1972"]  # NQ-open's first question
    assert exact_match("december 1972.", golds) == 1.0
    assert exact_match("14 December 1972", golds) == 0.0
    assert exact_match("the December, 1972", golds) == 1.0
    assert exact_match("Chief of Protocol", "chief of protocol") == 1.0  # a bare string is one gold


def test_f1_hand_checked():
    assert f1_score("Wilhelm Röntgen", ["Wilhelm Conrad Röntgen"]) == pytest.approx(0.8)
    # best over golds: 2/4 recall vs 1/2 on both sides
    assert f1_score("14 December", ["14 December 1972 UTC", "December 1972"]) == pytest.approx(2 / 3)
    # SQuAD counts repeated tokens (MEM1's eval.py used sets and would give 1.0)
    assert f1_score("the cat cat", ["cat"]) == pytest.approx(2 / 3)
    assert f1_score("dog", ["cat"]) == 0.0
    assert f1_score("the", ["a"]) == 1.0  # both normalise to nothing
    assert f1_score("", ["cat"]) == 0.0


def test_answer_count_rule():
    golds = [["Paris"], ["1889"]]
    assert score_task("Paris; 1889", golds).em == (1.0, 1.0)
    for wrong in ("Paris", "Paris; 1889; Eiffel", "Paris 1889", "", None):
        score = score_task(wrong, golds)
        assert not score.count_ok
        assert score.em == (0.0, 0.0) and score.f1 == (0.0, 0.0)
    # a trailing separator is one answer too many
    assert score_task("Paris;", [["Paris"]]).em_sum == 0.0
    assert score_task("Paris", [["Paris"]]).em_sum == 1.0
    with pytest.raises(ValueError):
        score_task("Paris", [])


def test_sixteen_objectives_sum_and_mean_on_real_questions():
    rows = _nq(16)
    golds = [answers for _, answers in rows]
    perfect = "; ".join(answers[-1].upper() for answers in golds)  # any gold, any case
    score = score_task(perfect, golds)
    assert score.n_objectives == 16
    assert (score.em_sum, score.em_mean, score.f1_sum) == (16.0, 1.0, 16.0)
    answers = [answers[0] for answers in golds]
    for k in range(0, 16, 3):  # spoil objectives 0, 3, 6, 9, 12, 15
        answers[k] = "no idea"
    score = score_task("; ".join(answers), golds)
    assert score.em_sum == 10.0
    assert score.em_mean == pytest.approx(10 / 16)
    assert [i for i, em in enumerate(score.em) if em == 0] == [0, 3, 6, 9, 12, 15]
    assert task_reward("; ".join(answers), golds) == 10.0
    assert task_reward("; ".join(answers), golds, reduction="mean") == pytest.approx(10 / 16)
    assert task_reward("; ".join(answers[:15]), golds) == 0.0  # 15 answers for 16 questions


def test_task_reward_f1_and_bad_options():
    golds = [["Wilhelm Conrad Röntgen"], ["Chief of Protocol"]]
    assert task_reward("Wilhelm Röntgen; Chief of Protocol", golds, metric="f1") == pytest.approx(1.8)
    assert task_reward(
        "Wilhelm Röntgen; Chief of Protocol", golds, metric="f1", reduction="mean"
    ) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        task_reward("x", [["x"]], metric="bleu")
    with pytest.raises(ValueError):
        task_reward("x", [["x"]], reduction="max")


def test_aggregate_and_batch():
    golds = [[["Paris"], ["1889"]], [["a spirit"]], [["Paris"], ["1889"]]]
    preds = ["paris; 1890", "A Spirit!", "Paris"]
    result = score_batch(preds, golds)
    # task sums: 1, 1, 0 (count mismatch); task means: 0.5, 1, 0
    assert result == {
        "em_sum": pytest.approx(2 / 3),
        "f1_sum": pytest.approx(2 / 3),
        "em": pytest.approx(0.5),
        "f1": pytest.approx(0.5),
        "count_mismatch": pytest.approx(1 / 3),
        "n_tasks": 3,
    }
    assert result == aggregate([score_task(p, g) for p, g in zip(preds, golds)])
    with pytest.raises(ValueError):
        score_batch(["a"], [])
    with pytest.raises(ValueError):
        aggregate([])
