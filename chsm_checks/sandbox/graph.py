"""Azure Resource Graph, as much of it as chsm-checks asks: ``POST
/providers/Microsoft.ResourceGraph/resources`` answering the query subset of
:mod:`chsm_checks.arm.graph_query` over the sandbox's world, in pages, under a per-caller quota.

- **Tables.** ``resources`` holds what Resource Graph holds of the world: Cloud HSM clusters, storage
  accounts, private endpoints, user-assigned identities and virtual networks, each as its ARM body
  with ``type`` in lower case (as Resource Graph writes it), ``resourceGroup`` and
  ``subscriptionId`` from its id, and ``tenantId``. Blob services, containers, diagnostic settings
  and locks are not there, as they are not in Resource Graph. ``authorizationresources`` holds the
  role assignments.
- **Scope.** ``subscriptions`` is required: up to 1000 subscriptions, the batch size Azure documents.
  Management-group and tenant scopes are not part of the subset, and are refused by name. A
  subscription the sandbox does not know contributes nothing, as one the caller cannot read does.
- **Pages.** ``options.$top`` (1 to 1000, default 1000) rows a page, ``$skip`` to start further in,
  ``$skipToken`` to go on; a token is bound to its query and subscriptions. ``resultFormat`` is
  ``objectArray`` (``table`` is not part of the subset).
- **Quota.** Each caller (its ``Authorization`` header) has ``graph_quota`` queries per
  ``graph_window_seconds``; every answer says what is left in ``x-ms-user-quota-remaining`` and when
  the window resets in ``x-ms-user-quota-resets-after`` (``hh:mm:ss``); a query over quota is a
  ``429 RateLimiting`` carrying the same headers.

Any other query is a ``400 BadRequest`` whose ``InvalidQuery`` detail names what is unsupported.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chsm_checks.arm.graph_query import QUERY_PATH, GraphQuery, UnsupportedQuery, is_graph_query, parse
from chsm_checks.arm.retry import QUOTA_REMAINING, QUOTA_RESETS_AFTER
from chsm_checks.arm.snapshots import id_segment
from chsm_checks.sandbox.routing import ArmCall
from chsm_checks.sandbox.wire import ArmFault, ArmReply, JsonObject
from chsm_checks.sandbox.world import (
    CLUSTER_TYPE,
    IDENTITY_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    STORAGE_TYPE,
    resource_groups_by_subscription,
)

GRAPH_TYPE = "Microsoft.ResourceGraph/resources"
GRAPH_PATH = QUERY_PATH
NETWORK_TYPE = "Microsoft.Network/virtualNetworks"
RESOURCE_TYPES = frozenset(
    t.lower() for t in (CLUSTER_TYPE, STORAGE_TYPE, PRIVATE_ENDPOINT_TYPE, IDENTITY_TYPE, NETWORK_TYPE)
)
"""The types of the world Resource Graph's ``resources`` table holds."""
MAX_SUBSCRIPTIONS = 1000
MAX_TOP = 1000


def is_graph_path(path: str) -> bool:
    return is_graph_query("POST", path)


def _bad_request(detail: str, code: str = "InvalidQuery") -> ArmFault:
    """Resource Graph's 400: ``BadRequest``, the reason in its one detail."""
    message = f"The sandbox's Resource Graph cannot answer this request: {detail}"
    return ArmFault(400, "BadRequest", message, details=[{"code": code, "message": detail}])


def _row(state: JsonObject, body: JsonObject) -> JsonObject:
    resource_id = str(body["id"])
    return {
        "id": resource_id,
        "name": body.get("name"),
        "type": str(body.get("type", "")).lower(),
        "tenantId": state["tenant_id"],
        "kind": body.get("kind", ""),
        "location": body.get("location", ""),
        "resourceGroup": id_segment(resource_id, "resourceGroups").lower(),
        "subscriptionId": id_segment(resource_id, "subscriptions"),
        "managedBy": body.get("managedBy", ""),
        "sku": body.get("sku"),
        "plan": body.get("plan"),
        "properties": body.get("properties", {}),
        "tags": body.get("tags", {}),
        "identity": body.get("identity"),
        "zones": body.get("zones"),
        "extendedLocation": body.get("extendedLocation"),
    }


def _table(state: JsonObject, table: str, kind: str) -> list[JsonObject]:
    """The rows of ``table`` of type ``kind`` (lower case): a query keeps one type, and the others'
    rows are never made."""
    if table == "resources":
        bodies = [r for r in state["resources"] if str(r.get("type", "")).lower() in RESOURCE_TYPES]
    else:
        bodies = list(state["role_assignments"])
    return [_row(state, body) for body in bodies if str(body.get("type", "")).lower() == kind]


def _options(body: JsonObject) -> tuple[int, int, str | None]:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise _bad_request("options: must be an object", "InvalidRequestContent")
    fmt = options.get("resultFormat", "objectArray")
    if fmt != "objectArray":
        raise _bad_request(
            f"options.resultFormat {fmt!r}: the sandbox answers objectArray only", "UnsupportedOption"
        )
    top = options.get("$top", MAX_TOP)
    skip = options.get("$skip", 0)
    if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise _bad_request(f"options.$top {top!r}: must be 1 to {MAX_TOP}", "InvalidRequestContent")
    if not isinstance(skip, int) or skip < 0:
        raise _bad_request(f"options.$skip {skip!r}: must be 0 or more", "InvalidRequestContent")
    token = options.get("$skipToken")
    if token is not None and not isinstance(token, str):
        raise _bad_request("options.$skipToken: must be a string", "InvalidRequestContent")
    return top, skip, token


def _digest(query: str, subscriptions: list[str]) -> str:
    return hashlib.sha256(json.dumps([query, sorted(s.lower() for s in subscriptions)]).encode()).hexdigest()[
        :16
    ]


def _token(offset: int, digest: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset, "query": digest}).encode()).decode()


def _offset(token: str, digest: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, issued_for = data["offset"], data["query"]
    except (ValueError, KeyError, TypeError):
        raise _bad_request(
            "options.$skipToken: not a token this sandbox issued", "InvalidSkipToken"
        ) from None
    if issued_for != digest or not isinstance(offset, int) or offset < 0:
        raise _bad_request(
            "options.$skipToken: issued for another query or other subscriptions; send the same query and "
            "subscriptions to go on",
            "InvalidSkipToken",
        )
    return offset


def query_resources(call: ArmCall) -> ArmReply:
    """One page of a Resource Graph query's answer."""
    try:
        body = json.loads(call.body or b"null")
    except ValueError:
        raise _bad_request("the request body is not JSON", "InvalidRequestContent") from None
    if not isinstance(body, dict):
        raise _bad_request("the request body must be a QueryRequest object", "InvalidRequestContent")
    if body.get("managementGroups"):
        raise _bad_request(
            "managementGroups: management-group scope is not in the sandbox's subset; name subscriptions",
            "UnsupportedScope",
        )
    subscriptions = body.get("subscriptions")
    if (
        not isinstance(subscriptions, list)
        or not subscriptions
        or not all(isinstance(s, str) for s in subscriptions)
    ):
        raise _bad_request(
            "subscriptions: the sandbox answers subscription-scoped queries only; name 1 to 1000",
            "UnsupportedScope",
        )
    if len(subscriptions) > MAX_SUBSCRIPTIONS:
        raise _bad_request(
            f"subscriptions: {len(subscriptions)} named; batch them, {MAX_SUBSCRIPTIONS} at most",
            "TooManySubscriptions",
        )
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise _bad_request("query: required", "InvalidRequestContent")
    try:
        query = parse(text)
    except UnsupportedQuery as exc:
        raise _bad_request(str(exc)) from None
    top, skip, token = _options(body)
    digest = _digest(text, subscriptions)
    start = _offset(token, digest) if token is not None else skip
    rows = _answer(call.state, query, subscriptions)
    chunk = rows[start : start + top]
    answer: JsonObject = {
        "totalRecords": len(rows),
        "count": len(chunk),
        "resultTruncated": "false",
        "data": chunk,
        "facets": [],
    }
    if start + top < len(rows):
        answer["$skipToken"] = _token(start + top, digest)
    return ArmReply(200, answer)


def _answer(state: JsonObject, query: GraphQuery, subscriptions: list[str]) -> list[JsonObject]:
    known = {s.lower() for s in resource_groups_by_subscription(state)}
    wanted = {s.lower() for s in subscriptions} & known
    rows = [
        row
        for row in _table(state, query.table, query.type.lower())
        if str(row["subscriptionId"]).lower() in wanted and query.keeps(row)
    ]
    rows.sort(key=lambda row: str(row["id"]))
    return [{column: row.get(column) for column in query.project} for row in rows]


@dataclass(frozen=True)
class QuotaTake:
    """One query's place in its caller's window: what is left after it, and when the window resets."""

    remaining: int
    resets_after: float
    refused: bool = False

    def headers(self) -> dict[str, str]:
        seconds = max(0, math.ceil(self.resets_after))
        hours, rest = divmod(seconds, 3600)
        return {
            QUOTA_REMAINING: str(self.remaining),
            QUOTA_RESETS_AFTER: f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
        }

    def refusal(self) -> ArmReply:
        throttled = (
            "Client application has been throttled and should not attempt to repeat the request until an "
            "amount of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help."
        )
        fault = ArmFault(
            429,
            "RateLimiting",
            "The sandbox's Resource Graph quota for this caller is spent until the window resets.",
            details=[{"code": "RateLimiting", "message": throttled}],
        )
        return ArmReply(429, fault.reply().body, self.headers())


class GraphQuota:
    """Each caller's queries in a sliding window, as Resource Graph counts them; in memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, collections.deque[float]] = {}

    def take(self, caller: str, quota: int, window: float) -> QuotaTake:
        """Count one query of ``caller``'s, or refuse it when ``quota`` were sent in the last ``window``."""
        with self._lock:
            now = self._clock()
            calls = self._calls.setdefault(hashlib.sha256(caller.encode()).hexdigest(), collections.deque())
            while calls and now - calls[0] >= window:
                calls.popleft()
            if len(calls) >= quota:
                return QuotaTake(0, window - (now - calls[0]), refused=True)
            calls.append(now)
            return QuotaTake(quota - len(calls), window - (now - calls[0]))
