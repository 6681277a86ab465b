"""The HTML reports fetch nothing from outside themselves: Allure's analytics tag is taken out of its
single-file report, and a page that would still fetch something is refused before sealing."""

from __future__ import annotations

from pathlib import Path

import pytest

from chsm_checks.errors import CouldNotEvaluate
from chsm_checks.reports.offline_html import fetched_from_elsewhere, remove_allure_analytics, require_offline

# The shape of the end of Allure 3's single-file index.html (awesome plugin, 3.18).
ALLURE_TAIL = """    <script src="data:text/javascript;base64,AAAA"></script>
    <script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('js', new Date());
        gtag('config', 'G-TEST123', {"report": "awesome", "reportUuid": "u", "single_file": "true"});
    </script>
    <script async>window.allureReportData = {};</script>
</body>
"""


def test_allures_analytics_tag_is_removed_and_nothing_else(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(ALLURE_TAIL, encoding="utf-8")

    assert remove_allure_analytics(page)

    assert page.read_text(encoding="utf-8") == (
        '    <script src="data:text/javascript;base64,AAAA"></script>\n'
        "    <script async>window.allureReportData = {};</script>\n"
        "</body>\n"
    )
    assert not remove_allure_analytics(page)
    require_offline(page)


@pytest.mark.parametrize(
    ("html", "fetched"),
    [
        (
            '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>',
            ["https://www.googletagmanager.com/gtag/js?id=G-1"],
        ),
        ('<link rel="stylesheet" href="https://fonts.example/a.css">', ["https://fonts.example/a.css"]),
        ('<img srcset="data:image/png;base64,AA 1x, //cdn.example/b.png 2x">', ["//cdn.example/b.png"]),
        ("<style>body{background:url('http://x.example/a.png')}</style>", ["http://x.example/a.png"]),
        ('<div style="background: url(other.png)"></div>', ["other.png"]),
        ("<style>@import 'https://x.example/b.css';</style>", ["https://x.example/b.css"]),
        ('<iframe src="../elsewhere.html"></iframe>', ["../elsewhere.html"]),
        ('<meta http-equiv="refresh" content="0; url=https://x.example/">', ["https://x.example/"]),
        ('<a href="evidence/a.json">evidence</a>', []),  # followed on a click, not fetched on opening
        ('<script src="data:text/javascript;base64,AA"></script><link rel="icon" href="data:,">', []),
        ('<use href="#icon"></use>', []),
    ],
)
def test_what_a_page_would_fetch_from_elsewhere(html: str, fetched: list[str]) -> None:
    assert fetched_from_elsewhere(html) == fetched


def test_a_page_that_would_still_phone_out_is_refused_naming_what(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text('<script async src="https://www.googletagmanager.com/gtag/js?id=G-2"></script>')

    with pytest.raises(CouldNotEvaluate, match=r"would fetch https://www\.googletagmanager\.com/gtag/js"):
        require_offline(page)
