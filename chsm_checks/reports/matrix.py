"""The configuration matrix: for each configuration, what the tutorial expects and what the run observed.

It is the page a compliance lead reads first, written beside ``summary.json`` as ``matrix.md`` and
``matrix.html``. One row per scenario (each outline example its own row), grouped by feature and
Rule. A replay says so on top, with when its recordings were made: it can never pass for a live run.
A fleet audit adds a grid above the tables: one row per cluster, one column per check, each cell the
worst status of that check's findings, clusters that need attention first.
The HTML is one self-contained file (inline CSS, no script, nothing fetched); every text in it comes
from files and is escaped.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from ..checks.catalogue import Catalogue, default_catalogue
from ..lifecycle.summary import SUMMARY_FILE, FindingRecord, RunSummary, ScenarioEntry
from .controls import SELF_CHECK, Evidence, Verdict, run_verdicts
from .selection import selection_statement

_COUNTED = (
    ("passed", "passed"),
    ("failed", "failed"),
    ("error", "error"),
    ("not_applicable", "not applicable"),
    ("waived", "waived"),
    ("not_run", "not run"),
)
# outcome -> (mark, status word); the mark is never the only signal: the word and colour go with it.
_STATUS = {
    "passed": ("✔", "passed"),
    "failed": ("✘", "failed"),
    "error": ("?", "error"),
    "not_run": ("?", "not run"),
    "not_applicable": ("–", "not applicable"),
    "waived": ("–", "waived"),
}
_FRAMEWORKS = (("nist-", "NIST"), ("cis-", "CIS"), ("mcsb-", "MCSB"))
_COLUMNS = ("Configuration", "Expected", "Observed", "Status", "Controls", "Severity", "Evidence")
_CONTROLS_LEGEND = (
    "A control is satisfied only when every observation evidencing it passed (or was waived, on the "
    "record); an error, a failure or a scenario that did not run leaves it not satisfied, and one not "
    "applicable leaves it not assessed. Self-checks (scenarios that test chsm-checks itself) evidence no "
    "control. The OSCAL document gives the same verdicts."
)


@dataclass(frozen=True)
class _Row:
    name: str
    expected: str
    outcome: str
    observed: str
    details: tuple[str, ...]
    mark: str
    status: str
    controls: tuple[str, ...]
    severity: str
    evidence: tuple[str, ...]  # safe relative hrefs, in the summary's order
    folder: str | None  # safe relative href of the scenario's evidence folder


@dataclass(frozen=True)
class _Group:
    feature: str
    feature_file: str
    rules: dict[str | None, list[_Row]]


# -- reading the summary ---------------------------------------------------------------------------


def _observed(scenario: ScenarioEntry) -> tuple[str, tuple[str, ...]]:
    """The observed verdict and the lines that explain it."""
    outcome, expected = scenario.outcome, scenario.expected
    message = " ".join(scenario.message.split())

    said = (message,) if message else ()

    def of(status: str) -> list[FindingRecord]:
        return [f for f in scenario.findings if f.status == status]

    if outcome == "passed":
        return expected, ()
    if outcome == "failed":
        lines = [f"finding: {f.message} [{f.check}]" for f in of("failed")]
        return f"NOT {expected}", tuple(lines or [f"finding: {message}"])
    if outcome == "error":
        lines = [f"{f.message} [{f.check}]" for f in of("error")]
        return "could not evaluate", (message or "no reason was recorded", *lines)
    if outcome == "not_applicable":
        return "not applicable", (message or "no reason was recorded",)
    if outcome == "waived":
        return "waived", tuple(_waiver_line(f) for f in of("waived")) or said
    return "did not run", () if message == "did not run" else said


def _waiver_line(finding: FindingRecord) -> str:
    waiver = finding.waiver
    if waiver is None:
        return f"waived with no waiver on record: {finding.message} [{finding.check}]"
    ticket = f" ({waiver.ticket})" if waiver.ticket else ""
    until = f"until {waiver.expires[:10]}{ticket}"
    return f"waived by {waiver.approver} {until}: {finding.message} [{finding.check}]"


def _control(tag: str) -> tuple[int, str] | None:
    """``nist-cp-9-1`` → ``NIST CP-9(1)``, ``cis-9.3.4`` → ``CIS 9.3.4``, ``mcsb-pa-7`` → ``MCSB PA-7``."""
    for order, (prefix, framework) in enumerate(_FRAMEWORKS):
        if tag.startswith(prefix):
            rest = tag.removeprefix(prefix)
            if framework == "NIST":
                parts = rest.upper().split("-")
                rest = "-".join(parts[:2]) + "".join(f"({e})" for e in parts[2:])
            elif framework == "MCSB":
                rest = rest.upper()
            return order, f"{framework} {rest}"
    return None


def _controls(tags: Iterable[str], organisation: Mapping[str, str]) -> tuple[str, ...]:
    """The controls a row's tags name: the catalogue's frameworks first, then the organisation's own
    (``organisation``: tag -> how the row names it)."""
    tags = list(tags)
    found = [c for c in (_control(t) for t in tags) if c is not None]
    named = [text for _, text in sorted(found, key=lambda c: c[0])]
    return tuple(named + sorted(organisation[t] for t in tags if t in organisation))


def _href(path: str) -> str | None:
    """A relative link inside the run directory, or ``None`` for a path that would leave it."""
    parts = PurePosixPath(path).parts
    if not parts or parts[0] == "/" or ".." in parts or "\\" in path:
        return None
    return quote(PurePosixPath(*parts).as_posix())


def _folder(paths: list[str]) -> str | None:
    parents = [PurePosixPath(p).parent.parts for p in paths if _href(p) is not None]
    if not parents:
        return None
    common: list[str] = []
    for level in zip(*parents, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return quote("/".join(common)) + "/" if common else None


def _row(scenario: ScenarioEntry, organisation: Mapping[str, str]) -> _Row:
    outcome = str(scenario.outcome)
    observed, details = _observed(scenario)
    mark, status = _STATUS.get(outcome, ("?", outcome))
    tags = scenario.tags
    severity = next((t.removeprefix("severity-") for t in tags if t.startswith("severity-")), "—")
    paths = list(scenario.evidence)
    return _Row(
        name=scenario.name,
        expected=scenario.expected,
        outcome=outcome,
        observed=observed,
        details=details,
        mark=mark,
        status=status,
        controls=("self-check: no control rests on it",)
        if SELF_CHECK in tags
        else _controls(tags, organisation),
        severity=severity,
        evidence=tuple(h for h in (_href(p) for p in paths) if h is not None),
        folder=_folder(paths),
    )


def _groups(summary: RunSummary) -> list[_Group]:
    """Rows by feature, then by Rule, each in the order the run met them."""
    groups: dict[tuple[str, str], _Group] = {}
    organisation = {c.tag: f"{c.framework} {c.control_id}" for c in summary.organisation_controls or ()}
    for scenario in summary.scenarios:
        key = (scenario.feature, scenario.feature_file)
        group = groups.setdefault(key, _Group(*key, rules={}))
        group.rules.setdefault(scenario.rule, []).append(_row(scenario, organisation))
    return list(groups.values())


@dataclass(frozen=True)
class _ControlRow:
    control: str  # "NIST CP-9(1)"
    title: str
    state: str  # satisfied, not-satisfied, not-assessed
    tally: str
    why: str  # the first piece of evidence that kept it from satisfied, "" when satisfied


_VERDICT_WORDS = {"satisfied": "satisfied", "not-satisfied": "not satisfied", "not-assessed": "not assessed"}


def _control_rows(summary: RunSummary, catalogue: Catalogue) -> list[_ControlRow]:
    """One row per control the run's evidence claims, problems first, as OSCAL judges them."""
    rows = []
    for ref, judged, evidence in run_verdicts(summary, catalogue):
        rows.append(
            _ControlRow(
                control=(_control(ref.tag) or (0, ref.control_id))[1],
                title=ref.title,
                state=judged.state,
                tally=evidence.tally(),
                why=_first_reason(judged, evidence.unpassed),
            )
        )
    order = {"not-satisfied": 0, "not-assessed": 1, "satisfied": 2}
    return sorted(rows, key=lambda r: order.get(r.state, 0))


def _first_reason(judged: Verdict, evidence: list[Evidence]) -> str:
    if judged.state == "satisfied":
        return ""
    for status in ("error", "not_run", "failed", "not_applicable"):
        for piece in evidence:
            if piece.status == status:
                return f"{piece.label}: {piece.status.replace('_', ' ')}" + (
                    f" ({piece.message})" if piece.message else ""
                )
    return judged.remarks


def _moment(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)).astimezone(UTC)
    except ValueError:
        return None


def _when(text: object) -> str:
    moment = _moment(text)
    return _stamp(moment) if moment else str(text or "—")


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _provenance_line(summary: RunSummary, kind: str) -> str:
    """What the observations are: replayed from recordings made when, or read live in this run."""
    provenances: Sequence[Mapping[str, Any]] = [s.provenance or {} for s in summary.scenarios]
    if kind == "LIVE":
        endpoints = sorted({str(p["endpoint"]) for p in provenances if p.get("endpoint")})
        through = f" through {', '.join(endpoints)}" if endpoints else ""
        return f"observations read from the target during this run{through}"
    stamps: list[datetime] = []
    origins: set[str] = set()
    for provenance in provenances:
        for recorded in (provenance, provenance.get("transcript") or {}):
            moment = _moment(recorded.get("recorded_at"))
            stamps += [moment] if moment else []
            origins |= {str(recorded["origin"])} if recorded.get("origin") else set()
    first, last = (min(stamps), max(stamps)) if stamps else (None, None)
    if first is None or last is None:
        made = "at times the recordings do not state"
    elif first == last:
        made = f"on {_stamp(first)}"
    elif first.date() == last.date():
        made = f"on {first:%Y-%m-%d} between {first:%H:%M:%S} and {last:%H:%M:%S} UTC"
    else:
        made = f"between {_stamp(first)} and {_stamp(last)}"
    against = f" against {', '.join(sorted(origins))}" if origins else ""
    return (
        f"observations replayed from recordings made {made}{against}; "
        "nothing was read from the target in this run"
    )


def _target_name(summary: RunSummary) -> str:
    return summary.target.name


def _target(summary: RunSummary) -> str:
    return f"{summary.target.name} ({summary.target.kind}, cloud {summary.target.cloud})"


def _counts(summary: RunSummary) -> list[tuple[str, str, int]]:
    return [(key, label, summary.counts.get(key, 0)) for key, label in _COUNTED]


def _facts(summary: RunSummary) -> list[tuple[str, str]]:
    return (
        [
            ("Tool", f"{summary.tool} {summary.tool_version}"),
            ("Target", _target(summary)),
            ("Mode", summary.mode),
            ("Run", summary.run_id),
            ("Started", _when(summary.started)),
            ("Finished", _when(summary.finished)),
        ]
        + (
            [("Recovery point", summary.recovery_point.sentence())]
            if summary.recovery_point is not None
            else []
        )
        + ([("Recovery time", summary.recovery_time.sentence())] if summary.recovery_time is not None else [])
        + ([("Seal", summary.signing.statement)] if summary.signing is not None else [])
    )


# -- the fleet grid --------------------------------------------------------------------------------
# A fleet audit runs one scenario per discovered cluster; beside the per-scenario table, the grid
# shows every cluster against every check at a glance. Both renderers format the same `_Fleet`.

# Worst first. A status outside this list ranks worse than all of them: an unknown word must never
# hide behind a pass.
_SEVERITY_ORDER = ("error", "failed", "waived", "not_applicable", "passed")
_RANK = {status: len(_SEVERITY_ORDER) - i for i, status in enumerate(_SEVERITY_ORDER)}
_PROBLEMS = frozenset({"failed", "error"})
_NO_FINDING = "—"
_NODE_PARAMETER = re.compile(r"\[(.*)\]\s*$")


@dataclass(frozen=True)
class _Cluster:
    test_id: str
    outcome: str
    folder: str | None  # safe relative href of the cluster's evidence folder
    cells: tuple[str | None, ...]  # per grid check: the worst status of its findings, None if none


@dataclass(frozen=True)
class _Fleet:
    checks: tuple[str, ...]  # in the order the findings list them
    clusters: tuple[_Cluster, ...]  # failed or errored first, then by test id
    totals: tuple[tuple[int, int], ...]  # per check: (clusters failed, clusters errored)
    outcome_totals: tuple[int, int]  # clusters whose scenario failed, errored


def _worst(statuses: Iterable[str]) -> str | None:
    """The worst of some finding statuses (error > failed > waived > not_applicable > passed)."""
    return max(statuses, key=lambda s: _RANK.get(s, len(_SEVERITY_ORDER) + 1), default=None)


def _test_id(scenario: ScenarioEntry) -> str:
    """The cluster's test id: the parameter of ``test_fleet[rg/cluster]``, else the scenario name."""
    for text in (scenario.nodeid, scenario.name):
        if match := _NODE_PARAMETER.search(text):
            return match.group(1)
    return scenario.name


def _needs_attention(cluster: _Cluster) -> bool:
    return cluster.outcome in _PROBLEMS or any(cell in _PROBLEMS for cell in cluster.cells)


def _fleet(summary: RunSummary) -> _Fleet | None:
    """The fleet grid of a summary, or ``None`` when it holds no fleet scenario."""
    checks: dict[str, None] = {}  # an ordered set
    seen: list[tuple[str, str, str | None, dict[str, str]]] = []  # one pass: the scenarios may be streamed
    for scenario in summary.scenarios:
        if "fleet" not in scenario.tags:
            continue
        statuses: dict[str, list[str]] = {}
        for finding in scenario.findings:
            statuses.setdefault(finding.check, []).append(str(finding.status))
        checks.update(dict.fromkeys(statuses))
        worst = {check: status for check, found in statuses.items() if (status := _worst(found)) is not None}
        seen.append((_test_id(scenario), str(scenario.outcome), _folder(list(scenario.evidence)), worst))
    if not seen:
        return None
    columns = tuple(checks)
    clusters = sorted(
        (
            _Cluster(test_id, outcome, folder, tuple(worst.get(check) for check in columns))
            for test_id, outcome, folder, worst in seen
        ),
        key=lambda c: (not _needs_attention(c), c.test_id),
    )
    failed, errored = [0] * len(columns), [0] * len(columns)
    for cluster in clusters:
        for i, cell in enumerate(cluster.cells):
            failed[i] += cell == "failed"
            errored[i] += cell == "error"
    outcomes = Counter(c.outcome for c in clusters)
    return _Fleet(
        checks=columns,
        clusters=tuple(clusters),
        totals=tuple(zip(failed, errored, strict=True)),
        outcome_totals=(outcomes["failed"], outcomes["error"]),
    )


def _status_text(status: str | None) -> str:
    """A grid cell in words, readable without colour: ``✘ failed``, or ``—`` for no finding."""
    if status is None:
        return _NO_FINDING
    mark, word = _STATUS.get(status, ("?", status))
    return f"{mark} {word}"


def _fleet_intro(fleet: _Fleet) -> str:
    attention = sum(_needs_attention(c) for c in fleet.clusters)
    return (
        f"{len(fleet.clusters)} clusters × {len(fleet.checks)} checks. {attention} of the clusters failed "
        "or could not be evaluated: they come first, then the others, each in order of test id. "
        "A cell is the worst status of that check's findings for the cluster "
        "(error > failed > waived > not applicable > passed)."
    )


_FLEET_LEGEND = (
    "Legend: "
    + " · ".join(_status_text(s) for s in _SEVERITY_ORDER)
    + f" · {_NO_FINDING} the check reported no finding for the cluster"
)
_FLEET_TOTALS = "Clusters failed · error"


_LEGEND = (
    "Expected: supported — the tutorial requires this configuration and it must hold; "
    "rejected — the tutorial calls it unsupported and it must be refused."
)


# -- Markdown --------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&])")


def _md(text: str) -> str:
    """Text for a Markdown table cell: one line, Markdown and HTML syntax escaped, ``|`` included."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_evidence(row: _Row) -> str:
    if not row.evidence:
        return "none recorded"
    first = row.evidence[0]
    links = [f"[{_md(PurePosixPath(first).name)}]({first})"]
    if row.folder:
        links.append(f"[folder]({row.folder}) ({len(row.evidence)} files)")
    return " · ".join(links)


def _md_fleet(fleet: _Fleet) -> list[str]:
    """The fleet grid as a Markdown table: the totals first, then one row per cluster."""

    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    totals = (fleet.outcome_totals, *fleet.totals)
    rows = [
        line(
            [
                f"[{_md(c.test_id)}]({c.folder})" if c.folder else _md(c.test_id),
                _md(_status_text(c.outcome)),
                *(_md(_status_text(cell)) for cell in c.cells),
            ]
        )
        for c in fleet.clusters
    ]
    return [
        "",
        "## Fleet grid",
        "",
        _md(_fleet_intro(fleet)),
        "",
        _md(_FLEET_LEGEND),
        "",
        line(["Cluster", "Outcome", *(_md(check) for check in fleet.checks)]),
        "|" + "---|" * (len(fleet.checks) + 2),
        line(
            [
                f"**{_FLEET_TOTALS}**",
                *(f"**{failed} failed · {errored} error**" for failed, errored in totals),
            ]
        ),
        *rows,
    ]


def _md_controls(rows: list[_ControlRow]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "## Controls",
        "",
        _md(_CONTROLS_LEGEND),
        "",
        "| Control | Title | Verdict | Evidence | Why |",
    ]
    lines.append("|---|---|---|---|---|")
    for row in rows:
        cells = [
            row.control,
            row.title,
            f"**{_VERDICT_WORDS.get(row.state, row.state)}**",
            row.tally,
            row.why,
        ]
        lines.append("| " + " | ".join(_md(c) if not c.startswith("**") else c for c in cells) + " |")
    return lines


def render_markdown(summary: RunSummary, catalogue: Catalogue | None = None) -> str:
    """The matrix as Markdown: a header with the REPLAY/LIVE badge and counts, then a table per feature."""
    kind = summary.evidence
    counts = " · ".join(f"{n} {label}" for _, label, n in _counts(summary))
    lines = [
        f"# Configuration matrix — {_md(_target_name(summary))}",
        "",
        f"> **{kind}** — {_md(_provenance_line(summary, kind))}.",
        "",
        f"**{counts}**",
        "",
        *(f"- **{key}:** {_md(value)}" for key, value in _facts(summary)),
    ]
    if partial := selection_statement(summary):
        lines[3:3] = [f"> **{_md(partial)}**", ""]
    notes = list(summary.waiver_notes)
    if notes:
        lines += ["", "**Waiver notes**", "", *(f"- {_md(n)}" for n in notes)]
    lines += ["", _md(_LEGEND)]
    lines += _md_controls(_control_rows(summary, catalogue or default_catalogue()))
    if fleet := _fleet(summary):
        lines += _md_fleet(fleet)
    for group in _groups(summary):
        lines += ["", f"## {_md(group.feature)}", "", f"`{group.feature_file.replace('`', '')}`", ""]
        lines += ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        for rule, rows in group.rules.items():
            for row in rows:
                configuration = f"{_md(rule)} › {_md(row.name)}" if rule else _md(row.name)
                observed = f"**{_md(row.observed)}**"
                if row.details:
                    observed += " — " + "<br>".join(_md(d) for d in row.details)
                cells = [
                    configuration,
                    _md(row.expected),
                    observed,
                    f"{row.mark} {_md(row.status)}",
                    _md(", ".join(row.controls) or "—"),
                    _md(row.severity),
                    _md_evidence(row),
                ]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# -- HTML ------------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328;
  background: #f6f8fa; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
header, main { max-width: 1600px; margin: 0 auto; padding: 8px 24px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 28px 0 2px; }
.file { color: #59636e; margin: 0 0 8px; font-family: ui-monospace, monospace; font-size: 13px; }
.badge { display: flex; gap: 16px; align-items: center; padding: 14px 20px; border-radius: 8px;
  border: 3px solid; font-size: 16px; }
.badge strong { font-size: 34px; letter-spacing: 3px; padding: 2px 14px; border-radius: 6px; color: #fff; }
.badge.replay { background: repeating-linear-gradient(135deg, #fff8c5 0 18px, #fbefa6 18px 36px);
  border-color: #9a6700; }
.badge.replay strong { background: #9a6700; }
.badge.live { background: #ddf4ff; border-color: #0550ae; }
.badge.live strong { background: #0550ae; }
.badge.partial { background: #fff1e5; border-color: #bc4c00; margin-top: 10px; }
.badge.partial strong { font-size: 16px; letter-spacing: 0; background: #bc4c00; }
.counts { display: flex; flex-wrap: wrap; gap: 10px; list-style: none; padding: 0; margin: 16px 0; }
.counts li { min-width: 130px; padding: 8px 14px; border-radius: 8px; background: #fff;
  border: 1px solid #d1d9e0; border-top: 6px solid var(--c); }
.counts .n { display: block; font-size: 32px; font-weight: 700; color: var(--c); }
.counts li.zero { opacity: .55; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
.waivers { background: #fbefff; border: 1px solid #8250df; border-radius: 8px; padding: 8px 16px; }
.waivers h2 { margin-top: 4px; }
.legend { color: #59636e; }
table { width: 100%; table-layout: fixed; border-collapse: collapse; background: #fff;
  border: 1px solid #d1d9e0; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; border-bottom: 1px solid #d1d9e0; }
thead th { background: #eaeef2; position: sticky; top: 0; }
thead th:nth-child(1), thead th:nth-child(3) { width: 20%; } thead th:nth-child(5) { width: 12%; }
thead th:nth-child(2) { width: 7.5em; } thead th:nth-child(4) { width: 10em; }
thead th:nth-child(6) { width: 7em; }
th, td { overflow-wrap: anywhere; }
tr.rule th { background: #f6f8fa; font-weight: 600; }
tr.row > td:first-child { border-left: 6px solid var(--c); }
.passed { --c: #1a7f37; } .failed { --c: #cf222e; } .error { --c: #bc4c00; }
.not_applicable { --c: #59636e; } .waived { --c: #8250df; } .not_run { --c: #6e4b00; }
tr.row.failed { background: #ffebe9; } tr.row.error { background: #fff1e5; }
tr.row.waived { background: #fbefff; } tr.row.not_run { background: #fff8c5; }
td.status { font-weight: 600; color: var(--c); }
.mark { display: inline-block; width: 1.1em; font-size: 18px; }
ul.details { margin: 4px 0 0; padding-left: 18px; font-size: 14px; }
.sev-critical { color: #fff; background: #82071e; font-weight: 700; padding: 1px 6px; border-radius: 4px; }
.sev-high { color: #82071e; font-weight: 700; }
td.evidence { font-size: 13px; }
.control { display: inline-block; max-width: 100%; }
tr.control-row.not-satisfied td.verdict { color: #cf222e; }
tr.control-row.not-assessed td.verdict { color: #59636e; }
tr.control-row.satisfied td.verdict { color: #1a7f37; }
"""


def _html_evidence(row: _Row) -> str:
    if not row.evidence:
        return "none recorded"
    first = row.evidence[0]
    parts = [f'<a href="{_e(first)}">{_e(PurePosixPath(first).name)}</a>']
    if row.folder:
        parts.append(f'<a href="{_e(row.folder)}">folder</a> ({len(row.evidence)} files)')
    return "<br>".join(parts)


def _html_row(row: _Row) -> str:
    details = "".join(f"<li>{_e(d)}</li>" for d in row.details)
    cells = [
        f'<td class="configuration"><span class="scenario">{_e(row.name)}</span></td>',
        f'<td class="expected">{_e(row.expected)}</td>',
        f'<td class="observed"><strong>{_e(row.observed)}</strong>'
        + (f'<ul class="details">{details}</ul>' if details else "")
        + "</td>",
        f'<td class="status"><span class="mark" aria-hidden="true">{_e(row.mark)}</span> '
        f"{_e(row.status)}</td>",
        '<td class="controls">'
        + (", ".join(f'<span class="control">{_e(c)}</span>' for c in row.controls) or "—")
        + "</td>",
        f'<td class="severity"><span class="sev-{_e(row.severity)}">{_e(row.severity)}</span></td>',
        f'<td class="evidence">{_html_evidence(row)}</td>',
    ]
    return f'<tr class="row {_e(row.outcome)}">' + "".join(cells) + "</tr>"


def _html_group(group: _Group) -> str:
    head = "".join(f'<th scope="col">{c}</th>' for c in _COLUMNS)
    bodies = []
    for rule, rows in group.rules.items():
        heading = (
            f'<tr class="rule"><th colspan="{len(_COLUMNS)}" scope="rowgroup">Rule: {_e(rule)}</th></tr>'
            if rule
            else ""
        )
        bodies.append("<tbody>" + heading + "\n".join(_html_row(r) for r in rows) + "</tbody>")
    return (
        f'<section class="feature"><h2>{_e(group.feature)}</h2><p class="file">{_e(group.feature_file)}</p>'
        f"<table><thead><tr>{head}</tr></thead>\n" + "\n".join(bodies) + "</table></section>"
    )


# Only pages with a fleet grid carry these rules. The header and totals rows stick together as one
# `thead` (separate borders: collapsed ones stay behind when a sticky header moves); fixed column
# widths keep a thousand-row table cheap to lay out.
_FLEET_CSS = """
section.fleet h2 { margin-top: 20px; }
table.fleet { font-size: 12px; border-collapse: separate; border-spacing: 0; }
table.fleet col.cluster { width: 13.5rem; } table.fleet col.outcome { width: 5.5rem; }
table.fleet col.check { width: 4.2rem; }
table.fleet thead { position: sticky; top: 0; z-index: 1; box-shadow: 0 2px 3px rgba(31, 35, 40, .15); }
table.fleet thead th { position: static; width: auto; vertical-align: bottom; }
table.fleet th, table.fleet td { padding: 3px 4px; border: 0 solid #d1d9e0; border-width: 0 1px 1px 0;
  overflow-wrap: normal; }
table.fleet th.check > span { display: inline-block; writing-mode: vertical-rl; transform: rotate(180deg);
  white-space: nowrap; }
table.fleet th.check { padding-top: 6px; }
table.fleet .area { display: block; color: #59636e; font-weight: 400; }
table.fleet tr.totals > * { background: #f6f8fa; vertical-align: top; font-weight: 600; white-space: nowrap; }
table.fleet tr.totals .zero { color: #59636e; font-weight: 400; }
table.fleet tr.totals .some { color: #cf222e; }
table.fleet tbody th { font: 12px ui-monospace, monospace; overflow-wrap: anywhere; padding-left: 10px;
  box-shadow: inset 6px 0 var(--c); }
table.fleet td { color: var(--c); }
table.fleet td.failed { background: #ffebe9; font-weight: 700; }
table.fleet td.error { background: #fff1e5; font-weight: 700; }
table.fleet td.waived { background: #fbefff; }
table.fleet td.not_run { background: #fff8c5; }
table.fleet td.none { color: #8c959f; }
"""


def _html_check(check: str) -> str:
    area, dot, name = check.partition(".")
    label = f'<span class="area">{_e(area)}.</span>{_e(name)}' if dot else _e(check)
    return f'<th class="check" scope="col" title="{_e(check)}"><span>{label}</span></th>'


def _html_kind(status: str | None) -> str:
    return "none" if status is None else status if status in _STATUS else "unknown"


def _html_cell(status: str | None) -> str:
    # The mark stays with its word; only "not applicable" may wrap, after "not".
    text = _e(_status_text(status)).replace(" ", "&nbsp;", 1)
    return f'<td class="{_html_kind(status)}">{text}</td>'


def _html_fleet(fleet: _Fleet) -> str:
    """The fleet grid: a sticky header with the totals, then one row per cluster."""
    head = "".join(_html_check(check) for check in fleet.checks)
    totals = "".join(
        f'<td class="{"some" if failed or errored else "zero"}">{failed} failed<br>{errored} error</td>'
        for failed, errored in (fleet.outcome_totals, *fleet.totals)
    )
    rows = []
    for cluster in fleet.clusters:
        name = _e(cluster.test_id)
        link = f'<a href="{_e(cluster.folder)}">{name}</a>' if cluster.folder else name
        rows.append(
            f'<tr class="{_html_kind(cluster.outcome)}"><th scope="row">{link}</th>'
            + _html_cell(cluster.outcome)
            + "".join(_html_cell(cell) for cell in cluster.cells)
            + "</tr>"
        )
    return (
        '<section class="fleet"><h2 id="fleet-grid">Fleet grid</h2>'
        f'<p>{_e(_fleet_intro(fleet))}</p><p class="legend">{_e(_FLEET_LEGEND)}</p>'
        f'<table class="fleet"><colgroup><col class="cluster"><col class="outcome">'
        f'<col class="check" span="{len(fleet.checks)}"></colgroup>'
        f'<thead><tr><th scope="col">Cluster</th><th scope="col">Outcome</th>{head}</tr>'
        f'<tr class="totals"><th scope="row">{_e(_FLEET_TOTALS)}</th>{totals}</tr></thead>\n'
        "<tbody>" + "\n".join(rows) + "</tbody></table></section>"
    )


def _html_controls(rows: list[_ControlRow]) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr class="control-row {_e(row.state)}"><td class="control">{_e(row.control)}</td>'
        f'<td>{_e(row.title)}</td><td class="verdict"><strong>{_e(_VERDICT_WORDS.get(row.state, row.state))}'
        f"</strong></td><td>{_e(row.tally)}</td><td>{_e(row.why)}</td></tr>"
        for row in rows
    )
    return (
        '<section class="controls"><h2 id="controls">Controls</h2>'
        f'<p class="legend">{_e(_CONTROLS_LEGEND)}</p><table><thead><tr><th scope="col">Control</th>'
        '<th scope="col">Title</th><th scope="col">Verdict</th><th scope="col">Evidence</th>'
        f'<th scope="col">Why</th></tr></thead><tbody>{body}</tbody></table></section>\n'
    )


def render_html(summary: RunSummary, catalogue: Catalogue | None = None) -> str:
    """The matrix as one self-contained HTML page: inline CSS, no script, every text escaped."""
    kind = summary.evidence
    controls = _html_controls(_control_rows(summary, catalogue or default_catalogue()))
    target = _target_name(summary)
    fleet = _fleet(summary)
    counts = "".join(
        f'<li class="{key}{" zero" if n == 0 else ""}"><span class="n">{n}</span> {_e(label)}</li>'
        for key, label, n in _counts(summary)
    )
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _facts(summary))
    notes = list(summary.waiver_notes)
    waivers = (
        '<section class="waivers"><h2 class="notes">Waiver notes</h2><ul>'
        + "".join(f"<li>{_e(n)}</li>" for n in notes)
        + "</ul></section>"
        if notes
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{kind} · Configuration matrix · {_e(target)} · {_e(summary.run_id)}</title>
<style>{_CSS}{_FLEET_CSS if fleet else ""}</style>
</head>
<body>
<header>
<div class="badge {kind.lower()}" role="note"><strong>{kind}</strong>
<span>{_e(_provenance_line(summary, kind))}.</span></div>
{_html_partial(summary)}<h1>Configuration matrix — {_e(target)}</h1>
<ul class="counts" aria-label="counts">{counts}</ul>
<dl class="facts">{facts}</dl>
{waivers}
<p class="legend">{_e(_LEGEND)}</p>
</header>
<main>
{controls}{_html_fleet(fleet) if fleet else ""}{"".join(_html_group(g) for g in _groups(summary))}
</main>
</body>
</html>
"""


def _html_partial(summary: RunSummary) -> str:
    partial = selection_statement(summary)
    return f'<div class="badge partial" role="note"><strong>{_e(partial)}</strong></div>\n' if partial else ""


def write_matrix(run_dir: Path, summary: RunSummary | None = None) -> tuple[Path, Path]:
    """Write ``matrix.md`` and ``matrix.html`` beside ``run_dir/summary.json`` (``summary``, when it has
    been read); return both."""
    summary = summary or RunSummary.read(run_dir / SUMMARY_FILE)
    markdown, page = run_dir / "matrix.md", run_dir / "matrix.html"
    markdown.write_text(render_markdown(summary), encoding="utf-8")
    page.write_text(render_html(summary), encoding="utf-8")
    return markdown, page


__all__ = ["render_html", "render_markdown", "write_matrix"]
