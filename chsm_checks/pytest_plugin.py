"""The chsm-checks pytest plugin: options, run state, the per-scenario ARM client, outcomes, summary.

Loaded through the ``pytest11`` entry point. It stays declarative: the work is in the library.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .arm.client import ArmClient
from .arm.versions import API_VERSIONS
from .checks.catalogue import Severity
from .checks.model import Finding
from .errors import ChsmError, ConfigError, CouldNotEvaluate, ExpectationNotMet
from .evidence.bundle import PLAN, REFUSAL
from .evidence.store import ScenarioEvidence
from .fleet.audit import MemberScope
from .fleet.run import FleetUnavailable
from .hsm.runner import HsmRunner
from .modes import DEFAULT_MODE, MODES
from .outcomes import Outcome, Verdict, not_applicable
from .recording.replayable import require_replayable
from .reports import ScenarioEntry, write_summary
from .reports.allure_results import clean_parameters, write_environment
from .reports.cucumber import ScenarioReportsAcrossWorkers
from .run import RunContext
from .scenarios import ScenarioInfo, is_scenario, scenario_info
from .target import Target, load_any_target

RUN_KEY = pytest.StashKey[RunContext]()
COLLECTOR_KEY = pytest.StashKey["_EntryCollector"]()
SCENARIO_KEY = pytest.StashKey[ScenarioInfo]()
VERDICT_KEY = pytest.StashKey[Verdict]()
STARTED_KEY = pytest.StashKey[float]()
FINDINGS_KEY = pytest.StashKey[list[Finding]]()
EVIDENCE_KEY = pytest.StashKey[ScenarioEvidence]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chsm-checks", "Azure Cloud HSM backup/restore checks")
    group.addoption("--mode", choices=MODES, default=DEFAULT_MODE, help="replay (default), record or live")
    group.addoption(
        "--target", default="targets/reference.toml", help="target file (default: targets/reference.toml)"
    )
    group.addoption("--cassettes", default="cassettes", help="cassette directory (default: cassettes)")
    group.addoption(
        "--allow-mutations",
        action="store_true",
        default=False,
        help="let live and record runs send backup and restore requests",
    )
    group.addoption("--chsm-reports", default=None, help="write summary.json into this directory")
    group.addoption("--waivers", default=None, help="waiver file (default: the target's 'waivers')")


def _run_context(config: pytest.Config) -> RunContext:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        try:
            target = load_any_target(config.getoption("--target"))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        run = RunContext(
            mode=config.getoption("--mode"),
            target=target,
            cassette_dir=Path(config.getoption("--cassettes")),
            allow_mutations_flag=config.getoption("--allow-mutations"),
            report_dir=Path(out) if (out := config.getoption("--chsm-reports")) else None,
            waivers_path=Path(w) if (w := config.getoption("--waivers")) else None,
        )
        try:
            run.load_waivers()
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and (handed := workerinput.get("chsm_pseudonym_key")) is not None:
            run.adopt_pseudonym_key(handed)  # one run, one pseudonym per identity, in every worker
        config.stash[RUN_KEY] = run
    return run


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only what will run needs a recording
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(is_scenario(item) for item in items):
        return
    run = _run_context(config)
    features_root = Path(str(config.getini("bdd_features_base_dir") or "features"))
    if not features_root.is_absolute():
        features_root = config.rootpath / features_root
    missing: list[Path] = []
    recordings: list[Path] = []
    workers = _xdist_workers(config)
    for item in items:
        info = scenario_info(item, run.cassette_dir, features_root)
        if info is None:
            continue
        if ("fleet" in info.tags) != run.is_fleet:
            kind = "a fleet target" if run.is_fleet else "a backup/restore target"
            return _refuse(
                config,
                items,
                f"{run.target.path}: {kind} cannot run {info.feature_file}; "
                "chsm-checks run picks the features that fit the target",
            )
        item.stash[SCENARIO_KEY] = info
        _label_for_allure(item, info, run)
        if run.mode == "replay":
            wanted = [info.cassette] + ([info.transcript] if "hsm" in info.tags else [])
            missing += [path for path in wanted if not path.is_file()]
            recordings += wanted
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return _refuse(
            config, items, f"{missing[0]}: recording not found{more}; record it with --mode record"
        )
    try:
        require_replayable(recordings, run.cassette_dir)  # a damaged recording stops the run first
    except ConfigError as exc:
        return _refuse(config, items, str(exc))
    if not run.is_fleet and (missing_prerequisites := _drill_problems(run, items)):
        return _refuse(
            config,
            items,
            f"{run.target.path}: the drill cannot start, and nothing was sent: "
            + "; ".join(missing_prerequisites)
            + " (a restore activates the destination for good: every prerequisite is checked first; "
            "deselect the drill with -k to run the rest)",
        )
    if run.is_fleet:
        _plan_fleet(run, items, workers)
    _write_plan(config, items)


def _drill_problems(run: RunContext, items: list[pytest.Item]) -> list[str]:
    from .prerequisites import drill_problems

    tags = [frozenset(item.stash[SCENARIO_KEY].tags) for item in items if SCENARIO_KEY in item.stash]
    return drill_problems(run, tags)


def _refuse(config: pytest.Config, items: list[pytest.Item], problem: str) -> None:
    """Stop the run before any test, with one line. In a pytest-xdist worker a usage error would end
    the worker and bury the line under xdist's internal error: there the first worker writes it where
    ``chsm-checks run`` reads it, and every worker runs nothing."""
    out = config.getoption("--chsm-reports")
    if not hasattr(config, "workerinput") or out is None:
        raise pytest.UsageError(problem)
    path = Path(out) / REFUSAL
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(problem)
    except FileExistsError:
        pass
    items.clear()


def _fleet_scope(item: pytest.Item) -> MemberScope | None:
    callspec = getattr(item, "callspec", None)
    scope = callspec.params.get("fleet_member") if callspec is not None else None
    return scope if isinstance(scope, MemberScope) else None


def _xdist_workers(config: pytest.Config) -> int:
    """How many pytest-xdist workers share the run (1 when it is not distributed)."""
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput["workercount"]) if workerinput is not None else 1


def _plan_fleet(run: RunContext, items: list[pytest.Item], workers: int) -> None:
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
    run = _run_context(metafunc.config)
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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """(pytest-xdist, controller) Spread tests with chsm-checks's scopes (``xdist_scheduling``)."""
    if config.getoption("dist") != "load":
        return None  # the person chose a distribution mode: theirs stands
    from .xdist_scheduling import GroupScheduling

    return GroupScheduling(config, log, lambda test_id, workers: _fleet_batch(config, test_id, workers))


def _fleet_batch(config: pytest.Config, test_id: str, workers: int) -> str | None:
    """The batch of the fleet test whose parameter id is ``test_id`` (controller side)."""
    run = _run_context(config)
    if not run.is_fleet or config.getoption("--mode") != "live":
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
    run = _run_context(node.config)
    if (key := run.pseudonym_key_handoff()) is not None:
        node.workerinput["chsm_pseudonym_key"] = key
    if not run.is_fleet or node.config.getoption("--mode") != "live":
        return
    try:
        node.workerinput["chsm_fleet"] = run.fleet.payload()
    except ChsmError as exc:
        node.workerinput["chsm_fleet"] = str(exc)


def _label_for_allure(item: pytest.Item, info: ScenarioInfo, run: RunContext) -> None:
    """Severity, controls and REPLAY/LIVE as labels an auditor can filter on.

    The severity label carries the catalogue's own word (critical, high, medium, low), as the matrix,
    summary.json and the OSCAL document do. Allure's five-level enum (blocker … trivial) has no
    "high", "medium" or "low", and Allure 3 groups a result without a severity under "normal":
    mapping the words, or leaving some rows without one, would show another word for the same row."""
    label = pytest.mark.allure_label
    words = [tag.removeprefix("severity-") for tag in info.tags if tag.startswith("severity-")]
    severities = [Severity(word) for word in words if word in {s.value for s in Severity}]
    if severities:  # a scenario judging several checks carries the gravest of their severities
        item.add_marker(label(min(severities, key=list(Severity).index).value, label_type="severity"))
    for tag in info.tags:
        if tag.startswith(("nist-", "cis-", "mcsb-")):
            item.add_marker(label(tag, label_type="control"))
    item.add_marker(label("REPLAY" if run.mode == "replay" else "LIVE", label_type="evidence"))
    item.add_marker(label(info.expected, label_type="expected"))
    if _fleet_scope(item) is not None:  # which cluster, readable (the parameter itself is an object)
        item.add_marker(label(item.callspec.id, label_type="cluster"))  # type: ignore[attr-defined]


# -- outcomes --------------------------------------------------------------------------------------


def _verdict(report: pytest.TestReport, call: pytest.CallInfo[None]) -> Verdict | None:
    """Only a judgement (``ExpectationNotMet``, raised by ``chsm_checks.expect``) makes a finding;
    any other exception, an ``assert`` in library code included, means the scenario could not be
    evaluated."""
    excinfo = call.excinfo
    if report.skipped and excinfo is not None:
        return Verdict(Outcome.NOT_APPLICABLE, str(getattr(excinfo.value, "msg", excinfo.value)))
    if report.failed and excinfo is not None:
        exc = excinfo.value
        if report.when == "call" and isinstance(exc, ExpectationNotMet):
            return Verdict(Outcome.FAILED, str(exc).strip())
        lines = str(exc).strip().splitlines()
        return Verdict(Outcome.ERROR, f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": "))
    if report.passed and report.when == "call":
        return Verdict(Outcome.PASSED)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if SCENARIO_KEY not in item.stash:
        return report
    verdict = _verdict(report, call)
    found = item.stash.get(FINDINGS_KEY, [])
    if report.when == "call":
        # CI systems read these from junit.xml: every finding that is not a plain pass, waivers included
        # (reports.junit moves them to the suite's properties and the test's output, for junit-10.xsd).
        for f in found:
            if f.status is not Outcome.PASSED:
                waiver = (
                    f" [waived by {f.waiver.approver} until {f.waiver.expires:%Y-%m-%d}]" if f.waiver else ""
                )
                item.user_properties.append((f"{f.status.value}:{f.check_id}", f"{f.message}{waiver}"))
    waived = [f for f in found if f.status is Outcome.WAIVED]
    if verdict is not None and verdict.outcome is Outcome.PASSED and waived:
        verdict = Verdict(Outcome.WAIVED, "; ".join(f"{f.message} (waived)" for f in waived))
    if call.excinfo is not None and isinstance(call.excinfo.value, ChsmError) and report.failed:
        # Our own errors already say what a person needs; a traceback would only bury it.
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
    elif call.excinfo is not None and report.failed:
        # Not a judgement and not an error raised on purpose: a defect, or something nobody
        # foresaw. The scenario is an error, and its evidence keeps the traceback for whoever fixes it.
        _keep_traceback(item, call.excinfo)
    previous = item.stash.get(VERDICT_KEY, None)
    if verdict is not None and (previous is None or previous.outcome is Outcome.PASSED):
        item.stash[VERDICT_KEY] = verdict
    if report.when == "teardown":
        # Teardown is the last phase of every item, whatever happened before it. The entry travels
        # on the report, so under pytest-xdist it reaches the controller that writes the summary.
        final = item.stash.get(VERDICT_KEY, Verdict(Outcome.NOT_RUN, "did not run"))
        started = item.stash.get(STARTED_KEY, time.monotonic())
        entry = _entry(item, item.stash[SCENARIO_KEY], final, time.monotonic() - started)
        report.chsm_entry = entry.to_json()  # type: ignore[attr-defined]
        run = item.config.stash[RUN_KEY]
        report.chsm_waiver_notes = list(run.waiver_notes)  # type: ignore[attr-defined]
    return report


def _keep_traceback(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """The traceback of an unforeseen exception, as evidence of the scenario it ended (secrets the
    run knows of masked)."""
    import traceback

    info = item.stash[SCENARIO_KEY]
    run = item.config.stash[RUN_KEY]
    evidence = item.stash.setdefault(
        EVIDENCE_KEY, ScenarioEvidence(run.report_dir, info.feature_file, info.slug)
    )
    text = "".join(traceback.format_exception(excinfo.value))
    for secret in sorted(run.known_secrets(), key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    evidence.add_text("traceback", text)


class _EntryCollector:
    """Gathers every scenario's entry from the reports: this process's, or its xdist workers'."""

    def __init__(self) -> None:
        self.entries: list[ScenarioEntry] = []
        self.waiver_notes: dict[str, None] = {}
        self.order: dict[str, int] = {}  # under xdist: the collection order, which reports follow
        self.collection_errors: list[str] = []
        self.crashed: dict[str, str] = {}  # node id -> what pytest-xdist said when its worker died
        self.started: set[str] = set()
        self.interrupted: str | None = None
        self.deselected = 0  # scenarios -k/-m left out (under xdist: as the workers report it)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # chsm-checks run turns SIGTERM into KeyboardInterrupt("SIGTERM"); Ctrl-C carries no text.
        self.interrupted = str(excinfo.value) or "interrupted (Ctrl-C)"

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(report.nodeid or "(collection)")

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.order:
            self.order = {nodeid: i for i, nodeid in enumerate(ids)}

    def in_order(self) -> list[ScenarioEntry]:
        """The entries in collection order (under xdist they arrive as workers finish)."""
        last = len(self.order)
        return sorted(self.entries, key=lambda e: self.order.get(e.nodeid, last))

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += sum(1 for item in items if is_scenario(item))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        # Every worker collects and deselects the same items: each reports the same count.
        output = getattr(node, "workeroutput", None) or {}
        self.deselected = max(self.deselected, int(output.get("chsm_deselected", 0)))

    def selection(self, config: pytest.Config) -> dict[str, Any]:
        """What chose the scenarios: the -k and -m expressions, and how many they left out."""
        return {
            "keyword": config.getoption("keyword", "") or None,
            "markers": config.getoption("markexpr", "") or None,
            "deselected": self.deselected,
        }

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.started.add(nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if str(report.when) == "???":  # pytest-xdist's report for a test whose worker died under it
            self.crashed[report.nodeid] = str(report.longrepr)
        entry = getattr(report, "chsm_entry", None)
        if entry is not None:
            self.entries.append(ScenarioEntry.from_json(entry))
            self.waiver_notes.update(dict.fromkeys(getattr(report, "chsm_waiver_notes", ())))


def pytest_configure(config: pytest.Config) -> None:
    collector = _EntryCollector()
    config.stash[COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "chsm-checks-entries")
    config.pluginmanager.register(ScenarioReportsAcrossWorkers(), "chsm-checks-bdd-reports")


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[STARTED_KEY] = time.monotonic()


def _entry(item: pytest.Item, info: ScenarioInfo, verdict: Verdict, duration: float) -> ScenarioEntry:
    run = item.config.stash[RUN_KEY]
    try:
        provenance = run.provenance_of(info.cassette, info.transcript if "hsm" in info.tags else None)
    except ChsmError as exc:  # e.g. the credential could not name its identity
        provenance = {"kind": "LIVE" if run.mode != "replay" else "REPLAY", "problem": str(exc)}
    if EVIDENCE_KEY in item.stash:
        item.stash[EVIDENCE_KEY].add_json("provenance", provenance, attach=False)
    return ScenarioEntry(
        findings=tuple(f.to_json() for f in item.stash.get(FINDINGS_KEY, [])),
        feature=info.feature,
        feature_file=info.feature_file,
        name=info.title,
        nodeid=item.nodeid,
        tags=info.tags,
        outcome=verdict.outcome,
        message=verdict.message,
        cassette=info.cassette.as_posix(),
        duration_seconds=round(duration, 3),
        rule=info.rule,
        expected=info.expected,
        evidence=tuple(item.stash[EVIDENCE_KEY].files) if EVIDENCE_KEY in item.stash else (),
        provenance=provenance,
    )


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chsm_run(pytestconfig: pytest.Config) -> RunContext:
    """The run's mode, target and settings."""
    return _run_context(pytestconfig)


@pytest.fixture(scope="session")
def target(chsm_run: RunContext) -> Target:
    """The loaded backup/restore target file."""
    return chsm_run.single_target


def _progress_writer(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines for a person watching a live run, written past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(message: str) -> None:
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"    … {message}")

    return write


@pytest.fixture
def findings(request: pytest.FixtureRequest) -> list[Finding]:
    """The scenario's findings: steps add to it, reports show every one (waived ones marked)."""
    found: list[Finding] = request.node.stash.setdefault(FINDINGS_KEY, [])
    return found


@pytest.fixture
def evidence(request: pytest.FixtureRequest, chsm_run: RunContext) -> ScenarioEvidence:
    """The scenario's evidence folder; ARM exchanges and HSM sessions land here and in Allure."""
    info = request.node.stash.get(SCENARIO_KEY, None)
    if info is None:
        raise ConfigError("the 'evidence' fixture serves Gherkin scenarios only")
    if EVIDENCE_KEY not in request.node.stash:
        request.node.stash[EVIDENCE_KEY] = ScenarioEvidence(chsm_run.report_dir, info.feature_file, info.slug)
    found: ScenarioEvidence = request.node.stash[EVIDENCE_KEY]
    return found


@pytest.fixture
def arm(
    request: pytest.FixtureRequest, chsm_run: RunContext, evidence: ScenarioEvidence
) -> Iterator[ArmClient]:
    """An ARM client for this scenario. Scenarios tagged ``@guard`` get a read-only one."""
    info = request.node.stash.get(SCENARIO_KEY, None)
    if info is None:
        raise ConfigError("the 'arm' fixture serves Gherkin scenarios only")

    with chsm_run.scenario_client(
        info.cassette,
        info.label,
        read_only=request.node.get_closest_marker("guard") is not None,
        on_event=_progress_writer(request.config),
        keep_recording=lambda: _keep_recording(request.node, info.cassette),
        evidence=evidence,
    ) as client:
        yield client


def _keep_recording(item: pytest.Item, path: Path) -> bool:
    # Errors leave no recording; a not-applicable scenario never replaces an existing one.
    verdict = item.stash.get(VERDICT_KEY, Verdict(Outcome.NOT_RUN))
    if verdict.outcome is Outcome.NOT_APPLICABLE:
        return not path.exists()
    return verdict.outcome in (Outcome.PASSED, Outcome.FAILED)


@pytest.fixture
def hsm(
    request: pytest.FixtureRequest, chsm_run: RunContext, tmp_path: Path, evidence: ScenarioEvidence
) -> Iterator[HsmRunner]:
    """HSM utility sessions for this scenario (tag it ``@hsm``): live, recorded or replayed."""
    info = request.node.stash.get(SCENARIO_KEY, None)
    if info is None or "hsm" not in info.tags:
        raise ConfigError("the 'hsm' fixture serves Gherkin scenarios tagged @hsm")
    if chsm_run.single_target.spec.hsm is None:
        not_applicable(f"{chsm_run.target.path} names no [hsm] utilities")
    runner = chsm_run.hsm_runner(info.transcript, tmp_path, evidence)
    yield runner
    chsm_run.secrets.update(runner.secrets)
    if _keep_recording(request.node, info.transcript):
        runner.save(chsm_run.provenance(info.label))


# -- summary ---------------------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.close()
    out = config.getoption("--chsm-reports")
    alluredir = config.getoption("--alluredir", None)
    if run is not None and alluredir:
        clean_parameters(Path(alluredir), run.known_secrets())  # each worker cleans what it wrote
    collector = config.stash[COLLECTOR_KEY]
    if hasattr(config, "workeroutput"):
        config.workeroutput["chsm_deselected"] = collector.deselected
    if out is None or hasattr(config, "workerinput"):
        return  # workers send their entries to the controller, which writes the summary
    if run is None:
        if not collector.entries and not collector.collection_errors:
            return
        run = _run_context(config)
    entries = _every_planned_entry(collector, Path(out))
    if not entries and not collector.collection_errors:
        return
    run.waiver_notes.extend(note for note in collector.waiver_notes if note not in run.waiver_notes)
    write_summary(
        Path(out) / "summary.json",
        run,
        entries,
        exitstatus,
        collector.collection_errors,
        interrupted=_interruption(collector, exitstatus),
        selection=collector.selection(config),
    )
    (Path(out) / PLAN).unlink(missing_ok=True)
    if alluredir:
        write_environment(Path(alluredir), run_environment(run, config.rootpath))


def _every_planned_entry(collector: _EntryCollector, out: Path) -> list[ScenarioEntry]:
    """Every scenario the run planned, in order: as it ended, or as not run, or as lost with its
    worker. What ran comes from the reports; what was planned from the plan written at collection."""
    entries = [
        # pytest-xdist runs a crashed worker's test again on its replacement, in a process that has
        # not seen the rest of its story (the drill's restore, its inventory): the crash is what the
        # run observed, so the scenario is an error, and its message says both.
        replace(
            e,
            outcome=Outcome.ERROR,
            message=f"{e.message}; before that, {collector.crashed[e.nodeid]}".lstrip("; "),
        )
        if e.nodeid in collector.crashed
        else e
        for e in collector.in_order()
    ]
    seen = {e.nodeid for e in entries}
    try:
        planned = json.loads((out / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        planned = []
    for data in planned:
        if data["nodeid"] in seen:
            continue
        crash = collector.crashed.get(data["nodeid"])
        if crash is not None:
            outcome, message = Outcome.ERROR, crash
        elif data["nodeid"] in collector.started:  # it was running when the run was stopped
            outcome, message = (
                Outcome.ERROR,
                f"stopped while running: {collector.interrupted or 'interrupted'}",
            )
        else:
            outcome, message = Outcome.NOT_RUN, "did not run"
        entries.append(ScenarioEntry.from_json({**data, "outcome": outcome.value, "message": message}))
    return entries


def _interruption(collector: _EntryCollector, exitstatus: int) -> str | None:
    """Why the run stopped before its end, if it did."""
    if collector.crashed:
        return f"a pytest-xdist worker crashed while running {len(collector.crashed)} scenario(s)"
    if collector.interrupted is not None or exitstatus == pytest.ExitCode.INTERRUPTED:
        return collector.interrupted or "interrupted"
    return None


def _write_plan(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Write what the run will run, before it runs, so an interrupted or crashed run can still say
    which scenarios never ran. Under xdist every worker collects the same items: the first writes."""
    out = config.getoption("--chsm-reports")
    if out is None:
        return
    planned = [
        _entry(item, item.stash[SCENARIO_KEY], Verdict(Outcome.NOT_RUN, "did not run"), 0.0).to_json()
        for item in items
        if SCENARIO_KEY in item.stash
    ]
    path = Path(out) / PLAN
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            json.dump(planned, handle)
    except FileExistsError:
        pass


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    run = terminalreporter.config.stash.get(RUN_KEY, None)
    if run is not None and run.waiver_notes:
        terminalreporter.section("chsm-checks waivers")
        for note in run.waiver_notes:
            terminalreporter.write_line(note)


def run_environment(run: RunContext, root: Path) -> dict[str, str]:
    """The run's environment, as the Allure report's environment section shows it."""
    import subprocess

    commit = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%H", "--", "features"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    environment = {
        "chsm-checks": __version__,
        "evidence": "REPLAY" if run.mode == "replay" else "LIVE",
        "mode": run.mode,
        "target": f"{run.target.name} ({run.target.kind}, {run.target.cloud.name})",
        "features-commit": commit or "unknown (not a git checkout)",
    }
    environment |= {
        f"api-version.{kind.rsplit('/', 1)[-1]}": version for kind, version in API_VERSIONS.items()
    }
    return environment
