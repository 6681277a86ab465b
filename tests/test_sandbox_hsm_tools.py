"""The simulated azcloudhsm_mgmt_util and azcloudhsm_util, driven through the wrappers a served sandbox
writes, on a pty, as the harness's sessions drive the real tools."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pexpect
import pytest

from chsm_checks.sandbox.hsm_client import write_client_files
from tests.support.processes import Sandbox, sandbox_process

SUB = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"
CLUSTERS = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox/providers/"
    "Microsoft.HardwareSecurityModules/cloudHsmClusters"
)
HSM_API = "api-version=2025-03-31"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
MGMT_PROMPT = "cloudmgmt>"
UTIL_PROMPT = "Command: "
SOURCE_HANDLES = "6, 7, 262150, 262151, 524296"
CU1_LOGIN = "loginHSM -u CU -s cu1 -p sandbox-cu-password"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state_dir = tmp_path_factory.mktemp("hsm") / "state"
    with sandbox_process(state_dir, "--backup-seconds", "0.1", "--restore-seconds", "0.1") as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(served: Sandbox) -> Sandbox:
    """The module's sandbox, re-seeded (which also rewrites the resource cfg)."""
    served.post("/_sandbox/reset")
    return served


def bin_dir(sandbox: Sandbox) -> Path:
    return sandbox.state_dir / "hsm-client" / "bin"


def patch(sandbox: Sandbox, path: str, body: dict[str, Any]) -> None:
    httpx.patch(f"{sandbox.url}/_sandbox/hsm/{path}", json=body, timeout=30).raise_for_status()


def fqdn(sandbox: Sandbox, cluster: str, n: int = 1) -> str:
    body = httpx.get(f"{sandbox.url}{CLUSTERS}/{cluster}?{HSM_API}", timeout=30).json()
    name: str = body["properties"]["hsms"][n - 1]["fqdn"]
    return name


def point_cfg_at(sandbox: Sandbox, hostname: str) -> None:
    cfg = bin_dir(sandbox) / "azcloudhsm_resource.cfg"
    cfg.write_text(json.dumps({"servers": [{"hostname": hostname}]}), encoding="utf-8")


def spawn(program: Path, args: list[str], cwd: Path | None = None) -> pexpect.spawn:
    child = pexpect.spawn(str(program), args, encoding="utf-8", echo=False, timeout=30, cwd=cwd)
    # The simulators read whole lines; pexpect's 50 ms pause before each send only slows the tests.
    child.delaybeforesend = None
    return child


def mgmt(sandbox: Sandbox) -> pexpect.spawn:
    cfg = bin_dir(sandbox) / "azcloudhsm_resource.cfg"
    return spawn(bin_dir(sandbox) / "azcloudhsm_mgmt_util", [str(cfg)])


def util(sandbox: Sandbox, cwd: Path | None = None) -> pexpect.spawn:
    return spawn(bin_dir(sandbox) / "azcloudhsm_util", [], cwd=cwd)


def started(child: pexpect.spawn, prompt: str) -> str:
    child.expect_exact(prompt)
    text: str = child.before
    return text


def run(child: pexpect.spawn, line: str, prompt: str) -> str:
    """Send one command; what the tool printed before its next prompt, with LF line ends."""
    child.sendline(line)
    child.expect_exact(prompt)
    text: str = child.before
    return text.replace("\r\n", "\n")


def ended(child: pexpect.spawn, line: str, *, saying: str = "") -> int:
    """Send the command that ends the tool; its exit status, once it has printed ``saying``."""
    child.sendline(line)
    child.expect(pexpect.EOF)
    assert saying in child.before
    child.close()
    status: int = child.exitstatus
    return status


def test_mgmt_util_connects_to_three_servers_and_lists_the_cluster_and_its_users(sandbox: Sandbox) -> None:
    child = mgmt(sandbox)

    banner = started(child, MGMT_PROMPT)

    assert banner.startswith("Liquidsec MGMT Util Version            :       2.09.07.02\r\n")
    for server, ip in enumerate(("10.0.2.5", "10.0.2.6", "10.0.2.7")):
        assert f"Connected to 'server {server}': hostname '{ip}', port 2225..." in banner
        assert f"E2E enabled on server {server}({ip})" in banner
    assert "Connecting to servers in the cluster." in banner
    assert "not connected" not in banner
    info = run(child, "getClusterInfo", MGMT_PROMPT)
    assert "Cluster info from server 0(10.0.2.5):\nNode Id         Hostname" in info
    rows = re.findall(r"^(\d)\s+(\S+)\s+2225$", info, re.MULTILINE)
    assert rows == [(str(n), fqdn(sandbox, "chsm-source", n)) for n in (1, 2, 3)]
    assert "not connected" not in info
    users = run(child, "listUsers", MGMT_PROMPT)
    assert users.count("Number of users found:4") == 3
    assert "Users on server 2(10.0.2.7):" in users
    assert re.search(r"User Id\s+User Type\s+User Name\s+MofnPubKey\s+LoginFailureCnt\s+2FA", users)
    assert re.findall(r"^\s+(\d)\s+(\w+)\s+(\w+)\s+NO\s+0\s+NO$", users, re.MULTILINE)[:4] == [
        ("1", "PCO", "admin"),
        ("2", "AU", "app_user"),
        ("3", "CU", "cu1"),
        ("4", "CU", "cu2"),
    ]
    login = run(child, "loginHSM CO admin sandbox-co-password", MGMT_PROMPT)
    assert login.splitlines() == [f"loginHSM success on server {n}(10.0.2.{5 + n})" for n in range(3)]
    child.sendline("deleteUser CU cu2")
    child.expect_exact("Do you want to continue(y/n)?")
    assert "CAUTION" in child.before
    assert "failed" not in run(child, "n", MGMT_PROMPT)
    assert run(child, "frobnicate", MGMT_PROMPT).strip() == "Invalid command: frobnicate"
    child.sendline("server 1")
    child.expect_exact("server1>")
    assert run(child, "logoutHSM", "server1>").strip() == "logoutHSM success"
    run(child, "exit", MGMT_PROMPT)
    assert ended(child, "quit", saying="disconnecting from servers, please wait...") == 0


def test_util_logs_a_crypto_user_in_and_reads_its_keys(sandbox: Sandbox, tmp_path: Path) -> None:
    child = util(sandbox, cwd=tmp_path)

    assert "Cfm3Initialize() returned app id : 01000000" in started(child, UTIL_PROMPT)
    assert "RET_USER_NOT_LOGGED_IN" in run(child, "findKey", UTIL_PROMPT)
    login = run(child, CU1_LOGIN, UTIL_PROMPT)
    assert login.startswith(f" {CU1_LOGIN}\n")
    assert "Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS" in login
    assert [f"Node id {n} status: 0x00000000 : HSM Return: SUCCESS" for n in (1, 2, 3)] == re.findall(
        r"Node id \d status: .*", login
    )
    found = run(child, "findKey", UTIL_PROMPT)
    assert found.startswith(" findKey\nTotal number of keys present: 5\n")
    assert "Number of matching keys from start index 0::4" in found
    assert f"Handles of matching keys: {SOURCE_HANDLES}\n" in found
    assert "Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS" in found
    assert "Handles of matching keys: 7, 262151\n" in run(child, "findKey -c 3", UTIL_PROMPT)
    assert "Handles of matching keys: 7, 262150\n" in run(child, "findKey -l backup-rsa-1", UTIL_PROMPT)
    none = run(child, "findKey -t 21", UTIL_PROMPT)
    assert "No keys found matching the given criteria\nHandles of matching keys: \n" in none

    written = run(child, "getAttribute -o 6 -a 512 -out attrs-6.txt", UTIL_PROMPT)

    assert "Written to: attrs-6.txt file" in written
    assert "Cfm3GetAttribute returned: 0x00 : HSM Return: SUCCESS" in written
    lines = (tmp_path / "attrs-6.txt").read_text(encoding="utf-8").splitlines()
    pairs = dict(zip(lines[::2], lines[1::2], strict=True))
    assert f"Attribute size: {len(pairs)}, count: {len(pairs)}" in written
    assert list(pairs)[:4] == ["OBJ_ATTR_CLASS", "OBJ_ATTR_KEY_TYPE", "OBJ_ATTR_LABEL", "OBJ_ATTR_ID"]
    assert (pairs["OBJ_ATTR_CLASS"], pairs["OBJ_ATTR_KEY_TYPE"], pairs["OBJ_ATTR_LABEL"]) == (
        "0x04",
        "0x1f",
        "backup-aes-1",
    )
    assert re.fullmatch(r"[0-9a-f]{16}", pairs["OBJ_ATTR_ID"])
    assert re.fullmatch(r"0x[0-9a-f]{6}", pairs["OBJ_ATTR_KCV"])
    info = run(child, "getKeyInfo -k 7", UTIL_PROMPT)
    assert re.search(r"Owned by user 3\n\s*\n\s*also, shared to following 1 user\(s\):\n\s*\n\s+4\n", info)
    assert "also, shared" not in run(child, "getKeyInfo -k 6", UTIL_PROMPT)
    assert "0xa8" in run(child, "getKeyInfo -k 12345", UTIL_PROMPT)
    assert run(child, "bogus", UTIL_PROMPT) == " bogus\nInvalid command: bogus\n\n"
    assert "Cfm3LogoutHSM returned: 0x00" in run(child, "logoutHSM", UTIL_PROMPT)
    assert ended(child, "exit") == 0


def test_wrong_passwords_count_and_five_lock_the_user(sandbox: Sandbox) -> None:
    admin = mgmt(sandbox)
    started(admin, MGMT_PROMPT)
    admin.sendline("loginHSM CU cu1 not-the-password")
    admin.expect_exact("Retry/rollBack/Ignore?(R/B/I):")
    assert "loginHSM failed: RET_USER_LOGIN_FAILURE\r\nloginHSM failed on server 0(10.0.2.5)" in admin.before
    assert "Rolling back loginHSM" in run(admin, "B", MGMT_PROMPT)
    child = util(sandbox)
    started(child, UTIL_PROMPT)

    wrong = [run(child, "loginHSM -u CU -s cu1 -p not-the-password", UTIL_PROMPT) for _ in range(4)]

    assert "Cfm3LoginHSM returned: 0xa3 : HSM Error: RET_USER_LOGIN_FAILURE" in wrong[0]
    assert "Node id 3 status: 0x000000a3 : HSM Error: RET_USER_LOGIN_FAILURE" in wrong[0]
    assert re.search(r"3\s+CU\s+cu1\s+NO\s+5\s+NO", run(admin, "listUsers", MGMT_PROMPT))
    locked = run(child, CU1_LOGIN, UTIL_PROMPT)
    assert "Cfm3LoginHSM returned: 0xa3" in locked
    admin.sendline("loginHSM CU cu1 sandbox-cu-password")
    admin.expect_exact("Retry/rollBack/Ignore?(R/B/I):")
    assert "loginHSM failed: RET_USER_LOCKED_OUT" in admin.before
    run(admin, "B", MGMT_PROMPT)
    patch(sandbox, "chsm-source/users/cu1", {"failures": 0})
    assert "returned: 0x00" in run(child, CU1_LOGIN, UTIL_PROMPT)
    assert ended(admin, "quit") == 0
    assert ended(child, "exit") == 0


def test_an_unreachable_node_shows_in_start_up_cluster_info_and_node_lines(sandbox: Sandbox) -> None:
    patch(sandbox, "chsm-source/nodes/2", {"reachable": False})
    admin = mgmt(sandbox)

    banner = started(admin, MGMT_PROMPT)

    assert "Connetion to server 10.0.2.6(10.0.2.6) on port 2225 failed" in banner
    assert "Server 1(10.0.2.6) is not connected" in banner
    assert "E2E enabled on server 1" not in banner
    info = run(admin, "getClusterInfo", MGMT_PROMPT)
    assert len(re.findall(r"^\d\s+hsm\d\.\S+\s+2225$", info, re.MULTILINE)) == 3
    assert info.rstrip().endswith("Server 1 is not connected")
    login = run(admin, "loginHSM CO admin sandbox-co-password", MGMT_PROMPT)
    assert login.splitlines() == [
        "loginHSM success on server 0(10.0.2.5)",
        "loginHSM success on server 2(10.0.2.7)",
    ]
    child = util(sandbox)
    started(child, UTIL_PROMPT)
    login = run(child, CU1_LOGIN, UTIL_PROMPT)
    assert "Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS" in login
    assert "Node id 2 status: 0x40000040 : HSM Error: RET_HSM_NODE_UNREACHABLE" in login
    assert "Node id 3 status: 0x00000000 : HSM Return: SUCCESS" in login

    # Seen between commands, without restarting the tools.
    patch(sandbox, "chsm-source/nodes/3", {"reachable": False})

    assert (
        run(admin, "getClusterInfo", MGMT_PROMPT)
        .rstrip()
        .endswith("Server 1 is not connected\nServer 2 is not connected")
    )
    assert "Node id 3 status: 0x40000040 : HSM Error: RET_HSM_NODE_UNREACHABLE" in run(
        child, "findKey", UTIL_PROMPT
    )
    assert ended(admin, "quit") == 0
    assert ended(child, "exit") == 0


@pytest.mark.parametrize("bootstrap", ["hsm1.unknown-cluster.privatelink.cloudhsm.azure.net", "unreachable"])
def test_no_reachable_cluster_ends_both_tools_with_status_1(sandbox: Sandbox, bootstrap: str) -> None:
    if bootstrap == "unreachable":
        bootstrap = fqdn(sandbox, "chsm-source")
        patch(sandbox, "chsm-source/nodes/1", {"reachable": False})
    point_cfg_at(sandbox, bootstrap)
    admin, child = mgmt(sandbox), util(sandbox)

    admin.expect(pexpect.EOF)
    child.expect(pexpect.EOF)

    assert f"Connetion to server {bootstrap}({bootstrap}) on port 2225 failed\r\n" in admin.before
    assert "No server is connected, exiting..." in admin.before
    assert "Cfm3GetPartitionInfo returned: 0x40000040\r\nLIQUIDSECURITY: Daemon socket connection error" in (
        child.before
    )
    for tool in (admin, child):
        tool.close()
        assert tool.exitstatus == 1


def test_a_hang_fault_leaves_the_command_without_a_prompt(sandbox: Sandbox) -> None:
    patch(sandbox, "chsm-source/faults", {"hang_on": "findKey"})
    child = util(sandbox)
    started(child, UTIL_PROMPT)
    run(child, CU1_LOGIN, UTIL_PROMPT)

    child.sendline("findKey")

    child.expect_exact(" findKey\r\n")
    with pytest.raises(pexpect.TIMEOUT):
        child.expect_exact(UTIL_PROMPT, timeout=1)
    child.close(force=True)
    assert child.signalstatus is not None


def backup_then_restore(sandbox: Sandbox) -> None:
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:

        def finish(response: httpx.Response) -> dict[str, Any]:
            assert response.status_code == 202, response.text
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                status = client.get(response.headers["location"])
                if status.status_code == 200:
                    properties: dict[str, Any] = status.json()["properties"]
                    assert properties["status"] == "Succeeded", properties
                    return properties
                time.sleep(0.05)
            raise AssertionError("the job did not finish within 5 s")

        body = {"azureStorageBlobContainerUri": CONTAINER_URI}
        backup = finish(client.post(f"{CLUSTERS}/chsm-source/backup?{HSM_API}", json=body))
        finish(
            client.post(
                f"{CLUSTERS}/chsm-dest/restore?{HSM_API}", json={**body, "backupId": backup["backupId"]}
            )
        )


def key_ids(child: pexpect.spawn, handles: list[str], cwd: Path) -> list[str]:
    ids = []
    for handle in handles:
        run(child, f"getAttribute -o {handle} -a 258 -out id-{handle}", UTIL_PROMPT)
        name, value = (cwd / f"id-{handle}").read_text(encoding="utf-8").splitlines()
        assert name == "OBJ_ATTR_ID"
        ids.append(value)
    return ids


def test_a_restore_through_arm_copies_users_and_keys_with_new_handles(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    source = util(sandbox, cwd=tmp_path)
    started(source, UTIL_PROMPT)
    run(source, CU1_LOGIN, UTIL_PROMPT)
    source_ids = key_ids(source, SOURCE_HANDLES.split(", "), tmp_path)
    # After a restore, the tools are pointed at the destination.
    point_cfg_at(sandbox, fqdn(sandbox, "chsm-dest"))
    dest = mgmt(sandbox)
    started(dest, MGMT_PROMPT)
    before = run(dest, "listUsers", MGMT_PROMPT)
    assert "Users on server 0(10.0.3.5):\nNumber of users found:1" in before
    assert re.search(r"1\s+PRECO\s+admin", before)

    backup_then_restore(sandbox)

    restored = util(sandbox, cwd=tmp_path)
    assert "Cfm3Initialize()" in started(restored, UTIL_PROMPT)
    assert "returned: 0x00" in run(restored, CU1_LOGIN, UTIL_PROMPT)
    found = run(restored, "findKey", UTIL_PROMPT)
    handles = re.search(r"Handles of matching keys: (.*)\n", found)
    assert handles is not None
    new_handles = handles[1].split(", ")
    assert len(new_handles) == 5
    assert set(new_handles).isdisjoint(SOURCE_HANDLES.split(", "))
    assert key_ids(restored, new_handles, tmp_path) == source_ids
    users = run(dest, "listUsers", MGMT_PROMPT)
    assert "Users on server 0(10.0.3.5):\nNumber of users found:4" in users
    assert re.search(r"1\s+PCO\s+admin", users)
    assert re.search(r"4\s+CU\s+cu2", users)
    for tool, line in ((dest, "quit"), (source, "exit"), (restored, "exit")):
        assert ended(tool, line) == 0


def test_wrappers_follow_the_url_and_keep_a_cfg_the_user_repointed(sandbox: Sandbox, tmp_path: Path) -> None:
    state = httpx.get(f"{sandbox.url}/_sandbox/state", timeout=30).json()
    state_dir = tmp_path / 'it\'s a "state" dir'
    bin_path = write_client_files(state_dir, "http://127.0.0.1:1", state, reset=False)
    cfg = bin_path / "azcloudhsm_resource.cfg"
    cfg.write_text(json.dumps({"servers": [{"hostname": fqdn(sandbox, "chsm-dest")}]}), encoding="utf-8")

    write_client_files(state_dir, sandbox.url, state, reset=False)

    assert sandbox.url in (bin_path / "azcloudhsm_util").read_text(encoding="utf-8")
    child = spawn(bin_path / "azcloudhsm_mgmt_util", [str(cfg)])
    assert "E2E enabled on server 0(10.0.3.5)" in started(child, MGMT_PROMPT)
    assert ended(child, "quit") == 0
    write_client_files(state_dir, sandbox.url, state, reset=True)
    assert json.loads(cfg.read_text(encoding="utf-8")) == {
        "servers": [{"hostname": fqdn(sandbox, "chsm-source")}]
    }
