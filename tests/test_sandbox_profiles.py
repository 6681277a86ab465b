"""Sandbox profiles: each is the compliant world with exactly one fault, and the jobs feel that fault."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.cli import main
from chsm_checks.sandbox import SandboxSettings, create_app, seed_state
from chsm_checks.sandbox.activity import seeded_backup
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.profiles import PROFILES
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.world import SOURCE_BACKUPS
from tests.support.processes import sandbox_process

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx is what this project ships.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = sandbox_guid(1, "subscription")
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox"
HSM_API = "api-version=2025-03-31"
STORAGE_API = "api-version=2025-01-01"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
FAST = SandboxSettings(backup_seconds=0.02, restore_seconds=0.02)

# Labels: resource ids relative to the group's (or the subscription's) providers.
SOURCE = "Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-source"
DEST = "Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-dest"
ACCOUNT = "Microsoft.Storage/storageAccounts/chsmbackupsbx"
ENDPOINT = "Microsoft.Network/privateEndpoints/pe-chsmbackupsbx-blob"
BLOB_SERVICE = f"{ACCOUNT}/blobServices/default"
CONTAINER = f"{BLOB_SERVICE}/containers/chsm-backups"
# The seeded resource group's CanNotDelete lock, which unlocked removes.
COMPLIANT_LOCK = seed_state(SandboxSettings())["locks"][0]
SETTING = "providers/Microsoft.Insights/diagnosticSettings/to-log-chsm-audit"
# The source cluster's diagnostic setting, which cluster-logs-off removes whole.
COMPLIANT_CLUSTER_SETTING = next(
    s
    for s in seed_state(SandboxSettings())["diagnostic_settings"]
    if s["id"] == f"{GROUP}/providers/{SOURCE}/{SETTING}"
)
# The compliant container's Locked retention policy, which immutability-absent removes whole.
COMPLIANT_POLICY = next(
    r["properties"]["immutabilityPolicy"]
    for r in seed_state(SandboxSettings())["resources"]
    if r["id"] == f"{GROUP}/providers/{CONTAINER}"
)
EXTRA = "Microsoft.ManagedIdentity/userAssignedIdentities/id-chsm-extra"
CONTRIBUTOR_ASSIGNMENT = (
    f"{ACCOUNT}/providers/Microsoft.Authorization/roleAssignments/{sandbox_guid(1, 'roleassignment', 1)}"
)
ROLE_DEFINITIONS = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
CONNECTION_STATUS = "properties.privateLinkServiceConnectionState.status"
# The faults the sandbox's jobs judge; the others are for the checks alone.
JOB_FAULTS = ("role-other-principal", "owner-instead-of-contributor", "destination-active")


class Missing:
    """Stands for a key that is absent, which is not the same as a null value."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()
PENDING = ("Approved", "Pending")

EXPECTED_CHANGES: dict[str, dict[str, tuple[Any, Any]]] = {
    "compliant": {},
    "shared-key-default": {f"{ACCOUNT}:properties.allowSharedKeyAccess": (False, MISSING)},
    "endpoint-pending": {
        f"{ACCOUNT}:properties.privateEndpointConnections[0].{CONNECTION_STATUS}": PENDING,
        f"{ENDPOINT}:properties.privateLinkServiceConnections[0].{CONNECTION_STATUS}": PENDING,
    },
    "public-network-open": {
        f"{ACCOUNT}:properties.publicNetworkAccess": ("Disabled", "Enabled"),
        f"{ACCOUNT}:properties.networkAcls.defaultAction": ("Deny", "Allow"),
    },
    "role-other-principal": {
        f"{CONTRIBUTOR_ASSIGNMENT}:properties.principalId": (
            sandbox_guid(1, "principal", 1),
            sandbox_guid(1, "principal", 9),
        )
    },
    "owner-instead-of-contributor": {
        f"{CONTRIBUTOR_ASSIGNMENT}:properties.roleDefinitionId": (
            f"{ROLE_DEFINITIONS}/ba92f5b4-2d11-453d-a403-e96b0029c9fe",
            f"{ROLE_DEFINITIONS}/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        )
    },
    "two-identities": {
        EXTRA: (
            MISSING,
            {
                "id": f"{GROUP}/providers/{EXTRA}",
                "name": "id-chsm-extra",
                "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                "location": "uksouth",
                "tags": {},
                "properties": {
                    "principalId": sandbox_guid(1, "principal", 3),
                    "clientId": sandbox_guid(1, "client", 2),
                    "tenantId": sandbox_guid(1, "tenant"),
                },
            },
        ),
        f"{SOURCE}:identity.userAssignedIdentities[{GROUP}/providers/{EXTRA}]": (
            MISSING,
            {"principalId": None, "clientId": None},
        ),
    },
    "destination-active": {
        f"{DEST}:properties.activationState": ("NotActivated", "Active"),
        "hsm/chsm-dest:users[0].type": ("PRECO", "PCO"),
    },
    "tls-1-0": {f"{ACCOUNT}:properties.minimumTlsVersion": ("TLS1_2", "TLS1_0")},
    "blob-soft-delete-off": {
        f"{BLOB_SERVICE}:properties.deleteRetentionPolicy.enabled": (True, False),
        f"{BLOB_SERVICE}:properties.deleteRetentionPolicy.days": (7, MISSING),
    },
    "container-soft-delete-off": {
        f"{BLOB_SERVICE}:properties.containerDeleteRetentionPolicy.enabled": (True, False),
        f"{BLOB_SERVICE}:properties.containerDeleteRetentionPolicy.days": (7, MISSING),
    },
    "versioning-off": {f"{BLOB_SERVICE}:properties.isVersioningEnabled": (True, False)},
    "immutability-absent": {
        f"{CONTAINER}:properties.hasImmutabilityPolicy": (True, False),
        f"{CONTAINER}:properties.immutabilityPolicy": (COMPLIANT_POLICY, MISSING),
    },
    "locally-redundant": {
        f"{ACCOUNT}:sku.name": ("Standard_GRS", "Standard_LRS"),
        f"{BLOB_SERVICE}:sku.name": ("Standard_GRS", "Standard_LRS"),
        f"{ACCOUNT}:properties.secondaryLocation": ("ukwest", MISSING),
        f"{ACCOUNT}:properties.statusOfSecondary": ("available", MISSING),
    },
    "unlocked": {"Microsoft.Authorization/locks/lock-chsm-no-delete": (COMPLIANT_LOCK, MISSING)},
    "cluster-public-network": {f"{SOURCE}:properties.publicNetworkAccess": ("Disabled", "Enabled")},
    "cluster-logs-off": {f"{SOURCE}/{SETTING}": (COMPLIANT_CLUSTER_SETTING, MISSING)},
    "blob-reads-unlogged": {
        f"{BLOB_SERVICE}/{SETTING}:properties.logs[0].categoryGroup": ("allLogs", "audit")
    },
    "backup-overdue": {
        "backup_history": (
            [seeded_backup(f"{GROUP}/providers/{SOURCE}", hours, status) for hours, status in SOURCE_BACKUPS],
            [
                seeded_backup(f"{GROUP}/providers/{SOURCE}", hours, status)
                for hours, status in ((6.0, "Failed"), (30.0, "Succeeded"), (54.0, "Succeeded"))
            ],
        )
    },
    # Slower restores, and a recorded clock at a live poller's pace (tests/test_profiles.py).
    "slow-recovery": {"restore_seconds": (MISSING, 100.0)},
}


def world_view(state: dict[str, Any]) -> dict[str, Any]:
    """ARM resources, role assignments, locks, diagnostic settings and HSM contents, each under a short,
    stable label."""
    group_prefix = f"{GROUP}/providers/"
    sub_prefix = f"/subscriptions/{SUB}/providers/"
    view: dict[str, Any] = {}
    for item in [
        *state["resources"],
        *state["role_assignments"],
        *state["locks"],
        *state["diagnostic_settings"],
    ]:
        view[item["id"].removeprefix(group_prefix).removeprefix(sub_prefix)] = item
    view["backup_history"] = state["backup_history"]
    if "restore_seconds" in state:
        view["restore_seconds"] = state["restore_seconds"]
    names = {r["id"]: r["name"] for r in state["resources"]}
    for cluster_id, hsm in state["hsm"].items():
        view[f"hsm/{names[cluster_id]}"] = hsm
    return view


def json_diff(old: Any, new: Any, path: str) -> dict[str, tuple[Any, Any]]:
    """Every leaf that differs, as ``path -> (old, new)``; MISSING marks an absent key."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: dict[str, tuple[Any, Any]] = {}
        for key in [*old, *(k for k in new if k not in old)]:
            step = f"{'.' if ':' in path else ':'}{key}" if key.isidentifier() else f"[{key}]"
            changes |= json_diff(old.get(key, MISSING), new.get(key, MISSING), path + step)
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes = {}
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            changes |= json_diff(a, b, f"{path}[{i}]")
        return changes
    return {} if old == new else {path: (old, new)}


def world_diff(old_state: dict[str, Any], new_state: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    old, new = world_view(old_state), world_view(new_state)
    changes: dict[str, tuple[Any, Any]] = {}
    for label in [*old, *(k for k in new if k not in old)]:
        if label not in old or label not in new:
            changes[label] = (old.get(label, MISSING), new.get(label, MISSING))
        else:
            changes |= json_diff(old[label], new[label], label)
    return changes


def test_every_profile_is_listed_and_described() -> None:
    assert list(PROFILES) == list(EXPECTED_CHANGES)
    for name, profile in PROFILES.items():
        assert profile.name == name
        assert profile.description


@pytest.mark.parametrize("name", list(EXPECTED_CHANGES))
def test_profile_is_one_fault_away_from_compliant(name: str) -> None:
    compliant = seed_state(SandboxSettings())
    state = seed_state(SandboxSettings(profile=name))

    assert world_diff(compliant, state) == EXPECTED_CHANGES[name]
    # Nothing else in the state differs, bar the profile recorded in its settings.
    viewed = (
        "resources", "role_assignments", "locks", "diagnostic_settings", "backup_history", "hsm",
        "restore_seconds",
    )  # fmt: skip
    rest = {k: v for k, v in state.items() if k not in viewed}
    assert rest == {k: v for k, v in compliant.items() if k not in viewed} | {
        "settings": compliant["settings"] | {"profile": name}
    }


def test_second_identity_comes_after_the_first() -> None:
    state = seed_state(SandboxSettings(profile="two-identities"))
    source = next(r for r in state["resources"] if r["name"] == "chsm-source")
    assert [i.rsplit("/", 1)[-1] for i in source["identity"]["userAssignedIdentities"]] == [
        "id-chsm-backup",
        "id-chsm-extra",
    ]
    identities = [r["name"] for r in state["resources"] if r["type"].endswith("userAssignedIdentities")]
    assert identities == ["id-chsm-backup", "id-chsm-extra"]


@pytest.mark.parametrize("name", list(PROFILES))
def test_profiles_are_deterministic(name: str) -> None:
    first = seed_state(SandboxSettings(profile=name))
    assert json.dumps(first) == json.dumps(seed_state(SandboxSettings(profile=name)))


def test_profile_ids_derive_from_the_seed() -> None:
    state = seed_state(SandboxSettings(seed=2, profile="role-other-principal"))
    assert state["role_assignments"][0]["properties"]["principalId"] == sandbox_guid(2, "principal", 9)
    state = seed_state(SandboxSettings(seed=2, profile="two-identities"))
    extra = next(r for r in state["resources"] if r["name"] == "id-chsm-extra")
    assert extra["properties"]["principalId"] == sandbox_guid(2, "principal", 3)
    assert extra["id"].startswith(f"/subscriptions/{sandbox_guid(2, 'subscription')}/")


def client_for(tmp_path: Path, profile: str) -> TestClient:
    return TestClient(create_app(tmp_path, replace(FAST, profile=profile)))


def run_job(client: TestClient, cluster: str, action: str, body: dict[str, str]) -> dict[str, Any]:
    """Start a backup or restore and poll it to the end; the final ``properties``."""
    url = f"{GROUP}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters/{cluster}/{action}"
    started = client.post(f"{url}?{HSM_API}", json=body)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = client.get(started.headers["location"])
        if response.status_code == 200:
            properties: dict[str, Any] = response.json()["properties"]
            return properties
        assert response.status_code == 202, response.text
        time.sleep(0.01)
    raise AssertionError(f"the {action} on {cluster} still runs after 5 s")


def backup(client: TestClient) -> dict[str, Any]:
    return run_job(client, "chsm-source", "backup", {"azureStorageBlobContainerUri": CONTAINER_URI})


def restore(client: TestClient, backup_id: str) -> dict[str, Any]:
    body = {"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": backup_id}
    return run_job(client, "chsm-dest", "restore", body)


@pytest.mark.parametrize("name", ["role-other-principal", "owner-instead-of-contributor"])
def test_identity_without_blob_data_role_cannot_back_up(tmp_path: Path, name: str) -> None:
    result = backup(client_for(tmp_path, name))

    assert result["status"] == "Failed"
    assert result["error"]["code"] == "AuthorizationPermissionMismatch"
    assert "backupId" not in result


def test_restore_into_an_active_destination_is_refused(tmp_path: Path) -> None:
    client = client_for(tmp_path, "destination-active")
    backed_up = backup(client)
    assert backed_up["status"] == "Succeeded"

    result = restore(client, backed_up["backupId"])

    assert result["status"] == "Failed"
    assert result["error"]["code"] == "RestoreTargetNotEligible"


# slow-recovery's restore works, in the 100 s it takes by design (tests/test_profiles.py replays it).
@pytest.mark.parametrize("name", [name for name in PROFILES if name not in (*JOB_FAULTS, "slow-recovery")])
def test_faults_the_jobs_do_not_judge_leave_backup_and_restore_working(tmp_path: Path, name: str) -> None:
    client = client_for(tmp_path, name)
    backed_up = backup(client)
    assert backed_up["status"] == "Succeeded", backed_up

    assert restore(client, backed_up["backupId"])["status"] == "Succeeded"


def test_reset_reapplies_the_profile(tmp_path: Path) -> None:
    client = client_for(tmp_path, "destination-active")
    restore(client, backup(client)["backupId"])  # a refused restore leaves chsm-dest Failed

    client.post("/_sandbox/reset")

    fresh = seed_state(replace(FAST, profile="destination-active"))
    served = client.get("/_sandbox/state").json()
    # The store notes its clock's start beside the seeded state, to date the seeded history from it.
    assert served == fresh | {"clock_started_us": served["clock_started_us"]}


def test_reopening_with_another_profile_raises_unless_reset(tmp_path: Path) -> None:
    SandboxStore(tmp_path, SandboxSettings(profile="tls-1-0"))
    stored = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert stored["settings"]["profile"] == "tls-1-0"

    with pytest.raises(ValueError, match="seeded with profile tls-1-0, not compliant; start with reset=True"):
        SandboxStore(tmp_path, SandboxSettings())
    with SandboxStore(tmp_path).transaction() as state:  # no settings: keep the stored ones
        assert state["settings"]["profile"] == "tls-1-0"
    with SandboxStore(tmp_path, SandboxSettings(), reset=True).transaction() as state:
        assert state == seed_state(SandboxSettings()) | {"clock_started_us": state["clock_started_us"]}


def test_unknown_profile_is_refused_with_the_known_names() -> None:
    with pytest.raises(
        ValueError, match=r"profile must be one of compliant, .*, slow-recovery, not 'tls-1-1'"
    ):
        SandboxSettings(profile="tls-1-1")


def test_state_without_a_profile_reads_as_compliant() -> None:
    assert SandboxSettings.from_json({"seed": 3}).profile == "compliant"


def test_serve_help_lists_the_profiles(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # so that argparse does not break names at their hyphens
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "serve", "--help"])

    assert exit_info.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--profile NAME environment of a new state, compliant or one fault away from it: " in shown
    assert f"{', '.join(PROFILES)} (default compliant)" in shown


def test_serve_refuses_an_unknown_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "serve", "--state", str(tmp_path), "--profile", "tls-1-1"])

    assert exit_info.value.code == 2
    assert "argument --profile: invalid choice: 'tls-1-1'" in capsys.readouterr().err
    assert not (tmp_path / "state.json").exists()


def test_building_the_parser_does_not_import_the_sandbox() -> None:
    # The profile names come from the sandbox package, which pulls in starlette and uvicorn.
    probe = (
        "import sys; from chsm_checks.cli import _parser; _parser().parse_args(['run']); "
        "print(sorted(m for m in sys.modules if m.startswith(('chsm_checks.sandbox', 'uvicorn'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_served_profile_answers_over_http(tmp_path: Path) -> None:
    with sandbox_process(tmp_path, "--profile", "tls-1-0") as sandbox:
        account = sandbox.get(f"{GROUP}/providers/{ACCOUNT}?{STORAGE_API}")
        assert account["properties"]["minimumTlsVersion"] == "TLS1_0"
        assert sandbox.get("/_sandbox/state")["settings"]["profile"] == "tls-1-0"

    # Started again without --profile, the state's profile and the default disagree.
    with (
        pytest.raises(RuntimeError, match="seeded with profile tls-1-0, not compliant"),
        sandbox_process(tmp_path),
    ):
        pass
