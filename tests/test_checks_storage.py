"""Storage account, container, network and private endpoint checks, plus the container URI check."""

from __future__ import annotations

from typing import Any

import pytest
from check_fixtures import (
    ABSENT,
    ACCOUNT_ID,
    BLOB_ENDPOINT,
    CONTAINER_ID,
    CONTAINER_URI,
    ENDPOINT_ID,
    OTHER_ACCOUNT_ID,
    OTHER_SUBNET_ID,
    SUBNET_ID,
    VNET_ID,
    account_connection,
    account_json,
    assert_finding,
    container_json,
    endpoint_json,
    link,
)

from chsm_checks.arm.snapshots import ContainerSnapshot, PrivateEndpointSnapshot, StorageAccountSnapshot
from chsm_checks.checks import storage, uris
from chsm_checks.checks.observed import Observed
from chsm_checks.outcomes import Outcome

PASSED, FAILED, ERROR = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR


def account(**overrides: Any) -> StorageAccountSnapshot:
    return StorageAccountSnapshot.from_arm(account_json(**overrides))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(False, PASSED, id="false"),
        pytest.param(True, FAILED, id="true"),
        pytest.param(ABSENT, FAILED, id="absent-means-allowed"),
        pytest.param(None, FAILED, id="null-means-allowed"),
    ],
)
def test_shared_key_disabled(value: Any, expected: Outcome) -> None:
    finding = storage.shared_key_disabled(account(properties__allowSharedKeyAccess=value))
    assert_finding(finding, expected, "storage.shared-key-disabled", ACCOUNT_ID)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("TLS1_0", FAILED, id="TLS1_0"),
        pytest.param("TLS1_1", FAILED, id="TLS1_1"),
        pytest.param("TLS1_2", PASSED, id="TLS1_2"),
        pytest.param("TLS1_3", PASSED, id="TLS1_3"),
        pytest.param(ABSENT, FAILED, id="absent-means-TLS1_0"),
        pytest.param(None, FAILED, id="null"),
        pytest.param("TLS9_9", FAILED, id="unknown-value"),
    ],
)
def test_minimum_tls(value: Any, expected: Outcome) -> None:
    finding = storage.minimum_tls(account(properties__minimumTlsVersion=value))
    assert_finding(finding, expected, "storage.minimum-tls", ACCOUNT_ID)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(True, PASSED, id="true"),
        pytest.param(False, FAILED, id="false"),
        pytest.param(ABSENT, FAILED, id="absent"),
    ],
)
def test_https_only(value: Any, expected: Outcome) -> None:
    finding = storage.https_only(account(properties__supportsHttpsTrafficOnly=value))
    assert_finding(finding, expected, "storage.https-only", ACCOUNT_ID)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(True, FAILED, id="true"),
        pytest.param(False, PASSED, id="false"),
        pytest.param(ABSENT, PASSED, id="absent-means-false"),
    ],
)
def test_blob_anonymous_access(value: Any, expected: Outcome) -> None:
    finding = storage.blob_anonymous_access(account(properties__allowBlobPublicAccess=value))
    assert_finding(finding, expected, "storage.blob-anonymous-access", ACCOUNT_ID)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(False, PASSED, id="false"),
        pytest.param(True, FAILED, id="true"),
        pytest.param(ABSENT, FAILED, id="absent"),
    ],
)
def test_cross_tenant_replication(value: Any, expected: Outcome) -> None:
    finding = storage.cross_tenant_replication(account(properties__allowCrossTenantReplication=value))
    assert_finding(finding, expected, "storage.cross-tenant-replication", ACCOUNT_ID)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("None", PASSED, id="None"),
        pytest.param("Blob", FAILED, id="Blob"),
        pytest.param("Container", FAILED, id="Container"),
        # ARM documents no default for an absent publicAccess: there is nothing to judge by.
        pytest.param(ABSENT, ERROR, id="absent-is-an-error"),
    ],
)
def test_container_private(value: Any, expected: Outcome) -> None:
    container = ContainerSnapshot.from_arm(container_json(properties__publicAccess=value))
    assert_finding(storage.container_private(container), expected, "storage.container-private", CONTAINER_ID)


# -- public network ------------------------------------------------------------------------------


def _vnet_rules(*subnets: str) -> list[dict[str, str]]:
    return [{"id": s, "action": "Allow", "state": "Succeeded"} for s in subnets]


@pytest.mark.parametrize(
    ("access", "acls", "expected", "named"),
    [
        pytest.param("Disabled", {"defaultAction": "Allow"}, PASSED, [], id="disabled"),
        pytest.param(
            "Enabled",
            {"defaultAction": "Deny", "virtualNetworkRules": _vnet_rules(SUBNET_ID, f"{VNET_ID}/subnets/b")},
            PASSED,
            ["vnet-chsm"],
            id="enabled-deny-own-vnet-only",
        ),
        pytest.param(ABSENT, {"defaultAction": "Deny"}, PASSED, ["vnet-chsm"], id="absent-deny-no-rules"),
        pytest.param(
            "Enabled",
            {"defaultAction": "Deny", "virtualNetworkRules": _vnet_rules(SUBNET_ID, OTHER_SUBNET_ID)},
            FAILED,
            [OTHER_SUBNET_ID],
            id="enabled-deny-other-vnet",
        ),
        pytest.param(
            "Enabled",
            {"defaultAction": "Deny", "ipRules": [{"value": "203.0.113.7", "action": "Allow"}]},
            FAILED,
            ["203.0.113.7"],
            id="enabled-deny-ip-rule",
        ),
        pytest.param("Enabled", {"defaultAction": "Allow"}, FAILED, ["Allow"], id="enabled-allow"),
        pytest.param(ABSENT, {"defaultAction": "Allow"}, FAILED, ["Allow"], id="absent-allow"),
        pytest.param(ABSENT, ABSENT, FAILED, ["absent (Allow)"], id="absent-no-acls"),
        pytest.param(
            "SecuredByPerimeter",
            {"defaultAction": "Allow"},
            FAILED,
            ["SecuredByPerimeter", "Allow"],
            id="perimeter-allow",
        ),
    ],
)
def test_public_network(access: Any, acls: Any, expected: Outcome, named: list[str]) -> None:
    finding = storage.public_network(
        account(properties__publicNetworkAccess=access, properties__networkAcls=acls), VNET_ID
    )
    assert_finding(finding, expected, "storage.public-network", ACCOUNT_ID)
    for text in named:
        assert text in finding.message


def test_public_network_deny_with_own_vnet_says_so() -> None:
    rules = _vnet_rules(SUBNET_ID)
    finding = storage.public_network(
        account(
            properties__publicNetworkAccess="Enabled", properties__networkAcls__virtualNetworkRules=rules
        ),
        VNET_ID,
    )
    assert finding.status is PASSED
    assert "deny by default and allow only vnet-chsm" in finding.message
    assert "publicNetworkAccess Enabled" in finding.message


# -- private endpoint ----------------------------------------------------------------------------


def _judge_endpoint(
    endpoint: dict[str, Any] | None = None, account_connections: list[dict[str, Any]] | None = None
) -> Any:
    overrides = (
        {} if account_connections is None else {"properties__privateEndpointConnections": account_connections}
    )
    pe = PrivateEndpointSnapshot.from_arm(endpoint or endpoint_json())
    return storage.private_endpoint(account(**overrides), Observed.found(ENDPOINT_ID, pe), VNET_ID)


@pytest.mark.parametrize(
    ("endpoint", "connections", "expected", "named"),
    [
        pytest.param(endpoint_json(), None, PASSED, [], id="approved-both-sides"),
        pytest.param(
            endpoint_json(links=[link(status="Pending")]), None, FAILED, ["Pending"], id="pending-on-endpoint"
        ),
        pytest.param(
            endpoint_json(),
            [account_connection(status="Pending")],
            FAILED,
            ["Pending"],
            id="pending-on-account",
        ),
        pytest.param(
            endpoint_json(links=[link(status="Rejected")]),
            [account_connection(status="Rejected")],
            FAILED,
            ["Rejected"],
            id="rejected",
        ),
        pytest.param(
            endpoint_json(),
            [account_connection(status="Rejected")],
            FAILED,
            ["Rejected"],
            id="rejected-on-account",
        ),
        pytest.param(
            endpoint_json(links=[link(group_ids=["file"])]),
            None,
            FAILED,
            ["'blob'"],
            id="group-file-not-blob",
        ),
        pytest.param(endpoint_json(links=[link(group_ids=[])]), None, FAILED, ["'blob'"], id="no-group-ids"),
        pytest.param(
            endpoint_json(links=[link(service_id=OTHER_ACCOUNT_ID)]),
            None,
            FAILED,
            ["chsmbackupsbx"],
            id="connection-to-another-account",
        ),
        pytest.param(endpoint_json(links=[]), None, FAILED, ["'blob'"], id="no-connections"),
        pytest.param(
            endpoint_json(subnet_id=OTHER_SUBNET_ID),
            None,
            FAILED,
            [OTHER_SUBNET_ID],
            id="subnet-in-other-vnet",
        ),
        pytest.param(
            endpoint_json(links=[], manual_links=[link()]), None, PASSED, [], id="manual-connection-counts"
        ),
        pytest.param(
            endpoint_json(links=[link(service_id=ACCOUNT_ID.upper() + "/")]),
            None,
            PASSED,
            [],
            id="service-id-case-and-slash",
        ),
    ],
)
def test_private_endpoint(
    endpoint: dict[str, Any], connections: list[dict[str, Any]] | None, expected: Outcome, named: list[str]
) -> None:
    finding = _judge_endpoint(endpoint, connections)
    assert_finding(finding, expected, "storage.private-endpoint", ENDPOINT_ID)
    for text in named:
        assert text in finding.message


def test_private_endpoint_absent_fails_naming_account_and_endpoint() -> None:
    finding = storage.private_endpoint(account(), Observed.absent(ENDPOINT_ID), VNET_ID)
    assert_finding(finding, FAILED, "storage.private-endpoint", ACCOUNT_ID)
    assert "pe-chsmbackupsbx-blob" in finding.message
    assert "does not exist" in finding.message


def test_private_endpoint_unreadable_is_an_error_never_a_pass() -> None:
    observed: Observed[PrivateEndpointSnapshot] = Observed.unreadable(ENDPOINT_ID, "HTTP 500 Http500")
    finding = storage.private_endpoint(account(), observed, VNET_ID)
    assert_finding(finding, ERROR, "storage.private-endpoint", ENDPOINT_ID)
    assert "HTTP 500" in finding.message


# -- the container URI the harness sends ---------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "blob_endpoint", "expected"),
    [
        pytest.param(CONTAINER_URI, BLOB_ENDPOINT, PASSED, id="plain"),
        pytest.param(
            CONTAINER_URI, "https://CHSMBACKUPSBX.blob.core.windows.net/", PASSED, id="endpoint-match-case"
        ),
        pytest.param(CONTAINER_URI, None, ERROR, id="no-endpoint-reported"),
        pytest.param(CONTAINER_URI + "?sv=2024-11-04&sig=abc", BLOB_ENDPOINT, FAILED, id="sas-query"),
        pytest.param(CONTAINER_URI + "#frag", BLOB_ENDPOINT, FAILED, id="fragment"),
        pytest.param(
            "https://chsmbackupsbxold.blob.core.windows.net/chsm-backups",
            BLOB_ENDPOINT,
            FAILED,
            id="another-account",
        ),
        pytest.param(
            "https://evil.example/chsmbackupsbx.blob.core.windows.net/x",
            BLOB_ENDPOINT,
            FAILED,
            id="account-in-path",
        ),
        pytest.param(
            CONTAINER_URI,
            "https://chsmbackupsbx.blob.core.usgovcloudapi.net/",
            FAILED,
            id="endpoint-mismatch",
        ),
    ],
)
def test_container_uri_is_plain(uri: str, blob_endpoint: str | None, expected: Outcome) -> None:
    finding = uris.container_uri_is_plain(uri, "chsmbackupsbx", blob_endpoint, ACCOUNT_ID)
    assert_finding(finding, expected, "requests.no-sas", ACCOUNT_ID)


def test_container_uri_check_reads_the_blob_endpoint_the_account_reports() -> None:
    parsed = account(properties__primaryEndpoints__blob="https://chsmbackupsbx.privatelink.example/")
    assert parsed.blob_endpoint == "https://chsmbackupsbx.privatelink.example/"
    finding = uris.container_uri_is_plain(CONTAINER_URI, parsed.name, parsed.blob_endpoint, parsed.id)
    assert_finding(finding, FAILED, "requests.no-sas", ACCOUNT_ID)
