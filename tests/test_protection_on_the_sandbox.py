"""The checks an auditor of backups adds (data protection, locks, private clusters, the audit trail),
live against the real sandbox: its compliant world passes them, and a change made through its control
API fails exactly the matching check, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import Sandbox, live_catalogue

SUB = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"  # the sandbox's own subscription for seed 1
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
SERVICE = f"{ACCOUNT}/blobServices/default"
CONTAINER = f"{SERVICE}/containers/chsm-backups"
SOURCE = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-source"
LOCK = f"{GROUP}/providers/Microsoft.Authorization/locks/lock-chsm-no-delete"

BLOB_SOFT_DELETE = "The backup account keeps what is deleted or overwritten: blob soft delete"
CONTAINER_SOFT_DELETE = "The backup account keeps what is deleted or overwritten: container soft delete"
VERSIONING = "The backup account keeps what is deleted or overwritten: versioning"
IMMUTABLE = "The backup container cannot be changed before its retention ends"
SECOND_REGION = "The backup account keeps a copy in a second region when the target requires one"
LOCKED = "Neither the backup account nor a cluster can be deleted while a lock stands"
PRIVATE = "Both clusters are private, reached through an approved private endpoint"
CLUSTER_AUDIT = "Each cluster's audit logs are kept"
BLOB_ACCESS = "Reads, writes and deletes of the backups are kept"
RECOVERY = "The source's latest successful backup is within the recovery point objective"
SETTINGS = "providers/Microsoft.Insights/diagnosticSettings"
PROTECTION = (
    BLOB_SOFT_DELETE,
    CONTAINER_SOFT_DELETE,
    VERSIONING,
    IMMUTABLE,
    SECOND_REGION,
    LOCKED,
    PRIVATE,
    CLUSTER_AUDIT,
    BLOB_ACCESS,
    RECOVERY,
)


def _as_seeded(sandbox: Sandbox) -> None:
    """The compliant world, unchanged."""


@pytest.fixture(scope="module")
def compliant(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return live_catalogue(tmp_path_factory.mktemp("compliant"), _as_seeded)


def test_the_compliant_sandbox_passes_every_protection_check(compliant: dict[str, dict[str, Any]]) -> None:
    assert {name: compliant[name]["outcome"] for name in PROTECTION} == dict.fromkeys(PROTECTION, "passed")
    [finding] = compliant[IMMUTABLE]["findings"]
    assert finding["observed"]["locked"] is True
    assert "Locked" in finding["message"]
    # Live, the recovery point is judged as of the run: the seeded backup ended 2 hours before the
    # sandbox started, on its wall clock.
    [point] = compliant[RECOVERY]["findings"]
    as_of = datetime.fromisoformat(point["observed"]["as_of"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - as_of) < timedelta(minutes=10)
    assert 2.0 <= point["observed"]["achieved_rpo_hours"] < 2.2


def soft_delete_off(sandbox: Sandbox) -> None:
    sandbox.arm("PATCH", SERVICE, {"properties": {"deleteRetentionPolicy": {"enabled": False, "days": None}}})


def soft_delete_for_three_days(sandbox: Sandbox) -> None:
    sandbox.arm("PATCH", SERVICE, {"properties": {"deleteRetentionPolicy": {"days": 3}}})


def container_soft_delete_off(sandbox: Sandbox) -> None:
    sandbox.arm("PATCH", SERVICE, {"properties": {"containerDeleteRetentionPolicy": {"enabled": False}}})


def versioning_off(sandbox: Sandbox) -> None:
    sandbox.arm("PATCH", SERVICE, {"properties": {"isVersioningEnabled": False}})


def retention_policy_deleted(sandbox: Sandbox) -> None:
    sandbox.arm(
        "PATCH", CONTAINER, {"properties": {"immutabilityPolicy": None, "hasImmutabilityPolicy": False}}
    )


def zone_redundant_only(sandbox: Sandbox) -> None:
    sandbox.arm("PATCH", ACCOUNT, {"sku": {"name": "Standard_ZRS"}})


def lock_removed(sandbox: Sandbox) -> None:
    sandbox.arm("DELETE", LOCK)


def source_opened_to_public_networks(sandbox: Sandbox) -> None:
    sandbox.arm("PATCH", SOURCE, {"properties": {"publicNetworkAccess": "Enabled"}})


def source_endpoint_rejected(sandbox: Sandbox) -> None:
    endpoint = f"{GROUP}/providers/Microsoft.Network/privateEndpoints/pe-chsm-source"
    body = sandbox.arm("GET", endpoint)
    body["properties"]["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"][
        "status"
    ] = "Rejected"
    sandbox.arm("PUT", endpoint, body)


def source_setting_sends_nowhere(sandbox: Sandbox) -> None:
    sandbox.arm("PATCH", f"{SOURCE}/{SETTINGS}/to-log-chsm-audit", {"properties": {"workspaceId": None}})


def blob_logs_deleted_and_reads_archived(sandbox: Sandbox) -> None:
    """The workspace setting goes; a new one archives reads only (writes and deletes unkept)."""
    sandbox.arm("DELETE", f"{SERVICE}/{SETTINGS}/to-log-chsm-audit")
    archive = {"storageAccountId": ACCOUNT, "logs": [{"category": "StorageRead", "enabled": True}]}
    sandbox.arm("PUT", f"{SERVICE}/{SETTINGS}/reads-only", {"properties": archive})


CASES: list[tuple[Callable[[Sandbox], None], str, str]] = [
    (soft_delete_off, BLOB_SOFT_DELETE, "deleteRetentionPolicy.enabled is false"),
    (
        soft_delete_for_three_days,
        BLOB_SOFT_DELETE,
        "kept 3 days, fewer than the target's min_soft_delete_days (7)",
    ),
    (container_soft_delete_off, CONTAINER_SOFT_DELETE, "containerDeleteRetentionPolicy.enabled is false"),
    (versioning_off, VERSIONING, "isVersioningEnabled is false"),
    (retention_policy_deleted, IMMUTABLE, "no time-based immutability policy"),
    (zone_redundant_only, SECOND_REGION, "Standard_ZRS, which keeps no copy in a second region"),
    (lock_removed, LOCKED, "has no CanNotDelete or ReadOnly lock"),
    (source_opened_to_public_networks, PRIVATE, "cluster chsm-source: publicNetworkAccess is Enabled"),
    (source_endpoint_rejected, PRIVATE, "pe-chsm-source: Rejected on the endpoint"),
    (source_setting_sends_nowhere, CLUSTER_AUDIT, "setting to-log-chsm-audit sends nowhere"),
    (
        blob_logs_deleted_and_reads_archived,
        BLOB_ACCESS,
        "no diagnostic setting keeps StorageWrite, StorageDelete",
    ),
]


@pytest.mark.parametrize(("shape", "scenario", "said"), CASES, ids=[shape.__name__ for shape, _, _ in CASES])
def test_a_change_through_the_control_api_fails_exactly_the_matching_check(
    tmp_path: Path,
    shape: Callable[[Sandbox], None],
    scenario: str,
    said: str,
    compliant: dict[str, dict[str, Any]],
) -> None:
    changed = live_catalogue(tmp_path, shape)
    assert changed[scenario]["outcome"] == "failed", changed[scenario]["message"]
    assert any(said in f["message"] for f in changed[scenario]["findings"]), changed[scenario]["findings"]
    others = {name: entry["outcome"] for name, entry in changed.items() if name != scenario}
    assert others == {name: compliant[name]["outcome"] for name in others}
