"""Cassettes: vcrpy recordings of a scenario's ARM traffic, with provenance.

Replay uses record mode ``none`` over a transport that cannot reach any network, so a request the
cassette does not hold is an error naming it, never a call to Azure. Record mode writes nothing
through vcrpy: the scenario's interactions are written by ``write_cassette`` after the scenario,
and only if it finished without an error.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import vcr
import yaml
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.patch import PATCHER_NAMES
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from ..arm.versions import API_VERSIONS
from ..errors import ConfigError, ReplayMissError
from ..files import write_atomically
from ..version import VERSION
from .bounded import json_problem, parse_recording, read_recording, read_validated, size_problem
from .scrub import SCRUB_PROFILE_VERSION, Scrubber

CASSETTE_FORMAT = "chsm-checks/cassette/1"
# An imported recording's provenance: ``target_kind`` says so, ``target_name`` names the tool, and
# ``source`` reads "imported from <tool>, <file name>, <SHA-256 of the file>".
IMPORTED = "imported"
IMPORT_TOOLS = frozenset({"azure-cli"})
# The source's file name as provenance can hold it: no comma, slash or newline, no leading space.
IMPORTED_FILE_NAME = r"[^,/\\\s][^,/\\\n]*"
_IMPORTED_SOURCE = re.compile(rf"imported from (?P<tool>[a-z0-9-]+), {IMPORTED_FILE_NAME}, [0-9a-f]{{64}}")
# The reproducible-builds convention: https://reproducible-builds.org/specs/source-date-epoch/
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "body")
_REQUEST_FIELDS = frozenset({"body", "headers", "method", "uri"})


@dataclass(frozen=True)
class Provenance:
    """Where a cassette came from. Only ``recorded_at`` changes between two identical recordings."""

    recorded_at: str
    target_kind: str
    target_name: str
    cloud: str
    scenario: str
    tool_version: str = VERSION
    api_versions: dict[str, str] | None = None
    scrub_profile: str = SCRUB_PROFILE_VERSION
    format: str = CASSETTE_FORMAT
    source: str | None = None  # set only on an imported recording

    @classmethod
    def now(
        cls,
        *,
        target_kind: str,
        target_name: str,
        cloud: str,
        scenario: str,
        format: str = CASSETTE_FORMAT,
        recorded_at: str | None = None,
    ) -> Provenance:
        """Provenance for a recording made now (or on ``SOURCE_DATE_EPOCH``: :func:`recording_date`),
        or at ``recorded_at``: the moment the run judged as "now"."""
        return cls(
            recorded_at or recording_date(),
            target_kind,
            target_name,
            cloud,
            scenario,
            api_versions=dict(API_VERSIONS),
            format=format,
        )

    @classmethod
    def from_metadata(
        cls,
        path: Path,
        data: Any,
        *,
        expected_format: str = CASSETTE_FORMAT,
        field: str = "metadata.provenance",
    ) -> Provenance:
        if not isinstance(data, dict) or data.get("format") != expected_format:
            raise ConfigError(f"{path}: {field}: missing or not {expected_format}")
        try:
            provenance = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise ConfigError(f"{path}: {field}: {exc}") from None
        if problem := provenance.source_problem():
            raise ConfigError(f"{path}: {field}.source: {problem}")
        return provenance

    @classmethod
    def imported(
        cls,
        *,
        tool: str,
        file_name: str,
        sha256: str,
        recorded_at: str,
        cloud: str,
        api_versions: dict[str, str],
    ) -> Provenance:
        """Provenance for a recording another tool made, imported by ``chsm-checks cassettes import``."""
        return cls(
            recorded_at,
            IMPORTED,
            tool,
            cloud,
            file_name,
            api_versions=api_versions,
            source=f"imported from {tool}, {file_name}, {sha256}",
        )

    def source_problem(self) -> str | None:
        """Why ``source`` does not fit ``target_kind`` and ``target_name``, or ``None``: a recording is
        either the harness's own (no ``source``) or imported from a known tool, and says which file."""
        if self.source is None:
            imported = self.target_kind == IMPORTED
            return f"missing; an {IMPORTED} recording says where it came from" if imported else None
        match = _IMPORTED_SOURCE.fullmatch(self.source) if isinstance(self.source, str) else None
        if match is None:
            return "not 'imported from <tool>, <file name>, <sha256>'"
        if match["tool"] not in IMPORT_TOOLS:
            known = ", ".join(sorted(IMPORT_TOOLS))
            return f"{match['tool']}: not a tool recordings are imported from ({known})"
        if self.target_kind != IMPORTED or self.target_name != match["tool"]:
            return f"target_kind and target_name must be {IMPORTED} and {match['tool']}"
        return None

    def as_metadata(self) -> dict[str, Any]:
        """The provenance as a recording holds it (``source`` only when there is one)."""
        data = asdict(self)
        if self.source is None:
            del data["source"]
        return data


def recording_date(environ: Mapping[str, str] = os.environ, now: datetime | None = None) -> str:
    """When a recording is made, as its ``recorded_at`` says, to the second in UTC: ``now`` (else the
    present), or the date ``SOURCE_DATE_EPOCH`` gives when it is set and not empty, so that a
    re-recording can be byte-identical. A value that is not whole seconds since 1970 is a
    :class:`ConfigError` naming it."""
    epoch = environ.get(SOURCE_DATE_EPOCH, "")
    if not epoch:
        moment = now or datetime.now(UTC)
    else:
        try:
            if not re.fullmatch(r"[0-9]+", epoch):
                raise ValueError
            moment = datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"{SOURCE_DATE_EPOCH}: not a date in whole seconds since 1970: {epoch!r}"
            ) from None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class _NoSave:
    """A vcrpy persister that never writes: record mode writes cassettes itself, and only on success."""

    @staticmethod
    def load_cassette(cassette_path: str, serializer: Any) -> Any:
        raise CassetteNotFoundError()

    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        return None


class _NetworkBlocked(httpx.BaseTransport):
    """Replay's transport: vcrpy answers from the cassette; nothing here ever reaches a network.

    vcrpy patches ``httpx.MockTransport`` while a cassette is in use, so the inner transport's
    handler runs only when vcrpy is not active at all — and then it refuses too.
    """

    def __init__(self, cassette: str) -> None:
        self._cassette = cassette
        self._inner = httpx.MockTransport(self._refuse)

    def _refuse(self, request: httpx.Request) -> httpx.Response:
        raise ReplayMissError(request.method, str(request.url), self._cassette)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(request)
        except CannotOverwriteExistingCassetteException:
            raise ReplayMissError(request.method, str(request.url), self._cassette) from None


class _SafeYaml:
    """vcrpy's YAML serializer, but loading as replay's check does whatever vcrpy's version: a
    cassette is data, and a tag that would construct an object (``!!python/object/apply:...``) is
    refused, never run; so are an alias and nesting past the bound (:mod:`.bounded`)."""

    @staticmethod
    def deserialize(text: str) -> Any:
        return parse_recording(text)

    serialize = staticmethod(yamlserializer.serialize)


def _vcr(scrubber: Scrubber, record_mode: str) -> vcr.VCR:
    config = vcr.VCR(
        serializer="chsm-safe-yaml",
        record_mode=record_mode,
        match_on=MATCH_ON,
        # vcrpy hands this hook a deep copy of its own (VCR._build_before_record_request), so the
        # scrubber need not copy it again.
        before_record_request=partial(scrubber.request, fresh=True),
        before_record_response=scrubber.response,
        decode_compressed_response=True,
        # Only httpx carries ARM traffic; sign-in (azure-identity) must never be intercepted or stored.
        skip_patchers=[name for name in PATCHER_NAMES if name != "httpx"],
    )
    config.register_serializer("chsm-safe-yaml", _SafeYaml)
    if record_mode != "none":
        config.register_persister(_NoSave)
    return config


def slug(text: str) -> str:
    """A file-name-safe form of a feature or scenario name."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:100] or "unnamed"


def read_provenance(path: Path) -> Provenance:
    """Validate a cassette file (:func:`load_cassette`) and return its provenance (once per version of
    the file: :func:`~.bounded.read_validated`)."""
    return read_validated(path, "cassette", _provenance)


def _provenance(path: Path, data: Any) -> Provenance:
    return _validated(path, data)[1]


def load_cassette(path: Path) -> dict[str, Any]:
    """A cassette read within the bounds (:mod:`.bounded`) and safely (no YAML tags), validated.

    Every interaction must have the fields vcrpy reads, so that a damaged cassette is one line
    naming it and the field, never a traceback from inside vcrpy.
    """
    return _validated(path, read_recording(path, "cassette"))[0]


def _validated(path: Path, data: Any) -> tuple[dict[str, Any], Provenance]:
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise ConfigError(f"{path}: interactions: missing; not a cassette")
    if data.get("version") != 1:  # vcrpy writes it last: a cassette cut short has none
        raise ConfigError(f"{path}: version: missing or not 1; the cassette is cut short or not vcrpy's")
    for n, interaction in enumerate(data["interactions"]):
        if problem := _interaction_problem(interaction):
            raise ConfigError(f"{path}: interactions[{n}].{problem}")
    metadata = data.get("metadata")
    provenance = metadata.get("provenance") if isinstance(metadata, dict) else None
    return data, Provenance.from_metadata(path, provenance)


def _interaction_problem(interaction: Any) -> str | None:
    """``field: problem`` for the first field of a recorded exchange that vcrpy could not replay."""
    if not isinstance(interaction, dict):
        return "request: missing"
    request, response = interaction.get("request"), interaction.get("response")
    if not isinstance(request, dict):
        return "request: missing"
    if set(request) != _REQUEST_FIELDS:
        return f"request: needs exactly the fields {', '.join(sorted(_REQUEST_FIELDS))}"
    for name in ("method", "uri"):
        if not isinstance(request[name], str):
            return f"request.{name}: not text"
    try:
        urlsplit(request["uri"])
    except ValueError:
        return "request.uri: not a URL"
    if request["body"] is not None and not isinstance(request["body"], str | bytes):
        return "request.body: not text"
    if not isinstance(response, dict):
        return "response: missing"
    status = response.get("status")
    if not isinstance(status, dict) or type(status.get("code")) is not int:
        return "response.status.code: missing or not a number"
    body = response.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("string"), str | bytes):
        return "response.body.string: missing"
    # Replay parses JSON bodies (vcrpy matches request bodies, the ARM client reads responses).
    for name, raw in (("request.body", request["body"]), ("response.body.string", body["string"])):
        if problem := json_problem(raw):
            return f"{name}: {problem}"
    for part, headers in (("request", request["headers"]), ("response", response.get("headers"))):
        if not isinstance(headers, dict):
            return f"{part}.headers: not a mapping"
    return None


@contextmanager
def replaying(path: Path, scrubber: Scrubber) -> Iterator[httpx.BaseTransport]:
    """Yield a transport that answers only from the cassette at ``path``."""
    read_provenance(path)
    with _vcr(scrubber, "none").use_cassette(str(path)):
        yield _NetworkBlocked(str(path))


@contextmanager
def recording(scrubber: Scrubber) -> Iterator[Any]:
    """Record this block's httpx traffic (scrubbed) into an in-memory cassette, yielded."""
    scrubber.dropped_fields.clear()
    with (
        tempfile.TemporaryDirectory(prefix="chsm-rec-") as tmp,
        _vcr(scrubber, "all").use_cassette(os.path.join(tmp, "unsaved.yaml")) as cassette,
    ):
        yield cassette


def write_cassette(path: Path, cassette: Any, provenance: Provenance, scrubber: Scrubber) -> None:
    """Write the recorded interactions with their provenance, atomically; ``ConfigError`` (and
    nothing written) for a recording that replay would refuse, such as one past the bounds."""
    metadata: dict[str, Any] = {"provenance": provenance.as_metadata()}
    if scrubber.dropped_fields:
        metadata["dropped_fields"] = sorted(scrubber.dropped_fields)
    text = serialize(
        {
            "requests": [request for request, _ in cassette.data],
            "responses": [response for _, response in cassette.data],
            "metadata": metadata,
        },
        yamlserializer,
    )
    try:
        if problem := size_problem(len(text.encode("utf-8"))):
            raise ConfigError(problem)
        _validated(path, parse_recording(text))
    except (ConfigError, yaml.YAMLError) as exc:
        problem = str(exc).removeprefix(f"{path}: ").splitlines()[0]
        raise ConfigError(f"{path}: not written, replay would refuse it: {problem}") from None
    write_atomically(path, text)
