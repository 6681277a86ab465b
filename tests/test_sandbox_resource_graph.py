"""The sandbox's Azure Resource Graph: the query subset chsm-checks sends, answered over the sandbox's
world in stable pages, under Resource Graph's per-caller quota; everything else refused by name.

The grammar is :mod:`chsm_checks.arm.graph_query` (rendered by the harness, parsed by the sandbox).
Microsoft's own ``azure-mgmt-resourcegraph``, pointed at the sandbox as a user would point it,
judges the wire: its models read the answer, page on, and read a refusal's code and details.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
from hypothesis import given
from hypothesis import strategies as st

from chsm_checks.arm.graph_query import (
    COLUMNS,
    FILTERABLE,
    PRINCIPAL,
    GraphQuery,
    UnsupportedQuery,
    batches,
    parse,
)
from tests.arm_fakes import FakeCredential
from tests.support.processes import Sandbox, sandbox_process

CLUSTERS, SUBSCRIPTIONS = 30, 3
ARM_CLUSTER_TYPE = "Microsoft.HardwareSecurityModules/cloudHsmClusters"
CLUSTER_TYPE = ARM_CLUSTER_TYPE.lower()
GRAPH = "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("graph") / "state"
    args = ("--fleet-clusters", str(CLUSTERS), "--fleet-subscriptions", str(SUBSCRIPTIONS))
    with sandbox_process(state, *args, "--graph-quota", "1000") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def tls_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("graph-tls") / "state"
    with sandbox_process(state, "--fleet-clusters", "12", tls=True) as sandbox:
        yield sandbox


def subscriptions(sandbox: Sandbox) -> list[str]:
    return [s["subscriptionId"] for s in sandbox.get("/subscriptions?api-version=2022-12-01")["value"]]


def query(sandbox: Sandbox, body: dict[str, Any], caller: str = "Bearer one") -> httpx.Response:
    return httpx.post(sandbox.url + GRAPH, json=body, headers={"Authorization": caller}, timeout=30)


def every_page(sandbox: Sandbox, text: str, subs: list[str], top: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    options: dict[str, Any] = {"$top": top}
    while True:
        answer = query(sandbox, {"subscriptions": subs, "query": text, "options": options})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["count"] == len(body["data"]) <= top
        assert body["resultTruncated"] == "false"
        rows += body["data"]
        if "$skipToken" not in body:
            assert len(rows) == body["totalRecords"]
            return rows
        options = {"$top": top, "$skipToken": body["$skipToken"]}


def arm_clusters(sandbox: Sandbox, subs: list[str]) -> list[dict[str, Any]]:
    found = []
    for sub in subs:
        url = f"/subscriptions/{sub}/providers/{ARM_CLUSTER_TYPE}?api-version=2025-03-31"
        while url:
            page = sandbox.get(url.removeprefix(sandbox.url))
            found += page["value"]
            url = page.get("nextLink", "")
    return found


# -- the grammar -----------------------------------------------------------------------------------

_ident = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/.", min_size=1, max_size=30)


@given(
    table=st.sampled_from(["resources", "authorizationresources"]),
    kind=_ident,
    filters=st.lists(
        st.tuples(st.sampled_from(FILTERABLE), st.lists(_ident, min_size=1, max_size=4)), max_size=3
    ),
    project=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6, unique=True),
)
def test_a_query_the_harness_renders_parses_back_to_itself(
    table: str, kind: str, filters: list[tuple[str, list[str]]], project: list[str]
) -> None:
    sent = GraphQuery(table, kind, tuple((c, tuple(v)) for c, v in filters), tuple(project))

    assert parse(sent.text()) == sent


def test_a_query_may_be_written_as_people_write_kql() -> None:
    text = """Resources
        |   where type =~ 'Microsoft.Storage/storageAccounts'
        | where id in~ ('/A', '/b')
        | where tostring( properties.principalId ) in~ ('p-1')
        | project id,name ,  properties
        | order by id asc"""

    assert parse(text) == GraphQuery(
        "resources",
        "Microsoft.Storage/storageAccounts",
        (("id", ("/A", "/b")), (PRINCIPAL, ("p-1",))),
        ("id", "name", "properties"),
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("securityresources | where type =~ 'x'", "table 'securityresources'"),
        ("resources | where type =~ 'x' | summarize count() by type", "'summarize count() by type'"),
        ("resources | where type =~ 'x' | extend a = 1", "'extend a = 1'"),
        ("resources | where name contains 'x'", "'where name contains 'x''"),
        ("resources | where type =~ 'x' | where location in~ ('westeurope')", "cannot filter on 'location'"),
        ("resources | where type =~ 'x' | where id in~ (a)", "'a' is not a single-quoted string"),
        ("resources | where type =~ 'x' | project id, secrets", "column 'secrets'"),
        ("resources | where type =~ 'x' | order by name asc", "'order by name asc'"),
        ("resources | where type =~ 'x' | order by id", "'order by id'"),  # KQL orders desc by default
        ("resources | where type =~ 'x' | order by id asc | take 5", "after 'order by id asc'"),
        ("resources | project id", "names no type"),
        ("resources | where type =~ 'x", "not closed"),
        ("resources | where type =~ 'a' | where type =~ 'b'", "second 'where type =~'"),
    ],
)
def test_a_query_outside_the_subset_is_refused_naming_the_part(text: str, named: str) -> None:
    with pytest.raises(UnsupportedQuery) as refused:
        parse(text)

    assert named in str(refused.value)


def test_a_value_that_would_break_out_of_its_quotes_is_never_rendered() -> None:
    with pytest.raises(ValueError, match="quote or backslash"):
        GraphQuery("resources", "x", (("id", ("/a' or 1==1 or '",)),))


def test_subscriptions_are_batched_in_order() -> None:
    assert batches([str(i) for i in range(7)], 3) == [["0", "1", "2"], ["3", "4", "5"], ["6"]]


# -- the sandbox -----------------------------------------------------------------------------------


def test_pages_of_the_clusters_hold_every_cluster_arm_lists_once_in_id_order(fleet: Sandbox) -> None:
    subs = subscriptions(fleet)
    text = GraphQuery("resources", CLUSTER_TYPE).text()

    rows = every_page(fleet, text, subs, top=7)

    listed = arm_clusters(fleet, subs)
    assert [r["id"] for r in rows] == sorted(c["id"] for c in listed)
    by_id = {c["id"]: c for c in listed}
    for row in rows:
        arm = by_id[row["id"]]
        assert list(row) == list(COLUMNS)
        assert row["type"] == arm["type"].lower()  # Resource Graph writes types in lower case
        assert (row["properties"], row["tags"], row["identity"], row["sku"]) == (
            arm["properties"],
            arm.get("tags", {}),
            arm.get("identity"),
            arm.get("sku"),
        )
        assert row["subscriptionId"] == row["id"].split("/")[2]
        assert row["resourceGroup"] == row["id"].split("/")[4].lower()


def test_filters_keep_rows_by_id_or_group_in_any_case_and_project_the_columns_asked(fleet: Sandbox) -> None:
    subs = subscriptions(fleet)
    every = every_page(fleet, GraphQuery("resources", CLUSTER_TYPE).text(), subs, top=1000)
    two = [every[3]["id"].upper(), every[11]["id"].lower()]
    by_id = GraphQuery("resources", CLUSTER_TYPE, (("id", tuple(two)),), ("id", "name"))
    in_group = GraphQuery("resources", CLUSTER_TYPE, (("resourceGroup", ("RG-FLEET-02",)),), ("id",))

    assert every_page(fleet, by_id.text(), subs, top=10) == [
        {"id": every[3]["id"], "name": every[3]["name"]},
        {"id": every[11]["id"], "name": every[11]["name"]},
    ]
    grouped = every_page(fleet, in_group.text(), subs, top=10)
    assert grouped
    assert all("/resourceGroups/rg-fleet-02/" in r["id"] for r in grouped)


def test_only_the_named_subscriptions_answer(fleet: Sandbox) -> None:
    subs = subscriptions(fleet)
    text = GraphQuery("resources", CLUSTER_TYPE, project=("subscriptionId",)).text()

    rows = every_page(fleet, text, [subs[1], "00000000-0000-0000-0000-000000000000"], top=1000)

    assert rows
    assert {r["subscriptionId"] for r in rows} == {subs[1]}


def test_role_assignments_come_from_authorizationresources_by_principal(fleet: Sandbox) -> None:
    subs = subscriptions(fleet)
    cluster = every_page(fleet, GraphQuery("resources", CLUSTER_TYPE).text(), subs, top=1000)[-1]
    identity_id = next(iter(cluster["identity"]["userAssignedIdentities"]))
    principal = fleet.get(identity_id + "?api-version=2024-11-30")["properties"]["principalId"]
    text = GraphQuery(
        "authorizationresources",
        "microsoft.authorization/roleassignments",
        ((PRINCIPAL, (principal.upper(),)),),
        ("id", "type", "properties"),
    ).text()

    rows = every_page(fleet, text, subs, top=1000)

    assert rows
    assert {r["properties"]["principalId"] for r in rows} == {principal}
    assert {r["type"] for r in rows} == {"microsoft.authorization/roleassignments"}


def test_what_resource_graph_does_not_hold_is_not_in_resources(fleet: Sandbox) -> None:
    subs = subscriptions(fleet)
    for kind in (
        "microsoft.storage/storageaccounts/blobservices",
        "microsoft.storage/storageaccounts/blobservices/containers",
        "microsoft.insights/diagnosticsettings",
        "microsoft.authorization/locks",
    ):
        assert every_page(fleet, GraphQuery("resources", kind).text(), subs, top=10) == [], kind
    held = every_page(
        fleet, GraphQuery("resources", "microsoft.storage/storageaccounts").text(), subs, top=1000
    )
    assert len(held) >= CLUSTERS


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        ({"query": "resources | summarize count()"}, "InvalidQuery", "summarize count()"),
        ({"managementGroups": ["mg-1"]}, "UnsupportedScope", "managementGroups"),
        ({"subscriptions": []}, "UnsupportedScope", "subscriptions"),
        ({"subscriptions": ["s"] * 1001}, "TooManySubscriptions", "batch them"),
        ({"options": {"resultFormat": "table"}}, "UnsupportedOption", "objectArray"),
        ({"options": {"$top": 1001}}, "InvalidRequestContent", "$top"),
        ({"options": {"$skipToken": "not-a-token"}}, "InvalidSkipToken", "not a token this sandbox issued"),
    ],
)
def test_a_request_outside_the_subset_is_a_400_naming_what(
    fleet: Sandbox, change: dict[str, Any], code: str, named: str
) -> None:
    body = {
        "subscriptions": subscriptions(fleet),
        "query": GraphQuery("resources", CLUSTER_TYPE).text(),
    } | change

    answer = query(fleet, body)

    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "BadRequest"
    assert [d["code"] for d in error["details"]] == [code]
    assert named in error["details"][0]["message"]


def test_a_skip_token_goes_on_only_with_its_own_query(fleet: Sandbox) -> None:
    subs = subscriptions(fleet)
    first = query(
        fleet,
        {
            "subscriptions": subs,
            "query": GraphQuery("resources", CLUSTER_TYPE).text(),
            "options": {"$top": 2},
        },
    )
    token = first.json()["$skipToken"]
    other = GraphQuery("resources", CLUSTER_TYPE, project=("id",)).text()

    answer = query(fleet, {"subscriptions": subs, "query": other, "options": {"$skipToken": token}})

    assert answer.status_code == 400
    assert "issued for another query" in answer.json()["error"]["details"][0]["message"]


def test_each_caller_has_its_quota_and_is_told_what_is_left_and_when_it_resets(tmp_path: Any) -> None:
    with sandbox_process(tmp_path / "state", "--graph-quota", "3", "--graph-window", "30") as sandbox:
        body = {
            "subscriptions": subscriptions(sandbox),
            "query": GraphQuery("resources", CLUSTER_TYPE).text(),
        }
        answers = [query(sandbox, body, caller="Bearer one") for _ in range(4)]
        other = query(sandbox, body, caller="Bearer two")

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ms-user-quota-remaining"] for a in answers] == ["2", "1", "0", "0"]
    for answer in answers:
        hours, minutes, seconds = map(int, answer.headers["x-ms-user-quota-resets-after"].split(":"))
        assert (hours, minutes) == (0, 0)
        assert 0 < seconds <= 30
    refused = answers[-1].json()["error"]
    assert refused["code"] == "RateLimiting"
    assert "resourcegraph-throttling" in refused["details"][0]["message"]
    assert other.status_code == 200
    assert other.headers["x-ms-user-quota-remaining"] == "2"


def test_a_query_is_a_read_though_it_is_posted_the_state_is_not_written(fleet: Sandbox) -> None:
    state_file = fleet.state_dir / "state.json"
    before = state_file.stat().st_mtime_ns
    body = {"subscriptions": subscriptions(fleet), "query": GraphQuery("resources", CLUSTER_TYPE).text()}

    answer = query(fleet, body)

    assert answer.status_code == 200
    assert state_file.stat().st_mtime_ns == before
    assert "x-ms-ratelimit-remaining-subscription-writes" not in answer.headers


# -- Microsoft's own client ------------------------------------------------------------------------


def _sdk(sandbox: Sandbox) -> ResourceGraphClient:
    assert sandbox.ca_file is not None
    return ResourceGraphClient(FakeCredential(), base_url=sandbox.url, connection_verify=str(sandbox.ca_file))


def test_the_official_sdk_reads_and_pages_the_answer(tls_fleet: Sandbox) -> None:
    client = _sdk(tls_fleet)
    subs = subscriptions(tls_fleet)
    text = GraphQuery("resources", CLUSTER_TYPE, project=("id", "name", "properties")).text()

    ids: list[str] = []
    options = QueryRequestOptions(top=5)
    while True:
        answer = client.resources(QueryRequest(subscriptions=subs, query=text, options=options))
        assert answer.count == len(answer.data) <= 5
        assert answer.result_truncated == "false"
        ids += [row["id"] for row in answer.data]
        assert all(row["properties"]["activationState"] for row in answer.data)
        if not answer.skip_token:
            break
        options = QueryRequestOptions(top=5, skip_token=answer.skip_token)

    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) == answer.total_records == 12 + 2


def test_the_official_sdk_reads_a_refusal_code_and_details(tls_fleet: Sandbox) -> None:
    client = _sdk(tls_fleet)

    with pytest.raises(HttpResponseError) as refused:
        client.resources(QueryRequest(subscriptions=subscriptions(tls_fleet), query="resources | take 1"))

    assert refused.value.status_code == 400
    assert refused.value.error is not None
    assert refused.value.error.code == "BadRequest"
    assert [d.code for d in refused.value.error.details] == ["InvalidQuery"]
