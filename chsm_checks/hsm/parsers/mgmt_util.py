"""Parsers for ``azcloudhsm_mgmt_util``: start-up, getClusterInfo, per-server results, listUsers.

Each reads one answer as the session receives it: at most an echo of the command as its first line
(``cloudmgmt>getClusterInfo`` where the terminal echoes what is typed), the answer, and the next
prompt as its last line. Every other line must be one the command is documented to print
(``docs/hsm-utilities.md``); any other line is an :class:`HsmParseError` that quotes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from ._text import HsmParseError, quoted, squashed_lines, unrecognised

# --- what frames every answer ----------------------------------------------------------------------

_PROMPT = re.compile(r"(?:cloudmgmt|server\d+)>")


def _echo(command: str, *, arguments: bool = False) -> re.Pattern[str]:
    """The echo of ``command`` as a terminal shows it: after its prompt, or bare."""
    rest = r"(?: \S+)*" if arguments else ""
    return re.compile(rf"(?:(?:cloudmgmt|server(?P<scope>\d+))>)?{re.escape(command)}{rest}")


def _framed(text: str, echo: re.Pattern[str]) -> list[str]:
    """The squashed lines of one answer, without its echo (first line) and its next prompt (last)."""
    lines = squashed_lines(text)
    if lines and echo.fullmatch(lines[0]):
        lines = lines[1:]
    if lines and _PROMPT.fullmatch(lines[-1]):
        lines = lines[:-1]
    return lines


# --- getClusterInfo --------------------------------------------------------------------------------


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


_CLUSTER_ECHO = _echo("getClusterInfo")
_CLUSTER_FROM = re.compile(r"cluster info from server (\d+) ?(?:\(([^)]*)\))? ?:?", re.IGNORECASE)
_TABLE_HEADER = re.compile(r"node id hostname port", re.IGNORECASE)
_CLUSTER_ROW = re.compile(r"(\d+) (\S+) (\d+)")
_NOT_CONNECTED = re.compile(r"server (\d+) ?(?:\(([^)]*)\))? is not connected", re.IGNORECASE)
_TABLE = "the 'Node Id  Hostname  Port' table of getClusterInfo"
_AFTER_TABLE = "'Server N is not connected' or the prompt after the 'Node Id  Hostname  Port' table"


def parse_cluster_info(text: str) -> ClusterInfo:
    """``getClusterInfo``: ``Cluster info from server N(ip):``, the ``Node Id  Hostname  Port`` table,
    then the ``Server N is not connected`` lines.

    Nothing else may come before the table, between its rows or after them: a wording the check
    does not know (``Server 1 is disconnected``) is an error, never a node taken for connected.
    """
    lines = _framed(text, _CLUSTER_ECHO)
    server: int | None = None
    host: str | None = None
    i = 0
    if lines and (m := _CLUSTER_FROM.fullmatch(lines[0])) is not None:
        server, host = int(m[1]), m[2] or None
        i = 1
    if i == len(lines):
        raise HsmParseError.from_text(_TABLE, text)
    if not _TABLE_HEADER.fullmatch(lines[i]):
        raise unrecognised(_TABLE, lines[i], text)
    i += 1
    nodes: list[ClusterNode] = []
    while i < len(lines) and lines[i][0].isdigit():
        row = _CLUSTER_ROW.fullmatch(lines[i])
        if row is None:
            raise unrecognised("a 'Node Id  Hostname  Port' row", lines[i], text)
        nodes.append(ClusterNode(int(row[1]), row[2], int(row[3])))
        i += 1
    if not nodes:
        raise HsmParseError.from_text("at least one row under 'Node Id  Hostname  Port'", text)
    ids = [node.node_id for node in nodes]
    if len(set(ids)) != len(ids):
        raise HsmParseError.from_text(f"each node id once, not {ids}", text)
    not_connected: list[int] = []
    for line in lines[i:]:
        if (m := _NOT_CONNECTED.fullmatch(line)) is None:
            raise unrecognised(_AFTER_TABLE, line, text)
        not_connected.append(int(m[1]))
    return ClusterInfo(server, host, tuple(nodes), tuple(not_connected))


# --- start-up --------------------------------------------------------------------------------------


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


_VERSION = re.compile(
    r"(?P<name>Liquidsec MGMT Util Version|SDK API Version|SDK Package Version) ?: ?(?P<value>\S+)",
    re.IGNORECASE,
)
_NOTICES = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"connecting to the server\(s\), it may take time",
        r"depending on the server\(s\) load, please wait\.\.\.",
        r"connecting to servers in the cluster\.",
        r"received server version ?: ?\S+, sdk version ?: ?\S+, sdk package version ?: ?\S+",
    )
)
_HOST_PORT = r"'server (\d+)' ?: ?hostname '([^']*)', port \d+\.\.\."
_CONNECTING = re.compile(rf"connecting to {_HOST_PORT}", re.IGNORECASE)
_CONNECTED = re.compile(rf"connected to {_HOST_PORT}", re.IGNORECASE)
_E2E = re.compile(r"e2e enabled on server (\d+) ?\(([^)]*)\)", re.IGNORECASE)
_UNENCRYPTED = re.compile(r"server (\d+) ?\(([^)]*)\) is in unencrypted mode now\.\.\.", re.IGNORECASE)
# "Connetion" is the tool's own spelling; the right one is accepted too.
_CONNECTION_FAILED = re.compile(r"conne(?:c)?tion to server \S+ on port \d+ failed", re.IGNORECASE)
_NO_SERVER = re.compile(r"no server is connected, exiting\.\.\.", re.IGNORECASE)
_LIMITED = re.compile(r"running in limited commands mode", re.IGNORECASE)
_NO_OWNER_CERTIFICATE = re.compile(r"partition owner certificate not exist at given path", re.IGNORECASE)
_CERTIFICATE_ERROR = re.compile(r"certificate error ?: ?\[[^\]]+\]", re.IGNORECASE)
# Recognised and unhealthy: kept verbatim as problems (findings), not errors.
_PROBLEMS = (
    _CONNECTION_FAILED,
    _NOT_CONNECTED,
    _UNENCRYPTED,
    _NO_SERVER,
    _LIMITED,
    _NO_OWNER_CERTIFICATE,
    _CERTIFICATE_ERROR,
)
_STARTUP = "a line of azcloudhsm_mgmt_util's start-up (docs/hsm-utilities.md)"


def parse_mgmt_startup(text: str) -> MgmtStartup:
    """``azcloudhsm_mgmt_util`` start-up, healthy or not, up to its first prompt.

    ``servers`` are ordered by number; ``problems`` holds every unhealthy line (connection failed —
    the tool spells it ``Connetion`` —, not connected, missing partition-owner certificate,
    unencrypted or limited mode, certificate errors, no server connected), whitespace squashed.
    A line that is neither a documented start-up line nor the final prompt raises
    :class:`HsmParseError`, as does a text without any connection line.
    """
    lines = squashed_lines(text)
    if lines and _PROMPT.fullmatch(lines[-1]):
        lines = lines[:-1]
    versions: dict[str, str] = {}
    servers: dict[int, ServerConnection] = {}
    problems: list[str] = []
    seen_connection_line = False

    def update(number: int, host: str | None, **changes: bool) -> None:
        current = servers.get(number) or ServerConnection(number, host or "", False, False)
        servers[number] = replace(current, host=host or current.host, **changes)

    for line in lines:
        if (m := _VERSION.fullmatch(line)) is not None:
            versions[m["name"]] = m["value"]
        elif any(p.fullmatch(line) for p in _NOTICES):
            pass
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
        elif not any(p.fullmatch(line) for p in _PROBLEMS):
            raise unrecognised(_STARTUP, line, text)
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


# The questions a failing or critical command asks. With the terminal's echo off (as the session
# runs it) the answer typed is not printed, and the tool's next line follows the question directly.
_QUESTIONS = (("Retry/rollBack/Ignore?(R/B/I):", "RBI"), ("Do you want to continue(y/n)?", "YN"))
_CAUTION_OPEN = re.compile(r"\*+ ?CAUTION ?\*+")
_CAUTION_CLOSE = re.compile(r"\*{8,}")
_CAUTION_LINES = 8  # the most lines of text a CAUTION banner holds between its lines of stars


def _unglued(lines: list[str]) -> Iterator[str]:
    """``lines`` with each question on a line of its own, the answer typed after it (if shown) dropped."""
    for line in lines:
        while line:
            asked = next((q for q in _QUESTIONS if line.upper().startswith(q[0].upper())), None)
            if asked is None:
                yield line
                break
            question, answers = asked
            yield question
            line = line[len(question) :].strip()
            if len(line) == 1 and line.upper() in answers:
                break


def parse_server_results(text: str, command: str, *, server: int | None = None) -> tuple[ServerResult, ...]:
    """Per-server replies of a mgmt-util command (``loginHSM``, ``logoutHSM`` …), in order.

    Reads ``<command> success|failed on server N(ip)``; a ``<command> failed: <reason>`` line is the
    detail of the failure line that follows it. A bare ``<command> success``/``failed[: reason]``
    (server scope) belongs to the server of the ``serverN>`` prompt the command was echoed after,
    else to ``server`` (the scope the caller knows it is in); after ``cloudmgmt>``, to None.
    Besides these: the ``Retry/rollBack/Ignore?(R/B/I):`` question, ``Rolling back <command> on the
    servers that succeeded``, a ``CAUTION`` banner and its ``(y/n)?`` question; nothing else.
    """
    name = re.escape(command)
    on_server = re.compile(rf"{name} (success|failed) on server (\d+) ?(?:\(([^)]*)\))?", re.IGNORECASE)
    reason = re.compile(rf"{name} failed ?: ?(\S+)", re.IGNORECASE)
    bare = re.compile(rf"{name} (success|failed)", re.IGNORECASE)
    rolling_back = re.compile(rf"rolling back {name} on the servers that succeeded", re.IGNORECASE)
    replies = (on_server, reason, bare)
    expected = (
        f"a line of {command}'s answer ('{command} success|failed on server N(ip)', '{command} failed:"
        " <reason>', Retry/rollBack/Ignore)"
    )
    lines = list(_unglued(squashed_lines(text)))
    scope = server
    echo = _echo(command, arguments=True)
    if lines and not any(p.fullmatch(lines[0]) for p in replies) and (m := echo.fullmatch(lines[0])):
        lines = lines[1:]
        if m["scope"] is not None:
            scope = int(m["scope"])
        elif m[0].startswith("cloudmgmt>"):
            scope = None
    if lines and _PROMPT.fullmatch(lines[-1]):
        lines = lines[:-1]
    results: list[ServerResult] = []
    pending: str | None = None

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            results.append(ServerResult(scope, None, False, pending))
            pending = None

    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if (m := on_server.fullmatch(line)) is not None:
            success = m[1].lower() == "success"
            if success:
                flush()
            results.append(ServerResult(int(m[2]), m[3] or None, success, "" if success else pending or ""))
            pending = None
        elif (m := reason.fullmatch(line)) is not None:
            flush()
            pending = m[1]
        elif (m := bare.fullmatch(line)) is not None:
            if m[1].lower() == "success":
                flush()
                results.append(ServerResult(scope, None, True, ""))
            else:
                results.append(ServerResult(scope, None, False, pending or ""))
                pending = None
        elif _CAUTION_OPEN.fullmatch(line):
            closing = [
                j
                for j in range(i, min(i + _CAUTION_LINES + 1, len(lines)))
                if _CAUTION_CLOSE.fullmatch(lines[j])
            ]
            if not closing:
                raise unrecognised(
                    f"a line of stars closing the CAUTION banner within {_CAUTION_LINES} lines", line, text
                )
            i = closing[0] + 1
        elif not (any(line == question for question, _ in _QUESTIONS) or rolling_back.fullmatch(line)):
            raise unrecognised(expected, line, text)
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


_USERS_ECHO = _echo("listUsers")
_USERS_ON = re.compile(r"users on server (\d+) ?(?:\(([^)]*)\))? ?:?", re.IGNORECASE)
_USERS_FOUND = re.compile(r"number of users found ?:? ?(\d+)", re.IGNORECASE)
_USERS_HEADER = re.compile(r"user id user type user name mofnpubkey loginfailurecnt 2fa", re.IGNORECASE)
_USER_ROW = re.compile(r"(\d+) (\S+) (\S+) (yes|no) (\d+) (yes|no)", re.IGNORECASE)
_USERS = (
    "a line of listUsers ('Users on server N(ip):', 'Number of users found:K', the 'User Id … 2FA'"
    " header, a user row)"
)


@dataclass
class _Section:
    server: int
    host: str | None
    found: int | None = None
    header: bool = False
    users: list[HsmUser] = field(default_factory=list)


def parse_user_listings(text: str) -> tuple[UserListing, ...]:
    """``listUsers``, one listing per ``Users on server N(ip):`` section, in the order printed.

    Each section is ``Users on server N(ip):``, ``Number of users found:K`` (required, checked
    against the rows), the ``User Id … 2FA`` header and the user rows; any other line is an error.
    """
    sections: list[_Section] = []
    for line in _framed(text, _USERS_ECHO):
        if (m := _USERS_ON.fullmatch(line)) is not None:
            sections.append(_Section(int(m[1]), m[2] or None))
        elif (m := _USERS_FOUND.fullmatch(line)) is not None:
            if not sections or sections[-1].found is not None:
                raise HsmParseError.from_text(
                    "one 'Number of users found' per 'Users on server N(ip):'", text
                )
            sections[-1].found = int(m[1])
        elif _USERS_HEADER.fullmatch(line):
            if not sections or sections[-1].found is None or sections[-1].header:
                raise HsmParseError.from_text(
                    "one 'User Id … 2FA' header after each 'Number of users found:K'", text
                )
            sections[-1].header = True
        elif line[0].isdigit():
            if not sections:
                raise HsmParseError.from_text(f"'Users on server N(ip):' before {quoted(line)}", text)
            if not sections[-1].header:
                raise HsmParseError.from_text(f"the 'User Id … 2FA' header before {quoted(line)}", text)
            row = _USER_ROW.fullmatch(line)
            if row is None:
                raise unrecognised("a user row 'Id Type Name YES|NO failures YES|NO'", line, text)
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
        else:
            raise unrecognised(_USERS, line, text)
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
