"""The sandbox's resources as ARM returns them, the list endpoints the official SDKs call, and job times
and backup ids that follow the sandbox's clock as the live service's do."""

from __future__ import annotations

import json
import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chsm_checks.sandbox import SandboxSettings, create_app
from chsm_checks.sandbox.clock import RECORDED_CLOCK_START, RecordedClock, SandboxClock
from chsm_checks.sandbox.ids import sandbox_guid

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
CLUSTERS = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmbackupsbx"
CONTAINERS = f"{ACCOUNT}/blobServices/default/containers"
HSM_API = "api-version=2025-03-31"
STORAGE_API = "api-version=2025-01-01"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
# ISO 8601 in UTC as .NET writes it: up to seven fractional digits, trailing zeros dropped.
ARM_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?Z")
WHOLE_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# The live form (Azure CLI cloudhsm recording, June 2025): cloudhsm-<uuid>-<yyyyMMddHHmmssff>.
LIVE_BACKUP_ID = re.compile(r"cloudhsm-(?P<guid>[0-9a-f-]{36})-(?P<when>\d{14})(?P<hundredths>\d{2})")
DOTNET_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


class Clock:
    """The sandbox's clock, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time_after(self, arm_requests: int) -> float:
        return self.now


def client_for(
    tmp_path: Path, settings: SandboxSettings | None = None, clock: SandboxClock | None = None
) -> TestClient:
    settings = settings or SandboxSettings()
    if clock is None:
        return TestClient(create_app(tmp_path, settings))
    return TestClient(create_app(tmp_path, settings, clock=clock))


def parse_arm_time(text: str) -> datetime:
    assert ARM_TIME.fullmatch(text), text
    head, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int((fraction + "000000")[:6]))


def get(client: TestClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def all_pages(client: TestClient, url: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every item of a list, following nextLinks, and the nextLinks followed."""
    items: list[dict[str, Any]] = []
    links: list[str] = []
    next_url: str | None = url
    while next_url:
        body = get(client, next_url)
        assert set(body) <= {"value", "nextLink"}
        items += body["value"]
        next_url = body.get("nextLink")
        if next_url:
            links.append(next_url)
    return items, links


# -- resources --------------------------------------------------------------------------------------


def test_a_cluster_carries_system_data_and_its_status_message(tmp_path: Path) -> None:
    for name in ("chsm-source", "chsm-dest"):
        cluster = get(client_for(tmp_path), f"{CLUSTERS}/{name}?{HSM_API}")

        system = cluster["systemData"]
        assert list(system) == [
            "createdBy",
            "createdByType",
            "createdAt",
            "lastModifiedBy",
            "lastModifiedByType",
            "lastModifiedAt",
        ]
        assert (system["createdByType"], system["lastModifiedByType"]) == ("User", "User")
        for who in (system["createdBy"], system["lastModifiedBy"]):
            # A placeholder sign-in name: no object id, nothing real.
            assert who.endswith(".example")
            assert not GUID.search(who)
        assert parse_arm_time(system["createdAt"]) <= parse_arm_time(system["lastModifiedAt"])
        assert cluster["properties"]["statusMessage"] == "HSM cluster provisioning successful."


def test_a_storage_account_carries_its_times_encryption_tier_and_every_endpoint(tmp_path: Path) -> None:
    properties = get(client_for(tmp_path), f"{ACCOUNT}?{STORAGE_API}")["properties"]

    created = parse_arm_time(properties["creationTime"])
    assert created.year >= 2025
    assert set(properties["keyCreationTime"]) == {"key1", "key2"}
    assert all(parse_arm_time(t) >= created for t in properties["keyCreationTime"].values())
    assert properties["accessTier"] == "Hot"
    encryption = properties["encryption"]
    assert encryption["keySource"] == "Microsoft.Storage"
    for service in ("blob", "file"):
        assert encryption["services"][service]["enabled"] is True
        assert encryption["services"][service]["keyType"] == "Account"
        parse_arm_time(encryption["services"][service]["lastEnabledTime"])
    assert properties["primaryEndpoints"] == {
        service: f"https://chsmbackupsbx.{service}.core.windows.net/"
        for service in ("dfs", "web", "blob", "queue", "table", "file")
    }


def test_a_container_carries_its_etag_lease_holds_and_encryption_scope(tmp_path: Path) -> None:
    container = get(client_for(tmp_path), f"{CONTAINERS}/chsm-backups?{STORAGE_API}")

    etag = re.fullmatch(r'"0x([0-9A-F]{15})"', container["etag"])
    assert etag is not None, container["etag"]
    properties = container["properties"]
    modified = parse_arm_time(properties["lastModifiedTime"])
    assert WHOLE_SECONDS.fullmatch(properties["lastModifiedTime"])
    # A Storage etag is the last change in .NET ticks: the same second as lastModifiedTime.
    changed = DOTNET_EPOCH + timedelta(microseconds=int(etag[1], 16) // 10)
    assert changed.replace(microsecond=0) == modified
    assert (properties["leaseState"], properties["leaseStatus"]) == ("Available", "Unlocked")
    assert (properties["hasImmutabilityPolicy"], properties["hasLegalHold"]) == (True, False)
    # A Locked 30-day time-based retention policy, its etag the lock's time in ticks (lower-case hex).
    policy = properties["immutabilityPolicy"]
    assert policy["properties"] == {
        "immutabilityPeriodSinceCreationInDays": 30,
        "state": "Locked",
        "allowProtectedAppendWrites": False,
        "allowProtectedAppendWritesAll": False,
    }
    assert policy["etag"] == f'"{etag[1].lower()}"'
    assert properties["legalHold"] == {"hasLegalHold": False, "tags": []}
    assert properties["defaultEncryptionScope"] == "$account-encryption-key"
    assert properties["denyEncryptionScopeOverride"] is False
    assert (properties["deleted"], properties["remainingRetentionDays"]) == (False, 0)
    assert properties["publicAccess"] == "None"
    # Version-level immutability is not enabled on the container, so ARM leaves the field out.
    assert "immutableStorageWithVersioning" not in properties


def test_the_blob_service_is_served_and_listed_with_its_data_protection(tmp_path: Path) -> None:
    client = client_for(tmp_path)

    service = get(client, f"{ACCOUNT}/blobServices/default?{STORAGE_API}")
    listed = get(client, f"{ACCOUNT}/blobServices?{STORAGE_API}")

    assert (service["id"], service["name"], service["type"]) == (
        f"{ACCOUNT}/blobServices/default",
        "default",
        "Microsoft.Storage/storageAccounts/blobServices",
    )
    assert service["sku"] == {"name": "Standard_GRS", "tier": "Standard"}
    properties = service["properties"]
    assert properties["deleteRetentionPolicy"] == {"allowPermanentDelete": False, "enabled": True, "days": 7}
    assert properties["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 7}
    assert properties["isVersioningEnabled"] is True
    assert properties["cors"] == {"corsRules": []}
    assert listed == {"value": [service]}
    missing = client.get(
        f"{GROUP}/providers/Microsoft.Storage/storageAccounts/nope/blobServices?{STORAGE_API}"
    )
    assert missing.status_code == 404


def test_an_account_put_from_outside_gets_its_blob_service(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    account = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/chsmputsbx"

    put = client.put(f"/_sandbox/arm{account}", json={"location": "uksouth", "properties": {}})

    assert put.status_code == 201, put.text
    assert (
        get(client, f"{account}/blobServices?{STORAGE_API}")["value"][0]["id"]
        == f"{account}/blobServices/default"
    )
    client.delete(f"/_sandbox/arm{account}")
    assert client.get(f"{account}/blobServices/default?{STORAGE_API}").status_code == 404


# -- lists ------------------------------------------------------------------------------------------


def test_the_container_list_pages_with_absolute_next_links(tmp_path: Path) -> None:
    client = client_for(tmp_path, SandboxSettings(page_size=2))
    for name in ("c-one", "c-two"):
        body = {"properties": {"publicAccess": "None"}}
        assert client.put(f"/_sandbox/arm{CONTAINERS}/{name}", json=body).status_code == 201

    items, links = all_pages(client, f"{CONTAINERS}?{STORAGE_API}")

    assert [item["name"] for item in items] == ["chsm-backups", "c-one", "c-two"]
    assert len(links) == 1
    assert links[0].startswith(f"http://testserver{CONTAINERS}?")
    assert parse_qs(urlsplit(links[0]).query)["api-version"] == ["2025-01-01"]
    # A list entry is the container less what only its GET shows: its legal hold and its policy.
    seeded = get(client, f"{CONTAINERS}/chsm-backups?{STORAGE_API}")
    only_get = ("legalHold", "immutabilityPolicy")
    assert not set(only_get) & set(items[0]["properties"])
    assert items[0]["etag"] == seeded["etag"]
    assert {**items[0]["properties"], **{k: seeded["properties"][k] for k in only_get}} == seeded[
        "properties"
    ]


FLEET = SandboxSettings(page_size=1, fleet_clusters=2, fleet_subscriptions=1)
FLEET_SUB = sandbox_guid(1, "subscription", 1)


@pytest.mark.parametrize(
    ("provider", "api_version", "seeded", "fleet"),
    [
        (
            "Microsoft.Storage/storageAccounts",
            "2025-01-01",
            ["chsmbackupsbx", "chsmnoaccesssbx"],
            ["chsmfleet0001", "chsmfleet0002"],
        ),
        (
            "Microsoft.Network/privateEndpoints",
            "2024-07-01",
            ["pe-chsm-source", "pe-chsm-dest", "pe-chsmbackupsbx-blob", "pe-chsmnoaccesssbx-blob"],
            ["pe-chsm-fleet-0001", "pe-chsmfleet0001-blob", "pe-chsm-fleet-0002", "pe-chsmfleet0002-blob"],
        ),
        (
            "Microsoft.ManagedIdentity/userAssignedIdentities",
            "2024-11-30",
            ["id-chsm-backup"],
            ["id-chsm-fleet-0001", "id-chsm-fleet-0002"],
        ),
        (
            "Microsoft.HardwareSecurityModules/cloudHsmClusters",
            "2025-03-31",
            ["chsm-source", "chsm-dest"],
            ["chsm-fleet-0001", "chsm-fleet-0002"],
        ),
    ],
)
def test_lists_by_subscription_and_resource_group_page_as_arm_does(
    tmp_path: Path, provider: str, api_version: str, seeded: list[str], fleet: list[str]
) -> None:
    client = client_for(tmp_path, FLEET)
    query = f"api-version={api_version}"

    by_subscription, links = all_pages(client, f"/subscriptions/{SUB}/providers/{provider}?{query}")
    by_group, _ = all_pages(client, f"{GROUP}/providers/{provider}?{query}")
    in_fleet, _ = all_pages(client, f"/subscriptions/{FLEET_SUB}/providers/{provider}?{query}")
    fleet_group, _ = all_pages(
        client, f"/subscriptions/{FLEET_SUB}/resourceGroups/rg-fleet-01/providers/{provider}?{query}"
    )

    assert [r["name"] for r in by_subscription] == [r["name"] for r in by_group] == seeded
    assert [r["name"] for r in in_fleet] == [r["name"] for r in fleet_group] == fleet
    assert all(r["type"] == provider for r in by_subscription + in_fleet)
    # One resource a page: a nextLink for each but the last, absolute, keeping the api-version.
    assert len(links) == len(seeded) - 1
    for link in links:
        assert link.startswith(f"http://testserver/subscriptions/{SUB}/providers/{provider}?")
        assert parse_qs(urlsplit(link).query)["api-version"] == [api_version]
    body = get(client, f"{GROUP}/providers/{provider}/{seeded[0]}?{query}")
    assert by_group[0] == body
    assert (
        client.get(f"/subscriptions/{SUB}/resourceGroups/nope/providers/{provider}?{query}").status_code
        == 404
    )


# -- jobs -------------------------------------------------------------------------------------------


def finish(
    client: TestClient, clock: Clock, url: str, body: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """Start a job, let ``seconds`` pass on the sandbox's clock, and return the POST's location and result."""
    accepted = client.post(url, json=body)
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["location"]
    assert client.get(location).status_code == 202
    clock.now += seconds
    done = client.get(location)
    assert done.status_code == 200, done.text
    return {"location": location, **done.json()["properties"]}


def test_job_times_and_the_backup_id_follow_the_sandbox_clock(tmp_path: Path) -> None:
    started = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
    clock = Clock(started.timestamp())
    client = client_for(tmp_path, SandboxSettings(backup_seconds=8.25, restore_seconds=90.5), clock)

    backup = finish(
        client,
        clock,
        f"{CLUSTERS}/chsm-source/backup?{HSM_API}",
        {"azureStorageBlobContainerUri": CONTAINER_URI},
        9,
    )
    clock.now += 60
    restore = finish(
        client,
        clock,
        f"{CLUSTERS}/chsm-dest/restore?{HSM_API}",
        {"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": backup["backupId"]},
        91,
    )

    # Live, a job's start is to the second and its end to the tick.
    assert (backup["startTime"], backup["endTime"]) == ("2026-03-04T05:06:07Z", "2026-03-04T05:06:16.14Z")
    assert (restore["startTime"], restore["endTime"]) == ("2026-03-04T05:07:16Z", "2026-03-04T05:08:47.39Z")
    match = LIVE_BACKUP_ID.fullmatch(backup["backupId"])
    assert match is not None, backup["backupId"]
    assert (match["when"], match["hundredths"]) == ("20260304050607", "89")
    assert match["guid"] == sandbox_guid(1, "backup", 1)
    # The signed status URL's t is the job's start in .NET ticks, as ARM's is.
    ticks = int(parse_qs(urlsplit(backup["location"]).query)["t"][0])
    assert DOTNET_EPOCH + timedelta(microseconds=ticks // 10) == started


def test_a_job_started_on_the_wall_clock_is_dated_by_it(tmp_path: Path) -> None:
    client = client_for(tmp_path, SandboxSettings(backup_seconds=0))
    before = datetime.now(UTC)

    accepted = client.post(
        f"{CLUSTERS}/chsm-source/backup?{HSM_API}", json={"azureStorageBlobContainerUri": CONTAINER_URI}
    )
    result = get(client, accepted.headers["location"])["properties"]

    after = datetime.now(UTC)
    assert before.replace(microsecond=0) <= parse_arm_time(result["startTime"]) <= after
    assert before <= parse_arm_time(result["endTime"]) <= after
    match = LIVE_BACKUP_ID.fullmatch(result["backupId"])
    assert match is not None
    assert datetime.strptime(match["when"], "%Y%m%d%H%M%S").replace(tzinfo=UTC) == parse_arm_time(
        result["startTime"]
    )


def test_on_the_recorded_clock_time_passes_only_with_arm_requests(tmp_path: Path) -> None:
    client = client_for(tmp_path, SandboxSettings(backup_seconds=1.5), RecordedClock())
    backup = (f"{CLUSTERS}/chsm-source/backup?{HSM_API}", {"azureStorageBlobContainerUri": CONTAINER_URI})

    def run_a_backup() -> tuple[str, bytes]:
        location = client.post(backup[0], json=backup[1]).headers["location"]  # request 1: at the start
        # Reading the state is no ARM request: the clock stands still, and the job still runs.
        assert [job["applied"] for job in client.get("/_sandbox/state").json()["jobs"]] == [False]
        assert client.get(location).status_code == 202  # request 2: 1 s later
        done = client.get(location)  # request 3: 2 s later, past the backup's 1.5 s
        assert done.status_code == 200, done.text
        return location, done.content

    location, done = run_a_backup()

    start = datetime.fromtimestamp(RECORDED_CLOCK_START, UTC)
    result = json.loads(done)["properties"]
    assert parse_arm_time(result["startTime"]) == start.replace(microsecond=0)
    assert parse_arm_time(result["endTime"]) == start + timedelta(seconds=1.5)
    match = LIVE_BACKUP_ID.fullmatch(result["backupId"])
    assert match is not None
    assert (match["when"], match["hundredths"]) == (start.strftime("%Y%m%d%H%M%S"), "25")
    ticks = int(parse_qs(urlsplit(location).query)["t"][0])
    assert DOTNET_EPOCH + timedelta(microseconds=ticks // 10) == start
    # A reset sandbox counts its requests afresh: the same requests give the same bytes.
    client.post("/_sandbox/reset")
    assert run_a_backup() == (location, done)
