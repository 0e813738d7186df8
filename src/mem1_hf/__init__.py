"""mem1-hf: MEM1 constant-memory agents on the Hugging Face stack.

Importing the package makes the ``"mem1-agent"`` pipeline task available to transformers. The
registration waits until ``transformers.pipelines`` is imported (it needs torch), so importing
``mem1_hf`` — and ``mem1 --help`` — stays fast.

Example:
    >>> import mem1_hf  # doctest: +SKIP
    >>> from transformers import pipeline  # doctest: +SKIP
    >>> agent = pipeline("mem1-agent", model=path, env=env)  # doctest: +SKIP
    >>> # the trained default agent, offline (SmolLM2-135M-Instruct + the shipped adapter)
    >>> agent = pipeline("mem1-agent", model=str(mem1_hf.default_agent_path()), env=env)  # doctest: +SKIP
"""

from __future__ import annotations

import sys
from typing import Any

from mem1_hf._lazy import REGISTER_WHEN_LOADED, call_when_imported
from mem1_hf.defaults import default_agent_path
from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.version import __version__


def register_pipeline() -> None:
    """Register ``"mem1-agent"`` with transformers now (idempotent)."""
    loading = sys.modules.get("mem1_hf.pipeline")
    if loading is not None and not hasattr(loading, "register_pipeline"):
        # `import mem1_hf.pipeline` first: its own import of transformers.pipelines runs this hook
        # while it is half loaded; it registers itself once it has finished
        loading.__dict__[REGISTER_WHEN_LOADED] = True
        return
    from mem1_hf.pipeline import register_pipeline as register

    register()


call_when_imported("transformers.pipelines", register_pipeline)


def __getattr__(name: str) -> Any:
    if name == "MEM1Pipeline":  # imports torch: only when asked for
        from mem1_hf.pipeline import MEM1Pipeline

        return MEM1Pipeline
    if name == "metrics":  # `evaluate.load(str(mem1_hf.metrics.metric_path()))` after `import mem1_hf`
        import importlib

        return importlib.import_module("mem1_hf.metrics")
    raise AttributeError(f"module 'mem1_hf' has no attribute {name!r}")


__all__ = [
    "MEM1Pipeline",
    "Mem1EnvironmentError",
    "Mem1InputError",
    "__version__",
    "default_agent_path",
    "register_pipeline",
]
