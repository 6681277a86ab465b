"""What both simulators share: the terminal they talk on, the sandbox they ask, the cfg they read."""

from __future__ import annotations

import json
import ssl
import sys
import time
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from chsm_checks.sandbox.wire import JsonObject

PORT = 2225
VERSION = "2.09.07.02"


class EndOfInput(Exception):
    """Standard input closed: the simulator ends as if told to quit."""


class Console:
    """Lines in from stdin, text out to stdout, flushed at once so a pty shows every prompt."""

    def write(self, text: str) -> None:
        """Print ``text`` as it is (add the newlines yourself)."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def write_bytes(self, data: bytes) -> None:
        """Print raw bytes (what a broken tool prints need not be text)."""
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def read_line(self) -> str:
        """The next line typed, without its line ending; :class:`EndOfInput` when stdin closes."""
        line = sys.stdin.readline()
        if not line:
            raise EndOfInput
        return line.rstrip("\r\n")

    def ask(self, prompt: str, answers: str) -> str:
        """Ask until the first letter typed is one of ``answers`` (any case); return it in upper case."""
        while True:
            self.write(prompt)
            answer = self.read_line().strip()[:1].upper()
            if answer and answer in answers.upper():
                return answer


class Sandbox:
    """The sandbox's ``/_sandbox/hsm`` routes, seen from one HSM host name."""

    def __init__(self, base_url: str, hostname: str, *, ca_file: str | None = None) -> None:
        self._path = "/by-host/" + quote(hostname, safe="")
        # A fresh connection per request: on a kept-alive one, each small request waits out the
        # peer's delayed ACK (about 40 ms), which a command-by-command session would feel.
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/_sandbox/hsm",
            timeout=10,
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=ssl.create_default_context(cafile=ca_file) if ca_file is not None else True,
        )

    def view(self) -> JsonObject | None:
        """The cluster as the HSMs see it now, or None if no cluster has this host."""
        response = self._http.get(self._path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        view: JsonObject = response.json()
        return view

    def login(self, role: str, user: str, password: str) -> str:
        """One login attempt, counted by the sandbox: ``success``, ``bad-password``, ``locked``,
        ``no-such-user`` or ``wrong-role``."""
        response = self._http.post(
            self._path + "/login", json={"role": role, "user": user, "password": password}
        )
        response.raise_for_status()
        result: str = response.json()["result"]
        return result


def read_bootstrap_host(cfg_path: str) -> str | None:
    """The first server's hostname in an ``azcloudhsm_resource.cfg``, or None if there is none."""
    try:
        with open(cfg_path, encoding="utf-8") as handle:
            cfg: Any = json.load(handle)
        hostname = cfg["servers"][0]["hostname"]
    except (OSError, ValueError, LookupError, TypeError):
        return None
    return hostname if isinstance(hostname, str) and hostname else None


# What a utility prints under the garbage_on fault: terminal escapes, bytes that are not UTF-8, NUL,
# BEL, and nothing any parser reads (nor any prompt or question the driver answers).
GARBAGE = b"\x1b[1;31m\xde\xad\xbe\xef\x00\x07 %%% 0xq7 ::: ### \xc3\x28\x1b[0m\n~~ \xff\xfe ~~\n"


def fault(view: JsonObject | None, name: str) -> Any:
    """The value of one of the sandbox's faults for this cluster (``NO_FAULTS`` in hsm_state)."""
    return None if view is None else view["faults"].get(name)


def fault_on(view: JsonObject | None, name: str, command: str) -> bool:
    """Whether the fault ``name`` (``hang_on``, ``garbage_on``, ``rbi_on``) names ``command``, any case."""
    value = fault(view, name)
    return isinstance(value, str) and value.lower() == command.lower()


def dropped_after(view: JsonObject | None, command: str) -> int | None:
    """The node the ``drop_node`` fault drops once ``command`` has run, if it names that command."""
    drop = fault(view, "drop_node")
    if isinstance(drop, dict) and str(drop.get("after", "")).lower() == command.lower():
        node_id: int = drop["node_id"]
        return node_id
    return None


def without(view: JsonObject | None, dropped: set[int]) -> JsonObject | None:
    """``view`` with the nodes this session saw drop marked unreachable."""
    if view is None or not dropped:
        return view
    nodes = [
        {**node, "reachable": node["reachable"] and node["node_id"] not in dropped} for node in view["nodes"]
    ]
    return {**view, "nodes": nodes}


def hang() -> NoReturn:
    """Never answer again, like a tool stuck on a dead connection; only a signal ends this."""
    while True:
        time.sleep(3600)


def faulted_view(
    console: Console, sandbox: Sandbox, dropped: set[int], command: str
) -> tuple[bool, JsonObject | None]:
    """The cluster as ``command`` sees it (nodes this session saw drop marked unreachable), after the
    command-wide faults: ``hang_on`` never returns; ``garbage_on`` prints garbage, and the first
    value says the command was answered so."""
    view = without(sandbox.view(), dropped)
    if fault_on(view, "hang_on", command):
        hang()
    if fault_on(view, "garbage_on", command):
        console.write_bytes(GARBAGE)
        return True, view
    return False, view


def node_for_host(view: JsonObject | None, hostname: str) -> JsonObject | None:
    """The node of ``view`` whose host name is ``hostname``."""
    if view is None:
        return None
    for node in view["nodes"]:
        if node["hostname"].lower() == hostname.lower():
            found: JsonObject = node
            return found
    return None
