"""Per-subscription pacing: a 429's Retry-After holds the whole subscription, every reader waits out
the latest hold, and after it readers go at the bucket's refill rate until ARM says tokens are back."""

from __future__ import annotations

from collections.abc import Callable

from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.pacing import PLENTY_OF_READS, SubscriptionPacer

A = "https://management.azure.com/subscriptions/aaaa/resourceGroups/rg/providers/x/y/z"
B = "https://management.azure.com/subscriptions/bbbb/providers/x"
TENANT_LEVEL = "https://management.azure.com/subscriptions?api-version=2022-12-01"


class SteppingClock(VirtualClock):
    """A virtual clock that runs ``during_sleep`` the first time someone sleeps on it."""

    def __init__(self, during_sleep: Callable[[], None]) -> None:
        super().__init__()
        self._during = during_sleep
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        during, self._during = self._during, lambda: None
        during()
        super().sleep(seconds)


def test_a_hold_set_while_a_reader_waits_is_waited_too() -> None:
    pacer: SubscriptionPacer
    clock = SteppingClock(lambda: pacer.hold(A, 5))  # another reader's 429, during the first wait
    pacer = SubscriptionPacer(clock)
    pacer.hold(A, 2)
    pacer.wait(A)
    assert clock.now() >= 5  # not released at 2 s, when the first hold ended
    assert pacer.holds == {"aaaa": 2}


def test_after_a_hold_readers_go_at_the_refill_rate_until_reads_are_plenty() -> None:
    clock = VirtualClock()
    pacer = SubscriptionPacer(clock, refill_per_second=10)
    pacer.hold(A, 1)
    starts = []
    for _ in range(4):
        pacer.wait(A)
        starts.append(round(clock.now(), 3))
    assert starts == [1.0, 1.1, 1.2, 1.3]
    pacer.remaining(A, PLENTY_OF_READS - 1)  # still low: still paced
    pacer.wait(A)
    assert round(clock.now(), 3) == 1.4
    pacer.remaining(A, PLENTY_OF_READS)
    pacer.wait(A)
    pacer.wait(A)
    assert round(clock.now(), 3) == 1.4  # no longer paced


def test_other_subscriptions_and_tenant_level_calls_carry_on() -> None:
    clock = VirtualClock()
    pacer = SubscriptionPacer(clock)
    pacer.hold(A, 30)
    pacer.wait(B)
    pacer.wait(TENANT_LEVEL)
    pacer.hold(TENANT_LEVEL, 30)  # no subscription: nothing to hold
    pacer.wait(TENANT_LEVEL)
    assert clock.now() == 0
