"""The package's imports go one way: no cycle between kms_tui modules, no layer crossing.

The graph is read from the source (every ``import`` statement, at module level and inside
functions), so an import deferred into a function for start-up speed still counts. Imports under
``if TYPE_CHECKING:`` are left out: they exist for the type checker only (a screen names the
app's type that way) and never run.

Layers (who may import whom, inside kms_tui):

    composition root: cli, __main__, factory, bootstrap, commands/  -> anything
    tui                                                  -> tui, api, base
    api                                                  -> api, base
    embedded                                             -> embedded, base
    base: every other top-level module (paths, settings, fsutil, ...) -> base
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kms_tui"

COMPOSITION = {"kms_tui.cli", "kms_tui.__main__", "kms_tui.factory", "kms_tui.bootstrap"}
ALLOWED: dict[str, set[str]] = {
    "composition": {"composition", "tui", "api", "embedded", "base"},
    "tui": {"tui", "api", "base"},
    "api": {"api", "base"},
    "embedded": {"embedded", "base"},
    "base": {"base"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    if module in COMPOSITION or module.startswith("kms_tui.commands"):
        return "composition"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("tui", "api", "embedded"):
        return parts[1]
    return "base"


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs (at any depth), skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(tree):
        if _type_checking_block(child):
            assert isinstance(child, ast.If)
            for node in child.orelse:
                yield from _imports(ast.Module(body=[node], type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _imports(child)


def import_graph(sources: Mapping[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}`` from ``{module: (source, is_package)}``."""
    known = set(sources)
    root = next(iter(known)).split(".")[0]
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        package = module if is_package else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    origin = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                # `from pkg import mod` imports the module pkg.mod when there is one.
                names = [
                    f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                    for alias in node.names
                ]
            for name in names:
                if name.split(".")[0] != root:
                    continue
                while name not in known and "." in name:
                    name = name.rpartition(".")[0]
                if name in known and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def crossings(graph: Mapping[str, set[str]]) -> list[str]:
    """Every import from a layer into one it may not use, as ``a -> b (layer -> layer)``."""
    found = []
    for module, targets in sorted(graph.items()):
        source_layer = layer_of(module)
        for target in sorted(targets):
            target_layer = layer_of(target)
            if target_layer not in ALLOWED[source_layer]:
                found.append(f"{module} -> {target} ({source_layer} -> {target_layer})")
    return found


def package_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph(package_sources())) == []


def test_no_layer_imports_across_its_bounds() -> None:
    assert crossings(import_graph(package_sources())) == []


def test_the_graph_sees_every_layer() -> None:
    graph = import_graph(package_sources())
    assert {layer_of(module) for module in graph} == set(ALLOWED)
    assert "kms_tui.api.errors" in graph["kms_tui.tui.app"]
    assert "kms_tui.tui.app" in graph["kms_tui.factory"]


def test_a_cycle_through_a_function_level_import_is_found() -> None:
    sources = {
        "pkg": ("", True),
        "pkg.a": ("from pkg import b\n", False),
        "pkg.b": ("def late():\n    from pkg.c import thing\n", False),
        "pkg.c": ("import pkg.a\n", False),
        "pkg.d": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n", False),
    }
    graph = import_graph(sources)
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert graph["pkg.d"] == set()


def test_relative_imports_and_crossings_are_resolved() -> None:
    sources = {
        "kms_tui": ("", True),
        "kms_tui.api": ("", True),
        "kms_tui.api.x": ("from ..tui import y\n", False),
        "kms_tui.tui": ("", True),
        "kms_tui.tui.y": ("from . import z\nfrom kms_tui.embedded import w\n", False),
        "kms_tui.tui.z": ("", False),
        "kms_tui.embedded": ("", True),
        "kms_tui.embedded.w": ("", False),
    }
    graph = import_graph(sources)
    assert graph["kms_tui.tui.y"] == {"kms_tui.tui.z", "kms_tui.embedded.w"}
    assert crossings(graph) == [
        "kms_tui.api.x -> kms_tui.tui.y (api -> tui)",
        "kms_tui.tui.y -> kms_tui.embedded.w (tui -> embedded)",
    ]
