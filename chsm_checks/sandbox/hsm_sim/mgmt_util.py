"""``azcloudhsm_mgmt_util <cfg>``: the management utility, printing what docs/hsm-utilities.md shows.

It connects to the cfg's host (server 0) and then to the other nodes it learns of. Every command
re-reads the cluster from the sandbox, so a node made unreachable between commands is seen as down.
"""

from __future__ import annotations

from collections.abc import Iterator

from chsm_checks.sandbox.hsm_sim.console import (
    PORT,
    VERSION,
    Console,
    EndOfInput,
    Sandbox,
    dropped_after,
    fault,
    fault_on,
    faulted_view,
    node_for_host,
    read_bootstrap_host,
)
from chsm_checks.sandbox.wire import JsonObject

UTILITY = "azcloudhsm_mgmt_util"
PROMPT = "cloudmgmt>"
BANNER = f"""Liquidsec MGMT Util Version            :       {VERSION}
SDK API Version                        :       {VERSION}
SDK Package Version                    :       2.0.1.0

Connecting to the server(s), it may take time
depending on the server(s) load, please wait...

"""
RECEIVED = f"Received server version : {VERSION}, SDK version: {VERSION}, SDK Package Version: 2.0.1.0"
CAUTION = """*************************CAUTION********************************
This is a CRITICAL operation, should be done on all nodes in the
cluster. The changes are NOT synchronized automatically with the
nodes on which this operation is not executed or failed, please
ensure this operation is executed on all nodes in the cluster.
****************************************************************

"""
CRITICAL_COMMANDS = frozenset({"createuser", "deleteuser", "changepswd", "syncuser", "synckey"})
LOGIN_ERRORS = {
    "bad-password": "RET_USER_LOGIN_FAILURE",
    "locked": "RET_USER_LOCKED_OUT",
    "no-such-user": "RET_USER_NOT_INITIALIZED",
    "wrong-role": "RET_INVALID_USER_TYPE",
}
# What a server answers a command under the rbi_on fault (not a login failure: nothing is counted).
SERVER_FAILURE = "RET_HSM_COMM_FAILURE"
RBI_QUESTION = "Retry/rollBack/Ignore?(R/B/I):"
NOT_CONNECTED = "Server {server} is not connected"
USERS_HEADER = (
    "    User Id             User Type       User Name            MofnPubKey    LoginFailureCnt         2FA\n"
)


def run(sandbox_url: str, cfg_path: str, ca_file: str | None = None) -> int:
    """Connect as the real tool does, then serve commands until ``quit`` or end of input."""
    console = Console()
    console.write(BANNER)
    host = read_bootstrap_host(cfg_path)
    if host is None:
        console.write(f"Could not read a server hostname from {cfg_path}\n")
    sandbox = Sandbox(sandbox_url, host or "", ca_file=ca_file)
    view = None if host is None else sandbox.view()
    if fault(view, "exit_at_start") == UTILITY:
        return 1
    bootstrap = node_for_host(view, host or "")
    if view is None or bootstrap is None or not bootstrap["reachable"]:
        shown = host or "<none>"
        console.write(f"Connetion to server {shown}({shown}) on port {PORT} failed\n")
        console.write("No server is connected, exiting...\n")
        return 1
    _connect(console, [bootstrap, *(node for node in view["nodes"] if node is not bootstrap)])
    session = MgmtSession(console, sandbox)
    try:
        while True:
            console.write(session.prompt())
            if not session.handle(console.read_line()):
                return 0
    except EndOfInput:
        return 0


def _connect(console: Console, nodes: list[JsonObject]) -> None:
    for n, node in enumerate(nodes):
        if n == 1:
            console.write("Connecting to servers in the cluster.\n\n")
        server, ip = node["server"], node["ip"]
        console.write(f"Connecting to 'server {server}': hostname '{ip}', port {PORT}...\n")
        if node["reachable"]:
            console.write(
                f"{RECEIVED}\nConnected to 'server {server}': hostname '{ip}', port {PORT}...\n\n"
                f"E2E enabled on server {server}({ip})\n\n"
            )
        else:
            console.write(f"Connetion to server {ip}({ip}) on port {PORT} failed\n\n")
    for node in nodes:
        if not node["reachable"]:
            console.write(f"Server {node['server']}({node['ip']}) is not connected\n")


class MgmtSession:
    """The command loop's state: the server scope (``server N``) and nothing else worth keeping."""

    def __init__(self, console: Console, sandbox: Sandbox) -> None:
        self.console = console
        self.sandbox = sandbox
        self.scope: int | None = None
        self.dropped: set[int] = set()  # nodes that dropped during this session (drop_node fault)
        self.failing: JsonObject | None = None  # the server failing this command (rbi_on fault)

    def prompt(self) -> str:
        """``cloudmgmt>``, or ``server0>`` inside ``server 0``."""
        return PROMPT if self.scope is None else f"server{self.scope}>"

    def handle(self, line: str) -> bool:
        """Run one command line; False when the tool should end."""
        words = line.split()
        if not words:
            return True
        command, args = words[0], words[1:]
        answered, view = faulted_view(self.console, self.sandbox, self.dropped, command)
        if answered:
            return True
        nodes: list[JsonObject] = [] if view is None else view["nodes"]
        servers = [n for n in nodes if n["reachable"] and self.scope in (None, n["server"])]
        # Under the rbi_on fault the command fails on the last server it reaches.
        self.failing = servers[-1] if servers and fault_on(view, "rbi_on", command) else None
        if (node_id := dropped_after(view, command)) is not None:
            self.dropped.add(node_id)  # seen from the next command on
        name = command.lower()
        if name == "quit" or (name == "exit" and self.scope is None):
            self.console.write("disconnecting from servers, please wait...\n")
            return False
        if name == "exit":
            self.scope = None
        elif name == "server":
            self._enter_scope(args, nodes)
        elif name == "getclusterinfo":
            self._cluster_info(nodes, servers)
        elif name == "loginhsm":
            self._login(args, servers)
        elif name == "logouthsm":
            for node in self._answering("logoutHSM", servers):
                self.console.write(f"logoutHSM success{self._on(node)}\n")
        elif name == "listusers":
            self._list_users(view, servers)
        elif name in CRITICAL_COMMANDS:
            self.console.write(CAUTION)
            if self.console.ask("Do you want to continue(y/n)?", "YN") == "Y":
                self.console.write(f"{command} failed: RET_NOT_SUPPORTED_BY_SANDBOX\n")
        else:
            self.console.write(f"Invalid command: {command}\n")
        return True

    def _on(self, node: JsonObject) -> str:
        # Inside a server scope the replies are bare.
        return "" if self.scope is not None else f" on server {node['server']}({node['ip']})"

    def _enter_scope(self, args: list[str], nodes: list[JsonObject]) -> None:
        wanted = [n for n in nodes if len(args) == 1 and str(n["server"]) == args[0]]
        if not wanted:
            self.console.write("Syntax: server <server number>\n")
        elif not wanted[0]["reachable"]:
            self.console.write(NOT_CONNECTED.format(server=args[0]) + "\n")
        else:
            self.scope = wanted[0]["server"]

    def _cluster_info(self, nodes: list[JsonObject], servers: list[JsonObject]) -> None:
        if servers:
            first = servers[0]
            self.console.write(f"\nCluster info from server {first['server']}({first['ip']}):\n")
            self.console.write(f"{'Node Id':<16}{'Hostname':<56}Port\n")
            for node in nodes:
                self.console.write(f"{node['node_id']:<16}{node['hostname']:<53}   {PORT}\n")
        for node in nodes:
            if not node["reachable"]:
                self.console.write(NOT_CONNECTED.format(server=node["server"]) + "\n")

    def _login(self, args: list[str], servers: list[JsonObject]) -> None:
        if len(args) != 3:
            self.console.write("Syntax: loginHSM <user type> <user name> <password>\n")
            return
        role, user, password = args
        for node in servers:
            while True:
                if node is self.failing:
                    reason = SERVER_FAILURE
                else:
                    result = self.sandbox.login(role, user, password)
                    if result == "success":
                        self.console.write(f"loginHSM success{self._on(node)}\n")
                        break
                    reason = LOGIN_ERRORS.get(result, result)
                answer = self._server_failed("loginHSM", reason, node)
                if answer == "B":
                    return
                if answer == "I":
                    break

    def _answering(self, command: str, servers: list[JsonObject]) -> Iterator[JsonObject]:
        """The servers that answer ``command``, in order. The failing one (rbi_on) asks
        Retry/rollBack/Ignore: ``R`` fails again, ``I`` goes on without it, ``B`` stops here."""
        for node in servers:
            if node is not self.failing:
                yield node
                continue
            answer = "R"
            while answer == "R":
                answer = self._server_failed(command, SERVER_FAILURE, node)
            if answer == "B":
                return

    def _server_failed(self, command: str, reason: str, node: JsonObject) -> str:
        """Say that ``node`` failed ``command`` and ask what to do: ``R``, ``B`` or ``I``.

        Inside a server scope there is nothing to roll back or go on to: no question, ``B``.
        """
        self.console.write(f"{command} failed: {reason}\n")
        if self.scope is not None:
            return "B"
        self.console.write(f"{command} failed{self._on(node)}\n")
        answer = self.console.ask(RBI_QUESTION, "RBI")
        if answer == "B":
            self.console.write(f"Rolling back {command} on the servers that succeeded\n")
        return answer

    def _list_users(self, view: JsonObject | None, servers: list[JsonObject]) -> None:
        users: list[JsonObject] = [] if view is None else view["users"]
        for node in self._answering("listUsers", servers):
            if self.scope is None:
                self.console.write(f"Users on server {node['server']}({node['ip']}):\n")
            self.console.write(f"Number of users found:{len(users)}\n\n")
            self.console.write(USERS_HEADER)
            for user in users:
                self.console.write(
                    f"{user['user_id']:>10}{'':14}{user['type']:<16}{user['name']:<26}"
                    f"{_yes_no(user['mofn']):<17}{user['failures']:<16}{_yes_no(user['twofa'])}\n"
                )


def _yes_no(flag: bool) -> str:
    return "YES" if flag else "NO"
