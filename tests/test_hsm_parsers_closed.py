"""The parsers fail closed: every line of a utility's answer is recognised, or the answer is an error.

Each command's answer is a closed grammar (``docs/hsm-utilities.md``): what the tool documents
printing — the echo of the command, the prompt, banners, questions, the lines that carry the answer,
and the unhealthy lines that become findings — and nothing else. An undocumented wording is an
:class:`HsmParseError` (the scenario ends as *error*) that quotes the line, never silence that
would read as success. Beside each table of undocumented wordings, the documented Azure and AWS
forms, with CRLF and tabs, keep parsing.
"""

from __future__ import annotations

import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.errors import CouldNotEvaluate
from chsm_checks.hsm import drill
from chsm_checks.hsm.checks import nodes_connected
from chsm_checks.hsm.errors import HsmSessionError
from chsm_checks.hsm.parsers import (
    HsmParseError,
    NodeStatus,
    ReturnCode,
    ServerResult,
    parse_cluster_info,
    parse_find_key,
    parse_find_single_key,
    parse_get_attribute,
    parse_key_info,
    parse_list_users,
    parse_login,
    parse_mgmt_startup,
    parse_node_statuses,
    parse_return_code,
    parse_server_results,
)
from chsm_checks.hsm.runner import HsmRunner
from chsm_checks.hsm.sessions import Timeouts
from tests.check_fixtures import DESTINATION_ID, failed_messages

SUCCESS = "HSM Return: SUCCESS"

# --- what the tools print, healthy (the session's text: echo first, prompt last) ------------------


def connected(server: int, host: str) -> str:
    return (
        f"Connecting to 'server {server}': hostname '{host}', port 2225...\n"
        "Received server version : 2.09.07.02, SDK version: 2.09.07.02, SDK Package Version: 2.0.1.0\n"
        f"Connected to 'server {server}': hostname '{host}', port 2225...\n\n"
        f"E2E enabled on server {server}({host})\n\n"
    )


STARTUP = (
    "Liquidsec MGMT Util Version            :       2.09.07.02\n"
    "SDK API Version                        :       2.09.07.02\n"
    "SDK Package Version                    :       2.0.1.0\n\n"
    "Connecting to the server(s), it may take time\n"
    "depending on the server(s) load, please wait...\n\n"
    + connected(0, "10.0.2.5")
    + "Connecting to servers in the cluster.\n\n"
    + connected(1, "10.0.2.6")
    + connected(2, "10.0.2.7")
    + "cloudmgmt>"
)

DEST = "chsm-dest-abcdefghijklm.privatelink.cloudhsm.azure.net"
TABLE = (
    "\nCluster info from server 0(10.0.2.5):\n"
    "Node Id         Hostname                                                Port\n"
    f"1               hsm1.{DEST}   2225\n"
    f"2               hsm2.{DEST}   2225\n"
    f"3               hsm3.{DEST}   2225\n"
)
CLUSTER = TABLE + "cloudmgmt>"

LOGIN_MGMT = (
    "loginHSM success on server 0(10.0.2.5)\n"
    "loginHSM success on server 1(10.0.2.6)\n"
    "loginHSM success on server 2(10.0.2.7)\n"
    "cloudmgmt>"
)

USERS_HEADER = (
    "    User Id             User Type       User Name            MofnPubKey    LoginFailureCnt         2FA\n"
)
USERS = (
    "Users on server 0(10.0.2.5):\nNumber of users found:2\n\n"
    + USERS_HEADER
    + "         1              PCO             admin                 NO               0               NO\n"
    + "         3              CU              cu1                   NO               0               NO\n"
    + "cloudmgmt>"
)

NODES = "".join(f"        Node id {n} status: 0x00000000 : HSM Return: SUCCESS\n" for n in (1, 2, 3))
LOGIN = (
    " loginHSM -u CU -s cu1 -p REDACTED\n"
    "        Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS\n\n"
    "        Cluster Status:\n" + NODES + "\nCommand: "
)
FIND_KEY = (
    " findKey\n"
    "Total number of keys present: 3\n"
    "Number of matching keys from start index 0::2\n"
    "Handles of matching keys: 6, 7, 262150\n"
    "Cluster Status:\n" + NODES + "Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS\n\nCommand: "
)
FIND_SINGLE_KEY = (
    "Command: findSingleKey -k 262150\n"
    "Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS\n\n"
    "        Cluster Error Status\n"
    + "".join(f"        Node id {n} and err state 0x00000000 : HSM Return: SUCCESS\n" for n in (2, 1, 0))
)
GET_ATTRIBUTE = (
    " getAttribute -o 6 -a 512 -out attrs-6.txt\n"
    "Attribute size: 18, count: 18\n"
    "Written to: attrs-6.txt file\n\n"
    "        Cfm3GetAttribute returned: 0x00 : HSM Return: SUCCESS\n\nCommand: "
)
KEY_INFO = (
    " getKeyInfo -k 7\n"
    "        Cfm3GetKey returned: 0x00 : HSM Return: SUCCESS\n\n"
    "        Owned by user 3\n\n"
    "        also, shared to following 1 user(s):\n\n"
    "                 4\n\nCommand: "
)
LOGOUT = (
    " logoutHSM\n        Cfm3LogoutHSM returned: 0x00 : HSM Return: SUCCESS\n\n"
    "        Cluster Status:\n" + NODES + "\nCommand: "
)

Parse = Callable[[str], Any]
PARSERS: dict[str, Parse] = {
    "start-up": parse_mgmt_startup,
    "getClusterInfo": parse_cluster_info,
    "loginHSM (mgmt)": lambda text: parse_server_results(text, "loginHSM"),
    "listUsers": parse_list_users,
    "loginHSM": parse_login,
    "findKey": parse_find_key,
    "findSingleKey": parse_find_single_key,
    "getAttribute": parse_get_attribute,
    "getKeyInfo": parse_key_info,
    "logoutHSM": lambda text: parse_return_code(text, "Cfm3LogoutHSM"),
    "node lines": parse_node_statuses,
}
HEALTHY = {
    "start-up": STARTUP,
    "getClusterInfo": CLUSTER,
    "loginHSM (mgmt)": LOGIN_MGMT,
    "listUsers": USERS,
    "loginHSM": LOGIN,
    "findKey": FIND_KEY,
    "findSingleKey": FIND_SINGLE_KEY,
    "getAttribute": GET_ATTRIBUTE,
    "getKeyInfo": KEY_INFO,
    "logoutHSM": LOGOUT,
    "node lines": LOGIN,
}


def quote(line: str) -> str:
    """How an error quotes a line: whitespace squashed, as repr."""
    return repr(" ".join(line.split()))


def crlf_tabs(text: str) -> str:
    return re.sub(r" +", "\t", text).replace("\n", "\r\n")


# --- the case users measured: a wording the node check never saw ------------------------------------


def test_a_disconnected_server_after_the_node_table_is_an_error_not_a_pass() -> None:
    startup = parse_mgmt_startup(STARTUP)
    with pytest.raises(HsmParseError) as caught:
        nodes_connected(
            DESTINATION_ID, startup, parse_cluster_info(TABLE + "Server 1 is disconnected\ncloudmgmt>")
        )
    assert isinstance(caught.value, CouldNotEvaluate)
    assert quote("Server 1 is disconnected") in caught.value.what
    assert "Server 1 is disconnected" in caught.value.tail


def test_the_documented_not_connected_line_stays_a_finding() -> None:
    info = parse_cluster_info(TABLE + "Server 1 is not connected\ncloudmgmt>")
    findings = nodes_connected(DESTINATION_ID, parse_mgmt_startup(STARTUP), info)
    assert failed_messages(findings) == ["getClusterInfo: server 1 is not connected"]


STAND_IN_MGMT_UTIL = """\
import sys
out = sys.stdout
out.write({startup!r}); out.flush()
for line in sys.stdin:
    if line.strip() == "getClusterInfo":
        out.write({answer!r} + "cloudmgmt>"); out.flush()
    elif line.strip() == "quit":
        break
"""


def stand_in_runner(tmp_path: Path, answer: str) -> HsmRunner:
    """A runner whose management utility is a real process printing the healthy start-up, then
    ``answer`` to getClusterInfo."""
    script = tmp_path / "azcloudhsm_mgmt_util"
    body = STAND_IN_MGMT_UTIL.format(startup=STARTUP, answer=answer)
    script.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return HsmRunner(
        mgmt_util=str(script), util=str(script), mgmt_config=str(tmp_path / "x.cfg"),
        transcript_path=tmp_path / "t.yaml", workdir=tmp_path, timeouts=Timeouts(10, 10),
        password=lambda: "unused",
    )  # fmt: skip


def test_the_node_check_through_a_utility_session_ends_as_an_error_quoting_the_line(tmp_path: Path) -> None:
    runner = stand_in_runner(tmp_path, TABLE + "Server 1 is disconnected\n")
    with pytest.raises(HsmSessionError) as caught:
        drill.cluster_view(runner)
    assert "'getClusterInfo': unparseable output" in str(caught.value)
    assert quote("Server 1 is disconnected") in str(caught.value)


def test_the_node_check_through_a_utility_session_reports_a_documented_down_node(tmp_path: Path) -> None:
    runner = stand_in_runner(tmp_path, TABLE + "Server 1 is not connected\n")
    view = drill.cluster_view(runner)
    findings = drill.nodes_connected(DESTINATION_ID, view.startup, view.info)
    assert failed_messages(findings) == ["getClusterInfo: server 1 is not connected"]


# --- undocumented wordings: each an error that quotes the line ----------------------------------------


def after(anchor: str, line: str) -> Callable[[str], str]:
    """The healthy text with ``line`` printed right after the first ``anchor`` line."""
    return lambda text: re.sub(
        rf"(?m)^(.*{re.escape(anchor)}.*\n)", lambda m: m[1] + line + "\n", text, count=1
    )


def before(anchor: str, line: str) -> Callable[[str], str]:
    return lambda text: re.sub(rf"(?m)^(.*{re.escape(anchor)})", lambda m: line + "\n" + m[1], text, count=1)


def replaced(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return change


# (parser, how the healthy text is changed, the line the error must quote)
UNDOCUMENTED: list[tuple[str, Callable[[str], str], str]] = [
    # getClusterInfo: near the table, nothing unknown is silence
    ("getClusterInfo", after("hsm3.", "Server 1 is disconnected"), "Server 1 is disconnected"),
    ("getClusterInfo", after("hsm3.", "Connetion to server 10.0.2.6(10.0.2.6) on port 2225 failed"),
     "Connetion to server 10.0.2.6(10.0.2.6) on port 2225 failed"),
    ("getClusterInfo", after("hsm3.", "Server 1 is not connected (retrying)"),
     "Server 1 is not connected (retrying)"),
    ("getClusterInfo", after("hsm3.", "Node 2 is degraded"), "Node 2 is degraded"),
    ("getClusterInfo", before("Cluster info from", "Server 1 is not connected"), "Server 1 is not connected"),
    ("getClusterInfo", before("Cluster info from", "Warning: cluster topology changed"),
     "Warning: cluster topology changed"),
    ("getClusterInfo", before("Node Id", "Reading the cluster from server 0"),
     "Reading the cluster from server 0"),
    ("getClusterInfo", replaced("cloudmgmt>", "cloudmgmt>\nServer 2 is not connected\n"), "cloudmgmt>"),
    ("getClusterInfo", lambda text: "cloudmgmt>listUsers\n" + text, "cloudmgmt>listUsers"),
    ("getClusterInfo", lambda text: STARTUP + "getClusterInfo\n" + text,
     "Liquidsec MGMT Util Version : 2.09.07.02"),
    # start-up
    ("start-up", after("E2E enabled on server 1", "Server 1(10.0.2.6) is disconnected"),
     "Server 1(10.0.2.6) is disconnected"),
    ("start-up", after("E2E enabled on server 1", "E2E disabled on server 1(10.0.2.6)"),
     "E2E disabled on server 1(10.0.2.6)"),
    ("start-up", replaced("E2E enabled on server 2(10.0.2.7)", "E2E enabled on server 2(10.0.2.7) partially"),
     "E2E enabled on server 2(10.0.2.7) partially"),
    ("start-up", replaced("port 2225...\nReceived", "port 2225...\n...\nReceived"), "..."),
    ("start-up", before("cloudmgmt>", "Server 1(10.0.2.6) is not connected, retrying"),
     "Server 1(10.0.2.6) is not connected, retrying"),
    ("start-up", before("cloudmgmt>", "Warning: the cluster is degraded"),
     "Warning: the cluster is degraded"),
    # per-server replies
    ("loginHSM (mgmt)", after("on server 0", "loginHSM partially succeeded on server 1(10.0.2.6)"),
     "loginHSM partially succeeded on server 1(10.0.2.6)"),
    ("loginHSM (mgmt)", replaced("on server 2(10.0.2.7)", "on server 2(10.0.2.7) after 3 retries"),
     "loginHSM success on server 2(10.0.2.7) after 3 retries"),
    ("loginHSM (mgmt)", after("on server 0", "logoutHSM success on server 0(10.0.2.5)"),
     "logoutHSM success on server 0(10.0.2.5)"),
    ("loginHSM (mgmt)", after("on server 1", "Session expired"), "Session expired"),
    ("loginHSM (mgmt)", lambda text: "Syntax: loginHSM <user type> <user name> <password>\ncloudmgmt>",
     "Syntax: loginHSM <user type> <user name> <password>"),
    # listUsers
    ("listUsers", replaced("Users on server 0(10.0.2.5):", "Users on server 0(10.0.2.5): unavailable"),
     "Users on server 0(10.0.2.5): unavailable"),
    ("listUsers", before("cloudmgmt>", "Server 1 is not connected"), "Server 1 is not connected"),
    ("listUsers", after("Number of users found", "Note: 2FA is not configured"),
     "Note: 2FA is not configured"),
    ("listUsers", after("Number of users found", "listUsers failed on server 1(10.0.2.6)"),
     "listUsers failed on server 1(10.0.2.6)"),
    # loginHSM (azcloudhsm_util): a node's code and its text must agree
    ("loginHSM", replaced("Node id 1 status: 0x00000000 : HSM Return: SUCCESS",
                          "Node id 1 status: 0x00000000 : HSM Error: RET_USER_LOGIN_FAILURE"),
     "Node id 1 status: 0x00000000 : HSM Error: RET_USER_LOGIN_FAILURE"),
    ("loginHSM", replaced("Node id 2 status: 0x00000000 : HSM Return: SUCCESS",
                          "Node id 2 status: 0x000000a3 : HSM Return: SUCCESS"),
     "Node id 2 status: 0x000000a3 : HSM Return: SUCCESS"),
    ("loginHSM", replaced("Node id 3 status: 0x00000000 : HSM Return: SUCCESS",
                          "Node id 3 status: 0x00000000 : HSM Return: PARTIAL"),
     "Node id 3 status: 0x00000000 : HSM Return: PARTIAL"),
    ("loginHSM", replaced("returned: 0x00 : HSM Return: SUCCESS",
                          "returned: 0x00 : HSM Error: RET_USER_LOGIN_FAILURE"),
     "Cfm3LoginHSM returned: 0x00 : HSM Error: RET_USER_LOGIN_FAILURE"),
    ("loginHSM", after("Cfm3LoginHSM", "Warning: the session will expire"),
     "Warning: the session will expire"),
    ("loginHSM", after("Node id 3", "LIQUIDSECURITY: Daemon socket connection error"),
     "LIQUIDSECURITY: Daemon socket connection error"),
    ("loginHSM", replaced("Cluster Status:", "Cluster Status: degraded"), "Cluster Status: degraded"),
    ("loginHSM", after("Node id 3", "Node 2 answered late"), "Node 2 answered late"),
    ("loginHSM", after("loginHSM -u", "Version info, Client Version: 2.09.07.02, SDK API Version: 2.09.07.02,"
                       " SDK Package Version: 2.0.1.2"),
     "Version info, Client Version: 2.09.07.02, SDK API Version: 2.09.07.02, SDK Package Version: 2.0.1.2"),
    ("loginHSM", replaced("\nCommand: ", "\nCommand:\nCfm3LogoutHSM returned: 0x00 : HSM Return: SUCCESS\n"),
     "Command:"),
    # findKey
    ("findKey", replaced("present: 3", "present: 3 (2 hidden)"),
     "Total number of keys present: 3 (2 hidden)"),
    ("findKey", replaced("0::2", "0::2 (truncated)"),
     "Number of matching keys from start index 0::2 (truncated)"),
    ("findKey", after("Handles of", "Key 262150 is not on node 2"), "Key 262150 is not on node 2"),
    ("findKey", after("Handles of", "Owned by user 3"), "Owned by user 3"),
    ("findKey", after("Cfm3FindKey", "Search completed"), "Search completed"),
    ("findKey", replaced("Node id 2 status: 0x00000000 : HSM Return: SUCCESS",
                         "Node id 2 status: 0x00000000 : HSM Error: RET_HSM_NODE_UNREACHABLE"),
     "Node id 2 status: 0x00000000 : HSM Error: RET_HSM_NODE_UNREACHABLE"),
    ("findKey", lambda text: " findKey\nInvalid command: findKey\n\nCommand: ", "Invalid command: findKey"),
    ("findKey", replaced(" findKey\n", " getKeyInfo -k 6\n"), "getKeyInfo -k 6"),
    # findSingleKey
    ("findSingleKey", after("Cfm3FindKey", "Key found on 3 of 3 nodes"), "Key found on 3 of 3 nodes"),
    ("findSingleKey", replaced("Node id 1 and err state 0x00000000 : HSM Return: SUCCESS",
                               "Node id 1 and err state 0x00000000 : HSM Error: RET_INVALID_HANDLE"),
     "Node id 1 and err state 0x00000000 : HSM Error: RET_INVALID_HANDLE"),
    # getAttribute
    ("getAttribute", replaced("count: 18", "count: 18 (partial)"), "Attribute size: 18, count: 18 (partial)"),
    ("getAttribute", lambda text: " getAttribute -o 6 -a 512 -out attrs-6.txt\n"
     "Error: cannot write to attrs-6.txt: Permission denied\n\nCommand: ",
     "Error: cannot write to attrs-6.txt: Permission denied"),
    ("getAttribute", after("Cfm3GetAttribute", "Attributes may be stale"), "Attributes may be stale"),
    # getKeyInfo
    ("getKeyInfo", replaced("Owned by user 3", "Owned by user 3 (deleted)"), "Owned by user 3 (deleted)"),
    ("getKeyInfo", after("Owned by user", "Key is shared with nobody else"),
     "Key is shared with nobody else"),
    ("getKeyInfo", after("Cfm3GetKey", "Node id 1 status: 0x00000000 : HSM Return: SUCCESS"),
     "Node id 1 status: 0x00000000 : HSM Return: SUCCESS"),
    # logoutHSM, and node lines wherever they are read
    ("logoutHSM", after("Node id 3", "Session closed"), "Session closed"),
    ("logoutHSM", replaced(" logoutHSM\n", " logoutHSM\nlogoutHSM failed on server 0(10.0.2.5)\n"),
     "logoutHSM failed on server 0(10.0.2.5)"),
    ("node lines", after("Node id 3", "Node id 4 is joining"), "Node id 4 is joining"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parser", "change", "line"),
    UNDOCUMENTED,
    ids=[f"{parser}: {line[:60]}" for parser, _, line in UNDOCUMENTED],
)
def test_an_undocumented_wording_is_an_error_quoting_the_line(
    parser: str, change: Callable[[str], str], line: str
) -> None:
    text = change(HEALTHY[parser])
    for form in (text, crlf_tabs(text)):
        with pytest.raises(HsmParseError) as caught:
            PARSERS[parser](form)
        assert quote(line) in caught.value.what, caught.value.what
        assert isinstance(caught.value, CouldNotEvaluate)


@pytest.mark.parametrize("parser", list(PARSERS))
def test_the_healthy_answer_each_table_row_changes_parses(parser: str) -> None:
    PARSERS[parser](HEALTHY[parser])
    PARSERS[parser](crlf_tabs(HEALTHY[parser]))


def test_a_quoted_line_is_redacted_as_the_tail_is() -> None:
    text = LOGIN.replace(" loginHSM -u CU -s cu1 -p REDACTED\n", " loginHSM -u CU -s cu1 -p user1234 extra\n")
    text = text.replace("Cluster Status:", "Cluster Status: -p user1234")
    with pytest.raises(HsmParseError) as caught:
        parse_login(text)
    assert "user1234" not in str(caught.value)
    assert quote("Cluster Status: -p REDACTED") in caught.value.what


# --- documented forms that must keep parsing --------------------------------------------------------


def test_the_retry_rollback_ignore_question_glued_to_the_next_line_is_recognised() -> None:
    # With the terminal's echo off, the answer typed is not printed: the next line follows the question.
    text = (
        "loginHSM success on server 0(10.0.2.5)\r\n"
        "loginHSM failed: RET_HSM_COMM_FAILURE\r\n"
        "loginHSM failed on server 1(10.0.2.6)\r\n"
        "Retry/rollBack/Ignore?(R/B/I):Rolling back loginHSM on the servers that succeeded\r\n"
        "cloudmgmt>"
    )
    assert parse_server_results(text, "loginHSM") == (
        ServerResult(0, "10.0.2.5", True, ""),
        ServerResult(1, "10.0.2.6", False, "RET_HSM_COMM_FAILURE"),
    )


def test_retry_then_ignore_is_read_server_by_server() -> None:
    text = (
        "loginHSM failed: RET_HSM_COMM_FAILURE\nloginHSM failed on server 0(10.0.2.5)\n"
        "Retry/rollBack/Ignore?(R/B/I):R\n"
        "loginHSM failed: RET_HSM_COMM_FAILURE\nloginHSM failed on server 0(10.0.2.5)\n"
        "Retry/rollBack/Ignore?(R/B/I):loginHSM success on server 1(10.0.2.6)\ncloudmgmt>"
    )
    results = parse_server_results(crlf_tabs(text), "loginHSM")
    assert [(r.server, r.success) for r in results] == [(0, False), (0, False), (1, True)]


def test_the_caution_banner_and_its_question_are_recognised() -> None:
    text = (
        "cloudmgmt>deleteUser CU cu2\n"
        "*************************CAUTION********************************\n"
        "This is a CRITICAL operation, should be done on all nodes in the\n"
        "cluster. AWS does NOT synchronize these changes automatically with the\n"
        "nodes on which this operation is not executed or failed, please\n"
        "ensure this operation is executed on all nodes in the cluster.\n"
        "****************************************************************\n\n"
        "Do you want to continue(y/n)?y\n"
        "deleteUser success on server 0(10.0.2.5)\n"
        "cloudmgmt>"
    )
    assert parse_server_results(crlf_tabs(text), "deleteUser") == (ServerResult(0, "10.0.2.5", True, ""),)


def test_a_caution_banner_that_never_closes_is_an_error() -> None:
    text = (
        "*************************CAUTION********************************\n"
        + "This is a CRITICAL operation\n" * 12
        + "deleteUser success on server 0(10.0.2.5)\n"
    )
    with pytest.raises(HsmParseError, match="CAUTION"):
        parse_server_results(text, "deleteUser")


def test_get_attribute_in_the_aws_form() -> None:
    text = (
        "Command:  getAttribute -o 262162 -a 512 -out attr_262162\n"
        "got all attributes of size 444 attr cnt 17\n"
        "Attributes dumped into attr_262162 file\n\n"
        "        Cfm3GetAttribute returned: 0x00 : HSM Return: SUCCESS\n"
    )
    assert parse_get_attribute(crlf_tabs(text)) == ReturnCode("Cfm3GetAttribute", 0, SUCCESS)


def test_get_attribute_that_fails_prints_only_its_code() -> None:
    text = (
        " getAttribute -o 9 -a 512 -out attrs-9.txt\n"
        "        Cfm3GetAttribute returned: 0xa8 : HSM Error: RET_INVALID_HANDLE\n\nCommand: "
    )
    assert parse_get_attribute(text).code == 0xA8


def test_get_attribute_success_without_saying_where_it_wrote_is_an_error() -> None:
    text = GET_ATTRIBUTE.replace("Written to: attrs-6.txt file\n", "")
    with pytest.raises(HsmParseError, match="Written to"):
        parse_get_attribute(text)


def test_the_daemon_error_at_start_up_is_recognised() -> None:
    text = (
        "Version info, Client Version: 2.09.07.02, SDK API Version: 2.09.07.02,"
        " SDK Package Version: 2.0.1.2\r\n\r\n"
        "        Cfm3GetPartitionInfo returned: 0x40000040\r\n"
        "LIQUIDSECURITY: Daemon socket connection error\r\n"
    )
    assert parse_return_code(text, "Cfm3GetPartitionInfo").code == 0x40000040


def test_an_unreachable_node_is_a_recognised_node_line() -> None:
    text = LOGIN.replace(
        "Node id 2 status: 0x00000000 : HSM Return: SUCCESS",
        "Node id 2 status: 0x40000040 : HSM Error: RET_HSM_NODE_UNREACHABLE",
    )
    assert parse_login(crlf_tabs(text)).failed_nodes == (
        NodeStatus(2, 0x40000040, "HSM Error: RET_HSM_NODE_UNREACHABLE"),
    )


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        ("findKey", FIND_KEY.replace(" findKey\n", " findKey -c 3 -l backup-rsa-1\n")),
        ("getClusterInfo", "cloudmgmt>getClusterInfo\n" + CLUSTER),
        ("getClusterInfo", "server0>getClusterInfo\n" + TABLE + "server0>"),
        ("listUsers", "cloudmgmt>listUsers\n" + USERS),
        ("loginHSM (mgmt)", "cloudmgmt>loginHSM CO admin REDACTED\n" + LOGIN_MGMT),
        ("loginHSM", LOGIN.replace(" loginHSM", "Command:  loginHSM")),
    ],
    ids=["findKey with filters", "getClusterInfo echoed", "in server scope", "listUsers echoed",
         "mgmt loginHSM echoed", "loginHSM after its prompt"],
)  # fmt: skip
def test_the_echo_of_the_command_is_recognised(parser: str, text: str) -> None:
    PARSERS[parser](crlf_tabs(text))


@pytest.mark.parametrize(
    ("parser", "text", "line"),
    [
        ("getClusterInfo", "cloudmgmt>getClusterInfo\ncloudmgmt>getClusterInfo\n" + CLUSTER,
         "cloudmgmt>getClusterInfo"),
        ("listUsers", USERS.replace("cloudmgmt>", "listUsers\ncloudmgmt>"), "listUsers"),
        ("findKey", FIND_KEY.replace("Total number", "findKey\nTotal number"), "findKey"),
        ("loginHSM", LOGIN + "\nCommand: ", "Command:"),
    ],
    ids=["echoed twice", "echo after the answer began", "key util echo mid-answer", "prompt twice"],
)  # fmt: skip
def test_an_echo_or_prompt_out_of_place_is_an_error(parser: str, text: str, line: str) -> None:
    with pytest.raises(HsmParseError) as caught:
        PARSERS[parser](text)
    assert quote(line) in caught.value.what


def test_a_question_asked_again_on_the_same_line_is_recognised() -> None:
    text = (
        "logoutHSM failed: RET_HSM_COMM_FAILURE\nlogoutHSM failed on server 2(10.0.2.7)\n"
        "Retry/rollBack/Ignore?(R/B/I):Retry/rollBack/Ignore?(R/B/I):B\n"
        "Rolling back logoutHSM on the servers that succeeded\ncloudmgmt>"
    )
    assert parse_server_results(text, "logoutHSM") == (
        ServerResult(2, "10.0.2.7", False, "RET_HSM_COMM_FAILURE"),
    )
