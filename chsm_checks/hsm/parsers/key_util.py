"""Parsers for ``azcloudhsm_util``: return codes, node lines, login, findKey, attributes, key info."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum, auto

from ._text import INT_LIST, HsmParseError, ints, lines_of, quoted, squashed_lines, unrecognised

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


# --- the grammar of what azcloudhsm_util prints -----------------------------------------------------
#
# An answer is read as a sequence of lines, each classified as one of the kinds below or an error
# that quotes it. The lines then group around the return-code lines: findKey prints its key lines
# and node lines before its code, getAttribute its two lines before; loginHSM, logoutHSM and
# findSingleKey print their node lines after theirs, getKeyInfo its owner lines. The start-up
# banner may open the text (the one-shot ``singlecmd`` form); the echo of the command opens a
# session's answer, the ``Command:`` prompt closes it.


class _Kind(Enum):
    BANNER = auto()
    DAEMON = auto()
    PROMPT = auto()
    ECHO = auto()
    RETURNED = auto()
    STATUS = auto()
    NODE = auto()
    TOTAL = auto()
    MATCHED = auto()
    NO_MATCH = auto()
    HANDLES = auto()
    INTS = auto()
    ATTRIBUTES = auto()
    WRITTEN = auto()
    OWNER = auto()
    SHARED = auto()


# The commands whose answers are read, and the operation each one's return code names.
_OPERATIONS = {
    "loginHSM": "Cfm3LoginHSM",
    "logoutHSM": "Cfm3LogoutHSM",
    "findKey": "Cfm3FindKey",
    "findSingleKey": "Cfm3FindKey",
    "getAttribute": "Cfm3GetAttribute",
    "getKeyInfo": "Cfm3GetKey",
}
_START_UP_OPERATION = "Cfm3GetPartitionInfo"  # printed at start when the client daemon is unreachable
_KNOWN_OPERATIONS = (*dict.fromkeys(_OPERATIONS.values()), _START_UP_OPERATION)
# The lines are matched in any case; names are kept as the tools spell them.
_SPELLED = {name.lower(): name for name in (*_OPERATIONS, *_KNOWN_OPERATIONS)}
_NODES_AFTER = frozenset({"Cfm3LoginHSM", "Cfm3LogoutHSM", "Cfm3FindKey"})
_LINES_BEFORE = {
    "Cfm3FindKey": frozenset({_Kind.TOTAL, _Kind.MATCHED, _Kind.NO_MATCH, _Kind.HANDLES, _Kind.INTS}),
    "Cfm3GetAttribute": frozenset({_Kind.ATTRIBUTES, _Kind.WRITTEN}),
}
_LINES_AFTER = {
    "Cfm3GetKey": frozenset({_Kind.OWNER, _Kind.SHARED, _Kind.INTS}),
    _START_UP_OPERATION: frozenset({_Kind.DAEMON}),
}

_COMMAND = rf"(?P<command>{'|'.join(_OPERATIONS)})(?: \S+)*"
_CODE = r"(?P<code>0x[0-9a-f]+)(?: ?: ?(?P<message>.+))?"
_SUCCESS = re.compile(r"HSM Return: SUCCESS", re.IGNORECASE)
_FAILURE = re.compile(r"HSM Error: \S.*", re.IGNORECASE)
_PATTERNS: tuple[tuple[_Kind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (_Kind.BANNER, r"version info, client version: \S+, sdk api version: \S+, sdk package version: \S+"),
        (_Kind.BANNER, r"cfm3initialize\(\) returned app id : [0-9a-f]+"),
        (_Kind.BANNER, r"session_handle \d+"),
        (_Kind.BANNER, r"current fips mode is: [0-9a-f]+"),
        (_Kind.DAEMON, r"liquidsecurity: daemon socket connection error"),
        (_Kind.PROMPT, rf"command:(?: {_COMMAND})?"),
        (_Kind.ECHO, _COMMAND),
        (_Kind.RETURNED, rf"(?P<op>{'|'.join(_KNOWN_OPERATIONS)}) returned ?: ?{_CODE}"),
        (_Kind.STATUS, r"cluster (?:error )?status ?:?"),
        (_Kind.NODE, rf"node id (?P<id>\d+) (?:status ?:|and err state) ?{_CODE}"),
        (_Kind.TOTAL, r"total number of keys present ?:? ?(?P<total>\d+)"),
        (
            _Kind.MATCHED,
            r"number of (?:matching keys|keys matched) from start index (?P<start>\d+) ?:: ?(?P<last>\d+)",
        ),
        (_Kind.NO_MATCH, r"no keys found matching the given criteria"),
        (_Kind.HANDLES, r"handles of matching keys ?:?(?P<rest>.*)"),
        (_Kind.INTS, INT_LIST.pattern),
        # The two forms of getAttribute's report: Cavium-derived tools, and AWS's key_mgmt_util.
        (_Kind.ATTRIBUTES, r"attribute size: \d+, count: \d+|got all attributes of size \d+ attr cnt \d+"),
        (_Kind.WRITTEN, r"written to: \S+ file|attributes dumped into \S+ file"),
        (_Kind.OWNER, r"owned by user (?P<owner>\d+)"),
        (_Kind.SHARED, r"also ?,? ?shared to following (?P<shared>\d+) user ?\(s\) ?:?"),
    )
)
_LOOKS_LIKE_NODE = re.compile(r"node id\b", re.IGNORECASE)
_LOOKS_LIKE_RETURNED = re.compile(r"(?P<op>\w+) returned\b", re.IGNORECASE)
_AGREE = "whose code and text agree (0x0 with 'HSM Return: SUCCESS', any other code with 'HSM Error: …')"
_ANY_LINE = "a line azcloudhsm_util prints (docs/hsm-utilities.md)"


@dataclass(frozen=True)
class _Line:
    kind: _Kind
    text: str
    match: re.Match[str]


def _agrees(match: re.Match[str]) -> bool:
    """A code and the text after it say the same: success with 0, an error with any other code."""
    message = match["message"]
    if message is None:
        return True
    if _SUCCESS.fullmatch(message):
        return int(match["code"], 16) == 0
    return _FAILURE.fullmatch(message) is not None and int(match["code"], 16) != 0


def _classified(line: str, text: str, expected: str) -> _Line:
    for kind, pattern in _PATTERNS:
        if (match := pattern.fullmatch(line)) is not None:
            if kind in (_Kind.NODE, _Kind.RETURNED) and not _agrees(match):
                form = (
                    "'Node id N status: 0x… : …'" if kind is _Kind.NODE else f"'{match['op']} returned: 0x…'"
                )
                raise unrecognised(f"{form} {_AGREE}", line, text)
            return _Line(kind, line, match)
    if _LOOKS_LIKE_NODE.match(line):
        raise unrecognised("'Node id N status: 0x… : …'", line, text)
    if (looks := _LOOKS_LIKE_RETURNED.match(line)) is not None:
        if (operation := _SPELLED.get(looks["op"].lower())) in _KNOWN_OPERATIONS:
            raise unrecognised(f"'{operation} returned: 0x…'", line, text)
        raise unrecognised(
            f"the return code of a command read here ({', '.join(_KNOWN_OPERATIONS)})", line, text
        )
    raise unrecognised(expected, line, text)


def _status(line: _Line) -> NodeStatus:
    match = line.match
    return NodeStatus(int(match["id"]), int(match["code"], 16), match["message"] or "")


def _returned(line: _Line) -> ReturnCode:
    match = line.match
    return ReturnCode(_SPELLED[match["op"].lower()], int(match["code"], 16), match["message"] or "")


@dataclass
class _Answer:
    """One return-code line and the lines printed with it."""

    returned: ReturnCode
    command: str | None  # the command echoed before it, if any
    before: list[_Line] = field(default_factory=list)  # findKey's, getAttribute's lines
    after: list[_Line] = field(default_factory=list)  # getKeyInfo's lines, the daemon error
    nodes: tuple[NodeStatus, ...] | None = None  # its status block, if it printed one
    nodes_line: str = ""  # the first line of that block
    nodes_first: bool = False  # the block came before the code (findKey)


def _node_run(lines: Sequence[_Line], i: int, text: str) -> tuple[tuple[NodeStatus, ...], int]:
    """The status block starting at ``i`` (a ``Cluster Status`` header, its node lines) and where it ends."""
    j = i + 1 if lines[i].kind is _Kind.STATUS else i
    nodes: list[NodeStatus] = []
    while j < len(lines) and lines[j].kind is _Kind.NODE:
        nodes.append(_status(lines[j]))
        j += 1
    ids = [node.node_id for node in nodes]
    if len(set(ids)) != len(ids):
        raise HsmParseError.from_text(f"one status line per node, not node ids {ids}", text)
    return tuple(nodes), j


def _answers(text: str, expected: str) -> list[_Answer]:
    """Every answer in ``text``, each line in its place; an error quoting the first line out of place."""
    lines = [_classified(line, text, expected) for line in squashed_lines(text)]
    answers: list[_Answer] = []
    before: list[_Line] = []  # lines waiting for the code printed after them
    block: tuple[NodeStatus, ...] | None = None
    block_line = ""
    open_answer: _Answer | None = None  # the last answer, while what follows its code may be its own
    command: str | None = None  # echoed, its answer not read yet
    echo_line = ""
    echoed = False

    def out_of_place(line: str) -> HsmParseError:
        return unrecognised(expected, line, text)

    i = 0
    while i < len(lines):
        line = lines[i]
        previous = lines[i - 1].kind if i else None
        kind = line.kind
        if kind is _Kind.BANNER:
            if any(earlier.kind is not _Kind.BANNER for earlier in lines[:i]):
                raise out_of_place(line.text)
        elif kind in (_Kind.PROMPT, _Kind.ECHO):
            # The echo opens an answer (after the prompt, or bare as the first line); a prompt
            # without one closes the text.
            if (kind is _Kind.ECHO and i) or before or block is not None or command is not None:
                raise out_of_place(line.text)
            if line.match["command"] is None:
                if i != len(lines) - 1:
                    raise out_of_place(line.text)
            else:
                command, echo_line, echoed = _SPELLED[line.match["command"].lower()], line.text, True
            open_answer = None
        elif kind in (_Kind.STATUS, _Kind.NODE):
            nodes, end = _node_run(lines, i, text)
            if open_answer is not None:
                taken = open_answer.nodes is None and not open_answer.after
                if not taken or open_answer.returned.operation not in _NODES_AFTER:
                    raise out_of_place(line.text)
                open_answer.nodes, open_answer.nodes_line = nodes, line.text
            elif block is None:
                block, block_line = nodes, line.text
            else:
                raise out_of_place(line.text)
            i = end
            continue
        elif kind is _Kind.RETURNED:
            if echoed and command is None:
                raise out_of_place(line.text)  # an answer no command was echoed for
            returned = _returned(line)
            if command is not None and _OPERATIONS[command] != returned.operation:
                raise out_of_place(echo_line)
            if block is not None and (returned.operation != "Cfm3FindKey" or command == "findSingleKey"):
                raise out_of_place(block_line)  # only findKey prints its node lines before its code
            answer = _Answer(returned, command, before, nodes=block, nodes_line=block_line)
            answer.nodes_first = block is not None
            answers.append(answer)
            open_answer = answer if not before and block is None else None
            before, block, command = [], None, None
        elif kind is _Kind.INTS and before and previous in (_Kind.MATCHED, _Kind.HANDLES, _Kind.INTS):
            before.append(line)  # a handle list continued
        elif kind is _Kind.INTS and open_answer is not None and previous in (_Kind.SHARED, _Kind.INTS):
            open_answer.after.append(line)  # the ids of the users a key is shared with
        elif kind in (
            _Kind.TOTAL,
            _Kind.MATCHED,
            _Kind.NO_MATCH,
            _Kind.HANDLES,
            _Kind.ATTRIBUTES,
            _Kind.WRITTEN,
        ):
            if block is not None:
                raise out_of_place(line.text)
            before.append(line)
            open_answer = None
        elif kind in (_Kind.OWNER, _Kind.SHARED, _Kind.DAEMON) and open_answer is not None:
            open_answer.after.append(line)
        else:
            raise out_of_place(line.text)
        i += 1
    if before or block is not None:
        waiting = before[0].text if before else block_line
        raise HsmParseError.from_text(f"a 'Cfm3<Op> returned: 0x…' line after {quoted(waiting)}", text)
    for answer in answers:
        _check(answer, text, expected)
    return answers


def _check(answer: _Answer, text: str, expected: str) -> None:
    """What an answer holds is what its operation (and its echoed command) prints."""
    operation = answer.returned.operation
    for line in answer.before:
        if line.kind not in _LINES_BEFORE.get(operation, ()):
            raise unrecognised(expected, line.text, text)
    for line in answer.after:
        if line.kind not in _LINES_AFTER.get(operation, ()):
            raise unrecognised(expected, line.text, text)
    if answer.command == "findSingleKey" and answer.before:
        raise unrecognised(expected, answer.before[0].text, text)
    if answer.command == "findKey" and answer.nodes is not None and not answer.nodes_first:
        raise unrecognised(expected, answer.nodes_line, text)
    if operation == "Cfm3GetAttribute":
        kinds = [line.kind for line in answer.before]
        wanted = [_Kind.ATTRIBUTES, _Kind.WRITTEN] if answer.returned.ok else []
        if kinds != wanted:
            raise HsmParseError.from_text(
                "'Attribute size: N, count: N' then 'Written to: <file> file' before Cfm3GetAttribute's"
                " success, and neither before a failure",
                text,
            )


def _answer(text: str, operation: str | None, expected: str) -> _Answer:
    """The last answer of ``operation`` (of any operation when None) in ``text``."""
    answers = [a for a in _answers(text, expected) if operation in (None, a.returned.operation)]
    if not answers:
        raise HsmParseError.from_text(f"'{operation or 'Cfm3<Op>'} returned: 0x…'", text)
    return answers[-1]


def _described(command: str, lines: str) -> str:
    return f"a line of {command}'s answer ({lines})"


_NODE_LINES = "'Node id N status: 0x…' lines"


def parse_node_statuses(text: str) -> tuple[NodeStatus, ...]:
    """Every node line of the answers in ``text``, in order; ``()`` when there are none (the caller
    decides). Node ids are kept as printed (AWS numbers from 0). Every line of ``text`` must be one
    azcloudhsm_util prints, in its place: a ``Node id`` line that does not parse is never skipped."""
    return tuple(node for answer in _answers(text, _ANY_LINE) for node in answer.nodes or ())


def parse_return_code(text: str, operation: str | None = None) -> ReturnCode:
    """The ``<operation> returned: 0x…`` line (the last one if several; any operation when None).

    Every line of ``text`` must be one azcloudhsm_util prints, in its place.
    """
    expected = f"a line azcloudhsm_util prints with '{operation} returned: 0x…'" if operation else _ANY_LINE
    return _answer(text, operation, expected).returned


def parse_get_attribute(text: str) -> ReturnCode:
    """What ``getAttribute … -out <file>`` prints: its ``Cfm3GetAttribute`` code (the file is separate).

    A success says how many attributes it got and where it wrote them (``Attribute size: N, count:
    N`` / ``Written to: <file> file``, or AWS's ``got all attributes of size N attr cnt N`` /
    ``Attributes dumped into <file> file``); a failure prints only its code.
    """
    expected = _described("getAttribute", "'Attribute size: N, count: N', 'Written to: <file> file',"
                          " 'Cfm3GetAttribute returned: 0x…'")  # fmt: skip
    return _answer(text, "Cfm3GetAttribute", expected).returned


def _key_util_result(text: str, command: str, expected: str) -> tuple[KeyUtilResult, _Answer]:
    operation = _OPERATIONS[command]
    answer = _answer(text, operation, expected)
    nodes = answer.nodes or ()
    if answer.returned.ok and not nodes:
        # A success that no node confirms cannot be checked node by node.
        raise HsmParseError.from_text(f"'Node id N status: 0x…' lines with {operation}'s result", text)
    return KeyUtilResult(answer.returned, nodes), answer


def parse_login(text: str) -> KeyUtilResult:
    """``azcloudhsm_util`` ``loginHSM``: the ``Cfm3LoginHSM`` code and the node lines after it."""
    expected = _described("loginHSM", f"'Cfm3LoginHSM returned: 0x…' and its {_NODE_LINES}")
    return _key_util_result(text, "loginHSM", expected)[0]


# --- findKey ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindKeyResult(KeyUtilResult):
    """``findKey``: its summary and node lines, the handles, and ``total`` (None when not printed)."""

    total: int | None = None
    handles: tuple[int, ...] = ()


_FIND_KEY = _described(
    "findKey",
    "'Total number of keys present', the matching handles, 'Node id N status: 0x…' lines,"
    " 'Cfm3FindKey returned: 0x…'",
)


def parse_find_key(text: str) -> FindKeyResult:
    """``findKey``, Azure or AWS form: its key lines and node lines, then its ``Cfm3FindKey`` code.

    Handles come from ``Handles of matching keys:`` (and bare continuation lines) or, in the AWS
    form, the bare list after ``number of keys matched from start index S::L``. ``S::L`` is checked
    against the handles: L is the last index, so the count is L − S + 1. No match is
    ``No keys found matching the given criteria`` or an empty handle list.
    """
    answer = _answer(text, "Cfm3FindKey", _FIND_KEY)
    nodes = answer.nodes or ()
    if answer.returned.ok and not nodes:
        raise HsmParseError.from_text("'Node id N status: 0x…' lines with Cfm3FindKey's result", text)

    total: int | None = None
    matched: tuple[int, int] | None = None
    handles: list[int] | None = None
    no_match = False
    listing = False  # the line before was a handle list (or its label) that may continue

    def seen_twice(what: str) -> HsmParseError:
        return HsmParseError.from_text(f"one findKey output, not two {what} lines", text)

    for line in answer.before:
        kind, match = line.kind, line.match
        if kind is _Kind.TOTAL:
            if total is not None:
                raise seen_twice("'Total number of keys present'")
            total = int(match["total"])
        elif kind is _Kind.MATCHED:
            if matched is not None:
                raise seen_twice("'start index S::L'")
            matched = (int(match["start"]), int(match["last"]))
        elif kind is _Kind.HANDLES:
            listed = match["rest"].strip()
            if listed and not INT_LIST.fullmatch(listed):
                raise HsmParseError.from_text(
                    f"handles after 'Handles of matching keys:', not {quoted(listed)}", text
                )
            if handles is not None:
                raise seen_twice("handle list")
            handles = ints(listed)
        elif kind is _Kind.INTS:
            if listing and handles is not None:
                handles += ints(line.text)
            elif handles is None:  # AWS: the list is only bare lines after "S::L"
                handles = ints(line.text)
            else:
                raise seen_twice("handle list")
        elif kind is _Kind.NO_MATCH:
            no_match = True
        listing = kind in (_Kind.HANDLES, _Kind.INTS)

    found = tuple(handles or ())
    if answer.returned.ok and handles is None and matched is None and not no_match:
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
    return FindKeyResult(answer.returned, nodes, total=total, handles=found)


def parse_find_single_key(text: str) -> KeyUtilResult:
    """``findSingleKey -k <handle>``: the ``Cfm3FindKey`` code, then a node line per node holding the key."""
    expected = _described("findSingleKey", f"'Cfm3FindKey returned: 0x…' and its {_NODE_LINES}")
    result, answer = _key_util_result(text, "findSingleKey", expected)
    if answer.before or answer.nodes_first:
        raise HsmParseError.from_text(
            "findSingleKey's answer (node lines after its code), not findKey's", text
        )
    return result


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


_KEY_INFO = _described(
    "getKeyInfo",
    "'Cfm3GetKey returned: 0x…', 'Owned by user N', 'also, shared to following K user(s):' and the ids",
)


def parse_key_info(text: str) -> KeyInfo:
    """``getKeyInfo -k <handle>``: ``Owned by user N`` and ``also, shared to following K user(s):`` ids.

    The ids may be on one or several lines, comma or space separated; K is checked against them.
    A failed ``Cfm3GetKey`` prints no owner, so it raises :class:`HsmParseError` naming the code.
    """
    answer = _answer(text, "Cfm3GetKey", _KEY_INFO)
    returned = answer.returned
    owners = [int(line.match["owner"]) for line in answer.after if line.kind is _Kind.OWNER]
    if len(owners) != 1 or answer.after[0].kind is not _Kind.OWNER:
        got = f"Cfm3GetKey returned 0x{returned.code:02x} {returned.message}".rstrip()
        raise HsmParseError.from_text(f"one 'Owned by user N' line ({got}; {len(owners)} found)", text)
    announced = [int(line.match["shared"]) for line in answer.after if line.kind is _Kind.SHARED]
    if len(announced) > 1:
        raise HsmParseError.from_text(
            f"one 'also, shared to following K user(s):' line, not {announced}", text
        )
    shared = [user for line in answer.after if line.kind is _Kind.INTS for user in ints(line.text)]
    expected_count = announced[0] if announced else 0
    if len(shared) != expected_count or len(set(shared)) != len(shared):
        raise HsmParseError.from_text(f"{expected_count} distinct shared user id(s), not {shared}", text)
    return KeyInfo(owners[0], tuple(shared), returned)
