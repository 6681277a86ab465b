"""One scenario's HSM utility sessions in the run's mode: live, recorded into a transcript, or replayed.

The same session classes and the same pexpect code run in every mode; only what is spawned changes:
the utility itself (:class:`HsmRunner`, live; :class:`RecordingHsmRunner`, which also writes the
transcript) or the transcript replayer (:class:`ReplayedHsmRunner`). The run's mode picks the class
(:meth:`chsm_checks.modes.RunMode.hsm_runner`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from ..errors import ConfigError, ReplayMissError
from ..recording.cassettes import Provenance
from .errors import HsmSessionError
from .logins import RefusedLogins
from .redact import redact_text
from .replayer import HANG_SIGNAL, perform
from .sessions import KeyUtilSession, MgmtUtilSession, Timeouts, UtilityDriver
from .transcript import TRANSCRIPT_FORMAT, SessionRecord, SessionRecorder, Transcript, load_transcript

# Replay types this in place of a password: the replayer compares redacted lines, so no secret is needed.
REPLAY_PASSWORD = "replay-placeholder-password"


class HsmRunner:
    """Starts the utilities for one scenario's sessions, live, and keeps their transcript as evidence."""

    #: Whether the sessions touch the HSM client machine (its utilities, its configuration files).
    touches_client = True
    #: What a replayed session prints where its recording hung (live: nothing can say so).
    recorded_hang: str | None = None

    def __init__(
        self,
        *,
        mgmt_util: str,
        util: str,
        mgmt_config: str,
        transcript_path: Path,
        workdir: Path,
        timeouts: Timeouts,
        password: Callable[[], str],
        on_session_end: Callable[[SessionRecord], None] | None = None,
        refused_logins: RefusedLogins | None = None,
        locate: Callable[[str], str] = str,
    ) -> None:
        self.mgmt_util = mgmt_util
        self.util = util
        self.mgmt_config = mgmt_config
        self.transcript_path = transcript_path
        self.workdir = workdir
        self.timeouts = timeouts
        # The target's names for the client's files (``<sandbox>/...``), as files on this machine:
        # the sessions and files use what it gives, the transcript keeps the names.
        self._locate = locate
        self._password = password
        self._on_session_end = on_session_end
        # Shared by the run's scenarios (RunSecrets), so a refused login is not typed again by any.
        self.refused_logins = refused_logins if refused_logins is not None else RefusedLogins()
        self.secrets: list[str] = []
        self.transcript = self._transcript()
        self._started = 0

    def _transcript(self) -> Transcript:
        return Transcript()

    # -- secrets ------------------------------------------------------------------------------------

    def password(self) -> str:
        """The crypto user's password (a placeholder in replay), remembered for redaction."""
        value = self._password()
        self.keep_secret(value)
        return value

    def keep_secret(self, value: str) -> None:
        """Redact ``value`` wherever it would otherwise be recorded."""
        if value and value not in self.secrets:
            self.secrets.append(value)

    # -- sessions -----------------------------------------------------------------------------------

    def _spawn(self, utility: str, argv: list[str], index: int) -> tuple[list[str], SessionRecorder | None]:
        """What to start for the scenario's session number ``index``, and who records it."""
        argv = [self._locate(a) for a in argv]
        executable = Path(argv[0]).resolve()
        if not executable.is_file() or not os.access(executable, os.X_OK):
            raise HsmSessionError(utility, "(start)", "an executable utility", f"{argv[0]} is not one", "")
        # Live runs keep the transcript too, as evidence; only record mode writes it as a recording.
        record = SessionRecord(utility)
        self.transcript.sessions.append(record)
        # The session runs in its own working directory: paths from the target are the caller's.
        return [str(executable)] + [str(Path(a).resolve()) for a in argv[1:]], SessionRecorder(
            record, self.secrets
        )

    def _driver(self, utility: str, argv: list[str], prompt_class: type) -> UtilityDriver:
        index = self._started
        self._started += 1
        argv, recorder = self._spawn(utility, argv, index)
        return UtilityDriver(
            utility,
            argv,
            prompt_class.PROMPT,  # type: ignore[attr-defined]
            cwd=self.workdir,
            env=None,
            timeouts=self.timeouts,
            recorder=recorder,
            secrets=self.secrets,
            recorded_hang=self.recorded_hang,
            act=self._act(utility, index),
        )

    def _act(self, utility: str, index: int) -> Callable[[], int] | None:
        """What session ``index``'s process runs in place of executing its command: live, nothing."""
        return None

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
        SessionRecorder(self.transcript.sessions[-1], self.secrets).file_read(path.name, text)
        return text

    # -- files --------------------------------------------------------------------------------------

    def read_config(self, path: str) -> str:
        """A client configuration file, as the scenario observed it."""
        located = self._locate(path)
        try:
            return Path(located).read_text(encoding="utf-8")
        except OSError as exc:
            shown = path if located == path else f"{path} ({located})"
            raise ConfigError(f"{shown}: cannot read the HSM client configuration: {exc.strerror}") from None

    def write_config(self, path: str, text: str) -> None:
        """Rewrite a client configuration file."""
        target = Path(self._locate(path))
        tmp = target.with_name(f".{target.name}.chsm-checks.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)

    def save(self, provenance: Provenance) -> None:
        """Write the transcript as a recording: only a recording run does (:class:`RecordingHsmRunner`)."""


class RecordingHsmRunner(HsmRunner):
    """Live sessions whose transcript, configuration files included, is written as the scenario's
    recording."""

    def read_config(self, path: str) -> str:
        text = super().read_config(path)
        self.transcript.files[path] = redact_text(text, self.secrets)
        return text

    def save(self, provenance: Provenance) -> None:
        self.transcript.provenance = Provenance(**{**provenance.__dict__, "format": TRANSCRIPT_FORMAT})
        self.transcript.write(self.transcript_path)


class ReplayedHsmRunner(HsmRunner):
    """Sessions replayed from the scenario's transcript: the replayer is spawned in place of each
    utility, and nothing on the client machine is read or touched."""

    touches_client = False
    recorded_hang = HANG_SIGNAL

    def _transcript(self) -> Transcript:
        return load_transcript(self.transcript_path)

    def password(self) -> str:
        self.keep_secret(REPLAY_PASSWORD)
        return REPLAY_PASSWORD

    def _spawn(self, utility: str, argv: list[str], index: int) -> tuple[list[str], SessionRecorder | None]:
        if index >= len(self.transcript.sessions):
            raise ReplayMissError("spawn", utility, str(self.transcript_path))
        # What the forked session stands for: the replayer as a program would be started.
        replayer = [sys.executable, "-m", "chsm_checks.hsm.replayer", str(self.transcript_path.resolve())]
        return [*replayer, str(index), utility], None

    def _act(self, utility: str, index: int) -> Callable[[], int]:
        """The replayer, forked from the run on the session's pty: no interpreter start-up, and the
        transcript this runner already read."""
        return partial(perform, self.transcript.sessions, index, utility)

    def _read_output_file(self, path: Path) -> str:
        return path.read_text(encoding="utf-8", errors="replace")

    def read_config(self, path: str) -> str:
        if path not in self.transcript.files:
            raise ReplayMissError("read", path, str(self.transcript_path))
        return self.transcript.files[path]

    def write_config(self, path: str, text: str) -> None:
        """Nothing local is touched in replay."""
