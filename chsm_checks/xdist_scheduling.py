"""How ``chsm-checks run -n`` spreads tests over pytest-xdist workers.

Like xdist's ``loadscope``, but with scopes chsm-checks chooses from the node id: a story module
of the suite (``suite.Suite.story_modules``: the drill) runs whole in one worker, in order; a
fleet's clusters go in the batches ``fleet.run.batch_of`` gives (clusters sharing a storage
account together, so it is read once); every other test is a scope of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from xdist.scheduler import LoadScopeScheduling

from .suite import SHIPPED, Suite

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


def scope_of(
    nodeid: str,
    workers: int,
    fleet_batch: Callable[[str, int], str | None],
    suite: Suite = SHIPPED,
) -> str:
    """The scope a test belongs to: its story module, a fleet batch, or the test itself."""
    if (story := suite.story_of(nodeid)) is not None:
        return story
    if (match := _PARAMETER.search(nodeid)) and (batch := fleet_batch(match["id"], workers)):
        return batch
    return nodeid
