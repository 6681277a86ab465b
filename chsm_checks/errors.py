"""The exception tree of chsm-checks, drawn in one place.

Every error a person may have to act on carries what they need to act: the file and field for
configuration, the ARM code, status, request id, method and URL for the service, the request for a
replay that has no recording of it.
"""

from __future__ import annotations

from .url_redaction import url_for_message


class ChsmError(Exception):
    """Base of every error chsm-checks raises on purpose."""


class ConfigError(ChsmError):
    """A file the user gave (target, cassette directory, option) is unusable. Exit code 2."""


class CouldNotEvaluate(ChsmError):
    """Something needed for a verdict could not be read. The outcome is *error*, never a pass."""


class ExpectationNotMet(ChsmError):
    """What a scenario states does not hold: a *finding* (``failed``).

    Raised only by the judgements in ``chsm_checks.expect``. It is the one exception that makes a
    finding: any other (an ``assert`` in library code included) means the scenario could not be
    evaluated, and ends it as an *error*.
    """


class ReplayMissError(CouldNotEvaluate):
    """Replay met a request that the cassette does not hold."""

    def __init__(self, method: str, url: str, cassette: str) -> None:
        self.method = method
        self.url = url
        self.cassette = cassette
        super().__init__(f"replay: {method} {url_for_message(url)} is not recorded in {cassette}")


class OperationTimeout(CouldNotEvaluate):
    """A long-running operation did not reach a terminal state within its time budget."""


__all__ = [
    "ChsmError",
    "ConfigError",
    "CouldNotEvaluate",
    "ExpectationNotMet",
    "OperationTimeout",
    "ReplayMissError",
]
