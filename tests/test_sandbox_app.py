"""The sandbox ARM app: resource shapes, ARM errors, paging, headers, control routes, determinism."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import Response

import chsm_checks.sandbox
from chsm_checks.arm.client import answer_date
from chsm_checks.sandbox import SandboxSettings, create_app, seed_state
from chsm_checks.sandbox.clock import RecordedClock
from chsm_checks.sandbox.ids import sandbox_guid

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
TENANT = sandbox_guid(1, "tenant")
PRINCIPAL = sandbox_guid(1, "principal", 1)
OPERATOR = sandbox_guid(1, "principal", 2)
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
CLUSTERS = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
IDENTITY = f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-chsm-backup"
ENDPOINT = f"{GROUP}/providers/Microsoft.Network/privateEndpoints/pe-chsmbackupsbx-blob"
HSM_API = "api-version=2025-03-31"
STORAGE_API = "api-version=2025-01-01"
RBAC_API = "api-version=2022-04-01"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
FAST = SandboxSettings(backup_seconds=0.05, restore_seconds=0.05)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path, FAST)) as test_client:
        yield test_client


def arm_error(response: Response) -> str:
    """The ARM error code of a response, after checking the error body's shape."""
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "details", "additionalInfo"} <= set(error)
    assert (error["details"], error["additionalInfo"]) == ([], [])
    code: str = error["code"]
    return code


def test_public_names_are_few() -> None:
    assert sorted(chsm_checks.sandbox.__all__) == [
        "API_VERSIONS",
        "SandboxSettings",
        "create_app",
        "seed_state",
        "serve",
    ]


def test_cluster_has_the_live_shape(client: TestClient) -> None:
    response = client.get(f"{CLUSTERS}/chsm-source?{HSM_API}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == [
        "id",
        "name",
        "type",
        "location",
        "sku",
        "tags",
        "identity",
        "properties",
        "systemData",
    ]
    assert body["id"] == f"{CLUSTERS}/chsm-source"
    assert body["type"] == "Microsoft.HardwareSecurityModules/cloudHsmClusters"
    assert body["location"] == "uksouth"
    assert body["sku"] == {"family": "B", "name": "Standard_B1"}
    assert body["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": {IDENTITY: {"principalId": None, "clientId": None}},
    }
    props = body["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["activationState"] == "Active"
    assert props["publicNetworkAccess"] == "Disabled"
    # Reached through its own private endpoint, approved, as the HSM resource provider lists it.
    [connection] = props["privateEndpointConnections"]
    assert connection["properties"]["privateEndpoint"]["id"].endswith("/privateEndpoints/pe-chsm-source")
    assert connection["properties"]["groupIds"] == ["cloudHsm"]
    assert connection["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"
    assert props["statusMessage"] == "HSM cluster provisioning successful."
    assert len(props["hsms"]) == 3
    for n, hsm in enumerate(props["hsms"], start=1):
        assert re.fullmatch(
            rf"hsm{n}\.chsm-source-[0-9a-z]{{13}}\.privatelink\.cloudhsm\.azure\.net", hsm["fqdn"]
        )
        assert (hsm["state"], hsm["stateMessage"]) == ("Allocated", None)
    dest = client.get(f"{CLUSTERS}/chsm-dest?{HSM_API}").json()
    assert (dest["location"], dest["properties"]["activationState"]) == ("ukwest", "NotActivated")


def test_provider_and_type_segments_are_case_insensitive(client: TestClient) -> None:
    path = CLUSTERS.replace(
        "Microsoft.HardwareSecurityModules/cloudHsmClusters",
        "microsoft.hardwaresecuritymodules/CLOUDHSMCLUSTERS",
    )

    response = client.get(f"{path}/chsm-source?{HSM_API}")

    assert response.status_code == 200
    assert response.json()["id"] == f"{CLUSTERS}/chsm-source"


def test_identity_storage_container_and_endpoint_shapes(client: TestClient) -> None:
    identity = client.get(f"{IDENTITY}?api-version=2024-11-30").json()
    assert identity["properties"] == {
        "principalId": PRINCIPAL,
        "clientId": sandbox_guid(1, "client", 1),
        "tenantId": TENANT,
    }

    account = client.get(f"{ACCOUNT}?{STORAGE_API}").json()
    assert (account["kind"], account["sku"]["name"]) == ("StorageV2", "Standard_GRS")
    props = account["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"] == {
        "bypass": "AzureServices",
        "virtualNetworkRules": [],
        "ipRules": [],
        "defaultAction": "Deny",
    }
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["primaryEndpoints"]["blob"] == "https://chsmbackupsbx.blob.core.windows.net/"
    (connection,) = props["privateEndpointConnections"]
    assert connection["properties"]["privateEndpoint"]["id"] == ENDPOINT
    assert connection["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"

    container = client.get(f"{ACCOUNT}/blobServices/default/containers/chsm-backups?{STORAGE_API}").json()
    assert (container["id"], container["name"], container["type"]) == (
        f"{ACCOUNT}/blobServices/default/containers/chsm-backups",
        "chsm-backups",
        "Microsoft.Storage/storageAccounts/blobServices/containers",
    )
    assert container["properties"]["publicAccess"] == "None"

    endpoint = client.get(f"{ENDPOINT}?api-version=2024-07-01").json()["properties"]
    assert endpoint["subnet"]["id"].endswith("/virtualNetworks/vnet-chsm/subnets/snet-storage")
    (link,) = endpoint["privateLinkServiceConnections"]
    assert link["properties"]["privateLinkServiceId"] == ACCOUNT
    assert link["properties"]["groupIds"] == ["blob"]
    assert endpoint["customDnsConfigs"] == [
        {"fqdn": "chsmbackupsbx.blob.core.windows.net", "ipAddresses": ["10.20.1.4"]}
    ]


@pytest.mark.parametrize(
    "url",
    [
        f"{CLUSTERS}/chsm-source",
        f"{CLUSTERS}/chsm-source?api-version=2024-06-30",  # the preview, without its suffix
        f"{CLUSTERS}/chsm-source?{STORAGE_API}",
        f"{ACCOUNT}?{HSM_API}",
        f"{IDENTITY}?api-version=2023-01-30",
        f"{ENDPOINT}?api-version=2099-01-01",
        # 2015-06-01 is a classic-administrators version only.
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments?api-version=2015-06-01",
    ],
)
def test_missing_or_wrong_api_version_is_refused(client: TestClient, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 400
    assert arm_error(response) == "InvalidApiVersionParameter"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (
            f"{CLUSTERS.replace(SUB, sandbox_guid(2, 'subscription'))}/chsm-source?{HSM_API}",
            "SubscriptionNotFound",
        ),
        (f"{CLUSTERS.replace('rg-chsm-sandbox', 'rg-other')}/chsm-source?{HSM_API}", "ResourceGroupNotFound"),
        (f"{CLUSTERS}/chsm-missing?{HSM_API}", "ResourceNotFound"),
        (f"{GROUP}/providers/Microsoft.Storage/storageAccounts/nosuchacct?{STORAGE_API}", "ResourceNotFound"),
        (f"{ACCOUNT}/blobServices/default/containers/other?{STORAGE_API}", "ResourceNotFound"),
        (f"{CLUSTERS}/chsm-source/backupOperationStatus/{'0' * 32}?{HSM_API}", "ResourceNotFound"),
        (f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines?{HSM_API}", "NotFound"),
    ],
)
def test_unknown_things_get_arm_404_codes(client: TestClient, url: str, code: str) -> None:
    response = client.get(url)

    assert response.status_code == 404
    assert arm_error(response) == code


def test_unserved_method_is_405(client: TestClient) -> None:
    response = client.delete(f"{CLUSTERS}/chsm-dest?{HSM_API}")

    assert response.status_code == 405
    assert arm_error(response) == "MethodNotAllowed"


def test_every_arm_answer_carries_the_arm_headers(client: TestClient) -> None:
    answers = [
        client.get(f"{CLUSTERS}/chsm-source?{HSM_API}"),
        client.get(f"{CLUSTERS}/chsm-source"),
        client.post(
            f"{CLUSTERS}/chsm-source/backup?{HSM_API}", json={"azureStorageBlobContainerUri": CONTAINER_URI}
        ),
    ]

    request_ids = [r.headers["x-ms-request-id"] for r in answers]
    assert request_ids == [sandbox_guid(1, "request", n) for n in (1, 2, 3)]
    for response in answers:
        assert response.headers["x-ms-correlation-request-id"]
        assert response.headers["x-ms-ratelimit-remaining-subscription-global-reads"].isdigit()
        assert response.headers["x-ms-ratelimit-remaining-subscription-global-writes"].isdigit()
        operation = response.headers["x-ms-operation-identifier"]
        assert operation.startswith(f"tenantId={TENANT},objectId={sandbox_guid(1, 'principal', 2)}/")


def test_authorization_header_is_ignored(client: TestClient) -> None:
    response = client.get(f"{CLUSTERS}/chsm-source?{HSM_API}", headers={"Authorization": "Bearer nonsense"})

    assert response.status_code == 200


def follow_pages(client: TestClient, url: str) -> list[dict[str, Any]]:
    """Every page of a list, following absolute nextLinks."""
    pages = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        next_url = page.get("nextLink")
        if next_url:
            assert next_url.startswith("http://testserver/")
            assert "$skiptoken=" in next_url
    return pages


def test_cluster_lists_page_by_the_configured_size(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, SandboxSettings(page_size=1)))

    by_subscription = follow_pages(
        client, f"/subscriptions/{SUB}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters?{HSM_API}"
    )
    by_group = follow_pages(client, f"{CLUSTERS}?{HSM_API}")

    for pages in (by_subscription, by_group):
        assert [len(p["value"]) for p in pages] == [1, 1]
        assert [p["value"][0]["name"] for p in pages] == ["chsm-source", "chsm-dest"]
        assert "nextLink" not in pages[-1]


def test_role_assignments_at_above_and_below_a_scope_page_with_nextlink(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, SandboxSettings(page_size=1)))
    url = f"{GROUP}/providers/Microsoft.Authorization/roleAssignments?{RBAC_API}"

    pages = follow_pages(client, url)

    assignments = [a for p in pages for a in p["value"]]
    assert len(pages) == 2
    assert "api-version=2022-04-01" in pages[0]["nextLink"]
    scopes = [a["properties"]["scope"] for a in assignments]
    assert scopes == [ACCOUNT, f"/subscriptions/{SUB}"]  # one below the group, one above it
    storage = assignments[0]
    assert storage["type"] == "Microsoft.Authorization/roleAssignments"
    assert storage["name"] == sandbox_guid(1, "roleassignment", 1)
    assert storage["id"] == f"{ACCOUNT}/providers/Microsoft.Authorization/roleAssignments/{storage['name']}"
    assert storage["properties"] == {
        "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "principalId": PRINCIPAL,
        "principalType": "ServicePrincipal",
        "scope": ACCOUNT,
        # Made by the operator when the world was seeded, and not changed since.
        "createdOn": storage["properties"]["createdOn"],
        "updatedOn": storage["properties"]["createdOn"],
        "createdBy": OPERATOR,
        "updatedBy": OPERATOR,
    }
    assert re.fullmatch(r"2025-0[56]-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z", storage["properties"]["createdOn"])


def test_role_assignments_filter_by_principal(client: TestClient) -> None:
    def assignments(scope: str) -> list[dict[str, Any]]:
        url = f"{scope}/providers/Microsoft.Authorization/roleAssignments"
        response = client.get(
            url, params={"api-version": "2022-04-01", "$filter": f"principalId eq '{PRINCIPAL}'"}
        )
        assert response.status_code == 200, response.text
        value: list[dict[str, Any]] = response.json()["value"]
        return value

    assert len(assignments(f"{ACCOUNT}/blobServices/default/containers/chsm-backups")) == 1
    assert len(assignments(f"/subscriptions/{SUB}")) == 1
    assert assignments(f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmnoaccesssbx") == []


def test_at_scope_keeps_everyones_assignments_at_and_above_the_scope_and_none_below(
    client: TestClient,
) -> None:
    def at_scope(scope: str) -> list[str]:
        url = f"{scope}/providers/Microsoft.Authorization/roleAssignments"
        response = client.get(url, params={"api-version": "2022-04-01", "$filter": "atScope()"})
        assert response.status_code == 200, response.text
        return [a["properties"]["scope"] for a in response.json()["value"]]

    below_subscription = at_scope(ACCOUNT)
    assert ACCOUNT in below_subscription  # the account's own
    assert all(ACCOUNT.lower().startswith(s.lower()) for s in below_subscription)
    assert ACCOUNT not in at_scope(f"/subscriptions/{SUB}")  # below the subscription: not listed
    assert all(s.lower() == f"/subscriptions/{SUB}".lower() for s in at_scope(f"/subscriptions/{SUB}"))


def test_role_assignments_refuse_an_unknown_filter(client: TestClient) -> None:
    url = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments"

    response = client.get(url, params={"api-version": "2022-04-01", "$filter": "assignedTo('x')"})

    assert response.status_code == 400
    assert arm_error(response) == "InvalidQueryParameterValue"


def test_control_routes_patch_log_and_reset(client: TestClient) -> None:
    client.get(f"{CLUSTERS}/chsm-dest?{HSM_API}")
    client.get(f"{CLUSTERS}/chsm-dest")

    patched = client.patch("/_sandbox/clusters/chsm-dest", json={"activationState": "Active"})
    assert patched.json()["properties"]["activationState"] == "Active"
    assert client.get(f"{CLUSTERS}/chsm-dest?{HSM_API}").json()["properties"]["activationState"] == "Active"
    log = client.get("/_sandbox/requests").json()
    assert [(e["method"], e["query"], e["status"]) for e in log] == [
        ("GET", HSM_API, 200),
        ("GET", "", 400),
        ("GET", HSM_API, 200),
    ]
    assert log[0]["path"] == f"{CLUSTERS}/chsm-dest"

    client.post("/_sandbox/reset")

    assert client.get("/_sandbox/requests").json() == []
    state = client.get("/_sandbox/state").json()
    assert state == seed_state(FAST) | {"clock_started_us": state["clock_started_us"]}
    assert client.patch("/_sandbox/clusters/nope", json={}).status_code == 404


def test_same_seed_gives_byte_identical_bodies(tmp_path: Path) -> None:
    def transcript(state_dir: Path) -> list[bytes]:
        # Job times follow the sandbox's clock: the recorded one gives the same readings every time.
        settings = SandboxSettings(backup_seconds=0, restore_seconds=0)
        client = TestClient(create_app(state_dir, settings, clock=RecordedClock()))
        backup = client.post(
            f"{CLUSTERS}/chsm-source/backup?{HSM_API}", json={"azureStorageBlobContainerUri": CONTAINER_URI}
        )
        done = client.get(backup.headers["location"])
        restore = client.post(
            f"{CLUSTERS}/chsm-dest/restore?{HSM_API}",
            json={
                "azureStorageBlobContainerUri": CONTAINER_URI,
                "backupId": done.json()["properties"]["backupId"],
            },
        )
        return [
            client.get(f"{CLUSTERS}?{HSM_API}").content,
            client.get(f"{ACCOUNT}?{STORAGE_API}").content,
            client.get(f"{CLUSTERS}/nope?{HSM_API}").content,
            backup.headers["location"].encode(),
            done.content,
            client.get(restore.headers["location"]).content,
            client.get(f"{CLUSTERS}/chsm-dest?{HSM_API}").content,
            client.get(
                f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments?{RBAC_API}"
            ).content,
        ]

    first = transcript(tmp_path / "a")
    second = transcript(tmp_path / "b")

    assert first == second
    assert b'"activationState":"Active"' in first[-2]


def test_other_seed_gives_another_world(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, SandboxSettings(seed=2)))

    assert client.get(f"{CLUSTERS}/chsm-source?{HSM_API}").json()["error"]["code"] == "SubscriptionNotFound"
    other = CLUSTERS.replace(SUB, sandbox_guid(2, "subscription"))
    assert client.get(f"{other}/chsm-source?{HSM_API}").status_code == 200


def test_state_persists_across_app_recreation(tmp_path: Path) -> None:
    first = TestClient(create_app(tmp_path, SandboxSettings(page_size=7)))
    first.patch("/_sandbox/clusters/chsm-dest", json={"activationState": "Active"})

    again = TestClient(create_app(tmp_path))

    assert again.get(f"{CLUSTERS}/chsm-dest?{HSM_API}").json()["properties"]["activationState"] == "Active"
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["settings"]["page_size"] == 7
    fresh = TestClient(create_app(tmp_path, reset=True))
    assert (
        fresh.get(f"{CLUSTERS}/chsm-dest?{HSM_API}").json()["properties"]["activationState"] == "NotActivated"
    )


def test_state_seeded_with_another_seed_is_refused(tmp_path: Path) -> None:
    create_app(tmp_path, SandboxSettings(seed=1))

    with pytest.raises(ValueError, match="seeded with seed 1"):
        create_app(tmp_path, SandboxSettings(seed=2))


def test_answers_are_dated_by_the_sandbox_clock(tmp_path: Path) -> None:
    # The restore drill is timed by these dates (restore.rto): the n-th answer of a recorded clock
    # stepping 30 s is dated 30 * (n - 1) s after its start, to the second, as HTTP dates are.
    clock = RecordedClock(step=30.0)
    client = TestClient(create_app(tmp_path, SandboxSettings(), clock=clock))
    dates = [answer_date(client.get(f"{CLUSTERS}/chsm-source?{HSM_API}")) for _ in range(3)]

    start = datetime.fromtimestamp(clock.start, UTC).replace(microsecond=0)
    assert dates == [start + timedelta(seconds=30 * n) for n in range(3)]
