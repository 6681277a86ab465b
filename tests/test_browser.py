"""The HTML reports render in a real browser, and make no network request: the matrix, and the
Allure report chsm-checks built for the same run.

Headless Chromium loads each page from ``file://`` with networking features off. Skipped, with the
install command, where Chromium or Allure 3 is missing.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.lifecycle.summary import SUMMARY_FILE, RunSummary
from chsm_checks.outcomes import Outcome
from chsm_checks.reports.matrix import render_html
from tests.support.devtools import FLAGS as CHROMIUM_FLAGS
from tests.support.devtools import record_requests
from tests.support.processes import SharedRun, summary


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("needs headless Chromium, and chromium is not installed: apt-get install chromium")
    return found


@pytest.fixture(scope="module")
def run_dir(shipped_replay: SharedRun) -> Path:
    """A real replay of the whole suite, as the README's first command leaves it (read only)."""
    assert shipped_replay.result.returncode == 0, shipped_replay.result.output
    return shipped_replay.run_dir


def _browse(chromium: str, page: Path, profile: Path, *args: str) -> str:
    """Open ``page`` in headless Chromium; its standard output (the DOM, with ``--dump-dom``)."""
    browser = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert browser.returncode == 0, browser.stderr[-2000:]
    return browser.stdout


def _visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def _counts(report: dict[str, Any]) -> str:
    keys = ("passed", "failed", "error", "not_applicable", "waived", "not_run")
    return " ".join(f"{report['counts'][k]} {k.replace('_', ' ')}" for k in keys)


def test_the_matrix_renders_with_its_counts(chromium: str, run_dir: Path, tmp_path: Path) -> None:
    report = summary(run_dir.parent)

    dom = _browse(chromium, run_dir / "matrix.html", tmp_path / "profile", "--dump-dom")

    text = _visible_text(dom)
    assert _counts(report) in text
    assert "REPLAY" in text
    assert text.count("✔ passed") == report["counts"]["passed"]


def test_the_matrix_screenshot_is_not_blank(chromium: str, run_dir: Path, tmp_path: Path) -> None:
    shot = tmp_path / "matrix.png"

    _browse(
        chromium,
        run_dir / "matrix.html",
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1400,1000",
    )

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000


# Run in the page once it is laid out: every table cell whose text leaves its own box or meets the
# text of another cell of its row, as "row: cell i / cell j", into the body's data-overlaps.
_OVERLAPS = """<script>
const textBox = (cell) => { const r = document.createRange(); r.selectNodeContents(cell);
  return r.getBoundingClientRect(); };
const meet = (a, b) =>
  a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
const found = [];
document.querySelectorAll("tr").forEach((row, n) => {
  const cells = [...row.children].filter((c) => c.textContent.trim());
  cells.forEach((cell, i) => {
    const text = textBox(cell), own = cell.getBoundingClientRect();
    if (text.right > own.right + 1 || text.left < own.left - 1)
      found.push(`row ${n}: ${cell.textContent.trim().slice(0, 40)} leaves its cell`);
    const name = (c) => c.textContent.trim().slice(0, 40);
    cells.slice(i + 1).forEach((other) => { if (meet(text, textBox(other)))
      found.push(`row ${n}: ${name(cell)} / ${name(other)}`); });
  });
});
document.body.setAttribute("data-overlaps", JSON.stringify(found));
</script>"""


def _every_outcome(run_dir: Path) -> RunSummary:
    """The shipped replay's summary with one scenario of each outcome that is not a pass, each with
    a reason as long as real ones are: what the matrix must lay out."""
    shipped = RunSummary.read(run_dir / SUMMARY_FILE)
    others = [Outcome.NOT_APPLICABLE, Outcome.ERROR, Outcome.FAILED, Outcome.WAIVED, Outcome.NOT_RUN]
    scenarios = [
        entry.model_copy(
            update={"outcome": others[i], "message": "the destination reads 'Active'; " * 3, "findings": ()}
        )
        if i < len(others)
        else entry
        for i, entry in enumerate(shipped.scenarios)
    ]
    return shipped.model_copy(update={"scenarios": tuple(scenarios)})


@pytest.mark.parametrize("width", [1400, 1024])
def test_no_two_cells_text_of_the_matrix_overlap(
    chromium: str, run_dir: Path, tmp_path: Path, width: int
) -> None:
    page = tmp_path / "matrix.html"
    page.write_text(
        render_html(_every_outcome(run_dir)).replace("</body>", _OVERLAPS + "</body>"), encoding="utf-8"
    )

    dom = _browse(chromium, page, tmp_path / "profile", "--dump-dom", f"--window-size={width},1000")

    found = re.search(r'data-overlaps="([^"]*)"', dom)
    assert found is not None, dom[:2000]
    assert html.unescape(found[1]) == "[]"
    assert "not applicable" in _visible_text(dom)


@pytest.fixture(scope="module")
def allure_report(run_dir: Path) -> Path:
    """The single-file Allure report ``chsm-checks run`` built for the run."""
    allure = shutil.which("allure")
    if allure is None:
        pytest.skip("the Allure report needs Allure 3; allure is not installed: npm install -g allure")
    version = subprocess.run(
        [allure, "--version"], capture_output=True, text=True, timeout=60, check=False
    ).stdout.strip()
    if not version.startswith("3."):
        pytest.skip(
            f"the allure on PATH is {version or 'of an unknown version'}, not Allure 3: npm install -g allure"
        )
    index = run_dir / "allure-report" / "index.html"
    assert index.is_file(), "chsm-checks run built no Allure report although Allure 3 is installed"
    return index


def test_the_allure_report_shows_the_runs_test_count(
    chromium: str, run_dir: Path, allure_report: Path, tmp_path: Path
) -> None:
    dom = _browse(chromium, allure_report, tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom")

    tests = len(summary(run_dir.parent)["scenarios"])
    text = _visible_text(dom)
    assert f"Total {tests}" in text, text[:2000]
    assert f"Passed {tests}" in text, text[:2000]


def test_the_allure_tree_lists_the_features_at_its_top_level(
    chromium: str, run_dir: Path, allure_report: Path, tmp_path: Path
) -> None:
    dom = _browse(chromium, allure_report, tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom")

    text = _visible_text(dom)
    features = {entry["feature"] for entry in summary(run_dir.parent)["scenarios"]}
    tree = text[text.index("Sort by:") :]
    assert [feature for feature in features if feature not in tree] == []
    # Not one node for the directory the features are in, holding every test.
    assert f"features {len(summary(run_dir.parent)['scenarios'])}" not in tree


def _off_the_page(page: Path, urls: list[str]) -> list[str]:
    """Every request that is not for the page's own file: data: and blob: URLs are no requests."""
    return [url for url in urls if url != page.as_uri() and url.split(":", 1)[0] not in ("data", "blob")]


@pytest.mark.parametrize("report", ["matrix.html", "allure-report/index.html"])
def test_an_html_report_makes_no_network_request(
    chromium: str, run_dir: Path, tmp_path: Path, report: str, request: pytest.FixtureRequest
) -> None:
    page = request.getfixturevalue("allure_report") if report.startswith("allure") else run_dir / report

    seen = record_requests(chromium, page, tmp_path / "profile")

    assert seen.loaded
    assert seen.urls[0] == page.as_uri()  # the recording saw the page itself
    assert _off_the_page(page, seen.urls) == []
    assert seen.websockets == []
    assert seen.page_net_log_urls == []
