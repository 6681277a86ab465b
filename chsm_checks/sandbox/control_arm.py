"""``/_sandbox/arm/<resource id>``: read and shape any resource the sandbox serves, from outside.

``GET`` answers what ARM would serve there; ``PUT`` creates or replaces the body (as ARM returns it);
``PATCH`` applies a JSON merge patch (RFC 7386) to it; ``DELETE`` removes it, with the resources nested
in it. A change is on disk before its answer, and ARM answers from it from then on. Bad input is an
ARM-shaped error and changes nothing. The types served, and what a body must be: :mod:`.served`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from chsm_checks.sandbox.served import (
    SERVED_TYPES,
    ResourceId,
    ServedType,
    parse_resource_id,
    require_placement,
    served_type,
    settled_body,
)
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.wire import ArmFault, JsonObject, fault_response, json_response


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as RFC 7386 says: objects merge key by key, ``null`` removes a
    key, anything else replaces. ``target`` is left as it was."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def arm_resource_endpoint(store: SandboxStore) -> Any:
    """The endpoint for ``/arm/{path:path}`` (mounted under ``/_sandbox``), bound to ``store``."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            rid = parse_resource_id("/" + request.path_params["path"])
            served = served_type(rid)
            if request.method == "GET":
                with store.reading() as state:
                    return json_response(200, _current(state, served, rid))
            with store.transaction() as state:
                if request.method == "PUT":
                    status, stored = _put(state, served, rid, _json(body))
                elif request.method == "PATCH":
                    status, stored = 200, _patch(state, served, rid, _json(body))
                else:
                    status, stored = 200, _delete(state, served, rid)
                return json_response(status, stored)
        except ArmFault as fault:
            # Raised before the state changed: the transaction, left by an exception, writes nothing.
            return fault_response(fault)

    return endpoint


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArmFault(
            400, "InvalidRequestContent", f"The request content is not valid JSON: {exc}."
        ) from None


def _not_found(served: ServedType, rid: ResourceId) -> ArmFault:
    return ArmFault(404, served.not_found, f"The sandbox holds no {served.type} at '{rid.id}'.")


def _current(state: JsonObject, served: ServedType, rid: ResourceId) -> JsonObject:
    """What is served at ``rid`` now: the stored body, else a built-in, else 404."""
    require_placement(state, served, rid)
    index = served.find(state, rid)
    if index is not None:
        body: JsonObject = state[served.collection][index]
        return body
    built_in = served.built_in(rid) if served.built_in is not None else None
    if built_in is None:
        raise _not_found(served, rid)
    return built_in


def _put(state: JsonObject, served: ServedType, rid: ResourceId, body: Any) -> tuple[int, JsonObject]:
    require_placement(state, served, rid)
    stored = settled_body(body, rid, served)
    index = served.find(state, rid)
    collection: list[JsonObject] = state.setdefault(served.collection, [])
    if index is not None:
        collection[index] = stored
        return 200, stored
    collection.append(stored)
    if served.placed is not None:
        served.placed(state, stored)
    return 201, stored


def _patch(state: JsonObject, served: ServedType, rid: ResourceId, patch: Any) -> JsonObject:
    current = _current(state, served, rid)
    patched = settled_body(merge_patch(current, patch), rid, served)
    index = served.find(state, rid)
    collection: list[JsonObject] = state.setdefault(served.collection, [])
    if index is None:
        collection.append(patched)  # a built-in patched: the sandbox serves the patched copy from now on
    else:
        collection[index] = patched
    return patched


def _delete(state: JsonObject, served: ServedType, rid: ResourceId) -> JsonObject:
    require_placement(state, served, rid)
    index = served.find(state, rid)
    if index is None:
        if served.built_in is not None and served.built_in(rid) is not None:
            raise ArmFault(
                400,
                "InvalidRequest",
                f"'{rid.id}' is a built-in {served.type}, which the sandbox cannot delete; a PUT there "
                "replaces it until the next reset.",
            )
        raise _not_found(served, rid)
    collection: list[JsonObject] = state[served.collection]
    removed = collection.pop(index)
    # What is nested in it goes with it, as in ARM: an account's containers.
    prefix = removed["id"].lower() + "/"
    children = [body for body in collection if body["id"].lower().startswith(prefix)]
    collection[:] = [body for body in collection if not body["id"].lower().startswith(prefix)]
    for body in (removed, *children):
        child_type = SERVED_TYPES.get(body["type"].lower())
        hook = None if child_type is None else child_type.removed
        if hook is not None:
            hook(state, body)
    return removed
