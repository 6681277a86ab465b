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
secret parameter.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError
from ..files import read_recording
from ..hsm.redact import redact_text
from ..hsm.transcript import load_transcript
from .cassettes import read_provenance
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
# chsm_checks.sandbox.ids.SANDBOX_GUID_PREFIX (a test keeps them equal; importing the sandbox here
# would load its web server).
SANDBOX_ID_PREFIX = "5a4db0c5-"
_STATUS_URL_HEADERS = frozenset({"location", "azure-asyncoperation"})
_REQUEST_ID_HEADERS = frozenset({"x-ms-request-id", "x-ms-correlation-request-id"})
_NAMES_NO_ONE = re.compile(
    r"/(?:roleDefinitions|roleAssignments|privateEndpointConnections)/[^/?&\"']*$", re.I
)
_SUBSCRIPTION = re.compile(r"/subscriptions/$", re.I)

NOT_ALLOWED = "not on the scrub allow-list"
SECRETS = (
    ("a bearer token (a JWT)", re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.")),
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


class _Cassette:
    """The problems of one cassette, gathered field by field."""

    def __init__(self, data: dict[str, Any]) -> None:
        # GUIDs that name a role definition, a role assignment or an endpoint connection somewhere in
        # the cassette name no one wherever they appear (a role assignment's ``name``).
        self._names = {
            m.group(0).lower()
            for text in _strings(data)
            for m in GUID.finditer(text)
            if _NAMES_NO_ONE.search(text[: m.start()])
        }
        self.problems: list[str] = []

    def problem(self, where: str, what: str) -> None:
        if (line := f"{where}: {what}") not in self.problems:
            self.problems.append(line)

    def value(self, where: str, text: str, *, ids: bool = True) -> None:
        for kind in secret_kinds(text):
            self.problem(where, f"looks like {kind}")
        for m in GUID.finditer(text) if ids else ():
            guid = m.group(0).lower()
            if guid.startswith(PLACEHOLDER_PREFIX):
                continue
            if _SUBSCRIPTION.search(text[: m.start()]):
                self.problem(where, "a subscription id that is not the placeholder")
            elif not guid.startswith(SANDBOX_ID_PREFIX) and guid not in self._names:
                self.problem(
                    where, "looks like an unscrubbed id (a GUID neither a placeholder nor a sandbox id)"
                )

    def url(self, where: str, url: str) -> None:
        self.value(where, url)
        for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
            if name not in QUERY_PARAMETERS and value != REDACTED:
                self.problem(where, f"query parameter {name}: {NOT_ALLOWED}")

    def headers(self, where: str, headers: dict[str, Any], allowed: frozenset[str]) -> None:
        for name, values in headers.items():
            lower = str(name).lower()
            if lower not in allowed:
                self.problem(f"{where}.{lower}", NOT_ALLOWED)
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
            data = json.loads(text)
        except ValueError:
            self.value(where, text)
        else:
            self.json(where, data)

    def json(self, at: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in BODY_FIELDS:
                    self.problem(f"{at}.{key}", NOT_ALLOWED)
                elif key in ID_FIELDS and isinstance(value, str):
                    if not value.lower().startswith(PLACEHOLDER_PREFIX):
                        self.problem(f"{at}.{key}", "an id that is not a placeholder")
                elif key in FREE_KEY_MAPS and isinstance(value, dict):
                    for free_key, item in value.items():
                        self.value(f"{at}.{key}", str(free_key))
                        self.json(f"{at}.{key}[{json.dumps(free_key)}]", item)
                else:
                    self.json(f"{at}.{key}", value)
        elif isinstance(node, list):
            for n, item in enumerate(node):
                self.json(f"{at}[{n}]", item)
        elif isinstance(node, str):
            self.value(at, node)


def check_cassette(path: Path) -> list[str]:
    """Problem lines for one cassette; ``ConfigError`` when it cannot be read as a cassette at all."""
    read_provenance(path)
    data = read_recording(path, "cassette")
    cassette = _Cassette(data)
    for n, interaction in enumerate(data["interactions"], start=1):
        request, response = _mapping(path, interaction, "request"), _mapping(path, interaction, "response")
        before = len(cassette.problems)
        cassette.headers("request.headers", _mapping(path, request, "headers"), REQUEST_HEADERS)
        cassette.url("request.uri", str(request.get("uri", "")))
        cassette.body("request.body", request.get("body"))
        cassette.headers("response.headers", _mapping(path, response, "headers"), RESPONSE_HEADERS)
        cassette.body("response.body", _mapping(path, response, "body").get("string"))
        cassette.problems[before:] = [
            f"{path}: interaction {n}: {line}" for line in cassette.problems[before:]
        ]
    return cassette.problems


def check_transcript(path: Path) -> list[str]:
    """Problem lines for one HSM transcript; ``ConfigError`` when it cannot be read as one."""
    transcript = load_transcript(path)
    problems: list[str] = []

    def text(where: str, value: str) -> None:
        if redact_text(value) != value:
            problems.append(f"{path}: {where}: a documented password position is not {REDACTED}")
        problems.extend(f"{path}: {where}: looks like {kind}" for kind in secret_kinds(value))

    for name, config in transcript.files.items():
        text(f"files[{json.dumps(name)}]", config)
    for n, session in enumerate(transcript.sessions, start=1):
        for m, event in enumerate(session.events, start=1):
            ((kind, value),) = event.items()
            content = value.get("content") if kind == "file" and isinstance(value, dict) else value
            if isinstance(content, str):
                text(f"session {n}: event {m} ({kind})", content)
    return problems


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


def check_recordings(root: Path) -> GateReport:
    """Check every cassette and transcript under ``root`` (a directory, or one file)."""
    files = [root] if root.is_file() else sorted(root.rglob("*.yaml")) if root.is_dir() else []
    if not files:
        what = "no such file or directory" if not root.exists() else "no cassettes or transcripts (*.yaml)"
        return GateReport(unusable=[f"{root}: {what}"])
    report = GateReport()
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
    report = check_recordings(root)
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
