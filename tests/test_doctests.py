"""The ``>>>`` examples in ``src/mem1_hf`` run as tests (those that need data or a model are
marked ``# doctest: +SKIP`` where they are written)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mem1_hf

MODULES = [
    "mem1_hf",
    *sorted(info.name for info in pkgutil.walk_packages(mem1_hf.__path__, prefix="mem1_hf.")),
]


def test_every_module_is_collected():
    assert {"mem1_hf.keep_rule", "mem1_hf.task_env", "mem1_hf.families.qa", "mem1_hf.retrieval.http"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} failing example(s) in {name} (output above)"
