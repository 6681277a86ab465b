"""What the HSM utilities see inside each cluster: its nodes, users and keys, and faults to inject.

Stored in the state under ``hsm`` (keyed by cluster id) beside the ARM resources; backups keep a copy
of a cluster's users and keys under ``hsm_backups`` (keyed by backup id), which a restore copies onto
the destination with new key handles, as the service does.
"""

from __future__ import annotations

import copy
from typing import Literal

from chsm_checks.sandbox.ids import sandbox_hex
from chsm_checks.sandbox.wire import JsonObject

MAX_LOGIN_FAILURES = 5
# The faults tests inject into a cluster's utilities (README, "The HSM utilities"); none by default.
# They live beside the cluster's users and keys, so a restore, which replaces those, keeps them.
NO_FAULTS: JsonObject = {
    "hang_on": None,  # a command the utilities never answer
    "garbage_on": None,  # a command that prints garbage in place of its output
    "rbi_on": None,  # a mgmt-util command that fails on the last server and asks Retry/rollBack/Ignore
    "exit_at_start": None,  # a utility that exits (status 1) after its banner
    "daemon_down": False,  # azcloudhsm_util cannot reach its client daemon
    "drop_node": None,  # {"node_id": N, "after": command}: in each session, the node drops after it
    "lock_after": None,  # failed logins that lock a user (None: MAX_LOGIN_FAILURES; 0: locked already)
}
# Restored keys get handles from here on; the seeded ones are far below, so old and new never collide.
FIRST_RESTORED_HANDLE = 1048582

LoginResult = Literal["success", "bad-password", "locked", "no-such-user", "wrong-role"]

# Which user types may log in with each role of loginHSM (a PCO logs in as CO).
ROLE_USER_TYPES: dict[str, frozenset[str]] = {
    "PRECO": frozenset({"PRECO"}),
    "CO": frozenset({"PCO", "CO"}),
    "CU": frozenset({"CU"}),
    "AU": frozenset({"AU"}),
}

SOURCE_USERS = (
    (1, "PCO", "admin", "sandbox-co-password"),
    (2, "AU", "app_user", "sandbox-au-password"),
    (3, "CU", "cu1", "sandbox-cu-password"),
    (4, "CU", "cu2", "sandbox-cu2-password"),
)
UNACTIVATED_USERS = ((1, "PRECO", "admin", "sandbox-co-password"),)

# handle, class, key type, label, owner, shared with
SOURCE_KEYS = (
    (6, 4, 31, "backup-aes-1", 3, ()),
    (7, 3, 0, "backup-rsa-1", 3, (4,)),
    (262150, 2, 0, "backup-rsa-1", 3, ()),
    (262151, 3, 3, "backup-ec-1", 3, ()),
    (524296, 4, 16, "backup-hmac-1", 4, (3,)),
)

_PUBLIC, _PRIVATE, _SECRET = 2, 3, 4
_RSA, _EC, _GENERIC_SECRET, _AES = 0, 3, 16, 31
# (class, key type) -> ENCRYPT, DECRYPT, WRAP, UNWRAP, SIGN, VERIFY, DERIVE
_USAGE: dict[tuple[int, int], tuple[int, ...]] = {
    (_SECRET, _AES): (1, 1, 1, 1, 0, 0, 0),
    (_PRIVATE, _RSA): (0, 1, 0, 1, 1, 0, 0),
    (_PUBLIC, _RSA): (1, 0, 1, 0, 0, 1, 0),
    (_PRIVATE, _EC): (0, 0, 0, 0, 1, 0, 1),
    (_SECRET, _GENERIC_SECRET): (0, 0, 0, 0, 1, 1, 0),
}
_USAGE_NAMES = ("ENCRYPT", "DECRYPT", "WRAP", "UNWRAP", "SIGN", "VERIFY", "DERIVE")


def seed_hsm_cluster(
    seed: int, cluster: JsonObject, subnet: int, *, populated: bool, network: str = "10.0"
) -> JsonObject:
    """The HSM contents of a seeded cluster: three reachable nodes on ``<network>.<subnet>.5-7``, and
    either the source's users and keys (``populated``) or a fresh cluster's lone pre-crypto-officer."""
    nodes = [
        {
            "node_id": i + 1,
            "server": i,
            "ip": f"{network}.{subnet}.{5 + i}",
            "hostname": hsm["fqdn"],
            "reachable": True,
        }
        for i, hsm in enumerate(cluster["properties"]["hsms"])
    ]
    users = [_user(*spec) for spec in (SOURCE_USERS if populated else UNACTIVATED_USERS)]
    keys = [_key(seed, n, *spec) for n, spec in enumerate(SOURCE_KEYS, start=1)] if populated else []
    return {
        "nodes": nodes,
        "users": users,
        "keys": keys,
        "faults": dict(NO_FAULTS),
        "next_handle": FIRST_RESTORED_HANDLE,
    }


def activate(hsm: JsonObject) -> None:
    """What activation does inside: the pre-crypto-officer becomes the primary crypto officer; no keys."""
    for user in hsm["users"]:
        if user["type"] == "PRECO":
            user["type"] = "PCO"


def _user(user_id: int, user_type: str, name: str, password: str) -> JsonObject:
    return {
        "user_id": user_id,
        "type": user_type,
        "name": name,
        "password": password,
        "failures": 0,
        "mofn": False,
        "twofa": False,
    }


def _key(
    seed: int,
    n: int,
    handle: int,
    key_class: int,
    key_type: int,
    label: str,
    owner: int,
    shared: tuple[int, ...],
) -> JsonObject:
    key_id = sandbox_hex(seed, "hsm-key-id", n, 16)
    sensitive = key_class != _PUBLIC
    attributes = {
        "OBJ_ATTR_CLASS": _hex(key_class),
        "OBJ_ATTR_KEY_TYPE": _hex(key_type),
        "OBJ_ATTR_LABEL": label,
        "OBJ_ATTR_ID": key_id,
        "OBJ_ATTR_TOKEN": _hex(1),
        "OBJ_ATTR_PRIVATE": _hex(sensitive),
        "OBJ_ATTR_SENSITIVE": _hex(sensitive),
    }
    for name, flag in zip(_USAGE_NAMES, _USAGE[(key_class, key_type)], strict=True):
        attributes[f"OBJ_ATTR_{name}"] = _hex(flag)
    attributes["OBJ_ATTR_EXTRACTABLE"] = _hex(1)
    attributes["OBJ_ATTR_NEVER_EXTRACTABLE"] = _hex(0)
    attributes["OBJ_ATTR_LOCAL"] = _hex(1)
    if key_type == _RSA:
        attributes["OBJ_ATTR_MODULUS_BITS"] = _hex(2048)
    if key_class == _SECRET:
        attributes["OBJ_ATTR_VALUE_LEN"] = _hex(32)
    attributes["OBJ_ATTR_KCV"] = "0x" + sandbox_hex(seed, "hsm-kcv", n, 6)
    return {
        "handle": handle,
        "id": key_id,
        "label": label,
        "class": key_class,
        "key_type": key_type,
        "owner": owner,
        "shared": list(shared),
        "attributes": attributes,
    }


def _hex(value: int) -> str:
    return f"0x{int(value):02x}"


def public_view(hsm: JsonObject) -> JsonObject:
    """Nodes, users (without passwords), keys and faults, as the simulators may see them."""
    return {
        "nodes": copy.deepcopy(hsm["nodes"]),
        "users": [{k: v for k, v in user.items() if k != "password"} for user in hsm["users"]],
        "keys": copy.deepcopy(hsm["keys"]),
        "faults": {**NO_FAULTS, **copy.deepcopy(hsm["faults"])},
    }


def find_user(hsm: JsonObject, name: str) -> JsonObject | None:
    """The user called ``name`` (names are case-sensitive on the HSM)."""
    for user in hsm["users"]:
        if user["name"] == name:
            found: JsonObject = user
            return found
    return None


def login(hsm: JsonObject, role: str, name: str, password: str) -> tuple[LoginResult, int]:
    """Judge one login and count it: a wrong password adds a failure, a success clears them, and a
    user with :data:`MAX_LOGIN_FAILURES` failures (the ``lock_after`` fault's, if set) is locked
    whatever the password."""
    user = find_user(hsm, name)
    if user is None:
        return "no-such-user", 0
    failures: int = user["failures"]
    if user["type"] not in ROLE_USER_TYPES.get(role.upper(), frozenset()):
        return "wrong-role", failures
    lock_after = hsm["faults"].get("lock_after")
    if failures >= (MAX_LOGIN_FAILURES if lock_after is None else lock_after):
        return "locked", failures
    if password != user["password"]:
        user["failures"] = failures + 1
        return "bad-password", failures + 1
    user["failures"] = 0
    return "success", 0


def backup_snapshot(hsm: JsonObject) -> JsonObject:
    """What a backup of the cluster holds: its users and keys."""
    return {"users": copy.deepcopy(hsm["users"]), "keys": copy.deepcopy(hsm["keys"])}


def restore_snapshot(hsm: JsonObject, snapshot: JsonObject) -> None:
    """Replace the cluster's users and keys with a backup's: same ids, owners and attributes, failure
    counts cleared, and new handles from the cluster's own counter."""
    users = copy.deepcopy(snapshot["users"])
    for user in users:
        user["failures"] = 0
    keys = copy.deepcopy(sorted(snapshot["keys"], key=lambda key: int(key["handle"])))
    # A backup of a restored cluster carries handles from the same range: step past them all.
    hsm["next_handle"] = max([hsm["next_handle"], *(int(key["handle"]) + 1 for key in keys)])
    for key in keys:
        key["handle"] = hsm["next_handle"]
        hsm["next_handle"] += 1
    hsm["users"] = users
    hsm["keys"] = keys
