"""Fakes for the ARM client tests: a scripted transport, a fake credential, a client factory.

Nothing here sleeps or opens a socket: replies come from ``ScriptedTransport`` (an
``httpx.MockTransport``) and clients wait on a ``VirtualClock``.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
from azure.core.credentials import AccessToken

from chsm_checks.arm.client import ArmClient
from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.clouds import Cloud, sandbox_cloud
from chsm_checks.arm.retry import RetryPolicy

ENDPOINT = "http://127.0.0.1:8765"
API_VERSION = "2025-03-31"
SUBSCRIPTION = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"
_CLUSTERS = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-chsm-sandbox"
    "/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
)
SOURCE_ID = f"{_CLUSTERS}/chsm-source"
DESTINATION_ID = f"{_CLUSTERS}/chsm-dest"
CONTAINER_URI = "https://chsmbackupsbx.blob.core.windows.net/chsm-backups"
JOB_ID = "572a45927fc240e1ac075de27371680b"
BACKUP_ID = "cloudhsm-3f0c6a1e-8d1b-4c55-9a43-0e1f2d3c4b5a-2025061512000000"

# Fast, small bounds: every test that retries stays well inside them unless it means not to.
TEST_RETRY = RetryPolicy(
    max_attempts=4, budget_seconds=120.0, backoff_base_seconds=1.0, backoff_cap_seconds=8.0
)

Reply = Callable[[httpx.Request], httpx.Response]


def reply(
    status: int = 200,
    *,
    json: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """A reply that builds a fresh response each time it is served (so it can be queued many times)."""

    def build(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=json, content=content, headers=headers, request=request)

    return build


def raise_(exc_type: type[httpx.TransportError], message: str = "connection reset by peer") -> Reply:
    """A reply that fails the way a broken connection does."""

    def build(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)

    return build


def _key(method: str, url: str | httpx.URL) -> tuple[str, str, str]:
    u = httpx.URL(url)
    if not u.is_absolute_url:
        u = httpx.URL(ENDPOINT + "/" + str(url).lstrip("/"))
    return (method.upper(), f"{u.scheme}://{u.netloc.decode('ascii').lower()}", u.path)


class ScriptedTransport(httpx.MockTransport):
    """Serves queued replies per method, origin and path (query ignored); records every request.

    A request nobody scripted fails the test loudly instead of being answered.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._queues: dict[tuple[str, str, str], deque[Reply]] = {}
        super().__init__(self._handle)

    def script(self, method: str, url: str, *replies: Reply) -> ScriptedTransport:
        """Queue ``replies`` for ``method`` on ``url`` (a path on ``ENDPOINT`` or an absolute URL)."""
        self._queues.setdefault(_key(method, url), deque()).extend(replies)
        return self

    def _handle(self, request: httpx.Request) -> httpx.Response:
        # A copy: httpx mutates the request it resends (a refreshed token after a 401).
        self.requests.append(
            httpx.Request(
                request.method, request.url, headers=request.headers.copy(), content=request.content
            )
        )
        queue = self._queues.get(_key(request.method, request.url))
        if not queue:
            raise AssertionError(f"unscripted request: {request.method} {request.url}")
        return queue.popleft()(request)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request, in order."""
        return [(r.method, r.url.path) for r in self.requests]


def body_of(request: httpx.Request) -> Any:
    """The JSON body a request carried."""
    return json.loads(request.content)


class FakeCredential:
    """A ``TokenCredential`` that hands out ``token-1``, ``token-2``, … and remembers the scopes asked."""

    def __init__(self, lifetime_seconds: float = 3600.0) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        # Expiry is an absolute wall-clock time: that is what azure-identity returns.
        return AccessToken(f"token-{len(self.scopes)}", int(time.time() + self.lifetime_seconds))


def make_client(
    transport: httpx.BaseTransport,
    clock: VirtualClock | None = None,
    *,
    retry: RetryPolicy = TEST_RETRY,
    cloud: Cloud | None = None,
    **kwargs: Any,
) -> ArmClient:
    """An ``ArmClient`` on the sandbox endpoint that never waits in real time."""
    return ArmClient(
        cloud or sandbox_cloud(ENDPOINT),
        transport=transport,
        clock=clock or VirtualClock(),
        retry=retry,
        **kwargs,
    )
