"""What the Cloud HSM utilities print, parsed into frozen values. Pure functions, no I/O.

Every parser accepts the Azure and the AWS CloudHSM form of its output (``docs/hsm-utilities.md``),
CRLF, LF or stray CR, tabs or spaces, any column spacing, extra blank lines, and text around the
part it reads (the echoed command, the next prompt). It is strict where a verdict depends on it:
every ``Node id`` line is parsed and returned, never only the summary line; a count the tool prints
is checked against the items it lists; a line that looks like one the parser reads but does not
parse is an error. When the text lacks what a parser must find it raises :class:`HsmParseError` —
never an empty result that would read as success.
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
