"""A fleet run lets go of each cluster's result and raw exchanges once no evidence still to be given
shows them, so a large fleet's memory does not grow with what it has already written, and every
cluster's evidence still shows the exchanges that read what it rests on, shared ones included.

Against a real sandbox fleet, over both readers, with the run driven as the fleet step drives it:
``result`` for a cluster, then its ``evidence``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.arm import ArmClient
from chsm_checks.checks.evaluate import evaluate
from chsm_checks.fleet.audit import ExchangeCapture, MemberScope
from chsm_checks.fleet.run import FleetRun
from chsm_checks.recording.scrub import Scrubber
from chsm_checks.target import FleetSettings, FleetTarget, FleetTargetFile
from tests.support.processes import Sandbox, sandbox_process

TENANT, CALLER = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
CHECKS = [
    "storage.shared-key-disabled",
    "storage.private-endpoint",
    "storage.container-private",
    "locks.delete-protected",
    "logging.blob-access",
    "access.blob-data-contributor",
    "access.least-privilege",
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("fleet") / "state"
    with sandbox_process(state, "--fleet-clusters", "8", "--fleet-subscriptions", "2") as sandbox:
        yield sandbox


def _run(sandbox: Sandbox, tmp_path: Path, reader: str) -> FleetRun:
    spec = FleetTargetFile(
        name="letting-go",
        arm_endpoint=sandbox.url,
        fleet=FleetSettings(subscriptions="all", concurrency=4, reader=reader),  # type: ignore[arg-type]
    )
    target = FleetTarget(tmp_path / "fleet.toml", spec)

    def client(capture: ExchangeCapture) -> ArmClient:
        return ArmClient(target.cloud, read_only=True, on_exchange=capture.on_exchange)

    return FleetRun(target, client, Scrubber(subscription_id=""))


def _fleet_clusters(run: FleetRun) -> list[MemberScope]:
    return [s for s in run.scopes() if s.cluster.name.startswith("chsm-fleet-")]


def _shown(evidence: dict[str, Any]) -> dict[str, int]:
    """Each resource the evidence shows as read from ARM, with how many exchanges it shows for it."""
    return {read["resource"]: len(read["exchanges"]) for read in evidence["reads"] if read["read"] == "read"}


def _give_all(run: FleetRun, scopes: list[MemberScope], scrubber: Scrubber) -> list[dict[str, Any]]:
    return [run.evidence(run.result(scope, CHECKS, evaluate), scrubber) for scope in scopes]


@pytest.mark.parametrize("reader", ["arm", "resource-graph"])
def test_once_every_clusters_evidence_is_given_nothing_raw_is_kept_and_each_showed_its_reads(
    fleet: Sandbox, tmp_path: Path, reader: str
) -> None:
    run = _run(fleet, tmp_path, reader)
    try:
        scopes = _fleet_clusters(run)
        run.plan({"fleet": scopes})
        scrubber = Scrubber(subscription_id="")
        first = run.evidence(run.result(scopes[0], CHECKS, evaluate), scrubber)
        # The whole batch was judged for the first: the rest's raw exchanges wait for their evidence.
        assert run.cache.exchanges
        evidences = [first, *_give_all(run, scopes[1:], scrubber)]

        assert run.cache.exchanges == {}
        assert run._records == {}
        assert run._futures == {}
        assert run.cache.reads > 0  # the snapshots stay: nothing is read twice
        for evidence in evidences:
            shown = _shown(evidence)
            assert shown, evidence["cluster"]
            assert all(count >= 1 for count in shown.values()), (evidence["cluster"], shown)
        # Some resources rest under more than one cluster (a subscription's locks, a role definition):
        # each of them shows the exchange, not only the first.
        shared = Counter(resource for e in evidences for resource in _shown(e))
        assert [resource for resource, clusters in shared.items() if clusters > 1]
    finally:
        run.close()


def test_a_later_batch_still_shows_the_exchanges_an_earlier_batch_read(
    fleet: Sandbox, tmp_path: Path
) -> None:
    """Under pytest-xdist a worker may judge a second batch after giving the first's evidence; the
    cache answers the resources they share without reading them again, so the exchanges that read
    them must still be there."""
    run = _run(fleet, tmp_path, "arm")
    try:
        scopes = _fleet_clusters(run)
        by_subscription: dict[str, list[MemberScope]] = {}
        for scope in scopes:
            by_subscription.setdefault(scope.member.subscription_id, []).append(scope)
        one = next(iter(by_subscription.values()))
        early, late = one[: len(one) // 2], one[len(one) // 2 :]
        assert early
        assert late
        run.plan({"early": early, "late": late})
        scrubber = Scrubber(subscription_id="")

        early_evidence = _give_all(run, early, scrubber)
        assert run.cache.exchanges  # the late batch is not judged yet: nothing it may show has gone
        late_evidence = _give_all(run, late, scrubber)

        assert run.cache.exchanges == {}
        early_shown = {resource for e in early_evidence for resource in _shown(e)}
        for evidence in late_evidence:
            shown = _shown(evidence)
            assert set(shown) & early_shown, evidence["cluster"]  # a subscription's resources
            assert all(count >= 1 for count in shown.values()), (evidence["cluster"], shown)
    finally:
        run.close()


def test_a_cluster_asked_for_again_after_its_evidence_is_judged_again(fleet: Sandbox, tmp_path: Path) -> None:
    run = _run(fleet, tmp_path, "arm")
    try:
        scopes = _fleet_clusters(run)[:3]
        run.plan({"fleet": scopes})
        scrubber = Scrubber(subscription_id="")
        first = run.result(scopes[0], CHECKS, evaluate)
        run.evidence(first, scrubber)
        again = run.result(scopes[0], CHECKS, evaluate)

        assert again is not first
        assert {check: [f.status for f in found] for check, found in again.findings.items()} == {
            check: [f.status for f in found] for check, found in first.findings.items()
        }
    finally:
        run.close()


def test_a_raw_exchange_keeps_only_the_headers_its_scrubbing_reads() -> None:
    """Kept until its cluster's evidence is written, a raw exchange holds no bearer token and none of
    the headers the scrubber neither keeps nor reads; what it gives back scrubs to the same record,
    and teaches the scrubber the caller's ids ARM names in ``x-ms-operation-identifier``."""
    import httpx

    from chsm_checks.evidence.store import exchange_record
    from chsm_checks.fleet.audit import RawExchange

    request = httpx.Request(
        "GET",
        "http://127.0.0.1:8765/subscriptions/s/providers/Microsoft.Authorization/locks?api-version=2020-05-01",
        headers={"Authorization": "Bearer eyJ0eXAiOiJKV1Qi", "Content-Type": "application/json"},
    )
    response = httpx.Response(
        200,
        headers={
            "x-ms-request-id": "rid",
            "Set-Cookie": "x=1",
            "x-msedge-ref": "Ref A: 1",
            "x-ms-operation-identifier": f"tenantId={TENANT},objectId={CALLER}/uksouth/c0ffee",
        },
        json={"value": []},
        request=request,
    )
    raw = RawExchange.of(request, response, 1)

    assert raw.request_headers == (("content-type", "application/json"),)
    assert set(dict(raw.response_headers)) == {"x-ms-request-id", "content-type", "x-ms-operation-identifier"}
    assert "eyJ0eXAiOiJKV1Qi" not in repr(raw)
    from_raw, from_exchange = Scrubber(subscription_id=""), Scrubber(subscription_id="")
    record = exchange_record(from_raw, *raw.as_httpx())
    assert record == exchange_record(from_exchange, request, response, 1)
    assert "x-ms-operation-identifier" not in record["response"]["headers"]
    assert CALLER not in from_raw.text(f"created by {CALLER} in {TENANT}")
    assert TENANT not in from_raw.text(f"created by {CALLER} in {TENANT}")
