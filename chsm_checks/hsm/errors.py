"""Errors of the HSM utility sessions."""

from __future__ import annotations

import re

from ..errors import CouldNotEvaluate

# What a broken utility prints can hold terminal escapes, NUL or BEL: shown escaped, never raw, so
# that reports (XML, HTML, terminals) show the snippet as it was without being garbled by it.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (but newline and tab) written as ``\\xNN``."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class HsmSessionError(CouldNotEvaluate):
    """A utility hung, exited early, asked something unexpected or printed something unparseable.

    ``tail`` holds the last lines it printed, redacted and with control characters escaped.
    """

    def __init__(self, utility: str, command: str, expected: str, problem: str, tail: str) -> None:
        self.utility = utility
        self.command = command
        self.expected = expected
        self.problem = problem
        self.tail = printable(tail)
        last = " | ".join(line.strip() for line in self.tail.splitlines() if line.strip())[-400:]
        super().__init__(
            f"{utility}: {command!r}: {problem}; expected {expected}; last output: {last or '(none)'}"
        )


class LoginNotRetried(CouldNotEvaluate):
    """A login the HSM refused earlier in this run was not typed again: failures lock users out."""
