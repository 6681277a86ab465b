"""The restore drill's HSM side, one function per thing a scenario does.

Each function opens the sessions it needs, does one job, and returns what was observed; the checks
in ``checks.py`` and ``inventory.py`` judge it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from ..arm.snapshots import ClusterSnapshot
from ..errors import CouldNotEvaluate
from ..target import HsmSettings
from .checks import configuration_problems, node_problems, node_status_problems
from .client_config import pointed_at
from .errors import HsmSessionError
from .inventory import Comparison, KeyInventory, UserInventory, capture_keys, compare_keys, compare_users
from .parsers import ClusterInfo, FindKeyResult, KeyUtilResult, MgmtStartup
from .runner import HsmRunner

# A password no crypto user has: typed once, by the scenario that proves a failed login is not retried.
WRONG_PASSWORD = "chsm-checks-wrong-password-0"


@dataclass(frozen=True)
class ClusterView:
    startup: MgmtStartup
    info: ClusterInfo


@dataclass(frozen=True)
class UserView:
    startup: MgmtStartup
    users: UserInventory


@dataclass(frozen=True)
class SourceInventory:
    """The source's keys and users, observed before the backup in this run."""

    keys: KeyInventory
    users: UserInventory


@dataclass(frozen=True)
class WrongLogin:
    result: KeyUtilResult
    login_attempts: int


def hsm1_host(cluster: ClusterSnapshot) -> str:
    """The bootstrap host of a cluster: its first HSM's private-link FQDN."""
    hosts = [h.fqdn for h in cluster.hsms if h.fqdn]
    if not hosts:
        raise CouldNotEvaluate(f"cluster {cluster.name} lists no HSM hostnames (properties.hsms)")
    return hosts[0]


def configuration_findings(runner: HsmRunner, paths: list[str], expected_host: str) -> list[str]:
    """Every configuration file must name ``expected_host``."""
    return [
        p for path in paths for p in configuration_problems(path, runner.read_config(path), expected_host)
    ]


def point_configuration(
    runner: HsmRunner, paths: list[str], host: str, restart_command: list[str] | None
) -> list[str]:
    """Point every configuration file at ``host``, as the tutorial's administrator does.

    Returns the paths it changed.
    """
    changed = []
    for path in paths:
        text = runner.read_config(path)
        updated = pointed_at(text, host)
        if updated != text:
            runner.write_config(path, updated)
            changed.append(path)
    if changed and restart_command and runner.mode != "replay":
        done = subprocess.run(restart_command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise CouldNotEvaluate(
                f"{restart_command[0]} exited {done.returncode}: {done.stderr.strip()[:200]}"
            )
    for path in paths:
        runner.read_config(path)  # observe what the files now say
    return changed


def key_inventory(runner: HsmRunner, user: str) -> KeyInventory:
    """Log in as the crypto user and read every key it can see."""
    with runner.key_session() as session:
        return capture_keys(session, user, runner.password())


def user_view(runner: HsmRunner) -> UserView:
    """``listUsers`` on every server the management utility reaches."""
    with runner.mgmt_session() as session:
        listing = session.list_users()
        assert session.startup is not None
        servers = tuple(server.server for server in session.startup.servers)
        return UserView(session.startup, UserInventory(listing, servers))


def cluster_view(runner: HsmRunner) -> ClusterView:
    """The management utility's start-up and ``getClusterInfo``."""
    with runner.mgmt_session() as session:
        info = session.cluster_info()
        assert session.startup is not None
        return ClusterView(session.startup, info)


def wrong_login(runner: HsmRunner, user: str) -> WrongLogin:
    """One login with a password nobody has; never retried."""
    runner.keep_secret(WRONG_PASSWORD)
    with runner.key_session() as session:
        result = session.login(user, WRONG_PASSWORD)
        return WrongLogin(result, session.driver.typed.count("loginHSM"))


def find_keys_within(runner: HsmRunner, user: str, seconds: float) -> FindKeyResult | HsmSessionError:
    """``findKey`` with a short timeout; findKey's session error if the utility did not answer in time.

    Only findKey's own error is the observation: a utility that did not start, or a login that
    could not be sent, leaves nothing to observe and is raised.
    """
    with runner.key_session() as session:
        session.login(user, runner.password())
        try:
            return session.find_keys(timeout=seconds)
        except HsmSessionError as exc:
            return exc


def point_configuration_if_managed(
    runner: HsmRunner, settings: HsmSettings, host: str, allowed: bool
) -> list[str]:
    """Point the configuration at ``host`` if the target lets the harness manage it and may mutate."""
    if not (settings.manage_resource_cfg and allowed):
        return []
    return point_configuration(runner, settings.resource_cfg, host, settings.restart_client_command)


def node_findings(view: ClusterView, expected: int = 3) -> list[str]:
    return node_problems(view.startup, view.info, expected)


def login_and_find_findings(inventory: KeyInventory) -> list[str]:
    """The login and findKey must each have succeeded on every node."""
    problems = node_status_problems(inventory.login, "loginHSM")
    if inventory.find is not None:
        problems += node_status_problems(inventory.find, "findKey")
    return problems


__all__ = [
    "ClusterView",
    "Comparison",
    "SourceInventory",
    "UserView",
    "WrongLogin",
    "cluster_view",
    "compare_keys",
    "compare_users",
    "configuration_findings",
    "find_keys_within",
    "hsm1_host",
    "key_inventory",
    "login_and_find_findings",
    "node_findings",
    "point_configuration",
    "point_configuration_if_managed",
    "user_view",
    "wrong_login",
]
