"""The TOML files people give chsm-checks (targets, waivers, the catalogue): read and validated at load.

Every problem is one line naming the file and the field: ``targets/x.toml: source.cluster: ...``.
Entries of a list are counted from 1, as a reader counts ``[[waiver]]`` blocks.
"""

from __future__ import annotations

import re
import tomllib
from difflib import get_close_matches
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar, get_args

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
    return validated_data(model, source, read_toml(source, what), context)


def validated_data(
    model: type[Model],
    source: Path | Traversable,
    data: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> Model:
    """``data``, read from ``source``, validated as ``model``, or ``ConfigError`` naming file and field."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_error(exc, model)}") from None


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


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The field names the model declares at ``loc`` (a table of the file), as far as the model says."""
    for part in loc:
        if model is None or isinstance(part, int):
            return []
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        candidates = [annotation, *get_args(annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def first_error(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """The first problem pydantic found, as ``field.path: problem`` on one line. An unknown field
    comes first, with the field it most likely misspells (``subscripton_id: unknown field; did you mean
    subscription_id?``): a typo also makes the field it meant missing, and the typo is the news."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    counted = len(errors) - 1
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
        loc = tuple(err["loc"])
        # The fields missing beside it are the likeliest meaning; then any the table declares.
        missing = [
            str(e["loc"][-1]) for e in errors if e["type"] == "missing" and tuple(e["loc"][:-1]) == loc[:-1]
        ]
        declared = _fields_at(model, loc[:-1])
        for names in (missing, declared):
            if close := get_close_matches(str(loc[-1]), names, n=1, cutoff=0.75):
                msg += f"; did you mean {close[0]}?"
                # The field it meant, missing for the typo, is the same problem: not counted again.
                counted -= close[0] in missing
                break
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "string_pattern_mismatch":
        msg = f"{err.get('input')!r} is not a valid value"
    more = counted
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    line = f"{field_path(tuple(err['loc']))}: {msg}{suffix}"
    return line.replace("\r", "\\r").replace("\n", "\\n")
