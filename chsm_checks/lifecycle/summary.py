"""``summary.json`` as a typed model: what ran, against what, and how each scenario ended.

The run writes it (:func:`write_summary`); the matrix, OSCAL, Cucumber and JUnit reports, the seal,
``verify`` and ``merge`` read it back through :meth:`RunSummary.read`, which refuses a file that is
not what chsm-checks writes in one line naming the file and the field. Serialising a model gives the
same bytes the run wrote: fields are in the order the file has them, and the few fields a summary
holds only sometimes (a fleet, a seal, the shards of a merge) are left out when absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, ValidationError, model_serializer

from ..arm.versions import API_VERSIONS
from ..errors import ConfigError
from ..modes import EvidenceKind, ModeName
from ..outcomes import Outcome
from ..suite import evidence_path
from ..version import VERSION

if TYPE_CHECKING:
    from ..services.settings import RunSettings

SUMMARY_FILE = "summary.json"


class _Record(BaseModel):
    """A part of summary.json: immutable, no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # Fields the file holds only when they have a value (absent, not null, otherwise).
    _omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self._omitted_when_none:
            if data.get(name) is None:
                data.pop(name, None)
        return data

    def to_json(self) -> dict[str, Any]:
        """This part as summary.json holds it."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


class WaiverRecord(_Record):
    """The waiver that waived a finding, as the waiver file stated it."""

    _omitted_when_none = frozenset({"ticket"})

    check: str
    resource: str
    justification: str
    approver: str
    approved_on: str
    expires: str
    ticket: str | None = None


class FindingRecord(_Record):
    """What one check concluded about one resource (:class:`chsm_checks.checks.model.Finding`)."""

    _omitted_when_none = frozenset({"observed", "holds", "waiver", "severity"})

    check: str
    resource: str
    status: Outcome
    message: str
    observed: dict[str, Any] | None = None
    holds: dict[str, bool] | None = None
    waiver: WaiverRecord | None = None
    # Below the check's own severity when the target only advises what was found missing.
    severity: Literal["low"] | None = None


class ScenarioEntry(_Record):
    """How one scenario ended, with what it found and the evidence it left."""

    feature: str
    feature_file: str
    name: str
    nodeid: str
    tags: tuple[str, ...]
    outcome: Outcome
    message: str
    cassette: str
    duration_seconds: float
    findings: tuple[FindingRecord, ...] = ()
    rule: str | None = None
    expected: str = "supported"
    evidence: tuple[str, ...] = ()
    provenance: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioEntry:
        """An entry as summary.json holds it (and as a pytest-xdist worker sends it)."""
        return cls.model_validate(data)


class TargetRecord(_Record):
    name: str
    path: str
    kind: str
    cloud: str

    def comparable(self) -> dict[str, str]:
        """The target without its file's path, which differs between machines running it."""
        return self.model_dump(mode="json", exclude={"path"})


class ShardSelection(_Record):
    """What chose the scenarios of one shard of a merged bundle."""

    run_id: str
    keyword: str | None
    markers: str | None
    deselected: int


class Selection(_Record):
    """What chose the run's scenarios (-k, -m) and how many it left out."""

    _omitted_when_none = frozenset({"shards"})

    keyword: str | None = None
    markers: str | None = None
    deselected: int = 0
    shards: tuple[ShardSelection, ...] | None = None  # a merged bundle's: each shard's own


class Signing(_Record):
    """How the bundle is sealed, as the reports built from the summary state it."""

    trusted: bool
    statement: str


class MergedFrom(_Record):
    """One shard a merged bundle was made from."""

    run_id: str
    manifest_sha256: str
    public_key_sha256: str


_RECOVERY_CHECKS = frozenset({"backup.rpo", "restore.rto"})  # the checks whose figures the header repeats


def _the_finding_with(entries: Iterable[ScenarioEntry], check: str, figure: str) -> FindingRecord | None:
    """The one finding of ``check`` among ``entries`` that observed ``figure``; none if not exactly one."""
    found = [f for e in entries for f in e.findings if f.check == check and figure in (f.observed or {})]
    return found[0] if len(found) == 1 else None


class RecoveryPoint(_Record):
    """The achieved recovery point of the run's source cluster, as ``backup.rpo`` judged it: how old its
    latest successful backup was, as of when. ``measured`` says whose figures they are: this run's
    (``live``) or, in a replay, the recording's, as of the date it was recorded."""

    cluster: str
    outcome: Outcome
    rpo_hours: int
    achieved_hours: float | None
    latest_backup_at: str | None
    as_of: str
    measured: Literal["live", "recording"]

    def sentence(self) -> str:
        """The recovery point as a report's header says it."""
        whose = "the recording's, as of" if self.measured == "recording" else "as of"
        if self.achieved_hours is None:
            found = f"no successful backup of {self.cluster}"
        else:
            found = f"{self.achieved_hours:g} hours since {self.cluster}'s latest successful backup"
        return f"{found} ({whose} {self.as_of}); target RPO {self.rpo_hours} hours: {self.outcome.value}"

    @classmethod
    def of(cls, entries: Iterable[ScenarioEntry], evidence: EvidenceKind) -> RecoveryPoint | None:
        """The one ``backup.rpo`` finding with figures among ``entries`` (none for a fleet's many)."""
        if (finding := _the_finding_with(entries, "backup.rpo", "as_of")) is None:
            return None
        seen = finding.observed or {}
        return cls(
            cluster=finding.resource.rstrip("/").rsplit("/", 1)[-1],
            outcome=finding.status,
            rpo_hours=int(seen["rpo_hours"]),
            achieved_hours=seen.get("achieved_rpo_hours"),
            latest_backup_at=seen.get("latest_backup_at"),
            as_of=str(seen["as_of"]),
            measured="recording" if evidence == "REPLAY" else "live",
        )


class RecoveryTime(_Record):
    """The achieved recovery time of the run's restore drill, as ``restore.rto`` judged it: minutes from
    the restore request to the destination reading Active and to its validation having passed, by the
    service's dates. ``measured`` says whose: this run's (``live``) or, in a replay, the recording's."""

    cluster: str
    outcome: Outcome
    rto_minutes: int
    restore_requested_at: str
    minutes_to_active: float | None
    minutes_to_validated: float | None
    measured: Literal["live", "recording"]

    def sentence(self) -> str:
        """The recovery time as a report's header says it."""
        whose = "the recording's: " if self.measured == "recording" else ""
        if self.minutes_to_active is None:
            found = f"{self.cluster} never read Active"
        else:
            found = f"{self.cluster} read Active {self.minutes_to_active:g} minutes"
            if self.minutes_to_validated is not None:
                found += f" and was validated by {self.minutes_to_validated:g} minutes"
        return (
            f"{whose}{found} after the restore request at {self.restore_requested_at}; "
            f"target RTO {self.rto_minutes} minutes: {self.outcome.value}"
        )

    @classmethod
    def of(cls, entries: Iterable[ScenarioEntry], evidence: EvidenceKind) -> RecoveryTime | None:
        """The one ``restore.rto`` finding with figures among ``entries``."""
        if (finding := _the_finding_with(entries, "restore.rto", "restore_requested_at")) is None:
            return None
        seen = finding.observed or {}
        return cls(
            cluster=finding.resource.rstrip("/").rsplit("/", 1)[-1],
            outcome=finding.status,
            rto_minutes=int(seen["rto_minutes"]),
            restore_requested_at=str(seen["restore_requested_at"]),
            minutes_to_active=seen.get("minutes_to_active"),
            minutes_to_validated=seen.get("minutes_to_validated"),
            measured="recording" if evidence == "REPLAY" else "live",
        )


class OrganisationControl(_Record):
    """A control an organisation's features are tagged with (``--features DIR``, its controls.toml)."""

    tag: str
    framework: str
    control_id: str
    title: str


class RunSummary(_Record):
    """A run's summary.json."""

    _omitted_when_none = frozenset(
        {"fleet", "signing", "merged_from", "recovery_point", "recovery_time", "organisation_controls"}
    )

    tool: str
    tool_version: str
    run_id: str
    mode: ModeName
    evidence: EvidenceKind  # a record run's observations are live ones
    target: TargetRecord
    allow_mutations: bool
    api_versions: dict[str, str]
    started: str
    finished: str
    pytest_exit_status: int
    complete: bool
    interrupted: str | None
    partial: bool
    selection: Selection
    collection_errors: tuple[str, ...]
    counts: dict[str, int]
    waiver_notes: tuple[str, ...]
    scenarios: tuple[ScenarioEntry, ...]
    fleet: dict[str, Any] | None = None
    signing: Signing | None = None
    merged_from: tuple[MergedFrom, ...] | None = None
    recovery_point: RecoveryPoint | None = None
    recovery_time: RecoveryTime | None = None
    # The organisation's own controls its features (``--features``) were tagged with, when any.
    organisation_controls: tuple[OrganisationControl, ...] | None = None

    @classmethod
    def read(cls, path: Path) -> RunSummary:
        """The summary at ``path``; one line naming the file and the field when it is not one."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({exc})") from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str | bytes, where: Path | str) -> RunSummary:
        """The summary ``text`` holds (``where`` names it in the one line a bad one gives)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: not JSON ({exc})") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_first_problem(exc)}; not a chsm-checks summary") from None

    @classmethod
    def read_streamed(cls, path: Path) -> RunSummary:
        """The summary at ``path`` with its scenarios read from the file a line at a time each time
        they are gone through (:class:`ScenarioLines`), never all held: what the reports are built
        from. Refused as :meth:`read` refuses it, before anything is built from it: every line is
        checked first. A file not laid out a scenario a line is read whole."""
        split = _scenario_lines(path)
        if split is None:
            return cls.read(path)
        header = cls.parse(split[0], path)
        scenarios = ScenarioLines(path, *split[1])
        for _ in scenarios:  # each checked, none kept
            pass
        return header.model_copy(update={"scenarios": scenarios})

    @classmethod
    def read_header(cls, path: Path) -> RunSummary:
        """The summary at ``path`` with its scenarios left out (``scenarios`` is empty; ``counts``
        still says how many ended each way): what the end of a run asks of a fleet's summary without
        holding its thousands of scenarios. A file not laid out a scenario a line is read whole."""
        split = _scenario_lines(path)
        if split is None:
            return cls.read(path).model_copy(update={"scenarios": ()})
        return cls.parse(split[0], path)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(summary_text(self.to_json()), encoding="utf-8")

    @classmethod
    def amend(cls, path: Path, **update: Any) -> None:
        """Set fields of the summary at ``path`` other than its scenarios, whose lines are copied as
        they are (a file not laid out a scenario a line is read and written whole)."""
        if "scenarios" in update:
            raise ValueError("amend leaves the scenarios as they are")
        split = _scenario_lines(path)
        if split is None:
            cls.read(path).model_copy(update=update).write(path)
            return
        header = cls.parse(split[0], path).model_copy(update=update)
        part = path.with_name(f".{path.name}.part")
        with part.open("w", encoding="utf-8") as out:
            out.writelines(_summary_pieces(header.to_json(), _lines_of(path, *split[1])))
        os.replace(part, path)

    @property
    def deselected(self) -> int:
        """How many scenarios the run's selection (-k, -m) left out."""
        return self.selection.deselected

    def count(self, outcome: Outcome) -> int:
        return self.counts.get(outcome.value, 0)


def summary_text(data: dict[str, Any]) -> str:
    """summary.json's text: indented as a reader expects, but each scenario on one line of its own.

    Python's JSON encoder indents in Python and writes compact in C; a fleet's summary holds a
    scenario a cluster, each with tens of findings, where indenting every finding would take most
    of the time spent writing and reading the file. A scenario a line also keeps the file easy to
    read, to diff and to search, and lets the run write it a scenario at a time (:func:`write_summary`).
    """
    return "".join(_summary_pieces(data, (json.dumps(entry) for entry in data["scenarios"])))


def _summary_pieces(data: dict[str, Any], scenario_lines: Iterable[str]) -> Iterator[str]:
    """:func:`summary_text` a piece at a time, the scenarios' lines taken from ``scenario_lines``
    (``data["scenarios"]`` only holds their place)."""
    yield "{\n"
    for number, (key, value) in enumerate(data.items()):
        yield (",\n" if number else "") + f"  {json.dumps(key)}: "
        if key != "scenarios":
            yield json.dumps(value, indent=2).replace("\n", "\n  ")
            continue
        lines = iter(scenario_lines)
        if (first := next(lines, None)) is None:
            yield "[]"
            continue
        yield "[\n    " + first
        for line in lines:
            yield ",\n    " + line
        yield "\n  ]"
    yield "\n}\n"


_SCENARIOS_OPEN = '  "scenarios": [\n'
_SCENARIOS_CLOSE = ("  ]\n", "  ],\n")


def _scenario_lines(path: Path) -> tuple[str, tuple[int, int]] | None:
    """summary.json's text with ``"scenarios": []`` in place of its scenarios' lines, and which
    lines those are (the first and one past the last); ``None`` if it is not laid out as
    :func:`summary_text` lays it out, a scenario a line."""
    header: list[str] = []
    try:
        with path.open(encoding="utf-8") as text:
            for number, line in enumerate(text):
                if line != _SCENARIOS_OPEN:
                    header.append(line)
                    continue
                first = number + 1
                for number, line in enumerate(text, start=first):
                    if line in _SCENARIOS_CLOSE:
                        header.append('  "scenarios": []' + line[3:])
                        header.extend(text)
                        return "".join(header), (first, number)
                    if not (line.startswith("    {") and line.rstrip().removesuffix(",").endswith("}")):
                        return None  # a scenario over several lines
                return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    return None


class ScenarioLines:
    """summary.json's scenarios, lines ``first`` to ``end`` of ``path``, each read and checked as it
    is reached: gone through as often as asked, one held at a time. A line that is not a scenario
    ends the reading with one line naming the file, the line and the field."""

    def __init__(self, path: Path, first: int, end: int) -> None:
        self._path, self._first, self._end = path, first, end

    def __len__(self) -> int:
        return self._end - self._first

    def __iter__(self) -> Iterator[ScenarioEntry]:
        for number, line in enumerate(_lines_of(self._path, self._first, self._end), start=self._first + 1):
            try:
                yield ScenarioEntry.model_validate_json(line)
            except ValidationError as exc:
                problem = _first_problem(exc)
                raise ConfigError(
                    f"{self._path}: line {number}: scenarios: {problem}; not a chsm-checks summary"
                ) from None


def _lines_of(path: Path, first: int, end: int) -> Iterator[str]:
    """The scenarios' lines ``first`` to ``end`` of ``path``, each as :func:`summary_text` takes it."""
    with path.open(encoding="utf-8") as text:
        for number, line in enumerate(text):
            if number >= end:
                return
            if number >= first:
                yield line.strip().removesuffix(",")


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    return f"{where or 'the file'}: {error['msg']}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def write_summary(
    path: Path,
    run: RunSettings,
    waiver_notes: Iterable[str],
    fleet: dict[str, Any] | None,
    entries: Iterable[ScenarioEntry],
    exitstatus: int,
    collection_errors: Iterable[str] = (),
    *,
    interrupted: str | None = None,
    selection: Selection | None = None,
    organisation_controls: Iterable[OrganisationControl] = (),
) -> None:
    """Write ``summary.json``; replayed scenarios carry their cassette's provenance.

    ``entries`` is gone through twice, to count and then to write a scenario at a time: a list, or
    the run ledger's entries read back from where it keeps them on disk, so a fleet's summary is
    never whole in memory.

    ``collection_errors`` names the test modules or features that could not be collected: their
    scenarios are missing from ``scenarios``, so the run is not a complete account. ``complete`` is
    false when anything was not collected, did not run, or the run was ``interrupted`` (and why).
    ``selection`` says what chose the scenarios (-k, -m) and how many it left out: a run that left
    some out is ``partial``, an account of what it selected and nothing more.
    """
    counts = {o.value: 0 for o in Outcome}
    measured = []  # the entries that judged a recovery point or time
    for entry in entries:
        counts[entry.outcome.value] += 1
        if any(f.check in _RECOVERY_CHECKS for f in entry.findings):
            measured.append(entry)
    errors = tuple(collection_errors)
    selection = selection or Selection()
    summary = RunSummary(
        tool="chsm-checks",
        tool_version=VERSION,
        run_id=path.parent.name,
        mode=run.mode.name,
        evidence=run.mode.evidence,
        target=TargetRecord(
            name=run.target.name,
            path=evidence_path(run.target.path),
            kind=run.target.kind,
            cloud=run.target.cloud.name,
        ),
        # What the person asked for: a replay sends nothing anywhere and replays what was recorded.
        allow_mutations=run.allow_mutations_flag,
        api_versions=dict(API_VERSIONS),
        started=_utc(run.started_at),
        finished=_utc(datetime.now(UTC)),
        pytest_exit_status=int(exitstatus),
        complete=not (errors or interrupted or counts[Outcome.NOT_RUN.value]),
        interrupted=interrupted,
        partial=bool(selection.deselected),
        selection=selection,
        collection_errors=errors,
        counts=counts,
        waiver_notes=tuple(waiver_notes),
        scenarios=(),  # written from ``entries`` in their place
        fleet=fleet,
        recovery_point=RecoveryPoint.of(measured, run.mode.evidence),
        recovery_time=RecoveryTime.of(measured, run.mode.evidence),
        organisation_controls=tuple(organisation_controls) or None,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.writelines(_summary_pieces(summary.to_json(), (json.dumps(e.to_json()) for e in entries)))
