"""The chsm-checks pytest plugin: options, run state, per-scenario ARM client and cassette, outcomes.

Loaded through the ``pytest11`` entry point. It stays declarative: the work is in the library.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .arm.client import ArmClient
from .arm.versions import API_VERSIONS
from .errors import ChsmError, ConfigError
from .outcomes import Outcome, Verdict
from .recording import Provenance, read_provenance, recording, replaying, slug, write_cassette
from .run import MODES, RunContext
from .target import Target, load_target

RUN_KEY = pytest.StashKey[RunContext]()
SCENARIO_KEY = pytest.StashKey["ScenarioInfo"]()
VERDICT_KEY = pytest.StashKey[Verdict]()
TIMING_KEY = pytest.StashKey[float]()


@dataclass(frozen=True)
class ScenarioInfo:
    """What a collected test is, in Gherkin terms."""

    feature_file: str
    feature: str
    name: str
    tags: tuple[str, ...]
    example: str | None
    cassette: Path

    @property
    def title(self) -> str:
        return self.name if self.example is None else f"{self.name} [{self.example}]"


@dataclass
class _Results:
    entries: list[dict[str, Any]] = field(default_factory=list)


RESULTS_KEY = pytest.StashKey[_Results]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chsm-checks", "Azure Cloud HSM backup/restore checks")
    group.addoption("--mode", choices=MODES, default="replay", help="replay (default), record or live")
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


# -- collection ----------------------------------------------------------------------------------


def _scenario_template(item: pytest.Item) -> Any:
    # The one place that reads pytest-bdd internals (pinned to 9.x): which scenario a test runs.
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    obj = getattr(item, "obj", None)
    return scenario_wrapper_template_registry.get(obj) if obj is not None else None


def _scenario_info(item: pytest.Item, cassette_dir: Path, features_root: Path) -> ScenarioInfo | None:
    template = _scenario_template(item)
    if template is None:
        return None
    feature_path = Path(template.feature.filename)
    try:
        rel = feature_path.resolve().relative_to(features_root.resolve())
    except ValueError:
        rel = Path(feature_path.name)
    callspec = getattr(item, "callspec", None)
    example = callspec.id if callspec is not None else None
    name = slug(template.name) + (f"__{slug(example)}" if example else "")
    rule_tags = template.rule.tags if template.rule is not None else set()
    return ScenarioInfo(
        feature_file=rel.as_posix(),
        feature=template.feature.name,
        name=template.name,
        tags=tuple(sorted(set(template.tags) | set(template.feature.tags) | set(rule_tags))),
        example=example,
        cassette=cassette_dir / rel.with_suffix("") / f"{name}.yaml",
    )


def _run_context(config: pytest.Config) -> RunContext:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        try:
            target = load_target(config.getoption("--target"))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        run = RunContext(
            mode=config.getoption("--mode"),
            target=target,
            cassette_dir=Path(config.getoption("--cassettes")),
            allow_mutations_flag=config.getoption("--allow-mutations"),
        )
        config.stash[RUN_KEY] = run
    return run


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not any(_scenario_template(item) is not None for item in items):
        return
    run = _run_context(config)
    features_root = Path(str(config.getini("bdd_features_base_dir") or "features"))
    if not features_root.is_absolute():
        features_root = config.rootpath / features_root
    missing: list[Path] = []
    for item in items:
        info = _scenario_info(item, run.cassette_dir, features_root)
        if info is None:
            continue
        item.stash[SCENARIO_KEY] = info
        if run.mode == "replay" and not info.cassette.is_file():
            missing.append(info.cassette)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise pytest.UsageError(f"{missing[0]}: cassette not found{more}; record it with --mode record")
    config.stash[RESULTS_KEY] = _Results()


# -- outcomes --------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if SCENARIO_KEY not in item.stash:
        return report
    previous = item.stash.get(VERDICT_KEY, None)
    verdict: Verdict | None = None
    if report.skipped and call.excinfo is not None:
        reason = call.excinfo.value.msg if hasattr(call.excinfo.value, "msg") else str(call.excinfo.value)
        verdict = Verdict(Outcome.NOT_APPLICABLE, str(reason))
    elif report.failed and call.excinfo is not None:
        exc = call.excinfo.value
        if report.when == "call" and isinstance(exc, AssertionError):
            verdict = Verdict(Outcome.FAILED, str(exc).split("\nassert ")[0].strip())
        else:
            verdict = Verdict(Outcome.ERROR, _one_line(exc))
            if isinstance(exc, ChsmError):
                # Our own errors already say what a person needs; a traceback would only bury it.
                report.longrepr = f"{type(exc).__name__}: {exc}"
    elif report.passed and report.when == "call":
        verdict = Verdict(Outcome.PASSED)
    if verdict is not None and (previous is None or previous.outcome in (Outcome.PASSED,)):
        item.stash[VERDICT_KEY] = verdict
    return report


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[TIMING_KEY] = time.monotonic()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    info = item.stash.get(SCENARIO_KEY, None)
    results = item.config.stash.get(RESULTS_KEY, None)
    if info is None or results is None:
        return
    verdict = item.stash.get(VERDICT_KEY, Verdict(Outcome.NOT_RUN))
    results.entries.append(
        {
            "feature": info.feature,
            "feature_file": info.feature_file,
            "name": info.title,
            "nodeid": item.nodeid,
            "tags": list(info.tags),
            "outcome": verdict.outcome.value,
            "message": verdict.message,
            "cassette": info.cassette.as_posix(),
            "duration_seconds": round(time.monotonic() - item.stash.get(TIMING_KEY, time.monotonic()), 3),
        }
    )


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chsm_run(pytestconfig: pytest.Config) -> RunContext:
    """The run's mode, target and settings."""
    return _run_context(pytestconfig)


@pytest.fixture(scope="session")
def target(chsm_run: RunContext) -> Target:
    """The loaded target file."""
    return chsm_run.target


def _progress_writer(config: pytest.Config) -> Any:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(message: str) -> None:
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"    … {message}")
        else:
            reporter.write_line(f"    … {message}")

    return write


@pytest.fixture
def arm(request: pytest.FixtureRequest, chsm_run: RunContext) -> Iterator[ArmClient]:
    """An ARM client for this scenario: over its cassette in replay, recording in record mode."""
    info = request.node.stash.get(SCENARIO_KEY, None)
    if info is None:
        raise ConfigError("the 'arm' fixture serves Gherkin scenarios only")
    read_only = request.node.get_closest_marker("guard") is not None
    run = chsm_run

    def client(transport: Any = None) -> ArmClient:
        return ArmClient(
            run.target.cloud,
            credential=run.credential(),
            transport=transport,
            clock=run.new_clock(),
            retry=run.retry_policy,
            timeout_seconds=run.target.spec.arm.request_timeout_seconds,
            replay=run.mode == "replay",
            read_only=read_only,
            on_event=None if run.mode == "replay" else _progress_writer(request.config),
        )

    if run.mode == "replay":
        with replaying(info.cassette, run.scrubber) as transport, client(transport) as c:
            yield c
        return
    if run.mode == "live":
        with client() as c:
            yield c
        return
    with recording(run.scrubber) as cassette, client() as c:
        yield c
    verdict = request.node.stash.get(VERDICT_KEY, Verdict(Outcome.NOT_RUN))
    keep_existing = verdict.outcome is Outcome.NOT_APPLICABLE and info.cassette.exists()
    if verdict.outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.NOT_APPLICABLE) and not keep_existing:
        provenance = Provenance.now(
            target_kind=run.target.kind,
            target_name=run.target.name,
            cloud=run.target.cloud.name,
            scenario=f"{info.feature_file}: {info.title}",
        )
        write_cassette(info.cassette, cassette, provenance, run.scrubber)


# -- summary ---------------------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    out = config.getoption("--chsm-reports")
    results = config.stash.get(RESULTS_KEY, None)
    run = config.stash.get(RUN_KEY, None)
    if out is None or results is None or run is None:
        return
    seen = {e["nodeid"] for e in results.entries}
    for item in session.items:
        info = item.stash.get(SCENARIO_KEY, None)
        if info is not None and item.nodeid not in seen:
            results.entries.append(
                {"feature": info.feature, "feature_file": info.feature_file, "name": info.title,
                 "nodeid": item.nodeid, "tags": list(info.tags), "outcome": Outcome.NOT_RUN.value,
                 "message": "did not run", "cassette": info.cassette.as_posix(), "duration_seconds": 0.0}
            )  # fmt: skip
    if run.mode == "replay":
        for entry in results.entries:
            entry["provenance"] = _replay_provenance(Path(entry["cassette"]))
    counts = {o.value: 0 for o in Outcome}
    for entry in results.entries:
        counts[entry["outcome"]] += 1
    summary = {
        "tool": "chsm-checks",
        "tool_version": __version__,
        "mode": run.mode,
        "evidence": "REPLAY" if run.mode == "replay" else "LIVE",
        "target": {
            "name": run.target.name,
            "path": run.target.path.as_posix(),
            "kind": run.target.kind,
            "cloud": run.target.cloud.name,
        },
        "allow_mutations": run.allow_mutations,
        "api_versions": dict(API_VERSIONS),
        "started": run.started_at.isoformat().replace("+00:00", "Z"),
        "finished": _utc_now(),
        "pytest_exit_status": int(exitstatus),
        "counts": counts,
        "scenarios": results.entries,
    }
    path = Path(out) / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _replay_provenance(path: Path) -> dict[str, Any]:
    try:
        provenance = read_provenance(path)
    except ChsmError as exc:
        return {"cassette": path.as_posix(), "problem": str(exc)}
    return {
        "cassette": path.as_posix(),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "recorded_at": provenance.recorded_at,
        "origin": provenance.target_kind,
        "target": provenance.target_name,
        "tool_version": provenance.tool_version,
    }


def _utc_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
