"""The pexpect drivers against small stand-in utilities (real processes) that misbehave on purpose."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from chsm_checks.hsm.errors import HsmSessionError
from chsm_checks.hsm.sessions import KeyUtilSession, MgmtUtilSession, Timeouts, UtilityDriver

BANNER = "Version info, Client Version: 2.09.07.02\\n\\n"
UTILITY = f"""\
import sys, time
behaviour = sys.argv[1]
answers = open(sys.argv[2], "a")
out = sys.stdout
def say(text):
    out.write(text); out.flush()
if behaviour == "exit-early":
    say("{BANNER}LIQUIDSECURITY: Daemon socket connection error\\n")
    sys.exit(2)
prompt = "cloudmgmt>" if behaviour in ("rbi", "yn") else "Command: "
say("{BANNER}" + prompt)
for line in sys.stdin:
    command = line.strip()
    answers.write("typed " + command + "\\n"); answers.flush()
    if behaviour == "garbage":
        say("%%% \\x07 nothing a parser knows %%%\\n" + prompt)
    elif behaviour == "hang":
        say(command + "\\n")
        time.sleep(3600)
    elif behaviour == "password":
        say("Enter password: ")
    elif behaviour == "rbi":
        say("loginHSM failed: RET_USER_LOGIN_FAILURE\\nloginHSM failed on server 0(10.0.2.5)\\n")
        say("Retry/rollBack/Ignore?(R/B/I):")
        answers.write("answered " + sys.stdin.readline().strip() + "\\n"); answers.flush()
        say("Rolling back loginHSM on the servers that succeeded\\n" + prompt)
    elif behaviour == "yn":
        say("*************************CAUTION********************************\\n")
        say("Do you want to continue(y/n)?")
        answers.write("answered " + sys.stdin.readline().strip() + "\\n"); answers.flush()
        say(prompt)
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    script = tmp_path / "fake_utility.py"
    script.write_text(UTILITY)
    return script


def _driver(
    fake: Path, tmp_path: Path, behaviour: str, prompt: object, command_timeout: float = 5
) -> UtilityDriver:
    answers = tmp_path / "answers.txt"
    return UtilityDriver(
        "azcloudhsm_util",
        [sys.executable, str(fake), behaviour, str(answers)],
        prompt,  # type: ignore[arg-type]
        cwd=tmp_path,
        env=None,
        timeouts=Timeouts(startup=10, command=command_timeout),
        recorder=None,
    )


def _answers(tmp_path: Path) -> list[str]:
    path = tmp_path / "answers.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_a_utility_that_exits_at_start_is_an_error_with_its_last_lines(fake: Path, tmp_path: Path) -> None:
    driver = _driver(fake, tmp_path, "exit-early", KeyUtilSession.PROMPT)
    with pytest.raises(HsmSessionError) as raised:
        KeyUtilSession(driver, Path.read_text).start()
    assert raised.value.command == "(start)"
    assert "exited (status 2)" in raised.value.problem
    assert "Daemon socket connection error" in raised.value.tail
    assert "Command:" in raised.value.expected


def test_a_hung_command_is_an_error_after_its_timeout(fake: Path, tmp_path: Path) -> None:
    driver = _driver(fake, tmp_path, "hang", KeyUtilSession.PROMPT, command_timeout=0.5)
    session = KeyUtilSession(driver, Path.read_text)
    session.start()
    with pytest.raises(HsmSessionError) as raised:
        session.find_keys()
    assert raised.value.command == "findKey"
    assert "no answer within 0.5 s" in raised.value.problem
    assert "findKey" in raised.value.tail
    assert not driver.child.isalive()


def test_garbage_output_is_an_error_naming_what_was_expected(fake: Path, tmp_path: Path) -> None:
    driver = _driver(fake, tmp_path, "garbage", KeyUtilSession.PROMPT)
    session = KeyUtilSession(driver, Path.read_text)
    session.start()
    with pytest.raises(HsmSessionError) as raised:
        session.find_keys(label="backup-aes-1")
    assert raised.value.command == "findKey -l backup-aes-1"
    assert raised.value.problem == "unparseable output"
    assert "nothing a parser knows" in raised.value.tail
    driver.kill()


def test_a_password_prompt_ends_the_session_instead_of_hanging(fake: Path, tmp_path: Path) -> None:
    driver = _driver(fake, tmp_path, "password", KeyUtilSession.PROMPT)
    session = KeyUtilSession(driver, Path.read_text)
    session.start()
    with pytest.raises(HsmSessionError) as raised:
        session.find_keys()
    assert "password prompt" in raised.value.problem
    driver.kill()


def test_the_lockout_prompt_is_answered_roll_back_and_the_login_is_not_retried(
    fake: Path, tmp_path: Path
) -> None:
    driver = _driver(fake, tmp_path, "rbi", MgmtUtilSession.PROMPT)
    session = MgmtUtilSession(driver)
    driver.start()

    results = session.login("CU", "cu1", "wrong-password-1")

    assert [r.success for r in results] == [False]
    assert results[0].server == 0
    assert "RET_USER_LOGIN_FAILURE" in results[0].detail
    assert _answers(tmp_path) == ["typed loginHSM CU cu1 wrong-password-1", "answered B"]
    assert driver.typed == ["loginHSM", "B"]
    driver.kill()


def test_a_yes_no_question_is_answered_no(fake: Path, tmp_path: Path) -> None:
    driver = _driver(fake, tmp_path, "yn", MgmtUtilSession.PROMPT)
    driver.start()
    driver.run("deleteUser CU cu9")
    assert _answers(tmp_path) == ["typed deleteUser CU cu9", "answered n"]
    driver.kill()


def test_a_missing_utility_is_an_error_not_a_crash(tmp_path: Path) -> None:
    missing = tmp_path / "azcloudhsm_util"
    missing.write_text("#!/bin/sh\nexit 0\n")
    missing.chmod(missing.stat().st_mode & ~stat.S_IXUSR & ~stat.S_IXGRP & ~stat.S_IXOTH)
    from chsm_checks.hsm.runner import HsmRunner

    runner = HsmRunner(
        mgmt_util=str(tmp_path / "azcloudhsm_mgmt_util"), util=str(missing), mgmt_config="x.cfg",
        transcript_path=tmp_path / "t.yaml", workdir=tmp_path, timeouts=Timeouts(5, 5), password=lambda: "pw",
    )  # fmt: skip
    with pytest.raises(HsmSessionError) as raised, runner.key_session():
        pass
    assert "is not one" in raised.value.problem
