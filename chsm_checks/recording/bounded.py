"""Reading a recording within bounds: the one reader that replay and ``cassettes check`` share.

A recording is data committed to the tree, so whatever it holds it is read from the tree only, in
bounded time and memory, or refused with one line naming the file:

- every entry under the recordings' directory is a directory or a regular file: a symbolic link
  (to a file or a directory, dangling or not), a FIFO or a device is refused, never followed or
  opened; so is a recordings' directory named on the command line that is itself a link (name the
  directory it points to: what is checked is then what is replayed). Where that directory sits is
  the user's business: its parents are not looked at;
- a recording holds at most ``MAX_RECORDING_BYTES``;
- its YAML nests at most ``MAX_NESTING`` levels and holds no alias: no shipped recording uses
  anchors, and a chain of aliases expands exponentially in whatever walks it ("billion laughs");
- JSON carried in a recording (request and response bodies, configuration files) nests at most
  ``MAX_NESTING`` levels, measured before anything parses it.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..errors import ConfigError

# libyaml's safe loader when it is there (ten times faster), the pure-Python one otherwise.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The largest shipped recording is 12 KiB and the deepest nests 6 levels (YAML and JSON alike).
MAX_RECORDING_BYTES = 4 * 1024 * 1024
MAX_NESTING = 64
RECORDING_SUFFIX = ".yaml"
IN_THE_TREE = "recordings must be regular files in the tree"

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
# A JSON string, closed or cut short (so an unclosed one costs one pass, not one per quote).
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def recording_files(root: Path) -> tuple[list[Path], list[str]]:
    """The recordings (``*.yaml``) under ``root``, or ``root`` itself when it is one file; and one
    problem line for each entry that is not a directory or a regular file, none of them followed.
    A ``root`` that does not exist is a problem line too."""
    try:
        mode = os.lstat(root).st_mode
    except FileNotFoundError:
        return [], [f"{root}: no such file or directory"]
    except OSError as exc:
        return [], [f"{root}: cannot read: {exc.strerror}"]
    if stat.S_ISLNK(mode):
        what = "directory" if root.is_dir() else "file"
        return [], [f"{root}: a symbolic link; name the {what} it points to"]
    if stat.S_ISREG(mode):
        return [root], []
    if not stat.S_ISDIR(mode):
        return [], [f"{root}: not a regular file or directory; {IN_THE_TREE}"]
    files: list[Path] = []
    problems: list[str] = []
    for entry, problem in _walk(root):
        if problem:
            problems.append(f"{entry}: {problem}")
        elif entry.name.endswith(RECORDING_SUFFIX):
            files.append(entry)
    return sorted(files), sorted(problems)


def _walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every regular file under ``root`` with ``None``, and every other entry with its problem;
    directories are entered only when they are real directories (never through a link)."""
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError as exc:
            yield directory, f"cannot list the directory: {exc.strerror}"
            continue
        for entry in listed:
            path = Path(entry.path)
            if entry.is_symlink():
                yield path, f"a symbolic link; {IN_THE_TREE}"
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                yield path, None
            else:
                yield path, f"not a regular file or directory; {IN_THE_TREE}"


def check_tree(root: Path) -> None:
    """``ConfigError`` for the first entry under ``root`` that is not a directory or a regular file
    (or for ``root`` itself when it is a link): replay reads nothing from a tree that holds one."""
    _, problems = recording_files(root)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)


def read_recording(path: Path, what: str) -> Any:
    """A recording (cassette or transcript) read within the bounds and parsed as safe YAML.

    ``ConfigError`` with one line naming the file for anything that stops it being read: missing,
    a link or no regular file, too big, not UTF-8, not YAML, an alias, nesting past the bound, a
    value that cannot be constructed, a tag that would construct an object.
    """
    return parse_recording_bytes(path, read_recording_bytes(path, what), what)


T = TypeVar("T")
_READ: dict[tuple[object, ...], Any] = {}  # read_validated's results, by the file's identity
_READ_KEPT = 1024


def read_validated(path: Path, what: str, validate: Callable[[Path, Any], T]) -> T:
    """``validate(path, read_recording(path, what))``, worked out once per version of the file in
    this process: a replay reads each recording where it checks it, dates it, replays it and
    names it in the evidence, and the file is the same each time. A version is the file's device,
    inode, size and modification time, so a file written or replaced since is read again; what
    raises is never kept, so a bad file is refused each time it is read. ``validate`` must return
    a value no caller changes.
    """
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):  # read_recording says what is wrong
        return validate(path, read_recording(path, what))
    key = (os.path.abspath(path), what, validate, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    if key not in _READ:
        if len(_READ) >= _READ_KEPT:
            _READ.clear()
        _READ[key] = validate(path, read_recording(path, what))
    result: T = _READ[key]
    return result


def read_recording_bytes(path: Path, what: str) -> bytes:
    """The bytes of a recording, read within the bounds (no link, a regular file, not too big);
    ``ConfigError`` with one line naming the file otherwise."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found (record it with --mode record)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW: the last part of the path is a link
            raise ConfigError(f"{path}: a symbolic link; {IN_THE_TREE}") from None
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file; {IN_THE_TREE}")
        raw = handle.read(MAX_RECORDING_BYTES + 1) if info.st_size <= MAX_RECORDING_BYTES else b""
    if problem := size_problem(max(info.st_size, len(raw))):
        raise ConfigError(f"{path}: {problem}")
    return raw


def parse_recording_bytes(path: Path, raw: bytes, what: str) -> Any:
    """``raw`` (read from ``path``) as a recording: :func:`parse_recording` of its UTF-8 text;
    ``ConfigError`` with one line naming the file otherwise."""
    try:
        return parse_recording(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a readable {what}: not UTF-8 (byte {exc.start + 1})") from None
    except yaml.MarkedYAMLError as exc:
        # "expected ..., but found '<stream end>'" says more than the context PyYAML puts first.
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark is not None else ""
        raise ConfigError(f"{path}: not a readable {what}: {exc.problem or exc.context}{where}") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a number or date past what Python reads
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not a readable {what}: {first}") from None


def size_problem(size: int) -> str | None:
    """The problem of a recording of ``size`` bytes, or ``None``."""
    if size > MAX_RECORDING_BYTES:
        return f"{size:,} bytes, more than a recording may hold ({MAX_RECORDING_BYTES:,} bytes)"
    return None


_PARSED: dict[str, Any] = {}  # parse_recording's results, by the text parsed
_PARSED_KEPT = 1024


def parse_recording(text: str) -> Any:
    """``text`` as safe YAML, once its events show no alias and no nesting past ``MAX_NESTING``.

    The events are read first, by the same parser, so that neither bound is ever exceeded in
    memory: the first alias or the first level too deep stops it. ``yaml.YAMLError`` otherwise.

    A text is parsed once in a process and each caller gets a copy of its own (vcrpy changes what it
    is given): a replay reads each cassette where it checks it and again where vcrpy loads it, and
    copying is a fraction of what PyYAML's constructor costs. What raises is never kept.
    """
    if (kept := _PARSED.get(text)) is None:
        kept = _parse_bounded(text)
        if len(_PARSED) >= _PARSED_KEPT:
            _PARSED.clear()
        _PARSED[text] = kept
    return copy.deepcopy(kept)


def _parse_bounded(text: str) -> Any:
    depth = 0
    for event in yaml.parse(text, Loader=SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise _Refused("a YAML alias; recordings hold no anchors or aliases", event)
        if isinstance(event, _OPENS):
            depth += 1
            if depth > MAX_NESTING:
                raise _Refused(f"nested deeper than {MAX_NESTING} levels", event)
        elif isinstance(event, _CLOSES):
            depth -= 1
    return yaml.load(text, Loader=SAFE_LOADER)


class _Refused(yaml.YAMLError):
    """YAML that parses, but that a recording may not hold."""

    def __init__(self, problem: str, event: yaml.Event) -> None:
        mark = event.start_mark
        super().__init__(f"{problem} (line {mark.line + 1})" if mark is not None else problem)


def json_nesting(raw: str | bytes) -> int:
    """How deep ``json.loads(raw)`` would nest, measured without parsing (and without recursion):
    the deepest bracket outside strings, for text that opens with a bracket; 0 for anything else,
    which JSON reads without nesting or refuses at once."""
    text = raw.decode(json.detect_encoding(raw), "replace") if isinstance(raw, bytes) else raw
    if not text.lstrip(" \t\n\r").startswith(("[", "{")):
        return 0
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def json_problem(raw: object) -> str | None:
    """The problem of a text that something will read as JSON, or ``None``."""
    if isinstance(raw, str | bytes) and json_nesting(raw) > MAX_NESTING:
        return f"JSON nested deeper than {MAX_NESTING} levels"
    return None
