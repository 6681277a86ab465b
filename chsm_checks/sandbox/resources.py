"""Read-only ARM handlers: resource GETs; the paged lists of subscriptions, of each tracked resource type
by subscription and resource group, of an account's containers (and its lone blob service), and of role
assignments and role definitions."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from chsm_checks.sandbox.access import assignment_scope, assignments_touching, principal_of, scope_contains
from chsm_checks.sandbox.roles import role_definition, role_definitions
from chsm_checks.sandbox.routing import ArmCall, Handler
from chsm_checks.sandbox.wire import ArmFault, ArmReply, JsonObject
from chsm_checks.sandbox.world import (
    BLOB_SERVICE_TYPE,
    CONTAINER_TYPE,
    STORAGE_TYPE,
    find_resource,
    log_categories,
    positions,
    properties_of,
    require_group,
    require_resource,
    require_scope,
    require_subscription,
    resource_groups_by_subscription,
    resources_of_type,
)

_PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)
_AT_SCOPE = re.compile(r"^\s*atScope\(\)\s*$", re.IGNORECASE)
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


def list_of_type(resource_type: str) -> Handler:
    """The GET handler listing ``resource_type`` in the subscription, or in the resource group when the
    path names one; paged."""

    def handler(call: ArmCall) -> ArmReply:
        sub = call.params["subscription"]
        if "group" in call.params:
            group = require_group(call.state, sub, call.params["group"])
            prefix = f"/subscriptions/{sub}/resourceGroups/{group}/"
        else:
            require_subscription(call.state, sub)
            prefix = f"/subscriptions/{sub}/"
        found = [r for r in resources_of_type(call.state, resource_type) if _under(r, prefix)]
        return ArmReply(200, page(call, found))

    return handler


def list_blob_services(call: ArmCall) -> ArmReply:
    """The account's blob services: ``default`` alone, and, as ARM's list, never paged."""
    prefix = f"{_account_id(call)}/blobServices/"
    return ArmReply(
        200, {"value": [r for r in resources_of_type(call.state, BLOB_SERVICE_TYPE) if _under(r, prefix)]}
    )


def list_containers(call: ArmCall) -> ArmReply:
    """The account's blob containers, each as ARM lists one (without its legal hold and immutability
    policy, which only a GET of the container shows); paged."""
    prefix = f"{_account_id(call)}/blobServices/default/containers/"
    found = [r for r in resources_of_type(call.state, CONTAINER_TYPE) if _under(r, prefix)]
    return ArmReply(200, page(call, [container_list_item(c) for c in found]))


def container_list_item(container: JsonObject) -> JsonObject:
    """A container as the container list shows it: its GET body less ``legalHold`` and
    ``immutabilityPolicy``."""
    properties = container.get("properties")
    if not isinstance(properties, dict):
        return container
    listed = {k: v for k, v in properties.items() if k not in ("legalHold", "immutabilityPolicy")}
    return {**container, "properties": listed}


def _account_id(call: ArmCall) -> str:
    """The id of the storage account the path names, which must exist (else ARM's 404)."""
    p = call.params
    group_id = f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}"
    account_id = f"{group_id}/providers/{STORAGE_TYPE}/{p['account']}"
    return str(require_resource(call.state, account_id)["id"])


def _under(resource: JsonObject, prefix: str) -> bool:
    return str(resource["id"]).lower().startswith(prefix.lower())


def list_role_assignments(call: ArmCall) -> ArmReply:
    """Role assignments at, above and below the scope; ``$filter=principalId eq '…'`` keeps one principal's,
    ``$filter=atScope()`` those at and above the scope (everyone's); paged."""
    scope = call.params["scope"]
    require_scope(call.state, scope)
    assignments = assignments_touching(call.state, scope)
    wanted = call.query.get("$filter", "")
    if wanted and _AT_SCOPE.match(wanted):  # at the scope and above it only
        assignments = [a for a in assignments if scope_contains(assignment_scope(a), scope)]
    elif wanted:
        match = _PRINCIPAL_FILTER.match(wanted)
        if match is None:
            raise ArmFault(
                400,
                "InvalidQueryParameterValue",
                "The sandbox understands only $filter=principalId eq '<object id>' and $filter=atScope().",
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


def _extension_scope(body: JsonObject, marker: str) -> str:
    """The scope an extension resource's id extends (what comes before ``/providers/<its type>/``)."""
    extension_id: str = body["id"]
    return extension_id[: extension_id.lower().rfind(marker)]


def _one_extension(call: ArmCall, collection: str, code: str, what: str, param: str) -> ArmReply:
    """GET of one extension resource (a lock, a diagnostic setting): the request path is its id."""
    require_scope(call.state, call.params["scope"])
    wanted = call.path.lower()
    for body in call.state.get(collection, []):
        if body["id"].lower() == wanted:
            return ArmReply(200, body)
    raise ArmFault(404, code, f"The {what} '{call.params[param]}' could not be found.")


_LOCKS = "/providers/microsoft.authorization/locks/"
_DIAGNOSTIC_SETTINGS = "/providers/microsoft.insights/diagnosticsettings/"


def _extensions_at(call: ArmCall, collection: str, marker: str, *, below: bool) -> list[JsonObject]:
    """The extension resources of ``collection`` at the request's scope (and, ``below``, under it)."""
    scope = call.params["scope"]
    require_scope(call.state, scope)
    wanted = scope.rstrip("/").lower()
    bodies: list[JsonObject] = call.state.get(collection, [])
    if not below:  # a fleet's clusters each ask for their own
        scoped = positions(collection, bodies, lambda body: _extension_scope(body, marker).lower())
        return [bodies[n] for n in scoped.get(wanted, [])]
    found: list[JsonObject] = []
    for body in bodies:
        at = _extension_scope(body, marker).lower()
        if at == wanted or at.startswith(wanted + "/"):
            found.append(body)
    return found


def list_locks(call: ArmCall) -> ArmReply:
    """The management locks at the scope and below it (a subscription's list holds those of its
    resource groups and resources, ManagementLocks_ListAtSubscriptionLevel); paged."""
    return ArmReply(200, page(call, _extensions_at(call, "locks", _LOCKS, below=True)))


def get_lock(call: ArmCall) -> ArmReply:
    return _one_extension(call, "locks", "LockNotFound", "lock", "lock")


def list_diagnostic_settings(call: ArmCall) -> ArmReply:
    """The diagnostic settings of exactly this resource (DiagnosticSettings_List): one page, no
    ``nextLink``, as the service answers."""
    return ArmReply(
        200, {"value": _extensions_at(call, "diagnostic_settings", _DIAGNOSTIC_SETTINGS, below=False)}
    )


def get_diagnostic_setting(call: ArmCall) -> ArmReply:
    return _one_extension(call, "diagnostic_settings", "ResourceNotFound", "diagnostic setting", "setting")


def list_diagnostic_categories(call: ArmCall) -> ArmReply:
    """The log and metric categories a resource offers its diagnostic settings
    (DiagnosticSettingsCategory_List); a subscription or group offers none here."""
    scope = call.params["scope"]
    require_scope(call.state, scope)
    resource = find_resource(call.state, scope)
    kind = resource.get("type") if resource is not None else None
    return ArmReply(200, {"value": log_categories(scope, kind) if isinstance(kind, str) else []})


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
