"""The sandbox's fleet (many tagged clusters over several subscriptions, some misconfigured), and ARM's
pace: latency on every answer, and a read budget per subscription that runs out into 429s."""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from chsm_checks.sandbox import SandboxSettings, create_app, seed_state
from chsm_checks.sandbox.fleet import BACKUP_TAGS
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.roles import role_guid
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.storage_faults import STORAGE_FAULTS
from chsm_checks.sandbox.throttle import ReadThrottle
from tests.support.processes import run_cli, sandbox_process

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

CLUSTER_TYPE = "Microsoft.HardwareSecurityModules/cloudHsmClusters"
HSM_API = "api-version=2025-03-31"
SUBSCRIPTIONS_API = "api-version=2022-12-01"
API = {
    "Microsoft.HardwareSecurityModules": HSM_API,
    "Microsoft.Storage": "api-version=2025-01-01",
    "Microsoft.Network": "api-version=2024-07-01",
    "Microsoft.ManagedIdentity": "api-version=2024-11-30",
}
RBAC_API = "api-version=2022-04-01"
CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"  # Storage Blob Data Contributor
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"

SEEDED_SUB = sandbox_guid(1, "subscription")
FLEET_SUBS = [sandbox_guid(1, "subscription", k) for k in (1, 2, 3)]
# 12 clusters over 3 subscriptions, half of them faulty: each of the 6 faults exactly once.
FLEET = SandboxSettings(
    fleet_clusters=12,
    fleet_subscriptions=3,
    fleet_misconfigured=0.5,
    page_size=3,
    backup_seconds=0.02,
    restore_seconds=0.02,
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path, FLEET)) as test_client:
        yield test_client


def arm_get(client: TestClient, resource_id: str) -> dict[str, Any]:
    """GET a resource by id with the api-version of its provider."""
    provider = resource_id.split("/providers/")[1].split("/")[0]
    response = client.get(f"{resource_id}?{API[provider]}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def all_pages(client: TestClient, url: str) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following nextLinks, and how many pages it took."""
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        pages += 1
        next_url = body.get("nextLink")
    return items, pages


def fleet_clusters(client: TestClient) -> list[dict[str, Any]]:
    clusters: list[dict[str, Any]] = []
    for sub in FLEET_SUBS:
        found, _ = all_pages(client, f"/subscriptions/{sub}/providers/{CLUSTER_TYPE}?{HSM_API}")
        clusters += found
    return sorted(clusters, key=lambda c: str(c["name"]))


def test_the_fleet_spreads_round_robin_over_subscriptions_of_its_own() -> None:
    state = seed_state(FLEET)
    clusters = [r for r in state["resources"] if r["type"] == CLUSTER_TYPE]

    fleet = clusters[2:]
    assert [c["name"] for c in clusters[:2]] == ["chsm-source", "chsm-dest"]
    assert [c["name"] for c in fleet] == [f"chsm-fleet-{i:04d}" for i in range(1, 13)]
    for i, cluster in enumerate(fleet, start=1):
        k = (i - 1) % 3 + 1
        assert cluster["id"].startswith(f"/subscriptions/{FLEET_SUBS[k - 1]}/resourceGroups/rg-fleet-0{k}/")
        assert cluster["properties"]["activationState"] == "Active"
    assert Counter(c["id"].split("/")[2] for c in fleet) == dict.fromkeys(FLEET_SUBS, 4)
    assert state["subscription_id"] == SEEDED_SUB


def test_cluster_lists_page_across_the_fleet_per_subscription_and_group(client: TestClient) -> None:
    for k, sub in enumerate(FLEET_SUBS, start=1):
        expected = [f"chsm-fleet-{i:04d}" for i in range(k, 13, 3)]
        for url in (
            f"/subscriptions/{sub}/providers/{CLUSTER_TYPE}?{HSM_API}",
            f"/subscriptions/{sub}/resourceGroups/rg-fleet-0{k}/providers/{CLUSTER_TYPE}?{HSM_API}",
        ):
            clusters, pages = all_pages(client, url)
            assert [c["name"] for c in clusters] == expected
            assert pages == 2  # 4 clusters, 3 to a page

    seeded, _ = all_pages(client, f"/subscriptions/{SEEDED_SUB}/providers/{CLUSTER_TYPE}?{HSM_API}")
    assert [c["name"] for c in seeded] == ["chsm-source", "chsm-dest"]
    other_group = f"/subscriptions/{FLEET_SUBS[0]}/resourceGroups/rg-fleet-02/providers/{CLUSTER_TYPE}"
    assert client.get(f"{other_group}?{HSM_API}").json()["error"]["code"] == "ResourceGroupNotFound"


def test_subscriptions_are_listed_and_paged(client: TestClient) -> None:
    subscriptions, pages = all_pages(client, f"/subscriptions?{SUBSCRIPTIONS_API}")

    assert pages == 2  # 4 subscriptions, 3 to a page
    assert [s["subscriptionId"] for s in subscriptions] == [SEEDED_SUB, *FLEET_SUBS]
    tenant = sandbox_guid(1, "tenant")
    for s in subscriptions:
        assert s["id"] == f"/subscriptions/{s['subscriptionId']}"
        assert (s["state"], s["tenantId"]) == ("Enabled", tenant)
        assert s["displayName"]
    wrong = client.get(f"/subscriptions?{HSM_API}")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_tags_name_the_clusters_own_backup_resources(client: TestClient) -> None:
    clusters = fleet_clusters(client)
    assert len(clusters) == 12
    principals = set()
    for cluster in clusters:
        tags = cluster["tags"]
        assert set(BACKUP_TAGS) <= set(tags)
        account = arm_get(client, tags["chsm-backup-storage-account"])
        container = arm_get(
            client, f"{account['id']}/blobServices/default/containers/{tags['chsm-backup-container']}"
        )
        endpoint = arm_get(client, tags["chsm-backup-private-endpoint"])
        (identity_id,) = cluster["identity"]["userAssignedIdentities"]
        identity = arm_get(client, identity_id)

        group = cluster["id"].split("/providers/")[0]
        for resource in (account, container, endpoint, identity):
            assert resource["id"].startswith(group + "/providers/")
        assert account["name"] == "chsmfleet" + cluster["name"].removeprefix("chsm-fleet-")
        assert container["properties"]["publicAccess"] == "None"
        link = endpoint["properties"]["privateLinkServiceConnections"][0]["properties"]
        assert (link["privateLinkServiceId"], link["groupIds"]) == (account["id"], ["blob"])
        vnet = tags["chsm-backup-virtual-network"]
        assert endpoint["properties"]["subnet"]["id"].startswith(vnet + "/subnets/")
        assert vnet.split("/")[-2:] == ["virtualNetworks", "vnet-fleet-" + group[-2:]]
        connections = account["properties"]["privateEndpointConnections"]
        assert [c["properties"]["privateEndpoint"]["id"] for c in connections] == [endpoint["id"]]
        principals.add(identity["properties"]["principalId"])
    assert len(principals) == 12  # an identity each


def roles_held(client: TestClient, cluster: dict[str, Any]) -> tuple[set[str], list[dict[str, Any]]]:
    """The role GUIDs the cluster's identity holds on its backup account, and all assignments there."""
    account_id = cluster["tags"]["chsm-backup-storage-account"]
    identity_id = next(iter(cluster["identity"]["userAssignedIdentities"]))
    principal = arm_get(client, identity_id)["properties"]["principalId"]
    assignments, _ = all_pages(
        client, f"{account_id}/providers/Microsoft.Authorization/roleAssignments?{RBAC_API}"
    )
    held = {
        role_guid(a["properties"]["roleDefinitionId"])
        for a in assignments
        if a["properties"]["principalId"] == principal
    }
    return held, assignments


def observed_faults(client: TestClient, cluster: dict[str, Any]) -> set[str]:
    """The storage faults a checker would see on the wire for one fleet cluster."""
    account = arm_get(client, cluster["tags"]["chsm-backup-storage-account"])
    endpoint = arm_get(client, cluster["tags"]["chsm-backup-private-endpoint"])
    held, assignments = roles_held(client, cluster)
    properties = account["properties"]
    statuses = {
        c["properties"]["privateLinkServiceConnectionState"]["status"]
        for c in properties["privateEndpointConnections"]
    } | {
        link["properties"]["privateLinkServiceConnectionState"]["status"]
        for link in endpoint["properties"]["privateLinkServiceConnections"]
    }
    found = {
        "shared-key-default": properties.get("allowSharedKeyAccess") is not False,
        "endpoint-pending": statuses != {"Approved"},
        "public-network-open": properties["publicNetworkAccess"] != "Disabled"
        or properties["networkAcls"]["defaultAction"] != "Deny",
        "role-other-principal": not held
        and any(role_guid(a["properties"]["roleDefinitionId"]) == CONTRIBUTOR for a in assignments),
        "owner-instead-of-contributor": held == {OWNER},
        "tls-1-0": properties["minimumTlsVersion"] == "TLS1_0",
    }
    return {name for name, present in found.items() if present}


def test_the_misconfigured_fraction_is_exact_and_the_faults_are_true(client: TestClient) -> None:
    truth = client.get("/_sandbox/fleet").json()
    faults: dict[str, str] = truth["faults"]
    clusters = fleet_clusters(client)

    assert truth["subscriptions"] == FLEET_SUBS
    assert sorted(truth["clusters"]) == sorted(c["id"] for c in clusters)
    assert len(faults) == round(12 * 0.5)
    # In cluster order, the faulty ones take the storage faults in turn: here each exactly once.
    assert list(faults.values()) == list(STORAGE_FAULTS)
    assert list(faults) == [c["id"] for c in clusters if c["id"] in faults]
    for cluster in clusters:
        expected = {faults[cluster["id"]]} if cluster["id"] in faults else set()
        assert observed_faults(client, cluster) == expected, cluster["name"]
        if not expected & {"role-other-principal", "owner-instead-of-contributor"}:
            assert roles_held(client, cluster)[0] == {CONTRIBUTOR}, cluster["name"]


def test_the_seed_picks_the_faulty_clusters_and_repeats_the_fleet_byte_for_byte() -> None:
    def faulty(seed: int, fraction: float) -> list[str]:
        state = seed_state(replace(FLEET, seed=seed, fleet_misconfigured=fraction))
        return [cluster_id.rsplit("/", 1)[1] for cluster_id in state["fleet_faults"]]

    assert json.dumps(seed_state(FLEET)) == json.dumps(seed_state(FLEET))
    assert faulty(1, 0.5) != faulty(2, 0.5)
    assert len(faulty(1, 0.25)) == 3
    assert faulty(1, 0.0) == []
    assert len(faulty(1, 1.0)) == 12
    nine = seed_state(replace(FLEET, fleet_misconfigured=0.75))
    assert Counter(nine["fleet_faults"].values()) == dict.fromkeys(STORAGE_FAULTS, 1) | {
        name: 2 for name in list(STORAGE_FAULTS)[:3]
    }


def test_without_fleet_options_the_world_is_the_seeded_one_alone(tmp_path: Path) -> None:
    default = seed_state(SandboxSettings())
    assert set(default) == {
        "format", "settings", "subscription_id", "tenant_id", "operator_principal_id", "resource_groups",
        "resources", "role_assignments", "role_definitions", "locks", "diagnostic_settings",
        "backup_history", "backups", "hsm", "hsm_backups", "jobs", "counters", "received_tokens",
    }  # fmt: skip
    with TestClient(create_app(tmp_path, SandboxSettings())) as client:
        listed, _ = all_pages(client, f"/subscriptions?{SUBSCRIPTIONS_API}")
        assert [s["subscriptionId"] for s in listed] == [SEEDED_SUB]
        assert client.get("/_sandbox/fleet").json() == {"subscriptions": [], "clusters": [], "faults": {}}

    # A fleet is added beside the seeded world, whatever its profile, and changes nothing in it.
    for profile in ("compliant", "tls-1-0"):
        alone = seed_state(SandboxSettings(profile=profile))
        with_fleet = seed_state(replace(FLEET, profile=profile))
        for key in ("resources", "role_assignments", "locks", "diagnostic_settings"):
            assert with_fleet[key][: len(alone[key])] == alone[key]
        assert {k: with_fleet["hsm"][k] for k in alone["hsm"]} == alone["hsm"]
        assert with_fleet["resource_groups"] == alone["resource_groups"]


def test_a_fleet_cluster_backs_up_into_its_tagged_container(client: TestClient) -> None:
    faults = client.get("/_sandbox/fleet").json()["faults"]
    cluster = next(c for c in fleet_clusters(client) if c["id"] not in faults)
    account = cluster["tags"]["chsm-backup-storage-account"].rsplit("/", 1)[1]
    uri = f"https://{account}.blob.core.windows.net/{cluster['tags']['chsm-backup-container']}"

    started = client.post(f"{cluster['id']}/backup?{HSM_API}", json={"azureStorageBlobContainerUri": uri})
    assert started.status_code == 202
    time.sleep(0.05)
    done = client.get(started.headers["location"])
    assert done.status_code == 200
    assert done.json()["properties"]["status"] == "Succeeded"


def test_a_fleet_state_refuses_other_fleet_options_but_not_another_pace(tmp_path: Path) -> None:
    SandboxStore(tmp_path, FLEET)
    with pytest.raises(ValueError, match="fleet_clusters 12, not 5"):
        SandboxStore(tmp_path, replace(FLEET, fleet_clusters=5))
    SandboxStore(tmp_path, replace(FLEET, latency_ms=5, read_budget_per_subscription=7))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fleet_clusters", -1),
        ("fleet_clusters", 10_000),
        ("fleet_subscriptions", 0),
        ("fleet_misconfigured", 1.5),
        ("latency_ms", -1),
        ("read_budget_per_subscription", -1),
        ("read_refill_per_second", 0),
    ],
)
def test_settings_refuse_values_out_of_range(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        SandboxSettings.from_json({field: value})


def test_latency_delays_every_arm_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The wait itself is asyncio's; what the sandbox owes is asking for it on every ARM answer.
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("chsm_checks.sandbox.app.asyncio.sleep", record)
    with TestClient(create_app(tmp_path, SandboxSettings(latency_ms=150))) as client:
        for url in (
            f"/subscriptions/{SEEDED_SUB}/providers/{CLUSTER_TYPE}?{HSM_API}",
            f"/subscriptions?{SUBSCRIPTIONS_API}",
            "/no/such/path",
        ):
            client.get(url)
        client.get("/_sandbox/state")  # not ARM: no latency

    assert waits == [0.150, 0.150, 0.150]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_read_bucket_refills_continuously_and_says_when_to_retry() -> None:
    clock = FakeClock()
    throttle = ReadThrottle(clock)
    settings = SandboxSettings(read_budget_per_subscription=3, read_refill_per_second=2)
    path = f"/subscriptions/{SEEDED_SUB}/providers/{CLUSTER_TYPE}"

    def take(sub_path: str = path) -> tuple[int, int | None] | None:
        verdict = throttle.take("GET", sub_path, settings)
        return None if verdict is None else (verdict.remaining, verdict.retry_after)

    assert [take(), take(), take()] == [(2, None), (1, None), (0, None)]
    assert take() == (0, 1)  # half a second to the next token: Retry-After rounds up, to at least 1
    assert take(f"/subscriptions/{FLEET_SUBS[0]}/resourceGroups/rg") == (2, None)  # a bucket each
    clock.now += 0.4
    assert take() == (0, 1)
    clock.now += 0.1
    assert take() == (0, None)
    clock.now += 60
    assert take() == (2, None)  # full again, never above the budget
    slow = SandboxSettings(read_budget_per_subscription=1, read_refill_per_second=0.25)
    assert throttle.take("GET", f"/subscriptions/{FLEET_SUBS[1]}", slow) is not None
    refused = throttle.take("GET", f"/subscriptions/{FLEET_SUBS[1]}", slow)
    assert refused is not None
    assert refused.retry_after == 4
    # Writes, tenant-level reads and an unlimited budget draw on no bucket.
    assert throttle.take("POST", path, settings) is None
    assert throttle.take("GET", "/subscriptions", settings) is None
    assert throttle.take("GET", path, SandboxSettings()) is None


def test_reads_over_budget_get_429_until_a_token_is_back(tmp_path: Path) -> None:
    settings = SandboxSettings(read_budget_per_subscription=3, read_refill_per_second=2)
    url = f"/subscriptions/{SEEDED_SUB}/providers/{CLUSTER_TYPE}?{HSM_API}"
    with TestClient(create_app(tmp_path, settings)) as client:
        allowed = [client.get(url) for _ in range(3)]
        refused = client.get(url)
        elsewhere = client.get(f"/subscriptions?{SUBSCRIPTIONS_API}")
        requests = client.get("/_sandbox/requests").json()
        time.sleep(int(refused.headers["retry-after"]))
        again = client.get(url)

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["x-ms-ratelimit-remaining-subscription-reads"] for r in allowed] == ["2", "1", "0"]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "TooManyRequests"
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    assert refused.headers["x-ms-request-id"]
    assert elsewhere.status_code == 200
    assert [r["status"] for r in requests] == [200, 200, 200, 429, 200]
    assert again.status_code == 200


def test_the_served_sandbox_takes_the_fleet_and_pace_options(tmp_path: Path) -> None:
    options = ["--fleet-clusters", "6", "--fleet-subscriptions", "2", "--fleet-misconfigured", "0.5"]
    pace = ["--latency-ms", "100", "--read-budget", "3", "--read-refill", "2"]
    with sandbox_process(tmp_path / "state", *options, *pace) as sandbox:
        truth = sandbox.get("/_sandbox/fleet")
        listed = httpx.get(f"{sandbox.url}/subscriptions?{SUBSCRIPTIONS_API}", timeout=30)
        url = f"{sandbox.url}/subscriptions/{truth['subscriptions'][0]}/providers/{CLUSTER_TYPE}?{HSM_API}"
        # Sent together, they wait out the latency side by side and reach the bucket at once.
        with ThreadPoolExecutor(5) as pool:
            burst = list(pool.map(lambda _: httpx.get(url, timeout=30), range(5)))
        refused = next(r for r in burst if r.status_code == 429)
        time.sleep(int(refused.headers["retry-after"]))
        again = httpx.get(url, timeout=30)

    assert len(truth["subscriptions"]) == 2
    assert len(truth["clusters"]) == 6
    assert len(truth["faults"]) == 3
    assert [s["subscriptionId"] for s in listed.json()["value"]][1:] == truth["subscriptions"]
    assert sum(r.status_code == 200 for r in burst) >= 3
    assert refused.json()["error"]["code"] == "TooManyRequests"
    assert again.status_code == 200
    assert [c["name"] for c in again.json()["value"]] == [
        "chsm-fleet-0001",
        "chsm-fleet-0003",
        "chsm-fleet-0005",
    ]


def test_serve_refuses_a_bad_fleet_option_in_one_line(tmp_path: Path) -> None:
    result = run_cli("sandbox", "serve", "--state", str(tmp_path), "--fleet-misconfigured", "2", timeout=60)

    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "chsm-checks: sandbox serve: fleet_misconfigured must be between 0 and 1, not 2.0"
    )
