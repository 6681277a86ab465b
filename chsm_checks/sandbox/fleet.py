"""The fleet: many active clusters in further subscriptions, each tagged with its backup resources.

With ``fleet_clusters`` N and ``fleet_subscriptions`` M, cluster ``i`` (1…N) lives in subscription
``k = (i - 1) % M + 1`` (``sandbox_guid(seed, "subscription", k)``; the seeded world keeps ``k = 0``),
resource group ``rg-fleet-<kk>``. It has its own identity, storage account ``chsmfleet<iiii>`` with the
backup container, blob private endpoint in ``vnet-fleet-<kk>``, and a Storage Blob Data Contributor
assignment for its identity on the account: the compliant set-up, as in the seeded world.

Its tags name those resources, the convention a fleet audit reads: :data:`BACKUP_TAGS`.
``round(N * fleet_misconfigured)`` clusters, picked by the seed, get one fault each from
:data:`.storage_faults.STORAGE_FAULTS`, in turn; ``state["fleet_faults"]`` maps their ids to its name.
"""

from __future__ import annotations

from chsm_checks.sandbox.hsm_state import activate, seed_hsm_cluster
from chsm_checks.sandbox.ids import sandbox_guid, sandbox_hex
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.storage_faults import STORAGE_FAULTS
from chsm_checks.sandbox.times import seeded_us
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import (
    CLUSTER_TYPE,
    CONTAINER,
    CONTAINER_AFTER_US,
    GROUP_LOCK,
    HOME_LOCATION,
    IDENTITY_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_TYPE,
    WORKSPACE_TYPE,
    audit_setting,
    blob_service_resource,
    cluster_resource,
    connect_cluster,
    container_resource,
    domain_label,
    identity_resource,
    lock_resource,
    private_endpoint_resource,
    role_assignment_resource,
    storage_account_resource,
)

TAG_STORAGE_ACCOUNT = "chsm-backup-storage-account"
TAG_CONTAINER = "chsm-backup-container"
TAG_PRIVATE_ENDPOINT = "chsm-backup-private-endpoint"
TAG_VIRTUAL_NETWORK = "chsm-backup-virtual-network"
BACKUP_TAGS = (TAG_STORAGE_ACCOUNT, TAG_CONTAINER, TAG_PRIVATE_ENDPOINT, TAG_VIRTUAL_NETWORK)
"""Tag names on a fleet cluster: ARM ids of its backup account, endpoint and network; the container's name."""


def add_fleet(state: JsonObject, settings: SandboxSettings) -> None:
    """Add the fleet ``settings`` ask for (none when ``fleet_clusters`` is 0) to a freshly seeded state."""
    if settings.fleet_clusters == 0:
        return
    seed = settings.seed
    count = settings.fleet_subscriptions
    subscriptions = [sandbox_guid(seed, "subscription", k) for k in range(1, count + 1)]
    state["fleet_resource_groups"] = {sub: [_group(k)] for k, sub in enumerate(subscriptions, start=1)}
    state["locks"] += [  # each fleet group is locked against deletion, as the seeded one is
        lock_resource(f"/subscriptions/{sub}/resourceGroups/{_group(k)}", GROUP_LOCK, "CanNotDelete", "Fleet")
        for k, sub in enumerate(subscriptions, start=1)
    ]
    built = [  # (cluster id, its backup account), cluster i at i - 1
        _add_cluster(state, seed, i, subscriptions[(i - 1) % count], (i - 1) % count + 1)
        for i in range(1, settings.fleet_clusters + 1)
    ]
    faults: dict[str, str] = {}
    cycle = list(STORAGE_FAULTS)
    for turn, i in enumerate(_misconfigured(seed, settings.fleet_clusters, settings.fleet_misconfigured)):
        cluster_id, account = built[i - 1]
        faults[cluster_id] = cycle[turn % len(cycle)]
        STORAGE_FAULTS[faults[cluster_id]](state, account, seed)
    state["fleet_faults"] = faults


def fleet_view(state: JsonObject) -> JsonObject:
    """What ``GET /_sandbox/fleet`` answers: the fleet's subscriptions, cluster ids and the faults put in."""
    subscriptions: dict[str, list[str]] = state.get("fleet_resource_groups", {})
    prefixes = tuple(f"/subscriptions/{sub}/" for sub in subscriptions)
    clusters = [
        c["id"] for c in state["resources"] if c["type"] == CLUSTER_TYPE and c["id"].startswith(prefixes)
    ]
    faults: dict[str, str] = state.get("fleet_faults", {})
    return {"subscriptions": list(subscriptions), "clusters": clusters, "faults": faults}


def _group(k: int) -> str:
    return f"rg-fleet-{k:02d}"


def _add_cluster(state: JsonObject, seed: int, i: int, sub: str, k: int) -> tuple[str, JsonObject]:
    """Add fleet cluster ``i`` and its backup resources; return its id and its storage account."""
    group_id = f"/subscriptions/{sub}/resourceGroups/{_group(k)}"
    number = f"{i:04d}"
    identity_name = f"id-chsm-fleet-{number}"
    identity_id = f"{group_id}/providers/{IDENTITY_TYPE}/{identity_name}"
    account_name = f"chsmfleet{number}"
    account_id = f"{group_id}/providers/{STORAGE_TYPE}/{account_name}"
    pe_name = f"pe-{account_name}-blob"
    pe_id = f"{group_id}/providers/{PRIVATE_ENDPOINT_TYPE}/{pe_name}"
    vnet_id = f"{group_id}/providers/Microsoft.Network/virtualNetworks/vnet-fleet-{k:02d}"
    subnet_id = f"{vnet_id}/subnets/snet-storage"
    # A /24 of its own for each cluster: its HSMs on .5-.7, its storage endpoint on .4.
    second, third = 64 + (i - 1) // 250, (i - 1) % 250

    cluster = cluster_resource(
        group_id,
        f"chsm-fleet-{number}",
        HOME_LOCATION,
        "Active",
        identity_id,
        domain_label(seed, "fleet-domainlabel", i),
        seeded_us(seed, "fleet-cluster", i),
    )
    cluster["tags"] = {
        TAG_STORAGE_ACCOUNT: account_id,
        TAG_CONTAINER: CONTAINER,
        TAG_PRIVATE_ENDPOINT: pe_id,
        TAG_VIRTUAL_NETWORK: vnet_id,
    }
    principal = sandbox_guid(seed, "fleet-principal", i)
    created = seeded_us(seed, "fleet-storageaccount", i)
    account = storage_account_resource(
        account_id,
        account_name,
        pe_id,
        pe_name,
        sandbox_guid(seed, "fleet-privateendpointconnection", i),
        created,
    )
    endpoint = connect_cluster(
        cluster,
        f"{vnet_id}/subnets/snet-hsm",
        sandbox_guid(seed, "fleet-hsmconnection", i),
        f"10.{second}.{third}",
    )
    state["resources"] += [
        cluster,
        endpoint,
        identity_resource(
            identity_id, identity_name, principal, sandbox_guid(seed, "fleet-client", i), state["tenant_id"]
        ),
        account,
        blob_service_resource(account_id),
        container_resource(
            account_id, created + CONTAINER_AFTER_US, (state["operator_principal_id"], state["tenant_id"])
        ),
        private_endpoint_resource(
            pe_id, pe_name, account_name, account_id, subnet_id, f"10.{second}.{third}.4"
        ),
    ]
    state["role_assignments"].append(
        role_assignment_resource(
            sandbox_guid(seed, "fleet-roleassignment", i),
            account_id,
            sub,
            STORAGE_BLOB_DATA_CONTRIBUTOR,
            principal,
            "ServicePrincipal",
            created_us=created + CONTAINER_AFTER_US,
            created_by=state["operator_principal_id"],
        )
    )
    workspace_id = f"{group_id}/providers/{WORKSPACE_TYPE}/log-fleet-{k:02d}"
    state["diagnostic_settings"] += [
        audit_setting(cluster["id"], workspace_id, "audit"),
        audit_setting(f"{account_id}/blobServices/default", workspace_id, "allLogs"),
    ]
    # Each fleet cluster was last backed up successfully 1 to 12 hours before the sandbox started.
    state["backup_history"].append(
        {"cluster_id": cluster["id"], "hours_before_start": float((i - 1) % 12 + 1), "status": "Succeeded"}
    )
    hsm = seed_hsm_cluster(seed, cluster, third, populated=False, network=f"10.{second}")
    activate(hsm)
    state["hsm"][cluster["id"]] = hsm
    return cluster["id"], account


def _misconfigured(seed: int, count: int, fraction: float) -> list[int]:
    """The numbers of the clusters to spoil: ``round(count * fraction)`` of them, picked by the seed."""
    ranked = sorted(range(1, count + 1), key=lambda i: sandbox_hex(seed, "fleet-fault", i))
    return sorted(ranked[: round(count * fraction)])
