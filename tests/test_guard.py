"""The guard: every refusal sends nothing it should not, and an allowed request sends only what it must."""

from __future__ import annotations

from typing import Any

import pytest
from arm_fakes import (
    API_VERSION,
    BACKUP_ID,
    CONTAINER_URI,
    DESTINATION_ID,
    SOURCE_ID,
    ScriptedTransport,
    body_of,
    make_client,
    reply,
)
from uri_cases import BAD, BLOB_ENDPOINT, SECRETS

from chsm_checks.arm.errors import ArmError
from chsm_checks.arm.lro import OperationResult, PollPolicy
from chsm_checks.guard import Refusal, RefusalReason, request_backup, request_restore

POLICY = PollPolicy(default_interval_seconds=1.0, timeout_seconds=60.0)
SIGNATURE = "sig=Zm9vYmFyU2VjcmV0U2lnbmF0dXJl"
SAS_URIS = [
    pytest.param(f"{CONTAINER_URI}?sv=2022-11-02&sr=c&{SIGNATURE}", RefusalReason.SAS_TOKEN, id="query"),
    # found by tests/test_guard_fuzz.py
    pytest.param(f"{CONTAINER_URI}?", RefusalReason.QUERY_STRING, id="empty-query"),
    pytest.param(f"{CONTAINER_URI}?{SIGNATURE}&se=2030-01-01", RefusalReason.SAS_TOKEN, id="signature-first"),
    pytest.param(f"{CONTAINER_URI}#{SIGNATURE}", RefusalReason.SAS_TOKEN, id="fragment"),
    pytest.param(f"{CONTAINER_URI}%3F{SIGNATURE}", RefusalReason.SAS_TOKEN, id="encoded-question-mark"),
    pytest.param(f"{CONTAINER_URI};{SIGNATURE}", RefusalReason.SAS_TOKEN, id="after-a-semicolon"),
]
SUCCEEDED = {"properties": {"status": "Succeeded", "jobId": "job-1", "backupId": BACKUP_ID}}


def _cluster(activation: Any = "NotActivated", *, include: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = {"provisioningState": "Succeeded"}
    if include:
        props["activationState"] = activation
    return {"id": DESTINATION_ID, "name": "chsm-dest", "properties": props}


def _backup(
    transport: ScriptedTransport, *, uri: str = CONTAINER_URI, allow: bool = True
) -> OperationResult | Refusal:
    return request_backup(
        make_client(transport),
        cluster_id=SOURCE_ID,
        container_uri=uri,
        blob_endpoint=BLOB_ENDPOINT,
        allow_mutations=allow,
        policy=POLICY,
    )


def _restore(
    transport: ScriptedTransport,
    *,
    uri: str = CONTAINER_URI,
    destination: str = DESTINATION_ID,
    allow: bool = True,
) -> OperationResult | Refusal:
    return request_restore(
        make_client(transport),
        source_id=SOURCE_ID,
        destination_id=destination,
        container_uri=uri,
        blob_endpoint=BLOB_ENDPOINT,
        backup_id=BACKUP_ID,
        allow_mutations=allow,
        policy=POLICY,
    )


@pytest.mark.parametrize(("uri", "reason"), SAS_URIS)
@pytest.mark.parametrize("allow", [True, False])
def test_backup_to_a_sas_uri_is_refused_before_sending(uri: str, reason: RefusalReason, allow: bool) -> None:
    transport = ScriptedTransport()

    refusal = _backup(transport, uri=uri, allow=allow)

    assert isinstance(refusal, Refusal)
    assert refusal.reason is reason
    assert refusal.reasons[0] is reason
    assert refusal.requests_sent == 0
    assert transport.requests == []
    assert "Zm9vYmFy" not in refusal.message
    assert "Zm9vYmFy" not in repr(refusal)


@pytest.mark.parametrize(("uri", "reason"), SAS_URIS)
def test_restore_from_a_sas_uri_is_refused_before_sending(uri: str, reason: RefusalReason) -> None:
    transport = ScriptedTransport()

    refusal = _restore(transport, uri=uri)

    assert isinstance(refusal, Refusal)
    assert refusal.reason is reason
    assert transport.requests == []
    assert "Zm9vYmFy" not in repr(refusal)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://chsmbackupsbx.blob.core.windows.net/chsm-backups", RefusalReason.NOT_HTTPS),
        ("https:///chsm-backups", RefusalReason.NOT_ACCOUNT_ENDPOINT),
        ("chsm-backups", RefusalReason.NOT_HTTPS),
    ],
)
def test_a_container_uri_that_is_no_https_url_of_the_account_is_refused_for_what_it_is(
    uri: str, reason: RefusalReason
) -> None:
    transport = ScriptedTransport()

    refusal = _backup(transport, uri=uri)

    assert isinstance(refusal, Refusal)
    assert refusal.reason is reason
    assert RefusalReason.SAS_TOKEN not in refusal.reasons
    assert "SAS" not in refusal.message
    assert transport.requests == []


@pytest.mark.parametrize(("uri", "reasons"), BAD)
@pytest.mark.parametrize("operation", ["backup", "restore"])
def test_every_bad_container_uri_is_refused_for_all_its_reasons_before_sending(
    uri: str, reasons: set[str], operation: str
) -> None:
    transport = ScriptedTransport()

    refusal = (_backup if operation == "backup" else _restore)(transport, uri=uri)

    assert isinstance(refusal, Refusal)
    assert refusal.operation == operation
    assert {r.value for r in refusal.reasons} == reasons
    assert refusal.reason is refusal.reasons[0]
    assert refusal.observed == {"reasons": ", ".join(r.value for r in refusal.reasons)}
    assert transport.requests == []
    for secret in SECRETS:
        assert secret not in repr(refusal)


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param(SOURCE_ID, id="same"),
        pytest.param(SOURCE_ID.upper(), id="upper-case"),
        pytest.param(SOURCE_ID.lower(), id="lower-case"),
        pytest.param(SOURCE_ID + "/", id="trailing-slash"),
        pytest.param(f"  {SOURCE_ID.upper()}/ ", id="padded"),
        # Found by tests/test_guard_fuzz.py: spellings that httpx and ARM resolve to the source.
        pytest.param(SOURCE_ID.replace("/chsm-source", "/chsm%2Dsource"), id="percent-escape"),
        pytest.param(SOURCE_ID.replace("/chsm-source", "/x/../chsm-source"), id="dot-segment"),
        pytest.param(SOURCE_ID.replace("/providers/", "//providers/"), id="doubled-slash"),
    ],
)
@pytest.mark.parametrize("allow", [True, False])
def test_restore_into_the_source_is_refused_before_sending(destination: str, allow: bool) -> None:
    transport = ScriptedTransport()

    refusal = _restore(transport, destination=destination, allow=allow)

    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.RESTORE_INTO_SOURCE
    assert refusal.requests_sent == 0
    assert transport.requests == []


def test_backup_without_mutations_allowed_is_refused_before_sending() -> None:
    transport = ScriptedTransport()

    refusal = _backup(transport, allow=False)

    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.MUTATIONS_NOT_ALLOWED
    assert refusal.requests_sent == 0
    assert transport.requests == []


def test_restore_without_mutations_allowed_is_refused_before_sending() -> None:
    transport = ScriptedTransport()

    refusal = _restore(transport, allow=False)

    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.MUTATIONS_NOT_ALLOWED
    assert transport.requests == []


@pytest.mark.parametrize(
    ("cluster", "reported"),
    [
        pytest.param(_cluster("Active"), "Active", id="Active"),
        pytest.param(_cluster("Failed"), "Failed", id="Failed"),
        pytest.param(_cluster("NotDefined"), "NotDefined", id="NotDefined"),
        pytest.param(_cluster("Unknown"), "Unknown", id="Unknown"),
        pytest.param(_cluster("null"), "null", id="string-null"),
        pytest.param(_cluster(None), "absent", id="json-null"),
        pytest.param(_cluster(include=False), "absent", id="absent"),
        pytest.param({"id": DESTINATION_ID}, "absent", id="no-properties"),
        pytest.param(_cluster("notactivated"), "notactivated", id="wrong-case"),
    ],
)
def test_restore_into_a_destination_that_is_not_notactivated_is_refused_after_one_get(
    cluster: dict[str, Any], reported: str
) -> None:
    transport = ScriptedTransport()
    transport.script("GET", DESTINATION_ID, reply(200, json=cluster))

    refusal = _restore(transport)

    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.DESTINATION_NOT_NOT_ACTIVATED
    assert refusal.observed == {"activationState": reported}
    assert refusal.requests_sent == 1
    assert transport.calls == [("GET", DESTINATION_ID)]


def test_restore_whose_destination_cannot_be_read_sends_no_post() -> None:
    transport = ScriptedTransport()
    transport.script("GET", DESTINATION_ID, reply(404, json={"error": {"code": "ResourceNotFound"}}))

    with pytest.raises(ArmError) as excinfo:
        _restore(transport)

    assert excinfo.value.code == "ResourceNotFound"
    assert transport.calls == [("GET", DESTINATION_ID)]


def test_allowed_backup_posts_the_container_uri_and_no_token() -> None:
    transport = ScriptedTransport()
    transport.script("POST", f"{SOURCE_ID}/backup", reply(200, json=SUCCEEDED))

    result = _backup(transport)

    assert isinstance(result, OperationResult)
    assert result.succeeded
    (post,) = transport.requests
    assert body_of(post) == {"azureStorageBlobContainerUri": CONTAINER_URI}
    assert b"token" not in post.content


def test_allowed_restore_reads_the_destination_then_posts_to_it() -> None:
    transport = ScriptedTransport()
    transport.script("GET", DESTINATION_ID, reply(200, json=_cluster("NotActivated")))
    transport.script("POST", f"{DESTINATION_ID}/restore", reply(200, json=SUCCEEDED))

    result = _restore(transport)

    assert isinstance(result, OperationResult)
    assert result.succeeded
    assert transport.calls == [("GET", DESTINATION_ID), ("POST", f"{DESTINATION_ID}/restore")]
    get, post = transport.requests
    assert get.url.params["api-version"] == post.url.params["api-version"] == API_VERSION
    assert body_of(post) == {"azureStorageBlobContainerUri": CONTAINER_URI, "backupId": BACKUP_ID}
    assert b"token" not in post.content
