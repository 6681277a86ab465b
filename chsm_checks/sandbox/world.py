"""The seeded world: one resource group holding two clusters, an identity, storage and a private endpoint.

Resource bodies are stored exactly as ARM returns them, so a GET is a lookup. Sandbox bookkeeping
(counters, jobs, backups, and what the HSM utilities see inside each cluster) sits beside them in
snake_case keys. This is the compliant world; :mod:`.profiles` seeds it and then applies one fault.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from chsm_checks.sandbox.hsm_state import seed_hsm_cluster
from chsm_checks.sandbox.ids import sandbox_guid, sandbox_hex
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.times import arm_seconds, arm_time, seeded_us, storage_etag
from chsm_checks.sandbox.wire import ArmFault, JsonObject

STATE_FORMAT = 2
RESOURCE_GROUP = "rg-chsm-sandbox"
SOURCE_CLUSTER = "chsm-source"
DEST_CLUSTER = "chsm-dest"
IDENTITY = "id-chsm-backup"
BACKUP_ACCOUNT = "chsmbackupsbx"
NO_ACCESS_ACCOUNT = "chsmnoaccesssbx"
CONTAINER = "chsm-backups"
HOME_LOCATION = "uksouth"
PAIRED_LOCATION = "ukwest"
# How long the backup container's time-based retention policy keeps each backup blob.
BACKUP_RETENTION_DAYS = 30

CLUSTER_TYPE = "Microsoft.HardwareSecurityModules/cloudHsmClusters"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
BLOB_SERVICE_TYPE = "Microsoft.Storage/storageAccounts/blobServices"
CONTAINER_TYPE = "Microsoft.Storage/storageAccounts/blobServices/containers"
IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
PRIVATE_ENDPOINT_TYPE = "Microsoft.Network/privateEndpoints"
ROLE_ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
ROLE_DEFINITION_TYPE = "Microsoft.Authorization/roleDefinitions"
LOCK_TYPE = "Microsoft.Authorization/locks"
SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"
DIAGNOSTIC_SETTING_TYPE = "Microsoft.Insights/diagnosticSettings"
DIAGNOSTIC_CATEGORY_TYPE = "Microsoft.Insights/diagnosticSettingsCategories"
WORKSPACE_TYPE = "Microsoft.OperationalInsights/workspaces"
# The Log Analytics workspace the seeded diagnostic settings send to (named, not served), and the setting.
AUDIT_WORKSPACE = "log-chsm-audit"
AUDIT_SETTING = "to-log-chsm-audit"

# The log and metric categories each type offers its diagnostic settings, with their category groups
# (diagnosticSettingsCategories, 2021-05-01-preview). The blob service's are Azure Monitor's published
# ones (StorageRead only in allLogs; StorageWrite and StorageDelete also in audit). Azure documents one
# log category for a Cloud HSM cluster, HsmServiceOperations (table CloudHsmServiceOperationAuditLogs);
# that it is in the audit group as well as allLogs is the sandbox's assumption.
LOG_CATEGORIES: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    CLUSTER_TYPE.lower(): (("HsmServiceOperations", "Logs", ("audit", "allLogs")),),
    BLOB_SERVICE_TYPE.lower(): (
        ("StorageRead", "Logs", ("allLogs",)),
        ("StorageWrite", "Logs", ("audit", "allLogs")),
        ("StorageDelete", "Logs", ("audit", "allLogs")),
        ("Transaction", "Metrics", ()),
    ),
}

STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# Who "created" the seeded world, as systemData names a user: a placeholder, never a real sign-in name.
OPERATOR_SIGN_IN_NAME = "operator@chsm-sandbox.example"
PROVISIONED = "HSM cluster provisioning successful."
# A backup container is made a little after its account.
CONTAINER_AFTER_US = 41_250_000
# (hours before the sandbox's clock started, how it ended) of each backup the source ran before then.
SOURCE_BACKUPS: tuple[tuple[float, str], ...] = (
    (2.0, "Succeeded"),
    (26.0, "Succeeded"),
    (50.0, "Succeeded"),
    (74.0, "Failed"),
    (98.0, "Succeeded"),
)
# The lock that keeps the seeded resource group, and everything in it, from being deleted.
GROUP_LOCK = "lock-chsm-no-delete"


def compliant_state(settings: SandboxSettings) -> JsonObject:
    """The compliant world for ``settings.seed``, before any profile: the same seed gives the same state."""
    seed = settings.seed
    sub = sandbox_guid(seed, "subscription")
    tenant = sandbox_guid(seed, "tenant")
    group_id = f"/subscriptions/{sub}/resourceGroups/{RESOURCE_GROUP}"
    identity_id = f"{group_id}/providers/{IDENTITY_TYPE}/{IDENTITY}"
    principal = sandbox_guid(seed, "principal", 1)
    # The operator is who "calls" the sandbox: it appears in x-ms-operation-identifier and owns the
    # subscription, which gives the role-assignment listing something above the storage scope.
    operator = sandbox_guid(seed, "principal", 2)
    vnet_id = f"{group_id}/providers/Microsoft.Network/virtualNetworks/vnet-chsm"
    subnet_id = f"{vnet_id}/subnets/snet-storage"

    source = cluster_resource(
        group_id,
        SOURCE_CLUSTER,
        "uksouth",
        "Active",
        identity_id,
        domain_label(seed, "domainlabel", 1),
        seeded_us(seed, "cluster", 1),
    )
    dest = cluster_resource(
        group_id,
        DEST_CLUSTER,
        "ukwest",
        "NotActivated",
        identity_id,
        domain_label(seed, "domainlabel", 2),
        seeded_us(seed, "cluster", 2),
    )
    resources: list[JsonObject] = [
        source,
        dest,
        identity_resource(identity_id, IDENTITY, principal, sandbox_guid(seed, "client", 1), tenant),
    ]
    # Each cluster is reached through its own private endpoint in the HSM subnet, on its HSMs' addresses.
    for n, cluster in enumerate((source, dest), start=2):
        resources.append(
            connect_cluster(
                cluster, f"{vnet_id}/subnets/snet-hsm", sandbox_guid(seed, "hsmconnection", n), f"10.0.{n}"
            )
        )
    # Both accounts are configured alike; only the role assignment tells them apart.
    for n, account in enumerate((BACKUP_ACCOUNT, NO_ACCESS_ACCOUNT), start=1):
        account_id = f"{group_id}/providers/{STORAGE_TYPE}/{account}"
        pe_name = f"pe-{account}-blob"
        pe_id = f"{group_id}/providers/{PRIVATE_ENDPOINT_TYPE}/{pe_name}"
        connection = sandbox_guid(seed, "privateendpointconnection", n)
        created = seeded_us(seed, "storageaccount", n)
        resources.append(storage_account_resource(account_id, account, pe_id, pe_name, connection, created))
        resources.append(blob_service_resource(account_id))
        resources.append(container_resource(account_id, created + CONTAINER_AFTER_US, (operator, tenant)))
        resources.append(
            private_endpoint_resource(pe_id, pe_name, account, account_id, subnet_id, f"10.20.1.{3 + n}")
        )

    backup_account_id = f"{group_id}/providers/{STORAGE_TYPE}/{BACKUP_ACCOUNT}"
    # Each cluster's audit logs and the backup account's blob logs go to the group's workspace.
    workspace_id = f"{group_id}/providers/{WORKSPACE_TYPE}/{AUDIT_WORKSPACE}"
    diagnostic_settings = [
        *(audit_setting(cluster["id"], workspace_id, "audit") for cluster in (source, dest)),
        audit_setting(f"{backup_account_id}/blobServices/default", workspace_id, "allLogs"),
    ]
    role_assignments = [
        role_assignment_resource(
            sandbox_guid(seed, "roleassignment", 1),
            backup_account_id,
            sub,
            STORAGE_BLOB_DATA_CONTRIBUTOR,
            principal,
            "ServicePrincipal",
            created_us=seeded_us(seed, "roleassignment", 1),
            created_by=operator,
        ),
        role_assignment_resource(
            sandbox_guid(seed, "roleassignment", 2),
            f"/subscriptions/{sub}",
            sub,
            OWNER,
            operator,
            "User",
            created_us=seeded_us(seed, "roleassignment", 2),
            created_by=operator,
        ),
    ]
    return {
        "format": STATE_FORMAT,
        "settings": settings.to_json(),
        "subscription_id": sub,
        "tenant_id": tenant,
        "operator_principal_id": operator,
        "resource_groups": [RESOURCE_GROUP],
        "resources": resources,
        "role_assignments": role_assignments,
        # Custom role definitions, and bodies put at a built-in's GUID; the built-ins are in .roles.
        "role_definitions": [],
        "locks": [
            lock_resource(group_id, GROUP_LOCK, "CanNotDelete", "Keeps the backup storage and clusters")
        ],
        "diagnostic_settings": diagnostic_settings,
        # The source's backups before the sandbox started: daily, the latest two hours before, one
        # failed; the activity log dates them from the clock's start (.activity).
        "backup_history": [
            {"cluster_id": source["id"], "hours_before_start": hours, "status": status}
            for hours, status in SOURCE_BACKUPS
        ],
        "backups": {},
        "hsm": {
            source["id"]: seed_hsm_cluster(seed, source, 2, populated=True),
            dest["id"]: seed_hsm_cluster(seed, dest, 3, populated=False),
        },
        "hsm_backups": {},
        "jobs": [],
        "counters": {"job": 0, "backup": 0},
        "received_tokens": 0,
    }


def domain_label(seed: int, kind: str, n: int) -> str:
    """13 lower-case letters and digits, like the suffix the service appends to HSM host names."""
    value = int(sandbox_hex(seed, kind, n), 16)
    chars = []
    for _ in range(13):
        value, digit = divmod(value, 36)
        chars.append(_BASE36[digit])
    return "".join(chars)


def cluster_resource(
    group_id: str,
    name: str,
    location: str,
    activation: str,
    identity_id: str,
    label_suffix: str,
    created_us: int,
) -> JsonObject:
    """A Cloud HSM cluster of three HSMs with one user-assigned identity, created by the operator at
    ``created_us``, as the live service returns it."""
    label = f"{name}-{label_suffix}"
    return {
        "id": f"{group_id}/providers/{CLUSTER_TYPE}/{name}",
        "name": name,
        "type": CLUSTER_TYPE,
        "location": location,
        "sku": {"family": "B", "name": "Standard_B1"},
        "tags": {},
        # The live service returns nulls here; the principal is read from the identity resource.
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {identity_id: {"principalId": None, "clientId": None}},
        },
        "properties": {
            "provisioningState": "Succeeded",
            "activationState": activation,
            "autoGeneratedDomainNameLabelScope": "TenantReuse",
            "hsms": [
                {
                    "fqdn": f"hsm{i}.{label}.privatelink.cloudhsm.azure.net",
                    "state": "Allocated",
                    "stateMessage": None,
                }
                for i in (1, 2, 3)
            ],
            "publicNetworkAccess": "Disabled",
            "privateEndpointConnections": [],
            "statusMessage": PROVISIONED,
        },
        "systemData": system_data(created_us),
    }


def connect_cluster(cluster: JsonObject, subnet_id: str, connection_guid: str, network: str) -> JsonObject:
    """The approved private endpoint ``pe-<cluster>`` of ``cluster`` in ``subnet_id``, with the
    connection the cluster lists for it; each HSM answers on ``<network>.5-7``. Returns the endpoint."""
    group_id = cluster["id"].split("/providers/", 1)[0]
    pe_name = f"pe-{cluster['name']}"
    pe_id = f"{group_id}/providers/{PRIVATE_ENDPOINT_TYPE}/{pe_name}"
    connection_name = f"{pe_name}.{connection_guid}"
    cluster["properties"]["privateEndpointConnections"] = [
        {
            "id": f"{cluster['id']}/privateEndpointConnections/{connection_name}",
            "name": connection_name,
            "type": f"{CLUSTER_TYPE}/privateEndpointConnections",
            "properties": {
                "groupIds": ["cloudHsm"],
                "privateEndpoint": {"id": pe_id},
                "privateLinkServiceConnectionState": {
                    "status": "Approved",
                    "description": "Auto-Approved",
                    "actionsRequired": "None",
                },
                "provisioningState": "Succeeded",
            },
            # The connection was made with the cluster, by the same operator.
            "systemData": dict(cluster["systemData"]),
        }
    ]
    fqdns = [hsm["fqdn"] for hsm in cluster["properties"]["hsms"]]
    return endpoint_resource(
        pe_id,
        pe_name,
        cluster["id"],
        "cloudHsm",
        subnet_id,
        [(fqdn, f"{network}.{5 + i}") for i, fqdn in enumerate(fqdns)],
    )


def lock_resource(scope: str, name: str, level: str, notes: str) -> JsonObject:
    """A management lock at ``scope`` (ManagementLocks_GetAtScope, 2020-05-01)."""
    return {
        "id": f"{scope}/providers/{LOCK_TYPE}/{name}",
        "name": name,
        "type": LOCK_TYPE,
        "properties": {"level": level, "notes": notes, "owners": []},
    }


def audit_setting(resource_id: str, workspace_id: str, group: str) -> JsonObject:
    """The diagnostic setting of ``resource_id`` that sends its ``group`` logs to a Log Analytics
    workspace and keeps no metrics (DiagnosticSettings_Get, 2021-05-01-preview)."""
    return {
        "id": f"{resource_id}/providers/{DIAGNOSTIC_SETTING_TYPE}/{AUDIT_SETTING}",
        "name": AUDIT_SETTING,
        "type": DIAGNOSTIC_SETTING_TYPE,
        "properties": {
            "storageAccountId": None,
            "serviceBusRuleId": None,
            "workspaceId": workspace_id,
            "eventHubAuthorizationRuleId": None,
            "eventHubName": None,
            "metrics": [],
            "logs": [
                {
                    "category": None,
                    "categoryGroup": group,
                    "enabled": True,
                    "retentionPolicy": {"enabled": False, "days": 0},
                }
            ],
            "logAnalyticsDestinationType": None,
        },
    }


def log_categories(resource_id: str, resource_type: str) -> list[JsonObject]:
    """What ``diagnosticSettingsCategories`` lists for a resource of ``resource_type``."""
    return [
        {
            "id": f"{resource_id}/providers/{DIAGNOSTIC_CATEGORY_TYPE}/{name}",
            "name": name,
            "type": DIAGNOSTIC_CATEGORY_TYPE,
            "properties": {"categoryType": kind, "categoryGroups": list(groups)},
        }
        for name, kind, groups in LOG_CATEGORIES.get(resource_type.lower(), ())
    ]


def system_data(created_us: int) -> JsonObject:
    """ARM's ``systemData`` of a resource the operator created at ``created_us`` and has not changed."""
    return {
        "createdBy": OPERATOR_SIGN_IN_NAME,
        "createdByType": "User",
        "createdAt": arm_time(created_us),
        "lastModifiedBy": OPERATOR_SIGN_IN_NAME,
        "lastModifiedByType": "User",
        "lastModifiedAt": arm_time(created_us),
    }


def identity_resource(identity_id: str, name: str, principal: str, client: str, tenant: str) -> JsonObject:
    """A user-assigned managed identity as ARM returns it."""
    return {
        "id": identity_id,
        "name": name,
        "type": IDENTITY_TYPE,
        "location": HOME_LOCATION,
        "tags": {},
        "properties": {"principalId": principal, "clientId": client, "tenantId": tenant},
    }


def storage_account_resource(
    account_id: str, name: str, pe_id: str, pe_name: str, connection_guid: str, created_us: int
) -> JsonObject:
    """A compliant backup storage account created at ``created_us``, reachable only through the blob
    private endpoint ``pe_id``; Microsoft-managed keys, as a new account has."""
    connection_name = f"{pe_name}.{connection_guid}"
    created = arm_time(created_us)
    return {
        "id": account_id,
        "name": name,
        "type": STORAGE_TYPE,
        "location": HOME_LOCATION,
        "sku": {"name": "Standard_GRS", "tier": "Standard"},
        "kind": "StorageV2",
        "tags": {},
        "properties": {
            "keyCreationTime": {"key1": created, "key2": created},
            "privateEndpointConnections": [
                {
                    "id": f"{account_id}/privateEndpointConnections/{connection_name}",
                    "name": connection_name,
                    "type": f"{STORAGE_TYPE}/privateEndpointConnections",
                    "properties": {
                        "privateEndpoint": {"id": pe_id},
                        # Storage spells it actionRequired (singular); Network says actionsRequired.
                        "privateLinkServiceConnectionState": {
                            "status": "Approved",
                            "description": "Auto-Approved",
                            "actionRequired": "None",
                        },
                        "provisioningState": "Succeeded",
                    },
                }
            ],
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "allowCrossTenantReplication": False,
            "networkAcls": {
                "bypass": "AzureServices",
                "virtualNetworkRules": [],
                "ipRules": [],
                "defaultAction": "Deny",
            },
            "supportsHttpsTrafficOnly": True,
            "encryption": {
                "requireInfrastructureEncryption": False,
                "services": {
                    "file": {"keyType": "Account", "enabled": True, "lastEnabledTime": created},
                    "blob": {"keyType": "Account", "enabled": True, "lastEnabledTime": created},
                },
                "keySource": "Microsoft.Storage",
            },
            "accessTier": "Hot",
            "publicNetworkAccess": "Disabled",
            "provisioningState": "Succeeded",
            "creationTime": created,
            "primaryEndpoints": {
                service: f"https://{name}.{service}.core.windows.net/"
                for service in ("dfs", "web", "blob", "queue", "table", "file")
            },
            "primaryLocation": HOME_LOCATION,
            "statusOfPrimary": "available",
            # Geo-redundant: the paired region keeps a copy.
            "secondaryLocation": PAIRED_LOCATION,
            "statusOfSecondary": "available",
            # Both as StorageAccountGetProperties.json (2025-01-01) shows them for an account at rest.
            "isSkuConversionBlocked": False,
            "accountMigrationInProgress": False,
        },
    }


def blob_service_resource(account_id: str, sku: str = "Standard_GRS") -> JsonObject:
    """The blob service of a backup account: soft delete of blobs and of containers for seven days,
    as the portal gives a new account, and versioning on; no change feed. Its SKU is its account's."""
    return {
        "id": f"{account_id}/blobServices/default",
        "name": "default",
        "type": BLOB_SERVICE_TYPE,
        "sku": {"name": sku, "tier": sku.split("_", 1)[0]},
        "properties": {
            "cors": {"corsRules": []},
            "deleteRetentionPolicy": {"allowPermanentDelete": False, "enabled": True, "days": 7},
            "containerDeleteRetentionPolicy": {"enabled": True, "days": 7},
            "isVersioningEnabled": True,
            "changeFeed": {"enabled": False},
        },
    }


def container_resource(account_id: str, modified_us: int, locked_by: tuple[str, str]) -> JsonObject:
    """The private backup container of a storage account, last changed at ``modified_us``: no lease,
    no legal hold, a Locked time-based retention policy of 30 days (locked when the container was
    made, by the object id and tenant ``locked_by``), the account's encryption key. The policy's etag
    is its lock's time, as Storage writes it."""
    object_id, tenant = locked_by
    history = [
        {
            "update": update,
            "immutabilityPeriodSinceCreationInDays": BACKUP_RETENTION_DAYS,
            "timestamp": arm_time(modified_us),
            "objectIdentifier": object_id,
            "tenantId": tenant,
            "upn": OPERATOR_SIGN_IN_NAME,
            "allowProtectedAppendWrites": False,
            "allowProtectedAppendWritesAll": False,
        }
        for update in ("put", "lock")
    ]
    return {
        "id": f"{account_id}/blobServices/default/containers/{CONTAINER}",
        "name": CONTAINER,
        "type": CONTAINER_TYPE,
        "etag": storage_etag(modified_us),
        "properties": {
            "deleted": False,
            "remainingRetentionDays": 0,
            "defaultEncryptionScope": "$account-encryption-key",
            "denyEncryptionScopeOverride": False,
            "publicAccess": "None",
            "leaseStatus": "Unlocked",
            "leaseState": "Available",
            "lastModifiedTime": arm_seconds(modified_us),
            "legalHold": {"hasLegalHold": False, "tags": []},
            "immutabilityPolicy": {
                "properties": {
                    "immutabilityPeriodSinceCreationInDays": BACKUP_RETENTION_DAYS,
                    "state": "Locked",
                    "allowProtectedAppendWrites": False,
                    "allowProtectedAppendWritesAll": False,
                },
                "etag": storage_etag(modified_us).replace("0x", "").lower(),
                "updateHistory": history,
            },
            "hasImmutabilityPolicy": True,
            "hasLegalHold": False,
        },
    }


def private_endpoint_resource(
    pe_id: str, pe_name: str, account: str, account_id: str, subnet_id: str, ip_address: str
) -> JsonObject:
    """An approved blob private endpoint of ``account`` in ``subnet_id``."""
    return endpoint_resource(
        pe_id, pe_name, account_id, "blob", subnet_id, [(f"{account}.blob.core.windows.net", ip_address)]
    )


def endpoint_resource(
    pe_id: str, pe_name: str, service_id: str, group: str, subnet_id: str, dns: list[tuple[str, str]]
) -> JsonObject:
    """An approved private endpoint to sub-resource ``group`` of ``service_id`` in ``subnet_id``, with the
    network interface Azure creates for it and the names it resolves (``dns``: name, address). Network
    writes one weak etag on a resource and on each of its parts."""
    etag = f'W/"{sandbox_guid(0, "network-etag:" + pe_id.lower())}"'
    group_id = pe_id.split("/providers/", 1)[0]
    nic = f"{pe_name}.nic.{sandbox_guid(0, 'nic:' + pe_id.lower())}"
    return {
        "id": pe_id,
        "name": pe_name,
        "type": PRIVATE_ENDPOINT_TYPE,
        "etag": etag,
        "location": HOME_LOCATION,
        "tags": {},
        "properties": {
            "subnet": {"id": subnet_id},
            "networkInterfaces": [{"id": f"{group_id}/providers/Microsoft.Network/networkInterfaces/{nic}"}],
            "privateLinkServiceConnections": [
                {
                    "id": f"{pe_id}/privateLinkServiceConnections/{pe_name}",
                    "name": pe_name,
                    "type": f"{PRIVATE_ENDPOINT_TYPE}/privateLinkServiceConnections",
                    "etag": etag,
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateLinkServiceId": service_id,
                        "groupIds": [group],
                        "privateLinkServiceConnectionState": {
                            "status": "Approved",
                            "description": "Auto-Approved",
                            "actionsRequired": "None",
                        },
                    },
                }
            ],
            "manualPrivateLinkServiceConnections": [],
            "customDnsConfigs": [{"fqdn": fqdn, "ipAddresses": [address]} for fqdn, address in dns],
            "provisioningState": "Succeeded",
        },
    }


def role_assignment_resource(
    name: str,
    scope: str,
    sub: str,
    role: str,
    principal: str,
    principal_type: str,
    *,
    created_us: int,
    created_by: str,
) -> JsonObject:
    """The assignment ``name`` of built-in ``role`` (a GUID) to ``principal`` at ``scope``, made by the
    object id ``created_by`` at ``created_us`` and not changed since (RoleAssignments_Get, 2022-04-01)."""
    created = arm_time(created_us)
    return {
        "id": f"{scope}/providers/{ROLE_ASSIGNMENT_TYPE}/{name}",
        "name": name,
        "type": ROLE_ASSIGNMENT_TYPE,
        "properties": {
            "roleDefinitionId": f"/subscriptions/{sub}/providers/{ROLE_DEFINITION_TYPE}/{role}",
            "principalId": principal,
            "principalType": principal_type,
            "scope": scope,
            "createdOn": created,
            "updatedOn": created,
            "createdBy": created_by,
            "updatedBy": created_by,
        },
    }


class _ResourceIndex:
    """Where each stored resource is in ``state["resources"]``, by lower-case id: a fleet of
    thousands is read by id tens of thousands of times. A hit is checked against the list (the
    same resource at that place, with that id), and the index is made again when it is stale."""

    def __init__(self) -> None:
        self._list: list[JsonObject] | None = None
        self._at: dict[str, int] = {}

    def find(self, resources: list[JsonObject], wanted: str) -> JsonObject | None:
        if resources is self._list and (found := self._checked(resources, wanted)) is not None:
            return found
        # A miss, or a stale index: made again from the list, which is the truth.
        self._list = resources
        self._at = {}
        for n, resource in enumerate(resources):
            self._at.setdefault(str(resource["id"]).lower(), n)
        return self._checked(resources, wanted)

    def _checked(self, resources: list[JsonObject], wanted: str) -> JsonObject | None:
        n = self._at.get(wanted)
        if n is not None and n < len(resources) and str(resources[n]["id"]).lower() == wanted:
            return resources[n]
        return None


_INDEX = _ResourceIndex()


class _Changes:
    """How often the state has changed, and whether a change is under way: what :func:`positions`
    keeps is good only between changes. ``SandboxStore`` says when (:func:`changing`)."""

    def __init__(self) -> None:
        self.generation = 0
        self.open = 0
        self.lock = threading.Lock()  # stores in other threads (a test's) count here too

    def count(self, opening: int) -> None:
        with self.lock:
            self.open += opening
            self.generation += 1


_CHANGES = _Changes()
_T = TypeVar("_T")
_POSITIONS: dict[str, tuple[int, object, dict[str, list[int]]]] = {}


@contextmanager
def changing() -> Iterator[None]:
    """Around a change to the state: no :func:`positions` found before or during it is used after it."""
    _CHANGES.count(+1)
    try:
        yield
    finally:
        _CHANGES.count(-1)


def changed() -> None:
    """After a change made outside :func:`changing` (jobs that finished as time passed)."""
    _CHANGES.count(0)


def positions(name: str, items: Sequence[_T], key: Callable[[_T], str]) -> dict[str, list[int]]:
    """Where each ``key`` is in ``items``, in their order. A fleet's lists are read by cluster tens
    of thousands of times, so this is kept under ``name`` until the state next changes (or
    ``items`` is another list); while it is changing it is made afresh each time."""
    generation = _CHANGES.generation
    kept = _POSITIONS.get(name)
    if kept is not None and kept[0] == generation and kept[1] is items and not _CHANGES.open:
        return kept[2]
    found: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        found.setdefault(key(item), []).append(n)
    if not _CHANGES.open:
        _POSITIONS[name] = (generation, items, found)
    return found


def find_resource(state: JsonObject, resource_id: str) -> JsonObject | None:
    """The stored resource with this id, compared case-insensitively as ARM does."""
    return _INDEX.find(state["resources"], resource_id.rstrip("/").lower())


def resources_of_type(state: JsonObject, resource_type: str) -> list[JsonObject]:
    """Every stored resource of ``resource_type``, in seeding order."""
    resources: list[JsonObject] = state["resources"]
    by_type = positions("resources by type", resources, lambda r: str(r["type"]).lower())
    return [resources[n] for n in by_type.get(resource_type.lower(), [])]


def resource_groups_by_subscription(state: JsonObject) -> dict[str, list[str]]:
    """Every subscription's resource group names: the seeded one's first, then the fleet's."""
    fleet: dict[str, list[str]] = state.get("fleet_resource_groups", {})
    return {state["subscription_id"]: state["resource_groups"], **fleet}


def require_subscription(state: JsonObject, sub: str) -> str:
    """The canonical subscription id, or 404 ``SubscriptionNotFound``."""
    for canonical in resource_groups_by_subscription(state):
        if canonical.lower() == sub.lower():
            return canonical
    raise ArmFault(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")


def require_group(state: JsonObject, sub: str, group: str) -> str:
    """The canonical resource group name, or 404 ``SubscriptionNotFound`` / ``ResourceGroupNotFound``."""
    groups = resource_groups_by_subscription(state)[require_subscription(state, sub)]
    for name in groups:
        if name.lower() == group.lower():
            return name
    raise ArmFault(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")


def require_resource(state: JsonObject, resource_id: str) -> JsonObject:
    """The resource at ``resource_id`` (which must lie in a resource group), or the ARM 404 for it."""
    parts = resource_id.strip("/").split("/")
    require_group(state, parts[1], parts[3])
    resource = find_resource(state, resource_id)
    if resource is None:
        # ARM names the top-level type and name of the missing resource and its group.
        kind = "/".join(parts[5:7])
        raise ArmFault(
            404,
            "ResourceNotFound",
            f"The Resource '{kind}/{'/'.join(parts[7:])}' under resource group '{parts[3]}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return resource


def require_scope(state: JsonObject, scope: str) -> None:
    """An extension resource's scope must be a subscription, a resource group or a stored resource."""
    parts = scope.strip("/").split("/")
    if (
        len(parts) < 2
        or parts[0].lower() != "subscriptions"
        or (len(parts) > 2 and parts[2].lower() != "resourcegroups")
    ):
        raise ArmFault(
            404, "NotFound", f"The sandbox serves this only at and below a subscription, not '{scope}'."
        )
    if len(parts) == 2:
        require_subscription(state, parts[1])
    elif len(parts) == 4:
        require_group(state, parts[1], parts[3])
    elif len(parts) < 8:
        raise ArmFault(404, "NotFound", f"'{scope}' is not a resource id.")
    else:
        require_resource(state, scope)


def properties_of(resource: JsonObject) -> JsonObject:
    """A resource's ``properties``, or an empty object when a body shaped from outside has none."""
    properties = resource.get("properties")
    return properties if isinstance(properties, dict) else {}


def cluster_principal(state: JsonObject, cluster: JsonObject) -> str | None:
    """The principal id of the cluster's managed identity, read from the identity resource."""
    identity = cluster.get("identity")
    identities = identity.get("userAssignedIdentities") if isinstance(identity, dict) else None
    for identity_id in identities if isinstance(identities, dict) else {}:
        found = find_resource(state, identity_id)
        if found is not None:
            principal = properties_of(found).get("principalId")
            return principal if isinstance(principal, str) else None
    return None


def next_number(state: JsonObject, counter: str) -> int:
    """Advance one of the state's counters (job, backup) and return its new value, from 1."""
    counters: dict[str, int] = state["counters"]
    counters[counter] = counters.get(counter, 0) + 1
    return counters[counter]
