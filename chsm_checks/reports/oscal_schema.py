"""The official NIST OSCAL assessment-results JSON schemas (vendored, unmodified) and validation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import ConfigError

OSCAL_VERSIONS = ("1.1.2", "1.1.3", "1.2.1")
DEFAULT_OSCAL_VERSION = "1.1.3"
_SCHEMA_FILE = "oscal_assessment-results_schema.json"


# How a fleet's document has its result's observations and findings, an item a line: the list's
# name, its opening at the end of the line before its items, and where in the document it is.
_RESULT_AT: tuple[str | int, ...] = ("assessment-results", "results", 0)
_LISTS = {name: f'"{name}": [\n'.encode() for name in ("observations", "findings")}
OBSERVATIONS_OPEN = _LISTS["observations"]


def validate(document: Mapping[str, Any], oscal_version: str = DEFAULT_OSCAL_VERSION) -> list[str]:
    """Errors of ``document`` against the vendored NIST schema of ``oscal_version``; empty when valid.

    Validation runs in jsonschema-rs: a fleet's document holds thousands of findings, which the
    pure-Python validator takes seconds per thousand to walk.
    """
    return _problems((e.instance_path, e.message) for e in _validator(oscal_version).iter_errors(document))


def validate_file(path: Path, oscal_version: str = DEFAULT_OSCAL_VERSION) -> list[str]:
    """Errors of the document written at ``path``, as :func:`validate` gives them, read from disk.

    A fleet's document is written with its one result's observations a line each, and its findings
    a line each after them, the rest on the lines before, between and after them: the rest is
    validated as a document holding the first of each, and every other observation and finding on
    its own against the schema's, so the document is never whole in memory. A document written
    otherwise is read and validated whole.
    """
    errors: list[tuple[Sequence[str | int], str]] = []
    try:
        with path.open("rb") as text:
            line = text.readline()
            if not line.endswith(OBSERVATIONS_OPEN):
                return validate(json.loads(line + text.read()), oscal_version)
            skeleton = [line]  # the document with the first item of each list
            while (name := _list_opened_by(line)) is not None:
                items = _item_validator(oscal_version, name)
                line = b""
                for number, line in enumerate(text):
                    if line.startswith(b"]"):
                        break
                    item = line.rstrip().removesuffix(b",")
                    if number == 0:
                        skeleton.append(item)
                        continue
                    where = (*_RESULT_AT, name, number)
                    errors.extend(
                        ((*where, *e.instance_path), e.message) for e in items.iter_errors(json.loads(item))
                    )
                skeleton.append(line)
            skeleton.append(text.read())
            document = json.loads(b"".join(skeleton))
    except ValueError as exc:
        return [f"$: not JSON ({exc})"]
    except OSError as exc:
        return [f"$: cannot be read ({exc})"]
    errors.extend((e.instance_path, e.message) for e in _validator(oscal_version).iter_errors(document))
    return _problems(errors)


def _list_opened_by(line: bytes) -> str | None:
    """The list (``observations``, ``findings``) whose items follow ``line`` a line each, if any."""
    return next((name for name, opening in _LISTS.items() if line.endswith(opening)), None)


def _problems(errors: Iterable[tuple[Sequence[str | int], str]]) -> list[str]:
    found = sorted(((_json_path(where), message) for where, message in errors), key=lambda error: error[0])
    return [f"{path}: {message if len(message) <= 300 else message[:297] + '...'}" for path, message in found]


def _json_path(parts: Sequence[str | int]) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f"[{part!r}]" for part in parts)


def check_version(oscal_version: str) -> None:
    if oscal_version not in OSCAL_VERSIONS:
        raise ConfigError(f"oscal version {oscal_version!r}: not one of {', '.join(OSCAL_VERSIONS)}")


@cache
def _schema(oscal_version: str) -> dict[str, Any]:
    check_version(oscal_version)
    source = files("chsm_checks.reports") / "oscal_schemas" / f"v{oscal_version}" / _SCHEMA_FILE
    schema: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return schema


@cache
def _validator(oscal_version: str) -> Any:
    import jsonschema_rs

    # The schemas' patterns use \p{L} and \p{N}, which jsonschema-rs's regular expressions support.
    return jsonschema_rs.Draft7Validator(_schema(oscal_version))


@cache
def _item_validator(oscal_version: str, name: str) -> Any:
    """A validator of one item of a result's ``name`` list (``observations``, ``findings``) as the
    schema checks each, with the schema's own identity and definitions to resolve it in."""
    import jsonschema_rs

    schema = _schema(oscal_version)
    result = next(d for key, d in schema["definitions"].items() if key.endswith("-ar:result"))
    items = result["properties"][name]["items"]
    return jsonschema_rs.Draft7Validator(
        {key: schema[key] for key in ("$schema", "$id", "definitions")} | {"allOf": [items]}
    )
