"""EM / F1 scoring: SQuAD normalisation, multi-answer golds, the answer-count rule, sum and mean."""

from __future__ import annotations

import collections
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
    # a gold that normalises to nothing is compared on its raw text (SQuAD's script: F1 0)
    assert f1_score("the", ["a"]) == 0.0
    assert f1_score("A", ["a "]) == 1.0
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


# ------------------------------------------------------------------ golds that normalise to ""
def test_golds_that_normalise_to_nothing_compare_raw_text():
    # the case: a trailing ";" made an empty second answer that matched "A+"
    score = score_task("Paris;", [["Paris"], ["A+", "AB+"]])
    assert score.count_ok and score.em == (1.0, 0.0) and score.f1 == (1.0, 0.0)
    assert score_task("Paris; a+", [["Paris"], ["A+", "AB+"]]).em == (1.0, 1.0)
    assert score_task("Paris; AB", [["Paris"], ["A+", "AB+"]]).em == (1.0, 1.0)  # "ab+" -> "ab"


def test_real_nq_golds_that_normalise_to_nothing():
    empty = sorted({a for _, golds in _nq(10**6) for a in golds if not normalize_answer(a)})
    assert len(empty) >= 3  # e.g. "A+", "---", ")" in NQ-open dev
    for gold in empty:
        assert exact_match("", [gold]) == 0.0 and f1_score("", [gold]) == 0.0
        assert exact_match("!", [gold]) == float(gold.strip().lower() == "!")
        assert exact_match(f"  {gold.upper()} ", [gold]) == 1.0 == f1_score(gold, [gold])


# ------------------------------------------------------------------ MEM1's own scorers as oracles
# Our re-statements of MIT-MI/MEM1's Mem1/inference/eval.py ``compute_score`` (on the answer
# content) and Mem1/train/verl/utils/reward_score/qa_multiple.py ``compute_score_em``.
def mem1_eval_oracle(content: str | None, golds: list[list[str]], metric: str) -> float:
    def prep(text: str) -> str:
        text = text.lower()
        for p in string.punctuation:
            text = text.replace(p, " ")
        return re.sub(r"\s+", " ", text).strip()

    if content is None:
        return 0.0
    answers = [prep(a) for a in content.lower().strip().split(";")]
    if len(answers) != len(golds):
        return 0.0
    total = 0.0
    for answer, options in zip(answers, golds):
        options = [prep(g) for g in options]
        if metric == "em":
            total += float(answer in options)
            continue
        best = 0.0
        for gold in options:
            pred_set, gold_set = set(answer.split()), set(gold.split())
            if not pred_set or not gold_set:
                continue
            common = len(pred_set & gold_set)
            if common:
                precision, recall = common / len(pred_set), common / len(gold_set)
                best = max(best, 2 * precision * recall / (precision + recall))
        total += best
    return total


def qa_multiple_oracle(content: str, golds: list[list[str]]) -> float:
    answers = [a.strip() for a in content.split(";")]
    total = 0
    for i, answer in enumerate(answers):
        if i < len(golds):  # MEM1 catches the IndexError of extra answers
            total += int(any(squad_v11_normalize(answer) == squad_v11_normalize(g) for g in golds[i]))
    return float(total)


def _predictions(golds: list[list[str]], rng) -> list[str]:
    """Answer texts a model might give: right, re-cased, with articles/punctuation, wrong, miscounted."""
    picks = [rng.choice(g) for g in golds]
    variants = [
        "; ".join(picks),
        ";".join(p.upper() for p in picks),
        "; ".join(f"The {p}" for p in picks),
        "; ".join(f"{p}." for p in picks),
        "; ".join(p.replace(" ", "-") for p in picks),
        "; ".join(picks[:-1]),
        "; ".join(picks) + ";",
        "; ".join(["no idea"] + picks[1:]),
        "; ".join(f"{p} {p}" for p in picks),
        "",
    ]
    return variants


def test_mem1_eval_normalization_equals_mem1_eval_py_on_real_tasks():
    import random

    rng = random.Random(0)
    rows = _nq(3610)
    checked = 0
    differs_from_squad = 0
    for start in range(0, 3000, 3):
        golds = [answers for _, answers in rows[start : start + 1 + start % 3]]
        for prediction in _predictions(golds, rng):
            score = score_task(prediction, golds, normalization="mem1-eval")
            assert score.em_sum == mem1_eval_oracle(prediction, golds, "em"), (prediction, golds)
            assert score.f1_sum == pytest.approx(mem1_eval_oracle(prediction, golds, "f1")), (
                prediction,
                golds,
            )
            differs_from_squad += score.em_sum != score_task(prediction, golds).em_sum
            checked += 1
    assert checked == 10000
    assert differs_from_squad > 500  # articles kept, punctuation -> space: not SQuAD's EM


def test_mem1_eval_keeps_articles_and_spaces_punctuation():
    the_golds = [a for _, golds in _nq(3610) for a in golds if a.startswith("The ")]
    assert len(the_golds) > 50
    for gold in the_golds:  # answering without the article: SQuAD EM 1, eval.py EM 0
        bare = gold[4:]
        assert exact_match(bare, [gold]) == 1.0
        assert exact_match(bare, [gold], normalization="mem1-eval") == 0.0
    assert exact_match("U.S.A.", ["USA"]) == 1.0
    assert exact_match("U.S.A.", ["USA"], normalization="mem1-eval") == 0.0  # "u s a"
    assert exact_match("rock-n-roll", ["rock n roll"], normalization="mem1-eval") == 1.0
    # eval.py: an empty answer equals a gold with nothing left ("---"); reproduced as is
    assert score_task("", [["---"]], normalization="mem1-eval").em_sum == 1.0
    assert score_task("", [["---"]]).em_sum == 0.0
    # F1 over token sets
    assert f1_score("cat cat", ["cat"], normalization="mem1-eval") == 1.0
    assert f1_score("cat cat", ["cat"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="normalization"):
        score_task("x", [["x"]], normalization="hotpot")


def test_positional_scoring_equals_mem1_training_reward():
    import random

    rng = random.Random(1)
    rows = _nq(3610)
    for start in range(0, 1500, 3):
        golds = [answers for _, answers in rows[start : start + 1 + start % 4]]
        for prediction in _predictions(golds, rng)[:-1]:  # MEM1's reward crashes on no answer
            expected = qa_multiple_oracle(prediction, golds)
            if any(not normalize_answer(g) for gs in golds for g in gs):
                continue  # golds like "A+": our raw-text rule, by design
            assert task_reward(prediction, golds, count_rule=False) == expected, (prediction, golds)
    # by position: a missing answer scores 0, extra answers are ignored
    golds = [["Paris"], ["1889"]]
    assert score_task("Paris", golds, count_rule=False).em == (1.0, 0.0)
    assert score_task("Paris; 1889; extra", golds, count_rule=False).em == (1.0, 1.0)
    assert not score_task("Paris; 1889; extra", golds, count_rule=False).count_ok


# ------------------------------------------------------------------ HotpotQA's yes/no F1 rule
def hotpot_f1_oracle(prediction: str, gold: str) -> float:
    """Our re-statement of hotpot_evaluate_v1.py's f1_score (the F1 value)."""
    pred, ref = squad_v11_normalize(prediction), squad_v11_normalize(gold)
    if (pred in ("yes", "no", "noanswer") or ref in ("yes", "no", "noanswer")) and pred != ref:
        return 0.0
    common = collections.Counter(pred.split()) & collections.Counter(ref.split())
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred.split()), same / len(ref.split())
    return 2 * precision * recall / (precision + recall)


def test_hotpot_yes_no_rule():
    assert f1_score("yes it is", ["yes"]) == 0.5
    assert f1_score("yes it is", ["yes"], hotpot_yes_no=True) == 0.0
    assert f1_score("no", ["no way"], hotpot_yes_no=True) == 0.0
    assert f1_score("Yes.", ["yes"], hotpot_yes_no=True) == 1.0
    with open(HOTPOT_DEV) as handle:
        golds = [json.loads(line)["answers_objects"][0]["spans"][0] for line in handle]
    yes_no = [g for g in golds if normalize_answer(g) in ("yes", "no")]
    assert len(yes_no) > 20  # HotpotQA's comparison questions
    predictions = ["yes", "no", "yes indeed", "no, it is not", "not sure", "both are"]
    for gold in yes_no + golds[:200]:
        for prediction in predictions + [gold, f"{gold} {gold}"]:
            assert f1_score(prediction, [gold], hotpot_yes_no=True) == pytest.approx(
                hotpot_f1_oracle(prediction, gold)
            )
    score = score_task("yes it is; Paris", [["yes"], ["Paris"]], hotpot_yes_no=True)
    assert score.f1 == (0.0, 1.0)
