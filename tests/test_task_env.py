"""The task-family seam: tasks carry their golds, each family owns its prompt, score, turn budget
and report, and nothing outside the family asks which one it is."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mem1_hf.cli import build_parser
from mem1_hf.data.documents import Document
from mem1_hf.envs import LocalRetrievalEnv
from mem1_hf.errors import Mem1InputError
from mem1_hf.families.qa import QATaskEnv
from mem1_hf.families.webshop import WebShopTaskEnv
from mem1_hf.task_env import Task, as_task_env, families, family_for, get_family


@dataclass
class Finished:
    task: Task
    answer_text: str
    reward: float | None = None
    stop_reason: str = "answered"


@pytest.fixture(scope="module")
def env() -> LocalRetrievalEnv:
    docs = [
        Document("0", '"Paris"\nParis is the capital of France.'),
        Document("1", '"Rome"\nRome is in Italy.'),
    ]
    return LocalRetrievalEnv.from_corpus(docs, retriever="bm25")


def test_task_from_a_composed_row_keeps_its_golds():
    row = {"task_id": "n2-x", "questions": ["q1", "q2"], "answers": [["a", "A"], ["b"]], "n_objectives": 2}
    assert Task.from_row(row) == Task("n2-x", ["q1", "q2"], [["a", "A"], ["b"]])
    with pytest.raises(Mem1InputError, match="cannot make a task"):
        Task.from_row(42)


def test_the_families_are_found_by_name_and_by_environment(env):
    assert families() == {"qa": QATaskEnv, "webshop": WebShopTaskEnv}
    assert get_family("qa") is QATaskEnv and family_for(env) is QATaskEnv
    with pytest.raises(Mem1InputError, match="unknown task family 'chess'"):
        get_family("chess")
    assert isinstance(as_task_env(env, "mem1-paper"), QATaskEnv)
    with pytest.raises(Mem1InputError, match="mem1-webshop"):
        as_task_env(env, "mem1-webshop")  # a QA environment speaks the QA profiles only


def test_qa_family_prompt_step_score_and_budget(env):
    from mem1_hf.parsing import parse_response
    from mem1_hf.task_env import StepItem

    task_env = as_task_env(env, "mem1-qa")
    task = task_env.task(3, [" capital of France? "])
    assert task == Task("task-3", ["capital of France?"])
    assert "capital of France?" in task_env.start("k", task)
    search = parse_response("<think>m</think><search>capital of France</search>", task_env.profile)
    answer = parse_response("<think>m</think><answer>Paris</answer>", task_env.profile)
    found, done = task_env.step([StepItem("k", search, 2), StepItem("k", answer, 2)])
    assert not found.done and found.observation.startswith('Doc 1(Title: "Paris")')
    assert done.done and done.answer_text == "Paris" and done.stop_reason == "answered"
    score = task_env.score(Finished(Task("t", ["q"], [["paris"]]), "Paris"))
    assert score["em_sum"] == 1.0 and score["count_ok"] and score["golds"] == [["paris"]]
    with pytest.raises(Mem1InputError, match="no gold answers"):
        task_env.score(Finished(Task("t", ["q"]), "Paris"))
    # scoring options reach score_task; an unanswered task is scored as no answer at all
    the = Finished(Task("t", ["q"], [["The Beatles"]]), "Beatles")
    assert task_env.score(the)["em_sum"] == 1.0
    assert task_env.score(the, normalization="mem1-eval")["em_sum"] == 0.0
    dashes = Task("t", ["q"], [["---"]])
    assert task_env.score(Finished(dashes, ""), normalization="mem1-eval")["em_sum"] == 1.0  # eval.py's
    assert (
        task_env.score(Finished(dashes, "", stop_reason="max_turns"), normalization="mem1-eval")["em_sum"]
        == 0
    )
    assert [QATaskEnv.turn_budget(n) for n in (1, 4, 8)] == [6, 6, 12]
    assert WebShopTaskEnv.turn_budget(1) == 10 and WebShopTaskEnv.turn_budget(5, override=3) == 3


def test_report_columns_come_from_the_family():
    records = [{"em_sum": 2.0, "f1_sum": 2.0, "em": 1.0, "f1": 1.0, "count_ok": True}]
    assert QATaskEnv.summarize(records)["count_mismatch"] == 0.0
    shop = WebShopTaskEnv.summarize([{"reward": 1.0, "success": True}, {"reward": 0.5, "success": False}])
    assert shop == {"reward": 0.75, "success_rate": 0.5}
    assert QATaskEnv.report.by_objectives and not WebShopTaskEnv.report.by_objectives


def test_cli_flags_are_generated_from_the_configs_with_both_spellings():
    parser = build_parser()
    dashed = parser.parse_args(["run", "--index", "i", "--max-turns", "2", "--max-new-tokens", "5", "q"])
    underscored = parser.parse_args(["run", "--index", "i", "--max_turns", "2", "--max_new_tokens", "5", "q"])
    assert (
        (dashed.max_turns, dashed.max_new_tokens)
        == (underscored.max_turns, underscored.max_new_tokens)
        == (2, 5)
    )
    # agent settings not given stay None: the checkpoint's agent_config.json, else the library default
    assert (dashed.max_obs_tokens, dashed.truncate_tokens, dashed.topk, dashed.dtype) == (
        None,
        1024,
        None,
        "auto",
    )
    evaluation = parser.parse_args(["eval", "--data", "a", "--data", "b", "--out", "o", "--max-turns", "3"])
    assert evaluation.data == ["a", "b"] and evaluation.max_turns == 3 and evaluation.batch_size == 4
