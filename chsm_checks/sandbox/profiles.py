"""Named environment profiles: the compliant world, or that world with exactly one fault in it.

Seeding builds the compliant world (:func:`.world.compliant_state`) and then applies the profile named
in the settings, so a profile is stored, reset and re-seeded like the seed itself. Each fault is one
a checker must find; the sandbox's jobs judge only roles and activation, so ``role-other-principal``,
``owner-instead-of-contributor`` and ``destination-active`` also change what a backup or restore does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from chsm_checks.sandbox.access import role_guid
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import (
    BACKUP_ACCOUNT,
    CLUSTER_TYPE,
    DEST_CLUSTER,
    IDENTITY,
    IDENTITY_TYPE,
    OWNER,
    SOURCE_CLUSTER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_TYPE,
    compliant_state,
    find_resource,
    identity_resource,
    resources_of_type,
)

if TYPE_CHECKING:
    from chsm_checks.sandbox.settings import SandboxSettings

EXTRA_IDENTITY = "id-chsm-extra"


@dataclass(frozen=True)
class Profile:
    """One named environment: ``apply`` turns a freshly seeded compliant state into it, in place."""

    name: str
    description: str
    apply: Callable[[JsonObject, int], None]


def seed_state(settings: SandboxSettings) -> JsonObject:
    """A fresh sandbox state for ``settings``: the same seed and profile always give the same state."""
    state = compliant_state(settings)
    PROFILES[settings.profile].apply(state, settings.seed)
    return state


def _named(state: JsonObject, resource_type: str, name: str) -> JsonObject:
    return next(r for r in resources_of_type(state, resource_type) if r["name"] == name)


def _backup_account(state: JsonObject) -> JsonObject:
    return _named(state, STORAGE_TYPE, BACKUP_ACCOUNT)


def _contributor_assignment(state: JsonObject) -> JsonObject:
    """The Storage Blob Data Contributor assignment on the backup account, which the cluster needs."""
    account_id = _backup_account(state)["id"]
    return next(
        a
        for a in state["role_assignments"]
        if a["properties"]["scope"] == account_id
        and role_guid(a["properties"]["roleDefinitionId"]) == STORAGE_BLOB_DATA_CONTRIBUTOR
    )


def _compliant(state: JsonObject, seed: int) -> None:
    """Nothing to change: the seeded world is the compliant one."""


def _shared_key_default(state: JsonObject, seed: int) -> None:
    # Absent means allowed: the account was created without ever turning shared keys off.
    del _backup_account(state)["properties"]["allowSharedKeyAccess"]


def _endpoint_pending(state: JsonObject, seed: int) -> None:
    # Storage and Network each report the connection; a real pending one reads Pending on both sides.
    account = _backup_account(state)
    for connection in account["properties"]["privateEndpointConnections"]:
        connection["properties"]["privateLinkServiceConnectionState"]["status"] = "Pending"
        endpoint = find_resource(state, connection["properties"]["privateEndpoint"]["id"])
        assert endpoint is not None, "the seeded world has an endpoint behind every connection"
        for link in endpoint["properties"]["privateLinkServiceConnections"]:
            if link["properties"]["privateLinkServiceId"] == account["id"]:
                link["properties"]["privateLinkServiceConnectionState"]["status"] = "Pending"


def _public_network_open(state: JsonObject, seed: int) -> None:
    properties = _backup_account(state)["properties"]
    properties["publicNetworkAccess"] = "Enabled"
    properties["networkAcls"]["defaultAction"] = "Allow"


def _role_other_principal(state: JsonObject, seed: int) -> None:
    _contributor_assignment(state)["properties"]["principalId"] = sandbox_guid(seed, "principal", 9)


def _owner_instead_of_contributor(state: JsonObject, seed: int) -> None:
    properties = _contributor_assignment(state)["properties"]
    prefix = properties["roleDefinitionId"].rsplit("/", 1)[0]
    properties["roleDefinitionId"] = f"{prefix}/{OWNER}"


def _two_identities(state: JsonObject, seed: int) -> None:
    existing = _named(state, IDENTITY_TYPE, IDENTITY)
    extra_id = existing["id"].rsplit("/", 1)[0] + f"/{EXTRA_IDENTITY}"
    # Principal 2 is the operator, who owns the subscription: reusing it would add a second fault.
    extra = identity_resource(
        extra_id,
        EXTRA_IDENTITY,
        sandbox_guid(seed, "principal", 3),
        sandbox_guid(seed, "client", 2),
        existing["properties"]["tenantId"],
    )
    state["resources"].insert(state["resources"].index(existing) + 1, extra)
    source = _named(state, CLUSTER_TYPE, SOURCE_CLUSTER)
    source["identity"]["userAssignedIdentities"][extra_id] = {"principalId": None, "clientId": None}


def _destination_active(state: JsonObject, seed: int) -> None:
    dest = _named(state, CLUSTER_TYPE, DEST_CLUSTER)
    dest["properties"]["activationState"] = "Active"
    # Activation turns the pre-crypto-officer into the primary crypto officer; keys stay none.
    for user in state["hsm"][dest["id"]]["users"]:
        if user["type"] == "PRECO":
            user["type"] = "PCO"


def _tls_1_0(state: JsonObject, seed: int) -> None:
    _backup_account(state)["properties"]["minimumTlsVersion"] = "TLS1_0"


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            Profile("compliant", "the documented configuration; nothing is wrong", _compliant),
            Profile(
                "shared-key-default",
                f"{BACKUP_ACCOUNT} has no allowSharedKeyAccess, so shared key access is allowed",
                _shared_key_default,
            ),
            Profile(
                "endpoint-pending",
                f"the blob private endpoint connection of {BACKUP_ACCOUNT} is Pending, not Approved",
                _endpoint_pending,
            ),
            Profile(
                "public-network-open",
                f"{BACKUP_ACCOUNT} has public network access Enabled and network ACLs defaulting to Allow",
                _public_network_open,
            ),
            Profile(
                "role-other-principal",
                f"the Storage Blob Data Contributor assignment on {BACKUP_ACCOUNT} names another principal",
                _role_other_principal,
            ),
            Profile(
                "owner-instead-of-contributor",
                f"the cluster identity holds Owner on {BACKUP_ACCOUNT}, not Storage Blob Data Contributor",
                _owner_instead_of_contributor,
            ),
            Profile(
                "two-identities",
                f"{SOURCE_CLUSTER} lists a second user-assigned identity, {EXTRA_IDENTITY}",
                _two_identities,
            ),
            Profile(
                "destination-active",
                f"{DEST_CLUSTER} is already Active, so a restore into it is unsupported",
                _destination_active,
            ),
            Profile("tls-1-0", f"{BACKUP_ACCOUNT} accepts TLS 1.0 (minimumTlsVersion TLS1_0)", _tls_1_0),
        )
    }
)
