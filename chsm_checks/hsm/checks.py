"""Pure checks over what the HSM utilities reported: each returns findings as sentences, empty if fine."""

from __future__ import annotations

from .client_config import ResourceConfigError, bootstrap_hosts
from .parsers import ClusterInfo, KeyUtilResult, MgmtStartup

EXPECTED_NODES = 3


def configuration_problems(path: str, text: str, expected_host: str) -> list[str]:
    """``path`` must name ``expected_host`` (the destination's hsm1) as its bootstrap server."""
    try:
        hosts = bootstrap_hosts(text)
    except ResourceConfigError as exc:
        return [f"{path}: {exc}"]
    if hosts[0].lower() != expected_host.lower():
        return [f"{path} names {hosts[0]}, not {expected_host}"]
    return []


def node_problems(startup: MgmtStartup, info: ClusterInfo, expected: int = EXPECTED_NODES) -> list[str]:
    """All nodes listed, every server connected at start-up and in getClusterInfo."""
    problems = [f"getClusterInfo: server {n} is not connected" for n in info.not_connected]
    if len(info.nodes) != expected:
        problems.append(f"getClusterInfo lists {len(info.nodes)} nodes, not {expected}")
    for server in startup.servers:
        if not server.connected:
            problems.append(f"start-up: server {server.server} ({server.host}) is not connected")
    problems += [f"start-up: {line}" for line in startup.problems]
    return problems


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
