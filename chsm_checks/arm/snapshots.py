"""Typed, read-only snapshots of the ARM resources the checks read.

Parsing keeps what the service really sends (nulls, absent fields, the spec's literal ``"null"``
activation state): a snapshot keeps unknown values as they came, and ``None`` means the service
did not say. What "did not say" implies is the checks' business, not the parser's.

What the parser cannot read as ARM means it — a body with no ``properties`` object, a property of
the wrong JSON type, a list entry that is not an object — is never turned into "did not say": it is
noted in the snapshot's ``problems`` under the field's path (``properties.allowSharedKeyAccess``),
and a check that judges that field ends as an *error* naming the resource and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACTIVATION_STATES = ("NotDefined", "NotActivated", "Active", "Failed", "Unknown")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return "null" if value is None else type(value).__name__


class _Body:
    """One ARM body, read field by field; every field that is not of its JSON type is noted."""

    def __init__(self, data: Any, *, properties: bool = True) -> None:
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        self.problems: dict[str, str] = {}
        if not isinstance(data, Mapping):
            self.problems[""] = f"the body is {_json_type(data)}, not an ARM resource object"
        elif properties and not isinstance(data.get("properties"), Mapping):
            # Every ARM resource has its properties object: a body without one is not the resource
            # as ARM means it, whichever of its fields a check judges.
            found = data.get("properties")
            self.problems[""] = (
                "properties is absent"
                if found is None
                else f"properties is {_json_type(found)}, not an object"
            )

    def _at(self, node: Any, path: str) -> Any:
        """The value at the dotted ``path`` under ``node``; ``None`` where a parent is missing."""
        current: Any = node
        walked: list[str] = []
        for key in path.split("."):
            if current is None:
                return None
            if not isinstance(current, Mapping):
                if walked:
                    self.problems.setdefault(".".join(walked), f"is {_json_type(current)}, not an object")
                return None
            walked.append(key)
            current = current.get(key)
        return current

    def _typed(self, path: str, value: Any, kinds: tuple[type, ...], name: str) -> Any:
        if value is None:
            return None
        if isinstance(value, kinds) and not (bool not in kinds and isinstance(value, bool)):
            return value
        self.problems.setdefault(path, f"is {_json_type(value)}, not {name}")
        return None

    def text(self, path: str, node: Any = None, prefix: str = "") -> str | None:
        value = self._at(self.data if node is None else node, path)
        found = self._typed(prefix + path, value, (str,), "a string")
        return found if isinstance(found, str) else None

    def flag(self, path: str) -> bool | None:
        found = self._typed(path, self._at(self.data, path), (bool,), "a boolean")
        return found if isinstance(found, bool) else None

    def objects(self, path: str, node: Any = None, prefix: str = "") -> list[tuple[str, Mapping[str, Any]]]:
        """The objects of the array at ``path``, each with its own path (``…[2]``)."""
        value = self._at(self.data if node is None else node, path)
        items = self._typed(prefix + path, value, (list,), "an array") or []
        found = []
        for n, item in enumerate(items):
            where = f"{prefix}{path}[{n}]"
            if isinstance(item, Mapping):
                found.append((where, item))
            else:
                self.problems.setdefault(where, f"is {_json_type(item)}, not an object")
        return found

    def strings(self, path: str, node: Any, prefix: str) -> tuple[str, ...]:
        value = self._at(node, path)
        items = self._typed(prefix + path, value, (list,), "an array") or []
        found = []
        for n, item in enumerate(items):
            if isinstance(item, str):
                found.append(item)
            else:
                self.problems.setdefault(f"{prefix}{path}[{n}]", f"is {_json_type(item)}, not a string")
        return tuple(found)

    def number(self, path: str) -> int | None:
        """A whole number (a JSON integer; ``7.0`` is not one)."""
        found = self._typed(path, self._at(self.data, path), (int,), "a whole number")
        return found if isinstance(found, int) else None

    def mapping(self, path: str) -> Mapping[str, Any]:
        value = self._typed(path, self._at(self.data, path), (Mapping,), "an object")
        return value if isinstance(value, Mapping) else {}


def problem_with(problems: Mapping[str, str], field_path: str) -> str | None:
    """The problem that stops ``field_path`` from being read: the field's own, an enclosing
    object's (``properties`` absent) or a part's (an entry of a judged array), as one phrase."""
    for path, problem in problems.items():
        if (
            path == ""
            or path == field_path
            or field_path.startswith(path + ".")
            or path.startswith((field_path + ".", field_path + "["))
        ):
            return problem if path == "" else f"{path} {problem}"
    return None


def id_segment(resource_id: str, key: str) -> str:
    """The segment after ``key`` in an ARM id (``subscriptions``, ``resourceGroups``, any case), or
    "" when the id has none."""
    parts = resource_id.strip("/").split("/")
    lowered = [part.lower() for part in parts]
    at = lowered.index(key.lower()) + 1 if key.lower() in lowered else len(parts)
    return parts[at] if at < len(parts) else ""


def same_resource(a: str, b: str) -> bool:
    """Whether two ARM ids name the same resource (case-insensitive, trailing slashes ignored)."""
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


@dataclass(frozen=True)
class HsmNode:
    fqdn: str | None
    state: str | None
    state_message: str | None


@dataclass(frozen=True)
class ClusterIdentity:
    """A user-assigned identity as the cluster lists it (ids may be null on the live service)."""

    resource_id: str
    principal_id: str | None
    client_id: str | None


@dataclass(frozen=True)
class ClusterSnapshot:
    id: str
    name: str
    location: str | None
    provisioning_state: str | None
    activation_state: str | None
    sku_family: str | None
    sku_name: str | None
    identity_type: str | None
    identities: tuple[ClusterIdentity, ...]
    hsms: tuple[HsmNode, ...]
    public_network_access: str | None
    # The cluster's private endpoint connections, as the cluster lists them.
    private_endpoint_connections: tuple[EndpointConnection, ...] = ()
    problems: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> ClusterSnapshot:
        body = _Body(data)
        uai = body.mapping("identity.userAssignedIdentities")
        identities = []
        for rid, value in uai.items():
            where = f"identity.userAssignedIdentities.{rid}"
            if value is not None and not isinstance(value, Mapping):
                body.problems.setdefault(where, f"is {_json_type(value)}, not an object")
                continue
            identities.append(
                ClusterIdentity(
                    rid,
                    body.text("principalId", value or {}, where + "."),
                    body.text("clientId", value or {}, where + "."),
                )
            )
        hsms = tuple(
            HsmNode(
                body.text("fqdn", h, where + "."),
                body.text("state", h, where + "."),
                body.text("stateMessage", h, where + "."),
            )
            for where, h in body.objects("properties.hsms")
        )
        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            location=body.text("location"),
            provisioning_state=body.text("properties.provisioningState"),
            activation_state=body.text("properties.activationState"),
            sku_family=body.text("sku.family"),
            sku_name=body.text("sku.name"),
            identity_type=body.text("identity.type"),
            identities=tuple(identities),
            hsms=hsms,
            public_network_access=body.text("properties.publicNetworkAccess"),
            private_endpoint_connections=_connections(body),
            problems=body.problems,
        )


@dataclass(frozen=True)
class IdentitySnapshot:
    id: str
    name: str
    principal_id: str | None
    client_id: str | None
    tenant_id: str | None
    problems: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> IdentitySnapshot:
        body = _Body(data)
        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            principal_id=body.text("properties.principalId"),
            client_id=body.text("properties.clientId"),
            tenant_id=body.text("properties.tenantId"),
            problems=body.problems,
        )


@dataclass(frozen=True)
class EndpointConnection:
    """A private endpoint connection as the storage account lists it."""

    private_endpoint_id: str | None
    status: str | None


@dataclass(frozen=True)
class ResourceAccessRule:
    """A resource instance the account's firewall lets in, whatever the network rules say."""

    tenant_id: str | None
    resource_id: str | None


@dataclass(frozen=True)
class StorageAccountSnapshot:
    id: str
    name: str
    kind: str | None
    sku_name: str | None
    allow_shared_key_access: bool | None
    public_network_access: str | None
    network_default_action: str | None
    network_bypass: str | None
    virtual_network_subnets: tuple[str, ...]
    ip_rules: tuple[str, ...]
    minimum_tls_version: str | None
    https_only: bool | None
    allow_blob_public_access: bool | None
    allow_cross_tenant_replication: bool | None
    private_endpoint_connections: tuple[EndpointConnection, ...]
    blob_endpoint: str | None = None
    resource_access_rules: tuple[ResourceAccessRule, ...] = ()
    problems: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> StorageAccountSnapshot:
        body = _Body(data)
        acls = "properties.networkAcls"
        body.mapping(acls)  # notes a networkAcls that is not an object
        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            kind=body.text("kind"),
            sku_name=body.text("sku.name"),
            allow_shared_key_access=body.flag("properties.allowSharedKeyAccess"),
            public_network_access=body.text("properties.publicNetworkAccess"),
            network_default_action=body.text(f"{acls}.defaultAction"),
            network_bypass=body.text(f"{acls}.bypass"),
            virtual_network_subnets=tuple(
                s
                for where, r in body.objects(f"{acls}.virtualNetworkRules")
                if (s := _required(body, r, where, "id"))
            ),
            ip_rules=tuple(
                s for where, r in body.objects(f"{acls}.ipRules") if (s := _required(body, r, where, "value"))
            ),
            resource_access_rules=tuple(
                ResourceAccessRule(
                    body.text("tenantId", r, where + "."), body.text("resourceId", r, where + ".")
                )
                for where, r in body.objects(f"{acls}.resourceAccessRules")
            ),
            minimum_tls_version=body.text("properties.minimumTlsVersion"),
            https_only=body.flag("properties.supportsHttpsTrafficOnly"),
            allow_blob_public_access=body.flag("properties.allowBlobPublicAccess"),
            allow_cross_tenant_replication=body.flag("properties.allowCrossTenantReplication"),
            private_endpoint_connections=_connections(body),
            blob_endpoint=body.text("properties.primaryEndpoints.blob"),
            problems=body.problems,
        )


def _connections(body: _Body) -> tuple[EndpointConnection, ...]:
    """The ``properties.privateEndpointConnections`` a resource lists (a cluster, a storage account)."""
    return tuple(
        EndpointConnection(
            body.text("properties.privateEndpoint.id", c, where + "."),
            body.text("properties.privateLinkServiceConnectionState.status", c, where + "."),
        )
        for where, c in body.objects("properties.privateEndpointConnections")
    )


def _required(body: _Body, node: Mapping[str, Any], where: str, key: str) -> str | None:
    """A list entry's identifying string: an entry without it cannot be judged, and is noted."""
    value = body.text(key, node, where + ".")
    if value is None and f"{where}.{key}" not in body.problems:
        body.problems[f"{where}.{key}"] = "is absent"
    return value


@dataclass(frozen=True)
class RetentionPolicy:
    """A soft-delete retention policy of a blob service: on or off, and for how many days."""

    enabled: bool | None
    days: int | None


@dataclass(frozen=True)
class BlobServiceSnapshot:
    """An account's ``blobServices/default``: what it keeps of deleted and overwritten blobs."""

    id: str
    name: str
    blob_soft_delete: RetentionPolicy
    container_soft_delete: RetentionPolicy
    versioning: bool | None
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def account_name(self) -> str:
        """The storage account this service belongs to (the id's segment before ``blobServices``)."""
        parts = self.id.rstrip("/").split("/")
        return parts[-3] if len(parts) >= 3 else self.id

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> BlobServiceSnapshot:
        body = _Body(data)

        def policy(key: str) -> RetentionPolicy:
            path = f"properties.{key}"
            body.mapping(path)  # notes a policy that is not an object
            return RetentionPolicy(body.flag(f"{path}.enabled"), body.number(f"{path}.days"))

        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            blob_soft_delete=policy("deleteRetentionPolicy"),
            container_soft_delete=policy("containerDeleteRetentionPolicy"),
            versioning=body.flag("properties.isVersioningEnabled"),
            problems=body.problems,
        )


@dataclass(frozen=True)
class ContainerSnapshot:
    id: str
    name: str
    public_access: str | None
    # Time-based retention (``immutabilityPolicy``, its state Locked or Unlocked) and version-level
    # immutability (``immutableStorageWithVersioning.enabled``), as the container reports them.
    has_immutability_policy: bool | None = None
    immutability_state: str | None = None
    immutability_days: int | None = None
    version_level_immutability: bool | None = None
    problems: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> ContainerSnapshot:
        body = _Body(data)
        policy = "properties.immutabilityPolicy.properties"
        body.mapping("properties.immutabilityPolicy")
        body.mapping("properties.immutableStorageWithVersioning")
        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            public_access=body.text("properties.publicAccess"),
            has_immutability_policy=body.flag("properties.hasImmutabilityPolicy"),
            immutability_state=body.text(f"{policy}.state"),
            immutability_days=body.number(f"{policy}.immutabilityPeriodSinceCreationInDays"),
            version_level_immutability=body.flag("properties.immutableStorageWithVersioning.enabled"),
            problems=body.problems,
        )


@dataclass(frozen=True)
class LinkConnection:
    """A private link service connection of a private endpoint."""

    service_id: str | None
    group_ids: tuple[str, ...]
    status: str | None
    manual: bool


@dataclass(frozen=True)
class PrivateEndpointSnapshot:
    id: str
    name: str
    subnet_id: str | None
    connections: tuple[LinkConnection, ...]
    problems: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> PrivateEndpointSnapshot:
        body = _Body(data)

        def links(key: str, manual: bool) -> list[LinkConnection]:
            return [
                LinkConnection(
                    body.text("properties.privateLinkServiceId", c, where + "."),
                    body.strings("properties.groupIds", c, where + "."),
                    body.text("properties.privateLinkServiceConnectionState.status", c, where + "."),
                    manual,
                )
                for where, c in body.objects(f"properties.{key}")
            ]

        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            subnet_id=body.text("properties.subnet.id"),
            connections=tuple(
                links("privateLinkServiceConnections", False)
                + links("manualPrivateLinkServiceConnections", True)
            ),
            problems=body.problems,
        )


@dataclass(frozen=True)
class RoleAssignment:
    id: str
    role_definition_id: str
    principal_id: str | None
    principal_type: str | None
    scope: str | None
    condition: str | None = None
    condition_version: str | None = None
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def role_guid(self) -> str:
        """The role definition's GUID, lower-case: the part to compare (prefixes vary)."""
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> RoleAssignment:
        body = _Body(data)
        return cls(
            id=body.text("id") or "",
            role_definition_id=body.text("properties.roleDefinitionId") or "",
            principal_id=body.text("properties.principalId"),
            principal_type=body.text("properties.principalType"),
            scope=body.text("properties.scope"),
            condition=body.text("properties.condition"),
            condition_version=body.text("properties.conditionVersion"),
            problems=body.problems,
        )


@dataclass(frozen=True)
class Permission:
    """One ``permissions`` entry of a role definition: what it allows, less what it excludes."""

    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    data_actions: tuple[str, ...]
    not_data_actions: tuple[str, ...]


@dataclass(frozen=True)
class RoleDefinition:
    id: str
    name: str
    role_name: str | None
    role_type: str | None  # BuiltInRole or CustomRole
    permissions: tuple[Permission, ...]
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def guid(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1].lower()

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> RoleDefinition:
        body = _Body(data)
        permissions = tuple(
            Permission(
                body.strings("actions", p, where + "."),
                body.strings("notActions", p, where + "."),
                body.strings("dataActions", p, where + "."),
                body.strings("notDataActions", p, where + "."),
            )
            for where, p in body.objects("properties.permissions")
        )
        if not permissions and "properties.permissions" not in body.problems and not body.problems:
            body.problems["properties.permissions"] = "is absent or empty"
        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            role_name=body.text("properties.roleName"),
            role_type=body.text("properties.type"),
            permissions=permissions,
            problems=body.problems,
        )


_LOCKS_SEGMENT = "/providers/microsoft.authorization/locks/"


@dataclass(frozen=True)
class ManagementLock:
    """A management lock (``Microsoft.Authorization/locks``): its level and the scope it locks."""

    id: str
    name: str
    level: str | None  # CanNotDelete, ReadOnly (NotSpecified is accepted by ARM and locks nothing)
    notes: str | None
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def scope(self) -> str | None:
        """The subscription, resource group or resource the lock applies to: its id before the
        ``/providers/Microsoft.Authorization/locks/`` segment."""
        at = self.id.lower().rfind(_LOCKS_SEGMENT)
        return self.id[:at] if at > 0 else None

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> ManagementLock:
        body = _Body(data)
        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            level=body.text("properties.level"),
            notes=body.text("properties.notes"),
            problems=body.problems,
        )


@dataclass(frozen=True)
class LogSetting:
    """One ``logs`` entry of a diagnostic setting: a category, or a category group, on or off."""

    category: str | None
    category_group: str | None
    enabled: bool | None


@dataclass(frozen=True)
class DiagnosticSetting:
    """A diagnostic setting (``Microsoft.Insights/diagnosticSettings``) of one resource."""

    id: str
    name: str
    workspace_id: str | None
    storage_account_id: str | None
    event_hub_rule_id: str | None
    logs: tuple[LogSetting, ...]
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def destinations(self) -> tuple[str, ...]:
        """Where it sends what it keeps: a Log Analytics workspace, a storage account, an event hub."""
        named = (
            ("Log Analytics workspace", self.workspace_id),
            ("storage account", self.storage_account_id),
            ("event hub", self.event_hub_rule_id),
        )
        return tuple(f"{kind} {value.rstrip('/').rsplit('/', 1)[-1]}" for kind, value in named if value)

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> DiagnosticSetting:
        body = _Body(data)
        return cls(
            id=body.text("id") or "",
            name=body.text("name") or "",
            workspace_id=body.text("properties.workspaceId"),
            storage_account_id=body.text("properties.storageAccountId"),
            event_hub_rule_id=body.text("properties.eventHubAuthorizationRuleId"),
            logs=tuple(
                LogSetting(
                    body.text("category", entry, where + "."),
                    body.text("categoryGroup", entry, where + "."),
                    _flag_in(body, entry, where, "enabled"),
                )
                for where, entry in body.objects("properties.logs")
            ),
            problems=body.problems,
        )


@dataclass(frozen=True)
class DiagnosticCategory:
    """A category of resource logs or metrics a resource offers, and the groups it belongs to."""

    name: str
    category_type: str | None  # Logs or Metrics
    groups: tuple[str, ...]
    problems: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> DiagnosticCategory:
        body = _Body(data)
        properties = body.data.get("properties")
        return cls(
            name=body.text("name") or "",
            category_type=body.text("properties.categoryType"),
            groups=body.strings(
                "categoryGroups", properties if isinstance(properties, Mapping) else {}, "properties."
            ),
            problems=body.problems,
        )


def _flag_in(body: _Body, node: Mapping[str, Any], where: str, key: str) -> bool | None:
    found = body._typed(f"{where}.{key}", node.get(key), (bool,), "a boolean")
    return found if isinstance(found, bool) else None


@dataclass(frozen=True)
class ActivityEvent:
    """One event of the Azure activity log (``Microsoft.Insights/eventtypes/management/values``): an
    operation on a resource, at a time, with its status (Started, Accepted, Succeeded, Failed, …)."""

    event_data_id: str
    correlation_id: str | None
    operation_name: str | None
    status: str | None
    event_timestamp: datetime | None
    resource_id: str | None
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.event_data_id

    @property
    def name(self) -> str:
        return self.event_data_id

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> ActivityEvent:
        # An event is no ARM resource: its fields are at the top, and the harness selects no properties.
        body = _Body(data, properties=False)
        stamp = body.text("eventTimestamp")
        moment = None
        if stamp is not None:
            moment = parse_arm_time(stamp)
            if moment is None:
                body.problems.setdefault("eventTimestamp", f"is {stamp!r}, not an ISO 8601 time")
        return cls(
            event_data_id=body.text("eventDataId") or "",
            correlation_id=body.text("correlationId"),
            operation_name=body.text("operationName.value"),
            status=body.text("status.value"),
            event_timestamp=moment,
            resource_id=body.text("resourceId"),
            problems=body.problems,
        )


def arm_instant(moment: datetime) -> str:
    """``moment`` in UTC to the second, as ARM filters and the reports write it: ``2025-06-16T09:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_arm_time(text: str) -> datetime | None:
    """An ARM timestamp (``2025-06-16T09:00:00.2500000Z``, up to seven fractional digits) in UTC."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})", text)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    micros = int((fraction or "0").ljust(7, "0")[:6])
    return moment.astimezone(UTC).replace(microsecond=micros)
