"""Resource Graph queries over the run's ARM client: pages by ``$skipToken``, batches of
subscriptions, the caller's quota waited out on the client's clock, a 429 retried when the window
resets, a malformed answer an error, and a read-only client that may query (a POST that reads)
but may send no other POST.
"""

from __future__ import annotations

from typing import Any

import pytest

from chsm_checks.arm.client import ArmClient, RequestRefused
from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.errors import ArmError
from chsm_checks.arm.graph_query import QUERY_PATH, GraphQuery
from chsm_checks.arm.resource_graph import GraphQuota, query_rows
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
