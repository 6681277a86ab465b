"""The HSM output parsers: every published form, however the terminal mangled it; strict where it matters.

Samples come from ``/work/shared/reference/HSM-UTILS.md`` (what the tools print, Azure and AWS) and
``docs/hsm-utilities.md`` (the contract, including the failure forms the simulators print). Each is
parsed as printed and again with CRLF, stray CRs, tabs for every run of spaces and extra blank lines.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable

import pytest

from chsm_checks.errors import CouldNotEvaluate
from chsm_checks.hsm.parsers import (
    ClusterNode,
    HsmParseError,
    HsmUser,
    NodeStatus,
    ReturnCode,
    ServerConnection,
    ServerResult,
    UserListing,
    parse_attributes,
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
    parse_user_listings,
)

Form = Callable[[str], str]

TRANSFORMS: dict[str, Form] = {
    "as-printed": lambda text: text,
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "stray-cr": lambda text: text.replace("\n", "\r\r\n"),
    "tabs": lambda text: re.sub(r" +", "\t", text),
    "blank-lines": lambda text: text.replace("\n", "\n\n \t\n"),
    "all": lambda text: re.sub(r" +", "\t", text).replace("\n", "\n\n\n").replace("\n", "\r\n"),
}


@pytest.fixture(params=list(TRANSFORMS), ids=list(TRANSFORMS))
def form(request: pytest.FixtureRequest) -> Form:
    return TRANSFORMS[request.param]


def squashed(value: str) -> str:
    return " ".join(value.split())


def raises_expecting(fragment: str) -> pytest.RaisesExc[HsmParseError]:
    return pytest.raises(HsmParseError, match=rf"^expected [^\n]*{re.escape(fragment)}")


SUCCESS = "HSM Return: SUCCESS"

# --- azcloudhsm_util ------------------------------------------------------------------------------

UTIL_STARTUP = """\
Version info, Client Version: 2.09.07.02, SDK API Version: 2.09.07.02, SDK Package Version: 2.0.1.2

        Cfm3Initialize() returned app id : 01000000

        session_handle 1000000

        Current FIPS mode is: 00000000
"""

LOGIN_AZURE = """\
        Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS

        Cluster Status:
        Node id 1 status: 0x00000000 : HSM Return: SUCCESS
        Node id 2 status: 0x00000000 : HSM Return: SUCCESS
        Node id 3 status: 0x00000000 : HSM Return: SUCCESS
"""

LOGIN_WRONG_PASSWORD = """\
Command:  loginHSM -u CU -s cu1 -p REDACTED
        Cfm3LoginHSM returned: 0xa3 : HSM Error: RET_USER_LOGIN_FAILURE

        Cluster Status:
        Node id 1 status: 0x000000a3 : HSM Error: RET_USER_LOGIN_FAILURE
        Node id 2 status: 0x000000a3 : HSM Error: RET_USER_LOGIN_FAILURE
        Node id 3 status: 0x000000a3 : HSM Error: RET_USER_LOGIN_FAILURE
Command:
"""

LOGIN_NODE_DOWN = """\
        Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS

        Cluster Status:
        Node id 1 status: 0x00000000 : HSM Return: SUCCESS
        Node id 2 status: 0x40000040 : HSM Error: RET_HSM_NODE_UNREACHABLE
        Node id 3 status: 0x00000000 : HSM Return: SUCCESS
"""

LOGIN_AWS = """\
Command:  loginHSM -u CU -s example_user -p REDACTED

        Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS

        Cluster Error Status
        Node id 0 and err state 0x00000000 : HSM Return: SUCCESS
        Node id 1 and err state 0x00000000 : HSM Return: SUCCESS
"""

DAEMON_DOWN = """\
Version info, Client Version: 2.09.07.02, SDK API Version: 2.09.07.02, SDK Package Version: 2.0.1.2

        Cfm3GetPartitionInfo returned: 0x40000040
LIQUIDSECURITY: Daemon socket connection error
"""

FIND_KEY_AZURE = """\
Command: findKey
Total number of keys present: 3
Number of matching keys from start index 0::2
Handles of matching keys: 6, 7, 262150
Cluster Status:
Node id 1 status: 0x00000000 : HSM Return: SUCCESS
Node id 2 status: 0x00000000 : HSM Return: SUCCESS
Node id 3 status: 0x00000000 : HSM Return: SUCCESS
Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS
Command:
"""

# As AWS publishes it: 13 handles for 0::12 (HSM-UTILS.md abridges the list to five).
AWS_HANDLES = (6, 7, 524296, 9, 262154, 262155, 262156, 262157, 262158, 262159, 262160, 262161, 262162)
FIND_KEY_AWS = """\
Command:  findKey

Total number of keys present 13

 number of keys matched from start index 0::12
6, 7, 524296, 9, 262154, 262155, 262156, 262157, 262158, 262159, 262160, 262161, 262162

        Cluster Error Status
        Node id 1 and err state 0x00000000 : HSM Return: SUCCESS
        Node id 0 and err state 0x00000000 : HSM Return: SUCCESS

        Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS
"""

FIND_KEY_AWS_ABRIDGED = """\
Total number of keys present 13

 number of keys matched from start index 0::12
6, 7, 524296, 9, 262154

        Cluster Error Status
        Node id 1 and err state 0x00000000 : HSM Return: SUCCESS
        Node id 0 and err state 0x00000000 : HSM Return: SUCCESS

        Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS
"""

# The handle list on the line after its label (a form other Cavium-derived tools print).
FIND_KEY_WRAPPED = """\
Command:  findKey

        Total number of keys present: 4

        Number of matching keys from start index 0::3

        Handles of matching keys:
        6, 7, 8, 9

        Cluster Status:
        Node id 0 status: 0x00000000 : HSM Return: SUCCESS

        Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS
"""

# The tool leaves a space after the empty list's colon.
FIND_KEY_NONE = """\
Total number of keys present: 3
No keys found matching the given criteria
Handles of matching keys:\x20
Cluster Status:
Node id 1 status: 0x00000000 : HSM Return: SUCCESS
Node id 2 status: 0x00000000 : HSM Return: SUCCESS
Node id 3 status: 0x00000000 : HSM Return: SUCCESS
Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS
"""

FIND_SINGLE_KEY_AWS = """\
Command: findSingleKey -k 252136
Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS

        Cluster Error Status
        Node id 2 and err state 0x00000000 : HSM Return: SUCCESS
        Node id 1 and err state 0x00000000 : HSM Return: SUCCESS
        Node id 0 and err state 0x00000000 : HSM Return: SUCCESS
"""

GET_ATTRIBUTE = """\
Command:  getAttribute -o 6 -a 512 -out attrs-6.txt
Attribute size: 18, count: 18
Written to: attrs-6.txt file

        Cfm3GetAttribute returned: 0x00 : HSM Return: SUCCESS
Command:
"""

ATTRIBUTES_FILE = """\
OBJ_ATTR_CLASS
0x04
OBJ_ATTR_KEY_TYPE
0x1f
OBJ_ATTR_LABEL
backup-aes-1
OBJ_ATTR_ID
6b65792d3031
OBJ_ATTR_TOKEN
0x01
OBJ_ATTR_KCV
0x3a8c5f
"""

KEY_INFO_SHARED = """\
Command:  getKeyInfo -k 6

        Cfm3GetKey returned: 0x00 : HSM Return: SUCCESS

        Owned by user 3

        also, shared to following 1 user(s):

                 4
Command:
"""

# --- azcloudhsm_mgmt_util -------------------------------------------------------------------------

MGMT_VERSIONS = """\
Liquidsec MGMT Util Version            :       2.09.07.02
SDK API Version                        :       2.09.07.02
SDK Package Version                    :       2.0.1.0

Connecting to the server(s), it may take time
depending on the server(s) load, please wait...
"""


def connected(server: int, host: str) -> str:
    return f"""\
Connecting to 'server {server}': hostname '{host}', port 2225...
Received server version : 2.09.07.02, SDK version: 2.09.07.02, SDK Package Version: 2.0.1.0
Connected to 'server {server}': hostname '{host}', port 2225...

E2E enabled on server {server}({host})
"""


MGMT_HEALTHY = (
    MGMT_VERSIONS
    + "\n"
    + connected(0, "10.0.2.5")
    + "\nConnecting to servers in the cluster.\n\n"
    + connected(1, "10.0.2.6")
    + "\n"
    + connected(2, "10.0.2.7")
    + "cloudmgmt>"
)

# HSM-UTILS.md verbatim, with its "..." elision.
MGMT_ELIDED = (
    MGMT_VERSIONS
    + "\n"
    + connected(0, "10.0.2.5")
    + """
Connecting to servers in the cluster.

Connecting to 'server 1': hostname '10.0.2.6', port 2225...
...
E2E enabled on server 2(10.0.2.7)
cloudmgmt>
"""
)

MGMT_SERVER_DOWN = (
    MGMT_VERSIONS
    + "\n"
    + connected(0, "10.0.2.5")
    + "\nConnecting to servers in the cluster.\n\n"
    + "Connecting to 'server 1': hostname '10.0.2.6', port 2225...\n"
    + "Connetion to server 10.0.2.6(10.0.2.6) on port 2225 failed\n\n"
    + connected(2, "10.0.2.7")
    + "Server 1(10.0.2.6) is not connected\n"
    + "cloudmgmt>"
)

BOOTSTRAP = "hsm1.chsm-dest-abcdefghijklm.privatelink.cloudhsm.azure.net"
MGMT_NO_SERVER = (
    MGMT_VERSIONS
    + f"""
Connecting to 'server 0': hostname '{BOOTSTRAP}', port 2225...
Connetion to server {BOOTSTRAP}({BOOTSTRAP}) on port 2225 failed
No server is connected, exiting...
"""
)

MGMT_NO_OWNER_CERT = (
    MGMT_VERSIONS
    + """
Connecting to 'server 0': hostname '10.0.2.5', port 2225...
Received server version : 2.09.07.02, SDK version: 2.09.07.02, SDK Package Version: 2.0.1.0
Connected to 'server 0': hostname '10.0.2.5', port 2225...
partition owner certificate not exist at given path
Server 0(10.0.2.5) is in unencrypted mode now...
running in limited commands mode
cloudmgmt>
"""
)

MGMT_BAD_CERT = (
    MGMT_VERSIONS
    + """
Connecting to 'server 0': hostname '10.0.2.5', port 2225...
Certificate ERROR: [Certificate signature failure]
Connection to server 10.0.2.5(10.0.2.5) on port 2225 failed
No server is connected, exiting...
"""
)

CLUSTER_TWO_DOWN = """\
cloudmgmt>getClusterInfo

Cluster info from server 0(10.0.2.4):
Node Id         Hostname                                                Port
1               hsm1.contoso-chsm-aycya2e2fsb9fxhu.cloudhsm.azure.net   2225
2               hsm2.contoso-chsm-aycya2e2fsb9fxhu.cloudhsm.azure.net   2225
3               hsm3.contoso-chsm-aycya2e2fsb9fxhu.cloudhsm.azure.net   2225
Server 1 is not connected
Server 2 is not connected
cloudmgmt>
"""

DEST = "chsm-dest-abcdefghijklm.privatelink.cloudhsm.azure.net"
CLUSTER_ONE_DOWN = f"""\
Cluster info from server 0(10.0.2.5):
Node Id         Hostname                                                Port
1               hsm1.{DEST}   2225
2               hsm2.{DEST}   2225
3               hsm3.{DEST}   2225
Server 1 is not connected
"""

LOGIN_MGMT = """\
cloudmgmt>loginHSM CO admin REDACTED
loginHSM success on server 0(10.0.2.4)
loginHSM success on server 1(10.0.2.5)
loginHSM success on server 2(10.0.2.6)
"""

LOGIN_MGMT_WRONG_PASSWORD = """\
loginHSM failed: RET_USER_LOGIN_FAILURE
loginHSM failed on server 0(10.0.2.5)
Retry/rollBack/Ignore?(R/B/I):B
Rolling back loginHSM on the servers that succeeded
"""

USERS_HEADER = (
    "    User Id             User Type       User Name            MofnPubKey    LoginFailureCnt         2FA\n"
)


def users_section(server: int, host: str, rows: str, count: int = 3) -> str:
    return f"Users on server {server}({host}):\nNumber of users found:{count}\n\n{USERS_HEADER}{rows}"


AWS_ROWS = """\
         1              PCO             admin                     YES               0               NO
         2              AU              app_user                   NO               0               NO
         3              CU              crypto_user1               NO               0               NO
"""
DOCS_ROWS = """\
         1              PCO             admin                     NO               0               NO
         2              AU              app_user                  NO               0               NO
         3              CU              cu1                       NO               0               NO
"""


# --- HsmParseError -------------------------------------------------------------------------------


def test_parse_error_reads_expected_first_then_the_tail() -> None:
    text = "\n".join(f"line {n}" for n in range(15)) + "\n\n"
    with pytest.raises(HsmParseError) as caught:
        parse_return_code(text, "Cfm3FindKey")
    error = caught.value
    assert error.what == "a line azcloudhsm_util prints with 'Cfm3FindKey returned: 0x…', not 'line 0'"
    assert error.tail.splitlines() == [f"line {n}" for n in range(5, 15)]
    assert str(error).splitlines()[0] == f"expected {error.what}"
    assert str(error).splitlines()[1:] == [f"  | line {n}" for n in range(5, 15)]
    assert isinstance(error, ValueError)
    assert isinstance(error, CouldNotEvaluate)


def test_parse_error_on_empty_output_says_so() -> None:
    with pytest.raises(HsmParseError) as caught:
        parse_login("\r\n\n")
    assert caught.value.tail == ""
    assert str(caught.value).splitlines()[1] == "  | (no output)"


def test_parse_error_survives_pickling() -> None:
    error = HsmParseError("something", "a\nb")
    again = pickle.loads(pickle.dumps(error))
    assert (again.what, again.tail, str(again)) == (error.what, error.tail, str(error))


def test_parse_error_tail_blanks_passwords() -> None:
    text = "Command:  loginHSM -u CU -s cu1 -p user1234\n" + DAEMON_DOWN
    with pytest.raises(HsmParseError) as caught:
        parse_login(text)
    assert "user1234" not in str(caught.value)
    assert "Daemon socket connection error" in caught.value.tail


# --- node lines and return codes ------------------------------------------------------------------


def test_node_lines_azure(form: Form) -> None:
    assert parse_node_statuses(form(LOGIN_AZURE)) == tuple(NodeStatus(n, 0, SUCCESS) for n in (1, 2, 3))


def test_one_bad_node_among_good_ones_is_reported_with_its_id_and_code(form: Form) -> None:
    nodes = parse_node_statuses(form(LOGIN_NODE_DOWN))
    assert [node.ok for node in nodes] == [True, False, True]
    assert nodes[1] == NodeStatus(2, 0x40000040, "HSM Error: RET_HSM_NODE_UNREACHABLE")


def test_aws_node_ids_are_kept_as_printed(form: Form) -> None:
    nodes = parse_node_statuses(form(FIND_SINGLE_KEY_AWS))
    assert [node.node_id for node in nodes] == [2, 1, 0]
    assert all(node.ok and node.message == SUCCESS for node in nodes)


def test_node_line_without_message() -> None:
    text = "Cfm3LoginHSM returned: 0xa8\nNode id 3 status: 0x000000a8\n"
    assert parse_node_statuses(text) == (NodeStatus(3, 0xA8, ""),)


@pytest.mark.parametrize("text", [GET_ATTRIBUTE, KEY_INFO_SHARED], ids=["getAttribute", "getKeyInfo"])
def test_no_node_lines_is_empty_for_the_caller_to_judge(form: Form, text: str) -> None:
    assert parse_node_statuses(form(text)) == ()


def test_node_lines_are_read_from_azcloudhsm_util_output_only(form: Form) -> None:
    with raises_expecting("not 'Cluster info from server 0(10.0.2.5):'"):
        parse_node_statuses(form(CLUSTER_ONE_DOWN))


def test_node_lines_that_follow_no_return_code_are_an_error() -> None:
    with raises_expecting("a 'Cfm3<Op> returned: 0x…' line after 'Node id 3 status: 0x000000a8'"):
        parse_node_statuses("Node id 3 status: 0x000000a8\n")


@pytest.mark.parametrize(
    "line",
    [
        "Node id 2 status: unreachable",
        "Node id two status: 0x00000000 : HSM Return: SUCCESS",
        "Node id 2 status: 0x0000zz00 : HSM Return: SUCCESS",
        "Node id 2",
    ],
)
def test_a_node_line_that_does_not_parse_is_never_skipped(form: Form, line: str) -> None:
    text = LOGIN_AZURE.replace("Node id 2 status: 0x00000000 : HSM Return: SUCCESS", line)
    with raises_expecting("'Node id N status: 0x… : …'"):
        parse_node_statuses(form(text))
    with raises_expecting("'Node id N status: 0x… : …'"):
        parse_login(form(text))


@pytest.mark.parametrize(
    ("text", "operation", "expected"),
    [
        (FIND_KEY_AZURE, "Cfm3FindKey", ReturnCode("Cfm3FindKey", 0, SUCCESS)),
        (LOGIN_WRONG_PASSWORD, None, ReturnCode("Cfm3LoginHSM", 0xA3, "HSM Error: RET_USER_LOGIN_FAILURE")),
        (DAEMON_DOWN, "Cfm3GetPartitionInfo", ReturnCode("Cfm3GetPartitionInfo", 0x40000040, "")),
        (DAEMON_DOWN, None, ReturnCode("Cfm3GetPartitionInfo", 0x40000040, "")),
        (
            "Cfm3LogoutHSM returned: 0x00 : HSM Return: SUCCESS\n",
            "Cfm3LogoutHSM",
            ReturnCode("Cfm3LogoutHSM", 0, SUCCESS),
        ),
    ],
)
def test_return_codes(form: Form, text: str, operation: str | None, expected: ReturnCode) -> None:
    returned = parse_return_code(form(text), operation)
    assert returned == expected
    assert returned.ok is (expected.code == 0)


def test_the_named_operation_selects_its_last_line(form: Form) -> None:
    text = (
        "Cfm3FindKey returned: 0xa8 : HSM Error: RET_USER_NOT_LOGGED_IN\n"
        + LOGIN_AZURE
        + "Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS\n"
        + "Cfm3LogoutHSM returned: 0x00 : HSM Return: SUCCESS\n"
    )
    assert parse_return_code(form(text), "Cfm3FindKey").code == 0
    assert parse_return_code(form(text), "Cfm3LoginHSM").operation == "Cfm3LoginHSM"
    assert parse_return_code(form(text)).operation == "Cfm3LogoutHSM"


def test_initialize_is_not_a_return_code(form: Form) -> None:
    with raises_expecting("'Cfm3<Op> returned: 0x…'"):
        parse_return_code(form(UTIL_STARTUP))


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (DAEMON_DOWN, "'Cfm3FindKey returned: 0x…'"),
        (
            "Cfm3FindKey returned: SUCCESS\n",
            "'Cfm3FindKey returned: 0x…', not 'Cfm3FindKey returned: SUCCESS'",
        ),
        (
            "Cfm3FindKeys returned: 0x00 : HSM Return: SUCCESS\n",
            "the return code of a command read here (Cfm3LoginHSM, Cfm3LogoutHSM, Cfm3FindKey,"
            " Cfm3GetAttribute, Cfm3GetKey, Cfm3GetPartitionInfo), not"
            " 'Cfm3FindKeys returned: 0x00 : HSM Return: SUCCESS'",
        ),
    ],
)
def test_a_missing_or_garbled_return_code_raises(form: Form, text: str, what: str) -> None:
    with pytest.raises(HsmParseError) as caught:
        parse_return_code(form(text), "Cfm3FindKey")
    assert caught.value.what == what


def test_get_attribute_prints_its_code(form: Form) -> None:
    assert parse_get_attribute(form(GET_ATTRIBUTE)) == ReturnCode("Cfm3GetAttribute", 0, SUCCESS)


# --- loginHSM (azcloudhsm_util) -------------------------------------------------------------------


def test_login_azure_with_startup_before(form: Form) -> None:
    result = parse_login(form(UTIL_STARTUP + "\n" + LOGIN_AZURE + "Command:"))
    assert result.ok
    assert result.returned == ReturnCode("Cfm3LoginHSM", 0, SUCCESS)
    assert [node.node_id for node in result.nodes] == [1, 2, 3]
    assert result.failed_nodes == ()


def test_login_aws(form: Form) -> None:
    result = parse_login(form(LOGIN_AWS))
    assert result.ok
    assert [node.node_id for node in result.nodes] == [0, 1]


def test_login_wrong_password_reports_every_node(form: Form) -> None:
    result = parse_login(form(LOGIN_WRONG_PASSWORD))
    assert not result.ok
    assert result.returned.code == 0xA3
    assert [(n.node_id, n.code) for n in result.failed_nodes] == [(1, 0xA3), (2, 0xA3), (3, 0xA3)]


def test_login_success_with_an_unreachable_node_is_not_ok(form: Form) -> None:
    result = parse_login(form(LOGIN_NODE_DOWN))
    assert result.returned.ok
    assert not result.ok
    assert result.failed_nodes == (NodeStatus(2, 0x40000040, "HSM Error: RET_HSM_NODE_UNREACHABLE"),)


def test_login_success_without_node_lines_cannot_be_checked(form: Form) -> None:
    with raises_expecting("'Node id N status: 0x…' lines with Cfm3LoginHSM's result"):
        parse_login(form("Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS\nCommand:\n"))


def test_login_against_a_dead_daemon_raises_with_the_daemon_error_in_the_tail(form: Form) -> None:
    with pytest.raises(HsmParseError) as caught:
        parse_login(form(DAEMON_DOWN))
    assert caught.value.what == "'Cfm3LoginHSM returned: 0x…'"
    assert "Cfm3GetPartitionInfo returned: 0x40000040" in squashed(caught.value.tail)


def test_duplicate_node_lines_in_one_status_block_raise(form: Form) -> None:
    text = LOGIN_AZURE + "        Node id 3 status: 0x00000000 : HSM Return: SUCCESS\n"
    with raises_expecting("one status line per node"):
        parse_login(form(text))


# --- findKey --------------------------------------------------------------------------------------


def test_find_key_azure(form: Form) -> None:
    result = parse_find_key(form(FIND_KEY_AZURE))
    assert result.ok
    assert (result.total, result.handles) == (3, (6, 7, 262150))
    assert [node.node_id for node in result.nodes] == [1, 2, 3]
    assert result.returned == ReturnCode("Cfm3FindKey", 0, SUCCESS)


def test_find_key_aws(form: Form) -> None:
    result = parse_find_key(form(FIND_KEY_AWS))
    assert result.ok
    assert (result.total, result.handles) == (13, AWS_HANDLES)
    assert [node.node_id for node in result.nodes] == [1, 0]


def test_find_key_aws_abridged_sample_fails_the_count_check(form: Form) -> None:
    with raises_expecting("13 handles for start index 0::12, not 5"):
        parse_find_key(form(FIND_KEY_AWS_ABRIDGED))


def test_find_key_handles_on_following_lines(form: Form) -> None:
    result = parse_find_key(form(FIND_KEY_WRAPPED))
    assert (result.total, result.handles) == (4, (6, 7, 8, 9))
    assert result.nodes == (NodeStatus(0, 0, SUCCESS),)


def test_find_key_no_match(form: Form) -> None:
    result = parse_find_key(form(FIND_KEY_NONE))
    assert result.ok
    assert (result.total, result.handles) == (3, ())


def test_find_key_empty_handle_list_alone_is_no_match(form: Form) -> None:
    text = FIND_KEY_NONE.replace("No keys found matching the given criteria\n", "")
    assert parse_find_key(form(text)).handles == ()


def test_find_single_key_aws_has_its_nodes_after_the_code(form: Form) -> None:
    result = parse_find_single_key(form(FIND_SINGLE_KEY_AWS))
    assert result.ok
    assert [node.node_id for node in result.nodes] == [2, 1, 0]


def test_find_single_key_missing_on_one_node(form: Form) -> None:
    text = FIND_SINGLE_KEY_AWS.replace(
        "Node id 1 and err state 0x00000000 : HSM Return: SUCCESS",
        "Node id 1 and err state 0x000000a8 : HSM Error: RET_INVALID_HANDLE",
    )
    result = parse_find_single_key(form(text))
    assert result.failed_nodes == (NodeStatus(1, 0xA8, "HSM Error: RET_INVALID_HANDLE"),)


def test_find_key_needs_the_key_lines_find_single_key_does_not_print(form: Form) -> None:
    with raises_expecting("the matching keys"):
        parse_find_key(form(FIND_SINGLE_KEY_AWS))


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("0::2", "0::3", "4 handles for start index 0::3, not 3"),
        ("0::2", "0::1", "2 handles for start index 0::1, not 3"),
        ("6, 7, 262150", "6, 7, 7", "each handle once"),
        ("present: 3", "present: 2", "at most 2 handles (the total present), not 3"),
        ("6, 7, 262150", "6, seven, 262150", "handles after 'Handles of matching keys:'"),
        ("present: 3\n", "present: 3\nTotal number of keys present: 3\n", "one findKey output, not two"),
        ("262150\n", "262150\nHandles of matching keys: 8\n", "one findKey output, not two handle list"),
    ],
)
def test_find_key_inconsistent_output_raises(form: Form, old: str, new: str, what: str) -> None:
    with raises_expecting(what):
        parse_find_key(form(FIND_KEY_AZURE.replace(old, new)))


def test_find_key_no_match_with_handles_is_a_contradiction(form: Form) -> None:
    text = FIND_KEY_NONE.replace("Handles of matching keys: ", "Handles of matching keys: 6")
    with raises_expecting("no handles after 'No keys found'"):
        parse_find_key(form(text))


def test_find_key_success_without_key_lines_raises(form: Form) -> None:
    text = "\n".join(line for line in FIND_KEY_AZURE.splitlines() if "keys" not in line)
    with raises_expecting("the matching keys"):
        parse_find_key(form(text))


def test_find_key_not_logged_in_is_a_result_not_an_error(form: Form) -> None:
    text = "Command: findKey\nCfm3FindKey returned: 0xa8 : HSM Error: RET_USER_NOT_LOGGED_IN\n"
    result = parse_find_key(form(text))
    assert not result.ok
    assert (result.returned.code, result.handles, result.nodes, result.total) == (0xA8, (), (), None)


def test_find_key_reports_an_unreachable_node(form: Form) -> None:
    text = FIND_KEY_AZURE.replace(
        "Node id 3 status: 0x00000000 : HSM Return: SUCCESS",
        "Node id 3 status: 0x40000040 : HSM Error: RET_HSM_NODE_UNREACHABLE",
    )
    result = parse_find_key(form(text))
    assert result.returned.ok
    assert not result.ok
    assert [(n.node_id, n.code) for n in result.failed_nodes] == [(3, 0x40000040)]


def test_singlecmd_login_and_find_key_keep_their_own_node_lines(form: Form) -> None:
    find = FIND_KEY_AZURE.replace("Command: findKey\n", "").replace(
        "Node id 2 status: 0x00000000 : HSM Return: SUCCESS",
        "Node id 2 status: 0x40000040 : HSM Error: RET_HSM_NODE_UNREACHABLE",
    )
    text = form(UTIL_STARTUP + LOGIN_AZURE + find)
    assert parse_login(text).ok
    found = parse_find_key(text)
    assert found.handles == (6, 7, 262150)
    assert [n.node_id for n in found.failed_nodes] == [2]


def test_node_lines_on_the_side_a_command_never_prints_them_are_an_error() -> None:
    bad = "Node id 2 status: 0x40000040 : HSM Error: RET_HSM_NODE_UNREACHABLE"
    good = "Node id 2 status: 0x00000000 : HSM Return: SUCCESS"
    block = "Cluster Status:\nNode id 1 status: 0x00000000 : HSM Return: SUCCESS\n{}\n"
    find_key = block.format(bad) + "Cfm3FindKey returned: 0x00 : HSM Return: SUCCESS\n" + block.format(good)
    # findKey prints its node lines before its code: a second block after it belongs to nothing.
    with raises_expecting("a 'Cfm3<Op> returned: 0x…' line after 'Cluster Status:'"):
        parse_find_key("Handles of matching keys: 6\n" + find_key)
    # loginHSM prints its node lines after its code: a block before it is not its own.
    login = block.format(good) + "Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS\n" + block.format(bad)
    with raises_expecting("not 'Cluster Status:'"):
        parse_login(login)


# --- getAttribute file, getKeyInfo ---------------------------------------------------------------


def test_attributes_file(form: Form) -> None:
    assert parse_attributes(form(ATTRIBUTES_FILE)) == {
        "OBJ_ATTR_CLASS": "0x04",
        "OBJ_ATTR_KEY_TYPE": "0x1f",
        "OBJ_ATTR_LABEL": "backup-aes-1",
        "OBJ_ATTR_ID": "6b65792d3031",
        "OBJ_ATTR_TOKEN": "0x01",
        "OBJ_ATTR_KCV": "0x3a8c5f",
    }


def test_attributes_single_pair(form: Form) -> None:
    assert parse_attributes(form("OBJ_ATTR_LABEL\naes256\n")) == {"OBJ_ATTR_LABEL": "aes256"}


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "OBJ_ATTR_<NAME> and value line pairs"),
        ("OBJ_ATTR_LABEL\n", "a value line after OBJ_ATTR_LABEL"),
        ("OBJ_ATTR_LABEL\nOBJ_ATTR_ID\n6b\n", "a value line after OBJ_ATTR_LABEL"),
        ("LABEL\naes256\n", "an OBJ_ATTR_<NAME> line, not 'LABEL'"),
        (
            ATTRIBUTES_FILE.replace("OBJ_ATTR_KCV\n", "...\nOBJ_ATTR_KCV\n"),
            "an OBJ_ATTR_<NAME> line, not '...'",
        ),
        ("OBJ_ATTR_ID\n01\nOBJ_ATTR_ID\n02\n", "OBJ_ATTR_ID once"),
        ("Cfm3GetAttribute returned: 0x00 : HSM Return: SUCCESS\n", "an OBJ_ATTR_<NAME> line"),
    ],
)
def test_attributes_with_odd_structure_raise(form: Form, text: str, what: str) -> None:
    with pytest.raises(HsmParseError) as caught:
        parse_attributes(form(text))
    assert squashed(caught.value.what).startswith(squashed(what))


def test_key_info_shared(form: Form) -> None:
    info = parse_key_info(form(KEY_INFO_SHARED))
    assert (info.owner, info.shared_with) == (3, (4,))
    assert info.returned == ReturnCode("Cfm3GetKey", 0, SUCCESS)


def test_key_info_not_shared(form: Form) -> None:
    text = "        Cfm3GetKey returned: 0x00 : HSM Return: SUCCESS\n\n        Owned by user 5\nCommand:\n"
    info = parse_key_info(form(text))
    assert (info.owner, info.shared_with) == (5, ())


@pytest.mark.parametrize("ids", ["4\n7\n9", "4, 7, 9", "4 7\n9", "4,7,\n9"])
def test_key_info_shared_with_several_users(form: Form, ids: str) -> None:
    text = KEY_INFO_SHARED.replace("1 user(s)", "3 user(s)").replace("                 4\n", ids + "\n")
    assert parse_key_info(form(text)).shared_with == (4, 7, 9)


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("1 user(s)", "2 user(s)", "2 distinct shared user id(s), not [4]"),
        ("                 4\n", "", "1 distinct shared user id(s), not []"),
        ("        Owned by user 3\n", "", "one 'Owned by user N' line"),
        ("        Owned by user 3\n", "Owned by user 3\nOwned by user 5\n", "one 'Owned by user N' line"),
        (
            "Cfm3GetKey returned: 0x00 : HSM Return: SUCCESS\n\n        Owned by user 3\n",
            "Cfm3GetKey returned: 0xa8 : HSM Error: RET_INVALID_HANDLE\n",
            "one 'Owned by user N' line (Cfm3GetKey returned 0xa8 HSM Error: RET_INVALID_HANDLE",
        ),
        ("Cfm3GetKey returned", "Cfm3GetAttribute returned", "'Cfm3GetKey returned: 0x…'"),
    ],
)
def test_key_info_inconsistent_output_raises(form: Form, old: str, new: str, what: str) -> None:
    with raises_expecting(what):
        parse_key_info(form(KEY_INFO_SHARED.replace(old, new)))


# --- getClusterInfo ----------------------------------------------------------------------------------


def test_cluster_info_with_two_servers_down(form: Form) -> None:
    info = parse_cluster_info(form(CLUSTER_TWO_DOWN))
    assert (info.reporting_server, info.reporting_host) == (0, "10.0.2.4")
    host = "hsm{}.contoso-chsm-aycya2e2fsb9fxhu.cloudhsm.azure.net"
    assert info.nodes == tuple(ClusterNode(n, host.format(n), 2225) for n in (1, 2, 3))
    assert info.not_connected == (1, 2)


def test_cluster_info_with_one_server_down(form: Form) -> None:
    info = parse_cluster_info(form(CLUSTER_ONE_DOWN))
    assert (info.reporting_server, info.reporting_host) == (0, "10.0.2.5")
    assert [(n.node_id, n.hostname) for n in info.nodes] == [(n, f"hsm{n}.{DEST}") for n in (1, 2, 3)]
    assert info.not_connected == (1,)


def test_cluster_info_healthy(form: Form) -> None:
    text = CLUSTER_TWO_DOWN.replace("Server 1 is not connected\nServer 2 is not connected\n", "")
    info = parse_cluster_info(form(text))
    assert len(info.nodes) == 3
    assert info.not_connected == ()


def test_cluster_info_is_one_answer_not_start_up_lines_nor_output_after_the_next_prompt(form: Form) -> None:
    with raises_expecting("table of getClusterInfo, not 'Liquidsec MGMT Util Version : 2.09.07.02'"):
        parse_cluster_info(form(MGMT_SERVER_DOWN + "getClusterInfo\n" + CLUSTER_ONE_DOWN))
    with raises_expecting("'Server N is not connected' or the prompt after the"):
        parse_cluster_info(form(CLUSTER_ONE_DOWN + "cloudmgmt>\nServer 2 is not connected\n"))


def test_cluster_info_without_header_line_has_no_reporting_server(form: Form) -> None:
    text = CLUSTER_ONE_DOWN.replace("Cluster info from server 0(10.0.2.5):\n", "")
    info = parse_cluster_info(form(text))
    assert (info.reporting_server, info.reporting_host, len(info.nodes)) == (None, None, 3)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (MGMT_HEALTHY, "the 'Node Id Hostname Port' table of getClusterInfo"),
        (CLUSTER_ONE_DOWN.replace("2225\n2", "\n2", 1), "a 'Node Id Hostname Port' row, not"),
        (
            CLUSTER_ONE_DOWN.replace(f"3               hsm3.{DEST}", f"2               hsm3.{DEST}"),
            "each node id once",
        ),
        (
            "Cluster info from server 0(10.0.2.5):\nNode Id  Hostname  Port\nServer 1 is not connected\n",
            "at least one row under",
        ),
    ],
)
def test_cluster_info_errors(form: Form, text: str, what: str) -> None:
    with pytest.raises(HsmParseError) as caught:
        parse_cluster_info(form(text))
    assert squashed(caught.value.what).startswith(squashed(what))


# --- mgmt util start-up -------------------------------------------------------------------------------


def test_mgmt_startup_healthy(form: Form) -> None:
    startup = parse_mgmt_startup(form(MGMT_HEALTHY))
    assert startup.ok
    assert startup.versions == {
        "Liquidsec MGMT Util Version": "2.09.07.02",
        "SDK API Version": "2.09.07.02",
        "SDK Package Version": "2.0.1.0",
    }
    hosts = ("10.0.2.5", "10.0.2.6", "10.0.2.7")
    assert startup.servers == tuple(ServerConnection(n, host, True, True) for n, host in enumerate(hosts))
    assert (startup.problems, startup.limited_mode) == ((), False)


def test_mgmt_startup_elided_sample_is_an_error(form: Form) -> None:
    # The reference abridges the output with "...": no tool prints that, so nothing is read past it.
    with raises_expecting("a line of azcloudhsm_mgmt_util's start-up (docs/hsm-utilities.md), not '...'"):
        parse_mgmt_startup(form(MGMT_ELIDED))


def test_mgmt_startup_with_a_server_down(form: Form) -> None:
    startup = parse_mgmt_startup(form(MGMT_SERVER_DOWN))
    assert not startup.ok
    assert startup.servers[1] == ServerConnection(1, "10.0.2.6", False, False)
    assert [s.connected for s in startup.servers] == [True, False, True]
    assert [squashed(p) for p in startup.problems] == [
        "Connetion to server 10.0.2.6(10.0.2.6) on port 2225 failed",
        "Server 1(10.0.2.6) is not connected",
    ]


def test_mgmt_startup_a_server_reported_not_connected_after_connecting_is_not_connected(form: Form) -> None:
    text = MGMT_HEALTHY.replace(
        "cloudmgmt>", "Server 1(10.0.2.6) is not connected\nServer 3(10.0.2.8) is not connected\n"
    )
    startup = parse_mgmt_startup(form(text))
    assert [(s.server, s.host, s.connected) for s in startup.servers] == [
        (0, "10.0.2.5", True),
        (1, "10.0.2.6", False),
        (2, "10.0.2.7", True),
        (3, "10.0.2.8", False),
    ]
    assert not startup.ok


def test_mgmt_startup_when_no_server_can_be_reached(form: Form) -> None:
    startup = parse_mgmt_startup(form(MGMT_NO_SERVER))
    assert not startup.ok
    assert startup.servers == (ServerConnection(0, BOOTSTRAP, False, False),)
    assert [squashed(p) for p in startup.problems][-1] == "No server is connected, exiting..."
    assert len(startup.problems) == 2


def test_mgmt_startup_without_partition_owner_certificate(form: Form) -> None:
    startup = parse_mgmt_startup(form(MGMT_NO_OWNER_CERT))
    assert startup.limited_mode
    assert startup.servers == (ServerConnection(0, "10.0.2.5", True, False),)
    assert [squashed(p) for p in startup.problems] == [
        "partition owner certificate not exist at given path",
        "Server 0(10.0.2.5) is in unencrypted mode now...",
        "running in limited commands mode",
    ]
    assert not startup.ok


def test_mgmt_startup_with_a_wrong_certificate(form: Form) -> None:
    startup = parse_mgmt_startup(form(MGMT_BAD_CERT))
    assert [squashed(p) for p in startup.problems] == [
        "Certificate ERROR: [Certificate signature failure]",
        "Connection to server 10.0.2.5(10.0.2.5) on port 2225 failed",
        "No server is connected, exiting...",
    ]
    assert not startup.ok


def test_mgmt_startup_without_any_connection_line_raises(form: Form) -> None:
    with raises_expecting("azcloudhsm_mgmt_util start-up lines"):
        parse_mgmt_startup(form(MGMT_VERSIONS))


# --- per-server replies ----------------------------------------------------------------------------


def test_mgmt_login_on_every_server(form: Form) -> None:
    results = parse_server_results(form(LOGIN_MGMT), "loginHSM")
    hosts = ("10.0.2.4", "10.0.2.5", "10.0.2.6")
    assert results == tuple(ServerResult(n, host, True, "") for n, host in enumerate(hosts))


def test_mgmt_login_wrong_password_carries_the_reason(form: Form) -> None:
    results = parse_server_results(form(LOGIN_MGMT_WRONG_PASSWORD), "loginHSM")
    assert results == (ServerResult(0, "10.0.2.5", False, "RET_USER_LOGIN_FAILURE"),)


def test_mgmt_login_one_server_fails_among_good_ones(form: Form) -> None:
    text = (
        "loginHSM success on server 0(10.0.2.5)\n"
        "loginHSM failed: RET_USER_LOCKED_OUT\n"
        "loginHSM failed on server 1(10.0.2.6)\n"
        "Retry/rollBack/Ignore?(R/B/I):\n"
        "loginHSM success on server 2(10.0.2.7)\n"
    )
    results = parse_server_results(form(text), "loginHSM")
    assert [(r.server, r.success, r.detail) for r in results] == [
        (0, True, ""),
        (1, False, "RET_USER_LOCKED_OUT"),
        (2, True, ""),
    ]


def test_aws_failure_form_of_another_command(form: Form) -> None:
    text = "deleteUser failed: RET_MXN_AUTH_FAILED\ndeleteUser failed on server 0(10.0.2.14)\n"
    results = parse_server_results(form(text), "deleteUser")
    assert results == (ServerResult(0, "10.0.2.14", False, "RET_MXN_AUTH_FAILED"),)


def test_mgmt_logout(form: Form) -> None:
    text = "logoutHSM success on server 0(10.0.2.5)\nlogoutHSM success on server 1(10.0.2.6)\n"
    results = parse_server_results(form(text), "logoutHSM")
    assert [(r.server, r.host, r.success) for r in results] == [(0, "10.0.2.5", True), (1, "10.0.2.6", True)]


def test_bare_reply_takes_its_server_from_the_prompt(form: Form) -> None:
    text = "server0>loginHSM CU cu1 REDACTED\nloginHSM success\nserver0>"
    assert parse_server_results(form(text), "loginHSM") == (ServerResult(0, None, True, ""),)


def test_bare_reply_takes_its_server_from_the_caller(form: Form) -> None:
    assert parse_server_results(form("loginHSM success\n"), "loginHSM", server=2) == (
        ServerResult(2, None, True, ""),
    )
    assert parse_server_results(form("loginHSM success\n"), "loginHSM") == (
        ServerResult(None, None, True, ""),
    )


def test_bare_failure_in_server_scope(form: Form) -> None:
    text = "server1>loginHSM CU cu1 REDACTED\nloginHSM failed: RET_USER_LOGIN_FAILURE\nserver1>"
    assert parse_server_results(form(text), "loginHSM") == (
        ServerResult(1, None, False, "RET_USER_LOGIN_FAILURE"),
    )


def test_server_results_ignore_the_echo_and_the_rollback_notice(form: Form) -> None:
    text = "loginHSM CO admin REDACTED\nRolling back loginHSM on the servers that succeeded\n"
    with raises_expecting("'loginHSM success|failed on server N(ip)' lines"):
        parse_server_results(form(text), "loginHSM")


def test_server_results_of_another_command_are_an_error(form: Form) -> None:
    with raises_expecting("a line of logoutHSM's answer"):
        parse_server_results(form(LOGIN_MGMT), "logoutHSM")
    with raises_expecting("not 'loginHSM success on server 0(10.0.2.4)'"):
        parse_server_results(
            form(LOGIN_MGMT.replace("cloudmgmt>loginHSM", "cloudmgmt>logoutHSM")), "logoutHSM"
        )


# --- listUsers --------------------------------------------------------------------------------------


def test_list_users_aws_two_servers(form: Form) -> None:
    text = users_section(0, "10.0.0.1", AWS_ROWS) + users_section(1, "10.0.0.2", AWS_ROWS) + "cloudmgmt>"
    listings = parse_user_listings(form(text))
    expected = (
        HsmUser(1, "PCO", "admin", True, 0, False),
        HsmUser(2, "AU", "app_user", False, 0, False),
        HsmUser(3, "CU", "crypto_user1", False, 0, False),
    )
    assert listings == (UserListing(0, "10.0.0.1", expected), UserListing(1, "10.0.0.2", expected))
    assert parse_list_users(form(text)) == {0: expected, 1: expected}


def test_list_users_docs_form(form: Form) -> None:
    text = "cloudmgmt>listUsers\n" + users_section(0, "10.0.2.5", DOCS_ROWS)
    users = parse_list_users(form(text))[0]
    assert [(u.user_id, u.user_type, u.name, u.mofn) for u in users] == [
        (1, "PCO", "admin", False),
        (2, "AU", "app_user", False),
        (3, "CU", "cu1", False),
    ]


def test_list_users_login_failures_and_2fa(form: Form) -> None:
    rows = "   4   CU   locked_cu   NO   5   YES\n"
    user = parse_list_users(form(users_section(2, "10.0.2.7", rows, count=1)))[2][0]
    assert (user.login_failures, user.two_factor) == (5, True)


def test_list_users_elided_reference_sample_is_an_error(form: Form) -> None:
    text = users_section(0, "10.0.0.1", AWS_ROWS) + "Users on server 1(10.0.0.2):\n...\n"
    with raises_expecting("not '...'"):
        parse_list_users(form(text))


def test_list_users_section_without_its_count_is_an_error(form: Form) -> None:
    text = users_section(0, "10.0.0.1", AWS_ROWS) + "Users on server 1(10.0.0.2):\ncloudmgmt>"
    with raises_expecting("'Number of users found:K' for server 1"):
        parse_list_users(form(text))


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (users_section(0, "10.0.2.5", DOCS_ROWS, count=4), "4 user rows for server 0, not 3"),
        (users_section(0, "10.0.2.5", DOCS_ROWS, count=2), "2 user rows for server 0, not 3"),
        (users_section(0, "10.0.2.5", DOCS_ROWS.replace(" NO  ", " maybe ", 1)), "a user row"),
        (users_section(0, "10.0.2.5", DOCS_ROWS.replace("3   ", "2   ", 1)), "each user id once on server 0"),
        (
            users_section(0, "a", DOCS_ROWS) + users_section(0, "a", DOCS_ROWS),
            "one listUsers section per server",
        ),
        (DOCS_ROWS, "'Users on server N(ip):' before"),
        ("cloudmgmt>listUsers\ncloudmgmt>", "'Users on server N(ip):' sections of listUsers"),
    ],
)
def test_list_users_errors(form: Form, text: str, what: str) -> None:
    with raises_expecting(what):
        parse_list_users(form(text))
