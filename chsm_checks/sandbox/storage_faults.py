"""Single faults of a cluster's backup storage: the account's settings, its endpoint, the identity's role.

Each takes the state, the storage account to spoil and the seed. The named profiles apply one to the
seeded backup account (:mod:`.profiles`); the fleet applies them in turn to its faulty clusters' accounts
(:mod:`.fleet`). The names are the profiles' names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.roles import role_guid
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import OWNER, STORAGE_BLOB_DATA_CONTRIBUTOR, find_resource

StorageFault = Callable[[JsonObject, JsonObject, int], None]


def _contributor_assignment(state: JsonObject, account: JsonObject) -> JsonObject:
    """The Storage Blob Data Contributor assignment on ``account``, which the cluster needs."""
    return next(
        a
        for a in state["role_assignments"]
        if a["properties"]["scope"] == account["id"]
        and role_guid(a["properties"]["roleDefinitionId"]) == STORAGE_BLOB_DATA_CONTRIBUTOR
    )


def _shared_key_default(state: JsonObject, account: JsonObject, seed: int) -> None:
    # Absent means allowed: the account was created without ever turning shared keys off.
    del account["properties"]["allowSharedKeyAccess"]


def _endpoint_pending(state: JsonObject, account: JsonObject, seed: int) -> None:
    # Storage and Network each report the connection; a real pending one reads Pending on both sides.
    for connection in account["properties"]["privateEndpointConnections"]:
        connection["properties"]["privateLinkServiceConnectionState"]["status"] = "Pending"
        endpoint = find_resource(state, connection["properties"]["privateEndpoint"]["id"])
        assert endpoint is not None, "every seeded account has an endpoint behind each connection"
        for link in endpoint["properties"]["privateLinkServiceConnections"]:
            if link["properties"]["privateLinkServiceId"] == account["id"]:
                link["properties"]["privateLinkServiceConnectionState"]["status"] = "Pending"


def _public_network_open(state: JsonObject, account: JsonObject, seed: int) -> None:
    properties = account["properties"]
    properties["publicNetworkAccess"] = "Enabled"
    properties["networkAcls"]["defaultAction"] = "Allow"


def _role_other_principal(state: JsonObject, account: JsonObject, seed: int) -> None:
    _contributor_assignment(state, account)["properties"]["principalId"] = sandbox_guid(seed, "principal", 9)


def _owner_instead_of_contributor(state: JsonObject, account: JsonObject, seed: int) -> None:
    properties = _contributor_assignment(state, account)["properties"]
    prefix = properties["roleDefinitionId"].rsplit("/", 1)[0]
    properties["roleDefinitionId"] = f"{prefix}/{OWNER}"


def _tls_1_0(state: JsonObject, account: JsonObject, seed: int) -> None:
    account["properties"]["minimumTlsVersion"] = "TLS1_0"


STORAGE_FAULTS: Mapping[str, StorageFault] = MappingProxyType(
    {
        "shared-key-default": _shared_key_default,
        "endpoint-pending": _endpoint_pending,
        "public-network-open": _public_network_open,
        "role-other-principal": _role_other_principal,
        "owner-instead-of-contributor": _owner_instead_of_contributor,
        "tls-1-0": _tls_1_0,
    }
)
"""The faults by profile name, in the order the fleet cycles through them."""
