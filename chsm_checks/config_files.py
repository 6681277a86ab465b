"""The TOML files people give chsm-checks (targets, waivers, the catalogue): read and validated at load.

Every problem is one line naming the file and the field: ``targets/x.toml: source.cluster: ...``.
Entries of a list are counted from 1, as a reader counts ``[[waiver]]`` blocks.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """Frozen, unknown fields refused, whitespace stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def read_toml(source: Path | Traversable, what: str = "file") -> dict[str, Any]:
    """The parsed TOML of ``source``, or ``ConfigError`` with one line."""
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read {what}: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def validated(
    model: type[Model], source: Path | Traversable, context: dict[str, Any] | None = None, what: str = "file"
) -> Model:
    """Read ``source`` and validate it as ``model``, or raise ``ConfigError`` naming file and field."""
    data = read_toml(source, what)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_error(exc)}") from None


def quote_key(part: str) -> str:
    # Keys come from the user's file: quote any that could break the one-line message.
    return part if _PLAIN_KEY.fullmatch(part) else repr(part)


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part + 1}]"
        else:
            path += f".{quote_key(part)}" if path else quote_key(part)
    return path or "(top level)"


def first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, as ``field.path: problem`` on one line."""
    err = exc.errors()[0]
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "string_pattern_mismatch":
        msg = f"{err.get('input')!r} is not a valid value"
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    line = f"{field_path(tuple(err['loc']))}: {msg}{suffix}"
    return line.replace("\r", "\\r").replace("\n", "\\n")
