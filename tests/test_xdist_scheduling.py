"""How ``chsm-checks run -n`` hands tests to pytest-xdist workers when one of them dies.

The scheduler is driven here the way xdist's controller drives it (nodes added, collections
registered, tests marked complete, a node removed after a crash, a replacement added), with
workers that record what they are sent. The end-to-end crash is tests/test_interrupts.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chsm_checks.xdist_scheduling import GroupScheduling

DRILL = [f"steps/test_drill.py::test_{step}" for step in ("backup", "restore", "keys", "nodes")]
COLLECTION = [*DRILL, "steps/test_catalogue.py::test_sas", "steps/test_catalogue.py::test_shared_key"]


class Worker:
    """What the scheduler sees of an xdist worker: the tests it is sent and whether it was told to stop."""

    def __init__(self, name: str, collection: list[str] = COLLECTION) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.collection = collection
        self.sent: list[str] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += [self.collection[i] for i in indices]

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(*workers: Worker) -> GroupScheduling:
    config = SimpleNamespace(
        getvalue=lambda name: [f"{len(workers)}*popen"], option=SimpleNamespace(loadscopereorder=False)
    )
    scheduler = GroupScheduling(config, SimpleNamespace(loadscopesched=lambda *a: None), lambda *a: None)
    for worker in workers:
        _join(scheduler, worker)
    return scheduler


def _join(scheduler: GroupScheduling, worker: Worker) -> None:
    scheduler.add_node(worker)
    scheduler.add_node_collection(worker, worker.collection)
    if scheduler.collection_is_completed:  # as xdist's controller calls it: once every worker has collected
        scheduler.schedule()


def _complete(scheduler: GroupScheduling, worker: Worker, test: str) -> None:
    scheduler.mark_test_complete(worker, worker.collection.index(test))


def test_the_drill_goes_whole_to_one_worker_and_the_catalogue_one_test_at_a_time() -> None:
    first, second = Worker("gw0"), Worker("gw1")
    _scheduler(first, second)
    assert first.sent == DRILL
    assert second.sent == COLLECTION[4:]
    assert first.shutting_down, "nothing is left to send either"
    assert second.shutting_down


@pytest.mark.parametrize(
    "died_at",
    [
        pytest.param(1, id="the rest of its story goes to the replacement"),
        # The replacement's one test would wait for a second: it runs once told to stop.
        pytest.param(2, id="a single last test, and the replacement is told to stop"),
        pytest.param(3, id="its last test, and nothing is left to run again"),
    ],
)
def test_the_test_a_worker_died_on_is_not_run_again(died_at: int) -> None:
    first, second = Worker("gw0"), Worker("gw1")
    scheduler = _scheduler(first, second)
    for test in DRILL[:died_at]:
        _complete(scheduler, first, test)

    assert scheduler.remove_node(first) == DRILL[died_at]
    replacement = Worker("gw2")
    _join(scheduler, replacement)

    assert replacement.sent == DRILL[died_at + 1 :]
    assert replacement.shutting_down, "a worker runs a test once the next arrives or it is told to stop"


def test_a_replacement_is_given_two_tests_when_the_queue_holds_more_than_one() -> None:
    catalogue = [f"steps/test_catalogue.py::test_{n}" for n in range(4)]
    collection = DRILL + catalogue
    first, second = Worker("gw0", collection), Worker("gw1", collection)
    scheduler = _scheduler(first, second)
    assert second.sent == catalogue[:2]
    assert not second.shutting_down

    assert scheduler.remove_node(second) == catalogue[0]
    replacement = Worker("gw2", collection)
    _join(scheduler, replacement)

    # One test would wait for a second that no completion would ever send.
    assert replacement.sent == catalogue[2:]
    assert not replacement.shutting_down, catalogue[1] + " is still to be sent"


def test_a_worker_that_finished_its_work_is_removed_without_a_crash() -> None:
    first, second = Worker("gw0"), Worker("gw1")
    scheduler = _scheduler(first, second)
    for test in DRILL:
        _complete(scheduler, first, test)
    assert scheduler.remove_node(first) is None
