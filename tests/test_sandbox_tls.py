"""The sandbox over HTTPS (``sandbox serve --tls``): the CA and certificate it makes, the clients that
trust that CA (httpx, an Azure SDK's pipeline at its default bearer policy, the harness through a
target's ``arm_ca_file``), and the clients that do not."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core import PipelineClient
from azure.core.credentials import AccessToken
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy
from azure.core.rest import HttpRequest
from cryptography import x509

from chsm_checks.arm import ArmClient, ArmError
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.resources import get_cluster
from chsm_checks.arm.retry import RetryPolicy
from chsm_checks.errors import ConfigError
from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.tls import VALIDITY, TlsFiles, ensure_tls_files, reusable, server_names, tls_files
from chsm_checks.target import load_target
from tests.support.processes import (
    ROOT,
    Sandbox,
    child_environment,
    project_copy,
    run_cli,
    sandbox_process,
    summary,
)

SUB = sandbox_guid(1, "subscription")
SOURCE = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox/providers/"
    "Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-source"
)
API = "?api-version=2025-03-31"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _contents(files: TlsFiles) -> tuple[bytes, bytes, bytes]:
    return files.ca_file.read_bytes(), files.cert_file.read_bytes(), files.key_file.read_bytes()


# -- the files ------------------------------------------------------------------------------------


def test_the_files_are_a_loopback_ca_and_a_server_certificate_it_signed(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path, now=NOW)
    ca, cert = _certificate(files.ca_file), _certificate(files.cert_file)

    # No CA key is kept: ca.pem can vouch for this one certificate and no other.
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["ca.pem", "server-key.pem", "server.pem"]
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    permitted = ca.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees or []
    assert {str(name.value) for name in permitted} == {"127.0.0.1/32", "::1/128", "localhost"}
    cert.verify_directly_issued_by(ca)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert server_names(cert) == {"127.0.0.1", "::1", "localhost"}
    assert cert.not_valid_after_utc - NOW == VALIDITY <= timedelta(days=31)
    assert "PRIVATE KEY" not in files.ca_file.read_text() + files.cert_file.read_text()


def test_the_key_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        files = ensure_tls_files(tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(files.key_file.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in files.key_file.read_text()


def test_files_still_valid_are_reused(tmp_path: Path) -> None:
    first = _contents(ensure_tls_files(tmp_path, now=NOW))
    assert _contents(ensure_tls_files(tmp_path, now=NOW + timedelta(days=20))) == first


def _other_ca(files: TlsFiles, tmp_path: Path) -> None:
    shutil.copy(ensure_tls_files(tmp_path / "other", now=NOW).ca_file, files.ca_file)


def _other_key(files: TlsFiles, tmp_path: Path) -> None:
    other = ensure_tls_files(tmp_path / "other", now=NOW).key_file
    files.key_file.write_bytes(other.read_bytes())


@pytest.mark.parametrize(
    ("change", "at", "regenerate"),
    [
        pytest.param(lambda f, _: None, NOW + VALIDITY, False, id="expired"),
        pytest.param(lambda f, _: None, NOW + VALIDITY - timedelta(hours=12), False, id="ends-within-a-day"),
        pytest.param(lambda f, _: None, NOW - timedelta(days=1), False, id="not-yet-valid"),
        pytest.param(lambda f, _: f.key_file.unlink(), NOW, False, id="key-missing"),
        pytest.param(lambda f, _: f.ca_file.unlink(), NOW, False, id="ca-missing"),
        pytest.param(lambda f, _: f.key_file.chmod(0o644), NOW, False, id="key-readable-by-others"),
        pytest.param(
            lambda f, _: f.cert_file.write_text("not a certificate"), NOW, False, id="cert-unreadable"
        ),
        pytest.param(_other_ca, NOW, False, id="cert-not-from-this-ca"),
        pytest.param(_other_key, NOW, False, id="key-not-the-certificate's"),
        pytest.param(lambda f, _: None, NOW, True, id="reset"),
    ],
)
def test_files_not_fit_for_reuse_are_made_anew(
    tmp_path: Path, change: Any, at: datetime, regenerate: bool
) -> None:
    files = ensure_tls_files(tmp_path, now=NOW)
    before = files.cert_file.read_bytes()
    change(files, tmp_path)

    again = ensure_tls_files(tmp_path, now=at, regenerate=regenerate)

    assert again.cert_file.read_bytes() != before
    assert reusable(again, at)
    assert stat.S_IMODE(again.key_file.stat().st_mode) == 0o600


# -- the server -----------------------------------------------------------------------------------


def test_it_prints_its_https_url_and_ca_file_and_answers_a_client_trusting_that_ca(
    tls_sandbox: Sandbox,
) -> None:
    assert tls_sandbox.url.startswith("https://127.0.0.1:")
    assert tls_sandbox.ca_file == (tls_sandbox.state_dir / "tls" / "ca.pem").resolve()

    response = httpx.get(tls_sandbox.url + SOURCE + API, verify=tls_sandbox.ssl_context(), timeout=30)

    assert response.status_code == 200
    assert response.json()["name"] == "chsm-source"


def test_a_client_without_the_ca_is_refused_its_certificate(tls_sandbox: Sandbox) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls_sandbox.url + SOURCE + API, timeout=30)  # httpx's default roots only
    with pytest.raises(httpx.HTTPError):
        httpx.get(tls_sandbox.url.replace("https://", "http://") + SOURCE + API, timeout=30)


def test_a_restart_reuses_the_certificate_and_a_reset_replaces_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    files = tls_files(state)
    with sandbox_process(state, tls=True) as first:
        issued = _contents(files)
    with sandbox_process(state, tls=True) as second:
        assert second.ca_file == first.ca_file == files.ca_file
        assert _contents(files) == issued
        assert second.get("/_sandbox/requests") is not None  # served with the reused files
    with sandbox_process(state, "--reset", tls=True) as third:
        assert _contents(files)[1] != issued[1]
        assert third.get("/_sandbox/requests") is not None


def test_the_private_key_is_never_printed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chsm_checks",
            "sandbox",
            "serve",
            "--state",
            str(state),
            "--port",
            "0",
            "--tls",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_environment(),
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    ca_line = process.stdout.readline().strip()
    httpx.get(url + SOURCE + API, timeout=30, verify=False)  # a request it answers, however trusted
    process.terminate()
    out, err = process.communicate(timeout=10)
    key = (state / "tls" / "server-key.pem").read_text()

    ca_file = (state / "tls" / "ca.pem").resolve()
    assert ca_line == f"CA certificate: {ca_file} (use connection_verify={ca_file})"
    printed = url + ca_line + out + err
    assert "PRIVATE KEY" not in printed
    assert all(line not in printed for line in key.splitlines()[1:-1])


# -- an Azure SDK's pipeline ----------------------------------------------------------------------


def _jwt(expires: float) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'exp': expires, 'aud': 'sandbox'})}.c2lnbmF0dXJl"


class DummyCredential:
    """A ``TokenCredential`` handing out an unsigned token good for an hour, and counting the asks."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.asked.append(scopes)
        expires = int(time.time()) + 3600
        return AccessToken(_jwt(expires), expires)


def test_azure_core_s_default_bearer_policy_works_over_tls_with_connection_verify(
    tls_sandbox: Sandbox,
) -> None:
    # The sandbox then answers only a request that carries an unexpired bearer token.
    rule = [{"effect": "require-bearer", "times": "always"}]
    injected = httpx.post(
        tls_sandbox.url + "/_sandbox/arm-faults", json=rule, verify=tls_sandbox.ssl_context(), timeout=30
    )
    assert injected.status_code == 201, injected.text
    credential = DummyCredential()
    policy = BearerTokenCredentialPolicy(credential, "https://management.azure.com/.default")

    # Over plain http the policy refuses before anything is sent: what --tls is for.
    with (
        PipelineClient("http://127.0.0.1:1", policies=[policy]) as plain,
        pytest.raises(ServiceRequestError, match="non-TLS"),
    ):
        plain.send_request(HttpRequest("GET", "http://127.0.0.1:1" + SOURCE + API))

    with PipelineClient(
        tls_sandbox.url, policies=[policy], connection_verify=str(tls_sandbox.ca_file)
    ) as client:
        response = client.send_request(HttpRequest("GET", tls_sandbox.url + SOURCE + API))

    assert response.status_code == 200, response.text()
    assert response.json()["name"] == "chsm-source"
    assert credential.asked == [("https://management.azure.com/.default",)]


# -- the harness: arm_ca_file ---------------------------------------------------------------------


def test_the_arm_client_trusts_the_ca_it_is_given_and_no_other(tls_sandbox: Sandbox) -> None:
    cloud = sandbox_cloud(tls_sandbox.url)
    with ArmClient(cloud, ca_file=tls_sandbox.ca_file) as client:
        assert get_cluster(client, SOURCE).activation_state == "Active"
    with (
        ArmClient(cloud, retry=RetryPolicy(max_attempts=1)) as client,
        pytest.raises(ArmError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        get_cluster(client, SOURCE)


def _target(tmp_path: Path, endpoint: str, ca_file: str) -> Path:
    text = (ROOT / "targets" / "sandbox.toml").read_text()
    text = text.replace(
        'arm_endpoint = "http://127.0.0.1:8765"', f'arm_endpoint = "{endpoint}"\narm_ca_file = "{ca_file}"'
    )
    path = tmp_path / "tls.toml"
    path.write_text(text)
    return path


def test_a_target_on_https_loopback_with_a_ca_file_is_a_sandbox_target(tmp_path: Path) -> None:
    ca_file = ensure_tls_files(tmp_path).ca_file
    target = load_target(_target(tmp_path, "https://127.0.0.1:8443", str(ca_file)))
    assert target.arm_ca_file == ca_file
    assert (target.kind, target.cloud.is_loopback) == ("sandbox", True)


@pytest.mark.parametrize(
    ("endpoint", "ca_file", "problem"),
    [
        ("https://127.0.0.1:8443", "{tmp}/missing.pem", "arm_ca_file: {tmp}/missing.pem: not found"),
        ("https://127.0.0.1:8443", "{tmp}", "arm_ca_file: {tmp}: is a directory, not a PEM file"),
        (
            "https://127.0.0.1:8443",
            "{tmp}/tls.toml",
            "arm_ca_file: {tmp}/tls.toml: holds no PEM CA certificate",
        ),
        ("http://127.0.0.1:8765", "{ca}", "arm_ca_file: 'http://127.0.0.1:8765' is plain http"),
    ],
)
def test_an_unusable_ca_file_is_one_line_naming_the_field(
    tmp_path: Path, endpoint: str, ca_file: str, problem: str
) -> None:
    ca = ensure_tls_files(tmp_path / "state").ca_file
    path = _target(tmp_path, endpoint, ca_file.format(tmp=tmp_path, ca=ca))
    with pytest.raises(ConfigError) as raised:
        load_target(path)
    assert str(raised.value).startswith(f"{path}: {problem.format(tmp=tmp_path)}")
    assert "\n" not in str(raised.value)


def test_chsm_checks_run_stops_on_a_bad_ca_file_with_exit_2(tmp_path: Path) -> None:
    path = _target(tmp_path, "https://127.0.0.1:8443", "nowhere/ca.pem")
    result = run_cli("run", "--mode", "live", "--target", str(path), "--reports", str(tmp_path / "reports"))
    assert result.returncode == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"chsm-checks: {path}: arm_ca_file: nowhere/ca.pem: not found"
    ]


def test_a_live_run_with_mutations_against_a_tls_sandbox_through_arm_ca_file_passes(tmp_path: Path) -> None:
    # Every scenario: reads, the backup and restore and their polling, the HSM utilities (whose
    # wrappers the sandbox wrote with its CA) and the faults injected into the sandbox, all over HTTPS.
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox", tls=True) as sandbox:
        target = project / "targets" / "sandbox.toml"
        target.write_text(
            target.read_text().replace(
                'arm_endpoint = "http://127.0.0.1:8765"',
                f'arm_endpoint = "{sandbox.url}"\narm_ca_file = ".sandbox/tls/ca.pem"',
            )
        )
        result = run_cli(
            "run", "--mode", "live", "--target", "targets/sandbox.toml", "--allow-mutations", "--no-html",
            "--reports", str(tmp_path / "reports"), cwd=project,
        )  # fmt: skip

    assert result.returncode == 0, result.output
    report = summary(tmp_path / "reports")
    assert {e["outcome"] for e in report["scenarios"]} == {"passed"}, report["counts"]
    features = {e["feature_file"] for e in report["scenarios"]}
    assert {"backup_restore.feature", "restore_validation.feature"} <= features


def test_a_run_with_no_tls_sandbox_listening_says_how_to_start_one(tmp_path: Path) -> None:
    ca = ensure_tls_files(tmp_path / "state").ca_file
    path = _target(tmp_path, "https://127.0.0.1:1", str(ca))
    result = run_cli("run", "--mode", "live", "--target", str(path), "--reports", str(tmp_path / "reports"))
    assert result.returncode == 2, result.output
    assert result.stderr.strip().endswith("start it with: chsm-checks sandbox serve --state .sandbox --tls")
