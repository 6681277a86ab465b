"""A fleet audit: discover every cluster, find what each backs up to, judge the read-only checks.

- **Discovery** lists the clusters of every subscription the target names (or every one the
  identity can list), all pages, then filters by resource group and tags. The listing is each
  cluster's snapshot: clusters are not read again.
- **Resolution** finds each cluster's storage account, container, private endpoint and virtual
  network: a ``[[fleet.backup]]`` mapping in the target file first, else the cluster's tags
  (:mod:`.discovery`). What neither names makes the checks that need it report an *error*.
- **Judging** runs each cluster's checks on a bounded pool of readers over one run-scoped
  ``SnapshotCache``: every ARM resource is read at most once per run, however many clusters share
  it, and the client's ``SubscriptionPacer`` holds a throttled subscription for every reader.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from ..arm.client import ArmClient
from ..arm.snapshots import ClusterSnapshot
from ..checks.environment import Environment, SnapshotCache, Unresolved
from ..checks.model import Finding
from ..checks.observed import Observed
from ..container_uri import blob_endpoint, judge_container_uri
from ..recording.scrub import READ_RESPONSE_HEADERS, REQUEST_HEADERS
from ..target import DEFAULT_PROTECTION, FleetBackupMapping, FleetTarget, ProtectionSettings
from .discovery import (
    TAG_CONTAINER,
    TAG_PRIVATE_ENDPOINT,
    TAG_STORAGE_ACCOUNT,
    TAG_VIRTUAL_NETWORK,
    FleetMember,
    discover,
    list_subscriptions,
)
from .graph_reader import Asks, Held
from .graph_reader import discover as graph_discover
from .graph_reader import prefetch as graph_prefetch

Judge = Callable[[str, Environment], list[Finding]]


class DiscoveryListener(Protocol):
    """Hears how a fleet's listing goes, for the progress a person watches."""

    def subscriptions_known(self, count: int) -> None: ...

    def subscription_listed(self, found_so_far: int) -> None: ...

    def page_answered(self, rows: int) -> None: ...


@dataclass(frozen=True)
class RawExchange:
    """One exchange as sent and received, kept small until a cluster's evidence scrubs it: of its
    headers only those the scrubber reads (``REQUEST_HEADERS``, ``READ_RESPONSE_HEADERS``: what it
    keeps, and the one it learns ids from), so no bearer token waits in memory and a fleet's
    thousands of exchanges cost about what their evidence shows."""

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes
    attempt: int

    @classmethod
    def of(cls, request: httpx.Request, response: httpx.Response, attempt: int) -> RawExchange:
        return cls(
            request.method,
            str(request.url),
            _kept(request.headers, REQUEST_HEADERS),
            request.content,
            response.status_code,
            _kept(response.headers, READ_RESPONSE_HEADERS),
            response.content,
            attempt,
        )

    def as_httpx(self) -> tuple[httpx.Request, httpx.Response, int]:
        request = httpx.Request(
            self.method, self.url, headers=self.request_headers, content=self.request_body
        )
        response = httpx.Response(
            self.status, headers=self.response_headers, content=self.response_body, request=request
        )
        return request, response, self.attempt


def _kept(headers: httpx.Headers, allowed: frozenset[str]) -> tuple[tuple[str, str], ...]:
    return tuple((key, value) for key, value in headers.multi_items() if key.lower() in allowed)


_FIELDS = (  # scope field, its tag, what a person calls it
    ("storage_account", TAG_STORAGE_ACCOUNT, "backup storage account"),
    ("container", TAG_CONTAINER, "backup container"),
    ("private_endpoint", TAG_PRIVATE_ENDPOINT, "blob private endpoint"),
    ("virtual_network", TAG_VIRTUAL_NETWORK, "virtual network"),
)


@dataclass(frozen=True)
class MemberScope:
    """One discovered cluster and the backup resources it uses: what its checks are about.

    ``resolved`` maps each field to ``(value, where it came from)``; a field missing from it raises
    ``Unresolved`` when a check asks for it.
    """

    member: FleetMember
    storage_suffix: str
    resolved: Mapping[str, tuple[str, str]]
    protection: ProtectionSettings = DEFAULT_PROTECTION

    @property
    def cluster(self) -> ClusterSnapshot:
        return self.member.cluster

    @property
    def source_id(self) -> str:
        return self.member.cluster.id

    @property
    def destination_id(self) -> str:
        return self.member.cluster.id

    def _value(self, name: str) -> str:
        if name in self.resolved:
            return self.resolved[name][0]
        tag, what = next((tag, what) for field_, tag, what in _FIELDS if field_ == name)
        raise Unresolved(
            self.source_id,
            f"cannot tell which {what} cluster {self.cluster.name} uses: it has no {tag!r} tag "
            "and no [[fleet.backup]] mapping of the target file matches it",
        )

    @property
    def storage_account_id(self) -> str:
        return self._value("storage_account")

    def _container(self) -> tuple[str, str]:
        """The container's name and the URI a backup would send, both judged as the guard judges it:
        a tag or mapping it refuses leaves the container unresolved, and the message repeats nothing
        of the value (a query or userinfo in it may hold a secret)."""
        account_id, container = self.storage_account_id, self._value("container")
        account = account_id.rstrip("/").rsplit("/", 1)[-1]
        try:
            endpoint = blob_endpoint(account, self.storage_suffix)
        except ValueError as exc:
            raise Unresolved(
                self.source_id,
                f"cannot use the backup storage account of cluster {self.cluster.name} "
                f"({self.resolved['storage_account'][1]}): its name is {exc}",
            ) from None
        uri = f"{endpoint}{container}"
        judgement = judge_container_uri(uri, endpoint)
        if not judgement.ok:
            raise Unresolved(
                self.source_id,
                f"cannot use the backup container of cluster {self.cluster.name} "
                f"({self.resolved['container'][1]}): as a container URI it fails: "
                + "; ".join(judgement.sentences()),
            )
        return container, uri

    @property
    def container_id(self) -> str:
        return f"{self.storage_account_id}/blobServices/default/containers/{self._container()[0]}"

    @property
    def private_endpoint_id(self) -> str:
        return self._value("private_endpoint")

    @property
    def virtual_network_id(self) -> str:
        return self._value("virtual_network")

    @property
    def container_uri(self) -> str:
        return self._container()[1]

    def to_json(self) -> dict[str, Any]:
        """The cluster and where each of its backup resources came from, as evidence; a container
        the judgement refuses is named by its reason, not its value."""
        resources: dict[str, dict[str, str | None]] = {
            name: {"value": value, "from": origin} for name, (value, origin) in self.resolved.items()
        }
        if "container" in self.resolved and "storage_account" in self.resolved:
            try:
                self._container()
            except Unresolved as exc:
                resources["container"] = {
                    "value": None,
                    "from": self.resolved["container"][1],
                    "refused": str(exc),
                }
        return {
            "cluster": self.source_id,
            "subscription": self.member.subscription_id,
            "resource_group": self.member.resource_group,
            "backup_resources": resources,
            "unresolved": [name for name, _, _ in _FIELDS if name not in self.resolved],
        }


def _matches(mapping: FleetBackupMapping, cluster: ClusterSnapshot) -> bool:
    pattern = mapping.clusters.lower()
    return fnmatch.fnmatchcase(cluster.name.lower(), pattern) or fnmatch.fnmatchcase(
        cluster.id.lower(), pattern
    )


def resolve(
    member: FleetMember,
    mappings: Sequence[FleetBackupMapping],
    storage_suffix: str,
    protection: ProtectionSettings = DEFAULT_PROTECTION,
) -> MemberScope:
    """``member``'s backup resources: the first matching mapping that sets a field, else the tag."""
    resolved: dict[str, tuple[str, str]] = {}
    for name, tag, _ in _FIELDS:
        for number, mapping in enumerate(mappings, start=1):
            value = getattr(mapping, name)
            if value is not None and _matches(mapping, member.cluster):
                resolved[name] = (value, f"fleet.backup[{number}]")
                break
        else:
            if member.tags.get(tag):
                resolved[name] = (member.tags[tag], f"tag {tag}")
    return MemberScope(member, storage_suffix, resolved, protection)


def member_ids(scopes: Sequence[MemberScope]) -> list[str]:
    """Test ids for the clusters: ``<resource group>/<cluster>``, with the subscription added to any
    that would otherwise be ambiguous."""
    short = [f"{s.member.resource_group}/{s.cluster.name}" for s in scopes]
    seen: dict[str, int] = {}
    for name in short:
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
    return [
        f"{s.member.subscription_id}/{name}" if seen[name.lower()] > 1 else name
        for s, name in zip(scopes, short, strict=True)
    ]


class ExchangeCapture:
    """The raw exchanges each thread makes while it reads one resource, kept per resource.

    Kept raw (scrubbing costs time); evidence scrubs the exchanges of the clusters it writes.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def on_exchange(self, request: httpx.Request, response: httpx.Response, attempt: int) -> None:
        records: list[RawExchange] | None = getattr(self._local, "records", None)
        if records is not None:
            records.append(RawExchange.of(request, response, attempt))

    @contextmanager
    def reading(self) -> Iterator[list[RawExchange]]:
        records: list[RawExchange] = []
        self._local.records = records
        try:
            yield records
        finally:
            self._local.records = None


class RecordingCache(SnapshotCache):
    """A run's snapshot cache that also keeps the exchanges that read each resource."""

    def __init__(self, capture: ExchangeCapture) -> None:
        super().__init__()
        self._capture = capture
        self.exchanges: dict[str, list[RawExchange]] = {}

    def _observe(self, resource_id: str, fetch: Callable[[], Any]) -> Observed[Any]:
        with self._capture.reading() as records:
            observed = super()._observe(resource_id, fetch)
        self.exchanges[resource_id.lower()] = records
        return observed


@dataclass
class MemberResult:
    """What a cluster's checks found, and which resources they read."""

    scope: MemberScope
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    read: list[str] = field(default_factory=list)


class _TrackingEnvironment(Environment):
    """An environment that remembers which resources its checks read, for the cluster's evidence."""

    def __init__(self, arm: ArmClient, scope: MemberScope, shared: SnapshotCache) -> None:
        super().__init__(arm, scope, shared)
        self.read: list[str] = []

    def _read(self, resource_id: str, fetch: Callable[[], Any]) -> Observed[Any]:
        if resource_id not in self.read:
            self.read.append(resource_id)
        return super()._read(resource_id, fetch)


class FleetAudit:
    """One run's audit of a fleet: discovery, resolution and concurrent judging over one cache."""

    def __init__(
        self, client: ArmClient, target: FleetTarget, cache: SnapshotCache, graph: Asks | None = None
    ) -> None:
        self.client = client
        self.target = target
        self.cache = cache
        self.graph = graph  # the run's Resource Graph queries, with the reader "resource-graph"
        self.listed_by: str | None = None  # where the Resource Graph query that listed the fleet is kept

    def subscriptions(self) -> list[str]:
        wanted = self.target.fleet.subscriptions
        return list_subscriptions(self.client) if wanted == "all" else list(wanted)

    def discover(self, listener: DiscoveryListener | None = None) -> list[MemberScope]:
        """Every cluster the target covers, in a stable order, each with its backup resources;
        ``listener`` hears how the listing goes."""
        fleet = self.target.fleet
        subscriptions = self.subscriptions()
        if listener is not None:
            listener.subscriptions_known(len(subscriptions))
        if self._graph is not None:
            members, self.listed_by = graph_discover(
                self._graph,
                subscriptions,
                resource_groups=fleet.resource_groups,
                tags=fleet.tags,
                on_page=listener.page_answered if listener is not None else None,
            )
        else:
            members = discover(
                self.client,
                subscriptions,
                resource_groups=fleet.resource_groups,
                tags=fleet.tags,
                on_listed=listener.subscription_listed if listener is not None else None,
            )
        members.sort(key=lambda m: m.cluster.id.lower())
        for member in members:  # the listing is the cluster's snapshot: it is not read again
            self.cache.put(member.cluster.id, Observed.found(member.cluster.id, member.cluster))
        suffix = self.target.cloud.storage_suffix
        protection = self.target.spec.protection
        return [resolve(member, fleet.backup, suffix, protection) for member in members]

    @property
    def _graph(self) -> Asks | None:
        return self.graph if self.target.fleet.reader == "resource-graph" else None

    def prefetch(self, scopes: Sequence[MemberScope]) -> dict[str, Held]:
        """With the Resource Graph reader, put what it holds for ``scopes`` into the cache first;
        the ids it put, with where each came from (none with the ARM reader)."""
        if self._graph is None:
            return {}
        return graph_prefetch(self._graph, self.client, scopes, self.cache)

    def judge(self, scope: MemberScope, checks: Sequence[str], judge: Judge) -> MemberResult:
        """Every check of ``checks`` against one cluster."""
        env = _TrackingEnvironment(self.client, scope, self.cache)
        result = MemberResult(scope)
        for check in checks:
            result.findings[check] = judge(check, env)
        result.read = env.read
        return result

    def judge_all(
        self, scopes: Sequence[MemberScope], checks: Sequence[str], judge: Judge
    ) -> dict[str, MemberResult]:
        """Every cluster's checks, ``fleet.concurrency`` clusters at a time; keyed by cluster id."""
        with ThreadPoolExecutor(
            max_workers=self.target.fleet.concurrency, thread_name_prefix="chsm-fleet"
        ) as pool:
            futures = [pool.submit(self.judge, scope, checks, judge) for scope in scopes]
            results = [future.result() for future in futures]
        return {result.scope.source_id.lower(): result for result in results}
