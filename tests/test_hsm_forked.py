"""A replayed session is forked from the run: a process of its own on a pty, with nothing of the run's
but the function it runs, and no interpreter started for it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from chsm_checks.hsm.forked import EXIT_CRASHED, ForkedSpawn


def _waits_for_a_line() -> int:
    os.write(1, b"ready\r\n")
    return 0 if os.read(0, 100) else 1


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ForkedSpawn]:
    child = ForkedSpawn(sys.executable, ["-c", "pass"], act=_waits_for_a_line, cwd=str(tmp_path), timeout=30)
    child.expect("ready")
    yield child
    child.close(force=True)


def test_the_session_is_a_child_process_that_was_not_executed(session: ForkedSpawn) -> None:
    assert session.pid != os.getpid()
    stat = Path(f"/proc/{session.pid}/stat").read_text()
    assert int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()
    # Its command line is the run's own: nothing was executed in it.
    assert Path(f"/proc/{session.pid}/cmdline").read_bytes() == Path("/proc/self/cmdline").read_bytes()


def test_the_session_runs_where_it_is_told_on_a_terminal_of_its_own(
    session: ForkedSpawn, tmp_path: Path
) -> None:
    assert Path(f"/proc/{session.pid}/cwd").resolve() == tmp_path.resolve()
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{session.pid}/fd")) == [0, 1, 2]
    assert os.readlink(f"/proc/{session.pid}/fd/0").startswith("/dev/pts/")
    session.sendline("go")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0


def test_the_runs_signal_handlers_do_not_follow_it(tmp_path: Path) -> None:
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        child = ForkedSpawn(sys.executable, [], act=_waits_for_a_line, cwd=str(tmp_path), timeout=30)
        child.expect("ready")
        os.kill(child.pid, signal.SIGTERM)
        child.expect(pexpect.EOF)
        child.close()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert child.signalstatus == signal.SIGTERM


def test_a_function_that_raises_ends_the_child_not_the_run(tmp_path: Path) -> None:
    def broken() -> int:
        raise RuntimeError("the replay broke")

    child = ForkedSpawn(sys.executable, [], act=broken, cwd=str(tmp_path), timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == EXIT_CRASHED
    assert "RuntimeError: the replay broke" in str(child.before)
