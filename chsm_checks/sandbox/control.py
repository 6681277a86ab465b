"""``/_sandbox/…``: endpoints for tests to read and steer the sandbox. They are not ARM and not logged.

``/_sandbox/fleet`` tells the truth about the fleet (:mod:`.fleet`): which cluster got which fault.
``/_sandbox/arm-faults`` lists (GET), adds (POST) and clears (DELETE) the fault rules of
:mod:`.arm_faults`.
``/_sandbox/jobs`` (PATCH) sets how long the world's backups and restores take, from their next start.
``/_sandbox/arm/<resource id>`` reads and shapes any resource the sandbox serves (:mod:`.control_arm`).
``/_sandbox/hsm/…`` (see :mod:`chsm_checks.sandbox.hsm_control`) serves the HSM utility simulators.
``/_sandbox/hsm-client`` (GET) says where this sandbox's HSM client is: its state directory, under
which ``hsm-client/bin/`` holds the utilities and their configuration (a target's
``[hsm] client = "sandbox"`` reads it).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from chsm_checks.sandbox.arm_faults import ArmFaults
from chsm_checks.sandbox.control_arm import arm_resource_endpoint
from chsm_checks.sandbox.fleet import fleet_view
from chsm_checks.sandbox.hsm_client import client_description, write_resource_cfg
from chsm_checks.sandbox.hsm_control import hsm_routes
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.wire import ArmFault, fault_response, json_response
from chsm_checks.sandbox.world import CLUSTER_TYPE, resources_of_type

# What PATCH /_sandbox/jobs may set: seconds a job of that kind takes, from its start.
JOB_DURATIONS = ("backup_seconds", "restore_seconds")


def _job_durations_problem(patch: Any) -> str | None:
    """Why ``patch`` is not a body for ``PATCH /_sandbox/jobs``, or None."""
    if not isinstance(patch, dict) or not patch:
        return f"The body must be a JSON object of one or more of {', '.join(JOB_DURATIONS)}."
    for key, value in patch.items():
        if key not in JOB_DURATIONS:
            return f"{key}: not a job duration; one of {', '.join(JOB_DURATIONS)}."
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
            return f"{key}: seconds must be a number >= 0, not {json.dumps(value)}."
    return None


def control_routes(store: SandboxStore, faults: ArmFaults) -> list[BaseRoute]:
    """Routes (to mount under ``/_sandbox``) bound to ``store`` and the ARM fault rules ``faults``."""

    async def get_state(request: Request) -> Response:
        with store.reading() as state:
            return json_response(200, state)

    async def get_fleet(request: Request) -> Response:
        with store.reading() as state:
            return json_response(200, fleet_view(state))

    async def get_requests(request: Request) -> Response:
        return json_response(200, store.requests())

    async def get_hsm_client(request: Request) -> Response:
        return json_response(200, client_description(store.state_dir))

    async def reset(request: Request) -> Response:
        store.reset()
        with store.reading() as state:
            write_resource_cfg(store.state_dir, state, replace=True)
            return json_response(200, state)

    async def patch_cluster(request: Request) -> Response:
        try:
            patch: Any = json.loads(await request.body())
        except ValueError:
            patch = None
        if not isinstance(patch, dict):
            return fault_response(
                ArmFault(400, "InvalidRequestContent", "The body must be a JSON object of properties.")
            )
        name = request.path_params["name"].lower()
        with store.transaction() as state:
            for cluster in resources_of_type(state, CLUSTER_TYPE):
                if cluster["name"].lower() == name:
                    if not isinstance(cluster.get("properties"), dict):
                        cluster["properties"] = {}  # a body shaped through /arm may have none
                    cluster["properties"].update(patch)
                    return json_response(200, cluster)
        return fault_response(ArmFault(404, "ResourceNotFound", f"No cluster named '{name}' in the sandbox."))

    async def patch_jobs(request: Request) -> Response:
        try:
            patch: Any = json.loads(await request.body())
        except ValueError:
            patch = None
        problem = _job_durations_problem(patch)
        if problem:
            return fault_response(ArmFault(400, "InvalidRequestContent", problem))
        with store.transaction() as state:
            state.update({key: float(value) for key, value in patch.items()})
            return json_response(200, {key: state[key] for key in JOB_DURATIONS if key in state})

    async def arm_faults(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            try:
                faults.add(json.loads(await request.body()))
            except ValueError as exc:
                return fault_response(ArmFault(400, "InvalidRequestContent", f"arm-faults: {exc}"))
        return json_response(201 if request.method == "POST" else 200, faults.listing())

    return [
        Route("/state", get_state, methods=["GET"]),
        Route("/arm-faults", arm_faults, methods=["GET", "POST", "DELETE"]),
        Route("/requests", get_requests, methods=["GET"]),
        Route("/fleet", get_fleet, methods=["GET"]),
        Route("/hsm-client", get_hsm_client, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/clusters/{name}", patch_cluster, methods=["PATCH"]),
        Route("/jobs", patch_jobs, methods=["PATCH"]),
        Route("/arm/{path:path}", arm_resource_endpoint(store), methods=["GET", "PUT", "PATCH", "DELETE"]),
        Mount("/hsm", routes=hsm_routes(store)),
    ]
