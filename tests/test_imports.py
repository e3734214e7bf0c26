"""No import cycles in the package: every module imports on its own, and the graph of its imports, those
inside functions included, has no cycle (a function-level import can hide a cycle from the first check)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import saesanity

PACKAGE_DIR = Path(saesanity.__file__).parent
# __main__ runs the CLI when imported.
MODULES = sorted(m.name for m in pkgutil.walk_packages(saesanity.__path__, "saesanity.")
                 if m.name != "saesanity.__main__")


def _ours() -> list[str]:
    return [name for name in sys.modules if name == "saesanity" or name.startswith("saesanity.")]


@pytest.fixture
def fresh_package():
    """Forgets every saesanity module for the test and restores them after it, so that the modules other tests
    imported (and the classes they hold, e.g. ConfigError) stay the ones in use."""
    saved = {name: sys.modules.pop(name) for name in _ours()}
    yield
    for name in _ours():
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_alone(name, fresh_package):
    importlib.import_module(name)


def _source(module: str) -> Path:
    path = PACKAGE_DIR.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(module: str, known: set[str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its file: `from a.b import c` names the module
    a.b.c when there is one, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(_source(module).read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                      for a in node.names}
    return found & known


def test_import_graph_has_no_cycle():
    known = set(MODULES) | {"saesanity"}
    graph = {m: _imports(m, known) for m in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, path + [module])
        done.add(module)

    for module in MODULES:
        visit(module, [])


DRAWS_FIGURES = ("saesanity.figures", "saesanity.sanity", "saesanity.cli")
"""The layers above the figures: figures/ itself, the sanity check (its verdict's figure) and the CLI."""


def test_only_the_layers_above_figures_import_them():
    """Tables write tables and figures draw figures: the figures read tables/ and studies/, so neither of those
    (nor anything below them) imports saesanity.figures, not even inside a function."""
    known = set(MODULES) | {"saesanity"}
    below = [m for m in MODULES if not m.startswith(DRAWS_FIGURES)]
    upward = {m: sorted(d for d in _imports(m, known) if d.startswith("saesanity.figures"))
              for m in below}
    assert {m: deps for m, deps in upward.items() if deps} == {}
