"""Writing files so that a reader never sees half of one, and nothing already written is lost."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

# libyaml's safe loader when it is there (ten times faster), the pure-Python one otherwise.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_recording(path: Path, what: str) -> Any:
    """A recording (cassette or transcript) parsed as safe YAML: no tags that construct objects.

    ``ConfigError`` with one line naming the file when it is missing or unreadable.
    """
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found (record it with --mode record)") from None
    except yaml.MarkedYAMLError as exc:
        # "expected ..., but found '<stream end>'" says more than the context PyYAML puts first.
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark is not None else ""
        raise ConfigError(f"{path}: not a readable {what}: {exc.problem or exc.context}{where}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not a readable {what}: {first}") from None
