"""The sandbox as a Starlette app: an ARM dispatcher behind one catch-all route, plus control routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from chsm_checks.sandbox.control import control_routes
from chsm_checks.sandbox.operations import operation_status, start_operation
from chsm_checks.sandbox.resources import (
    get_resource,
    list_clusters,
    list_role_assignments,
    list_subscriptions,
)
from chsm_checks.sandbox.routing import ArmCall, ArmRoute, split_path
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.throttle import REMAINING_READS, ReadThrottle
from chsm_checks.sandbox.wire import (
    JSON_MEDIA_TYPE,
    ArmFault,
    ArmReply,
    arm_headers,
    render_json,
    require_api_version,
)
from chsm_checks.sandbox.world import (
    CLUSTER_TYPE,
    IDENTITY_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    ROLE_ASSIGNMENT_TYPE,
    STORAGE_TYPE,
    SUBSCRIPTION_TYPE,
)

_GROUP = "subscriptions/{subscription}/resourceGroups/{group}/providers"
_CLUSTER = f"{_GROUP}/{CLUSTER_TYPE}/{{cluster}}"
_ACCOUNT = f"{_GROUP}/{STORAGE_TYPE}/{{account}}"

ARM_ROUTES: tuple[ArmRoute, ...] = (
    ArmRoute("GET", "subscriptions", SUBSCRIPTION_TYPE, list_subscriptions),
    ArmRoute("GET", f"subscriptions/{{subscription}}/providers/{CLUSTER_TYPE}", CLUSTER_TYPE, list_clusters),
    ArmRoute("GET", f"{_GROUP}/{CLUSTER_TYPE}", CLUSTER_TYPE, list_clusters),
    ArmRoute("GET", _CLUSTER, CLUSTER_TYPE, get_resource),
    ArmRoute("POST", f"{_CLUSTER}/backup", CLUSTER_TYPE, start_operation("backup", validate=False)),
    ArmRoute("POST", f"{_CLUSTER}/restore", CLUSTER_TYPE, start_operation("restore", validate=False)),
    ArmRoute(
        "POST", f"{_CLUSTER}/validateBackupProperties", CLUSTER_TYPE, start_operation("backup", validate=True)
    ),
    ArmRoute(
        "POST",
        f"{_CLUSTER}/validateRestoreProperties",
        CLUSTER_TYPE,
        start_operation("restore", validate=True),
    ),
    ArmRoute("GET", _CLUSTER + "/backupOperationStatus/{job}", CLUSTER_TYPE, operation_status("backup")),
    ArmRoute("GET", _CLUSTER + "/restoreOperationStatus/{job}", CLUSTER_TYPE, operation_status("restore")),
    ArmRoute("GET", f"{_GROUP}/{IDENTITY_TYPE}/{{name}}", IDENTITY_TYPE, get_resource),
    ArmRoute("GET", _ACCOUNT, STORAGE_TYPE, get_resource),
    ArmRoute("GET", _ACCOUNT + "/blobServices/default/containers/{container}", STORAGE_TYPE, get_resource),
    ArmRoute("GET", f"{_GROUP}/{PRIVATE_ENDPOINT_TYPE}/{{name}}", PRIVATE_ENDPOINT_TYPE, get_resource),
    ArmRoute(
        "GET", f"{{scope...}}/providers/{ROLE_ASSIGNMENT_TYPE}", ROLE_ASSIGNMENT_TYPE, list_role_assignments
    ),
)


def create_app(state_dir: Path, settings: SandboxSettings | None = None, *, reset: bool = False) -> Starlette:
    """A sandbox ARM over the state in ``state_dir`` (loaded if present, else seeded; ``reset`` re-seeds).

    ``settings`` defaults to those stored in the state, or :class:`SandboxSettings` for a new one.
    """
    return app_for_store(SandboxStore(state_dir, settings, reset=reset))


def app_for_store(store: SandboxStore) -> Starlette:
    """The sandbox app over an open ``store``."""
    return Starlette(
        routes=[
            Mount("/_sandbox", routes=control_routes(store)),
            Route("/{path:path}", ArmEndpoint(store, ReadThrottle())),
        ]
    )


class ArmEndpoint:
    """ASGI endpoint that answers every ARM path (any method) from the store."""

    def __init__(self, store: SandboxStore, throttle: ReadThrottle) -> None:
        self._store = store
        self._throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the request, wait out the latency, answer it under the store's lock, send the answer."""
        arrived = time.time()
        request = Request(scope, receive)
        body = await request.body()
        latency_ms = self._store.settings().latency_ms
        if latency_ms:
            # Asleep, not blocking: concurrent requests wait side by side, as they would on ARM.
            await asyncio.sleep(latency_ms / 1000)
        response = self._respond(
            method=request.method,
            path=request.url.path.rstrip("/") or "/",
            query=dict(request.query_params),
            raw_query=request.url.query,
            body=body,
            base_url=str(request.base_url).rstrip("/"),
            arrived=arrived,
        )
        await response(scope, receive, send)

    def _respond(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, str],
        raw_query: str,
        body: bytes,
        base_url: str,
        arrived: float,
    ) -> Response:
        """One ARM request in, one response out; the request counter and log advance either way."""
        now = time.time()
        # A GET changes only what is kept in memory (the request count and log, the read budget): it
        # writes nothing to disk. Every other method may change the state.
        opened = self._store.reading if method == "GET" else self._store.transaction
        with opened(now) as state:
            number = self._store.next_request_number()
            settings = SandboxSettings.from_json(state["settings"])
            call = ArmCall(state, settings, {}, query, body, base_url, path, now)
            take = self._throttle.take(method, path, settings)
            if take is not None and take.retry_after is not None:
                reply = take.refusal()
            else:
                try:
                    reply = _dispatch(method, call)
                except ArmFault as fault:
                    reply = fault.reply()
            headers = {**arm_headers(state, number, write=method != "GET"), **reply.headers}
            if take is not None:
                headers[REMAINING_READS] = str(take.remaining)
            content = None if reply.body is None else render_json(reply.body)
            retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
            self._store.log_request(
                method, path, raw_query, reply.status, arrived=arrived, retry_after=retry_after
            )
        if content is None:
            return Response(status_code=reply.status, headers=headers)
        return Response(content, status_code=reply.status, headers=headers, media_type=JSON_MEDIA_TYPE)


def _dispatch(method: str, call: ArmCall) -> ArmReply:
    segments = split_path(call.path)
    path_known = False
    for route in ARM_ROUTES:
        params = route.match(segments)
        if params is None:
            continue
        path_known = True
        if route.method == method:
            require_api_version(call.query, route.resource_type)
            return route.handler(replace(call, params=params))
    if path_known:
        raise ArmFault(405, "MethodNotAllowed", f"The sandbox does not serve {method} on '{call.path}'.")
    raise ArmFault(404, "NotFound", f"The sandbox serves no ARM path '{call.path}'.")
