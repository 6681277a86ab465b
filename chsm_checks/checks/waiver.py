"""One waiver: an accepted failure of one check on matching resources, until it expires.

What a waiver file is and how waivers apply to findings is :mod:`.waivers`; this module holds the
entry alone, so that a :class:`~.model.Finding` can name the waiver it is under without the findings
model and the waiver book importing each other.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from ..config_files import StrictModel
from .catalogue import CheckId, Line


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
            raise ValueError(f"{utc_text(value)} is not after approved_on {approved_on.isoformat()}")
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
            "expires": utc_text(self.expires),
        }
        if self.ticket is not None:
            data["ticket"] = self.ticket
        return data


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    # Only * and ? are special: ARM ids may hold characters that fnmatch would read as classes.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def utc_text(moment: datetime) -> str:
    """The instant in UTC as ISO 8601 with ``Z``, as waiver files and reports write it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
