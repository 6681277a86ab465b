"""ARM faults injected into the running sandbox: each one ends a scenario as *error* (could not
evaluate) or *failed* (the service said no), with the reason in its message — never *passed* — and
every run still leaves a complete report and a bundle that verifies.

Each fault is a rule given to the sandbox's ``/_sandbox/arm-faults`` control; the real
``chsm-checks run`` then drives one scenario into it. One sandbox serves the module: its rules are
cleared and its world re-seeded before every test.
"""

from __future__ import annotations

import base64
import json
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from chsm_checks.arm import ArmClient, ArmError, PollPolicy
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.resources import get_cluster, post_backup
from chsm_checks.sandbox import SandboxSettings, create_app
from tests.support.processes import Sandbox, project_copy, run_cli, sandbox_process, summary

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SUB = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"
CLUSTERS = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox/providers"
    "/Microsoft.HardwareSecurityModules/cloudHsmClusters"
)
SOURCE = f"{CLUSTERS}/chsm-source"
DEST = f"{CLUSTERS}/chsm-dest"
CONTAINER = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"

# The scenarios a fault concerns, by -k expression and by the name summary.json gives them.
BACKUP = (
    "backup_of_the_activated",
    "A backup of the activated source cluster completes and yields a backup id",
)
RESTORE = (
    "restore_into_a_notactivated",
    "A restore into a NotActivated destination completes and activates it",
)
SHARED_KEY = ("refuses_shared_key_access", "The storage account refuses shared key access")

# Tight enough that every fault ends in seconds: two attempts, three seconds of retrying.
ARM_SETTINGS = {
    "poll_interval_seconds": 0.2,
    "operation_timeout_seconds": 5,
    "request_timeout_seconds": 5,
    "max_attempts": 2,
    "retry_budget_seconds": 3,
}


@dataclass(frozen=True)
class Fault:
    """One injected fault, the scenario it hits, and what the run must then say."""

    rules: list[dict[str, Any]]
    scenario: tuple[str, str]
    outcome: str  # "error" or "failed"
    reason: str  # a fragment of the scenario's message
    requests: dict[str, int] = field(default_factory=dict)  # "<METHOD> <path regex>": how many reached it
    arm: dict[str, float] = field(default_factory=dict)  # target [arm] settings beyond ARM_SETTINGS
    mode: str = "live"
    proof: Callable[[Sandbox], None] | None = None  # what else the sandbox must show afterwards


def _guard_read_the_destination_last(sandbox: Sandbox) -> None:
    """The destination turned Active between the guard's fresh GET and the POST: the log shows that
    the guard read it right before the POST, and the service failed the job (the documented hazard)."""
    requests = [(r["method"], r["path"]) for r in sandbox.requests()]
    post = requests.index(("POST", f"{DEST}/restore"))
    # The step's read ("the destination cluster reads NotActivated"), then the guard's own.
    assert requests[post - 2 : post] == [("GET", DEST), ("GET", DEST)], requests
    (destination,) = [r for r in sandbox.get("/_sandbox/state")["resources"] if r["id"] == DEST]
    assert destination["properties"]["activationState"] == "Failed"


def _rule(request: str, effect: str, path: str | None = None, **more: Any) -> dict[str, Any]:
    match = {"request": request} | ({"path": path} if path else {})
    return {"match": match, "effect": effect, **more}


FAULTS = {
    "429-retry-after-beyond-the-budget": Fault(
        [_rule("read", "status", status=429, retry_after=30, times="always")],
        BACKUP,
        "error",
        "HTTP 429 TooManyRequests",
        {"GET chsm-source$": 1, "POST /backup$": 0},  # Retry-After 30 s > 3 s budget: no second try
    ),
    "429-storm-beyond-the-attempts": Fault(
        [_rule("read", "status", status=429, retry_after=1, times="always")],
        BACKUP,
        "error",
        "HTTP 429 TooManyRequests",
        {"GET chsm-source$": 2, "POST /backup$": 0},
    ),
    "500-on-a-read": Fault(
        [_rule("read", "status", status=500, times="always")],
        BACKUP,
        "error",
        "HTTP 500 InternalServerError",
        {"GET chsm-source$": 2, "POST /backup$": 0},
    ),
    "503-on-a-read-of-the-destination": Fault(
        [_rule("read", "status", path="chsm-dest$", status=503, times="always")],
        RESTORE,
        "error",
        "HTTP 503 ServiceUnavailable",
        # The drill's prerequisite read (two tries, let through: the guard reads again), the step's.
        {"GET chsm-dest$": 4, "POST /restore$": 0},
    ),
    "503-on-a-catalogue-read": Fault(
        [_rule("read", "status", path="storageAccounts/chsmbackupsbx$", status=503, times="always")],
        SHARED_KEY,
        "error",
        "HTTP 503 ServiceUnavailable",
        {"GET storageAccounts/chsmbackupsbx$": 2},
    ),
    "500-on-the-backup-post": Fault(
        [_rule("backup-post", "status", status=500, times="always")],
        BACKUP,
        "error",
        "HTTP 500 InternalServerError",
        {"POST /backup$": 1},  # the job may have started: never sent twice
    ),
    "503-on-the-restore-post": Fault(
        [_rule("restore-post", "status", status=503, retry_after=1, times="always")],
        RESTORE,
        "error",
        "HTTP 503 ServiceUnavailable",
        {"POST /restore$": 1},
        mode="record",
    ),
    "500-on-a-status-poll": Fault(
        [_rule("operation-status", "status", status=500, times="always")],
        BACKUP,
        "error",
        "HTTP 500 InternalServerError",
        {"POST /backup$": 1, "GET backupOperationStatus": 2},
    ),
    "503-on-a-status-poll": Fault(
        [_rule("operation-status", "status", path="restoreOperationStatus", status=503, times="always")],
        RESTORE,
        "error",
        "HTTP 503 ServiceUnavailable",
        {"POST /restore$": 1, "GET restoreOperationStatus": 2},
    ),
    "connection-reset-mid-body-on-a-read": Fault(
        [_rule("read", "reset", times="always")],
        BACKUP,
        "error",
        "peer closed connection without sending complete message body",
        {"GET chsm-source$": 2, "POST /backup$": 0},
        mode="record",
    ),
    "connection-reset-mid-body-on-the-backup-post": Fault(
        [_rule("backup-post", "reset")],
        BACKUP,
        "error",
        "RemoteProtocolError",
        {"POST /backup$": 1},  # it reached the service: never resent
    ),
    "truncated-body-on-a-read": Fault(
        [_rule("read", "truncate", path="chsm-source$")],
        BACKUP,
        "error",
        "MalformedResponse: the body is not JSON",
        {"GET chsm-source$": 1, "POST /backup$": 0},
    ),
    "truncated-body-on-the-final-status": Fault(
        [_rule("operation-status", "truncate", times="always")],
        BACKUP,
        "error",
        "HTTP 200 with a body that is not JSON",
        {"POST /backup$": 1},
        mode="record",
    ),
    "non-json-body-on-a-read": Fault(
        # Twice: the drill's prerequisite read of the destination meets it first, then the step's.
        [_rule("read", "not-json", path="chsm-dest$", times=2)],
        RESTORE,
        "error",
        "MalformedResponse: the body is not JSON",
        {"POST /restore$": 0},
    ),
    "non-json-body-on-a-status-poll": Fault(
        [_rule("operation-status", "not-json", path="restoreOperationStatus")],
        RESTORE,
        "error",
        "with a body that is not JSON",
        {"POST /restore$": 1},
    ),
    "status-url-404": Fault(
        [
            _rule(
                "operation-status",
                "status",
                status=404,
                error={"code": "ResourceNotFound", "message": "The operation was not found."},
            )
        ],
        BACKUP,
        "error",
        "HTTP 404 ResourceNotFound",
        {"POST /backup$": 1, "GET backupOperationStatus": 1},
    ),
    "job-ends-failed-with-an-error-body": Fault(
        [
            _rule(
                "backup-post",
                "job-ends",
                ends="Failed",
                error={"code": "BackupStorageUnreachable", "message": "The storage account was unreachable."},
            )
        ],
        BACKUP,
        "failed",
        "the backup ended 'Failed', not 'Succeeded' (BackupStorageUnreachable: The storage account was",
        {"POST /backup$": 1},
    ),
    "job-ends-cancelled": Fault(
        [_rule("restore-post", "job-ends", ends="Cancelled")],
        RESTORE,
        "failed",
        "the restore ended 'Cancelled', not 'Succeeded'",
        {"POST /restore$": 1},
    ),
    "job-ends-canceled": Fault(
        [_rule("backup-post", "job-ends", ends="Canceled")],
        BACKUP,
        "failed",
        "the backup ended 'Canceled', not 'Succeeded'",
        {"POST /backup$": 1},
    ),
    "job-never-ends": Fault(
        [_rule("backup-post", "job-ends", ends="never")],
        BACKUP,
        "error",
        "OperationTimeout: backup: still running after",
        {"POST /backup$": 1},
        arm={"operation_timeout_seconds": 1},
    ),
    "destination-activated-between-the-guard-read-and-the-restore-post": Fault(
        [_rule("restore-post", "activate-cluster")],
        RESTORE,
        "failed",
        "the restore ended 'Failed', not 'Succeeded' (RestoreTargetNotEligible",
        {"POST /restore$": 1},
        proof=_guard_read_the_destination_last,
    ),
}


@dataclass
class Bench:
    """The module's sandbox and project copy."""

    sandbox: Sandbox
    project: Path

    def inject(self, rules: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.sandbox.url}/_sandbox/arm-faults", json=rules, timeout=30)
        assert response.status_code == 201, response.text

    def rules(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.sandbox.get("/_sandbox/arm-faults")["rules"]
        return listed

    def target(self, arm: dict[str, float]) -> str:
        text = (self.project / "targets" / "sandbox.toml").read_text()
        for key, value in (ARM_SETTINGS | arm).items():
            text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.MULTILINE)
        (self.project / "targets" / "faults.toml").write_text(text)
        return "targets/faults.toml"


@pytest.fixture(scope="module")
def module_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    project = project_copy(tmp_path_factory.mktemp("faults"))
    with sandbox_process(
        project / ".sandbox", "--backup-seconds", "0.2", "--restore-seconds", "0.2"
    ) as sandbox:
        yield Bench(sandbox, project)


@pytest.fixture
def bench(module_bench: Bench) -> Bench:
    """The module's sandbox with no fault rules and a freshly seeded world."""
    httpx.delete(f"{module_bench.sandbox.url}/_sandbox/arm-faults", timeout=30).raise_for_status()
    module_bench.sandbox.post("/_sandbox/reset")
    return module_bench


def _count(requests: list[dict[str, Any]], method_and_path: str) -> int:
    method, path = method_and_path.split(" ", 1)
    return sum(1 for r in requests if r["method"] == method and re.search(path, r["path"]))


@pytest.mark.parametrize("name", list(FAULTS))
def test_an_arm_fault_ends_as_error_or_failed_with_its_reason(
    bench: Bench, name: str, tmp_path: Path
) -> None:
    fault = FAULTS[name]
    keyword, scenario = fault.scenario
    bench.inject(fault.rules)
    reports = tmp_path / "reports"
    cassettes = tmp_path / "cassettes"

    result = run_cli(
        "run", "--mode", fault.mode, "--allow-mutations", "--target", bench.target(fault.arm),
        *bench.sandbox.addressed, "--cassettes", str(cassettes), "--reports", str(reports), "--no-html",
        "-k", keyword,
        cwd=bench.project, timeout=60,
    )  # fmt: skip
    requests = bench.sandbox.requests()

    assert result.returncode == (3 if fault.outcome == "error" else 1), result.output
    assert "Traceback" not in result.output
    report = summary(reports)
    (entry,) = report["scenarios"]  # every scenario of the run is listed: the one selected
    assert (entry["name"], entry["outcome"]) == (scenario, fault.outcome), entry
    assert fault.reason in entry["message"], entry["message"]
    assert report["counts"]["passed"] == 0
    assert report["counts"][fault.outcome] == 1
    assert all(rule["fired"] >= 1 for rule in bench.rules()), bench.rules()
    for method_and_path, expected in fault.requests.items():
        assert _count(requests, method_and_path) == expected, (method_and_path, requests)
    if fault.proof is not None:
        fault.proof(bench.sandbox)
    verified = run_cli("verify", str(reports / "latest"))
    assert verified.returncode == 0, verified.output
    if fault.mode == "record":
        # A scenario that did not finish cleanly never becomes a recording.
        assert not list(cassettes.rglob("*.yaml"))


# -- an expired bearer token mid-run -------------------------------------------------------------
# chsm-checks sends no token to loopback (and `run` against the sandbox has no credential to
# send), so this is proved at the library level: ArmClient with a credential, against the sandbox
# process with its require-bearer rule.


def _jwt(expires: float) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'exp': expires, 'aud': 'sandbox'})}.c2lnbmF0dXJl"


class ScriptedCredential:
    """A ``TokenCredential`` handing out tokens of the given lifetimes in turn (the last one from then
    on), each claiming to the client that it is good for an hour."""

    def __init__(self, *lifetimes: float) -> None:
        self._lifetimes = list(lifetimes)
        self.issued: list[tuple[str, float]] = []  # each token and when the service will call it expired

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        lifetime = self._lifetimes.pop(0) if len(self._lifetimes) > 1 else self._lifetimes[0]
        expires = time.time() + lifetime
        self.issued.append((_jwt(expires), expires))
        # The client believes it has an hour; the service's clock says otherwise (skew, revocation).
        return AccessToken(self.issued[-1][0], int(time.time()) + 3600)


def test_an_expired_token_mid_run_is_refreshed_once_and_the_post_sent_once(bench: Bench) -> None:
    bench.inject([{"effect": "require-bearer", "times": "always"}])
    credential = ScriptedCredential(2, 3600)

    with ArmClient(sandbox_cloud(bench.sandbox.url), credential=credential) as client:
        assert get_cluster(client, SOURCE).activation_state == "Active"
        time.sleep(max(0.0, credential.issued[0][1] - time.time()) + 0.05)  # it expires mid-run
        result = post_backup(client, SOURCE, CONTAINER, PollPolicy(default_interval_seconds=0.2))

    assert result.succeeded
    assert len(credential.issued) == 2
    log = bench.sandbox.requests()
    assert (log[0]["method"], log[0]["status"]) == ("GET", 200)  # the first token, while it was valid
    posts = [r for r in log if r["method"] == "POST"]
    assert [(p["status"], p.get("fault")) for p in posts] == [(401, "require-bearer"), (202, None)]
    assert len(bench.sandbox.get("/_sandbox/state")["jobs"]) == 1


def test_a_token_still_expired_after_the_refresh_is_an_arm_error(bench: Bench) -> None:
    bench.inject([{"effect": "require-bearer", "times": "always"}])
    credential = ScriptedCredential(-60)

    with (
        ArmClient(sandbox_cloud(bench.sandbox.url), credential=credential) as client,
        pytest.raises(ArmError) as raised,
    ):
        get_cluster(client, SOURCE)

    assert (raised.value.status, raised.value.code) == (401, "ExpiredAuthenticationToken")
    assert len(credential.issued) == 2  # one refresh, no loop
    assert [r["status"] for r in bench.sandbox.requests()] == [401, 401]
    assert not any(token in str(raised.value) for token, _ in credential.issued)
    missing = httpx.get(f"{bench.sandbox.url}{SOURCE}?api-version=2025-03-31", timeout=30)
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "AuthenticationFailed")


# -- the control itself ---------------------------------------------------------------------------


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path, SandboxSettings(backup_seconds=0, restore_seconds=0))) as client:
        yield client


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"effect": "explode"}, "effect: one of"),
        ({"effect": "status"}, "status: the effect 'status' needs"),
        ({"effect": "status", "status": 200}, "status: a whole number from 400 to 599"),
        ({"effect": "job-ends", "ends": "Exploded"}, "ends: the effect 'job-ends' needs"),
        ({"effect": "reset", "times": 0}, "times:"),
        ({"effect": "reset", "match": {"path": "("}}, "match.path: not a regular expression"),
        ({"effect": "reset", "match": {"request": "any"}}, "match.request: one of"),
        ({"effect": "reset", "when": "now"}, "unknown field(s) when"),
        ({"effect": "status", "status": 500, "error": {"message": "x"}}, "error: an object with a 'code'"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(app_client: TestClient, rule: Any, problem: str) -> None:
    response = app_client.post("/_sandbox/arm-faults", json=[{"effect": "reset"}, rule])

    assert response.status_code == 400
    assert f"rule 2: {problem}" in response.json()["error"]["message"]
    assert app_client.get("/_sandbox/arm-faults").json() == {"rules": []}  # all or none


def test_rules_fire_in_order_as_often_as_asked_are_listed_and_cleared(app_client: TestClient) -> None:
    cluster = f"{SOURCE}?api-version=2025-03-31"
    app_client.post(
        "/_sandbox/arm-faults",
        json=[
            {
                "match": {"method": "get", "path": "chsm-SOURCE$"},
                "effect": "status",
                "status": 503,
                "times": 2,
            },
            {"match": {"request": "read"}, "effect": "status", "status": 500, "retry_after": 7, "times": 1},
        ],
    )

    answers = [app_client.get(cluster) for _ in range(4)]

    assert [a.status_code for a in answers] == [503, 503, 500, 200]
    assert answers[0].json()["error"]["code"] == "ServiceUnavailable"
    assert answers[2].headers["retry-after"] == "7"
    listed = app_client.get("/_sandbox/arm-faults").json()["rules"]
    assert [(r["id"], r["times"], r["fired"]) for r in listed] == [(1, 2, 2), (2, 1, 1)]
    assert listed[0]["match"] == {"method": "GET", "path": "chsm-SOURCE$"}
    log = app_client.get("/_sandbox/requests").json()
    assert [e.get("fault") for e in log] == ["status", "status", "status", None]
    assert app_client.delete("/_sandbox/arm-faults").json() == {"rules": []}
    assert app_client.get(cluster).status_code == 200


def test_a_forced_job_end_changes_nothing_in_the_world(app_client: TestClient) -> None:
    app_client.post(
        "/_sandbox/arm-faults",
        json={"match": {"request": "backup-post"}, "effect": "job-ends", "ends": "Cancelled"},
    )
    before = app_client.get("/_sandbox/state").json()

    accepted = app_client.post(
        f"{SOURCE}/backup?api-version=2025-03-31", json={"azureStorageBlobContainerUri": CONTAINER}
    )
    done = app_client.get(accepted.headers["location"])

    assert done.json()["properties"]["status"] == "Cancelled"
    assert "backupId" not in done.json()["properties"]
    assert app_client.get("/_sandbox/state").json()["backups"] == before["backups"]
