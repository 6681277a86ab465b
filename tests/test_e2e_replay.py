"""The README's first command, end to end: the shipped recordings replay offline."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from tests.support.processes import ROOT, SharedRun, project_copy, run_cli, summary

SHIPPED = ROOT / "cassettes"
EXPECTED_SCENARIOS = 44


def test_shipped_suite_replays_green_offline(shipped_replay: SharedRun) -> None:
    result, tmp_path = shipped_replay.result, shipped_replay.reports

    assert result.returncode == 0, result.output
    report = summary(tmp_path)
    assert report["mode"] == "replay"
    assert report["evidence"] == "REPLAY"
    assert report["counts"]["passed"] == EXPECTED_SCENARIOS
    assert len(report["scenarios"]) == EXPECTED_SCENARIOS
    for entry in report["scenarios"]:
        assert entry["provenance"]["origin"] == "sandbox"
        assert len(entry["provenance"]["sha256"]) == 64
    run_dir = (tmp_path / "latest").resolve()
    assert (run_dir / "junit.xml").read_text().count("<testcase") == EXPECTED_SCENARIOS
    assert (run_dir / "cucumber.json").is_file()
    assert any((run_dir / "allure-results").glob("*-result.json"))
    assert f"REPLAY replay run of reference: {EXPECTED_SCENARIOS} passed, 0 failed" in result.stdout
    for produced in (
        "matrix.md",
        "matrix.html",
        "oscal/assessment-results.json",
        "MANIFEST.sha256",
        "SIGNER.json",
    ):
        assert (run_dir / produced).is_file(), produced
    verified = run_cli("verify", str(tmp_path / "latest"))
    assert verified.returncode == 0, verified.output
    assert "not signed by a trusted key" in verified.output


def test_a_replay_never_reads_as_live(shipped_replay: SharedRun) -> None:
    run_dir, report = shipped_replay.run_dir, shipped_replay.summary
    assert report["evidence"] == "REPLAY"
    assert {e["provenance"]["kind"] for e in report["scenarios"]} == {"REPLAY"}
    for name in ("matrix.html", "matrix.md", "oscal/assessment-results.json"):
        text = (run_dir / name).read_text()
        assert "REPLAY" in text, name
        assert "LIVE" not in text, name
    labels = [
        label["value"]
        for path in (run_dir / "allure-results").glob("*-result.json")
        for label in json.loads(path.read_text())["labels"]
        if label["name"] == "evidence"
    ]
    assert labels
    assert set(labels) == {"REPLAY"}


def test_every_scenario_carries_control_and_severity_tags(shipped_replay: SharedRun) -> None:
    for entry in shipped_replay.summary["scenarios"]:
        tags = entry["tags"]
        # A self-check tests the harness, not the environment: it evidences no control.
        assert any(t.startswith(("nist-", "mcsb-")) for t in tags) != ("self-check" in tags), entry["name"]
        assert sum(t.startswith("severity-") for t in tags) == 1, entry["name"]


def _copy_shipped(tmp_path: Path) -> Path:
    cassettes = tmp_path / "cassettes"
    shutil.copytree(SHIPPED, cassettes)
    return cassettes


def test_replay_of_a_missing_interaction_is_an_error_naming_the_request(tmp_path: Path) -> None:
    cassettes = _copy_shipped(tmp_path)
    path = next(cassettes.rglob("a_backup_of_the_activated_source_cluster*.yaml"))
    data = yaml.safe_load(path.read_text())
    removed = data["interactions"].pop(1)  # the backup POST
    path.write_text(yaml.safe_dump(data))

    result = run_cli("run", "--cassettes", str(cassettes), "--reports", str(tmp_path / "r"), offline=True)

    assert result.returncode == 3, result.output
    entry = next(e for e in summary(tmp_path / "r")["scenarios"] if "activated source" in e["name"])
    assert entry["outcome"] == "error"
    assert "ReplayMissError" in entry["message"]
    assert "POST" in entry["message"]
    assert "/chsm-source/backup" in entry["message"]
    assert removed["request"]["method"] == "POST"
    assert "Traceback" not in result.output


def test_replay_never_reaches_the_network_even_for_an_unrecorded_request(tmp_path: Path) -> None:
    cassettes = _copy_shipped(tmp_path)
    for path in cassettes.rglob("*.yaml"):
        if path.name.endswith(".transcript.yaml"):
            continue
        data = yaml.safe_load(path.read_text())
        data["interactions"] = []
        path.write_text(yaml.safe_dump(data))

    result = run_cli("run", "--cassettes", str(cassettes), "--reports", str(tmp_path / "r"), offline=True)

    report = summary(tmp_path / "r")
    by_outcome = {e["name"]: e["outcome"] for e in report["scenarios"]}
    # The refusals that send nothing still pass; everything that needed ARM is an error, not a pass;
    # with no restore, the restored destination's validation has nothing to validate.
    assert by_outcome["A restore into the source cluster is refused before any request is sent"] == "passed"
    assert report["counts"]["passed"] == 2
    validation = [e for e in report["scenarios"] if e["feature_file"] == "restore_validation.feature"]
    assert {e["outcome"] for e in validation} == {"not_applicable"}
    assert report["counts"]["error"] == EXPECTED_SCENARIOS - 2 - len(validation)
    assert "network is unavailable" not in result.output
    assert result.returncode == 3


@pytest.mark.parametrize("scenario", ["restore into the source", "SAS token"])
def test_refusal_cassettes_hold_no_interactions(scenario: str) -> None:
    matches = [
        p for p in (SHIPPED / "backup_restore").glob("*.yaml") if scenario.lower().replace(" ", "_") in p.name
    ]
    matches = [p for p in matches if not p.name.endswith(".transcript.yaml")]
    assert len(matches) == 1
    assert yaml.safe_load(matches[0].read_text())["interactions"] == []


def test_the_readme_command_as_typed_leaves_a_bundle_that_verifies(tmp_path: Path) -> None:
    # No --reports: the default, relative reports/ directory, exactly as a newcomer runs it.
    project = project_copy(tmp_path)

    ran = run_cli("run", cwd=project, offline=True)
    verified = run_cli("verify", "reports/latest", cwd=project)

    assert ran.returncode == 0, ran.output
    assert verified.returncode == 0, verified.output
    assert (project / "reports" / "latest" / "matrix.html").is_file()


def test_outline_rows_are_named_as_the_reader_reads_them(shipped_replay: SharedRun) -> None:
    """A Scenario Outline's rows carry their example's values in every report, never `<setting>`."""
    run_dir = shipped_replay.run_dir
    names = [e["name"] for e in shipped_replay.summary["scenarios"]]

    row = "The storage account's minimum TLS version is as the tutorial requires"
    assert row in names
    assert not [n for n in names if "<" in n or "[" in n]
    assert row in (run_dir / "matrix.md").read_text()
    assert html.escape(row) in (run_dir / "matrix.html").read_text()
    oscal = json.loads((run_dir / "oscal/assessment-results.json").read_text())
    [result] = oscal["assessment-results"]["results"]
    remarks = [o["remarks"] for o in result["observations"]]
    assert [r for r in remarks if f"Scenario '{row}'" in r]
    assert not [r for r in remarks if "setting>" in r]
    junit = ElementTree.parse(run_dir / "junit.xml").getroot()
    outputs = [case.findtext("system-out") or "" for case in junit.iter("testcase")]
    assert [o for o in outputs if o.splitlines()[0] == f"scenario: {row}"]
    assert all(o.startswith("scenario: ") for o in outputs)
    assert "setting>" not in (run_dir / "junit.xml").read_text()


def test_a_partial_run_says_it_is_partial(tmp_path: Path) -> None:
    """Deselected scenarios are counted, with the expression that left them out, in every report."""
    result = run_cli("run", "--reports", str(tmp_path), "-k", "storage", offline=True)
    assert result.returncode == 0, result.output
    report = summary(tmp_path)
    ran = len(report["scenarios"])
    assert 0 < ran < EXPECTED_SCENARIOS
    assert report["partial"] is True
    assert report["selection"] == {
        "keyword": "storage",
        "markers": None,
        "deselected": EXPECTED_SCENARIOS - ran,
    }
    left_out = EXPECTED_SCENARIOS - ran
    statement = f"PARTIAL: {left_out} of {EXPECTED_SCENARIOS} scenarios were deselected by -k 'storage'"
    run_dir = (tmp_path / "latest").resolve()
    assert statement in (run_dir / "matrix.md").read_text()
    assert html.escape(statement) in (run_dir / "matrix.html").read_text()
    oscal = json.loads((run_dir / "oscal/assessment-results.json").read_text())
    [result_doc] = oscal["assessment-results"]["results"]
    assert statement in result_doc["description"]
    verified = run_cli("verify", str(tmp_path / "latest"))
    assert verified.returncode == 0, verified.output
    assert statement in verified.stdout
    deselected = [p for p in result_doc["props"] if p["name"] == "scenarios-deselected"]
    assert deselected == [
        {
            "name": "scenarios-deselected",
            "ns": "urn:chsm-checks:oscal",
            "value": str(EXPECTED_SCENARIOS - ran),
        }
    ]


def test_a_replay_claims_no_mutations_it_was_not_allowed(tmp_path: Path) -> None:
    run_cli("run", "--reports", str(tmp_path), "-k", "source_cluster_is_activated", offline=True)
    report = summary(tmp_path)
    assert report["allow_mutations"] is False
    assert report["partial"] is True
