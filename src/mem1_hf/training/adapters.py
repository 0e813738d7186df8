"""One LoRA adapter from several trained one after the other (SFT, then RL on the merged SFT model).

The default agent's recipe trains a LoRA adapter by SFT, merges it into the base, and trains a
second LoRA adapter by RL on that merged model. Both are low-rank updates of the same base
weights, so their sum is exactly one LoRA adapter of rank ``r1 + r2``:

    W + s1·B1·A1 + s2·B2·A2  =  W + [s1·B1 | s2·B2] · [A1 ; A2]      (scale 1: alpha = r1 + r2)

:func:`concat_lora_adapters` writes that adapter, so the shipped default is one small file on
the untouched base model instead of a merged full model; :func:`chain_lora_adapters` folds it over
any number of stages (SFT, SFT continued, RL: rank ``r1 + r2 + r3``).

Example:
    >>> concat_lora_adapters("runs/default/sft", "runs/default/rl", "adapter",
    ...                      base_model="HuggingFaceTB/SmolLM2-135M-Instruct")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mem1_hf.errors import Mem1InputError

_WEIGHTS = "adapter_model.safetensors"
_CONFIG = "adapter_config.json"


def _read_adapter(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    if not (folder / _CONFIG).is_file() or not (folder / _WEIGHTS).is_file():
        raise Mem1InputError(f"{folder}: not a LoRA adapter (needs {_CONFIG} and {_WEIGHTS})")
    config = json.loads((folder / _CONFIG).read_text())
    if config.get("peft_type") != "LORA" or config.get("use_rslora") or config.get("use_dora"):
        raise Mem1InputError(f"{folder}: only plain LoRA adapters can be concatenated")
    return config, load_file(str(folder / _WEIGHTS))


def _scale(config: dict) -> float:
    return float(config["lora_alpha"]) / float(config["r"])


def _copy_tokenizer_files(source: Path, out: Path) -> None:
    for extra in (
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
    ):
        if (source / extra).is_file():
            shutil.copy(source / extra, out / extra)


def _store_lora_adapter(source: Path, out: Path, base_model: str | None, dtype: torch.dtype) -> Path:
    """``source`` written to ``out`` as is, but in ``dtype`` and naming ``base_model``."""
    config, weights = _read_adapter(source)
    config.update(
        base_model_name_or_path=base_model or config.get("base_model_name_or_path"), inference_mode=True
    )
    out.mkdir(parents=True, exist_ok=True)
    stored = {k: v.to(dtype).contiguous() for k, v in weights.items()}
    save_file(stored, str(out / _WEIGHTS), metadata={"format": "pt"})
    (out / _CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    _copy_tokenizer_files(source, out)
    return out


def concat_lora_adapters(
    first: str | Path,
    second: str | Path,
    out: str | Path,
    base_model: str | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write the rank ``r1 + r2`` LoRA adapter equal to ``first`` then ``second`` applied in turn.

    ``second`` must have been trained on the base with ``first`` merged in. ``base_model`` sets
    the new adapter's ``base_model_name_or_path`` (default: ``first``'s). ``dtype`` is the stored
    precision (float16 keeps a 135M model's rank-16 adapter under 10 MB; peft upcasts on load).
    """
    first, second, out = Path(first), Path(second), Path(out)
    config1, weights1 = _read_adapter(first)
    config2, weights2 = _read_adapter(second)
    s1, s2 = _scale(config1), _scale(config2)
    r1, r2 = int(config1["r"]), int(config2["r"])
    a_keys = sorted({k for k in (*weights1, *weights2) if ".lora_A." in k})
    combined: dict[str, torch.Tensor] = {}
    for a_key in a_keys:
        b_key = a_key.replace(".lora_A.", ".lora_B.")
        a1, b1 = weights1.get(a_key), weights1.get(b_key)
        a2, b2 = weights2.get(a_key), weights2.get(b_key)
        like_a, like_b = (a1, b1) if a1 is not None else (a2, b2)
        if a1 is None:  # a module only the second adapter trains: a zero update from the first
            a1, b1 = like_a.new_zeros(r1, like_a.shape[1]), like_b.new_zeros(like_b.shape[0], r1)
        if a2 is None:
            a2, b2 = like_a.new_zeros(r2, like_a.shape[1]), like_b.new_zeros(like_b.shape[0], r2)
        combined[a_key] = torch.cat([a1.float(), a2.float()], dim=0).to(dtype).contiguous()
        combined[b_key] = torch.cat([s1 * b1.float(), s2 * b2.float()], dim=1).to(dtype).contiguous()
    modules = sorted(set(config1.get("target_modules") or []) | set(config2.get("target_modules") or []))
    config = dict(config1)
    config.update(
        r=r1 + r2,
        lora_alpha=r1 + r2,  # scale 1: the scales are folded into B
        lora_dropout=0.0,
        target_modules=modules,
        base_model_name_or_path=base_model or config1.get("base_model_name_or_path"),
        inference_mode=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    save_file(combined, str(out / _WEIGHTS), metadata={"format": "pt"})
    (out / _CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    _copy_tokenizer_files(first, out)
    return out


def chain_lora_adapters(
    adapters: Sequence[str | Path],
    out: str | Path,
    base_model: str | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write the one LoRA adapter equal to ``adapters`` applied in turn (each trained on the base
    with all before it merged in); its rank is the sum of theirs.

    Intermediate sums are kept in float32, so only the final ``dtype`` rounds. One adapter is
    written as itself (stored in ``dtype``, on ``base_model``): a recipe that ships SFT alone.

    Example:
        >>> chain_lora_adapters(["runs/default/sft", "runs/default/sft2", "runs/default/rl"],
        ...                     "adapter")  # doctest: +SKIP
    """
    if not adapters:
        raise Mem1InputError("need at least one adapter to chain, got none")
    if len(adapters) == 1:
        return _store_lora_adapter(Path(adapters[0]), Path(out), base_model, dtype)
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(adapters[0])
        for i, nxt in enumerate(adapters[1:], start=1):
            last = i == len(adapters) - 1
            first = concat_lora_adapters(
                first,
                nxt,
                out if last else Path(tmp) / str(i),
                base_model=base_model,
                dtype=dtype if last else torch.float32,
            )
    return Path(out)
