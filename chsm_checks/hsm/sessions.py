"""pexpect sessions with ``azcloudhsm_mgmt_util`` and ``azcloudhsm_util``.

One class per utility over one driver. Every command has an explicit timeout; the prompts that
would hang a run are recognised and answered safely (``Retry/rollBack/Ignore`` → roll back,
``(y/n)`` → no) or end the session (a password prompt). A login is sent once: a failure is
returned with its code and never retried, because repeated failures lock the user out.
Passwords are typed at the prompt, never put on the spawned process's argument list.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pexpect

from .errors import HsmSessionError
from .forked import ForkedSpawn
from .logins import RefusedLogins
from .parsers import (
    ClusterInfo,
    FindKeyResult,
    HsmParseError,
    KeyInfo,
    KeyUtilResult,
    MgmtStartup,
    ReturnCode,
    ServerResult,
    parse_attributes,
    parse_cluster_info,
    parse_find_key,
    parse_get_attribute,
    parse_key_info,
    parse_list_users,
    parse_login,
    parse_mgmt_startup,
    parse_return_code,
    parse_server_results,
)
from .redact import redact_line, redact_text
from .transcript import SessionRecorder

_RBI = re.compile(r"Retry/rollBack/Ignore\?\s*\(R/B/I\):\s?\Z")
_YES_NO = re.compile(r"\(y/n\)\?\s?\Z")
_PASSWORD = re.compile(r"(?i)(?:enter|new|re-?enter)?\s*password\s*:\s?\Z")
TAIL_LINES = 12


@dataclass(frozen=True)
class Timeouts:
    startup: float = 60.0
    command: float = 30.0


def _tail(text: str) -> str:
    lines = [line for line in text.replace("\r", "").split("\n") if line.strip()]
    return "\n".join(lines[-TAIL_LINES:])


# The patterns of UtilityDriver.wait whose match is the utility's own output (prompt, questions, EOF);
# after them come a replayed hang's signal and the timeout, which are not.
_ANSWERED = 5


class UtilityDriver:
    """A spawned utility: send a line, wait for the prompt, answer what must never hang a run."""

    def __init__(
        self,
        utility: str,
        argv: list[str],
        prompt: re.Pattern[str],
        *,
        cwd: Path,
        env: dict[str, str] | None,
        timeouts: Timeouts,
        recorder: SessionRecorder | None,
        secrets: Iterable[str] = (),
        recorded_hang: str | None = None,
        act: Callable[[], int] | None = None,
    ) -> None:
        """``act``, when given, is what the session's process runs, forked on the pty in place of
        executing ``argv`` (:class:`~chsm_checks.hsm.forked.ForkedSpawn`): a replayed session."""
        self.utility = utility
        # A replayed session's word that the recording hung here: taken as the timeout, at once.
        self.recorded_hang = recorded_hang
        self.prompt = prompt
        self.timeouts = timeouts
        self.recorder = recorder
        self.secrets = secrets  # redacted from every error, as the recorder does from transcripts
        self.typed: list[str] = []
        self.rolled_back: list[str] = []  # commands (names) whose Retry/rollBack/Ignore got "B"
        self.cwd = cwd
        spawn: Callable[..., pexpect.spawn] = pexpect.spawn if act is None else partial(ForkedSpawn, act=act)
        try:
            self.child = spawn(
                argv[0],
                argv[1:],
                cwd=str(cwd),
                env=env,
                encoding="utf-8",
                codec_errors="replace",
                echo=False,
                timeout=timeouts.command,
                dimensions=(50, 250),
            )
        except pexpect.ExceptionPexpect as exc:
            raise self.error("(start)", "the utility to start", str(exc), "") from None
        # pexpect's default pauses (50 ms before each send, 100 ms around close) add up to seconds.
        self.child.delaybeforesend = None
        self.child.delayafterclose = 0.01
        self.child.delayafterterminate = 0.01
        # close() hands over to ptyprocess, which sleeps by its own settings: shorten those too. A
        # replayed session has ended when it is closed (or is killed): no pause for it to exit.
        self.child.ptyproc.delayafterclose = 0.01 if act is None else 0.0
        self.child.ptyproc.delayafterterminate = 0.01
        self.child.logfile_read = recorder

    def wait(self, command: str, timeout: float) -> str:
        """Output up to the next prompt, answering interactive questions on the way.

        ``timeout`` bounds the whole wait, questions and answers included: a utility that keeps
        asking cannot keep a run waiting longer than one that says nothing.
        """
        collected: list[str] = []
        patterns = [
            self.prompt,
            _RBI,
            _YES_NO,
            _PASSWORD,
            pexpect.EOF,
            *self._hang_pattern(),
            pexpect.TIMEOUT,
        ]
        deadline = time.monotonic() + timeout
        while True:
            index = self.child.expect(patterns, timeout=max(0.0, deadline - time.monotonic()))
            after = self.child.after if isinstance(self.child.after, str) and index < _ANSWERED else ""
            collected.append(str(self.child.before) + after)
            if index == 0:
                return "".join(collected)
            if index == 1:
                self.rolled_back.append(command.split(" ", 1)[0])
                self._answer("B")  # roll back: never retry, never ignore a failure
            elif index == 2:
                self._answer("n")  # never agree to a critical operation
            elif index == 3:
                self._fail(command, "a password prompt the harness does not answer", "".join(collected))
            elif index == 4:
                status = self._exit_status()
                self._fail(command, f"the utility exited (status {status})", "".join(collected))
            else:
                if self.recorder is not None:
                    self.recorder.hung()
                self.kill()
                self._fail(command, f"no answer within {timeout:g} s", "".join(collected))

    def _hang_pattern(self) -> list[str]:
        return [re.escape(self.recorded_hang)] if self.recorded_hang else []

    def _answer(self, reply: str) -> None:
        if self.recorder is not None:
            self.recorder.typed(reply)
        self.typed.append(reply)
        self.child.sendline(reply)

    def error(self, command: str, expected: str, problem: str, output: str) -> HsmSessionError:
        """The error for ``command``, its password positions and every known secret redacted."""
        tail = redact_text(_tail(output), self.secrets)
        return HsmSessionError(self.utility, redact_line(command), expected, problem, tail)

    def _fail(self, command: str, problem: str, output: str) -> None:
        raise self.error(command, f"the {self.prompt.pattern!r} prompt", problem, output)

    def _exit_status(self) -> int | None:
        self.child.close()
        status = self.child.exitstatus
        if self.recorder is not None:
            self.recorder.ended(status)
        return status if isinstance(status, int) else None

    def start(self) -> str:
        return self.wait("(start)", self.timeouts.startup)

    def run(self, command: str, timeout: float | None = None) -> str:
        """Type ``command`` and return what the utility printed before its next prompt."""
        if self.recorder is not None:
            self.recorder.typed(command)
        self.typed.append(command.split(" ", 1)[0])
        self.child.sendline(command)
        return self.wait(command, timeout if timeout is not None else self.timeouts.command)

    def finish(self, command: str) -> None:
        """Type the leaving command and wait for the utility to exit."""
        if not self.child.isalive():
            return
        if self.recorder is not None:
            self.recorder.typed(command)
        self.child.sendline(command)
        try:
            if self.child.expect([pexpect.EOF, *self._hang_pattern()], timeout=self.timeouts.command) > 0:
                self.kill()  # the recording hung here: as the live run, once its timeout had passed
                return
        except pexpect.TIMEOUT:
            self.kill()
            return
        self._exit_status()

    def kill(self) -> None:
        """End the utility if it still runs; what it printed last stays in the transcript."""
        if self.recorder is not None:
            self.recorder.killed()
        if self.child.isalive():
            self.child.terminate(force=True)


# What azcloudhsm_util prints at start when its client daemon cannot be reached.
DAEMON_UNREACHABLE = 0x40000040


def _daemon_unreachable(output: str) -> bool:
    try:
        return parse_return_code(output, "Cfm3GetPartitionInfo").code == DAEMON_UNREACHABLE
    except HsmParseError:
        return False


def _parsed(driver: UtilityDriver, command: str, output: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(output)
    except HsmParseError as exc:
        raise driver.error(command, exc.what, "unparseable output", exc.tail) from None


class MgmtUtilSession:
    """``azcloudhsm_mgmt_util <resource cfg>``: prompt ``cloudmgmt>`` (``serverN>`` in server scope)."""

    UTILITY = "azcloudhsm_mgmt_util"
    PROMPT = re.compile(r"(?:cloudmgmt|server\d+)>\s?\Z")

    def __init__(self, driver: UtilityDriver) -> None:
        self.driver = driver
        self.startup: MgmtStartup | None = None

    def start(self) -> MgmtStartup:
        output = self.driver.start()
        self.startup = _parsed(self.driver, "(start)", output, parse_mgmt_startup)
        return self.startup

    def _read(self, command: str, parse: Callable[[str], Any]) -> Any:
        """Run a command whose output is read; a server failing it (then rolled back) is an error."""
        asked = len(self.driver.rolled_back)
        output = self.driver.run(command)
        if len(self.driver.rolled_back) > asked:
            raise self.driver.error(
                command,
                "an answer from every server",
                "a server failed it and the utility asked Retry/rollBack/Ignore: answered B, rolled"
                " back (not retried, not ignored)",
                output,
            )
        return _parsed(self.driver, command, output, parse)

    def cluster_info(self) -> ClusterInfo:
        result: ClusterInfo = self._read("getClusterInfo", parse_cluster_info)
        return result

    def login(self, role: str, user: str, password: str) -> tuple[ServerResult, ...]:
        """One attempt; a failure is returned with each server's reason, never retried.

        A server that refuses it asks Retry/rollBack/Ignore: the driver rolls back (``rolled_back``).
        """
        output = self.driver.run(f"loginHSM {role} {user} {password}")
        return _parsed(self.driver, "loginHSM", output, lambda text: parse_server_results(text, "loginHSM"))  # type: ignore[no-any-return]

    def list_users(self) -> Any:
        return self._read("listUsers", parse_list_users)

    def logout(self) -> tuple[ServerResult, ...]:
        return self._read("logoutHSM", lambda text: parse_server_results(text, "logoutHSM"))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.driver.finish("quit")


class KeyUtilSession:
    """``azcloudhsm_util`` (no arguments: it talks to the local client daemon): prompt ``Command:``."""

    UTILITY = "azcloudhsm_util"
    PROMPT = re.compile(r"Command:\s?\Z")

    def __init__(
        self,
        driver: UtilityDriver,
        read_file: Callable[[Path], str],
        refused: RefusedLogins | None = None,
    ) -> None:
        self.driver = driver
        self._read_file = read_file
        self._refused = refused if refused is not None else RefusedLogins()

    def start(self) -> str:
        """Start; a utility that cannot reach its client daemon is an error that says so."""
        try:
            return self.driver.start()
        except HsmSessionError as exc:
            if not _daemon_unreachable(exc.tail):
                raise
            raise HsmSessionError(
                exc.utility,
                exc.command,
                exc.expected,
                f"the client daemon is not reachable (Cfm3GetPartitionInfo returned 0x{DAEMON_UNREACHABLE:x}:"
                f" is azcloudhsm_client running, and does its azcloudhsm_resource.cfg name a reachable"
                f" cluster?); {exc.problem}",
                exc.tail,
            ) from None

    def login(self, user: str, password: str) -> KeyUtilResult:
        """One CU login attempt; a failure is returned with its code, never retried.

        A login refused earlier in the run (``refused``) is not typed again: :class:`LoginNotRetried`.
        """
        self._refused.check(user, password)
        output = self.driver.run(f"loginHSM -u CU -s {user} -p {password}")
        result: KeyUtilResult = _parsed(self.driver, "loginHSM", output, parse_login)
        self._refused.note(user, password, result)
        return result

    def find_keys(
        self,
        *,
        key_class: int | None = None,
        key_type: int | None = None,
        label: str | None = None,
        key_id: str | None = None,
        timeout: float | None = None,
    ) -> FindKeyResult:
        parts = ["findKey"]
        for flag, value in (("-c", key_class), ("-t", key_type), ("-l", label), ("-id", key_id)):
            if value is not None:
                parts += [flag, str(value)]
        command = " ".join(parts)
        output = self.driver.run(command, timeout)
        result: FindKeyResult = _parsed(self.driver, command, output, parse_find_key)
        return result

    def attributes(self, handle: int) -> dict[str, str]:
        """Every attribute of a key (``getAttribute -a 512``), read from the file the tool writes."""
        name = f"attrs-{handle}.txt"
        command = f"getAttribute -o {handle} -a 512 -out {name}"
        output = self.driver.run(command)
        returned: ReturnCode = _parsed(self.driver, command, output, parse_get_attribute)
        if not returned.ok:
            raise self.driver.error(
                command, "Cfm3GetAttribute 0x00", f"returned 0x{returned.code:02x}", output
            )
        text = self._read_file(self.driver.cwd / name)
        attributes: dict[str, str] = _parsed(self.driver, command, text, parse_attributes)
        return attributes

    def key_info(self, handle: int) -> KeyInfo:
        command = f"getKeyInfo -k {handle}"
        output = self.driver.run(command)
        result: KeyInfo = _parsed(self.driver, command, output, parse_key_info)
        return result

    def logout(self) -> ReturnCode:
        output = self.driver.run("logoutHSM")
        result: ReturnCode = _parsed(
            self.driver, "logoutHSM", output, lambda text: parse_return_code(text, "Cfm3LogoutHSM")
        )
        return result

    def close(self) -> None:
        self.driver.finish("exit")
