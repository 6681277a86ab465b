"""``/_sandbox/hsm/…``: what the HSM utility simulators read and do, and the knobs tests turn.

The simulators find their cluster by an HSM host name, as the real tools do from their configuration
file; tests name the cluster. None of this is ARM, and none of it enters the ARM request log.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chsm_checks.sandbox.hsm_state import NO_FAULTS, find_user, login, public_view
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.wire import ArmFault, JsonObject, fault_response, json_response
from chsm_checks.sandbox.world import CLUSTER_TYPE, properties_of, resources_of_type

_OPTIONAL_TEXT = (str, type(None))
# The faults a PATCH may set (any of them), with the JSON types each takes; see NO_FAULTS.
FAULT_TYPES: dict[str, Any] = {
    "hang_on": _OPTIONAL_TEXT,
    "garbage_on": _OPTIONAL_TEXT,
    "rbi_on": _OPTIONAL_TEXT,
    "exit_at_start": _OPTIONAL_TEXT,
    "daemon_down": bool,
    "drop_node": (dict, type(None)),
    "lock_after": (int, type(None)),
}
UTILITIES = ("azcloudhsm_mgmt_util", "azcloudhsm_util")


def hsm_routes(store: SandboxStore) -> list[BaseRoute]:
    """Routes (to mount under ``/_sandbox/hsm``) bound to ``store``."""

    async def view_by_host(request: Request) -> Response:
        with store.reading() as state:
            try:
                cluster = _cluster_by_host(state, request.path_params["hostname"])
            except ArmFault as fault:
                return fault_response(fault)
            view: JsonObject = {
                "cluster": cluster["name"],
                "cluster_id": cluster["id"],
                "activation_state": properties_of(cluster).get("activationState"),
                **public_view(_hsm_of(state, cluster)),
            }
            return json_response(200, view)

    async def login_by_host(request: Request) -> Response:
        try:
            body = await _body(request, {"role": str, "user": str, "password": str}, required=True)
            # A login counts its failures: a change.
            with store.transaction() as state:
                cluster = _cluster_by_host(state, request.path_params["hostname"])
                result, failures = login(
                    _hsm_of(state, cluster), body["role"], body["user"], body["password"]
                )
                return json_response(200, {"result": result, "failures": failures})
        except ArmFault as fault:
            return fault_response(fault)

    async def patch_node(request: Request) -> Response:
        try:
            body = await _body(request, {"reachable": bool}, required=True)
            with store.transaction() as state:
                hsm = _hsm_by_name(state, request.path_params["name"])
                node_id = request.path_params["node_id"]
                for node in hsm["nodes"]:
                    if node["node_id"] == node_id:
                        node.update(body)
                        return json_response(200, node)
                raise ArmFault(404, "ResourceNotFound", f"The cluster has no HSM node {node_id}.")
        except ArmFault as fault:
            return fault_response(fault)

    async def patch_user(request: Request) -> Response:
        try:
            body = await _body(request, {"password": str, "failures": int}, required=False)
            if body.get("failures", 0) < 0 or body.get("password") == "":
                raise ArmFault(400, "InvalidRequestContent", "failures must be >= 0 and password not empty.")
            with store.transaction() as state:
                user = find_user(
                    _hsm_by_name(state, request.path_params["name"]), request.path_params["user"]
                )
                if user is None:
                    raise ArmFault(
                        404,
                        "ResourceNotFound",
                        f"The cluster has no HSM user '{request.path_params['user']}'.",
                    )
                user.update(body)
                return json_response(200, {k: v for k, v in user.items() if k != "password"})
        except ArmFault as fault:
            return fault_response(fault)

    async def patch_faults(request: Request) -> Response:
        try:
            body = await _body(request, FAULT_TYPES, required=False)
            with store.transaction() as state:
                hsm = _hsm_by_name(state, request.path_params["name"])
                _check_faults(body, hsm)
                hsm["faults"] = {**NO_FAULTS, **hsm["faults"], **body}
                # What this request set, and any other switch still on (recorded by the scenarios
                # that inject faults: the answer to setting one switch names only that one).
                on = {k: v for k, v in hsm["faults"].items() if v != NO_FAULTS[k] or k in body}
                return json_response(200, on)
        except ArmFault as fault:
            return fault_response(fault)

    return [
        Route("/by-host/{hostname}", view_by_host, methods=["GET"]),
        Route("/by-host/{hostname}/login", login_by_host, methods=["POST"]),
        Route("/{name}/nodes/{node_id:int}", patch_node, methods=["PATCH"]),
        Route("/{name}/users/{user}", patch_user, methods=["PATCH"]),
        Route("/{name}/faults", patch_faults, methods=["PATCH"]),
    ]


async def _body(request: Request, fields: dict[str, Any], *, required: bool) -> JsonObject:
    """The request's JSON object, holding only ``fields`` of the given types (all of them if
    ``required``, else at least one); 400 ``InvalidRequestContent`` otherwise."""
    try:
        body: Any = json.loads(await request.body())
    except ValueError:
        body = None
    expected = ", ".join(fields)
    if not isinstance(body, dict) or not body or not set(body) <= set(fields):
        raise ArmFault(400, "InvalidRequestContent", f"The body must be a JSON object of: {expected}.")
    if required and set(body) != set(fields):
        raise ArmFault(400, "InvalidRequestContent", f"The body must give every one of: {expected}.")
    for name, value in body.items():
        # bool is an int to Python, never to JSON.
        if not isinstance(value, fields[name]) or (isinstance(value, bool) and fields[name] is int):
            raise ArmFault(400, "InvalidRequestContent", f"'{name}' has the wrong type.", target=name)
    return body


def _check_faults(body: JsonObject, hsm: JsonObject) -> None:
    """What the types alone do not say: a utility by name, a node of this cluster, a count >= 0."""
    exit_at_start = body.get("exit_at_start")
    if exit_at_start is not None and exit_at_start not in UTILITIES:
        raise ArmFault(
            400,
            "InvalidRequestContent",
            f"exit_at_start names one of {', '.join(UTILITIES)}.",
            "exit_at_start",
        )
    lock_after = body.get("lock_after")
    if isinstance(lock_after, bool) or (lock_after is not None and lock_after < 0):
        raise ArmFault(400, "InvalidRequestContent", "lock_after must be a count >= 0.", "lock_after")
    drop = body.get("drop_node")
    if drop is not None:
        node_ids = [node["node_id"] for node in hsm["nodes"]]
        node_id, after = drop.get("node_id"), drop.get("after")
        if set(drop) != {"node_id", "after"} or node_id not in node_ids or isinstance(node_id, bool):
            raise ArmFault(
                400,
                "InvalidRequestContent",
                f'drop_node is {{"node_id": one of {node_ids}, "after": a command}}.',
                "drop_node",
            )
        if not isinstance(after, str) or not after:
            raise ArmFault(400, "InvalidRequestContent", "drop_node.after names a command.", "drop_node")


def _cluster_by_host(state: JsonObject, hostname: str) -> JsonObject:
    wanted = hostname.lower()
    for cluster in resources_of_type(state, CLUSTER_TYPE):
        hsms = properties_of(cluster).get("hsms")
        if isinstance(hsms, list) and any(
            isinstance(hsm, dict) and str(hsm.get("fqdn", "")).lower() == wanted for hsm in hsms
        ):
            return cluster
    raise ArmFault(404, "ResourceNotFound", f"No cluster in the sandbox has the HSM host '{hostname}'.")


def _hsm_of(state: JsonObject, cluster: JsonObject) -> JsonObject:
    """The cluster's HSM contents; a cluster put through ``/_sandbox/arm`` without HSMs has none."""
    hsm: JsonObject | None = state["hsm"].get(cluster["id"])
    if hsm is None:
        raise ArmFault(404, "ResourceNotFound", f"The cluster '{cluster['name']}' has no HSM contents.")
    return hsm


def _hsm_by_name(state: JsonObject, name: str) -> JsonObject:
    for cluster in resources_of_type(state, CLUSTER_TYPE):
        if cluster["name"].lower() == name.lower():
            return _hsm_of(state, cluster)
    raise ArmFault(404, "ResourceNotFound", f"No cluster named '{name}' in the sandbox.")
