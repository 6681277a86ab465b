"""Role-assignment conditions (Azure ABAC, version 2.0) over a blob container's name.

An assignment with a ``condition`` grants its data actions only where the condition holds. This
module evaluates the forms that scope a storage role to containers by name: ``ActionMatches``,
``!``/``NOT``, ``AND``/``OR`` and parentheses, and comparisons of
``@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]`` with the string
operators (``StringEquals``, ``StringEqualsIgnoreCase``, ``StringNotEquals``,
``StringNotEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``, alone or as ``ForAnyOfAnyValues:``
over a set). Anything else (another attribute, ``SubOperationMatches``, another operator or version)
is not guessed at: it raises ``UnsupportedCondition`` naming the part, and the check reports an
error, never a pass. Syntax: https://learn.microsoft.com/en-us/azure/role-based-access-control/conditions-format
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .permissions import matches

CONTAINER_NAME = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"
SUPPORTED_VERSIONS = ("2.0",)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<open>\() | (?P<close>\)) | (?P<not>!) |
        (?P<and>&&|\bAND\b) | (?P<or>\|\||\bOR\b) | (?P<notword>\bNOT\b) |
        (?P<call>[A-Za-z]+)\{\s*'(?P<call_arg>[^']*)'\s*\} |
        (?P<attribute>@[A-Za-z]+\[[^\]]*\]) |
        (?P<set>\{\s*'[^']*'(?:\s*,\s*'[^']*')*\s*\}) |
        (?P<string>'[^']*') |
        (?P<operator>[A-Za-z]+(?::[A-Za-z]+)?)
    )""",
    re.VERBOSE | re.IGNORECASE,
)


def _like(name: str, pattern: str) -> bool:
    """ABAC's StringLike: ``*`` any run of characters, ``?`` any one, everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "stringequals": lambda name, value: name == value,
    "stringequalsignorecase": lambda name, value: name.lower() == value.lower(),
    "stringnotequals": lambda name, value: name != value,
    "stringnotequalsignorecase": lambda name, value: name.lower() != value.lower(),
    "stringlike": _like,
    "stringnotlike": lambda name, value: not _like(name, value),
}


class UnsupportedCondition(ValueError):
    """A condition this module cannot evaluate; the message names the part it stopped at."""


@dataclass(frozen=True)
class _Request:
    action: str
    container: str


Node = Callable[[_Request], bool]


class _Parser:
    def __init__(self, condition: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = condition.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise UnsupportedCondition(f"cannot read the condition at {text[position : position + 40]!r}")
            kind = match.lastgroup or ""
            if kind == "call_arg":
                kind = "call"
            self.tokens.append((kind, match.group(0).strip()))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.at = 0

    def _peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def _take(self, kind: str) -> str:
        if self._peek() != kind:
            found = self.tokens[self.at][1] if self.at < len(self.tokens) else "the end of the condition"
            raise UnsupportedCondition(f"expected {kind} in the condition, found {found!r}")
        self.at += 1
        return self.tokens[self.at - 1][1]

    def parse(self) -> Node:
        node = self._or()
        if self.at != len(self.tokens):
            raise UnsupportedCondition(f"unexpected {self.tokens[self.at][1]!r} in the condition")
        return node

    def _or(self) -> Node:
        parts = [self._and()]
        while self._peek() == "or":
            self._take("or")
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def _and(self) -> Node:
        parts = [self._factor()]
        while self._peek() == "and":
            self._take("and")
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def _factor(self) -> Node:
        kind = self._peek()
        if kind in ("not", "notword"):
            self.at += 1
            inner = self._factor()
            return lambda r: not inner(r)
        if kind == "open":
            self._take("open")
            inner = self._or()
            self._take("close")
            return inner
        if kind == "call":
            return self._call(self._take("call"))
        if kind == "attribute":
            return self._comparison(self._take("attribute"))
        found = self.tokens[self.at][1] if self.at < len(self.tokens) else "the end of the condition"
        raise UnsupportedCondition(f"unexpected {found!r} in the condition")

    @staticmethod
    def _call(token: str) -> Node:
        name, _, rest = token.partition("{")
        argument = rest.strip().rstrip("}").strip().strip("'")
        if name.lower() != "actionmatches":
            raise UnsupportedCondition(f"{name} is not evaluated (only ActionMatches is)")
        return lambda r: matches(argument, r.action)

    def _comparison(self, attribute: str) -> Node:
        if attribute.replace(" ", "").lower() != CONTAINER_NAME.lower():
            raise UnsupportedCondition(f"{attribute} is not evaluated (only the container name is)")
        operator = self._take("operator")
        quantifier, _, base = operator.rpartition(":")
        test = _OPERATORS.get(base.lower())
        if test is None or quantifier.lower() not in ("", "foranyofanyvalues"):
            raise UnsupportedCondition(f"the operator {operator} is not evaluated")
        if quantifier:
            values = re.findall(r"'([^']*)'", self._take("set"))
            return lambda r: any(test(r.container, v) for v in values)
        value = self._take("string")[1:-1]
        return lambda r: test(r.container, value)


@dataclass(frozen=True)
class Condition:
    """A parsed condition: ask it whether a data action on a container is allowed."""

    text: str
    _node: Node

    def allows(self, action: str, container: str) -> bool:
        return self._node(_Request(action, container))


def parse_condition(text: str, version: str | None) -> Condition:
    """``text`` as a condition to evaluate; ``UnsupportedCondition`` if it is not one of the forms
    above (or its version is not 2.0; an absent version is read as 2.0, the only one Azure has)."""
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise UnsupportedCondition(f"condition version {version!r} is not evaluated (only 2.0 is)")
    return Condition(text, _Parser(text).parse())
