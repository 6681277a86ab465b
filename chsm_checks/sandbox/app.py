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
from starlette.types import ASGIApp, Receive, Scope, Send

from chsm_checks.sandbox.activity import ACTIVITY_TYPE, list_activity
from chsm_checks.sandbox.api_versions import require_api_version, require_route_in_version, shaped_for_version
from chsm_checks.sandbox.arm_faults import BROKEN_ANSWERS, ArmFaults, Injection, broken_answer, cluster_of
from chsm_checks.sandbox.clock import WALL_CLOCK, SandboxClock
from chsm_checks.sandbox.control import control_routes
from chsm_checks.sandbox.graph import GRAPH_TYPE, GraphQuota, is_graph_path, query_resources
from chsm_checks.sandbox.jobs import force_end
from chsm_checks.sandbox.operations import operation_status, start_operation
from chsm_checks.sandbox.resources import (
    get_diagnostic_setting,
    get_lock,
    get_resource,
    get_role_assignment,
    get_role_definition,
    list_blob_services,
    list_containers,
    list_diagnostic_categories,
    list_diagnostic_settings,
    list_locks,
    list_of_type,
    list_role_assignments,
    list_role_definitions,
    list_subscriptions,
)
from chsm_checks.sandbox.routing import ArmCall, ArmRoute, split_path
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.throttle import REMAINING_READS, ReadTake, ReadThrottle
from chsm_checks.sandbox.wire import (
    JSON_MEDIA_TYPE,
    ArmFault,
    ArmReply,
    JsonObject,
    arm_headers,
    render_json,
)
from chsm_checks.sandbox.world import (
    CLUSTER_TYPE,
    DIAGNOSTIC_CATEGORY_TYPE,
    DIAGNOSTIC_SETTING_TYPE,
    IDENTITY_TYPE,
    LOCK_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    ROLE_ASSIGNMENT_TYPE,
    ROLE_DEFINITION_TYPE,
    STORAGE_TYPE,
    SUBSCRIPTION_TYPE,
    find_resource,
)

_GROUP = "subscriptions/{subscription}/resourceGroups/{group}/providers"
_CLUSTER = f"{_GROUP}/{CLUSTER_TYPE}/{{cluster}}"
_ACCOUNT = f"{_GROUP}/{STORAGE_TYPE}/{{account}}"

_SUBSCRIPTION = "subscriptions/{subscription}/providers"


def _lists(resource_type: str) -> tuple[ArmRoute, ArmRoute]:
    """The list of a tracked type by subscription and by resource group, as every SDK has them."""
    handler = list_of_type(resource_type)
    return (
        ArmRoute("GET", f"{_SUBSCRIPTION}/{resource_type}", resource_type, handler),
        ArmRoute("GET", f"{_GROUP}/{resource_type}", resource_type, handler),
    )


ARM_ROUTES: tuple[ArmRoute, ...] = (
    ArmRoute("GET", "subscriptions", SUBSCRIPTION_TYPE, list_subscriptions),
    *_lists(CLUSTER_TYPE),
    *_lists(STORAGE_TYPE),
    *_lists(PRIVATE_ENDPOINT_TYPE),
    *_lists(IDENTITY_TYPE),
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
    ArmRoute("GET", _ACCOUNT + "/blobServices", STORAGE_TYPE, list_blob_services),
    ArmRoute("GET", _ACCOUNT + "/blobServices/{service}", STORAGE_TYPE, get_resource),
    ArmRoute("GET", _ACCOUNT + "/blobServices/default/containers", STORAGE_TYPE, list_containers),
    ArmRoute("GET", _ACCOUNT + "/blobServices/default/containers/{container}", STORAGE_TYPE, get_resource),
    ArmRoute("GET", f"{_GROUP}/{PRIVATE_ENDPOINT_TYPE}/{{name}}", PRIVATE_ENDPOINT_TYPE, get_resource),
    ArmRoute(
        "GET", f"{{scope...}}/providers/{ROLE_ASSIGNMENT_TYPE}", ROLE_ASSIGNMENT_TYPE, list_role_assignments
    ),
    ArmRoute(
        "GET",
        f"{{scope...}}/providers/{ROLE_ASSIGNMENT_TYPE}/{{assignment}}",
        ROLE_ASSIGNMENT_TYPE,
        get_role_assignment,
    ),
    ArmRoute(
        "GET",
        "subscriptions/{subscription}/providers/Microsoft.Insights/eventtypes/management/values",
        ACTIVITY_TYPE,
        list_activity,
    ),
    ArmRoute("GET", f"{{scope...}}/providers/{LOCK_TYPE}", LOCK_TYPE, list_locks),
    ArmRoute("GET", f"{{scope...}}/providers/{LOCK_TYPE}/{{lock}}", LOCK_TYPE, get_lock),
    ArmRoute(
        "GET",
        f"{{scope...}}/providers/{DIAGNOSTIC_SETTING_TYPE}",
        DIAGNOSTIC_SETTING_TYPE,
        list_diagnostic_settings,
    ),
    ArmRoute(
        "GET",
        f"{{scope...}}/providers/{DIAGNOSTIC_SETTING_TYPE}/{{setting}}",
        DIAGNOSTIC_SETTING_TYPE,
        get_diagnostic_setting,
    ),
    ArmRoute(
        "GET",
        f"{{scope...}}/providers/{DIAGNOSTIC_CATEGORY_TYPE}",
        DIAGNOSTIC_CATEGORY_TYPE,
        list_diagnostic_categories,
    ),
    # Role definitions are served at any scope and at the tenant root, where the path has no scope.
    ArmRoute("GET", f"providers/{ROLE_DEFINITION_TYPE}", ROLE_DEFINITION_TYPE, list_role_definitions),
    ArmRoute(
        "GET", f"providers/{ROLE_DEFINITION_TYPE}/{{definition}}", ROLE_DEFINITION_TYPE, get_role_definition
    ),
    ArmRoute("POST", "providers/Microsoft.ResourceGraph/resources", GRAPH_TYPE, query_resources),
    ArmRoute(
        "GET", f"{{scope...}}/providers/{ROLE_DEFINITION_TYPE}", ROLE_DEFINITION_TYPE, list_role_definitions
    ),
    ArmRoute(
        "GET",
        f"{{scope...}}/providers/{ROLE_DEFINITION_TYPE}/{{definition}}",
        ROLE_DEFINITION_TYPE,
        get_role_definition,
    ),
)


def create_app(
    state_dir: Path,
    settings: SandboxSettings | None = None,
    *,
    reset: bool = False,
    clock: SandboxClock = WALL_CLOCK,
) -> Starlette:
    """A sandbox ARM over the state in ``state_dir`` (loaded if present, else seeded; ``reset`` re-seeds).

    ``settings`` defaults to those stored in the state, or :class:`SandboxSettings` for a new one.
    ``clock`` is the sandbox's time (:mod:`.clock`): when jobs start and end, and the times they show.
    """
    return app_for_store(SandboxStore(state_dir, settings, reset=reset, clock=clock))


def app_for_store(store: SandboxStore, faults: ArmFaults | None = None) -> Starlette:
    """The sandbox app over an open ``store``, with the fault rules ``faults`` (none by default)."""
    faults = ArmFaults() if faults is None else faults
    return Starlette(
        routes=[
            Mount("/_sandbox", routes=control_routes(store, faults)),
            Route("/{path:path}", ArmEndpoint(store, ReadThrottle(), faults, GraphQuota())),
        ]
    )


class ArmEndpoint:
    """ASGI endpoint that answers every ARM path (any method) from the store, at the store's time."""

    def __init__(
        self, store: SandboxStore, throttle: ReadThrottle, faults: ArmFaults, quota: GraphQuota | None = None
    ) -> None:
        self._store = store
        self._throttle = throttle
        self._faults = faults
        self._quota = GraphQuota() if quota is None else quota

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the request, wait out the latency, answer it under the store's lock, send the answer."""
        # When it arrived and whether a bearer token has expired are wall-clock matters, whatever the
        # sandbox's clock: the log measures the pace of real clients, and their tokens are real.
        arrived = time.time()
        request = Request(scope, receive)
        body = await request.body()
        latency_ms = self._store.settings().latency_ms
        if latency_ms:
            # Asleep, not blocking: concurrent requests wait side by side, as they would on ARM.
            await asyncio.sleep(latency_ms / 1000)
        path = request.url.path.rstrip("/") or "/"
        injection = (
            self._faults.take(request.method, path, request.headers.get("authorization"), time.time())
            if self._faults.armed
            else None
        )
        response = self._respond(
            caller=request.headers.get("authorization", ""),
            method=request.method,
            path=path,
            query=dict(request.query_params),
            raw_query=request.url.query,
            body=body,
            base_url=str(request.base_url).rstrip("/"),
            arrived=arrived,
            injection=injection,
        )
        await response(scope, receive, send)

    def _respond(
        self,
        *,
        caller: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        raw_query: str,
        body: bytes,
        base_url: str,
        arrived: float,
        injection: Injection | None,
    ) -> ASGIApp:
        """One ARM request in, one response out; the request counter and log advance either way."""
        now = self._store.now()
        # A GET changes only what is kept in memory (the request count and log, the read budget): it
        # writes nothing to disk. Every other method, and a fault that changes the world, may.
        # A Resource Graph query is a read, though it is POSTed.
        graph = is_graph_path(path)
        writes = (method != "GET" and not graph) or (injection is not None and injection.changes_state)
        opened = self._store.transaction if writes else self._store.reading
        with opened(now) as state:
            number = self._store.next_request_number()
            settings = SandboxSettings.from_json(state["settings"])
            call = ArmCall(state, settings, {}, query, body, base_url, path, now)
            quota = (
                self._quota.take(caller, settings.graph_quota, settings.graph_window_seconds)
                if graph
                else None
            )
            if injection is not None and injection.reply is not None:
                reply, take = injection.reply, None  # answered at the door: the request is not served
            elif quota is not None and quota.refused:
                reply, take = quota.refusal(), None
            else:
                reply, take = self._serve(method, call, injection)
            headers = {
                **arm_headers(state, number, write=method != "GET" and not graph, now=now),
                **reply.headers,
            }
            if quota is not None:
                headers.update(quota.headers())
            if take is not None:
                headers[REMAINING_READS] = str(take.remaining)
            content = None if reply.body is None else render_json(reply.body)
            retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
            self._store.log_request(
                method,
                path,
                raw_query,
                reply.status,
                arrived=arrived,
                retry_after=retry_after,
                fault=None if injection is None else injection.effect,
            )
        if injection is not None and injection.effect in BROKEN_ANSWERS:
            return broken_answer(injection.effect, reply.status, headers, content)
        if content is None:
            return Response(status_code=reply.status, headers=headers)
        return Response(content, status_code=reply.status, headers=headers, media_type=JSON_MEDIA_TYPE)

    def _serve(
        self, method: str, call: ArmCall, injection: Injection | None
    ) -> tuple[ArmReply, ReadTake | None]:
        """Serve the request from the state, changed before or after by the fault that fired, if any."""
        if injection is not None and injection.effect == "activate-cluster":
            _activate(call.state, call.path)
        take = self._throttle.take(method, call.path, call.settings)
        if take is not None and take.retry_after is not None:
            return take.refusal(), take
        jobs_before = len(call.state["jobs"])
        try:
            reply = _dispatch(method, call)
        except ArmFault as fault:
            reply = fault.reply()
        if injection is not None and injection.effect == "job-ends" and len(call.state["jobs"]) > jobs_before:
            force_end(call.state["jobs"][-1], str(injection.rule.ends), injection.rule.error)
        return reply, take


def _dispatch(method: str, call: ArmCall) -> ArmReply:
    segments = split_path(call.path)
    path_known = False
    for route in ARM_ROUTES:
        params = route.match(segments)
        if params is None:
            continue
        path_known = True
        if route.method == method:
            version = require_api_version(call.query, route.resource_type)
            require_route_in_version(route.resource_type, route.template, call.path, version)
            reply = route.handler(replace(call, params=params, api_version=version))
            return replace(reply, body=shaped_for_version(reply.body, route.resource_type, version))
    if path_known:
        raise ArmFault(405, "MethodNotAllowed", f"The sandbox does not serve {method} on '{call.path}'.")
    raise ArmFault(404, "NotFound", f"The sandbox serves no ARM path '{call.path}'.")


def _activate(state: JsonObject, path: str) -> None:
    """The cluster the path names reads ``Active`` from now on (the ``activate-cluster`` fault)."""
    cluster_id = cluster_of(path)
    cluster = None if cluster_id is None else find_resource(state, cluster_id)
    if cluster is not None and isinstance(cluster.get("properties"), dict):
        cluster["properties"]["activationState"] = "Active"
