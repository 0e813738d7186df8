"""`mem1 trajectories`: turn rows equal the agent loop's ids exactly, round-trip through
`load_dataset(folder)`, resume, and export a model's rollouts too (real data, real BM25)."""

from __future__ import annotations

import json

import pytest
from conftest import HOTPOT_DEV, SHARED_DATA, make_tiny_llama, require_data

from mem1_hf.cli import main as mem1_main
from mem1_hf.data.compose import ComposeConfig, compose, load_composed, write_composed
from mem1_hf.envs import LocalRetrievalEnv
from mem1_hf.families.qa.expert import QAExpertPolicy
from mem1_hf.loop import AgentLoop, LoopConfig, Task

NQ_ORACLE = SHARED_DATA / "nq" / "nq_open_oracle_2000.jsonl.gz"
SETTINGS = ["--topk", "2", "--max-obs-tokens", "96", "--limit", "4"]

# a folder's card `configs:` makes datasets key its cache on the folder, not the files' mtimes: pytest
# reuses tmp paths across runs, so load without the cache (mem1's own loaders read the parquet files)
FRESH = "force_redownload"


@pytest.fixture(scope="module")
def composed_dir(tmp_path_factory):
    require_data()
    out = tmp_path_factory.mktemp("traj") / "qa_2obj"
    config = ComposeConfig(objectives=2, mix=True, limit=30, seed=0)
    write_composed(compose([("hotpotqa", HOTPOT_DEV), ("nq", NQ_ORACLE)], config), out)
    return out


@pytest.fixture(scope="module")
def expert_folder(composed_dir):
    out = composed_dir.parent / "expert_rows"
    assert mem1_main(["trajectories", "--data", str(composed_dir), "--out", str(out), *SETTINGS]) == 0
    return out


def test_rows_round_trip_and_equal_the_loops_ids(expert_folder, composed_dir, tokenizer):
    from datasets import load_dataset

    rows = load_dataset(
        str(expert_folder), split="train", download_mode=FRESH
    )  # the Hub-ready folder loads as is
    tasks = list(load_composed(composed_dir, "train"))[:4]
    env = LocalRetrievalEnv.from_corpus(composed_dir / "corpus.jsonl", retriever="bm25")
    config = LoopConfig(max_turns=6, batch_size=4, topk=2, max_obs_tokens=96)
    policy = QAExpertPolicy(tokenizer, {t["task_id"]: t for t in tasks}, max_turns=6)
    trajectories = AgentLoop(policy, env, config).run([Task.from_row(t) for t in tasks])
    expected = [
        (tr.task.id, turn.index, turn.input_ids + turn.output_ids, len(turn.input_ids), turn.response)
        for tr in trajectories
        for turn in tr.turns
    ]
    got = [
        (r["task_id"], r["turn"], r["input_ids"], r["completion_mask"].count(0), r["response_text"])
        for r in rows
    ]
    assert sorted(got) == sorted(expected)  # rows are written in the order tasks finish
    for row in rows:
        mask = row["completion_mask"]
        first = mask.index(1)
        assert set(mask[:first]) == {0} and set(mask[first:]) == {1}  # one input, then one response
        assert tokenizer.decode(row["input_ids"][first:]) == row["response_text"]
        assert row["n_objectives"] == 2 and len(row["golds"]) == 2 and 0 <= row["reward"] <= 1
        assert row["policy"] == "expert" and row["action"] in ("search", "answer")


def test_card_and_summary(expert_folder):
    card = (expert_folder / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-sa-4.0") and "completion_only_loss=True" in card
    assert "mem1 trajectories --data qa_2obj --split train --policy expert --limit 4" in card
    summary = json.loads((expert_folder / "summary.json").read_text())
    assert summary["2"]["tasks"] == 4 and summary["2"]["valid_action_rate"] == 1.0


def test_rerun_resumes_and_other_settings_are_refused(expert_folder, composed_dir, capsys):
    log = expert_folder / "tasks.jsonl"
    before = log.read_text()
    assert (
        mem1_main(["trajectories", "--data", str(composed_dir), "--out", str(expert_folder), *SETTINGS]) == 0
    )
    assert log.read_text() == before  # nothing ran again
    args = [
        "trajectories",
        "--data",
        str(composed_dir),
        "--out",
        str(expert_folder),
        "--topk",
        "3",
        "--limit",
        "4",
    ]
    assert mem1_main(args) == 2
    assert "error: " in capsys.readouterr().err


def test_interrupted_run_finishes_the_missing_tasks(composed_dir, tmp_path):
    out = tmp_path / "rows"
    assert mem1_main(["trajectories", "--data", str(composed_dir), "--out", str(out), *SETTINGS]) == 0
    lines = (out / "tasks.jsonl").read_text().splitlines(keepends=True)
    # a crash: the last task lost, the one before cut mid-line
    (out / "tasks.jsonl").write_text("".join(lines[:2]) + lines[2][:40])
    assert mem1_main(["trajectories", "--data", str(composed_dir), "--out", str(out), *SETTINGS]) == 0
    again = (out / "tasks.jsonl").read_text().splitlines(keepends=True)
    assert len(again) == 4 and sorted(again) == sorted(lines)


def test_model_rollouts_export_their_sampled_ids(composed_dir, tmp_path, tokenizer):
    from datasets import load_dataset

    model_dir = tmp_path / "tiny"
    make_tiny_llama(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "model_rows"
    args = ["trajectories", "--data", str(composed_dir), "--out", str(out), "--policy", "model"]
    args += [
        "--model",
        str(model_dir),
        "--max-new-tokens",
        "6",
        "--max-turns",
        "2",
        "--limit",
        "2",
        "--do-sample",
    ]
    assert mem1_main(args) == 0
    rows = load_dataset(str(out), split="train", download_mode=FRESH)
    assert len(rows) == 4  # 2 tasks x 2 turns (a random model never answers)
    for row in rows:
        n_out = sum(row["completion_mask"])
        assert 1 <= n_out <= 6 and len(row["completion_logprobs"]) == n_out
        assert all(lp <= 0 for lp in row["completion_logprobs"]) and row["policy"] == "model"


def test_user_mistakes_are_one_line_errors(composed_dir, tmp_path, capsys):
    assert mem1_main(["trajectories", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert (
        mem1_main(
            ["trajectories", "--data", str(composed_dir), "--out", str(tmp_path / "o"), "--objectives", "3"]
        )
        == 2
    )
    assert (
        mem1_main(["trajectories", "--data", str(composed_dir), "--out", str(tmp_path / "o"), "--do-sample"])
        == 2
    )
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)


def test_expert_slips_leave_no_row_and_their_recovery_does(composed_dir, tmp_path, tokenizer):
    """`--slip-rate`: the slip turn itself (invalid by design) is not a row to learn from; the turn
    after it is, with the slip in its input as memory. The setting is recorded for resumes."""
    from datasets import load_dataset

    out = tmp_path / "slips"
    argv = ["trajectories", "--data", str(composed_dir), "--out", str(out), *SETTINGS]
    assert mem1_main([*argv, "--slip-rate", "1", "--max-new-tokens", "128"]) == 0
    rows = load_dataset(str(out), split="train", download_mode=FRESH)
    assert set(rows["action"]) <= {"search", "answer"}
    recovery = [r for r in rows if "previous action is invalid" in r["context_text"]]
    assert len(recovery) == 4 and all(r["turn"] == 1 for r in recovery)  # one per task, after turn 0
    assert 0 not in rows["turn"]  # every task's first turn was its slip
    run = json.loads((out / "run.json").read_text())
    assert run["slip_rate"] == 1.0 and run["max_new_tokens"] == 128
    assert "--slip-rate 1.0" in (out / "README.md").read_text()
    assert mem1_main([*argv, "--slip-rate", "2"]) == 2
    assert mem1_main([*argv, "--policy", "model", "--slip-rate", "0.5"]) == 2


def test_fit_tokens_is_recorded_and_bounds_the_rows(composed_dir, tmp_path):
    """`--fit-tokens`: the expert's rows fit the budget (facts cut), the setting is recorded for
    resumes and in the card's command; a bad value is one error line."""
    import numpy as np
    import pandas as pd

    out = tmp_path / "fit"
    argv = ["trajectories", "--data", str(composed_dir), "--out", str(out), *SETTINGS]
    assert mem1_main([*argv, "--fit-tokens", "72"]) == 0
    rows = pd.read_parquet(out / "data" / "train.parquet")
    lengths = rows["completion_mask"].apply(lambda m: int(np.sum(m)))
    assert (lengths <= 72).mean() > 0.9  # only fact-free turns may stay longer
    assert json.loads((out / "run.json").read_text())["fit_tokens"] == 72
    assert "--fit-tokens 72" in (out / "README.md").read_text()
    assert mem1_main([*argv, "--fit-tokens", "80"]) == 2  # other settings: refused, not mixed
    assert mem1_main([*argv, "--fit-tokens", "4"]) == 2


WEBSHOP = SHARED_DATA / "webshop"
SHOP_ARGS = [
    "--env",
    "webshop",
    "--products",
    str(WEBSHOP / "webshop_small_1000_products.json.gz"),
    "--attributes",
    str(WEBSHOP / "items_ins_v2_1000.json"),
    "--goal-query-map",
    str(WEBSHOP / "goal_query_map.json"),
]


def test_webshop_expert_rows_round_trip_and_equal_the_loops_ids(tmp_path, tokenizer):
    """`--env webshop`: the WebShop expert through the same loop, keep rule and row format; the
    rows load with `load_dataset(folder)`, equal the loop's ids, carry WebShop's reward, resume."""
    from datasets import load_dataset

    from mem1_hf.families.webshop import WebShopEnv, WebShopTaskEnv
    from mem1_hf.prompts import get_profile

    require_data()
    out = tmp_path / "shop_rows"
    argv = ["trajectories", *SHOP_ARGS, "--split", "train", "--limit", "6", "--out", str(out)]
    assert mem1_main(argv) == 0
    rows = load_dataset(str(out), split="train", download_mode=FRESH)
    shop = WebShopEnv.from_files(
        WEBSHOP / "webshop_small_1000_products.json.gz",
        WEBSHOP / "items_ins_v2_1000.json",
        goal_query_map=WEBSHOP / "goal_query_map.json",
        seed=0,
    )
    task_env = WebShopTaskEnv(shop, get_profile("mem1-webshop"))
    config = LoopConfig(prompt_profile="mem1-webshop", max_turns=10, batch_size=4)
    policy = task_env.expert_policy(tokenizer, 10)
    goals = shop.goals("train")[:6]
    trajectories = AgentLoop(policy, task_env, config).run([Task.from_row(g) for g in goals])
    expected = sorted(
        (tr.task.id, turn.index, turn.input_ids + turn.output_ids, len(turn.input_ids), tr.reward)
        for tr in trajectories
        for turn in tr.turns
    )
    got = sorted(
        (r["task_id"], r["turn"], r["input_ids"], r["completion_mask"].count(0), r["reward"]) for r in rows
    )
    assert [g[:4] for g in got] == [e[:4] for e in expected]
    assert [g[4] for g in got] == pytest.approx([e[4] for e in expected])  # WebShop's reward, per row
    assert all(r["stop_reason"] == "bought" and r["action"] == "answer" for r in rows)
    assert all(r["questions"] == [shop.goal(r["task_id"]).instruction] and r["golds"] == [] for r in rows)
    # the response says why (think), what was done (summary) and does one WebShop action
    first = rows.filter(lambda r: r["turn"] == 0)[0]["response_text"]
    query = first.split("<answer>search[")[1].split("]</answer>")[0]
    assert first.startswith("<think>I am on the search page.") and f"<summary>Searched: {query}." in first
    summary = json.loads((out / "summary.json").read_text())["1"]
    assert summary["tasks"] == 6 and summary["searches_per_task"] >= 1
    assert summary["reward"] == pytest.approx(sum(t.reward for t in trajectories) / 6, abs=1e-4)
    card = (out / "README.md").read_text()
    assert "license: mit" in card and "--env webshop" in card and "WebShop" in card
    assert mem1_main(argv) == 0  # a rerun resumes: nothing new, the same rows
    assert len(load_dataset("parquet", data_files=str(out / "data" / "train.parquet"))["train"]) == len(rows)
    assert mem1_main([*argv[:-2], "--out", str(out), "--shop-seed", "1"]) == 2  # other settings: refused


def test_webshop_trajectories_refuse_qa_flags(tmp_path, capsys):
    require_data()
    base = ["trajectories", *SHOP_ARGS, "--limit", "2", "--out", str(tmp_path / "o")]
    assert mem1_main([*base, "--data", str(tmp_path)]) == 2
    assert mem1_main([*base, "--fit-tokens", "64"]) == 2
    assert mem1_main([*base, "--split", "dev"]) == 2
    assert mem1_main(["trajectories", "--out", str(tmp_path / "q")]) == 2  # QA needs --data
    err = capsys.readouterr().err
    assert err.count("error:") == 4 and "Traceback" not in err
