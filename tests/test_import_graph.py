"""No import cycle anywhere in chsm_checks: not at module level, not under ``TYPE_CHECKING``, not
inside a function (where a cycle hides until the function first runs).

The graph is read from the source, so a cycle that today's import order happens to survive still
fails. A package's ``__init__`` re-exporting its own modules is not a cycle: a module does not name
its package to be imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chsm_checks"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, name: str, *, is_package: bool, modules: set[str]) -> set[str]:
    """The chsm_checks modules that module ``name`` (whose text is ``source``) imports, by any
    import statement anywhere in it."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for candidate in (origin, *(f"{origin}.{alias.name}" for alias in node.names)):
                if candidate in modules:
                    found.add(candidate)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {
        module_name(path): imported(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
            modules=modules,
        )
        for path in paths
    }


def test_chsm_checks_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 100, "the package's modules were found"
    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_cycles_finds_what_it_should(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_type_only_function_level_and_relative_imports_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .model import Finding\n"
        "def later():\n    import chsm_checks.run\n"
        "from ..errors import ConfigError\n"
    )
    modules = {"chsm_checks.checks.model", "chsm_checks.run", "chsm_checks.errors", "chsm_checks.checks.w"}
    found = imported(source, "chsm_checks.checks.w", is_package=False, modules=modules)
    assert found == {"chsm_checks.checks.model", "chsm_checks.run", "chsm_checks.errors"}
