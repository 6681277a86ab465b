"""OSCAL Assessment Results for one run: which controls were assessed, on what evidence, with what result.

Built from the run's ``summary.json`` and the check catalogue, written to
``<run>/oscal/assessment-results.json``. One result for the run; one observation per finding (and
one per scenario that has no findings, or whose outcome its findings do not explain); one OSCAL
finding per control the observations evidence. Every evidence file is referenced relative to the
document, with its SHA-256.

A replay must never read as a live observation: the evidence kind (REPLAY or LIVE) is stated in the
metadata, the result and every observation. A replay names the recordings it played back; a live run
names the endpoint and the identity that made the observations.

UUIDs are version-5, derived from the run, so the same run always yields the same document.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, TextIO
from urllib.parse import quote

from ..checks.catalogue import Catalogue, ControlRef
from ..errors import ConfigError
from ..lifecycle.summary import SUMMARY_FILE, FindingRecord, RunSummary, ScenarioEntry, WaiverRecord
from .controls import Claim, ControlEvidence, Evidence, in_catalogue_order, is_self_check, waiver_sentence
from .controls import observations as scenario_observations
from .oscal_schema import DEFAULT_OSCAL_VERSION, OSCAL_VERSIONS, check_version, validate, validate_file
from .selection import selection_statement

DOCUMENT = PurePosixPath("oscal/assessment-results.json")
# Namespace of this tool's props (the project has no web address yet to use instead).
NS = "urn:chsm-checks:oscal"

_DOCUMENT_TO_RUN = "../" * len(DOCUMENT.parent.parts)
# Markdown that would hide or restyle text in markup fields (``<setting>`` would vanish as HTML).
_MARKDOWN = re.compile(r"([\\`*<])")
# What an OSCAL token (NCName) allows, for the ASCII ids the mapping files may hold.
_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


def build_assessment_results(
    run_dir: Path,
    summary: RunSummary,
    catalogue: Catalogue,
    *,
    oscal_version: str = DEFAULT_OSCAL_VERSION,
    spool: TextIO | None = None,
) -> dict[str, Any]:
    """The OSCAL Assessment Results document of the run in ``run_dir`` whose ``summary.json`` is ``summary``.

    Evidence files are read from ``run_dir`` to hash them; one that is missing, or lies outside
    ``run_dir``, raises ``ConfigError``. Hrefs are relative to ``run_dir / DOCUMENT``.

    With ``spool`` (a file open for writing and reading), each observation is written there as it is
    made, a line of compact ASCII JSON, and the document holds them only as a place to write them
    (:func:`write_compact_json` copies them): a fleet's tens of thousands are never in memory at once.
    """
    check_version(oscal_version)
    run = _Run(run_dir, summary)
    subjects = _Subjects(run)
    linked: dict[tuple[str, str], ControlEvidence] = {}  # each control's, as the observations are made
    documents: list[dict[str, Any]] = []
    count = 0
    for observation in _observations(run, catalogue, subjects):
        if spool is None:
            documents.append(observation.document)
        else:
            spool.write(json.dumps(observation.document, ensure_ascii=True) + "\n")
        count += 1
        for claim in observation.claims:
            linked.setdefault((claim.ref.framework, claim.ref.control_id), ControlEvidence()).add(
                Evidence(observation.label, claim.status, observation.message, observation.waiver),
                observation.uuid,
            )
    evidenced = in_catalogue_order(linked, catalogue)
    plan = run.uid("assessment-plan")

    result = _compact(
        {
            "uuid": run.uid("result"),
            "title": _line(run.result_title()),
            "description": _md(run.result_description()),
            "start": summary.started,
            "end": summary.finished,
            "props": run.props(),
            "local-definitions": _compact(
                {
                    "components": subjects.components(),
                    "assessment-assets": {
                        "components": [run.tool_component()],
                        "assessment-platforms": [run.platform()],
                    },
                }
            ),
            "reviewed-controls": _reviewed_controls(evidenced, catalogue),
            "observations": documents if spool is None else _Spooled(spool, count),
            "findings": _lines_if(
                spool is not None,
                [_finding(run, ref, obs, lazy=spool is not None) for ref, obs in evidenced.items()],
            ),
            "remarks": _md(
                "\n\n".join(
                    [
                        run.kind_statement(),
                        *([f"{p}."] if (p := selection_statement(summary)) else []),
                        *summary.waiver_notes,
                    ]
                )
            ),
        }
    )
    return {
        "assessment-results": {
            "uuid": run.uid("assessment-results", oscal_version),
            "metadata": {
                "title": _line(
                    f"chsm-checks assessment results: {run.kind} run {run.run_id} of target {run.target_name}"
                ),
                "last-modified": summary.finished,
                "version": summary.tool_version,
                "oscal-version": oscal_version,
                "props": run.props(),
                "remarks": _md(run.kind_statement()),
            },
            "import-ap": {
                "href": f"#{plan}",
                "remarks": "There is no separate OSCAL assessment plan: the back-matter resource this "
                "points to names what stood in for one (the check catalogue, its control mappings and "
                "the Gherkin features that ran).",
            },
            "results": [result],
            "back-matter": {"resources": [_plan_resource(plan, run, catalogue)]},
        }
    }


LARGE_RUN_SCENARIOS = 200


def is_large(summary: RunSummary) -> bool:
    """A fleet's run: its document is written compact, for tools more than for reading."""
    return len(summary.scenarios) > LARGE_RUN_SCENARIOS


def write_assessment_results(
    run_dir: Path,
    catalogue: Catalogue,
    *,
    summary: RunSummary | None = None,
    oscal_version: str = DEFAULT_OSCAL_VERSION,
) -> Path:
    """Write ``run_dir/oscal/assessment-results.json`` from ``run_dir/summary.json`` (``summary``, when
    it has been read); return its path."""
    source = run_dir / SUMMARY_FILE
    if summary is None and not source.is_file():
        raise ConfigError(f"{source}: not found (is {run_dir} a chsm-checks run directory?)")
    summary = summary or RunSummary.read(source)
    path = run_dir / DOCUMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    # Indented for a reader up to a few hundred scenarios. A fleet's document (tens of megabytes) is
    # written compact and ASCII-only (\u escapes): indenting would take seconds and double its size,
    # and one non-ASCII character would make Python hold its text at two or four bytes a character
    # when it is read back to be validated. Its observations are made and written a line each, never
    # all in memory, and it is validated a piece at a time (:func:`validate_file`).
    if not is_large(summary):
        document = build_assessment_results(run_dir, summary, catalogue, oscal_version=oscal_version)
        with path.open("w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, ensure_ascii=False)
            out.write("\n")
        return path
    with tempfile.TemporaryFile("w+", encoding="ascii") as spool:
        document = build_assessment_results(
            run_dir, summary, catalogue, oscal_version=oscal_version, spool=spool
        )
        with path.open("w", encoding="utf-8") as out:
            write_compact_json(document, out, ensure_ascii=True)
            out.write("\n")
    return path


class _Spooled:
    """A list of ``count`` JSON values, a line each in ``spool``: written by :func:`write_compact_json`
    a line at a time, on lines of their own between the text before and after them."""

    def __init__(self, spool: TextIO, count: int) -> None:
        self._spool = spool
        self._count = count

    def write(self, out: TextIO) -> None:
        if not self._count:
            out.write("[]")
            return
        self._spool.flush()
        self._spool.seek(0)
        out.write("[\n")
        for n, line in enumerate(self._spool):
            out.write((",\n" if n else "") + line.rstrip("\n"))
        out.write("\n]")


class _Lines:
    """A list written by :func:`write_compact_json` an item a line, on lines of their own between the
    text before and after them (as the observations are): a fleet's findings each relate to one
    observation a cluster, and are validated one at a time (:func:`validate_file`)."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def write(self, out: TextIO) -> None:
        out.write("[\n")
        for n, item in enumerate(self._items):
            if n:
                out.write(",\n")
            write_compact_json(item, out, ensure_ascii=True)
        out.write("\n]")


def _lines_if(lines: bool, items: list[Any]) -> list[Any] | _Lines:
    return _Lines(items) if lines and items else items


class _Related:
    """A finding's related observations, ``{"observation-uuid": ...}`` each, made as they are written
    by :func:`write_compact_json`: a fleet's control has one per cluster, and there are dozens."""

    def __init__(self, uuids: list[str]) -> None:
        self._uuids = uuids

    def write(self, out: TextIO) -> None:
        out.write("[" + ", ".join(f'{{"observation-uuid": "{uuid}"}}' for uuid in self._uuids) + "]")


_ENCODED_WHOLE = 64  # a list longer than this is written an item at a time, each item encoded whole


def write_compact_json(value: Any, out: TextIO, *, ensure_ascii: bool, levels: int = 8) -> None:
    """Write ``json.dumps(value, ensure_ascii=...)`` to ``out``, the same text, a piece at a time.

    ``json.dump`` encodes in Python, a chunk at a time; ``json.dumps`` encodes compact text in C, but
    all of it at once. This walks the top ``levels`` of containers in Python and hands each piece
    below them, and each item of a long list, to ``json.dumps``: C's speed, and never more than one
    piece (one observation, one finding) held as text.
    """
    if isinstance(value, _Spooled | _Lines | _Related):
        value.write(out)
    elif levels and isinstance(value, dict):
        out.write("{")
        for n, (key, item) in enumerate(value.items()):
            out.write((", " if n else "") + json.dumps(key, ensure_ascii=ensure_ascii) + ": ")
            write_compact_json(item, out, ensure_ascii=ensure_ascii, levels=levels - 1)
        out.write("}")
    elif levels and isinstance(value, list | tuple):
        out.write("[")
        whole = len(value) > _ENCODED_WHOLE
        for n, item in enumerate(value):
            if n:
                out.write(", ")
            if whole:
                out.write(json.dumps(item, ensure_ascii=ensure_ascii))
            else:
                write_compact_json(item, out, ensure_ascii=ensure_ascii, levels=levels - 1)
        out.write("]")
    else:
        out.write(json.dumps(value, ensure_ascii=ensure_ascii))


# -- the run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    run_dir: Path
    summary: RunSummary

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def kind(self) -> str:
        """REPLAY or LIVE, as the summary says (its model admits no other)."""
        return self.summary.evidence

    @property
    def target_name(self) -> str:
        return self.summary.target.name

    @property
    def scenarios(self) -> tuple[ScenarioEntry, ...]:
        return self.summary.scenarios

    @cached_property
    def _namespace(self) -> uuid.UUID:
        # The start time to the microsecond tells apart two runs that got the same id on two machines.
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{NS}:run:{self.run_id}:{self.summary.started}")

    @cached_property
    def large(self) -> bool:
        return is_large(self.summary)

    def uid(self, *parts: str) -> str:
        return str(uuid.uuid5(self._namespace, "\x1f".join(parts)))

    def props(self) -> list[dict[str, str]]:
        target = self.summary.target
        return _props(
            ("tool", self.summary.tool),
            ("tool-version", self.summary.tool_version),
            ("mode", self.summary.mode),
            ("evidence-kind", self.kind),
            ("run-id", self.run_id),
            ("target", target.name),
            ("target-kind", target.kind),
            ("cloud", target.cloud),
            ("scenarios-deselected", self.summary.deselected or None),
        )

    def result_title(self) -> str:
        title = f"{self.kind} run {self.run_id} of chsm-checks {self.summary.tool_version}"
        title += f" against target {self.target_name}"
        if self.kind == "REPLAY":
            return title + " (played back from recordings, not observed live)"
        return title + f" (observed live at {', '.join(self._live('endpoint')) or 'an unnamed endpoint'})"

    def result_description(self) -> str:
        counts = self.summary.counts
        shown = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
        target = self.summary.target
        return (
            f"chsm-checks {self.summary.tool_version} ran {len(self.scenarios)} Gherkin scenarios in "
            f"{self.summary.mode} mode against target {target.name} ({target.path}: "
            f"{target.kind}, cloud {target.cloud}): {shown or 'none ended'}.\n\n"
            + (f"{partial}.\n\n" if (partial := selection_statement(self.summary)) else "")
            + self.kind_statement()
        )

    def kind_statement(self) -> str:
        """What the observations rest on: recordings played back, or live requests by whom, to where."""
        if self.kind == "REPLAY":
            played = [r for s in self.scenarios for r in _recordings(s.provenance)]
            recordings = sorted({str(r["recording"]) for r in played})
            stamps = sorted({str(r["recorded_at"]) for r in played if r.get("recorded_at")})
            origins = sorted({str(r["origin"]) for r in played if r.get("origin")})
            where = _common_directory(recordings)
            made = f", made against {', '.join(origins)}" if origins else ""
            when = f" between {stamps[0]} and {stamps[-1]}" if stamps else ""
            hsm = any(r.endswith(".transcript.yaml") for r in recordings)
            return (
                "REPLAY: no observation in this document was made live during this run. Each scenario was "
                f"evaluated against recorded ARM traffic{' and HSM utility transcripts' if hsm else ''} "
                "played back: "
                f"{len(recordings)} recordings under {where}{made}{when}. Each observation names its "
                "recordings and their SHA-256 in its relevant evidence."
            )
        endpoints = ", ".join(self._live("endpoint")) or "an endpoint the run did not name"
        identities = "; ".join(self._live_identities()) or "an identity the run did not name"
        return (
            f"LIVE: the observations were made during this run, by requests to {endpoints} as {identities}."
        )

    def _live(self, key: str) -> list[str]:
        return sorted(
            {
                str(p[key])
                for s in self.scenarios
                if (p := s.provenance) and p.get("kind") == "LIVE" and p.get(key)
            }
        )

    def _live_identities(self) -> list[str]:
        return sorted(
            {_identity(p) for s in self.scenarios if (p := s.provenance) and p.get("kind") == "LIVE"} - {""}
        )

    def collected(self) -> str:
        # The run's end: by then every observation of it had been collected.
        return self.summary.finished

    def evidence_file(self, relative: str) -> Path:
        root = self.run_dir.resolve()
        path = (root / relative).resolve()
        source = self.run_dir / SUMMARY_FILE
        if not path.is_relative_to(root):
            raise ConfigError(f"{source}: evidence file {relative!r} lies outside the run directory")
        if not path.is_file():
            raise ConfigError(f"{source}: evidence file {relative!r} is missing from {self.run_dir}")
        return path

    def tool_component(self) -> dict[str, Any]:
        return {
            "uuid": self.uid("tool"),
            "type": "software",
            "title": "chsm-checks",
            "description": "The compliance harness that ran the Gherkin scenarios and judged the findings.",
            "props": _props(("version", self.summary.tool_version)),
            "status": {"state": "operational"},
        }

    def platform(self) -> dict[str, Any]:
        return {
            "uuid": self.uid("platform"),
            "title": _line(f"chsm-checks {self.summary.tool_version} in {self.summary.mode} mode"),
            "props": _props(("mode", self.summary.mode), ("evidence-kind", self.kind)),
            "uses-components": [{"component-uuid": self.uid("tool")}],
        }


def _recordings(provenance: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The recordings a REPLAY scenario played back: its cassette and, for HSM scenarios, its transcript."""
    if not provenance or provenance.get("kind") != "REPLAY":
        return []
    found = [provenance, provenance.get("transcript")]
    return [r for r in found if isinstance(r, Mapping) and r.get("recording")]


def _identity(provenance: Mapping[str, Any]) -> str:
    # The object id is a keyed pseudonym unless the target named identities in clear; only then is
    # there a tenant id to name.
    if provenance.get("object_id"):
        tenant = f" in tenant {provenance['tenant_id']}" if provenance.get("tenant_id") else ""
        return f"object id {provenance['object_id']}{tenant}"
    return str(provenance.get("identity", ""))


def _common_directory(paths: list[str]) -> str:
    if not paths:
        return "no named directory"
    parents = [PurePosixPath(p).parent.parts for p in paths]
    common: list[str] = []
    for parts in zip(*parents, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return (PurePosixPath(*common).as_posix() + "/") if common else "several directories"


# -- subjects ----------------------------------------------------------------------------------------


class _Subjects:
    """One component per distinct resource in the findings, and one for the target as a whole."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._resources: dict[str, str] = {}  # lower-cased ARM id (ARM ids ignore case) -> as first named
        for scenario in run.scenarios:
            for finding in scenario.findings:
                self._resources.setdefault(finding.resource.lower(), finding.resource)

    def resource(self, resource_id: str) -> dict[str, Any]:
        return {
            "subject-uuid": self._uuid(resource_id),
            "type": "component",
            "title": _line(_resource_name(resource_id)),
            "props": _props(("resource-id", resource_id)),
        }

    def target(self) -> dict[str, Any]:
        return {
            "subject-uuid": self._run.uid("target"),
            "type": "component",
            "title": _line(f"target {self._run.target_name}"),
        }

    def components(self) -> list[dict[str, Any]]:
        target = self._run.summary.target
        unasserted = {
            "state": "other",
            "remarks": "Not asserted here: the component only names what the observations are about.",
        }
        found = [
            {
                "uuid": self._run.uid("target"),
                "type": "this-system",
                "title": _line(f"target {target.name}"),
                "description": _md(
                    f"The chsm-checks target {target.name} ({target.path}): "
                    f"{target.kind}, cloud {target.cloud}."
                ),
                "props": _props(
                    ("target", target.name),
                    ("target-path", target.path),
                    ("target-kind", target.kind),
                    ("cloud", target.cloud),
                ),
                "status": unasserted,
            }
        ]
        for resource_id in self._resources.values():
            found.append(
                {
                    "uuid": self._uuid(resource_id),
                    "type": "service",
                    "title": _line(_resource_name(resource_id)),
                    "description": _md(
                        f"Azure resource {_resource_name(resource_id)} ({_arm_type(resource_id)})."
                    ),
                    "props": _props(("resource-id", resource_id), ("resource-type", _arm_type(resource_id))),
                    "status": unasserted,
                }
            )
        return found

    def _uuid(self, resource_id: str) -> str:
        return self._run.uid("resource", resource_id.lower())


def _resource_name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _arm_type(resource_id: str) -> str:
    """``Microsoft.Storage/storageAccounts/blobServices/containers`` from an ARM id, else "unknown"."""
    _, found, rest = resource_id.rpartition("/providers/")
    parts = rest.strip("/").split("/")
    if not found or len(parts) < 3:
        return "unknown"
    return "/".join([parts[0], *parts[1::2]])


# -- observations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Observation:
    uuid: str
    status: str  # passed, failed, error, not_applicable, waived, not_run
    label: str  # what a remark names it by: "check on resource", or the scenario's name
    message: str
    claims: tuple[Claim, ...]  # the controls it evidences, each with the status it shows for it
    waiver: WaiverRecord | None
    document: dict[str, Any]


def _observations(run: _Run, catalogue: Catalogue, subjects: _Subjects) -> Iterator[_Observation]:
    for scenario in run.scenarios:
        evidence = _relevant_evidence(run, scenario)
        for n, (finding, _, claims) in enumerate(scenario_observations(scenario, catalogue), 1):
            if finding is not None:
                yield _finding_observation(run, scenario, n, finding, claims, subjects, evidence)
            else:
                yield _scenario_observation(run, scenario, claims, subjects, evidence)


def _finding_observation(
    run: _Run,
    scenario: ScenarioEntry,
    n: int,
    finding: FindingRecord,
    claims: tuple[Claim, ...],
    subjects: _Subjects,
    evidence: list[dict[str, Any]],
) -> _Observation:
    check, resource, status = finding.check, finding.resource, str(finding.status)
    remarks = [_scenario_remark(scenario)]
    if finding.observed:
        # Indented for a reader; one line in a fleet's document (Python's encoder indents in Python).
        indent = None if run.large else 2
        observed = json.dumps(finding.observed, indent=indent, sort_keys=True, ensure_ascii=False)
        remarks.append(f"Observed:\n\n```json\n{observed}\n```")
    waiver = finding.waiver
    if waiver is not None:
        remarks.append(_md(waiver_sentence(f"{check} on {resource}", waiver)))
    seen = finding.observed or {}
    if check == "backup.rpo" and "as_of" in seen and _kind_of(run, scenario) == "REPLAY":
        remarks.append(
            _md(
                f"The recovery point is the recording's: judged as of {seen['as_of']}, when it was "
                "recorded, not as of this run."
            )
        )
    if check == "restore.rto" and "restore_requested_at" in seen and _kind_of(run, scenario) == "REPLAY":
        remarks.append(
            _md(
                f"The recovery time is the recording's: its restore was requested at "
                f"{seen['restore_requested_at']}, and timed by the service's dates then, not in this run."
            )
        )
    remarks.append(_md(_provenance_sentence(run, scenario)))
    uid = run.uid("observation", scenario.nodeid, str(n), check, resource)
    document = _compact(
        {
            "uuid": uid,
            "title": _line(check),
            "description": _md(finding.message),
            "props": _props(
                ("check", check),
                ("status", status),
                ("severity", finding.severity or _severity(scenario)),
                ("evidence-kind", _kind_of(run, scenario)),
                ("self-check", "true" if is_self_check(scenario) else None),
                *_recovery_props(check, seen),
            ),
            "methods": ["TEST"],
            "types": ["finding"],
            "origins": [{"actors": [{"type": "tool", "actor-uuid": run.uid("tool")}]}],
            "subjects": [subjects.resource(resource)],
            "relevant-evidence": evidence,
            "collected": run.collected(),
            "remarks": "\n\n".join(remarks),
        }
    )
    label = f"{check} on {_resource_name(resource)}"
    return _Observation(uid, status, label, finding.message, claims, waiver, document)


def _scenario_observation(
    run: _Run,
    scenario: ScenarioEntry,
    claims: tuple[Claim, ...],
    subjects: _Subjects,
    evidence: list[dict[str, Any]],
) -> _Observation:
    outcome, message, expected = str(scenario.outcome), scenario.message, scenario.expected
    description = f"Scenario outcome: {outcome}"
    if expected != "supported":
        description += f" (the scenario expects the request to be {expected})"
    description += f". {message}" if message else "."
    if scenario.findings:
        description += " The scenario's findings do not account for this outcome."
    if is_self_check(scenario):
        description += (
            " It tests chsm-checks itself (a fault it injected or a refusal it provoked), so it is "
            "evidence about the harness, not the environment, and no control's verdict rests on it."
        )
    uid = run.uid("observation", scenario.nodeid, "scenario")
    document = _compact(
        {
            "uuid": uid,
            "title": _line(scenario.name),
            "description": _md(description),
            "props": _props(
                ("scenario-outcome", outcome),
                ("expected", expected),
                ("severity", _severity(scenario)),
                ("evidence-kind", _kind_of(run, scenario)),
                ("self-check", "true" if is_self_check(scenario) else None),
            ),
            "methods": ["TEST"],
            "types": ["finding"],
            "origins": [{"actors": [{"type": "tool", "actor-uuid": run.uid("tool")}]}],
            "subjects": [subjects.target()],
            "relevant-evidence": evidence,
            "collected": run.collected(),
            "remarks": "\n\n".join([_scenario_remark(scenario), _md(_provenance_sentence(run, scenario))]),
        }
    )
    return _Observation(uid, outcome, scenario.name, message, claims, None, document)


def _scenario_remark(scenario: ScenarioEntry) -> str:
    rule = f", rule '{scenario.rule}'" if scenario.rule else ""
    return _md(f"Scenario '{scenario.name}' of {scenario.feature_file} (feature '{scenario.feature}'{rule}).")


def _severity(scenario: ScenarioEntry) -> str | None:
    return next((t.removeprefix("severity-") for t in scenario.tags if t.startswith("severity-")), None)


def _kind_of(run: _Run, scenario: ScenarioEntry) -> str:
    provenance = scenario.provenance or {}
    return str(provenance.get("kind") or run.kind)


def _provenance_sentence(run: _Run, scenario: ScenarioEntry) -> str:
    provenance = scenario.provenance or {}
    kind = _kind_of(run, scenario)
    if kind == "REPLAY":
        recordings = _recordings(provenance)
        named = "; ".join(
            f"{r['recording']} (recorded {r.get('recorded_at', 'at an unrecorded time')} against "
            f"{r.get('origin', 'an unnamed origin')})"
            for r in recordings
        )
        sentence = f"REPLAY: evaluated from {named or 'recordings the run did not name'}; not observed live."
    else:
        sentence = (
            f"LIVE: observed during this run at {provenance.get('endpoint', 'an unnamed endpoint')} "
            f"as {_identity(provenance) or 'an unnamed identity'}."
        )
    if provenance.get("problem"):
        sentence += f" The provenance could not be completed: {provenance['problem']}"
    return sentence


def _relevant_evidence(run: _Run, scenario: ScenarioEntry) -> list[dict[str, Any]]:
    kind = _kind_of(run, scenario)
    source = (
        "from recordings played back, not from live requests" if kind == "REPLAY" else "from its requests"
    )
    found = []
    for relative in scenario.evidence:
        with run.evidence_file(relative).open("rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
        found.append(
            {
                "href": _DOCUMENT_TO_RUN + quote(str(relative)),
                "description": _md(
                    f"Evidence file {PurePosixPath(relative).name}, written by this {kind} run {source}."
                ),
                "props": _props(("sha256", digest), ("evidence-kind", kind)),
            }
        )
    for recording in _recordings(scenario.provenance):
        found.append(
            {
                "href": quote(str(recording["recording"])),
                "description": _md(
                    f"The recording this REPLAY played back, made against {recording.get('origin')} at "
                    f"{recording.get('recorded_at')} by chsm-checks {recording.get('tool_version')}."
                ),
                "props": _props(
                    ("sha256", recording.get("sha256")),
                    ("recorded-at", recording.get("recorded_at")),
                    ("origin", recording.get("origin")),
                    ("evidence-kind", "REPLAY"),
                ),
                "remarks": "The href is relative to the chsm-checks checkout the run started in, "
                "not to this document.",
            }
        )
    return found


# -- controls and findings ---------------------------------------------------------------------------


def oscal_control_id(ref: ControlRef) -> str:
    """The control's OSCAL id: its id as published when that is an OSCAL token, else its Gherkin tag.

    NIST ids are published in OSCAL form (``cp-9.1``) and MCSB ids (``PA-7``) are tokens as they are;
    CIS recommendation numbers (``9.3.4``) begin with a digit, which a token cannot, so they appear
    as their tag (``cis-9.3.4``).
    """
    return ref.control_id if _TOKEN.match(ref.control_id) else ref.tag


def _reviewed_controls(
    evidenced: Mapping[ControlRef, ControlEvidence], catalogue: Catalogue
) -> dict[str, Any]:
    selections = []
    for name in catalogue.frameworks:
        refs = [ref for ref in evidenced if ref.framework == name]
        if not refs:
            continue
        renamed = next((r for r in refs if oscal_control_id(r) != r.control_id), None)
        remarks = None
        if renamed is not None:
            remarks = (
                "An OSCAL control id begins with a letter, so these controls appear as their chsm-checks "
                f"tag ({oscal_control_id(renamed)} for {renamed.control_id}); each finding's props carry "
                "the id as published."
            )
        selections.append(
            _compact(
                {
                    "props": _props(("framework", name)),
                    "include-controls": [{"control-id": oscal_control_id(r)} for r in refs],
                    "remarks": remarks,
                }
            )
        )
    return {
        # A run whose scenarios evidence no control (only self-checks ran) selects none: a selection
        # that includes nothing, saying so, rather than a claim to have reviewed any.
        "control-selections": selections
        or [
            {
                "description": "No control was assessed: the scenarios of this run evidence none "
                "(self-checks test chsm-checks itself, not the environment)."
            }
        ],
        "remarks": "The controls of the chsm-checks framework mappings that this run's scenarios "
        "evidence, one selection per framework (named in its props).",
    }


def _finding(
    run: _Run, ref: ControlRef, observations: ControlEvidence, *, lazy: bool = False
) -> dict[str, Any]:
    """The control's finding; ``lazy``: its related observations made as they are written
    (:class:`_Related`), not held, for a fleet's document."""
    judged = observations.verdict()
    tally = observations.tally()
    assessed = "" if judged.state != "not-assessed" else " Not assessed."
    related: list[dict[str, str]] | _Related = (
        _Related(observations.observations)
        if lazy
        else [{"observation-uuid": uuid} for uuid in observations.observations]
    )
    return {
        "uuid": run.uid("finding", ref.framework, ref.control_id),
        "title": _line(f"{ref.framework} {ref.control_id}: {ref.title}"),
        "description": _md(
            f"{ref.control_id} {ref.title}: {len(observations)} related observations in this "
            f"{run.kind} run ({tally}).{assessed}"
        ),
        "props": _props(
            ("framework", ref.framework),
            ("control-id", ref.control_id),
            ("evidence-kind", run.kind),
            ("verdict", judged.state),
        ),
        "target": {
            "type": "objective-id",
            "target-id": oscal_control_id(ref),
            "title": _line(ref.title),
            "status": {"state": judged.oscal_state, "reason": judged.reason, "remarks": _md(judged.remarks)},
        },
        "related-observations": related,
    }


# -- the rest ----------------------------------------------------------------------------------------


def _plan_resource(plan: str, run: _Run, catalogue: Catalogue) -> dict[str, Any]:
    features = sorted({s.feature_file for s in run.scenarios if s.feature_file})
    frameworks = ", ".join(catalogue.frameworks)
    return {
        "uuid": plan,
        "title": "chsm-checks assessment plan: the check catalogue, its control mappings and the features",
        "description": _md(
            f"No OSCAL assessment plan document exists for this run. What stood in for one: the chsm-checks "
            f"{run.summary.tool_version} check catalogue ({len(catalogue.checks)} checks), its mappings "
            f"to {frameworks}, and the Gherkin feature files that ran: {', '.join(features) or 'none'}."
        ),
        "props": _props(("tool-version", run.summary.tool_version)),
    }


# The figures of a recovery finding a consumer can read, as (prop name, observed key).
_RECOVERY_PROPS: dict[str, tuple[tuple[str, str], ...]] = {
    "backup.rpo": (
        ("rpo-hours", "rpo_hours"),
        ("achieved-rpo-hours", "achieved_rpo_hours"),
        ("latest-backup-at", "latest_backup_at"),
        ("as-of", "as_of"),
    ),
    "restore.rto": (
        ("rto-minutes", "rto_minutes"),
        ("restore-requested-at", "restore_requested_at"),
        ("active-at", "active_at"),
        ("validated-by", "validated_by"),
        ("achieved-minutes-to-active", "minutes_to_active"),
        ("achieved-minutes-to-validated", "minutes_to_validated"),
    ),
}


def _recovery_props(check: str, seen: Mapping[str, Any]) -> tuple[tuple[str, object], ...]:
    """The achieved recovery point of a ``backup.rpo`` finding, or recovery time of a ``restore.rto``
    one, as props a consumer can read."""
    return tuple((name, seen.get(key)) for name, key in _RECOVERY_PROPS.get(check, ()))


def _props(*pairs: tuple[str, object]) -> list[dict[str, str]]:
    """Props in this tool's namespace, values on one line as OSCAL strings must be; empty ones left out."""
    found = []
    for name, value in pairs:
        text = " ".join(str(value).split()) if value is not None else ""
        if text:
            found.append({"name": name, "ns": NS, "value": text})
    return found


def _compact(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without empty members: OSCAL arrays hold at least one item, strings one character."""
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def _line(text: str) -> str:
    """A markup-line: one line, Markdown escaped."""
    return _md(" ".join(text.split()))


def _md(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


__all__ = [
    "DEFAULT_OSCAL_VERSION",
    "DOCUMENT",
    "OSCAL_VERSIONS",
    "build_assessment_results",
    "oscal_control_id",
    "validate",
    "validate_file",
    "write_assessment_results",
]
