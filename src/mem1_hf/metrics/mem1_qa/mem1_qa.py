"""MEM1 multi-objective QA metric: EM and F1 per objective, summed (MEM1) and mean.

The logic lives in :mod:`mem1_hf.scoring` (the same functions are the RL reward); this file
only adapts it to ``evaluate``.

Example:
    >>> import evaluate
    >>> from mem1_hf.metrics import metric_path
    >>> metric = evaluate.load(str(metric_path()))
    >>> metric.compute(predictions=["Paris; 1889"], references=[[["Paris"], ["1889"]]])
    {'em_sum': 2.0, 'f1_sum': 2.0, 'em': 1.0, 'f1': 1.0, 'count_mismatch': 0.0, 'n_tasks': 1}
"""

from __future__ import annotations

import datasets
import evaluate

from mem1_hf.scoring import aggregate, score_task

_CITATION = """\
@article{zhou2025mem1,
  title={MEM1: Learning to Synergize Memory and Reasoning for Efficient Long-Horizon Agents},
  author={Zhou, Zijian and Qu, Ao and Wu, Zhaoxuan and Kim, Sunghwan and Prakash, Alok and Rus, Daniela and Zhao, Jinhua and Low, Bryan Kian Hsiang and Liang, Paul Pu},
  journal={arXiv preprint arXiv:2506.15841},
  year={2025}
}
"""

_DESCRIPTION = """\
Exact match and token F1 for multi-objective question answering (MEM1). A prediction is the
agent's answer text with one answer per question separated by ";". If the number of answers
differs from the number of questions, every question scores 0. Each question scores the best
match over its gold answers, after SQuAD normalisation (lower case, no punctuation, no
articles, single spaces). Scores are reported summed over the questions of a task (MEM1's
numbers: EM of a 16-objective task ranges 0..16) and as the per-question mean (0..1).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of answer texts, one per task, e.g. "Paris; 1889" ("" or a wrong count
        of answers scores 0).
    references: list of tasks' gold answers, one list per question, each a list of acceptable
        answers, e.g. [["Paris"], ["1889", "in 1889"]].
    return_per_task: also return the per-task lists "em_per_task" and "f1_per_task" (summed).
    normalization: "squad" (default: SQuAD v1.1's normalisation), "mem1-eval" (MEM1's
        eval.py: articles kept, punctuation -> spaces, F1 over token sets) or "mem1-train" (MEM1's
        training reward qa_multiple.py: SQuAD's script exactly, answers not padded).
    count_rule: True (default): a wrong number of answers scores 0 (eval.py); False: answers
        are scored by position (qa_multiple.py's rule; MEM1's training reward exactly with
        normalization="mem1-train").
    hotpot_yes_no: HotpotQA's F1 rule: yes / no / noanswer against anything else scores 0.
Returns:
    em_sum: mean over tasks of the summed EM (MEM1's number, 0..N).
    f1_sum: mean over tasks of the summed F1 (0..N).
    em: mean over tasks of the per-question mean EM (0..1).
    f1: mean over tasks of the per-question mean F1 (0..1).
    count_mismatch: share of tasks whose answer count differs from the question count.
    n_tasks: number of tasks.
Examples:
    >>> from mem1_hf.metrics import metric_path
    >>> metric = evaluate.load(str(metric_path()))  # the directory of this module
    >>> metric.compute(predictions=["Paris; 1890"], references=[[["Paris"], ["1889"]]])
    {'em_sum': 1.0, 'f1_sum': 1.0, 'em': 0.5, 'f1': 0.5, 'count_mismatch': 0.0, 'n_tasks': 1}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Mem1QA(evaluate.Metric):
    """EM / F1 of multi-objective QA, backed by :mod:`mem1_hf.scoring`."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Sequence(datasets.Value("string"))),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2506.15841", "https://github.com/MIT-MI/MEM1"],
        )

    def _compute(
        self,
        predictions,
        references,
        return_per_task: bool = False,
        normalization: str = "squad",
        count_rule: bool = True,
        hotpot_yes_no: bool = False,
    ):
        rule = {"normalization": normalization, "count_rule": count_rule, "hotpot_yes_no": hotpot_yes_no}
        scores = [score_task(p, r, **rule) for p, r in zip(predictions, references)]
        result = aggregate(scores)
        if return_per_task:
            result["em_per_task"] = [s.em_sum for s in scores]
            result["f1_per_task"] = [s.f1_sum for s in scores]
        return result
