"""The pytest plugin, driven through pytester: outcomes, and which scenarios get a cassette."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ROOT, Sandbox, sandbox_process

FEATURE = """\
Feature: Demo
  @severity-low
  Scenario: Reading works
    When the source cluster is read
    Then nothing is wrong

  @severity-low
  Scenario: A finding
    When the source cluster is read
    Then the cluster is called "somebody-else"

  @severity-low
  Scenario: Something breaks
    When the source cluster is read
    Then the harness breaks

  @severity-low
  Scenario: Not applicable here
    When the source cluster is read
    Then it does not apply

  @severity-low
  Scenario: An assert in library code
    When the source cluster is read
    Then library code asserts
"""

STEPS = """\
from pytest_bdd import parsers, then, when

from chsm_checks import expect
from chsm_checks.arm.resources import get_cluster
from chsm_checks.outcomes import not_applicable


@when("the source cluster is read", target_fixture="cluster")
def read(arm, target):
    return get_cluster(arm, target.source_id)


@then("nothing is wrong")
def fine(cluster):
    assert cluster.name == "chsm-source"


@then(parsers.parse('the cluster is called "{name}"'))
def called(cluster, name):
    expect.holds(cluster.name == name, f"cluster is called {cluster.name}")


@then("library code asserts")
def asserts(cluster, evidence):
    assert cluster.name == "somebody-else", "an invariant of the library does not hold"


@then("the harness breaks")
def breaks(cluster):
    raise RuntimeError("the harness broke")


@then("it does not apply")
def skip(cluster):
    not_applicable("not here")
"""

INI = """\
[pytest]
bdd_features_base_dir = features
markers =
    severity-low: low
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_process(tmp_path / "sandbox-state") as sandbox:
        yield sandbox


@pytest.fixture
def project(pytester: pytest.Pytester, sandbox: Sandbox) -> pytest.Pytester:
    # Plain pytest takes chsm-checks' run options too: --arm-endpoint points the target at the sandbox.
    pytester.makeini(INI + f"addopts = --arm-endpoint={sandbox.url}\n")
    (pytester.path / "features").mkdir()
    (pytester.path / "features" / "demo.feature").write_text(FEATURE)
    pytester.makeconftest(STEPS)
    pytester.makepyfile(test_scenarios="from pytest_bdd import scenarios\nscenarios('demo.feature')\n")
    shutil.copy(ROOT / "targets" / "sandbox.toml", pytester.path / "target.toml")
    return pytester


def _run(project: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, str]]:
    result = project.runpytest_subprocess(
        "--target=target.toml", "--cassettes=cassettes", "--chsm-reports=out", "-p", "no:cacheprovider", *args
    )
    summary = json.loads((project.path / "out" / "summary.json").read_text())
    return result, {e["name"]: e["outcome"] for e in summary["scenarios"]}


def test_outcomes_and_cassettes_in_record_mode(project: pytest.Pytester) -> None:
    _, outcomes = _run(project, "--mode=record")

    assert outcomes == {
        "Reading works": "passed",
        "A finding": "failed",
        "Something breaks": "error",
        "Not applicable here": "not_applicable",
        "An assert in library code": "error",
    }
    written = sorted(p.name for p in (project.path / "cassettes" / "demo").glob("*.yaml"))
    # A cassette is written only for a scenario that finished without an error.
    assert written == ["a_finding.yaml", "not_applicable_here.yaml", "reading_works.yaml"]


def test_only_a_judgement_makes_a_finding(project: pytest.Pytester) -> None:
    """An ``assert`` anywhere but ``chsm_checks.expect`` ends the scenario as an error, with its
    traceback in the evidence; the judgement's own exception is the only finding."""
    _run(project, "--mode=live")
    summary = json.loads((project.path / "out" / "summary.json").read_text())
    entries = {e["name"]: e for e in summary["scenarios"]}

    broken = entries["An assert in library code"]
    assert broken["outcome"] == "error"
    assert broken["message"].startswith("AssertionError: an invariant of the library does not hold")
    [traceback] = [f for f in broken["evidence"] if f.endswith("-traceback.txt")]
    text = (project.path / "out" / traceback).read_text()
    assert "Traceback (most recent call last)" in text
    assert "an invariant of the library does not hold" in text
    finding = entries["A finding"]
    assert finding["outcome"] == "failed"
    assert finding["message"] == "cluster is called chsm-source"
    assert not [f for f in finding["evidence"] if f.endswith("-traceback.txt")]


def test_replay_reproduces_the_recorded_outcomes(project: pytest.Pytester) -> None:
    _run(project, "--mode=record")
    for broken in ("something_breaks", "an_assert_in_library_code"):  # errors leave no recording
        (project.path / "cassettes" / "demo" / f"{broken}.yaml").write_text(
            (project.path / "cassettes" / "demo" / "reading_works.yaml").read_text()
        )

    result, outcomes = _run(project)  # replay is the default

    assert outcomes["Reading works"] == "passed"
    assert outcomes["A finding"] == "failed"
    assert outcomes["Not applicable here"] == "not_applicable"
    result.stdout.fnmatch_lines(["*RuntimeError: the harness broke*"])


def test_an_unknown_tag_is_a_usage_error(project: pytest.Pytester) -> None:
    feature = project.path / "features" / "demo.feature"
    feature.write_text(
        feature.read_text().replace(
            "@severity-low\n  Scenario: A finding", "@sevrity-low\n  Scenario: A finding"
        )
    )

    result = project.runpytest_subprocess(
        "--target=target.toml", "--strict-markers", "-p", "no:cacheprovider"
    )

    assert result.ret != 0
    result.stdout.fnmatch_lines(["*sevrity-low*not found in `markers` configuration option*"])


HOLDING = """

import json

import pytest
from allure_pytest_bdd.storage import ALLURE_PYTEST_BDD_HASHKEY
from pytest_bdd.reporting import scenario_reports_registry, test_report_context_registry

from chsm_checks import stash

KEPT = (("findings", stash.FINDINGS), ("evidence", stash.EVIDENCE), ("verdict", stash.VERDICT),
        ("allure's scenario", ALLURE_PYTEST_BDD_HASHKEY))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    held = {
        item.name: [name for name, key in KEPT if key in item.stash]
        + (["rendered scenario"] if item in scenario_reports_registry else [])
        for item in session.items
    }
    stats = session.config.pluginmanager.get_plugin("terminalreporter").stats
    reports = [r for kind in stats.values() for r in kind if isinstance(r, pytest.TestReport)]
    carrying = [
        r.nodeid
        for r in reports
        if r in test_report_context_registry or hasattr(r, "chsm_bdd_scenario") or r.keywords
    ]
    kept = {"items": held, "reports": [len(reports), carrying]}
    (session.config.rootpath / "held.json").write_text(json.dumps(kept))
"""


def test_a_scenario_lets_go_of_what_it_kept_once_its_reports_are_made(project: pytest.Pytester) -> None:
    """pytest keeps every item to the end of the session, and pytest-bdd each item's rendered scenario:
    a fleet's ten thousand would stay. Once a scenario's reports are made its findings, evidence and
    verdict are in the summary and on disk, and neither the item nor its reports hold them."""
    project.makeconftest(STEPS + HOLDING)
    _, outcomes = _run(project, "--mode=live", "--cucumberjson=out/cucumber.json")

    kept = json.loads((project.path / "held.json").read_text())
    held = kept["items"]
    assert len(held) == len(outcomes) == 5
    assert held == {name: [] for name in held}
    reports, carrying = kept["reports"]
    assert reports >= 5 * 3  # setup, call and teardown of each: pytest keeps them all
    assert carrying == []  # none keeps its scenario's record or its keywords once read
    cucumber = json.loads((project.path / "out" / "cucumber.json").read_text())
    steps = {e["name"]: len(e["steps"]) for feature in cucumber for e in feature["elements"]}
    assert steps["A finding"] == 2  # cucumber.json's writer read the records first
    summary = json.loads((project.path / "out" / "summary.json").read_text())
    finding = next(e for e in summary["scenarios"] if e["name"] == "A finding")
    assert finding["outcome"] == "failed"
    assert finding["evidence"]
    assert all((project.path / "out" / path).is_file() for path in finding["evidence"])
