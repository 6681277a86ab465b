"""One judgement of a container URI: the function, ``requests.no-sas`` and the guard agree on every URI.

Each class of ``tests/uri_cases.py`` is one a check or the guard let through, or refused for the
wrong reason, before the three shared one function.
"""

from __future__ import annotations

import pytest
from arm_fakes import SOURCE_ID, ScriptedTransport, make_client
from uri_cases import ACCOUNT, BAD, BLOB_ENDPOINT, CONTAINER_URI, GOOD, SECRETS

from chsm_checks.arm.lro import PollPolicy
from chsm_checks.checks import uris
from chsm_checks.container_uri import (
    UriProblem,
    blob_endpoint,
    blob_endpoint_named_by,
    judge_container_uri,
)
from chsm_checks.guard import Refusal, RefusalReason, request_backup
from chsm_checks.outcomes import Outcome

ACCOUNT_ID = (
    "/subscriptions/5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247/resourceGroups/rg"
    f"/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
)
POLICY = PollPolicy(default_interval_seconds=1.0, timeout_seconds=60.0)


def _secret_free(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# -- the function ---------------------------------------------------------------------------------


@pytest.mark.parametrize("uri", GOOD)
def test_a_plain_uri_of_the_accounts_endpoint_passes(uri: str) -> None:
    judgement = judge_container_uri(uri, BLOB_ENDPOINT)

    assert judgement.ok
    assert judgement.problems == ()


@pytest.mark.parametrize(("uri", "reasons"), BAD)
def test_every_reason_a_uri_fails_is_reported(uri: str, reasons: set[str]) -> None:
    judgement = judge_container_uri(uri, BLOB_ENDPOINT)

    assert not judgement.ok
    assert {p.value for p in judgement.problems} == reasons
    assert list(judgement.problems) == sorted(judgement.problems, key=list(UriProblem).index)
    _secret_free(judgement.message())


def test_every_reason_has_its_own_sentence_naming_no_part_of_the_uri() -> None:
    sentences = {problem: problem.sentence(f"{ACCOUNT}.blob.core.windows.net") for problem in UriProblem}

    assert len(set(sentences.values())) == len(UriProblem)
    assert "hunter2" not in " ".join(sentences.values())


@pytest.mark.parametrize(
    "endpoint",
    [
        BLOB_ENDPOINT,
        BLOB_ENDPOINT.rstrip("/"),
        BLOB_ENDPOINT.upper().replace("HTTPS", "https"),
    ],
)
def test_the_expected_endpoint_may_be_spelled_as_arm_reports_it(endpoint: str) -> None:
    assert judge_container_uri(CONTAINER_URI, endpoint).ok


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://chsmbackupsbx.blob.core.windows.net/",
        "https://chsmbackupsbx.blob.core.windows.net/chsm-backups",
        "https://user@chsmbackupsbx.blob.core.windows.net/",
        "https://chsmbackupsbx.blob.core.windows.net:443/",
        "https://chsmbackupsbx.blob.core.windows.net/?sv=1",
        "https:///",
        "",
    ],
)
def test_an_expected_endpoint_that_is_not_a_bare_https_origin_is_a_programming_error(endpoint: str) -> None:
    with pytest.raises(ValueError, match="blob endpoint"):
        judge_container_uri(CONTAINER_URI, endpoint)


def test_the_blob_endpoint_of_an_account_follows_the_cloud() -> None:
    assert blob_endpoint(ACCOUNT, "core.windows.net") == BLOB_ENDPOINT
    assert blob_endpoint(ACCOUNT, "core.chinacloudapi.cn") == f"https://{ACCOUNT}.blob.core.chinacloudapi.cn/"
    for bad in ("Bad_Account", "ab", "a" * 25, "evil.example/x", "x@y"):
        with pytest.raises(ValueError, match="storage account name"):
            blob_endpoint(bad, "core.windows.net")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (CONTAINER_URI, BLOB_ENDPOINT),
        ("https://CHSMNOACCESS.blob.core.windows.net/c?sig=x", "https://chsmnoaccess.blob.core.windows.net/"),
        ("https://chsmbackupsbx.blob.core.usgovcloudapi.net/chsm-backups", None),  # another cloud
        ("https://evil.example/chsm-backups", None),
        ("https://evil.example\\@chsmbackupsbx.blob.core.windows.net/chsm-backups", None),
        ("https://user@chsmbackupsbx.blob.core.windows.net/chsm-backups", BLOB_ENDPOINT),
        ("https://bad_account.blob.core.windows.net/chsm-backups", None),
        ("not a uri", None),
    ],
)
def test_the_endpoint_a_uri_names_is_known_only_for_an_account_of_the_given_clouds(
    uri: str, expected: str | None
) -> None:
    assert blob_endpoint_named_by(uri, ["core.windows.net"]) == expected


# -- requests.no-sas: the same judgement, each reason observed ---------------------------------


@pytest.mark.parametrize("uri", GOOD)
def test_requests_no_sas_passes_what_the_judgement_passes(uri: str) -> None:
    finding = uris.container_uri_is_plain(uri, ACCOUNT, BLOB_ENDPOINT, ACCOUNT_ID)

    assert finding.status is Outcome.PASSED, finding.message


@pytest.mark.parametrize(("uri", "reasons"), BAD)
def test_requests_no_sas_fails_with_each_reason_observed(uri: str, reasons: set[str]) -> None:
    finding = uris.container_uri_is_plain(uri, ACCOUNT, BLOB_ENDPOINT, ACCOUNT_ID)

    assert finding.status is Outcome.FAILED
    assert set(finding.observed["reasons"]) == reasons
    assert finding.observed["blob_endpoint"] == BLOB_ENDPOINT
    _secret_free(finding.message)
    _secret_free(str(finding.to_json()))


def test_requests_no_sas_cannot_judge_an_account_that_reports_no_blob_endpoint() -> None:
    finding = uris.container_uri_is_plain(CONTAINER_URI, ACCOUNT, None, ACCOUNT_ID)

    assert finding.status is Outcome.ERROR
    assert "primaryEndpoints.blob" in finding.message


@pytest.mark.parametrize(
    "reported",
    ["http://chsmbackupsbx.blob.core.windows.net/", "https://chsmbackupsbx.blob.core.windows.net/x?y"],
)
def test_requests_no_sas_cannot_judge_a_blob_endpoint_that_is_no_origin(reported: str) -> None:
    finding = uris.container_uri_is_plain(CONTAINER_URI, ACCOUNT, reported, ACCOUNT_ID)

    assert finding.status is Outcome.ERROR
    assert "?y" not in finding.message


def test_requests_no_sas_fails_an_endpoint_that_does_not_name_the_account() -> None:
    other = "https://someoneelse.blob.core.windows.net/"
    finding = uris.container_uri_is_plain(f"{other}chsm-backups", ACCOUNT, other, ACCOUNT_ID)

    assert finding.status is Outcome.FAILED
    assert finding.observed["reasons"] == ["not-account-endpoint"]


# -- the guard: the same reasons, and nothing sent -------------------------------------------------


def _guard_reasons(uri: str) -> set[str]:
    transport = ScriptedTransport()
    refusal = request_backup(
        make_client(transport),
        cluster_id=SOURCE_ID,
        container_uri=uri,
        blob_endpoint=BLOB_ENDPOINT,
        allow_mutations=True,
        policy=POLICY,
    )
    assert isinstance(refusal, Refusal)
    assert transport.requests == []
    return {r.value for r in refusal.reasons}


@pytest.mark.parametrize(("uri", "reasons"), BAD)
def test_the_guard_and_requests_no_sas_judge_alike(uri: str, reasons: set[str]) -> None:
    finding = uris.container_uri_is_plain(uri, ACCOUNT, BLOB_ENDPOINT, ACCOUNT_ID)

    assert _guard_reasons(uri) == set(finding.observed["reasons"]) == reasons


def test_each_reason_is_a_refusal_reason() -> None:
    assert {p.value for p in UriProblem} <= {r.value for r in RefusalReason}
