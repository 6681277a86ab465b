"""What chsm-checks may send: the only way to start a backup or restore.

The rules, from the Cloud HSM tutorial's unsupported configurations:
- backup and restore are mutations: sent only when the run allows mutations;
- a container URI with a query string (a SAS token) is refused before anything is sent, and the
  request body never carries ``token``;
- a restore goes only to a cluster that is not the source and that a fresh GET, made immediately
  before the POST, shows ``NotActivated`` — anything else fails on the service side and leaves the
  destination nonfunctional.

A refusal is a value (``Refusal``), not an exception: it is the evidence that the rule held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from .arm.client import ArmClient
from .arm.lro import OperationResult, PollPolicy
from .arm.resources import get_cluster, post_backup, post_restore
from .arm.snapshots import same_resource

# A well-formed backup id for scenarios that prove a restore is refused. Those scenarios run on a
# read-only client, so a request carrying it cannot reach the service even if the guard were wrong.
PROBE_BACKUP_ID = "cloudhsm-00000000-0000-0000-0000-000000000000-0000000000000000"


class RefusalReason(StrEnum):
    MUTATIONS_NOT_ALLOWED = "mutations-not-allowed"
    SAS_TOKEN = "sas-token"
    RESTORE_INTO_SOURCE = "restore-into-source"
    DESTINATION_NOT_NOT_ACTIVATED = "destination-not-notactivated"


@dataclass(frozen=True)
class Refusal:
    """A request the guard would not send, and why."""

    operation: str
    reason: RefusalReason
    message: str
    requests_sent: int
    observed: dict[str, str] = field(default_factory=dict)


def container_uri_problem(uri: str) -> str | None:
    """Why ``uri`` may not be sent as a backup location, or ``None`` if it may.

    The message never repeats the query string: it may hold a SAS signature.
    """
    parts = urlsplit(uri)
    if "?" in uri or "#" in uri:  # an empty query ("...?") is still a query: nothing after it is sent
        return "the container URI carries a query string (a SAS token); Cloud HSM backup does not support SAS"
    if parts.scheme != "https" or not parts.hostname:
        return "the container URI is not an https URL"
    return None


def _names_the_source(client: ArmClient, source_id: str, destination_id: str) -> bool:
    """Whether ``destination_id`` names the source cluster as ARM reads the request: beside case and
    trailing slashes, percent-escapes, dot segments and doubled slashes must not hide the source."""

    def as_sent(resource_id: str) -> str:
        return re.sub("/+", "/", client.url(resource_id.strip()).path)

    return same_resource(source_id, destination_id) or same_resource(
        as_sent(source_id), as_sent(destination_id)
    )


def request_backup(
    client: ArmClient,
    *,
    cluster_id: str,
    container_uri: str,
    allow_mutations: bool,
    policy: PollPolicy,
) -> OperationResult | Refusal:
    """Back up ``cluster_id`` into ``container_uri`` if the rules allow it."""
    sent_before = len(client.exchanges)
    if problem := container_uri_problem(container_uri):
        return Refusal("backup", RefusalReason.SAS_TOKEN, problem, len(client.exchanges) - sent_before)
    if not allow_mutations:
        return Refusal(
            "backup",
            RefusalReason.MUTATIONS_NOT_ALLOWED,
            "backup is a mutation; this run does not allow mutations (--allow-mutations)",
            len(client.exchanges) - sent_before,
        )
    return post_backup(client, cluster_id, container_uri, policy)


def request_restore(
    client: ArmClient,
    *,
    source_id: str,
    destination_id: str,
    container_uri: str,
    backup_id: str,
    allow_mutations: bool,
    policy: PollPolicy,
) -> OperationResult | Refusal:
    """Restore ``backup_id`` into ``destination_id`` if the rules allow it."""
    sent_before = len(client.exchanges)

    def refuse(reason: RefusalReason, message: str, **observed: str) -> Refusal:
        return Refusal("restore", reason, message, len(client.exchanges) - sent_before, observed)

    if problem := container_uri_problem(container_uri):
        return refuse(RefusalReason.SAS_TOKEN, problem)
    if _names_the_source(client, source_id, destination_id):
        return refuse(
            RefusalReason.RESTORE_INTO_SOURCE,
            "the destination is the source cluster; a restore into the source is unsupported "
            "and leaves the cluster nonfunctional",
        )
    if not allow_mutations:
        return refuse(
            RefusalReason.MUTATIONS_NOT_ALLOWED,
            "restore is a mutation; this run does not allow mutations (--allow-mutations)",
        )
    # Read the destination immediately before sending: its state may have changed since any earlier read.
    destination = get_cluster(client, destination_id)
    if destination.activation_state != "NotActivated":
        state = destination.activation_state or "absent"
        return refuse(
            RefusalReason.DESTINATION_NOT_NOT_ACTIVATED,
            f"the destination's activationState is {state!r}, not 'NotActivated'; a restore into it "
            "is unsupported and leaves it nonfunctional",
            activationState=state,
        )
    return post_restore(client, destination_id, container_uri, backup_id, policy)
