"""The HSM side of the sandbox world: seeded users and keys, the /_sandbox/hsm routes, backup/restore."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.sandbox import SandboxSettings, create_app, seed_state
from chsm_checks.sandbox.hsm_state import NO_FAULTS
from chsm_checks.sandbox.ids import sandbox_guid

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
CLUSTERS = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox/providers/"
    "Microsoft.HardwareSecurityModules/cloudHsmClusters"
)
SOURCE_ID, DEST_ID = f"{CLUSTERS}/chsm-source", f"{CLUSTERS}/chsm-dest"
HSM_API = "api-version=2025-03-31"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
FAST = SandboxSettings(backup_seconds=0.05, restore_seconds=0.05)
SEEDED_KEYS = [
    # handle, class, key type, label, owner, shared
    (6, 4, 31, "backup-aes-1", 3, []),
    (7, 3, 0, "backup-rsa-1", 3, [4]),
    (262150, 2, 0, "backup-rsa-1", 3, []),
    (262151, 3, 3, "backup-ec-1", 3, []),
    (524296, 4, 16, "backup-hmac-1", 4, [3]),
]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path, FAST)) as test_client:
        yield test_client


def host(client: TestClient, cluster: str, n: int = 1) -> str:
    fqdn: str = client.get(f"{CLUSTERS}/{cluster}?{HSM_API}").json()["properties"]["hsms"][n - 1]["fqdn"]
    return fqdn


def login(client: TestClient, hostname: str, user: str, password: str, role: str = "CU") -> dict[str, Any]:
    response = client.post(
        f"/_sandbox/hsm/by-host/{hostname}/login", json={"role": role, "user": user, "password": password}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_source_holds_four_users_and_five_keys_and_the_destination_a_lone_preco() -> None:
    state = seed_state(SandboxSettings())
    source, dest = state["hsm"][SOURCE_ID], state["hsm"][DEST_ID]

    assert [(u["user_id"], u["type"], u["name"], u["failures"]) for u in source["users"]] == [
        (1, "PCO", "admin", 0),
        (2, "AU", "app_user", 0),
        (3, "CU", "cu1", 0),
        (4, "CU", "cu2", 0),
    ]
    assert [
        (k["handle"], k["class"], k["key_type"], k["label"], k["owner"], k["shared"]) for k in source["keys"]
    ] == [tuple(spec) for spec in SEEDED_KEYS]
    assert len({k["id"] for k in source["keys"]}) == 5
    for key in source["keys"]:
        attributes = key["attributes"]
        assert attributes["OBJ_ATTR_ID"] == key["id"]
        assert attributes["OBJ_ATTR_LABEL"] == key["label"]
        assert attributes["OBJ_ATTR_CLASS"] == f"0x{key['class']:02x}"
        assert ("OBJ_ATTR_MODULUS_BITS" in attributes) == (key["key_type"] == 0)
        assert ("OBJ_ATTR_VALUE_LEN" in attributes) == (key["class"] == 4)
    assert source["keys"][0]["attributes"]["OBJ_ATTR_KEY_TYPE"] == "0x1f"
    assert [(u["user_id"], u["type"], u["name"]) for u in dest["users"]] == [(1, "PRECO", "admin")]
    assert dest["keys"] == []
    assert [(n["node_id"], n["server"], n["ip"]) for n in dest["nodes"]] == [
        (1, 0, "10.0.3.5"),
        (2, 1, "10.0.3.6"),
        (3, 2, "10.0.3.7"),
    ]
    assert seed_state(SandboxSettings()) == state
    other = seed_state(SandboxSettings(seed=2))
    assert {k["id"] for k in other["hsm"][next(iter(other["hsm"]))]["keys"]}.isdisjoint(
        {k["id"] for k in source["keys"]}
    )


def test_the_view_by_host_names_the_cluster_and_hides_passwords(client: TestClient) -> None:
    hostname = host(client, "chsm-source", 2)

    view = client.get(f"/_sandbox/hsm/by-host/{hostname.upper()}").json()

    assert (view["cluster"], view["cluster_id"], view["activation_state"]) == (
        "chsm-source",
        SOURCE_ID,
        "Active",
    )
    assert [n["hostname"] for n in view["nodes"]] == [host(client, "chsm-source", n) for n in (1, 2, 3)]
    assert all("password" not in user for user in view["users"])
    assert [k["handle"] for k in view["keys"]] == [spec[0] for spec in SEEDED_KEYS]
    assert view["faults"] == NO_FAULTS
    assert client.get("/_sandbox/hsm/by-host/hsm1.nowhere.example").status_code == 404
    logged = [
        {k: r[k] for k in ("method", "path", "query", "status")}
        for r in client.get("/_sandbox/requests").json()
    ]
    assert logged == [{"method": "GET", "path": SOURCE_ID, "query": HSM_API, "status": 200}] * 4


def test_five_wrong_passwords_lock_a_user_until_the_count_is_cleared(client: TestClient) -> None:
    hostname = host(client, "chsm-source")

    assert login(client, hostname, "cu1", "sandbox-cu-password") == {"result": "success", "failures": 0}
    assert login(client, hostname, "nobody", "x") == {"result": "no-such-user", "failures": 0}
    assert login(client, hostname, "admin", "sandbox-co-password", role="CU")["result"] == "wrong-role"
    assert login(client, hostname, "admin", "sandbox-co-password", role="CO")["result"] == "success"
    answers = [login(client, hostname, "cu1", "wrong") for _ in range(5)]
    assert answers == [{"result": "bad-password", "failures": n} for n in range(1, 6)]
    assert login(client, hostname, "cu1", "sandbox-cu-password") == {"result": "locked", "failures": 5}

    unlocked = client.patch("/_sandbox/hsm/chsm-source/users/cu1", json={"failures": 0})

    assert unlocked.json()["failures"] == 0
    assert "password" not in unlocked.json()
    assert login(client, hostname, "cu1", "sandbox-cu-password")["result"] == "success"
    client.patch("/_sandbox/hsm/chsm-source/users/cu1", json={"password": "changed-password"})
    assert login(client, hostname, "cu1", "sandbox-cu-password")["result"] == "bad-password"
    assert login(client, hostname, "cu1", "changed-password") == {"result": "success", "failures": 0}


def test_nodes_and_faults_are_steered_by_cluster_name(client: TestClient) -> None:
    node = client.patch("/_sandbox/hsm/chsm-dest/nodes/2", json={"reachable": False})
    faults = client.patch("/_sandbox/hsm/CHSM-DEST/faults", json={"hang_on": "findKey"})

    assert node.json() == {
        "node_id": 2,
        "server": 1,
        "ip": "10.0.3.6",
        "hostname": host(client, "chsm-dest", 2),
        "reachable": False,
    }
    assert faults.json() == {"hang_on": "findKey"}
    view = client.get(f"/_sandbox/hsm/by-host/{host(client, 'chsm-dest')}").json()
    assert [n["reachable"] for n in view["nodes"]] == [True, False, True]
    assert view["faults"] == NO_FAULTS | {"hang_on": "findKey"}
    # The answer names what the request set and every switch still on.
    more = {"drop_node": {"node_id": 3, "after": "loginHSM"}, "lock_after": 0, "daemon_down": True}
    assert client.patch("/_sandbox/hsm/chsm-dest/faults", json=more).json() == {"hang_on": "findKey", **more}
    cleared = {"hang_on": None, "drop_node": None, "lock_after": None}
    assert client.patch("/_sandbox/hsm/chsm-dest/faults", json=cleared).json() == {
        **cleared,
        "daemon_down": True,
    }
    assert client.patch("/_sandbox/hsm/chsm-dest/faults", json={"daemon_down": False}).json() == {
        "daemon_down": False
    }
    view = client.get(f"/_sandbox/hsm/by-host/{host(client, 'chsm-dest')}").json()
    assert view["faults"] == NO_FAULTS


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/_sandbox/hsm/chsm-nope/faults", {"hang_on": None}, 404),
        ("/_sandbox/hsm/chsm-source/nodes/4", {"reachable": False}, 404),
        ("/_sandbox/hsm/chsm-source/users/nobody", {"failures": 0}, 404),
        ("/_sandbox/hsm/chsm-source/nodes/1", {"reachable": "no"}, 400),
        ("/_sandbox/hsm/chsm-source/nodes/1", {}, 400),
        ("/_sandbox/hsm/chsm-source/users/cu1", {"failures": True}, 400),
        ("/_sandbox/hsm/chsm-source/users/cu1", {"failures": -1}, 400),
        ("/_sandbox/hsm/chsm-source/users/cu1", {"type": "CO"}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"hang_on": 3}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"crash": True}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"daemon_down": 1}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"exit_at_start": "azcloudhsm_client"}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"lock_after": -1}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"lock_after": True}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"drop_node": {"node_id": 4, "after": "findKey"}}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"drop_node": {"node_id": 2}}, 400),
        ("/_sandbox/hsm/chsm-source/faults", {"drop_node": {"node_id": 2, "after": ""}}, 400),
    ],
)
def test_bad_steering_is_refused(client: TestClient, path: str, body: dict[str, Any], status: int) -> None:
    response = client.patch(path, json=body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == (
        "ResourceNotFound" if status == 404 else "InvalidRequestContent"
    )


def finish(client: TestClient, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = client.get(location)
        if response.status_code == 200:
            properties: dict[str, Any] = response.json()["properties"]
            return properties
        time.sleep(0.02)
    raise AssertionError(f"{location} still running after 5 s")


def test_a_restore_copies_the_backed_up_users_and_keys_with_new_handles(client: TestClient) -> None:
    source_host, dest_host = host(client, "chsm-source"), host(client, "chsm-dest")
    login(client, source_host, "cu2", "wrong")
    backup = client.post(
        f"{SOURCE_ID}/backup?{HSM_API}", json={"azureStorageBlobContainerUri": CONTAINER_URI}
    )
    backup_id = finish(client, backup.headers["location"])["backupId"]
    # Changes after the backup are not in it.
    client.patch("/_sandbox/hsm/chsm-source/users/cu1", json={"password": "after-the-backup"})

    restore = client.post(
        f"{DEST_ID}/restore?{HSM_API}",
        json={"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": backup_id},
    )
    assert finish(client, restore.headers["location"])["status"] == "Succeeded"

    source = client.get(f"/_sandbox/hsm/by-host/{source_host}").json()
    dest = client.get(f"/_sandbox/hsm/by-host/{dest_host}").json()
    assert dest["activation_state"] == "Active"
    assert [n["ip"] for n in dest["nodes"]] == ["10.0.3.5", "10.0.3.6", "10.0.3.7"]
    assert [(u["user_id"], u["type"], u["name"], u["failures"]) for u in dest["users"]] == [
        (u["user_id"], u["type"], u["name"], 0) for u in source["users"]
    ]
    assert [u["failures"] for u in source["users"]] == [0, 0, 0, 1]
    assert [k["handle"] for k in dest["keys"]] == [1048582, 1048583, 1048584, 1048585, 1048586]

    def without_handle(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in key.items() if k != "handle"} for key in keys]

    assert without_handle(dest["keys"]) == without_handle(source["keys"])
    assert login(client, dest_host, "cu1", "sandbox-cu-password")["result"] == "success"
    assert login(client, dest_host, "admin", "sandbox-co-password", role="CO")["result"] == "success"


def test_a_reset_points_the_resource_cfg_back_at_the_source(client: TestClient, tmp_path: Path) -> None:
    cfg = tmp_path / "hsm-client" / "bin" / "azcloudhsm_resource.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('{"servers": [{"hostname": "elsewhere"}]}', encoding="utf-8")

    client.post("/_sandbox/reset")

    assert json.loads(cfg.read_text(encoding="utf-8")) == {
        "servers": [{"hostname": host(client, "chsm-source")}]
    }


def test_a_state_from_before_the_hsm_contents_gets_the_seeded_ones(tmp_path: Path) -> None:
    old = seed_state(FAST)
    del old["hsm"], old["hsm_backups"]
    old["format"] = 1
    (tmp_path / "state.json").write_text(json.dumps(old), encoding="utf-8")

    client = TestClient(create_app(tmp_path))

    view = client.get(f"/_sandbox/hsm/by-host/{host(client, 'chsm-source')}").json()
    assert [k["handle"] for k in view["keys"]] == [spec[0] for spec in SEEDED_KEYS]
    assert json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))["format"] == 2
