"""Real processes for end-to-end tests: the sandbox server and the chsm-checks command."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
NO_NETWORK = Path(__file__).resolve().parent / "no_network"

# A deadline for the sandbox's control API, so a wedged sandbox fails a test instead of hanging it;
# generous, as a 2-core machine running the suite under -n 2 can stall a process for seconds.
CONTROL_TIMEOUT = 30


@dataclass
class Sandbox:
    """A running ``chsm-checks sandbox serve`` process; over HTTPS, ``ca_file`` is the CA it printed.

    An Azure SDK client talks to it with ``base_url=sandbox.url`` and
    ``connection_verify=str(sandbox.ca_file)``; httpx with ``verify=sandbox.ssl_context()``.
    """

    url: str
    state_dir: Path
    ca_file: Path | None = None

    @property
    def addressed(self) -> tuple[str, str]:
        """The ``chsm-checks run`` (or pytest) options that point a target at this sandbox."""
        return ("--arm-endpoint", self.url)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this sandbox's CA and nothing else."""
        assert self.ca_file is not None, "the sandbox was not started with tls=True"
        return ssl.create_default_context(cafile=self.ca_file)

    def _verify(self) -> ssl.SSLContext | bool:
        return self.ssl_context() if self.ca_file is not None else True

    def get(self, path: str) -> Any:
        return httpx.get(self.url + path, timeout=CONTROL_TIMEOUT, verify=self._verify()).json()

    def post(self, path: str) -> Any:
        return httpx.post(self.url + path, timeout=CONTROL_TIMEOUT, verify=self._verify()).json()

    def patch_cluster(self, name: str, properties: dict[str, Any]) -> None:
        httpx.patch(
            f"{self.url}/_sandbox/clusters/{name}",
            json=properties,
            timeout=CONTROL_TIMEOUT,
            verify=self._verify(),
        ).raise_for_status()

    def arm(self, method: str, resource_id: str, body: dict[str, Any] | None = None) -> Any:
        """Shape the sandbox through its control API (``/_sandbox/arm/<resource id>``)."""
        response = httpx.request(
            method,
            f"{self.url}/_sandbox/arm{resource_id}",
            json=body,
            timeout=CONTROL_TIMEOUT,
            verify=self._verify(),
        )
        response.raise_for_status()
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        data = self.get("/_sandbox/requests")
        return data if isinstance(data, list) else data.get("requests", [])


def child_environment() -> dict[str, str]:
    """The environment of the processes tests start. Bytecode may be cached: the suite starts
    hundreds of interpreters, and compiling every module afresh in each is most of their start-up."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@contextmanager
def sandbox_process(state_dir: Path, *extra: str, tls: bool = False) -> Iterator[Sandbox]:
    """Start the sandbox on a free loopback port (``tls``: serving HTTPS); stop it afterwards."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chsm_checks",
            "sandbox",
            "serve",
            "--state",
            str(state_dir),
            "--port",
            "0",
            *(["--tls"] if tls else []),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_environment(),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith(f"{'https' if tls else 'http'}://127.0.0.1:"):
            proc.kill()
            raise RuntimeError(f"sandbox did not start: {url!r} {proc.stderr.read() if proc.stderr else ''}")
        yield Sandbox(url, state_dir, _printed_ca_file(proc.stdout.readline()) if tls else None)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _printed_ca_file(line: str) -> Path:
    """The CA path in the sandbox's ``CA certificate: <path> (use connection_verify=<path>)`` line."""
    match = re.fullmatch(r"CA certificate: (?P<path>.+) \(use connection_verify=(?P=path)\)", line.strip())
    if match is None:
        raise RuntimeError(f"the TLS sandbox printed no CA line: {line!r}")
    return Path(match["path"])


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


SANDBOX_CU_PASSWORD = "sandbox-cu-password"


def run_cli(
    *args: str,
    cwd: Path = ROOT,
    offline: bool = False,
    timeout: float = 300,
    env_extra: dict[str, str] | None = None,
) -> CliResult:
    """Run ``chsm-checks`` as a person would; ``offline`` makes every network connect fail."""
    env = child_environment() | {"CHSM_SANDBOX_CU_PASSWORD": SANDBOX_CU_PASSWORD} | (env_extra or {})
    if offline:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NO_NETWORK), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "chsm_checks", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class SharedRun:
    """A run many tests read: what the command said, and the reports directory it wrote."""

    result: CliResult
    reports: Path

    @property
    def run_dir(self) -> Path:
        return (self.reports / "latest").resolve()

    @property
    def summary(self) -> dict[str, Any]:
        return summary(self.reports)


def summary(report_dir: Path) -> dict[str, Any]:
    """The summary.json of the newest run under ``report_dir``."""
    loaded: dict[str, Any] = json.loads((report_dir / "latest" / "summary.json").read_text(encoding="utf-8"))
    return loaded


def project_copy(tmp_path: Path) -> Path:
    """A copy of what ``chsm-checks run`` reads from a checkout, to run from and change freely."""
    copy = tmp_path / "project"
    for name in ("features", "steps", "targets", "cassettes"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def live_catalogue(tmp_path: Path, shape: Callable[[Sandbox], None]) -> dict[str, dict[str, Any]]:
    """Each catalogue scenario's summary entry, by name, from a live run against a fresh sandbox that
    ``shape`` first changed through its control API."""
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox") as sandbox:
        shape(sandbox)
        run_cli(
            "run", "--mode", "live", "--target", "targets/sandbox.toml", *sandbox.addressed, "--no-html",
            "--reports", str(tmp_path / "reports"), "--", "-m", "catalogue", cwd=project,
        )  # fmt: skip
    return {e["name"]: e for e in summary(tmp_path / "reports")["scenarios"]}
