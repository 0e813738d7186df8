"""`mem1 train` and `accelerate launch -m mem1_hf.train` from YAML configs, as a user runs them:
a real composed dataset (HotpotQA dev), BM25, a tiny random Llama saved to disk, two processes
over gloo, resume from a checkpoint, and one `error:` line for a user's mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HOTPOT_DEV, make_tiny_llama

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "qa_grpo_lora_cpu.yaml"
SMALL = ["--response_length", "8", "--max_turns", "2", "--disable_tqdm", "true", "--max_obs_tokens", "32"]


def _env() -> dict:
    env = dict(
        os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRL_EXPERIMENTAL_SILENCE="1"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return env


def _mem1(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mem1_hf.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def _compose(out: Path, objectives: int, limit: int) -> Path:
    done = _mem1(
        "compose", "--source", f"hotpotqa={HOTPOT_DEV}", "--objectives", objectives,
        "--split", "test=0.1", "--seed", 0, "--limit", limit, "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("train_cli")
    _compose(root / "data", 2, 40)
    model = make_tiny_llama(tokenizer)
    model.save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    return root


def _train_args(workdir, out) -> list:
    """The YAML config on the composed data and the tiny model, writing to ``out``."""
    return [
        "--config",
        CONFIG,
        "--data",
        workdir / "data",
        "--model_name_or_path",
        workdir / "tiny",
        "--output_dir",
        out,
    ]


def test_mem1_train_runs_saves_and_resumes(workdir):
    out = workdir / "run"
    common = ["train", *_train_args(workdir, out), "--save_steps", 1, *SMALL]
    first = _mem1(*common, "--max_steps", 1)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "checkpoint-1" / "optimizer.pt").is_file()
    resumed = _mem1(*common, "--max_steps", 2, "--resume_from_checkpoint", out / "checkpoint-1")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert [entry["step"] for entry in state["log_history"]] == [1, 2]  # the first step's log survived


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(workdir):
    out = workdir / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        ROOT / "configs" / "accelerate" / "cpu_multi_process.yaml",
        "-m",
        "mem1_hf.train",
        *_train_args(workdir, out),
        "--max_steps",
        2,
        *SMALL,
    ]
    done = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=_env(), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = out / "checkpoint-2"
    assert (checkpoint / "rng_state_0.pth").is_file() and (checkpoint / "rng_state_1.pth").is_file()
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    # 2 processes × 2 tasks × 4 generations per step
    assert state["log_history"][-1]["episode"] == 32


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "nowhere/at/all"], "cannot load"),
        (["--logprob_mode", "rows"], "logprob_mode"),
        (["--advantage_estimator", "grpo", "--num_generations", "1"], "num_generations"),
    ],
)
def test_user_mistakes_are_one_error_line(workdir, args, message):
    done = _mem1("train", *_train_args(workdir, workdir / "bad"), *args, timeout=300)
    assert done.returncode == 2
    lines = [line for line in done.stderr.strip().splitlines() if line.startswith("error:")]
    assert lines and message in lines[-1], done.stderr[-1500:]
    assert "Traceback" not in done.stderr


def test_several_composed_folders_train_together(workdir):
    """`--data A,B` (e.g. 1- and 2-objective tasks, as configs/experiments/default_agent_grpo_f1.yaml):
    the tasks of both, one environment over their corpus (the same rule as `mem1 eval --data A --data B`,
    families.qa.retrieval_env): the shared file itself, or, when the folders' corpora differ, every
    passage of both, once."""
    from mem1_hf.data.compose import load_composed
    from mem1_hf.errors import Mem1InputError
    from mem1_hf.train import TrainScriptArguments, build_env

    def passages(folder):
        return [json.loads(line)["contents"] for line in (folder / "corpus.jsonl").read_text().splitlines()]

    one = _compose(workdir / "one_obj", 1, 40)
    env, data = build_env(TrainScriptArguments(data=f"{one},{workdir / 'data'}", split="train"))
    expected = len(load_composed(one, "train")) + len(load_composed(workdir / "data", "train"))
    assert len(data) == expected
    assert sorted({len(q) for q in data["questions"]}) == [1, 2]
    assert len(env) == len(passages(one))

    other = _compose(workdir / "other_corpus", 1, 20)  # fewer source rows: a smaller corpus
    assert len(passages(other)) < len(passages(workdir / "data"))
    env, data = build_env(TrainScriptArguments(data=f"{other},{workdir / 'data'}", split="train"))
    union = set(passages(other)) | set(passages(workdir / "data"))
    assert len(env) == len(union)
    assert {hit.contents for hit in env.search([data[0]["questions"][0]], topk=3)[0]} <= union
    with pytest.raises(Mem1InputError, match="file not found: .*missing.jsonl"):
        build_env(TrainScriptArguments(data=str(one), corpus=str(workdir / "missing.jsonl"), split="train"))


def test_rollouts_take_the_starting_checkpoints_agent_settings(tmp_path):
    """argument > the starting checkpoint's agent_config.json > library default, for the rollouts:
    flags and the YAML config win; what neither sets comes from the checkpoint."""
    from mem1_hf.agent_config import AgentConfig
    from mem1_hf.train import apply_checkpoint_settings, parse

    start = tmp_path / "start"
    AgentConfig(topk=2, max_obs_tokens=160, max_new_tokens=128, max_turns=5).save_pretrained(start)
    config = tmp_path / "grpo.yaml"
    config.write_text("max_obs_tokens: 200\n")
    argv = [
        "--config",
        str(config),
        "--model_name_or_path",
        str(start),
        "--topk",
        "4",
        "--output_dir",
        str(tmp_path / "o"),
    ]
    _, args, model_args, _ = parse(argv)
    line = apply_checkpoint_settings(argv, args, model_args)
    assert (args.topk, args.max_obs_tokens) == (4, 200)  # the flag, the YAML
    assert (args.response_length, args.max_turns) == (128, 5)  # the checkpoint
    assert line == "settings from the checkpoint: max_new_tokens=128, max_turns=5"
    # a start without agent_config.json: the library defaults stay
    argv = ["--model_name_or_path", str(tmp_path), "--output_dir", str(tmp_path / "o")]
    _, args, model_args, _ = parse(argv)
    defaults = (args.topk, args.response_length)
    assert (
        apply_checkpoint_settings(argv, args, model_args) == ""
        and (args.topk, args.response_length) == defaults
    )
