"""A recording's date: now, or SOURCE_DATE_EPOCH's when it is set (the reproducible-builds convention)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chsm_checks.errors import ConfigError
from chsm_checks.recording import Provenance
from chsm_checks.recording.cassettes import recording_date
from tests.support.processes import run_cli


@pytest.mark.parametrize(
    ("epoch", "date"),
    [
        ("0", "1970-01-01T00:00:00Z"),
        ("1750075200", "2025-06-16T12:00:00Z"),
        ("0001750075200", "2025-06-16T12:00:00Z"),
    ],
)
def test_source_date_epoch_is_the_recording_s_date(epoch: str, date: str) -> None:
    assert recording_date({"SOURCE_DATE_EPOCH": epoch}) == date


@pytest.mark.parametrize("environ", [{}, {"SOURCE_DATE_EPOCH": ""}])
def test_without_source_date_epoch_a_recording_is_dated_now(environ: dict[str, str]) -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    date = datetime.fromisoformat(recording_date(environ))

    assert before <= date <= datetime.now(UTC)


@pytest.mark.parametrize("epoch", ["1.5", "-1", "1e9", " 1750075200", "1750075200\n", "٣", "99999999999999"])
def test_a_source_date_epoch_that_is_no_date_is_one_line_naming_it(epoch: str) -> None:
    with pytest.raises(ConfigError) as raised:
        recording_date({"SOURCE_DATE_EPOCH": epoch})

    assert str(raised.value) == f"SOURCE_DATE_EPOCH: not a date in whole seconds since 1970: {epoch!r}"


def test_a_record_run_s_provenance_carries_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1750075200")

    provenance = Provenance.now(target_kind="sandbox", target_name="sandbox", cloud="Sandbox", scenario="s")

    assert provenance.recorded_at == "2025-06-16T12:00:00Z"


def test_a_record_run_with_an_unreadable_source_date_epoch_is_refused_up_front(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"

    done = run_cli(
        "run",
        "--mode",
        "record",
        "--target",
        "targets/sandbox.toml",
        "--allow-mutations",
        "--reports",
        str(reports),
        env_extra={"SOURCE_DATE_EPOCH": "yesterday"},
    )

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "chsm-checks: SOURCE_DATE_EPOCH: not a date in whole seconds since 1970: 'yesterday'"
    )
    assert not reports.exists()
