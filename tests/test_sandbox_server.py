"""The sandbox served for real: a loopback port, a printed base URL, a clean stop on a signal."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chsm_checks.sandbox import serve
from chsm_checks.sandbox.ids import sandbox_guid

SUB = sandbox_guid(1, "subscription")
CLUSTER = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chsm-sandbox/providers/"
    "Microsoft.HardwareSecurityModules/cloudHsmClusters/chsm-source?api-version=2025-03-31"
)


# serve() in a process of its own, so that a real signal can stop it; it prints the ready URL.
SERVE = (
    "import sys; from pathlib import Path; from chsm_checks.sandbox import serve; "
    "serve(Path(sys.argv[1]), port=0, ready=lambda url: print(url, flush=True))"
)


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A process running ``serve(port=0)`` and the base URL it passed to ``ready``."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "the sandbox printed no base URL within 15 s"
        yield process, process.stdout.readline().strip()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_served_sandbox_answers_on_loopback_and_stops_cleanly(
    sandbox_process: tuple[subprocess.Popen[str], str], stop: signal.Signals
) -> None:
    process, base_url = sandbox_process
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", base_url)
    assert match is not None, base_url
    assert int(match[1]) > 0

    response = httpx.get(base_url + CLUSTER, timeout=30)

    assert response.status_code == 200
    assert response.json()["name"] == "chsm-source"
    assert response.headers["x-ms-request-id"] == sandbox_guid(1, "request", 1)
    process.send_signal(stop)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])
def test_serve_refuses_a_host_that_is_not_loopback(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(tmp_path, host=host, port=0)
    assert not (tmp_path / "state.json").exists()
