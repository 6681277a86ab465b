"""The one judgement of a blob container URI that a backup or restore may send.

An allow-list, judged on the raw string and not only on one parser's view of it: a URI passes only
as ``https://<the checked account's blob endpoint host>/<container>``, where the container name is
3–63 lower-case letters, digits and single hyphens, and nothing else: no userinfo, port, query
(even an empty one), fragment, percent-escape, backslash, whitespace, control or non-ASCII
character. Scheme and host compare ignoring case, as DNS and every URL parser do.

Every reason a URI fails is reported, each with a sentence that never repeats any part of the URI
(a query or userinfo may hold a secret). The guard, ``requests.no-sas``, fleet container tags and
the scrubber all call :func:`judge_container_uri`, so they cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

# Azure Storage SAS parameters (service, account and user delegation SAS): any one of them means
# the URI carries a SAS, whatever the case and whatever separates it (?, &, ;, #, an escape).
SAS_PARAMETERS = (
    "sv", "ss", "srt", "sp", "se", "st", "spr", "sip", "si", "sr", "sig", "sdd", "ses",
    "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid",
    "rscc", "rscd", "rsce", "rscl", "rsct",
)  # fmt: skip
_SAS = re.compile(r"(?<![a-z0-9])(?:" + "|".join(SAS_PARAMETERS) + r")\s*=", re.IGNORECASE)
_CONTAINER_NAME = re.compile(r"(?=[a-z0-9-]{3,63}\Z)[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}\Z")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+\Z")
_ORIGIN = re.compile(r"https://([^/?#@\\\s]+)/?", re.IGNORECASE)
# Where the authority ends for a WHATWG or .NET parser (a backslash is a slash to them, not to Python).
_AUTHORITY_END = re.compile(r"[/\\?#]")


class UriProblem(StrEnum):
    """One reason a container URI may not be sent. Declared in the order refusals report them."""

    SAS_TOKEN = "sas-token"
    USERINFO = "userinfo"
    QUERY_STRING = "query-string"
    ENCODED_QUERY = "encoded-query"
    FRAGMENT = "fragment"
    BACKSLASH = "backslash"
    UNSAFE_CHARACTERS = "unsafe-characters"
    NOT_HTTPS = "not-https"
    NOT_ACCOUNT_ENDPOINT = "not-account-endpoint"
    PORT = "port"
    PATH = "path"
    CONTAINER_NAME = "container-name"

    def sentence(self, blob_host: str) -> str:
        """Why, in words that repeat nothing of the URI (``blob_host`` is the expected host)."""
        return _SENTENCES[self].format(blob_host=blob_host)


_SENTENCES = {
    UriProblem.SAS_TOKEN: "it carries a SAS token (sig, sv, se, …); Cloud HSM backup does not support SAS",
    UriProblem.USERINFO: "it carries userinfo (a name or password before '@')",
    UriProblem.QUERY_STRING: "it carries a query string ('?'); even an empty one is refused",
    UriProblem.ENCODED_QUERY: "it carries a percent-encoded '?' (%3F), which a server may read as a query",
    UriProblem.FRAGMENT: "it carries a fragment ('#')",
    UriProblem.BACKSLASH: "it contains a backslash, which URL parsers read differently",
    UriProblem.UNSAFE_CHARACTERS: "it contains whitespace, control or non-ASCII characters",
    UriProblem.NOT_HTTPS: "it is not an https:// URL",
    UriProblem.NOT_ACCOUNT_ENDPOINT: "its host is not the checked account's blob endpoint {blob_host}",
    UriProblem.PORT: "it names a port (even :443); the blob endpoint is reached on https's default",
    UriProblem.PATH: "its path is not exactly /<container>",
    UriProblem.CONTAINER_NAME: "its container name is not 3-63 lower-case letters, digits and single hyphens",
}


@dataclass(frozen=True)
class ContainerUriJudgement:
    """Every reason a container URI fails, in declaration order; none when it may be sent."""

    problems: tuple[UriProblem, ...]
    blob_host: str

    @property
    def ok(self) -> bool:
        return not self.problems

    def sentences(self) -> list[str]:
        return [problem.sentence(self.blob_host) for problem in self.problems]

    def message(self) -> str:
        """One line: ``the container URI may not be sent: <why>; <why>``."""
        return "the container URI may not be sent: " + "; ".join(self.sentences())


def blob_endpoint(account: str, storage_suffix: str) -> str:
    """``https://<account>.blob.<storage suffix>/``: the blob endpoint of a storage account."""
    if not _ACCOUNT_NAME.match(account):
        raise ValueError("not a storage account name (3-24 lower-case letters and digits)")
    return f"https://{account}.blob.{storage_suffix}/"


def endpoint_host(endpoint: str) -> str:
    """The host of a blob endpoint given as a bare https origin (``https://host/``), lower-cased.

    ``ValueError`` for anything else: the expectation must be exact for the judgement to be.
    """
    match = _ORIGIN.fullmatch(endpoint)
    if match is None or not _HOST.match(match.group(1).lower()):
        raise ValueError(
            "the expected blob endpoint is not a bare https origin such as https://<account>.blob.<suffix>/"
        )
    return match.group(1).lower()


def _decodings(text: str) -> list[str]:
    """``text`` percent-decoded once, twice, … until it stops changing (at most four times)."""
    layers = []
    for _ in range(4):
        decoded = unquote(text)
        if decoded == text:
            break
        layers.append(decoded)
        text = decoded
    return layers


def hides_a_query(text: str) -> bool:
    """Whether ``text`` (a URL path, say), as sent or percent-decoded, carries ``?``, ``#``, ``;``, a
    backslash or a SAS parameter: what a lenient server could read as a query string."""
    return any(_SAS.search(layer) or any(c in layer for c in "?#;\\") for layer in (text, *_decodings(text)))


def _python_host(uri: str) -> str:
    """The host Python's parser reads (``""`` when it cannot read one)."""
    try:
        return (urlsplit(uri).hostname or "").lower()
    except ValueError:
        return ""


@dataclass(frozen=True)
class _Authority:
    """The authority as a WHATWG or .NET parser reads it, and what follows it."""

    host: str
    after: str
    userinfo: bool
    port: bool

    @classmethod
    def of(cls, uri: str) -> _Authority:
        _, sep, rest = uri.partition("://")
        if not sep:
            rest = ""
        end = _AUTHORITY_END.search(rest)
        authority = rest[: end.start()] if end else rest
        try:
            python_netloc = urlsplit(uri).netloc
        except ValueError:
            python_netloc = ""
        hostport = authority.rpartition("@")[2]
        if hostport.startswith("["):
            close = hostport.find("]")
            host = hostport[: close + 1] if close >= 0 else hostport
            port = len(host) < len(hostport)
        else:
            host, colon, _ = hostport.partition(":")
            port = bool(colon)
        return cls(host.lower(), rest[len(authority) :], "@" in authority or "@" in python_netloc, port)


def judge_container_uri(uri: str, blob_endpoint: str) -> ContainerUriJudgement:
    """Every reason ``uri`` may not be sent as the container of the account at ``blob_endpoint``.

    ``blob_endpoint`` is the checked account's (``https://<account>.blob.<suffix>/``, as ARM reports
    it in ``primaryEndpoints.blob``); ``ValueError`` if it is not a bare https origin.
    """
    expected = endpoint_host(blob_endpoint)
    found: set[UriProblem] = set()
    layers = _decodings(uri)
    if any(_SAS.search(text) for text in (uri, *layers)):
        found.add(UriProblem.SAS_TOKEN)
    if "?" in uri:
        found.add(UriProblem.QUERY_STRING)
    if any("?" in text for text in layers):
        found.add(UriProblem.ENCODED_QUERY)
    if "#" in uri:
        found.add(UriProblem.FRAGMENT)
    if "\\" in uri:
        found.add(UriProblem.BACKSLASH)
    if any(not 0x21 <= ord(c) <= 0x7E for c in uri):
        found.add(UriProblem.UNSAFE_CHARACTERS)
    scheme, sep, _ = uri.partition("://")
    if not sep or scheme.lower() != "https":
        found.add(UriProblem.NOT_HTTPS)

    authority = _Authority.of(uri)
    if authority.userinfo:
        found.add(UriProblem.USERINFO)
    if authority.port:
        found.add(UriProblem.PORT)
    if authority.host != expected or _python_host(uri) != expected:
        found.add(UriProblem.NOT_ACCOUNT_ENDPOINT)

    path = re.split(r"[?#]", authority.after.replace("\\", "/"), maxsplit=1)[0]
    name = path[1:]
    if not path.startswith("/") or not name or "/" in name:
        found.add(UriProblem.PATH)
    elif not _CONTAINER_NAME.match(name):
        found.add(UriProblem.CONTAINER_NAME)
    return ContainerUriJudgement(tuple(p for p in UriProblem if p in found), expected)


def blob_endpoint_named_by(uri: str, storage_suffixes: Iterable[str]) -> str | None:
    """The blob endpoint ``uri`` names, if its host is ``<account>.blob.<one of storage_suffixes>``
    as every parser reads it; else ``None``. It says where a URI points, not whether it may be sent."""
    authority = _Authority.of(uri)
    host = authority.host
    if authority.port or host != _python_host(uri):
        return None
    account, dot, suffix = host.partition(".blob.")
    if not dot or suffix not in set(storage_suffixes) or not _ACCOUNT_NAME.match(account):
        return None
    return f"https://{host}/"
