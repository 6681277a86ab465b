"""How ``chsm-checks run -n`` spreads tests over pytest-xdist workers.

Like xdist's ``loadscope``, but with scopes chsm-checks chooses from the node id: a story module
of the suite (``suite.Suite.story_modules``: the drill) runs whole in one worker, in order; a
fleet's clusters go in the batches ``fleet.run.batch_of`` gives (clusters sharing a storage
account together, so it is read once); every other test is a scope of its own.

It also mends two faults xdist 3.8's ``loadscope`` has when a worker dies (the kernel's OOM
killer, a segfault in a native library), which chsm-checks must survive because it accounts for
every scenario of a crashed run:

- the test the worker died on went back on the queue with the rest of its scope, so each
  replacement worker ran it and died again until ``--max-worker-restart`` was spent (xdist has
  already reported it as crashed; nothing is learnt by running it again);
- a replacement worker given a single test with nothing left on the queue waited for a second one
  that never came, and the run hung: an xdist worker runs a test once the next has arrived or it
  has been told to shut down.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

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

    def remove_node(self, node: WorkerController) -> str | None:
        workload: dict[str, dict[str, bool]] = self.assigned_work[node]
        pending = (
            (scope, test) for scope, unit in workload.items() for test, done in unit.items() if not done
        )
        if (died_on := next(pending, None)) is None:
            return super().remove_node(node)  # type: ignore[no-any-return]
        scope, crashed = died_on
        # What it died on is done (xdist reports it as crashed); the rest of its scope goes back.
        workload[scope][crashed] = True
        self.assigned_work[node] = {scope: unit for scope, unit in workload.items() if not all(unit.values())}
        super().remove_node(node)
        return crashed

    def _reschedule(self, node: WorkerController) -> None:
        super()._reschedule(node)
        if node.shutting_down:
            return
        # Fill the node to two tests (it runs one when the next arrives), and shut it down once the
        # queue is empty, so that it runs its last test too.
        while self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
            self._assign_work_unit(node)
        if not self.workqueue:
            node.shutdown()


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
