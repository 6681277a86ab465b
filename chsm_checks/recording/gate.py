"""The committed-recording gate: a cassette may hold only what the scrub profile lets through.

``chsm-checks cassettes check [DIR]`` reads every cassette and HSM transcript under DIR and reports
each problem on one line, ``<file>: interaction <n>: <field>: <problem>`` (interactions and sessions
numbered from 1; a JSON body's fields follow its name: ``response.body.properties.keys``). It never
prints the value it objects to. The allow-lists are the scrub profile's (:mod:`.scrub`), so the gate
and the scrubber cannot drift apart.

In a cassette:
- a request header off ``REQUEST_HEADERS``, a response header off ``RESPONSE_HEADERS``;
- a query parameter off ``QUERY_PARAMETERS`` whose value is not ``REDACTED``, in the request URI or
  in a status URL (``location``, ``azure-asyncoperation``);
- a JSON body field off ``BODY_FIELDS`` (the keys of ``FREE_KEY_MAPS`` such as ``tags`` are free);
- an id field (``tenantId``, ``principalId``, ``clientId``, ``objectId``) or subscription id that is
  not a placeholder; any other GUID that is neither a placeholder nor a sandbox id (``5a4db0c5-…``),
  except request ids and the names of role definitions, role assignments and private endpoint
  connections, which identify no one.
In a transcript: a documented password position that is not ``REDACTED`` (the patterns that redact
at capture, :mod:`chsm_checks.hsm.redact`).
In both: a value that looks like a secret — a JWT (bearer token), a SAS signature (``sig=``), a
storage account key or connection string, a Microsoft Entra client secret, a private key, an OAuth2
secret parameter — and a URL that carries userinfo (``https://user:password@host``, ``user@`` alone
too, percent-encoded or not).

Whatever a file holds, the gate finishes in time and memory bounded by the size of the file: the
files are read by :mod:`.bounded` (no link followed, no alias, nesting and size bounded), every
pattern runs in linear time, and a file's problems are listed up to ``MAX_LISTED``, then one line
says there are more.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError
from ..hsm.redact import redact_text
from ..hsm.transcript import load_transcript
from .bounded import recording_files
from .cassettes import load_cassette
from .scrub import (
    BODY_FIELDS,
    FREE_KEY_MAPS,
    GUID,
    ID_FIELDS,
    PLACEHOLDER_PREFIX,
    QUERY_PARAMETERS,
    REDACTED,
    REQUEST_HEADERS,
    RESPONSE_HEADERS,
)

EXIT_CLEAN, EXIT_PROBLEMS, EXIT_UNUSABLE = 0, 1, 2
TRANSCRIPT_SUFFIX = ".transcript.yaml"
MAX_LISTED = 100  # problem lines per file; past it, one line says there are more
# chsm_checks.sandbox.ids.SANDBOX_GUID_PREFIX (a test keeps them equal; importing the sandbox here
# would load its web server).
SANDBOX_ID_PREFIX = "5a4db0c5-"
_STATUS_URL_HEADERS = frozenset({"location", "azure-asyncoperation"})
_REQUEST_ID_HEADERS = frozenset({"x-ms-request-id", "x-ms-correlation-request-id"})
# A GUID names no one when it follows ``/roleAssignments/`` (and the like) with no separator between:
# found in one pass with the last separator before each GUID, never by searching back from each.
_GUID_OR_SEPARATOR = re.compile(rf"(?P<separator>[/?&\"'])|{GUID.pattern}", GUID.flags)
_NAMING_SEGMENT = re.compile(r"/(?:roleDefinitions|roleAssignments|privateEndpointConnections)\Z", re.I)
_NAMING_SEGMENT_LONGEST = len("/privateEndpointConnections")
_SUBSCRIPTION = re.compile(r"/subscriptions/\Z", re.I)
# ``scheme://userinfo@``: the userinfo characters of RFC 3986 (a slash ends the authority), also with
# JSON-escaped slashes.
_USERINFO = re.compile(r":(?:\\?/){2}[A-Za-z0-9._~%!$&'()*+,;=:-]*+@")
_B64URL = "[A-Za-z0-9_-]"
_SHOWN_NAME = 80  # characters of a header, field or tag name shown in a problem line

NOT_ALLOWED = "not on the scrub allow-list"
USERINFO = "URL carries userinfo"
SECRETS = (
    # Tried only where a run of base64url characters starts, and only if "eyJ" is in it: each run is
    # scanned a bounded number of times, so "eyJeyJeyJ..." costs one pass, not one per "eyJ".
    (
        "a bearer token (a JWT)",
        re.compile(rf"(?<!{_B64URL})(?={_B64URL}*?eyJ{_B64URL}){_B64URL}++\.eyJ{_B64URL}++\."),
    ),
    (
        "a SAS signature (sig=)",
        re.compile(rf"(?i)(?:^|[?&;\s\"']|%26|%3F)sig(?:=|%3D)(?!{REDACTED}(?:$|[&\s\"']))"),
    ),
    ("a storage account key", re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])")),
    ("a storage connection string", re.compile(r"(?i)\b(?:AccountKey|SharedAccessSignature)=")),
    ("a client secret", re.compile(r"(?<![\w~.-])[\w~.-]{3}\dQ~[\w~.-]{31,34}(?![\w~.-])")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    (
        "an OAuth2 secret parameter",
        re.compile(r"(?i)\b(?:client_secret|client_assertion|refresh_token|access_token)="),
    ),
)


def secret_kinds(text: str) -> list[str]:
    """What in ``text`` looks like a secret (``[]`` for nothing)."""
    return [kind for kind, pattern in SECRETS if pattern.search(text)]


def carries_userinfo(text: str) -> bool:
    """Whether ``text`` holds a URL with userinfo (``scheme://user:password@``), plain or percent-encoded."""
    return bool(_USERINFO.search(text)) or ("%" in text and bool(_USERINFO.search(unquote(text))))


class _MoreThanListed(Exception):
    """A file has more problems than ``MAX_LISTED``: the rest are not looked for."""


class _Lines:
    """One file's problem lines, each once and at most ``MAX_LISTED``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lines: dict[str, None] = {}

    def add(self, line: str) -> None:
        line = f"{self._path}: {line}"
        if line in self._lines:
            return
        if len(self._lines) == MAX_LISTED:
            raise _MoreThanListed
        self._lines[line] = None

    def listed(self, *, more: bool) -> list[str]:
        lines = list(self._lines)
        if more:
            lines.append(f"{self._path}: more than {MAX_LISTED} problems; the rest are not listed")
        return lines


def _shown(name: object) -> str:
    """A name from the file as a problem line shows it: on one line, and not too long to read."""
    text = str(name)
    if text.isprintable() and len(text) <= _SHOWN_NAME:
        return text
    return json.dumps(text[:_SHOWN_NAME]) + ("…" if len(text) > _SHOWN_NAME else "")


def _guids(text: str) -> Iterator[tuple[str, bool, bool]]:
    """Each GUID in ``text`` (lower case), whether a role definition, role assignment or endpoint
    connection segment names it (``…/roleAssignments/<guid>``), and whether it is a subscription id
    (``…/subscriptions/<guid>``)."""
    separator = -1
    for m in _GUID_OR_SEPARATOR.finditer(text):
        if m.group("separator"):
            separator = m.start()
            continue
        names_no_one = (
            separator >= 0
            and text[separator] == "/"
            and bool(_NAMING_SEGMENT.search(text, max(0, separator - _NAMING_SEGMENT_LONGEST), separator))
        )
        subscription = bool(_SUBSCRIPTION.search(text, max(0, m.start() - len("/subscriptions/")), m.start()))
        yield m.group(0).lower(), names_no_one, subscription


class _Cassette:
    """The problems of one cassette, gathered field by field."""

    def __init__(self, data: dict[str, Any], lines: _Lines) -> None:
        # GUIDs that name a role definition, a role assignment or an endpoint connection somewhere in
        # the cassette name no one wherever they appear (a role assignment's ``name``).
        self._names = {
            guid for text in _strings(data) for guid, names_no_one, _ in _guids(text) if names_no_one
        }
        self._lines = lines
        self.interaction = 0

    def problem(self, where: str, what: str) -> None:
        self._lines.add(f"interaction {self.interaction}: {where}: {what}")

    def value(self, where: str, text: str, *, ids: bool = True) -> None:
        for kind in secret_kinds(text):
            self.problem(where, f"looks like {kind}")
        if carries_userinfo(text):
            self.problem(where, USERINFO)
        for guid, _, subscription in _guids(text) if ids else ():
            if guid.startswith(PLACEHOLDER_PREFIX):
                continue
            if subscription:
                self.problem(where, "a subscription id that is not the placeholder")
            elif not guid.startswith(SANDBOX_ID_PREFIX) and guid not in self._names:
                self.problem(
                    where, "looks like an unscrubbed id (a GUID neither a placeholder nor a sandbox id)"
                )

    def url(self, where: str, url: str) -> None:
        self.value(where, url)
        try:
            query = urlsplit(url).query
        except ValueError:
            self.problem(where, "not a URL")
            return
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name not in QUERY_PARAMETERS and value != REDACTED:
                self.problem(where, f"query parameter {_shown(name)}: {NOT_ALLOWED}")

    def headers(self, where: str, headers: dict[str, Any], allowed: frozenset[str]) -> None:
        for name, values in headers.items():
            lower = str(name).lower()
            if lower not in allowed:
                self.problem(f"{where}.{_shown(lower)}", NOT_ALLOWED)
                continue
            for text in values if isinstance(values, list) else [values]:
                if lower in _STATUS_URL_HEADERS:
                    self.url(f"{where}.{lower}", str(text))
                else:
                    self.value(f"{where}.{lower}", str(text), ids=lower not in _REQUEST_ID_HEADERS)

    def body(self, where: str, raw: Any) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not isinstance(text, str) or not text:
            return
        try:
            data = json.loads(text)  # its nesting is bounded: the cassette was read by .bounded
        except ValueError:
            self.value(where, text)
        else:
            self.json(where, data)

    def json(self, at: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in BODY_FIELDS:
                    self.problem(f"{at}.{_shown(key)}", NOT_ALLOWED)
                elif key in ID_FIELDS and isinstance(value, str):
                    if not value.lower().startswith(PLACEHOLDER_PREFIX):
                        self.problem(f"{at}.{key}", "an id that is not a placeholder")
                elif key in FREE_KEY_MAPS and isinstance(value, dict):
                    for free_key, item in value.items():
                        self.value(f"{at}.{key}", str(free_key))
                        self.json(f"{at}.{key}[{_free_key(free_key)}]", item)
                else:
                    self.json(f"{at}.{key}", value)
        elif isinstance(node, list):
            for n, item in enumerate(node):
                self.json(f"{at}[{n}]", item)
        elif isinstance(node, str):
            self.value(at, node)


def _free_key(key: str) -> str:
    return json.dumps(key) if len(key) <= _SHOWN_NAME else json.dumps(key[:_SHOWN_NAME]) + "…"


def check_cassette(path: Path) -> list[str]:
    """Problem lines for one cassette; ``ConfigError`` when it cannot be read as a cassette at all."""
    data = load_cassette(path)
    lines = _Lines(path)
    cassette = _Cassette(data, lines)
    try:
        for n, interaction in enumerate(data["interactions"], start=1):
            cassette.interaction = n
            _check_interaction(path, cassette, interaction)
    except _MoreThanListed:
        return lines.listed(more=True)
    return lines.listed(more=False)


def interaction_problems(path: Path, interaction: Any) -> list[str]:
    """The problems the gate finds in one interaction of a valid cassette at ``path``, each as
    ``<field>: <problem>``: for a writer that must write nothing the gate would refuse."""
    lines = _Lines(path)
    cassette = _Cassette({"interactions": [interaction]}, lines)
    cassette.interaction = 1
    with suppress(_MoreThanListed):
        _check_interaction(path, cassette, interaction)
    return [line.removeprefix(f"{path}: interaction 1: ") for line in lines.listed(more=False)]


def _check_interaction(path: Path, cassette: _Cassette, interaction: Any) -> None:
    request = _mapping(path, interaction, "request")
    response = _mapping(path, interaction, "response")
    cassette.headers("request.headers", _mapping(path, request, "headers"), REQUEST_HEADERS)
    cassette.url("request.uri", str(request.get("uri", "")))
    cassette.body("request.body", request.get("body"))
    cassette.headers("response.headers", _mapping(path, response, "headers"), RESPONSE_HEADERS)
    cassette.body("response.body", _mapping(path, response, "body").get("string"))


def check_transcript(path: Path) -> list[str]:
    """Problem lines for one HSM transcript; ``ConfigError`` when it cannot be read as one."""
    transcript = load_transcript(path)
    lines = _Lines(path)

    def text(where: str, value: str) -> None:
        if redact_text(value) != value:
            lines.add(f"{where}: a documented password position is not {REDACTED}")
        for kind in secret_kinds(value):
            lines.add(f"{where}: looks like {kind}")
        if carries_userinfo(value):
            lines.add(f"{where}: {USERINFO}")

    try:
        for name, config in transcript.files.items():
            text(f"files[{_free_key(name)}]", config)
        for n, session in enumerate(transcript.sessions, start=1):
            for m, event in enumerate(session.events, start=1):
                ((kind, value),) = event.items()
                content = value.get("content") if kind == "file" and isinstance(value, dict) else value
                if isinstance(content, str):
                    text(f"session {n}: event {m} ({kind})", content)
    except _MoreThanListed:
        return lines.listed(more=True)
    return lines.listed(more=False)


@dataclass
class GateReport:
    """What the gate found under one directory."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 problems, 2 a file that is no cassette or transcript (or nothing to check)."""
        return EXIT_UNUSABLE if self.unusable else EXIT_PROBLEMS if self.problems else EXIT_CLEAN


def inspect_recordings(root: Path) -> GateReport:
    """Inspect every cassette and transcript under ``root`` (a directory, or one file) and report
    each problem, never raising for one (``cassettes check``); replay's refusal of the first damaged
    recording is :func:`.replayable.require_replayable`. A link or a special file anywhere under
    ``root`` is unusable input, never followed."""
    files, refused = recording_files(root)
    report = GateReport(unusable=refused)
    if not files and not refused:
        report.unusable.append(f"{root}: no cassettes or transcripts (*.yaml)")
    for path in files:
        try:
            transcript = path.name.endswith(TRANSCRIPT_SUFFIX)
            report.problems += check_transcript(path) if transcript else check_cassette(path)
            report.checked += 1
        except ConfigError as exc:
            report.unusable.append(str(exc))
    return report


def run_gate(root: Path) -> int:
    """``chsm-checks cassettes check``: each problem on stdout, a count on stderr; the exit code."""
    report = inspect_recordings(root)
    for line in report.problems:
        print(line)
    for line in report.unusable:
        print(f"chsm-checks: {line}", file=sys.stderr)
    if not report.unusable:
        found = f"{len(report.problems)} problem(s)" if report.problems else "clean"
        print(f"chsm-checks: {report.checked} recording(s) under {root}: {found}", file=sys.stderr)
    return report.exit_code


def _mapping(path: Path, parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key}: missing or not a mapping; not a cassette")
    return value


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
