"""The sandbox's backup and restore: the live LRO shape, the spec shape, outcomes and their effects."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from httpx import Response

from chsm_checks.sandbox import SandboxSettings, create_app
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.settings import LroStyle

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
CLUSTERS = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
HSM_API = "api-version=2025-03-31"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
NO_ACCESS_URI = "https://chsmnoaccesssbx.blob.core.windows.net/chsm-backups"
FAST = SandboxSettings(backup_seconds=0.05, restore_seconds=0.05)
SIGNED_LOCATION = re.compile(
    r"http://testserver/subscriptions/[0-9a-f-]{36}/resourceGroups/rg-chsm-sandbox/providers/"
    r"Microsoft\.HardwareSecurityModules/cloudHsmClusters/(?P<cluster>[\w-]+)/"
    r"(?P<kind>backup|restore)OperationStatus/(?P<job>[0-9a-f]{32})\?api-version=2025-03-31"
    r"&t=\d{18}&c=[\w-]{300}&s=[\w-]{340}&h=[\w-]{43}"
)
# As .NET writes times: up to seven fractional digits, trailing zeros dropped.
ARM_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?Z")


def make_client(tmp_path: Path, settings: SandboxSettings = FAST) -> TestClient:
    return TestClient(create_app(tmp_path, settings))


def start(client: TestClient, cluster: str, action: str, body: dict[str, Any]) -> Response:
    response: Response = client.post(f"{CLUSTERS}/{cluster}/{action}?{HSM_API}", json=body)
    assert response.status_code == 202, response.text
    return response


def finish(client: TestClient, location: str) -> dict[str, Any]:
    """Poll a status URL until it stops answering 202; return the final ``properties``."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = client.get(location)
        if response.status_code != 202:
            assert response.status_code == 200, response.text
            properties: dict[str, Any] = response.json()["properties"]
            return properties
        time.sleep(0.02)
    raise AssertionError(f"{location} still running after 5 s")


def backup(client: TestClient, uri: str = CONTAINER_URI, cluster: str = "chsm-source") -> dict[str, Any]:
    return finish(
        client, start(client, cluster, "backup", {"azureStorageBlobContainerUri": uri}).headers["location"]
    )


def restore(client: TestClient, backup_id: str, cluster: str = "chsm-dest") -> dict[str, Any]:
    body = {"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": backup_id}
    return finish(client, start(client, cluster, "restore", body).headers["location"])


def activation(client: TestClient, cluster: str) -> str:
    state: str = client.get(f"{CLUSTERS}/{cluster}?{HSM_API}").json()["properties"]["activationState"]
    return state


def test_backup_follows_the_live_lro_shape(tmp_path: Path) -> None:
    client = make_client(tmp_path, SandboxSettings(backup_seconds=0.3))

    accepted = start(client, "chsm-source", "backup", {"azureStorageBlobContainerUri": CONTAINER_URI})

    assert accepted.content == b""
    assert "azure-asyncoperation" not in accepted.headers
    assert "retry-after" not in accepted.headers
    location = accepted.headers["location"]
    match = SIGNED_LOCATION.fullmatch(location)
    assert match is not None, location
    assert (match["cluster"], match["kind"]) == ("chsm-source", "backup")

    running = client.get(location)
    assert (running.status_code, running.content) == (202, b"")
    assert running.headers["location"] == location.split("&t=")[0]
    assert "retry-after" not in running.headers

    result = finish(client, running.headers["location"])
    assert list(result) == [
        "backupId",
        "azureStorageBlobContainerUri",
        "status",
        "statusDetails",
        "startTime",
        "endTime",
        "jobId",
    ]
    assert re.fullmatch(r"cloudhsm-[0-9a-f-]{36}-\d{16}", result["backupId"])
    assert result["azureStorageBlobContainerUri"] == CONTAINER_URI
    assert result["status"] == "Succeeded"
    assert result["jobId"] == match["job"]
    assert ARM_TIME.fullmatch(result["startTime"])
    assert ARM_TIME.fullmatch(result["endTime"])
    state = client.get("/_sandbox/state").json()
    container_id = f"{ACCOUNT}/blobServices/default/containers/chsm-backups"
    assert state["backups"] == {container_id: [result["backupId"]]}


def test_spec_style_sends_async_operation_and_retry_after(tmp_path: Path) -> None:
    client = make_client(tmp_path, SandboxSettings(lro_style="spec", backup_seconds=0.3))

    accepted = start(client, "chsm-source", "backup", {"azureStorageBlobContainerUri": CONTAINER_URI})
    running = client.get(accepted.headers["azure-asyncoperation"])

    assert accepted.headers["azure-asyncoperation"] == accepted.headers["location"]
    assert accepted.headers["retry-after"] == "1"
    assert running.status_code == 202
    assert running.headers["azure-asyncoperation"] == running.headers["location"]
    assert running.headers["retry-after"] == "1"


@pytest.mark.parametrize(("style", "async_header"), [("live", False), ("spec", True)])
def test_explicit_retry_after_is_sent_in_either_style(
    tmp_path: Path, style: LroStyle, async_header: bool
) -> None:
    client = make_client(tmp_path, SandboxSettings(lro_style=style, retry_after=7))

    accepted = start(client, "chsm-source", "backup", {"azureStorageBlobContainerUri": CONTAINER_URI})

    assert accepted.headers["retry-after"] == "7"
    assert ("azure-asyncoperation" in accepted.headers) is async_header


def test_restore_into_a_not_activated_cluster_activates_it(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    backup_id = backup(client)["backupId"]

    result = restore(client, backup_id)

    assert list(result) == ["status", "startTime", "endTime", "jobId"]
    assert result["status"] == "Succeeded"
    assert ARM_TIME.fullmatch(result["startTime"])
    assert ARM_TIME.fullmatch(result["endTime"])
    assert re.fullmatch(r"[0-9a-f]{32}", result["jobId"])
    assert activation(client, "chsm-dest") == "Active"


def test_restore_into_an_active_cluster_fails_and_breaks_it(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    backup_id = backup(client)["backupId"]
    client.patch("/_sandbox/clusters/chsm-dest", json={"activationState": "Active"})

    result = restore(client, backup_id)

    assert result["status"] == "Failed"
    assert result["error"]["code"] == "RestoreTargetNotEligible"
    assert activation(client, "chsm-dest") == "Failed"


def test_backup_without_a_blob_data_role_fails(tmp_path: Path) -> None:
    client = make_client(tmp_path)

    result = backup(client, NO_ACCESS_URI)

    assert result["status"] == "Failed"
    assert "backupId" not in result
    assert result["error"]["code"] == "AuthorizationPermissionMismatch"
    assert client.get("/_sandbox/state").json()["backups"] == {}


@pytest.mark.parametrize(
    ("cluster", "uri", "code"),
    [
        ("chsm-dest", CONTAINER_URI, "ClusterNotActivated"),
        ("chsm-source", "https://nosuchaccount.blob.core.windows.net/chsm-backups", "StorageAccountNotFound"),
        ("chsm-source", "https://chsmbackupsbx.blob.core.windows.net/other", "ContainerNotFound"),
    ],
)
def test_backup_failures_carry_their_code(tmp_path: Path, cluster: str, uri: str, code: str) -> None:
    result = backup(make_client(tmp_path), uri, cluster)

    assert (result["status"], result["error"]["code"]) == ("Failed", code)
    assert result["statusDetails"] == result["error"]["message"]


def test_restore_of_an_unknown_backup_fails_and_leaves_the_destination_alone(tmp_path: Path) -> None:
    client = make_client(tmp_path)

    result = restore(client, f"cloudhsm-{sandbox_guid(9, 'backup', 1)}-1748736000000000")

    assert result["error"]["code"] == "BackupNotFound"
    assert activation(client, "chsm-dest") == "NotActivated"


def test_validations_judge_without_effects(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    body = {"azureStorageBlobContainerUri": CONTAINER_URI}

    checked = finish(
        client, start(client, "chsm-source", "validateBackupProperties", body).headers["location"]
    )
    assert checked["status"] == "Succeeded"
    assert "backupId" not in checked
    assert client.get("/_sandbox/state").json()["backups"] == {}

    backup_id = backup(client)["backupId"]
    client.patch("/_sandbox/clusters/chsm-dest", json={"activationState": "Active"})
    refused = finish(
        client,
        start(client, "chsm-dest", "validateRestoreProperties", {**body, "backupId": backup_id}).headers[
            "location"
        ],
    )
    assert refused["error"]["code"] == "RestoreTargetNotEligible"
    assert activation(client, "chsm-dest") == "Active"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("backup", b"not json"),
        ("backup", b"[]"),
        ("backup", b"{}"),
        ("backup", b'{"azureStorageBlobContainerUri": 5}'),
        (
            "backup",
            b'{"azureStorageBlobContainerUri": "http://chsmbackupsbx.blob.core.windows.net/chsm-backups"}',
        ),
        ("backup", b'{"azureStorageBlobContainerUri": "https://chsmbackupsbx.example.com/chsm-backups"}'),
        ("backup", b'{"azureStorageBlobContainerUri": "https://chsmbackupsbx.blob.core.windows.net/"}'),
        (
            "backup",
            b'{"azureStorageBlobContainerUri": "https://chsmbackupsbx.blob.core.windows.net/c?sv=1&sig=x"}',
        ),
        (
            "restore",
            b'{"azureStorageBlobContainerUri": "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"}',
        ),
        (
            "validateRestoreProperties",
            b'{"azureStorageBlobContainerUri": "https://a.blob.core.windows.net/c", "backupId": ""}',
        ),
    ],
)
def test_malformed_bodies_are_invalid_request_content(tmp_path: Path, action: str, body: bytes) -> None:
    client = make_client(tmp_path)

    response = client.post(f"{CLUSTERS}/chsm-source/{action}?{HSM_API}", content=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"
    assert "sig=" not in response.text


def test_a_token_is_accepted_counted_and_never_kept(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    secret = "se=2030-01-01&sig=SECRETSECRET"

    start(client, "chsm-source", "backup", {"azureStorageBlobContainerUri": CONTAINER_URI, "token": secret})

    assert client.get("/_sandbox/state").json()["received_tokens"] == 1
    assert secret not in (tmp_path / "state.json").read_text(encoding="utf-8")


def test_effects_apply_without_polling_and_survive_a_restart(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    backup_id = backup(client)["backupId"]
    start(
        client, "chsm-dest", "restore", {"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": backup_id}
    )
    time.sleep(0.1)

    again = TestClient(create_app(tmp_path))

    assert activation(again, "chsm-dest") == "Active"
