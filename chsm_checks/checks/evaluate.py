"""Each check id, wired to what it reads and to the pure function that judges it.

A resource the check needs that could not be read gives an *error* finding naming it; one that
does not exist gives a *failed* finding; nothing here ever turns "could not read" into a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from ..arm.snapshots import (
    BlobServiceSnapshot,
    ClusterSnapshot,
    ContainerSnapshot,
    StorageAccountSnapshot,
    problem_with,
)
from ..errors import ConfigError
from . import access, audit_trail, clusters, locks, protection, recovery, storage, uris
from .access import HeldRole
from .catalogue import ResourceKind, default_catalogue
from .environment import ACTIVITY_LOOKBACK, Environment, Unresolved
from .model import Finding, error, failed
from .observed import Observed

T = TypeVar("T")
Evaluator = Callable[[Environment], list[Finding]]


class _Unusable(Exception):
    """A needed resource is missing or unreadable: the finding that says so ends the check."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding


def malformed(
    check: str, kind: ResourceKind, resource_id: str, problems: Mapping[str, str]
) -> Finding | None:
    """The error finding for the first field ``check`` judges on this resource that ARM did not send
    as ARM means it (a body without ``properties``, a property of the wrong JSON type), if any."""
    for field_path in default_catalogue()[check].judges.get(kind, ()):
        if (problem := problem_with(problems, field_path)) is not None:
            name = resource_id.rstrip("/").rsplit("/", 1)[-1]
            return error(
                check,
                resource_id,
                f"{kind.replace('_', ' ')} {name}: {field_path}: {problem}; the check cannot judge it",
            )
    return None


def _need(check: str, observed: Observed[T], what: str, kind: ResourceKind) -> T:
    name = observed.resource_id.rsplit("/", 1)[-1]
    if observed.problem is not None:
        raise _Unusable(
            error(check, observed.resource_id, f"could not read {what} {name}: {observed.problem}")
        )
    if observed.missing or observed.value is None:
        raise _Unusable(failed(check, observed.resource_id, f"{what} {name} does not exist"))
    problems = getattr(observed.value, "problems", {})
    if problems and (finding := malformed(check, kind, observed.resource_id, problems)) is not None:
        raise _Unusable(finding)
    return observed.value


def _well_formed(check: str, observed: Observed[T], kind: ResourceKind) -> Observed[T]:
    """``observed`` for a check that judges absence itself; a malformed body still ends the check."""
    problems = getattr(observed.value, "problems", {}) if observed.value is not None else {}
    if problems and (finding := malformed(check, kind, observed.resource_id, problems)) is not None:
        raise _Unusable(finding)
    return observed


def _clusters(env: Environment, check: str) -> Iterator[ClusterSnapshot]:
    """The source and the destination (once, if the target named one cluster twice)."""
    seen: set[str] = set()
    for role in ("source", "destination"):
        observed = env.cluster(role)
        if observed.resource_id.lower() not in seen:
            seen.add(observed.resource_id.lower())
            yield _need(check, observed, f"{role} cluster", "cluster")


def _identities(env: Environment, check: str) -> dict[str, tuple[str, list[str]]]:
    """Identities the clusters use, deduplicated case-insensitively: id → (id as named, cluster names)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for cluster in _clusters(env, check):
        for ident in cluster.identities:
            found.setdefault(ident.resource_id.lower(), (ident.resource_id, []))[1].append(cluster.name)
    return found


def _per_cluster(check: str, judge: Callable[[ClusterSnapshot], Finding]) -> Evaluator:
    return lambda env: [judge(cluster) for cluster in _clusters(env, check)]


def _one_cluster(check: str, role: str, judge: Callable[[ClusterSnapshot], Finding]) -> Evaluator:
    return lambda env: [judge(_need(check, env.cluster(role), f"{role} cluster", "cluster"))]


def _account(check: str, judge: Callable[[StorageAccountSnapshot, Environment], Finding]) -> Evaluator:
    return lambda env: [judge(_need(check, env.storage_account(), "storage account", "storage_account"), env)]


def _container(check: str, judge: Callable[[ContainerSnapshot, Environment], Finding]) -> Evaluator:
    return lambda env: [judge(_need(check, env.container(), "container", "container"), env)]


def _blob_service(check: str, judge: Callable[[BlobServiceSnapshot, Environment], Finding]) -> Evaluator:
    return lambda env: [judge(_need(check, env.blob_service(), "blob service", "blob_service"), env)]


IdentityJudge = Callable[[str, list[HeldRole], Environment], Finding]
_WHOLE = (("scope", "properties.scope"), ("principal_id", "properties.principalId"))


def _held_roles(check: str, env: Environment, identity_id: str, principal_id: str) -> list[HeldRole]:
    """The identity's role assignments at, above and below the account, each with its role
    definition. An assignment that cannot be read whole, or a role that cannot be read, ends the
    check as an error: an assignment left out could be the one that grants too much."""
    name = identity_id.rstrip("/").rsplit("/", 1)[-1]
    listed = env.role_assignments(principal_id)
    if listed.problem is not None or listed.value is None:
        why = listed.problem or "the list is missing"
        raise _Unusable(error(check, identity_id, f"could not read the role assignments of {name}: {why}"))
    held = []
    for n, assignment in enumerate(listed.value, 1):
        label = assignment.id or f"role assignment {n} of the list"
        if (found := malformed(check, "role_assignments", label, assignment.problems)) is not None:
            raise _Unusable(found)
        absent = [where for attribute, where in _WHOLE if not getattr(assignment, attribute)]
        if not assignment.role_definition_id:
            absent.append("properties.roleDefinitionId")
        if absent:
            raise _Unusable(
                error(
                    check,
                    identity_id,
                    f"identity {name}: {label} cannot be read whole ({', '.join(absent)} absent); "
                    "the check cannot judge what it grants",
                )
            )
        if (assignment.principal_id or "").lower() != principal_id.lower():
            continue  # the list is filtered by principal; another principal's entry is not ours
        role = _need(
            check, env.role_definition(assignment.role_definition_id), "role definition", "role_definitions"
        )
        held.append(HeldRole(assignment, role))
    return held


def _per_identity(check: str, judge: IdentityJudge) -> Evaluator:
    """For each identity the clusters use: resolve its principal, read its roles, judge."""

    def run(env: Environment) -> list[Finding]:
        findings = []
        for identity_id, _ in _identities(env, check).values():
            try:
                identity = _need(check, env.identity(identity_id), "identity", "identity")
                if not identity.principal_id:
                    raise _Unusable(error(check, identity_id, f"identity {identity.name} names no principal"))
                held = _held_roles(check, env, identity_id, identity.principal_id)
                findings.append(judge(identity_id, held, env))
            except _Unusable as exc:
                findings.append(exc.finding)
        return findings or [failed(check, env.scope.source_id, "the clusters name no user-assigned identity")]

    return run


def _identity_resolvable(env: Environment) -> list[Finding]:
    check = "identity.resolvable"
    found = _identities(env, check)
    if not found:
        return [failed(check, env.scope.source_id, "the clusters name no user-assigned identity")]
    return [
        clusters.identity_resolvable(_well_formed(check, env.identity(rid), "identity"), users)
        for rid, users in found.values()
    ]


def _private_cluster(env: Environment) -> list[Finding]:
    """Each cluster, with every private endpoint it names read (the Network side of each connection)."""
    check = "clusters.private"
    findings = []
    for cluster in _clusters(env, check):
        endpoints = {
            c.private_endpoint_id: _well_formed(
                check, env.endpoint(c.private_endpoint_id), "private_endpoint"
            )
            for c in cluster.private_endpoint_connections
            if c.private_endpoint_id and c.status == "Approved"
        }
        findings.append(clusters.private(cluster, endpoints))
    return findings


def _listed(
    check: str, observed: Observed[list[T]], resource_id: str, label: str, kind: ResourceKind
) -> list[T]:
    """A list read whole, each entry well formed; else the error that ends ``check`` for this resource."""
    if observed.problem is not None or observed.value is None:
        why = observed.problem or "the list is missing"
        raise _Unusable(error(check, resource_id, f"could not read {label}: {why}"))
    for item in observed.value:
        name = getattr(item, "id", "") or getattr(item, "name", "") or f"an entry of {label}"
        if (bad := malformed(check, kind, name, getattr(item, "problems", {}))) is not None:
            raise _Unusable(error(check, resource_id, f"{label}: {bad.message}"))
    return observed.value


def _logs_of(
    check: str, env: Environment, what: str, resource_id: str, required: tuple[str, ...], audit_group: bool
) -> Finding:
    """One resource's logs judged: its categories and its diagnostic settings, each read whole."""
    try:
        categories = _listed(
            check,
            env.diagnostic_categories(resource_id),
            resource_id,
            f"the log categories of {what}",
            "diagnostic_categories",
        )
        settings = _listed(
            check,
            env.diagnostic_settings(resource_id),
            resource_id,
            f"the diagnostic settings of {what}",
            "diagnostic_settings",
        )
    except _Unusable as exc:
        return exc.finding
    return audit_trail.logs_kept(check, what, resource_id, categories, settings, required, audit_group)


def _cluster_audit(env: Environment) -> list[Finding]:
    check = "logging.cluster-audit"
    return [
        _logs_of(check, env, f"cluster {c.name}", c.id, audit_trail.CLUSTER_AUDIT_CATEGORIES, True)
        for c in _clusters(env, check)
    ]


def _blob_access(env: Environment) -> list[Finding]:
    service = f"{env.scope.storage_account_id}/blobServices/default"
    account = env.scope.storage_account_id.rstrip("/").rsplit("/", 1)[-1]
    what = f"blob service default of storage account {account}"
    return [_logs_of("logging.blob-access", env, what, service, audit_trail.BLOB_ACCESS_CATEGORIES, False)]


def _recovery_point(env: Environment) -> list[Finding]:
    """The source's latest successful backup, from the activity log, against the target's RPO."""
    check = "backup.rpo"
    source = _need(check, env.cluster("source"), "source cluster", "cluster")
    events = _listed(
        check,
        env.activity(source.id),
        source.id,
        f"the activity log of cluster {source.name}",
        "activity_log",
    )
    rpo = env.scope.protection.rpo_hours
    return [
        recovery.recovery_point(
            source.name, source.id, events, env.arm.as_of, rpo, ACTIVITY_LOOKBACK, source.activation_state
        )
    ]


def _delete_protected(env: Environment) -> list[Finding]:
    """The backup account and each cluster, each against the locks of its subscription."""
    check = "locks.delete-protected"
    findings = []
    named: list[tuple[str, str]] = []
    try:
        named.append(("storage account", env.scope.storage_account_id))
    except Unresolved as exc:
        findings.append(error(check, exc.resource_id, str(exc)))
    for cluster_id in dict.fromkeys((env.scope.source_id, env.scope.destination_id), None):
        if all(cluster_id.lower() != rid.lower() for _, rid in named):
            named.append(("cluster", cluster_id))
    for what, resource_id in named:
        subscription = resource_id.strip("/").split("/")[1]
        over = f"{what} {resource_id.rstrip('/').rsplit('/', 1)[-1]}"
        label = f"the management locks of subscription {subscription} over {over}"
        try:
            listed = _listed(check, env.locks(subscription), resource_id, label, "locks")
        except _Unusable as exc:
            findings.append(exc.finding)
            continue
        findings.append(locks.delete_protected(what, resource_id, listed))
    return findings


def _distinct(env: Environment) -> list[Finding]:
    check = "clusters.distinct"
    observed = {
        role: _need(check, env.cluster(role), f"{role} cluster", "cluster").id
        for role in ("source", "destination")
    }
    return [clusters.distinct(env.scope.source_id, env.scope.destination_id, observed)]


EVALUATORS: dict[str, Evaluator] = {
    "identity.single-user-assigned": _per_cluster(
        "identity.single-user-assigned", clusters.single_user_assigned
    ),
    "identity.resolvable": _identity_resolvable,
    "clusters.provisioned": _per_cluster("clusters.provisioned", clusters.provisioned),
    "clusters.sku": _per_cluster("clusters.sku", clusters.sku),
    "clusters.source-active": _one_cluster("clusters.source-active", "source", clusters.source_active),
    "clusters.destination-not-activated": _one_cluster(
        "clusters.destination-not-activated", "destination", clusters.destination_not_activated
    ),
    "clusters.distinct": _distinct,
    "clusters.private": _private_cluster,
    "locks.delete-protected": _delete_protected,
    "backup.rpo": _recovery_point,
    "logging.cluster-audit": _cluster_audit,
    "logging.blob-access": _blob_access,
    "storage.shared-key-disabled": _account(
        "storage.shared-key-disabled", lambda account, env: storage.shared_key_disabled(account)
    ),
    "storage.private-endpoint": _account(
        "storage.private-endpoint",
        lambda account, env: storage.private_endpoint(
            account,
            _well_formed("storage.private-endpoint", env.private_endpoint(), "private_endpoint"),
            env.scope.virtual_network_id,
        ),
    ),
    "storage.public-network": _account(
        "storage.public-network",
        lambda account, env: storage.public_network(account, env.scope.virtual_network_id),
    ),
    "storage.https-only": _account("storage.https-only", lambda account, env: storage.https_only(account)),
    "storage.minimum-tls": _account("storage.minimum-tls", lambda account, env: storage.minimum_tls(account)),
    "storage.blob-anonymous-access": _account(
        "storage.blob-anonymous-access", lambda account, env: storage.blob_anonymous_access(account)
    ),
    "storage.cross-tenant-replication": _account(
        "storage.cross-tenant-replication", lambda account, env: storage.cross_tenant_replication(account)
    ),
    "storage.container-private": _container(
        "storage.container-private", lambda container, env: storage.container_private(container)
    ),
    "storage.blob-soft-delete": _blob_service(
        "storage.blob-soft-delete",
        lambda service, env: protection.blob_soft_delete(service, env.scope.protection.min_soft_delete_days),
    ),
    "storage.container-soft-delete": _blob_service(
        "storage.container-soft-delete", lambda service, env: protection.container_soft_delete(service)
    ),
    "storage.versioning": _blob_service(
        "storage.versioning", lambda service, env: protection.versioning(service)
    ),
    "storage.immutability": _container(
        "storage.immutability",
        lambda container, env: protection.immutability(container, env.scope.protection.require_immutability),
    ),
    "storage.geo-redundant": _account(
        "storage.geo-redundant",
        lambda account, env: protection.geo_redundant(account, env.scope.protection.require_alternate_site),
    ),
    "access.blob-data-contributor": _per_identity(
        "access.blob-data-contributor",
        lambda iid, held, env: access.holds_blob_data_contributor(
            iid, held, env.scope.storage_account_id, env.scope.container_id
        ),
    ),
    "access.least-privilege": _per_identity(
        "access.least-privilege",
        lambda iid, held, env: access.least_privilege(
            iid, held, env.scope.storage_account_id, env.scope.container_id
        ),
    ),
    "requests.no-sas": _account(
        "requests.no-sas",
        lambda account, env: uris.container_uri_is_plain(
            env.scope.container_uri, account.name, account.blob_endpoint, account.id
        ),
    ),
}


def evaluate(check_id: str, env: Environment) -> list[Finding]:
    """Every finding of one check against the environment."""
    evaluator = EVALUATORS.get(check_id)
    if evaluator is None:
        raise ConfigError(f"unknown check {check_id!r}; known: {', '.join(sorted(EVALUATORS))}")
    try:
        return evaluator(env)
    except _Unusable as exc:
        return [exc.finding]
    except Unresolved as exc:
        return [error(check_id, exc.resource_id, str(exc))]
