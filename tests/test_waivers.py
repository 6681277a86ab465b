"""Waivers: what they match, what they change, when they stop, and how a bad file fails."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.checks.catalogue import Catalogue, load_catalogue
from chsm_checks.checks.model import Finding, error, failed, not_applicable, passed
from chsm_checks.checks.waivers import Waiver, WaiverBook, load_waivers
from chsm_checks.errors import ConfigError
from chsm_checks.outcomes import Outcome

SUB = "/subscriptions/5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"
ACCOUNT = f"{SUB}/resourceGroups/rg-a/providers/Microsoft.Storage/storageAccounts/chsmbackup"
OTHER_ACCOUNT = f"{SUB}/resourceGroups/rg-b/providers/Microsoft.Storage/storageAccounts/other"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHECK = "storage.shared-key-disabled"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def _waiver(**fields: Any) -> Waiver:
    data: dict[str, Any] = {
        "check": CHECK,
        "resource": ACCOUNT,
        "justification": "Legacy reader needs a key until the migration in Q2.",
        "approver": "Dana Whitfield (CISO)",
        "approved_on": date(2026, 1, 15),
        "expires": datetime(2026, 6, 30, tzinfo=UTC),
    }
    return Waiver.model_validate(data | fields)


def _failed(resource_id: str = ACCOUNT, check_id: str = CHECK) -> Finding:
    return failed(check_id, resource_id, "shared key access is allowed on chsmbackup")


@pytest.mark.parametrize(
    ("pattern", "check_id", "resource_id", "matches"),
    [
        (ACCOUNT, CHECK, ACCOUNT, True),
        (ACCOUNT.upper(), CHECK, ACCOUNT, True),
        (ACCOUNT, CHECK, ACCOUNT.lower(), True),
        (ACCOUNT, "storage.https-only", ACCOUNT, False),
        (ACCOUNT, CHECK, OTHER_ACCOUNT, False),
        (ACCOUNT, CHECK, f"{ACCOUNT}/blobServices/default/containers/c", False),
        (f"{SUB}/resourceGroups/rg-a/*", CHECK, ACCOUNT, True),
        (
            f"{SUB}/resourceGroups/RG-?/providers/Microsoft.Storage/storageAccounts/*",
            CHECK,
            OTHER_ACCOUNT,
            True,
        ),
        (
            f"{SUB}/resourceGroups/rg-?/providers/Microsoft.Storage/storageAccounts/chsm*",
            CHECK,
            OTHER_ACCOUNT,
            False,
        ),
        ("/subscriptions/*/storageAccounts/chsmbackup", CHECK, ACCOUNT, True),
        (f"{SUB}/resourceGroups/rg-[ab]/*", CHECK, ACCOUNT, False),  # brackets are literal, not a class
    ],
)
def test_matching_is_exact_or_glob_and_ignores_case(
    pattern: str, check_id: str, resource_id: str, matches: bool
) -> None:
    assert _waiver(resource=pattern).matches(check_id, resource_id) is matches


def test_a_live_waiver_waives_a_failed_finding_and_travels_with_it() -> None:
    waiver = _waiver(ticket="CHG-1042")

    applied = WaiverBook((waiver,)).apply([_failed()], NOW)

    [finding] = applied.findings
    assert finding.status is Outcome.WAIVED
    assert finding.waiver == waiver
    assert applied.used == {waiver}
    assert applied.expired == []
    assert applied.notes() == []
    assert finding.to_json()["waiver"] == {
        "check": CHECK,
        "resource": ACCOUNT,
        "justification": "Legacy reader needs a key until the migration in Q2.",
        "approver": "Dana Whitfield (CISO)",
        "approved_on": "2026-01-15",
        "expires": "2026-06-30T00:00:00Z",
        "ticket": "CHG-1042",
    }


def test_an_expired_waiver_does_not_apply_and_says_so() -> None:
    waiver = _waiver(expires=datetime(2026, 3, 1, tzinfo=UTC))
    finding = _failed()

    applied = WaiverBook((waiver,)).apply([finding], NOW)

    assert applied.findings == [finding]
    assert applied.expired == [(waiver, finding)]
    assert applied.used == set()
    assert applied.notes() == [
        f"waiver for {CHECK} on {ACCOUNT} expired on 2026-03-01T00:00:00Z "
        "(approved by Dana Whitfield (CISO)): the finding stands"
    ]


def test_a_waiver_expires_at_its_instant() -> None:
    waiver = _waiver(expires=NOW)

    assert waiver.expired(NOW)
    assert not waiver.expired(datetime(2026, 3, 1, 11, 59, 59, tzinfo=UTC))


def test_a_renewal_applies_beside_the_waiver_it_replaces() -> None:
    old = _waiver(expires=datetime(2026, 2, 1, tzinfo=UTC))
    renewal = _waiver(approved_on=date(2026, 2, 1), expires=datetime(2026, 9, 1, tzinfo=UTC))

    applied = WaiverBook((old, renewal)).apply([_failed()], NOW)

    assert applied.findings[0].waiver == renewal
    assert applied.expired == []


@pytest.mark.parametrize(
    "finding",
    [
        error(CHECK, ACCOUNT, "could not read the storage account: 403 AuthorizationFailed"),
        passed(CHECK, ACCOUNT, "shared key access is disabled on chsmbackup"),
        not_applicable(CHECK, ACCOUNT, "no storage account in this target"),
    ],
    ids=["error", "passed", "not-applicable"],
)
def test_only_failed_findings_are_waived(finding: Finding) -> None:
    applied = WaiverBook((_waiver(),)).apply([finding], NOW)

    assert applied.findings == [finding]
    assert applied.used == set()
    assert applied.expired == []


def test_a_book_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WaiverBook((_waiver(),)).apply([_failed()], datetime(2026, 3, 1))


def test_unused_waivers_are_those_that_waived_nothing() -> None:
    used, stale = _waiver(), _waiver(resource=OTHER_ACCOUNT)
    book = WaiverBook((used, stale))

    assert book.unused(book.apply([_failed()], NOW)) == (stale,)


VALID = f"""
[[waiver]]
check = "{CHECK}"
resource = "{ACCOUNT}"
justification = "Legacy reader needs a key until the migration in Q2."
approver = "Dana Whitfield (CISO)"
approved_on = 2026-01-15
expires = 2026-06-30T02:00:00+02:00
ticket = "CHG-1042"
"""

SECOND = """
[[waiver]]
check = "storage.minimum-tls"
resource = "/subscriptions/*/storageAccounts/*"
justification = "TLS 1.0 clients are retired on 2026-04-30; tracked in CHG-1043."
approver = "Dana Whitfield (CISO)"
approved_on = 2026-01-15
expires = 2026-04-30T00:00:00Z
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_loads(tmp_path: Path, catalogue: Catalogue) -> None:
    book = load_waivers(_write(tmp_path, VALID + SECOND), catalogue)

    first, second = book.waivers
    assert first.expires == datetime(2026, 6, 30, tzinfo=UTC)
    assert first.approved_on == date(2026, 1, 15)
    assert first.ticket == "CHG-1042"
    assert second.ticket is None


def test_an_empty_file_is_an_empty_book(tmp_path: Path, catalogue: Catalogue) -> None:
    assert load_waivers(_write(tmp_path, ""), catalogue).waivers == ()


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            'justification = "TLS 1.0 clients are retired on 2026-04-30; tracked in CHG-1043."\n',
            "",
            "waiver[2].justification: required field is missing",
        ),
        (
            '"TLS 1.0 clients are retired on 2026-04-30; tracked in CHG-1043."',
            '"  accepted risk  "',
            "waiver[2].justification: String should have at least 20 characters",
        ),
        (
            'approver = "Dana Whitfield (CISO)"\napproved_on = 2026-01-15\nexpires = 2026-04-30',
            "approved_on = 2026-01-15\nexpires = 2026-04-30",
            "waiver[2].approver: required field is missing",
        ),
        (
            "approved_on = 2026-01-15\nexpires = 2026-04-30",
            'approved_on = "2026-02-30"\nexpires = 2026-04-30',
            "waiver[2].approved_on: Input should be a valid date",
        ),
        (
            "expires = 2026-04-30T00:00:00Z",
            'expires = "next spring"',
            "waiver[2].expires: Input should be a valid datetime",
        ),
        (
            "expires = 2026-04-30T00:00:00Z",
            "expires = 2026-04-30T00:00:00",
            "waiver[2].expires: needs a UTC offset or Z",
        ),
        (
            "expires = 2026-04-30T00:00:00Z",
            "expires = 2026-01-15T23:00:00Z",
            "waiver[2].expires: 2026-01-15T23:00:00Z is not after approved_on 2026-01-15",
        ),
        (
            'check = "storage.minimum-tls"',
            'check = "storage.minimum-tsl"',
            "waiver[2].check: unknown check id 'storage.minimum-tsl'",
        ),
        (
            'resource = "/subscriptions/*/storageAccounts/*"',
            'resource = "chsmbackup"',
            "waiver[2].resource: 'chsmbackup' is not an ARM resource id",
        ),
        (
            'approver = "Dana Whitfield (CISO)"\napproved_on',
            'approver = "Dana Whitfield (CISO)"\napproved_by = "someone"\napproved_on',
            "waiver[2].approved_by: unknown field",
        ),
        ("[[waiver]]", "[waiver]", "not valid TOML"),
    ],
)
def test_a_bad_waiver_fails_with_one_line_naming_file_and_field(
    tmp_path: Path, catalogue: Catalogue, old: str, new: str, problem: str
) -> None:
    assert old in SECOND, "the test is out of date"
    path = _write(tmp_path, VALID + SECOND.replace(old, new, 1))

    with pytest.raises(ConfigError) as caught:
        load_waivers(path, catalogue)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {problem}")


def test_a_missing_waiver_file_is_named(tmp_path: Path, catalogue: Catalogue) -> None:
    with pytest.raises(ConfigError, match=r"waivers\.toml: file not found$"):
        load_waivers(tmp_path / "waivers.toml", catalogue)
