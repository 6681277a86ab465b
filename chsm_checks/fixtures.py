"""The fixtures chsm-checks serves to step definitions, each one thing (the plugin registers them).

Run-wide ones come from the run's services (:mod:`chsm_checks.services`); the rest are the
scenario's own: its findings, its evidence folder, its ARM client and its HSM utility sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import stash
from .arm.client import ArmClient
from .checks.catalogue import Catalogue
from .checks.model import Finding
from .errors import ConfigError
from .evidence.store import ScenarioEvidence
from .fleet.run import FleetRun
from .hsm.runner import HsmRunner
from .lifecycle import verdicts
from .lifecycle.ending import evidence_of
from .modes import RunMode
from .outcomes import not_applicable
from .recording import Scrubber
from .scenarios import ScenarioInfo
from .services.clients import hsm_runner
from .services.drill import DrillRecord
from .services.identity import RunIdentity
from .services.judge import Judge
from .services.run import services_of
from .services.settings import RunSettings
from .target import Target


@pytest.fixture(scope="session")
def run_settings(pytestconfig: pytest.Config) -> RunSettings:
    """The run's mode, target, recordings and flags."""
    return services_of(pytestconfig).settings


@pytest.fixture(scope="session")
def run_mode(run_settings: RunSettings) -> RunMode:
    """The run's mode (replay, record or live): ask it, never compare its name."""
    return run_settings.mode


@pytest.fixture(scope="session")
def target(run_settings: RunSettings) -> Target:
    """The loaded backup/restore target file."""
    return run_settings.single_target


@pytest.fixture(scope="session")
def catalogue(pytestconfig: pytest.Config) -> Catalogue:
    """The checks' metadata joined with the framework mappings."""
    return services_of(pytestconfig).judge.catalogue


@pytest.fixture(scope="session")
def judge(pytestconfig: pytest.Config) -> Judge:
    """Judges a catalogue check into findings, with the run's waivers applied."""
    return services_of(pytestconfig).judge


@pytest.fixture(scope="session")
def scrubber(pytestconfig: pytest.Config) -> Scrubber:
    """The run's scrubber: the same placeholders in every recording and report of the run."""
    return services_of(pytestconfig).scrubber


@pytest.fixture(scope="session")
def run_identity(pytestconfig: pytest.Config) -> RunIdentity:
    """The run's credential, and who it names."""
    return services_of(pytestconfig).identity


@pytest.fixture(scope="session")
def drill_record(pytestconfig: pytest.Config) -> DrillRecord:
    """What the drill's scenarios hand on: the source inventory, and whether a restore succeeded."""
    return services_of(pytestconfig).drill


@pytest.fixture(scope="session")
def fleet(pytestconfig: pytest.Config) -> FleetRun:
    """The fleet audit of a fleet target."""
    return services_of(pytestconfig).fleet


def _progress_writer(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines for a person watching a live run, written past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(message: str) -> None:
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"    … {message}")

    return write


def _scenario(request: pytest.FixtureRequest, fixture: str) -> ScenarioInfo:
    info = request.node.stash.get(stash.SCENARIO, None)
    if info is None:
        raise ConfigError(f"the {fixture!r} fixture serves Gherkin scenarios only")
    found: ScenarioInfo = info
    return found


@pytest.fixture
def findings(request: pytest.FixtureRequest) -> list[Finding]:
    """The scenario's findings: steps add to it, reports show every one (waived ones marked)."""
    found: list[Finding] = request.node.stash.setdefault(stash.FINDINGS, [])
    return found


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> ScenarioEvidence:
    """The scenario's evidence folder; ARM exchanges and HSM sessions land here and in Allure."""
    _scenario(request, "evidence")
    return evidence_of(request.node, services_of(request.config))


def _keeps_recording(item: pytest.Item, path: Path) -> bool:
    return verdicts.keeps_recording(item.stash.get(stash.VERDICT, None), path)


@pytest.fixture
def arm(request: pytest.FixtureRequest, evidence: ScenarioEvidence) -> Iterator[ArmClient]:
    """An ARM client for this scenario. Scenarios tagged ``@guard`` get a read-only one."""
    info = _scenario(request, "arm")
    with services_of(request.config).clients.scenario_client(
        info.cassette,
        info.label,
        read_only=request.node.get_closest_marker("guard") is not None,
        on_event=_progress_writer(request.config),
        keep_recording=lambda: _keeps_recording(request.node, info.cassette),
        evidence=evidence,
    ) as client:
        yield client


@pytest.fixture
def hsm(request: pytest.FixtureRequest, tmp_path: Path, evidence: ScenarioEvidence) -> Iterator[HsmRunner]:
    """HSM utility sessions for this scenario (tag it ``@hsm``): live, recorded or replayed."""
    info = request.node.stash.get(stash.SCENARIO, None)
    if info is None or "hsm" not in info.tags:
        raise ConfigError("the 'hsm' fixture serves Gherkin scenarios tagged @hsm")
    run = services_of(request.config)
    if run.settings.single_target.spec.hsm is None:
        not_applicable(f"{run.settings.target.path} names no [hsm] utilities")
    runner = hsm_runner(run.settings, run.secrets, info.transcript, tmp_path, evidence)
    yield runner
    run.secrets.learnt.update(runner.secrets)
    if _keeps_recording(request.node, info.transcript):
        runner.save(run.settings.provenance(info.label))
