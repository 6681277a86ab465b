"""The api-versions chsm-checks speaks, pinned in one table. No "latest" discovery."""

from __future__ import annotations

from typing import Final

API_VERSIONS: Final[dict[str, str]] = {
    "Microsoft.HardwareSecurityModules/cloudHsmClusters": "2025-03-31",
    "Microsoft.Storage/storageAccounts": "2025-01-01",
    "Microsoft.Network/privateEndpoints": "2024-07-01",
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2024-11-30",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.Authorization/roleDefinitions": "2022-04-01",
    "Microsoft.Authorization/locks": "2020-05-01",
    # Resource-level diagnostic settings and their categories have no stable version.
    "Microsoft.Insights/diagnosticSettings": "2021-05-01-preview",
    "Microsoft.Insights/diagnosticSettingsCategories": "2021-05-01-preview",
    # The activity log (ActivityLogs_List) has one stable version.
    "Microsoft.Insights/eventtypes": "2015-04-01",
    "Microsoft.Resources/subscriptions": "2022-12-01",
    # Azure Resource Graph's newest stable version (a fleet's reader = "resource-graph").
    "Microsoft.ResourceGraph/resources": "2024-04-01",
}

CLUSTERS: Final = API_VERSIONS["Microsoft.HardwareSecurityModules/cloudHsmClusters"]
STORAGE: Final = API_VERSIONS["Microsoft.Storage/storageAccounts"]
NETWORK: Final = API_VERSIONS["Microsoft.Network/privateEndpoints"]
MANAGED_IDENTITY: Final = API_VERSIONS["Microsoft.ManagedIdentity/userAssignedIdentities"]
ROLE_ASSIGNMENTS: Final = API_VERSIONS["Microsoft.Authorization/roleAssignments"]
ROLE_DEFINITIONS: Final = API_VERSIONS["Microsoft.Authorization/roleDefinitions"]
LOCKS: Final = API_VERSIONS["Microsoft.Authorization/locks"]
DIAGNOSTIC_SETTINGS: Final = API_VERSIONS["Microsoft.Insights/diagnosticSettings"]
DIAGNOSTIC_CATEGORIES: Final = API_VERSIONS["Microsoft.Insights/diagnosticSettingsCategories"]
ACTIVITY_LOG: Final = API_VERSIONS["Microsoft.Insights/eventtypes"]
SUBSCRIPTIONS: Final = API_VERSIONS["Microsoft.Resources/subscriptions"]
RESOURCE_GRAPH: Final = API_VERSIONS["Microsoft.ResourceGraph/resources"]
