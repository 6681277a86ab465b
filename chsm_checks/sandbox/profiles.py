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

from chsm_checks.sandbox.fleet import add_fleet
from chsm_checks.sandbox.hsm_state import activate
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.settings import PROFILE_NAMES, SandboxSettings
from chsm_checks.sandbox.storage_faults import STORAGE_FAULTS, StorageFault
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import (
    BACKUP_ACCOUNT,
    BLOB_SERVICE_TYPE,
    CLUSTER_TYPE,
    CONTAINER,
    CONTAINER_TYPE,
    DEST_CLUSTER,
    IDENTITY,
    IDENTITY_TYPE,
    SOURCE_CLUSTER,
    STORAGE_TYPE,
    compliant_state,
    identity_resource,
    resources_of_type,
)

EXTRA_IDENTITY = "id-chsm-extra"


@dataclass(frozen=True)
class Profile:
    """One named environment: ``apply`` turns a freshly seeded compliant state into it, in place."""

    name: str
    description: str
    apply: Callable[[JsonObject, int], None]
    #: Whether the fault shows only in the restore drill (record-profiles records the drill for it,
    #: not only the catalogue).
    drill: bool = False
    #: Seconds the recorded clock moves per ARM request in this world (``None``: the clock's own).
    recorded_clock_step: float | None = None


def seed_state(settings: SandboxSettings) -> JsonObject:
    """A fresh sandbox state for ``settings``: the same seed, profile and fleet always give the same state.

    The profile spoils the seeded world only; the fleet, if any, is added after it with its own faults.
    """
    state = compliant_state(settings)
    PROFILES[settings.profile].apply(state, settings.seed)
    add_fleet(state, settings)
    return state


def _named(state: JsonObject, resource_type: str, name: str) -> JsonObject:
    return next(r for r in resources_of_type(state, resource_type) if r["name"] == name)


def _on_backup_account(fault: StorageFault) -> Callable[[JsonObject, int], None]:
    """``fault`` applied to the seeded backup account."""

    def apply(state: JsonObject, seed: int) -> None:
        fault(state, _named(state, STORAGE_TYPE, BACKUP_ACCOUNT), seed)

    return apply


def _compliant(state: JsonObject, seed: int) -> None:
    """Nothing to change: the seeded world is the compliant one."""


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
    activate(state["hsm"][dest["id"]])


def _of_backup_account(state: JsonObject, resource_type: str, name: str) -> JsonObject:
    """The backup account's blob service or container ``name``."""
    account_id = _named(state, STORAGE_TYPE, BACKUP_ACCOUNT)["id"].lower()
    return next(
        r
        for r in resources_of_type(state, resource_type)
        if r["name"] == name and r["id"].lower().startswith(account_id + "/")
    )


def _blob_service_properties(state: JsonObject) -> JsonObject:
    properties: JsonObject = _of_backup_account(state, BLOB_SERVICE_TYPE, "default")["properties"]
    return properties


def _blob_soft_delete_off(state: JsonObject, seed: int) -> None:
    # Storage reports a policy that is off as enabled false, with no days.
    _blob_service_properties(state)["deleteRetentionPolicy"] = {
        "allowPermanentDelete": False,
        "enabled": False,
    }


def _container_soft_delete_off(state: JsonObject, seed: int) -> None:
    _blob_service_properties(state)["containerDeleteRetentionPolicy"] = {"enabled": False}


def _versioning_off(state: JsonObject, seed: int) -> None:
    _blob_service_properties(state)["isVersioningEnabled"] = False


def _immutability_absent(state: JsonObject, seed: int) -> None:
    properties = _of_backup_account(state, CONTAINER_TYPE, CONTAINER)["properties"]
    del properties["immutabilityPolicy"]
    properties["hasImmutabilityPolicy"] = False


def _locally_redundant(state: JsonObject, seed: int) -> None:
    account = _named(state, STORAGE_TYPE, BACKUP_ACCOUNT)
    for resource in (account, _of_backup_account(state, BLOB_SERVICE_TYPE, "default")):
        resource["sku"]["name"] = "Standard_LRS"
    del account["properties"]["secondaryLocation"], account["properties"]["statusOfSecondary"]


def _unlocked(state: JsonObject, seed: int) -> None:
    state["locks"].clear()


def _cluster_public_network(state: JsonObject, seed: int) -> None:
    _named(state, CLUSTER_TYPE, SOURCE_CLUSTER)["properties"]["publicNetworkAccess"] = "Enabled"


def _setting_of(state: JsonObject, resource_id: str) -> JsonObject:
    prefix = f"{resource_id}/providers/".lower()
    (setting,) = (s for s in state["diagnostic_settings"] if s["id"].lower().startswith(prefix))
    found: JsonObject = setting
    return found


def _cluster_logs_off(state: JsonObject, seed: int) -> None:
    source = _named(state, CLUSTER_TYPE, SOURCE_CLUSTER)
    state["diagnostic_settings"].remove(_setting_of(state, source["id"]))


def _backup_overdue(state: JsonObject, seed: int) -> None:
    """The source's backups stopped succeeding: the latest success 30 hours back, a failure at 6."""
    source = _named(state, CLUSTER_TYPE, SOURCE_CLUSTER)["id"]
    state["backup_history"] = [
        {"cluster_id": source, "hours_before_start": hours, "status": status}
        for hours, status in ((6.0, "Failed"), (30.0, "Succeeded"), (54.0, "Succeeded"))
    ]


# A restore as slow as the live service's (about 90 s there), answered at a live poller's pace.
SLOW_RESTORE_SECONDS = 100.0
LIVE_POLL_PACE_SECONDS = 30.0


def _slow_recovery(state: JsonObject, seed: int) -> None:
    """Restores take as long as the live service's; the world is otherwise the compliant one."""
    state["restore_seconds"] = SLOW_RESTORE_SECONDS


def _blob_reads_unlogged(state: JsonObject, seed: int) -> None:
    service = _of_backup_account(state, BLOB_SERVICE_TYPE, "default")
    _setting_of(state, service["id"])["properties"]["logs"][0]["categoryGroup"] = "audit"


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            Profile("compliant", "the documented configuration; nothing is wrong", _compliant),
            Profile(
                "shared-key-default",
                f"{BACKUP_ACCOUNT} has no allowSharedKeyAccess, so shared key access is allowed",
                _on_backup_account(STORAGE_FAULTS["shared-key-default"]),
            ),
            Profile(
                "endpoint-pending",
                f"the blob private endpoint connection of {BACKUP_ACCOUNT} is Pending, not Approved",
                _on_backup_account(STORAGE_FAULTS["endpoint-pending"]),
            ),
            Profile(
                "public-network-open",
                f"{BACKUP_ACCOUNT} has public network access Enabled and network ACLs defaulting to Allow",
                _on_backup_account(STORAGE_FAULTS["public-network-open"]),
            ),
            Profile(
                "role-other-principal",
                f"the Storage Blob Data Contributor assignment on {BACKUP_ACCOUNT} names another principal",
                _on_backup_account(STORAGE_FAULTS["role-other-principal"]),
            ),
            Profile(
                "owner-instead-of-contributor",
                f"the cluster identity holds Owner on {BACKUP_ACCOUNT}, not Storage Blob Data Contributor",
                _on_backup_account(STORAGE_FAULTS["owner-instead-of-contributor"]),
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
            Profile(
                "tls-1-0",
                f"{BACKUP_ACCOUNT} accepts TLS 1.0 (minimumTlsVersion TLS1_0)",
                _on_backup_account(STORAGE_FAULTS["tls-1-0"]),
            ),
            Profile(
                "blob-soft-delete-off",
                f"blob soft delete is off on {BACKUP_ACCOUNT}: a deleted backup is gone at once",
                _blob_soft_delete_off,
            ),
            Profile(
                "container-soft-delete-off",
                f"container soft delete is off on {BACKUP_ACCOUNT}",
                _container_soft_delete_off,
            ),
            Profile(
                "versioning-off",
                f"blob versioning is off on {BACKUP_ACCOUNT}: an overwritten backup keeps no earlier version",
                _versioning_off,
            ),
            Profile(
                "immutability-absent",
                f"the backup container {CONTAINER} has no immutability policy",
                _immutability_absent,
            ),
            Profile(
                "locally-redundant",
                f"{BACKUP_ACCOUNT} is Standard_LRS: no copy in a second region",
                _locally_redundant,
            ),
            Profile(
                "unlocked",
                f"no management lock: {BACKUP_ACCOUNT} and the clusters can be deleted outright",
                _unlocked,
            ),
            Profile(
                "cluster-public-network",
                f"{SOURCE_CLUSTER} has public network access Enabled",
                _cluster_public_network,
            ),
            Profile(
                "cluster-logs-off",
                f"{SOURCE_CLUSTER} has no diagnostic setting: its audit logs are kept nowhere",
                _cluster_logs_off,
            ),
            Profile(
                "blob-reads-unlogged",
                f"the blob logs of {BACKUP_ACCOUNT} keep only the audit group: reads of backups go unlogged",
                _blob_reads_unlogged,
            ),
            Profile(
                "backup-overdue",
                f"the latest successful backup of {SOURCE_CLUSTER} is 30 hours old; the one since failed",
                _backup_overdue,
            ),
            Profile(
                "slow-recovery",
                f"a restore takes {SLOW_RESTORE_SECONDS:g} s, as long as the live service's, and on the "
                f"recorded clock each ARM answer comes {LIVE_POLL_PACE_SECONDS:g} s after the last, at a "
                "live poller's pace: the drill's destination is validated minutes after the restore request",
                _slow_recovery,
                drill=True,
                recorded_clock_step=LIVE_POLL_PACE_SECONDS,
            ),
        )
    }
)
if tuple(PROFILES) != PROFILE_NAMES:  # pragma: no cover - a sandbox defect, found on import
    raise RuntimeError(f"the profiles built {tuple(PROFILES)} differ from PROFILE_NAMES {PROFILE_NAMES}")
