"""Read-only ARM handlers: resource GETs; the paged lists of subscriptions, clusters, role assignments and
role definitions."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from chsm_checks.sandbox.access import assignments_touching, principal_of
from chsm_checks.sandbox.roles import role_definition, role_definitions
from chsm_checks.sandbox.routing import ArmCall
from chsm_checks.sandbox.wire import ArmFault, ArmReply, JsonObject
from chsm_checks.sandbox.world import (
    CLUSTER_TYPE,
    properties_of,
    require_group,
    require_resource,
    require_scope,
    require_subscription,
    resource_groups_by_subscription,
    resources_of_type,
)

_PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)
# The two filters the role definitions list understands (ARM also has atScopeAndBelow()).
_ROLE_FILTER = re.compile(r"^\s*(roleName|type)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


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
    require_scope(call.state, scope)
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
        assignments = [a for a in assignments if (principal_of(a) or "").lower() == principal]
    return ArmReply(200, page(call, assignments))


def get_role_assignment(call: ArmCall) -> ArmReply:
    """GET of one role assignment: the request path is its id."""
    require_scope(call.state, call.params["scope"])
    wanted = call.path.lower()
    for assignment in call.state["role_assignments"]:
        if assignment["id"].lower() == wanted:
            return ArmReply(200, assignment)
    raise ArmFault(
        404, "RoleAssignmentNotFound", f"The role assignment '{call.params['assignment']}' is not found."
    )


def get_role_definition(call: ArmCall) -> ArmReply:
    """GET of one role definition by its GUID, at any scope or the tenant root (``/providers/…``)."""
    scope = call.params.get("scope", "")
    if scope:
        require_scope(call.state, scope)
    guid = call.params["definition"]
    found = role_definition(call.state, guid, scope)
    if found is None:
        raise ArmFault(
            404,
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{guid}' does not exist.",
        )
    return ArmReply(200, found)


def list_role_definitions(call: ArmCall) -> ArmReply:
    """Every role definition served at the scope, optionally ``$filter=roleName eq '…'`` or
    ``type eq 'BuiltInRole'|'CustomRole'``; paged. The sandbox serves every definition at every scope."""
    scope = call.params.get("scope", "")
    if scope:
        require_scope(call.state, scope)
    definitions = role_definitions(call.state, scope)
    wanted = call.query.get("$filter", "")
    if wanted:
        match = _ROLE_FILTER.match(wanted)
        if match is None:
            raise ArmFault(
                400,
                "InvalidQueryParameterValue",
                "The sandbox understands only $filter=roleName eq '<name>' and $filter=type eq '<type>'.",
                target="$filter",
            )
        field, value = match.group(1), match.group(2).lower()
        key = "roleName" if field.lower() == "rolename" else "type"
        definitions = [d for d in definitions if str(properties_of(d).get(key, "")).lower() == value]
    return ArmReply(200, page(call, definitions))


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
