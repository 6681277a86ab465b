"""HTML reports that load nothing from anywhere: sealed evidence must not phone out when opened.

Allure 3's single-file report (the awesome plugin's template, 3.x up to at least 3.18) always ends
with Google's analytics tag: a ``<script async src="https://www.googletagmanager.com/gtag/js?id=…">``
and an inline script that calls ``gtag('config', …)`` with the Allure version, the report's uuid and
whether it is a single file. Allure offers no setting to leave it out (the template is rendered with
``analyticsEnable: true``), so those two elements are removed from the built file. Then every HTML
report is read for what a browser would fetch on opening it (scripts, styles, images, frames, CSS
``url()``…): anything but a ``data:`` or ``blob:`` URL, or a fragment, is refused.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from ..errors import CouldNotEvaluate

_ANALYTICS = re.compile(
    r"[ \t]*<script async src=\"https://www\.googletagmanager\.com/gtag/js\?id=[\w-]*\"></script>\s*"
    r"<script>\s*window\.dataLayer = window\.dataLayer \|\| \[\];\s*function gtag\(\)\{[^}]*\}"
    r"(?:(?!</script>).)*</script>\n?",
    re.S,
)
# The attributes through which an element makes the browser fetch something as the page opens.
_FETCHED = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    "base": ("href",),
}
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]*)|@import\s+['"]([^'"]*)""", re.I)
_LOCAL = ("data:", "blob:", "#")


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = _FETCHED.get(tag, ())
        for name, value in attrs:
            if value is None:
                continue
            if name == "srcset" and name in wanted:
                self.urls += _srcset_urls(value)
            elif name in wanted:
                self.urls.append(value)
            elif name == "style":
                self.urls += _css_urls(value)
            elif tag == "meta" and name == "content" and ("http-equiv", "refresh") in attrs:
                self.urls.append(value.partition("url=")[2] or value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += _css_urls(data)


def _srcset_urls(srcset: str) -> list[str]:
    """The URLs of ``a.png 1x, b.png 2x`` (a URL may hold commas itself, as data: URLs do)."""
    urls, expect_url = [], True
    for token in srcset.split():
        if expect_url:
            urls.append(token.rstrip(","))
        expect_url = token.endswith(",")
    return urls


def _css_urls(css: str) -> list[str]:
    return [a or b for a, b in _CSS_URL.findall(css)]


def fetched_from_elsewhere(html: str) -> list[str]:
    """What opening ``html`` would fetch that is not inside it: each URL that is not data: or blob:."""
    parser = _Fetches()
    parser.feed(html)
    parser.close()
    return [url for url in parser.urls if not url.strip().lower().startswith(_LOCAL)]


def require_offline(page: Path) -> None:
    """Raise, naming the page and the first such URL, if opening ``page`` would fetch from elsewhere."""
    elsewhere = fetched_from_elsewhere(page.read_text(encoding="utf-8"))
    if elsewhere:
        raise CouldNotEvaluate(
            f"{page}: would fetch {elsewhere[0]} when opened"
            + (f" (and {len(elsewhere) - 1} more)" if len(elsewhere) > 1 else "")
            + "; a report in the bundle must load nothing from outside itself"
        )


def remove_allure_analytics(page: Path) -> bool:
    """Take Allure's analytics tag out of its built ``index.html``; whether it was there."""
    html = page.read_text(encoding="utf-8")
    cleaned, found = _ANALYTICS.subn("", html)
    if found:
        page.write_text(cleaned, encoding="utf-8")
    return found > 0
