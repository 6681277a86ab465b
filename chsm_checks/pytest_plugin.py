"""The chsm-checks pytest plugin: a switchboard of options, hooks and fixtures.

Loaded through the ``pytest11`` entry point. Each hook hands its work to the room that owns it: the
run's services (:mod:`chsm_checks.services`), its lifecycle (:mod:`chsm_checks.lifecycle`: plan,
outcomes, ledger, summary) and the reports. Steps ask for the fixtures below, each one thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .arm.client import ArmClient
from .checks.catalogue import Catalogue, load_catalogue
from .checks.model import Finding
from .errors import ChsmError, ConfigError, CouldNotEvaluate
from .evidence.store import ScenarioEvidence
from .fleet.audit import MemberScope
from .fleet.run import FleetRun, FleetUnavailable
from .hsm.runner import HsmRunner
from .lifecycle import plan, verdicts
from .lifecycle.ledger import WAIVER_NOTES, RunLedger
from .lifecycle.summary import write_summary
from .modes import RunMode, mode_named
from .options import add_to_pytest
from .outcomes import Outcome, Verdict, not_applicable
from .recording import Scrubber
from .reports.allure_results import clean_parameters, labels, run_environment, write_environment
from .reports.cucumber import ScenarioReportsAcrossWorkers
from .scenarios import ScenarioInfo, is_scenario, scenario_info
from .services.clients import ArmClients, hsm_runner, scrubber_for
from .services.drill import DrillRecord
from .services.identity import RunIdentity
from .services.judge import Judge
from .services.secrets import RunSecrets
from .services.settings import RunSettings
from .target import Target, load_any_target
from .version import VERSION

SCENARIO_KEY = pytest.StashKey[ScenarioInfo]()
VERDICT_KEY = pytest.StashKey[Verdict]()
STARTED_KEY = pytest.StashKey[float]()
FINDINGS_KEY = pytest.StashKey[list[Finding]]()
EVIDENCE_KEY = pytest.StashKey[ScenarioEvidence]()


@dataclass
class _Run:
    """The run's services, made once per process from its options (the fixtures below serve each)."""

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
        if self._fleet is None:
            self._fleet = self.clients.fleet()
        return self._fleet


RUN_KEY = pytest.StashKey[_Run]()
LEDGER_KEY = pytest.StashKey[RunLedger]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chsm-checks", "Azure Cloud HSM backup/restore checks")
    add_to_pytest(group)
    group.addoption("--chsm-reports", default=None, help="write summary.json into this directory")


def _run(config: pytest.Config) -> _Run:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        return run
    try:
        target = load_any_target(config.getoption("--target"))
        settings = RunSettings(
            mode=mode_named(config.getoption("--mode")),
            target=target,
            cassette_dir=Path(config.getoption("--cassettes")),
            allow_mutations_flag=config.getoption("--allow-mutations"),
            report_dir=Path(out) if (out := config.getoption("--chsm-reports")) else None,
        )
        scrubber = scrubber_for(target)
        waivers = config.getoption("--waivers")
        judge = Judge.load(load_catalogue(), Path(waivers) if waivers else target.waivers_path, scrubber)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    identity = RunIdentity(settings)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and (handed := workerinput.get("chsm_pseudonym_key")) is not None:
        identity.adopt_pseudonym_key(handed)  # one run, one pseudonym per identity, in every worker
    run = _Run(
        settings=settings,
        identity=identity,
        secrets=RunSecrets(settings),
        scrubber=scrubber,
        judge=judge,
        clients=ArmClients(settings, identity, scrubber),
        drill=DrillRecord(settings),
    )
    config.stash[RUN_KEY] = run
    return run


def pytest_configure(config: pytest.Config) -> None:
    # ``chsm-checks run`` hands its own ledger in (it reads the account after pytest); else one is made.
    found = [p for p in config.pluginmanager.get_plugins() if isinstance(p, RunLedger)]
    ledger = found[0] if found else RunLedger()
    if not found:
        config.pluginmanager.register(ledger, "chsm-checks-ledger")
    config.stash[LEDGER_KEY] = ledger
    config.pluginmanager.register(ScenarioReportsAcrossWorkers(), "chsm-checks-bdd-reports")


# -- collection: the plan --------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only what will run needs a recording
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(is_scenario(item) for item in items):
        return
    run = _run(config)
    settings = run.settings
    features_root = Path(str(config.getini("bdd_features_base_dir") or "features"))
    if not features_root.is_absolute():
        features_root = config.rootpath / features_root
    infos: list[ScenarioInfo] = []
    for item in items:
        info = scenario_info(item, settings.cassette_dir, features_root)
        if info is None:
            continue
        if (mismatch := plan.target_mismatch(settings, info)) is not None:
            return _refuse(config, items, mismatch)
        item.stash[SCENARIO_KEY] = info
        scope = _fleet_scope(item)
        cluster = item.callspec.id if scope is not None else None  # type: ignore[attr-defined]
        for value, kind in labels(info.tags, settings.mode.evidence, info.expected, cluster):
            item.add_marker(pytest.mark.allure_label(value, label_type=kind))
        infos.append(info)
    if (problem := plan.recordings_problem(settings, infos)) is not None:
        return _refuse(config, items, problem)
    if not settings.is_fleet:
        from .prerequisites import drill_problems

        tags = [frozenset(info.tags) for info in infos]
        problems = drill_problems(settings, run.secrets, run.clients, tags)
        if (refusal := plan.drill_refusal(settings.target.path, problems)) is not None:
            return _refuse(config, items, refusal)
    else:
        _plan_fleet(run, items, _xdist_workers(config))
    if settings.report_dir is not None:
        config.stash[LEDGER_KEY].planned(
            [
                _entry(item, item.stash[SCENARIO_KEY], Verdict(Outcome.NOT_RUN, "did not run"), 0.0).to_json()
                for item in items
                if SCENARIO_KEY in item.stash
            ]
        )


def _refuse(config: pytest.Config, items: list[pytest.Item], problem: str) -> None:
    """Stop the run before any test, with one line. In a pytest-xdist worker a usage error would end
    the worker and bury the line under xdist's internal error: there the worker runs nothing, and its
    ledger hands the line to the controller's, which ``chsm-checks run`` prints."""
    if not hasattr(config, "workerinput") or config.getoption("--chsm-reports") is None:
        raise pytest.UsageError(problem)
    config.stash[LEDGER_KEY].refuse(problem)
    items.clear()


def _fleet_scope(item: pytest.Item) -> MemberScope | None:
    callspec = getattr(item, "callspec", None)
    scope = callspec.params.get("fleet_member") if callspec is not None else None
    return scope if isinstance(scope, MemberScope) else None


def _xdist_workers(config: pytest.Config) -> int:
    """How many pytest-xdist workers share the run (1 when it is not distributed)."""
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput["workercount"]) if workerinput is not None else 1


def _plan_fleet(run: _Run, items: list[pytest.Item], workers: int) -> None:
    """Batch the selected clusters (one batch, or one per worker by storage account) for judging."""
    from .fleet.run import batch_of

    batches: dict[str, list[MemberScope]] = {}
    for item in items:
        if (scope := _fleet_scope(item)) is not None:
            batches.setdefault(batch_of(scope, workers), []).append(scope)
    run.fleet.plan(batches)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per discovered cluster, the cluster in its id."""
    if "fleet_member" not in metafunc.fixturenames:
        return
    run = _run(metafunc.config)
    try:
        fleet = run.fleet
        workerinput = getattr(metafunc.config, "workerinput", None)
        handed = workerinput.get("chsm_fleet") if workerinput is not None else None
        if isinstance(handed, str):  # the controller's discovery failed: say so, as it did
            raise CouldNotEvaluate(handed)
        if handed is not None:
            fleet.adopt(handed)
        scopes = fleet.scopes()
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    except ChsmError as exc:  # discovery could not list the fleet: one test says so, as an error
        metafunc.parametrize("fleet_member", [FleetUnavailable(str(exc))], ids=["fleet-discovery"])
        return
    metafunc.parametrize("fleet_member", scopes, ids=list(fleet.by_test_id()))


# -- pytest-xdist ----------------------------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """(pytest-xdist, controller) Spread tests with chsm-checks's scopes (``xdist_scheduling``)."""
    if config.getoption("dist") != "load":
        return None  # the person chose a distribution mode: theirs stands
    from .xdist_scheduling import GroupScheduling

    return GroupScheduling(config, log, lambda test_id, workers: _fleet_batch(config, test_id, workers))


def _fleet_batch(config: pytest.Config, test_id: str, workers: int) -> str | None:
    """The batch of the fleet test whose parameter id is ``test_id`` (controller side)."""
    run = _run(config)
    if not (run.settings.is_fleet and run.settings.mode.audits_fleets):
        return None
    from .fleet.run import batch_of

    try:
        scope = run.fleet.by_test_id().get(test_id)
    except ChsmError:
        return None
    return batch_of(scope, workers) if scope is not None else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(pytest-xdist, controller) Discover the fleet once and hand it to every worker, with the run's
    pseudonym key (over execnet's channel, never through a file)."""
    run = _run(node.config)
    if (key := run.identity.pseudonym_key_handoff()) is not None:
        node.workerinput["chsm_pseudonym_key"] = key
    if not (run.settings.is_fleet and run.settings.mode.audits_fleets):
        return
    try:
        node.workerinput["chsm_fleet"] = run.fleet.payload()
    except ChsmError as exc:
        node.workerinput["chsm_fleet"] = str(exc)


# -- outcomes --------------------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[STARTED_KEY] = time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if SCENARIO_KEY not in item.stash:
        return report
    found = item.stash.get(FINDINGS_KEY, [])
    if report.when == "call":
        item.user_properties.extend(verdicts.junit_properties(found))
    verdict = verdicts.with_waivers(verdicts.verdict_of(report, call), found)
    if call.excinfo is not None and isinstance(call.excinfo.value, ChsmError) and report.failed:
        # Our own errors already say what a person needs; a traceback would only bury it.
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
    elif call.excinfo is not None and report.failed:
        # Not a judgement and not an error raised on purpose: a defect, or something nobody
        # foresaw. The scenario is an error, and its evidence keeps the traceback for whoever fixes it.
        _keep_traceback(item, call.excinfo)
    if (settled := verdicts.settled(item.stash.get(VERDICT_KEY, None), verdict)) is not None:
        item.stash[VERDICT_KEY] = settled
    ledger = item.config.stash[LEDGER_KEY]
    if hasattr(item.config, "workerinput"):
        ledger.send_plan_with(report)
    if report.when == "teardown":
        # Teardown is the last phase of every item, whatever happened before it. The entry travels
        # on the report, so under pytest-xdist it reaches the controller that writes the summary.
        final = item.stash.get(VERDICT_KEY, Verdict(Outcome.NOT_RUN, "did not run"))
        started = item.stash.get(STARTED_KEY, time.monotonic())
        entry = _entry(item, item.stash[SCENARIO_KEY], final, time.monotonic() - started)
        report.chsm_entry = entry.to_json()  # type: ignore[attr-defined]
        setattr(report, WAIVER_NOTES, list(item.config.stash[RUN_KEY].judge.waiver_notes))
    return report


def _keep_traceback(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """The traceback of an unforeseen exception, as evidence of the scenario it ended (secrets the
    run knows of masked)."""
    import traceback

    info = item.stash[SCENARIO_KEY]
    run = item.config.stash[RUN_KEY]
    evidence = item.stash.setdefault(
        EVIDENCE_KEY, ScenarioEvidence(run.settings.report_dir, info.feature_file, info.slug)
    )
    text = "".join(traceback.format_exception(excinfo.value))
    for secret in sorted(run.secrets.known(), key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    evidence.add_text("traceback", text)


def _entry(item: pytest.Item, info: ScenarioInfo, verdict: Verdict, duration: float) -> Any:
    run = item.config.stash[RUN_KEY]
    mode = run.settings.mode
    transcript = info.transcript if "hsm" in info.tags else None
    try:
        provenance = mode.scenario_provenance(info.cassette, transcript, run.identity.live_facts)
    except ChsmError as exc:  # e.g. the credential could not name its identity
        provenance = {"kind": mode.evidence, "problem": str(exc)}
    evidence = item.stash.get(EVIDENCE_KEY, None)
    if evidence is not None:
        evidence.add_json("provenance", provenance, attach=False)
    found: list[Finding] = item.stash.get(FINDINGS_KEY, [])
    return plan.scenario_entry(
        info,
        item.nodeid,
        verdict,
        duration,
        findings=found,
        evidence=evidence.files if evidence is not None else (),
        provenance=provenance,
    )


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_settings(pytestconfig: pytest.Config) -> RunSettings:
    """The run's mode, target, recordings and flags."""
    return _run(pytestconfig).settings


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
    return _run(pytestconfig).judge.catalogue


@pytest.fixture(scope="session")
def judge(pytestconfig: pytest.Config) -> Judge:
    """Judges a catalogue check into findings, with the run's waivers applied."""
    return _run(pytestconfig).judge


@pytest.fixture(scope="session")
def scrubber(pytestconfig: pytest.Config) -> Scrubber:
    """The run's scrubber: the same placeholders in every recording and report of the run."""
    return _run(pytestconfig).scrubber


@pytest.fixture(scope="session")
def run_identity(pytestconfig: pytest.Config) -> RunIdentity:
    """The run's credential, and who it names."""
    return _run(pytestconfig).identity


@pytest.fixture(scope="session")
def drill_record(pytestconfig: pytest.Config) -> DrillRecord:
    """What the drill's scenarios hand on: the source inventory, and whether a restore succeeded."""
    return _run(pytestconfig).drill


@pytest.fixture(scope="session")
def fleet(pytestconfig: pytest.Config) -> FleetRun:
    """The fleet audit of a fleet target."""
    return _run(pytestconfig).fleet


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
    info = request.node.stash.get(SCENARIO_KEY, None)
    if info is None:
        raise ConfigError(f"the {fixture!r} fixture serves Gherkin scenarios only")
    found: ScenarioInfo = info
    return found


@pytest.fixture
def findings(request: pytest.FixtureRequest) -> list[Finding]:
    """The scenario's findings: steps add to it, reports show every one (waived ones marked)."""
    found: list[Finding] = request.node.stash.setdefault(FINDINGS_KEY, [])
    return found


@pytest.fixture
def evidence(request: pytest.FixtureRequest, run_settings: RunSettings) -> ScenarioEvidence:
    """The scenario's evidence folder; ARM exchanges and HSM sessions land here and in Allure."""
    info = _scenario(request, "evidence")
    if EVIDENCE_KEY not in request.node.stash:
        request.node.stash[EVIDENCE_KEY] = ScenarioEvidence(
            run_settings.report_dir, info.feature_file, info.slug
        )
    found: ScenarioEvidence = request.node.stash[EVIDENCE_KEY]
    return found


def _keeps_recording(item: pytest.Item, path: Path) -> bool:
    return verdicts.keeps_recording(item.stash.get(VERDICT_KEY, None), path)


@pytest.fixture
def arm(request: pytest.FixtureRequest, evidence: ScenarioEvidence) -> Iterator[ArmClient]:
    """An ARM client for this scenario. Scenarios tagged ``@guard`` get a read-only one."""
    info = _scenario(request, "arm")
    with _run(request.config).clients.scenario_client(
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
    info = request.node.stash.get(SCENARIO_KEY, None)
    if info is None or "hsm" not in info.tags:
        raise ConfigError("the 'hsm' fixture serves Gherkin scenarios tagged @hsm")
    run = _run(request.config)
    if run.settings.single_target.spec.hsm is None:
        not_applicable(f"{run.settings.target.path} names no [hsm] utilities")
    runner = hsm_runner(run.settings, run.secrets, info.transcript, tmp_path, evidence)
    yield runner
    run.secrets.learnt.update(runner.secrets)
    if _keeps_recording(request.node, info.transcript):
        runner.save(run.settings.provenance(info.label))


# -- summary ---------------------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    ledger = config.stash[LEDGER_KEY]
    run = config.stash.get(RUN_KEY, None)
    if run is not None and run._fleet is not None:
        run._fleet.close()
    alluredir = config.getoption("--alluredir", None)
    if run is not None and alluredir:
        clean_parameters(Path(alluredir), run.secrets.known())  # each worker cleans what it wrote
    if hasattr(config, "workeroutput"):
        ledger.worker_output(config.workeroutput)
    out = config.getoption("--chsm-reports")
    if out is None or hasattr(config, "workerinput"):
        return  # workers send their entries to the controller, which writes the summary
    if run is None:
        if not ledger.entries and not ledger.collection_errors:
            return
        run = _run(config)
    entries = ledger.every_planned_entry()
    if not entries and not ledger.collection_errors:
        return
    run.judge.note(list(ledger.waiver_notes))
    write_summary(
        Path(out) / "summary.json",
        run.settings,
        run.judge.waiver_notes,
        run._fleet.summary() if run._fleet is not None else None,
        entries,
        exitstatus,
        ledger.collection_errors,
        interrupted=ledger.interruption(exitstatus),
        selection=ledger.selection(config),
    )
    if alluredir:
        settings = run.settings
        target = settings.target
        facts = {
            "chsm-checks": VERSION,
            "evidence": settings.mode.evidence,
            "mode": settings.mode.name,
            "target": f"{target.name} ({target.kind}, {target.cloud.name})",
        }
        write_environment(Path(alluredir), run_environment(facts, config.rootpath / "features"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    run = terminalreporter.config.stash.get(RUN_KEY, None)
    if run is not None and run.judge.waiver_notes:
        terminalreporter.section("chsm-checks waivers")
        for note in run.judge.waiver_notes:
            terminalreporter.write_line(note)
