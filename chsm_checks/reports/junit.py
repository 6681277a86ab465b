"""junit.xml, made valid against the Jenkins xUnit plugin's ``junit-10.xsd``, findings kept.

pytest writes a test's ``user_properties`` as ``<properties>`` inside its ``<testcase>`` whatever
``junit_family`` says, and junit-10.xsd allows properties only on a ``<testsuite>``. chsm-checks and
its steps record there every finding that is not a plain pass (``failed:<check>``,
``waived:<check>``…) and what a step learnt (``backupId``, ``refusal``…). Each such property becomes
a property of the suite, its value led by the test case's name, and a line ``name: value`` of the
test case's ``<system-out>``, which CI systems show beside the test.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import CouldNotEvaluate


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


def conform(path: Path) -> bool:
    """Rewrite ``path`` (pytest's junit.xml) so that it validates against junit-10.xsd; whether it
    had to change. A second call changes nothing."""
    root = _read(path)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    changed = [_move_properties(suite) for suite in suites]
    if not any(changed):
        return False
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode"), encoding="utf-8"
    )
    return True
