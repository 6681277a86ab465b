"""OSCAL Assessment Results: valid against the NIST schemas, honest about REPLAY, tied to its evidence."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
from collections import Counter
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from chsm_checks.checks.catalogue import Catalogue, load_catalogue
from chsm_checks.errors import ConfigError
from chsm_checks.lifecycle.summary import RunSummary
from chsm_checks.record_profiles import profile_selection
from chsm_checks.reports.oscal import (
    DEFAULT_OSCAL_VERSION,
    DOCUMENT,
    LARGE_RUN_SCENARIOS,
    OSCAL_VERSIONS,
    build_assessment_results,
    oscal_control_id,
    validate,
    validate_file,
    write_assessment_results,
)
from tests.support.processes import ROOT, SharedRun, run_cli

SCHEMAS = ROOT / "chsm_checks" / "reports" / "oscal_schemas"
PROFILES = sorted(p.name for p in (ROOT / "cassettes" / "profiles").iterdir() if p.is_dir())
OWNER = "owner-instead-of-contributor"
WAIVED = "waived-shared-key"
RUNS = ["compliant", *PROFILES, WAIVED]
ACCOUNT = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-chsm-sandbox"
    "/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
)
WAIVER = f"""
[[waiver]]
check = "storage.shared-key-disabled"
resource = "{ACCOUNT}"
justification = "Legacy backup tooling needs shared key until the migration in Q3 completes."
approver = "ciso@example.com"
approved_on = 2026-01-15
expires = 2099-01-01T00:00:00Z
ticket = "RISK-1234"
"""


def _replay(reports: Path, *args: str) -> Path:
    result = run_cli("run", "--reports", str(reports), *args, offline=True)
    assert result.returncode in (0, 1), result.output
    return (reports / "latest").resolve()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, shipped_replay: SharedRun) -> dict[str, Path]:
    """Run directories: the shipped suite, the catalogue on every faulty profile, and one under a waiver.

    The tests write OSCAL documents into them: the shared replay is copied first."""
    base = tmp_path_factory.mktemp("oscal-runs")
    found = {"compliant": Path(shutil.copytree(shipped_replay.run_dir, base / "compliant", symlinks=True))}
    for profile in PROFILES:
        selection = profile_selection(profile)
        found[profile] = _replay(
            base / profile, "--cassettes", f"cassettes/profiles/{profile}", "--", "-m", selection
        )
    waivers = base / "waivers.toml"
    waivers.write_text(WAIVER, encoding="utf-8")
    found[WAIVED] = _replay(
        base / WAIVED, "--cassettes", "cassettes/profiles/shared-key-default", "--", "-m", "catalogue",
        f"--waivers={waivers}",
    )  # fmt: skip
    return found


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _summary(run_dir: Path) -> dict[str, Any]:
    return _json(run_dir / "summary.json")


def _written(run_dir: Path, catalogue: Catalogue, version: str = "1.1.3") -> dict[str, Any]:
    path = write_assessment_results(run_dir, catalogue, oscal_version=version)
    assert path == run_dir / DOCUMENT
    return _json(path)


def _result(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any]
    [result] = document["assessment-results"]["results"]
    return result


def _props(item: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in item.get("props", [])}


def _findings_by_control(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["target"]["target-id"]: f for f in _result(document)["findings"]}


def _observations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["uuid"]: o for o in _result(document)["observations"]}


def test_vendored_schemas_match_their_sha256sums() -> None:
    sums = {}
    for line in (SCHEMAS / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert set(sums) == {f"v{v}/oscal_assessment-results_schema.json" for v in OSCAL_VERSIONS}
    for name, expected in sums.items():
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == expected, name


@pytest.mark.parametrize("version", OSCAL_VERSIONS)
@pytest.mark.parametrize("run", RUNS)
def test_every_run_is_valid_for_every_oscal_version(
    run: str, version: str, runs: dict[str, Path], catalogue: Catalogue
) -> None:
    document = _written(runs[run], catalogue, version)

    assert validate(document, version) == []
    assert document["assessment-results"]["metadata"]["oscal-version"] == version


def test_a_broken_document_yields_errors(runs: dict[str, Path], catalogue: Catalogue) -> None:
    document = _written(runs["compliant"], catalogue)
    without_plan = copy.deepcopy(document)
    del without_plan["assessment-results"]["import-ap"]
    cis_as_published = copy.deepcopy(document)
    selection = _result(cis_as_published)["reviewed-controls"]["control-selections"][0]
    selection["include-controls"][0]["control-id"] = "9.3.1.3"

    assert any(
        e.startswith("$['assessment-results']: ") and '"import-ap" is a required property' in e
        for e in validate(without_plan)
    )
    # The token pattern (\p{L} first) is enforced, not skipped: a CIS number as published is refused.
    assert any('"9.3.1.3" does not match' in e and "control-id" in e for e in validate(cis_as_published))
    with pytest.raises(ConfigError, match=re.escape("oscal version '1.0.0'")):
        validate(document, "1.0.0")


def test_a_faulty_run_leaves_least_privilege_not_satisfied_with_the_failures_related(
    runs: dict[str, Path], catalogue: Catalogue
) -> None:
    document = _written(runs[OWNER], catalogue)
    observations = _observations(document)
    failing = {uid for uid, o in observations.items() if _props(o).get("status") == "failed"}
    findings = _findings_by_control(document)

    assert {_props(observations[u])["check"] for u in failing} == {
        "access.least-privilege",
        "access.blob-data-contributor",
    }
    # Least privilege is what access.least-privilege judges; access.blob-data-contributor judges access
    # enforcement, and claims only that.
    by_check = {
        check: {u for u in failing if _props(observations[u])["check"] == check}
        for check in ("access.least-privilege", "access.blob-data-contributor")
    }
    for control, check in (("ac-6", "access.least-privilege"), ("PA-7", "access.least-privilege"),
                           ("ac-3", "access.blob-data-contributor")):  # fmt: skip
        finding = findings[control]
        related = {r["observation-uuid"] for r in finding["related-observations"]}
        assert finding["target"]["status"]["state"] == "not-satisfied", control
        assert finding["target"]["status"]["reason"] == "fail"
        assert by_check[check] <= related, control
    assert not by_check["access.blob-data-contributor"] & {
        r["observation-uuid"] for r in findings["ac-6"]["related-observations"]
    }
    assert findings["cm-6"]["target"]["status"]["state"] == "satisfied"


def test_a_compliant_run_satisfies_every_control_it_evidences(
    runs: dict[str, Path], catalogue: Catalogue
) -> None:
    states = {
        c: f["target"]["status"]["state"]
        for c, f in _findings_by_control(_written(runs["compliant"], catalogue)).items()
    }

    assert set(states.values()) == {"satisfied"}
    assert {"cp-9", "cp-9.1", "cp-10", "cp-4", "sc-12", "sc-12.1"} <= set(states)
    # The harness's own fault scenarios (a node down, a wrong password) are self-checks: they say
    # nothing of the environment's CA-7 or IA-5(1), and no verdict rests on them.
    assert not {"ia-5.1", "ca-7"} & set(states)


def test_controls_carry_oscal_ids_and_their_framework(runs: dict[str, Path], catalogue: Catalogue) -> None:
    document = _written(runs["compliant"], catalogue)
    selections = {
        _props(s)["framework"]: {c["control-id"] for c in s["include-controls"]}
        for s in _result(document)["reviewed-controls"]["control-selections"]
    }
    findings = _findings_by_control(document)

    assert "cis-9.3.4" in selections["CIS Microsoft Azure Foundations Benchmark v5.0.0"]
    assert {"PA-7", "BR-4"} <= selections["Microsoft cloud security benchmark v1"]
    assert {"cp-9.1", "sc-7.5"} <= selections["NIST SP 800-53 rev5"]
    assert set(findings) == set().union(*selections.values())
    assert _props(findings["cis-9.3.4"]) == {
        "framework": "CIS Microsoft Azure Foundations Benchmark v5.0.0",
        "control-id": "9.3.4",
        "evidence-kind": "REPLAY",
        "verdict": "satisfied",
    }


def test_a_replay_says_replay_everywhere_and_never_live(runs: dict[str, Path], catalogue: Catalogue) -> None:
    document = _written(runs["compliant"], catalogue)
    metadata = document["assessment-results"]["metadata"]
    result = _result(document)

    assert _props(metadata)["evidence-kind"] == "REPLAY"
    assert metadata["remarks"].startswith("REPLAY: no observation in this document was made live")
    assert "REPLAY" in metadata["title"]
    assert _props(result)["evidence-kind"] == "REPLAY"
    assert result["title"].startswith("REPLAY run ")
    assert "REPLAY" in result["description"]
    assert {_props(o)["evidence-kind"] for o in result["observations"]} == {"REPLAY"}
    assert "LIVE" not in json.dumps(document)


def test_a_replay_names_each_recording_with_its_hash(runs: dict[str, Path], catalogue: Catalogue) -> None:
    run_dir = runs["compliant"]
    hrefs = {
        e["href"]: _props(e)["sha256"]
        for o in _result(_written(run_dir, catalogue))["observations"]
        for e in o["relevant-evidence"]
    }

    for scenario in _summary(run_dir)["scenarios"]:
        provenance = scenario["provenance"]
        for recording in (provenance, provenance.get("transcript")):
            if recording:
                assert hrefs[recording["recording"]] == recording["sha256"]


def test_a_live_run_names_its_endpoint_and_identity_and_never_replay(
    runs: dict[str, Path], catalogue: Catalogue
) -> None:
    summary = _summary(runs["compliant"]) | {"mode": "live", "evidence": "LIVE"}
    for scenario in summary["scenarios"]:
        scenario["provenance"] = {
            "kind": "LIVE",
            "mode": "live",
            "endpoint": "https://management.azure.com",
            "cloud": "AzureCloud",
            "object_id": "pseudonym-0123456789abcdef",
            "tenant_id": "11111111-1111-1111-1111-111111111111",
        }
    document = build_assessment_results(runs["compliant"], RunSummary.model_validate(summary), catalogue)
    remarks = document["assessment-results"]["metadata"]["remarks"]

    assert validate(document) == []
    assert remarks.startswith("LIVE: the observations were made during this run")
    assert "https://management.azure.com" in remarks
    assert "pseudonym-0123456789abcdef" in remarks
    assert "REPLAY" not in json.dumps(document)


def test_relevant_evidence_hashes_equal_the_files(runs: dict[str, Path], catalogue: Catalogue) -> None:
    run_dir = runs[OWNER]
    here = (run_dir / DOCUMENT).parent
    hashed = {}
    for observation in _result(_written(run_dir, catalogue))["observations"]:
        for evidence in observation["relevant-evidence"]:
            if evidence["href"].startswith("../"):
                path = (here / unquote(evidence["href"])).resolve()
                assert hashlib.sha256(path.read_bytes()).hexdigest() == _props(evidence)["sha256"]
                hashed[path] = True

    listed = {(run_dir / e).resolve() for s in _summary(run_dir)["scenarios"] for e in s["evidence"]}
    assert set(hashed) == listed


@pytest.mark.parametrize("run", ["compliant", OWNER, WAIVED])
def test_every_finding_has_exactly_one_observation(
    run: str, runs: dict[str, Path], catalogue: Catalogue
) -> None:
    summary = _summary(runs[run])
    result = _result(_written(runs[run], catalogue))
    expected = Counter(
        (f["check"], f["resource"], f["status"]) for s in summary["scenarios"] for f in s["findings"]
    )
    observed = Counter(
        (_props(o)["check"], _props(o["subjects"][0])["resource-id"], _props(o)["status"])
        for o in result["observations"]
        if "check" in _props(o)
    )

    assert observed == expected
    assert len({o["uuid"] for o in result["observations"]}) == len(result["observations"])


def test_scenarios_without_findings_are_observed_against_their_tagged_controls(
    runs: dict[str, Path], catalogue: Catalogue
) -> None:
    summary = _summary(runs["compliant"])
    document = _written(runs["compliant"], catalogue)
    by_title = {o["title"]: o for o in _result(document)["observations"]}
    findings = _findings_by_control(document)
    flows = [s for s in summary["scenarios"] if not s["findings"]]

    # The flow scenarios (backup, restore, drill, the refusals) judge no catalogue check; the restore
    # validation scenarios do, so they are observed through their findings instead.
    assert len(flows) == 10
    for scenario in flows:
        observation = by_title[scenario["name"]]
        assert _props(observation)["scenario-outcome"] == scenario["outcome"]
        for tag in scenario["tags"]:
            if tag in catalogue.controls:
                control = oscal_control_id(catalogue.controls[tag])
                related = {r["observation-uuid"] for r in findings[control]["related-observations"]}
                assert observation["uuid"] in related, (scenario["name"], tag)


def test_a_waiver_satisfies_its_controls_only_naming_the_waiver(
    runs: dict[str, Path], catalogue: Catalogue
) -> None:
    findings = _findings_by_control(_written(runs[WAIVED], catalogue))

    for control in ("cis-9.3.1.3", "IM-1", "ia-5", "cp-9.8"):
        status = findings[control]["target"]["status"]
        assert status["state"] == "satisfied", control
        assert status["remarks"].startswith("Satisfied under waiver.")
        assert "ciso@example.com" in status["remarks"]
        assert "RISK-1234" in status["remarks"]


def test_what_could_not_be_evaluated_is_not_satisfied(runs: dict[str, Path], catalogue: Catalogue) -> None:
    summary = _summary(runs["compliant"])
    for scenario in summary["scenarios"]:
        if scenario["name"] == "The storage account refuses shared key access":
            [finding] = scenario["findings"]
            finding["status"] = "error"
            finding["message"] = "could not read storage account chsmbackupsbx: 503"
            scenario["outcome"] = "error"
        if scenario["name"].startswith("A backup of the activated source cluster"):
            scenario["outcome"] = "not_run"
            scenario["message"] = "did not run"
    document = build_assessment_results(runs["compliant"], RunSummary.model_validate(summary), catalogue)
    findings = _findings_by_control(document)

    assert validate(document) == []
    for control in ("cis-9.3.1.3", "IM-1", "cp-9.8", "cp-9", "BR-1"):
        status = findings[control]["target"]["status"]
        assert status["state"] == "not-satisfied", control
        assert status["remarks"].startswith("Could not evaluate: "), control
    assert findings["sc-13"]["target"]["status"]["state"] == "satisfied"


def test_the_same_run_gives_the_same_document(runs: dict[str, Path], catalogue: Catalogue) -> None:
    run_dir = runs[OWNER]
    first = write_assessment_results(run_dir, catalogue).read_bytes()
    second = write_assessment_results(run_dir, catalogue).read_bytes()
    other = build_assessment_results(
        runs["compliant"], RunSummary.model_validate(_summary(runs["compliant"])), catalogue
    )

    assert first == second
    assert build_assessment_results(
        run_dir, RunSummary.model_validate(_summary(run_dir)), catalogue
    ) == json.loads(first)
    assert other["assessment-results"]["uuid"] != json.loads(first)["assessment-results"]["uuid"]


def test_a_missing_evidence_file_is_named(
    tmp_path: Path, runs: dict[str, Path], catalogue: Catalogue
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(runs[OWNER], run_dir)
    missing = _summary(run_dir)["scenarios"][0]["evidence"][0]
    (run_dir / missing).unlink()

    with pytest.raises(ConfigError, match=re.escape(f"evidence file '{missing}' is missing")):
        write_assessment_results(run_dir, catalogue)


def test_a_directory_without_a_summary_is_refused(tmp_path: Path, catalogue: Catalogue) -> None:
    with pytest.raises(ConfigError, match=re.escape("summary.json: not found")):
        write_assessment_results(tmp_path, catalogue)


def test_a_run_of_self_checks_alone_claims_no_control_and_stays_valid(tmp_path: Path) -> None:
    run_dir = _replay(tmp_path, "-k", "refused", "--no-html")
    document = json.loads((run_dir / "oscal" / "assessment-results.json").read_text(encoding="utf-8"))
    [result] = document["assessment-results"]["results"]
    assert validate(document) == []
    assert "findings" not in result
    [selection] = result["reviewed-controls"]["control-selections"]
    assert "include-controls" not in selection
    assert "include-all" not in selection
    assert selection["description"].startswith("No control was assessed")


def test_an_immutability_the_target_only_advises_is_a_low_severity_observation(tmp_path: Path) -> None:
    target = tmp_path / "advised.toml"
    reference = (ROOT / "targets" / "reference.toml").read_text(encoding="utf-8")
    target.write_text(reference.replace("require_immutability = true", "require_immutability = false"))
    run_dir = _replay(
        tmp_path / "reports", "--target", str(target),
        "--cassettes", "cassettes/profiles/immutability-absent", "--", "-m", "catalogue",
    )  # fmt: skip
    [entry] = [s for s in _summary(run_dir)["scenarios"] if "retention ends" in s["name"]]
    [finding] = entry["findings"]
    assert (entry["outcome"], finding["status"], finding["severity"]) == ("failed", "failed", "low")
    assert "severity-high" in entry["tags"]  # the check's own severity, when the target requires it

    document = _json(run_dir / DOCUMENT)
    [observation] = [
        o for o in _observations(document).values() if _props(o).get("check") == "storage.immutability"
    ]
    assert _props(observation)["severity"] == "low"


@pytest.mark.parametrize(
    ("run", "status", "achieved"), [("compliant", "passed", "5.0"), ("backup-overdue", "failed", "33.0")]
)
def test_the_achieved_recovery_point_is_in_summary_matrix_and_oscal_and_is_the_recordings(
    runs: dict[str, Path], catalogue: Catalogue, run: str, status: str, achieved: str
) -> None:
    run_dir = runs[run]
    point = _summary(run_dir)["recovery_point"]
    assert point == {
        "cluster": "chsm-source",
        "outcome": status,
        "rpo_hours": 24,
        "achieved_hours": float(achieved),
        "latest_backup_at": point["latest_backup_at"],
        "as_of": "2025-06-16T12:00:00Z",  # the recording's date, not this run's
        "measured": "recording",
    }
    header = (run_dir / "matrix.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    assert (
        f"**Recovery point:** {float(achieved):g} hours since chsm-source's latest successful backup "
        in header
    )
    assert "(the recording's, as of 2025-06-16T12:00:00Z); target RPO 24 hours: " + status in header
    document = _written(run_dir, catalogue)
    [observation] = [o for o in _observations(document).values() if _props(o).get("check") == "backup.rpo"]
    props = _props(observation)
    assert (props["status"], props["rpo-hours"], props["achieved-rpo-hours"]) == (status, "24", achieved)
    assert props["as-of"] == "2025-06-16T12:00:00Z"
    assert (
        "The recovery point is the recording's: judged as of 2025-06-16T12:00:00Z" in observation["remarks"]
    )


RESTORE_SCENARIO = "a_restore_into_a_notactivated_destination_completes_and_activates_it"
RTO_SCENARIO = "the_drill_recovers_the_destination_within_the_target_s_rto"


def _answer_dates(cassette: Path) -> list[tuple[str, str, datetime, bool]]:
    """Each recorded answer of ``cassette``: method, path, its Date header, and whether it reads Active."""
    recorded = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    return [
        (
            i["request"]["method"],
            i["request"]["uri"].split("?", 1)[0],
            parsedate_to_datetime(i["response"]["headers"]["date"][0]),
            '"Active"' in i["response"]["body"].get("string", ""),
        )
        for i in recorded["interactions"]
    ]


@pytest.mark.parametrize(("run", "status"), [("compliant", "passed"), ("slow-recovery", "failed")])
def test_the_achieved_recovery_time_is_in_summary_matrix_and_oscal_and_is_the_recordings(
    runs: dict[str, Path], catalogue: Catalogue, run: str, status: str
) -> None:
    """The figures are worked out here from the recordings' own Date headers, not from the tool."""
    cassettes = ROOT / "cassettes" / ("profiles/" + run if run != "compliant" else "")
    restore = _answer_dates(cassettes / "backup_restore" / f"{RESTORE_SCENARIO}.yaml")
    [requested] = [at for method, path, at, _ in restore if method == "POST" and path.endswith("/restore")]
    active = min(at for method, path, at, active in restore if active and at > requested)
    validation = _answer_dates(cassettes / "restore_validation" / f"{RTO_SCENARIO}.yaml")
    validated = max(at for _, _, at, _ in validation)
    to_active = round((active - requested).total_seconds() / 60, 2)
    to_validated = round((validated - requested).total_seconds() / 60, 2)
    assert (to_active <= 2 and to_validated <= 2) == (status == "passed")

    run_dir = runs[run]
    stamp = requested.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _summary(run_dir)["recovery_time"] == {
        "cluster": "chsm-dest",
        "outcome": status,
        "rto_minutes": 2,
        "restore_requested_at": stamp,
        "minutes_to_active": to_active,
        "minutes_to_validated": to_validated,
        "measured": "recording",
    }
    header = (run_dir / "matrix.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    assert (
        f"**Recovery time:** the recording's: chsm-dest read Active {to_active:g} minutes and was validated "
        f"by {to_validated:g} minutes after the restore request at {stamp}; target RTO 2 minutes: {status}"
    ) in header
    document = _written(run_dir, catalogue)
    [observation] = [o for o in _observations(document).values() if _props(o).get("check") == "restore.rto"]
    props = _props(observation)
    assert (props["status"], props["rto-minutes"], props["restore-requested-at"]) == (status, "2", stamp)
    assert float(props["achieved-minutes-to-active"]) == to_active
    assert float(props["achieved-minutes-to-validated"]) == to_validated
    replayed = f"The recovery time is the recording's: its restore was requested at {stamp}"
    assert replayed in observation["remarks"]


def _large_run(tmp_path: Path, shipped_replay: SharedRun) -> tuple[Path, RunSummary]:
    """The shipped replay's run directory with its scenarios copied until it is a large run."""
    run_dir = Path(shutil.copytree(shipped_replay.run_dir, tmp_path / "large", symlinks=True))
    data = json.loads((run_dir / "summary.json").read_text())
    shipped = data["scenarios"]
    copies = -(-(LARGE_RUN_SCENARIOS + 1) // len(shipped))
    data["scenarios"] = [
        {**entry, "nodeid": f"{entry['nodeid']}[copy-{n}]", "name": f"{entry['name']} [copy {n}]"}
        for n in range(copies)
        for entry in shipped
    ]
    return run_dir, RunSummary.model_validate(data)


def test_a_large_runs_document_is_compact_ascii_and_valid_with_its_observations_and_findings_a_line_each(
    tmp_path: Path, shipped_replay: SharedRun, catalogue: Catalogue
) -> None:
    run_dir, summary = _large_run(tmp_path, shipped_replay)
    path = write_assessment_results(run_dir, catalogue, summary=summary)

    text = path.read_text(encoding="utf-8")
    assert text.isascii()
    document = json.loads(text)
    observations = document["assessment-results"]["results"][0]["observations"]
    findings = document["assessment-results"]["results"][0]["findings"]
    lines = text.splitlines()
    # What comes before the observations, each of them, what comes between, each finding, what comes after.
    assert len(lines) == len(observations) + len(findings) + 3
    assert lines[0].endswith('"observations": [')
    between = len(observations) + 1
    assert [json.loads(line.removesuffix(",")) for line in lines[1:between]] == observations
    assert lines[between] == '], "findings": ['
    assert [json.loads(line.removesuffix(",")) for line in lines[between + 1 : -1]] == findings
    assert lines[-1].startswith("], ")
    assert validate(document, DEFAULT_OSCAL_VERSION) == []
    assert validate_file(path, DEFAULT_OSCAL_VERSION) == []
    assert document == build_assessment_results(run_dir, summary, catalogue)
    observed = [
        remark
        for o in document["assessment-results"]["results"][0]["observations"]
        if "Observed:" in (remark := o.get("remarks", ""))
    ]
    assert observed  # and each one a line, as a tool reads it
    assert all(len(r.split("```json\n", 1)[1].split("\n```", 1)[0].splitlines()) == 1 for r in observed)


def _drop_uuid_of_observation(number: int) -> Any:
    def edit(lines: list[str]) -> None:
        line = lines[1 + number]
        comma = "," if line.endswith(",") else ""
        observation = json.loads(line.removesuffix(","))
        del observation["uuid"]
        lines[1 + number] = json.dumps(observation) + comma

    return edit


def _drop_uuid_of_finding(number: int) -> Any:
    def edit(lines: list[str]) -> None:
        at = lines.index('], "findings": [') + 1 + number
        comma = "," if lines[at].endswith(",") else ""
        finding = json.loads(lines[at].removesuffix(","))
        del finding["uuid"]
        lines[at] = json.dumps(finding) + comma

    return edit


def _drop_metadata_title(lines: list[str]) -> None:
    head = lines[0]
    assert head.count('"title": ') >= 1
    lines[0] = head.replace('"metadata": {"title": ', '"metadata": {"heading": ', 1)


@pytest.mark.parametrize("oscal_version", OSCAL_VERSIONS)
@pytest.mark.parametrize(
    "edit",
    [
        _drop_uuid_of_observation(0),
        _drop_uuid_of_observation(7),
        _drop_uuid_of_finding(0),
        _drop_uuid_of_finding(3),
        _drop_metadata_title,
    ],
    ids=["first-observation", "eighth-observation", "first-finding", "fourth-finding", "metadata"],
)
def test_a_large_document_validated_a_piece_at_a_time_finds_what_validating_it_whole_finds(
    tmp_path: Path, shipped_replay: SharedRun, catalogue: Catalogue, oscal_version: str, edit: Any
) -> None:
    run_dir, summary = _large_run(tmp_path, shipped_replay)
    path = write_assessment_results(run_dir, catalogue, summary=summary, oscal_version=oscal_version)
    lines = path.read_text(encoding="utf-8").splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    problems = validate_file(path, oscal_version)

    assert problems
    assert problems == validate(json.loads(path.read_text(encoding="utf-8")), oscal_version)


def test_a_large_document_cut_short_is_not_json(
    tmp_path: Path, shipped_replay: SharedRun, catalogue: Catalogue
) -> None:
    run_dir, summary = _large_run(tmp_path, shipped_replay)
    path = write_assessment_results(run_dir, catalogue, summary=summary)
    path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:5]) + "\n", encoding="utf-8")

    [problem] = validate_file(path, DEFAULT_OSCAL_VERSION)

    assert problem.startswith("$: not JSON (")
