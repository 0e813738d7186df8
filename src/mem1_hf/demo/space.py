"""The Gradio Space folder: ``app.py``, ``requirements.txt``, ``README.md`` (Spaces YAML).

:func:`space_files` renders the three files (``space/`` in the repository holds exactly these,
a test keeps them in sync); :func:`write_space` adds what a pushed Space needs to run alone: a
copy of the ``mem1_hf`` package next to ``app.py`` (so the Space does not need mem1-hf on
PyPI), the demo corpus and example tasks with gold answers. :func:`validate_space` checks it.

Example:
    >>> sorted(space_files())
    ['README.md', 'app.py', 'requirements.txt']
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: the Gradio version the app is tested with (the Space's ``sdk_version``; pyproject pins the extra)
SDK_VERSION = "6.31.0"

APP = '''"""MEM1 live memory demo (Gradio Space).

Runs the mem1-hf "mem1-agent" pipeline turn by turn, mem1 vs full context, with a live plot of
context tokens per turn. Set MEM1_MODEL to any MEM1 checkpoint (local path, adapter or Hub id).
Locally: `mem1 demo`, or `python space/app.py` from the repository.
"""

import os
import sys
from pathlib import Path

# a pushed Space ships the mem1_hf package next to this file; a checkout uses the installed one
sys.path.insert(0, str(Path(__file__).resolve().parent))
{model_line}
from mem1_hf.demo.app import launch  # noqa: E402

if __name__ == "__main__":
    launch(
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    )
'''

README = """---
{yaml}
---

# MEM1: an agent with a constant-size memory

Type up to four questions (or pick a composed HotpotQA task with gold answers), pick `mem1`,
`full_context` or both, and watch the agent work turn by turn: its internal state, its search
queries, the retrieved Wikipedia paragraphs and its answer, with a live plot of the context
size per turn. `mem1` keeps only the task, the last internal state and the last observation;
`full_context` keeps everything, so its context grows every turn.

Model: `{model}` (set the `MEM1_MODEL` variable to run another MEM1 checkpoint or adapter).
Built with mem1-hf, MEM1 ([Zhou et al., 2025](https://arxiv.org/abs/2506.15841)) on transformers,
over a BM25 index of the paragraphs of 500 HotpotQA dev questions (CC BY-SA 4.0).
"""


def _declared_requirements() -> tuple[list[str], list[str]]:
    """``(dependencies, demo extra)`` as declared: ``pyproject.toml`` in a checkout, else the
    installed package's metadata (a wheel)."""
    pyproject = PACKAGE_DIR.parents[1] / "pyproject.toml"
    try:
        import tomllib
    except ImportError:  # Python 3.10: read the installed metadata instead
        tomllib = None
    if tomllib is not None and pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == "mem1-hf":
            return list(project["dependencies"]), list(
                project.get("optional-dependencies", {}).get("demo", [])
            )
    try:
        requires = metadata.requires("mem1-hf") or []
    except metadata.PackageNotFoundError:
        requires = []
    core = [r for r in requires if "extra ==" not in r]
    demo = [r.split(";")[0] for r in requires if re.search(r"extra\s*==\s*['\"]demo['\"]", r)]
    return core, demo


def _requirements() -> list[str]:
    """mem1-hf's own dependencies plus its demo extra's gradio (the Space runs a copy of the package)."""
    from packaging.requirements import Requirement

    core, demo = _declared_requirements()
    if not core:
        raise Mem1InputError("cannot read mem1-hf's dependencies: install the package (pip install -e .)")
    wanted = core + [r for r in demo if Requirement(r).name == "gradio"]
    return sorted((str(Requirement(r)) for r in wanted), key=str.lower)


def space_files(model: str | None = None, datasets: Sequence[str] = ()) -> dict[str, str]:
    """The text of ``app.py``, ``requirements.txt`` and ``README.md`` for a Space running ``model``."""
    import yaml

    from mem1_hf.defaults import DEFAULT_BASE_HUB_ID

    hub_model = model if model and not Path(model).expanduser().exists() else DEFAULT_BASE_HUB_ID
    header = {
        "title": "MEM1 constant-memory agent",
        "emoji": "🧠",
        "colorFrom": "blue",
        "colorTo": "red",
        "sdk": "gradio",
        "sdk_version": SDK_VERSION,
        "app_file": "app.py",
        "pinned": False,
        "license": "apache-2.0",
        "short_description": "Watch a MEM1 agent keep a constant-size memory, turn by turn",
        "models": [hub_model],
        "datasets": ["hotpotqa/hotpot_qa", *datasets],
        "tags": ["mem1", "agents", "memory", "retrieval-augmented-generation"],
    }
    model_line = f'os.environ.setdefault("MEM1_MODEL", {model!r})\n' if model else ""
    return {
        "app.py": APP.format(model_line=model_line),
        "requirements.txt": "\n".join(_requirements()) + "\n",
        "README.md": README.format(
            yaml=yaml.safe_dump(header, sort_keys=False, allow_unicode=True).strip(), model=hub_model
        ),
    }


def copy_package(out: Path) -> Path:
    """Copy the installed ``mem1_hf`` package (sources and package data) into ``out/mem1_hf``."""
    target = out / "mem1_hf"
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def write_space(
    out: str | Path,
    model: str | None = None,
    corpus: str | Path | None = None,
    examples: str | Path | None = None,
    datasets: Sequence[str] = (),
    include_runtime: bool = True,
) -> Path:
    """Write the Space folder into ``out`` (which must exist); return it.

    ``include_runtime`` adds the package copy, ``corpus.jsonl`` (``corpus``, else the demo
    corpus) and ``examples.jsonl`` (the test split of ``examples``, a ``mem1 compose``
    directory, else tasks composed from the shared HotpotQA dev file).
    """
    from mem1_hf.data.corpus import write_corpus
    from mem1_hf.demo.runner import compose_examples, demo_corpus

    out = Path(out)
    if model and Path(model).expanduser().exists():
        raise Mem1InputError(
            f"--model {model}: a Space loads its model from the Hub; pass a Hub id (ORG/NAME)"
        )
    for name, text in space_files(model, datasets).items():
        (out / name).write_text(text, encoding="utf-8")
    if not include_runtime:
        return out
    copy_package(out)
    source = demo_corpus(corpus)
    if isinstance(source, Path):
        shutil.copy2(source, out / "corpus.jsonl")
    else:
        write_corpus(source, out / "corpus.jsonl")
    if examples:
        from mem1_hf.data.compose import load_composed

        loaded = load_composed(examples)
        split = "test" if "test" in loaded else next(iter(loaded))
        tasks = [
            {"task_id": r["task_id"], "questions": r["questions"], "answers": r["answers"]}
            for r in loaded[split].select(range(min(8, loaded[split].num_rows)))
        ]
    else:
        tasks = compose_examples()
    with open(out / "examples.jsonl", "w", encoding="utf-8") as handle:
        for task in tasks:
            handle.write(json.dumps(task, ensure_ascii=False) + "\n")
    return out


def validate_space(folder: str | Path) -> dict[str, Any]:
    """Check a Space folder: the YAML header, requirements, ``app.py``, and the shipped package.

    The package copy must import from the folder in a fresh interpreter (not from an installed
    mem1-hf). Returns the README metadata.
    """
    from huggingface_hub import RepoCard
    from packaging.requirements import InvalidRequirement, Requirement

    folder = Path(folder)
    for name in ("app.py", "requirements.txt", "README.md"):
        if not (folder / name).is_file():
            raise Mem1InputError(f"{folder}: missing {name}")
    data = RepoCard((folder / "README.md").read_text(encoding="utf-8")).data.to_dict()
    problems = [
        f"{key} is {data.get(key)!r}"
        for key, want in (("sdk", "gradio"), ("app_file", "app.py"))
        if data.get(key) != want
    ]
    problems += [f"missing {key!r}" for key in ("title", "sdk_version", "models") if not data.get(key)]
    for line in (folder / "requirements.txt").read_text().splitlines():
        try:
            Requirement(line)
        except InvalidRequirement:
            problems.append(f"bad requirement {line!r}")
    compile((folder / "app.py").read_text(), "app.py", "exec")
    if (folder / "mem1_hf").is_dir():
        probe = (
            "import sys; sys.path.insert(0, sys.argv[1]); import mem1_hf.demo.runner as r; print(r.__file__)"
        )
        done = subprocess.run([sys.executable, "-c", probe, str(folder)], capture_output=True, text=True)
        if done.returncode != 0 or not Path(done.stdout.strip()).resolve().is_relative_to(folder.resolve()):
            problems.append(
                f"the shipped mem1_hf does not import from the folder: {done.stderr.strip()[-300:]}"
            )
        for name in ("corpus.jsonl", "examples.jsonl"):
            lines = (folder / name).read_text().splitlines() if (folder / name).is_file() else []
            if not lines or not all(json.loads(line) for line in lines[:50]):
                problems.append(f"{name} is missing or empty")
    if problems:
        raise Mem1InputError(f"space folder {folder}: " + "; ".join(problems))
    return data
