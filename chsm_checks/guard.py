"""What chsm-checks may send: the only way to start a backup or restore.

The rules, from the Cloud HSM tutorial's unsupported configurations:
- backup and restore are mutations: sent only when the run allows mutations;
- a container URI is sent only if :func:`~chsm_checks.container_uri.judge_container_uri` passes it
  for the checked account's blob endpoint (https, that host exactly, ``/<container>``, no userinfo,
  port, query, fragment, escape or SAS); every reason it fails is refused before anything is sent,
  and the request body never carries ``token``;
- a restore goes only to a cluster that is not the source and that a fresh GET, made immediately
  before the POST, shows ``NotActivated`` — anything else fails on the service side and leaves the
  destination nonfunctional.

A refusal is a value (``Refusal``), not an exception: it is the evidence that the rule held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from .arm.client import ArmClient
from .arm.lro import OperationResult, PollPolicy
from .arm.resources import get_cluster, post_backup, post_restore
from .arm.snapshots import same_resource
from .container_uri import UriProblem, judge_container_uri

# A well-formed backup id for scenarios that prove a restore is refused. Those scenarios run on a
# read-only client, so a request carrying it cannot reach the service even if the guard were wrong.
PROBE_BACKUP_ID = "cloudhsm-00000000-0000-0000-0000-000000000000-0000000000000000"


class RefusalReason(StrEnum):
    """Why the guard refused; the container URI's reasons are those of ``UriProblem``, one for one."""

    MUTATIONS_NOT_ALLOWED = "mutations-not-allowed"
    SAS_TOKEN = UriProblem.SAS_TOKEN.value
    USERINFO = UriProblem.USERINFO.value
    QUERY_STRING = UriProblem.QUERY_STRING.value
    ENCODED_QUERY = UriProblem.ENCODED_QUERY.value
    FRAGMENT = UriProblem.FRAGMENT.value
    BACKSLASH = UriProblem.BACKSLASH.value
    UNSAFE_CHARACTERS = UriProblem.UNSAFE_CHARACTERS.value
    NOT_HTTPS = UriProblem.NOT_HTTPS.value
    NOT_ACCOUNT_ENDPOINT = UriProblem.NOT_ACCOUNT_ENDPOINT.value
    PORT = UriProblem.PORT.value
    PATH = UriProblem.PATH.value
    CONTAINER_NAME = UriProblem.CONTAINER_NAME.value
    RESTORE_INTO_SOURCE = "restore-into-source"
    DESTINATION_NOT_NOT_ACTIVATED = "destination-not-notactivated"


@dataclass(frozen=True)
class Refusal:
    """A request the guard would not send, and why: ``reason`` first, ``reasons`` all of them."""

    operation: str
    reason: RefusalReason
    message: str
    requests_sent: int
    observed: dict[str, str] = field(default_factory=dict)
    reasons: tuple[RefusalReason, ...] = ()

    def __post_init__(self) -> None:
        if not self.reasons:
            object.__setattr__(self, "reasons", (self.reason,))


def _container_uri_refusal(operation: str, uri: str, blob_endpoint: str) -> Refusal | None:
    """The refusal of ``uri`` with every reason it fails, or ``None`` if it may be sent. It is the
    first rule judged, so nothing has been sent; nothing in it repeats the URI (its query or
    userinfo may hold a secret)."""
    judgement = judge_container_uri(uri, blob_endpoint)
    if judgement.ok:
        return None
    reasons = tuple(RefusalReason(problem.value) for problem in judgement.problems)
    observed = {"reasons": ", ".join(reason.value for reason in reasons)}
    return Refusal(operation, reasons[0], judgement.message(), 0, observed, reasons)


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
    blob_endpoint: str,
    allow_mutations: bool,
    policy: PollPolicy,
) -> OperationResult | Refusal:
    """Back up ``cluster_id`` into ``container_uri`` if the rules allow it.

    ``blob_endpoint`` is the checked storage account's (``https://<account>.blob.<suffix>/``): the
    only host the container URI may name.
    """
    sent_before = len(client.exchanges)
    if refusal := _container_uri_refusal("backup", container_uri, blob_endpoint):
        return refusal
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
    blob_endpoint: str,
    backup_id: str,
    allow_mutations: bool,
    policy: PollPolicy,
) -> OperationResult | Refusal:
    """Restore ``backup_id`` into ``destination_id`` if the rules allow it (``blob_endpoint`` as for
    :func:`request_backup`)."""
    sent_before = len(client.exchanges)

    def refuse(reason: RefusalReason, message: str, **observed: str) -> Refusal:
        return Refusal("restore", reason, message, len(client.exchanges) - sent_before, observed)

    if refusal := _container_uri_refusal("restore", container_uri, blob_endpoint):
        return refusal
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
