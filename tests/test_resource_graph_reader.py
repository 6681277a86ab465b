"""Resource Graph queries over the run's ARM client: pages by ``$skipToken``, batches of
subscriptions, the caller's quota waited out on the client's clock, a 429 retried when the window
resets, a malformed answer an error, and a read-only client that may query (a POST that reads)
but may send no other POST.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from chsm_checks.arm.client import ArmClient, RequestRefused
from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.errors import ArmError
from chsm_checks.arm.graph_query import QUERY_PATH, GraphQuery
from chsm_checks.arm.resource_graph import GraphQuota, query_rows
from chsm_checks.arm.snapshots import ClusterSnapshot
from chsm_checks.checks.environment import SnapshotCache, role_assignments_key
from chsm_checks.fleet.audit import ExchangeCapture
from chsm_checks.fleet.graph_log import GraphLog
from chsm_checks.fleet.graph_reader import Held, inherited_key, prefetch
from chsm_checks.recording.scrub import Scrubber
from tests.arm_fakes import ScriptedTransport, body_of, make_client, reply
from tests.support.processes import sandbox_process

CLUSTERS = GraphQuery("resources", "microsoft.hardwaresecuritymodules/cloudhsmclusters", project=("id",))


def page(ids: list[str], token: str | None = None, **headers: str) -> Any:
    body: dict[str, Any] = {
        "totalRecords": 99,
        "count": len(ids),
        "resultTruncated": "false",
        "data": [{"id": i} for i in ids],
        "facets": [],
    }
    if token is not None:
        body["$skipToken"] = token
    return reply(200, json=body, headers=headers)


def test_every_page_is_read_by_its_skip_token_with_the_same_query_and_subscriptions() -> None:
    transport = ScriptedTransport().script("POST", QUERY_PATH, page(["/a", "/b"], "t1"), page(["/c"]))
    client = make_client(transport)

    rows = list(query_rows(client, CLUSTERS, ["s-1", "s-2"], page_rows=2))

    assert [r["id"] for r in rows] == ["/a", "/b", "/c"]
    first, second = (body_of(r) for r in transport.requests)
    assert first == {
        "subscriptions": ["s-1", "s-2"],
        "query": CLUSTERS.text(),
        "options": {"$top": 2, "resultFormat": "objectArray"},
    }
    assert second == first | {"options": {"$top": 2, "$skipToken": "t1", "resultFormat": "objectArray"}}
    assert all(r.url.params["api-version"] == "2024-04-01" for r in transport.requests)


def test_subscriptions_go_a_thousand_to_a_query() -> None:
    subscriptions = [f"s-{i}" for i in range(2500)]
    transport = ScriptedTransport().script("POST", QUERY_PATH, page(["/a"]), page(["/b"]), page(["/c"]))

    rows = list(query_rows(make_client(transport), CLUSTERS, subscriptions))

    assert [r["id"] for r in rows] == ["/a", "/b", "/c"]
    assert [len(body_of(r)["subscriptions"]) for r in transport.requests] == [1000, 1000, 500]
    assert [s for r in transport.requests for s in body_of(r)["subscriptions"]] == subscriptions


def test_a_spent_quota_is_waited_out_before_the_next_query_not_refused() -> None:
    spent = {"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "00:00:04"}
    transport = ScriptedTransport().script("POST", QUERY_PATH, page(["/a"], "t1", **spent), page(["/b"]))
    clock = VirtualClock()
    quota = GraphQuota()

    rows = list(query_rows(make_client(transport, clock), CLUSTERS, ["s-1"], quota=quota))

    assert [r["id"] for r in rows] == ["/a", "/b"]
    assert clock.now() == pytest.approx(4.0)
    assert (quota.waits, quota.waited_seconds) == (1, pytest.approx(4.0))


def test_quota_left_means_no_wait() -> None:
    left = {"x-ms-user-quota-remaining": "3", "x-ms-user-quota-resets-after": "00:00:04"}
    transport = ScriptedTransport().script("POST", QUERY_PATH, page(["/a"], "t1", **left), page(["/b"]))
    clock = VirtualClock()

    list(query_rows(make_client(transport, clock), CLUSTERS, ["s-1"]))

    assert clock.now() == 0.0


def test_a_429_is_sent_again_when_the_window_resets() -> None:
    refused = reply(
        429,
        json={"error": {"code": "RateLimiting", "message": "throttled"}},
        headers={"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "00:00:03"},
    )
    transport = ScriptedTransport().script("POST", QUERY_PATH, refused, page(["/a"]))
    clock = VirtualClock()

    rows = list(query_rows(make_client(transport, clock), CLUSTERS, ["s-1"]))

    assert [r["id"] for r in rows] == ["/a"]
    assert clock.now() == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"count": 0}, "no 'data' array"),
        ({"data": [1, 2]}, "no 'data' array"),
        ({"data": [], "$skipToken": 7}, "'$skipToken' that is not a string"),
        ({"data": [], "resultTruncated": "true"}, "truncated and gives no '$skipToken'"),
        ([], "not a JSON object"),
    ],
)
def test_a_malformed_answer_is_an_error_naming_what_is_wrong(body: Any, named: str) -> None:
    transport = ScriptedTransport().script("POST", QUERY_PATH, reply(200, json=body))

    with pytest.raises(ArmError, match="MalformedQueryResponse") as raised:
        list(query_rows(make_client(transport), CLUSTERS, ["s-1"]))

    assert named in str(raised.value)


def test_a_read_only_client_may_query_resource_graph_and_send_no_other_post() -> None:
    transport = ScriptedTransport().script("POST", QUERY_PATH, page(["/a"]))
    client = make_client(transport, read_only=True)

    assert [r["id"] for r in query_rows(client, CLUSTERS, ["s-1"])] == ["/a"]
    with pytest.raises(RequestRefused, match="read-only"):
        client.send("POST", QUERY_PATH + "/extra")
    with pytest.raises(RequestRefused, match="read-only"):
        client.send("POST", "/subscriptions/s-1/providers/Microsoft.ResourceGraph/resources")


def test_against_the_sandbox_a_tight_quota_paces_the_pages_and_nothing_is_refused(tmp_path: Any) -> None:
    args = (
        "--fleet-clusters",
        "30",
        "--fleet-subscriptions",
        "3",
        "--graph-quota",
        "2",
        "--graph-window",
        "1",
    )
    with sandbox_process(tmp_path / "state", *args) as sandbox:
        client = ArmClient(sandbox_cloud(sandbox.url), read_only=True)
        subscriptions = [
            s["subscriptionId"] for s in sandbox.get("/subscriptions?api-version=2022-12-01")["value"]
        ]
        quota = GraphQuota()
        rows = list(query_rows(client, CLUSTERS, subscriptions, quota=quota, page_rows=5))
        graph_requests = [r for r in sandbox.requests() if r["path"].lower() == QUERY_PATH.lower()]

    assert len(rows) == len({r["id"] for r in rows}) == 32
    assert len(graph_requests) == 7  # 32 rows, 5 a page
    assert [r["status"] for r in graph_requests] == [200] * 7
    assert quota.waits >= 2


# --- the fleet reader's role assignments: authorizationresources, and what is inherited from above ---

SUB = "00000000-0000-0000-0000-00000000000a"
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/acct"
OTHER_ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/other"
IDENTITY = f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai"
PRINCIPAL = "00000000-0000-0000-0000-0000000000b1"
MANAGEMENT_GROUP = "/providers/Microsoft.Management/managementGroups/mg-platform"


def _assignment(scope: str, name: str, role: str, principal: str = PRINCIPAL) -> dict[str, Any]:
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "name": name,
        "type": "microsoft.authorization/roleassignments",
        "properties": {
            "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{role}",
            "principalId": principal,
            "principalType": "ServicePrincipal",
            "scope": scope,
        },
    }


@dataclass(frozen=True)
class _Scope:
    cluster: ClusterSnapshot
    storage_account_id: str = ACCOUNT
    private_endpoint_id: str = f"{GROUP}/providers/Microsoft.Network/privateEndpoints/pe"


def _scope() -> _Scope:
    cluster = ClusterSnapshot.from_arm(
        {
            "id": f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters/c1",
            "name": "c1",
            "identity": {
                "type": "UserAssigned",
                "userAssignedIdentities": {IDENTITY: {"principalId": PRINCIPAL}},
            },
            "properties": {},
        }
    )
    return _Scope(cluster)


def _rows(*rows: dict[str, Any]) -> Any:
    body = {"totalRecords": len(rows), "count": len(rows), "resultTruncated": "false", "data": list(rows)}
    return reply(200, json=body | {"facets": []})


def _graph(transport: ScriptedTransport, above: Any) -> ScriptedTransport:
    """Resource Graph answers, in the order the reader asks: accounts, endpoints, identities, then
    role assignments; ``above`` answers the subscription's assignments at and above it."""
    identity = {"id": IDENTITY, "name": "uai", "type": "x", "properties": {"principalId": PRINCIPAL}}
    transport.script(
        "POST",
        QUERY_PATH,
        _rows({"id": ACCOUNT, "name": "acct", "properties": {}}),
        _rows(),
        _rows(identity),
        _rows(
            _assignment(ACCOUNT, "on-account", "contributor-guid"),
            _assignment(OTHER_ACCOUNT, "on-another-account", "reader-guid"),
            _assignment(f"/subscriptions/{SUB}", "on-subscription", "reader-guid"),
            _assignment(f"{ACCOUNT}/blobServices/default/containers/c", "below-account", "reader-guid"),
        ),
    )
    transport.script("GET", f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments", above)
    return transport


def _log(transport: ScriptedTransport, report_dir: Any = None, process: str = "main") -> GraphLog:
    """A process's Resource Graph over a client on ``transport``, its queries kept under ``report_dir``."""
    capture = ExchangeCapture()
    client = make_client(transport, on_exchange=capture.on_exchange)
    return GraphLog(client, capture, Scrubber(subscription_id=""), report_dir, process=process)


def _prefetched(transport: ScriptedTransport, cache: SnapshotCache) -> dict[str, Held]:
    log = _log(transport)
    return prefetch(log, log.client, [_scope()], cache)


def test_role_assignments_are_the_graphs_in_the_subscription_and_arms_from_above_it() -> None:
    above = reply(
        200,
        json={
            "value": [
                _assignment(f"/subscriptions/{SUB}", "on-subscription", "reader-guid"),  # in both answers
                _assignment(MANAGEMENT_GROUP, "inherited-owner", "owner-guid"),
                _assignment(MANAGEMENT_GROUP, "someone-else", "owner-guid", principal="someone"),
                _assignment("", "tenant-root", "reader-guid"),
            ]
        },
    )
    transport = _graph(ScriptedTransport(), above)
    cache = SnapshotCache()

    put = _prefetched(transport, cache)

    key = role_assignments_key(ACCOUNT, PRINCIPAL)
    observed = cache.peek(key)
    assert observed is not None
    assert observed.problem is None
    names = [a.id.rsplit("/", 1)[-1] for a in observed.value]
    # At, above and below the account, as ARM's list at the account answers: the management
    # group's Owner, which Resource Graph's subscription answer cannot hold, is there; another
    # account's assignment and another principal's are not; the subscription's is there once.
    assert names == ["on-account", "on-subscription", "below-account", "inherited-owner", "tenant-root"]
    assert put[key.lower()] == Held(None, (inherited_key(SUB),))
    roles_query = body_of([r for r in transport.requests if r.method == "POST"][3])
    assert roles_query["query"].startswith("authorizationresources")
    assert f"tostring(properties.principalId) in~ ('{PRINCIPAL}')" in roles_query["query"]
    (read,) = [r for r in transport.requests if r.method == "GET"]
    assert read.url.params["$filter"] == "atScope()"


def test_when_what_is_inherited_cannot_be_read_the_list_is_left_to_the_checks_own_read() -> None:
    refused = reply(403, json={"error": {"code": "AuthorizationFailed", "message": "no"}})
    transport = _graph(ScriptedTransport(), refused)
    cache = SnapshotCache()

    put = _prefetched(transport, cache)

    key = role_assignments_key(ACCOUNT, PRINCIPAL)
    assert cache.peek(key) is None  # an assignment left out could be the one that grants too much
    assert key.lower() not in put
    assert IDENTITY.lower() in put
    assert ACCOUNT.lower() in put


def test_a_query_is_kept_with_its_pages_never_over_a_file_another_process_kept(tmp_path: Any) -> None:
    transport = ScriptedTransport().script("POST", QUERY_PATH, page(["/a"], "t1"), page(["/b"]))
    kept_dir = tmp_path / "evidence" / "resource-graph"
    kept_dir.mkdir(parents=True)
    (kept_dir / "gw1-0001.json").write_text("another process's query\n")
    log = _log(transport, tmp_path, "gw1")

    answer = log.ask(CLUSTERS, ["s-1"])

    assert [r["id"] for r in answer.rows] == ["/a", "/b"]
    assert answer.kept_as == "evidence/resource-graph/gw1-0002.json"
    assert (kept_dir / "gw1-0001.json").read_text() == "another process's query\n"
    kept = json.loads((tmp_path / answer.kept_as).read_text())
    assert kept["query"] == CLUSTERS.text()
    assert [p["response"]["body"]["data"] for p in kept["pages"]] == [[{"id": "/a"}], [{"id": "/b"}]]
    assert log.account() == {"queries": 1, "pages": 2, "quota_waits": 0, "quota_waited_seconds": 0.0}


def test_pages_answered_before_a_failure_are_kept(tmp_path: Any) -> None:
    broken = reply(200, json={"data": "not rows"})
    transport = ScriptedTransport().script("POST", QUERY_PATH, page(["/a"], "t1"), broken)
    log = _log(transport, tmp_path)

    with pytest.raises(ArmError, match="no 'data' array"):
        log.ask(CLUSTERS, ["s-1"])

    (kept,) = (tmp_path / "evidence" / "resource-graph").glob("main-*.json")
    assert len(json.loads(kept.read_text())["pages"]) == 2
