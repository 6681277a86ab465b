"""The catalogue's checks judged into findings, with the waivers in force applied."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..checks.catalogue import Catalogue
from ..checks.environment import Environment
from ..checks.evaluate import evaluate
from ..checks.model import Finding
from ..checks.waivers import WaiverBook, load_waivers
from ..errors import ConfigError, CouldNotEvaluate
from ..recording import Scrubber


class Judge:
    """Judges one catalogue check at a time; keeps the notes the waivers gave (expired, unused...)."""

    def __init__(self, catalogue: Catalogue, waivers: WaiverBook | None, scrubber: Scrubber) -> None:
        self.catalogue = catalogue
        self._waivers = waivers
        self._scrubber = scrubber
        self.waiver_notes: list[str] = []

    @classmethod
    def load(cls, catalogue: Catalogue, waivers_path: Path | None, scrubber: Scrubber) -> Judge:
        """A judge with the waiver file at ``waivers_path`` (``None``: no waivers); errors are ConfigError."""
        waivers = load_waivers(waivers_path, catalogue) if waivers_path is not None else None
        return cls(catalogue, waivers, scrubber)

    def __call__(self, check_id: str, environment: Environment) -> list[Finding]:
        """Evaluate one ARM catalogue check and apply the waivers in force now."""
        self._known(check_id)
        return self.settle(check_id, evaluate(check_id, environment))

    def settle(self, check_id: str, findings: list[Finding]) -> list[Finding]:
        """The findings a pure check function gave for ``check_id`` (an HSM restore-validation check,
        or an ARM check's evaluation), scrubbed like evidence, with the waivers in force now applied."""
        self._known(check_id)
        if stray := sorted({f.check_id for f in findings} - {check_id}):
            raise ConfigError(f"findings of {', '.join(stray)} handed in as findings of {check_id}")
        # A finding may quote an id the scrubber replaces in evidence (an identity's principal): reports
        # show the same placeholder, so they hold no id that the recordings do not.
        identities = self._scrubber.identities
        findings = [_with_strings(f, identities) for f in findings]
        if not findings:
            raise CouldNotEvaluate(f"check {check_id} produced no finding: nothing was judged")
        if self._waivers is None:
            return findings
        applied = self._waivers.apply(findings, datetime.now(UTC))
        self.note(applied.notes())
        return list(applied.findings)

    def _known(self, check_id: str) -> None:
        if check_id not in self.catalogue:
            raise ConfigError(f"unknown check {check_id!r}: it is not in the catalogue")

    def note(self, notes: list[str] | tuple[str, ...]) -> None:
        """Keep waiver notes, each once (a worker's, handed to the controller, too)."""
        self.waiver_notes.extend(note for note in notes if note not in self.waiver_notes)


def _with_strings(finding: Finding, change: Callable[[str], str]) -> Finding:
    """``finding`` with ``change`` applied to its message and to every string it observed."""

    def each(value: Any) -> Any:
        if isinstance(value, str):
            return change(value)
        if isinstance(value, Mapping):
            return {k: each(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(each(v) for v in value)
        return value

    return replace(finding, message=change(finding.message), observed=each(finding.observed))
