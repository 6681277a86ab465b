"""Key and user inventories of a cluster, and how two of them compare.

Keys are matched by ``OBJ_ATTR_ID`` and class (a key pair shares its id): handles are dynamic and
change across a restore, key ids do not. Every attribute the source reported must read the same on
the destination, and so must the key's owner and the users it is shared with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .parsers import FindKeyResult, HsmUser, KeyUtilResult
from .sessions import KeyUtilSession

ATTR_ID = "OBJ_ATTR_ID"
ATTR_CLASS = "OBJ_ATTR_CLASS"
ATTR_TYPE = "OBJ_ATTR_KEY_TYPE"
ATTR_LABEL = "OBJ_ATTR_LABEL"


#: A Cloud HSM cluster has three HSM nodes.
EXPECTED_NODES = 3


@dataclass(frozen=True)
class Key:
    handle: int
    attributes: Mapping[str, str]
    owner: int
    shared_with: tuple[int, ...]

    @property
    def key_id(self) -> str | None:
        return self.attributes.get(ATTR_ID)

    @property
    def identity(self) -> tuple[str, str] | None:
        """What matches a key across clusters: its id and class."""
        key_id = self.key_id
        return (key_id, self.attributes.get(ATTR_CLASS, "?")) if key_id else None

    def describe(self) -> str:
        label = self.attributes.get(ATTR_LABEL, "?")
        return f"key id {self.key_id or '(none)'} class {self.attributes.get(ATTR_CLASS, '?')} ({label!r})"


@dataclass(frozen=True)
class KeyInventory:
    """What a crypto user sees: the login's and findKey's per-node results, and every key."""

    login: KeyUtilResult
    find: FindKeyResult | None  # None when the login failed and nothing else was asked
    keys: tuple[Key, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": [
                {
                    "handle": k.handle,
                    "owner": k.owner,
                    "shared_with": list(k.shared_with),
                    "attributes": dict(k.attributes),
                }
                for k in self.keys
            ]
        }


@dataclass(frozen=True)
class UserInventory:
    """``listUsers`` of every server: ``server number → users``; ``servers``: every server the
    utility's start-up named, connected or not (each of them should have listed its users)."""

    by_server: Mapping[int, tuple[HsmUser, ...]]
    servers: tuple[int, ...] = ()

    def users_of(self, server: int) -> frozenset[tuple[str, str]]:
        return frozenset((u.name, u.user_type) for u in self.by_server.get(server, ()))

    def to_json(self) -> dict[str, Any]:
        return {
            str(server): [{"id": u.user_id, "type": u.user_type, "name": u.name} for u in users]
            for server, users in self.by_server.items()
        }


@dataclass
class Comparison:
    """Differences as sentences a reviewer can read; empty when the inventories agree.

    ``differences`` is what the source had that the destination lacks or holds otherwise;
    ``extras`` is what the destination holds that the source did not.
    """

    differences: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    matched: list[tuple[int, int]] = field(default_factory=list)  # (source handle, destination handle)


def node_status_problems(result: KeyUtilResult, what: str, expected: int = EXPECTED_NODES) -> list[str]:
    """The summary and every node line must say success, and every node must have answered."""
    problems = []
    returned = result.returned
    if not returned.ok:
        problems.append(f"{what}: {returned.operation} returned 0x{returned.code:02x} ({returned.message})")
    problems += [
        f"{what}: node {node.node_id} answered 0x{node.code:08x} ({node.message})"
        for node in result.nodes
        if not node.ok
    ]
    if len(result.nodes) != expected:
        problems.append(f"{what}: {len(result.nodes)} node lines, not {expected}")
    return problems


def capture_keys(session: KeyUtilSession, user: str, password: str) -> KeyInventory:
    """Log in once as ``user``, list every key it can see, read each key's attributes and sharing."""
    login = session.login(user, password)
    if not login.ok:
        return KeyInventory(login, None, ())
    found = session.find_keys()
    keys = []
    for handle in found.handles:
        info = session.key_info(handle)
        keys.append(Key(handle, session.attributes(handle), info.owner, tuple(sorted(info.shared_with))))
    session.logout()
    return KeyInventory(login, found, tuple(keys))


def compare_keys(source: KeyInventory, destination: KeyInventory) -> Comparison:
    """Every source key present on the destination with the same attributes; nothing extra.

    A destination whose login was refused lists nothing: that is the one difference (and the one
    extra, as nothing is known of what it holds), not a missing key per source key.
    """
    result = Comparison()
    if not destination.login.ok:
        why = "; ".join(node_status_problems(destination.login, "loginHSM"))
        refused = (
            f"the crypto user's login to the destination did not succeed, so its keys were not read "
            f"({why}); it was tried once, never retried"
        )
        return Comparison([refused], [refused])
    for inventory, where in ((source, "source"), (destination, "destination")):
        for key in inventory.keys:
            if key.identity is None:
                result.differences.append(
                    f"{where} key handle {key.handle} has no {ATTR_ID}: it cannot be matched"
                )
    source_keys = {k.identity: k for k in source.keys if k.identity}
    destination_keys = {k.identity: k for k in destination.keys if k.identity}
    for identity, key in sorted(source_keys.items()):
        twin = destination_keys.get(identity)
        if twin is None:
            result.differences.append(f"{key.describe()} is missing on the destination")
            continue
        result.matched.append((key.handle, twin.handle))
        for name in sorted(set(key.attributes) | set(twin.attributes)):
            before, after = key.attributes.get(name), twin.attributes.get(name)
            if before != after:
                result.differences.append(f"{key.describe()}: {name} was {before!r}, now {after!r}")
        if (key.owner, key.shared_with) != (twin.owner, twin.shared_with):
            result.differences.append(
                f"{key.describe()}: owner/shared users were {key.owner}/{list(key.shared_with)}, "
                f"now {twin.owner}/{list(twin.shared_with)}"
            )
    for identity, key in sorted(destination_keys.items()):
        if identity not in source_keys:
            result.extras.append(f"{key.describe()} is on the destination but was not on the source")
    return result


def compare_users(source: UserInventory, destination: UserInventory) -> Comparison:
    """The same users (name and type) on every destination server, and the same as on the source."""
    result = Comparison()
    servers = sorted(destination.by_server)
    if not servers:
        result.differences.append("the destination listed no users on any server")
        return result
    for server in sorted(set(destination.servers) - set(servers)):
        result.differences.append(f"server {server} listed no users (it did not answer listUsers)")
    reference = destination.users_of(servers[0])
    for server in servers[1:]:
        if destination.users_of(server) != reference:
            result.differences.append(
                f"server {server} lists {sorted(destination.users_of(server))}, "
                f"server {servers[0]} lists {sorted(reference)}"
            )
    source_servers = sorted(source.by_server)
    expected = source.users_of(source_servers[0]) if source_servers else frozenset()
    for name, user_type in sorted(expected - reference):
        result.differences.append(f"user {name} ({user_type}) is missing on the destination")
    for name, user_type in sorted(reference - expected):
        result.extras.append(f"user {name} ({user_type}) is on the destination but not on the source")
    return result
