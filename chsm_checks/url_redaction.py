"""URLs as error messages and log lines may show them: never a query string or userinfo.

ARM's status URLs carry their signature in the query (``t``, ``c``, ``s``, ``h``), a container URI
may carry a SAS, and userinfo is a password: whatever the length, a message keeps the scheme, host,
port and path, and marks a cut query with ``?…``.
"""

from __future__ import annotations

import re

# Where a query starts, for a server or a parser that is lenient about it: "?", "#", an encoded
# "?" (%3F) and ";" (path parameters, where a SAS may hide).
_QUERY_START = re.compile(r"[?#;]|%3f", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def url_for_message(url: str) -> str:
    """``url`` without its query, fragment and userinfo; ``?…`` where something was cut."""
    start = _QUERY_START.search(url)
    base = url[: start.start()] if start else url
    scheme, sep, rest = base.partition("://")
    if sep:
        # Up to the first "/", Python's parser reads userinfo through the last "@": drop all of it.
        authority, slash, path = rest.partition("/")
        base = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return base + ("?…" if start else "")


def urls_for_message(text: str) -> str:
    """``text`` with every URL in it shown as :func:`url_for_message` shows it."""
    return _URL_IN_TEXT.sub(lambda m: url_for_message(m.group()), text)
