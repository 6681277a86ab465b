"""What the Cloud HSM utilities print, parsed into frozen values. Pure functions, no I/O.

Each command's answer is a closed grammar (``docs/hsm-utilities.md``): the echo of the command as
its first line, the next prompt as its last, and in between only the lines the command is
documented to print, in their places. Every line is recognised, or the answer is unparseable: an
:class:`HsmParseError` whose message quotes the line (password positions redacted). Tolerant of
what is documented — the Azure and the AWS CloudHSM form, CRLF, LF or stray CR, tabs or spaces,
any column spacing, extra blank lines, letter case — and strict where a verdict depends on it:
every ``Node id`` line is parsed and returned, never only the summary line; a code and its text
must agree; a count the tool prints is checked against the items it lists. When the text lacks what
a parser must find it raises too — never an empty result that would read as success.
"""

from __future__ import annotations

from ._text import HsmParseError
from .key_util import (
    FindKeyResult,
    KeyInfo,
    KeyUtilResult,
    NodeStatus,
    ReturnCode,
    parse_attributes,
    parse_find_key,
    parse_find_single_key,
    parse_get_attribute,
    parse_key_info,
    parse_login,
    parse_node_statuses,
    parse_return_code,
)
from .mgmt_util import (
    ClusterInfo,
    ClusterNode,
    HsmUser,
    MgmtStartup,
    ServerConnection,
    ServerResult,
    UserListing,
    parse_cluster_info,
    parse_list_users,
    parse_mgmt_startup,
    parse_server_results,
    parse_user_listings,
)

__all__ = [
    "ClusterInfo",
    "ClusterNode",
    "FindKeyResult",
    "HsmParseError",
    "HsmUser",
    "KeyInfo",
    "KeyUtilResult",
    "MgmtStartup",
    "NodeStatus",
    "ReturnCode",
    "ServerConnection",
    "ServerResult",
    "UserListing",
    "parse_attributes",
    "parse_cluster_info",
    "parse_find_key",
    "parse_find_single_key",
    "parse_get_attribute",
    "parse_key_info",
    "parse_list_users",
    "parse_login",
    "parse_mgmt_startup",
    "parse_node_statuses",
    "parse_return_code",
    "parse_server_results",
    "parse_user_listings",
]
