"""What the restore drill's scenarios hand on to later ones: the source inventory, the restore, its
timeline (by the service's dates) and how its validation ended."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from ..arm.lro import OperationResult
from ..checks.model import Finding
from ..checks.recovery import RestoreTimeline, recovery_time
from ..errors import CouldNotEvaluate
from ..hsm.checks import RESTORE_CHECKS
from ..hsm.drill import SourceInventory
from ..hsm.inventory import KeyInventory, UserInventory
from ..outcomes import Outcome, not_applicable
from ..target import Target
from .settings import RunSettings


class DrillRecord:
    """The drill's story so far in this run (in replay: as recorded)."""

    def __init__(self, settings: RunSettings) -> None:
        self._settings = settings
        self._source_inventory: SourceInventory | None = None
        #: A restore into the destination succeeded in this run (or its recording).
        self.restore_succeeded = False
        #: The restore's instants so far, by the service's dates (``restore.rto`` judges them).
        self.timeline = RestoreTimeline()
        #: How each restore-validation check ended in this run, worst finding first.
        self.validation: dict[str, Outcome] = {}

    def restore_ended(self, result: OperationResult) -> None:
        """Note a restore the service reported ended: if it succeeded, when its POST was accepted."""
        if result.operation != "restore" or not result.succeeded or self.restore_succeeded:
            return
        self.restore_succeeded = True
        self.timeline = RestoreTimeline(requested_at=result.accepted_at)
        if result.accepted_at is None:
            self._undated("the answer to the restore POST")

    def destination_read(self, activation_state: str | None, answered_at: datetime | None) -> None:
        """Note a read of the destination: the first that finds it ``Active`` after the restore
        dates its activation; once the validation has been judged, each read dates its end."""
        if not self.restore_succeeded:
            return
        if self.timeline.active_at is None and activation_state == "Active":
            if answered_at is None:
                self._undated("the read that found the destination Active")
            else:
                self.timeline = replace(self.timeline, active_at=answered_at)

    def validation_read(self, answered_at: datetime | None) -> None:
        """Note the read of the destination made once the restore validation was judged."""
        if answered_at is None:
            self._undated("the read after the restore validation")
        else:
            self.timeline = replace(self.timeline, validated_by=answered_at)

    def validation_judged(self, check_id: str, findings: Iterable[Finding]) -> None:
        """Note how one restore-validation check ended: passed only when every finding passed."""
        statuses = {f.status for f in findings if f.check_id == check_id}
        worse = (Outcome.ERROR, Outcome.FAILED, Outcome.WAIVED, Outcome.NOT_APPLICABLE)
        worst = next((o for o in worse if o in statuses), Outcome.PASSED if statuses else Outcome.ERROR)
        self.validation[check_id] = worst

    def recovery_time(self, target: Target) -> Finding:
        """``restore.rto``: the drill's timeline and validation against the target's ``rto_minutes``."""
        return recovery_time(
            target.spec.destination.cluster,
            target.destination_id,
            self.timeline,
            self.validation,
            RESTORE_CHECKS,
            target.protection.rto_minutes,
        )

    def _undated(self, what: str) -> None:
        self.timeline = replace(self.timeline, undated=(*self.timeline.undated, what))

    def keep_source_inventory(self, keys: KeyInventory, users: UserInventory, host: str) -> None:
        """Keep the source's inventory (read from ``host``) for the restore checks, and as evidence
        beside the reports."""
        self._source_inventory = SourceInventory(keys, users, host)
        if (report_dir := self._settings.report_dir) is not None:
            evidence = report_dir / "evidence" / "hsm-source-inventory.json"
            evidence.parent.mkdir(parents=True, exist_ok=True)
            body = {
                "mode": self._settings.mode.name,
                "host": host,
                "keys": keys.to_json()["keys"],
                "users": users.to_json(),
            }
            evidence.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")

    def source_inventory(self) -> SourceInventory:
        """The source inventory taken earlier in this run; an error if none was."""
        if self._source_inventory is None:
            raise CouldNotEvaluate(
                "no source inventory was taken before the backup in this run "
                "(backup_restore.feature: 'The source cluster's keys and users are inventoried')"
            )
        return self._source_inventory

    def require_a_restore(self) -> None:
        """The restored-destination scenarios validate a restore this run made (in replay: as
        recorded); without one there is nothing to validate, and they are not applicable."""
        if not self.restore_succeeded:
            not_applicable(
                "no restore into the destination succeeded earlier in this run "
                "(backup_restore.feature: 'A restore into a NotActivated destination completes and "
                "activates it'), so there is no restored destination to validate"
            )
