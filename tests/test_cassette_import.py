"""``chsm-checks cassettes import``: another tool's vcrpy recording becomes a cassette that replays.

The shipped import of the Azure CLI ``cloudhsm`` extension's backup/restore recording replays
through the poller; the importer's own tests run on a synthetic recording of the same shape
(``tests/data/azure-cli``), because the public original carries ARM's status-URL signatures and
the recording tenant's ids, which stay out of the tree.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from chsm_checks.arm.client import ArmClient
from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.clouds import KNOWN_CLOUDS
from chsm_checks.arm.lro import OperationResult, PollPolicy
from chsm_checks.arm.resources import post_backup, post_restore
from chsm_checks.cli import main
from chsm_checks.recording import SUBSCRIPTION_PLACEHOLDER, Scrubber, read_provenance, replaying
from chsm_checks.recording.gate import check_cassette, inspect_recordings
from chsm_checks.recording.provenance import replay_provenance
from chsm_checks.recording.scrub import GUID, PLACEHOLDER_PREFIX
from tests.support.processes import ROOT, run_cli

IMPORTED = ROOT / "cassettes" / "imported" / "azure-cli" / "test_backup_restore.yaml"
SYNTHETIC = ROOT / "tests" / "data" / "azure-cli" / "synthetic_backup_restore.yaml"
CLUSTERS = (
    f"/subscriptions/{SUBSCRIPTION_PLACEHOLDER}/resourceGroups/cli-test"
    "/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
)
SIGNATURE_PARAMETERS = ("t", "c", "s", "h")
SHIPPED = ROOT / "cassettes" / "clusters" / "both_clusters_are_provisioned.yaml"


def _interactions(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text())["interactions"])


def _final_result(interactions: list[dict[str, Any]], status_path: str) -> dict[str, Any]:
    """The recorded result of an operation: the body of the last poll of its status URL."""
    polls = [i for i in interactions if status_path in i["request"]["uri"]]
    return dict(json.loads(polls[-1]["response"]["body"]["string"])["properties"])


def _polls(interactions: list[dict[str, Any]], status_path: str) -> int:
    return sum(status_path in i["request"]["uri"] and i["request"]["method"] == "GET" for i in interactions)


def _replay(path: Path, run: Callable[[ArmClient], OperationResult]) -> tuple[OperationResult, VirtualClock]:
    """``run`` on an ARM client over the cassette at ``path``, as a replayed scenario's client is."""
    clock = VirtualClock()
    with (
        replaying(path, Scrubber(subscription_id=SUBSCRIPTION_PLACEHOLDER)) as transport,
        ArmClient(KNOWN_CLOUDS["AzureCloud"], transport=transport, clock=clock, replay=True) as client,
    ):
        return run(client), clock


def _import(source: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["cassettes", "import", str(source), "--from", "azure-cli", "--out", str(out)])
    return code, capsys.readouterr().err.splitlines()


def _with(tmp_path: Path, edit: Callable[[list[dict[str, Any]]], None], name: str = "edited.yaml") -> Path:
    """A copy of the synthetic recording with ``edit`` applied to its interactions."""
    data = yaml.safe_load(SYNTHETIC.read_text())
    edit(data["interactions"])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- the shipped import replays through the poller ------------------------------------------------


def test_the_imported_azure_cli_backup_replays_to_its_recorded_result() -> None:
    interactions = _interactions(IMPORTED)
    recorded = _final_result(interactions, "/backupOperationStatus/")
    container = json.loads(interactions[0]["request"]["body"])["azureStorageBlobContainerUri"]

    result, clock = _replay(IMPORTED, lambda c: post_backup(c, f"{CLUSTERS}/myhsm", container, PollPolicy()))

    assert result.status == recorded["status"] == "Succeeded"
    assert result.backup_id == recorded["backupId"]
    assert str(result.backup_id).startswith("cloudhsm-5a4db0c5-")
    assert result.job_id == recorded["jobId"]
    assert result.polls == _polls(interactions, "/backupOperationStatus/") == 2
    assert clock.sleeps == [30.0] * result.polls  # no Retry-After came: the default interval


def test_the_imported_azure_cli_restore_replays_to_its_recorded_result() -> None:
    interactions = _interactions(IMPORTED)
    backup = _final_result(interactions, "/backupOperationStatus/")
    recorded = _final_result(interactions, "/restoreOperationStatus/")

    def restore(client: ArmClient) -> OperationResult:
        post_backup(client, f"{CLUSTERS}/myhsm", backup["azureStorageBlobContainerUri"], PollPolicy())
        return post_restore(
            client,
            f"{CLUSTERS}/myrestoredhsm",
            backup["azureStorageBlobContainerUri"],
            backup["backupId"],
            PollPolicy(),
        )

    result, _ = _replay(IMPORTED, restore)

    assert result.status == recorded["status"] == "Succeeded"
    assert result.job_id == recorded["jobId"]
    assert result.backup_id is None  # a restore's result names no backup
    assert result.polls == _polls(interactions, "/restoreOperationStatus/") == 4


def test_the_imported_recording_says_where_it_came_from_and_passes_the_gate() -> None:
    provenance = read_provenance(IMPORTED)

    assert provenance.target_kind == "imported"
    assert provenance.target_name == "azure-cli"
    assert re.fullmatch(
        r"imported from azure-cli, test_backup_restore\.yaml, [0-9a-f]{64}", provenance.source or ""
    )
    assert provenance.recorded_at == "2025-06-13T14:36:45Z"
    assert provenance.api_versions == {"Microsoft.HardwareSecurityModules/cloudHsmClusters": "2025-03-31"}
    assert check_cassette(IMPORTED) == []


def test_replay_evidence_names_an_imported_recording_s_source() -> None:
    assert replay_provenance(IMPORTED)["source"] == read_provenance(IMPORTED).source
    assert "source" not in replay_provenance(SHIPPED)


# -- the importer, on a synthetic recording of the same shape -------------------------------------


def test_an_import_carries_the_source_s_name_and_sha256(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "imported.yaml"

    code, err = _import(SYNTHETIC, out, capsys)

    assert code == 0, err
    digest = hashlib.sha256(SYNTHETIC.read_bytes()).hexdigest()
    provenance = read_provenance(out)
    assert provenance.source == f"imported from azure-cli, synthetic_backup_restore.yaml, {digest}"
    assert (provenance.target_kind, provenance.target_name, provenance.cloud) == (
        "imported",
        "azure-cli",
        "AzureCloud",
    )
    assert provenance.recorded_at == "2025-06-13T14:36:45Z"  # the source's first date header
    assert err == [f"chsm-checks: imported 6 of 6 interaction(s) from {SYNTHETIC} into {out}"]


def test_an_import_replays_through_the_poller(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "imported.yaml"
    _import(SYNTHETIC, out, capsys)
    container = "https://clitestbackup.blob.core.windows.net/testbackup"

    result, _ = _replay(out, lambda c: post_backup(c, f"{CLUSTERS}/myhsm", container, PollPolicy()))

    assert (result.status, result.polls, result.job_id) == (
        "Succeeded",
        2,
        "0123456789abcdef0123456789abcdef",
    )


def test_no_real_looking_id_or_signature_survives_an_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = SYNTHETIC.read_text()
    guids = {g.lower() for g in GUID.findall(source)}
    signatures = {
        value
        for uri in re.findall(r"https://\S+", source)
        for name, value in parse_qsl(urlsplit(uri).query)
        if name in SIGNATURE_PARAMETERS
    }
    out = tmp_path / "imported.yaml"

    _import(SYNTHETIC, out, capsys)

    text = out.read_text()
    assert guids
    assert signatures
    assert [g for g in guids if g in text.lower()] == []
    assert [s for s in signatures if s in text] == []
    for name in SIGNATURE_PARAMETERS:
        assert f"&{name}=REDACTED" in text
    assert all(g.startswith((PLACEHOLDER_PREFIX, "5a4db0c5-")) for g in GUID.findall(text))
    assert f"/subscriptions/{SUBSCRIPTION_PLACEHOLDER}/" in text
    assert check_cassette(out) == []


def test_one_id_gets_one_stand_in_so_the_restore_names_the_backup_it_replays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "imported.yaml"

    _import(SYNTHETIC, out, capsys)

    interactions = _interactions(out)
    backup_id = _final_result(interactions, "/backupOperationStatus/")["backupId"]
    assert backup_id.startswith("cloudhsm-5a4db0c5-0000-4000-8000-")
    assert json.loads(interactions[3]["request"]["body"])["backupId"] == backup_id


def test_an_import_is_the_same_every_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _import(SYNTHETIC, tmp_path / "a.yaml", capsys)
    _import(SYNTHETIC, tmp_path / "b.yaml", capsys)

    assert (tmp_path / "a.yaml").read_bytes() == (tmp_path / "b.yaml").read_bytes()


def _exchange(method: str, uri: str, body: str = "", response: str = "") -> dict[str, Any]:
    return {
        "request": {"body": body or None, "headers": {}, "method": method, "uri": uri},
        "response": {
            "body": {"string": response},
            "headers": {"content-type": ["application/json"]},
            "status": {"code": 200, "message": "OK"},
        },
    }


SUBSCRIPTION = "https://management.azure.com/subscriptions/d3b07384-d9a0-4c5b-9f1e-2a7c6b8e4f10"
CLUSTER = f"{SUBSCRIPTION}/resourceGroups/cli-test/providers/{CLUSTERS.rsplit('/providers/', 1)[1]}/c"
TENANT = "6f1ed002-ab5e-4e41-bd5c-7c2a3f0e9b41"


@pytest.mark.parametrize(
    ("interaction", "shown", "why"),
    [
        pytest.param(
            _exchange(
                "POST", f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token", "grant_type=x"
            ),
            # The tenant's id, learnt from the recording's x-ms-operation-identifier headers.
            "POST https://login.microsoftonline.com/00000000-0000-0000-0001-000000000001/oauth2",
            "sign-in traffic; recordings never hold it",
            id="token call",
        ),
        pytest.param(
            _exchange("GET", f"https://graph.microsoft.com/v1.0/servicePrincipals/{TENANT}", response="{}"),
            "GET https://graph.microsoft.com/v1.0/servicePrincipals/00000000-0000-0000-0001-000000000001",
            "graph.microsoft.com: not an ARM endpoint; chsm-checks calls only ARM",
            id="graph",
        ),
        pytest.param(
            _exchange(
                "PUT", f"{SUBSCRIPTION}/resourcegroups/cli-test?api-version=2022-09-01", '{"location":"x"}'
            ),
            f"PUT https://management.azure.com/subscriptions/{SUBSCRIPTION_PLACEHOLDER}/resourcegroups/cli-test",
            "resource type Microsoft.Resources/resourceGroups: not one chsm-checks calls",
            id="resource group",
        ),
        pytest.param(
            _exchange("GET", f"{CLUSTER}?api-version=2024-06-30-preview", response="{}"),
            "GET https://management.azure.com/subscriptions/",
            "api-version 2024-06-30-preview; chsm-checks calls "
            "Microsoft.HardwareSecurityModules/cloudHsmClusters at 2025-03-31 only",
            id="other api-version",
        ),
        pytest.param(
            _exchange("GET", f"{CLUSTER}?api-version=2025-03-31", response="<html>gateway</html>"),
            "GET https://management.azure.com/subscriptions/",
            "response body: not JSON; the scrub profile keeps only JSON fields it knows",
            id="not JSON",
        ),
        pytest.param(
            _exchange(
                "GET",
                f"{CLUSTER}?api-version=2025-03-31",
                response=json.dumps({"error": {"code": "X", "message": "eyJhbGciOi.eyJzdWIiOi.c2ln"}}),
            ),
            "GET https://management.azure.com/subscriptions/",
            "scrubbed, it still holds what cassettes check refuses: "
            "response.body.error.message: looks like a bearer token (a JWT)",
            id="the gate refuses it",
        ),
        pytest.param(
            {"request": {"method": "GET"}},
            "GET ?",
            "not a vcrpy interaction: request: needs exactly the fields body, headers, method, uri",
            id="malformed",
        ),
    ],
)
def test_an_interaction_that_cannot_be_mapped_is_one_line_naming_it_and_the_rest_is_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], interaction: dict[str, Any], shown: str, why: str
) -> None:
    source = _with(tmp_path, lambda interactions: interactions.insert(2, interaction))
    out = tmp_path / "imported.yaml"

    code, err = _import(source, out, capsys)

    assert code == 0
    left_out = [line for line in err if "not imported" in line]
    assert len(left_out) == 1, err
    assert left_out[0].startswith(f"chsm-checks: {source}: interaction 3: {shown}")
    assert left_out[0].endswith(f": not imported: {why}")
    assert TENANT not in left_out[0]
    assert err[-1] == f"chsm-checks: imported 6 of 7 interaction(s) from {source} into {out}"
    assert len(_interactions(out)) == 6


def test_a_recording_with_nothing_to_import_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def only_graph(interactions: list[dict[str, Any]]) -> None:
        interactions[:] = [_exchange("GET", "https://graph.microsoft.com/v1.0/me", response="{}")]

    source = _with(tmp_path, only_graph)
    out = tmp_path / "imported.yaml"

    code, err = _import(source, out, capsys)

    assert code == 1
    assert err[-1] == (
        f"chsm-checks: {source}: nothing imported: none of its 1 interaction(s) could be mapped; "
        "nothing written"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("interactions: [\n", "not a readable vcrpy recording: "),
        ("- just\n- a list\n", "not a vcrpy recording: interactions: missing or not a list"),
        ("interactions: []\n", "not a vcrpy recording: version: missing or not 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_loses_nothing_already_written(
    tmp_path: Path, text: str, problem: str
) -> None:
    source = tmp_path / "broken.yaml"
    source.write_text(text)
    out = tmp_path / "imported.yaml"
    out.write_text("an earlier import\n")

    result = run_cli("cassettes", "import", str(source), "--from", "azure-cli", "--out", str(out))

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"chsm-checks: {source}: {problem}")
    assert out.read_text() == "an earlier import\n"
    assert sorted(tmp_path.iterdir()) == sorted([source, out])  # no temporary file left behind


def _undated(interactions: list[dict[str, Any]]) -> None:
    for interaction in interactions:
        headers = interaction["response"]["headers"]
        for name in [n for n in headers if n.lower() == "date"]:
            del headers[name]


@pytest.mark.parametrize(
    ("name", "edit", "problem"),
    [
        # The provenance names the file; a name it cannot hold is refused before any work is done.
        ("v2, final.yaml", lambda interactions: None, "the file's name may not hold a comma"),
        # Without a date the import could only say "now", and no two imports would be alike.
        ("undated.yaml", _undated, "no imported answer has a date header"),
    ],
)
def test_a_source_the_provenance_cannot_describe_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    edit: Callable[[list[dict[str, Any]]], None],
    problem: str,
) -> None:
    source = _with(tmp_path, edit, name=name)
    out = tmp_path / "imported.yaml"

    code, err = _import(source, out, capsys)

    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"chsm-checks: {source}: {problem}")
    assert not out.exists()


# -- the gate accepts an imported recording, and nothing that only looks like one -----------------


def _provenance_edited(tmp_path: Path, edit: Callable[[dict[str, Any]], None], path: Path = IMPORTED) -> Path:
    data = yaml.safe_load(path.read_text())
    edit(data["metadata"]["provenance"])
    copy = tmp_path / "cassettes" / path.name
    copy.parent.mkdir()
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


GOOD_SHA = "0" * 64


@pytest.mark.parametrize(
    ("edit", "path", "problem"),
    [
        (lambda p: p.pop("source"), IMPORTED, "missing; an imported recording says where it came from"),
        (
            lambda p: p.update(source="imported from azure-cli"),
            IMPORTED,
            "not 'imported from <tool>, <file name>, <sha256>'",
        ),
        (
            lambda p: p.update(source="imported from azure-cli, x.yaml, abc123"),
            IMPORTED,
            "not 'imported from <tool>, <file name>, <sha256>'",
        ),
        (
            lambda p: p.update(source=f"imported from azure-cli, ../x.yaml, {GOOD_SHA}"),
            IMPORTED,
            "not 'imported from <tool>, <file name>, <sha256>'",
        ),
        (
            lambda p: p.update(
                source=f"imported from other-tool, x.yaml, {GOOD_SHA}", target_name="other-tool"
            ),
            IMPORTED,
            "other-tool: not a tool recordings are imported from (azure-cli)",
        ),
        (
            lambda p: p.update(source=f"imported from azure-cli, x.yaml, {GOOD_SHA}"),
            SHIPPED,
            "target_kind and target_name",
        ),
        (
            lambda p: p.update(source=["a list"]),
            IMPORTED,
            "not 'imported from <tool>, <file name>, <sha256>'",
        ),
    ],
    ids=["no source", "no file", "no sha256", "a path", "unknown tool", "harness recording", "not text"],
)
def test_the_gate_refuses_a_provenance_that_only_looks_imported(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], path: Path, problem: str
) -> None:
    copy = _provenance_edited(tmp_path, edit, path)

    report = inspect_recordings(copy.parent)

    assert report.exit_code == 2
    assert len(report.unusable) == 1, report.unusable
    assert report.unusable[0].startswith(f"{copy}: metadata.provenance.source: {problem}")
