"""ARM's read throttling: a token bucket per subscription, refilled continuously.

Kept in memory, not in the state: it is about the pace of this run's requests, measured on a
monotonic clock, and means nothing after a restart.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chsm_checks.sandbox.routing import split_path
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.wire import ArmFault, ArmReply

REMAINING_READS = "x-ms-ratelimit-remaining-subscription-reads"


@dataclass(frozen=True)
class ReadTake:
    """One read's verdict: the tokens left after it, or (``retry_after`` set) refused until then."""

    subscription: str
    remaining: int
    retry_after: int | None = None

    def refusal(self) -> ArmReply:
        """The 429 ARM answers a read over budget."""
        assert self.retry_after is not None, "only a refused read has a refusal"
        fault = ArmFault(
            429,
            "TooManyRequests",
            f"Number of 'read' requests for subscription '{self.subscription}' exceeded. Please try again "
            f"after '{self.retry_after}' seconds after additional tokens are available. Refer to "
            "https://aka.ms/arm-throttling",
        )
        return ArmReply(429, fault.reply().body, {"retry-after": str(self.retry_after), REMAINING_READS: "0"})


class ReadThrottle:
    """Token buckets of reads, one per subscription, sized and refilled as the settings say."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # subscription -> (tokens, when counted)

    def take(self, method: str, path: str, settings: SandboxSettings) -> ReadTake | None:
        """Spend a token on a GET under ``/subscriptions/{id}``; None when no bucket applies.

        A refused read spends nothing and learns, in whole seconds (at least 1), when a token is due.
        """
        segments = split_path(path)
        budget = settings.read_budget_per_subscription
        if method != "GET" or not budget or len(segments) < 2 or segments[0].lower() != "subscriptions":
            return None
        subscription = segments[1]
        refill = settings.read_refill_per_second
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(subscription.lower(), (float(budget), now))
            tokens = min(float(budget), tokens + (now - then) * refill)
            if tokens >= 1:
                self._buckets[subscription.lower()] = (tokens - 1, now)
                return ReadTake(subscription, math.floor(tokens - 1))
            self._buckets[subscription.lower()] = (tokens, now)
            return ReadTake(subscription, 0, max(1, math.ceil((1 - tokens) / refill)))
