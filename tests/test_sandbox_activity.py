"""The sandbox's activity log: the seeded history dated from its clock's start, each operation's events
on its clock, only the documented $filter patterns, the 90 days it keeps, $select and paging."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.sandbox import SandboxSettings, create_app
from chsm_checks.sandbox.clock import RecordedClock
from chsm_checks.sandbox.ids import sandbox_guid

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
CLUSTERS = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
SOURCE = f"{CLUSTERS}/chsm-source"
LOG = f"/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
CLOCK = RecordedClock()
STARTED = datetime.fromtimestamp(CLOCK.start, UTC)
BACKUP = "Microsoft.HardwareSecurityModules/cloudHsmClusters/backup/action"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = SandboxSettings(backup_seconds=0, restore_seconds=0, page_size=4)
    with TestClient(create_app(tmp_path, settings, clock=CLOCK)) as test_client:
        yield test_client


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def window(days: float = 89, extra: str = f" and resourceUri eq '{SOURCE}'") -> str:
    end = STARTED + timedelta(hours=1)
    return (
        f"eventTimestamp ge '{stamp(end - timedelta(days=days))}' and eventTimestamp le '{stamp(end)}'{extra}"
    )


def listed(client: TestClient, params: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(LOG, params={"api-version": "2015-04-01", **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["value"]
    while next_link := response.json().get("nextLink"):
        response = client.get(next_link)
        items += response.json()["value"]
    return items


def test_the_seeded_history_is_dated_from_the_clocks_start_newest_first(client: TestClient) -> None:
    events = listed(client, {"$filter": window()})
    ends = [(e["eventTimestamp"], e["status"]["value"]) for e in events if e["status"]["value"] != "Started"]
    assert ends == [
        ("2025-06-16T07:00:00.25Z", "Succeeded"),
        ("2025-06-15T07:00:00.25Z", "Succeeded"),
        ("2025-06-14T07:00:00.25Z", "Succeeded"),
        ("2025-06-13T07:00:00.25Z", "Failed"),
        ("2025-06-12T07:00:00.25Z", "Succeeded"),
    ]
    assert len(events) == 10, "each backup has its Started event, with the same correlation id"
    assert {e["operationName"]["value"] for e in events} == {BACKUP}
    assert len({e["correlationId"] for e in events}) == 5


def test_a_backup_and_its_validation_write_their_events_on_the_sandbox_clock(client: TestClient) -> None:
    for action in ("validateBackupProperties", "backup"):
        response = client.post(
            f"{SOURCE}/{action}?api-version=2025-03-31", json={"azureStorageBlobContainerUri": CONTAINER_URI}
        )
        assert response.status_code in (200, 202), response.text
    events = listed(client, {"$filter": window(), "$select": "operationName,status,eventTimestamp"})
    newest = [(e["operationName"]["value"].rsplit("/", 2)[-2], e["status"]["value"]) for e in events[:4]]
    assert sorted(newest) == sorted(
        [
            ("backup", "Started"),
            ("backup", "Succeeded"),
            ("validateBackupProperties", "Started"),
            ("validateBackupProperties", "Succeeded"),
        ]
    )
    assert all(e.keys() == {"operationName", "status", "eventTimestamp"} for e in events)
    assert all(e["eventTimestamp"].startswith("2025-06-16T09:00:0") for e in events[:4])


def test_the_filter_narrows_to_one_resource_group_or_correlation(client: TestClient) -> None:
    everything = listed(client, {"$filter": window(extra="")})
    in_group = listed(client, {"$filter": window(extra=" and resourceGroupName eq 'rg-chsm-sandbox'")})
    assert everything == in_group
    correlation = everything[0]["correlationId"]
    one = listed(client, {"$filter": window(extra=f" and correlationId eq '{correlation}'")})
    assert [e["status"]["value"] for e in one] == ["Succeeded", "Started"]
    elsewhere = f" and resourceUri eq '{CLUSTERS}/chsm-dest'"
    assert listed(client, {"$filter": window(extra=elsewhere)}) == []


@pytest.mark.parametrize(
    ("query", "said"),
    [
        pytest.param({}, "is not one the activity log allows", id="no-filter"),
        pytest.param({"$filter": "status eq 'Failed'"}, "is not one the activity log allows", id="status"),
        pytest.param(
            {"$filter": window(extra=" and operationName eq 'x'")},
            "is not one the activity log",
            id="operation",
        ),
        pytest.param({"$filter": window(days=91)}, "more than 90 days in the past", id="beyond-90-days"),
        pytest.param(
            {"$filter": "eventTimestamp ge 'soon' and eventTimestamp le 'later'"},
            "is not a date",
            id="no-dates",
        ),
    ],
)
def test_anything_else_is_a_400_naming_what_is_wrong(
    client: TestClient, query: dict[str, str], said: str
) -> None:
    response = client.get(LOG, params={"api-version": "2015-04-01", **query})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("BadRequest", "$filter")
    assert said in error["message"]
