"""Steps that drive the HSM utilities: the source inventory and the restore validation."""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, then, when

from chsm_checks import (
    ArmClient,
    DrillRecord,
    Finding,
    FindKeyResult,
    HsmRunner,
    HsmSessionError,
    Judge,
    KeyInventory,
    Outcome,
    RunSettings,
    Target,
    drill,
    expect,
    faults,
    get_cluster,
    not_applicable,
)


@given("the HSM client configuration points at the source cluster", target_fixture="source_host")
def configuration_points_at_source(arm: ArmClient, hsm: HsmRunner, target: Target) -> str:
    """Reads the source's hsm1 host from ARM and requires every configuration file to name it: a precondition
    that stops the scenario, not a finding."""
    host = drill.hsm1_host(get_cluster(arm, target.source_id))
    # A precondition of the inventory, not a finding of the run: a problem stops the scenario.
    expect.findings_hold(
        drill.configuration_findings(hsm, target.source_id, target.hsm_settings.resource_cfg, host)
    )
    return host


@when("the crypto user inventories the source cluster's keys", target_fixture="source_keys")
def source_keys(hsm: HsmRunner, target: Target) -> KeyInventory:
    """Logs in to the source as the target's crypto user and reads every key it can see, with its attributes
    and sharing."""
    return drill.key_inventory(hsm, target.hsm_settings.user)


@when("the management utility lists the source cluster's users", target_fixture="source_users")
def source_users(hsm: HsmRunner) -> drill.UserView:
    """Lists the source cluster's users (listUsers) on every server the management utility reaches."""
    return drill.user_view(hsm)


@then("the source inventory is kept for the restore checks")
def keep_source_inventory(
    drill_record: DrillRecord, source_keys: KeyInventory, source_users: drill.UserView, source_host: str
) -> None:
    """Judges the source inventory usable (a successful login, some key, a crypto user listed) and keeps it,
    with its host, for the restore checks."""
    expect.usable_source_inventory(source_keys, source_users)
    drill_record.keep_source_inventory(source_keys, source_users.users, source_host)


@given("a restore into the destination succeeded earlier in this run")
def a_restore_succeeded(drill_record: DrillRecord) -> None:
    """Requires a restore into the destination to have succeeded earlier in this run (in replay: as recorded);
    without one the scenario is not applicable."""
    drill_record.require_a_restore()


@given("the source inventory taken before the backup in this run", target_fixture="source_inventory")
def source_inventory(drill_record: DrillRecord) -> drill.SourceInventory:
    """Hands on the source's keys, users and host, inventoried before the backup in this run; an error if none
    was taken."""
    return drill_record.source_inventory()


@given("the target's restored destination cluster", target_fixture="destination_host")
def destination_host(arm: ArmClient, target: Target, source_inventory: drill.SourceInventory) -> str:
    """Reads the destination's hsm1 host from ARM; an error if it is the source's host, as validating it would
    validate the source."""
    host = drill.hsm1_host(get_cluster(arm, target.destination_id))
    return drill.not_the_source(host, source_inventory)


@when("the HSM client configuration is pointed at the destination cluster")
def point_at_destination(
    hsm: HsmRunner, run_settings: RunSettings, target: Target, destination_host: str
) -> None:
    """Points the configuration files at the destination's hsm1 host if the target has the harness manage them
    and the run allows mutations; otherwise touches nothing."""
    drill.point_configuration_if_managed(
        hsm, target.hsm_settings, destination_host, run_settings.allow_mutations
    )


@then(
    'the "restore.configuration-points-at-destination" check holds: every configuration file names '
    "the destination cluster's hsm1 private-link host"
)
def configuration_names_destination(
    hsm: HsmRunner,
    target: Target,
    destination_host: str,
    source_inventory: drill.SourceInventory,
    judge: Judge,
    findings: list[Finding],
    drill_record: DrillRecord,
) -> None:
    """Judges restore.configuration-points-at-destination: every configuration file names the destination's
    hsm1 host as its bootstrap server; one naming the source's is an error."""
    paths = target.hsm_settings.resource_cfg
    judged = drill.configuration_findings(
        hsm, target.destination_id, paths, destination_host, source_inventory
    )
    _publish(judge, findings, drill_record, drill.CONFIGURATION, judged)


@when("the management utility reads the destination's cluster information", target_fixture="cluster_view")
def read_cluster_view(hsm: HsmRunner) -> drill.ClusterView:
    """Reads the destination's cluster information (start-up and getClusterInfo) through the management
    utility, for the checks that follow."""
    return drill.cluster_view(hsm)


@then(
    parsers.parse(
        'the "restore.nodes-connected" check holds: '
        "it lists {count:d} nodes and reports none of them not connected"
    )
)
def all_nodes_connected(
    cluster_view: drill.ClusterView,
    count: int,
    target: Target,
    judge: Judge,
    findings: list[Finding],
    drill_record: DrillRecord,
) -> None:
    """Judges restore.nodes-connected: getClusterInfo lists the number of nodes named, and every server is
    connected at start-up and in getClusterInfo."""
    judged = drill.nodes_connected(target.destination_id, cluster_view.startup, cluster_view.info, count)
    _publish(judge, findings, drill_record, drill.NODES_CONNECTED, judged)


@then(parsers.parse("the node check reports server {server:d} not connected"))
def node_reported(cluster_view: drill.ClusterView, server: int, target: Target) -> None:
    """Self-check of chsm-checks: judges that the node check, run but not published, reports the named server
    as not connected."""
    # A self-check: the finding it looks for is evidence about chsm-checks, not published as the run's.
    judged = drill.nodes_connected(target.destination_id, cluster_view.startup, cluster_view.info)
    expect.finding_mentions(
        [f.message for f in judged if f.status is not Outcome.PASSED], f"server {server} "
    )


@when("the crypto user inventories the destination cluster's keys", target_fixture="destination_keys")
def destination_keys(hsm: HsmRunner, target: Target) -> KeyInventory:
    """Logs in to the destination as the target's crypto user and reads every key it can see, with its
    attributes and sharing."""
    return drill.key_inventory(hsm, target.hsm_settings.user)


@then(
    'the "restore.keys-restored" check holds: every source key is on the destination with the same '
    "label, class, type and attributes"
)
def same_keys(
    source_inventory: drill.SourceInventory,
    destination_keys: KeyInventory,
    target: Target,
    judge: Judge,
    findings: list[Finding],
    drill_record: DrillRecord,
    request: pytest.FixtureRequest,
) -> None:
    """Judges restore.keys-restored: every source key is on the destination, by key id, with the same
    attributes, owner and sharing; records the matched handles."""
    comparison = drill.keys_not_the_sources(drill.compare_keys(source_inventory.keys, destination_keys))
    request.node.user_properties.append(
        ("matchedKeys(sourceHandle->destinationHandle)", str(comparison.matched))
    )
    judged = drill.keys_restored(target.destination_id, comparison)
    _publish(judge, findings, drill_record, drill.KEYS_RESTORED, judged)


@then('the "restore.no-extra-keys" check holds: the destination holds no key the source did not')
def no_extra_keys(
    source_inventory: drill.SourceInventory,
    destination_keys: KeyInventory,
    target: Target,
    judge: Judge,
    findings: list[Finding],
    drill_record: DrillRecord,
) -> None:
    """Judges restore.no-extra-keys: the destination holds no key, by key id, that the source did not hold
    before the backup."""
    comparison = drill.compare_keys(source_inventory.keys, destination_keys)
    judged = drill.no_extra_keys(target.destination_id, comparison)
    _publish(judge, findings, drill_record, drill.NO_EXTRA_KEYS, judged)


@when("the management utility lists the destination cluster's users", target_fixture="destination_users")
def destination_users(hsm: HsmRunner) -> drill.UserView:
    """Lists the destination cluster's users (listUsers) on every server the management utility reaches, for
    the checks that follow."""
    return drill.user_view(hsm)


@then('the "restore.users-restored" check holds: every node lists the same users as the source')
def same_users(
    source_inventory: drill.SourceInventory,
    destination_users: drill.UserView,
    target: Target,
    judge: Judge,
    findings: list[Finding],
    drill_record: DrillRecord,
) -> None:
    """Judges restore.users-restored: every destination node lists the same users (name and type) as the
    source, and no others."""
    users = drill.compare_users(source_inventory.users, destination_users.users)
    judged = drill.users_restored(target.destination_id, users)
    _publish(judge, findings, drill_record, drill.USERS_RESTORED, judged)


@then(
    'the "restore.nodes-answer-success" check holds: '
    "every node reported success for the login and for findKey"
)
def nodes_answered(
    destination_keys: KeyInventory,
    target: Target,
    judge: Judge,
    findings: list[Finding],
    drill_record: DrillRecord,
) -> None:
    """Judges restore.nodes-answer-success: every node answered success to the crypto user's loginHSM and
    findKey in the destination's key inventory."""
    judged = drill.nodes_answer_success(target.destination_id, destination_keys)
    _publish(judge, findings, drill_record, drill.NODES_ANSWER, judged)


@given("the restore validation is part of this drill")
def validation_in_drill(target: Target) -> None:
    """Makes the scenario not applicable when the target names no [hsm] utilities: without the restore
    validation the recovery time cannot be judged."""
    if target.spec.hsm is None:
        not_applicable(
            f"{target.path} names no [hsm] utilities: the restore validation that ends a recovery "
            "does not run, so its time cannot be judged"
        )


@when("the restored destination is read after its restore validation")
def read_after_validation(arm: ArmClient, target: Target, drill_record: DrillRecord) -> None:
    """Reads the destination from ARM once the restore validation was judged, and notes the service's date of
    that read as when validation ended."""
    get_cluster(arm, target.destination_id)
    drill_record.validation_read(arm.answered_at)


@then(
    'the "restore.rto" check holds: it read Active, and its restore validation passed, within the '
    "target's rto_minutes of the restore request"
)
def within_rto(target: Target, judge: Judge, findings: list[Finding], drill_record: DrillRecord) -> None:
    """Judges restore.rto: the destination read Active, and every restore-validation check passed, within the
    target's rto_minutes of the restore request."""
    judged = drill_record.recovery_time(target)
    _publish(judge, findings, drill_record, judged.check_id, [judged])


def _publish(
    judge: Judge, findings: list[Finding], drill_record: DrillRecord, check_id: str, judged: list[Finding]
) -> None:
    """Settle one restore check's findings (waivers applied), publish them, judge the step."""
    settled = judge.settle(check_id, judged)
    findings.extend(settled)
    if check_id in drill.RESTORE_CHECKS:
        drill_record.validation_judged(check_id, settled)
    expect.findings_hold(findings)


@given(parsers.parse("destination node {node:d} is unreachable"))
def node_unreachable(
    run_settings: RunSettings, target: Target, node: int, request: pytest.FixtureRequest
) -> None:
    """Makes the named destination node unreachable in the sandbox until the scenario ends; not applicable
    against Azure, and nothing is injected in replay."""
    faults.node_unreachable(run_settings, target.spec.destination.cluster, node, request.addfinalizer)


@given(parsers.parse("the destination's utilities never answer {command}"))
def never_answer(
    run_settings: RunSettings, target: Target, command: str, request: pytest.FixtureRequest
) -> None:
    """Makes the destination's utilities stop answering the named command in the sandbox until the scenario
    ends; not applicable against Azure, nothing injected in replay."""
    faults.command_hangs(run_settings, target.spec.destination.cluster, command, request.addfinalizer)


@when("the crypto user logs in to the destination with a wrong password", target_fixture="wrong_login")
def log_in_wrongly(hsm: HsmRunner, target: Target) -> drill.WrongLogin:
    """Logs in to the destination once as the crypto user with a password nobody has, never retried, and keeps
    the answer and the attempts."""
    return drill.wrong_login(hsm, target.hsm_settings.user)


@then(parsers.parse("the login is refused with return code {code} on every node"))
def login_refused(wrong_login: drill.WrongLogin, code: str) -> None:
    """Judges that the wrong-password login was refused with the named code, overall and on every node."""
    expect.refused_login(wrong_login.result, int(code, 16))


@then("the login was attempted exactly once")
def attempted_once(wrong_login: drill.WrongLogin) -> None:
    """Judges that the wrong-password login typed loginHSM exactly once: a refused login is never retried."""
    expect.attempted_once(wrong_login.login_attempts, "loginHSM")


@when(
    parsers.parse("the crypto user runs findKey with a {seconds:d} second timeout"),
    target_fixture="find_outcome",
)
def find_with_timeout(hsm: HsmRunner, target: Target, seconds: int) -> FindKeyResult | HsmSessionError:
    """Logs in to the destination as the crypto user and runs findKey with the named timeout, keeping its
    answer or its session error."""
    return drill.find_keys_within(hsm, target.hsm_settings.user, seconds)


@then("the session ends as an error naming findKey and the timeout")
def ended_with_timeout(find_outcome: FindKeyResult | HsmSessionError) -> None:
    """Judges that findKey did not answer but ended in a session error naming findKey and saying no answer
    came within the timeout."""
    expect.timed_out(find_outcome, "findKey")
