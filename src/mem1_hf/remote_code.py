"""Ship the ``"mem1-agent"`` pipeline inside a model folder, as transformers remote code.

Someone who has not installed mem1-hf loads a pushed checkpoint with
``pipeline("mem1-agent", model="ORG/NAME", trust_remote_code=True)``: transformers reads the
``custom_pipelines`` entry of the model's ``config.json`` and imports the class it names from
the repository's Python files. Its loader only follows *flat, relative* imports
(``from .mem1_loop import AgentLoop``), so :func:`write_pipeline_code` copies
``mem1_hf.pipeline`` and every ``mem1_hf`` module it imports, at any depth (function-level
imports too, and modules named by a string literal for ``importlib``), as
``mem1_<dotted_path>.py`` files with their imports (and those literals) rewritten. The set is
derived from the imports each time, so it follows the package as modules move.

Example:
    >>> files = write_pipeline_code("out/model")  # doctest: +SKIP
    >>> add_custom_pipeline("out/model/config.json")  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

from mem1_hf.errors import Mem1InputError

PACKAGE = "mem1_hf"
ENTRY_MODULE = "mem1_hf.pipeline"
ENTRY_CLASS = "MEM1Pipeline"
TASK = "mem1-agent"
_FROM_IMPORT = re.compile(rf"^(\s*from\s+){PACKAGE}\.([\w.]+)(\s+import\b)", re.MULTILINE)
_NAME_LITERAL = re.compile(rf"""(["']){PACKAGE}((?:\.\w+)+)\1""")


def flat_name(module: str) -> str:
    """The file stem a ``mem1_hf`` module gets in a model repository.

    Example:
        >>> flat_name("mem1_hf.envs.base")
        'mem1_envs_base'
    """
    return "mem1_" + module.removeprefix(PACKAGE + ".").replace(".", "_")


def _source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise Mem1InputError(f"cannot find the source of {module}")
    return Path(spec.origin)


def _imported_modules(module: str, source: str) -> list[str]:
    """``mem1_hf`` modules that ``source`` imports, wherever the import statement sits."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == PACKAGE:
                raise Mem1InputError(
                    f"{module}: `from {PACKAGE} import ...` cannot be shipped as remote code; "
                    f"import from the defining module instead"
                )
            if node.module.startswith(PACKAGE + "."):
                found.append(node.module)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            alias.name.split(".")[0] == PACKAGE for alias in getattr(node, "names", [])
        ):
            raise Mem1InputError(f"{module}: `import {PACKAGE}...` cannot be shipped as remote code")
    return found + _named_modules(source)


def _named_modules(source: str) -> list[str]:
    """``mem1_hf`` modules named by a string literal (imported with ``importlib`` by name)."""
    found = []
    for match in _NAME_LITERAL.finditer(source):
        name = PACKAGE + match[2]
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except ModuleNotFoundError:
            pass
    return found


def pipeline_modules(entry: str = ENTRY_MODULE) -> dict[str, str]:
    """``{module name: source}`` of ``entry`` and every ``mem1_hf`` module it needs."""
    sources: dict[str, str] = {}
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in sources:
            continue
        sources[module] = _source_path(module).read_text(encoding="utf-8")
        todo.extend(_imported_modules(module, sources[module]))
    return sources


def write_pipeline_code(out_dir: str | Path, entry: str = ENTRY_MODULE) -> list[Path]:
    """Write the pipeline's code into ``out_dir`` as flat remote-code files; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    modules = pipeline_modules(entry)
    named = sorted({name for source in modules.values() for name in _named_modules(source)})

    def by_name(match: re.Match) -> str:
        name = PACKAGE + match[2]
        return f'(__package__ + ".{flat_name(name)}")' if name in named else match[0]

    for module, source in sorted(modules.items()):
        text = _FROM_IMPORT.sub(lambda m: f"{m[1]}.{flat_name(PACKAGE + '.' + m[2])}{m[3]}", source)
        text = _NAME_LITERAL.sub(by_name, text)  # importlib.import_module("mem1_hf.x") -> the shipped copy
        if module == entry and named:
            # transformers copies only the files reached by `from .x import` lines: name them here
            text += "\n# modules the package imports by name, listed so transformers ships them too\n"
            text += "".join(
                f"from .{flat_name(n)} import __name__ as _shipped_{i}  # noqa: E402\n"
                for i, n in enumerate(named)
            )
        header = f"# Shipped from {module} (mem1-hf) for trust_remote_code loading; edit the package, not this copy.\n"
        path = out_dir / f"{flat_name(module)}.py"
        path.write_text(header + text, encoding="utf-8")
        written.append(path)
    return written


def custom_pipeline_entry(entry: str = ENTRY_MODULE, cls: str = ENTRY_CLASS) -> dict:
    """The ``custom_pipelines`` value a model's config needs for the ``"mem1-agent"`` task."""
    return {
        TASK: {"impl": f"{flat_name(entry)}.{cls}", "pt": ["AutoModelForCausalLM"], "tf": [], "type": "text"}
    }


def add_custom_pipeline(config_path: str | Path) -> dict:
    """Add the ``custom_pipelines`` entry to a ``config.json`` in place; return the new config."""
    config_path = Path(config_path)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["custom_pipelines"] = {**config.get("custom_pipelines", {}), **custom_pipeline_entry()}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return config
