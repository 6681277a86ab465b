"""The ARM client's long-running operations against the real sandbox process, in both wire shapes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chsm_checks.arm import ArmClient, PollPolicy, RealClock
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.resources import (
    get_cluster,
    get_container,
    get_identity,
    get_private_endpoint,
    get_storage_account,
    list_role_assignments,
    post_backup,
    post_restore,
)
from chsm_checks.errors import CouldNotEvaluate, OperationTimeout
from tests.support.processes import Sandbox, sandbox_process

SUB = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox/providers"
SOURCE = f"{RG}/Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-source"
DEST = f"{RG}/Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-dest"
CONTAINER = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"


class CountingClock(RealClock):
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


@pytest.fixture
def spec_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    args = (
        "--lro-style",
        "spec",
        "--retry-after",
        "1",
        "--backup-seconds",
        "0.3",
        "--restore-seconds",
        "0.3",
    )
    with sandbox_process(tmp_path / "state", *args) as sandbox:
        yield sandbox


@pytest.fixture
def live_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox_process(
        tmp_path / "state", "--backup-seconds", "0.3", "--restore-seconds", "0.3"
    ) as sandbox:
        yield sandbox


def _client(sandbox: Sandbox, clock: CountingClock) -> ArmClient:
    return ArmClient(sandbox_cloud(sandbox.url), clock=clock)


def test_live_shape_location_only_then_empty_202s_then_200(live_sandbox: Sandbox) -> None:
    clock = CountingClock()
    with _client(live_sandbox, clock) as client:
        result = post_backup(client, SOURCE, CONTAINER, PollPolicy(default_interval_seconds=0.2))

    assert result.succeeded
    assert result.backup_id is not None
    assert result.backup_id.startswith("cloudhsm-")
    # No Retry-After came, so every wait was the default interval.
    assert clock.sleeps
    assert set(clock.sleeps) == {0.2}
    assert result.polls == len(clock.sleeps)
    posts = [r for r in live_sandbox.requests() if r["method"] == "POST"]
    assert len(posts) == 1


def test_spec_shape_honours_retry_after_and_async_operation(spec_sandbox: Sandbox) -> None:
    clock = CountingClock()
    with _client(spec_sandbox, clock) as client:
        backup = post_backup(client, SOURCE, CONTAINER, PollPolicy(default_interval_seconds=30))
        assert backup.succeeded
        assert backup.backup_id
        restore = post_restore(
            client, DEST, CONTAINER, backup.backup_id, PollPolicy(default_interval_seconds=30)
        )
        assert restore.succeeded
        assert get_cluster(client, DEST).activation_state == "Active"
    # Retry-After: 1 was honoured every time instead of the 30 s default.
    assert clock.sleeps
    assert set(clock.sleeps) == {1.0}


def test_a_restore_into_an_activated_cluster_fails_on_the_service(live_sandbox: Sandbox) -> None:
    # What the guard prevents: sent unguarded, the job fails and the destination is left Failed.
    clock = CountingClock()
    with _client(live_sandbox, clock) as client:
        backup = post_backup(client, SOURCE, CONTAINER, PollPolicy(default_interval_seconds=0.2))
        assert backup.backup_id
        result = post_restore(
            client, SOURCE, CONTAINER, backup.backup_id, PollPolicy(default_interval_seconds=0.2)
        )
        assert result.status == "Failed"
        assert result.error is not None
        assert result.error.code == "RestoreTargetNotEligible"
        assert get_cluster(client, SOURCE).activation_state == "Failed"


def test_an_operation_past_its_timeout_is_an_error_not_a_result(tmp_path: Path) -> None:
    with sandbox_process(tmp_path / "state", "--backup-seconds", "30") as sandbox:
        clock = CountingClock()
        with _client(sandbox, clock) as client, pytest.raises(OperationTimeout) as raised:
            post_backup(
                client, SOURCE, CONTAINER, PollPolicy(default_interval_seconds=0.2, timeout_seconds=1)
            )
    assert isinstance(raised.value, CouldNotEvaluate)
    assert sum(clock.sleeps) <= 1.0


def test_every_snapshot_reads_from_the_sandbox(live_sandbox: Sandbox) -> None:
    account = f"{RG}/Microsoft.Storage/storageAccounts/chsmbackupsbx"
    with _client(live_sandbox, CountingClock()) as client:
        cluster = get_cluster(client, SOURCE)
        identity_id = cluster.identities[0].resource_id
        identity = get_identity(client, identity_id)
        storage = get_storage_account(client, account)
        container = get_container(client, f"{account}/blobServices/default/containers/chsm-backups")
        endpoint = get_private_endpoint(
            client, f"{RG}/Microsoft.Network/privateEndpoints/pe-chsmbackupsbx-blob"
        )
        assert identity.principal_id is not None
        assignments = list_role_assignments(client, account, identity.principal_id)

    assert (cluster.activation_state, cluster.sku_family, len(cluster.hsms)) == ("Active", "B", 3)
    assert cluster.identities[0].principal_id is None  # as the live service answers
    assert identity.name == "id-chsm-backup"
    assert storage.allow_shared_key_access is False
    assert storage.minimum_tls_version == "TLS1_2"
    assert [c.status for c in storage.private_endpoint_connections] == ["Approved"]
    assert container.public_access == "None"
    assert endpoint.connections[0].group_ids == ("blob",)
    assert [a.role_guid for a in assignments] == ["ba92f5b4-2d11-453d-a403-e96b0029c9fe"]
    assert all(a.principal_id == identity.principal_id for a in assignments)
