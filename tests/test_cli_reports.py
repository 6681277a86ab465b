"""The report-building side of the command line: OSCAL versions, `report` and `merge` rebuilding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chsm_checks.reports.oscal_schema import validate
from tests.support.processes import run_cli


@pytest.mark.parametrize("version", ["1.1.2", "1.2.1"])
def test_run_writes_the_oscal_version_asked_for(tmp_path: Path, version: str) -> None:
    result = run_cli(
        "run", "--reports", str(tmp_path), "--oscal-version", version, "--no-html", "--", "-m", "catalogue",
        offline=True,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    document = json.loads((tmp_path / "latest" / "oscal" / "assessment-results.json").read_text())
    assert document["assessment-results"]["metadata"]["oscal-version"] == version
    assert validate(document, version) == []


def test_report_rebuilds_and_reseals_a_run_but_never_a_tampered_one(tmp_path: Path) -> None:
    run_cli("run", "--reports", str(tmp_path), "--no-html", "--", "-m", "catalogue", offline=True)
    run_dir = (tmp_path / "latest").resolve()
    (run_dir / "matrix.html").unlink()

    tampered = run_cli("report", str(run_dir))
    assert tampered.returncode == 1
    assert "does not verify" in tampered.stderr

    run_cli("run", "--reports", str(tmp_path / "again"), "--no-html", "--", "-m", "catalogue", offline=True)
    again = (tmp_path / "again" / "latest").resolve()
    rebuilt = run_cli("report", str(again))
    assert rebuilt.returncode == 0, rebuilt.output
    assert run_cli("verify", str(again)).returncode == 0


def test_merged_shards_carry_rebuilt_reports_and_verify(tmp_path: Path) -> None:
    run_cli("run", "--reports", str(tmp_path / "a"), "--no-html", "-k", "exactly_one", offline=True)
    run_cli("run", "--reports", str(tmp_path / "b"), "--no-html", "-k", "provisioned or sku", offline=True)

    merged = run_cli(
        "merge", str(tmp_path / "a" / "latest"), str(tmp_path / "b" / "latest"), "--out", str(tmp_path / "m")
    )

    assert merged.returncode == 0, merged.output
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    matrix = (tmp_path / "m" / "matrix.md").read_text()
    assert len(summary["scenarios"]) == summary["counts"]["passed"]
    assert all(entry["name"].split(" [")[0] in matrix for entry in summary["scenarios"])
    assert (tmp_path / "m" / "oscal" / "assessment-results.json").is_file()
    verified = run_cli("verify", str(tmp_path / "m"))
    assert verified.returncode == 0
    # Both shards were selections: the merge says so, with each one's expression.
    assert summary["partial"] is True
    assert "PARTIAL: merged from runs that were selections" in verified.stdout
    assert "by -k 'exactly_one'" in verified.stdout
    assert "PARTIAL: merged from runs that were selections" in matrix


def _key_files(directory: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_report_never_reseals_with_a_trusted_key_what_an_untrusted_key_sealed(tmp_path: Path) -> None:
    """A bundle anyone made and sealed with their own key does not come out "signed by a trusted key"."""
    trusted, trusted_public = _key_files(tmp_path, "trusted")
    forger, forger_public = _key_files(tmp_path, "forger")
    run_cli("run", "--reports", str(tmp_path / "forged"), "--no-html", "--signing-key", str(forger),
            "--", "-m", "catalogue", offline=True)  # fmt: skip
    forged = (tmp_path / "forged" / "latest").resolve()

    laundered = run_cli("report", str(forged), "--signing-key", str(trusted))
    assert laundered.returncode == 1
    assert "sealed by a key nobody here trusts" in laundered.stderr
    assert run_cli("verify", str(forged), "--public-key", str(trusted_public)).returncode == 1

    # Its signer named as trusted, or the same key sealing again: then it may be re-sealed.
    vouched = run_cli(
        "report", str(forged), "--signing-key", str(trusted), "--public-key", str(forger_public)
    )
    assert vouched.returncode == 0, vouched.output
    assert run_cli("verify", str(forged), "--public-key", str(trusted_public)).returncode == 0
    again = run_cli("report", str(forged), "--signing-key", str(trusted))
    assert again.returncode == 0, again.output
