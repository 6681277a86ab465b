"""``azcloudhsm_util``: the crypto-user utility, printing what docs/hsm-utilities.md shows.

The real tool talks to a local client daemon that reads ``azcloudhsm_resource.cfg``; here the cfg is
read directly, and a cfg that names no reachable cluster gives the daemon's socket error. Each
command is echoed after the ``Command:`` prompt, as the tool does, and re-reads the cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chsm_checks.sandbox.hsm_sim.console import (
    VERSION,
    Console,
    EndOfInput,
    Sandbox,
    dropped_after,
    fault,
    faulted_view,
    node_for_host,
    read_bootstrap_host,
)
from chsm_checks.sandbox.wire import JsonObject

UTILITY = "azcloudhsm_util"
PROMPT = "Command: "
BANNER = f"""Version info, Client Version: {VERSION}, SDK API Version: {VERSION}, SDK Package Version: 2.0.1.2

"""
STARTED = """        Cfm3Initialize() returned app id : 01000000

        session_handle 1000000

        Current FIPS mode is: 00000000

"""
DAEMON_ERROR = """        Cfm3GetPartitionInfo returned: 0x40000040
LIQUIDSECURITY: Daemon socket connection error
"""
SUCCESS = (0x00, "HSM Return: SUCCESS")
NOT_LOGGED_IN = (0xA8, "HSM Error: RET_USER_NOT_LOGGED_IN")
INVALID_HANDLE = (0xA8, "HSM Error: RET_INVALID_HANDLE")
NODE_UNREACHABLE = (0x40000040, "HSM Error: RET_HSM_NODE_UNREACHABLE")
LOGIN_ERRORS = {
    "bad-password": (0xA3, "HSM Error: RET_USER_LOGIN_FAILURE"),
    # The tool does not tell a locked user from a wrong password.
    "locked": (0xA3, "HSM Error: RET_USER_LOGIN_FAILURE"),
    "no-such-user": (0x9D, "HSM Error: RET_USER_NOT_INITIALIZED"),
    "wrong-role": (0xDB, "HSM Error: RET_INVALID_USER_TYPE"),
}
ATTRIBUTE_NOT_FOUND = (0xA4, "HSM Error: RET_ATTRIBUTE_NOT_FOUND")
ALL_ATTRIBUTES = 512
ATTRIBUTE_NUMBERS = {
    "OBJ_ATTR_CLASS": 0,
    "OBJ_ATTR_TOKEN": 1,
    "OBJ_ATTR_PRIVATE": 2,
    "OBJ_ATTR_LABEL": 3,
    "OBJ_ATTR_KEY_TYPE": 256,
    "OBJ_ATTR_ID": 258,
    "OBJ_ATTR_SENSITIVE": 259,
    "OBJ_ATTR_ENCRYPT": 260,
    "OBJ_ATTR_DECRYPT": 261,
    "OBJ_ATTR_WRAP": 262,
    "OBJ_ATTR_UNWRAP": 263,
    "OBJ_ATTR_SIGN": 264,
    "OBJ_ATTR_VERIFY": 266,
    "OBJ_ATTR_DERIVE": 268,
    "OBJ_ATTR_MODULUS_BITS": 289,
    "OBJ_ATTR_VALUE_LEN": 353,
    "OBJ_ATTR_EXTRACTABLE": 354,
    "OBJ_ATTR_LOCAL": 355,
    "OBJ_ATTR_NEVER_EXTRACTABLE": 356,
    "OBJ_ATTR_KCV": 371,
}
SYNTAX = {
    "loginHSM": "loginHSM -u <CU|CO> -s <user name> -p <password>",
    "findKey": "findKey [-c <class>] [-t <key type>] [-l <label>] [-id <id>]",
    "getAttribute": "getAttribute -o <object handle> -a <attribute> -out <file>",
    "getKeyInfo": "getKeyInfo -k <key handle>",
}

Status = tuple[int, str]


class UsageError(Exception):
    """The command's arguments are not what it takes."""


def run(sandbox_url: str, cfg_path: str, ca_file: str | None = None) -> int:
    """Start as the real tool does, then serve commands until ``exit`` or end of input."""
    console = Console()
    console.write(BANNER)
    host = read_bootstrap_host(cfg_path)
    sandbox = Sandbox(sandbox_url, host or "", ca_file=ca_file)
    view = None if host is None else sandbox.view()
    if fault(view, "exit_at_start") == UTILITY:
        return 1
    bootstrap = node_for_host(view, host or "")
    if bootstrap is None or not bootstrap["reachable"] or fault(view, "daemon_down"):
        console.write(DAEMON_ERROR)
        return 1
    console.write(STARTED)
    session = KeyUtilSession(console, sandbox)
    try:
        while True:
            console.write(PROMPT)
            line = console.read_line()
            # The tool prints the command it read, so a transcript shows it even with echo off.
            console.write(f" {line}\n")
            if not session.handle(line):
                return 0
            console.write("\n")
    except EndOfInput:
        return 0


class KeyUtilSession:
    """The command loop's state: who is logged in."""

    def __init__(self, console: Console, sandbox: Sandbox) -> None:
        self.console = console
        self.sandbox = sandbox
        self.user: str | None = None
        self.view: JsonObject = {}
        self.dropped: set[int] = set()  # nodes that dropped during this session (drop_node fault)

    def handle(self, line: str) -> bool:
        """Run one command line; False when the tool should end."""
        words = line.split()
        if not words:
            return True
        command, args = words[0], words[1:]
        answered, view = faulted_view(self.console, self.sandbox, self.dropped, command)
        if answered:
            return True
        self.view = view or {"nodes": [], "users": [], "keys": [], "faults": {}}
        commands: dict[str, Callable[[dict[str, str]], None]] = {
            "loginHSM": self._login,
            "logoutHSM": self._logout,
            "findKey": self._find_key,
            "getAttribute": self._get_attribute,
            "getKeyInfo": self._get_key_info,
        }
        if command == "exit":
            return False
        if command not in commands:
            self.console.write(f"Invalid command: {command}\n")
            return True
        try:
            commands[command](_options(args))
        except UsageError:
            self.console.write(f"Syntax: {SYNTAX.get(command, command)}\n")
        if (node_id := dropped_after(view, command)) is not None:
            self.dropped.add(node_id)
        return True

    def _write_status(self, operation: str, status: Status, *, indent: str = "        ") -> None:
        self.console.write(f"{indent}Cfm3{operation} returned: 0x{status[0]:02x} : {status[1]}\n")

    def _write_cluster_status(self, status: Status, *, indent: str = "        ") -> None:
        self.console.write(f"{indent}Cluster Status:\n")
        for node in self.view["nodes"]:
            code, text = status if node["reachable"] else NODE_UNREACHABLE
            self.console.write(f"{indent}Node id {node['node_id']} status: 0x{code:08x} : {text}\n")

    def _reachable(self) -> bool:
        return any(node["reachable"] for node in self.view["nodes"])

    def _login(self, options: dict[str, str]) -> None:
        role, name, password = _require(options, "-u", "-s", "-p")
        if not self._reachable():
            status = NODE_UNREACHABLE
        else:
            result = self.sandbox.login(role, name, password)
            status = (
                SUCCESS if result == "success" else LOGIN_ERRORS.get(result, LOGIN_ERRORS["bad-password"])
            )
            if result == "success":
                self.user = name
        self._write_status("LoginHSM", status)
        self.console.write("\n")
        self._write_cluster_status(status)

    def _logout(self, options: dict[str, str]) -> None:
        _require(options)
        status = NOT_LOGGED_IN if self._current_user() is None else SUCCESS
        self.user = None
        self._write_status("LogoutHSM", status)
        self.console.write("\n")
        self._write_cluster_status(status)

    def _current_user(self) -> JsonObject | None:
        for user in self.view["users"]:
            if self.user is not None and user["name"] == self.user:
                found: JsonObject = user
                return found
        return None

    def _visible_keys(self) -> list[JsonObject]:
        """The keys the logged-in user owns or has been shared, by handle."""
        user = self._current_user()
        if user is None:
            return []
        uid = user["user_id"]
        keys = [k for k in self.view["keys"] if k["owner"] == uid or uid in k["shared"]]
        return sorted(keys, key=lambda key: int(key["handle"]))

    def _find_key(self, options: dict[str, str]) -> None:
        _require(options, optional=("-c", "-t", "-l", "-id"))
        if self._current_user() is None:
            self._write_status("FindKey", NOT_LOGGED_IN, indent="")
            return
        visible = self._visible_keys()
        wanted = {
            "class": _integer(options["-c"]) if "-c" in options else None,
            "key_type": _integer(options["-t"]) if "-t" in options else None,
            "label": options.get("-l"),
            "id": options["-id"].lower() if "-id" in options else None,
        }
        matching = [key for key in visible if all(v is None or key[k] == v for k, v in wanted.items())]
        self.console.write(f"Total number of keys present: {len(visible)}\n")
        if matching:
            self.console.write(f"Number of matching keys from start index 0::{len(matching) - 1}\n")
        else:
            self.console.write("No keys found matching the given criteria\n")
        self.console.write(f"Handles of matching keys: {', '.join(str(k['handle']) for k in matching)}\n")
        self._write_cluster_status(SUCCESS, indent="")
        self._write_status("FindKey", SUCCESS, indent="")

    def _key(self, handle_text: str) -> JsonObject | None:
        handle = _integer(handle_text)
        for key in self._visible_keys():
            if key["handle"] == handle:
                return key
        return None

    def _get_attribute(self, options: dict[str, str]) -> None:
        handle, attribute, out = _require(options, "-o", "-a", "-out")
        number = _integer(attribute)
        if self._current_user() is None:
            self._write_status("GetAttribute", NOT_LOGGED_IN)
            return
        key = self._key(handle)
        if key is None:
            self._write_status("GetAttribute", INVALID_HANDLE)
            return
        pairs = {
            name: value
            for name, value in key["attributes"].items()
            if number in (ALL_ATTRIBUTES, ATTRIBUTE_NUMBERS.get(name))
        }
        if not pairs:
            self._write_status("GetAttribute", ATTRIBUTE_NOT_FOUND)
            return
        try:
            Path(out).write_text("".join(f"{n}\n{v}\n" for n, v in pairs.items()), encoding="utf-8")
        except OSError as exc:
            self.console.write(f"Error: cannot write to {out}: {exc.strerror}\n")
            return
        self.console.write(f"Attribute size: {len(pairs)}, count: {len(pairs)}\nWritten to: {out} file\n\n")
        self._write_status("GetAttribute", SUCCESS)

    def _get_key_info(self, options: dict[str, str]) -> None:
        (handle,) = _require(options, "-k")
        _integer(handle)
        if self._current_user() is None:
            self._write_status("GetKey", NOT_LOGGED_IN)
            return
        key = self._key(handle)
        if key is None:
            self._write_status("GetKey", INVALID_HANDLE)
            return
        self._write_status("GetKey", SUCCESS)
        self.console.write(f"\n        Owned by user {key['owner']}\n")
        if key["shared"]:
            self.console.write(f"\n        also, shared to following {len(key['shared'])} user(s):\n\n")
            for user_id in key["shared"]:
                self.console.write(f"                 {user_id}\n")


def _options(args: list[str]) -> dict[str, str]:
    """``-flag value`` pairs; a flag without a value, or a bare word, is a usage error."""
    if len(args) % 2 or any(not flag.startswith("-") for flag in args[::2]):
        raise UsageError
    return dict(zip(args[::2], args[1::2], strict=True))


def _require(options: dict[str, str], *flags: str, optional: tuple[str, ...] = ()) -> list[str]:
    """The values of ``flags`` (all required), refusing flags neither required nor ``optional``."""
    if not set(flags) <= set(options) or not set(options) <= {*flags, *optional}:
        raise UsageError
    return [options[flag] for flag in flags]


def _integer(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError from None
