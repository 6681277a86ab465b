"""Reading a fleet's resources concurrently, within ARM's limits, each at most once.

ARM's read bucket per subscription holds 250 tokens and refills 25 per second; a bounded pool of
readers (16 by default) keeps well inside it on latency-bound work, and a shared
``SubscriptionPacer`` makes every reader of a throttled subscription wait out its ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..checks.environment import SnapshotCache
from ..checks.observed import Observed

T = TypeVar("T")
DEFAULT_CONCURRENCY = 16


def read_concurrently(
    reads: Sequence[tuple[str, Callable[[], T]]], cache: SnapshotCache, concurrency: int = DEFAULT_CONCURRENCY
) -> dict[str, Observed[T]]:
    """Every ``(resource id, fetch)`` read through ``cache`` by at most ``concurrency`` readers at once."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chsm-read") as pool:
        futures = {rid: pool.submit(cache.get_or_read, rid, fetch) for rid, fetch in reads}
        return {rid: future.result() for rid, future in futures.items()}
