"""The sandbox's state on disk: ``<state_dir>/state.json``, written atomically under one lock.

It is written when the state changes, and only then: a read costs no write, and a change is on disk
before the answer that reports it, for the tests and HSM simulators that read the file next.
The request log and its count live only in memory: they are for the tests of one run, not the world.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chsm_checks.sandbox.clock import WALL_CLOCK, SandboxClock
from chsm_checks.sandbox.jobs import complete_due_jobs
from chsm_checks.sandbox.profiles import seed_state
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.times import unix_us
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import STATE_FORMAT, changed, changing

STATE_FILE = "state.json"

__all__ = ["SandboxStore", "seed_state"]


class SandboxStore:
    """Owns the state of one sandbox: load or seed, read it in :meth:`reading`, change and persist it in
    :meth:`transaction`, at the time ``clock`` tells (:meth:`now`)."""

    def __init__(
        self,
        state_dir: Path,
        settings: SandboxSettings | None = None,
        *,
        reset: bool = False,
        clock: SandboxClock = WALL_CLOCK,
    ) -> None:
        self.state_dir = state_dir
        self._clock = clock
        self.path = state_dir / STATE_FILE
        # Re-entrant so the request log and count can be kept from inside a transaction.
        self._lock = threading.RLock()
        self._requests: list[JsonObject] = []
        self._request_count = 0
        state_dir.mkdir(parents=True, exist_ok=True)
        if reset or not self.path.exists():
            self._state = self._seeded(settings or SandboxSettings())
        else:
            self._state = self._load(settings)
        self._save()

    def _seeded(self, settings: SandboxSettings) -> JsonObject:
        """A fresh state, its clock's start noted: the seeded history is dated from it (.activity)."""
        state = seed_state(settings)
        state["clock_started_us"] = unix_us(self._clock.time_after(0))
        return state

    def _load(self, settings: SandboxSettings | None) -> JsonObject:
        try:
            state: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(
                f"{self.path}: not a sandbox state file ({exc}); start it with reset=True"
            ) from exc
        if isinstance(state, dict) and state.get("format") == 1 and isinstance(state.get("settings"), dict):
            # Format 1 predates the clusters' HSM contents: give them the seeded ones.
            seeded = seed_state(SandboxSettings.from_json(state["settings"]))
            state.update(format=STATE_FORMAT, hsm=seeded["hsm"], hsm_backups={})
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError(
                f"{self.path}: not a sandbox state file of format {STATE_FORMAT}; start with reset=True"
            )
        # States written before custom role definitions, management locks or diagnostic settings were
        # served have none.
        state.setdefault("role_definitions", [])
        state.setdefault("locks", [])
        state.setdefault("diagnostic_settings", [])
        state.setdefault("backup_history", [])
        state.setdefault("clock_started_us", unix_us(self._clock.time_after(0)))
        stored = SandboxSettings.from_json(state["settings"])
        if settings is not None:
            # A different seed, profile or fleet means a different world; silently mixing two would lie
            # to the tests.
            for name, wanted, found in (
                ("seed", settings.seed, stored.seed),
                ("profile", settings.profile, stored.profile),
                ("fleet_clusters", settings.fleet_clusters, stored.fleet_clusters),
                ("fleet_subscriptions", settings.fleet_subscriptions, stored.fleet_subscriptions),
                ("fleet_misconfigured", settings.fleet_misconfigured, stored.fleet_misconfigured),
            ):
                if wanted != found:
                    raise ValueError(
                        f"{self.path} was seeded with {name} {found}, not {wanted}; "
                        "start with reset=True to re-seed"
                    )
            state["settings"] = settings.to_json()
        return state

    @contextmanager
    def reading(self, now: float | None = None) -> Iterator[JsonObject]:
        """Hold the lock over the state to read it, as of ``now`` (default: :meth:`now`).

        Only jobs finished by then change it, and that is persisted first; a block that changes the
        state itself must be a :meth:`transaction`, or the change would not be on disk in time.
        """
        with self._lock:
            self._complete_due_jobs(now)
            yield self._state

    @contextmanager
    def transaction(self, now: float | None = None) -> Iterator[JsonObject]:
        """Hold the lock over the state as of ``now``, as :meth:`reading` does, and persist it when the
        block ends without an exception."""
        with self._lock, changing():
            self._complete_due_jobs(now)
            yield self._state
            self._save()

    def settings(self) -> SandboxSettings:
        """The settings in force."""
        with self._lock:
            return SandboxSettings.from_json(self._state["settings"])

    def reset(self) -> None:
        """Re-seed the world with the settings in force and forget the request log (and so the ARM
        requests a recorded clock has counted)."""
        with self._lock, changing():
            self._state = self._seeded(SandboxSettings.from_json(self._state["settings"]))
            self._requests.clear()
            self._request_count = 0
            self._save()

    def now(self) -> float:
        """The sandbox's time (seconds since 1970), as its clock tells it after the ARM requests so far."""
        with self._lock:
            return self._clock.time_after(self._request_count)

    def next_request_number(self) -> int:
        """Number one more ARM request, from 1 after a start or a reset; it numbers the request's ids."""
        with self._lock:
            self._request_count += 1
            return self._request_count

    def log_request(
        self,
        method: str,
        path: str,
        query: str,
        status: int,
        *,
        arrived: float | None = None,
        retry_after: str | None = None,
        fault: str | None = None,
    ) -> None:
        """Remember one ARM request: the status it got, when it arrived (epoch seconds, before any
        added latency), the ``Retry-After`` it was given and the injected fault that fired, if any."""
        entry: JsonObject = {"method": method, "path": path, "query": query, "status": status}
        if arrived is not None:
            entry["at"] = arrived
        if retry_after is not None:
            entry["retry_after"] = retry_after
        if fault is not None:
            entry["fault"] = fault
        with self._lock:
            self._requests.append(entry)

    def requests(self) -> list[JsonObject]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    def _complete_due_jobs(self, now: float | None) -> None:
        # Jobs finish in the sandbox's time whether or not anyone polls them.
        if complete_due_jobs(self._state, self.now() if now is None else now):
            changed()
            self._save()

    def _save(self) -> None:
        # Write beside the target and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._state, handle, ensure_ascii=False, indent=2)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
