"""The configuration matrix: one row per scenario, verdicts in words, REPLAY never mistaken for LIVE."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from chsm_checks.checks.catalogue import load_catalogue
from chsm_checks.errors import ConfigError
from chsm_checks.lifecycle.summary import RunSummary
from chsm_checks.reports.matrix import _control as _matrix_control
from chsm_checks.reports.matrix import render_html, render_markdown, write_matrix
from tests.support.processes import SharedRun, run_cli, summary
from tests.support.summaries import typed_summary

# name -> (extra `chsm-checks run` arguments, exit code)
RUNS = {
    "compliant": ((), 0),
    "owner-instead-of-contributor": (
        ("--cassettes", "cassettes/profiles/owner-instead-of-contributor", "--", "-m", "catalogue"),
        1,
    ),
}


@pytest.fixture(scope="module", params=list(RUNS))
def run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real replayed run, with the matrix it wrote (the shipped suite's is shared: read only)."""
    args, code = RUNS[request.param]
    if not args:
        shared: SharedRun = request.getfixturevalue("shipped_replay")
        assert shared.result.returncode == code, shared.result.output
        return shared.run_dir
    reports = tmp_path_factory.mktemp(request.param)
    result = run_cli("run", "--reports", str(reports), *args, offline=True)
    assert result.returncode == code, result.output
    return (reports / "latest").resolve()


def _report(run: Path) -> dict[str, Any]:
    return summary(run.parent)


def _html_scenarios(page: str) -> list[str]:
    return [html.unescape(n) for n in re.findall(r'<span class="scenario">(.*?)</span>', page)]


_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _md_rows(markdown: str, header: str = "| Configuration |") -> list[list[str]]:
    """The cells of every data row of every table under ``header``, Markdown escapes undone."""
    rows = []
    inside = False
    for line in markdown.splitlines():
        if not line.startswith("|"):
            inside = False
        elif line.startswith(header):
            inside = True
        elif inside and not line.startswith("|---"):
            cells = _CELL_SPLIT.split(line)[1:-1]
            rows.append([re.sub(r"\\(.)", r"\1", c).strip() for c in cells])
    return rows


def _md_scenario(cell: str) -> str:
    return cell.rsplit(" › ", 1)[-1]  # a Rule's scenarios read "rule › scenario"


def _text(fragment: str) -> str:
    """What a reader sees: cells and blocks apart, inline markup gone."""
    spaced = re.sub(r"</(?:td|th|li|ul|p|div|dt|dd|strong|h\d)>|<br>", " ", fragment)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", spaced)).split())


def _html_row(page: str, name: str) -> str:
    rows: list[str] = re.findall(r'<tr class="row .*?</tr>', page, re.S)
    [row] = [r for r in rows if html.escape(name) in r]
    return row


def _md_row(markdown: str, name: str) -> list[str]:
    [row] = [r for r in _md_rows(markdown) if _md_scenario(r[0]) == name]
    return row


def _hrefs(run: Path) -> list[str]:
    page = (run / "matrix.html").read_text(encoding="utf-8")
    markdown = (run / "matrix.md").read_text(encoding="utf-8")
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page)] + re.findall(
        r"\]\(([^)]*)\)", markdown
    )


# -- real runs -------------------------------------------------------------------------------------


def test_every_scenario_appears_exactly_once_in_both_outputs(run_dir: Path) -> None:
    names = Counter(e["name"] for e in _report(run_dir)["scenarios"])
    page = (run_dir / "matrix.html").read_text(encoding="utf-8")
    markdown = (run_dir / "matrix.md").read_text(encoding="utf-8")

    assert Counter(_html_scenarios(page)) == names
    assert Counter(_md_scenario(row[0]) for row in _md_rows(markdown)) == names
    assert all(len(row) == 7 for row in _md_rows(markdown))


def test_outline_examples_are_rows_of_their_own_and_rules_group_their_scenarios(run_dir: Path) -> None:
    report = _report(run_dir)
    page = (run_dir / "matrix.html").read_text(encoding="utf-8")
    outline_rows = [e["name"] for e in report["scenarios"] if e["name"].startswith("The storage account's ")]
    rules = {e["rule"] for e in report["scenarios"] if e["rule"]}
    features = {e["feature"] for e in report["scenarios"]}

    assert len(outline_rows) == 4
    assert all(_html_scenarios(page).count(n) == 1 for n in outline_rows)
    assert sorted(html.unescape(r) for r in re.findall(r'scope="rowgroup">Rule: (.*?)</th>', page)) == sorted(
        rules
    )
    assert sorted(html.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", page)) == sorted(features)


def test_a_replayed_run_wears_the_replay_badge_and_says_when_it_was_recorded(run_dir: Path) -> None:
    report = _report(run_dir)
    page = (run_dir / "matrix.html").read_text(encoding="utf-8")
    markdown = (run_dir / "matrix.md").read_text(encoding="utf-8")
    recorded = sorted(e["provenance"]["recorded_at"] for e in report["scenarios"])

    assert '<div class="badge replay" role="note"><strong>REPLAY</strong>' in page
    assert markdown.count("**REPLAY**") == 1
    assert "LIVE" not in page
    assert "LIVE" not in markdown
    for text in (_text(page), markdown):
        assert f"observations replayed from recordings made on {recorded[0][:10]}" in text
        assert f"{recorded[-1][11:19]} UTC against sandbox" in text


def test_the_header_shows_the_counts_and_the_run(run_dir: Path) -> None:
    report = _report(run_dir)
    c = report["counts"]
    counts = (
        f"{c['passed']} passed · {c['failed']} failed · {c['error']} error · "
        f"{c['not_applicable']} not applicable · {c['waived']} waived · {c['not_run']} not run"
    )
    page = _text((run_dir / "matrix.html").read_text(encoding="utf-8"))
    markdown = (run_dir / "matrix.md").read_text(encoding="utf-8")

    assert f"**{counts}**" in markdown
    assert " ".join(counts.split(" · ")) in page
    for text in (page, markdown):
        assert f"chsm-checks {report['tool_version']}" in text
        assert report["run_id"] in text
        assert "reference (sandbox, cloud Sandbox)" in text


def test_failed_rows_show_the_finding_messages(run_dir: Path) -> None:
    failed = [e for e in _report(run_dir)["scenarios"] if e["outcome"] == "failed"]
    page = (run_dir / "matrix.html").read_text(encoding="utf-8")
    markdown = (run_dir / "matrix.md").read_text(encoding="utf-8")

    for entry in failed:
        row = _html_row(page, entry["name"])
        assert '<tr class="row failed">' in row
        assert "<strong>NOT supported</strong>" in row
        md_observed = _md_row(markdown, entry["name"])[2]
        for finding in entry["findings"]:
            assert f"finding: {finding['message']} [{finding['check']}]" in _text(row)
            assert f"finding: {finding['message']}" in md_observed


def test_links_are_relative_and_point_at_evidence_that_exists(run_dir: Path) -> None:
    hrefs = _hrefs(run_dir)
    firsts = {e["evidence"][0] for e in _report(run_dir)["scenarios"] if e["evidence"]}

    assert firsts <= {unquote(h) for h in hrefs}
    for href in hrefs:
        parts = urlsplit(href)
        assert (parts.scheme, parts.netloc) == ("", ""), href
        assert not href.startswith("/"), href
        target = (run_dir / unquote(href)).resolve()
        assert target.is_relative_to(run_dir), href
        assert target.exists(), href


def test_the_html_is_self_contained(run_dir: Path) -> None:
    page = (run_dir / "matrix.html").read_text(encoding="utf-8").lower()

    for fetching in ("<script", "<link", "src=", "url(", "@import", "@font-face", "http://", "https://"):
        assert fetching not in page


# -- synthetic summaries ---------------------------------------------------------------------------


def _scenario(name: str, outcome: str = "passed", **fields: Any) -> dict[str, Any]:
    return {
        "feature": "Synthetic",
        "feature_file": "synthetic.feature",
        "name": name,
        "rule": None,
        "tags": ["catalogue", "nist-ac-6", "severity-high"],
        "outcome": outcome,
        "message": "",
        "findings": [],
        "expected": "supported",
        "evidence": [],
        "provenance": {"kind": "REPLAY", "recorded_at": "2026-11-29T16:41:09Z", "origin": "sandbox"},
        **fields,
    }


def _summary(*scenarios: dict[str, Any], evidence: str = "REPLAY", **fields: Any) -> RunSummary:
    return typed_summary(_summary_data(*scenarios, evidence=evidence, **fields))


def _summary_data(*scenarios: dict[str, Any], evidence: str = "REPLAY", **fields: Any) -> dict[str, Any]:
    counts = Counter(s["outcome"] for s in scenarios)
    return {
        "tool": "chsm-checks",
        "tool_version": "0.1.0",
        "run_id": "20261129T000000Z-" + evidence.lower(),
        "mode": evidence.lower(),
        "evidence": evidence,
        "target": {"name": "reference", "kind": "sandbox", "cloud": "Sandbox"},
        "started": "2026-11-29T00:00:00Z",
        "finished": "2026-11-29T00:00:05Z",
        "counts": {
            k: counts[k] for k in ("passed", "failed", "error", "not_applicable", "waived", "not_run")
        },
        "waiver_notes": [],
        "scenarios": list(scenarios),
        **fields,
    }


def _finding(status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "check": "access.least-privilege",
        "resource": "/x",
        "status": status,
        "message": message,
        **extra,
    }


@dataclass(frozen=True)
class Case:
    """One scenario of the synthetic run, and what its row must say."""

    outcome: str
    expected: str
    message: str
    findings: list[dict[str, Any]]
    observed: str
    shown: tuple[str, ...]
    mark: str
    status: str


WAIVER = {
    "check": "access.least-privilege",
    "resource": "/x",
    "justification": "Accepted until the migration.",
    "approver": "ciso@example.com",
    "approved_on": "2026-01-15",
    "expires": "2099-01-01T00:00:00Z",
    "ticket": "RISK-1234",
}
CASES = {
    "passed-supported": Case("passed", "supported", "", [], "supported", (), "✔", "passed"),
    "passed-rejected": Case("passed", "rejected", "", [], "rejected", (), "✔", "passed"),
    "failed-supported": Case(
        "failed", "supported", "identity holds Owner", [_finding("failed", "identity holds Owner")],
        "NOT supported", ("finding: identity holds Owner [access.least-privilege]",), "✘", "failed",
    ),
    "failed-rejected": Case(
        "failed", "rejected", "the restore was sent to the source", [],
        "NOT rejected", ("finding: the restore was sent to the source",), "✘", "failed",
    ),
    "error": Case(
        "error", "supported", "ArmError: 503 ServiceUnavailable", [],
        "could not evaluate", ("ArmError: 503 ServiceUnavailable",), "?", "error",
    ),
    "not-applicable": Case(
        "not_applicable", "supported", "mutations are not allowed in this run", [],
        "not applicable", ("mutations are not allowed in this run",), "–", "not applicable",
    ),
    "waived": Case(
        "waived", "supported", "shared key (waived)", [_finding("waived", "shared key", waiver=WAIVER)],
        "waived", ("waived by ciso@example.com until 2099-01-01 (RISK-1234): shared key",), "–", "waived",
    ),
    "not-run": Case("not_run", "supported", "did not run", [], "did not run", (), "?", "not run"),
}  # fmt: skip
EVERY_OUTCOME = _summary(
    *(
        _scenario(name, c.outcome, expected=c.expected, message=c.message, findings=c.findings)
        for name, c in CASES.items()
    )
)


@pytest.mark.parametrize("name", list(CASES))
def test_expected_and_observed_verdicts_in_words(name: str) -> None:
    case = CASES[name]

    row = _html_row(render_html(EVERY_OUTCOME), name)
    md_row = _md_row(render_markdown(EVERY_OUTCOME), name)

    assert f'<tr class="row {case.outcome}">' in row
    assert f'<td class="expected">{case.expected}</td>' in row
    assert f'<td class="observed"><strong>{case.observed}</strong>' in row
    assert f"{case.mark} {case.status}" in _text(row)
    assert md_row[1] == case.expected
    assert md_row[2].startswith(f"**{case.observed}**")
    assert md_row[3] == f"{case.mark} {case.status}"
    for words in case.shown:
        assert words in _text(row)
        assert words in md_row[2]
    if case.outcome != "failed":
        assert "NOT " not in md_row[2]


@pytest.mark.parametrize(
    ("tags", "controls", "severity"),
    [
        (
            ["mcsb-pa-7", "cis-9.3.4", "nist-ac-6", "severity-high", "catalogue"],
            "NIST AC-6, CIS 9.3.4, MCSB PA-7",
            "high",
        ),
        (["nist-cp-9-1", "nist-sc-7-5", "severity-critical"], "NIST CP-9(1), NIST SC-7(5)", "critical"),
        (["cis-9.3.2.1", "mcsb-br-2", "severity-medium", "mutating"], "CIS 9.3.2.1, MCSB BR-2", "medium"),
        (["guard"], "—", "—"),
    ],
)
def test_controls_and_severity_are_read_from_the_tags(tags: list[str], controls: str, severity: str) -> None:
    report = _summary(_scenario("tagged", tags=tags))

    row = _md_row(render_markdown(report), "tagged")
    assert row[4:6] == [controls, severity]
    assert f"{controls} {severity}" in _text(_html_row(render_html(report), "tagged"))


def test_a_live_run_wears_the_live_badge_and_never_says_replay() -> None:
    report = _summary(_scenario("live one", provenance={"kind": "LIVE", "mode": "live"}), evidence="LIVE")

    page, markdown = render_html(report), render_markdown(report)
    assert '<div class="badge live" role="note"><strong>LIVE</strong>' in page
    assert "**LIVE** — observations read from the target during this run." in markdown
    for text in (page, markdown):
        assert "REPLAY" not in text
        assert "replayed" not in text


def test_a_summary_that_does_not_say_replay_or_live_is_refused() -> None:
    text = json.dumps(typed_summary(_summary_data(_scenario("x"))).to_json() | {"evidence": "MAYBE"})
    with pytest.raises(ConfigError, match=r"^run/summary.json: evidence: Input should be 'REPLAY' or 'LIVE'"):
        RunSummary.parse(text, "run/summary.json")


def test_waiver_notes_are_shown() -> None:
    note = "waiver for storage.shared-key-disabled on /subscriptions/x expired on 2026-02-01T00:00:00Z"
    report = _summary(_scenario("x"), waiver_notes=[note])

    assert note in _text(render_html(report))
    assert note.replace("_", "\\_") in render_markdown(report)


def test_hostile_text_from_the_summary_is_escaped() -> None:
    hostile = _scenario(
        '<script>alert("name")</script> | pipe',
        "failed",
        feature="Feature & <b>bold</b>",
        rule='"quoted" <i>rule</i>',
        message="<img src=x onerror=alert(1)>",
        findings=[_finding("failed", "<iframe src=https://evil.example>")],
        tags=['severity-"><script>x</script>'],
        evidence=["../../etc/passwd", "/etc/shadow", "javascript:alert(1)"],
    )
    report = _summary(
        hostile, waiver_notes=["<b>note</b>"], target={"name": "<t>", "kind": "k", "cloud": "c"}
    )

    page, markdown = render_html(report), render_markdown(report)
    for raw in ("<script", "<img", "<iframe", "<b>", "<i>", "<t>"):
        assert raw not in page
    assert not re.search(r"(?<!\\)<", markdown), "an unescaped < in the Markdown"
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; | pipe" in page
    assert _html_scenarios(page) == [hostile["name"]]
    hrefs = re.findall(r'href="([^"]*)"', page) + re.findall(r"\]\(([^)]*)\)", markdown)
    assert hrefs == ["javascript%3Aalert%281%29"] * 2  # a relative file name; the escapes left nothing else
    [row] = _md_rows(markdown)
    assert len(row) == 7
    assert _md_scenario(row[0]) == hostile["name"]
    assert '\\<script\\>alert("name")\\</script\\> \\| pipe' in markdown


def test_write_matrix_writes_both_files_beside_the_summary(tmp_path: Path) -> None:
    _summary(_scenario("x")).write(tmp_path / "summary.json")

    markdown, page = write_matrix(tmp_path)

    assert (markdown, page) == (tmp_path / "matrix.md", tmp_path / "matrix.html")
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert markdown.read_text(encoding="utf-8").startswith("# Configuration matrix — reference")


def test_the_control_verdicts_are_those_of_the_oscal_document(run_dir: Path) -> None:
    """One rule judges controls for both: the matrix's Controls table says what OSCAL says."""
    document = json.loads((run_dir / "oscal" / "assessment-results.json").read_text(encoding="utf-8"))
    [result] = document["assessment-results"]["results"]
    catalogue = load_catalogue()
    words = {"satisfied": "satisfied", "not-satisfied": "not satisfied", "not-assessed": "not assessed"}
    oscal = {}
    for finding in result["findings"]:
        props = {p["name"]: p["value"] for p in finding["props"]}
        ref = catalogue.frameworks[props["framework"]].ref(props["control-id"])
        oscal[display_control(ref.tag)] = words[props["verdict"]]
    rows = _md_rows((run_dir / "matrix.md").read_text(encoding="utf-8"), "| Control |")
    assert {row[0]: row[2].strip("*") for row in rows} == oscal


def display_control(tag: str) -> str:
    shown = _matrix_control(tag)
    assert shown is not None, tag
    return shown[1]
