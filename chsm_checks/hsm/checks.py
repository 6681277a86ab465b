"""The restore-validation checks: pure functions over what the HSM utilities reported, into findings.

Each is a catalogue check (``restore.*`` in ``checks/catalogue.toml``, mapped to controls in
``checks/mappings/``), judged like the ARM checks: every problem is a failed finding naming what it
is about, and a check that found none gives one passed finding saying what held. The findings are
about the restored destination cluster (``cluster_id``, its ARM id).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..checks.model import Finding, failed, passed
from .client_config import ResourceConfigError, bootstrap_hosts
from .inventory import EXPECTED_NODES, Comparison, KeyInventory, node_status_problems
from .parsers import ClusterInfo, MgmtStartup

CONFIGURATION = "restore.configuration-points-at-destination"
NODES_CONNECTED = "restore.nodes-connected"
KEYS_RESTORED = "restore.keys-restored"
NO_EXTRA_KEYS = "restore.no-extra-keys"
USERS_RESTORED = "restore.users-restored"
NODES_ANSWER = "restore.nodes-answer-success"
RESTORE_CHECKS = (CONFIGURATION, NODES_CONNECTED, KEYS_RESTORED, NO_EXTRA_KEYS, USERS_RESTORED, NODES_ANSWER)


def _judged(check_id: str, cluster_id: str, problems: list[str], held: str) -> list[Finding]:
    """A failed finding per problem, in order; or one passed finding saying what ``held``."""
    if problems:
        return [failed(check_id, cluster_id, problem) for problem in problems]
    return [passed(check_id, cluster_id, held)]


def configuration_points_at_destination(
    cluster_id: str, files: Mapping[str, str], expected_host: str
) -> list[Finding]:
    """Every configuration file (path -> text) names ``expected_host``, the destination's hsm1, as
    its bootstrap server."""
    problems = []
    for path, text in files.items():
        try:
            hosts = bootstrap_hosts(text)
        except ResourceConfigError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if hosts[0].lower() != expected_host.lower():
            problems.append(f"{path} names {hosts[0]}, not {expected_host}")
    return _judged(
        CONFIGURATION,
        cluster_id,
        problems,
        f"{', '.join(files)} name {expected_host} as the bootstrap server",
    )


def nodes_connected(
    cluster_id: str, startup: MgmtStartup, info: ClusterInfo, expected: int = EXPECTED_NODES
) -> list[Finding]:
    """All nodes listed, every server connected at start-up and in getClusterInfo."""
    problems = [f"getClusterInfo: server {n} is not connected" for n in info.not_connected]
    if len(info.nodes) != expected:
        problems.append(f"getClusterInfo lists {len(info.nodes)} nodes, not {expected}")
    for server in startup.servers:
        if not server.connected:
            problems.append(f"start-up: server {server.server} ({server.host}) is not connected")
    problems += [f"start-up: {line}" for line in startup.problems]
    return _judged(
        NODES_CONNECTED, cluster_id, problems, f"getClusterInfo lists {expected} nodes, every one connected"
    )


def nodes_answer_success(cluster_id: str, inventory: KeyInventory) -> list[Finding]:
    """The crypto user's login and findKey each succeeded on every node."""
    problems = node_status_problems(inventory.login, "loginHSM")
    if inventory.find is not None:
        problems += node_status_problems(inventory.find, "findKey")
    return _judged(NODES_ANSWER, cluster_id, problems, "every node answered success for loginHSM and findKey")


def keys_restored(cluster_id: str, comparison: Comparison) -> list[Finding]:
    """Every source key is on the destination, matched by key id, with the same attributes."""
    return _judged(
        KEYS_RESTORED,
        cluster_id,
        comparison.differences,
        f"all {len(comparison.matched)} source keys are on the destination with the same attributes",
    )


def no_extra_keys(cluster_id: str, comparison: Comparison) -> list[Finding]:
    """The destination holds no key the source did not."""
    return _judged(
        NO_EXTRA_KEYS, cluster_id, comparison.extras, "the destination holds no key the source did not"
    )


def users_restored(cluster_id: str, comparison: Comparison) -> list[Finding]:
    """Every destination node lists the source's users, and no others."""
    return _judged(
        USERS_RESTORED,
        cluster_id,
        comparison.differences + comparison.extras,
        "every destination node lists the source's users, and no others",
    )
