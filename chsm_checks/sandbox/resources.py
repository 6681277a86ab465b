"""Read-only ARM handlers: resource GETs; the paged lists of subscriptions, clusters and role assignments."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from chsm_checks.sandbox.access import assignments_touching
from chsm_checks.sandbox.routing import ArmCall, split_path
from chsm_checks.sandbox.wire import ArmFault, ArmReply, JsonObject
from chsm_checks.sandbox.world import (
    CLUSTER_TYPE,
    require_group,
    require_resource,
    require_subscription,
    resource_groups_by_subscription,
    resources_of_type,
)

_PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)


def get_resource(call: ArmCall) -> ArmReply:
    """GET of any stored resource: the request path is its id."""
    return ArmReply(200, require_resource(call.state, call.path))


def list_subscriptions(call: ArmCall) -> ArmReply:
    """The subscriptions the caller sees: the seeded world's, then the fleet's, in order; paged."""
    subscriptions = [
        {
            "id": f"/subscriptions/{sub}",
            "subscriptionId": sub,
            "tenantId": call.state["tenant_id"],
            "displayName": f"chsm-fleet-{k:02d}" if k else "chsm-sandbox",
            "state": "Enabled",
        }
        for k, sub in enumerate(resource_groups_by_subscription(call.state))
    ]
    return ArmReply(200, page(call, subscriptions))


def list_clusters(call: ArmCall) -> ArmReply:
    """Clusters of the subscription, or of one resource group when the path names it; paged."""
    sub = call.params["subscription"]
    if "group" in call.params:
        group = require_group(call.state, sub, call.params["group"])
        prefix = f"/subscriptions/{sub}/resourceGroups/{group}/"
    else:
        require_subscription(call.state, sub)
        prefix = f"/subscriptions/{sub}/"
    clusters = [
        c for c in resources_of_type(call.state, CLUSTER_TYPE) if c["id"].lower().startswith(prefix.lower())
    ]
    return ArmReply(200, page(call, clusters))


def list_role_assignments(call: ArmCall) -> ArmReply:
    """Role assignments at, above and below the scope, optionally ``$filter=principalId eq '…'``; paged."""
    scope = call.params["scope"]
    _require_scope(call.state, scope)
    assignments = assignments_touching(call.state, scope)
    wanted = call.query.get("$filter", "")
    if wanted:
        match = _PRINCIPAL_FILTER.match(wanted)
        if match is None:
            raise ArmFault(
                400,
                "InvalidQueryParameterValue",
                "The sandbox understands only $filter=principalId eq '<object id>'.",
                target="$filter",
            )
        principal = match.group(1).lower()
        assignments = [a for a in assignments if a["properties"]["principalId"].lower() == principal]
    return ArmReply(200, page(call, assignments))


def page(call: ArmCall, items: list[JsonObject]) -> JsonObject:
    """One page of ``items``: ``value``, and an absolute ``nextLink`` with ``$skiptoken`` if more remain."""
    token = call.query.get("$skiptoken", "0")
    if not token.isdigit():
        raise ArmFault(
            400, "InvalidQueryParameterValue", "The $skiptoken is not one this sandbox issued.", "$skiptoken"
        )
    start = int(token)
    end = start + call.settings.page_size
    body: JsonObject = {"value": items[start:end]}
    if end < len(items):
        query = [(k, v) for k, v in call.query.items() if k != "$skiptoken"] + [("$skiptoken", str(end))]
        # Keep $ and ' literal, as ARM writes them in its own nextLinks.
        body["nextLink"] = f"{call.base_url}{call.path}?" + urlencode(query, quote_via=quote, safe="$'")
    return body


def _require_scope(state: JsonObject, scope: str) -> None:
    """A role-assignment scope must be the subscription, the resource group, or a stored resource."""
    parts = split_path(scope)
    if (
        len(parts) < 2
        or parts[0].lower() != "subscriptions"
        or (len(parts) > 2 and parts[2].lower() != "resourcegroups")
    ):
        raise ArmFault(
            404,
            "NotFound",
            f"The sandbox serves role assignments only at and below a subscription, not '{scope}'.",
        )
    if len(parts) == 2:
        require_subscription(state, parts[1])
    elif len(parts) == 4:
        require_group(state, parts[1], parts[3])
    elif len(parts) < 8:
        raise ArmFault(404, "NotFound", f"'{scope}' is not a resource id.")
    else:
        require_resource(state, scope)
