"""Each faulty sandbox profile, replayed: exactly its expected checks fail, naming the expected resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from chsm_checks.record_profiles import DRILL_SELECTION, profile_selection
from chsm_checks.sandbox.profiles import PROFILES
from tests.support.processes import ROOT, run_cli, summary

EXPECTED: dict[str, set[tuple[str, str]]] = {
    "shared-key-default": {("storage.shared-key-disabled", "chsmbackupsbx")},
    "endpoint-pending": {("storage.private-endpoint", "pe-chsmbackupsbx-blob")},
    "public-network-open": {("storage.public-network", "chsmbackupsbx")},
    "role-other-principal": {("access.blob-data-contributor", "id-chsm-backup")},
    "owner-instead-of-contributor": {
        ("access.blob-data-contributor", "id-chsm-backup"),
        ("access.least-privilege", "id-chsm-backup"),
    },
    # The cluster's second identity holds no role either: the access check says so for that identity.
    "two-identities": {
        ("identity.single-user-assigned", "chsm-source"),
        ("access.blob-data-contributor", "id-chsm-extra"),
    },
    "destination-active": {("clusters.destination-not-activated", "chsm-dest")},
    "tls-1-0": {("storage.minimum-tls", "chsmbackupsbx")},
    "blob-soft-delete-off": {("storage.blob-soft-delete", "default")},
    "container-soft-delete-off": {("storage.container-soft-delete", "default")},
    "versioning-off": {("storage.versioning", "default")},
    "immutability-absent": {("storage.immutability", "chsm-backups")},
    "locally-redundant": {("storage.geo-redundant", "chsmbackupsbx")},
    "unlocked": {
        ("locks.delete-protected", "chsmbackupsbx"),
        ("locks.delete-protected", "chsm-source"),
        ("locks.delete-protected", "chsm-dest"),
    },
    "cluster-public-network": {("clusters.private", "chsm-source")},
    "cluster-logs-off": {("logging.cluster-audit", "chsm-source")},
    "blob-reads-unlogged": {("logging.blob-access", "default")},
    "backup-overdue": {("backup.rpo", "chsm-source")},
    # A drill profile: its recording is the restore drill (record_profiles.DRILL_SELECTION).
    "slow-recovery": {("restore.rto", "chsm-dest")},
}


def _replay_catalogue(
    tmp_path: Path, cassettes: Path, *extra: str, selection: str = "catalogue"
) -> dict[str, object]:
    reports = tmp_path / "reports"
    result = run_cli(
        "run",
        "--cassettes",
        str(cassettes),
        "--reports",
        str(reports),
        *extra,
        "--",
        "-m",
        selection,
        offline=True,
    )
    assert result.returncode in (0, 1), result.output
    return summary(reports)


def _failed(report: dict[str, object]) -> set[tuple[str, str]]:
    return {
        (f["check"], f["resource"].rsplit("/", 1)[-1])
        for e in report["scenarios"]  # type: ignore[attr-defined]
        for f in e["findings"]
        if f["status"] == "failed"
    }


def _outcomes(report: dict[str, object]) -> dict[str, str]:
    return {e["name"]: e["outcome"] for e in report["scenarios"]}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def compliant(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _replay_catalogue(tmp_path_factory.mktemp("compliant"), ROOT / "cassettes")


@pytest.fixture(scope="module")
def compliant_drill(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _replay_catalogue(tmp_path_factory.mktemp("drill"), ROOT / "cassettes", selection=DRILL_SELECTION)


def test_every_faulty_profile_is_covered() -> None:
    assert set(EXPECTED) == set(PROFILES) - {"compliant"}


def test_the_compliant_catalogue_is_all_green(compliant: dict[str, object]) -> None:
    assert set(_outcomes(compliant).values()) == {"passed"}
    assert _failed(compliant) == set()


@pytest.mark.parametrize("profile", sorted(EXPECTED))
def test_a_faulty_profile_fails_exactly_its_checks(
    profile: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    selection = profile_selection(profile)
    compliant = request.getfixturevalue("compliant_drill" if PROFILES[profile].drill else "compliant")
    report = _replay_catalogue(tmp_path, ROOT / "cassettes" / "profiles" / profile, selection=selection)

    assert _failed(report) == EXPECTED[profile]
    failing_checks = {check for check, _ in EXPECTED[profile]}
    changed = {
        name: outcome for name, outcome in _outcomes(report).items() if outcome != _outcomes(compliant)[name]
    }
    assert set(changed.values()) == {"failed"}
    for entry in report["scenarios"]:  # type: ignore[attr-defined]
        checks = {f["check"] for f in entry["findings"]}
        assert (entry["name"] in changed) == bool(checks & failing_checks), entry["name"]
