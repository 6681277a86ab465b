"""The sandbox's canaries: planted values are on the wire, and the sandbox counts where it saw them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from chsm_checks.sandbox import SandboxSettings
from chsm_checks.sandbox.app import app_for_store
from chsm_checks.sandbox.canaries import Canaries
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.state import SandboxStore

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

GROUP = f"/subscriptions/{sandbox_guid(1, 'subscription')}/resourceGroups/rg-chsm-sandbox"
SOURCE = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-source"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
IDENTITY = f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-chsm-backup"
BACKUP = {"azureStorageBlobContainerUri": "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"}
SIGNATURE = {"t": "1", "c": "canary-c", "s": "canary-s", "h": "canary-h", "sig": "canary+sig/=="}
TENANT = "5a4db0c5-ca7a-4000-8000-000000000001"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = SandboxStore(tmp_path, SandboxSettings(backup_seconds=60))  # every poll: 202
    with TestClient(Canaries(app_for_store(store), store)) as test_client:
        yield test_client


def _backup_location(client: TestClient) -> str:
    response = client.post(f"{SOURCE}/backup?api-version=2025-03-31", json=BACKUP)
    assert response.status_code == 202
    return response.headers["location"]


def test_status_urls_carry_the_planted_signature_and_polls_still_work(client: TestClient) -> None:
    planted = client.put("/_sandbox/canaries", json={"status_url": SIGNATURE, "watch": {"s": "canary-s"}})
    assert planted.status_code == 200

    location = _backup_location(client)
    poll = client.get(location)

    query = parse_qs(urlsplit(location).query)
    assert {k: v[0] for k, v in query.items() if k in SIGNATURE} == SIGNATURE
    assert query["api-version"] == ["2025-03-31"]
    assert poll.status_code == 202
    # Sent with the POST and the poll, each with a location; seen in the poll.
    assert client.get("/_sandbox/canaries").json() == {"seen": {"s": 1}, "sent": {"s": 2}}


def test_a_storage_key_and_renamed_ids_are_sent_and_counted(client: TestClient) -> None:
    tenant = client.get("/_sandbox/state").json()["tenant_id"]
    plan = {
        "storage_account_key": "canary-key==",
        "ids": {tenant: TENANT},
        "watch": {"key": "canary-key==", "tenant": TENANT, "bearer": "canary-bearer"},
    }
    assert client.put("/_sandbox/canaries", json=plan).status_code == 200

    account = client.get(f"{ACCOUNT}?api-version=2025-01-01").json()
    identity = client.get(
        f"{IDENTITY}?api-version=2024-11-30", headers={"Authorization": "Bearer canary-bearer"}
    )

    assert account["keys"] == [{"keyName": "key1", "value": "canary-key==", "permissions": "FULL"}]
    assert identity.json()["properties"]["tenantId"] == TENANT
    assert f"tenantId={TENANT}" in identity.headers["x-ms-operation-identifier"]
    assert tenant not in client.get("/_sandbox/state").text
    assert client.get("/_sandbox/canaries").json() == {
        "seen": {"bearer": 1},
        "sent": {"key": 1, "tenant": 2},
    }


def test_nothing_planted_changes_nothing(client: TestClient) -> None:
    query = parse_qs(urlsplit(_backup_location(client)).query)

    assert set(query) == {"api-version", "t", "c", "s", "h"}
    assert client.get("/_sandbox/canaries").json() == {"seen": {}, "sent": {}}


@pytest.mark.parametrize(
    "plan",
    [
        [],
        {"colour": "red"},
        {"status_url": {"x": "1"}},
        {"watch": {"a": ""}},
        {"ids": {"": "x"}},
        {"storage_account_key": 1},
    ],
)
def test_a_plan_it_cannot_follow_is_refused(client: TestClient, plan: object) -> None:
    assert client.put("/_sandbox/canaries", json=plan).status_code == 400
