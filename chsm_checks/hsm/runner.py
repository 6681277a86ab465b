"""One scenario's HSM utility sessions in the run's mode: live, recorded into a transcript, or replayed.

The same session classes and the same pexpect code run in every mode; only what is spawned changes:
the utility itself (live, record) or the transcript replayer (replay).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError, ReplayMissError
from ..modes import Mode
from ..recording.cassettes import Provenance
from .errors import HsmSessionError
from .logins import RefusedLogins
from .redact import redact_text
from .sessions import KeyUtilSession, MgmtUtilSession, Timeouts, UtilityDriver
from .transcript import TRANSCRIPT_FORMAT, SessionRecord, SessionRecorder, Transcript, load_transcript

# Replay types this in place of a password: the replayer compares redacted lines, so no secret is needed.
REPLAY_PASSWORD = "replay-placeholder-password"


class HsmRunner:
    """Starts utility sessions for one scenario and keeps (or replays) their transcript."""

    def __init__(
        self,
        *,
        mode: Mode,
        mgmt_util: str,
        util: str,
        mgmt_config: str,
        transcript_path: Path,
        workdir: Path,
        timeouts: Timeouts,
        password: Callable[[], str],
        on_session_end: Callable[[SessionRecord], None] | None = None,
        refused_logins: RefusedLogins | None = None,
    ) -> None:
        self.mode = mode
        self.mgmt_util = mgmt_util
        self.util = util
        self.mgmt_config = mgmt_config
        self.transcript_path = transcript_path
        self.workdir = workdir
        self.timeouts = timeouts
        self._password = password
        self._on_session_end = on_session_end
        # Shared by the run's scenarios (RunContext), so a refused login is not typed again by any.
        self.refused_logins = refused_logins if refused_logins is not None else RefusedLogins()
        self.secrets: list[str] = []
        self.transcript = load_transcript(transcript_path) if mode == "replay" else Transcript()
        self._started = 0

    # -- secrets ------------------------------------------------------------------------------------

    def password(self) -> str:
        """The crypto user's password (a placeholder in replay), remembered for redaction."""
        value = REPLAY_PASSWORD if self.mode == "replay" else self._password()
        self.keep_secret(value)
        return value

    def keep_secret(self, value: str) -> None:
        """Redact ``value`` wherever it would otherwise be recorded."""
        if value and value not in self.secrets:
            self.secrets.append(value)

    # -- sessions -----------------------------------------------------------------------------------

    def _driver(self, utility: str, argv: list[str], prompt_class: type) -> UtilityDriver:
        index = self._started
        self._started += 1
        recorder = None
        if self.mode == "replay":
            argv = [
                sys.executable,
                "-m",
                "chsm_checks.hsm.replayer",
                str(self.transcript_path.resolve()),  # the session runs in its own directory
                str(index),
                utility,
            ]
            if index >= len(self.transcript.sessions):
                raise ReplayMissError("spawn", utility, str(self.transcript_path))
        else:
            executable = Path(argv[0]).resolve()
            if not executable.is_file() or not os.access(executable, os.X_OK):
                raise HsmSessionError(
                    utility, "(start)", "an executable utility", f"{argv[0]} is not one", ""
                )
            # The session runs in its own working directory: paths from the target are the caller's.
            argv = [str(executable)] + [str(Path(a).resolve()) for a in argv[1:]]
            # Live runs keep the transcript too, as evidence; only record mode writes it as a cassette.
            record = SessionRecord(utility)
            self.transcript.sessions.append(record)
            recorder = SessionRecorder(record, self.secrets)
        return UtilityDriver(
            utility,
            argv,
            prompt_class.PROMPT,  # type: ignore[attr-defined]
            cwd=self.workdir,
            env=None,
            timeouts=self.timeouts,
            recorder=recorder,
            secrets=self.secrets,
        )

    @contextmanager
    def _running(self, session: MgmtUtilSession | KeyUtilSession) -> Iterator[None]:
        """Start a session, leave the utility properly afterwards, kill it whatever happened."""
        try:
            session.start()
            yield
            session.close()
        finally:
            session.driver.kill()
            self._session_ended()

    @contextmanager
    def mgmt_session(self) -> Iterator[MgmtUtilSession]:
        """``azcloudhsm_mgmt_util <resource cfg>``, started; quit afterwards (killed on error)."""
        driver = self._driver(MgmtUtilSession.UTILITY, [self.mgmt_util, self.mgmt_config], MgmtUtilSession)
        session = MgmtUtilSession(driver)
        with self._running(session):
            yield session

    @contextmanager
    def key_session(self) -> Iterator[KeyUtilSession]:
        """``azcloudhsm_util``, started; exited afterwards (killed on error)."""
        driver = self._driver(KeyUtilSession.UTILITY, [self.util], KeyUtilSession)
        session = KeyUtilSession(driver, self._read_output_file, self.refused_logins)
        with self._running(session):
            yield session

    def _session_ended(self) -> None:
        """Hand the session just ended (as recorded, or as replayed) to whoever keeps evidence."""
        if self._on_session_end is not None and self._started <= len(self.transcript.sessions):
            self._on_session_end(self.transcript.sessions[self._started - 1])

    def _read_output_file(self, path: Path) -> str:
        text = path.read_text(encoding="utf-8", errors="replace")
        if self.mode != "replay":
            SessionRecorder(self.transcript.sessions[-1], self.secrets).file_read(path.name, text)
        return text

    # -- files --------------------------------------------------------------------------------------

    def read_config(self, path: str) -> str:
        """A client configuration file, as the scenario observed it (from the transcript in replay)."""
        if self.mode == "replay":
            if path not in self.transcript.files:
                raise ReplayMissError("read", path, str(self.transcript_path))
            return self.transcript.files[path]
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the HSM client configuration: {exc.strerror}") from None
        if self.mode == "record":
            self.transcript.files[path] = redact_text(text, self.secrets)
        return text

    def write_config(self, path: str, text: str) -> None:
        """Rewrite a client configuration file (never in replay, where nothing local is touched)."""
        if self.mode == "replay":
            return
        target = Path(path)
        tmp = target.with_name(f".{target.name}.chsm-checks.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)

    def save(self, provenance: Provenance) -> None:
        """Write the recorded transcript (record mode only)."""
        if self.mode != "record":
            return
        self.transcript.provenance = Provenance(**{**provenance.__dict__, "format": TRANSCRIPT_FORMAT})
        self.transcript.write(self.transcript_path)
