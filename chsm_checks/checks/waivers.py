"""Waivers: a failed finding that someone accountable accepted, for a while.

A waiver names one check and one resource (an ARM resource id, or a glob with ``*`` and ``?``,
matched case-insensitively; ``*`` crosses ``/``), why, who approved it and when, and when it
expires. A live waiver turns a *failed* finding into *waived*: still reported, with the waiver
attached. An expired waiver stops applying: the finding stands, and a note says so. An *error* is
never waived: a check that could not read its evidence has not been evaluated, so there is
nothing to accept.

A bad waiver file fails with one line naming the file and the field, entries counted from 1:
``waivers.toml: waiver[2].approver: required field is missing``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..config_files import StrictModel, validated
from ..outcomes import Outcome
from .catalogue import Catalogue
from .model import Finding
from .waiver import Waiver, utc_text


class _WaiverFile(StrictModel):
    waiver: tuple[Waiver, ...] = ()


@dataclass(frozen=True)
class Applied:
    """Findings after waivers: failed ones under a live waiver are waived, the rest unchanged."""

    findings: list[Finding]
    expired: list[tuple[Waiver, Finding]]  # failed findings whose only matching waivers have expired
    used: set[Waiver]

    def notes(self) -> list[str]:
        """One sentence per failed finding that an expired waiver would have covered."""
        return [
            f"waiver for {w.check} on {f.resource_id} expired on {utc_text(w.expires)} "
            f"(approved by {w.approver}{f', ticket {w.ticket}' if w.ticket else ''}): the finding stands"
            for w, f in self.expired
        ]


@dataclass(frozen=True)
class WaiverBook:
    """The waivers of one file."""

    waivers: tuple[Waiver, ...] = ()

    def apply(self, findings: Iterable[Finding], now: datetime) -> Applied:
        """Waive each failed finding that a live waiver matches; ``now`` must be timezone-aware."""
        if now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        result: list[Finding] = []
        expired: list[tuple[Waiver, Finding]] = []
        used: set[Waiver] = set()
        for finding in findings:
            matching = (
                [w for w in self.waivers if w.matches(finding.check_id, finding.resource_id)]
                if finding.status is Outcome.FAILED
                else []
            )
            live = [w for w in matching if not w.expired(now)]
            if live:
                # Of overlapping waivers (a renewal beside the one it replaces), the longest-lived shows.
                waiver = max(live, key=lambda w: w.expires)
                used.add(waiver)
                result.append(finding.waived_by(waiver))
            else:
                result.append(finding)
                if matching:
                    expired.append((max(matching, key=lambda w: w.expires), finding))
        return Applied(result, expired, used)

    def unused(self, *runs: Applied) -> tuple[Waiver, ...]:
        """The waivers that waived nothing in any of ``runs``: candidates for removal."""
        used = set().union(*(run.used for run in runs))
        return tuple(w for w in self.waivers if w not in used)


def load_waivers(path: str | Path, catalogue: Catalogue) -> WaiverBook:
    """Read and validate a waiver file; raise ``ConfigError`` with one line naming file and field."""
    spec = validated(_WaiverFile, Path(path), context={"catalogue": catalogue})
    return WaiverBook(spec.waiver)


__all__ = ["Applied", "Waiver", "WaiverBook", "load_waivers"]
