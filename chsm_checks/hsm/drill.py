"""The restore drill's HSM side, one function per thing a scenario does.

Each function opens the sessions it needs, does one job, and returns what was observed; the
restore-validation checks in ``checks.py`` judge it into findings.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from ..arm.snapshots import ClusterSnapshot
from ..checks.model import Finding
from ..errors import CouldNotEvaluate
from ..target import HsmSettings
from .checks import (
    CONFIGURATION,
    KEYS_RESTORED,
    NO_EXTRA_KEYS,
    NODES_ANSWER,
    NODES_CONNECTED,
    RESTORE_CHECKS,
    USERS_RESTORED,
    configuration_points_at_destination,
    keys_restored,
    no_extra_keys,
    nodes_answer_success,
    nodes_connected,
    users_restored,
)
from .client_config import ResourceConfigError, bootstrap_hosts, pointed_at
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
    """The source's keys and users, observed before the backup in this run, and the host they were
    read from (its hsm1 private-link host)."""

    keys: KeyInventory
    users: UserInventory
    host: str = ""


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


def configuration_findings(
    runner: HsmRunner,
    cluster_id: str,
    paths: list[str],
    expected_host: str,
    source: SourceInventory | None = None,
) -> list[Finding]:
    """Read every configuration file and judge whether it names ``expected_host``. One that still
    names the ``source``'s host is not a finding about the destination: the utilities would validate
    the source, so the validation cannot be evaluated at all."""
    files = {}
    for path in paths:
        text = runner.read_config(path)
        if source is not None and source.host and names_host(text, source.host):
            raise CouldNotEvaluate(
                f"{path} still names the source cluster's host {source.host}: the HSM utilities would "
                "talk to the source, so nothing they report says anything about the restored destination"
            )
        files[path] = text
    return configuration_points_at_destination(cluster_id, files, expected_host)


def not_the_source(host: str, source: SourceInventory) -> str:
    """``host``, the restored destination's hsm1 host, unless it is the source's: then validating it
    would validate the source, and the scenario cannot be evaluated."""
    if source.host and host.lower() == source.host.lower():
        raise CouldNotEvaluate(
            f"the destination's hsm1 host {host} is the source's: a validation of it would be a "
            "validation of the source"
        )
    return host


def keys_not_the_sources(comparison: Comparison) -> Comparison:
    """A restore gives the keys new handles (their ids stay): every handle unchanged means the
    utilities read the source, not a restored destination."""
    if comparison.matched and all(src == dst for src, dst in comparison.matched):
        pairs = ", ".join(f"{src}->{dst}" for src, dst in comparison.matched[:5])
        raise CouldNotEvaluate(
            f"every key the destination showed has the handle it had on the source ({pairs}): the HSM "
            "utilities are talking to the source, not to a restored destination"
        )
    return comparison


def names_host(text: str, host: str) -> bool:
    """Whether a configuration file's bootstrap server is ``host`` (an unreadable file names none)."""
    try:
        return bootstrap_hosts(text)[0].lower() == host.lower()
    except (ResourceConfigError, IndexError):
        return False


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
    if changed and restart_command and runner.touches_client:
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


__all__ = [
    "CONFIGURATION",
    "KEYS_RESTORED",
    "NODES_ANSWER",
    "NODES_CONNECTED",
    "NO_EXTRA_KEYS",
    "RESTORE_CHECKS",
    "USERS_RESTORED",
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
    "keys_not_the_sources",
    "keys_restored",
    "names_host",
    "no_extra_keys",
    "nodes_answer_success",
    "nodes_connected",
    "not_the_source",
    "point_configuration",
    "point_configuration_if_managed",
    "user_view",
    "users_restored",
    "wrong_login",
]
