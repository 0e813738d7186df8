"""A checkpoint's ``agent_config.json``: round trip, errors, and the precedence explicit argument >
checkpoint > library default through the pipeline, ``mem1 run``, ``mem1 eval``, ``mem1
trajectories``, the trainer's save, ``mem1 push model`` and the shipped default agent."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HOTPOT_DEV, make_tiny_llama, require_data
from transformers import pipeline

import mem1_hf  # noqa: F401  (registers the pipeline task)
from mem1_hf.agent_config import AGENT_CONFIG_NAME, AgentConfig
from mem1_hf.cli import build_parser, resolve_run_settings
from mem1_hf.defaults import PACKAGED_ADAPTER, _adapter_fingerprint, default_adapter_path
from mem1_hf.errors import Mem1InputError
from mem1_hf.loop import agent_setting_defaults
from mem1_hf.model_loading import agent_config_for
from mem1_hf.prompts import get_profile

REPO = Path(__file__).resolve().parents[1]
TRAINED = AgentConfig(
    prompt_profile="mem1-qa", mode="mem1", topk=2, max_obs_tokens=160, max_new_tokens=128, task_family="qa"
)


# ----------------------------------------------------------------------------- the file


def test_round_trip_and_missing_file(tmp_path):
    config = AgentConfig(prompt_profile="mem1-paper", mode="truncate", topk=4, max_turns=9, task_family="qa")
    path = config.save_pretrained(tmp_path / "ckpt")
    assert path == tmp_path / "ckpt" / AGENT_CONFIG_NAME
    data = json.loads(path.read_text())
    assert data["max_obs_tokens"] is None and data["mem1_hf_version"] == mem1_hf.__version__
    assert AgentConfig.from_pretrained(tmp_path / "ckpt") == config
    assert AgentConfig.from_pretrained(path) == config  # the file itself
    assert AgentConfig.from_pretrained(tmp_path) is None  # a folder without one
    assert AgentConfig.from_pretrained("nobody/not-cached-anywhere") is None  # offline, not in the cache
    assert config.settings() == {
        "prompt_profile": "mem1-paper",
        "mode": "truncate",
        "topk": 4,
        "max_turns": 9,
    }


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"topk": 2,', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"top_k": 2}', "unknown setting(s) top_k"),
        ('{"topk": 0}', "topk must be an integer >= 1"),
        ('{"max_new_tokens": "128"}', "max_new_tokens must be an integer"),
        ('{"prompt_profile": "mem1-qq"}', "unknown prompt profile 'mem1-qq'"),
        ('{"mode": "memory"}', "unknown mode 'memory'"),
    ],
)
def test_malformed_file_is_one_line_naming_it(tmp_path, text, needle):
    (tmp_path / AGENT_CONFIG_NAME).write_text(text)
    with pytest.raises(Mem1InputError) as err:
        AgentConfig.from_pretrained(tmp_path)
    message = str(err.value)
    assert needle in message and str(tmp_path / AGENT_CONFIG_NAME) in message and "\n" not in message


def test_merge_explicit_over_checkpoint_over_nothing():
    # an explicit value equal to the library default still wins (the CLI's hard case)
    assert TRAINED.merge({"topk": 3, "max_obs_tokens": None, "batch_size": 4}) == {
        "topk": 3,
        "batch_size": 4,
        "prompt_profile": "mem1-qa",
        "mode": "mem1",
        "max_obs_tokens": 160,
        "max_new_tokens": 128,
    }
    assert AgentConfig().merge({"topk": None}) == {}  # neither: the caller's library default applies
    assert TRAINED.describe({"topk": 3, "mode": "mem1", "prompt_profile": None}) == (
        "settings from the checkpoint: prompt_profile=mem1-qa, max_obs_tokens=160, max_new_tokens=128"
    )
    assert AgentConfig().describe({}) == ""


def test_one_default_per_setting():
    """The library defaults are the config dataclasses' field defaults, unchanged, and every
    other config that offers the setting takes them from there."""
    from mem1_hf.evaluation.cli import EvalConfig
    from mem1_hf.loop import LoopConfig
    from mem1_hf.policy import PolicyConfig
    from mem1_hf.training.config import MEM1PPOConfig

    defaults = agent_setting_defaults()
    assert defaults == {
        "prompt_profile": "mem1-qa",
        "mode": "mem1",
        "topk": 3,
        "max_obs_tokens": 512,
        "max_new_tokens": 256,
        "max_turns": 6,
    }
    assert (LoopConfig().topk, LoopConfig().max_obs_tokens, PolicyConfig().max_new_tokens) == (3, 512, 256)
    fields = MEM1PPOConfig.__dataclass_fields__
    assert fields["response_length"].default == PolicyConfig.max_new_tokens
    assert (
        fields["topk"].default == LoopConfig.topk
        and fields["max_obs_tokens"].default == LoopConfig.max_obs_tokens
    )
    # mem1 eval: None = not given (the checkpoint's, else the default above)
    assert EvalConfig.__dataclass_fields__["topk"].default is None
    text = build_parser("trajectories").parse_args(["trajectories", "--data", "d", "--out", "o"])
    assert (text.topk, text.max_obs_tokens, text.max_new_tokens, text.mode) == (None, None, None, None)


# ----------------------------------------------------------------------------- the shipped agents


def test_the_shipped_adapter_carries_its_evaluated_settings():
    """The QA default agent's file says what scripts/eval_default.sh evaluated it with."""
    assert default_adapter_path() is not None
    config = AgentConfig.from_pretrained(PACKAGED_ADAPTER)
    assert config == TRAINED and config.max_turns is None  # None: the family's turn budget
    script = (REPO / "scripts" / "eval_default.sh").read_text()
    flags = dict(re.findall(r"--(topk|max-obs-tokens|max-new-tokens) (\d+)", script))
    assert flags == {"topk": "2", "max-obs-tokens": "160", "max-new-tokens": "128"}
    assert (config.topk, config.max_obs_tokens, config.max_new_tokens) == (2, 160, 128)
    assert agent_config_for(None) == agent_config_for("default") == config  # no merge needed
    assert agent_config_for("base") == AgentConfig()
    webshop = PACKAGED_ADAPTER.parent / "mem1-smollm2-135m-webshop"
    if (webshop / AGENT_CONFIG_NAME).is_file():
        shop = AgentConfig.from_pretrained(webshop)
        assert (shop.prompt_profile, shop.max_obs_tokens, shop.max_new_tokens, shop.max_turns) == (
            "mem1-webshop",
            512,
            128,
            10,
        )


def test_the_merged_default_is_rebuilt_when_the_agent_config_changes(tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(PACKAGED_ADAPTER, adapter)
    before = _adapter_fingerprint(adapter)
    AgentConfig(topk=5).save_pretrained(adapter)
    changed = _adapter_fingerprint(adapter)
    assert changed != before
    (adapter / AGENT_CONFIG_NAME).unlink()
    assert _adapter_fingerprint(adapter) not in (before, changed)  # none at all is a third state


# ----------------------------------------------------------------------------- the pipeline


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tokenizer):
    """A tiny random model saved as a checkpoint folder with an agent_config.json."""
    folder = tmp_path_factory.mktemp("tiny") / "ckpt"
    make_tiny_llama(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    AgentConfig(prompt_profile="mem1-paper", max_obs_tokens=4, max_new_tokens=5, max_turns=2).save_pretrained(
        folder
    )
    return folder


def _search(queries, topk):
    return [[{"title": "Paris", "text": "Paris is the capital of France."}] * topk for _ in queries]


def _prompt(out, tokenizer) -> str:
    return tokenizer.decode(out["turns"][0]["input_ids"])


def test_pipeline_uses_the_checkpoint_unless_the_call_says_otherwise(tiny_checkpoint, tokenizer):
    """The random model never writes a valid action: every turn is a correction, so the turn
    count shows the budget, the generated count the new tokens, and the correction (an
    observation) the cut."""
    agent = pipeline("mem1-agent", model=str(tiny_checkpoint), env=_search, device="cpu")
    assert agent.checkpoint_agent_config == AgentConfig.from_pretrained(tiny_checkpoint)
    message = get_profile("mem1-paper").invalid_message
    out = agent(["Who is older, Annie Morton or Terry Richardson?"], return_token_ids=True)
    assert len(out["turns"]) == 2 and [t["generated_tokens"] for t in out["turns"]] == [5, 5]
    assert "<IS>" in _prompt(out, tokenizer)  # mem1-paper's tag, not mem1-qa's
    assert message[:40] not in out["turns"][0]["observation"]  # cut at 4 tokens
    assert len(tokenizer(out["turns"][0]["observation"])["input_ids"]) < 60
    # an explicit argument wins, at the call or at construction
    out = agent(
        ["Who is older?"], max_turns=1, max_new_tokens=3, prompt_profile="mem1-qa", return_token_ids=True
    )
    assert len(out["turns"]) == 1 and out["turns"][0]["generated_tokens"] == 3
    assert "<IS>" not in _prompt(out, tokenizer)
    wide = pipeline("mem1-agent", model=str(tiny_checkpoint), env=_search, device="cpu", max_obs_tokens=512)
    out = wide(["Who is older?"], max_turns=2, max_new_tokens=2)
    assert message[:40] in out["turns"][0]["observation"]
    # agent_config= replaces the folder's: AgentConfig() runs at the library defaults
    out = agent(["q?"], agent_config={"max_turns": 1, "max_new_tokens": 4}, return_token_ids=True)
    assert len(out["turns"]) == 1 and out["turns"][0]["generated_tokens"] == 4
    assert "<IS>" not in _prompt(out, tokenizer)
    with pytest.raises(Mem1InputError, match="no agent_config.json"):
        agent(["q?"], agent_config=str(tiny_checkpoint.parent))


def test_model_object_without_a_folder_runs_at_the_library_defaults(tokenizer):
    agent = pipeline("mem1-agent", model=make_tiny_llama(tokenizer), tokenizer=tokenizer, env=_search)
    assert agent.checkpoint_agent_config == AgentConfig()
    out = agent(["q?"], max_new_tokens=2)
    assert len(out["turns"]) == agent_setting_defaults()["max_turns"]


# ----------------------------------------------------------------------------- the command lines


def test_run_flags_beat_the_checkpoint_even_at_the_library_default(tiny_checkpoint, capsys):
    parse = build_parser("run").parse_args
    args = parse(["run", "--index", "i", "--model", str(tiny_checkpoint), "--topk", "3", "q?"])
    checkpoint = AgentConfig(topk=2, max_new_tokens=128, max_turns=4)
    loop, policy, line = resolve_run_settings(args, checkpoint)
    assert (loop.topk, loop.max_turns, loop.max_obs_tokens, policy.max_new_tokens) == (3, 4, 512, 128)
    assert line == "settings from the checkpoint: max_new_tokens=128, max_turns=4"
    # the model's own file, read without loading the model
    from mem1_hf.model_loading import ModelConfig
    from mem1_hf.settings import from_args

    loop, policy, line = resolve_run_settings(args, from_args(ModelConfig, args).agent_config())
    assert (loop.prompt_profile, loop.max_obs_tokens, loop.max_turns, policy.max_new_tokens) == (
        "mem1-paper",
        4,
        2,
        5,
    )
    assert loop.topk == 3 and line.startswith("settings from the checkpoint: prompt_profile=mem1-paper")
    with pytest.raises(SystemExit):
        parse(["run", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "documents per search (default: the checkpoint's agent_config.json, else 3)" in shown
    assert "tasks generated together (default: 1)" in shown  # other flags keep their defaults


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    from mem1_hf.data.compose import ComposeConfig, compose, write_composed

    require_data()
    out = tmp_path_factory.mktemp("agentcfg") / "qa_2obj"
    return write_composed(compose([("hotpotqa", HOTPOT_DEV)], ComposeConfig(objectives=2, limit=40)), out)


def test_eval_plan_takes_the_checkpoint_settings(composed, tiny_checkpoint, tmp_path):
    from mem1_hf.evaluation.cli import build_plan

    def plan(*argv):
        return build_plan(build_parser("eval").parse_args(["eval", "--data", str(composed), *argv]))

    ours = plan("--model", str(tiny_checkpoint), "--modes", "mem1", "--out", str(tmp_path / "a"))
    job = ours.jobs[0].config
    assert (job.prompt_profile, job.max_obs_tokens, job.max_turns, job.topk) == ("mem1-paper", 4, 2, 3)
    assert ours.generation.max_new_tokens == 5 and ours.settings["max_obs_tokens"] == 4
    assert ours.from_checkpoint.startswith("settings from the checkpoint: prompt_profile=mem1-paper")
    flags = (
        "--max-obs-tokens",
        "512",
        "--max-new-tokens",
        "256",
        "--max-turns",
        "3",
        "--prompt-profile",
        "mem1-qa",
    )
    given = plan("--model", str(tiny_checkpoint), *flags, "--out", str(tmp_path / "b"))
    job = given.jobs[0].config
    assert (job.prompt_profile, job.max_obs_tokens, job.max_turns) == ("mem1-qa", 512, 3)
    assert given.generation.max_new_tokens == 256 and given.from_checkpoint == ""
    shipped = plan("--out", str(tmp_path / "c"))  # no --model: the shipped agent's settings
    assert shipped.jobs[0].config.topk == 2 and shipped.generation.max_new_tokens == 128
    assert shipped.jobs[0].config.max_turns == 6  # its max_turns is null: the family's budget
    base = plan("--model", "base", "--out", str(tmp_path / "d"))  # the untrained base: no agent_config.json
    assert base.jobs[0].config.topk == 3 and base.jobs[0].config.max_obs_tokens == 512
    assert base.generation.max_new_tokens == 256 and base.from_checkpoint == ""


def test_trajectories_take_the_models_settings_not_the_experts(tiny_checkpoint):
    from mem1_hf.data.trajectories import command_of, resolve_agent_settings

    parse = build_parser("trajectories").parse_args
    args = parse(
        ["trajectories", "--data", "d", "--out", "o", "--policy", "model", "--model", str(tiny_checkpoint)]
    )
    assert "--max-new-tokens" not in command_of(args)  # as typed
    line = resolve_agent_settings(args)
    assert (args.max_obs_tokens, args.max_new_tokens, args.max_turns, args.topk, args.mode) == (
        4,
        5,
        2,
        3,
        "mem1",
    )
    assert args.prompt_profile == "mem1-paper"
    assert line == (
        "settings from the checkpoint: prompt_profile=mem1-paper, max_obs_tokens=4, max_new_tokens=5, max_turns=2"
    )
    expert = parse(["trajectories", "--data", "d", "--out", "o", "--max-new-tokens", "128"])
    assert resolve_agent_settings(expert) == ""
    assert (expert.max_obs_tokens, expert.max_new_tokens, expert.max_turns) == (512, 128, None)
    assert expert.prompt_profile == "mem1-qa"


# ----------------------------------------------------------------------------- writers


def test_trainer_save_writes_the_rollout_settings(tmp_path, tokenizer, hotpot_env, hotpot_questions):
    from test_training_trainer import _dataset, _trainer

    trainer = _trainer(tmp_path / "run", tokenizer, hotpot_env, _dataset(hotpot_questions), "grpo")
    trainer.save_model(str(tmp_path / "saved"))
    args = trainer.args  # response_length 8, max_obs_tokens 24, topk 1, max_turns 2 (that module's)
    assert AgentConfig.from_pretrained(tmp_path / "saved") == AgentConfig(
        prompt_profile="mem1-qa",
        mode="mem1",
        topk=args.topk,
        max_obs_tokens=args.max_obs_tokens,
        max_new_tokens=args.response_length,
        max_turns=args.max_turns,
        task_family="qa",
    )
    assert (args.topk, args.max_obs_tokens, args.response_length, args.max_turns) == (1, 24, 8, 2)


def test_push_folder_carries_the_agent_config_and_lists_it(tmp_path, default_path):
    from huggingface_hub import ModelCard

    from mem1_hf.hub import build_model_folder

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(PACKAGED_ADAPTER, checkpoint)
    out = build_model_folder(checkpoint, tmp_path / "out", repo_id="me/mem1-lora")
    assert AgentConfig.from_pretrained(out) == TRAINED
    card = ModelCard.load(out / "README.md").text
    assert (
        "## Agent settings" in card
        and "| `topk` | `2` |" in card
        and "| `max_turns` | the task family's" in card
    )
    (checkpoint / AGENT_CONFIG_NAME).write_text('{"topk": "two"}')
    with pytest.raises(Mem1InputError, match="topk must be an integer"):
        build_model_folder(checkpoint, tmp_path / "bad", repo_id="me/mem1-lora")
    (checkpoint / AGENT_CONFIG_NAME).unlink()
    out = build_model_folder(checkpoint, tmp_path / "none", repo_id="me/mem1-lora")
    assert (
        not (out / AGENT_CONFIG_NAME).exists() and "## Agent settings" not in (out / "README.md").read_text()
    )


# ----------------------------------------------------------------------------- the real default agent


@pytest.fixture
def fresh_home(tmp_path, monkeypatch, default_path):
    """An empty MEM1_HF_HOME holding only the converted base model (the merge happens here)."""
    monkeypatch.setenv("MEM1_HF_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / default_path.name).symlink_to(default_path)
    return tmp_path


class RecordingSearch:
    """A search function that remembers the top-k it was asked for; long passages, so the
    observation cut shows."""

    def __init__(self):
        self.topks: list[int] = []

    def __call__(self, queries, topk):
        self.topks.append(topk)
        text = "Terry Richardson is an American fashion photographer born in 1965. " * 40
        return [[{"title": f"Doc {i}", "text": text} for i in range(topk)] for _ in queries]


@pytest.mark.slow
def test_pipeline_with_no_model_is_the_default_agent_at_its_trained_settings(fresh_home, tokenizer):
    search = RecordingSearch()
    agent = pipeline("mem1-agent", env=search)  # no model: the shipped default agent, offline
    merged = fresh_home / "models" / "mem1-smollm2-135m"
    assert Path(agent.model.name_or_path) == merged
    assert AgentConfig.from_pretrained(merged) == TRAINED  # the merged copy carries the adapter's file
    question = "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"
    out = agent([question], max_turns=2)
    first = out["turns"][0]
    assert first["action"] == "search", first["response"]
    assert search.topks == [2] and first["generated_tokens"] <= 128
    body = first["observation"]
    cut = len(tokenizer(body, add_special_tokens=False)["input_ids"])
    assert 160 <= cut <= 160 + 60, cut  # 160 tokens of passages, plus the wrapper and the hint
    # explicit arguments win over the checkpoint
    out = agent([question], max_turns=2, topk=1, max_obs_tokens=40)
    assert search.topks[-1] == 1
    assert len(tokenizer(out["turns"][0]["observation"], add_special_tokens=False)["input_ids"]) < 100


@pytest.mark.slow
def test_mem1_run_with_no_flags_says_which_settings_came_from_the_checkpoint(tmp_path):
    require_data()
    corpus = tmp_path / "corpus.jsonl"
    cli = [sys.executable, "-m", "mem1_hf.cli"]
    done = subprocess.run(
        [*cli, "corpus", "--source", str(HOTPOT_DEV), "--max-questions", "30", "--out", str(corpus)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    question = "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"
    done = subprocess.run(
        [
            *cli,
            "run",
            "--corpus",
            str(corpus),
            "--json",
            "--max-turns",
            "2",
            "--max-obs-tokens",
            "2000",
            question,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("settings from the checkpoint")]
    assert lines == [
        "settings from the checkpoint: prompt_profile=mem1-qa, mode=mem1, topk=2, max_new_tokens=128"
    ]
    first = json.loads(done.stdout)["turns"][0]
    assert first["generated_tokens"] <= 128
    assert first["action"] == "search", first["response"]  # as in the pipeline test: the same first prompt
    assert "Doc 2(" in first["observation"] and "Doc 3(" not in first["observation"]  # top-2, uncut
