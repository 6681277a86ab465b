"""The official NIST OSCAL assessment-results JSON schemas (vendored, unmodified) and validation."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from ..errors import ConfigError

OSCAL_VERSIONS = ("1.1.2", "1.1.3", "1.2.1")
DEFAULT_OSCAL_VERSION = "1.1.3"
_SCHEMA_FILE = "oscal_assessment-results_schema.json"


def validate(document: Mapping[str, Any], oscal_version: str = DEFAULT_OSCAL_VERSION) -> list[str]:
    """Errors of ``document`` against the vendored NIST schema of ``oscal_version``; empty when valid.

    Validation runs in jsonschema-rs: a fleet's document holds thousands of findings, which the
    pure-Python validator takes seconds per thousand to walk.
    """
    errors = sorted(
        ((_json_path(e.instance_path), e.message) for e in _validator(oscal_version).iter_errors(document)),
        key=lambda error: error[0],
    )
    return [
        f"{path}: {message if len(message) <= 300 else message[:297] + '...'}" for path, message in errors
    ]


def _json_path(parts: Sequence[str | int]) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f"[{part!r}]" for part in parts)


def check_version(oscal_version: str) -> None:
    if oscal_version not in OSCAL_VERSIONS:
        raise ConfigError(f"oscal version {oscal_version!r}: not one of {', '.join(OSCAL_VERSIONS)}")


@cache
def _validator(oscal_version: str) -> Any:
    check_version(oscal_version)
    import jsonschema_rs

    # The schemas' patterns use \p{L} and \p{N}, which jsonschema-rs's regular expressions support.
    source = files("chsm_checks.reports") / "oscal_schemas" / f"v{oscal_version}" / _SCHEMA_FILE
    return jsonschema_rs.Draft7Validator(json.loads(source.read_text(encoding="utf-8")))
