"""Faults the harness's own negative scenarios inject into the sandbox, and take out again.

They prove that chsm-checks reports a broken cluster or utility truthfully. Injection needs the
sandbox: against Azure these scenarios are not applicable; in replay nothing is injected, because
the recording already holds what the faulty sandbox printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .arm.trust import verify_for
from .outcomes import not_applicable
from .services.settings import RunSettings


def _control(run: RunSettings) -> httpx.Client | None:
    if not run.mode.reaches_azure:
        return None
    if not run.target.cloud.is_loopback:
        not_applicable("fault injection needs the sandbox; this target is Azure")
    return httpx.Client(
        base_url=run.target.cloud.arm_endpoint + "/_sandbox/hsm",
        timeout=10,
        verify=verify_for(run.target.arm_ca_file),
    )


def _patch(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    client.patch(path, json=body).raise_for_status()


def node_unreachable(
    run: RunSettings, cluster: str, node_id: int, cleanup: Callable[[Callable[[], None]], None]
) -> None:
    """Make one node of ``cluster`` unreachable until the scenario ends."""
    client = _control(run)
    if client is None:
        return
    _patch(client, f"/{cluster}/nodes/{node_id}", {"reachable": False})

    def restore() -> None:
        try:
            _patch(client, f"/{cluster}/nodes/{node_id}", {"reachable": True})
        finally:
            client.close()

    cleanup(restore)


def command_hangs(
    run: RunSettings, cluster: str, command: str, cleanup: Callable[[Callable[[], None]], None]
) -> None:
    """Make the utilities stop answering ``command`` on ``cluster`` until the scenario ends."""
    client = _control(run)
    if client is None:
        return
    _patch(client, f"/{cluster}/faults", {"hang_on": command})

    def restore() -> None:
        try:
            _patch(client, f"/{cluster}/faults", {"hang_on": None})
        finally:
            client.close()

    cleanup(restore)
