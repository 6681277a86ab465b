"""The Azure Resource Graph queries chsm-checks sends, as data: rendered to KQL for the service, and
parsed back by the sandbox, which answers exactly this subset and refuses anything else by name.

A query reads one table (``resources`` or ``authorizationresources``), keeps one resource type
(``where type =~ '…'``), optionally keeps rows whose column is one of some values (``where c in~
(…)``, any case, as ARM compares ids), projects columns, and orders by ``id`` so that its pages are
stable (Resource Graph pages an unordered query in no repeatable order)::

    resources
    | where type =~ 'microsoft.hardwaresecuritymodules/cloudhsmclusters'
    | where resourceGroup in~ ('rg-one', 'rg-two')
    | project id, name, type, location, resourceGroup, subscriptionId, tags, sku, identity, properties
    | order by id asc
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

QUERY_PATH = "/providers/Microsoft.ResourceGraph/resources"
"""Where a Resource Graph query is POSTed: a read, though it is a POST."""
TABLES = ("resources", "authorizationresources")
COLUMNS = (
    "id",
    "name",
    "type",
    "tenantId",
    "kind",
    "location",
    "resourceGroup",
    "subscriptionId",
    "managedBy",
    "sku",
    "plan",
    "properties",
    "tags",
    "identity",
    "zones",
    "extendedLocation",
)
"""The columns of ``resources`` and ``authorizationresources`` a query may project."""
PRINCIPAL = "properties.principalId"
"""A role assignment's principal, filtered on as ``tostring(properties.principalId)``."""
FILTERABLE = ("id", "name", "resourceGroup", "subscriptionId", PRINCIPAL)

_STRING = r"'([^'\\]*)'"
_TYPE = re.compile(rf"^where\s+type\s*=~\s*{_STRING}$")
_IN = re.compile(r"^where\s+(tostring\(\s*properties\.principalId\s*\)|[A-Za-z]+)\s+in~\s*\((.*)\)$", re.S)
_ITEM = re.compile(rf"^\s*{_STRING}\s*$")
_PROJECT = re.compile(r"^project\s+(.+)$", re.S)
_ORDER = re.compile(r"^order\s+by\s+id\s+asc$")  # KQL's default order is desc


def is_graph_query(method: str, path: str) -> bool:
    """Whether a request is a Resource Graph query: a POST of :data:`QUERY_PATH`, which reads only."""
    return method == "POST" and path.rstrip("/").lower() == QUERY_PATH.lower()


class UnsupportedQuery(ValueError):
    """A query outside the subset: the message names the part and what the subset allows."""


@dataclass(frozen=True)
class GraphQuery:
    """One Resource Graph query of the subset."""

    table: str
    type: str
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    project: tuple[str, ...] = COLUMNS

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise ValueError(f"table {self.table!r}: not one of {', '.join(TABLES)}")
        if unknown := [c for c in self.project if c not in COLUMNS]:
            raise ValueError(f"project: unknown column {unknown[0]!r}")
        for column, values in self.filters:
            if column not in FILTERABLE:
                raise ValueError(f"where: cannot filter on {column!r}")
            if not values:
                raise ValueError(f"where {column} in~ (): no value")
        for value in (self.type, *(v for _, values in self.filters for v in values)):
            if "'" in value or "\\" in value:
                raise ValueError(f"{value!r}: a quote or backslash cannot be sent in a query")

    def text(self) -> str:
        """The KQL the service receives."""
        stages = [self.table, f"where type =~ '{self.type}'"]
        for column, values in self.filters:
            subject = f"tostring({PRINCIPAL})" if column == PRINCIPAL else column
            stages.append(f"where {subject} in~ ({', '.join(repr_kql(v) for v in values)})")
        stages += [f"project {', '.join(self.project)}", "order by id asc"]
        return "\n| ".join(stages)

    @cached_property
    def _wanted(self) -> tuple[tuple[str, frozenset[str]], ...]:
        return tuple((column, frozenset(v.lower() for v in values)) for column, values in self.filters)

    def keeps(self, row: dict[str, object]) -> bool:
        """Whether a row (a resource as Resource Graph holds it) is in this query's answer."""
        if str(row.get("type", "")).lower() != self.type.lower():
            return False
        for column, wanted in self._wanted:
            if column == PRINCIPAL:
                properties = row.get("properties")
                value = properties.get("principalId") if isinstance(properties, dict) else None
            else:
                value = row.get(column)
            if not isinstance(value, str) or value.lower() not in wanted:
                return False
        return True


def repr_kql(value: str) -> str:
    return f"'{value}'"


def _split(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` outside quotes, each part stripped and with its runs of
    whitespace outside quotes made one space."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current).strip())
            current = []
        elif char.isspace() and not quoted:
            if current and current[-1] != " ":
                current.append(" ")
        else:
            current.append(char)
    if quoted:
        raise UnsupportedQuery("the query has a string that is not closed")
    parts.append("".join(current).strip())
    return parts


def _values(listed: str, where: str) -> tuple[str, ...]:
    items = [item for item in _split(listed, ",") if item] if listed.strip() else []
    values = []
    for item in items:
        match = _ITEM.match(item)
        if match is None:
            raise UnsupportedQuery(f"{where}: {item!r} is not a single-quoted string")
        values.append(match.group(1))
    if not values:
        raise UnsupportedQuery(f"{where}: the list is empty")
    return tuple(values)


ALLOWED = (
    "resources or authorizationresources, then: where type =~ '<type>'; where <column> in~ ('…', …) "
    f"on {', '.join(FILTERABLE[:-1])} or tostring({PRINCIPAL}); project <columns>; order by id asc"
)


def parse(text: str) -> GraphQuery:
    """The query ``text`` as a :class:`GraphQuery`, or :class:`UnsupportedQuery` naming what is not in
    the subset (:data:`ALLOWED`)."""
    stages = _split(text, "|")
    table = stages[0].strip().lower()
    if table not in TABLES:
        raise UnsupportedQuery(f"table {stages[0].strip()!r} is not supported; the sandbox answers {ALLOWED}")
    kind: str | None = None
    filters: list[tuple[str, tuple[str, ...]]] = []
    project: tuple[str, ...] | None = None
    ordered = False
    for stage in stages[1:]:
        if ordered:
            raise UnsupportedQuery(
                f"'{stage}' after 'order by id asc' is not supported; the sandbox answers {ALLOWED}"
            )
        if (match := _TYPE.match(stage)) is not None:
            if kind is not None:
                raise UnsupportedQuery("a second 'where type =~' is not supported")
            kind = match.group(1)
        elif (match := _IN.match(stage)) is not None:
            subject = match.group(1)
            column = PRINCIPAL if subject.startswith("tostring") else subject
            if column not in FILTERABLE:
                raise UnsupportedQuery(
                    f"'where {subject} in~': cannot filter on {subject!r}; the sandbox answers {ALLOWED}"
                )
            filters.append((column, _values(match.group(2), f"where {subject} in~")))
        elif (match := _PROJECT.match(stage)) is not None:
            if project is not None:
                raise UnsupportedQuery("a second 'project' is not supported")
            names = tuple(name.strip() for name in match.group(1).split(","))
            if unknown := [n for n in names if n not in COLUMNS]:
                raise UnsupportedQuery(f"project: column {unknown[0]!r} is not one of {', '.join(COLUMNS)}")
            project = names
        elif _ORDER.match(stage):
            ordered = True
        else:
            raise UnsupportedQuery(f"'{stage}' is not supported; the sandbox answers {ALLOWED}")
    if kind is None:
        raise UnsupportedQuery(f"the query names no type; the sandbox answers {ALLOWED}")
    return GraphQuery(table, kind, tuple(filters), project if project is not None else COLUMNS)


def batches(values: Sequence[str], size: int) -> list[list[str]]:
    """``values`` in order, ``size`` at a time (subscriptions per query, ids per filter)."""
    return [list(values[i : i + size]) for i in range(0, len(values), size)]
