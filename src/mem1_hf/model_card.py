"""Model cards for pushed MEM1 checkpoints: render the template, check the metadata.

The template is package data (``mem1_hf/templates/model_card.md``). The metadata carries the
licence, ``base_model``, ``datasets``, ``pipeline_tag``, ``tags`` and, when a ``mem1 eval``
summary is given, a ``model-index`` with the held-out EM/F1 per objective count and mode.

Example:
    >>> text = render_model_card(ModelCardInfo(repo_id="me/mem1-smollm2", base_model="HuggingFaceTB/SmolLM2-135M-Instruct"))
    >>> validate_model_card(text).data.pipeline_tag
    'text-generation'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError

TEMPLATE = Path(__file__).resolve().parent / "templates" / "model_card.md"
TAGS = ["mem1", "agents", "memory", "retrieval-augmented-generation", "multi-hop-qa", "mem1-agent"]
_REQUIRED = ("license", "base_model", "pipeline_tag", "tags", "library_name")


@dataclass
class ModelCardInfo:
    """What a model card says.

    Args:
        repo_id: where the model is published (``ORG/NAME``).
        base_model: the Hub id of the model it derives from.
        is_adapter: a LoRA adapter (PEFT) rather than a full model.
        remote_code: the repository carries the pipeline code (``trust_remote_code=True``).
        license: the licence id (the base model's licence applies to derivatives).
        datasets: Hub ids of the data it was trained or evaluated on.
        agent_config: the checkpoint's ``agent_config.json`` (a dict; the agent settings it was trained
            with, which the pipeline uses unless a call passes others), listed in the card; its
            ``prompt_profile`` replaces ``prompt_profile``.
        eval_summary: a ``mem1 eval`` ``summary.json`` (dict) whose QA cells go into the
            ``model-index`` and the card's table.
        eval_dataset: the Hub id (or name) of the evaluated data, for the ``model-index``.
        note: a paragraph shown under the table (e.g. "not trained yet").
        training: Markdown for the card's "Training" section (recipe, data, time, results, limits);
            ``mem1 push model`` takes it from the checkpoint's ``TRAINING.md``.
    """

    repo_id: str
    base_model: str
    is_adapter: bool = False
    remote_code: bool = True
    license: str = "apache-2.0"
    prompt_profile: str = "mem1-qa"
    datasets: list[str] = field(default_factory=list)
    agent_config: dict[str, Any] | None = None
    eval_summary: dict[str, Any] | None = None
    eval_dataset: str | None = None
    note: str = ""
    training: str = ""


def load_summary(path: str | Path) -> dict[str, Any]:
    """Read a ``mem1 eval`` summary (``summary.json`` or its run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise Mem1InputError(f"cannot read the evaluation summary {path}: {err}") from err
    if "cells" not in summary:
        raise Mem1InputError(f"{path} is not a `mem1 eval` summary (no 'cells')")
    return summary


def qa_results(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The summary's QA cells (WebShop cells carry no EM/F1 and are left out)."""
    return [c for c in (summary or {}).get("cells", []) if "em" in c and "f1" in c]


def eval_results(info: ModelCardInfo) -> list:
    """``huggingface_hub.EvalResult`` entries (the ``model-index``) for the measured cells."""
    from huggingface_hub import EvalResult

    dataset = info.eval_dataset or (info.datasets[0] if info.datasets else "mem1-composed-qa")
    out = []
    for cell in qa_results(info.eval_summary):
        for metric, key in (("exact_match", "em"), ("f1", "f1")):
            out.append(
                EvalResult(
                    task_type="question-answering",
                    task_name=f"{cell['objectives']}-objective multi-hop QA",
                    dataset_type=dataset,
                    dataset_name=f"{dataset} ({cell['objectives']} objectives)",
                    dataset_split="test",
                    metric_type=metric,
                    metric_name=f"{key.upper()} ({cell['mode']}, per-objective mean)",
                    metric_value=round(float(cell[key]), 4),
                    metric_config=f"{cell['objectives']}obj-{cell['mode']}",
                )
            )
    return out


def card_data(info: ModelCardInfo):
    """The ``ModelCardData`` (YAML metadata) of a checkpoint."""
    from huggingface_hub import ModelCardData

    results = eval_results(info)
    return ModelCardData(
        language=["en"],
        license=info.license,
        base_model=info.base_model,
        datasets=info.datasets or None,
        library_name="peft" if info.is_adapter else "transformers",
        pipeline_tag="text-generation",
        tags=TAGS + (["lora"] if info.is_adapter else []) + (["custom_code"] if info.remote_code else []),
        model_name=info.repo_id.split("/")[-1],
        eval_results=results or None,
    )


def _agent_settings(agent_config: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """``(setting, value)`` rows of an ``agent_config.json`` for the card (None: the checkpoint has none)."""
    if agent_config is None:
        return None
    from mem1_hf.agent_config import AgentConfig

    texts = {"max_turns": "the task family's budget", "task_family": "not recorded"}
    rows = []
    for name in AgentConfig.__dataclass_fields__:
        value = agent_config.get(name)
        rows.append((name, f"`{value}`" if value is not None else texts.get(name, "the library default")))
    return rows


def render_model_card(info: ModelCardInfo, template: str | Path | None = None) -> str:
    """Render the model card (YAML metadata + Markdown)."""
    from huggingface_hub import ModelCard

    from mem1_hf.version import __version__

    template = Path(template) if template is not None else TEMPLATE
    if not template.is_file():
        raise Mem1InputError(f"model card template not found: {template}")
    settings = (info.eval_summary or {}).get("settings", {})
    eval_note = ", ".join(
        f"{key.replace('_', ' ')} {settings[key]}"
        for key in ("split", "max_turns", "max_new_tokens", "prompt_profile")
        if settings.get(key) is not None
    )
    card = ModelCard.from_template(
        card_data(info),
        template_path=str(template),
        model_name=info.repo_id.split("/")[-1],
        repo_id=info.repo_id,
        base_model=info.base_model,
        is_adapter=info.is_adapter,
        remote_code=info.remote_code,
        prompt_profile=(info.agent_config or {}).get("prompt_profile") or info.prompt_profile,
        agent_settings=_agent_settings(info.agent_config),
        version=__version__,
        datasets=info.datasets,
        results=qa_results(info.eval_summary),
        eval_note=eval_note or "default settings",
        note=info.note,
        training=info.training.strip(),
    )
    return str(card)


def validate_model_card(content: str):
    """Parse a card with ``huggingface_hub.ModelCard`` and check its metadata; return the card.

    Checks the required fields, that ``pipeline_tag`` is ``text-generation`` and that every
    ``model-index`` result names a task, a dataset and numeric metrics.
    """
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(content)
    except ValueError as err:
        raise Mem1InputError(f"model card: cannot parse the YAML metadata ({err})") from err
    data = card.data.to_dict()
    problems = [f"missing {key!r}" for key in _REQUIRED if not data.get(key)]
    if data.get("pipeline_tag") != "text-generation":
        problems.append(f"pipeline_tag is {data.get('pipeline_tag')!r}, expected 'text-generation'")
    for entry in data.get("model-index") or []:
        for result in entry.get("results", []):
            if not result.get("task", {}).get("type") or not result.get("dataset", {}).get("type"):
                problems.append("a model-index result lacks its task or dataset type")
            for metric in result.get("metrics", []):
                if not isinstance(metric.get("value"), (int, float)):
                    problems.append(f"model-index metric {metric.get('name')!r} is not a number")
    if problems:
        raise Mem1InputError("model card: " + "; ".join(problems))
    return card
