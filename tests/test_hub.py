"""`mem1 push`: the exact folders it uploads, their validation, and the upload itself.

Dry-run folders are checked the way their users read them: ``datasets.load_dataset(folder)``,
``from_pretrained`` (adapters through peft), ``pipeline("mem1-agent", model=folder)`` and, for a
full model, ``trust_remote_code=True`` in a fresh interpreter that cannot import mem1_hf.

The Hub itself is unreachable here: uploads go to ``tests/fake_hub.py``, a real HTTP server on
127.0.0.1 that implements the upload endpoints and records what huggingface_hub sends.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import HOTPOT_DEV, require_data
from fake_hub import FakeHubServer

from mem1_hf.cli import main
from mem1_hf.hub import DEFAULT_BASE_HUB_ID

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def composed_dir(tmp_path_factory) -> Path:
    from mem1_hf.data.compose import ComposeConfig, compose, write_composed

    require_data()
    config = ComposeConfig(objectives=2, splits={"test": 0.25}, seed=0, limit=40)
    out = tmp_path_factory.mktemp("composed") / "hotpot_2obj"
    return write_composed(compose([("hotpotqa", str(HOTPOT_DEV))], config, command="mem1 compose ..."), out)


# ----------------------------------------------------------------------------- remote code


def test_pipeline_code_is_flat_and_self_contained(tmp_path):
    from transformers.dynamic_module_utils import get_imports, get_relative_import_files

    from mem1_hf.remote_code import custom_pipeline_entry, pipeline_modules, write_pipeline_code

    modules = pipeline_modules()
    assert {"mem1_hf.pipeline", "mem1_hf.loop", "mem1_hf.keep_rule", "mem1_hf.policy"} <= set(modules)
    written = write_pipeline_code(tmp_path)
    names = {p.stem for p in written}
    for path in written:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:  # relative: must name a shipped file
                assert node.level == 1 and node.module in names, (path.name, node.module)
    # what transformers' remote-code loader sees: the files it copies and the packages it requires
    entry = tmp_path / "mem1_pipeline.py"
    copied = {Path(f).stem for f in get_relative_import_files(entry)} | {"mem1_pipeline"}
    assert copied == names  # every shipped file is reached from the entry, and nothing missing
    required = {m for path in written for m in get_imports(path)} - set(sys.stdlib_module_names)
    assert required == {"torch", "transformers", "numpy"}  # not mem1_hf, no retrieval/data libraries
    impl = custom_pipeline_entry()["mem1-agent"]["impl"]
    assert impl == "mem1_pipeline.MEM1Pipeline" and "class MEM1Pipeline" in entry.read_text()


# ----------------------------------------------------------------------------- dataset


def test_dataset_dry_run_folder_loads_with_load_dataset(composed_dir, tmp_path, capsys):
    import datasets
    from huggingface_hub import DatasetCard

    out = tmp_path / "ds"
    assert (
        main(
            [
                "push",
                "dataset",
                str(composed_dir),
                "--repo-id",
                "me/hotpot-2obj",
                "--dry-run",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "dry run: nothing uploaded" in capsys.readouterr().out
    files = _files(out)
    assert set(files) == {
        "README.md",
        "compose.json",
        "corpus.jsonl",
        "data/test.parquet",
        "data/train.parquet",
    }
    assert files["README.md"] == (composed_dir / "README.md").read_bytes()
    loaded = datasets.load_dataset(str(out), download_mode="force_redownload")
    local = datasets.load_from_disk(str(composed_dir / "arrow"))
    for split in ("train", "test"):
        assert loaded[split]["task_id"] == local[split]["task_id"]
        assert loaded[split]["answers"] == local[split]["answers"]
    card = DatasetCard.load(out / "README.md")
    assert card.data.license == "cc-by-sa-4.0" and "question-answering" in card.data.task_categories


# ----------------------------------------------------------------------------- full model


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory) -> Path:
    """A real (tiny) `mem1 eval` run on the default model: its summary feeds the model-index."""
    require_data()
    out = tmp_path_factory.mktemp("eval") / "run"
    args = [
        "eval",
        "--source",
        f"hotpotqa={HOTPOT_DEV}",
        "--source-limit",
        "40",
        "--objectives",
        "1",
        "--limit",
        "2",
        "--modes",
        "mem1",
        "--max-turns",
        "1",
        "--max-new-tokens",
        "16",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def model_folder(default_path, eval_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("push") / "model"
    args = [
        "push",
        "model",
        str(default_path),
        "--repo-id",
        "me/mem1-smollm2",
        "--dataset",
        "me/hotpot-2obj",
        "--eval-summary",
        str(eval_run),
        "--dry-run",
        "--out",
        str(out),
    ]
    assert main(args) == 0  # the dry run validates: loads the folder and runs the pipeline
    return out


@pytest.mark.slow
def test_model_folder_card_config_and_pipeline(model_folder, eval_run, default_path, hotpot_env):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, pipeline

    from mem1_hf import MEM1Pipeline

    config = json.loads((model_folder / "config.json").read_text())
    assert config["custom_pipelines"]["mem1-agent"]["impl"] == "mem1_pipeline.MEM1Pipeline"
    assert (model_folder / "mem1_pipeline.py").is_file() and (model_folder / "mem1_loop.py").is_file()
    card = ModelCard.load(model_folder / "README.md")
    data = card.data
    assert data.base_model == DEFAULT_BASE_HUB_ID and data.pipeline_tag == "text-generation"
    assert data.license == "apache-2.0" and data.datasets == ["me/hotpot-2obj"] and "mem1" in data.tags
    summary = json.loads((eval_run / "summary.json").read_text())
    cell = summary["cells"][0]
    measured = {(r.metric_type, r.metric_config): r.metric_value for r in data.eval_results}
    assert measured == {
        ("exact_match", "1obj-mem1"): round(cell["em"], 4),
        ("f1", "1obj-mem1"): round(cell["f1"], 4),
    }
    # the weights are the checkpoint's
    pushed = AutoModelForCausalLM.from_pretrained(model_folder)
    original = AutoModelForCausalLM.from_pretrained(default_path)
    assert torch.equal(pushed.model.norm.weight, original.model.norm.weight)
    # the folder's config names its own pipeline copy: transformers asks for trust_remote_code even
    # where mem1-hf is installed, or takes the installed class through pipeline_class
    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline("mem1-agent", model=str(model_folder), env=hotpot_env)
    agent = pipeline("mem1-agent", model=str(model_folder), env=hotpot_env, pipeline_class=MEM1Pipeline)
    out = agent(["Who is older, Annie Morton or Terry Richardson?"], max_turns=1, max_new_tokens=12)
    assert len(out["turns"]) == 1 and out["turns"][0]["generated_tokens"] > 0


REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class NoMem1(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "mem1_hf" or name.startswith("mem1_hf."):
                raise ImportError("mem1_hf is not installed here")

    sys.meta_path.insert(0, NoMem1())
    try:
        import mem1_hf  # noqa: F401
        raise SystemExit("mem1_hf is importable")
    except ImportError:
        pass

    from transformers import pipeline

    DOCS = json.loads(sys.argv[2])

    def search(queries, topk):  # a plain function is a search environment
        scored = lambda q: sorted(DOCS, key=lambda d: -len(set(q.lower().split()) & set(d["text"].lower().split())))
        return [scored(q)[:topk] for q in queries]

    agent = pipeline("mem1-agent", model=sys.argv[1], trust_remote_code=True, env=search)
    events = []
    out = agent(["Who is older, Annie Morton or Terry Richardson?"], max_turns=2, max_new_tokens=24,
                on_turn=events.append)
    print(json.dumps({"cls": type(agent).__module__, "answers": out["answers"], "turns": len(out["turns"]),
                      "events": len(events), "peak": out["peak_tokens"],
                      "loaded": sorted(m for m in sys.modules if m.startswith("mem1"))}))
    """
)


@pytest.mark.slow
def test_remote_code_pipeline_without_mem1_hf(model_folder, tmp_path):
    docs = []
    with open(HOTPOT_DEV) as handle:
        record = json.loads(handle.readline())
        for ctx in record["contexts"][:6]:
            docs.append({"title": ctx["title"], "text": ctx["paragraph_text"]})
    script = tmp_path / "remote.py"
    script.write_text(REMOTE_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(model_folder), json.dumps(docs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env=_child_env(HF_MODULES_CACHE=str(tmp_path / "modules")),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["cls"].startswith("transformers_modules.")  # the repository's copy, not a package
    assert result["loaded"] == []
    assert (
        len(result["answers"]) == 1 and 1 <= result["turns"] == result["events"] <= 2 and result["peak"] > 0
    )


# ----------------------------------------------------------------------------- adapter


def _hub_cache_with_default_model(cache: Path, default_path: Path) -> None:
    """An offline Hub cache entry for the base model's Hub id, holding the local default files.

    The adapter names its base by Hub id (as published); transformers resolves that id from the
    cache because the Hub is unreachable here.
    """
    repo = cache / ("models--" + DEFAULT_BASE_HUB_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / ("1" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("1" * 40)
    for item in default_path.iterdir():
        (snapshot / item.name).symlink_to(item)


@pytest.mark.slow
def test_adapter_push_loads_through_peft(default_path, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(default_path)
    torch.manual_seed(0)
    lora = LoraConfig(
        r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )  # non-zero: it changes outputs
    peft_model = get_peft_model(base, lora)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(default_path).save_pretrained(adapter)
    (adapter / "optimizer.pt").write_bytes(b"training state")  # never published
    (adapter / "TRAINING.md").write_text("Trained by `make train-default` in 97 minutes.\n")  # -> the card
    ids = torch.tensor([[1, 504, 3458, 314, 260]])
    with torch.no_grad():
        want = peft_model(ids).logits
        plain = peft_model.get_base_model()
    cache = tmp_path / "hub-cache"
    _hub_cache_with_default_model(cache, default_path)
    out = tmp_path / "pushed"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mem1_hf.cli",
            "push",
            "model",
            str(adapter),
            "--repo-id",
            "me/mem1-lora",
            "--dry-run",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env=_child_env(HF_HUB_CACHE=str(cache), PYTHONPATH=str(REPO / "src")),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pipeline('mem1-agent') ran" in done.stdout  # validation: from_pretrained + pipeline
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == DEFAULT_BASE_HUB_ID
    assert not (out / "optimizer.pt").exists() and not (out / "config.json").exists()
    assert not (out / "TRAINING.md").exists()
    assert "## Training\n\nTrained by `make train-default` in 97 minutes." in (out / "README.md").read_text()
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    assert (
        card.data.library_name == "peft"
        and "lora" in card.data.tags
        and card.data.base_model == DEFAULT_BASE_HUB_ID
    )
    with torch.no_grad():
        del plain
        reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(default_path), out)
        got = reloaded(ids).logits
        base_logits = AutoModelForCausalLM.from_pretrained(default_path)(ids).logits
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, base_logits, atol=1e-3)


# ----------------------------------------------------------------------------- space


@pytest.fixture(scope="module")
def space_folder(tmp_path_factory) -> Path:
    require_data()  # the demo corpus and examples come from the shared HotpotQA file
    out = tmp_path_factory.mktemp("space") / "space"
    assert main(["push", "space", "--repo-id", "me/mem1-demo", "--dry-run", "--out", str(out)]) == 0
    return out


def test_space_dry_run_folder(space_folder):
    from huggingface_hub import RepoCard

    from mem1_hf.demo.space import space_files

    out = space_folder
    files = _files(out)
    assert {"app.py", "requirements.txt", "README.md", "corpus.jsonl", "examples.jsonl"} <= set(files)
    assert "mem1_hf/demo/app.py" in files and "mem1_hf/templates/model_card.md" in files
    assert not any("__pycache__" in name for name in files)
    meta = RepoCard.load(out / "README.md").data
    assert meta.sdk == "gradio" and meta.app_file == "app.py" and meta.models == [DEFAULT_BASE_HUB_ID]
    examples = [json.loads(line) for line in files["examples.jsonl"].decode().splitlines()]
    assert examples and all(len(e["questions"]) == len(e["answers"]) == 2 for e in examples)
    assert len(files["corpus.jsonl"].decode().splitlines()) == 4858  # the demo corpus
    # the repository's space/ holds exactly the rendered files
    for name, text in space_files().items():
        assert (REPO / "space" / name).read_text() == text, f"space/{name} is stale: rerun `make space`"


# ----------------------------------------------------------------------------- upload


@pytest.fixture
def online_to_localhost(monkeypatch):
    """Let huggingface_hub make HTTP requests (the suite sets HF_HUB_OFFLINE); only the fake hub is used."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")


def test_upload_dataset_to_a_local_hub(composed_dir, tmp_path, online_to_localhost, capsys):
    out = tmp_path / "ds"
    with FakeHubServer() as hub:
        code = main(
            [
                "push",
                "dataset",
                str(composed_dir),
                "--repo-id",
                "me/hotpot-2obj",
                "--private",
                "--revision",
                "v1",
                "--message",
                "First release",
                "--endpoint",
                hub.url,
                "--out",
                str(out),
            ]
        )
    assert code == 0, capsys.readouterr().err
    assert hub.unknown == []
    assert hub.repos == [
        {"name": "hotpot-2obj", "organization": "me", "visibility": "private", "type": "dataset"}
    ]
    assert hub.branches == [("me/hotpot-2obj", "v1")]
    commit = hub.commits[0]
    assert commit["kind"] == "datasets" and commit["revision"] == "v1"
    assert commit["header"]["summary"] == "First release"
    assert commit["authorization"] == "Bearer hf_test_token"
    assert commit["files"] == _files(out)  # exactly the folder the dry run would write
    assert (
        hub.validated[0]["repoType"] == "dataset"
        and hub.validated[0]["content"] == _files(out)["README.md"].decode()
    )
    assert f"pushed to {hub.url}/datasets/me/hotpot-2obj" in capsys.readouterr().out


def test_upload_space_to_a_local_hub(tmp_path, online_to_localhost):
    with FakeHubServer() as hub:
        assert main(["push", "space", "--repo-id", "me/mem1-demo", "--endpoint", hub.url]) == 0
    assert hub.repos[0]["type"] == "space" and hub.repos[0]["sdk"] == "gradio"
    assert hub.commits[0]["revision"] == "main"
    files = hub.commits[0]["files"]
    assert {"app.py", "README.md", "requirements.txt", "examples.jsonl", "mem1_hf/pipeline.py"} <= set(files)


def test_push_user_errors_are_one_line(composed_dir, tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    def error(args) -> str:
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        return err

    assert "needs --out" in error(["push", "dataset", str(composed_dir), "--repo-id", "me/x", "--dry-run"])
    assert "not a `mem1 compose` directory" in error(
        ["push", "dataset", str(tmp_path), "--repo-id", "me/x", "--dry-run", "--out", str(tmp_path / "o")]
    )
    assert "not a checkpoint" in error(
        ["push", "model", str(tmp_path), "--repo-id", "me/x", "--dry-run", "--out", str(tmp_path / "o2")]
    )
    assert "needs the directory" in error(
        ["push", "model", "--repo-id", "me/x", "--dry-run", "--out", str(tmp_path / "o3")]
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    assert "no Hugging Face token" in error(["push", "dataset", str(composed_dir), "--repo-id", "me/x"])
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    assert "ORG/NAME" in error(["push", "dataset", str(composed_dir), "--repo-id", "noslash"])


# ----------------------------------------------------------------------------- installed wheel


WHEEL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import mem1_hf
    assert mem1_hf.__file__.startswith(sys.argv[1]), mem1_hf.__file__
    from mem1_hf.data.cards import render_card, validate_card
    from mem1_hf.model_card import ModelCardInfo, render_model_card, validate_model_card
    manifest = json.load(open(sys.argv[2]))
    validate_card(render_card(manifest))
    validate_model_card(render_model_card(ModelCardInfo("me/m", "HuggingFaceTB/SmolLM2-135M-Instruct")))
    print("cards ok from", mem1_hf.__file__)
    """
)


def test_card_templates_ship_in_the_wheel(composed_dir, tmp_path):
    """Cards render from an installed wheel, not only from a checkout (templates are package data)."""
    import zipfile

    source = tmp_path / "source"  # build from a copy: a build leaves egg-info in its source tree
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("mem1_hf-*.whl"))
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(installed)
    assert "mem1_hf/templates/model_card.md" in names and "mem1_hf/templates/dataset_card.md" in names
    script = tmp_path / "cards.py"
    script.write_text(WHEEL_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(installed), str(composed_dir / "compose.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=_child_env(PYTHONPATH=str(installed)),
    )
    assert done.returncode == 0 and "cards ok" in done.stdout, done.stderr[-2000:]


@pytest.mark.slow
def test_space_folder_serves_on_its_own(space_folder, tmp_path):
    """``python app.py`` inside the pushed folder serves the app from its own package copy, corpus
    and examples (cwd is the folder, nothing from the repository on the path)."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "space.log"
    env = _child_env(
        GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", MEM1_SHARED_DATA=str(tmp_path)
    )
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=space_folder, env=env, stdout=handle, stderr=handle
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as response:
                    config = json.loads(response.read())
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = json.dumps(config, ensure_ascii=False)
    first = json.loads((space_folder / "examples.jsonl").read_text().splitlines()[0])
    assert first["questions"][0][:40] in text  # the example tasks come from the folder
    assert "4858 passages" in text  # and the corpus


@pytest.mark.slow
def test_merging_the_default_adapter_works_offline(tmp_path):
    """`mem1 push model default --merge-adapter --dry-run` with no Hub: the adapter names its base
    by Hub id, and the offline copy of that base is what it merges into (a traceback before)."""
    out = tmp_path / "merged"
    done = subprocess.run(
        [sys.executable, "-m", "mem1_hf.cli", "push", "model", "default", "--merge-adapter"]
        + ["--repo-id", "me/mem1-merged", "--dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env=_child_env(PYTHONPATH=str(REPO / "src")),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert "validated" in done.stdout and "nothing uploaded" in done.stdout
