"""Per-subscription pacing: once ARM has said "wait" for a subscription, nobody reads it before then.

ARM throttles per subscription (a token bucket). A 429 with ``Retry-After`` on one request says the
whole subscription is out of tokens, so every concurrent reader of that subscription waits, not
only the one that was told; other subscriptions carry on.
"""

from __future__ import annotations

import re
import threading

from .clock import Clock

_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)


def subscription_of(url: str) -> str | None:
    """The subscription a request addresses, if any (tenant-level calls have none)."""
    match = _SUBSCRIPTION.search(url)
    return match.group(1).lower() if match else None


REMAINING_READS = "x-ms-ratelimit-remaining-subscription-reads"
ARM_READ_REFILL_PER_SECOND = 25.0


class SubscriptionPacer:
    """Shared by every client of a run: holds a subscription until its ``Retry-After`` has passed,
    then lets its readers go at the bucket's refill rate until ARM says tokens are back.

    Without the second part every reader held would go at once when the hold ends, and most would
    meet another 429: the bucket refills at 25 reads a second, not all at once.
    """

    def __init__(self, clock: Clock, refill_per_second: float = ARM_READ_REFILL_PER_SECOND) -> None:
        self._clock = clock
        self._interval = 1.0 / refill_per_second
        self._until: dict[str, float] = {}
        self._next: dict[str, float] = {}  # paced subscriptions: when the next read may go
        self._lock = threading.Lock()
        self.holds: dict[str, int] = {}

    def wait(self, url: str) -> None:
        """Sleep until ``url``'s subscription may be read again (a hold set meanwhile is waited too)."""
        subscription = subscription_of(url)
        if subscription is None:
            return
        while True:
            with self._lock:
                now = self._clock.now()
                ready = max(self._until.get(subscription, 0.0), self._next.get(subscription, 0.0))
                if ready <= now:
                    if subscription in self._next:  # take the next slot of the paced subscription
                        self._next[subscription] = max(now, self._next[subscription]) + self._interval
                    return
            self._clock.sleep(ready - now)

    def hold(self, url: str, seconds: float) -> None:
        """ARM said ``Retry-After: seconds`` for ``url``: hold its whole subscription that long, then
        pace it."""
        subscription = subscription_of(url)
        if subscription is None:
            return
        with self._lock:
            until = max(self._until.get(subscription, 0.0), self._clock.now() + seconds)
            self._until[subscription] = until
            self._next[subscription] = max(self._next.get(subscription, 0.0), until)
            self.holds[subscription] = self.holds.get(subscription, 0) + 1

    def held(self) -> int:
        """How many times a subscription was held so far, all subscriptions together."""
        with self._lock:
            return sum(self.holds.values())

    def remaining(self, url: str, reads: int) -> None:
        """ARM said ``reads`` tokens remain for ``url``'s subscription: with plenty back, stop pacing."""
        subscription = subscription_of(url)
        if subscription is None:
            return
        with self._lock:
            if reads >= PLENTY_OF_READS:
                self._next.pop(subscription, None)


PLENTY_OF_READS = 50
