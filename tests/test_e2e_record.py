"""Record against the real sandbox process, then replay the new cassettes with the network unavailable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.processes import ROOT, Sandbox, run_cli, sandbox_process, summary

SANDBOX_TARGET = (ROOT / "targets" / "sandbox.toml").read_text()


def _sandbox_target(tmp_path: Path, sandbox: Sandbox) -> Path:
    path = tmp_path / "sandbox.toml"
    path.write_text(SANDBOX_TARGET.replace("http://127.0.0.1:8765", sandbox.url))
    return path


def _outcomes(report_dir: Path) -> dict[str, str]:
    return {e["name"]: e["outcome"] for e in summary(report_dir)["scenarios"]}


def _without_stamp(path: Path) -> object:
    data = yaml.safe_load(path.read_text())
    data["metadata"]["provenance"].pop("recorded_at")
    return data


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("recorded")
    cassettes = tmp_path / "cassettes"
    with sandbox_process(tmp_path / "state") as sandbox:
        target = _sandbox_target(tmp_path, sandbox)
        result = run_cli(
            "run", "--mode", "record", "--allow-mutations", "--target", str(target),
            "--cassettes", str(cassettes), "--reports", str(tmp_path / "record"),
        )  # fmt: skip
        assert result.returncode == 0, result.output
        # The guard's scenarios ran against the real server: it never saw a restore into the source.
        posts = [r for r in sandbox.requests() if r["method"] == "POST"]
        assert [p["path"].rsplit("/", 1)[-1] for p in posts] == ["backup", "backup", "restore", "backup"]
        assert sandbox.get("/_sandbox/state")["received_tokens"] == 0
    return cassettes, tmp_path


def test_record_then_replay_offline_gives_the_same_outcomes(recorded: tuple[Path, Path]) -> None:
    cassettes, tmp_path = recorded

    replay = run_cli(
        "run", "--cassettes", str(cassettes), "--reports", str(tmp_path / "replay"), offline=True
    )

    assert replay.returncode == 0, replay.output
    assert _outcomes(tmp_path / "replay") == _outcomes(tmp_path / "record")
    assert set(_outcomes(tmp_path / "replay").values()) == {"passed"}
    assert summary(tmp_path / "record")["evidence"] == "LIVE"


def test_a_fresh_recording_matches_the_shipped_cassettes_byte_for_byte(recorded: tuple[Path, Path]) -> None:
    cassettes, _ = recorded
    new = sorted(p.relative_to(cassettes) for p in cassettes.rglob("*.yaml"))
    shipped = sorted(p.relative_to(ROOT / "cassettes") for p in (ROOT / "cassettes").rglob("*.yaml"))
    assert new == shipped
    for rel in new:
        assert _without_stamp(cassettes / rel) == _without_stamp(ROOT / "cassettes" / rel), rel


def test_recorded_cassettes_hold_no_sandbox_ids_ports_or_signatures(recorded: tuple[Path, Path]) -> None:
    cassettes, _ = recorded
    text = "\n".join(p.read_text() for p in cassettes.rglob("*.yaml"))
    assert "5a4db0c5-bb2d" not in text  # the sandbox subscription
    assert "x-ms-operation-identifier" not in text
    assert "127.0.0.1:" not in text
    for param in ("t", "c", "s", "h"):
        assert f"&{param}=REDACTED" in text
    assert "authorization:" not in text.lower()
    assert "bearer" not in text.lower()


def test_live_without_allow_mutations_sends_no_backup_or_restore(tmp_path: Path) -> None:
    with sandbox_process(tmp_path / "state") as sandbox:
        target = _sandbox_target(tmp_path, sandbox)
        result = run_cli("run", "--mode", "live", "--target", str(target), "--reports", str(tmp_path / "r"))
        methods = {r["method"] for r in sandbox.requests()}

    assert methods <= {"GET"}
    outcomes = _outcomes(tmp_path / "r")
    assert result.returncode == 0, result.output
    mutating = [e for e in summary(tmp_path / "r")["scenarios"] if "mutating" in e["tags"]]
    assert {e["outcome"] for e in mutating} == {"not_applicable"}
    assert all("does not allow mutations" in e["message"] for e in mutating)
    assert outcomes["A restore into the source cluster is refused before any request is sent"] == "passed"


def test_the_guard_refuses_a_restore_into_an_activated_destination_on_the_sandbox(tmp_path: Path) -> None:
    with sandbox_process(tmp_path / "state") as sandbox:
        sandbox.patch_cluster("chsm-dest", {"activationState": "Active"})
        target = _sandbox_target(tmp_path, sandbox)
        run_cli(
            "run", "--mode", "live", "--allow-mutations", "--target", str(target),
            "--reports", str(tmp_path / "r"), "-k", "already_activated",
        )  # fmt: skip
        requests = sandbox.requests()

    assert _outcomes(tmp_path / "r") == {
        "A restore into an already activated cluster is refused before any restore request is sent": "passed"
    }
    assert [r["method"] for r in requests] == ["GET", "GET"]
