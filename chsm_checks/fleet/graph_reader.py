"""A fleet read through Azure Resource Graph (``[fleet] reader = "resource-graph"``, the default).

Discovery is one paged query of ``resources`` for Cloud HSM clusters over the target's
subscriptions (a thousand to a query), filtered by resource group in the query and by tag as the
ARM reader filters. Before a batch of clusters is judged, the snapshots Resource Graph holds for it
(storage accounts, private endpoints, user-assigned identities) come from one query of each type
over the subscriptions those resources live in, and the role assignments of its identities from one
query of ``authorizationresources`` (with what each subscription inherits from above it read from
ARM); all go into the run's snapshot cache, where the checks find them. A resource an answer does
not hold is read from ARM as before, so a resource Resource Graph has not indexed yet is never
judged absent on its word; a query that fails leaves its resources to ARM too. What Resource Graph
does not hold at all (blob services, containers, role definitions, diagnostic settings, locks, the
activity log) is read from ARM through the run's pacer.

A Resource Graph row is the resource's ARM body with ``type`` in lower case and a few columns of
its own; the snapshots read the same fields from either, so the checks judge the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from ..arm.client import ArmClient
from ..arm.errors import ArmError
from ..arm.graph_query import PRINCIPAL, GraphQuery, batches
from ..arm.resources import list_role_assignments_at_and_above
from ..arm.snapshots import (
    ClusterSnapshot,
    IdentitySnapshot,
    PrivateEndpointSnapshot,
    RoleAssignment,
    StorageAccountSnapshot,
    id_segment,
)
from ..checks.environment import SnapshotCache, Unresolved, role_assignments_key
from ..checks.observed import Observed
from .discovery import FleetMember

CLUSTER_TYPE = "microsoft.hardwaresecuritymodules/cloudhsmclusters"
_GRAPH_ONLY = ("tenantId", "resourceGroup", "subscriptionId")  # columns ARM's body does not have


def arm_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """A Resource Graph row as the ARM body it was indexed from: its own columns and the empty
    ones (ARM leaves a field out rather than send null) left out."""
    return {key: value for key, value in row.items() if key not in _GRAPH_ONLY and value is not None}


@dataclass
class Answer:
    """A query's rows, and where in the reports the query and its pages are kept (``None``: not kept,
    the run writes no reports)."""

    rows: list[dict[str, Any]]
    kept_as: str | None = None


class Asks(Protocol):
    """How the reader sends a query (:class:`.graph_log.GraphLog`: within the quota, kept as evidence)."""

    def ask(
        self, query: GraphQuery, subscriptions: Sequence[str], on_page: Callable[[int], None] | None = None
    ) -> Answer: ...


@dataclass(frozen=True)
class Held:
    """Where a snapshot Resource Graph gave came from: the query kept as evidence (``None`` when the
    run keeps no reports), and the ARM reads its value also rests on."""

    query: str | None
    also_read: tuple[str, ...] = ()


def discover(
    graph: Asks,
    subscriptions: Sequence[str],
    *,
    resource_groups: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> tuple[list[FleetMember], str | None]:
    """Every Cloud HSM cluster in ``subscriptions``, filtered as :func:`.discovery.discover` filters,
    and where the query that listed them is kept."""
    groups = tuple(resource_groups)
    query = GraphQuery("resources", CLUSTER_TYPE, (("resourceGroup", groups),) if groups else ())
    answer = graph.ask(query, subscriptions, on_page)
    members = []
    for row in answer.rows:
        member = FleetMember.from_arm(str(row.get("subscriptionId", "")), arm_body(row))
        if tags and any(member.tags.get(k) != v for k, v in tags.items()):
            continue
        members.append(member)
    return members, answer.kept_as


_HELD: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...] = (
    ("microsoft.storage/storageaccounts", StorageAccountSnapshot.from_arm),
    ("microsoft.network/privateendpoints", PrivateEndpointSnapshot.from_arm),
    ("microsoft.managedidentity/userassignedidentities", IdentitySnapshot.from_arm),
)


class Scope(Protocol):
    """What the reader needs of a cluster's scope (:class:`.audit.MemberScope`)."""

    @property
    def cluster(self) -> ClusterSnapshot: ...

    @property
    def storage_account_id(self) -> str: ...

    @property
    def private_endpoint_id(self) -> str: ...


def held_ids(scope: Scope) -> dict[str, set[str]]:
    """The ids, by Resource Graph type, of the resources a cluster's checks read that Resource
    Graph holds (those its scope cannot resolve are left to the checks, which report them)."""
    wanted: dict[str, set[str]] = {kind: set() for kind, _ in _HELD}
    for kind, field in (
        ("microsoft.storage/storageaccounts", "storage_account_id"),
        ("microsoft.network/privateendpoints", "private_endpoint_id"),
    ):
        try:
            wanted[kind].add(getattr(scope, field).lower())
        except Unresolved:
            continue
    for connection in scope.cluster.private_endpoint_connections:  # the cluster's own endpoints
        if connection.private_endpoint_id:
            wanted["microsoft.network/privateendpoints"].add(connection.private_endpoint_id.lower())
    for identity in scope.cluster.identities:
        wanted["microsoft.managedidentity/userassignedidentities"].add(identity.resource_id.lower())
    return wanted


ROLE_ASSIGNMENT_TYPE = "microsoft.authorization/roleassignments"
PRINCIPALS_PER_QUERY = 200
"""Principals one role-assignment query names: its text stays far below Resource Graph's limits."""


def prefetch(
    graph: Asks,
    client: ArmClient,
    scopes: Sequence[Scope],
    cache: SnapshotCache,
) -> dict[str, Held]:
    """Put into ``cache`` the snapshots Resource Graph holds for ``scopes``' checks; the ids put,
    with where each came from. A query that fails puts nothing: its resources are read from ARM."""
    wanted: dict[str, set[str]] = {kind: set() for kind, _ in _HELD}
    for scope in scopes:
        for kind, ids in held_ids(scope).items():
            wanted[kind] |= {i for i in ids if cache.peek(i) is None}
    put: dict[str, Held] = {}
    for kind, snapshot in _HELD:
        ids = wanted[kind]
        if not ids:
            continue
        answer = _answer(graph, client, GraphQuery("resources", kind), _subscriptions_of(ids))
        if answer is None:
            continue  # these resources are read from ARM
        for row in answer.rows:
            resource_id = str(row.get("id", ""))
            if resource_id.lower() in ids:
                cache.put(resource_id, Observed.found(resource_id, snapshot(arm_body(row))))
                put[resource_id.lower()] = Held(answer.kept_as)
    put.update(_role_assignments(graph, client, scopes, cache))
    return put


def _answer(graph: Asks, client: ArmClient, query: GraphQuery, subscriptions: Sequence[str]) -> Answer | None:
    try:
        return graph.ask(query, subscriptions)
    except ArmError as exc:
        client.event(f"Resource Graph query of {query.type} failed; its resources are read from ARM: {exc}")
        return None


def _subscriptions_of(ids: Iterable[str]) -> list[str]:
    return sorted({id_segment(i, "subscriptions") for i in ids} - {""})


def _role_assignments(
    graph: Asks, client: ArmClient, scopes: Sequence[Scope], cache: SnapshotCache
) -> dict[str, Held]:
    """The lists of assignments to each cluster's identities at, above and below its storage account.

    ``authorizationresources`` holds the assignments in the subscriptions it is asked about, at them
    and below; an assignment inherited from a management group or the tenant root is not in that
    answer. Those come from one ARM read of each subscription's assignments at and above it
    (``$filter=atScope()``), so a list is put only when both halves were read: an assignment left out
    could be the one that grants too much. A list that cannot be made whole is left to the check's
    own ARM read.
    """
    pairs: set[tuple[str, str]] = set()  # (storage account id, principal id)
    for scope in scopes:
        try:
            account = scope.storage_account_id
        except Unresolved:
            continue
        for identity in scope.cluster.identities:
            observed = cache.peek(identity.resource_id)
            principal = getattr(observed.value, "principal_id", None) if observed is not None else None
            if principal and cache.peek(role_assignments_key(account, principal)) is None:
                pairs.add((account, principal))
    if not pairs:
        return {}
    subscriptions = _subscriptions_of(account for account, _ in pairs)
    above = {
        subscription.lower(): cache.get_or_read(
            inherited_key(subscription),
            partial(list_role_assignments_at_and_above, client, f"/subscriptions/{subscription}"),
        )
        for subscription in subscriptions
    }
    principals = sorted({principal for _, principal in pairs})
    held: dict[str, list[RoleAssignment]] = {}
    kept_as: dict[str, str | None] = {}
    for batch in batches(principals, PRINCIPALS_PER_QUERY):
        query = GraphQuery("authorizationresources", ROLE_ASSIGNMENT_TYPE, ((PRINCIPAL, tuple(batch)),))
        if (answer := _answer(graph, client, query, subscriptions)) is None:
            continue  # these principals' lists are left to the checks' own reads
        for principal in batch:
            held[principal.lower()], kept_as[principal.lower()] = [], answer.kept_as
        for row in answer.rows:
            assignment = RoleAssignment.from_arm(arm_body(row))
            if (assignment.principal_id or "").lower() in held:
                held[(assignment.principal_id or "").lower()].append(assignment)
    put: dict[str, Held] = {}
    for account, principal in sorted(pairs):
        subscription = id_segment(account, "subscriptions").lower()
        inherited = above.get(subscription)
        if inherited is None or inherited.value is None or inherited.problem is not None:
            continue
        if principal.lower() not in held:
            continue
        key = role_assignments_key(account, principal)
        listed = [a for a in held[principal.lower()] if _touches(a, account)]
        listed += [
            a
            for a in inherited.value
            if (a.principal_id or "").lower() == principal.lower() and _above_subscriptions(a)
        ]
        cache.put(key, Observed.found(key, listed))
        put[key.lower()] = Held(kept_as[principal.lower()], (inherited_key(subscription),))
    return put


def inherited_key(subscription: str) -> str:
    """Where the cache keeps a subscription's assignments at and above it (everyone's)."""
    return f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleAssignments?atScope"


_ASSIGNMENT_INFIX = "/providers/microsoft.authorization/roleassignments/"


def _scope_of(assignment: RoleAssignment) -> str:
    """The scope an assignment's id names, as ARM's list at a scope reads it (the tenant root: "")."""
    resource_id = assignment.id.lower()
    at = resource_id.rfind(_ASSIGNMENT_INFIX)
    return resource_id[:at].rstrip("/") if at >= 0 else (assignment.scope or "").rstrip("/").lower()


def _touches(assignment: RoleAssignment, resource_id: str) -> bool:
    """Whether an assignment is at, above or below ``resource_id``, as ARM's list at it answers."""
    scope, resource = _scope_of(assignment), resource_id.rstrip("/").lower()
    return scope == resource or resource.startswith(scope + "/") or scope.startswith(resource + "/")


def _above_subscriptions(assignment: RoleAssignment) -> bool:
    """Whether an assignment is on a management group or the tenant root, above every subscription."""
    return not _scope_of(assignment).startswith("/subscriptions/")
