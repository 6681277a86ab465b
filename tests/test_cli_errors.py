"""Bad input: one clear line naming the file and field, exit code 2, no traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support.processes import ROOT, project_copy, run_cli


def _target(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(text)
    return path


REFERENCE = (ROOT / "targets" / "reference.toml").read_text()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name = [unclosed", "not valid TOML"),
        (
            REFERENCE.replace('arm_endpoint = "http://127.0.0.1:8765"', 'cloud = "AzureGermany"'),
            "cloud: unknown cloud",
        ),
        (REFERENCE.replace("[source]\n", "[source]\ncolour = 'blue'\n"), "source.colour: unknown field"),
        (REFERENCE.replace('cluster = "chsm-source"', 'cluster = "x"'), "source.cluster:"),
        (
            REFERENCE.replace('subscription_id = "00000000-0000-0000-0000-000000000000"', ""),
            "subscription_id:",
        ),
    ],
)
def test_a_bad_target_file_is_one_line_and_exit_2(tmp_path: Path, content: str, expected: str) -> None:
    target = _target(tmp_path, content)

    result = run_cli("run", "--target", str(target), "--reports", str(tmp_path / "r"))

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"chsm-checks: {target}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_a_missing_cassette_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    shutil.copytree(ROOT / "cassettes", cassettes)
    victim = next(cassettes.rglob("*sas_token*.yaml"))
    victim.unlink()

    result = run_cli("run", "--cassettes", str(cassettes), "--reports", str(tmp_path / "r"), offline=True)

    assert result.returncode == 2, result.output
    assert f"{victim}: recording not found" in result.output
    assert "Traceback" not in result.output


def test_a_missing_cassette_directory_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("run", "--cassettes", str(tmp_path / "nowhere"), "--reports", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"chsm-checks: {tmp_path / 'nowhere'}: cassette directory not found"


def test_record_without_a_running_sandbox_says_how_to_start_it(tmp_path: Path) -> None:
    target = _target(tmp_path, REFERENCE.replace("127.0.0.1:8765", "127.0.0.1:9"))
    result = run_cli("run", "--mode", "record", "--target", str(target), "--reports", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "nothing listens on http://127.0.0.1:9" in result.stderr
    assert "chsm-checks sandbox serve" in result.stderr


def test_an_unregistered_gherkin_tag_is_a_usage_error(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    feature = project / "features" / "backup_restore.feature"
    feature.write_text(feature.read_text().replace("@mcsb-br-1", "@mcsb-br-9"))

    result = run_cli("run", cwd=project, offline=True)

    assert result.returncode == 2
    assert "'mcsb-br-9' not found in `markers`" in result.output
    assert "could not be collected" in result.stderr


def test_an_unknown_step_is_an_error_not_a_skip(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    feature = project / "features" / "backup_restore.feature"
    feature.write_text(
        feature.read_text().replace("And no request was sent", "And nothing at all happened", 1)
    )

    result = run_cli("run", "--reports", str(tmp_path / "r"), cwd=project, offline=True)

    assert result.returncode == 3
    assert re.search(r"^\[ *\d+/\d+\] error .* › A restore into the source cluster", result.stdout, re.M), (
        result.stdout
    )
    assert 'undefined step: Then "nothing at all happened"' in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--mode", "live", "-n", "2"),
            "--workers: a live or recorded backup/restore run is one ordered story",
        ),
        (("-n", "many"), "--workers: 'many' is not a number of workers or 'auto'"),
    ],
)
def test_workers_are_refused_where_they_cannot_serve(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_cli("run", "--target", "targets/sandbox.toml", "--reports", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
