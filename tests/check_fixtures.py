"""ARM-shaped JSON for the check tests: the resources of targets/reference.toml, overridable.

Tests build snapshots with the snapshots' own ``from_arm`` so every table also exercises parsing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chsm_checks.checks.model import Finding
from chsm_checks.outcomes import Outcome

SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
_CLUSTERS = f"{RG}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
SOURCE_ID = f"{_CLUSTERS}/chsm-source"
DESTINATION_ID = f"{_CLUSTERS}/chsm-dest"
IDENTITY_ID = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-chsm-backup"
OTHER_IDENTITY_ID = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-chsm-other"
PRINCIPAL_ID = "11111111-1111-1111-1111-111111111111"
OTHER_PRINCIPAL_ID = "22222222-2222-2222-2222-222222222222"
ACCOUNT_ID = f"{RG}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
OTHER_ACCOUNT_ID = f"{RG}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbxold"
CONTAINER_ID = f"{ACCOUNT_ID}/blobServices/default/containers/chsm-backups"
OTHER_CONTAINER_ID = f"{ACCOUNT_ID}/blobServices/default/containers/chsm-scratch"
ENDPOINT_ID = f"{RG}/providers/Microsoft.Network/privateEndpoints/pe-chsmbackupsbx-blob"
VNET_ID = f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet-chsm"
SUBNET_ID = f"{VNET_ID}/subnets/snet-endpoints"
# Shares a prefix with vnet-chsm: a naive startswith would mistake it for ours.
OTHER_SUBNET_ID = f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet-chsm-other/subnets/snet-a"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
BLOB_ENDPOINT = "https://chsmbackupsbx.blob.core.windows.net/"

ABSENT = object()  # an override that removes the key instead of setting it


def _apply(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set (or, with ``ABSENT``, remove) keys; a dotted key reaches into nested objects."""
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        if value is ABSENT:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return body


def cluster_endpoint_id(cluster_id: str) -> str:
    """The id of the private endpoint through which a cluster is reached: ``pe-<cluster>``."""
    return f"{RG}/providers/Microsoft.Network/privateEndpoints/pe-{cluster_id.rsplit('/', 1)[-1]}"


def cluster_endpoint_json(cluster_id: str = SOURCE_ID, status: str = "Approved") -> dict[str, Any]:
    """The cluster's private endpoint, its connection to the cluster (sub-resource cloudHsm) ``status``."""
    pe_id = cluster_endpoint_id(cluster_id)
    return {
        "id": pe_id,
        "name": pe_id.rsplit("/", 1)[-1],
        "type": "Microsoft.Network/privateEndpoints",
        "properties": {
            "subnet": {"id": f"{VNET_ID}/subnets/snet-hsm"},
            "privateLinkServiceConnections": [link(cluster_id, ["cloudHsm"], status)],
            "manualPrivateLinkServiceConnections": [],
        },
    }


LOCKS_PATH = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/locks"


def lock_json(scope: str = RG, level: str = "CanNotDelete", name: str = "lock-chsm") -> dict[str, Any]:
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/locks/{name}",
        "name": name,
        "type": "Microsoft.Authorization/locks",
        "properties": {"level": level, "notes": "", "owners": []},
    }


def cluster_json(cluster_id: str = SOURCE_ID, **overrides: Any) -> dict[str, Any]:
    """A healthy cluster as the live service sends it (user-assigned identity ids come back null)."""
    body: dict[str, Any] = {
        "id": cluster_id,
        "name": cluster_id.rsplit("/", 1)[-1],
        "type": "Microsoft.HardwareSecurityModules/cloudHsmClusters",
        "location": "uksouth",
        "sku": {"family": "B", "name": "Standard_B1"},
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {IDENTITY_ID: {"principalId": None, "clientId": None}},
        },
        "properties": {
            "provisioningState": "Succeeded",
            "activationState": "Active",
            "publicNetworkAccess": "Disabled",
            "hsms": [
                {"fqdn": "hsm1.chsm-source.cloudhsm.azure.net", "state": "Active", "stateMessage": None}
            ],
            "privateEndpointConnections": [account_connection(cluster_endpoint_id(cluster_id))],
        },
    }
    return _apply(body, {k.replace("__", "."): v for k, v in overrides.items()})


def identity_json(identity_id: str = IDENTITY_ID, principal_id: Any = PRINCIPAL_ID) -> dict[str, Any]:
    return {
        "id": identity_id,
        "name": identity_id.rsplit("/", 1)[-1],
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "properties": {
            "principalId": principal_id,
            "clientId": "33333333-3333-3333-3333-333333333333",
            "tenantId": "44444444-4444-4444-4444-444444444444",
        },
    }


def account_json(**overrides: Any) -> dict[str, Any]:
    """A storage account that passes every check; ``properties__x=...`` overrides ``properties.x``."""
    body: dict[str, Any] = {
        "id": ACCOUNT_ID,
        "name": "chsmbackupsbx",
        "type": "Microsoft.Storage/storageAccounts",
        "kind": "StorageV2",
        "sku": {"name": "Standard_ZRS"},
        "properties": {
            "allowSharedKeyAccess": False,
            "publicNetworkAccess": "Disabled",
            "networkAcls": {
                "defaultAction": "Deny",
                "bypass": "AzureServices",
                "virtualNetworkRules": [],
                "ipRules": [],
            },
            "minimumTlsVersion": "TLS1_2",
            "supportsHttpsTrafficOnly": True,
            "allowBlobPublicAccess": False,
            "allowCrossTenantReplication": False,
            "primaryEndpoints": {"blob": BLOB_ENDPOINT},
            "privateEndpointConnections": [account_connection()],
        },
    }
    return _apply(body, {k.replace("__", "."): v for k, v in overrides.items()})


def account_connection(endpoint_id: str = ENDPOINT_ID, status: str = "Approved") -> dict[str, Any]:
    """A private endpoint connection as the storage account lists it (no groupIds on this side)."""
    return {
        "id": f"{ACCOUNT_ID}/privateEndpointConnections/{endpoint_id.rsplit('/', 1)[-1]}.conn",
        "properties": {
            "privateEndpoint": {"id": endpoint_id},
            "privateLinkServiceConnectionState": {
                "status": status,
                "description": "",
                "actionRequired": "None",
            },
        },
    }


def link(
    service_id: str = ACCOUNT_ID, group_ids: list[str] | None = None, status: str = "Approved"
) -> dict[str, Any]:
    """A private link service connection as the private endpoint lists it."""
    return {
        "name": "conn",
        "properties": {
            "privateLinkServiceId": service_id,
            "groupIds": ["blob"] if group_ids is None else group_ids,
            "privateLinkServiceConnectionState": {"status": status, "actionsRequired": "None"},
        },
    }


def endpoint_json(
    subnet_id: str = SUBNET_ID,
    links: list[dict[str, Any]] | None = None,
    manual_links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": ENDPOINT_ID,
        "name": "pe-chsmbackupsbx-blob",
        "type": "Microsoft.Network/privateEndpoints",
        "properties": {
            "subnet": {"id": subnet_id},
            "privateLinkServiceConnections": [link()] if links is None else links,
            "manualPrivateLinkServiceConnections": manual_links or [],
            "customDnsConfigs": [
                {"fqdn": "chsmbackupsbx.blob.core.windows.net", "ipAddresses": ["10.0.1.4"]}
            ],
        },
    }


BLOB_SERVICE_ID = f"{ACCOUNT_ID}/blobServices/default"


def blob_service_json(**overrides: Any) -> dict[str, Any]:
    """A blob service that keeps deleted blobs and containers seven days and versions blobs."""
    body: dict[str, Any] = {
        "id": BLOB_SERVICE_ID,
        "name": "default",
        "type": "Microsoft.Storage/storageAccounts/blobServices",
        "properties": {
            "deleteRetentionPolicy": {"enabled": True, "days": 7},
            "containerDeleteRetentionPolicy": {"enabled": True, "days": 7},
            "isVersioningEnabled": True,
        },
    }
    return _apply(body, {k.replace("__", "."): v for k, v in overrides.items()})


def container_json(container_id: str = CONTAINER_ID, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": container_id,
        "name": container_id.rsplit("/", 1)[-1],
        "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
        "properties": {"publicAccess": "None"},
    }
    return _apply(body, {k.replace("__", "."): v for k, v in overrides.items()})


def assignment_json(
    role: str,
    scope: str,
    principal_id: str = PRINCIPAL_ID,
    *,
    prefixed: bool = True,
    condition: str | None = None,
    condition_version: str | None = "2.0",
) -> dict[str, Any]:
    """A role assignment; ``role`` is a GUID, sent with or without the subscription prefix."""
    prefix = f"/subscriptions/{SUB}" if prefixed else ""
    extra = {"condition": condition, "conditionVersion": condition_version} if condition else {}
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{role[:8]}-assignment",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": f"{role[:8]}-assignment",
        "properties": {
            "roleDefinitionId": f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            "principalId": principal_id,
            "principalType": "ServicePrincipal",
            "scope": scope,
            **extra,
        },
    }


def name_of(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def assert_finding(finding: Finding, status: Outcome, check_id: str, resource_id: str) -> None:
    """The finding's verdict, check and resource, and a message that names that resource."""
    assert (finding.status, finding.check_id, finding.resource_id) == (status, check_id, resource_id), finding
    assert name_of(resource_id) in finding.message, finding.message


_BLOB = "Microsoft.Storage/storageAccounts/blobServices"
MANAGEMENT_GROUP = "/providers/Microsoft.Management/managementGroups/mg-chsm"
SBDC = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
# Built-in roles with the permissions Microsoft publishes for them (Azure built-in roles reference).
BUILTIN_ROLES: dict[str, dict[str, Any]] = {
    "Storage Blob Data Contributor": {
        "guid": SBDC,
        "actions": [
            f"{_BLOB}/containers/delete",
            f"{_BLOB}/containers/read",
            f"{_BLOB}/containers/write",
            f"{_BLOB}/generateUserDelegationKey/action",
        ],
        "dataActions": [
            f"{_BLOB}/containers/blobs/delete",
            f"{_BLOB}/containers/blobs/read",
            f"{_BLOB}/containers/blobs/write",
            f"{_BLOB}/containers/blobs/move/action",
            f"{_BLOB}/containers/blobs/add/action",
        ],
    },
    "Storage Blob Data Owner": {
        "guid": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        "actions": [f"{_BLOB}/containers/*", f"{_BLOB}/generateUserDelegationKey/action"],
        "dataActions": [f"{_BLOB}/containers/blobs/*"],
    },
    "Storage Blob Data Reader": {
        "guid": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "actions": [f"{_BLOB}/containers/read", f"{_BLOB}/generateUserDelegationKey/action"],
        "dataActions": [f"{_BLOB}/containers/blobs/read"],
    },
    "Storage Account Contributor": {
        "guid": "17d1049b-9a84-46fb-8f53-869881c3d3ab",
        "actions": [
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Insights/diagnosticSettings/*",
            "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Storage/storageAccounts/*",
            "Microsoft.Support/*",
        ],
    },
    "Owner": {"guid": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "actions": ["*"]},
    "Contributor": {
        "guid": "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "actions": ["*"],
        "notActions": [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
        ],
    },
    "Reader": {"guid": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "actions": ["*/read"]},
    "User Access Administrator": {
        "guid": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "actions": ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
    },
}


def role_definition_json(
    role_name: str,
    guid: str,
    *,
    actions: list[str] | None = None,
    data_actions: list[str] | None = None,
    not_actions: list[str] | None = None,
    not_data_actions: list[str] | None = None,
    custom: bool = False,
) -> dict[str, Any]:
    """A role definition as ARM returns it (at the subscription prefix assignments name)."""
    return {
        "id": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "name": guid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": role_name,
            "type": "CustomRole" if custom else "BuiltInRole",
            "description": role_name,
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": actions or [],
                    "notActions": not_actions or [],
                    "dataActions": data_actions or [],
                    "notDataActions": not_data_actions or [],
                }
            ],
        },
    }


def builtin_role_json(role_name: str) -> dict[str, Any]:
    role = BUILTIN_ROLES[role_name]
    return role_definition_json(
        role_name,
        role["guid"],
        actions=role.get("actions"),
        data_actions=role.get("dataActions"),
        not_actions=role.get("notActions"),
    )


def all_role_definitions() -> dict[str, dict[str, Any]]:
    """Every built-in role above, by GUID."""
    return {role["guid"]: builtin_role_json(name) for name, role in BUILTIN_ROLES.items()}


def failed_messages(findings: list[Finding]) -> list[str]:
    """The messages of the findings that failed, in order (what a scenario's failure would say)."""
    return [f.message for f in findings if f.status is Outcome.FAILED]


WORKSPACE_ID = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/log-chsm-audit"
# (name, type, groups) of the log categories each resource offers, as diagnosticSettingsCategories lists.
CLUSTER_CATEGORIES = (("HsmServiceOperations", "Logs", ("audit", "allLogs")),)
BLOB_CATEGORIES = (
    ("StorageRead", "Logs", ("allLogs",)),
    ("StorageWrite", "Logs", ("audit", "allLogs")),
    ("StorageDelete", "Logs", ("audit", "allLogs")),
    ("Transaction", "Metrics", ()),
)


def diagnostics_path(resource_id: str) -> str:
    return f"{resource_id}/providers/Microsoft.Insights/diagnosticSettings"


def categories_path(resource_id: str) -> str:
    return f"{resource_id}/providers/Microsoft.Insights/diagnosticSettingsCategories"


def categories_json(
    resource_id: str, categories: tuple[tuple[str, str, tuple[str, ...]], ...]
) -> dict[str, Any]:
    return {
        "value": [
            {
                "id": f"{categories_path(resource_id)}/{name}",
                "name": name,
                "type": "Microsoft.Insights/diagnosticSettingsCategories",
                "properties": {"categoryType": kind, "categoryGroups": list(groups)},
            }
            for name, kind, groups in categories
        ]
    }


def log_entry(category: str | None = None, group: str | None = None, enabled: Any = True) -> dict[str, Any]:
    return {"category": category, "categoryGroup": group, "enabled": enabled}


def diagnostic_setting_json(
    resource_id: str,
    logs: list[dict[str, Any]] | None = None,
    name: str = "to-log-chsm-audit",
    **overrides: Any,
) -> dict[str, Any]:
    """A diagnostic setting of ``resource_id`` sending ``logs`` (else the allLogs group) to a workspace."""
    body: dict[str, Any] = {
        "id": f"{diagnostics_path(resource_id)}/{name}",
        "name": name,
        "type": "Microsoft.Insights/diagnosticSettings",
        "properties": {
            "workspaceId": WORKSPACE_ID,
            "storageAccountId": None,
            "eventHubAuthorizationRuleId": None,
            "eventHubName": None,
            "metrics": [],
            "logs": [log_entry(group="allLogs")] if logs is None else logs,
        },
    }
    return _apply(body, {k.replace("__", "."): v for k, v in overrides.items()})


ACTIVITY_PATH = f"/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values"
BACKUP_ACTION = "Microsoft.HardwareSecurityModules/cloudHsmClusters/backup/action"


def activity_event_json(
    at: datetime,
    status: str = "Succeeded",
    operation: str = BACKUP_ACTION,
    resource_id: str = SOURCE_ID,
    correlation: str = "00000000-0000-0000-0000-0000000000c1",
) -> dict[str, Any]:
    """An activity-log event as the harness selects it (eventDataId, correlationId, operationName,
    status, eventTimestamp, resourceId)."""
    return {
        "eventDataId": f"{correlation[:-4]}{status[:2].lower()}{at.hour:02d}",
        "correlationId": correlation,
        "operationName": {"value": operation, "localizedValue": operation.rsplit("/", 2)[-2]},
        "status": {"value": status, "localizedValue": status},
        "eventTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "resourceId": resource_id,
    }
