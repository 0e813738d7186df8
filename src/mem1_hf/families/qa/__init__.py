"""The QA family: multi-objective question answering over a search environment (MEM1's domains).

* :mod:`~mem1_hf.families.qa.task_env` — :class:`QATaskEnv`: the prompt, the batched search
  step, EM/F1 scoring against the task's golds, the turn budget, the report's columns;
* :mod:`~mem1_hf.families.qa.tasks` — where the tasks and their documents come from (composed
  data folders or sources composed on the fly) and the one search environment over them;
* :mod:`~mem1_hf.families.qa.expert` — :class:`~mem1_hf.families.qa.expert.QAExpertPolicy`, the
  scripted expert whose trajectories are SFT data (imported on its own: it needs torch).

The search environments themselves live in :mod:`mem1_hf.retrieval`.

Example:
    >>> from mem1_hf.families.qa import QATaskEnv, max_turns_for
    >>> QATaskEnv.name, max_turns_for(8)
    ('qa', 12)
"""

from __future__ import annotations

from mem1_hf.families.qa.task_env import QA_OBJECTIVES, QATaskEnv, max_turns_for
from mem1_hf.families.qa.tasks import corpora_of, corpus_of, retrieval_env, rows_from_data

__all__ = [
    "QA_OBJECTIVES",
    "QATaskEnv",
    "corpora_of",
    "corpus_of",
    "max_turns_for",
    "retrieval_env",
    "rows_from_data",
]
