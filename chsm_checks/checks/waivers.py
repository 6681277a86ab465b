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

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from ..config_files import StrictModel, validated
from .catalogue import Catalogue, CheckId, Line
from .model import Finding, Status


class Waiver(StrictModel):
    """One ``[[waiver]]``: an accepted failure of one check on matching resources, until it expires."""

    check: CheckId
    resource: str
    justification: str = Field(min_length=20)
    approver: Line
    approved_on: date
    expires: datetime
    ticket: Line | None = None

    @field_validator("check")
    @classmethod
    def _known_check(cls, value: str, info: ValidationInfo) -> str:
        catalogue = (info.context or {}).get("catalogue")
        if catalogue is not None and value not in catalogue:
            raise ValueError(f"unknown check id {value!r}")
        return value

    @field_validator("resource")
    @classmethod
    def _resource_id_or_glob(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not an ARM resource id or a glob of one (it starts with '/')")
        return value

    @field_validator("expires")
    @classmethod
    def _aware_and_after_approval(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.utcoffset() is None:
            raise ValueError("needs a UTC offset or Z, e.g. 2026-01-01T00:00:00Z")
        value = value.astimezone(UTC)
        approved_on = info.data.get("approved_on")
        if approved_on is not None and value.date() <= approved_on:
            raise ValueError(f"{_utc(value)} is not after approved_on {approved_on.isoformat()}")
        return value

    def matches(self, check_id: str, resource_id: str) -> bool:
        """Whether this waiver covers ``check_id`` on ``resource_id``."""
        return check_id == self.check and _glob(self.resource).fullmatch(resource_id) is not None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "check": self.check,
            "resource": self.resource,
            "justification": self.justification,
            "approver": self.approver,
            "approved_on": self.approved_on.isoformat(),
            "expires": _utc(self.expires),
        }
        if self.ticket is not None:
            data["ticket"] = self.ticket
        return data


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
            f"waiver for {w.check} on {f.resource_id} expired on {_utc(w.expires)} "
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
                if finding.status is Status.FAILED
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


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    # Only * and ? are special: ARM ids may hold characters that fnmatch would read as classes.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["Applied", "Waiver", "WaiverBook", "load_waivers"]
