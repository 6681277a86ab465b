"""Errors of the HSM utility sessions."""

from __future__ import annotations

from ..errors import CouldNotEvaluate


class HsmSessionError(CouldNotEvaluate):
    """A utility hung, exited early, asked something unexpected or printed something unparseable."""

    def __init__(self, utility: str, command: str, expected: str, problem: str, tail: str) -> None:
        self.utility = utility
        self.command = command
        self.expected = expected
        self.problem = problem
        self.tail = tail
        last = " | ".join(line.strip() for line in tail.splitlines() if line.strip())[-400:]
        super().__init__(
            f"{utility}: {command!r}: {problem}; expected {expected}; last output: {last or '(none)'}"
        )
