"""How a run meets Azure: it replays recordings, records while it runs live, or runs live alone.

One object per mode knows what differs between them: the ARM transport and clock, the HSM runner,
which recordings a scenario needs, and where its observations come from. Code asks the run's mode
(:func:`mode_named`), and never compares its name.

This module stays light (the CLI imports it for ``--help``): what a mode builds is imported when built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

from .errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from .arm.clock import Clock
    from .hsm.runner import HsmRunner
    from .recording import Provenance, Scrubber

ModeName = Literal["replay", "record", "live"]
MODE_NAMES: Final[tuple[ModeName, ...]] = ("replay", "record", "live")
DEFAULT_MODE: Final[ModeName] = "replay"
EvidenceKind = Literal["REPLAY", "LIVE"]


class RunMode:
    """What a run does in one mode. The subclasses are the modes; each has one instance."""

    name: ClassVar[ModeName]
    #: How reports label the observations: ``REPLAY`` (from recordings) or ``LIVE``.
    evidence: ClassVar[EvidenceKind] = "LIVE"
    #: Whether the run reaches ARM and the HSM client machine (and so needs a credential, may be
    #: refused mutations, may inject faults into a sandbox).
    reaches_azure: ClassVar[bool] = True
    #: Whether a fleet can be audited in this mode (read-only, live).
    audits_fleets: ClassVar[bool] = False
    #: Whether the run writes recordings (and so dates them: ``SOURCE_DATE_EPOCH`` must be readable).
    writes_recordings: ClassVar[bool] = False

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"RunMode({self.name})"

    def allows_mutations(self, asked: bool) -> bool:
        """Whether backup and restore requests may be made: only if the person ``asked``."""
        return asked

    def clock(self) -> Clock:
        from .arm.clock import RealClock

        return RealClock()

    def as_of(self, cassette: Path, run_as_of: datetime) -> datetime:
        """A scenario's "now" for judgements of age: the run's, unless its observations are replayed."""
        return run_as_of

    def required_recordings(self, cassette: Path, transcript: Path | None) -> list[Path]:
        """The recordings a scenario cannot run without (``transcript``: an ``@hsm`` scenario's)."""
        return []

    @contextmanager
    def arm_transport(
        self,
        cassette: Path,
        scrubber: Scrubber,
        provenance: Callable[[], Provenance],
        keep: Callable[[], bool],
    ) -> Iterator[httpx.BaseTransport | None]:
        """The transport a scenario's ARM client sends through (``None``: the network itself)."""
        yield None

    def hsm_runner(self, **settings: Any) -> HsmRunner:
        """The scenario's HSM utility sessions (see :mod:`chsm_checks.hsm.runner`)."""
        from .hsm.runner import HsmRunner

        return HsmRunner(**settings)

    def scenario_provenance(
        self, cassette: Path, transcript: Path | None, live: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Where a scenario's observations come from; ``live()`` names the endpoint and identity."""
        return {"kind": "LIVE", "mode": self.name, **live()}


class Replay(RunMode):
    """Recordings stand in for ARM and the utilities: nothing is sent anywhere."""

    name = "replay"
    evidence = "REPLAY"
    reaches_azure = False

    def allows_mutations(self, asked: bool) -> bool:
        return True  # nothing is sent: a replay replays whatever the recording did

    def clock(self) -> Clock:
        from .arm.clock import VirtualClock

        return VirtualClock()

    def required_recordings(self, cassette: Path, transcript: Path | None) -> list[Path]:
        return [cassette] + ([transcript] if transcript is not None else [])

    def as_of(self, cassette: Path, run_as_of: datetime) -> datetime:
        """The recording's date: a replay judges age as of when the recording saw the world."""
        from .recording.cassettes import read_provenance

        try:
            provenance = read_provenance(cassette) if cassette.is_file() else None
        except ConfigError:
            provenance = None  # the replay itself refuses a damaged recording, naming it
        if provenance is None:
            return run_as_of
        try:
            return datetime.fromisoformat(provenance.recorded_at)
        except ValueError:
            raise ConfigError(
                f"{cassette}: recorded_at: {provenance.recorded_at!r} is not a date; "
                "a replay cannot tell when the recording saw the world"
            ) from None

    @contextmanager
    def arm_transport(
        self,
        cassette: Path,
        scrubber: Scrubber,
        provenance: Callable[[], Provenance],
        keep: Callable[[], bool],
    ) -> Iterator[httpx.BaseTransport | None]:
        from .recording import replaying

        with replaying(cassette, scrubber) as transport:
            yield transport

    def hsm_runner(self, **settings: Any) -> HsmRunner:
        from .hsm.runner import ReplayedHsmRunner

        return ReplayedHsmRunner(**settings)

    def scenario_provenance(
        self, cassette: Path, transcript: Path | None, live: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """A replay is never labelled LIVE: it names its recordings, their hashes and origin."""
        from .recording.provenance import replay_provenance

        recorded = {"kind": "REPLAY", **replay_provenance(cassette)}
        if transcript is not None and transcript.is_file():
            recorded["transcript"] = replay_provenance(transcript)
        return recorded


class Record(RunMode):
    """Live, and each scenario that ends with a judgement is written as its recording."""

    name = "record"
    writes_recordings = True

    @contextmanager
    def arm_transport(
        self,
        cassette: Path,
        scrubber: Scrubber,
        provenance: Callable[[], Provenance],
        keep: Callable[[], bool],
    ) -> Iterator[httpx.BaseTransport | None]:
        from .recording import recording, write_cassette

        with recording(scrubber) as recorded:
            yield None
        if keep():
            write_cassette(cassette, recorded, provenance(), scrubber)

    def hsm_runner(self, **settings: Any) -> HsmRunner:
        from .hsm.runner import RecordingHsmRunner

        return RecordingHsmRunner(**settings)


class Live(RunMode):
    """Live, and nothing is recorded."""

    name = "live"
    audits_fleets = True


_MODES: Final[dict[str, RunMode]] = {mode.name: mode for mode in (Replay(), Record(), Live())}


def mode_named(name: str) -> RunMode:
    """The mode called ``name`` (one of :data:`MODE_NAMES`)."""
    try:
        return _MODES[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a mode: {', '.join(MODE_NAMES)}") from None
