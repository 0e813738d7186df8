"""Load a policy model and its tokenizer from a path, a Hub id, or the offline default.

Example:
    >>> model, tokenizer = load_model(None)  # the offline default, SmolLM2-135M-Instruct  # doctest: +SKIP
    >>> model, tokenizer = load_model("Mem-Lab/Qwen2.5-7B-RL-RAG-Q2-EM-Release", dtype="bfloat16")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mem1_hf.agent_config import AgentConfig
from mem1_hf.defaults import (
    BASE_SPEC,
    DEFAULT_BASE_HUB_ID,
    DEFAULT_SPEC,
    default_adapter_path,
    default_model_path,
    merge_adapter,
    resolve_model_spec,
)
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
        default=None,
        metadata={
            "help": "path, Hub id or LoRA adapter folder; none or 'default': the task family's trained "
            "MEM1 agent (SmolLM2-135M-Instruct + its shipped adapter: QA's, or WebShop's with --env "
            "webshop); 'base': the untrained SmolLM2"
        },
    )
    device: str | None = field(
        default=None,
        metadata={"help": "cpu, cuda, cuda:1 … (one this machine has); none: cuda if present, else cpu"},
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "auto: bfloat16 on a GPU, float32 on the CPU", "choices": tuple(_DTYPES)},
    )

    def __post_init__(self) -> None:
        check_device(self.device)  # the CLIs build this right after parsing: fail before loading

    def load(self, family: str = "qa"):
        """``(model, tokenizer)``, see :func:`load_model` (``family`` picks the default agent)."""
        return load_model(self.model, device=self.device, dtype=self.dtype, family=family)

    def agent_config(self, family: str = "qa") -> AgentConfig:
        """The checkpoint's agent settings, see :func:`agent_config_for`."""
        return agent_config_for(self.model, family)


def agent_config_for(model: str | None, family: str = "qa") -> AgentConfig:
    """The ``agent_config.json`` settings of a ``--model`` value, without loading the model: the
    shipped adapter's for the default agent (none or ``default``; no merge needed), none for
    ``base``, the folder's or Hub repository's otherwise. A checkpoint without one gives an empty
    :class:`~mem1_hf.agent_config.AgentConfig` (every library default applies).

    Example:
        >>> agent_config_for(None).topk  # the shipped QA agent was trained with BM25 top-2
        2
        >>> agent_config_for("base").settings()
        {}
    """
    if model in (None, "", DEFAULT_SPEC):
        adapter = default_adapter_path(family)
        source = str(adapter) if adapter is not None else None
    elif model == BASE_SPEC:
        source = None
    else:
        source = model
    return (AgentConfig.from_pretrained(source) if source else None) or AgentConfig()


def available_devices() -> list[str]:
    """The devices this machine's torch can run on: ``cpu``, then each CUDA GPU and ``mps``.

    Example:
        >>> available_devices()[0]
        'cpu'
    """
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def check_device(device: str | None) -> str | None:
    """``device`` unchanged if this machine has it (``None``: pick one), else one
    :class:`~mem1_hf.errors.Mem1InputError` naming the devices that exist (torch itself raises a
    ``RuntimeError`` for a typo and an ``AssertionError`` for ``cuda`` on a CPU-only build).

    Example:
        >>> check_device("cpu"), check_device(None)
        ('cpu', None)
        >>> check_device("bogus")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        mem1_hf.errors.Mem1InputError: device 'bogus' does not exist here; available: cpu...
    """
    if device is None or device == "":
        return None
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        parsed = None
    if parsed is not None and parsed.type == "cpu":
        return device
    if parsed is not None and parsed.type == "cuda" and torch.cuda.is_available():
        if parsed.index is None or parsed.index < torch.cuda.device_count():
            return device
    if parsed is not None and parsed.type == "mps" and torch.backends.mps.is_available():
        return device
    why = ""
    if parsed is not None and parsed.type == "cuda" and torch.version.cuda is None:
        why = f" (this torch, {torch.__version__}, was built without CUDA)"
    raise Mem1InputError(
        f"device {device!r} does not exist here{why}; available: {', '.join(available_devices())}"
    )


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given (it must exist here, :func:`check_device`), else CUDA when present, else CPU."""
    checked = check_device(device)
    if checked:
        return torch.device(checked)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(
    model: str | None = None, device: str | None = None, dtype: str = ModelConfig.dtype, family: str = "qa"
):
    """Load ``(model, tokenizer)``; ``model=None`` means the trained default agent of the task
    ``family`` (``qa`` or ``webshop``), ``"base"`` the untrained base
    (:func:`mem1_hf.defaults.resolve_model_spec`).

    A LoRA adapter folder loads onto its base; an adapter on ``HuggingFaceTB/SmolLM2-135M-Instruct``
    (as a pushed adapter names it) loads onto the offline copy of that model, with no Hub.

    ``dtype="auto"`` is bfloat16 on a GPU and float32 on the CPU. A missing path or an unknown
    Hub id raises :class:`~mem1_hf.errors.Mem1InputError`.
    """
    if dtype not in _DTYPES:
        raise Mem1InputError(f"unknown dtype {dtype!r}; choose one of {', '.join(_DTYPES)}")
    target = pick_device(device)
    torch_dtype = _DTYPES[dtype] or (torch.bfloat16 if target.type == "cuda" else torch.float32)
    source = resolve_model_spec(model, family)
    try:
        base = offline_base_of(source)
        if base is not None:
            tokenizer = AutoTokenizer.from_pretrained(base)
            # plain modules: generation as fast as the base
            loaded = merge_adapter(AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype), source)
        else:
            tokenizer = AutoTokenizer.from_pretrained(source)
            loaded = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise Mem1InputError(f"cannot load model {source!r}: {first}") from err
    loaded.to(target).eval()
    return loaded, tokenizer


def offline_base_of(source: str) -> str | None:
    """The offline default model's path when ``source`` is a LoRA adapter on its Hub id, else ``None``."""
    import json
    from pathlib import Path

    config = Path(source) / "adapter_config.json"
    if not config.is_file():
        return None
    if json.loads(config.read_text()).get("base_model_name_or_path") != DEFAULT_BASE_HUB_ID:
        return None
    return str(default_model_path())
