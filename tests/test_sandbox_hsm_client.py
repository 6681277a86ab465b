"""A sandbox target finds the sandbox's HSM client from the sandbox itself, wherever its --state is.

``[hsm] client = "sandbox"`` names the utilities and their configuration ``<sandbox>/hsm-client/bin/...``;
a live or recording run asks the sandbox it addresses (``GET /_sandbox/hsm-client``) where that is,
before anything runs, and recordings and evidence keep the names, not the machine's paths.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chsm_checks.errors import ConfigError
from chsm_checks.hsm.client_files import ClientFiles, client_files_for, sandbox_root
from chsm_checks.target import load_target
from tests.support.processes import ROOT, project_copy, run_cli, sandbox_process, summary

SANDBOX_TARGET = ROOT / "targets" / "sandbox.toml"
DRILL = "cloudhsm-restore-validation or cloudhsm-backup-restore"


def _target_text(*replacements: tuple[str, str]) -> str:
    text = SANDBOX_TARGET.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_a_sandbox_serving_any_state_runs_the_drill_through_its_own_hsm_client(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    elsewhere = tmp_path / "states" / "my-sandbox"
    with sandbox_process(elsewhere) as sandbox:
        told = sandbox.get("/_sandbox/hsm-client")
        result = run_cli(
            "run", "--mode", "live", "--target", "targets/sandbox.toml", *sandbox.addressed,
            "--allow-mutations", "--no-html", "--reports", str(tmp_path / "reports"), "--", "-m", DRILL,
            cwd=project,
        )  # fmt: skip

    assert told["state_dir"] == str(elsewhere.resolve())
    assert told["util"] == str(elsewhere.resolve() / "hsm-client" / "bin" / "azcloudhsm_util")
    assert result.returncode == 0, result.output
    entries = summary(tmp_path / "reports")["scenarios"]
    assert entries
    assert {e["outcome"] for e in entries} == {"passed"}, [
        (e["name"], e["outcome"], e.get("message")) for e in entries if e["outcome"] != "passed"
    ]
    # The destination's configuration was pointed and read where the sandbox keeps it ...
    cfg = (elsewhere / "hsm-client" / "bin" / "azcloudhsm_resource.cfg").read_text(encoding="utf-8")
    assert "chsm-dest" in cfg
    assert not (project / ".sandbox").exists()
    # ... and the evidence names the sandbox's client as the target does, not by this machine's path.
    run_dir = (tmp_path / "reports" / "latest").resolve()
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in run_dir.rglob("*") if p.is_file()]
    assert not [t for t in texts if str(elsewhere) in t]


def test_a_recording_names_the_sandbox_client_as_the_shipped_recordings_do() -> None:
    shipped = ROOT / "cassettes" / "restore_validation"
    [transcript] = shipped.glob(
        "the_hsm_client_configuration_points_at_the_destination_cluster.transcript.yaml"
    )
    text = transcript.read_text(encoding="utf-8")
    assert "  <sandbox>/hsm-client/bin/azcloudhsm_resource.cfg: " in text
    assert ".sandbox/" not in text


def _closed_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port: int = unused.getsockname()[1]
    return port


def test_no_sandbox_at_the_endpoint_refuses_the_run_in_one_line_before_anything_runs(tmp_path: Path) -> None:
    port = _closed_port()
    result = run_cli(
        "run", "--mode", "live", "--target", str(SANDBOX_TARGET), "--arm-endpoint", f"http://127.0.0.1:{port}",
        "--reports", str(tmp_path / "reports"), cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert f"nothing listens on http://127.0.0.1:{port}; start it with: chsm-checks sandbox serve" in line
    assert "Traceback" not in result.output
    assert not (tmp_path / "reports").exists()


def test_plain_pytest_without_the_sandbox_names_hsm_client(tmp_path: Path) -> None:
    # Without the command's own check of the endpoint, the HSM client's question is the first to fail.
    target = load_target(SANDBOX_TARGET, arm_endpoint=f"http://127.0.0.1:{_closed_port()}")

    with pytest.raises(ConfigError) as refused:
        sandbox_root(target)

    assert str(refused.value).startswith(
        f"{SANDBOX_TARGET}: hsm.client: no sandbox answers at {target.cloud.arm_endpoint} (ConnectError); "
        "start one with chsm-checks sandbox serve --state DIR"
    )


@pytest.fixture
def not_a_sandbox() -> Iterator[str]:
    """An HTTP server on loopback that is no chsm-checks sandbox: every path is a 404."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_a_sandbox_is_named_as_such(tmp_path: Path, not_a_sandbox: str) -> None:
    target = load_target(SANDBOX_TARGET, arm_endpoint=not_a_sandbox)

    with pytest.raises(ConfigError) as refused:
        sandbox_root(target)

    assert str(refused.value) == (
        f"{SANDBOX_TARGET}: hsm.client: {not_a_sandbox} did not say where its HSM client is "
        "(HTTP 501 to GET /_sandbox/hsm-client); is it a chsm-checks sandbox?"
    )


def test_a_replay_asks_no_sandbox_and_locates_nothing() -> None:
    target = load_target(ROOT / "targets" / "reference.toml")
    assert target.spec.hsm is not None
    assert target.spec.hsm.resource_cfg == ["<sandbox>/hsm-client/bin/azcloudhsm_resource.cfg"]

    files = client_files_for(target, reaches_azure=False)

    assert files.sandbox_root is None
    with pytest.raises(ConfigError, match="names the sandbox's HSM client, and this run asked no sandbox"):
        files.locate("<sandbox>/hsm-client/bin/azcloudhsm_util")


def test_names_under_the_sandbox_are_located_under_its_state_and_others_are_left_alone() -> None:
    files = ClientFiles(Path("/srv/state"))

    assert (
        files.locate("<sandbox>/hsm-client/bin/azcloudhsm_util")
        == "/srv/state/hsm-client/bin/azcloudhsm_util"
    )
    assert files.locate("/opt/azurecloudhsm/bin/azcloudhsm_util") == "/opt/azurecloudhsm/bin/azcloudhsm_util"
    assert files.locate("azcloudhsm_util") == "azcloudhsm_util"


@pytest.mark.parametrize(
    ("replacements", "message"),
    [
        pytest.param(
            [
                (
                    'client = "sandbox"\n',
                    'client = "sandbox"\nutil = "/opt/azurecloudhsm/bin/azcloudhsm_util"\n',
                )
            ],
            'hsm: client = "sandbox" takes the utilities from the sandbox; leave out util',
            id="paths-beside-it",
        ),
        pytest.param(
            [('arm_endpoint = "http://127.0.0.1:8765"', 'cloud = "AzureCloud"')],
            'hsm.client: "sandbox" needs a sandbox\'s arm_endpoint (or --arm-endpoint), not a cloud',
            id="on-azure",
        ),
        pytest.param(
            [('client = "sandbox"', 'client = "sandbx"')],
            "hsm.client: Input should be 'sandbox'",
            id="misspelt",
        ),
    ],
)
def test_a_sandbox_client_that_cannot_be_is_one_line_naming_the_field(
    tmp_path: Path, replacements: list[tuple[str, str]], message: str
) -> None:
    path = tmp_path / "target.toml"
    path.write_text(_target_text(*replacements), encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_target(path)

    assert str(refused.value) == f"{path}: {message}"
