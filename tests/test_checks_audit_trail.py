"""The audit trail, judged by a pure function over diagnostic settings and the categories offered."""

from __future__ import annotations

from typing import Any

import pytest
from check_fixtures import (
    BLOB_CATEGORIES,
    BLOB_SERVICE_ID,
    CLUSTER_CATEGORIES,
    RG,
    SOURCE_ID,
    assert_finding,
    categories_json,
    diagnostic_setting_json,
    log_entry,
)

from chsm_checks.arm.snapshots import DiagnosticCategory, DiagnosticSetting
from chsm_checks.checks import audit_trail
from chsm_checks.checks.model import Finding
from chsm_checks.outcomes import Outcome

PASSED, FAILED, ERROR = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR
HUB_RULE = (
    f"{RG}/providers/Microsoft.EventHub/namespaces/evh-chsm/authorizationRules/RootManageSharedAccessKey"
)
ARCHIVE = f"{RG}/providers/Microsoft.Storage/storageAccounts/chsmlogarchive"


def offered(resource_id: str, categories: Any) -> list[DiagnosticCategory]:
    return [DiagnosticCategory.from_arm(item) for item in categories_json(resource_id, categories)["value"]]


def setting(
    resource_id: str, logs: list[dict[str, Any]] | None = None, **overrides: Any
) -> DiagnosticSetting:
    return DiagnosticSetting.from_arm(diagnostic_setting_json(resource_id, logs, **overrides))


def cluster_audit(settings: list[DiagnosticSetting], categories: Any = CLUSTER_CATEGORIES) -> Finding:
    return audit_trail.logs_kept(
        "logging.cluster-audit",
        "cluster chsm-source",
        SOURCE_ID,
        offered(SOURCE_ID, categories),
        settings,
        audit_trail.CLUSTER_AUDIT_CATEGORIES,
        audit_group=True,
    )


def blob_access(settings: list[DiagnosticSetting], categories: Any = BLOB_CATEGORIES) -> Finding:
    return audit_trail.logs_kept(
        "logging.blob-access",
        "blob service default of storage account chsmbackupsbx",
        BLOB_SERVICE_ID,
        offered(BLOB_SERVICE_ID, categories),
        settings,
        audit_trail.BLOB_ACCESS_CATEGORIES,
    )


@pytest.mark.parametrize(
    "logs",
    [
        pytest.param([log_entry(group="audit")], id="the-audit-group"),
        pytest.param([log_entry(group="allLogs")], id="every-log"),
        pytest.param([log_entry(category="HsmServiceOperations")], id="the-category-by-name"),
    ],
)
def test_a_setting_that_keeps_the_clusters_audit_logs_passes(logs: list[dict[str, Any]]) -> None:
    finding = cluster_audit([setting(SOURCE_ID, logs)])
    assert_finding(finding, PASSED, "logging.cluster-audit", SOURCE_ID)
    assert "HsmServiceOperations kept, sent to Log Analytics workspace log-chsm-audit" in finding.message


@pytest.mark.parametrize(
    ("destination", "named"),
    [
        pytest.param(
            {"properties.storageAccountId": ARCHIVE}, "storage account chsmlogarchive", id="archive"
        ),
        pytest.param(
            {"properties.eventHubAuthorizationRuleId": HUB_RULE},
            "event hub RootManageSharedAccessKey",
            id="event-hub",
        ),
    ],
)
def test_a_storage_account_or_event_hub_is_a_destination(destination: dict[str, str], named: str) -> None:
    kept = setting(
        SOURCE_ID,
        [log_entry(group="audit")],
        properties__workspaceId=None,
        **{key.replace(".", "__"): value for key, value in destination.items()},
    )
    finding = cluster_audit([kept])
    assert finding.status is PASSED
    assert named in finding.message


@pytest.mark.parametrize(
    ("settings", "tail"),
    [
        pytest.param([], "(0 setting(s) read)", id="no-setting"),
        pytest.param(
            [setting(SOURCE_ID, [log_entry(group="audit", enabled=False)])],
            "(1 setting(s) read)",
            id="disabled",
        ),
        pytest.param(
            [setting(SOURCE_ID, [log_entry(group="audit")], properties__workspaceId=None)],
            "setting to-log-chsm-audit sends nowhere",
            id="no-destination",
        ),
        pytest.param(
            [setting(SOURCE_ID, [log_entry(category="SomethingElse")])],
            "(1 setting(s) read)",
            id="another-category",
        ),
    ],
)
def test_logs_no_setting_keeps_are_a_failure(settings: list[DiagnosticSetting], tail: str) -> None:
    finding = cluster_audit(settings)
    assert_finding(finding, FAILED, "logging.cluster-audit", SOURCE_ID)
    assert "cluster chsm-source: no diagnostic setting keeps HsmServiceOperations" in finding.message
    assert tail in finding.message


def test_every_category_the_cluster_puts_in_its_audit_group_is_required() -> None:
    categories = (*CLUSTER_CATEGORIES, ("HsmHardwareOperations", "Logs", ("audit", "allLogs")))
    only_one = [setting(SOURCE_ID, [log_entry(category="HsmServiceOperations")])]
    finding = cluster_audit(only_one, categories)
    assert finding.status is FAILED
    assert "keeps HsmHardwareOperations" in finding.message
    assert cluster_audit([setting(SOURCE_ID, [log_entry(group="audit")])], categories).status is PASSED


def test_a_cluster_with_no_audit_category_cannot_be_judged() -> None:
    finding = cluster_audit([setting(SOURCE_ID)], (("Other", "Logs", ("allLogs",)),))
    assert_finding(finding, ERROR, "logging.cluster-audit", SOURCE_ID)
    assert (
        "offers neither HsmServiceOperations nor a log category in the audit group (Other)" in finding.message
    )


def test_the_blob_services_three_access_logs_are_kept_by_every_log() -> None:
    finding = blob_access([setting(BLOB_SERVICE_ID, [log_entry(group="allLogs")])])
    assert_finding(finding, PASSED, "logging.blob-access", BLOB_SERVICE_ID)
    assert "StorageRead, StorageWrite, StorageDelete kept" in finding.message


def test_the_audit_group_alone_misses_blob_reads() -> None:
    finding = blob_access([setting(BLOB_SERVICE_ID, [log_entry(group="audit")])])
    assert_finding(finding, FAILED, "logging.blob-access", BLOB_SERVICE_ID)
    assert "no diagnostic setting keeps StorageRead (" in finding.message


def test_categories_kept_across_two_settings_pass_and_name_both_destinations() -> None:
    reads = setting(
        BLOB_SERVICE_ID,
        [log_entry(category="StorageRead")],
        name="reads",
        properties__workspaceId=None,
        properties__storageAccountId=ARCHIVE,
    )
    writes = setting(BLOB_SERVICE_ID, [log_entry(group="audit")], name="writes")
    finding = blob_access([reads, writes])
    assert finding.status is PASSED
    assert "Log Analytics workspace log-chsm-audit, storage account chsmlogarchive" in finding.message


def test_categories_named_without_groups_are_judged_by_name() -> None:
    # 2017-05-01-preview: no categoryGroup in a setting's logs, no categoryGroups on a category.
    old_categories = tuple((name, kind, ()) for name, kind, _ in BLOB_CATEGORIES)
    by_name = [log_entry(category=name) for name in audit_trail.BLOB_ACCESS_CATEGORIES]
    assert blob_access([setting(BLOB_SERVICE_ID, by_name)], old_categories).status is PASSED
    assert (
        blob_access([setting(BLOB_SERVICE_ID, [log_entry(group="allLogs")])], old_categories).status is FAILED
    )


def test_a_blob_service_without_the_access_categories_cannot_be_judged() -> None:
    finding = blob_access([setting(BLOB_SERVICE_ID)], (("StorageRead", "Logs", ("allLogs",)),))
    assert_finding(finding, ERROR, "logging.blob-access", BLOB_SERVICE_ID)
    assert "does not offer the log categories StorageWrite, StorageDelete" in finding.message


def test_a_metric_category_of_the_same_name_is_not_a_log() -> None:
    finding = blob_access([setting(BLOB_SERVICE_ID)], (("StorageRead", "Metrics", ()),))
    assert finding.status is ERROR
