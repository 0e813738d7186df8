"""The evaluation harness (`mem1 eval`): real model on real composed tasks, resume, WebShop expert."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib.image
import pytest
from conftest import HOTPOT_DEV, WEBSHOP_EXPERT_EVAL_ARGS

from mem1_hf.cli import build_parser, main
from mem1_hf.errors import Mem1InputError
from mem1_hf.evaluation import load_records, run_key
from mem1_hf.evaluation.cli import build_plan, run_plan
from mem1_hf.families.qa import max_turns_for
from mem1_hf.scoring import score_task

SHOP_ARGS = WEBSHOP_EXPERT_EVAL_ARGS
# small budgets keep the real model fast on a CPU; the harness does not care about quality
QA_ARGS = ("--max-new-tokens", "8", "--max-turns", "2", "--max-obs-tokens", "96", "--batch-size", "2")


@pytest.fixture
def one_thread():
    """Torch on one thread: on a small CPU shared with other jobs, two OpenMP threads spinning
    against each other made a turn ~10x slower than one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def plan(*argv: str):
    return build_plan(build_parser().parse_args(["eval", *argv]))


def assert_png(path) -> None:
    assert path.is_file() and matplotlib.image.imread(path).shape[0] > 100


def test_max_turns_rule_and_truncated_line(tmp_path):
    assert [max_turns_for(n) for n in (1, 2, 4, 8, 16)] == [6, 6, 6, 12, 20]
    assert max_turns_for(16, override=3) == 3
    path = tmp_path / "trajectories.jsonl"
    good = json.dumps({"objectives": 1, "mode": "mem1", "task_id": "a"}) + "\n"
    path.write_text(good + '{"objectives": 1, "mo')  # a crash in the middle of a write
    assert [run_key(r) for r in load_records(path)] == [(1, "mem1", "a")]
    assert path.read_text() == good  # cut, so the next record appends cleanly


def test_user_mistakes_are_one_line(tmp_path, capsys):
    with pytest.raises(Mem1InputError, match="--data"):
        plan("--out", str(tmp_path / "r"))
    with pytest.raises(Mem1InputError, match="--objectives"):
        plan("--source", f"hotpotqa={HOTPOT_DEV}", "--objectives", "two", "--out", str(tmp_path))
    with pytest.raises(Mem1InputError, match="--modes"):
        plan(*SHOP_ARGS, "--modes", "mem2", "--out", str(tmp_path))
    assert main(["eval", "--source", "x=y", "--policy", "expert", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_plan_from_two_composed_directories(tmp_path):
    from mem1_hf.data.compose import ComposeConfig, compose, write_composed

    dirs = [
        write_composed(
            compose([("hotpotqa", HOTPOT_DEV)], ComposeConfig(objectives=n, limit=40)), tmp_path / f"d{n}"
        )
        for n in (1, 4)
    ]
    qa = plan("--data", str(dirs[0]), "--data", str(dirs[1]), "--modes", "mem1", "--out", str(tmp_path / "r"))
    assert [(j.objectives, len(j.tasks), j.config.max_turns) for j in qa.jobs] == [(1, 4, 6), (4, 1, 6)]
    assert qa.jobs[0].env is qa.jobs[1].env and len(qa.jobs[0].env) > 100  # both corpora, merged
    assert plan("--data", str(dirs[1]), "--max-turns", "3", "--out", "o").jobs[0].config.max_turns == 3
    with pytest.raises(Mem1InputError, match=r"no test tasks with \[2\] objectives"):
        plan("--data", str(dirs[0]), "--objectives", "1,2", "--out", str(tmp_path / "r"))


@pytest.mark.slow
def test_qa_eval_with_the_real_model(smollm2, tmp_path, one_thread):
    model, tokenizer = smollm2
    out = tmp_path / "qa"
    qa = plan(
        "--source", f"hotpotqa={HOTPOT_DEV}", "--source-limit", "40",
        "--objectives", "1,2", "--modes", "mem1,full_context", "--limit", "2", "--out", str(out), *QA_ARGS,
        "--normalization", "mem1-eval",
    )  # fmt: skip
    summary = run_plan(qa, model, tokenizer, progress=False)
    assert summary["settings"]["normalization"] == "mem1-eval" and not summary["settings"]["hotpot_yes_no"]
    records = load_records(out / "trajectories.jsonl")
    assert len(records) == 8 and len({run_key(r) for r in records}) == 8
    for record in records:  # the full trajectory and scores that agree with the scorer
        assert (
            record["turns"]
            and len(record["turns"]) <= 2
            and record["stop_reason"] in ("answered", "max_turns")
        )
        answer = record["answer_text"] if record["stop_reason"] == "answered" else None
        assert record["em_sum"] == score_task(answer, record["golds"], normalization="mem1-eval").em_sum
        assert len(record["golds"]) == record["objectives"] == len(record["questions"])
    assert [(c["objectives"], c["mode"], c["n_tasks"]) for c in summary["cells"]] == [
        (1, "mem1", 2), (1, "full_context", 2), (2, "mem1", 2), (2, "full_context", 2),
    ]  # fmt: skip
    for cell in summary["cells"]:
        mine = [r for r in records if (r["objectives"], r["mode"]) == (cell["objectives"], cell["mode"])]
        assert cell["em_sum"] == pytest.approx(sum(r["em_sum"] for r in mine) / 2)
        assert cell["peak_tokens"] == pytest.approx(sum(r["peak_tokens"] for r in mine) / 2)
        assert cell["turns"] == pytest.approx(sum(len(r["turns"]) for r in mine) / 2)
        assert 0 <= cell["invalid_rate"] <= 1 and cell["time_s"] > 0 and cell["dependency"] > 0
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    table = (out / "table.md").read_text()
    assert "Scored with: normalization=mem1-eval, count_rule=True, hotpot_yes_no=False." in table
    assert "| Objectives | mem1 EM | mem1 F1 | mem1 Peak (×10²)" in table
    assert "\n| 1 | " in table and "\n| 2 | " in table and "full_context Time (s)" in table
    for name in ("peak_tokens.png", "time.png", "em.png"):
        assert_png(out / name)


@pytest.mark.slow
def test_interrupted_run_resumes_without_rerunning(smollm2, tmp_path, monkeypatch, one_thread):
    from mem1_hf.data.compose import ComposeConfig, compose, write_composed
    from mem1_hf.policy import ModelPolicy

    model, tokenizer = smollm2
    data = write_composed(
        compose([("hotpotqa", HOTPOT_DEV)], ComposeConfig(objectives=2, limit=60)), tmp_path / "data"
    )
    argv = (
        "--data",
        str(data),
        "--modes",
        "mem1,full_context",
        "--limit",
        "2",
        "--out",
        str(tmp_path / "run"),
    )
    argv += (*QA_ARGS[:2], "--max-turns", "1", "--batch-size", "2")
    requests = []
    real_generate = ModelPolicy.generate
    monkeypatch.setattr(
        ModelPolicy, "generate", lambda self, rs: requests.extend(rs) or real_generate(self, rs)
    )

    def stop_after_first(record):
        raise KeyboardInterrupt  # what Ctrl-C does between two tasks

    with pytest.raises(KeyboardInterrupt):
        run_plan(plan(*argv), model, tokenizer, on_record=stop_after_first, progress=False)
    first = load_records(tmp_path / "run" / "trajectories.jsonl")
    assert len(first) == 1
    with open(tmp_path / "run" / "trajectories.jsonl", "a") as handle:
        handle.write('{"task_id": "n2-half-writ')  # and a crash in the middle of a write
    requests.clear()
    rerun = []
    summary = run_plan(plan(*argv), model, tokenizer, on_record=rerun.append, progress=False)
    assert len(rerun) == 3 and run_key(first[0]) not in {run_key(r) for r in rerun}
    assert len(requests) == 3  # one turn per task: the finished task met the model only once
    records = load_records(tmp_path / "run" / "trajectories.jsonl")
    assert len(records) == 4 and summary["n_tasks"] == 4
    assert [c["n_tasks"] for c in summary["cells"]] == [2, 2]
    with pytest.raises(Mem1InputError, match="max_new_tokens"):  # no mixing of settings in one run
        run_plan(plan(*argv[:-4], "--max-new-tokens", "32", "--max-turns", "1"), model, tokenizer)


def test_webshop_eval_with_the_expert(tokenizer, tmp_path):
    out = tmp_path / "shop"
    summary = run_plan(plan(*SHOP_ARGS, "--limit", "20", "--out", str(out)), tokenizer=tokenizer)
    assert [c["mode"] for c in summary["cells"]] == ["mem1", "full_context"]
    for cell in summary["cells"]:
        assert cell["n_tasks"] == 20 and cell["reward"] >= 0.9 and cell["success_rate"] >= 0.7
        assert cell["invalid_rate"] == 0 and cell["context_limit_stops"] == 0
    mem1, full = summary["cells"]
    assert full["peak_tokens"] > mem1["peak_tokens"]  # full context keeps every page
    assert len(load_records(out / "trajectories.jsonl")) == 40
    assert "| mem1 | " in (out / "table.md").read_text()
    assert_png(out / "webshop.png")
    # the reward rule and the noun tagger that scored the run are recorded
    assert summary["settings"]["webshop_reward"] == "webshop"
    assert summary["settings"]["title_nouns"] in ("heuristic",) or summary["settings"][
        "title_nouns"
    ].startswith("spacy:")
    assert "Scored with: webshop_reward=webshop, title_nouns=" in (out / "table.md").read_text()


def test_webshop_eval_corrected_reward_and_title_nouns(tokenizer, tmp_path):
    args = (*SHOP_ARGS, "--limit", "10", "--modes", "mem1", "--title-nouns", "heuristic")
    corrected = plan(*args, "--webshop-reward", "corrected", "--out", str(tmp_path / "b"))
    assert corrected.jobs[0].env.reward_variant == "corrected"
    assert corrected.jobs[0].env.title_nouns == "heuristic"
    summary = run_plan(corrected, tokenizer=tokenizer)
    assert summary["settings"]["webshop_reward"] == "corrected"
    assert summary["settings"]["title_nouns"] == "heuristic"
    assert summary["cells"][0]["success_rate"] == 1.0
    assert plan(*args, "--out", str(tmp_path / "a")).jobs[0].env.reward_variant == "webshop"  # default


def test_scoring_rule_reaches_the_jobs(tmp_path):
    qa = plan(
        "--source", f"hotpotqa={HOTPOT_DEV}", "--source-limit", "40", "--objectives", "1", "--modes", "mem1",
        "--normalization", "mem1-eval", "--hotpot-yes-no", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert qa.jobs[0].scoring == {"normalization": "mem1-eval", "count_rule": True, "hotpot_yes_no": True}
    assert qa.settings["normalization"] == "mem1-eval" and qa.settings["hotpot_yes_no"] is True
    positional = plan(
        "--source", f"hotpotqa={HOTPOT_DEV}", "--source-limit", "40", "--objectives", "1", "--modes", "mem1",
        "--no-count-rule", "--out", str(tmp_path / "p"),
    )  # fmt: skip
    assert positional.jobs[0].scoring["count_rule"] is False and positional.settings["count_rule"] is False
    with pytest.raises(SystemExit):
        plan("--source", f"hotpotqa={HOTPOT_DEV}", "--normalization", "lower", "--out", str(tmp_path))


def test_cli_subprocess_webshop_expert(tmp_path):
    out = tmp_path / "cli"
    argv = [sys.executable, "-m", "mem1_hf.cli", "eval", *SHOP_ARGS, "--limit", "4", "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Avg reward" in done.stdout and "8 tasks" in done.stdout
    names = {p.name for p in out.iterdir()}
    assert {"trajectories.jsonl", "run.json", "summary.json", "table.md", "webshop.png"} <= names


def test_the_progress_bar_counts_turns_as_they_happen(tmp_path):
    """`mem1 eval`'s bar moves every turn (a task takes minutes on a CPU), not only per task."""
    import io

    from mem1_hf.evaluation.runner import EvalJob, run_jobs
    from mem1_hf.loop import LoopConfig, Task
    from mem1_hf.policy import ScriptedPolicy

    tasks = [Task(f"t{i}", ["Who wrote Hamlet?"], golds=[["Shakespeare"]]) for i in range(2)]
    search = lambda queries, topk: [[{"title": "Hamlet", "text": "By Shakespeare."}] for _ in queries]  # noqa: E731
    job = EvalJob(objectives=1, mode="mem1", tasks=tasks, config=LoopConfig(max_turns=3), env=search)
    script = {
        f"{i}:t{i}": [
            "<think>m</think><search>Hamlet</search>",
            "<think>m</think><answer>Shakespeare</answer>",
        ]
        for i in range(2)
    }
    from transformers import AutoTokenizer

    from mem1_hf.defaults import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    stream = io.StringIO()
    import tqdm.auto

    original = tqdm.auto.tqdm
    tqdm.auto.tqdm = lambda *a, **k: original(*a, **{**k, "file": stream, "mininterval": 0})
    try:
        run_jobs([job], lambda env, cfg: ScriptedPolicy(tokenizer, script), tmp_path / "run", progress=True)
    finally:
        tqdm.auto.tqdm = original
    shown = stream.getvalue()
    assert "1 obj, mem1, 1 turns" in shown and "1 obj, mem1, 4 turns" in shown
