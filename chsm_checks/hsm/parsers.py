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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..errors import CouldNotEvaluate
from .redact import redact_line

TAIL_LINES = 10

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SPACES = re.compile(r"\s+")
_INT_LIST = re.compile(r"\d+(?:[\s,]+\d+)*,?")


def _lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, stripped."""
    return [line for line in (part.strip() for part in _LINE_BREAK.split(text)) if line]


def _squash(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def _quoted(line: str) -> str:
    """A line for an error message: whitespace squashed, so tabs do not show as ``\\t``."""
    return repr(_squash(line))


def _ints(value: str) -> list[int]:
    return [int(part) for part in re.split(r"[\s,]+", value) if part]


def _tail(text: str) -> str:
    return "\n".join(redact_line(line) for line in _lines(text)[-TAIL_LINES:])


class HsmParseError(CouldNotEvaluate, ValueError):
    """The output does not hold what the parser must find.

    ``what`` says what was expected; ``tail`` holds the last non-empty lines of the output (at most
    ``TAIL_LINES``, password positions redacted), newline-separated.
    """

    def __init__(self, what: str, tail: str = "") -> None:
        self.what = what
        self.tail = tail
        super().__init__(what, tail)

    @classmethod
    def from_text(cls, what: str, text: str) -> HsmParseError:
        """The error for ``text``, with its tail."""
        return cls(what, _tail(text))

    def __str__(self) -> str:
        lines = self.tail.splitlines() or ["(no output)"]
        return "\n".join([f"expected {self.what}", *(f"  | {line}" for line in lines)])


# --- return codes and node lines (azcloudhsm_util) -------------------------------------------------


@dataclass(frozen=True)
class NodeStatus:
    """One ``Node id N status: 0x… : …`` (AWS: ``Node id N and err state 0x… : …``) line."""

    node_id: int
    code: int
    message: str

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class ReturnCode:
    """One ``Cfm3<Op> returned: 0x… [: HSM Return|Error: …]`` line; ``message`` is "" when absent."""

    operation: str
    code: int
    message: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def _failed(nodes: Iterable[NodeStatus]) -> tuple[NodeStatus, ...]:
    return tuple(node for node in nodes if not node.ok)


@dataclass(frozen=True)
class KeyUtilResult:
    """A command's summary code and the node lines printed with it."""

    returned: ReturnCode
    nodes: tuple[NodeStatus, ...]

    @property
    def failed_nodes(self) -> tuple[NodeStatus, ...]:
        return _failed(self.nodes)

    @property
    def ok(self) -> bool:
        """The summary and every node line report success."""
        return self.returned.ok and not self.failed_nodes


# Not the "Node Id  Hostname  Port" header of getClusterInfo.
_NODE_START = re.compile(r"node\s+id\b(?!\s+hostname)", re.IGNORECASE)
_NODE = re.compile(
    r"node\s+id\s+(?P<id>\d+)\s+(?:status\s*:|and\s+err\s+state)\s*(?P<code>0x[0-9a-f]+)"
    r"(?:\s*:\s*(?P<message>.*))?",
    re.IGNORECASE,
)
_CLUSTER_STATUS = re.compile(r"cluster\s+(?:error\s+)?status\s*:?", re.IGNORECASE)
_RETURNED = re.compile(
    r"(?<![\w.])(?P<op>[A-Za-z]\w*)\s+returned\s*:\s*(?P<code>0x[0-9a-fA-F]+)(?:\s*:\s*(?P<message>.*))?$"
)
_ANY_RETURNED = re.compile(r"(?<![\w.])[A-Za-z]\w*\s+returned\s*:")


def _node(line: str, text: str) -> NodeStatus:
    match = _NODE.fullmatch(line)
    if match is None:
        raise HsmParseError.from_text(f"'Node id N status: 0x… : …', not {_quoted(line)}", text)
    return NodeStatus(int(match["id"]), int(match["code"], 16), _squash(match["message"] or ""))


def parse_node_statuses(text: str) -> tuple[NodeStatus, ...]:
    """Every node line in ``text``, in order; ``()`` when there are none (the caller decides).

    Node ids are kept as printed (AWS numbers from 0). A line starting ``Node id`` that does not
    parse raises :class:`HsmParseError`: it is never skipped.
    """
    return tuple(_node(line, text) for line in _lines(text) if _NODE_START.match(line))


def _returned_indexes(lines: Sequence[str], operation: str | None) -> list[int]:
    if operation is None:
        return [i for i, line in enumerate(lines) if _ANY_RETURNED.search(line)]
    named = re.compile(rf"(?<![\w.]){re.escape(operation)}\s+returned\b")
    return [i for i, line in enumerate(lines) if named.search(line)]


def _return_code(lines: Sequence[str], operation: str | None, text: str) -> tuple[int, ReturnCode]:
    """The last return-code line (of ``operation`` when given) and its index in ``lines``."""
    expected = f"'{operation or 'Cfm3<Op>'} returned: 0x…'"
    indexes = _returned_indexes(lines, operation)
    if not indexes:
        raise HsmParseError.from_text(expected, text)
    match = _RETURNED.search(lines[indexes[-1]])
    if match is None or (operation is not None and match["op"] != operation):
        raise HsmParseError.from_text(f"{expected}, not {_quoted(lines[indexes[-1]])}", text)
    code = ReturnCode(match["op"], int(match["code"], 16), _squash(match["message"] or ""))
    return indexes[-1], code


def parse_return_code(text: str, operation: str | None = None) -> ReturnCode:
    """The ``<operation> returned: 0x…`` line (the last one if several; any operation when None)."""
    return _return_code(_lines(text), operation, text)[1]


def parse_get_attribute(text: str) -> ReturnCode:
    """What ``getAttribute … -out <file>`` prints: its ``Cfm3GetAttribute`` code (the file is separate)."""
    return parse_return_code(text, "Cfm3GetAttribute")


@dataclass(frozen=True)
class _NodeRun:
    first: int  # index of the "Cluster Status" header, or of the first node line
    last: int
    nodes: tuple[NodeStatus, ...]


def _node_runs(lines: Sequence[str], text: str) -> list[_NodeRun]:
    runs: list[_NodeRun] = []
    i = 0
    while i < len(lines):
        first = i
        if _CLUSTER_STATUS.fullmatch(lines[i]):
            i += 1
        nodes = []
        while i < len(lines) and _NODE_START.match(lines[i]):
            nodes.append(_node(lines[i], text))
            i += 1
        if i == first:
            i += 1
        else:
            runs.append(_NodeRun(first, i - 1, tuple(nodes)))
    return runs


def _nodes_next_to(
    lines: Sequence[str], index: int, *, after_first: bool, text: str
) -> tuple[NodeStatus, ...]:
    """The node lines printed right after or right before the return-code line at ``index``.

    Login prints them after its code, findKey before (findSingleKey after): ``after_first`` says
    which side to try first. Scoping by adjacency keeps the nodes of a ``singlecmd loginHSM …
    findKey`` transcript with the command they belong to.
    """
    runs = _node_runs(lines, text)
    after = next((run for run in runs if run.first == index + 1), None)
    before = next((run for run in runs if run.last == index - 1), None)
    run = (after or before) if after_first else (before or after)
    nodes = run.nodes if run else ()
    ids = [node.node_id for node in nodes]
    if len(set(ids)) != len(ids):
        raise HsmParseError.from_text(f"one status line per node, not node ids {ids}", text)
    return nodes


def _key_util_result(text: str, operation: str, *, after_first: bool) -> tuple[KeyUtilResult, list[str], int]:
    lines = _lines(text)
    index, returned = _return_code(lines, operation, text)
    nodes = _nodes_next_to(lines, index, after_first=after_first, text=text)
    if returned.ok and not nodes:
        # A success that no node confirms cannot be checked node by node.
        raise HsmParseError.from_text(f"'Node id N status: 0x…' lines with {operation}'s result", text)
    return KeyUtilResult(returned, nodes), lines, index


def parse_login(text: str) -> KeyUtilResult:
    """``azcloudhsm_util`` ``loginHSM``: the ``Cfm3LoginHSM`` code and the node lines after it."""
    return _key_util_result(text, "Cfm3LoginHSM", after_first=True)[0]


# --- findKey ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindKeyResult:
    """``findKey``: ``total`` is None when the tool did not print it (a failed command)."""

    total: int | None
    handles: tuple[int, ...]
    nodes: tuple[NodeStatus, ...]
    returned: ReturnCode

    @property
    def failed_nodes(self) -> tuple[NodeStatus, ...]:
        return _failed(self.nodes)

    @property
    def ok(self) -> bool:
        """The summary and every node line report success."""
        return self.returned.ok and not self.failed_nodes


_TOTAL = re.compile(r"total\s+number\s+of\s+keys\s+present\s*:?\s*(\d+)", re.IGNORECASE)
_MATCHED = re.compile(
    r"number\s+of\s+(?:matching\s+keys|keys\s+matched)\s+from\s+start\s+index\s+(\d+)\s*::\s*(\d+)",
    re.IGNORECASE,
)
_HANDLES = re.compile(r"handles\s+of\s+matching\s+keys\s*:?(?P<rest>.*)", re.IGNORECASE)
_NO_MATCH = re.compile(r"no\s+keys\s+found\s+matching", re.IGNORECASE)


def parse_find_key(text: str) -> FindKeyResult:
    """``findKey``, Azure or AWS form.

    Handles come from ``Handles of matching keys:`` (and bare continuation lines) or, in the AWS
    form, the bare list after ``number of keys matched from start index S::L``. ``S::L`` is checked
    against the handles: L is the last index, so the count is L − S + 1. No match is
    ``No keys found matching the given criteria`` or an empty handle list.
    """
    result, lines, index = _key_util_result(text, "Cfm3FindKey", after_first=False)
    earlier = [i for i in _returned_indexes(lines, None) if i < index]
    window = lines[(earlier[-1] + 1 if earlier else 0) : index]

    total: int | None = None
    matched: tuple[int, int] | None = None
    handles: list[int] | None = None
    no_match = False

    def seen_twice(what: str) -> HsmParseError:
        return HsmParseError.from_text(f"one findKey output, not two {what} lines", text)

    i = 0
    while i < len(window):
        line = window[i]
        i += 1
        total_line = _TOTAL.search(line)
        matched_line = _MATCHED.search(line)
        handles_line = _HANDLES.match(line)
        if total_line is not None:
            if total is not None:
                raise seen_twice("'Total number of keys present'")
            total = int(total_line[1])
        elif matched_line is not None or handles_line is not None:
            listed = ""
            if matched_line is not None:
                if matched is not None:
                    raise seen_twice("'start index S::L'")
                matched = (int(matched_line[1]), int(matched_line[2]))
            elif handles_line is not None:
                listed = handles_line["rest"].strip()
                if listed and not _INT_LIST.fullmatch(listed):
                    raise HsmParseError.from_text(
                        f"handles after 'Handles of matching keys:', not {_quoted(listed)}", text
                    )
            # The list may continue on bare lines (AWS: it is only bare lines after "S::L").
            while i < len(window) and _INT_LIST.fullmatch(window[i]):
                listed += "," + window[i]
                i += 1
            if handles_line is not None or listed:
                if handles is not None:
                    raise seen_twice("handle list")
                handles = _ints(listed)
        elif _NO_MATCH.search(line):
            no_match = True

    found = tuple(handles or ())
    if result.returned.ok and handles is None and matched is None and not no_match:
        raise HsmParseError.from_text(
            "the matching keys: 'Handles of matching keys: …', 'number of keys matched from start index S::L'"
            " or 'No keys found matching the given criteria'",
            text,
        )
    if no_match and found:
        raise HsmParseError.from_text(f"no handles after 'No keys found', not {list(found)}", text)
    if matched is not None and len(found) != matched[1] - matched[0] + 1:
        start, last = matched
        raise HsmParseError.from_text(
            f"{last - start + 1} handles for start index {start}::{last}, not {len(found)}", text
        )
    if len(set(found)) != len(found):
        raise HsmParseError.from_text(f"each handle once, not {list(found)}", text)
    if total is not None and len(found) > total:
        raise HsmParseError.from_text(f"at most {total} handles (the total present), not {len(found)}", text)
    return FindKeyResult(total, found, result.nodes, result.returned)


def parse_find_single_key(text: str) -> KeyUtilResult:
    """``findSingleKey -k <handle>``: the ``Cfm3FindKey`` code and one node line per node holding the key."""
    return _key_util_result(text, "Cfm3FindKey", after_first=True)[0]


# --- getAttribute file, getKeyInfo -----------------------------------------------------------------

_ATTRIBUTE_NAME = re.compile(r"OBJ_ATTR_[A-Z0-9_]+")


def parse_attributes(text: str) -> dict[str, str]:
    """The file ``getAttribute -out`` writes: ``OBJ_ATTR_<NAME>`` and value on alternate lines.

    Values are kept as written (hex for numbers and flags), stripped. Blank lines are ignored, so
    a value cannot be empty: a name followed by another name, a missing or repeated name is an error.
    """
    lines = _lines(text)
    if not lines:
        raise HsmParseError.from_text("OBJ_ATTR_<NAME> and value line pairs", text)
    attributes: dict[str, str] = {}
    for i in range(0, len(lines), 2):
        name = lines[i]
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise HsmParseError.from_text(f"an OBJ_ATTR_<NAME> line, not {_quoted(name)}", text)
        if i + 1 == len(lines) or _ATTRIBUTE_NAME.fullmatch(lines[i + 1]):
            raise HsmParseError.from_text(f"a value line after {name}", text)
        if name in attributes:
            raise HsmParseError.from_text(f"{name} once", text)
        attributes[name] = lines[i + 1]
    return attributes


@dataclass(frozen=True)
class KeyInfo:
    """``getKeyInfo``: the owner and the users the key is shared with, in the order printed."""

    owner: int
    shared_with: tuple[int, ...]
    returned: ReturnCode


_OWNER = re.compile(r"owned\s+by\s+user\s+(\d+)", re.IGNORECASE)
_SHARED = re.compile(r"also\s*,?\s*shared\s+to\s+following\s+(\d+)\s+user\s*\(s\)\s*:?", re.IGNORECASE)


def parse_key_info(text: str) -> KeyInfo:
    """``getKeyInfo -k <handle>``: ``Owned by user N`` and ``also, shared to following K user(s):`` ids.

    The ids may be on one or several lines, comma or space separated; K is checked against them.
    A failed ``Cfm3GetKey`` prints no owner, so it raises :class:`HsmParseError` naming the code.
    """
    lines = _lines(text)
    index, returned = _return_code(lines, "Cfm3GetKey", text)
    later = [i for i in _returned_indexes(lines, None) if i > index]
    window = lines[index + 1 : later[0] if later else len(lines)]
    owners = [int(m[1]) for line in window if (m := _OWNER.fullmatch(line))]
    if len(owners) != 1:
        got = f"Cfm3GetKey returned 0x{returned.code:02x} {returned.message}".rstrip()
        raise HsmParseError.from_text(f"one 'Owned by user N' line ({got}; {len(owners)} found)", text)
    shared: list[int] = []
    announced = 0
    for i, line in enumerate(window):
        if (m := _SHARED.fullmatch(line)) is not None:
            announced = int(m[1])
            for following in window[i + 1 :]:
                if not _INT_LIST.fullmatch(following):
                    break
                shared += _ints(following)
    if len(shared) != announced or len(set(shared)) != len(shared):
        raise HsmParseError.from_text(f"{announced} distinct shared user id(s), not {shared}", text)
    return KeyInfo(owners[0], tuple(shared), returned)


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
    lines = _lines(text)
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
            raise HsmParseError.from_text(f"a 'Node Id  Hostname  Port' row, not {_quoted(lines[i])}", text)
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
    lines = _lines(text)
    versions: dict[str, str] = {}
    servers: dict[int, ServerConnection] = {}
    problems: list[str] = []
    seen_connection_line = False

    def update(number: int, host: str | None, **changes: bool) -> None:
        current = servers.get(number) or ServerConnection(number, host or "", False, False)
        servers[number] = replace(current, host=host or current.host, **changes)

    for line in lines:
        if (m := _VERSION.fullmatch(line)) is not None:
            versions[_squash(m["name"])] = m["value"]
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

    for line in _lines(text):
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
            pending = _squash(m[1])
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
    for line in _lines(text):
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
                raise HsmParseError.from_text(f"'Users on server N(ip):' before {_quoted(line)}", text)
            row = _USER_ROW.fullmatch(line)
            if row is None:
                raise HsmParseError.from_text(
                    f"a user row 'Id Type Name YES|NO failures YES|NO', not {_quoted(line)}", text
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
