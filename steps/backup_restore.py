"""Steps for features/backup_restore.feature: parse, call one library function, publish."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pytest_bdd import given, parsers, then, when

from chsm_checks import (
    ArmClient,
    DrillRecord,
    OperationResult,
    Refusal,
    RunSettings,
    Target,
    blob_endpoint,
    blob_endpoint_named_by,
    expect,
    get_cluster,
    guard,
    not_applicable,
)


@dataclass(frozen=True)
class Clusters:
    source_id: str
    destination_id: str


@given("the target's source and destination clusters", target_fixture="clusters")
def clusters(target: Target) -> Clusters:
    """Names the target's source and destination clusters for the steps that follow."""
    return Clusters(target.source_id, target.destination_id)


def _cluster_id(clusters: Clusters, which: str) -> str:
    return clusters.source_id if which == "source" else clusters.destination_id


@given(parsers.parse('the {which:w} cluster reads "{state}"'))
@then(parsers.parse('the {which:w} cluster reads "{state}"'))
def cluster_reads(
    arm: ArmClient, clusters: Clusters, which: str, state: str, drill_record: DrillRecord
) -> None:
    """Reads the source or destination cluster from ARM and judges that its activation state is the one
    named."""
    cluster = get_cluster(arm, _cluster_id(clusters, which))
    if which == "destination":
        drill_record.destination_read(cluster.activation_state, arm.answered_at)
    expect.activation_is(cluster, state)


@given("the destination cluster has already been activated")
def destination_already_active(arm: ArmClient, clusters: Clusters) -> None:
    """Reads the destination from ARM; the scenario is not applicable unless it is already Active."""
    state = get_cluster(arm, clusters.destination_id).activation_state
    if state != "Active":
        not_applicable(f"the destination reads {state!r}; this check needs it activated (by a restore)")


@given("a container the cluster's identity may not write", target_fixture="container_uri")
def unwritable_container(target: Target) -> str:
    """The container the target names as one the identity may not write; not applicable when it names none."""
    uri = target.spec.negative.unwritable_container_uri
    if uri is None:
        not_applicable("the target names no negative.unwritable_container_uri")
    return uri


def _target_blob_endpoint(target: Target) -> str:
    return blob_endpoint(target.spec.storage.account, target.cloud.storage_suffix)


@when("the source cluster is backed up into the target's container", target_fixture="outcome")
@given("a completed backup of the source cluster", target_fixture="outcome")
def backup_into_target_container(
    arm: ArmClient, run_settings: RunSettings, target: Target
) -> OperationResult | Refusal:
    """Asks ARM to back the source up into the target's container (through the guard; only with mutations
    allowed) and follows the operation to its end."""
    return _backup(arm, run_settings, target, target.container_uri, _target_blob_endpoint(target))


@when("the source cluster is backed up into that container", target_fixture="outcome")
def backup_into_container(
    arm: ArmClient, run_settings: RunSettings, target: Target, container_uri: str
) -> OperationResult | Refusal:
    """Asks ARM to back the source up into the container named before, through the guard, and follows it."""
    # The negative container lives in an account of its own, named by the target file: it is judged
    # against that account's endpoint in the target's cloud (any other host: the target's, and refused).
    endpoint = blob_endpoint_named_by(container_uri, [target.cloud.storage_suffix])
    return _backup(arm, run_settings, target, container_uri, endpoint or _target_blob_endpoint(target))


@when(
    "the source cluster is backed up into the target's container with a SAS token appended",
    target_fixture="outcome",
)
def backup_with_sas(arm: ArmClient, run_settings: RunSettings, target: Target) -> OperationResult | Refusal:
    """Offers the guard a backup whose container URI carries a SAS token (fake, never sent): it must
    refuse it."""
    # A syntactically complete SAS query; its signature is fake and it is never sent anywhere.
    sas = "?sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&spr=https&sig=FAKE-SIGNATURE"
    return _backup(arm, run_settings, target, target.container_uri + sas, _target_blob_endpoint(target))


def _backup(
    arm: ArmClient, run: RunSettings, target: Target, uri: str, endpoint: str
) -> OperationResult | Refusal:
    return guard.request_backup(
        arm,
        cluster_id=target.source_id,
        container_uri=uri,
        blob_endpoint=endpoint,
        allow_mutations=run.allow_mutations,
        policy=run.poll_policy,
    )


@when("that backup is restored into the destination cluster", target_fixture="outcome")
def restore_that_backup(
    arm: ArmClient, run_settings: RunSettings, target: Target, outcome: OperationResult | Refusal
) -> OperationResult | Refusal:
    """Restores the backup just taken into the destination (through the guard, which checks the destination
    is NotActivated and not the source first) and follows the operation to its end."""
    backup_id = expect.has_backup_id(expect.ends_with_status(outcome, "Succeeded"))
    return _restore(arm, run_settings, target, target.destination_id, backup_id)


@when(parsers.parse("a backup is restored into the {which:w} cluster"), target_fixture="outcome")
def restore_probe(
    arm: ArmClient, run_settings: RunSettings, target: Target, clusters: Clusters, which: str
) -> OperationResult | Refusal:
    """Offers the guard a restore into the named cluster: into the source, or into an activated cluster, it
    must refuse it."""
    return _restore(arm, run_settings, target, _cluster_id(clusters, which), guard.PROBE_BACKUP_ID)


def _restore(
    arm: ArmClient, run: RunSettings, target: Target, destination_id: str, backup_id: str
) -> OperationResult | Refusal:
    return guard.request_restore(
        arm,
        source_id=target.source_id,
        destination_id=destination_id,
        container_uri=target.container_uri,
        blob_endpoint=_target_blob_endpoint(target),
        backup_id=backup_id,
        allow_mutations=run.allow_mutations,
        policy=run.poll_policy,
    )


@then(parsers.parse('the {operation:w} ends "{status}"'))
def operation_ends(
    outcome: OperationResult | Refusal, operation: str, status: str, drill_record: DrillRecord
) -> None:
    """Judges that the backup or restore operation was sent and ended with the status named."""
    drill_record.restore_ended(expect.ends_with_status(outcome, status, operation))


@then("the backup id has the form cloudhsm-<uuid>-<digits>")
def backup_id_form(outcome: OperationResult | Refusal, request: pytest.FixtureRequest) -> None:
    """Judges that the backup answered a backup id of the service's form, and records it."""
    backup_id = expect.has_backup_id(expect.operation_sent(outcome))
    request.node.user_properties.append(("backupId", backup_id))


@then("the backup does not succeed")
def backup_does_not_succeed(outcome: OperationResult | Refusal) -> None:
    """Judges that the backup, refused or sent, did not succeed."""
    expect.did_not_succeed(outcome)


@then("the service's error code is captured")
def error_code_captured(outcome: OperationResult | Refusal, request: pytest.FixtureRequest) -> None:
    """Judges that the service answered the failed operation with an error code, and records it."""
    code = expect.has_error_code(expect.operation_sent(outcome))
    request.node.user_properties.append(("serviceErrorCode", code))


@then(parsers.parse('the {operation:w} is refused as "{reason}"'))
def refused_as(
    outcome: OperationResult | Refusal, operation: str, reason: str, request: pytest.FixtureRequest
) -> None:
    """Judges that the guard refused the operation for the reason named, before anything was sent."""
    refusal = expect.refused_as(outcome, reason, operation)
    request.node.user_properties.append(("refusal", refusal.message))
    request.node.user_properties.append(("refusalReasons", ", ".join(r.value for r in refusal.reasons)))


@then("no request was sent")
def no_request_sent(arm: ArmClient) -> None:
    """Judges that the scenario sent ARM no request at all."""
    expect.nothing_sent(arm)


@then("no restore request was sent")
def no_restore_sent(arm: ArmClient) -> None:
    """Judges that the scenario sent ARM no restore request."""
    expect.no_request(arm, "POST", "/restore")
