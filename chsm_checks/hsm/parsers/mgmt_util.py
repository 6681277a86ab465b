"""Parsers for ``azcloudhsm_mgmt_util``: start-up, getClusterInfo, per-server results, listUsers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ._text import HsmParseError, lines_of, quoted, squash

# --- azcloudhsm_mgmt_util --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterNode:
    """One ``getClusterInfo`` row. Node ids are 1-based; mgmt-util servers are 0-based."""

    node_id: int
    hostname: str
    port: int


@dataclass(frozen=True)
class ClusterInfo:
    """``getClusterInfo``. There is no state column: a down node shows only in ``not_connected``."""

    reporting_server: int | None
    reporting_host: str | None
    nodes: tuple[ClusterNode, ...]
    not_connected: tuple[int, ...]  # server numbers from "Server N is not connected"


_CLUSTER_FROM = re.compile(r"cluster\s+info\s+from\s+server\s+(\d+)\s*(?:\(([^)]*)\))?\s*:?", re.IGNORECASE)
_TABLE_HEADER = re.compile(r"node\s+id\s+hostname\s+port", re.IGNORECASE)
_CLUSTER_ROW = re.compile(r"(\d+)\s+(\S+)\s+(\d+)")
_NOT_CONNECTED = re.compile(r"server\s+(\d+)\s*(?:\(([^)]*)\))?\s+is\s+not\s+connected\b.*", re.IGNORECASE)
_PROMPT = re.compile(r"\S*>")


def parse_cluster_info(text: str) -> ClusterInfo:
    """``getClusterInfo``: the header, every ``Node Id  Hostname  Port`` row and the not-connected lines.

    The last table in the text is read. Every line after its header that starts with a digit must
    be a row. ``Server N is not connected`` lines are collected after the table up to the next prompt.
    """
    lines = lines_of(text)
    headers = [i for i, line in enumerate(lines) if _TABLE_HEADER.fullmatch(line)]
    if not headers:
        raise HsmParseError.from_text("the 'Node Id  Hostname  Port' table of getClusterInfo", text)
    header = headers[-1]
    server: int | None = None
    host: str | None = None
    if header > 0 and (m := _CLUSTER_FROM.fullmatch(lines[header - 1])) is not None:
        server, host = int(m[1]), m[2] or None
    nodes: list[ClusterNode] = []
    i = header + 1
    while i < len(lines) and lines[i][0].isdigit():
        row = _CLUSTER_ROW.fullmatch(lines[i])
        if row is None:
            raise HsmParseError.from_text(f"a 'Node Id  Hostname  Port' row, not {quoted(lines[i])}", text)
        nodes.append(ClusterNode(int(row[1]), row[2], int(row[3])))
        i += 1
    if not nodes:
        raise HsmParseError.from_text("at least one row under 'Node Id  Hostname  Port'", text)
    ids = [node.node_id for node in nodes]
    if len(set(ids)) != len(ids):
        raise HsmParseError.from_text(f"each node id once, not {ids}", text)
    not_connected: list[int] = []
    for line in lines[i:]:
        if _PROMPT.match(line):
            break
        if (m := _NOT_CONNECTED.fullmatch(line)) is not None:
            not_connected.append(int(m[1]))
    return ClusterInfo(server, host, tuple(nodes), tuple(not_connected))


@dataclass(frozen=True)
class ServerConnection:
    """One server as the management utility's start-up reports it.

    ``connected``: a ``Connected to`` or ``E2E enabled`` line and no later ``is not connected``.
    """

    server: int
    host: str
    connected: bool
    e2e: bool


@dataclass(frozen=True)
class MgmtStartup:
    """``azcloudhsm_mgmt_util`` start-up: versions, servers by number, and the unhealthy lines verbatim."""

    versions: dict[str, str]
    servers: tuple[ServerConnection, ...]
    problems: tuple[str, ...]
    limited_mode: bool

    @property
    def ok(self) -> bool:
        """At least one server, every one connected with E2E, no problem line, not limited."""
        healthy = all(s.connected and s.e2e for s in self.servers)
        return bool(self.servers) and healthy and not self.problems and not self.limited_mode


_VERSION = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9 \t]*?Version)\s*:\s*(?P<value>\S+)")
_CONNECTING = re.compile(r"connecting\s+to\s+'server\s+(\d+)'\s*:\s*hostname\s+'([^']*)'.*", re.IGNORECASE)
_CONNECTED = re.compile(r"connected\s+to\s+'server\s+(\d+)'\s*:\s*hostname\s+'([^']*)'.*", re.IGNORECASE)
_E2E = re.compile(r"e2e\s+enabled\s+on\s+server\s+(\d+)\s*\(([^)]*)\).*", re.IGNORECASE)
_UNENCRYPTED = re.compile(r"server\s+(\d+)\s*\(([^)]*)\)\s+is\s+in\s+unencrypted\s+mode\b.*", re.IGNORECASE)
_CONNECTION_FAILED = re.compile(r"conne(?:c)?tion\s+to\s+server\s+.*\bfailed\b.*", re.IGNORECASE)
_NO_SERVER = re.compile(r"no\s+server\s+is\s+connected\b.*", re.IGNORECASE)
_LIMITED = re.compile(r".*\blimited\s+commands?\s+mode\b.*", re.IGNORECASE)
_PROBLEMS = (
    _CONNECTION_FAILED,
    _NOT_CONNECTED,
    _UNENCRYPTED,
    _NO_SERVER,
    _LIMITED,
    re.compile(r".*partition\s+owner\s+certificate\s+not\s+exist.*", re.IGNORECASE),
    # Anything else that says it failed (e.g. "Certificate ERROR: [Certificate signature failure]").
    re.compile(r".*\b(?:error|fail(?:ed|ure)?)\b.*", re.IGNORECASE),
)


def parse_mgmt_startup(text: str) -> MgmtStartup:
    """``azcloudhsm_mgmt_util`` start-up, healthy or not.

    ``servers`` are ordered by number; ``problems`` holds every unhealthy line (connection failed —
    the tool spells it ``Connetion`` —, not connected, missing partition-owner certificate,
    unencrypted or limited mode, certificate errors, no server connected), stripped.
    Raises :class:`HsmParseError` when the text holds no connection line at all.
    """
    lines = lines_of(text)
    versions: dict[str, str] = {}
    servers: dict[int, ServerConnection] = {}
    problems: list[str] = []
    seen_connection_line = False

    def update(number: int, host: str | None, **changes: bool) -> None:
        current = servers.get(number) or ServerConnection(number, host or "", False, False)
        servers[number] = replace(current, host=host or current.host, **changes)

    for line in lines:
        if (m := _VERSION.fullmatch(line)) is not None:
            versions[squash(m["name"])] = m["value"]
        elif (m := _CONNECTING.fullmatch(line)) is not None:
            update(int(m[1]), m[2])
        elif (m := _CONNECTED.fullmatch(line)) is not None:
            update(int(m[1]), m[2], connected=True)
        elif (m := _E2E.fullmatch(line)) is not None:
            update(int(m[1]), m[2], connected=True, e2e=True)
        elif (m := _NOT_CONNECTED.fullmatch(line)) is not None:
            update(int(m[1]), m[2], connected=False)
        elif (m := _UNENCRYPTED.fullmatch(line)) is not None:
            update(int(m[1]), m[2], e2e=False)
        if any(p.fullmatch(line) for p in (_CONNECTING, _CONNECTED, _E2E, _CONNECTION_FAILED, _NO_SERVER)):
            seen_connection_line = True
        if any(p.fullmatch(line) for p in _PROBLEMS):
            problems.append(line)
    if not seen_connection_line:
        raise HsmParseError.from_text(
            "azcloudhsm_mgmt_util start-up lines (\"Connecting to 'server N': …\")", text
        )
    limited = any(_LIMITED.fullmatch(line) for line in lines)
    ordered = tuple(servers[n] for n in sorted(servers))
    return MgmtStartup(versions, ordered, tuple(problems), limited)


@dataclass(frozen=True)
class ServerResult:
    """One server's reply to a cluster-wide command.

    ``server`` is None for a bare reply (``loginHSM success``) outside any known server scope;
    ``host`` is None for bare replies. ``detail`` is the reason of a failure
    (``loginHSM failed: RET_USER_LOGIN_FAILURE`` → ``RET_USER_LOGIN_FAILURE``), "" otherwise.
    """

    server: int | None
    host: str | None
    success: bool
    detail: str


_SERVER_PROMPT = re.compile(r"server(\d+)>.*")
_CLUSTER_PROMPT = re.compile(r"cloudmgmt>.*")


def parse_server_results(text: str, command: str, *, server: int | None = None) -> tuple[ServerResult, ...]:
    """Per-server replies of a mgmt-util command (``loginHSM``, ``logoutHSM`` …), in order.

    Reads ``<command> success|failed on server N(ip)``; a ``<command> failed: <reason>`` line is the
    detail of the failure line that follows it. A bare ``<command> success``/``failed[: reason]``
    (server scope) belongs to the server of the last ``serverN>`` prompt in the text, else to
    ``server`` (the scope the caller knows it is in); after a ``cloudmgmt>`` prompt, to None.
    """
    name = re.escape(command)
    on_server = re.compile(
        rf"{name}\s+(success|failed)\s+on\s+server\s+(\d+)\s*(?:\(([^)]*)\))?.*", re.IGNORECASE
    )
    reason = re.compile(rf"{name}\s+failed\s*:\s*(.*)", re.IGNORECASE)
    bare = re.compile(rf"{name}\s+(success|failed)", re.IGNORECASE)
    results: list[ServerResult] = []
    scope = server
    pending: str | None = None

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            results.append(ServerResult(scope, None, False, pending))
            pending = None

    for line in lines_of(text):
        if (m := _SERVER_PROMPT.fullmatch(line)) is not None:
            flush()
            scope = int(m[1])
        elif _CLUSTER_PROMPT.fullmatch(line):
            flush()
            scope = None
        elif (m := on_server.fullmatch(line)) is not None:
            success = m[1].lower() == "success"
            if success:
                flush()
            results.append(ServerResult(int(m[2]), m[3] or None, success, "" if success else pending or ""))
            pending = None
        elif (m := reason.fullmatch(line)) is not None:
            flush()
            pending = squash(m[1])
        elif (m := bare.fullmatch(line)) is not None:
            if m[1].lower() == "success":
                flush()
                results.append(ServerResult(scope, None, True, ""))
            else:
                results.append(ServerResult(scope, None, False, pending or ""))
                pending = None
    flush()
    if not results:
        raise HsmParseError.from_text(f"'{command} success|failed on server N(ip)' lines", text)
    return tuple(results)


@dataclass(frozen=True)
class HsmUser:
    """One ``listUsers`` row."""

    user_id: int
    user_type: str
    name: str
    mofn: bool
    login_failures: int
    two_factor: bool


@dataclass(frozen=True)
class UserListing:
    """One server's section of ``listUsers``."""

    server: int
    host: str | None
    users: tuple[HsmUser, ...]


_USERS_ON = re.compile(r"users\s+on\s+server\s+(\d+)\s*(?:\(([^)]*)\))?\s*:?", re.IGNORECASE)
_USERS_FOUND = re.compile(r"number\s+of\s+users\s+found\s*:?\s*(\d+)", re.IGNORECASE)
_USER_ROW = re.compile(r"(\d+)\s+(\S+)\s+(\S+)\s+(yes|no)\s+(\d+)\s+(yes|no)", re.IGNORECASE)


@dataclass
class _Section:
    server: int
    host: str | None
    found: int | None = None
    users: list[HsmUser] = field(default_factory=list)


def parse_user_listings(text: str) -> tuple[UserListing, ...]:
    """``listUsers``, one listing per ``Users on server N(ip):`` section, in the order printed.

    Each section's ``Number of users found:K`` is required and checked against its rows; every line
    in a section that starts with a digit must be a row.
    """
    sections: list[_Section] = []
    for line in lines_of(text):
        if (m := _USERS_ON.fullmatch(line)) is not None:
            sections.append(_Section(int(m[1]), m[2] or None))
        elif (m := _USERS_FOUND.fullmatch(line)) is not None:
            if not sections or sections[-1].found is not None:
                raise HsmParseError.from_text(
                    "one 'Number of users found' per 'Users on server N(ip):'", text
                )
            sections[-1].found = int(m[1])
        elif line[0].isdigit():
            if not sections:
                raise HsmParseError.from_text(f"'Users on server N(ip):' before {quoted(line)}", text)
            row = _USER_ROW.fullmatch(line)
            if row is None:
                raise HsmParseError.from_text(
                    f"a user row 'Id Type Name YES|NO failures YES|NO', not {quoted(line)}", text
                )
            user_id, user_type, name, mofn, failures, two_factor = row.groups()
            sections[-1].users.append(
                HsmUser(
                    int(user_id),
                    user_type,
                    name,
                    mofn.upper() == "YES",
                    int(failures),
                    two_factor.upper() == "YES",
                )
            )
    if not sections:
        raise HsmParseError.from_text("'Users on server N(ip):' sections of listUsers", text)
    numbers = [section.server for section in sections]
    if len(set(numbers)) != len(numbers):
        raise HsmParseError.from_text(f"one listUsers section per server, not {numbers}", text)
    for section in sections:
        if section.found is None:
            raise HsmParseError.from_text(f"'Number of users found:K' for server {section.server}", text)
        if section.found != len(section.users):
            raise HsmParseError.from_text(
                f"{section.found} user rows for server {section.server}, not {len(section.users)}", text
            )
        ids = [user.user_id for user in section.users]
        if len(set(ids)) != len(ids):
            raise HsmParseError.from_text(f"each user id once on server {section.server}, not {ids}", text)
    return tuple(UserListing(s.server, s.host, tuple(s.users)) for s in sections)


def parse_list_users(text: str) -> dict[int, tuple[HsmUser, ...]]:
    """``listUsers`` keyed by server number (see :func:`parse_user_listings` for the hosts)."""
    return {listing.server: listing.users for listing in parse_user_listings(text)}
