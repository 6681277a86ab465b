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


class SubscriptionPacer:
    """Shared by every client of a run: holds a subscription until its ``Retry-After`` has passed."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.holds: dict[str, int] = {}

    def wait(self, url: str) -> None:
        """Sleep until ``url``'s subscription may be read again."""
        subscription = subscription_of(url)
        if subscription is None:
            return
        with self._lock:
            until = self._until.get(subscription, 0.0)
        delay = until - self._clock.now()
        if delay > 0:
            self._clock.sleep(delay)

    def hold(self, url: str, seconds: float) -> None:
        """ARM said ``Retry-After: seconds`` for ``url``: hold its whole subscription that long."""
        subscription = subscription_of(url)
        if subscription is None:
            return
        with self._lock:
            self._until[subscription] = max(self._until.get(subscription, 0.0), self._clock.now() + seconds)
            self.holds[subscription] = self.holds.get(subscription, 0) + 1
