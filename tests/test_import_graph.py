"""The import graph of ``src/``, read with ``ast`` (nothing is imported): no cycles, arrows one way.

Every import counts, wherever it is written: at module level, inside a function (a lazy import),
or under ``if TYPE_CHECKING:``. Rules:

* no cycle between modules (``a`` imports ``b`` imports … imports ``a``);
* ``openreactor.http`` (the HTTP front) never imports ``openreactor.cluster`` or
  ``openreactor.workers``: those use the front, not the reverse;
* ``reactor_protocol`` (the wire) imports nothing of ours;
* ``reactor_sdk`` (the client) never imports ``openreactor``, and ``openreactor`` never imports
  ``reactor_sdk``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
OURS = ("openreactor", "reactor_protocol", "reactor_rtc", "reactor_sdk")

FORBIDDEN: list[tuple[str, str]] = [
    ("openreactor.http", "openreactor.cluster"),
    ("openreactor.http", "openreactor.workers"),
    ("reactor_protocol", "openreactor"),
    ("reactor_protocol", "reactor_rtc"),
    ("reactor_protocol", "reactor_sdk"),
    ("reactor_sdk", "openreactor"),
    ("openreactor", "reactor_sdk"),
]
"""(importer, imported): no module in or under the first may import one in or under the second."""

KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("openreactor.codegen.python", "reactor_sdk"): "`openreactor codegen python` writes a subclass of the "
    "installed SDK's Reactor and reads its public names (a lazy import, at generation time) so that no "
    "generated member hides one; moving that knowledge out of openreactor is the SDK's and codegen's call",
}
"""Arrows that break a rule above, each with why it stays; the last test fails once one is gone."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in OURS
        for path in sorted((SRC / package).rglob("*.py"))
        if "egg-info" not in str(path)
    }


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imported_names(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """``(module imported, line)`` for every import statement of ours in ``path``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                # ``from pkg import submodule`` imports the submodule; ``from mod import name`` the module.
                yield (candidate if candidate in known else base), node.lineno


@functools.cache
def import_graph() -> dict[str, dict[str, int]]:
    """``{module: {imported module of ours: line of the first such import}}``."""
    found = modules()
    known = set(found)
    graph: dict[str, dict[str, int]] = {}
    for module, path in found.items():
        edges: dict[str, int] = {}
        for target, line in imported_names(module, path, known):
            if target in known and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a cycle path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_path(graph, set(component)) for component in components]


def _cycle_path(graph: dict[str, dict[str, int]], component: set[str]) -> list[str]:
    """One concrete cycle through the first module of ``component`` (for a readable failure)."""
    start = min(component)
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for target in sorted(graph[path[-1]]):
            if target == start:
                return [*path, start]
            if target in component and target not in seen:
                seen.add(target)
                paths.append([*path, target])
    return sorted(component)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_the_graph_sees_the_packages() -> None:
    graph = import_graph()
    assert {"openreactor.http.app", "openreactor.session_host", "reactor_protocol.messages"} <= set(graph)
    assert "openreactor.session_host" in graph["openreactor.http.access"]
    # lazy and TYPE_CHECKING imports count too
    assert "openreactor.serve" in graph["openreactor.cli"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    described = [
        " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)) + f" -> {cycle[-1]}"
        for cycle in found
    ]
    assert not found, "import cycles:\n" + "\n".join(described)


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN, ids=[f"{a}-/->{b}" for a, b in FORBIDDEN])
def test_imports_point_one_way(importer: str, imported: str) -> None:
    graph = import_graph()
    wrong = [
        f"{module}:{line} imports {target}"
        for module, edges in sorted(graph.items())
        if under(module, importer)
        for target, line in sorted(edges.items())
        if under(target, imported) and (module, target) not in KNOWN_EXCEPTIONS
    ]
    assert not wrong, "\n".join(wrong)


def test_known_exceptions_are_still_there() -> None:
    graph = import_graph()
    gone = [pair for pair in KNOWN_EXCEPTIONS if pair[1] not in graph.get(pair[0], {})]
    assert not gone, f"no longer imported, remove from KNOWN_EXCEPTIONS: {gone}"
