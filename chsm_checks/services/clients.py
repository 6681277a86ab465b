"""A scenario's ARM client and HSM sessions, made in the run's mode; the fleet audit's clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ..arm.client import ArmClient
from ..errors import ConfigError
from ..evidence.store import ScenarioEvidence, exchange_record
from ..hsm.runner import HsmRunner
from ..hsm.sessions import Timeouts
from ..recording import Scrubber
from ..target import FleetTarget, Target
from .identity import RunIdentity
from .secrets import RunSecrets
from .settings import RunSettings

if TYPE_CHECKING:
    from ..fleet.audit import ExchangeCapture
    from ..fleet.run import FleetRun


def scrubber_for(target: Target | FleetTarget) -> Scrubber:
    """One scrubber per run, so placeholders are the same in every cassette of the run.

    A fleet spans subscriptions, and its evidence must say which cluster is which: its subscription
    ids stay; tenant, principal and client ids are replaced as everywhere.
    """
    return Scrubber(subscription_id=target.subscription_id if isinstance(target, Target) else "")


class ArmClients:
    """Makes the run's ARM clients: a scenario's (over its recording in replay, recording it in
    record mode), a read-only one outside any scenario, and the fleet audit's."""

    def __init__(self, settings: RunSettings, identity: RunIdentity, scrubber: Scrubber) -> None:
        self._settings = settings
        self._identity = identity
        self._scrubber = scrubber

    def _client(
        self,
        transport: Any,
        *,
        read_only: bool,
        on_event: Callable[[str], None] | None,
        evidence: ScenarioEvidence | None = None,
        cassette: Path | None = None,
    ) -> ArmClient:
        settings = self._settings

        def as_of() -> datetime:
            if cassette is None:
                return settings.as_of
            return settings.mode.as_of(cassette, settings.as_of)

        def keep(request: httpx.Request, response: httpx.Response, attempt: int) -> None:
            if evidence is not None and (
                record := exchange_record(self._scrubber, request, response, attempt)
            ):
                evidence.exchange(record)

        return ArmClient(
            settings.target.cloud,
            credential=self._identity.credential(),
            transport=transport,
            clock=settings.mode.clock(),
            retry=settings.retry_policy,
            timeout_seconds=settings.target.spec.arm.request_timeout_seconds,
            replay=not settings.mode.reaches_azure,
            read_only=read_only,
            on_event=on_event if settings.mode.reaches_azure else None,
            on_exchange=keep,
            ca_file=settings.target.arm_ca_file,
            as_of=as_of,
        )

    def read_only_client(self) -> ArmClient:
        """A client that may only read, outside any scenario (nothing it does is recorded)."""
        return self._client(None, read_only=True, on_event=None)

    @contextmanager
    def scenario_client(
        self,
        cassette: Path,
        scenario: str,
        *,
        read_only: bool,
        on_event: Callable[[str], None] | None,
        keep_recording: Callable[[], bool],
        evidence: ScenarioEvidence | None = None,
    ) -> Iterator[ArmClient]:
        """An ARM client for one scenario, over the transport the run's mode gives it. A recording
        run writes the cassette after the block, only if ``keep_recording()`` says so."""
        with (
            self._settings.mode.arm_transport(
                cassette, self._scrubber, lambda: self._settings.provenance(scenario), keep_recording
            ) as transport,
            self._client(
                transport, read_only=read_only, on_event=on_event, evidence=evidence, cassette=cassette
            ) as client,
        ):
            yield client

    def fleet(self) -> FleetRun:
        """The fleet audit of a fleet target: live and read-only."""
        settings = self._settings
        target = settings.target
        if not isinstance(target, FleetTarget):
            raise ConfigError(f"{target.path}: fleet: the target names no [fleet]")
        if not settings.mode.audits_fleets:
            raise ConfigError(
                f"{target.path}: fleet: a fleet audit runs with --mode live (read-only); "
                "recording and replaying fleets is not supported"
            )
        from ..arm.pacing import SubscriptionPacer
        from ..fleet.run import FleetRun

        def client(capture: ExchangeCapture) -> ArmClient:
            clock = settings.mode.clock()
            return ArmClient(
                target.cloud,
                credential=self._identity.credential(),
                clock=clock,
                retry=settings.retry_policy,
                timeout_seconds=target.spec.arm.request_timeout_seconds,
                read_only=True,
                on_exchange=capture.on_exchange,
                pacer=SubscriptionPacer(clock),
                ca_file=target.arm_ca_file,
                as_of=lambda: settings.as_of,
            )

        return FleetRun(target, client, self._scrubber, settings.report_dir, settings.process)


def hsm_runner(
    settings: RunSettings,
    secrets: RunSecrets,
    transcript: Path,
    workdir: Path,
    evidence: ScenarioEvidence | None = None,
) -> HsmRunner:
    """HSM utility sessions for one scenario, in the run's mode."""
    target = settings.single_target
    hsm = target.spec.hsm
    if hsm is None:
        raise ConfigError(f"{target.path}: hsm: the target names no HSM utilities")
    return settings.mode.hsm_runner(
        mgmt_util=hsm.mgmt_util,
        util=hsm.util,
        mgmt_config=hsm.resource_cfg[0],
        locate=settings.hsm_client.locate,
        transcript_path=transcript,
        workdir=workdir,
        timeouts=Timeouts(startup=hsm.startup_timeout_seconds, command=hsm.command_timeout_seconds),
        password=secrets.hsm_password,
        refused_logins=secrets.refused_logins,
        on_session_end=(
            (lambda record: evidence.add_yaml(f"hsm-{record.utility}", asdict(record)))
            if evidence is not None
            else None
        ),
    )
