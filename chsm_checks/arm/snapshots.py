"""Typed, read-only snapshots of the ARM resources the checks read.

Parsing is tolerant of what the service really sends (nulls, absent fields, the spec's literal
``"null"`` activation state): a snapshot keeps unknown values as they came, and ``None`` means the
service did not say. Deciding what "did not say" implies is the checks' business, not the parser's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACTIVATION_STATES = ("NotDefined", "NotActivated", "Active", "Failed", "Unknown")


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _props(data: Mapping[str, Any]) -> Mapping[str, Any]:
    props = data.get("properties")
    return props if isinstance(props, Mapping) else {}


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

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> ClusterSnapshot:
        props = _props(data)
        uai = _get(data, "identity", "userAssignedIdentities")
        identities = tuple(
            ClusterIdentity(rid, _str(_get(v, "principalId")), _str(_get(v, "clientId")))
            for rid, v in (uai.items() if isinstance(uai, Mapping) else ())
        )
        hsms = tuple(
            HsmNode(_str(h.get("fqdn")), _str(h.get("state")), _str(h.get("stateMessage")))
            for h in _list(props.get("hsms"))
            if isinstance(h, Mapping)
        )
        return cls(
            id=_str(data.get("id")) or "",
            name=_str(data.get("name")) or "",
            location=_str(data.get("location")),
            provisioning_state=_str(props.get("provisioningState")),
            activation_state=_str(props.get("activationState")),
            sku_family=_str(_get(data, "sku", "family")),
            sku_name=_str(_get(data, "sku", "name")),
            identity_type=_str(_get(data, "identity", "type")),
            identities=identities,
            hsms=hsms,
            public_network_access=_str(props.get("publicNetworkAccess")),
        )


@dataclass(frozen=True)
class IdentitySnapshot:
    id: str
    name: str
    principal_id: str | None
    client_id: str | None
    tenant_id: str | None

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> IdentitySnapshot:
        props = _props(data)
        return cls(
            id=_str(data.get("id")) or "",
            name=_str(data.get("name")) or "",
            principal_id=_str(props.get("principalId")),
            client_id=_str(props.get("clientId")),
            tenant_id=_str(props.get("tenantId")),
        )


@dataclass(frozen=True)
class EndpointConnection:
    """A private endpoint connection as the storage account lists it."""

    private_endpoint_id: str | None
    status: str | None


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

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> StorageAccountSnapshot:
        props = _props(data)
        raw_acls = props.get("networkAcls")
        acls: Mapping[str, Any] = raw_acls if isinstance(raw_acls, Mapping) else {}
        return cls(
            id=_str(data.get("id")) or "",
            name=_str(data.get("name")) or "",
            kind=_str(data.get("kind")),
            sku_name=_str(_get(data, "sku", "name")),
            allow_shared_key_access=_bool(props.get("allowSharedKeyAccess")),
            public_network_access=_str(props.get("publicNetworkAccess")),
            network_default_action=_str(acls.get("defaultAction")),
            network_bypass=_str(acls.get("bypass")),
            virtual_network_subnets=tuple(
                s for r in _list(acls.get("virtualNetworkRules")) if (s := _str(_get(r, "id")))
            ),
            ip_rules=tuple(s for r in _list(acls.get("ipRules")) if (s := _str(_get(r, "value")))),
            minimum_tls_version=_str(props.get("minimumTlsVersion")),
            https_only=_bool(props.get("supportsHttpsTrafficOnly")),
            allow_blob_public_access=_bool(props.get("allowBlobPublicAccess")),
            allow_cross_tenant_replication=_bool(props.get("allowCrossTenantReplication")),
            private_endpoint_connections=tuple(
                EndpointConnection(
                    _str(_get(c, "properties", "privateEndpoint", "id")),
                    _str(_get(c, "properties", "privateLinkServiceConnectionState", "status")),
                )
                for c in _list(props.get("privateEndpointConnections"))
            ),
            blob_endpoint=_str(_get(props, "primaryEndpoints", "blob")),
        )


@dataclass(frozen=True)
class ContainerSnapshot:
    id: str
    name: str
    public_access: str | None

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> ContainerSnapshot:
        return cls(
            id=_str(data.get("id")) or "",
            name=_str(data.get("name")) or "",
            public_access=_str(_props(data).get("publicAccess")),
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

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> PrivateEndpointSnapshot:
        props = _props(data)

        def links(key: str, manual: bool) -> list[LinkConnection]:
            return [
                LinkConnection(
                    _str(_get(c, "properties", "privateLinkServiceId")),
                    tuple(g for g in _list(_get(c, "properties", "groupIds")) if isinstance(g, str)),
                    _str(_get(c, "properties", "privateLinkServiceConnectionState", "status")),
                    manual,
                )
                for c in _list(props.get(key))
            ]

        return cls(
            id=_str(data.get("id")) or "",
            name=_str(data.get("name")) or "",
            subnet_id=_str(_get(props, "subnet", "id")),
            connections=tuple(
                links("privateLinkServiceConnections", False)
                + links("manualPrivateLinkServiceConnections", True)
            ),
        )


@dataclass(frozen=True)
class RoleAssignment:
    id: str
    role_definition_id: str
    principal_id: str | None
    principal_type: str | None
    scope: str | None

    @property
    def role_guid(self) -> str:
        """The role definition's GUID, lower-case: the part to compare (prefixes vary)."""
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()

    @classmethod
    def from_arm(cls, data: Mapping[str, Any]) -> RoleAssignment:
        props = _props(data)
        return cls(
            id=_str(data.get("id")) or "",
            role_definition_id=_str(props.get("roleDefinitionId")) or "",
            principal_id=_str(props.get("principalId")),
            principal_type=_str(props.get("principalType")),
            scope=_str(props.get("scope")),
        )
