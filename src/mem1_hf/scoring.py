"""EM / F1 for multi-objective QA: one normaliser, shared by the RL reward and the evaluation.

A task has N objectives (questions); its gold answers are a list of N lists of acceptable
answers. The agent's answer text is split on ``;`` (:func:`mem1_hf.parsing.split_answers`); if
the count differs from N, every objective scores 0 (MEM1's ``eval.py`` rule; ``count_rule=False``
scores by position instead, as MEM1's training reward does). Each objective scores the best match
over its gold answers. A task's score is reported both ways:

* summed over objectives (MEM1's numbers: 16-objective EM ranges 0..16), and
* the per-objective mean (0..1, comparable across objective counts).

``normalization="squad"`` (default) is SQuAD v1.1's (lower case, strip punctuation, drop the
articles a/an/the, fold white space) and, for ASCII text, gives exactly SQuAD's result; for
non-ASCII text it also applies NFKC and strips Unicode punctuation (curly quotes, dashes,
``«»``), which SQuAD leaves in. Two deliberate differences from SQuAD's script: a gold that
normalises to ``""`` (NQ-open has ``A+``, ``---``, ``)``) is compared on its stripped,
lower-cased raw text, so an empty answer does not match it; and F1 of an empty answer against
such a gold follows the same comparison.

``normalization="mem1-eval"`` reproduces MEM1's ``inference/eval.py`` (its published numbers):
lower case, every ASCII punctuation character becomes a space, white space folds, articles are
kept; EM is membership in the normalised golds; F1 is over token *sets*, skipping golds with no
tokens; the answer text is split on ``;`` as is. ``normalization="mem1-train"`` is the
normaliser of MEM1's training reward (``qa_multiple.normalize_answer``, SQuAD v1.1's exactly: no
NFKC, ASCII punctuation only, a gold that normalises to ``""`` matches an empty answer) and its
split (parts stripped, not padded: a missing answer scores 0); with ``count_rule=False`` it is
MEM1's ``compute_score_em`` given the same answer text. ``hotpot_yes_no=True`` adds HotpotQA's F1 rule
(``hotpot_evaluate_v1.py``): when either side normalises to yes / no / noanswer and they
differ, F1 is 0.

Example:
    >>> normalize_answer("  The  Eiffel-Tower! ")
    'eiffeltower'
    >>> normalize_answer("  The  Eiffel-Tower! ", "mem1-eval")
    'the eiffel tower'
    >>> score = score_task("Paris; 1889", [["Paris"], ["1889", "in 1889"]])
    >>> score.em_sum, score.em_mean
    (2.0, 1.0)
    >>> score_task("Paris", [["Paris"], ["1889"]]).em_sum  # one answer for two questions
    0.0
    >>> score_task("Paris", [["Paris"], ["1889"]], count_rule=False).em_sum  # by position
    1.0
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mem1_hf.parsing import split_answers

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_PUNCT_TO_SPACE = str.maketrans({ch: " " for ch in string.punctuation})

#: ``squad``: SQuAD v1.1 normalisation (default); ``mem1-eval``: MEM1's ``eval.py``;
#: ``mem1-train``: MEM1's training reward (``qa_multiple.py``: SQuAD's script exactly)
NORMALIZATIONS = ("squad", "mem1-eval", "mem1-train")
#: answers HotpotQA's F1 never gives partial credit to (``hotpot_yes_no=True``)
HOTPOT_SPECIAL = ("yes", "no", "noanswer")

#: gold answers of one task: per objective, the acceptable answers (a bare string means one)
Golds = Sequence[Sequence[str] | str]


def _is_punctuation(char: str) -> bool:
    # string.punctuation also holds ASCII symbols ($, +, <, =, >, ^, `, |, ~) that SQuAD strips
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _check_normalization(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


def normalize_answer(text: str, normalization: str = "squad") -> str:
    """SQuAD normalisation (lower case, no punctuation, no articles, single spaces), or MEM1's.

    Example:
        >>> normalize_answer("The U.S.A.")
        'usa'
        >>> normalize_answer("“Röntgen”")  # curly quotes are punctuation too
        'röntgen'
        >>> normalize_answer("The U.S.A.", "mem1-eval")  # eval.py: punctuation -> space, articles kept
        'the u s a'
        >>> normalize_answer("“Röntgen”", "mem1-train")  # qa_multiple.py: ASCII punctuation only
        '“röntgen”'
    """
    _check_normalization(normalization)
    if normalization == "mem1-eval":
        return " ".join(text.lower().translate(_PUNCT_TO_SPACE).split())
    if normalization == "mem1-train":  # SQuAD's script as MEM1's reward copies it: no Unicode rules
        text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCTUATION)
        return " ".join(_ARTICLES.sub(" ", text).split())
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    text = "".join(ch for ch in text if not _is_punctuation(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _raw(text: str) -> str:
    # how a gold with nothing left after normalisation ("A+", "---") is compared
    return text.strip().lower()


def _as_list(golds: Sequence[str] | str) -> list[str]:
    return [golds] if isinstance(golds, str) else list(golds)


def exact_match(prediction: str, golds: Sequence[str] | str, normalization: str = "squad") -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0.

    A gold that normalises to ``""`` (``"A+"``: the article "a" and "+") matches only the same
    stripped, lower-cased text (``squad``); ``mem1-eval`` and ``mem1-train`` keep MEM1's plain
    comparison (an empty answer matches it).

    Example:
        >>> exact_match("the Beatles", ["Beatles", "The Fab Four"])
        1.0
        >>> exact_match("", ["A+"]), exact_match("a+", ["A+"])
        (0.0, 1.0)
    """
    pred = normalize_answer(prediction, normalization)
    for gold in _as_list(golds):
        norm = normalize_answer(gold, normalization)
        if normalization == "squad" and not norm:
            if _raw(prediction) == _raw(gold):
                return 1.0
        elif pred == norm:
            return 1.0
    return 0.0


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    """SQuAD's bag-of-tokens F1 (repeated tokens count)."""
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _set_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    """MEM1 ``eval.py``'s F1 over token sets."""
    pred, gold = set(pred_tokens), set(gold_tokens)
    common = len(pred & gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _gold_f1(prediction: str, pred: str, gold: str, normalization: str, hotpot_yes_no: bool) -> float | None:
    """F1 against one gold (None: ``eval.py`` skips a gold with no tokens)."""
    norm = normalize_answer(gold, normalization)
    if hotpot_yes_no and (pred in HOTPOT_SPECIAL or norm in HOTPOT_SPECIAL) and pred != norm:
        return 0.0
    if normalization == "mem1-eval":
        return _set_f1(pred.split(), norm.split()) if norm else None
    if normalization == "squad" and not norm:
        return float(_raw(prediction) == _raw(gold))
    return _token_f1(pred.split(), norm.split())


def f1_score(
    prediction: str, golds: Sequence[str] | str, normalization: str = "squad", hotpot_yes_no: bool = False
) -> float:
    """Token F1 (SQuAD's bag of tokens, or ``eval.py``'s sets), the maximum over the gold answers.

    Example:
        >>> round(f1_score("Wilhelm Röntgen", ["Wilhelm Conrad Röntgen"]), 3)
        0.8
        >>> f1_score("yes it is", ["yes"]), f1_score("yes it is", ["yes"], hotpot_yes_no=True)
        (0.5, 0.0)
    """
    pred = normalize_answer(prediction, normalization)
    scores = [_gold_f1(prediction, pred, g, normalization, hotpot_yes_no) for g in _as_list(golds)]
    return max((s for s in scores if s is not None), default=0.0)


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


def _split(prediction: str | None, n: int, normalization: str) -> tuple[list[str], bool]:
    """The answers of a prediction and whether their count is ``n``."""
    if prediction is None:
        return [], False
    if normalization == "mem1-eval":  # eval.py: answer_content.split(";"); "" is one empty answer
        parts = prediction.strip().split(";")
        return parts, len(parts) == n
    if normalization == "mem1-train":  # qa_multiple.py: stripped parts, not padded ("" is one answer)
        parts = [part.strip() for part in prediction.split(";")]
        return parts, len(parts) == n
    return split_answers(prediction, n)  # padded with "" (scores 0) or cut to n


def score_task(
    prediction: str | None,
    golds: Golds,
    *,
    normalization: str = "squad",
    count_rule: bool = True,
    hotpot_yes_no: bool = False,
) -> TaskScore:
    """Score one answer text (``"a1; a2; …"``) against one gold list per objective.

    ``prediction`` is the text inside ``<answer>`` (``None`` when the agent never answered).
    ``count_rule``: a wrong number of answers scores 0 everywhere (``eval.py``); without it,
    answer i is scored against objective i and missing answers score 0 (MEM1's training reward,
    ``qa_multiple.compute_score_em``). ``normalization`` / ``hotpot_yes_no``: see the module.

    Example:
        >>> s = score_task("Paris; 1890", [["Paris"], ["1889"]])
        >>> s.em, s.f1, s.count_ok
        ((1.0, 0.0), (1.0, 0.0), True)
        >>> score_task("Paris;", [["Paris"], ["A+", "AB+"]]).em_sum  # an empty answer is not "A+"
        1.0
    """
    _check_normalization(normalization)
    gold_lists = [_as_list(g) for g in golds]
    if not gold_lists:
        raise ValueError("a task needs at least one objective (golds is empty)")
    n = len(gold_lists)
    parts, count_ok = _split(prediction, n, normalization)
    if count_rule and not count_ok:
        return TaskScore(em=(0.0,) * n, f1=(0.0,) * n, count_ok=False)
    em, f1 = [0.0] * n, [0.0] * n
    for i, (part, gold) in enumerate(zip(parts, gold_lists)):
        em[i] = exact_match(part, gold, normalization)
        f1[i] = f1_score(part, gold, normalization, hotpot_yes_no)
    return TaskScore(em=tuple(em), f1=tuple(f1), count_ok=count_ok)


@dataclass
class ScoringConfig:
    """How QA answers are scored: :func:`score_task`'s options (``mem1 eval``'s flags).

    Example:
        >>> ScoringConfig(normalization="mem1-eval").to_dict()
        {'normalization': 'mem1-eval', 'count_rule': True, 'hotpot_yes_no': False}
    """

    normalization: str = field(
        default="squad",
        metadata={
            "help": "EM/F1 normalisation: squad (SQuAD v1.1's, + NFKC and Unicode punctuation; a gold "
            "normalising to '' is compared raw), mem1-eval (MEM1's eval.py: articles kept, punctuation "
            "-> spaces, F1 over token sets) or mem1-train (MEM1's training reward qa_multiple.py: "
            "SQuAD's script exactly, answers not padded)",
            "choices": NORMALIZATIONS,
        },
    )
    count_rule: bool = field(
        default=True,
        metadata={
            "help": "a wrong number of answers scores 0 (eval.py); off: answer i scored against "
            "question i, missing ones 0, extra ones ignored (qa_multiple.py's rule; MEM1's training "
            "reward exactly only with --normalization mem1-train, docs/scoring.md)"
        },
    )
    hotpot_yes_no: bool = field(
        default=False,
        metadata={"help": "HotpotQA's F1 rule: yes / no / noanswer against anything else scores 0"},
    )

    def __post_init__(self) -> None:
        _check_normalization(self.normalization)

    def to_dict(self) -> dict[str, Any]:
        """The options as :func:`score_task` keyword arguments."""
        return asdict(self)


METRICS = ("em", "f1")
REDUCTIONS = ("sum", "mean")


def task_reward(
    prediction: str | None, golds: Golds, metric: str = "em", reduction: str = "sum", **rule: Any
) -> float:
    """The rule-based RL reward of one task: EM or F1, summed (MEM1) or averaged over objectives.

    ``rule``: :func:`score_task`'s ``normalization``, ``count_rule`` and ``hotpot_yes_no``
    (``count_rule=False`` with ``normalization="mem1-train"`` is MEM1's ``qa_multiple`` reward;
    with the default normalisation it differs on non-ASCII text and golds that normalise to ``""``).

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
    score = score_task(prediction, golds, **rule)
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


def score_batch(
    predictions: Sequence[str | None], references: Sequence[Golds], **rule: Any
) -> dict[str, float]:
    """Score many tasks and :func:`aggregate` them (what the ``evaluate`` metric returns).

    ``rule``: :func:`score_task`'s keyword arguments.

    Example:
        >>> score_batch(["Paris; 1889"], [[["Paris"], ["1889"]]])["em_sum"]
        2.0
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    return aggregate([score_task(p, r, **rule) for p, r in zip(predictions, references)])
