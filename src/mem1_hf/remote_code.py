"""Ship the ``"mem1-agent"`` pipeline inside a model folder, as transformers remote code.

Someone who has not installed mem1-hf loads a pushed checkpoint with
``pipeline("mem1-agent", model="ORG/NAME", trust_remote_code=True)``: transformers reads the
``custom_pipelines`` entry of the model's ``config.json`` and imports the class it names from
the repository's Python files. Its loader only follows *flat, relative* imports
(``from .mem1_loop import AgentLoop``), so :func:`write_pipeline_code` copies
``mem1_hf.pipeline`` and every ``mem1_hf`` module it imports at import time, at any depth
(and modules named by a string literal for ``importlib``), as ``mem1_<dotted_path>.py`` files
with their imports (and those literals) rewritten; function-level imports of anything else
(evaluation, CLI helpers) are guarded so the shipped code needs no retrieval or data libraries. The set is
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
        >>> flat_name("mem1_hf.retrieval.base")
        'mem1_retrieval_base'
    """
    return "mem1_" + module.removeprefix(PACKAGE + ".").replace(".", "_")


def _source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise Mem1InputError(f"cannot find the source of {module}")
    return Path(spec.origin)


def _mem1_imports(module: str, source: str) -> tuple[list[str], list[ast.ImportFrom]]:
    """``mem1_hf`` imports of ``source``: modules imported at import time (module level), and
    the ``from mem1_hf... import`` statements inside functions (run only when called)."""
    eager: list[str] = []
    lazy: list[ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function = True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == PACKAGE or node.module.startswith(PACKAGE + "."):
                if in_function:
                    lazy.append(node)
                elif node.module == PACKAGE:
                    raise Mem1InputError(
                        f"{module}: `from {PACKAGE} import ...` cannot be shipped as remote code; "
                        f"import from the defining module instead"
                    )
                else:
                    eager.append(node.module)
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == PACKAGE for a in node.names):
            raise Mem1InputError(f"{module}: `import {PACKAGE}...` cannot be shipped as remote code")
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(ast.parse(source), False)
    return eager, lazy


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
    """``{module name: source}`` of ``entry`` and every ``mem1_hf`` module it needs at run time.

    Followed: module-level imports and modules named by a string (``importlib``). Imports inside
    functions are followed only where they point at a module shipped anyway; the others (the
    evaluation or CLI side of a module) stay out, so remote code needs no retrieval or data
    libraries (see :func:`write_pipeline_code`).
    """
    sources: dict[str, str] = {}
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in sources:
            continue
        sources[module] = _source_path(module).read_text(encoding="utf-8")
        eager, _ = _mem1_imports(module, sources[module])
        todo.extend(eager + _named_modules(sources[module]))
    return sources


def _function_imports(source: str) -> list[ast.Import | ast.ImportFrom]:
    """Absolute import statements inside functions, not already inside a ``try`` block."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Try):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function = True
        if in_function and isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(ast.parse(source), False)
    return found


def _guard_lazy_imports(module: str, source: str, shipped: set[str]) -> str:
    """Wrap each function-level import of anything not shipped (another ``mem1_hf`` module, an
    optional library) in ``try``/``except``: transformers' import check skips ``try`` blocks, so
    only what the pipeline needs at import time is required, and calling such a function
    without the library says what is missing."""
    lines = source.splitlines(keepends=True)
    for node in sorted(_function_imports(source), key=lambda n: n.lineno, reverse=True):
        if isinstance(node, ast.ImportFrom) and node.module in shipped:
            continue
        name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
        indent = " " * node.col_offset
        body = ["    " + line for line in lines[node.lineno - 1 : node.end_lineno]]
        lines[node.lineno - 1 : node.end_lineno] = [
            f"{indent}try:\n",
            *body,
            f"{indent}except ImportError as _missing:  # outside the shipped pipeline code\n",
            f'{indent}    raise ImportError("this needs {name} (pip install mem1-hf)") from _missing\n',
        ]
    return "".join(lines)


def write_pipeline_code(out_dir: str | Path, entry: str = ENTRY_MODULE) -> list[Path]:
    """Write the pipeline's code into ``out_dir`` as flat remote-code files; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    modules = pipeline_modules(entry)
    shipped = set(modules)
    named = sorted({name for source in modules.values() for name in _named_modules(source)})

    def relative(match: re.Match) -> str:
        name = PACKAGE + "." + match[2]
        return f"{match[1]}.{flat_name(name)}{match[3]}" if name in shipped else match[0]

    def by_name(match: re.Match) -> str:
        name = PACKAGE + match[2]
        return f'(__package__ + ".{flat_name(name)}")' if name in named else match[0]

    for module, source in sorted(modules.items()):
        text = _guard_lazy_imports(module, source, shipped)
        text = _FROM_IMPORT.sub(relative, text)
        text = _NAME_LITERAL.sub(by_name, text)  # importlib.import_module("mem1_hf.x") -> the shipped copy
        if module == entry:
            # the built-in prompt profiles are data files, which transformers does not copy: they
            # travel as a module (mem1_hf.prompts reads it when its profiles/ folder is absent)
            text += "\nfrom .mem1_profile_texts import TEXTS as _profile_texts  # noqa: E402,F401\n"
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
    written.append(_write_profile_texts(out_dir))
    return written


def _write_profile_texts(out_dir: Path) -> Path:
    """``mem1_profile_texts.py``: ``TEXTS = {name: the built-in profile's YAML}``."""
    from mem1_hf.prompts import PROFILE_DIR

    texts = {p.stem: p.read_text(encoding="utf-8") for p in sorted(PROFILE_DIR.glob("*.yaml"))}
    path = out_dir / "mem1_profile_texts.py"
    path.write_text(
        "# The built-in prompt profiles of mem1-hf (src/mem1_hf/profiles/*.yaml), shipped as text for\n"
        "# trust_remote_code loading; edit the package's files, not this copy.\n"
        f"TEXTS = {texts!r}\n",
        encoding="utf-8",
    )
    return path


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
