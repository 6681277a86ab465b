"""The one outcome enum: of a finding (what a check concluded about one resource) and of a scenario.

A judgement that does not hold is a *finding* (``failed``). Any other exception means the scenario
could not be evaluated (``error``), never a pass. A scenario skipped on purpose, with a reason, is
``not_applicable``; one the run never reached is ``not_run`` (a scenario outcome only).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # could not read or judge what is needed: never a pass
    NOT_APPLICABLE = "not_applicable"
    WAIVED = "waived"
    NOT_RUN = "not_run"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str = ""


def not_applicable(reason: str) -> NoReturn:
    """End the scenario as not applicable, on purpose, with ``reason``."""
    import pytest  # here, so that the findings model (which imports this enum) stays free of pytest

    pytest.skip(reason)


#: chsm-checks's exit statuses: all passed (or waived); findings; bad input or usage, nothing run;
#: something could not be evaluated (an error, or a scenario the run never reached).
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_NOT_EVALUATED = 0, 1, 2, 3


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Say ``message`` in one line on stderr, and give ``code`` to exit with."""
    print(f"chsm-checks: {message}", file=sys.stderr)
    return code


def exit_code(counts: dict[str, int]) -> int:
    """The exit status of a run with these outcome counts."""
    if counts.get(Outcome.ERROR, 0) or counts.get(Outcome.NOT_RUN, 0):
        return EXIT_NOT_EVALUATED
    if counts.get(Outcome.FAILED, 0):
        return EXIT_FINDINGS
    return EXIT_OK
