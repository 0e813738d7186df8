"""Run a callback once a module is imported, without importing it (a post-import hook).

``mem1_hf`` registers its pipeline task with transformers this way: registering needs
``transformers.pipelines`` (and so torch, seconds to import), but a user who calls
``transformers.pipeline(...)`` imports that module anyway, and the CLI's ``--help`` never does.

Example:
    >>> import sys
    >>> seen = []
    >>> call_when_imported("json", lambda: seen.append("json"))  # already imported: runs now
    >>> seen
    ['json']
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

#: set in a module's namespace when a callback wanted it before it had finished loading
REGISTER_WHEN_LOADED = "_mem1_register_when_loaded"


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of one module to run callbacks after it."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once only; also keeps the lookup below from finding us
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader, callback = spec.loader, self.callback
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            callback()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def call_when_imported(name: str, callback: Callable[[], None]) -> None:
    """Call ``callback()`` right after module ``name`` is first imported (now, if it already is)."""
    if name in sys.modules:
        callback()
        return
    if not any(isinstance(f, _Finder) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(name, callback))
