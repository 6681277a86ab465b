"""What the sandbox puts on the wire: pinned api-versions, ARM error bodies, JSON and headers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from types import MappingProxyType
from typing import Any

from starlette.responses import Response

from chsm_checks.arm.versions import API_VERSIONS as PINNED_API_VERSIONS
from chsm_checks.sandbox.ids import sandbox_guid

JsonObject = dict[str, Any]

# The api-version the harness pins per resource type, from the harness's own table: one table, so the
# versions the client sends and those the sandbox answers with exactly the bodies it always served
# cannot drift apart. The sandbox accepts every published one (chsm_checks.sandbox.api_versions).
API_VERSIONS: Mapping[str, str] = MappingProxyType(dict(PINNED_API_VERSIONS))

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class ArmReply:
    """One ARM answer before headers common to all answers are added. ``body=None`` is an empty body."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class ArmFault(Exception):
    """An ARM error answer, raised where the fault is found and rendered once by the app."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        details: list[JsonObject] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = list(details or [])

    def reply(self) -> ArmReply:
        """The fault as ARM sends it: ``{"error": {code, message, target?, details, additionalInfo}}``."""
        error: JsonObject = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        error["details"] = self.details
        error["additionalInfo"] = []
        return ArmReply(self.status, {"error": error})


def render_json(body: Any) -> bytes:
    """Compact UTF-8 JSON in insertion order, so the same state always gives the same bytes."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, body: Any) -> Response:
    """A JSON answer of the sandbox's control routes."""
    return Response(render_json(body), status_code=status, media_type=JSON_MEDIA_TYPE)


def fault_response(fault: ArmFault) -> Response:
    """An :class:`ArmFault` as a control route's answer."""
    reply = fault.reply()
    return json_response(reply.status, reply.body)


def arm_headers(state: JsonObject, request_number: int, *, write: bool, now: float) -> dict[str, str]:
    """Headers every ARM answer carries, numbered by the request counter so they are reproducible.

    ``date`` is ``now`` on the sandbox's clock (an HTTP date, to the second), as the live service dates
    its answers by its own: the harness times the restore drill by these dates. ``x-ms-operation-identifier``
    names the caller's tenant and object id, as the live service does, so that the harness's scrubbing
    has something real to remove.
    """
    seed = int(state["settings"]["seed"])
    correlation = sandbox_guid(seed, "correlation", request_number)
    headers = {
        "date": formatdate(now, usegmt=True),
        "cache-control": "no-cache",
        "pragma": "no-cache",
        "expires": "-1",
        "x-ms-request-id": sandbox_guid(seed, "request", request_number),
        "x-ms-correlation-request-id": correlation,
        "x-ms-ratelimit-remaining-subscription-global-reads": "3749",
        "x-ms-ratelimit-remaining-subscription-global-writes": "2999",
        "x-ms-operation-identifier": (
            f"tenantId={state['tenant_id']},objectId={state['operator_principal_id']}/uksouth/{correlation}"
        ),
    }
    if write:
        headers["x-ms-ratelimit-remaining-subscription-writes"] = "799"
    return headers
