"""Every published api-version is accepted, each answered in its own shape; unknown ones are ARM's 400."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chsm_checks.arm.versions import API_VERSIONS as PINNED
from chsm_checks.sandbox import SandboxSettings, create_app
from chsm_checks.sandbox.activity import ACTIVITY_TYPE
from chsm_checks.sandbox.api_versions import PUBLISHED_VERSIONS, absent_fields, shaped_for_version
from chsm_checks.sandbox.graph import GRAPH_PATH, GRAPH_TYPE
from chsm_checks.sandbox.ids import sandbox_guid
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
from tests.support.processes import sandbox_process

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
CLUSTER = f"{GROUP}/providers/{CLUSTER_TYPE}/chsm-source"
ACCOUNT = f"{GROUP}/providers/{STORAGE_TYPE}/chsmbackupsbx"
CONTAINER = f"{ACCOUNT}/blobServices/default/containers/chsm-backups"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"

# One GET per served type, at a path the seeded world answers with 200.
GET_OF_TYPE = {
    CLUSTER_TYPE: CLUSTER,
    STORAGE_TYPE: ACCOUNT,
    PRIVATE_ENDPOINT_TYPE: f"{GROUP}/providers/{PRIVATE_ENDPOINT_TYPE}/pe-chsmbackupsbx-blob",
    IDENTITY_TYPE: f"{GROUP}/providers/{IDENTITY_TYPE}/id-chsm-backup",
    ROLE_ASSIGNMENT_TYPE: f"/subscriptions/{SUB}/providers/{ROLE_ASSIGNMENT_TYPE}",
    ROLE_DEFINITION_TYPE: f"/subscriptions/{SUB}/providers/{ROLE_DEFINITION_TYPE}/{OWNER}",
    SUBSCRIPTION_TYPE: "/subscriptions",
    LOCK_TYPE: f"/subscriptions/{SUB}/providers/{LOCK_TYPE}",
    DIAGNOSTIC_SETTING_TYPE: f"{CLUSTER}/providers/{DIAGNOSTIC_SETTING_TYPE}",
    DIAGNOSTIC_CATEGORY_TYPE: f"{ACCOUNT}/blobServices/default/providers/{DIAGNOSTIC_CATEGORY_TYPE}",
    ACTIVITY_TYPE: f"/subscriptions/{SUB}/providers/{ACTIVITY_TYPE}/management/values",
}
# The one served type that is POSTed: a Resource Graph query of the sandbox's subset.
POST_OF_TYPE = {
    GRAPH_TYPE: (
        GRAPH_PATH,
        {"subscriptions": [SUB], "query": "resources | where type =~ 'microsoft.storage/storageaccounts'"},
    )
}
# The activity log answers only a request with a time window (within the 90 days it keeps).
_DAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
EXTRA_QUERY = {ACTIVITY_TYPE: {"$filter": f"eventTimestamp ge '{_DAY}' and eventTimestamp le '{_DAY}'"}}


def params_for(kind: str, version: str) -> dict[str, str]:
    """The query of :data:`GET_OF_TYPE`'s request for ``kind`` at ``version``."""
    return {"api-version": version, **EXTRA_QUERY.get(kind, {})}


def ask(http: Any, kind: str, version: str, base: str = "") -> httpx.Response:
    """``kind``'s request at ``version``: its GET of :data:`GET_OF_TYPE`, or its POST of
    :data:`POST_OF_TYPE`; ``http`` is a TestClient, or the httpx module with ``base`` the sandbox's URL."""
    if kind in POST_OF_TYPE:
        path, body = POST_OF_TYPE[kind]
        response: httpx.Response = http.post(base + path, params=params_for(kind, version), json=body)
    else:
        response = http.get(base + GET_OF_TYPE[kind], params=params_for(kind, version))
    return response


# What each official SDK sends when the caller sets no api-version, read from the released packages
# (each client's _configuration.py default, or DEFAULT_API_VERSION of the multi-api client).
SDK_DEFAULTS = [
    ("azure-mgmt-hardwaresecuritymodules 1.0.0", CLUSTER_TYPE, "2025-03-31"),
    ("azure-mgmt-storage 25.3.0", STORAGE_TYPE, "2026-09-01"),
    ("azure-mgmt-authorization 4.0.0", ROLE_ASSIGNMENT_TYPE, "2022-04-01"),
    ("azure-mgmt-authorization 4.0.0", ROLE_DEFINITION_TYPE, "2022-04-01"),
    ("azure-mgmt-msi 7.1.0", IDENTITY_TYPE, "2024-11-30"),
    ("azure-mgmt-network 33.1.0", PRIVATE_ENDPOINT_TYPE, "2026-03-01"),
    ("azure-mgmt-monitor 6.0.2", DIAGNOSTIC_SETTING_TYPE, "2021-05-01-preview"),
    ("azure-mgmt-monitor 6.0.2", DIAGNOSTIC_CATEGORY_TYPE, "2021-05-01-preview"),
    ("azure-mgmt-monitor 6.0.2", ACTIVITY_TYPE, "2015-04-01"),
    ("azure-mgmt-resourcegraph 8.0.1", GRAPH_TYPE, "2021-03-01"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One sandbox for the read-only tests of this module."""
    with TestClient(create_app(tmp_path_factory.mktemp("sandbox"), SandboxSettings())) as test_client:
        yield test_client


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[TestClient]:
    """A sandbox of its own, for a test that starts operations."""
    settings = SandboxSettings(backup_seconds=0.05, restore_seconds=0.05)
    with TestClient(create_app(tmp_path, settings)) as test_client:
        yield test_client


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


@pytest.mark.parametrize(
    ("kind", "version"),
    [(kind, version) for kind, versions in PUBLISHED_VERSIONS.items() for version in versions],
)
def test_every_published_version_is_accepted_on_a_get(client: TestClient, kind: str, version: str) -> None:
    response = ask(client, kind, version)

    assert response.status_code == 200, response.text


def test_the_table_covers_every_served_type_and_holds_each_pinned_version() -> None:
    assert set(PUBLISHED_VERSIONS) == set(GET_OF_TYPE) | set(POST_OF_TYPE) == set(PINNED)
    for kind, pinned in PINNED.items():
        assert pinned in PUBLISHED_VERSIONS[kind]


@pytest.mark.parametrize(("sdk", "kind", "default"), SDK_DEFAULTS)
def test_each_official_sdks_default_version_is_published(sdk: str, kind: str, default: str) -> None:
    assert default in PUBLISHED_VERSIONS[kind], f"{sdk} sends {default} for {kind}"


def test_versions_are_listed_oldest_first_without_repeats() -> None:
    for kind, versions in PUBLISHED_VERSIONS.items():
        assert len(set(versions)) == len(versions), kind
        assert list(versions) == sorted(versions, key=lambda v: v.removesuffix("-preview")), kind


@pytest.mark.parametrize("query", [{}, {"api-version": "2099-01-01"}, {"api-version": "2025-03-31-preview"}])
def test_a_missing_or_unknown_version_is_arms_400(client: TestClient, query: dict[str, str]) -> None:
    status, code, message = error(client.get(CLUSTER, params=query))

    assert (status, code) == (400, "InvalidApiVersionParameter")
    newest_first = ",".join(reversed(PUBLISHED_VERSIONS[CLUSTER_TYPE]))
    assert message.endswith(f"The supported versions are '{newest_first}'.")
    if query:
        assert message.startswith(f"The api-version '{query['api-version']}' is invalid.")


def test_a_version_of_another_type_is_refused(client: TestClient) -> None:
    # 2026-09-01 is storage's newest; no Cloud HSM spec has it.
    assert error(client.get(CLUSTER, params={"api-version": "2026-09-01"}))[:2] == (
        400,
        "InvalidApiVersionParameter",
    )


@pytest.mark.parametrize(
    ("path", "old", "field"),
    [
        (ACCOUNT, "2018-11-01", "allowSharedKeyAccess"),
        (ACCOUNT, "2018-11-01", "minimumTlsVersion"),
        (ACCOUNT, "2021-02-01", "allowCrossTenantReplication"),
        (ACCOUNT, "2017-10-01", "publicNetworkAccess"),
        (CLUSTER, "2023-12-10-preview", "activationState"),
        (CLUSTER, "2022-08-31-preview", "statusMessage"),
    ],
)
def test_a_field_is_absent_at_a_version_that_lacks_it_and_present_at_the_pinned_one(
    client: TestClient, path: str, old: str, field: str
) -> None:
    kind = CLUSTER_TYPE if path == CLUSTER else STORAGE_TYPE
    pinned = client.get(path, params={"api-version": PINNED[kind]}).json()
    older = client.get(path, params={"api-version": old}).json()

    assert field in pinned["properties"]
    assert field not in older["properties"]
    # Only what the old version lacks goes; the rest is the pinned answer.
    assert pinned["properties"].keys() - older["properties"].keys() == {
        f.split(".")[-1] for f in absent_fields(kind, old) if f.startswith("properties.")
    }


def test_the_first_cluster_preview_has_no_identity(client: TestClient) -> None:
    assert "identity" in client.get(CLUSTER, params={"api-version": "2025-03-31"}).json()
    assert "identity" not in client.get(CLUSTER, params={"api-version": "2022-08-31-preview"}).json()


def test_category_groups_are_absent_before_2021_05_01_preview(client: TestClient) -> None:
    settings = GET_OF_TYPE[DIAGNOSTIC_SETTING_TYPE]
    categories = GET_OF_TYPE[DIAGNOSTIC_CATEGORY_TYPE]
    old, new = ({"api-version": v} for v in ("2017-05-01-preview", "2021-05-01-preview"))
    (log,) = client.get(settings, params=new).json()["value"][0]["properties"]["logs"]
    (old_log,) = client.get(settings, params=old).json()["value"][0]["properties"]["logs"]
    assert log["categoryGroup"] == "audit"
    assert "categoryGroup" not in old_log
    assert {"categoryGroups"} <= client.get(categories, params=new).json()["value"][0]["properties"].keys()
    assert all(
        "categoryGroups" not in c["properties"] for c in client.get(categories, params=old).json()["value"]
    )


def test_role_definitions_before_data_actions_have_none(client: TestClient) -> None:
    path = GET_OF_TYPE[ROLE_DEFINITION_TYPE]
    pinned = client.get(path, params={"api-version": "2022-04-01"}).json()["properties"]["permissions"]
    old = client.get(path, params={"api-version": "2015-07-01"}).json()["properties"]["permissions"]

    assert all("dataActions" in p for p in pinned)
    assert old == [{k: v for k, v in p.items() if k in ("actions", "notActions")} for p in pinned]


def test_role_assignment_pages_lose_principal_type_item_by_item(client: TestClient) -> None:
    path = GET_OF_TYPE[ROLE_ASSIGNMENT_TYPE]
    pinned = client.get(path, params={"api-version": "2022-04-01"}).json()["value"]
    old = client.get(path, params={"api-version": "2018-01-01-preview"}).json()["value"]

    assert pinned
    assert all("principalType" in a["properties"] for a in pinned)
    assert [a["id"] for a in old] == [a["id"] for a in pinned]
    assert not any("principalType" in a["properties"] for a in old)


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_the_pinned_version_gets_todays_bytes(client: TestClient, kind: str) -> None:
    # Nothing the sandbox serves is stripped at a pinned version: the table has no entry for it.
    assert absent_fields(kind, PINNED[kind]) == ()
    body = ask(client, kind, PINNED[kind]).json()
    assert shaped_for_version(body, kind, PINNED[kind]) is body


@pytest.mark.parametrize(
    "action", ["backup", "restore", "validateBackupProperties", "validateRestoreProperties"]
)
def test_a_backup_route_is_refused_before_the_version_that_introduced_it(
    client: TestClient, action: str
) -> None:
    status, code, message = error(
        client.post(f"{CLUSTER}/{action}", params={"api-version": "2023-12-10-preview"})
    )

    assert (status, code) == (404, "NotFound")
    assert "2024-06-30-preview" in message


def test_operation_status_is_refused_before_its_version(client: TestClient) -> None:
    path = f"{CLUSTER}/backupOperationStatus/{sandbox_guid(1, 'job', 1)}"
    assert error(client.get(path, params={"api-version": "2022-08-31-preview"}))[:2] == (404, "NotFound")


def test_containers_are_refused_before_blob_json(client: TestClient) -> None:
    assert error(client.get(CONTAINER, params={"api-version": "2017-10-01"}))[:2] == (404, "NotFound")
    assert client.get(CONTAINER, params={"api-version": "2018-02-01"}).status_code == 200


def test_a_backup_started_at_a_preview_is_polled_at_that_preview(fresh: TestClient) -> None:
    container = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
    started = fresh.post(
        f"{CLUSTER}/backup",
        params={"api-version": "2024-06-30-preview"},
        json={"azureStorageBlobContainerUri": container},
    )

    assert started.status_code == 202, started.text
    assert "api-version=2024-06-30-preview" in started.headers["location"]


def test_the_served_sandbox_accepts_each_sdk_default(tmp_path: Path) -> None:
    with sandbox_process(tmp_path) as sandbox:
        for sdk, kind, default in SDK_DEFAULTS:
            response = ask(httpx, kind, default, base=sandbox.url)
            assert response.status_code == 200, f"{sdk}: {response.text}"
        refused = httpx.get(sandbox.url + CLUSTER, params={"api-version": "2099-01-01"}, timeout=30)
    assert error(refused)[:2] == (400, "InvalidApiVersionParameter")
