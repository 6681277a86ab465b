"""junit.xml validates against the Jenkins xUnit plugin's junit-10.xsd (the schema pytest's junitxml
aims at), and every finding that is not a plain pass stays in it where that schema allows."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chsm_checks.errors import CouldNotEvaluate
from chsm_checks.reports.junit import conform
from tests.support.live_runs import live_run, load_json
from tests.support.processes import ROOT, SharedRun

# .ci/run puts it here, from pytest's source distribution; CHSM_JUNIT_XSD names another copy.
SCHEMA = Path(os.environ.get("CHSM_JUNIT_XSD", ROOT / ".cache" / "junit-10.xsd"))


@pytest.fixture(scope="module")
def schema() -> object:
    if not SCHEMA.is_file():
        pytest.skip(
            f"needs junit-10.xsd at {SCHEMA}, which .ci/run fetches: pip download --no-deps --no-binary "
            ":all: pytest==<version>, then take testing/example_scripts/junit-10.xsd from the archive"
        )
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA))


def _problems(schema: object, path: Path) -> list[str]:
    return [str(error.reason) for error in schema.iter_errors(str(path))]  # type: ignore[attr-defined]


def _cases(path: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(path).getroot().iter("testcase")}


def _suite_properties(path: Path) -> list[tuple[str, str]]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return [(p.get("name", ""), p.get("value", "")) for p in suite.iterfind("properties/property")]


def _out(case: ET.Element) -> str:
    return "\n".join(node.text or "" for node in case.iterfind("system-out"))


def test_the_recorded_suites_junit_xml_validates_and_keeps_the_step_properties(
    schema: object, shipped_replay: SharedRun
) -> None:
    assert shipped_replay.result.returncode == 0, shipped_replay.result.output
    junit = shipped_replay.run_dir / "junit.xml"
    assert _problems(schema, junit) == []
    backup = _cases(junit)["test_a_backup_of_the_activated_source_cluster_completes_and_yields_a_backup_id"]
    assert "backupId: cloudhsm-" in _out(backup)
    names = [name for name, _ in _suite_properties(junit)]
    assert "backupId" in names
    assert any(name.startswith("matchedKeys") for name in names)


def test_every_finding_that_is_not_a_pass_is_in_a_valid_junit_xml(schema: object, tmp_path: Path) -> None:
    result, run_dir = live_run(tmp_path, "--", "-m", "not hsm", profile="tls-1-0")

    assert result.returncode == 1, result.output
    junit = run_dir / "junit.xml"
    assert _problems(schema, junit) == []
    cases = _cases(junit)
    properties = _suite_properties(junit)
    summary = load_json(run_dir / "summary.json")
    not_passed = [
        (entry, finding)
        for entry in summary["scenarios"]
        for finding in entry["findings"]
        if finding["status"] != "passed"
    ]
    assert {f["status"] for _, f in not_passed} >= {"failed"}
    for entry, finding in not_passed:
        test_name = entry["nodeid"].split("::")[-1]
        line = f"{finding['status']}:{finding['check']}: {finding['message']}"
        assert line in _out(cases[test_name]), line
        assert (f"{finding['status']}:{finding['check']}", f"{test_name}: {finding['message']}") in properties
    for entry in summary["scenarios"]:
        case = cases[entry["nodeid"].split("::")[-1]]
        kinds = {child.tag for child in case}
        expected = {"failed": "failure", "error": "error", "not_applicable": "skipped"}.get(entry["outcome"])
        assert expected is None or expected in kinds, (entry["name"], kinds)


def test_a_scenario_that_could_not_be_evaluated_is_a_junit_error(schema: object, tmp_path: Path) -> None:
    refuse_reads = {"match": {"request": "read"}, "effect": "status", "status": 403, "times": "always"}

    result, run_dir = live_run(tmp_path, "--", "-m", "catalogue", arm_faults=[refuse_reads])

    assert result.returncode == 3, result.output
    junit = run_dir / "junit.xml"
    assert _problems(schema, junit) == []
    errors = len(load_json(run_dir / "summary.json")["scenarios"])
    cases = _cases(junit).values()
    assert [sorted({child.tag for child in case} & {"failure", "error"}) for case in cases] == [
        ["error"]
    ] * errors
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures")) == (str(errors), "0")


def test_properties_move_to_the_suite_and_the_cases_output(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        '<testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="0.1">'
        '<testcase classname="steps.t" name="test_a" time="0.01"><properties>'
        '<property name="failed:storage.minimum-tls" value="account x allows TLS 1.0" />'
        '<property name="waived:storage.shared-key-disabled"'
        ' value="key on [waived by a@b until 2027-01-01]" />'
        '</properties><failure message="it failed">trace</failure>'
        "<system-out>printed</system-out></testcase>"
        '<testcase classname="steps.t" name="test_b" time="0.01" /></testsuite></testsuites>',
        encoding="utf-8",
    )

    conform(path)
    once = path.read_bytes()
    conform(path)

    assert path.read_bytes() == once
    assert not list(ET.parse(path).getroot().iter("properties"))[1:]  # the suite's alone
    case = _cases(path)["test_a"]
    assert [child.tag for child in case] == ["failure", "system-out"]
    assert _out(case) == (
        "failed:storage.minimum-tls: account x allows TLS 1.0\n"
        "waived:storage.shared-key-disabled: key on [waived by a@b until 2027-01-01]\n"
        "printed"
    )
    assert _suite_properties(path) == [
        ("failed:storage.minimum-tls", "test_a: account x allows TLS 1.0"),
        ("waived:storage.shared-key-disabled", "test_a: key on [waived by a@b until 2027-01-01]"),
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('<!DOCTYPE t [<!ENTITY a "aaaa">]><testsuites>&a;</testsuites>', "declares a DOCTYPE"),
        ("<testsuites><testsuite>", "not well-formed XML"),
    ],
)
def test_a_junit_xml_pytest_did_not_write_is_refused_naming_it(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(CouldNotEvaluate, match=problem) as raised:
        conform(path)

    assert str(path) in str(raised.value)
    assert path.read_text(encoding="utf-8") == content
