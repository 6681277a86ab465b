"""A waiver turns a finding into *waived* until its expiry, and not after; a bad waiver file stops the run."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import ROOT, run_cli, summary

PROFILE = ROOT / "cassettes" / "profiles" / "shared-key-default"
ACCOUNT = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-chsm-sandbox"
    "/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
)


def _waiver_file(tmp_path: Path, expires: str, resource: str = ACCOUNT) -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(
        f"""
[[waiver]]
check = "storage.shared-key-disabled"
resource = "{resource}"
justification = "Legacy backup tooling needs shared key until the migration in Q3 completes."
approver = "ciso@example.com"
approved_on = 2026-01-15
expires = {expires}
ticket = "RISK-1234"
"""
    )
    return path


def _run(tmp_path: Path, waivers: Path) -> tuple[int, dict[str, object], str]:
    reports = tmp_path / "reports"
    result = run_cli(
        "run", "--cassettes", str(PROFILE), "--reports", str(reports), "--", "-m", "catalogue",
        f"--waivers={waivers}", offline=True,
    )  # fmt: skip
    return result.returncode, summary(reports), result.output


def _entry(report: dict[str, object]) -> dict[str, object]:
    return next(e for e in report["scenarios"] if "shared key" in e["name"])  # type: ignore[attr-defined]


def test_a_live_waiver_waives_the_finding_and_keeps_it_visible(tmp_path: Path) -> None:
    code, report, _ = _run(
        tmp_path, _waiver_file(tmp_path, "2099-01-01T00:00:00Z", ACCOUNT.replace("chsmbackupsbx", "chsm*"))
    )

    assert code == 0
    entry = _entry(report)
    assert entry["outcome"] == "waived"
    [finding] = entry["findings"]
    assert finding["status"] == "waived"
    assert finding["waiver"]["approver"] == "ciso@example.com"
    assert finding["waiver"]["ticket"] == "RISK-1234"
    assert report["counts"]["waived"] == 1
    assert report["counts"]["failed"] == 0


def test_an_expired_waiver_no_longer_applies_and_the_run_says_so(tmp_path: Path) -> None:
    code, report, output = _run(tmp_path, _waiver_file(tmp_path, "2026-02-01T00:00:00Z"))

    assert code == 1
    assert _entry(report)["outcome"] == "failed"
    assert report["counts"]["waived"] == 0
    assert any("expired on 2026-02-01" in note for note in report["waiver_notes"])
    assert "expired on 2026-02-01" in output


def test_a_waiver_without_an_approver_is_a_configuration_error(tmp_path: Path) -> None:
    path = _waiver_file(tmp_path, "2099-01-01T00:00:00Z")
    path.write_text(path.read_text().replace('approver = "ciso@example.com"\n', ""))

    result = run_cli(
        "run", "--cassettes", str(PROFILE), "--reports", str(tmp_path / "r"), "--", f"--waivers={path}"
    )

    assert result.returncode == 2
    assert f"{path}: waiver[1].approver: required field is missing" in result.output
    assert "Traceback" not in result.output
