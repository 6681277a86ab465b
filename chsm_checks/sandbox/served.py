"""The resource types the sandbox serves, where each lives in the state, and what a body of one must be.

:data:`SERVED_TYPES` is the one table the control API (:mod:`.control_arm`) works from: serving a new
type is one entry here plus its ARM route in :mod:`.app`.
A body is stored as ARM returns it; the sandbox insists only on what keeps the store consistent: a JSON
object whose ``id``, ``name`` and ``type`` agree with the path, placed where ARM would let it be.
Everything else may be as broken as a test needs, and the sandbox's own logic reads it defensively.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from chsm_checks.sandbox.hsm_state import activate, seed_hsm_cluster
from chsm_checks.sandbox.roles import builtin_at, builtin_role
from chsm_checks.sandbox.wire import ArmFault, JsonObject
from chsm_checks.sandbox.world import (
    BLOB_SERVICE_TYPE,
    CLUSTER_TYPE,
    CONTAINER_TYPE,
    DIAGNOSTIC_SETTING_TYPE,
    IDENTITY_TYPE,
    LOCK_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    ROLE_ASSIGNMENT_TYPE,
    ROLE_DEFINITION_TYPE,
    STORAGE_TYPE,
    blob_service_resource,
    find_resource,
    properties_of,
    require_group,
    require_scope,
)

# "resource group": a tracked resource, /subscriptions/…/resourceGroups/…/providers/…;
# "scope": an extension resource of a subscription, a resource group or a stored resource;
# "scope or tenant": the same, or of the tenant root (/providers/…).
Placement = Literal["resource group", "scope", "scope or tenant"]
Hook = Callable[[JsonObject, JsonObject], None]


@dataclass(frozen=True)
class ResourceId:
    """A parsed ARM resource id: the scope it extends ("" for the tenant root), its type and name."""

    id: str
    scope: str
    type: str
    name: str
    top_level: str  # the id of the top-level resource it is nested in, or its own id

    @property
    def nested(self) -> bool:
        """Whether the resource is a child of another (a container of an account)."""
        return self.top_level != self.id


@dataclass(frozen=True)
class ServedType:
    """One resource type the sandbox serves.

    ``collection`` is the state key holding its bodies. ``by_name`` types are one per name in the whole
    tenant (role definitions, whose GUID is their name), else one per id. ``built_in`` gives what is
    served at an id when nothing is stored there. ``placed`` runs after a PUT creates a body, ``removed``
    after a DELETE; both take the state and the body.
    """

    type: str
    collection: str
    placement: Placement
    not_found: str = "ResourceNotFound"
    by_name: bool = False
    built_in: Callable[[ResourceId], JsonObject | None] | None = None
    placed: Hook | None = None
    removed: Hook | None = None

    def find(self, state: JsonObject, rid: ResourceId) -> int | None:
        """The index in the collection of the body stored for ``rid``, if any."""
        field, wanted = ("name", rid.name.lower()) if self.by_name else ("id", rid.id.lower())
        for index, body in enumerate(state.get(self.collection, [])):
            if body[field].lower() == wanted:
                return index
        return None


def _give_hsm_contents(state: JsonObject, cluster: JsonObject) -> None:
    """A cluster new to the sandbox gets a fresh cluster's HSM contents, when its body names its HSMs."""
    hsms: Any = properties_of(cluster).get("hsms")
    if cluster["id"] in state["hsm"] or not isinstance(hsms, list) or not hsms:
        return
    if not all(isinstance(hsm, dict) and isinstance(hsm.get("fqdn"), str) for hsm in hsms):
        return
    # The address block is cosmetic (the utilities print it); 100 and up stay clear of the seeded ones.
    subnet = 100 + len(state["hsm"]) % 150
    contents = seed_hsm_cluster(int(state["settings"]["seed"]), cluster, subnet, populated=False)
    if properties_of(cluster).get("activationState") == "Active":
        activate(contents)
    state["hsm"][cluster["id"]] = contents


def _drop_hsm_contents(state: JsonObject, cluster: JsonObject) -> None:
    state["hsm"].pop(cluster["id"], None)


def _give_blob_service(state: JsonObject, account: JsonObject) -> None:
    """A storage account new to the sandbox has its ``default`` blob service, as every account on ARM has."""
    if find_resource(state, f"{account['id']}/blobServices/default") is None:
        sku = account.get("sku")
        name = sku.get("name") if isinstance(sku, dict) else None
        state["resources"].append(
            blob_service_resource(account["id"], name if isinstance(name, str) and name else "Standard_GRS")
        )


def _built_in_role(rid: ResourceId) -> JsonObject | None:
    role = builtin_role(rid.name)
    return None if role is None else builtin_at(role, rid.scope)


SERVED_TYPES: Mapping[str, ServedType] = MappingProxyType(
    {
        served.type.lower(): served
        for served in (
            ServedType(
                CLUSTER_TYPE,
                "resources",
                "resource group",
                placed=_give_hsm_contents,
                removed=_drop_hsm_contents,
            ),
            ServedType(IDENTITY_TYPE, "resources", "resource group"),
            ServedType(STORAGE_TYPE, "resources", "resource group", placed=_give_blob_service),
            ServedType(BLOB_SERVICE_TYPE, "resources", "resource group"),
            ServedType(CONTAINER_TYPE, "resources", "resource group"),
            ServedType(PRIVATE_ENDPOINT_TYPE, "resources", "resource group"),
            ServedType(ROLE_ASSIGNMENT_TYPE, "role_assignments", "scope", not_found="RoleAssignmentNotFound"),
            ServedType(LOCK_TYPE, "locks", "scope", not_found="LockNotFound"),
            ServedType(DIAGNOSTIC_SETTING_TYPE, "diagnostic_settings", "scope"),
            ServedType(
                ROLE_DEFINITION_TYPE,
                "role_definitions",
                "scope or tenant",
                not_found="RoleDefinitionDoesNotExist",
                by_name=True,
                built_in=_built_in_role,
            ),
        )
    }
)


def parse_resource_id(path: str) -> ResourceId:
    """Parse ``/[scope/]providers/<namespace>/<type>/<name>[/<type>/<name>…]``; 400 if it is none."""
    segments = path.strip("/").split("/")
    if path.strip("/") and all(segments):
        for start in range(len(segments) - 4, -1, -1):
            tail = len(segments) - start - 1  # the namespace, then type/name pairs
            if segments[start].lower() == "providers" and tail % 2 == 1:
                types = segments[start + 2 :: 2]
                names = segments[start + 3 :: 2]
                scope = "/" + "/".join(segments[:start]) if start else ""
                return ResourceId(
                    id="/" + "/".join(segments),
                    scope=scope,
                    type="/".join([segments[start + 1], *types]),
                    name=names[-1],
                    top_level="/" + "/".join(segments[: start + 4]),
                )
    raise ArmFault(
        400,
        "InvalidResourceId",
        f"'{path}' is not a resource id: the sandbox expects "
        "[<scope>]/providers/<namespace>/<type>/<name>[/<type>/<name>…].",
    )


def served_type(rid: ResourceId) -> ServedType:
    """The entry for the id's type, or 400 ``InvalidResourceType`` naming it and what is served."""
    served = SERVED_TYPES.get(rid.type.lower())
    if served is None:
        kinds = ", ".join(t.type for t in SERVED_TYPES.values())
        raise ArmFault(
            400,
            "InvalidResourceType",
            f"The sandbox does not serve resources of type '{rid.type}'; it serves {kinds}.",
            target="type",
        )
    return served


def require_placement(state: JsonObject, served: ServedType, rid: ResourceId) -> None:
    """Refuse an id where ARM would not have the resource: a group, parent or scope that is not there."""
    if served.placement == "resource group":
        parts = rid.scope.strip("/").split("/")
        if len(parts) != 4 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
            raise ArmFault(
                400, "InvalidResourceId", f"A {served.type} lies in a resource group; '{rid.id}' names none."
            )
        require_group(state, parts[1], parts[3])
        if rid.nested and find_resource(state, rid.top_level) is None:
            parent = rid.top_level.rsplit("/", 1)[1]
            raise ArmFault(
                404,
                "ParentResourceNotFound",
                "Can not perform requested operation on nested resource. "
                f"Parent resource '{parent}' not found.",
            )
    elif rid.scope or served.placement == "scope":
        if not rid.scope:
            raise ArmFault(
                400,
                "InvalidResourceId",
                f"The sandbox serves {served.type} only at and below a subscription.",
            )
        require_scope(state, rid.scope)


def settled_body(body: Any, rid: ResourceId, served: ServedType) -> JsonObject:
    """``body`` ready to store at ``rid``: a JSON object whose ``id``, ``name`` and ``type`` agree with the
    path, filled in from it where absent (then first, in ARM's order). 400 names the field at fault."""
    if not isinstance(body, dict):
        raise ArmFault(
            400, "InvalidRequestContent", "The body must be a JSON object: the resource as ARM returns it."
        )
    for field, wanted in (("id", rid.id), ("name", rid.name), ("type", served.type)):
        given = body.get(field)
        if given is not None and (not isinstance(given, str) or given.lower() != wanted.lower()):
            raise ArmFault(
                400,
                "InvalidRequestContent",
                f"The body's {field} {given!r} does not agree with the path, which names {wanted!r}.",
                target=field,
            )
    if all(body.get(field) is not None for field in ("id", "name", "type")):
        return body
    rest = {k: v for k, v in body.items() if k not in ("id", "name", "type")}
    return {
        "id": body.get("id") or rid.id,
        "name": body.get("name") or rid.name,
        "type": body.get("type") or served.type,
        **rest,
    }
