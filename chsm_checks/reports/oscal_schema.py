"""The official NIST OSCAL assessment-results JSON schemas (vendored, unmodified) and validation."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

OSCAL_VERSIONS = ("1.1.2", "1.1.3", "1.2.1")
DEFAULT_OSCAL_VERSION = "1.1.3"
_SCHEMA_FILE = "oscal_assessment-results_schema.json"


def validate(document: Mapping[str, Any], oscal_version: str = DEFAULT_OSCAL_VERSION) -> list[str]:
    """Errors of ``document`` against the vendored NIST schema of ``oscal_version``; empty when valid."""
    from jsonschema.exceptions import best_match

    errors = sorted(_validator(oscal_version).iter_errors(document), key=lambda e: e.json_path)
    lines = []
    for error in errors:
        best = best_match([error])
        message = best.message if len(best.message) <= 300 else best.message[:297] + "..."
        lines.append(f"{best.json_path}: {message}")
    return lines


def check_version(oscal_version: str) -> None:
    if oscal_version not in OSCAL_VERSIONS:
        raise ConfigError(f"oscal version {oscal_version!r}: not one of {', '.join(OSCAL_VERSIONS)}")


@cache
def _validator(oscal_version: str) -> Validator:
    check_version(oscal_version)
    import regex
    from jsonschema import Draft7Validator, ValidationError, validators

    def pattern(validator: Validator, expected: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
        # The schemas' patterns use \p{L} and \p{N}, which ``re`` rejects and ``regex`` supports.
        if validator.is_type(instance, "string") and not regex.search(expected, instance):
            yield ValidationError(f"{instance!r} does not match {expected!r}")

    source = files("chsm_checks.reports") / "oscal_schemas" / f"v{oscal_version}" / _SCHEMA_FILE
    schema = json.loads(source.read_text(encoding="utf-8"))
    extended = validators.extend(Draft7Validator, {"pattern": pattern})  # type: ignore[no-untyped-call]
    return cast("type[Validator]", extended)(schema)
