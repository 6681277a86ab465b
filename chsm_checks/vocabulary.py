"""The step vocabulary: every step the suite's step definitions define, what it does, and an example.

``chsm-checks steps`` prints it, for whoever writes an organisation's own features (``--features``);
the README's section is generated from it (``--markdown``), and a test keeps the two in step. The
steps are read from the step definitions themselves, as pytest-bdd registers them: the pattern, the
Gherkin keywords it is bound to, and the first line of its function's docstring. The example is the
first line of the suite's own features that the step matches.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from inspect import getdoc
from pathlib import Path
from typing import Any

# The suite's step modules: every module in steps/ but its glue modules (test_*.py bind features when
# imported) and its feature lists.
_NOT_STEPS = ("__init__", "features")
_KEYWORDS = ("given", "when", "then")
_STEP_LINE = re.compile(r"^\s*(Given|When|Then|And|But)\s+(?P<text>.+?)\s*$")


@dataclass(frozen=True)
class Step:
    """One step pattern of the vocabulary."""

    keywords: tuple[str, ...]  # Given, When, Then: the ones it is bound to
    pattern: str
    does: str
    example: str | None  # "features/x.feature:12: Then ..."
    module: str
    parser: Any = field(compare=False, repr=False)  # pytest-bdd's, as the step definition declared it

    def matches(self, text: str) -> bool:
        """Whether a step line's text (after its keyword) is this step, as pytest-bdd would bind it."""
        return bool(self.parser.is_matching(text))

    def lines(self) -> list[str]:
        """The step as ``chsm-checks steps`` prints it."""
        shown = [f"{'/'.join(self.keywords)} {self.pattern}", f"    {self.does}"]
        if self.example is not None:
            shown.append(f"    e.g. {self.example}")
        return shown


def _step_modules(root: Path) -> list[str]:
    """The step modules, in the order the suite's conftest.py loads them (its ``pytest_plugins``),
    then any other in steps/."""
    listed: list[str] = []
    conftest = root / "conftest.py"
    if conftest.is_file():
        for node in ast.walk(ast.parse(conftest.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets
            ):
                elements = getattr(node.value, "elts", ())
                listed = [str(e.value) for e in elements if isinstance(e, ast.Constant)]
    others = [
        f"steps.{path.stem}"
        for path in sorted((root / "steps").glob("*.py"))
        if not path.stem.startswith("test_") and path.stem not in _NOT_STEPS
    ]
    return [name for name in listed if name.startswith("steps.")] + [n for n in others if n not in listed]


def _registered(root: Path) -> Iterator[Any]:
    """pytest-bdd's step contexts of the suite's step modules, imported from ``root``."""
    from pytest_bdd.steps import step_function_context_registry

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    modules = _step_modules(root)
    for name in modules:
        importlib.import_module(name)
    yield from (c for c in step_function_context_registry.values() if c.step_func.__module__ in modules)


def _example(parser: Any, feature_lines: list[tuple[str, str, str]]) -> str | None:
    for where, line, text in feature_lines:
        if parser.is_matching(text):
            return f"{where}: {line}"
    return None


def _feature_lines(features: Iterable[Path], root: Path) -> list[tuple[str, str, str]]:
    """``("features/x.feature:12", "Then the ...", "the ...")`` for every step line of ``features``."""
    found = []
    for path in features:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if (match := _STEP_LINE.match(line)) is not None:
                found.append((f"{path.relative_to(root).as_posix()}:{number}", line.strip(), match["text"]))
    return found


def vocabulary(root: Path) -> list[Step]:
    """The steps of the suite at ``root``, in the order their modules define them."""
    lines = _feature_lines(sorted((root / "features").glob("*.feature")), root)
    by_pattern: dict[tuple[str, str], list[Any]] = {}
    for context in _registered(root):
        by_pattern.setdefault((context.step_func.__module__, context.parser.name), []).append(context)
    steps = []
    for (module, pattern), contexts in by_pattern.items():
        func = contexts[0].step_func
        keywords = tuple(k.capitalize() for k in _KEYWORDS if k in {c.type for c in contexts})
        does = (getdoc(func) or "").split("\n\n")[0].replace("\n", " ").strip()
        steps.append(
            Step(keywords, pattern, does, _example(contexts[0].parser, lines), module, contexts[0].parser)
        )
    order = {name: n for n, name in enumerate(_step_modules(root))}
    return sorted(steps, key=lambda s: order[s.module])  # stable: each module's own order stays


def as_text(steps: Iterable[Step]) -> str:
    """The vocabulary as ``chsm-checks steps`` prints it."""
    return "\n".join("\n".join(step.lines()) + "\n" for step in steps)


def as_markdown(steps: Iterable[Step]) -> str:
    """The vocabulary as the README's table."""
    rows = ["| step | what it does | example |", "|---|---|---|"]
    for step in steps:
        example = f"`{step.example}`" if step.example else "—"
        pattern = step.pattern.replace("|", "\\|")
        rows.append(f"| **{'/'.join(step.keywords)}** `{pattern}` | {step.does} | {example} |")
    return "\n".join(rows) + "\n"
