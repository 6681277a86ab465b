"""Reading the resources a Cloud HSM backup depends on, and sending backup and restore.

Reads return typed snapshots. ``post_backup`` and ``post_restore`` send without asking whether
they should: call them only through ``chsm_checks.guard``, which decides that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import versions
from .client import ArmClient
from .errors import ArmError, ErrorDetail
from .lro import OperationResult, PollPolicy, wait_for_operation
from .snapshots import (
    ActivityEvent,
    BlobServiceSnapshot,
    ClusterSnapshot,
    ContainerSnapshot,
    DiagnosticCategory,
    DiagnosticSetting,
    IdentitySnapshot,
    ManagementLock,
    PrivateEndpointSnapshot,
    RoleAssignment,
    RoleDefinition,
    StorageAccountSnapshot,
    arm_instant,
)


def get_cluster(client: ArmClient, cluster_id: str) -> ClusterSnapshot:
    return ClusterSnapshot.from_arm(client.get_json(cluster_id, versions.CLUSTERS))


def get_identity(client: ArmClient, identity_id: str) -> IdentitySnapshot:
    return IdentitySnapshot.from_arm(client.get_json(identity_id, versions.MANAGED_IDENTITY))


def get_storage_account(client: ArmClient, account_id: str) -> StorageAccountSnapshot:
    return StorageAccountSnapshot.from_arm(client.get_json(account_id, versions.STORAGE))


def get_blob_service(client: ArmClient, blob_service_id: str) -> BlobServiceSnapshot:
    return BlobServiceSnapshot.from_arm(client.get_json(blob_service_id, versions.STORAGE))


def get_container(client: ArmClient, container_id: str) -> ContainerSnapshot:
    return ContainerSnapshot.from_arm(client.get_json(container_id, versions.STORAGE))


def get_private_endpoint(client: ArmClient, endpoint_id: str) -> PrivateEndpointSnapshot:
    return PrivateEndpointSnapshot.from_arm(client.get_json(endpoint_id, versions.NETWORK))


def list_role_assignments(client: ArmClient, scope: str, principal_id: str) -> list[RoleAssignment]:
    """Assignments to ``principal_id`` at, above and below ``scope`` (all pages)."""
    path = scope.rstrip("/") + "/providers/Microsoft.Authorization/roleAssignments"
    return [
        RoleAssignment.from_arm(item)
        for item in client.list_pages(
            path, versions.ROLE_ASSIGNMENTS, params={"$filter": f"principalId eq '{principal_id}'"}
        )
    ]


def list_role_assignments_at_and_above(client: ArmClient, scope: str) -> list[RoleAssignment]:
    """Everyone's assignments at ``scope`` and above it (``$filter=atScope()``, all pages): for a
    subscription, those it inherits from its management groups and the tenant root too."""
    path = scope.rstrip("/") + "/providers/Microsoft.Authorization/roleAssignments"
    return [
        RoleAssignment.from_arm(item)
        for item in client.list_pages(path, versions.ROLE_ASSIGNMENTS, params={"$filter": "atScope()"})
    ]


def list_locks(client: ArmClient, subscription_id: str) -> list[ManagementLock]:
    """Every management lock of a subscription: on it, its resource groups and their resources."""
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/locks"
    return [ManagementLock.from_arm(item) for item in client.list_pages(path, versions.LOCKS)]


def list_diagnostic_settings(client: ArmClient, resource_id: str) -> list[DiagnosticSetting]:
    """The diagnostic settings of one resource (a cluster, a blob service)."""
    path = f"{resource_id.rstrip('/')}/providers/Microsoft.Insights/diagnosticSettings"
    return [
        DiagnosticSetting.from_arm(item) for item in client.list_pages(path, versions.DIAGNOSTIC_SETTINGS)
    ]


def list_diagnostic_categories(client: ArmClient, resource_id: str) -> list[DiagnosticCategory]:
    """The log and metric categories a resource offers its diagnostic settings, with their groups."""
    path = f"{resource_id.rstrip('/')}/providers/Microsoft.Insights/diagnosticSettingsCategories"
    return [
        DiagnosticCategory.from_arm(item) for item in client.list_pages(path, versions.DIAGNOSTIC_CATEGORIES)
    ]


ACTIVITY_FIELDS = "eventDataId,correlationId,operationName,status,eventTimestamp,resourceId"


def list_activity(client: ArmClient, resource_id: str, start: datetime, end: datetime) -> list[ActivityEvent]:
    """The activity log's events for one resource between ``start`` and ``end`` (all pages): only the
    fields a judgement reads are asked for, so no caller, claim or address is ever received."""
    subscription = resource_id.strip("/").split("/")[1]
    path = f"/subscriptions/{subscription}/providers/Microsoft.Insights/eventtypes/management/values"
    window = f"eventTimestamp ge '{arm_instant(start)}' and eventTimestamp le '{arm_instant(end)}'"
    params = {"$filter": f"{window} and resourceUri eq '{resource_id}'", "$select": ACTIVITY_FIELDS}
    return [ActivityEvent.from_arm(item) for item in client.list_pages(path, versions.ACTIVITY_LOG, params)]


def get_role_definition(client: ArmClient, role_definition_id: str) -> RoleDefinition:
    """A role definition by the id an assignment names (with or without a subscription prefix)."""
    return RoleDefinition.from_arm(client.get_json(role_definition_id, versions.ROLE_DEFINITIONS))


def _start_and_wait(
    client: ArmClient, cluster_id: str, operation: str, body: dict[str, Any], policy: PollPolicy
) -> OperationResult:
    try:
        first = client.send("POST", f"{cluster_id}/{operation}", api_version=versions.CLUSTERS, json=body)
    except ArmError as exc:
        # A 4xx the service chose to answer is its verdict on the request; anything else is not.
        if exc.status is None or exc.status >= 500 or exc.status in (408, 429):
            raise
        return OperationResult(
            operation=operation,
            status="Rejected",
            error=ErrorDetail(code=exc.code, message=exc.message, target=exc.target),
            http_status=exc.status,
        )

    def status_url(job_id: str) -> str:
        path = f"{cluster_id}/{operation}OperationStatus/{job_id}"
        return str(client.url(path, versions.CLUSTERS))

    return wait_for_operation(
        client, first, operation=operation, policy=policy, status_url_for_job=status_url
    )


def post_backup(
    client: ArmClient, cluster_id: str, container_uri: str, policy: PollPolicy
) -> OperationResult:
    """POST ``/backup`` and wait for the job. Unguarded: use ``chsm_checks.guard``."""
    return _start_and_wait(
        client, cluster_id, "backup", {"azureStorageBlobContainerUri": container_uri}, policy
    )


def post_restore(
    client: ArmClient, cluster_id: str, container_uri: str, backup_id: str, policy: PollPolicy
) -> OperationResult:
    """POST ``/restore`` and wait for the job. Unguarded: use ``chsm_checks.guard``."""
    body = {"azureStorageBlobContainerUri": container_uri, "backupId": backup_id}
    return _start_and_wait(client, cluster_id, "restore", body, policy)


__all__ = [
    "get_blob_service",
    "get_cluster",
    "get_container",
    "get_identity",
    "get_private_endpoint",
    "get_role_definition",
    "get_storage_account",
    "list_activity",
    "list_diagnostic_categories",
    "list_diagnostic_settings",
    "list_locks",
    "list_role_assignments",
    "post_backup",
    "post_restore",
]
