"""The sandbox's state on disk: ``<state_dir>/state.json``, written atomically under one lock.

The request log lives only in memory: it is for the tests of one run, not part of the world.
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

from chsm_checks.sandbox.profiles import seed_state
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import STATE_FORMAT

STATE_FILE = "state.json"

__all__ = ["SandboxStore", "seed_state"]


class SandboxStore:
    """Owns the state of one sandbox: load or seed, mutate inside :meth:`transaction`, persist."""

    def __init__(
        self, state_dir: Path, settings: SandboxSettings | None = None, *, reset: bool = False
    ) -> None:
        self.state_dir = state_dir
        self.path = state_dir / STATE_FILE
        # Re-entrant so the request log can be written from inside a transaction.
        self._lock = threading.RLock()
        self._requests: list[JsonObject] = []
        state_dir.mkdir(parents=True, exist_ok=True)
        if reset or not self.path.exists():
            self._state = seed_state(settings or SandboxSettings())
        else:
            self._state = self._load(settings)
        self._save()

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
    def transaction(self) -> Iterator[JsonObject]:
        """Hold the lock over the state; persist it when the block ends without an exception."""
        with self._lock:
            yield self._state
            self._save()

    def settings(self) -> SandboxSettings:
        """The settings in force."""
        with self._lock:
            return SandboxSettings.from_json(self._state["settings"])

    def reset(self) -> None:
        """Re-seed the world with the settings in force and forget the request log."""
        with self._lock:
            self._state = seed_state(SandboxSettings.from_json(self._state["settings"]))
            self._requests.clear()
            self._save()

    def log_request(self, method: str, path: str, query: str, status: int) -> None:
        """Remember one ARM request and the status it got."""
        with self._lock:
            self._requests.append({"method": method, "path": path, "query": query, "status": status})

    def requests(self) -> list[JsonObject]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

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
