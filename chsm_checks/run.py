"""One run's settings and shared state: mode, target, cassettes, clock, credential."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .arm.clock import Clock, RealClock, VirtualClock
from .arm.lro import PollPolicy
from .arm.retry import RetryPolicy
from .recording.scrub import Scrubber
from .target import Target

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

Mode = Literal["replay", "record", "live"]
MODES: tuple[Mode, ...] = ("replay", "record", "live")


@dataclass
class RunContext:
    """Everything a scenario needs to know about the run it belongs to."""

    mode: Mode
    target: Target
    cassette_dir: Path
    allow_mutations_flag: bool
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _credential: TokenCredential | None = None
    _scrubber: Scrubber | None = None

    @property
    def allow_mutations(self) -> bool:
        """Replay sends nothing anywhere, so it replays whatever the recording did."""
        return self.mode == "replay" or self.allow_mutations_flag

    @property
    def scrubber(self) -> Scrubber:
        """One scrubber per run, so placeholders are the same in every cassette of the run."""
        if self._scrubber is None:
            self._scrubber = Scrubber(subscription_id=self.target.subscription_id)
        return self._scrubber

    def credential(self) -> TokenCredential | None:
        """azure-identity for Azure; none for the sandbox and for replay."""
        if self.mode == "replay" or self.target.cloud.is_loopback:
            return None
        if self._credential is None:
            from .arm.client import default_credential

            self._credential = default_credential(self.target.cloud)
        return self._credential

    def new_clock(self) -> Clock:
        return VirtualClock() if self.mode == "replay" else RealClock()

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
