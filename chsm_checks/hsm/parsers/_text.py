"""Text handling shared by the parsers, and the error they raise."""

from __future__ import annotations

import re

from ...errors import CouldNotEvaluate
from ..redact import redact_line

TAIL_LINES = 10

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SPACES = re.compile(r"\s+")
INT_LIST = re.compile(r"\d+(?:[\s,]+\d+)*,?")


def lines_of(text: str) -> list[str]:
    """The non-empty lines of ``text``, stripped."""
    return [line for line in (part.strip() for part in _LINE_BREAK.split(text)) if line]


def squash(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def squashed_lines(text: str) -> list[str]:
    """The non-empty lines of ``text`` with every run of whitespace one space: what grammars read."""
    return [squash(line) for line in lines_of(text)]


def quoted(line: str) -> str:
    """A line for an error message: whitespace squashed (tabs do not show as ``\\t``), password
    positions redacted as in :func:`tail_of`, control characters escaped by ``repr``."""
    return repr(redact_line(squash(line)))


def unrecognised(expected: str, line: str, text: str) -> HsmParseError:
    """The error for a line of ``text`` that the grammar of the answer has no place for."""
    return HsmParseError.from_text(f"{expected}, not {quoted(line)}", text)


def ints(value: str) -> list[int]:
    return [int(part) for part in re.split(r"[\s,]+", value) if part]


def tail_of(text: str) -> str:
    return "\n".join(redact_line(line) for line in lines_of(text)[-TAIL_LINES:])


class HsmParseError(CouldNotEvaluate, ValueError):
    """The output does not hold what the parser must find.

    ``what`` says what was expected; ``tail`` holds the last non-empty lines of the output (at most
    ``TAIL_LINES``, password positions redacted), newline-separated.
    """

    def __init__(self, what: str, tail: str = "") -> None:
        self.what = what
        self.tail = tail
        super().__init__(what, tail)

    @classmethod
    def from_text(cls, what: str, text: str) -> HsmParseError:
        """The error for ``text``, with its tail."""
        return cls(what, tail_of(text))

    def __str__(self) -> str:
        lines = self.tail.splitlines() or ["(no output)"]
        return "\n".join([f"expected {self.what}", *(f"  | {line}" for line in lines)])
