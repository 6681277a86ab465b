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

from chsm_checks.sandbox.hsm_state import find_user, login, public_view
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.wire import ArmFault, JsonObject, fault_response, json_response
from chsm_checks.sandbox.world import CLUSTER_TYPE, resources_of_type


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
                "activation_state": cluster["properties"].get("activationState"),
                **public_view(state["hsm"][cluster["id"]]),
            }
            return json_response(200, view)

    async def login_by_host(request: Request) -> Response:
        try:
            body = await _body(request, {"role": str, "user": str, "password": str}, required=True)
            # A login counts its failures: a change.
            with store.transaction() as state:
                cluster = _cluster_by_host(state, request.path_params["hostname"])
                result, failures = login(
                    state["hsm"][cluster["id"]], body["role"], body["user"], body["password"]
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
            body = await _body(request, {"hang_on": (str, type(None))}, required=True)
            with store.transaction() as state:
                faults: JsonObject = _hsm_by_name(state, request.path_params["name"])["faults"]
                faults.update(body)
                return json_response(200, faults)
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


def _cluster_by_host(state: JsonObject, hostname: str) -> JsonObject:
    wanted = hostname.lower()
    for cluster in resources_of_type(state, CLUSTER_TYPE):
        if any(hsm["fqdn"].lower() == wanted for hsm in cluster["properties"].get("hsms") or []):
            return cluster
    raise ArmFault(404, "ResourceNotFound", f"No cluster in the sandbox has the HSM host '{hostname}'.")


def _hsm_by_name(state: JsonObject, name: str) -> JsonObject:
    for cluster in resources_of_type(state, CLUSTER_TYPE):
        if cluster["name"].lower() == name.lower():
            hsm: JsonObject = state["hsm"][cluster["id"]]
            return hsm
    raise ArmFault(404, "ResourceNotFound", f"No cluster named '{name}' in the sandbox.")
