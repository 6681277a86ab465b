"""Fleet targets and the pure parts of a fleet audit: loading, resolution, test ids, batches, scopes."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from arm_fakes import ScriptedTransport, make_client, reply

from chsm_checks.arm.snapshots import id_segment
from chsm_checks.checks.environment import Environment, Unresolved
from chsm_checks.checks.evaluate import evaluate
from chsm_checks.container_uri import judge_container_uri
from chsm_checks.errors import ConfigError
from chsm_checks.fleet.audit import MemberScope, member_ids, resolve
from chsm_checks.fleet.discovery import CONVENTION_TAGS, TAG_CONTAINER, FleetMember
from chsm_checks.fleet.run import SERIAL_BATCH, batch_of, merged_summary
from chsm_checks.outcomes import Outcome
from chsm_checks.target import FleetBackupMapping, FleetTarget, Target, load_any_target, load_fleet_target
from chsm_checks.xdist_scheduling import scope_of

ROOT = Path(__file__).resolve().parent.parent
SUB_A = "5a4db0c5-0000-4000-8000-00000000000a"
SUB_B = "5a4db0c5-0000-4000-8000-00000000000b"


def _id(sub: str, group: str, kind: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{kind}/{name}"


def member(
    name: str, sub: str = SUB_A, group: str = "rg-1", tags: dict[str, str] | None = None
) -> FleetMember:
    item: dict[str, Any] = {
        "id": _id(sub, group, "Microsoft.HardwareSecurityModules/cloudHsmClusters", name),
        "name": name,
        "tags": tags or {},
        "properties": {"provisioningState": "Succeeded"},
    }
    return FleetMember.from_arm(sub, item)


ACCOUNT = _id(SUB_A, "rg-1", "Microsoft.Storage/storageAccounts", "chsmbackup1")
TAGS = dict(
    zip(
        CONVENTION_TAGS,
        (
            ACCOUNT,
            "chsm-backups",
            _id(SUB_A, "rg-1", "Microsoft.Network/privateEndpoints", "pe-1"),
            _id(SUB_A, "rg-1", "Microsoft.Network/virtualNetworks", "vnet-1"),
        ),
        strict=True,
    )
)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text('name = "unit-fleet"\narm_endpoint = "http://127.0.0.1:8765"\n' + body, encoding="utf-8")
    return path


# -- target files ---------------------------------------------------------------------------------


def test_the_shipped_fleet_target_loads_as_a_fleet() -> None:
    target = load_any_target(ROOT / "targets" / "sandbox-fleet.toml")
    assert isinstance(target, FleetTarget)
    assert target.fleet.subscriptions == "all"
    assert target.fleet.concurrency == 16
    assert [m.clusters for m in target.fleet.backup] == ["chsm-source", "chsm-dest"]
    assert isinstance(load_any_target(ROOT / "targets" / "sandbox.toml"), Target)


def test_a_fleet_names_subscriptions_groups_and_tags(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f'[fleet]\nsubscriptions = ["{SUB_A}", "{SUB_B}"]\nresource_groups = ["rg-1"]\n'
        'tags = { environment = "prod" }\nconcurrency = 4\n',
    )
    fleet = load_fleet_target(path).fleet
    assert fleet.subscriptions == [SUB_A, SUB_B]
    assert fleet.resource_groups == ["rg-1"]
    assert fleet.tags == {"environment": "prod"}
    assert fleet.concurrency == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[fleet]\nsubscriptions = []\n", "fleet.subscriptions"),
        ('[fleet]\nsubscriptions = "some"\n', "fleet.subscriptions"),
        ('[fleet]\nsubscriptions = ["not-a-guid"]\n', "fleet.subscriptions"),
        ('[fleet]\nsubscriptions = "all"\nconcurrency = 0\n', "fleet.concurrency"),
        ('[fleet]\nsubscriptions = "all"\nconcurrency = 65\n', "fleet.concurrency"),
        ('[fleet]\nsubscriptions = "all"\nlimit = 3\n', "fleet.limit"),
        (
            '[fleet]\nsubscriptions = "all"\n[[fleet.backup]]\nstorage_account = "x"\n',
            "fleet.backup[1].clusters",
        ),
        (
            '[fleet]\nsubscriptions = "all"\n[[fleet.backup]]\nclusters = "*"\n'
            'storage_account = "chsmbackup"\n',
            "fleet.backup[1].storage_account",
        ),
        ("[fleet]\n", "fleet.subscriptions"),
    ],
)
def test_a_bad_fleet_fails_with_one_line_naming_file_and_field(tmp_path: Path, body: str, field: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_any_target(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}")
    assert "\n" not in message


# -- resolution -----------------------------------------------------------------------------------


def test_tags_name_the_backup_resources() -> None:
    scope = resolve(member("chsm-1", tags=TAGS), [], "core.windows.net")
    assert scope.storage_account_id == ACCOUNT
    assert scope.container_id == f"{ACCOUNT}/blobServices/default/containers/chsm-backups"
    assert scope.container_uri == "https://chsmbackup1.blob.core.windows.net/chsm-backups"
    assert scope.source_id == scope.destination_id == scope.cluster.id
    assert scope.to_json()["backup_resources"]["storage_account"]["from"] == "tag chsm-backup-storage-account"
    assert scope.to_json()["unresolved"] == []


def test_a_mapping_wins_over_tags_field_by_field_and_matches_name_or_id_ignoring_case() -> None:
    other = _id(SUB_A, "rg-2", "Microsoft.Storage/storageAccounts", "chsmother")
    mappings = [
        FleetBackupMapping(clusters="CHSM-PROD-*", storage_account=other),
        FleetBackupMapping(clusters="*/resourcegroups/rg-1/*", container="elsewhere"),
    ]
    scope = resolve(member("chsm-prod-7", tags=TAGS), mappings, "core.windows.net")
    assert scope.storage_account_id == other
    assert scope.resolved["storage_account"][1] == "fleet.backup[1]"
    assert scope.resolved["container"] == ("elsewhere", "fleet.backup[2]")
    assert scope.resolved["private_endpoint"][1] == "tag chsm-backup-private-endpoint"


def test_what_nobody_names_is_unresolved_and_says_why() -> None:
    scope = resolve(member("chsm-bare"), [], "core.windows.net")
    assert scope.to_json()["unresolved"] == [
        "storage_account",
        "container",
        "private_endpoint",
        "virtual_network",
    ]
    with pytest.raises(Unresolved) as caught:
        _ = scope.storage_account_id
    assert caught.value.resource_id == scope.cluster.id
    assert "chsm-backup-storage-account" in str(caught.value)
    assert "[[fleet.backup]]" in str(caught.value)


# -- test ids, batches and xdist scopes ------------------------------------------------------------


def test_test_ids_are_group_and_name_with_the_subscription_only_when_ambiguous() -> None:
    scopes = [
        resolve(member("chsm-1"), [], "x"),
        resolve(member("chsm-2", sub=SUB_A, group="RG-2"), [], "x"),
        resolve(member("chsm-2", sub=SUB_B, group="rg-2"), [], "x"),
    ]
    assert member_ids(scopes) == ["rg-1/chsm-1", f"{SUB_A}/RG-2/chsm-2", f"{SUB_B}/rg-2/chsm-2"]


def _scope(name: str, account: str | None) -> MemberScope:
    tags = {**TAGS, CONVENTION_TAGS[0]: account} if account else {}
    return resolve(member(name, tags=tags), [], "x")


def test_batches_keep_clusters_that_share_an_account_together() -> None:
    shared = [_scope(f"chsm-{i}", ACCOUNT) for i in range(5)]
    assert {batch_of(s, 1) for s in shared} == {SERIAL_BATCH}
    assert len({batch_of(s, 3) for s in shared}) == 1
    spread = {batch_of(_scope(f"chsm-{i}", f"{ACCOUNT}{i}"), 3) for i in range(40)}
    assert spread == {"fleet-0", "fleet-1", "fleet-2"}
    assert batch_of(_scope("chsm-untagged", None), 3).startswith("fleet-")


def test_xdist_scopes_keep_the_drill_whole_and_fleet_batches_together() -> None:
    batches = {"rg-1/chsm-1": "fleet-1"}

    def fleet_batch(test_id: str, workers: int) -> str | None:
        return batches.get(test_id)

    assert scope_of("steps/test_drill.py::test_backup", 2, fleet_batch) == "steps/test_drill.py"
    assert scope_of("steps/test_drill.py::test_restore[x]", 2, fleet_batch) == "steps/test_drill.py"
    assert scope_of("steps/test_fleet.py::test_fleet[rg-1/chsm-1]", 2, fleet_batch) == "fleet-1"
    catalogue = "steps/test_scenarios.py::test_tls[TLS version-storage.minimum-tls]"
    assert scope_of(catalogue, 2, fleet_batch) == catalogue


# -- container tags and mappings: the judgement the guard uses ------------------------------------


@pytest.mark.parametrize(
    "container",
    [
        pytest.param("chsm-backups?sv=1&sig=s3cr3t", id="sas-query"),
        pytest.param("chsm-backups?", id="empty-query"),
        pytest.param("chsm-backups#sig=s3cr3t", id="fragment"),
        pytest.param("chsm-backups%3Fsig=s3cr3t", id="encoded-question-mark"),
        pytest.param("chsm-backups;sig=s3cr3t", id="semicolon-sas"),
        pytest.param("../../other", id="dot-segments"),
        pytest.param("chsm-backups/blob", id="a-blob"),
        pytest.param("x@evil.example", id="at-sign"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("chsm backups", id="space"),
        pytest.param("Chsm-Backups", id="upper-case"),
        pytest.param("ab", id="too-short"),
    ],
)
def test_a_container_tag_the_judgement_refuses_leaves_the_container_unresolved_naming_the_tag(
    container: str,
) -> None:
    scope = resolve(member("chsm-1", tags={**TAGS, TAG_CONTAINER: container}), [], "core.windows.net")

    for name in ("container_uri", "container_id"):
        with pytest.raises(Unresolved) as caught:
            getattr(scope, name)
        message = str(caught.value)
        assert caught.value.resource_id == scope.cluster.id
        assert "tag chsm-backup-container" in message
        assert "s3cr3t" not in message
        assert len(container) < 4 or container not in message  # the tag's value is never repeated


def test_a_storage_account_tag_whose_name_is_no_account_name_leaves_the_container_unresolved() -> None:
    odd = _id(SUB_A, "rg-1", "Microsoft.Storage/storageAccounts", "evil.example#")
    scope = resolve(member("chsm-1", tags={**TAGS, CONVENTION_TAGS[0]: odd}), [], "core.windows.net")

    with pytest.raises(Unresolved, match="tag chsm-backup-storage-account"):
        _ = scope.container_uri


def test_a_bad_container_tag_makes_the_checks_that_need_it_errors_naming_the_tag() -> None:
    scope = resolve(
        member("chsm-1", tags={**TAGS, TAG_CONTAINER: "chsm-backups;sig=s3cr3t"}), [], "core.windows.net"
    )
    transport = ScriptedTransport()
    blob = "https://chsmbackup1.blob.core.windows.net/"
    account = {"id": ACCOUNT, "name": "chsmbackup1", "properties": {"primaryEndpoints": {"blob": blob}}}
    transport.script("GET", ACCOUNT, reply(200, json=account))
    env = Environment(make_client(transport), scope)

    for check in ("requests.no-sas", "storage.container-private"):
        (finding,) = evaluate(check, env)
        assert finding.status is Outcome.ERROR, check
        assert "chsm-backup-container" in finding.message
        assert "s3cr3t" not in finding.message
    assert all(urlsplit(str(r.url)).path == ACCOUNT for r in transport.requests)


def test_a_good_container_tag_and_a_mapping_give_a_uri_the_judgement_passes() -> None:
    mapped = resolve(
        member("chsm-1", tags=TAGS),
        [FleetBackupMapping(clusters="*", container="elsewhere")],
        "core.windows.net",
    )
    assert mapped.container_uri == "https://chsmbackup1.blob.core.windows.net/elsewhere"
    assert judge_container_uri(mapped.container_uri, "https://chsmbackup1.blob.core.windows.net/").ok


def test_a_refused_container_tag_is_named_by_its_reason_in_the_clusters_evidence() -> None:
    scope = resolve(
        member("chsm-1", tags={**TAGS, TAG_CONTAINER: "chsm-backups?sig=s3cr3t"}), [], "core.windows.net"
    )

    container = scope.to_json()["backup_resources"]["container"]

    assert container["value"] is None
    assert container["from"] == "tag chsm-backup-container"
    assert "query string" in container["refused"]
    assert "s3cr3t" not in str(scope.to_json())


@pytest.mark.parametrize(
    ("resource_id", "key", "segment"),
    [
        ("/subscriptions/s-1/resourceGroups/RG-One/providers/X/y/name", "resourceGroups", "RG-One"),
        ("/SUBSCRIPTIONS/s-1/RESOURCEGROUPS/rg/", "resourcegroups", "rg"),
        ("/subscriptions/s-1", "subscriptions", "s-1"),
        ("/subscriptions/s-1", "resourceGroups", ""),
        ("/subscriptions/s-1/resourceGroups", "resourceGroups", ""),  # the key with nothing after it
    ],
)
def test_an_arm_id_segment_is_found_by_its_key_in_any_case(resource_id: str, key: str, segment: str) -> None:
    assert id_segment(resource_id, key) == segment


def _part(judged: int, reads: int, throttled: dict[str, int], seconds: float | None) -> dict[str, Any]:
    return {
        "reader": "arm",
        "clusters_discovered": 0,
        "clusters_judged": judged,
        "arm_requests": reads + 1,
        "resources_read": reads,
        "concurrency": 16,
        "throttled": throttled,
        "judging_seconds": seconds,
    }


def test_the_workers_parts_of_a_fleet_audit_add_up_to_its_account() -> None:
    controller = _part(0, 0, {}, None) | {"clusters_discovered": 9, "arm_requests": 3}
    workers = [_part(5, 40, {"s-1": 2}, 1.5), _part(4, 30, {"s-1": 1, "s-2": 4}, 2.25)]

    assert merged_summary(controller, workers) == {
        "reader": "arm",
        "clusters_discovered": 9,
        "clusters_judged": 9,
        "arm_requests": 3 + 41 + 31,
        "resources_read": 70,
        "concurrency": 16,
        "workers": 2,
        "throttled": {"s-1": 3, "s-2": 4},
        "judging_seconds": 2.25,
    }
    assert merged_summary(controller, [])["workers"] == 1


def test_the_resource_graph_queries_of_the_controller_and_workers_add_up() -> None:
    def graph(queries: int, pages: int, waits: int, waited: float) -> dict[str, Any]:
        account = {"queries": queries, "pages": pages, "quota_waits": waits, "quota_waited_seconds": waited}
        return {"reader": "resource-graph", "resource_graph": account}

    controller = _part(0, 0, {}, None) | graph(1, 10, 0, 0.0)
    workers = [_part(5, 40, {}, 1.5) | graph(4, 5, 1, 0.1), _part(4, 30, {}, 2.0) | graph(4, 6, 2, 0.2)]

    merged = merged_summary(controller, workers)

    assert merged["reader"] == "resource-graph"
    assert merged["resource_graph"] == {
        "queries": 9,
        "pages": 21,
        "quota_waits": 3,
        "quota_waited_seconds": 0.3,
    }
