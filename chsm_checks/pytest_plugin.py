"""The chsm-checks pytest plugin: a switchboard of options and hooks.

Loaded through the ``pytest11`` entry point. Each hook hands its work to the room that owns it: the
run's services (:mod:`chsm_checks.services`), its lifecycle (:mod:`chsm_checks.lifecycle`: plan,
outcomes, ledger, summary) and the reports. The fixtures steps ask for are in
:mod:`chsm_checks.fixtures`, which the plugin registers.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from . import fixtures, stash
from .errors import ChsmError, ConfigError, CouldNotEvaluate
from .fleet.audit import MemberScope
from .fleet.run import FleetUnavailable, merged_summary
from .lifecycle import plan, verdicts
from .lifecycle.ending import entry_of, keep_traceback
from .lifecycle.ledger import WAIVER_NOTES, RunLedger
from .lifecycle.summary import OrganisationControl, write_summary
from .options import add_to_pytest
from .outcomes import Outcome, Verdict
from .reports.allure_results import (
    clean_parameters,
    labels,
    run_environment,
    suite_labels,
    title_paths_outside_the_rootdir,
    write_environment,
)
from .reports.cucumber import ScenarioReportsAcrossWorkers
from .scenarios import ScenarioInfo, is_scenario, scenario_info
from .services.run import FLEET, FLEET_PROGRESS, PSEUDONYM_KEY, RunServices, made_services, services_of
from .version import VERSION

LEDGER_KEY = pytest.StashKey[RunLedger]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chsm-checks", "Azure Cloud HSM backup/restore checks")
    add_to_pytest(group)
    group.addoption("--chsm-reports", default=None, help="write summary.json into this directory")


def pytest_configure(config: pytest.Config) -> None:
    # ``chsm-checks run`` hands its own ledger in (it reads the account after pytest); else one is made.
    found = [p for p in config.pluginmanager.get_plugins() if isinstance(p, RunLedger)]
    ledger = found[0] if found else RunLedger()
    if not found:
        config.pluginmanager.register(ledger, "chsm-checks-ledger")
    config.stash[LEDGER_KEY] = ledger
    config.pluginmanager.register(ScenarioReportsAcrossWorkers(), "chsm-checks-bdd-reports")
    config.pluginmanager.register(fixtures, "chsm-checks-fixtures")
    _bind_organisation(config)


def pytest_bdd_step_func_lookup_error(
    request: Any, feature: Any, scenario: Any, step: Any, exception: Any
) -> None:
    """An undefined step: the scenario is an error whose message names the step, where it is, and
    where the steps there are are listed (pytest-bdd raises the exception after this hook)."""
    from .suite import from_here

    where = from_here(Path(feature.filename))
    exception.args = (
        f'undefined step: {step.type.capitalize()} "{step.name}" ({where}, line {step.line_number}, '
        f'scenario "{scenario.name}"); chsm-checks steps lists the steps there are',
    )


def _organisation_controls() -> list[OrganisationControl]:
    """The controls the organisation's feature directories declare, as summary.json records them."""
    from .organisation import bound

    return [
        OrganisationControl(tag=tag, framework=d.framework.name, control_id=cid, title=title)
        for d in bound()
        if d.framework is not None
        for tag, cid, title in d.controls()
    ]


def _bind_organisation(config: pytest.Config) -> None:
    """The organisation's feature directories (``--features``): their controls registered as markers,
    their features held for the glue module that binds them."""
    from .organisation import bind, load_feature_dirs, marker_lines

    try:
        dirs = load_feature_dirs(config.getoption("--features") or ())
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    for line in marker_lines(dirs):
        config.addinivalue_line("markers", line)
    if dirs:
        title_paths_outside_the_rootdir()
    bind(dirs)


# -- collection: the plan --------------------------------------------------------------------------


def pytest_collection_finish(session: pytest.Session) -> None:
    """What start-up and collection made (modules, classes, the items) lives until the run ends: it is
    set apart from the garbage collector (``gc.freeze``), so each collection during the run, and
    pytest's own at its end, traverses only what the scenarios made since."""
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    """What collection set apart from the garbage collector goes back to it with the session: the
    run's reports are built next in this same process, and a fleet's items are most of its memory."""
    gc.unfreeze()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only what will run needs a recording
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(is_scenario(item) for item in items):
        return
    run = services_of(config)
    settings = run.settings
    features_root = Path(str(config.getini("bdd_features_base_dir") or "features"))
    if not features_root.is_absolute():
        features_root = config.rootpath / features_root
    infos: list[ScenarioInfo] = []
    organisation = frozenset(control.tag for control in _organisation_controls())
    # One mark for each label, shared by every item that carries it: a fleet's items carry the same
    # tens of labels each, thousands of times over.
    marks: dict[tuple[str, str], pytest.MarkDecorator] = {}
    for item in items:
        info = scenario_info(item, settings.cassette_dir, features_root)
        if info is None:
            continue
        if (mismatch := plan.target_mismatch(settings, info)) is not None:
            return _refuse(config, items, mismatch)
        item.stash[stash.SCENARIO] = info
        scope = _fleet_scope(item)
        cluster = item.callspec.id if scope is not None else None  # type: ignore[attr-defined]
        found = labels(info.tags, settings.mode.evidence, info.expected, cluster, organisation)
        for label in [*found, *suite_labels(info.feature, info.rule)]:
            if (mark := marks.get(label)) is None:
                mark = pytest.mark.allure_label(label[0], label_type=label[1])
                if label[1] != "cluster":  # a cluster's label is its own
                    marks[label] = mark
            item.add_marker(mark)
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
                entry_of(item, run, Verdict(Outcome.NOT_RUN, "did not run"), 0.0).to_json()
                for item in items
                if stash.SCENARIO in item.stash
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


def _plan_fleet(run: RunServices, items: list[pytest.Item], workers: int) -> None:
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
    run = services_of(metafunc.config)
    try:
        fleet = run.fleet
        workerinput = getattr(metafunc.config, "workerinput", None)
        handed = workerinput.get(FLEET) if workerinput is not None else None
        if isinstance(handed, str):  # the controller's discovery failed: say so, as it did
            raise CouldNotEvaluate(handed)
        if handed is not None:
            fleet.adopt(handed)
        if workerinput is not None and (progress := workerinput.get(FLEET_PROGRESS)) is not None:
            from .fleet.progress import WorkerProgress

            fleet.worker_progress = WorkerProgress(Path(progress) / f"{workerinput['workerid']}.json")
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
    run = services_of(config)
    if not run.audits_a_fleet:
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
    run = services_of(node.config)
    if (key := run.identity.pseudonym_key_handoff()) is not None:
        node.workerinput[PSEUDONYM_KEY] = key
    if not run.audits_a_fleet:
        return
    try:
        node.workerinput[FLEET] = run.fleet.payload()
    except ChsmError as exc:
        node.workerinput[FLEET] = str(exc)


# -- outcomes --------------------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[stash.STARTED] = time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if stash.SCENARIO not in item.stash:
        return report
    found = item.stash.get(stash.FINDINGS, [])
    if report.when == "call":
        item.user_properties.extend(verdicts.junit_properties(found))
    verdict = verdicts.with_waivers(verdicts.verdict_of(report, call), found)
    if call.excinfo is not None and isinstance(call.excinfo.value, ChsmError) and report.failed:
        # Our own errors already say what a person needs; a traceback would only bury it.
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
    elif call.excinfo is not None and report.failed:
        # Not a judgement and not an error raised on purpose: a defect, or something nobody
        # foresaw. The scenario is an error, and its evidence keeps the traceback for whoever fixes it.
        keep_traceback(item, services_of(item.config), call.excinfo)
    if (settled := verdicts.settled(item.stash.get(stash.VERDICT, None), verdict)) is not None:
        item.stash[stash.VERDICT] = settled
    ledger = item.config.stash[LEDGER_KEY]
    if hasattr(item.config, "workerinput"):
        ledger.send_plan_with(report)
    if report.when == "teardown":
        # Teardown is the last phase of every item, whatever happened before it. The entry travels
        # on the report, so under pytest-xdist it reaches the controller that writes the summary.
        final = item.stash.get(stash.VERDICT, Verdict(Outcome.NOT_RUN, "did not run"))
        started = item.stash.get(stash.STARTED, time.monotonic())
        entry = entry_of(item, services_of(item.config), final, time.monotonic() - started)
        report.chsm_entry = entry.to_json()  # type: ignore[attr-defined]
        setattr(report, WAIVER_NOTES, list(services_of(item.config).judge.waiver_notes))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    done = yield
    let_go(item)  # not when the run is stopped under it: the session's teardown still finishes it
    return done


def let_go(item: pytest.Item) -> None:
    """Let go of what a scenario kept once its reports are made: its entry is in the ledger and its
    evidence on disk, but pytest keeps every item (and pytest-bdd each item's rendered scenario, its
    data tables copied) to the end of the session: a fleet's ten thousand would stay."""
    if stash.SCENARIO not in item.stash:
        return
    kept: tuple[pytest.StashKey[Any], ...] = (stash.FINDINGS, stash.EVIDENCE, stash.VERDICT)
    for key in kept:
        if key in item.stash:
            del item.stash[key]
    from allure_pytest_bdd import storage
    from pytest_bdd.reporting import scenario_reports_registry

    scenario_reports_registry.pop(item, None)
    # Allure's: the scenario and a failure's frames (its key is the plugin's own, not an API: were it
    # renamed, only the memory would stay, never a report change).
    allure_key = getattr(storage, "ALLURE_PYTEST_BDD_HASHKEY", None)
    if allure_key is not None and allure_key in item.stash:
        del item.stash[allure_key]


# -- summary ---------------------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    ledger = config.stash[LEDGER_KEY]
    run = made_services(config)
    if run is not None and run.fleet_if_made is not None:
        run.fleet_if_made.close()
        ledger.fleet = run.fleet_if_made.summary()
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
        run = services_of(config)
    if not ledger.accounted() and not ledger.collection_errors:
        return
    run.judge.note(list(ledger.waiver_notes))
    fleet_summary = (
        None
        if (fleet := run.fleet_if_made) is None
        else merged_summary(fleet.summary(), ledger.worker_fleets)
    )
    write_summary(
        Path(out) / "summary.json",
        run.settings,
        run.judge.waiver_notes,
        fleet_summary,
        ledger.every_planned_entry(),
        exitstatus,
        ledger.collection_errors,
        interrupted=ledger.interruption(exitstatus),
        selection=ledger.selection(config),
        organisation_controls=_organisation_controls(),
    )
    ledger.entries.close()  # summary.json has them now
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
    run = made_services(terminalreporter.config)
    if run is not None:
        for note in run.judge.waiver_notes:
            terminalreporter.write_line(f"chsm-checks: {note}")
