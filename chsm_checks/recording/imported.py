"""Importing another tool's vcrpy recording of live ARM traffic as a chsm-checks cassette.

``chsm-checks cassettes import FILE --from azure-cli`` reads a recording made by the Azure CLI's
extension tests and writes a cassette that replays as the harness's own do:

- every interaction goes through the recorder's scrubber (:mod:`.scrub`), which has first learnt
  the ids of the whole file, so one id gets one placeholder wherever it appears; every GUID the
  scrub profile leaves alone (ids inside a backup id, request ids) then becomes a sandbox-style one
  (``5a4db0c5-0000-4000-8000-<n>``, counted in order of appearance), so no real id survives;
- an interaction is left out, with one line naming it (its number, method and scrubbed URL) and
  why, when it is sign-in traffic, goes to a host that is not the recording's ARM endpoint
  (Microsoft Graph, another cloud), names a resource type chsm-checks does not call or an
  api-version other than the one it pins, carries a body that is not JSON, or, scrubbed, still
  holds something ``cassettes check`` refuses (:mod:`.gate`);
- its provenance says ``imported from <tool>, <file name>, <sha256 of the file>``.

A file that is not a readable vcrpy recording is a ``ConfigError`` (one line, exit 2); a recording
of which nothing can be imported writes nothing (exit 1). The cassette is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from ..arm.clouds import KNOWN_CLOUDS, Cloud
from ..arm.versions import API_VERSIONS
from ..errors import ConfigError
from .bounded import RECORDING_SUFFIX, parse_recording, parse_recording_bytes, read_recording_bytes
from .cassettes import IMPORT_TOOLS, IMPORTED_FILE_NAME, Provenance, _interaction_problem, write_cassette
from .gate import SANDBOX_ID_PREFIX, TRANSCRIPT_SUFFIX, interaction_problems
from .scrub import GUID, PLACEHOLDER_PREFIX, SUBSCRIPTION_PLACEHOLDER, Scrubber

EXIT_IMPORTED, EXIT_NOTHING_IMPORTED, EXIT_UNUSABLE = 0, 1, 2
DEFAULT_DIRECTORY = Path("cassettes/imported")
_ARM_CLOUDS = {urlsplit(cloud.arm_endpoint).hostname: cloud for cloud in KNOWN_CLOUDS.values()}
_TYPES = {name.lower(): name for name in API_VERSIONS}
_PROVIDER = re.compile(r"/providers/([^/]+)/([^/]+)", re.IGNORECASE)
_SUBSCRIPTION_PATH = re.compile(rf"/subscriptions/({GUID.pattern})", re.IGNORECASE)
_SUBSCRIPTION_ONLY = re.compile(r"/subscriptions/[^/]+/?", re.IGNORECASE)
_RESOURCE_GROUP = re.compile(r"/subscriptions/[^/]+/resourcegroups(?:/|\Z)", re.IGNORECASE)
_SHOWN_METHOD = re.compile(r"[A-Z]{1,16}")


# An interaction ready to be written: the scrubbed request and response, and the JSON fields dropped.
_Scrubbed = tuple[Request, dict[str, Any], set[str]]


@dataclass
class ImportResult:
    """What an import did: how many interactions it wrote, and one line per interaction left out."""

    total: int
    written: int = 0
    left_out: list[str] = field(default_factory=list)


class _ImportedIds:
    """Sandbox-style stand-ins for the GUIDs the scrub profile leaves alone: the same GUID gets the
    same stand-in throughout the file; a placeholder stays as it is."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def text(self, value: str) -> str:
        return GUID.sub(self._swap, value)

    def _swap(self, match: re.Match[str]) -> str:
        guid = match.group(0).lower()
        if guid.startswith(PLACEHOLDER_PREFIX):
            return match.group(0)
        if guid not in self._ids:
            self._ids[guid] = f"{SANDBOX_ID_PREFIX}0000-4000-8000-{len(self._ids) + 1:012d}"
        return self._ids[guid]


def default_out(source: Path, tool: str) -> Path:
    """Where an import goes unless ``--out`` says otherwise: under ``cassettes/imported/<tool>/``."""
    return DEFAULT_DIRECTORY / tool / (source.stem + RECORDING_SUFFIX)


def import_recording(source: Path, out: Path, *, tool: str) -> ImportResult:
    """Import the vcrpy recording at ``source`` (made by ``tool``) into a cassette at ``out``.

    ``ConfigError`` (nothing written) for a source that is not a readable vcrpy recording or an
    ``out`` that cannot be one; a result with ``written == 0`` (nothing written) when no
    interaction could be imported.
    """
    _check_out(source, out, tool)
    raw = read_recording_bytes(source, "recording")
    interactions = _interactions(source, parse_recording_bytes(source, raw, "vcrpy recording"))
    result = ImportResult(total=len(interactions))
    usable = {
        n: _with_header_lists(i) for n, i in enumerate(interactions, start=1) if not _interaction_problem(i)
    }
    cloud = _cloud_of(usable.values())
    scrubber = Scrubber(subscription_id=_subscription_of(usable.values(), cloud))
    for interaction in usable.values():  # learn every id first: one id, one placeholder
        scrubber.response(interaction["response"])
    ids = _ImportedIds()
    candidates: dict[int, _Scrubbed] = {}
    left_out: dict[int, str] = {}
    for n, interaction in enumerate(interactions, start=1):
        if n not in usable:
            why = f"not a vcrpy interaction: {_interaction_problem(interaction)}"
            left_out[n] = _line(n, interaction, why, scrubber, ids)
        elif why_not := _why_not_mapped(usable[n], cloud, scrubber):
            left_out[n] = _line(n, interaction, why_not, scrubber, ids)
        else:
            candidates[n] = _scrubbed(usable[n], scrubber, ids)
    kept = _passing_the_gate(out, candidates, left_out, usable, scrubber, ids)
    result.left_out = [left_out[n] for n in sorted(left_out)]
    if not kept or cloud is None:
        return result
    scrubber.dropped_fields = set().union(*(dropped for _, _, dropped in kept.values()))
    provenance = Provenance.imported(
        tool=tool,
        file_name=source.name,
        sha256=hashlib.sha256(raw).hexdigest(),
        recorded_at=_recorded_at(source, [usable[n]["response"] for n in kept]),
        cloud=cloud.name,
        api_versions=_api_versions([request.uri for request, _, _ in kept.values()]),
    )
    recorded = SimpleNamespace(data=[(request, response) for request, response, _ in kept.values()])
    write_cassette(out, recorded, provenance, scrubber)
    result.written = len(kept)
    return result


def run_import(source: Path, out: Path | None, tool: str) -> int:
    """``chsm-checks cassettes import``: one line per interaction left out and a summary, on stderr;
    the exit code (0 imported, 1 nothing could be, 2 unusable input)."""
    out = out or default_out(source, tool)
    try:
        result = import_recording(source, out, tool=tool)
    except ConfigError as exc:
        print(f"chsm-checks: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    for line in result.left_out:
        print(f"chsm-checks: {source}: {line}", file=sys.stderr)
    if not result.written:
        print(
            f"chsm-checks: {source}: nothing imported: none of its {result.total} interaction(s) "
            "could be mapped; nothing written",
            file=sys.stderr,
        )
        return EXIT_NOTHING_IMPORTED
    print(
        f"chsm-checks: imported {result.written} of {result.total} interaction(s) from {source} into {out}",
        file=sys.stderr,
    )
    return EXIT_IMPORTED


# -- reading the source -----------------------------------------------------------------------------


def _check_out(source: Path, out: Path, tool: str) -> None:
    if tool not in IMPORT_TOOLS:
        raise ConfigError(f"--from {tool}: recordings are imported from {', '.join(sorted(IMPORT_TOOLS))}")
    if not out.name.endswith(RECORDING_SUFFIX) or out.name.endswith(TRANSCRIPT_SUFFIX):
        raise ConfigError(f"{out}: --out must name a *{RECORDING_SUFFIX} file (not a transcript)")
    if out.is_dir():
        raise ConfigError(f"{out}: --out is a directory; name the cassette file")
    if not re.fullmatch(IMPORTED_FILE_NAME, source.name):
        raise ConfigError(
            f"{source}: the file's name may not hold a comma, slash or newline, or start with a space: "
            "the provenance names it; copy the file under another name"
        )
    if out.exists() and source.exists() and out.samefile(source):
        raise ConfigError(f"{out}: --out is the source recording; import into another file")


def _with_header_lists(interaction: Mapping[str, Any]) -> dict[str, Any]:
    """The interaction with every header's values as a list of text, as vcrpy writes them."""
    copy = {part: dict(interaction[part]) for part in ("request", "response")}
    for part in copy.values():
        part["headers"] = {
            str(name): [str(v) for v in values] if isinstance(values, list) else [str(values)]
            for name, values in part["headers"].items()
        }
    return copy


def _interactions(source: Path, data: Any) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise ConfigError(f"{source}: not a vcrpy recording: interactions: missing or not a list")
    if data.get("version") != 1:
        raise ConfigError(f"{source}: not a vcrpy recording: version: missing or not 1")
    return list(data["interactions"])


def _cloud_of(interactions: Any) -> Cloud | None:
    """The cloud of the first interaction addressed to an ARM endpoint: a cassette replays on one."""
    for interaction in interactions:
        if (cloud := _ARM_CLOUDS.get(urlsplit(interaction["request"]["uri"]).hostname)) is not None:
            return cloud
    return None


def _subscription_of(interactions: Any, cloud: Cloud | None) -> str:
    """The subscription the first ARM request names (the scrubber's subscription placeholder)."""
    arm_host = urlsplit(cloud.arm_endpoint).hostname if cloud is not None else None
    for interaction in interactions:
        parts = urlsplit(interaction["request"]["uri"])
        if parts.hostname == arm_host and (match := _SUBSCRIPTION_PATH.match(parts.path)):
            return match.group(1)
    return SUBSCRIPTION_PLACEHOLDER


def _recorded_at(source: Path, responses: list[Mapping[str, Any]]) -> str:
    """When the recording was made: its earliest ``date`` response header. A recording none of whose
    answers is dated is refused: "now" would make each import of the same file a different cassette."""
    dates = []
    for response in responses:
        for name, values in (response.get("headers") or {}).items():
            if str(name).lower() != "date":
                continue
            for value in values if isinstance(values, list) else [values]:
                try:
                    dates.append(parsedate_to_datetime(str(value)).astimezone(UTC))
                except (TypeError, ValueError):
                    continue
    if not dates:
        raise ConfigError(f"{source}: no imported answer has a date header: when it was recorded is unknown")
    return min(dates).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _api_versions(uris: list[str]) -> dict[str, str]:
    """The api-version of each resource type the imported interactions call."""
    found: dict[str, str] = {}
    for uri in uris:
        parts = urlsplit(uri)
        if (kind := resource_type(parts.path)) in API_VERSIONS:
            found.setdefault(kind, parse_qs(parts.query).get("api-version", [""])[0])
    return dict(sorted(found.items()))


# -- judging and scrubbing one interaction ----------------------------------------------------------


def resource_type(path: str) -> str | None:
    """The resource type an ARM path addresses (``Microsoft.HardwareSecurityModules/cloudHsmClusters``
    for a cluster and the operations under it), spelt as the pinned table spells it when it is there;
    ``None`` for a path that names none."""
    providers = list(_PROVIDER.finditer(path))
    if providers:
        name = f"{providers[-1].group(1)}/{providers[-1].group(2)}"
    elif _RESOURCE_GROUP.match(path):
        name = "Microsoft.Resources/resourceGroups"
    elif _SUBSCRIPTION_ONLY.fullmatch(path):
        name = "Microsoft.Resources/subscriptions"
    else:
        return None
    return _TYPES.get(name.lower(), name)


def _why_not_mapped(interaction: Mapping[str, Any], cloud: Cloud | None, scrubber: Scrubber) -> str | None:
    """Why an interaction cannot become part of the cassette, or ``None``."""
    request = interaction["request"]
    if scrubber.request(Request(request["method"], request["uri"], None, {})) is None:
        return "sign-in traffic; recordings never hold it"
    parts = urlsplit(request["uri"])
    host = parts.hostname or ""
    if host not in _ARM_CLOUDS:
        return f"{host or 'no host'}: not an ARM endpoint; chsm-checks calls only ARM"
    if cloud is not None and host != urlsplit(cloud.arm_endpoint).hostname:
        return f"{host}: another cloud than the recording's ({cloud.name}); a cassette replays on one"
    kind = resource_type(parts.path)
    if kind is None:
        return "its path names no resource type"
    if kind not in API_VERSIONS:
        return f"resource type {kind}: not one chsm-checks calls"
    versions = parse_qs(parts.query).get("api-version", [])
    if versions != [API_VERSIONS[kind]]:
        given = f"api-version {versions[0]}" if versions else "no api-version"
        return f"{given}; chsm-checks calls {kind} at {API_VERSIONS[kind]} only"
    bodies = {"request body": request["body"], "response body": interaction["response"]["body"]["string"]}
    for where, raw in bodies.items():
        if not _empty_or_json(raw):
            return f"{where}: not JSON; the scrub profile keeps only JSON fields it knows"
    return None


def _empty_or_json(raw: str | bytes | None) -> bool:
    if raw in (None, "", b""):
        return True
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _scrubbed(interaction: Mapping[str, Any], scrubber: Scrubber, ids: _ImportedIds) -> _Scrubbed:
    """The interaction through the recorder's scrubber, then with sandbox-style ids; and the JSON
    fields the scrubber dropped from it."""
    scrubber.dropped_fields = set()
    source = interaction["request"]
    request = scrubber.request(Request(source["method"], source["uri"], source["body"], source["headers"]))
    response = scrubber.response(dict(interaction["response"]))
    request.uri = ids.text(request.uri)
    body = request.body
    request.body = ids.text(body.decode("utf-8") if isinstance(body, bytes) else body or "")
    response["headers"] = {
        name: [ids.text(str(value)) for value in values] for name, values in response["headers"].items()
    }
    text = response["body"]["string"]
    response["body"] = {"string": ids.text(text.decode("utf-8") if isinstance(text, bytes) else text or "")}
    return request, response, set(scrubber.dropped_fields)


def _passing_the_gate(
    out: Path,
    candidates: dict[int, _Scrubbed],
    left_out: dict[int, str],
    usable: Mapping[int, Any],
    scrubber: Scrubber,
    ids: _ImportedIds,
) -> dict[int, _Scrubbed]:
    """The candidates the gate passes, read back as they would be written; one line for each other."""
    requests = [request for request, _, _ in candidates.values()]
    responses = [response for _, response, _ in candidates.values()]
    text = serialize({"requests": requests, "responses": responses}, yamlserializer)
    try:
        written = parse_recording(text)["interactions"]
    except yaml.YAMLError as exc:  # past the bounds a recording may hold
        raise ConfigError(f"{out}: not written, replay would refuse it: {exc}") from None
    kept = {}
    for (n, candidate), interaction in zip(candidates.items(), written, strict=True):
        if problems := interaction_problems(out, interaction):
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            why = f"scrubbed, it still holds what cassettes check refuses: {problems[0]}{more}"
            left_out[n] = _line(n, usable[n], why, scrubber, ids)
        else:
            kept[n] = candidate
    return kept


def _line(n: int, interaction: Any, why: str, scrubber: Scrubber, ids: _ImportedIds) -> str:
    """``interaction <n>: <METHOD> <scrubbed URL>: not imported: <why>``."""
    request = interaction.get("request") if isinstance(interaction, dict) else None
    method = request.get("method") if isinstance(request, dict) else None
    uri = request.get("uri") if isinstance(request, dict) else None
    shown_method = method if isinstance(method, str) and _SHOWN_METHOD.fullmatch(method) else "?"
    try:
        shown_uri = ids.text(scrubber.url(uri)) if isinstance(uri, str) else "?"
    except ValueError:
        shown_uri = "?"
    return f"interaction {n}: {shown_method} {shown_uri}: not imported: {why}"
