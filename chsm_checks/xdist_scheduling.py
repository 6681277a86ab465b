"""How ``chsm-checks run -n`` spreads tests over pytest-xdist workers.

Like xdist's ``loadscope``, but with scopes chsm-checks chooses from the node id: the drill
(``steps/test_drill.py``) is one story on real clusters, so all of it runs in one worker, in order;
a fleet's clusters go in the batches ``fleet.run.batch_of`` gives (clusters sharing a storage
account together, so it is read once); every other test is a scope of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from xdist.scheduler import LoadScopeScheduling

DRILL_MODULE = "steps/test_drill.py::"
_PARAMETER = re.compile(r"\[(?P<id>.*)\]$")


class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no type hints
    """``loadscope`` with chsm-checks's scopes."""

    def __init__(
        self, config: pytest.Config, log: object, fleet_batch: Callable[[str, int], str | None]
    ) -> None:
        super().__init__(config, log)
        self._fleet_batch = fleet_batch

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid, self.numnodes, self._fleet_batch)


def scope_of(nodeid: str, workers: int, fleet_batch: Callable[[str, int], str | None]) -> str:
    """The scope a test belongs to: ``drill``, a fleet batch, or the test itself."""
    if nodeid.startswith(DRILL_MODULE):
        return "drill"
    if (match := _PARAMETER.search(nodeid)) and (batch := fleet_batch(match["id"], workers)):
        return batch
    return nodeid
