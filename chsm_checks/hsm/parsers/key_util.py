"""Parsers for ``azcloudhsm_util``: return codes, node lines, login, findKey, attributes, key info."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._text import INT_LIST, HsmParseError, ints, lines_of, quoted, squash

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
        raise HsmParseError.from_text(f"'Node id N status: 0x… : …', not {quoted(line)}", text)
    return NodeStatus(int(match["id"]), int(match["code"], 16), squash(match["message"] or ""))


def parse_node_statuses(text: str) -> tuple[NodeStatus, ...]:
    """Every node line in ``text``, in order; ``()`` when there are none (the caller decides).

    Node ids are kept as printed (AWS numbers from 0). A line starting ``Node id`` that does not
    parse raises :class:`HsmParseError`: it is never skipped.
    """
    return tuple(_node(line, text) for line in lines_of(text) if _NODE_START.match(line))


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
        raise HsmParseError.from_text(f"{expected}, not {quoted(lines[indexes[-1]])}", text)
    code = ReturnCode(match["op"], int(match["code"], 16), squash(match["message"] or ""))
    return indexes[-1], code


def parse_return_code(text: str, operation: str | None = None) -> ReturnCode:
    """The ``<operation> returned: 0x…`` line (the last one if several; any operation when None)."""
    return _return_code(lines_of(text), operation, text)[1]


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
    lines = lines_of(text)
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
class FindKeyResult(KeyUtilResult):
    """``findKey``: its summary and node lines, the handles, and ``total`` (None when not printed)."""

    total: int | None = None
    handles: tuple[int, ...] = ()


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
                if listed and not INT_LIST.fullmatch(listed):
                    raise HsmParseError.from_text(
                        f"handles after 'Handles of matching keys:', not {quoted(listed)}", text
                    )
            # The list may continue on bare lines (AWS: it is only bare lines after "S::L").
            while i < len(window) and INT_LIST.fullmatch(window[i]):
                listed += "," + window[i]
                i += 1
            if handles_line is not None or listed:
                if handles is not None:
                    raise seen_twice("handle list")
                handles = ints(listed)
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
    return FindKeyResult(result.returned, result.nodes, total=total, handles=found)


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
    lines = lines_of(text)
    if not lines:
        raise HsmParseError.from_text("OBJ_ATTR_<NAME> and value line pairs", text)
    attributes: dict[str, str] = {}
    for i in range(0, len(lines), 2):
        name = lines[i]
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise HsmParseError.from_text(f"an OBJ_ATTR_<NAME> line, not {quoted(name)}", text)
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
    lines = lines_of(text)
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
                if not INT_LIST.fullmatch(following):
                    break
                shared += ints(following)
    if len(shared) != announced or len(set(shared)) != len(shared):
        raise HsmParseError.from_text(f"{announced} distinct shared user id(s), not {shared}", text)
    return KeyInfo(owners[0], tuple(shared), returned)
