"""A run's fleet: discovered once, judged in batches over one read-only client and one cache.

Under pytest-xdist the controller discovers and hands the clusters to every worker
(:meth:`FleetRun.payload`), so the listing is read once; each worker judges the batches it is
given. ``chsm-checks run -n`` groups the clusters by backup storage account, so clusters sharing an
account land on one worker and the account is still read once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from itertools import zip_longest
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..arm.client import ArmClient
from ..checks.environment import Unresolved
from ..checks.observed import Observed
from ..errors import CouldNotEvaluate
from ..evidence.store import exchange_record
from ..recording.scrub import Scrubber
from ..target import FleetTarget
from .audit import (
    ExchangeCapture,
    FleetAudit,
    Judge,
    MemberResult,
    MemberScope,
    RawExchange,
    RecordingCache,
    member_ids,
    resolve,
)
from .discovery import FleetMember
from .graph_log import GraphLog
from .graph_reader import Held
from .progress import Counts, Discovery, WorkerProgress

if TYPE_CHECKING:
    from ..checks.model import Finding

SCRUBBED_KEPT = 2048  # scrubbed exchanges kept for the next cluster that shows them
SERIAL_BATCH = "fleet"


@dataclass(frozen=True)
class FleetUnavailable:
    """What a fleet test gets when discovery gave no cluster: the reason, reported as an error."""

    reason: str


def batch_of(scope: MemberScope, workers: int) -> str:
    """The batch a cluster is judged in: one for a serial run; under ``workers`` xdist workers, one of
    ``workers`` batches, chosen by the backup storage account so clusters sharing it go together."""
    if workers <= 1:
        return SERIAL_BATCH
    try:
        key = scope.storage_account_id.lower()
    except Unresolved:
        key = scope.source_id.lower()
    return f"fleet-{int(hashlib.sha256(key.encode()).hexdigest(), 16) % workers}"


class FleetRun:
    """Discovery, batches and results of one process's part of a fleet audit."""

    def __init__(
        self,
        target: FleetTarget,
        client_factory: Callable[[ExchangeCapture], ArmClient],
        scrubber: Scrubber | None = None,
        report_dir: Path | None = None,
        process: str = "main",
    ) -> None:
        self.target = target
        self._scrubber = scrubber
        self._listed_by: str | None = None
        self._report_dir = report_dir  # where the Resource Graph queries are kept as evidence
        self._process = process  # "main", or the pytest-xdist worker: names the queries it keeps
        self.capture = ExchangeCapture()
        self.cache = RecordingCache(self.capture)
        self._client_factory = client_factory
        self._audit: FleetAudit | None = None
        self._scopes: list[MemberScope] | None = None
        self._by_test_id: dict[str, MemberScope] | None = None
        self._batches: dict[str, list[MemberScope]] = {}
        self._batch_of: dict[str, str] = {}
        self._futures: dict[str, Future[MemberResult]] = {}  # judged, its evidence not yet given
        self._submitted: set[str] = set()  # every cluster sent to be judged
        self._planned_judged = 0  # how many of them the plan names
        self._readers: dict[str, int] = {}  # resource key -> clusters whose evidence will show it
        self._shows: dict[str, set[str]] = {}  # cluster -> the resource keys its evidence will show
        self._unneeded: list[str] = []  # resource keys no evidence still to be given shows
        self._pool: ThreadPoolExecutor | None = None
        self._started = self._last_done = 0.0
        self._final: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._lock_counts = threading.Lock()
        self._judged = 0  # clusters whose judging ended, counted as each ends
        self._final_counts: Counts | None = None
        self.graph_held: dict[str, Held] = {}  # ids (lower case) whose snapshot Resource Graph gave
        self._records: OrderedDict[int, dict[str, Any] | None] = OrderedDict()  # by id() of the raw one
        self.planned: int | None = None  # the clusters this process's selected tests cover
        self.discovery: Discovery | None = None  # how the listing goes; None until it starts
        self.worker_progress: WorkerProgress | None = None  # under pytest-xdist: counts for the controller

    @property
    def audit(self) -> FleetAudit:
        """The audit over this process's one read-only client (made on first use)."""
        if self._audit is None:
            client = self._client_factory(self.capture)
            scrubber = self._scrubber if self._scrubber is not None else Scrubber(subscription_id="")
            graph = GraphLog(client, self.capture, scrubber, self._report_dir, process=self._process)
            self._audit = FleetAudit(client, self.target, self.cache, graph)
        return self._audit

    def close(self) -> None:
        """Stop the readers, close the client, and let go of what was read (its evidence is written):
        the reports are built next, in the same process, and a large fleet's snapshots would stay."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._audit is not None:
            self._audit.client.close()
        self._final = self.summary()
        self._final_counts = self.counts()
        self.cache = RecordingCache(self.capture)
        self._records.clear()
        self._audit = None
        self._futures.clear()
        self._readers.clear()
        self._shows.clear()
        self._unneeded.clear()

    # -- discovery ----------------------------------------------------------------------------

    def scopes(self) -> list[MemberScope]:
        """Every cluster the target covers (discovered on first use)."""
        if self._scopes is None:
            wanted = self.target.fleet.subscriptions
            self.discovery = Discovery(
                None if wanted == "all" else len(wanted),
                time.monotonic(),
                graph=self.target.fleet.reader == "resource-graph",
            )
            try:
                self._scopes = self.audit.discover(_Listening(self))
            except BaseException:
                self.discovery = None  # the error scenario says why; the progress says no more
                raise
            self.discovery = replace(self.discovery, finished=time.monotonic())
            if not self._scopes:
                where = self.target.fleet.subscriptions
                raise CouldNotEvaluate(
                    f"{self.target.path}: fleet: no Cloud HSM cluster found in subscriptions {where} "
                    "with the resource groups and tags the target names"
                )
        return self._scopes

    def by_test_id(self) -> dict[str, MemberScope]:
        """The clusters by their test ids (``member_ids``), in discovery order."""
        if self._by_test_id is None:
            scopes = self.scopes()
            self._by_test_id = dict(zip(member_ids(scopes), scopes, strict=True))
        return self._by_test_id

    def payload(self) -> dict[str, Any]:
        """The discovered clusters as plain data, for xdist workers, with where the Resource Graph
        query that listed them is kept."""
        clusters = [[s.member.subscription_id, dict(s.member.arm)] for s in self.scopes()]
        return {"clusters": clusters, "listed_by": self.listed_by}

    @property
    def listed_by(self) -> str | None:
        """Where the Resource Graph query that listed the fleet is kept (``None``: listed by ARM, or
        not kept)."""
        if self._listed_by is None and self._audit is not None:
            self._listed_by = self._audit.listed_by
        return self._listed_by

    def adopt(self, payload: dict[str, Any]) -> None:
        """Take the clusters the controller discovered instead of listing them again."""
        suffix = self.target.cloud.storage_suffix
        self._listed_by = payload.get("listed_by")
        members = [FleetMember.from_arm(str(sub), item) for sub, item in payload["clusters"]]
        protection = self.target.spec.protection
        self._scopes = [resolve(m, self.target.fleet.backup, suffix, protection) for m in members]
        for scope in self._scopes:  # the listing is each cluster's snapshot, as in discovery
            self.cache.put(scope.source_id, Observed.found(scope.source_id, scope.cluster))

    # -- judging ------------------------------------------------------------------------------

    def plan(self, scopes_by_batch: dict[str, list[MemberScope]]) -> None:
        """The batches this process will judge: the clusters of the tests it selected."""
        self._batches = scopes_by_batch
        self.planned = sum(len(scopes) for scopes in scopes_by_batch.values())
        self._batch_of = {s.source_id.lower(): b for b, scopes in scopes_by_batch.items() for s in scopes}

    def result(self, scope: MemberScope, checks: Sequence[str], judge: Judge) -> MemberResult:
        """``scope``'s result. The first time one is asked for, its whole batch is judged by
        ``concurrency`` readers while this waits: reading is I/O-bound and pytest's per-test work is
        CPU-bound, and run side by side they contend for the interpreter and both slow down (a
        1,000-cluster audit read in 9.6 s alone took 15 to 18 s beside the tests)."""
        key = scope.source_id.lower()
        with self._lock:
            if key not in self._futures:
                batch = self._batches.get(self._batch_of.get(key, ""), [scope])
                pending = [s for s in batch if s.source_id.lower() not in self._submitted]
                if key in self._submitted:  # asked again after its evidence was given: judged again alone
                    pending = [scope]
                self.graph_held.update(self.audit.prefetch(pending or [scope]))
                futures = self._submit(_across_subscriptions(pending or [scope]), checks, judge)
                wait(futures)
                for done in futures:
                    if not done.cancelled() and done.exception() is None:
                        shown = self._shows[done.result().scope.source_id.lower()] = self._shown(
                            done.result()
                        )
                        for resource in shown:
                            self._readers[resource] = self._readers.get(resource, 0) + 1
                if self.worker_progress is not None:
                    self.worker_progress.update(self.counts(), force=True)
            future = self._futures[key]
        return future.result()

    def _exchange_keys(self, resource_id: str) -> tuple[str, ...]:
        """The cache keys of the exchanges a read of ``resource_id`` shows: its own, and the ARM reads
        a snapshot Resource Graph gave also rests on."""
        held = self.graph_held.get(resource_id.lower())
        return tuple(key.lower() for key in (resource_id, *(held.also_read if held is not None else ())))

    def _shown(self, result: MemberResult) -> set[str]:
        """The resource keys whose exchanges ``result``'s evidence shows (:meth:`evidence`)."""
        return {key for resource_id in result.read for key in self._exchange_keys(resource_id)}

    def _given_evidence(self, result: MemberResult) -> None:
        """Let go of what ``result``'s evidence was the last to need: the cluster's result and, once
        no cluster still to be judged here can show them, the raw exchanges no evidence still to be
        given shows (with their scrubbed records). The snapshots stay: a resource is read once.

        Only once every planned cluster has been judged: a batch judged later may rest on a resource
        an earlier batch read (the cache answers it without reading), and its evidence shows the
        exchanges that read it then."""
        key = result.scope.source_id.lower()
        with self._lock:
            if self._futures.pop(key, None) is None:
                return  # judged outside the plan, or given already
            for resource in self._shows.pop(key, ()):
                left = self._readers.get(resource, 1) - 1
                if left > 0:
                    self._readers[resource] = left
                    continue
                self._readers.pop(resource, None)
                self._unneeded.append(resource)
            if self.planned is None or self._planned_judged < self.planned:
                return
            for resource in self._unneeded:
                if resource in self._readers:  # a batch judged since shows it too
                    continue
                for raw in self.cache.exchanges.pop(resource, ()):
                    self._records.pop(id(raw), None)
            self._unneeded.clear()

    def _submit(
        self, scopes: Sequence[MemberScope], checks: Sequence[str], judge: Judge
    ) -> list[Future[MemberResult]]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.target.fleet.concurrency, thread_name_prefix="chsm-fleet")
            self._started = time.monotonic()
        audit = self.audit
        futures = []
        for scope in scopes:
            future = self._pool.submit(audit.judge, scope, checks, judge)
            future.add_done_callback(self._finished)
            key = scope.source_id.lower()
            self._futures[key] = future
            if key not in self._submitted:
                self._submitted.add(key)
                self._planned_judged += key in self._batch_of
            futures.append(future)
        return futures

    def _finished(self, future: Future[MemberResult]) -> None:
        if future.cancelled():  # a run stopped part way: this cluster was never judged
            return
        self._last_done = time.monotonic()
        with self._lock_counts:
            self._judged += 1
        if self.worker_progress is not None:
            self.worker_progress.update(self.counts())

    def counts(self) -> Counts:
        """What judging has done so far in this process (safe to ask from any thread)."""
        if self._final_counts is not None:
            return self._final_counts
        audit = self._audit
        pacer = audit.client.pacer if audit is not None else None
        return Counts(self._judged, self.cache.reads, pacer.held() if pacer is not None else 0)

    def summary(self) -> dict[str, Any]:
        """What the audit did in this process, for summary.json: clusters, requests, reads, time."""
        if self._final is not None:
            return self._final
        audit = self._audit
        pacer = audit.client.pacer if audit is not None else None
        graph = audit.graph if audit is not None else None
        reader = self.target.fleet.reader
        return {
            "reader": reader,
            "clusters_discovered": len(self._scopes or ()),
            "clusters_judged": self._judged,
            "arm_requests": len(audit.client.exchanges) if audit is not None else 0,
            "resources_read": self.cache.reads,
            "concurrency": self.target.fleet.concurrency,
            "throttled": dict(pacer.holds) if pacer is not None else {},
            "judging_seconds": round(self._last_done - self._started, 3) if self._started else None,
            **(
                {"resource_graph": graph.account() if isinstance(graph, GraphLog) else GraphLog.nothing()}
                if reader == "resource-graph"
                else {}
            ),
        }

    def _how_read(self, scope: MemberScope, resource_id: str) -> str:
        if resource_id.lower() == scope.source_id.lower():
            return "resource-graph" if self.target.fleet.reader == "resource-graph" else "listed"
        return "resource-graph" if resource_id.lower() in self.graph_held else "read"

    def _scrubbed(self, raw: RawExchange, scrubber: Scrubber) -> dict[str, Any] | None:
        """An exchange as evidence, scrubbed once however many clusters' reads it served (a
        subscription's locks, a role definition): the run's scrubber gives it the same placeholders
        each time. The latest few thousand are kept, so the shared ones stay and memory does not
        grow with the fleet."""
        key = id(raw)  # the raw exchange stays in the cache while evidence may show it, and leaves
        # this LRU when it leaves the cache (``_given_evidence``), so an id is never another's
        if key in self._records:
            self._records.move_to_end(key)
            return self._records[key]
        record = self._records[key] = exchange_record(scrubber, *raw.as_httpx())
        if len(self._records) > SCRUBBED_KEPT:
            self._records.popitem(last=False)
        return record

    def evidence(self, result: MemberResult, scrubber: Scrubber) -> dict[str, Any]:
        """A cluster's evidence: where its backup resources came from, the cluster as listed, and
        each resource its checks read with the exchanges that read it (scrubbed as cassettes are;
        a resource another cluster read first shows that same exchange). Given once per cluster:
        what only it still needed is let go afterwards."""
        reads: list[dict[str, Any]] = []
        for resource_id in result.read:
            observed = self.cache.peek(resource_id)
            if (principal := getattr(observed and observed.value, "principal_id", None)) is not None:
                scrubber.learn_id("principalId", principal)  # a role-assignment list's key names it
            held = self.graph_held.get(resource_id.lower())
            exchanges = [
                exchange
                for key in self._exchange_keys(resource_id)
                for exchange in self.cache.exchanges.get(key, [])
            ]
            reads.append(
                {
                    "resource": resource_id,
                    "read": self._how_read(result.scope, resource_id),
                    **({"query": held.query} if held is not None and held.query else {}),
                    "status": _status(observed),
                    **({"problem": observed.problem} if observed is not None and observed.problem else {}),
                    "exchanges": [record for raw in exchanges if (record := self._scrubbed(raw, scrubber))],
                }
            )
        for read in reads:  # every exchange has taught the scrubber its ids: now the names quoting them
            read["resource"] = scrubber.identities(read["resource"])
            if "problem" in read:
                read["problem"] = scrubber.identities(read["problem"])
        listed_by = self.listed_by
        evidence = {
            **result.scope.to_json(),
            "listed_as": scrubber.json_body(dict(result.scope.member.arm)),
            **({"listed_by": listed_by} if listed_by else {}),
            "reads": reads,
        }
        self._given_evidence(result)
        return evidence


def merged_summary(controller: dict[str, Any], workers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The fleet audit's account for summary.json: under pytest-xdist the controller discovered and
    each worker judged its batches, so their requests, reads and holds add up, and judging took as
    long as the slowest worker. A serial run is its one process's account."""
    if not workers:
        return {**controller, "workers": 1}
    throttled: dict[str, int] = dict(controller["throttled"])
    for worker in workers:
        for subscription, holds in worker["throttled"].items():
            throttled[subscription] = throttled.get(subscription, 0) + holds
    seconds = [w["judging_seconds"] for w in workers if w["judging_seconds"] is not None]
    graph: dict[str, Any] = {}
    if "resource_graph" in controller:  # the controller's discovery and the workers' queries
        parts = [controller["resource_graph"], *(w["resource_graph"] for w in workers)]
        summed = {key: sum(part[key] for part in parts) for key in parts[0]}
        summed["quota_waited_seconds"] = round(summed["quota_waited_seconds"], 3)
        graph = {"resource_graph": summed}
    return {
        "reader": controller["reader"],
        "clusters_discovered": controller["clusters_discovered"],
        "clusters_judged": sum(w["clusters_judged"] for w in workers),
        "arm_requests": controller["arm_requests"] + sum(w["arm_requests"] for w in workers),
        "resources_read": controller["resources_read"] + sum(w["resources_read"] for w in workers),
        "concurrency": controller["concurrency"],
        "workers": len(workers),
        "throttled": throttled,
        "judging_seconds": max(seconds) if seconds else None,
        **graph,
    }


class _Listening:
    """Keeps a fleet run's ``discovery`` up to date as the listing goes."""

    def __init__(self, run: FleetRun) -> None:
        self._run = run
        self._listed = 0

    def subscriptions_known(self, count: int) -> None:
        if self._run.discovery is not None:
            self._run.discovery = replace(self._run.discovery, subscriptions=count)

    def subscription_listed(self, found_so_far: int) -> None:
        self._listed += 1
        if self._run.discovery is not None:
            self._run.discovery = replace(self._run.discovery, listed=self._listed, found=found_so_far)

    def page_answered(self, rows: int) -> None:
        if (discovery := self._run.discovery) is not None:
            self._run.discovery = replace(discovery, pages=discovery.pages + 1, found=discovery.found + rows)


def _across_subscriptions(scopes: Sequence[MemberScope]) -> list[MemberScope]:
    """``scopes`` taking each subscription in turn: ARM's read budget is per subscription, and
    reading one subscription after another would spend one budget at a time while the rest idle."""
    queues: dict[str, list[MemberScope]] = {}
    for scope in scopes:
        queues.setdefault(scope.member.subscription_id.lower(), []).append(scope)
    return [scope for turn in zip_longest(*queues.values()) for scope in turn if scope is not None]


def _status(observed: Observed[Any] | None) -> str:
    if observed is None:
        return "not read"
    if observed.problem is not None:
        return "could not read"
    return "does not exist" if observed.missing else "found"


def judged_findings(result: MemberResult) -> list[Finding]:
    """Every finding of a cluster's checks, in the order the checks were listed."""
    return [finding for findings in result.findings.values() for finding in findings]
