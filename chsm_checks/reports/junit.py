"""junit.xml, made valid against the Jenkins xUnit plugin's ``junit-10.xsd``, findings kept.

pytest writes a test's ``user_properties`` as ``<properties>`` inside its ``<testcase>`` whatever
``junit_family`` says, and junit-10.xsd allows properties only on a ``<testsuite>``. chsm-checks and
its steps record there every finding that is not a plain pass (``failed:<check>``,
``waived:<check>``…) and what a step learnt (``backupId``, ``refusal``…). Each such property becomes
a property of the suite, its value led by the test case's name, and a line ``name: value`` of the
test case's ``<system-out>``, which CI systems show beside the test.

pytest also writes a test that raised in its call phase as a ``<failure>``, whatever it raised; a
scenario that ``summary.json`` says could not be evaluated (*error*) becomes an ``<error>``, and the
suite's counts follow. And each test case's output opens with its scenario's name as the features
read it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from ..errors import CouldNotEvaluate
from ..lifecycle.summary import RunSummary


def _read(path: Path) -> ET.Element:
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # pytest writes neither; expansions are refused
        raise CouldNotEvaluate(f"{path}: not the JUnit XML pytest writes (it declares a DOCTYPE)")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise CouldNotEvaluate(f"{path}: not well-formed XML: {exc}") from None


def _move_properties(suite: ET.Element) -> bool:
    moved: list[tuple[str, str]] = []
    for case in suite.findall("testcase"):
        lines = []
        for properties in case.findall("properties"):
            for prop in properties.findall("property"):
                name, value = prop.get("name", ""), prop.get("value", "")
                lines.append(f"{name}: {value}")
                moved.append((name, f"{case.get('name', '')}: {value}"))
            case.remove(properties)
        if not lines:
            continue
        out = case.find("system-out")
        if out is None:
            out = ET.SubElement(case, "system-out")
        out.text = "\n".join(lines + ([out.text] if out.text else []))
    if not moved:
        return False
    at_suite = suite.find("properties")
    if at_suite is None:
        at_suite = ET.Element("properties")
        suite.insert(0, at_suite)
    for name, value in moved:
        ET.SubElement(at_suite, "property", name=name, value=value)
    return True


def _case_key(case: ET.Element) -> str:
    """The pytest node id a test case stands for, as summary.json names it."""
    return f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name', '')}"


def _errors_as_errors(suite: ET.Element, outcomes: Mapping[str, str]) -> bool:
    moved = 0
    for case in suite.findall("testcase"):
        failure = case.find("failure")
        if outcomes.get(_case_key(case)) == "error" and failure is not None and case.find("error") is None:
            failure.tag = "error"
            moved += 1
    if moved:
        for count, change in (("failures", -moved), ("errors", moved)):
            suite.set(count, str(int(suite.get(count) or 0) + change))
    return moved > 0


def _name_scenarios(suite: ET.Element, names: Mapping[str, str]) -> bool:
    """Each test case's ``<system-out>`` opens with the scenario's name as a reader reads it (an
    outline row with its example's values in place); pytest's test name is a function's."""
    named = False
    for case in suite.findall("testcase"):
        title = names.get(_case_key(case))
        if title is None:
            continue
        line = f"scenario: {title}"
        out = case.find("system-out")
        if out is None:
            out = ET.SubElement(case, "system-out")
        if (out.text or "").split("\n", 1)[0] != line:
            out.text = "\n".join([line, *([out.text] if out.text else [])])
            named = True
    return named


def conform(path: Path, summary: RunSummary | None = None) -> bool:
    """Rewrite ``path`` (pytest's junit.xml) so that it validates against junit-10.xsd, with each
    scenario that ``summary`` says is an error written as one; whether it had to change. A second
    call changes nothing."""
    root = _read(path)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    scenarios = summary.scenarios if summary is not None else ()
    outcomes: dict[str, str] = {e.nodeid: e.outcome for e in scenarios}
    names = {e.nodeid: e.name for e in scenarios}
    changed = [
        _move_properties(suite) | _errors_as_errors(suite, outcomes) | _name_scenarios(suite, names)
        for suite in suites
    ]
    if not any(changed):
        return False
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode"), encoding="utf-8"
    )
    return True
