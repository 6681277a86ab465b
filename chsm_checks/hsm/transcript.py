"""Transcripts: recordings of HSM utility sessions, like cassettes for HTTP.

A transcript holds, per session in order, what the harness typed (redacted), what the utility
printed (redacted), the files the harness read afterwards (``getAttribute -out``), a hang, and how
the session ended; plus the configuration files a scenario read. Secrets are redacted before
anything enters a ``Transcript``: the raw text exists only in the recorder's pending buffer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..files import write_atomically
from ..recording.bounded import json_problem, read_validated
from ..recording.cassettes import Provenance
from .redact import redact_line, redact_text

TRANSCRIPT_FORMAT = "chsm-checks/transcript/1"
EVENT_KINDS = ("out", "in", "file", "hang", "exit")


@dataclass
class SessionRecord:
    """One utility session: which utility, then its events in order."""

    utility: str
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Transcript:
    """Every HSM session and configuration read of one scenario."""

    sessions: list[SessionRecord] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    provenance: Provenance | None = None

    def to_yaml(self) -> str:
        data: dict[str, Any] = {
            "format": TRANSCRIPT_FORMAT,
            "provenance": self.provenance.as_metadata() if self.provenance else None,
            "files": dict(sorted(self.files.items())),
            "sessions": [{"utility": s.utility, "events": s.events} for s in self.sessions],
        }
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)

    def write(self, path: Path) -> None:
        """Write atomically."""
        write_atomically(path, self.to_yaml())


def load_transcript(path: Path) -> Transcript:
    """Load and validate a transcript, read within the bounds of :mod:`chsm_checks.recording.bounded`
    (safe YAML only); ``ConfigError`` names the file and field. Read once per version of the file
    (:func:`~chsm_checks.recording.bounded.read_validated`); each caller gets lists of its own."""
    kept = read_validated(path, "transcript", _validated_transcript)
    sessions = [SessionRecord(s.utility, list(s.events)) for s in kept.sessions]
    return Transcript(sessions, dict(kept.files), kept.provenance)


def _validated_transcript(path: Path, data: Any) -> Transcript:
    if not isinstance(data, dict) or data.get("format") != TRANSCRIPT_FORMAT:
        raise ConfigError(f"{path}: format: not {TRANSCRIPT_FORMAT}")
    provenance = Provenance.from_metadata(
        path, data.get("provenance"), expected_format=TRANSCRIPT_FORMAT, field="provenance"
    )
    files = data.get("files") or {}
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ConfigError(f"{path}: files: must map paths to text")
    for name, content in files.items():  # the harness reads configuration files as JSON
        if problem := json_problem(content):
            raise ConfigError(f"{path}: files[{json.dumps(str(name))}]: {problem}")
    sessions: list[SessionRecord] = []
    for n, raw in enumerate(data.get("sessions") or []):
        where = f"{path}: sessions[{n}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("utility"), str):
            raise ConfigError(f"{where}.utility: missing")
        events = raw.get("events")
        if not isinstance(events, list):
            raise ConfigError(f"{where}.events: missing")
        _check_events(where, events)
        sessions.append(SessionRecord(raw["utility"], events))
    return Transcript(sessions, {str(k): v for k, v in files.items()}, provenance)


def _check_events(where: str, events: list[Any]) -> None:
    """Each event well formed, and in the order a ``SessionRecorder`` writes them.

    The recorder keeps output until the next event, so two outputs never follow each other; the
    utility speaks before anything is typed at it; a file read follows the command that wrote it; a
    session ends (exit or hang) once, last. A transcript edited against that order cannot replay.
    """
    previous: str | None = None
    for m, event in enumerate(events):
        if not isinstance(event, dict) or len(event) != 1 or next(iter(event)) not in EVENT_KINDS:
            raise ConfigError(f"{where}.events[{m}]: not one of {', '.join(EVENT_KINDS)}")
        kind, value = next(iter(event.items()))
        if problem := _event_problem(kind, value):
            raise ConfigError(f"{where}.events[{m}].{kind}: {problem}")
        if out_of_order := _order_problem(previous, kind):
            raise ConfigError(f"{where}.events[{m}]: {kind} {out_of_order}; the events are out of order")
        previous = kind


def _order_problem(previous: str | None, kind: str) -> str | None:
    if previous in ("exit", "hang"):
        return f"follows the session's end ({previous})"
    if kind == previous == "out":
        return "follows another output"
    if previous is None and kind in ("in", "file"):
        return "comes before the utility printed anything"
    if kind == "file" and previous not in ("in", "file"):
        return "does not follow the command that wrote it"
    return None


def _event_problem(kind: str, value: Any) -> str | None:
    if kind in ("out", "in") and not isinstance(value, str):
        return "not text"
    if kind == "file" and not (
        isinstance(value, dict) and isinstance(value.get("content"), str) and _plain_name(value.get("name"))
    ):
        return "needs a plain file name and text content"
    if kind == "file":
        return json_problem(value["content"])
    if kind == "hang" and value is not True:
        return "must be true"
    if kind == "exit" and not (value is None or (isinstance(value, int) and not isinstance(value, bool))):
        return "not an exit status"
    return None


def _plain_name(name: Any) -> bool:
    # The replayer writes the file in its working directory: a path could write anywhere.
    return isinstance(name, str) and bool(name) and not name.startswith(".") and not {"/", "\\"} & set(name)


class SessionRecorder:
    """Collects one live session's events, redacting each piece before keeping it.

    pexpect calls ``write`` with everything read from the utility (``logfile_read``); output is held
    until the next command is typed, so a secret split across two reads is still caught whole.
    """

    def __init__(self, record: SessionRecord, secrets: list[str]) -> None:
        self._record = record
        self._secrets = secrets
        self._pending: list[str] = []

    # pexpect's logfile interface
    def write(self, text: str) -> None:
        self._pending.append(text)

    def flush(self) -> None:
        """pexpect flushes its logfile after each read; output is kept until the next event."""

    def _flush_output(self) -> None:
        if self._pending:
            self._record.events.append({"out": redact_text("".join(self._pending), self._secrets)})
            self._pending.clear()

    def typed(self, line: str) -> None:
        self._flush_output()
        self._record.events.append({"in": redact_text(redact_line(line), self._secrets)})

    def file_read(self, name: str, content: str) -> None:
        # Before the command's output: in replay the file must exist once the prompt is back.
        self._record.events.append({"file": {"name": name, "content": redact_text(content, self._secrets)}})

    def killed(self) -> None:
        """The harness ended the session (after an error): keep what the utility printed last."""
        self._flush_output()

    def hung(self) -> None:
        self._flush_output()
        self._record.events.append({"hang": True})

    def ended(self, status: int | None) -> None:
        self._flush_output()
        self._record.events.append({"exit": status})
