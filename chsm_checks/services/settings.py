"""The run's settings: mode, target, recordings and flags, read once from the run's options."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..arm.lro import PollPolicy
from ..arm.retry import RetryPolicy
from ..arm.snapshots import arm_instant
from ..errors import ConfigError
from ..hsm.client_files import NO_SANDBOX, ClientFiles
from ..modes import RunMode
from ..recording import Provenance
from ..recording.cassettes import recording_date
from ..target import FleetTarget, Target


@dataclass(frozen=True)
class RunSettings:
    """What the person asked this run to do."""

    mode: RunMode
    target: Target | FleetTarget
    cassette_dir: Path
    allow_mutations_flag: bool
    report_dir: Path | None = None
    waivers_path: Path | None = None
    #: Where the target's HSM client files are on this machine (a sandbox's, asked of it).
    hsm_client: ClientFiles = NO_SANDBOX
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: Which process of the run this is: "main", or the pytest-xdist worker ("gw0"…).
    process: str = "main"

    def __repr__(self) -> str:
        # Reports show fixture values; this one says what the run is and nothing more.
        mutations = self.allow_mutations
        return f"RunSettings(mode={self.mode}, target={self.target.name}, allow_mutations={mutations})"

    @property
    def allow_mutations(self) -> bool:
        """Whether backup and restore requests may be made (a replay replays what was recorded)."""
        return self.mode.allows_mutations(self.allow_mutations_flag)

    @property
    def single_target(self) -> Target:
        """The backup/restore target; a configuration error for a fleet target."""
        if isinstance(self.target, FleetTarget):
            raise ConfigError(
                f"{self.target.path}: fleet: a fleet target runs features/fleet.feature "
                "(chsm-checks run picks it), not the backup/restore features"
            )
        return self.target

    @property
    def is_fleet(self) -> bool:
        return isinstance(self.target, FleetTarget)

    @property
    def retry_policy(self) -> RetryPolicy:
        arm = self.target.spec.arm
        return RetryPolicy(max_attempts=arm.max_attempts, budget_seconds=arm.retry_budget_seconds)

    @property
    def poll_policy(self) -> PollPolicy:
        arm = self.target.spec.arm
        return PollPolicy(
            default_interval_seconds=arm.poll_interval_seconds,
            timeout_seconds=arm.operation_timeout_seconds,
        )

    @property
    def as_of(self) -> datetime:
        """The run's "now" for judgements of age, to the second: when it started, or, for a run that
        writes recordings, the date they carry (``SOURCE_DATE_EPOCH``, else the start)."""
        if self.mode.writes_recordings:
            return datetime.fromisoformat(recording_date(now=self.started_at))
        return self.started_at.astimezone(UTC).replace(microsecond=0)

    def provenance(self, scenario: str) -> Provenance:
        """Provenance for a recording this run makes, dated the run's :attr:`as_of`."""
        return Provenance.now(
            target_kind=self.target.kind,
            target_name=self.target.name,
            cloud=self.target.cloud.name,
            scenario=scenario,
            recorded_at=arm_instant(self.as_of),
        )
