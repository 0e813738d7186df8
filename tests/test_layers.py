"""The house's layers, read from the code's own imports (docs/design.md, "The rooms").

Every ``import mem1_hf...`` statement counts, at module level or inside a function (a
function-level import is still a dependency; it only runs later). A module may import its own
layer or lower ones, never a higher one, and no group of modules may import each other in a
circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "src" / "mem1_hf"

#: lowest first; a module belongs to the longest prefix that names it (docs/design.md's table)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_lazy", "errors", "settings", "version"),
    ("prompts", "parsing", "keep_rule", "scoring", "efficiency", "agent_config", "sampling", "generation"),
    ("data", "metrics"),
    ("retrieval",),
    ("policy", "remote_policy", "defaults", "model_loading"),
    ("task_env",),
    ("families",),
    ("loop",),
    ("pipeline", "evaluation", "training"),
    ("envs", "demo", "hub", "model_card", "remote_code", "train", "cli", ""),  # "": mem1_hf itself
)

#: upward imports not yet removed (issue 27, item 2: the code that runs the agent over a dataset
#: moves out of data/ into its own wing above the loop). Each is (importer, imported); any other
#: upward import fails the test.
KNOWN_UPWARD: frozenset[tuple[str, str]] = frozenset(
    ("mem1_hf.data.trajectories", target)  # `mem1 trajectories`: runs policies over composed tasks
    for target in (
        "mem1_hf.loop",  # the agent loop writes the trajectories
        "mem1_hf.policy",  # the model's policy (and its config) for --policy model
        "mem1_hf.defaults",  # the default model when --model is not given
        "mem1_hf.model_loading",  # loads --model
        "mem1_hf.families.qa",  # QA rows, turn budgets and the search environment
        "mem1_hf.families.qa.expert",  # --policy expert for QA
        "mem1_hf.families.webshop.play",  # the WebShop flags and environment
        "mem1_hf.families.webshop.task_env",  # WebShop goals as tasks
        "mem1_hf.evaluation.cli",  # shares `mem1 eval`'s model flags
    )
)


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``mem1_hf`` modules ``path`` imports (``from pkg import module`` names the module)."""

    def known(name: str) -> str:
        while name not in modules:  # an attribute of a module: the module
            name = name.rpartition(".")[0]
        return name

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {known(a.name) for a in node.names if a.name.split(".")[0] == "mem1_hf"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "mem1_hf":
                found |= {known(f"{node.module}.{a.name}") for a in node.names}
    return found


def layer_of(module: str) -> int:
    name = module.removeprefix("mem1_hf").removeprefix(".")
    best = max(
        (
            (len(prefix), index)
            for index, layer in enumerate(LAYERS)
            for prefix in layer
            if _under(name, prefix)
        ),
        default=None,
    )
    assert best is not None, f"{module} is in no layer: add it to LAYERS and to docs/design.md"
    return best[1]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or (prefix != "" and name.startswith(prefix + "."))


def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def test_every_module_has_a_layer():
    for module in graph():
        layer_of(module)


def test_no_import_runs_up_a_layer():
    upward = {
        (source, target)
        for source, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(source)
    }
    new = sorted(upward - KNOWN_UPWARD)
    assert not new, "imports from a lower layer to a higher one:\n" + "\n".join(f"{a} -> {b}" for a, b in new)
    gone = sorted(KNOWN_UPWARD - upward)
    assert not gone, "known exceptions that no longer exist (remove them from KNOWN_UPWARD): " + repr(gone)


def test_no_import_circle():
    edges = graph()
    # Tarjan's strongly connected components: a component of two or more modules is a circle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert not circles, f"import circles: {circles}"
