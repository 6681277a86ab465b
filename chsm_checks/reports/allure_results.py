"""Allure glue: the run's environment section, and step parameters a person can read.

allure-pytest-bdd records every argument of a step function as a step parameter, as ``repr(value)``:
the Gherkin arguments (``'Active'``, quotes and all) and the fixtures too (``<…HsmRunner object at
0x7f…>``, ``ArmClient(…)``, whole snapshots). Before anyone generates a report, each parameter becomes
its plain value when it is a string or a number, and is left out otherwise: what a fixture holds is
in the step's attached evidence, not in a Python repr. As a second line of defence, every parameter
whose name suggests a secret, or whose value holds a secret the run used, is masked.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Container, Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "******"
_SECRET_NAME = re.compile(r"(?i)pass(word)?|secret|token|credential|private.?key|sas")
# A repr of an object: <... object at 0x...>, <FixtureRequest ...>, Name(...).
_OBJECT_REPR = re.compile(r"<.*>|[A-Za-z_][\w.]*\(.*\)", re.S)


def write_environment(results_dir: Path, properties: Mapping[str, str]) -> Path:
    """``environment.properties``: what the report's environment section shows."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "environment.properties"

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")

    path.write_text("".join(f"{escape(k)}={escape(v)}\n" for k, v in properties.items()), encoding="utf-8")
    return path


def _plain(value: str) -> str | None:
    """The value whose ``repr`` is ``value``, as text, when it is a string or a number."""
    if not value or value[0] not in _STRING_OR_NUMBER_STARTS:
        return None  # the repr of a list, a dict or an object: not parsed at all (a fleet has thousands)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(parsed, bool) or not isinstance(parsed, str | int | float):
        return None
    return str(parsed)


_STRING_OR_NUMBER_STARTS = frozenset("'\"+-.0123456789")


def _readable(value: str, *, raw_allowed: bool) -> str | None:
    """What a parameter shows; None to leave it out. A test's parameters from a Scenario Outline's
    Examples are written as they are (``raw_allowed``), its other parameters and every step's as reprs."""
    plain = _plain(value)
    if plain is not None:
        return plain
    if raw_allowed and not _OBJECT_REPR.fullmatch(value):
        return value
    return None


def _clean(node: Any, secrets: tuple[str, ...], *, step: bool) -> int:
    masked = 0
    if not isinstance(node, dict):
        return masked
    kept = []
    for parameter in node.get("parameters") or []:
        value = _readable(str(parameter.get("value", "")), raw_allowed=not step)
        if value is None:
            continue
        parameter["value"] = value
        if _SECRET_NAME.search(str(parameter.get("name", ""))) or any(s in value for s in secrets):
            parameter["value"] = MASK
            parameter["mode"] = "masked"
            masked += 1
        kept.append(parameter)
    if "parameters" in node:
        node["parameters"] = kept
    for child in node.get("steps") or []:
        masked += _clean(child, secrets, step=True)
    return masked


def clean_parameters(results_dir: Path, secrets: Iterable[str]) -> int:
    """Make every Allure result's test and step parameters readable and mask the secret ones; how
    many were masked. Results another process is still writing are left to it (under pytest-xdist
    each worker cleans the directory when it finishes)."""
    known = tuple(s for s in secrets if s)
    masked = 0
    for path in sorted(results_dir.glob("*-result.json")):
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except ValueError:
            continue
        masked += _clean(data, known, step=False)
        cleaned = json.dumps(data)
        if cleaned != text:
            part = path.with_name(f".{path.name}.{os.getpid()}.part")
            part.write_text(cleaned, encoding="utf-8")
            part.replace(path)  # whole: a reader never sees half a result
    return masked


def labels(
    tags: Iterable[str],
    evidence: str,
    expected: str,
    cluster: str | None,
    organisation_controls: Container[str] = frozenset(),
) -> list[tuple[str, str]]:
    """``(value, label type)`` pairs an auditor can filter on: severity, controls (the catalogue's, and
    the organisation's own), REPLAY/LIVE, what the configuration should meet, and which cluster (a
    fleet's test).

    The severity label carries the catalogue's own word (critical, high, medium, low), as the matrix,
    summary.json and the OSCAL document do. Allure's five-level enum (blocker … trivial) has no
    "high", "medium" or "low", and Allure 3 groups a result without a severity under "normal":
    mapping the words, or leaving some rows without one, would show another word for the same row."""
    from ..checks.catalogue import Severity

    tags = list(tags)
    found: list[tuple[str, str]] = []
    words = [tag.removeprefix("severity-") for tag in tags if tag.startswith("severity-")]
    severities = [Severity(word) for word in words if word in {s.value for s in Severity}]
    if severities:  # a scenario judging several checks carries the gravest of their severities
        found.append((min(severities, key=list(Severity).index).value, "severity"))
    found += [
        (tag, "control")
        for tag in tags
        if tag.startswith(("nist-", "cis-", "mcsb-")) or tag in organisation_controls
    ]
    found += [(evidence, "evidence"), (expected, "expected")]
    if cluster is not None:
        found.append((cluster, "cluster"))
    return found


def _features_origin(features: Path) -> str:
    """Where features that no git checkout holds come from."""
    from ..suite import is_packaged
    from ..version import VERSION

    return f"shipped with chsm-checks {VERSION}" if is_packaged(features) else "unknown (not a git checkout)"


def suite_labels(feature: str, rule: str | None) -> list[tuple[str, str]]:
    """The labels Allure 3 builds its tree from: the feature, then its Rule. Without them it builds
    the tree from allure-pytest-bdd's title path, which puts every feature under one ``features``
    node (the directory they are in)."""
    return [(feature, "suite"), *([(rule, "subSuite")] if rule else [])]


def title_paths_outside_the_rootdir() -> None:
    """Let allure-pytest-bdd name the title path of a feature outside pytest's rootdir (an
    organisation's ``--features``): it takes the feature file's path relative to the rootdir, and
    raises ValueError for any other, which would fail the scenario. Such a feature's title path is its
    directory's name and the feature's. Features below the rootdir keep allure-pytest-bdd's own."""
    from allure_pytest_bdd import pytest_bdd_listener

    inner = pytest_bdd_listener.get_title_path
    if getattr(inner, "outside_the_rootdir", False):
        return

    def title_path(request: Any, feature: Any) -> list[str]:
        try:
            return list(inner(request, feature))
        except ValueError:
            path = Path(feature.filename)
            return [path.parent.name, feature.name or path.name]

    title_path.outside_the_rootdir = True  # type: ignore[attr-defined]
    pytest_bdd_listener.get_title_path = title_path


def run_environment(facts: Mapping[str, str], features: Path) -> dict[str, str]:
    """The run's environment, as the Allure report's environment section shows it: ``facts`` (tool,
    mode, target), the commit that last changed ``features``, and the pinned api-versions."""
    import subprocess

    from ..arm.versions import API_VERSIONS

    commit = subprocess.run(
        ["git", "-C", str(features.parent), "log", "-1", "--format=%H", "--", features.name],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    environment = {**facts, "features-commit": commit or _features_origin(features)}
    environment |= {
        f"api-version.{kind.rsplit('/', 1)[-1]}": version for kind, version in API_VERSIONS.items()
    }
    return environment
