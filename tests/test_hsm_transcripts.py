"""Transcripts: tampering is caught by the replayer, broken files are configuration errors."""

from __future__ import annotations

import shutil
import signal
import sys
from functools import partial
from pathlib import Path

import pexpect
import pytest
import yaml

from chsm_checks.errors import ConfigError, ReplayMissError
from chsm_checks.hsm import drill
from chsm_checks.hsm.errors import HsmSessionError
from chsm_checks.hsm.forked import ForkedSpawn
from chsm_checks.hsm.redact import REDACTED, redact_text
from chsm_checks.hsm.replayer import EXIT_MISMATCH, perform
from chsm_checks.hsm.runner import HsmRunner
from chsm_checks.hsm.sessions import Timeouts
from chsm_checks.hsm.transcript import load_transcript
from chsm_checks.modes import mode_named
from tests.check_fixtures import DESTINATION_ID, failed_messages
from tests.support.processes import ROOT

SHIPPED = (
    ROOT
    / "cassettes"
    / "restore_validation"
    / "every_node_answers_success_for_the_login_and_for_findkey.transcript.yaml"
)


def _replay_runner(transcript: Path, workdir: Path) -> HsmRunner:
    return mode_named("replay").hsm_runner(
        mgmt_util="azcloudhsm_mgmt_util", util="azcloudhsm_util", mgmt_config="unused.cfg",
        transcript_path=transcript, workdir=workdir, timeouts=Timeouts(10, 5), password=lambda: "never-asked",
    )  # fmt: skip


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "t.transcript.yaml"
    shutil.copy(SHIPPED, copy)
    return copy


def test_the_shipped_transcript_replays(tmp_path: Path) -> None:
    inventory = drill.key_inventory(_replay_runner(_copy(tmp_path), tmp_path), "cu1")
    assert inventory.login.ok
    assert len(inventory.keys) == 5
    assert failed_messages(drill.nodes_answer_success(DESTINATION_ID, inventory)) == []


def test_a_changed_command_fails_replay_loudly(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    data = yaml.safe_load(path.read_text())
    events = data["sessions"][0]["events"]
    position = next(i for i, e in enumerate(events) if e.get("in") == "findKey")
    events[position] = {"in": "findKey -l someone-elses-key"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    with pytest.raises(HsmSessionError) as raised:
        drill.key_inventory(_replay_runner(path, tmp_path), "cu1")

    assert raised.value.command == "findKey"
    assert "replay mismatch" in raised.value.tail
    assert "someone-elses-key" in raised.value.tail


def test_a_session_the_transcript_lacks_is_a_replay_miss(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["sessions"] = []
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    with pytest.raises(ReplayMissError):
        drill.key_inventory(_replay_runner(path, tmp_path), "cu1")


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("sessions: [unclosed", "not a readable transcript"),
        ("format: something-else\n", "format:"),
        ("!!python/object/apply:os.system ['true']\n", "not a readable transcript"),
    ],
)
def test_a_broken_transcript_is_a_configuration_error(tmp_path: Path, content: str, field: str) -> None:
    path = tmp_path / "bad.transcript.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        load_transcript(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert field in str(raised.value)


def test_an_event_of_an_unknown_kind_is_a_configuration_error(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["sessions"][0]["events"].insert(1, {"shell": "rm -rf /"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"sessions\[0\]\.events\[1\]"):
        load_transcript(path)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Command:  loginHSM -u CU -s cu1 -p Pw!x^7&z\r\n", "Pw!x^7&z"),
        ("cloudmgmt>loginHSM CO admin adm1n-pa55\n", "adm1n-pa55"),
        ("createUser CU bob n3w-Pass!\n", "n3w-Pass!"),
        ("changePswd CU bob n3w-Pass!\n", "n3w-Pass!"),
        ("export azcloudhsm_password=s3cret-v4lue\n", "s3cret-v4lue"),
        ("HSM_PASSWORD=s3cret-v4lue ./run\n", "s3cret-v4lue"),
    ],
)
def test_documented_password_positions_are_redacted(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "reply",
    [
        "loginHSM success on server 0(10.0.2.5)",
        "loginHSM failed on server 2(10.0.2.7)",
        "Rolling back loginHSM on the servers that succeeded",
        "createUser success on server 1(10.0.2.6)",
    ],
)
def test_replies_that_name_a_command_are_not_redacted(reply: str) -> None:
    assert redact_text(reply + "\r\n") == reply + "\r\n"


def test_a_known_secret_is_redacted_wherever_it_appears_even_across_lines() -> None:
    text = "partial echo: abc\r\nthe password Canary-7731 appears in free text\r\n"
    assert "Canary-7731" not in redact_text(text, ["Canary-7731"])


HUNG = ROOT / "cassettes" / "restore_validation"
HUNG = HUNG / "a_utility_that_stops_answering_ends_as_an_error_after_its_timeout.transcript.yaml"


def test_a_recorded_hang_is_the_timeout_the_live_run_waited_out_without_waiting_it(tmp_path: Path) -> None:
    """The recording hung at findKey: replayed with an hour's timeout, the session still ends at once
    as the live one did after its timeout. An alarm fails the test if replay waits instead."""
    path = tmp_path / "hung.transcript.yaml"
    shutil.copy(HUNG, path)
    runner = _replay_runner(path, tmp_path)

    def waited(signum: int, frame: object) -> None:
        raise AssertionError("replay waited for a recorded hang instead of taking it as the timeout")

    previous = signal.signal(signal.SIGALRM, waited)
    signal.alarm(60)
    try:
        with runner.key_session() as session:
            assert session.login("cu1", runner.password()).ok
            with pytest.raises(HsmSessionError) as raised:
                session.find_keys(timeout=3600)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

    assert raised.value.command == "findKey"
    assert raised.value.problem == "no answer within 3600 s"
    assert "recorded-hang" not in raised.value.tail


def test_a_replayed_session_is_forked_from_the_run_not_executed(tmp_path: Path) -> None:
    runner = _replay_runner(_copy(tmp_path), tmp_path)
    with runner.key_session() as session:
        child = session.driver.child
        assert isinstance(child, ForkedSpawn)
        assert Path(f"/proc/{child.pid}/cmdline").read_bytes() == Path("/proc/self/cmdline").read_bytes()


def test_the_replayer_program_acts_a_session_as_the_forked_one_does(tmp_path: Path) -> None:
    transcript = load_transcript(SHIPPED)
    first = transcript.sessions[0]
    printed = "".join(
        str(e["out"]) for e in first.events[: next(i for i, e in enumerate(first.events) if "in" in e)]
    )
    program = [sys.executable, "-m", "chsm_checks.hsm.replayer", str(SHIPPED), "0", first.utility]
    spawned = [
        pexpect.spawn(program[0], program[1:], cwd=str(tmp_path), encoding="utf-8", timeout=30),
        ForkedSpawn(
            program[0], program[1:], act=partial(perform, transcript.sessions, 0, first.utility),
            cwd=str(tmp_path), encoding="utf-8", timeout=30,
        ),
    ]  # fmt: skip
    for child in spawned:
        child.expect_exact(printed)
        child.sendline("not what was recorded")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == EXIT_MISMATCH
        assert "replay mismatch: expected" in str(child.before)
        assert "got 'not what was recorded'" in str(child.before)
