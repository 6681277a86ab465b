"""Record against the real sandbox process, then replay the new recordings with the network unavailable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chsm_checks.record_profiles import record_profile
from tests.support.processes import ROOT, Sandbox, project_copy, run_cli, sandbox_process, summary


def _pointed_at(sandbox: Sandbox) -> tuple[str, ...]:
    """The project's sandbox target, addressing ``sandbox``."""
    return ("--target", "targets/sandbox.toml", *sandbox.addressed)


def _outcomes(report_dir: Path) -> dict[str, str]:
    return {e["name"]: e["outcome"] for e in summary(report_dir)["scenarios"]}


def _reference_recording_date() -> str:
    """The ``SOURCE_DATE_EPOCH`` the README's re-recording exports: the shipped recordings' date."""
    match = re.search(r"^export SOURCE_DATE_EPOCH=(\d+)\b", (ROOT / "README.md").read_text(), re.M)
    assert match is not None, "the README's re-recording exports no SOURCE_DATE_EPOCH"
    return match[1]


def _recordings(directory: Path) -> dict[Path, bytes]:
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*.yaml"))}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project copy whose cassettes were re-recorded against a fresh sandbox whose state is not the
    project's .sandbox: the recordings name its HSM client as the sandbox's, wherever it is."""
    tmp_path = tmp_path_factory.mktemp("recorded")
    project = project_copy(tmp_path)
    cassettes = project / "cassettes"
    for old in cassettes.rglob("*.yaml"):
        old.unlink()
    # As the README re-records them: on the sandbox's recorded clock, dated SOURCE_DATE_EPOCH.
    with sandbox_process(tmp_path / "elsewhere", "--clock", "recorded") as sandbox:
        result = run_cli(
            "run", "--mode", "record", "--allow-mutations", *_pointed_at(sandbox),
            "--reports", str(tmp_path / "record"), cwd=project,
            env_extra={"SOURCE_DATE_EPOCH": _reference_recording_date()},
        )  # fmt: skip
        assert result.returncode == 0, result.output
        # The guard's scenarios ran against the real server: it never saw a restore into the source.
        posts = [r for r in sandbox.requests() if r["method"] == "POST"]
        assert [p["path"].rsplit("/", 1)[-1] for p in posts] == ["backup", "backup", "restore", "backup"]
        assert sandbox.get("/_sandbox/state")["received_tokens"] == 0
    return project, tmp_path


def test_record_then_replay_offline_gives_the_same_outcomes(recorded: tuple[Path, Path]) -> None:
    project, tmp_path = recorded

    replay = run_cli("run", "--reports", str(tmp_path / "replay"), cwd=project, offline=True)

    assert replay.returncode == 0, replay.output
    assert _outcomes(tmp_path / "replay") == _outcomes(tmp_path / "record")
    assert set(_outcomes(tmp_path / "replay").values()) == {"passed"}
    assert summary(tmp_path / "record")["evidence"] == "LIVE"


def test_a_fresh_recording_is_the_shipped_one_byte_for_byte(recorded: tuple[Path, Path]) -> None:
    project, _ = recorded
    shipped = {
        rel: data
        for rel, data in _recordings(ROOT / "cassettes").items()
        # Recorded by record-profiles, or imported from another tool's recording: not by a record run.
        if rel.parts[0] not in ("profiles", "imported")
    }

    new = _recordings(project / "cassettes")

    assert sorted(new) == sorted(shipped)
    assert [rel for rel in new if new[rel] != shipped[rel]] == []


def test_record_profiles_records_a_profile_as_shipped_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", _reference_recording_date())
    profile = "destination-active"

    exit_code = record_profile(profile, tmp_path, ROOT / "targets" / "sandbox.toml")

    assert exit_code == 1  # the profile's fault is a finding
    shipped = _recordings(ROOT / "cassettes" / "profiles" / profile)
    new = _recordings(tmp_path / profile)
    assert sorted(new) == sorted(shipped)
    assert [rel for rel in new if new[rel] != shipped[rel]] == []


def test_recordings_hold_no_sandbox_ids_ports_signatures_or_passwords(recorded: tuple[Path, Path]) -> None:
    project, tmp_path = recorded
    written = [p for p in (project / "cassettes").rglob("*") if p.is_file()]
    written += [p for p in (tmp_path / "record").rglob("*") if p.is_file()]
    text = "\n".join(p.read_text(errors="replace") for p in written)
    cassette_text = "\n".join(p.read_text() for p in (project / "cassettes").rglob("*.yaml"))
    assert "5a4db0c5-bb2d" not in cassette_text  # the sandbox subscription
    assert "x-ms-operation-identifier" not in cassette_text
    assert "127.0.0.1:" not in cassette_text
    for param in ("t", "c", "s", "h"):
        assert f"&{param}=REDACTED" in cassette_text
    assert "authorization:" not in cassette_text.lower()
    assert "bearer" not in cassette_text.lower()
    assert "sandbox-cu-password" not in text
    assert "chsm-checks-wrong-password" not in text


def test_live_without_allow_mutations_sends_no_backup_or_restore(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox") as sandbox:
        result = run_cli(
            "run", "--mode", "live", *_pointed_at(sandbox), "--reports", str(tmp_path / "r"),
            "--", "-m", "not hsm", cwd=project,
        )  # fmt: skip
        methods = {r["method"] for r in sandbox.requests()}

    assert methods <= {"GET"}
    outcomes = _outcomes(tmp_path / "r")
    assert result.returncode == 0, result.output
    mutating = [e for e in summary(tmp_path / "r")["scenarios"] if "mutating" in e["tags"]]
    assert {e["outcome"] for e in mutating} == {"not_applicable"}
    assert all("does not allow mutations" in e["message"] for e in mutating)
    assert outcomes["A restore into the source cluster is refused before any request is sent"] == "passed"


def test_the_guard_refuses_a_restore_into_an_activated_destination_on_the_sandbox(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox") as sandbox:
        sandbox.patch_cluster("chsm-dest", {"activationState": "Active"})
        run_cli(
            "run", "--mode", "live", "--allow-mutations", *_pointed_at(sandbox),
            "--reports", str(tmp_path / "r"), "-k", "already_activated", cwd=project,
        )  # fmt: skip
        requests = sandbox.requests()

    assert _outcomes(tmp_path / "r") == {
        "A restore into an already activated cluster is refused before any restore request is sent": "passed"
    }
    assert [r["method"] for r in requests] == ["GET", "GET"]
