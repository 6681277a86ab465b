"""Azure Resource Graph queries over the run's ARM client: every row of a query, over batches of
subscriptions, page by page with ``$skipToken``, within the caller's quota.

Resource Graph counts each caller's queries in a window (Azure's default: 15 per 5 s) and says on
every answer what is left (``x-ms-user-quota-remaining``) and when the window resets
(``x-ms-user-quota-resets-after``). :class:`GraphQuota` waits out the reset before the next query
when nothing is left, on the client's clock, so a large fleet is paced rather than refused; a 429
that comes anyway is retried after the reset by the client's retry policy
(:func:`~chsm_checks.arm.retry.retry_after_seconds`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from . import versions
from .client import ArmClient
from .errors import ArmError
from .graph_query import QUERY_PATH, GraphQuery, batches
from .retry import QUOTA_REMAINING, quota_resets_after

PAGE_ROWS = 1000
"""Rows a page: Resource Graph's maximum ``$top``."""
SUBSCRIPTIONS_PER_QUERY = 1000
"""Subscriptions a query names: the batch Azure's guidance documents."""


class GraphQuota:
    """What the latest answer said of the caller's quota; holds the next query until the window
    resets when none is left."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resume_at: float | None = None
        self.waits = 0  # how often a query was held, for the run's account
        self.waited_seconds = 0.0

    def before(self, client: ArmClient) -> None:
        with self._lock:
            resume_at, self._resume_at = self._resume_at, None
        if resume_at is not None and (delay := resume_at - client.clock.now()) > 0:
            self.waits += 1
            self.waited_seconds += delay
            client.event(f"Resource Graph quota spent; next query in {delay:.1f} s")
            client.clock.sleep(delay)

    def after(self, client: ArmClient, response: httpx.Response) -> None:
        remaining = response.headers.get(QUOTA_REMAINING, "").strip()
        resets = quota_resets_after(response)
        if remaining == "0" and resets is not None:
            with self._lock:
                self._resume_at = client.clock.now() + resets


def query_rows(
    client: ArmClient,
    query: GraphQuery,
    subscriptions: Sequence[str],
    *,
    quota: GraphQuota | None = None,
    page_rows: int = PAGE_ROWS,
    per_query: int = SUBSCRIPTIONS_PER_QUERY,
    on_page: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every row ``query`` answers over ``subscriptions``, a batch of ``per_query`` at a time, each
    batch's pages in order; a malformed page is an ``ArmError`` naming what is wrong with it.
    ``on_page`` hears the number of rows of each page as it comes."""
    quota = GraphQuota() if quota is None else quota
    text = query.text()
    for batch in batches(list(subscriptions), per_query):
        options: dict[str, Any] = {"$top": page_rows, "resultFormat": "objectArray"}
        while True:
            quota.before(client)
            response = client.send(
                "POST",
                QUERY_PATH,
                api_version=versions.RESOURCE_GRAPH,
                json={"subscriptions": batch, "query": text, "options": options},
            )
            quota.after(client, response)
            page = _page(response)
            if on_page is not None:
                on_page(len(page["data"]))
            yield from page["data"]
            token = page.get("$skipToken")
            if not token:
                break
            options = {"$top": page_rows, "$skipToken": token, "resultFormat": "objectArray"}


def _page(response: httpx.Response) -> dict[str, Any]:
    def malformed(problem: str) -> ArmError:
        return ArmError(
            method="POST",
            url=str(response.request.url),
            status=response.status_code,
            code="MalformedQueryResponse",
            message=f"Resource Graph answer {problem}",
        )

    try:
        page = response.json()
    except ValueError:
        raise malformed("is not JSON") from None
    if not isinstance(page, dict):
        raise malformed("is not a JSON object")
    data = page.get("data")
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise malformed("has no 'data' array of objects (resultFormat objectArray)")
    token = page.get("$skipToken")
    if token is not None and not isinstance(token, str):
        raise malformed("has a '$skipToken' that is not a string")
    if page.get("resultTruncated") == "true" and not token:
        raise malformed("says its result is truncated and gives no '$skipToken' to go on")
    return page
