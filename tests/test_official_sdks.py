"""Microsoft's own management SDKs, at their default api-versions and default policies, against the
sandbox over TLS: the judge of whether the sandbox is Azure as Azure's clients see it.

Each client is built as a user would build one, with a credential, a subscription, ``base_url`` and
``connection_verify=<the sandbox's CA>``, and nothing else: no policy subclass, no api-version
override. Only ``polling_interval`` is shortened, because the sandbox's jobs take seconds, not minutes.
Every model a call returns is held to its spec: a field the spec marks read-only (ARM returns it)
that the SDK reads as None fails the test, unless :data:`NOT_RETURNED_HERE` says why ARM itself
would leave it out for the resource the sandbox seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.hardwaresecuritymodules import HardwareSecurityModulesMgmtClient
from azure.mgmt.hardwaresecuritymodules.models import BackupRequestProperties, RestoreRequestProperties
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.storage import StorageManagementClient

from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.world import (
    BACKUP_ACCOUNT,
    CONTAINER,
    DEST_CLUSTER,
    IDENTITY,
    RESOURCE_GROUP,
    SOURCE_CLUSTER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
)
from tests.arm_fakes import FakeCredential
from tests.support.processes import Sandbox, sandbox_process
from tests.support.sdk_models import unread_returned

SUBSCRIPTION = sandbox_guid(1, "subscription")
GROUP_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
ACCOUNT_ID = f"{GROUP_ID}/providers/Microsoft.Storage/storageAccounts/{BACKUP_ACCOUNT}"
CONTAINER_URI = f"https://{BACKUP_ACCOUNT}.blob.core.windows.net/{CONTAINER}"
PRIVATE_ENDPOINT = f"pe-{BACKUP_ACCOUNT}-blob"
# More clusters than one page (100) holds, each with its own identity, account and private endpoint,
# in a subscription of their own: every list by subscription below is read across a nextLink.
FLEET_CLUSTERS = 120
FLEET_SUBSCRIPTION = sandbox_guid(1, "subscription", 1)

# Read-only fields ARM itself leaves out for the resources the sandbox seeds, each with the reason.
# Anything else read-only that an SDK reads as None is a gap in the sandbox.
NOT_RETURNED_HERE: dict[str, str] = {
    # The cluster's identity is user-assigned only: ARM returns principalId and tenantId for a
    # system-assigned identity. Live, a user-assigned identity's principalId and clientId on the
    # cluster came back null (shared/reference/ARM-WIRE.md); the sandbox follows the live service,
    # and the harness resolves the principal through the identity resource.
    "cluster: identity.principalId": "user-assigned only",
    "cluster: identity.tenantId": "user-assigned only",
    "cluster: identity.userAssignedIdentities{}.principalId": "null live",
    "cluster: identity.userAssignedIdentities{}.clientId": "null live",
    # The storage account is Standard_GRS (its secondary is not readable, so ARM writes no secondary
    # endpoints: those are RA-GRS's) with no custom domain, key or SAS policy, and has never failed
    # over, been restored or been migrated; ARM writes these only when that is so:
    "account: properties.secondaryEndpoints": "GRS: the secondary is not readable",
    "account: properties.geoReplicationStats": "only with $expand=geoReplicationStats",
    "account: properties.blobRestoreStatus": "only with $expand=blobRestoreStatus",
    "account: properties.lastGeoFailoverTime": "never failed over",
    "account: properties.failoverInProgress": "no failover running",
    "account: properties.customDomain": "none configured",
    "account: properties.keyPolicy": "none configured",
    "account: properties.sasPolicy": "none configured",
    # StorageAccountGetProperties.json (2025-01-01) shows no systemData, on the account or on its
    # private endpoint connections.
    "account: systemData": "not in the spec example",
    "account: properties.privateEndpointConnections[].systemData": "not in the spec example",
    # The backup container is live, unleased and has no time-based policy (BlobContainersGet.json,
    # 2025-01-01, writes immutabilityPolicy only for a container that has one, and no systemData).
    "container: properties.deletedTime": "not deleted",
    "container: properties.version": "not deleted",
    "container: properties.leaseDuration": "not leased",
    "container: properties.immutabilityPolicy": "none set",
    "container: systemData": "not in the spec example",
    "blob service: systemData": "not in the spec example (BlobServicesGet.json, 2025-01-01)",
    # IdentityListBySubscription.json and IdentityCreate.json (2024-11-30) show no systemData.
    "identity: systemData": "not in the spec example",
    # A private endpoint names its subnet by id only; the subnet's etag and type are the subnet's.
    "private endpoint: properties.subnet.etag": "a reference by id",
    "private endpoint: properties.subnet.type": "a reference by id",
    # …and so does its network interface (PrivateEndpointGet.json: networkInterfaces[].id only).
    "private endpoint: properties.networkInterfaces[].etag": "a reference by id",
    "private endpoint: properties.networkInterfaces[].name": "a reference by id",
    "private endpoint: properties.networkInterfaces[].type": "a reference by id",
    # The monitor spec's examples (getDiagnosticSetting.json, 2021-05-01-preview) show no systemData;
    # not confirmed against the live service.
    "diagnostic setting: systemData": "not in the spec example",
    "log category: systemData": "not in the spec example (getDiagnosticSettingsCategory.json)",
    # Microsoft's published built-in role pages give no dates, and ARM writes createdBy/updatedBy
    # null for a built-in; the sandbox does not invent the dates.
    "role definition: createdOn": "not published for built-ins",
    "role definition: updatedOn": "not published for built-ins",
    "role definition: createdBy": "null for built-ins",
    "role definition: updatedBy": "null for built-ins",
}


@pytest.fixture(scope="module")
def sdk_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox over HTTPS, with a fleet beside the seeded world so that lists page."""
    state = tmp_path_factory.mktemp("sdk-sandbox")
    with sandbox_process(state, "--fleet-clusters", str(FLEET_CLUSTERS), tls=True) as sandbox:
        yield sandbox


def client_options(sandbox: Sandbox, subscription: str = SUBSCRIPTION) -> dict[str, Any]:
    """What a user passes to any management client to reach the sandbox, and nothing more."""
    assert sandbox.url.startswith("https://127.0.0.1:"), sandbox.url
    assert sandbox.ca_file is not None
    return {
        "credential": FakeCredential(),
        "subscription_id": subscription,
        "base_url": sandbox.url,
        "connection_verify": str(sandbox.ca_file),
        "polling_interval": 0.2,
    }


def assert_returned(model: Any, kind: str) -> None:
    """Fail naming every returned field ``model`` read as None that :data:`NOT_RETURNED_HERE` does not
    explain; ``kind`` names the resource in that table."""
    gaps = sorted({path for path in unread_returned(model) if f"{kind}: {path}" not in NOT_RETURNED_HERE})
    assert not gaps, f"{kind}: the SDK read these returned fields as None: " + ", ".join(gaps)


def properties_of(model: Any) -> Any:
    """The model's ``properties``, which every resource here must have."""
    assert model.properties is not None, f"{model!r} has no properties"
    return model.properties


def api_versions_sent(sandbox: Sandbox, marker: str) -> set[str]:
    """The api-versions of the requests the sandbox logged whose path contains ``marker``."""
    seen = set()
    for request in sandbox.requests():
        if marker.lower() in str(request.get("path", "")).lower():
            query = str(request.get("query", ""))
            for part in query.split("&"):
                if part.startswith("api-version="):
                    seen.add(part.split("=", 1)[1])
    return seen


def test_cloud_hsm_sdk_gets_lists_backs_up_and_restores(sdk_sandbox: Sandbox) -> None:
    options = client_options(sdk_sandbox)
    client = HardwareSecurityModulesMgmtClient(**options)
    clusters = client.cloud_hsm_clusters

    source = clusters.get(RESOURCE_GROUP, SOURCE_CLUSTER)
    assert properties_of(source).activation_state == "Active"
    assert_returned(source, "cluster")
    in_group = [c.name for c in clusters.list_by_resource_group(RESOURCE_GROUP)]
    assert sorted(in_group) == sorted([SOURCE_CLUSTER, DEST_CLUSTER])
    assert {c.name for c in clusters.list_by_subscription()} == {SOURCE_CLUSTER, DEST_CLUSTER}
    fleet = HardwareSecurityModulesMgmtClient(**client_options(sdk_sandbox, FLEET_SUBSCRIPTION))
    in_fleet = list(fleet.cloud_hsm_clusters.list_by_subscription())
    assert len({c.id for c in in_fleet}) == FLEET_CLUSTERS
    for cluster in (in_fleet[0], in_fleet[-1]):
        assert_returned(cluster, "cluster")

    backup_request = BackupRequestProperties(azure_storage_blob_container_uri=CONTAINER_URI)
    validated = clusters.begin_validate_backup_properties(
        RESOURCE_GROUP, SOURCE_CLUSTER, backup_request
    ).result()
    assert properties_of(validated).status == "Succeeded"
    backup = clusters.begin_backup(RESOURCE_GROUP, SOURCE_CLUSTER, backup_request).result()
    assert properties_of(backup).status == "Succeeded"
    assert backup.properties.backup_id
    assert backup.properties.job_id
    assert_returned(backup, "backup")

    restore_request = RestoreRequestProperties(
        azure_storage_blob_container_uri=CONTAINER_URI, backup_id=backup.properties.backup_id
    )
    checked = clusters.begin_validate_restore_properties(
        RESOURCE_GROUP, DEST_CLUSTER, restore_request
    ).result()
    assert properties_of(checked).status == "Succeeded"
    restored = clusters.begin_restore(RESOURCE_GROUP, DEST_CLUSTER, restore_request).result()
    assert properties_of(restored).status == "Succeeded"
    assert_returned(restored, "restore")

    destination = clusters.get(RESOURCE_GROUP, DEST_CLUSTER)
    assert properties_of(destination).activation_state == "Active"
    assert api_versions_sent(sdk_sandbox, "cloudHsmClusters") == {client._config.api_version}
    # The SDK's own bearer policy asked for a token, as against Azure, and sent it over TLS.
    assert options["credential"].scopes
    assert set(options["credential"].scopes) == {("https://management.azure.com/.default",)}


def test_storage_sdk_reads_the_account_its_blob_service_and_container(sdk_sandbox: Sandbox) -> None:
    client = StorageManagementClient(**client_options(sdk_sandbox))

    account = client.storage_accounts.get_properties(RESOURCE_GROUP, BACKUP_ACCOUNT)
    assert account.id == ACCOUNT_ID
    assert properties_of(account).allow_shared_key_access is False
    assert_returned(account, "account")
    in_group = {a.name for a in client.storage_accounts.list_by_resource_group(RESOURCE_GROUP)}
    assert BACKUP_ACCOUNT in in_group
    assert {a.name for a in client.storage_accounts.list()} == in_group
    fleet = StorageManagementClient(**client_options(sdk_sandbox, FLEET_SUBSCRIPTION))
    in_fleet = list(fleet.storage_accounts.list())
    assert len({a.id for a in in_fleet}) == FLEET_CLUSTERS
    assert_returned(in_fleet[-1], "account")

    service = client.blob_services.get_service_properties(RESOURCE_GROUP, BACKUP_ACCOUNT)
    assert service.name == "default"
    assert_returned(service, "blob service")
    assert [s.name for s in client.blob_services.list(RESOURCE_GROUP, BACKUP_ACCOUNT)] == ["default"]

    container = client.blob_containers.get(RESOURCE_GROUP, BACKUP_ACCOUNT, CONTAINER)
    assert container.public_access == "None"
    assert_returned(container, "container")
    listed = [c.name for c in client.blob_containers.list(RESOURCE_GROUP, BACKUP_ACCOUNT)]
    assert CONTAINER in listed
    assert api_versions_sent(sdk_sandbox, "Microsoft.Storage") == {client._config.api_version}


def test_authorization_sdk_reads_role_assignments_and_definitions(sdk_sandbox: Sandbox) -> None:
    client = AuthorizationManagementClient(**client_options(sdk_sandbox))

    assignments = list(client.role_assignments.list_for_scope(ACCOUNT_ID))
    assert assignments, "the backup account has role assignments"
    for assignment in assignments:
        assert_returned(assignment, "role assignment")
    contributor = next(a for a in assignments if a.role_definition_id.endswith(STORAGE_BLOB_DATA_CONTRIBUTOR))
    again = client.role_assignments.get_by_id(contributor.id)
    assert again.principal_id == contributor.principal_id

    definition = client.role_definitions.get(ACCOUNT_ID, STORAGE_BLOB_DATA_CONTRIBUTOR)
    assert definition.role_name == "Storage Blob Data Contributor"
    assert_returned(definition, "role definition")
    wanted = "roleName eq 'Storage Blob Data Contributor'"
    named = list(client.role_definitions.list(ACCOUNT_ID, filter=wanted))
    assert [d.name for d in named] == [STORAGE_BLOB_DATA_CONTRIBUTOR]
    assert api_versions_sent(sdk_sandbox, "Microsoft.Authorization") == {"2022-04-01"}


def test_msi_sdk_reads_the_identity(sdk_sandbox: Sandbox) -> None:
    client = ManagedServiceIdentityClient(**client_options(sdk_sandbox))

    identity = client.user_assigned_identities.get(RESOURCE_GROUP, IDENTITY)
    assert identity.principal_id
    assert identity.client_id
    assert identity.tenant_id
    assert_returned(identity, "identity")
    identities = client.user_assigned_identities
    assert IDENTITY in {i.name for i in identities.list_by_resource_group(RESOURCE_GROUP)}
    assert IDENTITY in {i.name for i in identities.list_by_subscription()}
    fleet = ManagedServiceIdentityClient(**client_options(sdk_sandbox, FLEET_SUBSCRIPTION))
    in_fleet = list(fleet.user_assigned_identities.list_by_subscription())
    assert len({i.id for i in in_fleet}) == FLEET_CLUSTERS
    assert_returned(in_fleet[-1], "identity")
    assert api_versions_sent(sdk_sandbox, "Microsoft.ManagedIdentity") == {"2024-11-30"}


def test_network_sdk_reads_the_private_endpoint(sdk_sandbox: Sandbox) -> None:
    client = NetworkManagementClient(**client_options(sdk_sandbox))

    endpoint = client.private_endpoints.get(RESOURCE_GROUP, PRIVATE_ENDPOINT)
    assert endpoint.properties is not None
    connections = endpoint.properties.private_link_service_connections or []
    assert [c.properties.group_ids for c in connections if c.properties] == [["blob"]]
    assert_returned(endpoint, "private endpoint")
    assert PRIVATE_ENDPOINT in {e.name for e in client.private_endpoints.list(RESOURCE_GROUP)}
    assert PRIVATE_ENDPOINT in {e.name for e in client.private_endpoints.list_by_subscription()}
    fleet = NetworkManagementClient(**client_options(sdk_sandbox, FLEET_SUBSCRIPTION))
    in_fleet = list(fleet.private_endpoints.list_by_subscription())
    # Each fleet cluster has two: its storage account's (blob) and its own (cloudHsm).
    assert len({e.id for e in in_fleet}) == 2 * FLEET_CLUSTERS
    assert_returned(in_fleet[-1], "private endpoint")
    # azure-mgmt-network 33.1.0 sends 2026-03-01 for every private-endpoint operation.
    assert api_versions_sent(sdk_sandbox, "Microsoft.Network/privateEndpoints") == {"2026-03-01"}


def test_monitor_sdk_reads_diagnostic_settings_and_their_categories(sdk_sandbox: Sandbox) -> None:
    client = MonitorManagementClient(**client_options(sdk_sandbox))
    cluster_id = f"{GROUP_ID}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters/{SOURCE_CLUSTER}"
    blob_service_id = f"{ACCOUNT_ID}/blobServices/default"

    (kept,) = list(client.diagnostic_settings.list(cluster_id))
    assert str(kept.workspace_id).endswith("/workspaces/log-chsm-audit")
    assert [(log.category_group, log.enabled) for log in kept.logs] == [("audit", True)]
    assert client.diagnostic_settings.get(cluster_id, kept.name).id == kept.id
    categories = list(client.diagnostic_settings_category.list(blob_service_id))
    assert {(c.name, c.category_type, tuple(c.category_groups or ())) for c in categories} == {
        ("StorageRead", "Logs", ("allLogs",)),
        ("StorageWrite", "Logs", ("audit", "allLogs")),
        ("StorageDelete", "Logs", ("audit", "allLogs")),
        ("Transaction", "Metrics", ()),
    }
    (hsm_logs,) = list(client.diagnostic_settings_category.list(cluster_id))
    assert (hsm_logs.name, hsm_logs.category_type) == ("HsmServiceOperations", "Logs")
    for model, kind in ((kept, "diagnostic setting"), (hsm_logs, "log category")):
        assert_returned(model, kind)
    # azure-mgmt-monitor 6.0.2 sends 2021-05-01-preview for both operation groups.
    assert api_versions_sent(sdk_sandbox, "Microsoft.Insights/diagnosticSettings") == {"2021-05-01-preview"}


def test_monitor_sdk_reads_the_activity_log_across_pages(sdk_sandbox: Sandbox) -> None:
    client = MonitorManagementClient(**client_options(sdk_sandbox))
    cluster_id = f"{GROUP_ID}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters/{SOURCE_CLUSTER}"
    end = datetime.now(UTC) + timedelta(minutes=5)
    start = end - timedelta(days=89)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    window = f"eventTimestamp ge '{start:{stamp}}' and eventTimestamp le '{end:{stamp}}'"

    events = list(client.activity_logs.list(f"{window} and resourceUri eq '{cluster_id}'"))
    backups = [e for e in events if e.operation_name and e.operation_name.value.endswith("/backup/action")]
    assert len(backups) >= 10, "the seeded history: five backups, each Started and ended"
    assert {e.status.value for e in backups if e.status} >= {"Started", "Succeeded", "Failed"}
    assert all(e.event_timestamp is not None and e.event_timestamp.tzinfo for e in events)
    # Every cluster of the fleet subscription has its history: more events than one page holds.
    fleet = MonitorManagementClient(**client_options(sdk_sandbox, FLEET_SUBSCRIPTION))
    fleet_events = list(fleet.activity_logs.list(window))
    assert len({e.resource_id for e in fleet_events}) == FLEET_CLUSTERS
    selected = list(client.activity_logs.list(window, select="eventTimestamp,status"))
    assert selected
    assert all(e.operation_name is None and e.status is not None for e in selected)
    assert api_versions_sent(sdk_sandbox, "eventtypes/management/values") == {"2015-04-01"}
