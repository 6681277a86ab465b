"""The sandbox's state file: a read leaves it untouched; a change is on disk when its answer arrives."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import Response

from chsm_checks.sandbox import SandboxSettings, create_app
from chsm_checks.sandbox.ids import sandbox_guid

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
CLUSTERS = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox/providers/Microsoft.HardwareSecurityModules/"
    "cloudHsmClusters"
)
HSM_API = "api-version=2025-03-31"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
LONG_AGO_NS = 1_000_000_000_000_000_000  # 2001: no write made by the test can carry this mtime


def aged(state_file: Path) -> tuple[int, int, bytes]:
    """Back-date ``state_file`` so that any rewrite shows, and return its inode, mtime and bytes."""
    os.utime(state_file, ns=(LONG_AGO_NS, LONG_AGO_NS))
    return stamp(state_file)


def stamp(state_file: Path) -> tuple[int, int, bytes]:
    stat = state_file.stat()
    return stat.st_ino, stat.st_mtime_ns, state_file.read_bytes()


def on_disk(tmp_path: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    return state


def source_hsm_host(client: TestClient) -> str:
    """Asked of the control routes, which spend none of the read budget."""
    hostname: str = client.get("/_sandbox/state").json()["resources"][0]["properties"]["hsms"][0]["fqdn"]
    return hostname


def backup(client: TestClient) -> Response:
    return client.post(
        f"{CLUSTERS}/chsm-source/backup?{HSM_API}", json={"azureStorageBlobContainerUri": CONTAINER_URI}
    )


def test_reads_leave_the_state_file_untouched(tmp_path: Path) -> None:
    settings = SandboxSettings(backup_seconds=60, read_budget_per_subscription=4, read_refill_per_second=0.01)
    client = TestClient(create_app(tmp_path, settings))
    poll = backup(client).headers["location"]
    hostname = source_hsm_host(client)
    before = aged(tmp_path / "state.json")

    statuses = [
        client.get(f"{CLUSTERS}/chsm-source?{HSM_API}").status_code,
        client.get(f"{CLUSTERS}?{HSM_API}").status_code,
        client.get(poll).status_code,  # a job still running
        client.get(f"{CLUSTERS}/chsm-nowhere?{HSM_API}").status_code,
        client.get(f"{CLUSTERS}/chsm-source?{HSM_API}").status_code,  # the fifth: over the budget
        client.get("/_sandbox/state").status_code,
        client.get("/_sandbox/fleet").status_code,
        client.get("/_sandbox/requests").status_code,
        client.get(f"/_sandbox/hsm/by-host/{hostname}").status_code,
    ]

    assert statuses == [200, 200, 202, 404, 429, 200, 200, 200, 200]
    assert stamp(tmp_path / "state.json") == before


MUTATIONS: dict[str, tuple[Callable[[TestClient], Response], Callable[[dict[str, Any]], Any]]] = {
    "backup": (backup, lambda state: [job["kind"] for job in state["jobs"]]),
    "cluster patch": (
        lambda client: client.patch("/_sandbox/clusters/chsm-dest", json={"activationState": "Active"}),
        lambda state: [c["properties"]["activationState"] for c in state["resources"][:2]],
    ),
    "HSM node patch": (
        lambda client: client.patch("/_sandbox/hsm/chsm-dest/nodes/2", json={"reachable": False}),
        lambda state: [[n["reachable"] for n in hsm["nodes"]] for hsm in state["hsm"].values()],
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_change_is_on_disk_when_its_answer_arrives(tmp_path: Path, mutation: str) -> None:
    client = TestClient(create_app(tmp_path))
    send, observe = MUTATIONS[mutation]
    unchanged = observe(on_disk(tmp_path))

    response = send(client)

    assert response.status_code < 300, response.text
    assert observe(on_disk(tmp_path)) != unchanged
    assert observe(on_disk(tmp_path)) == observe(client.get("/_sandbox/state").json())


def test_a_failed_hsm_login_is_counted_on_disk(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path))
    hostname = source_hsm_host(client)

    answer = client.post(
        f"/_sandbox/hsm/by-host/{hostname}/login", json={"role": "CU", "user": "cu1", "password": "wrong"}
    )

    assert answer.json() == {"result": "bad-password", "failures": 1}
    users = next(iter(on_disk(tmp_path)["hsm"].values()))["users"]
    assert [user["failures"] for user in users if user["name"] == "cu1"] == [1]


def test_a_finished_job_is_on_disk_when_the_read_that_sees_it_returns(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, SandboxSettings(backup_seconds=0.05)))
    poll = backup(client).headers["location"]
    time.sleep(0.1)

    result = client.get(poll).json()

    backup_id = result["properties"]["backupId"]
    assert result["properties"]["status"] == "Succeeded"
    assert [job["applied"] for job in on_disk(tmp_path)["jobs"]] == [True]
    assert backup_id in next(iter(on_disk(tmp_path)["backups"].values()))


def test_the_request_log_says_when_each_request_arrived_and_what_retry_after_it_got(tmp_path: Path) -> None:
    from httpx import get as httpx_get

    from tests.support.processes import sandbox_process

    args = ("--fleet-clusters", "2", "--read-budget", "1", "--read-refill", "0.5")
    with sandbox_process(tmp_path / "state", *args) as sandbox:
        started = time.time()
        subscription = sandbox.get("/_sandbox/fleet")["subscriptions"][0]
        path = f"/subscriptions/{subscription}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
        for _ in range(2):
            httpx_get(f"{sandbox.url}{path}?api-version=2025-03-31", timeout=30)
        log = [r for r in sandbox.requests() if r["path"] == path]
    assert [r["status"] for r in log] == [200, 429]
    assert all(started <= r["at"] <= time.time() for r in log)
    assert "retry_after" not in log[0]
    assert int(log[1]["retry_after"]) >= 1
