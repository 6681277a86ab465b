"""Long-running backup and restore: the live shape, the spec shapes, and every way polling ends."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from arm_fakes import (
    API_VERSION,
    BACKUP_ID,
    CONTAINER_URI,
    ENDPOINT,
    JOB_ID,
    SOURCE_ID,
    Reply,
    ScriptedTransport,
    body_of,
    make_client,
    reply,
)

from chsm_checks.arm.client import ArmClient
from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.errors import ArmError
from chsm_checks.arm.lro import OperationResult, PollPolicy, wait_for_operation
from chsm_checks.arm.resources import post_backup, post_restore
from chsm_checks.arm.retry import RetryPolicy
from chsm_checks.errors import CouldNotEvaluate, OperationTimeout

POLICY = PollPolicy(default_interval_seconds=30.0, timeout_seconds=3600.0)
BACKUP = f"{SOURCE_ID}/backup"
RESTORE = f"{SOURCE_ID}/restore"
STATUS_PATH = f"{SOURCE_ID}/backupOperationStatus/{JOB_ID}"
SIGNED_STATUS = (
    f"{ENDPOINT}{STATUS_PATH}?api-version={API_VERSION}&t=638850&c=MIIHpTCCBo2g&s=c2lnbmF0dXJl&h=aGFzaA"
)
UNSIGNED_STATUS = f"{ENDPOINT}{STATUS_PATH}?api-version={API_VERSION}"


def _result(status: str, **extra: object) -> dict[str, object]:
    return {"properties": {"status": status, "jobId": JOB_ID, **extra}}


def test_live_shape_follows_the_newest_location_to_the_result() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": SIGNED_STATUS}))
    transport.script(
        "GET",
        STATUS_PATH,
        reply(202, headers={"location": UNSIGNED_STATUS}),
        reply(
            200,
            json=_result(
                "Succeeded",
                backupId=BACKUP_ID,
                azureStorageBlobContainerUri=CONTAINER_URI,
                statusDetails="Backup completed",
            ),
        ),
    )
    clock = VirtualClock()

    result = post_backup(make_client(transport, clock), SOURCE_ID, CONTAINER_URI, POLICY)

    assert result.succeeded
    assert (result.status, result.backup_id, result.job_id) == ("Succeeded", BACKUP_ID, JOB_ID)
    assert result.polls == 2
    assert [str(r.url) for r in transport.requests[1:]] == [SIGNED_STATUS, UNSIGNED_STATUS]
    assert clock.sleeps == [30.0, 30.0]
    assert result.waited_seconds == 60.0


def test_the_backup_post_carries_only_the_container_uri() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(200, json=_result("Succeeded", backupId=BACKUP_ID)))

    post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)

    (post,) = transport.requests
    assert post.url.params["api-version"] == API_VERSION
    assert body_of(post) == {"azureStorageBlobContainerUri": CONTAINER_URI}


def test_azure_asyncoperation_is_preferred_over_location() -> None:
    operation = f"{SOURCE_ID}/operations/op-1"
    results = f"{SOURCE_ID}/operationResults/op-1"
    transport = ScriptedTransport()
    transport.script(
        "POST",
        BACKUP,
        reply(
            202,
            headers={
                "Azure-AsyncOperation": f"{ENDPOINT}{operation}?api-version={API_VERSION}",
                "Location": f"{ENDPOINT}{results}?api-version={API_VERSION}",
                "Retry-After": "5",
            },
        ),
    )
    transport.script(
        "GET",
        operation,
        reply(200, json={"status": "InProgress"}),
        reply(200, json={"status": "Succeeded", "properties": {"backupId": BACKUP_ID}}),
    )

    result = post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)

    assert result.succeeded
    assert result.backup_id == BACKUP_ID
    assert transport.calls == [("POST", BACKUP), ("GET", operation), ("GET", operation)]


@pytest.mark.parametrize(
    ("headers", "policy", "expected_sleeps"),
    [
        pytest.param({"Retry-After": "5"}, POLICY, [5.0, 5.0], id="retry-after-honoured-exactly"),
        pytest.param({"Retry-After": "0"}, POLICY, [30.0, 30.0], id="retry-after-zero-means-the-default"),
        pytest.param({}, PollPolicy(default_interval_seconds=12.0), [12.0, 12.0], id="default-interval"),
        pytest.param({"Retry-After": "soon"}, POLICY, [30.0, 30.0], id="unusable-retry-after-ignored"),
    ],
)
def test_poll_interval(headers: dict[str, str], policy: PollPolicy, expected_sleeps: list[float]) -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": SIGNED_STATUS, **headers}))
    transport.script(
        "GET",
        STATUS_PATH,
        reply(202, headers={"location": UNSIGNED_STATUS, **headers}),
        reply(200, json=_result("Succeeded", backupId=BACKUP_ID)),
    )
    clock = VirtualClock()

    result = post_backup(make_client(transport, clock), SOURCE_ID, CONTAINER_URI, policy)

    assert result.succeeded
    assert clock.sleeps == expected_sleeps


def _backup(client: ArmClient) -> OperationResult:
    return post_backup(client, SOURCE_ID, CONTAINER_URI, POLICY)


def _restore(client: ArmClient) -> OperationResult:
    return post_restore(client, SOURCE_ID, CONTAINER_URI, BACKUP_ID, POLICY)


@pytest.mark.parametrize(
    ("start", "operation"),
    [pytest.param(_backup, "backup", id="backup"), pytest.param(_restore, "restore", id="restore")],
)
def test_immediate_in_progress_without_headers_polls_the_job_status_url(
    start: Callable[[ArmClient], OperationResult], operation: str
) -> None:
    status_path = f"{SOURCE_ID}/{operation}OperationStatus/{JOB_ID}"
    transport = ScriptedTransport()
    transport.script("POST", f"{SOURCE_ID}/{operation}", reply(200, json=_result("InProgress")))
    transport.script(
        "GET",
        status_path,
        reply(200, json=_result("InProgress")),
        reply(200, json=_result("Succeeded")),
    )

    result = start(make_client(transport))

    assert result.succeeded
    assert result.operation == operation
    polls = transport.requests[1:]
    assert [(r.method, r.url.path, r.url.params["api-version"]) for r in polls] == [
        ("GET", status_path, API_VERSION)
    ] * 2


def test_the_job_status_url_is_kept_when_its_202s_carry_no_location() -> None:
    status_path = f"{SOURCE_ID}/backupOperationStatus/{JOB_ID}"
    transport = ScriptedTransport()
    transport.script("POST", f"{SOURCE_ID}/backup", reply(200, json=_result("InProgress")))
    transport.script("GET", status_path, reply(202), reply(202), reply(200, json=_result("Succeeded")))

    result = _backup(make_client(transport))

    assert result.succeeded
    assert result.polls == 3


def test_in_progress_without_anything_to_follow_could_not_be_evaluated() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(200, json={"properties": {"status": "InProgress"}}))

    with pytest.raises(CouldNotEvaluate, match="jobId"):
        post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)

    assert len(transport.requests) == 1


@pytest.mark.parametrize("spelling", ["Cancelled", "Canceled"])
def test_both_cancel_spellings_are_terminal_and_not_success(spelling: str) -> None:
    transport = ScriptedTransport()
    transport.script("POST", RESTORE, reply(202, headers={"location": SIGNED_STATUS}))
    transport.script("GET", STATUS_PATH, reply(200, json=_result(spelling)))

    result = post_restore(make_client(transport), SOURCE_ID, CONTAINER_URI, BACKUP_ID, POLICY)

    assert result.status == spelling
    assert not result.succeeded
    assert result.polls == 1  # the unscripted transport would fail a second poll


@pytest.mark.parametrize(
    "final_body",
    [
        pytest.param(
            {
                "properties": {
                    "status": "Failed",
                    "jobId": JOB_ID,
                    "error": {"code": "BackupFailed", "message": "The identity cannot write the container"},
                }
            },
            id="error-in-properties",
        ),
        pytest.param(
            {
                "status": "Failed",
                "error": {"code": "BackupFailed", "message": "The identity cannot write the container"},
            },
            id="async-operation-error",
        ),
    ],
)
def test_failed_job_reports_the_error_detail(final_body: dict[str, object]) -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": SIGNED_STATUS}))
    transport.script("GET", STATUS_PATH, reply(200, json=final_body))

    result = post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)

    assert result.status == "Failed"
    assert not result.succeeded
    assert result.error is not None
    assert (result.error.code, result.error.message) == (
        "BackupFailed",
        "The identity cannot write the container",
    )


def test_status_poll_failing_repeatedly_is_a_failure_to_read_not_a_failed_operation() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": SIGNED_STATUS}))
    transport.script(
        "GET",
        STATUS_PATH,
        *[reply(503, json={"error": {"code": "ServiceUnavailable", "message": "try later"}})] * 3,
    )
    client = make_client(transport, retry=RetryPolicy(max_attempts=3, backoff_cap_seconds=2.0))

    with pytest.raises(ArmError) as excinfo:
        post_backup(client, SOURCE_ID, CONTAINER_URI, POLICY)

    assert (excinfo.value.method, excinfo.value.status) == ("GET", 503)
    assert excinfo.value.code == "ServiceUnavailable"
    assert len(transport.requests) == 4


def test_a_single_503_while_polling_is_retried_and_polling_continues() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": SIGNED_STATUS}))
    transport.script(
        "GET",
        STATUS_PATH,
        reply(503, headers={"Retry-After": "2"}),
        reply(202, headers={"location": UNSIGNED_STATUS}),
        reply(200, json=_result("Succeeded", backupId=BACKUP_ID)),
    )
    clock = VirtualClock()

    result = post_backup(make_client(transport, clock), SOURCE_ID, CONTAINER_URI, POLICY)

    assert result.succeeded
    assert result.polls == 2
    assert clock.sleeps == [30.0, 2.0, 30.0]


@pytest.mark.parametrize(
    ("retry_after", "timeout"),
    [
        pytest.param(None, 100.0, id="default-interval"),
        pytest.param("5", 12.0, id="retry-after"),
        pytest.param("500", 100.0, id="retry-after-beyond-budget"),
    ],
)
def test_timeout_raises_without_exceeding_the_budget(retry_after: str | None, timeout: float) -> None:
    running = {"location": UNSIGNED_STATUS}
    if retry_after is not None:
        running["Retry-After"] = retry_after
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers=running))
    transport.script("GET", STATUS_PATH, *[reply(202, headers=running)] * 50)
    clock = VirtualClock()
    policy = PollPolicy(default_interval_seconds=30.0, timeout_seconds=timeout)

    with pytest.raises(OperationTimeout, match="backup"):
        post_backup(make_client(transport, clock), SOURCE_ID, CONTAINER_URI, policy)

    assert clock.now() <= timeout
    assert sum(clock.sleeps) <= timeout


@pytest.mark.parametrize("status", [400, 403, 409])
def test_a_post_the_service_rejects_is_a_rejected_result(status: int) -> None:
    transport = ScriptedTransport()
    transport.script(
        "POST",
        BACKUP,
        reply(
            status,
            json={
                "error": {
                    "code": "InvalidContainerUri",
                    "message": "The container does not exist",
                    "target": "azureStorageBlobContainerUri",
                }
            },
        ),
    )

    result = post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)

    assert result.status == "Rejected"
    assert not result.succeeded
    assert result.http_status == status
    assert result.error is not None
    assert (result.error.code, result.error.target) == ("InvalidContainerUri", "azureStorageBlobContainerUri")
    assert len(transport.requests) == 1


def test_a_post_failing_server_side_is_an_arm_error_not_a_rejection() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, *[reply(500)] * 2)
    client = make_client(transport, retry=RetryPolicy(max_attempts=2, backoff_cap_seconds=1.0))

    with pytest.raises(ArmError) as excinfo:
        post_backup(client, SOURCE_ID, CONTAINER_URI, POLICY)

    assert excinfo.value.status == 500
    assert len(transport.requests) == 1  # the job may have started: never sent twice


@pytest.mark.parametrize(
    "script",
    [
        pytest.param([("POST", BACKUP, reply(200, content=b"<html>oops</html>"))], id="post-answer"),
        pytest.param(
            [
                ("POST", BACKUP, reply(202, headers={"location": SIGNED_STATUS})),
                ("GET", STATUS_PATH, reply(200, content=b"not json")),
            ],
            id="status-answer",
        ),
    ],
)
def test_a_body_that_is_not_json_could_not_be_evaluated(script: list[tuple[str, str, Reply]]) -> None:
    transport = ScriptedTransport()
    for method, path, answer in script:
        transport.script(method, path, answer)

    with pytest.raises(CouldNotEvaluate, match="not JSON") as excinfo:
        post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)

    assert not isinstance(excinfo.value, ArmError)


def test_a_final_status_that_is_json_but_not_an_object_could_not_be_evaluated() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": SIGNED_STATUS}))
    transport.script("GET", STATUS_PATH, reply(200, content=b"[]"))

    with pytest.raises(CouldNotEvaluate, match="not an object"):
        post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)


def test_async_operation_status_without_a_status_field_could_not_be_evaluated() -> None:
    operation = f"{SOURCE_ID}/operations/op-1"
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"Azure-AsyncOperation": f"{ENDPOINT}{operation}"}))
    transport.script("GET", operation, reply(200, json={"id": "op-1"}))

    with pytest.raises(CouldNotEvaluate, match="status"):
        post_backup(make_client(transport), SOURCE_ID, CONTAINER_URI, POLICY)


def test_wait_for_operation_reports_progress_through_the_client_event_hook() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(202, headers={"location": UNSIGNED_STATUS}))
    transport.script("GET", STATUS_PATH, reply(200, json=_result("Succeeded")))
    events: list[str] = []
    client = make_client(transport, on_event=events.append)
    first = client.send("POST", BACKUP, api_version=API_VERSION, json={})

    result = wait_for_operation(client, first, operation="backup", policy=POLICY)

    assert result.succeeded
    assert len(events) == 1
    assert events[0].startswith("backup: running")
