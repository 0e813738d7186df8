"""Load a policy model and its tokenizer from a path, a Hub id, or the offline default.

Example:
    >>> model, tokenizer = load_model(None)  # the offline default, SmolLM2-135M-Instruct  # doctest: +SKIP
    >>> model, tokenizer = load_model("Mem-Lab/Qwen2.5-7B-RL-RAG-Q2-EM-Release", dtype="bfloat16")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mem1_hf.defaults import default_model_path
from mem1_hf.errors import Mem1InputError

_DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class ModelConfig:
    """Which policy model to load, where and in which dtype (the CLIs' ``--model``, ``--device``,
    ``--dtype``).

    Example:
        >>> ModelConfig().dtype
        'auto'
    """

    model: str | None = field(
        default=None, metadata={"help": "path or Hub id; none: the offline SmolLM2-135M-Instruct"}
    )
    device: str | None = field(
        default=None, metadata={"help": "cpu, cuda, cuda:1 …; none: cuda if present, else cpu"}
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "auto: bfloat16 on a GPU, float32 on the CPU", "choices": tuple(_DTYPES)},
    )

    def load(self):
        """``(model, tokenizer)``, see :func:`load_model`."""
        return load_model(self.model, device=self.device, dtype=self.dtype)


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(model: str | None = None, device: str | None = None, dtype: str = ModelConfig.dtype):
    """Load ``(model, tokenizer)``; ``model=None`` means the offline default.

    ``dtype="auto"`` is bfloat16 on a GPU and float32 on the CPU. A missing path or an unknown
    Hub id raises :class:`~mem1_hf.errors.Mem1InputError`.
    """
    if dtype not in _DTYPES:
        raise Mem1InputError(f"unknown dtype {dtype!r}; choose one of {', '.join(_DTYPES)}")
    target = pick_device(device)
    torch_dtype = _DTYPES[dtype] or (torch.bfloat16 if target.type == "cuda" else torch.float32)
    source = str(default_model_path()) if model is None else model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        loaded = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise Mem1InputError(f"cannot load model {source!r}: {first}") from err
    loaded.to(target).eval()
    return loaded, tokenizer
