"""Fleet discovery against a real sandbox fleet: subscriptions, paging, filters, the tag convention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chsm_checks.arm import ArmClient
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.fleet.discovery import CONVENTION_TAGS, discover, list_subscriptions
from tests.support.processes import Sandbox, sandbox_process

CLUSTERS, SUBSCRIPTIONS = 12, 3


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("fleet") / "state"
    args = (
        "--fleet-clusters",
        str(CLUSTERS),
        "--fleet-subscriptions",
        str(SUBSCRIPTIONS),
        "--fleet-misconfigured",
        "0.25",
    )
    with sandbox_process(state, *args) as sandbox:
        yield sandbox


def _client(sandbox: Sandbox) -> ArmClient:
    return ArmClient(sandbox_cloud(sandbox.url))


def test_every_subscription_and_every_cluster_is_found(fleet: Sandbox) -> None:
    truth = fleet.get("/_sandbox/fleet")
    with _client(fleet) as client:
        subscriptions = list_subscriptions(client)
        members = discover(client, subscriptions)

    assert set(truth["subscriptions"]) <= set(subscriptions)
    fleet_members = [m for m in members if m.cluster.name.startswith("chsm-fleet-")]
    assert len(fleet_members) == CLUSTERS
    assert {m.cluster.id for m in fleet_members} == set(truth["clusters"])
    assert len({m.subscription_id for m in fleet_members}) == SUBSCRIPTIONS
    for member in fleet_members:
        assert member.problems == ()
        assert member.storage_account_id is not None
        assert member.storage_account_id.endswith(member.cluster.name.replace("chsm-fleet-", "chsmfleet"))
    # The seeded world's clusters carry no convention tags: discovered, with what they lack said.
    seeded = [m for m in members if not m.cluster.name.startswith("chsm-fleet-")]
    assert seeded
    assert all(len(m.problems) == len(CONVENTION_TAGS) for m in seeded)


def test_filters_by_resource_group_and_tag(fleet: Sandbox) -> None:
    with _client(fleet) as client:
        subscriptions = list_subscriptions(client)
        in_group = discover(client, subscriptions, resource_groups=["RG-FLEET-01"])
        none = discover(client, subscriptions, tags={"chsm-backup-container": "elsewhere"})

    assert in_group
    assert {m.resource_group.lower() for m in in_group} == {"rg-fleet-01"}
    assert none == []


def test_discovery_follows_next_links_in_every_subscription() -> None:
    import httpx

    from chsm_checks.arm.clock import VirtualClock

    base = "http://127.0.0.1:8765"
    clusters = "providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"

    def cluster(sub: str, n: int) -> dict[str, object]:
        rid = f"/subscriptions/{sub}/resourceGroups/rg-{n}/{clusters}/chsm-{sub}-{n}"
        return {"id": rid, "name": f"chsm-{sub}-{n}", "tags": {}}

    def handler(request: httpx.Request) -> httpx.Response:
        path, page = request.url.path, request.url.params.get("$skiptoken")
        if path == "/subscriptions":
            if page is None:
                return httpx.Response(
                    200,
                    json={
                        "value": [{"subscriptionId": "a"}],
                        "nextLink": f"{base}/subscriptions?api-version=2022-12-01&$skiptoken=2",
                    },
                )
            return httpx.Response(
                200, json={"value": [{"subscriptionId": "b"}, {"subscriptionId": "c", "state": "Disabled"}]}
            )
        sub = path.split("/")[2]
        if page is None:
            return httpx.Response(
                200,
                json={
                    "value": [cluster(sub, 1)],
                    "nextLink": f"{base}{path}?api-version=2025-03-31&$skiptoken=2",
                },
            )
        return httpx.Response(200, json={"value": [cluster(sub, 2)]})

    with ArmClient(
        sandbox_cloud(base), transport=httpx.MockTransport(handler), clock=VirtualClock()
    ) as client:
        subscriptions = list_subscriptions(client)
        members = discover(client, subscriptions)

    assert subscriptions == ["a", "b"]
    assert [m.cluster.name for m in members] == ["chsm-a-1", "chsm-a-2", "chsm-b-1", "chsm-b-2"]
    assert [m.resource_group for m in members] == ["rg-1", "rg-2", "rg-1", "rg-2"]


def test_a_throttled_fleet_is_judged_whole_each_resource_read_once(tmp_path: Path) -> None:
    from chsm_checks.arm.clock import RealClock
    from chsm_checks.arm.pacing import SubscriptionPacer
    from chsm_checks.checks.environment import SnapshotCache
    from chsm_checks.checks.evaluate import evaluate
    from chsm_checks.fleet.audit import FleetAudit
    from chsm_checks.target import FleetSettings, FleetTarget, FleetTargetFile

    args = ("--fleet-clusters", "12", "--fleet-subscriptions", "3", "--latency-ms", "20")
    args += ("--read-budget", "3", "--read-refill", "6")
    with sandbox_process(tmp_path / "state", *args) as sandbox:
        spec = FleetTargetFile(
            name="throttled",
            arm_endpoint=sandbox.url,
            fleet=FleetSettings(subscriptions="all", tags={}, concurrency=8),
        )
        target = FleetTarget(tmp_path / "fleet.toml", spec)
        pacer = SubscriptionPacer(RealClock())
        with ArmClient(target.cloud, pacer=pacer, read_only=True) as client:
            audit = FleetAudit(client, target, SnapshotCache())
            scopes = [s for s in audit.discover() if s.cluster.name.startswith("chsm-fleet-")]
            checks = ["storage.shared-key-disabled", "storage.minimum-tls"]
            results = audit.judge_all(scopes, checks, evaluate)
        log = sandbox.requests()

    assert len(results) == 12
    findings = [f for r in results.values() for found in r.findings.values() for f in found]
    assert len(findings) == 24
    assert all(f.status.value == "passed" for f in findings), [f.message for f in findings]
    served = [r for r in log if "/storageAccounts/" in r["path"] and r["status"] == 200]
    assert len(served) == 12  # each account answered once, though two checks asked for each
    assert any(r["status"] == 429 for r in log)  # the budget bit...
    assert sum(pacer.holds.values()) >= 1  # ...and the readers of that subscription waited it out
