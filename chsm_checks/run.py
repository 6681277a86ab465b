"""One run's settings and shared state: mode, target, cassettes, clock, credential."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .arm.client import ArmClient, default_credential
from .arm.clock import Clock, RealClock, VirtualClock
from .arm.lro import PollPolicy
from .arm.retry import RetryPolicy
from .recording import Provenance, Scrubber, recording, replaying, write_cassette
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
    _credential: TokenCredential | None = field(default=None, repr=False)
    _scrubber: Scrubber | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Reports show fixture values; this one says what the run is and nothing more.
        return (
            f"RunContext(mode={self.mode}, target={self.target.name}, allow_mutations={self.allow_mutations})"
        )

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

    def _client(
        self, transport: Any, *, read_only: bool, on_event: Callable[[str], None] | None
    ) -> ArmClient:
        return ArmClient(
            self.target.cloud,
            credential=self.credential(),
            transport=transport,
            clock=self.new_clock(),
            retry=self.retry_policy,
            timeout_seconds=self.target.spec.arm.request_timeout_seconds,
            replay=self.mode == "replay",
            read_only=read_only,
            on_event=None if self.mode == "replay" else on_event,
        )

    @contextmanager
    def scenario_client(
        self,
        cassette: Path,
        scenario: str,
        *,
        read_only: bool,
        on_event: Callable[[str], None] | None,
        keep_recording: Callable[[], bool],
    ) -> Iterator[ArmClient]:
        """An ARM client for one scenario: over its cassette in replay, recording it in record mode.

        In record mode the cassette is written after the block, only if ``keep_recording()`` says so.
        """
        if self.mode == "replay":
            with (
                replaying(cassette, self.scrubber) as transport,
                self._client(transport, read_only=read_only, on_event=on_event) as client,
            ):
                yield client
            return
        if self.mode == "live":
            with self._client(None, read_only=read_only, on_event=on_event) as client:
                yield client
            return
        with (
            recording(self.scrubber) as recorded,
            self._client(None, read_only=read_only, on_event=on_event) as client,
        ):
            yield client
        if keep_recording():
            provenance = Provenance.now(
                target_kind=self.target.kind,
                target_name=self.target.name,
                cloud=self.target.cloud.name,
                scenario=scenario,
            )
            write_cassette(cassette, recorded, provenance, self.scrubber)
