"""``chsm-checks init``: a target from discovery, against the sandbox, that ``run`` accepts.

Discovery goes through the sandbox's real ARM server; the terminal's questions through a real
pseudo-terminal (pexpect). What init writes is read back by ``load_target`` and run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from chsm_checks.fleet.discovery import TAG_CONTAINER, TAG_PRIVATE_ENDPOINT, TAG_STORAGE_ACCOUNT
from chsm_checks.target import load_target
from tests.support.processes import (
    ROOT,
    SANDBOX_CU_PASSWORD,
    Sandbox,
    child_environment,
    run_cli,
    sandbox_process,
    summary,
)

REFERENCE = load_target(ROOT / "targets" / "sandbox.toml")
SUBSCRIPTION = REFERENCE.subscription_id
SOURCE_ID = REFERENCE.source_id
DESTINATION_ID = REFERENCE.destination_id


@pytest.fixture
def sandbox(tmp_path: Path) -> Any:
    with sandbox_process(tmp_path / "state") as running:
        yield running


def _init(sandbox: Sandbox, out: Path, *extra: str) -> Any:
    return run_cli(
        "init", "--subscription", SUBSCRIPTION, "--arm-endpoint", sandbox.url, "--out", str(out), *extra,
        cwd=out.parent,
    )  # fmt: skip


def _as_reference(out: Path) -> None:
    """The written target names what targets/sandbox.toml names."""
    written = load_target(out).spec
    reference = REFERENCE.spec
    for part in ("subscription_id", "source", "destination", "storage", "identity", "private_endpoint"):
        assert getattr(written, part) == getattr(reference, part), part
    assert written.hsm is not None
    assert written.hsm.from_sandbox
    assert written.hsm.user == "cu1"


def test_init_writes_a_commented_target_that_run_accepts_and_passes(tmp_path: Path, sandbox: Sandbox) -> None:
    out = tmp_path / "mine.toml"

    result = _init(sandbox, out, "--storage-account", "chsmbackupsbx")

    assert result.returncode == 0, result.output
    assert result.stdout.startswith(f"chsm-checks: wrote {out}: source rg-chsm-sandbox/chsm-source, ")
    _as_reference(out)
    text = out.read_text(encoding="utf-8")
    assert "Account found: named by --storage-account; container: the only container that fits." in text
    assert "# rpo_hours = 24" in text  # the defaults, said and left to the reader's policy
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine.toml")]  # no draft left
    assert {r["method"] for r in sandbox.requests()} == {"GET"}  # discovery only reads

    reports = tmp_path / "reports"
    run = run_cli(
        "run", "--mode", "live", "--target", str(out), "--reports", str(reports), "--no-html",
        "-k", "exactly_one_userassigned_identity or clusters_are_provisioned or private_endpoint",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.output
    outcomes = {e["outcome"] for e in summary(reports)["scenarios"]}
    assert outcomes == {"passed"}


def test_the_clusters_tags_name_the_backup_resources(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.arm(
        "PATCH",
        SOURCE_ID,
        {
            "tags": {
                TAG_STORAGE_ACCOUNT: REFERENCE.storage_account_id,
                TAG_CONTAINER: "chsm-backups",
                TAG_PRIVATE_ENDPOINT: REFERENCE.private_endpoint_id,
            }
        },
    )
    out = tmp_path / "target.toml"

    result = _init(sandbox, out)

    assert result.returncode == 0, result.output
    _as_reference(out)
    text = out.read_text(encoding="utf-8")
    assert f"Account found: the source cluster's {TAG_STORAGE_ACCOUNT} tag; container: the source" in text


def test_at_a_terminal_it_asks_which_cluster_is_which_and_which_account(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    out = tmp_path / "target.toml"
    env = child_environment() | {"CHSM_SANDBOX_CU_PASSWORD": SANDBOX_CU_PASSWORD}
    init = pexpect.spawn(
        sys.executable,
        ["-m", "chsm_checks", "init", "--subscription", SUBSCRIPTION, "--arm-endpoint", sandbox.url,
         "--out", str(out)],
        cwd=str(tmp_path), env=env, encoding="utf-8", timeout=60,
    )  # fmt: skip
    init.expect_exact("Which is the source cluster?")
    init.expect_exact("1) rg-chsm-sandbox/chsm-source  (Active)")
    init.expect_exact("number [1]: ")
    init.sendline("")
    init.expect_exact("Which is the destination cluster?")
    init.expect_exact("1) rg-chsm-sandbox/chsm-dest  (NotActivated)")
    init.expect_exact("number [1]: ")
    init.sendline("")
    init.expect_exact("Which is the storage account?")
    init.expect_exact("2) rg-chsm-sandbox/chsmnoaccesssbx")
    init.expect_exact("number: ")
    init.sendline("9")
    init.expect_exact("answer with a number from 1 to 2")
    init.sendline("1")
    init.expect(pexpect.EOF)
    init.close()

    assert init.exitstatus == 0, init.before
    _as_reference(out)
    assert "Account found: chosen at the terminal;" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("shape", "extra", "problem"),
    [
        pytest.param(
            None,
            ("--source", "chsm-source", "--destination", "chsm-source"),
            "--destination: names the source cluster rg-chsm-sandbox/chsm-source; "
            "a restore into the source is unsupported",
            id="destination-is-the-source",
        ),
        pytest.param(
            None,
            ("--source", "chsm-dest"),
            "--source: rg-chsm-sandbox/chsm-dest is NotActivated; a backup needs an activated source cluster",
            id="source-not-activated",
        ),
        pytest.param(
            {"activationState": "Active"},
            ("--destination", "chsm-dest"),
            "--destination: rg-chsm-sandbox/chsm-dest is Active; a restore needs a NotActivated destination",
            id="destination-activated",
        ),
        pytest.param(
            {"activationState": "Active"},
            ("--source", "rg-chsm-sandbox/chsm-source"),
            "--destination: no cluster but the source reads NotActivated; a restore needs a NotActivated "
            "destination (found: rg-chsm-sandbox/chsm-dest Active, rg-chsm-sandbox/chsm-source Active)",
            id="no-destination-fits",
        ),
        pytest.param(
            None,
            ("--storage-account", "nosuchaccount"),
            "--storage-account: no storage account 'nosuchaccount' fits; those that do: "
            "rg-chsm-sandbox/chsmbackupsbx, rg-chsm-sandbox/chsmnoaccesssbx",
            id="no-such-account",
        ),
        pytest.param(
            None,
            (),
            "--storage-account: 2 storage accounts fit (rg-chsm-sandbox/chsmbackupsbx, "
            "rg-chsm-sandbox/chsmnoaccesssbx); name one with --storage-account, or run chsm-checks init "
            "at a terminal to choose",
            id="several-and-no-terminal",
        ),
        pytest.param(
            None,
            ("--resource-group", "rg-elsewhere"),
            "--subscription: no Cloud HSM cluster in resource group rg-elsewhere of subscription "
            + SUBSCRIPTION,
            id="no-cluster",
        ),
    ],
)
def test_what_cannot_be_a_target_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: Path, sandbox: Sandbox, shape: dict[str, str] | None, extra: tuple[str, ...], problem: str
) -> None:
    if shape is not None:
        sandbox.patch_cluster("chsm-dest", shape)
    out = tmp_path / "target.toml"

    result = _init(sandbox, out, *extra)

    assert result.returncode == 2, result.output
    assert result.stderr.startswith(f"chsm-checks: {problem}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [tmp_path / "state"]


def test_an_existing_file_stays_unless_forced(tmp_path: Path, sandbox: Sandbox) -> None:
    out = tmp_path / "target.toml"
    out.write_text("mine\n", encoding="utf-8")

    refused = _init(sandbox, out, "--storage-account", "chsmbackupsbx")
    assert refused.returncode == 2
    assert (
        refused.stderr
        == f"chsm-checks: {out}: already exists; pass --force to replace it, or --out another file\n"
    )
    assert out.read_text(encoding="utf-8") == "mine\n"

    forced = _init(sandbox, out, "--storage-account", "chsmbackupsbx", "--force")
    assert forced.returncode == 0, forced.output
    _as_reference(out)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--subscription", "not-a-guid"), "--subscription: 'not-a-guid' is not a subscription id (a GUID)"),
        (
            ("--subscription", SUBSCRIPTION, "--arm-endpoint", "http://127.0.0.1:9"),
            "--arm-endpoint: nothing listens on http://127.0.0.1:9; start it with: chsm-checks sandbox serve",
        ),
        (
            ("--subscription", SUBSCRIPTION, "--arm-endpoint", "http://example.com"),
            "--arm-endpoint: 'http://example.com' is not on loopback",
        ),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: tuple[str, ...], problem: str) -> None:
    result = run_cli("init", *args, "--out", str(tmp_path / "t.toml"), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"chsm-checks: {problem}")
    assert not (tmp_path / "t.toml").exists()
