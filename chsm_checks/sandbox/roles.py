"""Role definitions: Azure's built-ins as published, custom ones from the state, and what one grants.

The built-ins are data (``builtin_roles.json``), copied from the generated JSON of Microsoft's
"Azure built-in roles" pages; the file names the page and commit each came from. Custom roles, and any
body a test puts at a built-in's GUID to shadow it, live in the state under ``role_definitions``.
Role definition GUIDs are unique in a tenant, so a definition is found by its GUID at any scope.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import ROLE_DEFINITION_TYPE, properties_of

BUILTIN_ROLES_FILE = "builtin_roles.json"


def role_guid(role_definition_id: str) -> str:
    """The trailing GUID of a role definition id, which comes with or without a subscription prefix."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


@cache
def builtin_roles() -> tuple[JsonObject, ...]:
    """The built-in role definitions, at tenant scope, in the data file's order. Callers must not
    change them: they are shared."""
    text = resources.files(__package__).joinpath(BUILTIN_ROLES_FILE).read_text(encoding="utf-8")
    roles: list[JsonObject] = json.loads(text)["roleDefinitions"]
    return tuple(roles)


@cache
def _builtin_by_guid() -> dict[str, JsonObject]:
    return {role["name"].lower(): role for role in builtin_roles()}


def builtin_role(guid: str) -> JsonObject | None:
    """The built-in role definition with this GUID, or None."""
    return _builtin_by_guid().get(guid.lower())


def stored_role(state: JsonObject, guid: str) -> JsonObject | None:
    """The role definition stored in the state under this GUID (a custom one, or a shadowed built-in)."""
    wanted = guid.lower()
    for role in state.get("role_definitions", []):
        if role["name"].lower() == wanted:
            found: JsonObject = role
            return found
    return None


def builtin_at(role: JsonObject, scope: str) -> JsonObject:
    """A built-in as ARM returns it when asked at ``scope``: in a subscription, its id carries the
    subscription; at the tenant root it does not."""
    parts = scope.strip("/").split("/")
    prefix = f"/subscriptions/{parts[1]}" if len(parts) >= 2 and parts[0].lower() == "subscriptions" else ""
    return {**role, "id": f"{prefix}/providers/{ROLE_DEFINITION_TYPE}/{role['name']}"}


def role_definition(state: JsonObject, guid: str, scope: str) -> JsonObject | None:
    """The role definition with this GUID as served at ``scope``: one stored as stored, else the built-in."""
    stored = stored_role(state, guid)
    if stored is not None:
        return stored
    role = builtin_role(guid)
    return None if role is None else builtin_at(role, scope)


def role_definitions(state: JsonObject, scope: str) -> list[JsonObject]:
    """Every role definition served at ``scope``: the built-ins not shadowed, then the stored ones."""
    stored: list[JsonObject] = state.get("role_definitions", [])
    shadowed = {role["name"].lower() for role in stored}
    built_in = [builtin_at(role, scope) for role in builtin_roles() if role["name"].lower() not in shadowed]
    return built_in + stored


def action_matches(pattern: str, action: str) -> bool:
    """Whether an action pattern of a role covers ``action``, as ARM evaluates it: case-insensitive, and
    ``*`` stands for any run of characters (slashes too); nothing else is special."""
    return _compiled(pattern).fullmatch(action) is not None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE)


def grants_data_action(role: JsonObject, action: str) -> bool:
    """Whether ``role`` grants the data action: some permission block lists it in ``dataActions`` and
    does not take it back in its own ``notDataActions``. A malformed block grants nothing."""
    permissions: Any = properties_of(role).get("permissions")
    if not isinstance(permissions, list):
        return False
    return any(
        isinstance(block, dict)
        and _lists(block.get("dataActions"), action)
        and not _lists(block.get("notDataActions"), action)
        for block in permissions
    )


def _lists(patterns: Any, action: str) -> bool:
    return isinstance(patterns, list) and any(
        isinstance(pattern, str) and action_matches(pattern, action) for pattern in patterns
    )
