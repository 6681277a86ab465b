"""The run's services, made once per process from its options: the fixtures serve each one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..checks.catalogue import load_catalogue
from ..errors import ConfigError
from ..fleet.run import FleetRun
from ..hsm.client_files import NO_SANDBOX, client_files_for
from ..modes import mode_named
from ..recording import Scrubber
from ..target import Target, load_any_target
from .clients import ArmClients, scrubber_for
from .drill import DrillRecord
from .identity import RunIdentity
from .judge import Judge
from .secrets import RunSecrets
from .settings import RunSettings

# What the pytest-xdist controller hands each worker, over execnet's channel.
PSEUDONYM_KEY = "chsm_pseudonym_key"
FLEET = "chsm_fleet"
FLEET_PROGRESS = "chsm_fleet_progress"  # workerinput: the directory a worker writes its fleet counts to


@dataclass
class RunServices:
    """Every service of the run, each one thing."""

    settings: RunSettings
    identity: RunIdentity
    secrets: RunSecrets
    scrubber: Scrubber
    judge: Judge
    clients: ArmClients
    drill: DrillRecord
    _fleet: FleetRun | None = field(default=None, repr=False)

    @property
    def fleet(self) -> FleetRun:
        """The fleet audit of a fleet target, made when first asked for."""
        if self._fleet is None:
            self._fleet = self.clients.fleet()
        return self._fleet

    @property
    def fleet_if_made(self) -> FleetRun | None:
        return self._fleet

    @property
    def audits_a_fleet(self) -> bool:
        return self.settings.is_fleet and self.settings.mode.audits_fleets


def services_from(option: Callable[[str], Any], workerinput: Mapping[str, Any] | None = None) -> RunServices:
    """The run's services from its options (``option("--mode")``...); bad ones are ``ConfigError``.
    In a pytest-xdist worker, ``workerinput`` holds what the controller handed on."""
    target = load_any_target(option("--target"), arm_endpoint=option("--arm-endpoint"))
    mode = mode_named(option("--mode"))
    settings = RunSettings(
        mode=mode,
        target=target,
        cassette_dir=Path(option("--cassettes")),
        allow_mutations_flag=option("--allow-mutations"),
        report_dir=Path(out) if (out := option("--chsm-reports")) else None,
        hsm_client=client_files_for(target, mode.reaches_azure) if isinstance(target, Target) else NO_SANDBOX,
        process=str(workerinput.get("workerid", "main")) if workerinput is not None else "main",
    )
    scrubber = scrubber_for(target)
    waivers = option("--waivers")
    judge = Judge.load(load_catalogue(), Path(waivers) if waivers else target.waivers_path, scrubber)
    identity = RunIdentity(settings)
    if workerinput is not None and (handed := workerinput.get(PSEUDONYM_KEY)) is not None:
        identity.adopt_pseudonym_key(handed)  # one run, one pseudonym per identity, in every worker
    return RunServices(
        settings=settings,
        identity=identity,
        secrets=RunSecrets(settings),
        scrubber=scrubber,
        judge=judge,
        clients=ArmClients(settings, identity, scrubber),
        drill=DrillRecord(settings),
    )


_RUN_KEY = pytest.StashKey[RunServices]()


def services_of(config: pytest.Config) -> RunServices:
    """The run's services in this process, made on first use; bad options are a usage error."""
    run = config.stash.get(_RUN_KEY, None)
    if run is None:
        try:
            run = services_from(config.getoption, getattr(config, "workerinput", None))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.stash[_RUN_KEY] = run
    return run


def made_services(config: pytest.Config) -> RunServices | None:
    """The run's services if this process made them (a run refused early made none)."""
    return config.stash.get(_RUN_KEY, None)
