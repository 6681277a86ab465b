"""The transcript replayer: stands in for a utility, under the same pexpect code path.

It prints what the utility printed and checks every line typed at it against the recorded
(redacted) line; on a mismatch it says so and exits 3. No time passes: it answers as soon as it is
asked. Where the recording says the utility hung, it says so with :data:`HANG_SIGNAL` and then
hangs: the driver takes the signal for the timeout the live run waited out, at once, so a recorded
hang costs replay no time (the replay's clock is virtual).

A replayed session is a process of its own on a pty, as the utility is. The harness forks it from
the run (:class:`chsm_checks.hsm.forked.ForkedSpawn`, :func:`perform`), so it pays no interpreter
start-up; ``python -m chsm_checks.hsm.replayer <transcript> <session index> <utility>`` does the
same as a program. It reads and writes its terminal by file descriptor, never through ``sys.stdin``
or ``sys.stdout``, which a forked run may have replaced.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from .redact import redact_line

EXIT_MISMATCH = 3
EXIT_INPUT_ENDED = 4
HANG_SIGNAL = "\x1b]chsm-checks;recorded-hang\x07"
"""What the replayer prints where the recording hung: an OSC sequence no utility prints."""


def _raw_output() -> None:
    # The recording already holds the terminal's CRLFs: stop the pty from adding more.
    if os.isatty(1):
        import termios

        attrs = termios.tcgetattr(1)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(1, termios.TCSANOW, attrs)


def _write(text: str) -> None:
    data = memoryview(text.encode("utf-8"))
    while data:
        data = data[os.write(1, data) :]


def _safe_name(name: Any) -> str:
    text = str(name)
    if not text or "/" in text or "\\" in text or text in (".", "..") or text.startswith("."):
        raise ValueError(f"refusing to write {text!r}: not a plain file name")
    return text


def replay(events: list[dict[str, Any]]) -> int:
    """Act out one recorded session on this process's terminal (descriptors 0 and 1); the exit code."""
    typed = open(0, "rb", closefd=False)  # noqa: SIM115 - the terminal: never closed
    for event in events:
        kind, value = next(iter(event.items()))
        if kind == "out":
            _write(str(value))
        elif kind == "file":
            Path(_safe_name(value["name"])).write_text(str(value["content"]), encoding="utf-8")
        elif kind == "in":
            line = typed.readline()
            if not line:
                return EXIT_INPUT_ENDED
            got = redact_line(line.decode("utf-8", "replace").rstrip("\r\n"))
            if got != value:
                _write(f"\r\nchsm-checks replay mismatch: expected {value!r}, got {got!r}\r\n")
                return EXIT_MISMATCH
        elif kind == "hang":
            _write(HANG_SIGNAL)
            while True:
                signal.pause()
        elif kind == "exit":
            return int(value or 0)
    return 0


class Session(Protocol):
    """One recorded session, as a transcript holds it."""

    utility: str
    events: list[dict[str, Any]]


def perform(sessions: Sequence[Session], index: int, utility: str) -> int:
    """Act out session ``index`` of a transcript, which must be a session of ``utility``, on this
    process's terminal; the process exit code to use."""
    if index >= len(sessions) or sessions[index].utility != utility:
        recorded = sessions[index].utility if index < len(sessions) else "nothing"
        _write(f"chsm-checks replay mismatch: session {index} is {recorded}, not {utility}\r\n")
        return EXIT_MISMATCH
    _raw_output()
    return replay(sessions[index].events)


class _Loaded:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.utility = str(raw.get("utility"))
        self.events: list[dict[str, Any]] = raw.get("events") or []


def main(argv: list[str] | None = None) -> int:
    path, index, utility = (argv if argv is not None else sys.argv[1:])[:3]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)
    return perform([_Loaded(raw) for raw in data.get("sessions") or []], int(index), utility)


if __name__ == "__main__":
    sys.exit(main())
