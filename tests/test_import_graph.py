"""Imports among augmeta's modules form no cycle and go one way: ``ops <- policy <- {meta, export} <- lightning``.

Read from the source with :mod:`ast`, every import statement counts, wherever it is: at the top of a module, inside a
function, under ``if TYPE_CHECKING:``. ``from package import name`` depends on ``package.name`` when that is a module
and on ``package`` otherwise; importing a submodule is not counted as depending on the package above it (Python runs
that ``__init__`` first, but the package's own imports of its submodules would otherwise make every package a cycle).

That :mod:`augmeta.ops` and :mod:`augmeta.policy` load without Lightning or albumentations is checked in a fresh
process by ``tests/test_imports.py``.
"""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

import pytest

import augmeta

PACKAGE = Path(augmeta.__file__).resolve().parent
ROOT = "augmeta"

#: What each layer (``augmeta.<layer>``) must not import. ``augmeta`` itself is the facade over ``policy``; the bottom
#: layer is ``utils`` and any package not named here (a new one starts at the bottom, and moves up by being named).
BOTTOM = "(bottom)"
TOP = ("lightning", "cli")
MAY_NOT_IMPORT: dict[str, frozenset[str]] = {
    BOTTOM: frozenset({ROOT, "ops", "policy", "meta", "export", *TOP}),
    "ops": frozenset({ROOT, "policy", "meta", "export", *TOP}),
    "policy": frozenset({ROOT, "meta", "export", *TOP}),
    "meta": frozenset({"export", *TOP}),
    "export": frozenset({"meta", *TOP}),
    ROOT: frozenset(TOP),
    "lightning": frozenset(),
    "cli": frozenset(),
}


def module_files(package: Path) -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its own name, for its ``__init__.py``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = (ROOT, *path.relative_to(package).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(module: str, path: Path, known: set[str]) -> dict[str, int]:
    """The augmeta modules ``module`` imports, each with the line of its first import."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package (a module's, or the package itself for __init__)
                anchor = module.split(".")[: None if is_package else -1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                source = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source for alias in node.names
            ]
        for target in targets:
            if (target == ROOT or target.startswith(ROOT + ".")) and target != module:
                found.setdefault(target, node.lineno)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """Each module of ``package`` -> the augmeta modules it imports, each with the line of its first import."""
    files = module_files(package)
    known = set(files)
    return {module: imported_modules(module, path, known) for module, path in files.items()}


def layer(module: str) -> str:
    """``augmeta.<layer>...`` -> its layer; ``augmeta`` itself is the facade; packages not named are the bottom."""
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT
    return parts[1] if parts[1] in MAY_NOT_IMPORT else BOTTOM


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_holds_every_module_and_each_kind_of_import(tmp_path):
    files = {
        "__init__.py": "from augmeta.ops import OPS\n",
        "ops/__init__.py": "from . import kernels\nfrom .kernels import run\n",
        "ops/kernels.py": "import torch\n\ndef run():\n    import augmeta.utils.io as io\n    from .. import utils\n",
        "utils/__init__.py": "",
        "utils/io.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from augmeta import ops\n",
        "cli.py": "from .utils import io\n\ndef main():\n    from augmeta.ops import kernels, OPS\n",
    }
    for name, text in files.items():
        (tmp_path / "augmeta" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "augmeta" / name).write_text(text)
    graph = {module: set(targets) for module, targets in import_graph(tmp_path / "augmeta").items()}
    assert graph == {
        "augmeta": {"augmeta.ops"},
        "augmeta.ops": {"augmeta.ops.kernels"},
        "augmeta.ops.kernels": {"augmeta.utils.io", "augmeta.utils"},
        "augmeta.utils": set(),
        "augmeta.utils.io": {"augmeta.ops"},
        "augmeta.cli": {"augmeta.utils.io", "augmeta.ops.kernels", "augmeta.ops"},
    }
    assert find_cycle(import_graph(tmp_path / "augmeta")) == [
        "augmeta.ops",
        "augmeta.ops.kernels",
        "augmeta.utils.io",
        "augmeta.ops",
    ]
    assert {"augmeta", "augmeta.ops", "augmeta.ops.context", "augmeta.policy.applier", "augmeta.cli"} <= set(
        import_graph()
    )


def test_no_import_cycles():
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle:
        steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in pairwise(cycle)]
        pytest.fail("Import cycle among augmeta's modules:\n  " + "\n  ".join(steps))


def test_imports_go_down_the_layers():
    violations = [
        f"{module} (line {line}) imports {target}: {layer(module)} may not import {layer(target)}"
        for module, targets in import_graph().items()
        for target, line in targets.items()
        if layer(target) != layer(module) and layer(target) in MAY_NOT_IMPORT[layer(module)]
    ]
    message = "Imports against the layers ops <- policy <- {meta, export} <- lightning:\n  " + "\n  ".join(violations)
    assert not violations, message


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b": 1}, "b": {"c": 1}, "c": {}}, None),
        ({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}, ["a", "b", "c", "a"]),
        ({"a": {"b": 1}, "b": {"b2": 1}, "b2": {"b": 1}}, ["b", "b2", "b"]),
    ],
)
def test_find_cycle(graph, cycle):
    assert find_cycle(graph) == cycle


def test_layers_of_names():
    names = ("augmeta", "augmeta.cli", "augmeta.ops.warp", "augmeta.utils.idx", "augmeta.datasets.mnist")
    assert [layer(name) for name in names] == [ROOT, "cli", "ops", BOTTOM, BOTTOM]
