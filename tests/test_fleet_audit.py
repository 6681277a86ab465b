"""Fleet audits end to end: ``chsm-checks run --mode live`` over a generated sandbox fleet.

One test per discovered cluster, the cluster in its id; outcomes match the faults the sandbox put
in; each ARM resource is read at most once per run; pytest-xdist gives the same outcomes and one
verifiable bundle; clusters whose backup resources nobody names report errors, never passes.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.support.processes import ROOT, Sandbox, run_cli, sandbox_process, summary

CLUSTERS, SUBSCRIPTIONS = 12, 3
# What each fault of the sandbox's fleet makes fail (see chsm_checks/sandbox/storage_faults.py).
FAULT_CHECKS = {
    "shared-key-default": {"storage.shared-key-disabled"},
    "endpoint-pending": {"storage.private-endpoint"},
    "public-network-open": {"storage.public-network"},
    "role-other-principal": {"access.blob-data-contributor"},
    "owner-instead-of-contributor": {"access.blob-data-contributor", "access.least-privilege"},
    "tls-1-0": {"storage.minimum-tls"},
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("fleet") / "state"
    args = ("--fleet-clusters", str(CLUSTERS), "--fleet-subscriptions", str(SUBSCRIPTIONS))
    with sandbox_process(state, *args, "--fleet-misconfigured", "0.5") as sandbox:
        yield sandbox


def fleet_target(tmp_path: Path, **changes: str) -> Path:
    """targets/sandbox-fleet.toml with top-level ``[fleet]`` keys replaced."""
    text = (ROOT / "targets" / "sandbox-fleet.toml").read_text(encoding="utf-8")
    for key, value in changes.items():
        lines = text.splitlines()
        at = lines.index("[fleet]") + 1
        lines = [line for line in lines if not line.startswith(f"{key} =")]
        lines.insert(at, f"{key} = {value}")
        text = "\n".join(lines) + "\n"
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def audit(tmp_path: Path, sandbox: Sandbox, target: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    """A live audit of ``target`` against ``sandbox``: its exit code, summary and output."""
    reports = tmp_path / "reports"
    result = run_cli(
        "run", "--mode", "live", "--target", str(target), *sandbox.addressed,
        "--reports", str(reports), *extra,
    )  # fmt: skip
    assert (reports / "latest" / "summary.json").is_file(), result.output
    return result.returncode, summary(reports), result.output


def cluster_test_id(cluster_id: str) -> str:
    """A cluster's test id: ``<resource group>/<name>``."""
    parts = cluster_id.split("/")
    return f"{parts[4]}/{parts[-1]}"


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {e["nodeid"].split("[", 1)[1].rstrip("]"): e["outcome"] for e in report["scenarios"]}


def failed_checks(report: dict[str, Any]) -> dict[str, set[str]]:
    return {
        e["nodeid"].split("[", 1)[1].rstrip("]"): {
            f["check"] for f in e["findings"] if f["status"] == "failed"
        }
        for e in report["scenarios"]
    }


@pytest.fixture(scope="module")
def serial(fleet: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    tmp = tmp_path_factory.mktemp("serial")
    before = len(fleet.requests())
    result = audit(tmp, fleet, fleet_target(tmp, reader='"arm"'))
    result[1]["_requests"] = fleet.requests()[before:]
    result[1]["_reports"] = tmp / "reports" / "latest"
    return result


def test_every_cluster_is_its_own_test_with_the_outcome_its_faults_give(
    fleet: Sandbox, serial: tuple[int, dict[str, Any], str]
) -> None:
    code, report, output = serial
    truth = fleet.get("/_sandbox/fleet")
    assert code == 1, output  # findings
    assert report["evidence"] == "LIVE"
    by_id = {c: cluster_test_id(c) for c in truth["clusters"]}
    found = failed_checks(report)
    # Every fleet cluster, plus the sandbox's two seeded clusters (mapped by the target file).
    assert set(found) == set(by_id.values()) | {"rg-chsm-sandbox/chsm-source", "rg-chsm-sandbox/chsm-dest"}
    assert len(truth["faults"]) == CLUSTERS // 2
    for cluster_id, test_id in by_id.items():
        fault = truth["faults"].get(cluster_id)
        assert found[test_id] == (FAULT_CHECKS[fault] if fault else set()), test_id
        assert outcomes(report)[test_id] == ("failed" if fault else "passed"), test_id
    assert outcomes(report)["rg-chsm-sandbox/chsm-source"] == "passed"
    first = next(iter(by_id.values()))
    assert f"steps/test_fleet.py::test_fleet[{first}]" in {e["nodeid"] for e in report["scenarios"]}
    assert any(line.endswith(f"check [{first}]") for line in output.splitlines()), output  # and said


def test_each_resource_is_read_at_most_once(serial: tuple[int, dict[str, Any], str]) -> None:
    _, report, _ = serial
    gets = Counter(r["path"].lower() for r in report["_requests"] if r["method"] == "GET")
    # One subscription's activity log answers for each of its clusters, each by its own filter.
    asked = Counter(
        (r["path"].lower(), r.get("query", "")) for r in report["_requests"] if r["method"] == "GET"
    )
    twice = {path: n for path, n in asked.items() if n > 1}
    assert twice == {}
    # Clusters come from the listing only: no cluster is read on its own (its diagnostic settings are).
    assert not [p for p in gets if p.rstrip("/").rsplit("/", 2)[-2] == "cloudhsmclusters"]
    # The chsm-source and chsm-dest mappings share one account: it was read once for both.
    shared = [p for p in gets if p.endswith("/storageaccounts/chsmbackupsbx")]
    assert len(shared) == 1
    assert gets[shared[0]] == 1


def test_each_cluster_keeps_its_evidence(serial: tuple[int, dict[str, Any], str]) -> None:
    _, report, _ = serial
    entry = next(e for e in report["scenarios"] if e["nodeid"].endswith("chsm-fleet-0001]"))
    assert any(path.endswith("-fleet-cluster.json") for path in entry["evidence"])


def test_k_selects_one_cluster(fleet: Sandbox, tmp_path: Path) -> None:
    code, report, output = audit(tmp_path, fleet, fleet_target(tmp_path), "-k", "chsm-fleet-0002")
    assert list(outcomes(report)) == ["rg-fleet-02/chsm-fleet-0002"], output
    assert code in (0, 1)
    # A fleet's Allure HTML report is opt-in, and the run says so.
    assert "no Allure HTML report: not built for a fleet unless asked (--html)" in output
    assert not (tmp_path / "reports" / "latest" / "allure-report").exists()


def test_html_builds_a_fleets_allure_report_when_asked(fleet: Sandbox, tmp_path: Path) -> None:
    code, _, output = audit(tmp_path, fleet, fleet_target(tmp_path), "-k", "chsm-fleet-0002", "--html")
    assert code in (0, 1), output
    index = tmp_path / "reports" / "latest" / "allure-report" / "index.html"
    if shutil.which("allure") is None:
        assert "no Allure HTML report: the Allure 3 command line is not installed" in output
    else:
        assert f"Allure HTML report: {index.resolve()}" in output
        assert index.is_file()


def test_xdist_gives_the_same_outcomes_and_one_verifiable_bundle(
    fleet: Sandbox, serial: tuple[int, dict[str, Any], str], tmp_path: Path
) -> None:
    _, parallel, _ = audit(tmp_path, fleet, fleet_target(tmp_path, reader='"arm"'), "-n", "2")
    assert failed_checks(parallel) == failed_checks(serial[1])
    assert outcomes(parallel) == outcomes(serial[1])
    assert [e["nodeid"] for e in parallel["scenarios"]] == [e["nodeid"] for e in serial[1]["scenarios"]]
    # summary.json accounts for the workers' reading, not only the controller's discovery. A
    # subscription's activity log serves clusters of both workers, and each reads it.
    judged, alone = parallel["fleet"], serial[1]["fleet"]
    assert judged["reader"] == alone["reader"] == "arm"
    assert "resource_graph" not in judged
    assert judged["clusters_judged"] == alone["clusters_judged"] == len(parallel["scenarios"])
    assert judged["resources_read"] >= alone["resources_read"] > 0
    assert judged["arm_requests"] >= alone["arm_requests"]
    assert judged["workers"] == 2
    assert judged["judging_seconds"] is not None
    verified = run_cli("verify", str(tmp_path / "reports" / "latest"))
    assert verified.returncode == 0, verified.output


def _findings(report: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    """Every finding's check, status and words; the recovery point's age is measured from the moment
    the judging process started, which two runs cannot share."""
    return {
        e["nodeid"]: [
            (f["check"], f["status"], re.sub(r"[\d.]+ hours before \S+Z", "<age>", f["message"]))
            for f in e["findings"]
        ]
        for e in report["scenarios"]
    }


@pytest.fixture(scope="module")
def by_graph(fleet: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], Path]:
    """The same audit with the Resource Graph reader: its exit code, summary and reports."""
    tmp = tmp_path_factory.mktemp("graph")
    before = len(fleet.requests())
    code, report, _ = audit(tmp, fleet, fleet_target(tmp, reader='"resource-graph"'))
    report["_requests"] = fleet.requests()[before:]
    return code, report, tmp / "reports" / "latest"


def test_the_resource_graph_reader_gives_the_arm_readers_verdicts_reading_less_from_arm(
    fleet: Sandbox,
    serial: tuple[int, dict[str, Any], str],
    by_graph: tuple[int, dict[str, Any], Path],
    tmp_path: Path,
) -> None:
    code, graph, _ = by_graph
    requests = graph["_requests"]

    assert code == serial[0]
    assert outcomes(graph) == outcomes(serial[1])
    assert _findings(graph) == _findings(serial[1])  # every finding, its status and its words
    queried = [
        r for r in requests if r["method"] == "POST" and r["path"].lower().endswith("resourcegraph/resources")
    ]
    assert queried
    assert all(r["status"] == 200 for r in queried)
    # No cluster list, storage account, private endpoint or identity was read from ARM: Resource
    # Graph held them. What it does not hold (blob services, containers, diagnostic settings…) was.
    gets = [r["path"].lower() for r in requests if r["method"] == "GET"]
    held = ("/cloudhsmclusters", "/storageaccounts/", "/privateendpoints/", "/userassignedidentities/")
    assert not [p for p in gets if any(p.endswith(h) or (h in p and p.count("/") == 8) for h in held)]
    assert [p for p in gets if "/blobservices/default/containers/" in p]
    # Role assignments came from authorizationresources, with one ARM read of each subscription's
    # assignments at and above it (what a management group passes down), none per identity.
    assignment_reads = [r for r in requests if r["path"].lower().endswith("/roleassignments")]
    assert assignment_reads
    assert all(parse_qs(r["query"])["$filter"] == ["atScope()"] for r in assignment_reads), assignment_reads
    assert len(assignment_reads) == len({r["path"].lower() for r in assignment_reads})
    # Under two workers, each reads its own batch's resources through Resource Graph: the same verdicts.
    _, parallel, _ = audit(tmp_path / "n2", fleet, fleet_target(tmp_path), "-n", "2")  # the default reader
    assert _findings(parallel) == _findings(serial[1])
    kept = sorted(p.name for p in (tmp_path / "n2" / "reports" / "latest").glob("evidence/resource-graph/*"))
    assert [k for k in kept if k.startswith("main-")] == ["main-0001.json"]  # the controller's discovery
    assert parallel["fleet"]["resource_graph"]["queries"] == len(kept)  # summed over the processes
    assert {k.split("-")[0] for k in kept} == {"main", "gw0", "gw1"}  # each worker's own queries
    verified = run_cli("verify", str(tmp_path / "n2" / "reports" / "latest"))
    assert verified.returncode == 0, verified.output


def test_each_resource_graph_query_is_kept_once_with_its_pages_and_each_cluster_names_it(
    fleet: Sandbox, by_graph: tuple[int, dict[str, Any], Path]
) -> None:
    _, _, reports = by_graph
    kept = {
        p.relative_to(reports).as_posix(): json.loads(p.read_text())
        for p in (reports / "evidence" / "resource-graph").glob("*.json")
    }
    assert kept
    for name, query in kept.items():
        assert query["query"].startswith(("resources\n|", "authorizationresources\n|")), name
        assert query["pages"], name
        for page in query["pages"]:
            assert page["request"]["method"] == "POST"
            assert page["request"]["body"]["query"] == query["query"]
            assert page["response"]["status"] == 200
            assert "x-ms-user-quota-remaining" in page["response"]["headers"]
            assert page["response"]["body"]["data"], name
    clusters = [json.loads(p.read_text()) for p in reports.glob("evidence/fleet/*/*-fleet-cluster.json")]
    assert clusters
    named = set()
    for evidence in clusters:
        assert evidence["listed_by"] in kept
        named.add(evidence["listed_by"])
        by_graph_reads = [r for r in evidence["reads"] if "query" in r]
        assert {r["resource"].split("/providers/")[-1].split("/")[0] for r in by_graph_reads} >= {
            "Microsoft.Storage",
            "Microsoft.ManagedIdentity",
            "Microsoft.Network",
            "Microsoft.Authorization",
        }
        for read in by_graph_reads:
            assert read["read"] == "resource-graph"
            assert read["query"] in kept
            named.add(read["query"])
            page_ids = {
                row["id"].lower()
                for page in kept[read["query"]]["pages"]
                for row in page["response"]["body"]["data"]
            }
            if "?principal=" not in read["resource"]:  # a resource is a row of the query it names
                assert read["resource"].lower() in page_ids
    assert named == set(kept)  # no query is kept that no cluster rests on
    account = by_graph[1]["fleet"]
    assert account["reader"] == "resource-graph"
    assert account["resource_graph"]["queries"] == len(kept)
    assert account["resource_graph"]["pages"] == sum(len(q["pages"]) for q in kept.values())


@pytest.mark.parametrize("reader", ["arm", "resource-graph"])
def test_evidence_names_principals_by_their_placeholders_with_either_reader(
    fleet: Sandbox,
    serial: tuple[int, dict[str, Any], str],
    by_graph: tuple[int, dict[str, Any], Path],
    reader: str,
) -> None:
    """In the exchanges, in the queries that filter on them, and in the keys of role-assignment lists."""
    reports = serial[1]["_reports"] if reader == "arm" else by_graph[2]
    principals = {
        r["properties"]["principalId"]
        for r in fleet.get("/_sandbox/state")["resources"]
        if r["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"
    }
    files = list((reports / "evidence").rglob("*.json"))
    text = "\n".join(p.read_text() for p in files).lower()
    assert principals
    assert "?principal=00000000-0000-0000-0002-" in text
    assert not [p for p in principals if p.lower() in text]


def test_clusters_nobody_maps_report_errors_not_passes(fleet: Sandbox, tmp_path: Path) -> None:
    target = fleet_target(tmp_path, resource_groups='["rg-chsm-sandbox"]')
    text = target.read_text(encoding="utf-8")
    target.write_text(text[: text.index("[[fleet.backup]]")] + text[text.index("[arm]") :], encoding="utf-8")
    code, report, output = audit(tmp_path, fleet, target)
    assert code == 3, output  # not evaluated
    for entry in report["scenarios"]:
        assert entry["outcome"] == "error", entry
        errors = [f for f in entry["findings"] if f["status"] == "error"]
        assert errors
        assert all(
            "no [[fleet.backup]] mapping of the target file matches it" in f["message"] for f in errors
        )
        # What the cluster alone can show is still judged.
        assert {f["check"] for f in entry["findings"] if f["status"] == "passed"} >= {"clusters.provisioned"}


def test_discovery_that_finds_nothing_is_an_error(fleet: Sandbox, tmp_path: Path) -> None:
    code, report, output = audit(tmp_path, fleet, fleet_target(tmp_path, tags='{ team = "nobody" }'))
    assert code == 3, output
    [entry] = report["scenarios"]
    assert entry["outcome"] == "error"
    assert "no Cloud HSM cluster found" in entry["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "replay"), "a fleet audit runs live and read-only"),
        (("--mode", "live", "--allow-mutations"), "a fleet audit is read-only"),
    ],
)
def test_a_fleet_refuses_what_it_cannot_do(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_cli("run", "--target", "targets/sandbox-fleet.toml", "--reports", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
