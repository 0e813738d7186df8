"""EM / F1 for multi-objective QA: one normaliser, shared by the RL reward and the evaluation.

A task has N objectives (questions); its gold answers are a list of N lists of acceptable
answers. The agent's answer text is split on ``;`` (:func:`mem1_hf.parsing.split_answers`); if
the count differs from N, every objective scores 0 (MEM1's rule). Each objective scores the
best match over its gold answers. A task's score is reported both ways:

* summed over objectives (MEM1's numbers: 16-objective EM ranges 0..16), and
* the per-objective mean (0..1, comparable across objective counts).

Normalisation is SQuAD's (lower case, strip punctuation, drop the articles a/an/the, fold
white space) and, for ASCII text, gives exactly SQuAD's result. For non-ASCII text it also
applies NFKC (so composed and decomposed accents, full-width letters and ligatures compare
equal) and strips Unicode punctuation (curly quotes, dashes, ``«»``), which SQuAD leaves in.

Example:
    >>> normalize_answer("  The  Eiffel-Tower! ")
    'eiffeltower'
    >>> score = score_task("Paris; 1889", [["Paris"], ["1889", "in 1889"]])
    >>> score.em_sum, score.em_mean
    (2.0, 1.0)
    >>> score_task("Paris", [["Paris"], ["1889"]]).em_sum  # one answer for two questions
    0.0
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mem1_hf.parsing import split_answers

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)

#: gold answers of one task: per objective, the acceptable answers (a bare string means one)
Golds = Sequence[Sequence[str] | str]


def _is_punctuation(char: str) -> bool:
    # string.punctuation also holds ASCII symbols ($, +, <, =, >, ^, `, |, ~) that SQuAD strips
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces.

    Example:
        >>> normalize_answer("The U.S.A.")
        'usa'
        >>> normalize_answer("“Röntgen”")  # curly quotes are punctuation too
        'röntgen'
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    text = "".join(ch for ch in text if not _is_punctuation(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _as_list(golds: Sequence[str] | str) -> list[str]:
    return [golds] if isinstance(golds, str) else list(golds)


def exact_match(prediction: str, golds: Sequence[str] | str) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0.

    Example:
        >>> exact_match("the Beatles", ["Beatles", "The Fab Four"])
        1.0
    """
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(gold) for gold in _as_list(golds)))


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        # SQuAD v2's rule: an answer that normalises to nothing matches only nothing
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[str] | str) -> float:
    """SQuAD token F1 (bag of normalised tokens), the maximum over the gold answers.

    Example:
        >>> round(f1_score("Wilhelm Röntgen", ["Wilhelm Conrad Röntgen"]), 3)
        0.8
    """
    pred = normalize_answer(prediction).split()
    return max((_token_f1(pred, normalize_answer(g).split()) for g in _as_list(golds)), default=0.0)


@dataclass(frozen=True)
class TaskScore:
    """The score of one N-objective task.

    Args:
        em: per-objective exact match (0.0 or 1.0), length N.
        f1: per-objective token F1 (0..1), length N.
        count_ok: whether the prediction had exactly N answers (if not, ``em``/``f1`` are 0).
    """

    em: tuple[float, ...]
    f1: tuple[float, ...]
    count_ok: bool

    @property
    def n_objectives(self) -> int:
        return len(self.em)

    @property
    def em_sum(self) -> float:
        """Summed EM, MEM1's number (0..N)."""
        return float(sum(self.em))

    @property
    def f1_sum(self) -> float:
        """Summed F1, MEM1's number (0..N)."""
        return float(sum(self.f1))

    @property
    def em_mean(self) -> float:
        """Per-objective mean EM (0..1)."""
        return self.em_sum / self.n_objectives

    @property
    def f1_mean(self) -> float:
        """Per-objective mean F1 (0..1)."""
        return self.f1_sum / self.n_objectives


def score_task(prediction: str | None, golds: Golds) -> TaskScore:
    """Score one answer text (``"a1; a2; …"``) against one gold list per objective.

    ``prediction`` is the text inside ``<answer>`` (``None`` when the agent never answered).

    Example:
        >>> s = score_task("Paris; 1890", [["Paris"], ["1889"]])
        >>> s.em, s.f1, s.count_ok
        ((1.0, 0.0), (1.0, 0.0), True)
    """
    gold_lists = [_as_list(g) for g in golds]
    if not gold_lists:
        raise ValueError("a task needs at least one objective (golds is empty)")
    n = len(gold_lists)
    parts, count_ok = split_answers(prediction or "", n)
    if not count_ok:
        return TaskScore(em=(0.0,) * n, f1=(0.0,) * n, count_ok=False)
    em = tuple(exact_match(p, g) for p, g in zip(parts, gold_lists))
    f1 = tuple(f1_score(p, g) for p, g in zip(parts, gold_lists))
    return TaskScore(em=em, f1=f1, count_ok=True)


METRICS = ("em", "f1")
REDUCTIONS = ("sum", "mean")


def task_reward(prediction: str | None, golds: Golds, metric: str = "em", reduction: str = "sum") -> float:
    """The rule-based RL reward of one task: EM or F1, summed (MEM1) or averaged over objectives.

    Example:
        >>> task_reward("Paris; 1889", [["Paris"], ["1889"]])
        2.0
        >>> task_reward("Paris; 1889", [["Paris"], ["1889"]], reduction="mean")
        1.0
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    score = score_task(prediction, golds)
    return getattr(score, f"{metric}_{reduction}")


def aggregate(scores: Sequence[TaskScore]) -> dict[str, float]:
    """Average task scores: summed EM/F1 (MEM1's table numbers), per-objective means, count errors.

    Example:
        >>> aggregate([score_task("a; b", [["a"], ["b"]]), score_task("a", [["a"], ["b"]])])
        {'em_sum': 1.0, 'f1_sum': 1.0, 'em': 0.5, 'f1': 0.5, 'count_mismatch': 0.5, 'n_tasks': 2}
    """
    n = len(scores)
    if n == 0:
        raise ValueError("no task scores to aggregate")
    return {
        "em_sum": sum(s.em_sum for s in scores) / n,
        "f1_sum": sum(s.f1_sum for s in scores) / n,
        "em": sum(s.em_mean for s in scores) / n,
        "f1": sum(s.f1_mean for s in scores) / n,
        "count_mismatch": sum(not s.count_ok for s in scores) / n,
        "n_tasks": n,
    }


def score_batch(predictions: Sequence[str | None], references: Sequence[Golds]) -> dict[str, float]:
    """Score many tasks and :func:`aggregate` them (what the ``evaluate`` metric returns).

    Example:
        >>> score_batch(["Paris; 1889"], [[["Paris"], ["1889"]]])["em_sum"]
        2.0
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    return aggregate([score_task(p, r) for p, r in zip(predictions, references)])
