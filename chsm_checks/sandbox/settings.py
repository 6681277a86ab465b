"""How a sandbox behaves: the world it seeds, the long-running-operation style it imitates, its pace."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

LroStyle = Literal["live", "spec"]

# The worlds a sandbox can seed, in the order the profiles are listed; each is built in
# :data:`.profiles.PROFILES`, which checks on import that it builds exactly these. Kept here, not read
# from there, so that settings can be checked without importing the code that seeds a world.
PROFILE_NAMES: tuple[str, ...] = (
    "compliant",
    "shared-key-default",
    "endpoint-pending",
    "public-network-open",
    "role-other-principal",
    "owner-instead-of-contributor",
    "two-identities",
    "destination-active",
    "tls-1-0",
    "blob-soft-delete-off",
    "container-soft-delete-off",
    "versioning-off",
    "immutability-absent",
    "locally-redundant",
    "unlocked",
    "cluster-public-network",
    "cluster-logs-off",
    "blob-reads-unlogged",
    "backup-overdue",
    "slow-recovery",
)

MAX_FLEET_CLUSTERS = 9999
MAX_FLEET_SUBSCRIPTIONS = 99


@dataclass(frozen=True)
class SandboxSettings:
    """Knobs of one sandbox; stored in its state file so a restart behaves the same.

    ``profile`` names the world seeded (see :data:`.profiles.PROFILES`): ``"compliant"``, or that
    world with one fault in it.

    ``lro_style="live"`` answers a backup or restore with a lone ``location`` header, as the live
    service did in June 2025; ``"spec"`` adds ``Azure-AsyncOperation`` and ``Retry-After`` as the
    REST specification's examples do. ``retry_after`` forces a ``Retry-After`` value in either style.

    ``fleet_clusters > 0`` adds a fleet beside the seeded world (see :mod:`.fleet`): that many active
    clusters over ``fleet_subscriptions`` further subscriptions, a ``fleet_misconfigured`` fraction of
    them with one storage fault each.

    ``latency_ms`` delays every ARM answer. ``read_budget_per_subscription > 0`` throttles GETs with
    ARM's token bucket per subscription (that many tokens, ``read_refill_per_second`` back each second).
    Resource Graph allows each caller ``graph_quota`` queries per ``graph_window_seconds`` (Azure's
    documented default: 15 per 5 s).
    """

    seed: int = 1
    profile: str = "compliant"
    lro_style: LroStyle = "live"
    retry_after: int | None = None
    backup_seconds: float = 1.5
    restore_seconds: float = 2.5
    page_size: int = 100
    fleet_clusters: int = 0
    fleet_subscriptions: int = 1
    fleet_misconfigured: float = 0.0
    latency_ms: float = 0.0
    read_budget_per_subscription: int = 0
    read_refill_per_second: float = 25.0
    graph_quota: int = 15
    graph_window_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.profile not in PROFILE_NAMES:
            raise ValueError(f"profile must be one of {', '.join(PROFILE_NAMES)}, not {self.profile!r}")
        if self.lro_style not in ("live", "spec"):
            raise ValueError(f"lro_style must be 'live' or 'spec', not {self.lro_style!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be a whole number of seconds >= 0, not {self.retry_after}")
        if self.backup_seconds < 0 or self.restore_seconds < 0:
            raise ValueError("backup_seconds and restore_seconds must be >= 0")
        if self.page_size < 1:
            raise ValueError(f"page_size must be >= 1, not {self.page_size}")
        # Four digits in chsm-fleet-<nnnn>, two in rg-fleet-<nn>.
        if not 0 <= self.fleet_clusters <= MAX_FLEET_CLUSTERS:
            raise ValueError(
                f"fleet_clusters must be between 0 and {MAX_FLEET_CLUSTERS}, not {self.fleet_clusters}"
            )
        if not 1 <= self.fleet_subscriptions <= MAX_FLEET_SUBSCRIPTIONS:
            raise ValueError(
                f"fleet_subscriptions must be between 1 and {MAX_FLEET_SUBSCRIPTIONS}, "
                f"not {self.fleet_subscriptions}"
            )
        if not 0.0 <= self.fleet_misconfigured <= 1.0:
            raise ValueError(f"fleet_misconfigured must be between 0 and 1, not {self.fleet_misconfigured}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, not {self.latency_ms}")
        if self.read_budget_per_subscription < 0:
            raise ValueError(
                f"read_budget_per_subscription must be >= 0 (0 is unlimited), "
                f"not {self.read_budget_per_subscription}"
            )
        if self.read_refill_per_second <= 0:
            raise ValueError(f"read_refill_per_second must be > 0, not {self.read_refill_per_second}")
        if self.graph_quota < 1:
            raise ValueError(f"graph_quota must be >= 1, not {self.graph_quota}")
        if self.graph_window_seconds <= 0:
            raise ValueError(f"graph_window_seconds must be > 0, not {self.graph_window_seconds}")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON object, field by field."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxSettings:
        """Settings read back from a state file; unknown keys are ignored, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
