"""Bootstrap intervals: the statistics, `mem1 eval`'s summary/table, `mem1 eval compare`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import WEBSHOP_EXPERT_EVAL_ARGS

from mem1_hf.cli import build_parser, main
from mem1_hf.evaluation import build_summary, load_records, render_table
from mem1_hf.evaluation.cli import build_plan, run_plan
from mem1_hf.evaluation.intervals import bootstrap_ci, bootstrap_cis, paired_bootstrap

SHOP_ARGS = WEBSHOP_EXPERT_EVAL_ARGS


def direct_interval(statistic, n: int, resamples: int = 10_000, seed: int = 0) -> np.ndarray:
    """The documented scheme written out: resample rows of task indices, percentile interval."""
    index = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    return np.percentile(statistic(index), [2.5, 97.5])


def test_interval_matches_a_direct_computation():
    x = np.random.default_rng(7).gamma(2.0, 3.0, size=53)  # skewed: the ends are not symmetric
    expected = direct_interval(lambda i: x[i].mean(axis=1), len(x))
    assert bootstrap_ci(x) == pytest.approx(tuple(expected), rel=1e-12)
    assert bootstrap_ci(x, seed=1) != pytest.approx(tuple(expected), rel=1e-6)  # the seed matters
    # a ratio of sums (invalid actions / turns) resamples numerators and denominators together
    invalid, turns = np.arange(53) % 3, 1 + np.arange(53) % 5
    ratio = direct_interval(lambda i: invalid[i].sum(axis=1) / turns[i].sum(axis=1), 53)
    both = bootstrap_cis({"x": x, "invalid": invalid}, {"invalid": turns})
    assert both["invalid"] == pytest.approx(tuple(ratio), rel=1e-12)
    assert both["x"] == pytest.approx(tuple(expected), rel=1e-12)  # the same resamples for both


def test_interval_of_a_large_sample_is_the_normal_one():
    x = np.random.default_rng(3).uniform(size=4000)
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    lo, hi = bootstrap_ci(x, resamples=4000)
    assert lo == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert hi == pytest.approx(x.mean() + half, abs=0.1 * half)
    lo90, hi90 = bootstrap_ci(x, confidence=0.9, resamples=4000)
    assert lo < lo90 < hi90 < hi


def test_paired_differences():
    a = np.random.default_rng(1).uniform(size=40)
    same = paired_bootstrap(a, a.copy())
    assert (same["diff"], same["lo"], same["hi"], same["n"]) == (0.0, 0.0, 0.0, 40)
    shifted = paired_bootstrap(a, a + 0.1)
    assert shifted["mean_b"] - shifted["mean_a"] == pytest.approx(0.1)
    assert [shifted["diff"], shifted["lo"], shifted["hi"]] == pytest.approx([0.1] * 3, abs=1e-12)
    # paired: the interval of the per-task differences, far narrower than the runs' own spread
    b = a + np.random.default_rng(2).normal(0.05, 0.01, size=40)
    paired = paired_bootstrap(a, b)
    expected = direct_interval(lambda i: b[i].mean(axis=1) - a[i].mean(axis=1), 40)
    assert (paired["lo"], paired["hi"]) == pytest.approx(tuple(expected), rel=1e-9)
    assert 0.04 < paired["lo"] < paired["diff"] < paired["hi"] < 0.06
    with pytest.raises(ValueError, match="as many"):
        paired_bootstrap(a, a[:-1])


def qa_record(objectives: int, mode: str, em: float, peak: int) -> dict:
    return {
        "objectives": objectives, "mode": mode, "em_sum": em * objectives, "f1_sum": em * objectives,
        "em": em, "f1": em, "count_ok": True, "peak_tokens": peak, "dependency": 2e5, "time_s": 1.0,
        "n_turns": 2, "invalid_actions": 1 if em == 0 else 0, "stop_reason": "answered",
    }  # fmt: skip


def test_qa_table_shows_an_interval_next_to_every_mean():
    records = [qa_record(2, "mem1", em, 800 + 50 * i) for i, em in enumerate([0, 0.5, 1, 1, 0.5, 0])]
    summary = build_summary(records, "qa", {})
    cell = summary["cells"][0]
    assert summary["intervals"] == {
        "confidence": 0.95,
        "resamples": 10_000,
        "seed": 0,
        "method": "percentile bootstrap, tasks resampled with replacement",
    }
    means = ("em_sum", "f1_sum", "em", "f1", "count_mismatch", "peak_tokens", "dependency", "time_s")
    assert set(cell["ci"]) == {*means, "turns", "invalid_rate"}
    for key, (lo, hi) in cell["ci"].items():
        assert lo <= cell[key] <= hi, key
    assert cell["ci"]["em_sum"] == pytest.approx(list(bootstrap_ci([r["em_sum"] for r in records])))
    table = render_table(summary)
    lo, hi = cell["ci"]["em_sum"]
    assert f"| 2 | {cell['em_sum']:.2f} [{lo:.2f}, {hi:.2f}] | " in table
    lo, hi = cell["ci"]["peak_tokens"]  # the column's own scale (×10²) for the interval too
    assert f" {cell['peak_tokens'] / 100:.2f} [{lo / 100:.2f}, {hi / 100:.2f}] |" in table
    last_row = [line for line in table.splitlines() if line.startswith("| 2 |")][-1]
    assert last_row.endswith("| 0 | 6 |")  # counts (ctx-limit stops, tasks) have no interval
    assert "95% bootstrap confidence interval over tasks (10,000 resamples" in table


@pytest.fixture(scope="module")
def shop_runs(tokenizer, tmp_path_factory):
    """Two real expert WebShop runs: A (5 goals, both modes), B (3 goals, mem1, corrected reward)."""
    root = tmp_path_factory.mktemp("shop")
    plans = [
        build_plan(build_parser().parse_args(["eval", *SHOP_ARGS, *extra, "--out", str(root / name)]))
        for name, extra in (
            ("a", ("--limit", "5")),
            ("b", ("--limit", "3", "--modes", "mem1", "--webshop-reward", "corrected")),
        )
    ]
    for plan in plans:
        run_plan(plan, tokenizer=tokenizer, progress=False)
    return root / "a", root / "b"


def test_eval_writes_intervals_to_summary_and_table(shop_runs):
    run = shop_runs[0]
    summary = json.loads((run / "summary.json").read_text())
    records = load_records(run / "trajectories.jsonl")
    table = (run / "table.md").read_text()
    for cell in summary["cells"]:
        mine = [r for r in records if r["mode"] == cell["mode"]]
        expected = {
            "reward": bootstrap_ci([r["reward"] for r in mine]),
            "success_rate": bootstrap_ci([float(r["success"]) for r in mine]),
            "peak_tokens": bootstrap_ci([r["peak_tokens"] for r in mine]),
            "dependency": bootstrap_ci([r["dependency"] for r in mine]),
            "time_s": bootstrap_ci([r["time_s"] for r in mine]),
            "turns": bootstrap_ci([r["n_turns"] for r in mine]),
            "invalid_rate": bootstrap_ci(
                [r["invalid_actions"] for r in mine], denominators=[r["n_turns"] for r in mine]
            ),
        }
        assert cell["ci"] == {k: pytest.approx(list(v)) for k, v in expected.items()}
        lo, hi = cell["ci"]["peak_tokens"]
        row = f"| {cell['mode']} | {cell['reward']:.3f} [{cell['ci']['reward'][0]:.3f}, "
        assert row in table
        assert f" {cell['peak_tokens'] / 100:.2f} [{lo / 100:.2f}, {hi / 100:.2f}] |" in table
        assert lo < hi  # the episodes differ in length: a real interval
    assert f"| {summary['cells'][0]['n_tasks']} |" in table  # the episode count, unchanged


def test_compare_two_runs_end_to_end(shop_runs, tmp_path, capsys):
    a, b = shop_runs
    out = tmp_path / "deep" / "compare.json"
    assert main(["eval", "compare", str(a), str(b), "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert (printed["n_paired"], printed["n_a"], printed["n_b"]) == (3, 10, 3)  # on the intersection
    assert printed["settings_differ"] == ["webshop_reward"]
    (cell,) = printed["cells"]
    assert (cell["objectives"], cell["mode_a"], cell["mode_b"], cell["n"]) == (1, "mem1", "mem1", 3)
    # same expert, same goals: the trajectories agree, so every token count differs by exactly 0
    for key in ("peak_tokens", "dependency", "turns"):
        assert {k: cell["metrics"][key][k] for k in ("diff", "lo", "hi")} == {"diff": 0, "lo": 0, "hi": 0}
    shared = [r for r in load_records(a / "trajectories.jsonl") if r["mode"] == "mem1"][:3]
    assert cell["metrics"]["reward"]["mean_a"] == pytest.approx(np.mean([r["reward"] for r in shared]))

    # two modes of one run: full context keeps every page, so B (mem1) − A peaks lower
    assert main(["eval", "compare", str(a), str(a), "--mode-a", "full_context", "--mode-b", "mem1"]) == 0
    text = capsys.readouterr().out
    assert "5 paired tasks (of 5 finished in A, 5 in B)" in text
    assert "## 1 objective, full_context (A) vs mem1 (B) (5 paired tasks)" in text
    peak = next(line for line in text.splitlines() if line.startswith("| peak_tokens |"))
    diff, interval = peak.split(" | ")[3:5]
    assert float(diff) < 0 and float(interval.strip("[] |").split(", ")[1]) < 0


def test_compare_refuses_bad_input_in_one_line(shop_runs, tmp_path, capsys):
    a, _ = shop_runs
    other = tmp_path / "other"  # a run over other goals: the same records under other task ids
    other.mkdir()
    (other / "run.json").write_text((a / "run.json").read_text())
    lines = (a / "trajectories.jsonl").read_text().splitlines()
    renamed = [json.dumps({**json.loads(line), "task_id": f"other-{i}"}) for i, line in enumerate(lines)]
    (other / "trajectories.jsonl").write_text("\n".join(renamed) + "\n")
    changed = tmp_path / "changed"  # same task ids, other goals: cannot be paired
    changed.mkdir()
    (changed / "run.json").write_text((a / "run.json").read_text())
    edited = [json.dumps({**json.loads(line), "questions": ["buy something else"]}) for line in lines]
    (changed / "trajectories.jsonl").write_text("\n".join(edited) + "\n")
    for argv, message in (
        ([str(a), str(tmp_path / "missing")], "no such run folder"),
        ([str(a), str(tmp_path)], "not a `mem1 eval --out` folder"),
        ([str(a), str(other)], "share no tasks"),
        ([str(a), str(changed)], "other questions in A than in B"),
        ([str(a), str(a), "--mode-a", "truncate", "--mode-b", "mem1"], "--mode-a truncate"),
        ([str(a), str(a), "--mode-a", "mem1"], "both --mode-a and --mode-b"),
        ([str(a), str(a), "--out", str(tmp_path)], "is a directory"),
    ):
        assert main(["eval", "compare", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
