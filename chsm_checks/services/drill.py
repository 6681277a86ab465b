"""What the restore drill's scenarios hand on to later ones: the source inventory, and the restore."""

from __future__ import annotations

import json

from ..errors import CouldNotEvaluate
from ..hsm.drill import SourceInventory
from ..hsm.inventory import KeyInventory, UserInventory
from ..outcomes import not_applicable
from .settings import RunSettings


class DrillRecord:
    """The drill's story so far in this run (in replay: as recorded)."""

    def __init__(self, settings: RunSettings) -> None:
        self._settings = settings
        self._source_inventory: SourceInventory | None = None
        #: A restore into the destination succeeded in this run (or its recording).
        self.restore_succeeded = False

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
