"""Publish to the Hugging Face Hub: composed datasets, checkpoints and the demo Space.

``mem1 push dataset DIR --repo-id ORG/NAME``, ``mem1 push model CKPT --repo-id ...`` (a full
model or a LoRA adapter) and ``mem1 push space --repo-id ...`` first write the exact folder that
will be uploaded (into ``--out`` or a temporary directory) and validate it; ``--dry-run`` stops
there, otherwise the folder goes up with ``HfApi.create_repo`` + ``upload_folder``. The token
comes from the usual places (``HF_TOKEN``, ``hf auth login``) through ``huggingface_hub``.

* dataset: the card (``README.md`` with its ``configs``), ``data/*.parquet``, the corpus and
  ``compose.json``; validated with ``datasets.load_dataset(folder)`` and the card checks.
* model: weights, config, tokenizer, the pipeline code (``mem1_*.py``, see
  :mod:`mem1_hf.remote_code`) with ``custom_pipelines`` in ``config.json``, and a model card;
  validated by loading it (adapters through peft) and running ``pipeline("mem1-agent")``.
* space: ``app.py``, ``requirements.txt``, ``README.md`` (Spaces YAML), a copy of the
  ``mem1_hf`` package, the demo corpus and example tasks (see :mod:`mem1_hf.demo.space`).

Example:
    $ mem1 push dataset composed-2 --repo-id me/mem1-hotpotqa-2obj --dry-run --out /tmp/ds
    $ mem1 push model runs/sft/adapter --repo-id me/mem1-smollm2 --eval-summary runs/qa
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mem1_hf.agent_config import AGENT_CONFIG_NAME, AgentConfig
from mem1_hf.defaults import DEFAULT_BASE_HUB_ID  # re-exported: the card's ``base_model``
from mem1_hf.errors import Mem1InputError

REPO_TYPES = {"dataset": "dataset", "model": "model", "space": "space"}
# training leftovers that never belong in a published checkpoint
#: a checkpoint's notes on how it was trained: the card's "Training" section (not copied as a file)
TRAINING_NOTES = "TRAINING.md"
_SKIP_FILES = {
    "optimizer.pt",
    "scheduler.pt",
    "training_args.bin",
    "trainer_state.json",
    "scaler.pt",
    TRAINING_NOTES,
}
_SKIP_PREFIXES = ("rng_state", "checkpoint-", "global_step", "events.out", ".")


# ----------------------------------------------------------------------------- folders


def _fresh_dir(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Mem1InputError(f"{out} exists and is not an empty directory; pick a new --out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def build_dataset_folder(source: str | Path, out: str | Path) -> Path:
    """Copy what a ``mem1 compose`` directory publishes: card, parquet, corpus, manifest.

    The ``arrow/`` copy (``save_to_disk``) stays local: the Hub serves the parquet files that
    the card's ``configs`` name.
    """
    from mem1_hf.data.compose import CORPUS_FILE

    source = Path(source)
    if not (source / "README.md").is_file() or not sorted((source / "data").glob("*.parquet")):
        raise Mem1InputError(f"{source}: not a `mem1 compose` directory (needs README.md and data/*.parquet)")
    out = _fresh_dir(out)
    shutil.copy2(source / "README.md", out / "README.md")
    shutil.copytree(source / "data", out / "data")
    for name in (CORPUS_FILE, "compose.json"):
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    return out


def validate_dataset_folder(folder: str | Path) -> dict[str, int]:
    """Check a dataset folder as the Hub will read it; return ``{split: rows}``.

    The card must pass :func:`mem1_hf.data.cards.validate_card`, and
    ``datasets.load_dataset(folder)`` must load every split it names with the composed fields.
    """
    import datasets

    from mem1_hf.data.cards import validate_card

    folder = Path(folder)
    card = validate_card((folder / "README.md").read_text(encoding="utf-8"))
    # force_redownload: with the card's `configs:` YAML, datasets keys its cache on the folder and the
    # card, not the files' mtimes, so a folder rewritten in place would be checked from a stale cache
    loaded = datasets.load_dataset(str(folder), download_mode="force_redownload")
    named = {f["split"] for c in card.data.to_dict()["configs"] for f in c["data_files"]}
    if set(loaded) != named:
        raise Mem1InputError(
            f"{folder}: load_dataset found splits {sorted(loaded)}, the card names {sorted(named)}"
        )
    for split, data in loaded.items():
        missing = {"task_id", "questions", "answers"} - set(data.column_names)
        if missing:
            raise Mem1InputError(f"{folder}: split {split!r} lacks {', '.join(sorted(missing))}")
    return {split: data.num_rows for split, data in loaded.items()}


def _is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def _checkpoint_base(path: Path) -> str | None:
    """The base model an adapter names (``base_model_name_or_path``); ``None`` for full models."""
    if _is_adapter(path):
        return json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
    return None


def resolve_base_model(checkpoint: Path, base_model: str | None) -> str:
    """The Hub id the card (and an adapter's config) names as the base model.

    ``base_model`` wins. Otherwise: the offline default model (or an adapter on it) maps to its
    Hub id; an adapter whose base is already a Hub id keeps it; a local path is no use to
    someone on the Hub, so anything else needs ``--base-model``.
    """
    from mem1_hf.defaults import DEFAULT_MODEL_NAME, cache_dir

    if base_model:
        return base_model
    default_dir = (cache_dir() / "models" / DEFAULT_MODEL_NAME).resolve()
    named = _checkpoint_base(checkpoint)
    if named is None:
        if checkpoint.resolve() == default_dir:
            return DEFAULT_BASE_HUB_ID
        raise Mem1InputError(f"{checkpoint}: pass --base-model ORG/NAME (the Hub id it derives from)")
    local = Path(named).expanduser()
    if local.exists():
        if local.resolve() == default_dir:
            return DEFAULT_BASE_HUB_ID
        raise Mem1InputError(
            f"{checkpoint} names the local base model {named!r}; pass --base-model ORG/NAME (its Hub id)"
        )
    return named


def merge_adapter(checkpoint: Path, out: Path) -> Path:
    """Merge a LoRA adapter into its base model and save the full model (and tokenizer).

    An adapter on the offline default's Hub id merges into the local copy through the one model
    loader (no Hub needed); any other base is loaded by its name, and a base that cannot be
    loaded is one clear error."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    from mem1_hf.model_loading import load_model, offline_base_of

    if offline_base_of(str(checkpoint)) is not None:
        model, tokenizer = load_model(str(checkpoint), device="cpu", dtype="float32")
    else:
        try:
            model = AutoPeftModelForCausalLM.from_pretrained(str(checkpoint)).merge_and_unload()
            tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
        except (OSError, ValueError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise Mem1InputError(
                f"{checkpoint}: cannot load the adapter's base model to merge it: {first}"
            ) from err
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def build_model_folder(
    checkpoint: str | Path,
    out: str | Path,
    repo_id: str,
    base_model: str | None = None,
    datasets: list[str] | None = None,
    eval_summary: dict[str, Any] | None = None,
    merge: bool = False,
    note: str = "",
) -> Path:
    """Write a publishable model folder: checkpoint files, pipeline code, model card.

    A full model gets the ``mem1_*.py`` pipeline code and ``custom_pipelines`` in its
    ``config.json`` (``trust_remote_code=True`` loading); an adapter keeps its own files, its
    ``base_model_name_or_path`` set to the Hub id of the base; ``merge=True`` merges an adapter
    into a full model first. The checkpoint's ``agent_config.json`` (the agent settings it was
    trained with) goes into the folder too, checked, and the card lists its settings.
    """
    from mem1_hf.model_card import ModelCardInfo, render_model_card, validate_model_card
    from mem1_hf.remote_code import add_custom_pipeline, write_pipeline_code

    checkpoint = Path(checkpoint)
    if not checkpoint.is_dir() or not (_is_adapter(checkpoint) or (checkpoint / "config.json").is_file()):
        raise Mem1InputError(f"{checkpoint}: not a checkpoint (needs config.json or adapter_config.json)")
    base = resolve_base_model(checkpoint, base_model)
    out = _fresh_dir(out)
    adapter = _is_adapter(checkpoint) and not merge
    if _is_adapter(checkpoint) and merge:
        merge_adapter(checkpoint, out)
    else:
        for item in sorted(checkpoint.iterdir()):
            if item.is_file() and item.name not in _SKIP_FILES and not item.name.startswith(_SKIP_PREFIXES):
                shutil.copy2(item, out / item.name)
    if not (out / "tokenizer_config.json").is_file():
        raise Mem1InputError(f"{checkpoint} has no tokenizer files; save the tokenizer with the checkpoint")
    if merge and (checkpoint / AGENT_CONFIG_NAME).is_file():  # merging writes weights and tokenizer only
        shutil.copy2(checkpoint / AGENT_CONFIG_NAME, out / AGENT_CONFIG_NAME)
    agent_config = AgentConfig.from_pretrained(out)  # a malformed one stops here, before any upload
    write_pipeline_code(out)
    if adapter:
        config = json.loads((out / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = base
        (out / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    else:
        add_custom_pipeline(out / "config.json")
    info = ModelCardInfo(
        repo_id=repo_id,
        base_model=base,
        is_adapter=adapter,
        remote_code=not adapter,
        datasets=list(datasets or []),
        agent_config=agent_config.to_dict() if agent_config is not None else None,
        eval_summary=eval_summary,
        note=note,
        training=(checkpoint / TRAINING_NOTES).read_text() if (checkpoint / TRAINING_NOTES).is_file() else "",
    )
    card = validate_model_card(render_model_card(info))
    card.save(str(out / "README.md"))
    return out


def _sample_search(queries: list[str], topk: int) -> list[list[dict]]:
    """A fixed one-document search for validation runs (any callable works as an environment)."""
    doc = {"title": "Paris", "text": "Paris is the capital and largest city of France."}
    return [[doc] for _ in queries]


def validate_model_folder(folder: str | Path, max_new_tokens: int = 8) -> dict[str, Any]:
    """Load a model folder as a user would and run one short ``"mem1-agent"`` task.

    Adapters load through ``AutoModelForCausalLM.from_pretrained`` with peft (the base model
    comes from ``base_model_name_or_path``); a full model runs its shipped pipeline code
    (``trust_remote_code=True``); the card must pass :func:`validate_model_card`.
    Returns the pipeline's result dict.
    """
    from transformers import AutoModelForCausalLM, pipeline

    import mem1_hf  # noqa: F401  (registers the pipeline task)
    from mem1_hf.model_card import validate_model_card
    from mem1_hf.model_loading import offline_base_of

    folder = Path(folder)
    validate_model_card((folder / "README.md").read_text(encoding="utf-8"))
    offline_base = offline_base_of(str(folder))
    if offline_base is not None:  # an adapter on the default base's Hub id: its offline copy, no Hub
        from peft import PeftModel
        from transformers import AutoTokenizer

        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(offline_base), str(folder))
    else:
        model = AutoModelForCausalLM.from_pretrained(str(folder))
    if _is_adapter(folder) and not getattr(model, "peft_config", None):
        raise Mem1InputError(f"{folder}: the adapter did not load through peft")
    # A full model's config names its own copy of the pipeline (custom_pipelines), which
    # transformers then loads as remote code even where mem1-hf is installed: do as a Hub user does.
    config = folder / "config.json"
    remote = config.is_file() and "custom_pipelines" in json.loads(config.read_text())
    if offline_base is not None:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        agent = pipeline("mem1-agent", model=model, tokenizer=tokenizer, env=_sample_search)
    else:
        agent = pipeline(
            "mem1-agent", model=str(folder), env=_sample_search, trust_remote_code=remote or None
        )
    out = agent(["What is the capital of France?"], max_turns=2, max_new_tokens=max_new_tokens)
    if len(out["turns"]) < 1:
        raise Mem1InputError(f"{folder}: the pipeline ran no turn")
    return out


def build_space_folder(out: str | Path, **kwargs: Any) -> Path:
    """Write the Space folder (see :func:`mem1_hf.demo.space.write_space`)."""
    from mem1_hf.demo.space import write_space

    return write_space(_fresh_dir(out), **kwargs)


def validate_space_folder(folder: str | Path) -> dict[str, Any]:
    """Check the Space folder (see :func:`mem1_hf.demo.space.validate_space`)."""
    from mem1_hf.demo.space import validate_space

    return validate_space(Path(folder))


BASE_MODEL_NOTE = (
    "Until the trained default adapter is released, this repository holds the base model "
    "(SmolLM2-135M-Instruct) with the `mem1-agent` pipeline: its numbers are the untrained baseline."
)


def default_checkpoint(path: str) -> tuple[str, str]:
    """``"default"`` (when no such directory exists) means the trained default adapter shipped in
    the package (else the base model); returns ``(path, card note)``."""
    if path != "default" or Path(path).exists():
        return path, ""
    from mem1_hf.defaults import default_adapter_path, default_model_path

    adapter = default_adapter_path()  # the shipped adapter itself (small), not its merged copy
    return (str(adapter), "") if adapter is not None else (str(default_model_path()), BASE_MODEL_NOTE)


# ----------------------------------------------------------------------------- upload


@dataclass
class PushResult:
    """What an upload did: the repository URL and the commit."""

    repo_url: str
    commit_url: str | None
    commit_oid: str | None


def hub_token(token: str | None = None) -> str:
    """The token to upload with: ``token``, else ``HF_TOKEN``, else the ``hf auth login`` one."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise Mem1InputError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (or pass --token)")
    return token


def upload_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> PushResult:
    """Create the repository if needed (and the branch ``revision``), then upload ``folder``."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if repo_type not in REPO_TYPES.values():
        raise Mem1InputError(f"unknown repository type {repo_type!r}")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise Mem1InputError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    api = HfApi(endpoint=endpoint, token=hub_token(token))
    try:
        url = api.create_repo(
            repo_id,
            repo_type=repo_type,
            private=private,
            exist_ok=True,
            space_sdk="gradio" if repo_type == "space" else None,
        )
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type=repo_type,
            revision=revision,
            commit_message=commit_message or f"Upload {repo_type} with mem1-hf",
        )
    except OfflineModeIsEnabled as err:
        raise Mem1InputError(
            "cannot upload in offline mode: unset HF_HUB_OFFLINE (or use --dry-run)"
        ) from err
    except HfHubHTTPError as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise Mem1InputError(f"the Hub refused the upload to {repo_id}: {first}") from err
    return PushResult(str(url), getattr(commit, "commit_url", None), getattr(commit, "oid", None))


def push(
    kind: str,
    build: Callable[[Path], Path],
    validate: Callable[[Path], Any],
    repo_id: str,
    out: str | Path | None = None,
    dry_run: bool = False,
    **upload_kwargs: Any,
) -> tuple[Path | None, Any, PushResult | None]:
    """Build the folder, validate it, and upload it unless ``dry_run``.

    Returns ``(folder, validation result, push result)``; the folder is ``None`` when it was
    a temporary one (no ``out``), which is removed after the upload.
    """
    if dry_run and out is None:
        raise Mem1InputError("--dry-run needs --out DIR (the folder that would be uploaded)")
    if out is not None:
        folder = build(Path(out))
        checked = validate(folder)
        return (
            folder,
            checked,
            None if dry_run else upload_folder(folder, repo_id, REPO_TYPES[kind], **upload_kwargs),
        )
    with tempfile.TemporaryDirectory(prefix=f"mem1-push-{kind}-") as tmp:
        folder = build(Path(tmp) / "folder")
        checked = validate(folder)
        return None, checked, upload_folder(folder, repo_id, REPO_TYPES[kind], **upload_kwargs)


# ----------------------------------------------------------------------------- the CLI


def _cmd_push(args: argparse.Namespace) -> None:
    if args.kind in ("dataset", "model") and not args.path:
        raise Mem1InputError(f"mem1 push {args.kind} needs the directory to publish")
    if args.dry_run and args.out is None:
        raise Mem1InputError("--dry-run needs --out DIR (the folder that would be uploaded)")
    if args.repo_id.count("/") != 1 or not all(args.repo_id.split("/")):
        raise Mem1InputError(f"--repo-id must look like ORG/NAME, got {args.repo_id!r}")
    # check the token before the slow part (building and validating the folder)
    token = None if args.dry_run else hub_token(args.token)
    upload = dict(
        token=token,
        private=args.private,
        revision=args.revision,
        commit_message=args.message,
        endpoint=args.endpoint,
    )
    if args.kind == "dataset":
        build = lambda out: build_dataset_folder(args.path, out)  # noqa: E731
        validate = validate_dataset_folder
    elif args.kind == "model":
        from mem1_hf.model_card import load_summary

        summary = load_summary(args.eval_summary) if args.eval_summary else None
        path, note = default_checkpoint(args.path)
        build = lambda out: build_model_folder(  # noqa: E731
            path,
            out,
            args.repo_id,
            base_model=args.base_model,
            datasets=args.dataset,
            eval_summary=summary,
            merge=args.merge_adapter,
            note=args.card_note or note,
        )
        validate = validate_model_folder
    else:
        build = lambda out: build_space_folder(  # noqa: E731
            out,
            model=args.model,
            corpus=args.corpus,
            examples=args.examples,
            datasets=args.dataset,
        )
        validate = validate_space_folder
    folder, checked, result = push(args.kind, build, validate, args.repo_id, args.out, args.dry_run, **upload)
    if folder is not None:
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        print(f"wrote {len(files)} files to {folder} and validated them")
    if args.kind == "dataset":
        print("load_dataset: " + ", ".join(f"{split} {n} rows" for split, n in checked.items()))
    elif args.kind == "model":
        print(f"pipeline('mem1-agent') ran {len(checked['turns'])} turn(s) from the folder")
    if result is not None:
        print(f"pushed to {result.repo_url}" + (f" ({result.commit_url})" if result.commit_url else ""))
    else:
        print("dry run: nothing uploaded")


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mem1 push dataset|model|space`` (see ``mem1_hf.cli.PLUGINS``).

    Example:
        >>> parser = argparse.ArgumentParser(prog="mem1")
        >>> _ = register_cli(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["push", "model", "ckpt", "--repo-id", "me/m", "--private"])
        >>> args.kind, args.private, args.revision
        ('model', True, None)
    """
    parser = subparsers.add_parser(
        "push",
        help="publish a composed dataset, a checkpoint or the demo Space to the Hub",
        description="Write the exact folder to upload, validate it, then create the repository and "
        "upload it (token: HF_TOKEN or `hf auth login`). --dry-run --out DIR stops before the upload.",
    )
    parser.add_argument("kind", choices=tuple(REPO_TYPES), help="what to publish")
    parser.add_argument(
        "path",
        nargs="?",
        help="dataset: a `mem1 compose` directory; model: a checkpoint, or `default` (the demo's model)",
    )
    parser.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    parser.add_argument("--private", action="store_true", help="create a private repository")
    parser.add_argument("--revision", default=None, help="branch to push to (created if missing)")
    parser.add_argument("--message", default=None, help="commit message")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or `hf auth login`)")
    parser.add_argument(
        "--endpoint", default=None, help="Hub endpoint (default: huggingface.co / HF_ENDPOINT)"
    )
    parser.add_argument("--dry-run", action="store_true", help="write and validate the folder, do not upload")
    parser.add_argument("--out", default=None, help="write the folder here (required with --dry-run)")
    parser.add_argument(
        "--dataset", action="append", default=[], help="Hub id of related data (model and space cards)"
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--base-model", default=None, help="Hub id of the base model (default: from the checkpoint)"
    )
    model.add_argument("--eval-summary", default=None, help="a `mem1 eval` run directory or its summary.json")
    model.add_argument("--merge-adapter", action="store_true", help="merge a LoRA adapter into a full model")
    model.add_argument(
        "--card-note", default=None, help="a paragraph for the model card (e.g. how it was trained)"
    )
    space = parser.add_argument_group("space")
    space.add_argument("--model", default=None, help="model the Space runs (default: the resolved default)")
    space.add_argument("--corpus", default=None, help="corpus JSONL for the Space (default: the demo corpus)")
    space.add_argument("--examples", default=None, help="a `mem1 compose` directory for example tasks")
    parser.set_defaults(func=_cmd_push)
    return parser
