"""mem1-hf: MEM1 constant-memory agents on the Hugging Face stack.

Importing the package registers the ``"mem1-agent"`` pipeline task with transformers.

Example:
    >>> import mem1_hf  # doctest: +SKIP
    >>> from transformers import pipeline  # doctest: +SKIP
    >>> agent = pipeline("mem1-agent", model=path, env=env)  # doctest: +SKIP
"""

from __future__ import annotations

from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.pipeline import MEM1Pipeline, register_pipeline
from mem1_hf.version import __version__

register_pipeline()

__all__ = ["MEM1Pipeline", "Mem1EnvironmentError", "Mem1InputError", "__version__", "register_pipeline"]
