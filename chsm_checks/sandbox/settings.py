"""How a sandbox behaves: its seed and profile, the long-running-operation style it imitates, its pace."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from chsm_checks.sandbox.profiles import PROFILES

LroStyle = Literal["live", "spec"]


@dataclass(frozen=True)
class SandboxSettings:
    """Knobs of one sandbox; stored in its state file so a restart behaves the same.

    ``profile`` names the world seeded (see :data:`.profiles.PROFILES`): ``"compliant"``, or that
    world with one fault in it.

    ``lro_style="live"`` answers a backup or restore with a lone ``location`` header, as the live
    service did in June 2025; ``"spec"`` adds ``Azure-AsyncOperation`` and ``Retry-After`` as the
    REST specification's examples do. ``retry_after`` forces a ``Retry-After`` value in either style.
    """

    seed: int = 1
    profile: str = "compliant"
    lro_style: LroStyle = "live"
    retry_after: int | None = None
    backup_seconds: float = 1.5
    restore_seconds: float = 2.5
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if self.lro_style not in ("live", "spec"):
            raise ValueError(f"lro_style must be 'live' or 'spec', not {self.lro_style!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be a whole number of seconds >= 0, not {self.retry_after}")
        if self.backup_seconds < 0 or self.restore_seconds < 0:
            raise ValueError("backup_seconds and restore_seconds must be >= 0")
        if self.page_size < 1:
            raise ValueError(f"page_size must be >= 1, not {self.page_size}")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON object, field by field."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxSettings:
        """Settings read back from a state file; unknown keys are ignored, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
