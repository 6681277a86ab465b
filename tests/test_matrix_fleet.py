"""The fleet grid of the matrix: one row per cluster, one column per check, the worst status in words.

Every test reads both renderings back into one shape and requires them to agree, so each behaviour
is checked once for Markdown and HTML alike.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import pytest

from chsm_checks.lifecycle.summary import RunSummary
from chsm_checks.reports.matrix import render_html, render_markdown
from tests.support.summaries import typed_summary


def _finding(check: str, status: str) -> dict[str, Any]:
    return {"check": check, "resource": f"/subscriptions/s/{check}", "status": status, "message": check}


def _cluster(
    test_id: str, outcome: str = "passed", *findings: tuple[str, str], **fields: Any
) -> dict[str, Any]:
    """A fleet scenario as summary.json holds it; ``findings`` are (check, status) pairs."""
    slug = re.sub(r"\W", "_", test_id)
    return {
        "feature": "Every Cloud HSM cluster of a fleet is ready to be backed up",
        "feature_file": "fleet.feature",
        "name": f"A discovered cluster meets every read-only backup check [{test_id}]",
        "nodeid": f"steps/test_fleet.py::test_fleet[{test_id}]",
        "rule": None,
        "tags": ["fleet", "nist-ac-6", "severity-high"],
        "outcome": outcome,
        "message": "",
        "findings": [_finding(check, status) for check, status in findings],
        "expected": "supported",
        "evidence": [
            f"evidence/fleet/{slug}/001-fleet-cluster.json",
            f"evidence/fleet/{slug}/002-provenance.json",
        ],
        "provenance": {"kind": "LIVE", "mode": "live", "endpoint": "http://127.0.0.1:8799"},
        **fields,
    }


def _summary(*scenarios: dict[str, Any]) -> RunSummary:
    # A status the matrix does not know cannot reach it: reading the summary refuses it
    # (tests/test_summary_model.py).
    return typed_summary(
        {
            "tool": "chsm-checks",
            "tool_version": "0.1.0",
            "run_id": "20261129T000000Z-live",
            "mode": "live",
            "evidence": "LIVE",
            "target": {"name": "fleet", "kind": "sandbox", "cloud": "Sandbox"},
            "counts": {},
            "scenarios": list(scenarios),
        }
    )


@dataclass(frozen=True)
class Grid:
    """The fleet grid as a reader sees it."""

    intro: str
    legend: str
    checks: list[str]
    totals: list[tuple[int, int]]  # (failed, error): the outcome column first, then each check
    rows: list[list[str]]  # test id, outcome, then one cell per check
    links: dict[str, str]  # test id -> href


_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_TOTAL = re.compile(r"(\d+) failed\D+(\d+) error")


def _unescape_md(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).strip()


def _total(text: str) -> tuple[int, int]:
    match = _TOTAL.search(text)
    assert match, text
    return int(match[1]), int(match[2])


def _md_grid(markdown: str) -> Grid | None:
    if "## Fleet grid" not in markdown:
        return None
    section = markdown.split("## Fleet grid\n", 1)[1].split("\n## ", 1)[0]
    intro, legend = (_unescape_md(p) for p in section.strip().split("\n\n")[:2])
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header, totals, *body = (_CELL_SPLIT.split(line)[1:-1] for line in lines)
    rows, links = [], {}
    for first, *rest in body:
        if link := re.fullmatch(r"\s*\[(.*)\]\(([^)]*)\)\s*", first):
            first = link[1]
            links[_unescape_md(first)] = link[2]
        rows.append([_unescape_md(c) for c in (first, *rest)])
    return Grid(
        intro=intro,
        legend=legend,
        checks=[_unescape_md(c) for c in header[2:]],
        totals=[_total(c) for c in totals[1:]],
        rows=rows,
        links=links,
    )


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<br>", " ", re.sub(r"<(?!br>)[^>]+>", "", fragment))).split())


def _cells(row: str) -> list[str]:
    return [_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]


def _html_grid(page: str) -> Grid | None:
    section = re.search(r'<section class="fleet">(.*?)</section>', page, re.S)
    if section is None:
        return None
    grid = section[1]
    intro, legend = (_text(p) for p in re.findall(r"<p[^>]*>(.*?)</p>", grid, re.S))
    titles = [html.unescape(t) for t in re.findall(r'<th class="check" scope="col" title="([^"]*)">', grid)]
    [header] = re.findall(r"<thead><tr>(.*?)</tr>", grid, re.S)
    assert _cells(header)[2:] == titles, "the visible header is the check id"
    [totals] = re.findall(r'<tr class="totals">(.*?)</tr>', grid, re.S)
    [body] = re.findall(r"<tbody>(.*)</tbody>", grid, re.S)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    links = {
        _text(name): html.unescape(href)
        for row in rows
        for href, name in re.findall(r'<a href="([^"]*)">(.*?)</a>', row)
    }
    return Grid(
        intro=intro,
        legend=legend,
        checks=titles,
        totals=[_total(c) for c in _cells(totals)[1:]],
        rows=[_cells(row) for row in rows],
        links=links,
    )


def _grid(summary: RunSummary) -> Grid | None:
    """The grid both renderers drew, after checking that they drew the same one."""
    markdown, page = _md_grid(render_markdown(summary)), _html_grid(render_html(summary))
    assert markdown == page
    return page


def _only_grid(summary: RunSummary) -> Grid:
    grid = _grid(summary)
    assert grid is not None
    return grid


# -- cells -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "cell"),
    [
        (["passed"], "✔ passed"),
        (["passed", "passed"], "✔ passed"),
        (["passed", "failed"], "✘ failed"),
        (["failed", "error", "passed"], "? error"),
        (["passed", "waived"], "– waived"),
        (["not_applicable", "passed"], "– not applicable"),
        (["not_applicable", "waived"], "– waived"),
        (["waived", "failed"], "✘ failed"),
        (["error", "waived", "not_applicable"], "? error"),
    ],
)
def test_a_cell_is_the_worst_status_of_the_check_findings(statuses: list[str], cell: str) -> None:
    scenario = _cluster("rg/one", "failed", *(("access.least-privilege", s) for s in statuses))

    grid = _only_grid(_summary(scenario))

    assert grid.checks == ["access.least-privilege"]
    assert grid.rows == [["rg/one", "✘ failed", cell]]


def test_checks_are_columns_in_the_order_the_findings_list_them_and_a_missing_one_is_a_dash() -> None:
    summary = _summary(
        _cluster("rg/a", "passed", ("storage.https-only", "passed"), ("clusters.sku", "passed")),
        _cluster("rg/b", "passed", ("clusters.sku", "passed"), ("access.no-sas", "passed")),
        _cluster("rg/c", "not_run"),
    )

    grid = _only_grid(summary)

    assert grid.checks == ["storage.https-only", "clusters.sku", "access.no-sas"]
    assert grid.rows == [
        ["rg/a", "✔ passed", "✔ passed", "✔ passed", "—"],
        ["rg/b", "✔ passed", "—", "✔ passed", "✔ passed"],
        ["rg/c", "? not run", "—", "—", "—"],
    ]


def test_the_legend_names_every_mark_in_words() -> None:
    grid = _only_grid(_summary(_cluster("rg/a", "passed", ("clusters.sku", "passed"))))

    for words in ("? error", "✘ failed", "– waived", "– not applicable", "✔ passed", "— the check reported"):
        assert words in grid.legend


# -- order and totals ------------------------------------------------------------------------------


def test_clusters_that_failed_or_errored_come_first_then_each_group_by_test_id() -> None:
    summary = _summary(
        _cluster("rg-2/b", "passed", ("clusters.sku", "passed")),
        _cluster("rg-2/z", "failed", ("clusters.sku", "failed")),
        _cluster("rg-1/m", "error"),  # could not read the cluster: no finding at all
        _cluster("rg-1/a", "passed", ("clusters.sku", "passed")),
        _cluster("rg-1/c", "failed", ("clusters.sku", "passed"), ("storage.https-only", "failed")),
        _cluster("rg-1/d", "waived", ("clusters.sku", "waived")),
        _cluster("rg-1/e", "not_run"),
    )

    grid = _only_grid(summary)

    assert [row[0] for row in grid.rows] == [
        "rg-1/c",
        "rg-1/m",
        "rg-2/z",
        "rg-1/a",
        "rg-1/d",
        "rg-1/e",
        "rg-2/b",
    ]
    assert grid.intro.startswith("7 clusters × 2 checks. 3 of the clusters failed or could not be evaluated:")
    assert "they come first, then the others, each in order of test id" in grid.intro


def test_a_cluster_with_a_failed_check_comes_first_whatever_its_outcome_says() -> None:
    summary = _summary(
        _cluster("rg/a", "passed", ("clusters.sku", "passed")),
        _cluster("rg/b", "passed", ("clusters.sku", "error")),
    )

    assert [row[0] for row in _only_grid(summary).rows] == ["rg/b", "rg/a"]


def test_the_totals_row_counts_the_clusters_that_failed_and_errored_per_check() -> None:
    summary = _summary(
        _cluster("rg/a", "failed", ("clusters.sku", "failed"), ("storage.https-only", "passed")),
        _cluster("rg/b", "error", ("clusters.sku", "error"), ("storage.https-only", "failed")),
        _cluster("rg/c", "failed", ("clusters.sku", "failed"), ("clusters.sku", "failed")),
        _cluster("rg/d", "waived", ("clusters.sku", "waived"), ("storage.https-only", "waived")),
        _cluster("rg/e", "error"),
    )

    grid = _only_grid(summary)

    assert grid.checks == ["clusters.sku", "storage.https-only"]
    # outcome column: 2 failed, 2 error; two findings of one cluster count it once
    assert grid.totals == [(2, 2), (2, 1), (1, 0)]


# -- what has no grid, what is escaped, where rows link ---------------------------------------------


def _plain(name: str, outcome: str = "passed") -> dict[str, Any]:
    scenario = _cluster(name, outcome, ("access.least-privilege", outcome))
    return {
        **scenario,
        "name": name,
        "nodeid": f"steps/test_scenarios.py::test_{name}",
        "tags": ["catalogue"],
    }


def test_a_summary_without_fleet_scenarios_has_no_grid() -> None:
    summary = _summary(_plain("one"), _plain("two", "failed"))

    page, markdown = render_html(summary), render_markdown(summary)

    assert _grid(summary) is None
    assert "Fleet grid" not in page
    assert "Fleet grid" not in markdown
    assert "table.fleet" not in page, "no grid, no grid styles"


def test_the_grid_holds_only_fleet_scenarios_and_the_per_scenario_table_keeps_them_all() -> None:
    summary = _summary(_plain("one"), _cluster("rg/a", "passed", ("clusters.sku", "passed")))

    page = render_html(summary)

    assert [row[0] for row in _only_grid(summary).rows] == ["rg/a"]
    assert re.findall(r'<span class="scenario">(.*?)</span>', page) == [
        "one",
        "A discovered cluster meets every read-only backup check [rg/a]",
    ]


@pytest.mark.parametrize(
    ("fields", "test_id"),
    [
        ({}, "rg/a"),
        ({"nodeid": "steps/test_fleet.py::test_fleet"}, "rg/a"),  # the name carries the parameter too
        ({"nodeid": "steps/test_fleet.py::test_fleet", "name": "a cluster"}, "a cluster"),
    ],
)
def test_the_test_id_is_the_node_parameter(fields: dict[str, Any], test_id: str) -> None:
    grid = _only_grid(_summary(_cluster("rg/a", "passed", ("clusters.sku", "passed"), **fields)))

    assert grid.rows[0][0] == test_id


def test_each_cluster_links_to_its_evidence_folder_and_only_inside_the_run() -> None:
    summary = _summary(
        _cluster("rg/a", "passed", ("clusters.sku", "passed")),
        _cluster("rg/b", "passed", ("clusters.sku", "passed"), evidence=[]),
        _cluster("rg/c", "passed", ("clusters.sku", "passed"), evidence=["../../etc/passwd"]),
    )

    grid = _only_grid(summary)

    assert grid.links == {"rg/a": "evidence/fleet/rg_a/"}
    assert [row[0] for row in grid.rows] == ["rg/a", "rg/b", "rg/c"]


def test_ids_from_the_summary_are_escaped() -> None:
    test_id = 'rg/<script>alert("x")</script> | &amp; [x]'
    check = '<b onmouseover="x">storage</b>.tls | `y`'
    summary = _summary(_cluster(test_id, "failed", (check, "failed"), ("<i><img src=x>", "error")))

    page, markdown = render_html(summary), render_markdown(summary)
    grid = _only_grid(summary)

    for raw in ("<script", "<b ", "<i>", "<img"):
        assert raw not in page
    assert not re.search(r"(?<!\\)<", markdown), "an unescaped < in the Markdown"
    assert f'title="{html.escape(check, quote=True)}"' in page
    assert grid.checks == [check, "<i><img src=x>"]
    assert grid.rows == [[test_id, "✘ failed", "✘ failed", "? error"]]
