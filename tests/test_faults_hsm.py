"""HSM utility faults injected into the sandbox's simulators: every one ends truthfully.

Each fault is switched on through ``/_sandbox/hsm/{cluster}/faults`` (or the node and user knobs)
and driven twice: through the real pexpect sessions against the simulator processes (one table,
one test per row: fault → outcome → reason), and through ``chsm-checks run --mode live`` on the
restore drill, where the scenario the fault touches must end ``error`` or ``failed`` with the reason,
in a complete report whose bundle verifies. Never ``passed``; never a password in what was written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chsm_checks.errors import CouldNotEvaluate
from chsm_checks.hsm import drill
from chsm_checks.hsm.errors import HsmSessionError, LoginNotRetried
from chsm_checks.hsm.inventory import KeyInventory, UserInventory, compare_keys, compare_users
from chsm_checks.hsm.logins import RefusedLogins
from chsm_checks.hsm.runner import HsmRunner
from chsm_checks.hsm.sessions import MgmtUtilSession, Timeouts, UtilityDriver
from chsm_checks.modes import mode_named
from chsm_checks.recording.cassettes import Provenance
from chsm_checks.sandbox.hsm_state import NO_FAULTS
from tests.check_fixtures import DESTINATION_ID, failed_messages
from tests.support.processes import (
    SANDBOX_CU_PASSWORD,
    Sandbox,
    project_copy,
    run_cli,
    sandbox_process,
    summary,
)

CLUSTER = "chsm-source"  # the driver tests' cluster: the sandbox's cfg names it after a reset
GARBAGE_SNIPPET = "%%% 0xq7 ::: ###"  # the printable part of what garbage_on prints
CU = "cu1"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_process(tmp_path_factory.mktemp("faults") / "state") as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(served: Sandbox) -> Sandbox:
    """The module's sandbox, re-seeded: no faults, every node up, the cfg naming the source."""
    served.post("/_sandbox/reset")
    return served


def steer(sandbox: Sandbox, path: str, body: dict[str, Any]) -> None:
    httpx.patch(f"{sandbox.url}/_sandbox/hsm/{path}", json=body, timeout=30).raise_for_status()


def runner(sandbox: Sandbox, workdir: Path, command_timeout: float = 5, **kwargs: Any) -> HsmRunner:
    bin_dir = sandbox.state_dir / "hsm-client" / "bin"
    return mode_named(kwargs.pop("mode", "live")).hsm_runner(
        mgmt_util=str(bin_dir / "azcloudhsm_mgmt_util"),
        util=str(bin_dir / "azcloudhsm_util"),
        mgmt_config=str(bin_dir / "azcloudhsm_resource.cfg"),
        transcript_path=kwargs.pop("transcript_path", workdir / "transcript.yaml"),
        workdir=workdir,
        timeouts=Timeouts(startup=30, command=command_timeout),
        password=lambda: SANDBOX_CU_PASSWORD,
        **kwargs,
    )


@dataclass(frozen=True)
class Baseline:
    keys: KeyInventory
    users: UserInventory


@pytest.fixture(scope="module")
def baseline(served: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """What the fault-free cluster holds, to compare what a faulty session reads against."""
    served.post("/_sandbox/reset")
    hsm = runner(served, tmp_path_factory.mktemp("baseline"))
    return Baseline(drill.key_inventory(hsm, CU), drill.user_view(hsm).users)


# --- what a scenario does, and what it concludes ---------------------------------------------------

Findings = Callable[[HsmRunner, Baseline], list[str]]


def keys_and_nodes(hsm: HsmRunner, baseline: Baseline) -> list[str]:
    """The key scenarios: log in, inventory every key, compare, and check every node line."""
    found = drill.key_inventory(hsm, CU)
    comparison = compare_keys(baseline.keys, found)
    answers = drill.nodes_answer_success(DESTINATION_ID, found)
    return comparison.differences + comparison.extras + failed_messages(answers)


def cluster_nodes(hsm: HsmRunner, baseline: Baseline) -> list[str]:
    """The node scenario: start-up and getClusterInfo, three nodes all connected."""
    view = drill.cluster_view(hsm)
    return failed_messages(drill.nodes_connected(DESTINATION_ID, view.startup, view.info))


def users(hsm: HsmRunner, baseline: Baseline) -> list[str]:
    """The user scenario: listUsers on every server, the same users as before."""
    comparison = compare_users(baseline.users, drill.user_view(hsm).users)
    return comparison.differences + comparison.extras


def outcome(findings: Findings, hsm: HsmRunner, baseline: Baseline) -> tuple[str, str]:
    """How the scenario would end: ``error`` (could not evaluate), ``failed`` (findings) or ``passed``."""
    try:
        found = findings(hsm, baseline)
    except CouldNotEvaluate as exc:
        return "error", str(exc)
    return ("failed", "; ".join(found)) if found else ("passed", "")


def wrong_logins(count: int) -> Callable[[Sandbox, HsmRunner], None]:
    """``count`` wrong passwords typed before the fault's scenario, each by a run of its own (one run
    never types a refused login twice)."""

    def before(sandbox: Sandbox, hsm: HsmRunner) -> None:
        for _ in range(count):
            assert not drill.wrong_login(runner(sandbox, hsm.workdir), CU).result.ok

    return before


def node_down(sandbox: Sandbox, hsm: HsmRunner) -> None:
    steer(sandbox, f"{CLUSTER}/nodes/2", {"reachable": False})


@dataclass(frozen=True)
class Fault:
    name: str
    faults: dict[str, Any]
    findings: Findings
    outcome: str
    reasons: tuple[str, ...]
    before: Callable[[Sandbox, HsmRunner], None] | None = None
    command_timeout: float = 5


UNREACHABLE = "0x40000040 (HSM Error: RET_HSM_NODE_UNREACHABLE)"
FAULTS = [
    Fault("util exits at start", {"exit_at_start": "azcloudhsm_util"}, keys_and_nodes, "error",
          ("azcloudhsm_util: '(start)': the utility exited (status 1)", "Version info")),
    Fault("mgmt util exits at start", {"exit_at_start": "azcloudhsm_mgmt_util"}, cluster_nodes, "error",
          ("azcloudhsm_mgmt_util: '(start)': the utility exited (status 1)", "please wait")),
    Fault("hangs mid-command (findKey)", {"hang_on": "findKey"}, keys_and_nodes, "error",
          ("'findKey': no answer within 1 s", "last output: findKey"), command_timeout=1),
    # The command typed holds the password: the error names it redacted (it once named it whole).
    Fault("hangs mid-command (loginHSM)", {"hang_on": "loginHSM"}, keys_and_nodes, "error",
          ("'loginHSM -u CU -s cu1 -p REDACTED': no answer within 1 s",), command_timeout=1),
    Fault("hangs mid-command (listUsers)", {"hang_on": "listUsers"}, users, "error",
          ("'listUsers': no answer within 1 s",), command_timeout=1),
    Fault("garbage for findKey", {"garbage_on": "findKey"}, keys_and_nodes, "error",
          ("'findKey': unparseable output", "Cfm3FindKey returned: 0x", GARBAGE_SNIPPET, "\\x1b[1;31m")),
    Fault("garbage for loginHSM", {"garbage_on": "loginHSM"}, keys_and_nodes, "error",
          ("'loginHSM': unparseable output", "-p REDACTED", GARBAGE_SNIPPET)),
    Fault("garbage for getAttribute", {"garbage_on": "getAttribute"}, keys_and_nodes, "error",
          ("'getAttribute -o 6 -a 512 -out attrs-6.txt': unparseable output", GARBAGE_SNIPPET)),
    Fault("garbage for getKeyInfo", {"garbage_on": "getKeyInfo"}, keys_and_nodes, "error",
          ("'getKeyInfo -k 6': unparseable output", GARBAGE_SNIPPET)),
    Fault("garbage for getClusterInfo", {"garbage_on": "getClusterInfo"}, cluster_nodes, "error",
          ("'getClusterInfo': unparseable output", "Node Id  Hostname  Port", GARBAGE_SNIPPET)),
    Fault("garbage for listUsers", {"garbage_on": "listUsers"}, users, "error",
          ("'listUsers': unparseable output", GARBAGE_SNIPPET)),
    Fault("node drops after loginHSM", {"drop_node": {"node_id": 2, "after": "loginHSM"}}, keys_and_nodes,
          "failed", (f"findKey: node 2 answered {UNREACHABLE}",)),
    Fault("node down at start-up", {}, users, "failed",
          ("server 1 listed no users",), before=node_down),
    Fault("Retry/rollBack/Ignore on listUsers", {"rbi_on": "listUsers"}, users, "error",
          ("'listUsers': a server failed it", "answered B, rolled back", "listUsers failed on server 2",
           "Rolling back listUsers")),
    Fault("account locked after 2 failures", {"lock_after": 2}, keys_and_nodes, "failed",
          ("Cfm3LoginHSM returned 0xa3 (HSM Error: RET_USER_LOGIN_FAILURE)", "tried once, never retried"),
          before=wrong_logins(2)),
    Fault("client daemon down", {"daemon_down": True}, keys_and_nodes, "error",
          ("the client daemon is not reachable", "Daemon socket connection error")),
]  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_fault_ends_as_error_or_failed_with_its_reason(
    fault: Fault, sandbox: Sandbox, baseline: Baseline, tmp_path: Path
) -> None:
    hsm = runner(sandbox, tmp_path, fault.command_timeout)
    if fault.before is not None:
        fault.before(sandbox, hsm)
    if fault.faults:
        steer(sandbox, f"{CLUSTER}/faults", fault.faults)
    started = time.monotonic()

    ended, reason = outcome(fault.findings, hsm, baseline)

    assert ended == fault.outcome, reason
    for fragment in fault.reasons:
        assert fragment in reason
    # Bounded by the command's timeout: nothing waits beyond it.
    assert time.monotonic() - started < fault.command_timeout + 5
    # What the faulty session printed is kept, redacted, and is the error's last output.
    recorded = hsm.transcript.to_yaml()
    assert SANDBOX_CU_PASSWORD not in recorded + reason
    assert drill.WRONG_PASSWORD not in recorded + reason
    assert all(next(iter(s.events[-1])) in ("out", "hang", "exit") for s in hsm.transcript.sessions)


def test_a_fault_free_cluster_passes_every_check_the_table_uses(
    sandbox: Sandbox, baseline: Baseline, tmp_path: Path
) -> None:
    hsm = runner(sandbox, tmp_path)
    assert {f.__name__: outcome(f, hsm, baseline) for f in (keys_and_nodes, cluster_nodes, users)} == {
        "keys_and_nodes": ("passed", ""),
        "cluster_nodes": ("passed", ""),
        "users": ("passed", ""),
    }


def test_a_locked_account_is_tried_once_per_run_and_the_lock_is_not_counted_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    steer(sandbox, f"{CLUSTER}/faults", {"lock_after": 2})
    refused = RefusedLogins()  # one run's memory, as RunSecrets keeps it
    hsm = runner(sandbox, tmp_path, refused_logins=refused)
    wrong_logins(2)(sandbox, hsm)

    locked = drill.key_inventory(hsm, CU)
    with pytest.raises(LoginNotRetried, match=r"refused earlier in this run \(Cfm3LoginHSM returned 0xa3"):
        drill.key_inventory(hsm, CU)

    assert locked.login.returned.code == 0xA3
    assert [n.code for n in locked.login.nodes] == [0xA3] * 3
    typed = [[e["in"] for e in s.events if "in" in e] for s in hsm.transcript.sessions]
    assert typed == [[f"loginHSM -u CU -s {CU} -p REDACTED", "exit"], []]
    # The sandbox counted the two wrong passwords and nothing after: the lock was reported, not fed.
    (tmp_path / "mgmt").mkdir()
    mgmt = runner(sandbox, tmp_path / "mgmt")
    listed = drill.user_view(mgmt).users.by_server[0]
    assert [u.login_failures for u in listed if u.name == CU] == [2]
    # The management utility names the lock, and its Retry/rollBack/Ignore question is answered B.
    with mgmt.mgmt_session() as session:
        results = session.login("CU", CU, SANDBOX_CU_PASSWORD)
        assert (results[0].success, results[0].detail) == (False, "RET_USER_LOCKED_OUT")
        assert session.driver.rolled_back == ["loginHSM"]
        assert session.driver.typed == ["loginHSM", "B"]


def test_retry_rollback_ignore_on_a_login_is_rolled_back_on_the_server_that_failed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    steer(sandbox, f"{CLUSTER}/faults", {"rbi_on": "loginHSM"})
    hsm = runner(sandbox, tmp_path)
    hsm.keep_secret("sandbox-co-password")

    with hsm.mgmt_session() as session:
        results = session.login("CO", "admin", "sandbox-co-password")
        rolled_back = session.driver.rolled_back

    assert [(r.server, r.success, r.detail) for r in results] == [
        (0, True, ""),
        (1, True, ""),
        (2, False, "RET_HSM_COMM_FAILURE"),
    ]
    assert rolled_back == ["loginHSM"]
    assert "sandbox-co-password" not in hsm.transcript.to_yaml()
    printed = "".join(e.get("out", "") for e in hsm.transcript.sessions[0].events)
    assert "loginHSM failed on server 2(10.0.2.7)\r\nRetry/rollBack/Ignore?(R/B/I):" in printed
    assert "Rolling back loginHSM on the servers that succeeded" in printed


def test_a_faulty_session_recorded_replays_to_the_same_error(sandbox: Sandbox, tmp_path: Path) -> None:
    steer(sandbox, f"{CLUSTER}/faults", {"garbage_on": "findKey"})
    transcript = tmp_path / "faulty.transcript.yaml"
    recording = runner(sandbox, tmp_path, mode="record", transcript_path=transcript)
    with pytest.raises(HsmSessionError) as recorded:
        drill.key_inventory(recording, CU)
    recording.save(Provenance.now(target_kind="sandbox", target_name="t", cloud="Sandbox", scenario="s"))
    steer(sandbox, f"{CLUSTER}/faults", {"garbage_on": None})  # replay must not need the sandbox

    replaying = runner(sandbox, tmp_path, mode="replay", transcript_path=transcript)
    with pytest.raises(HsmSessionError) as replayed:
        drill.key_inventory(replaying, CU)

    assert str(replayed.value) == str(recorded.value)
    assert SANDBOX_CU_PASSWORD not in transcript.read_text(encoding="utf-8")
    assert "0xq7" in transcript.read_text(encoding="utf-8")


# A stand-in that asks Retry/rollBack/Ignore again whatever it is told: only a bounded wait ends it.
ASKS_FOREVER = """\
import sys
sys.stdout.write("cloudmgmt>"); sys.stdout.flush()
for line in sys.stdin:
    sys.stdout.write("listUsers failed on server 0(10.0.2.5)\\nRetry/rollBack/Ignore?(R/B/I):")
    sys.stdout.flush()
"""


def test_a_utility_that_keeps_asking_retry_rollback_ignore_ends_within_the_command_timeout(
    tmp_path: Path,
) -> None:
    script = tmp_path / "asks_forever.py"
    script.write_text(ASKS_FOREVER, encoding="utf-8")
    driver = UtilityDriver(
        "azcloudhsm_mgmt_util", [sys.executable, str(script)], MgmtUtilSession.PROMPT, cwd=tmp_path,
        env=None, timeouts=Timeouts(startup=5, command=1), recorder=None,
    )  # fmt: skip
    session = MgmtUtilSession(driver)
    driver.start()
    started = time.monotonic()

    with pytest.raises(HsmSessionError, match="no answer within 1 s"):
        session.list_users()

    assert time.monotonic() - started < 3
    assert driver.typed[0] == "listUsers"
    assert set(driver.typed[1:]) == {"B"}
    assert not driver.child.isalive()


# --- through `chsm-checks run --mode live`: the restore drill on a sandbox with faults ---------------

DRILL = ("-k", "not refused and not may_not_write", "--", "-m",
         "cloudhsm-backup-restore or cloudhsm-restore-validation")  # fmt: skip
NODES = "All three nodes of the restored destination are connected"
KEYS = "The crypto user finds the source's keys on the destination, matched by key id"
USERS = "Every destination node lists the source's users"
NODE_LINES = "Every node answers success for the login and for findKey"
TIMEOUT = "A utility that stops answering ends as an error after its timeout"


@dataclass(frozen=True)
class DrillRun:
    returncode: int
    output: str
    report: Path
    summary: dict[str, Any]

    def scenario(self, name: str) -> tuple[str, str]:
        (entry,) = [e for e in self.summary["scenarios"] if e["name"] == name]
        return entry["outcome"], entry["message"]

    def ended(self, name: str, outcome: str, *reasons: str) -> None:
        """Scenario ``name`` ended ``outcome`` and its message holds every one of ``reasons``."""
        ended, message = self.scenario(name)
        assert ended == outcome, f"{name}: {ended}: {message}"
        assert [reason for reason in reasons if reason not in message] == [], message

    def typed(self, utility: str) -> list[str]:
        """Every line typed at ``utility`` in the restore-validation scenarios, from the evidence."""
        lines = []
        for path in sorted((self.report / "evidence" / "restore_validation").rglob(f"*-hsm-{utility}.yaml")):
            events = yaml.safe_load(path.read_text(encoding="utf-8"))["events"]
            lines += [e["in"] for e in events if "in" in e]
        return lines


def drill_under(tmp_path: Path, faults: dict[str, Any], command_timeout: float = 15) -> DrillRun:
    """The backup, restore and restore validation, live, on a sandbox whose destination has ``faults``."""
    project = project_copy(tmp_path)
    with sandbox_process(
        project / ".sandbox", "--backup-seconds", "0.1", "--restore-seconds", "0.1"
    ) as sandbox:
        target = project / "targets" / "sandbox.toml"
        target.write_text(
            target.read_text(encoding="utf-8")
            .replace("poll_interval_seconds = 1", "poll_interval_seconds = 0.1")
            .replace("command_timeout_seconds = 15", f"command_timeout_seconds = {command_timeout:g}"),
            encoding="utf-8",
        )
        steer(sandbox, "chsm-dest/faults", faults)
        result = run_cli(
            "run", "--mode", "live", "--allow-mutations", "--target", "targets/sandbox.toml", "--no-html",
            *sandbox.addressed, "--reports", str(tmp_path / "reports"), *DRILL, cwd=project,
        )  # fmt: skip
    report = (tmp_path / "reports" / "latest").resolve()
    run = DrillRun(result.returncode, result.output, report, summary(tmp_path / "reports"))
    # Whatever the faults, the report is whole, the bundle verifies, and no password was written.
    assert run.summary["complete"] is True, run.output
    assert run.summary["counts"]["not_run"] == 0
    verified = run_cli("verify", str(report))
    assert verified.returncode == 0, verified.output
    for path in report.rglob("*"):
        if path.is_file():
            assert SANDBOX_CU_PASSWORD.encode() not in path.read_bytes(), path
    before_the_faults = [e for e in run.summary["scenarios"] if e["feature_file"] == "backup_restore.feature"]
    assert {e["outcome"] for e in before_the_faults} == {"passed"}, run.output
    return run


def test_run_garbage_retry_rollback_ignore_and_a_locked_account(tmp_path: Path) -> None:
    run = drill_under(tmp_path, {"garbage_on": "getClusterInfo", "rbi_on": "listUsers", "lock_after": 0})

    assert run.returncode == 3, run.output
    run.ended(NODES, "error", "'getClusterInfo': unparseable output", GARBAGE_SNIPPET)
    run.ended(USERS, "error", "'listUsers': a server failed it", "answered B, rolled back")
    run.ended(KEYS, "failed", "Cfm3LoginHSM returned 0xa3", "tried once, never retried")
    run.ended(NODE_LINES, "error", "was not tried: the same login was refused earlier in this run")
    # The locked crypto user was typed at once with its password (and once, on purpose, with a wrong one).
    logins = [line for line in run.typed("azcloudhsm_util") if line.startswith("loginHSM")]
    assert logins == [f"loginHSM -u CU -s {CU} -p REDACTED"] * 2


def test_run_a_utility_that_exits_at_start_and_a_client_daemon_that_is_down(tmp_path: Path) -> None:
    run = drill_under(tmp_path, {"exit_at_start": "azcloudhsm_mgmt_util", "daemon_down": True})

    assert run.returncode == 3, run.output
    for name in (NODES, USERS):
        run.ended(name, "error", "azcloudhsm_mgmt_util: '(start)': the utility exited (status 1)")
    for name in (KEYS, NODE_LINES, TIMEOUT):
        run.ended(name, "error", "the client daemon is not reachable", "Daemon socket connection error")
    assert run.typed("azcloudhsm_util") == []


def test_run_a_hung_command_and_a_node_that_drops_between_commands(tmp_path: Path) -> None:
    run = drill_under(tmp_path, {"hang_on": "listUsers", "drop_node": {"node_id": 2, "after": "loginHSM"}}, 2)

    assert run.returncode == 3, run.output
    run.ended(USERS, "error", "'listUsers': no answer within 2 s")
    run.ended(NODE_LINES, "failed", f"findKey: node 2 answered {UNREACHABLE}")
    assert "loginHSM: node" not in run.scenario(NODE_LINES)[1]  # node 2 answered the login, then dropped
    assert run.scenario(NODES) == ("passed", "")  # the management utility logs nobody in: no drop


def test_every_fault_switch_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert [switch for switch in NO_FAULTS if f"| `{switch}`" not in readme] == []
