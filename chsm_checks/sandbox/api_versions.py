"""Every published api-version of the resource types the sandbox serves, and how their shapes differ.

The harness pins one version per type (:mod:`chsm_checks.arm.versions`); Microsoft's own SDKs send
others. The sandbox accepts any version below for its type and answers in that version's shape:

- a route a version does not define (the Cloud HSM backup and restore family before
  2024-06-30-preview; blob containers before 2018-02-01) is refused as a path the sandbox does not
  serve under that version: 404 ``NotFound``;
- a field a version's spec does not define is stripped from the answer by :func:`shaped_for_version`.

At the pinned versions nothing is stripped, so the bytes served are exactly those of before.
Each list and each boundary names where it was read; docs/sandbox-api-versions.md holds the same
table for humans, with what is known to be missing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from chsm_checks.sandbox.activity import ACTIVITY_TYPE
from chsm_checks.sandbox.graph import GRAPH_TYPE
from chsm_checks.sandbox.wire import ArmFault
from chsm_checks.sandbox.world import (
    CLUSTER_TYPE,
    DIAGNOSTIC_CATEGORY_TYPE,
    DIAGNOSTIC_SETTING_TYPE,
    IDENTITY_TYPE,
    LOCK_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    ROLE_ASSIGNMENT_TYPE,
    ROLE_DEFINITION_TYPE,
    STORAGE_TYPE,
    SUBSCRIPTION_TYPE,
)

# Oldest first within each type: the order is what "before" means below.
PUBLISHED_VERSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # Azure/azure-rest-api-specs specification/hardwaresecuritymodules/resource-manager/
        # Microsoft.HardwareSecurityModules/HardwareSecurityModules/: preview/2022-08-31-preview,
        # preview/2023-12-10-preview, preview/2024-06-30-preview (cloudhsm.json); stable/2025-03-31,
        # preview/2025-12-01-preview, preview/2026-01-01-preview, preview/2026-06-01-preview (openapi.json).
        # No earlier folder defines cloudHsmClusters (2018-10-31-preview and 2021-11-30 are dedicated HSM
        # only). azure-mgmt-hardwaresecuritymodules 1.0.0 defaults to 2025-03-31.
        CLUSTER_TYPE: (
            "2022-08-31-preview",
            "2023-12-10-preview",
            "2024-06-30-preview",
            "2025-03-31",
            "2025-12-01-preview",
            "2026-01-01-preview",
            "2026-06-01-preview",
        ),
        # specification/storage/resource-manager/Microsoft.Storage/Storage/readme.md (commit 0940ebf9):
        # one tag per folder, preview/2015-05-01-preview … stable/2026-09-01. azure-mgmt-storage 25.3.0
        # defaults to 2026-09-01 and lists 2025-08-01, 2026-04-01, 2026-06-01 (api_versions_list).
        STORAGE_TYPE: (
            "2015-05-01-preview",
            "2015-06-15",
            "2016-01-01",
            "2016-05-01",
            "2016-12-01",
            "2017-06-01",
            "2017-10-01",
            "2018-02-01",
            "2018-03-01-preview",
            "2018-07-01",
            "2018-11-01",
            "2019-04-01",
            "2019-06-01",
            "2020-08-01-preview",
            "2021-01-01",
            "2021-02-01",
            "2021-04-01",
            "2021-06-01",
            "2021-08-01",
            "2021-09-01",
            "2022-05-01",
            "2022-09-01",
            "2023-01-01",
            "2023-04-01",
            "2023-05-01",
            "2024-01-01",
            "2025-01-01",
            "2025-06-01",
            "2025-08-01",
            "2026-04-01",
            "2026-06-01",
            "2026-09-01",
        ),
        # specification/network/resource-manager/Microsoft.Network/stable/<v>/privateEndpoint.json, or
        # …/Microsoft.Network/Network/stable/<v>/privateEndpoint.json in the newer layout: one or the
        # other was read for every version here from 2019-02-01 to 2026-01-01 except 2025-09-01;
        # 2025-09-01 and 2026-03-01 (azure-mgmt-network 33.1.0's default) are from that SDK release's
        # api_versions_list, the spec index holding neither.
        PRIVATE_ENDPOINT_TYPE: (
            "2019-02-01",
            "2019-04-01",
            "2019-06-01",
            "2019-07-01",
            "2019-08-01",
            "2019-09-01",
            "2019-11-01",
            "2019-12-01",
            "2020-03-01",
            "2020-04-01",
            "2020-05-01",
            "2020-06-01",
            "2020-07-01",
            "2020-08-01",
            "2020-11-01",
            "2021-02-01",
            "2021-03-01",
            "2021-05-01",
            "2021-08-01",
            "2022-01-01",
            "2022-05-01",
            "2022-07-01",
            "2022-09-01",
            "2022-11-01",
            "2023-02-01",
            "2023-04-01",
            "2023-05-01",
            "2023-06-01",
            "2023-09-01",
            "2023-11-01",
            "2024-01-01",
            "2024-03-01",
            "2024-05-01",
            "2024-07-01",
            "2024-10-01",
            "2025-01-01",
            "2025-03-01",
            "2025-05-01",
            "2025-07-01",
            "2025-09-01",
            "2026-01-01",
            "2026-03-01",
        ),
        # specification/msi/resource-manager/Microsoft.ManagedIdentity/ManagedIdentity/: preview/
        # 2015-08-31-preview, 2021-09-30-preview, 2022-01-31-preview, 2023-07-31-preview,
        # 2025-01-31-preview, 2025-05-31-preview; stable/2018-11-30, 2023-01-31, 2024-11-30, 2026-04-30,
        # 2026-05-31 (ManagedIdentity.json). azure-mgmt-msi 7.1.0 defaults to 2024-11-30.
        IDENTITY_TYPE: (
            "2015-08-31-preview",
            "2018-11-30",
            "2021-09-30-preview",
            "2022-01-31-preview",
            "2023-01-31",
            "2023-07-31-preview",
            "2024-11-30",
            "2025-01-31-preview",
            "2025-05-31-preview",
            "2026-04-30",
            "2026-05-31",
        ),
        # specification/authorization/resource-manager/readme.md: the tags whose input files include
        # authorization-RoleAssignmentsCalls.json (stable/2015-07-01, preview/2017-10-01-preview,
        # 2018-01-01-preview, 2018-09-01-preview, 2020-03-01-preview, 2020-04-01-preview,
        # 2020-08-01-preview, 2020-10-01-preview, stable/2022-04-01). azure-mgmt-authorization 4.0.0
        # defaults to 2022-04-01; its role_assignments group lists a subset of these.
        ROLE_ASSIGNMENT_TYPE: (
            "2015-07-01",
            "2017-10-01-preview",
            "2018-01-01-preview",
            "2018-09-01-preview",
            "2020-03-01-preview",
            "2020-04-01-preview",
            "2020-08-01-preview",
            "2020-10-01-preview",
            "2022-04-01",
        ),
        # The same readmes (resource-manager/readme.md and Microsoft.Authorization/Authorization/readme.md),
        # authorization-RoleDefinitionsCalls.json: stable/2015-07-01, preview/2018-01-01-preview,
        # stable/2022-04-01, preview/2022-05-01-preview; azure-mgmt-authorization 4.0.0's role_definitions
        # group lists the same four.
        ROLE_DEFINITION_TYPE: ("2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview"),
        # specification/resources/resource-manager/Microsoft.Resources/subscriptions/readme.md:
        # stable/<v>/subscriptions.json for each of these.
        SUBSCRIPTION_TYPE: (
            "2015-11-01",
            "2016-06-01",
            "2018-06-01",
            "2019-06-01",
            "2019-11-01",
            "2020-01-01",
            "2021-01-01",
            "2022-12-01",
        ),
        # specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/: stable/2019-04-01,
        # stable/2021-03-01, stable/2022-10-01, stable/2024-04-01 (the previews are not served);
        # azure-mgmt-resourcegraph 8.0.1 defaults to 2021-03-01.
        GRAPH_TYPE: ("2019-04-01", "2021-03-01", "2022-10-01", "2024-04-01"),
        # specification/resources/resource-manager/Microsoft.Authorization/locks/stable/<v>/locks.json
        # for each of these; azure-mgmt-resource's ManagementLockClient defaults to 2020-05-01.
        LOCK_TYPE: ("2015-01-01", "2016-09-01", "2017-04-01", "2020-05-01"),
        # specification/monitor/resource-manager/Microsoft.Insights/Insights/preview/<v>/
        # diagnosticsSettings_API.json and diagnosticsSettingsCategories_API.json; resource-level
        # diagnostic settings have no stable version. azure-mgmt-monitor 6.0.x defaults to 2021-05-01-preview.
        DIAGNOSTIC_SETTING_TYPE: ("2017-05-01-preview", "2021-05-01-preview"),
        DIAGNOSTIC_CATEGORY_TYPE: ("2017-05-01-preview", "2021-05-01-preview"),
        # specification/monitor/resource-manager/Microsoft.Insights/Insights/stable/2015-04-01/
        # activityLogs_API.json is the activity log's only version; azure-mgmt-monitor 6.0.2 sends it.
        ACTIVITY_TYPE: ("2015-04-01",),
    }
)

# Routes a type's early versions do not define: (the template's last literal segment, first version).
ROUTES_INTRODUCED: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        # preview/2022-08-31-preview and 2023-12-10-preview cloudhsm.json define no backup or restore
        # path; preview/2024-06-30-preview/cloudhsm.json defines all six.
        CLUSTER_TYPE: (
            ("backup", "2024-06-30-preview"),
            ("restore", "2024-06-30-preview"),
            ("validateBackupProperties", "2024-06-30-preview"),
            ("validateRestoreProperties", "2024-06-30-preview"),
            ("backupOperationStatus", "2024-06-30-preview"),
            ("restoreOperationStatus", "2024-06-30-preview"),
        ),
        # Storage readme.md: blob.json (blobServices/default/containers) is first an input of
        # package-2018-02; package-2017-10 and older list storage.json alone.
        STORAGE_TYPE: (("containers", "2018-02-01"),),
    }
)

# Fields a type's early versions do not define: (dotted path, "[]" steps into a list; first version).
FIELDS_INTRODUCED: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        CLUSTER_TYPE: (
            # 2022-08-31-preview cloudhsm.json: CloudHsmClusterResource has sku only; no statusMessage.
            ("identity", "2023-12-10-preview"),
            ("properties.statusMessage", "2023-12-10-preview"),
            # 2023-12-10-preview cloudhsm.json has no activationState; 2024-06-30-preview does.
            ("properties.activationState", "2024-06-30-preview"),
        ),
        STORAGE_TYPE: (
            # Spec commit 80784443 "Adding allowBlobPublicAccess and minimumTlsVersion property for
            # June19 and April19" added both to stable/2019-04-01 and 2019-06-01.
            ("properties.allowBlobPublicAccess", "2019-04-01"),
            ("properties.minimumTlsVersion", "2019-04-01"),
            # Absent from the 2017-10-01 template reference, present at 2019-06-01 (profile
            # 2020-09-01-hybrid); 2018-02-01 … 2019-04-01 not read, the boundary is 2019-04-01.
            ("properties.allowSharedKeyAccess", "2019-04-01"),
            # The 2021-02-01 template reference lacks it; the 2021-04-01 one has it.
            ("properties.allowCrossTenantReplication", "2021-04-01"),
            # Absent from the 2017-10-01 template reference; the first version defining it was not
            # read, so only versions up to 2017-10-01 lose it.
            ("properties.publicNetworkAccess", "2018-02-01"),
        ),
        ROLE_ASSIGNMENT_TYPE: (
            # 2015-07-01 and 2018-01-01-preview RoleAssignmentPropertiesWithScope: scope,
            # roleDefinitionId, principalId (+ canDelegate); azure-mgmt-authorization's v2018_09_01_preview
            # model is the first with principalType.
            ("properties.principalType", "2018-09-01-preview"),
            # azure-mgmt-authorization's v2020_04_01_preview RoleAssignment is the first of its models with
            # the audit fields; 2020-03-01-preview has no model there and is treated as without them.
            ("properties.createdOn", "2020-04-01-preview"),
            ("properties.updatedOn", "2020-04-01-preview"),
            ("properties.createdBy", "2020-04-01-preview"),
            ("properties.updatedBy", "2020-04-01-preview"),
        ),
        ROLE_DEFINITION_TYPE: (
            # stable/2015-07-01 authorization-RoleDefinitionsCalls.json: Permission has actions and
            # notActions only; azure-mgmt-authorization's v2018_01_01_preview Permission adds both.
            ("properties.permissions[].dataActions", "2018-01-01-preview"),
            ("properties.permissions[].notDataActions", "2018-01-01-preview"),
        ),
        # 2021-05-01-preview introduced category groups: a log setting's categoryGroup, and the groups
        # a category belongs to; 2017-05-01-preview LogSettings and DiagnosticSettingsCategory lack them.
        DIAGNOSTIC_SETTING_TYPE: (("properties.logs[].categoryGroup", "2021-05-01-preview"),),
        DIAGNOSTIC_CATEGORY_TYPE: (("properties.categoryGroups", "2021-05-01-preview"),),
    }
)


def _before(resource_type: str, version: str, first: str) -> bool:
    versions = PUBLISHED_VERSIONS[resource_type]
    return versions.index(version) < versions.index(first)


def absent_fields(resource_type: str, version: str) -> tuple[str, ...]:
    """The dotted paths of the fields the sandbox serves that ``version`` of the type does not define."""
    return tuple(
        path
        for path, first in FIELDS_INTRODUCED.get(resource_type, ())
        if _before(resource_type, version, first)
    )


def require_api_version(query: Mapping[str, str], resource_type: str) -> str:
    """The request's ``api-version`` if it is published for ``resource_type``, else ARM's 400.

    The message is ARM's own: "The api-version '<v>' is invalid. The supported versions are
    '<newest first, comma-separated>'." (as quoted in Azure/azure-sdk-for-net#2276).
    """
    given = query.get("api-version")
    versions = PUBLISHED_VERSIONS[resource_type]
    if given in versions:
        return given
    supported = ",".join(reversed(versions))
    problem = (
        "The api-version query parameter is required"
        if given is None
        else f"The api-version '{given}' is invalid"
    )
    raise ArmFault(
        400,
        "InvalidApiVersionParameter",
        f"{problem}. The supported versions are '{supported}'.",
        target="api-version",
    )


def introduced_in(resource_type: str, template: str) -> str | None:
    """The first version defining the route ``template`` (a sandbox path template), if not the first."""
    literals = [s for s in template.strip("/").split("/") if not s.startswith("{")]
    last = literals[-1].lower() if literals else ""
    for segment, first in ROUTES_INTRODUCED.get(resource_type, ()):
        if segment.lower() == last:
            return first
    return None


def require_route_in_version(resource_type: str, template: str, path: str, version: str) -> None:
    """Refuse a route that ``version`` does not define as ARM refuses a path it does not know: 404."""
    first = introduced_in(resource_type, template)
    if first is not None and _before(resource_type, version, first):
        raise ArmFault(
            404,
            "NotFound",
            f"The sandbox serves no ARM path '{path}' at api-version '{version}'; "
            f"{resource_type} defines it from '{first}'.",
        )


def shaped_for_version(body: Any, resource_type: str, version: str) -> Any:
    """``body`` as ``version`` shapes it: the fields that version does not define removed.

    A page (``{"value": [...]}``) has each item shaped. ``body`` itself is never changed: a copy is
    made when there is anything to remove, else ``body`` is returned as it is.
    """
    paths = absent_fields(resource_type, version)
    if not paths or not isinstance(body, dict):
        return body
    shaped = copy.deepcopy(body)
    items = shaped["value"] if isinstance(shaped.get("value"), list) else [shaped]
    for item in items:
        for path in paths:
            _remove(item, path.split("."))
    return shaped


def _remove(node: Any, steps: list[str]) -> None:
    if not steps or not isinstance(node, dict):
        return
    step, rest = steps[0], steps[1:]
    if step.endswith("[]"):
        children = node.get(step[:-2])
        for child in children if isinstance(children, list) else []:
            _remove(child, rest)
    elif not rest:
        node.pop(step, None)
    else:
        _remove(node.get(step), rest)
