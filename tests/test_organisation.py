"""An organisation's own features (``--features DIR``): the shipped steps, the organisation's controls.

The example in ``examples/organisation`` runs live against the sandbox, passes there, fails when the
sandbox breaks what it asks for, and reports its own controls; bad directories, undeclared tags and
undefined steps are refused or reported as what they are.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.errors import ConfigError
from chsm_checks.organisation import load_feature_dirs, marker_lines
from chsm_checks.target import load_target
from tests.support.processes import ROOT, Sandbox, run_cli, sandbox_process, summary

EXAMPLE = ROOT / "examples" / "organisation"
CONTOSO = {
    "contoso-cbs-3.1": "Backups travel only over the private network, encrypted",
    "contoso-cbs-4.2": "A deleted or overwritten backup can be recovered for a week",
    "contoso-cbs-5.1": "Only the backup identity writes backups, and nobody reads them anonymously",
}


def _organisation_run(tmp_path: Path, sandbox: Sandbox, *features: Path) -> tuple[int, dict[str, Any], str]:
    """The organisation's scenarios, live against ``sandbox``: exit code, summary and output."""
    reports = tmp_path / "reports"
    given = [arg for path in features for arg in ("--features", str(path))]
    result = run_cli(
        "run", "--mode", "live", "--target", "targets/sandbox.toml", *sandbox.addressed, *given,
        "--reports", str(reports), "--no-html", "-k", "test_organisation",
    )  # fmt: skip
    return result.returncode, summary(reports), result.output


@pytest.fixture
def sandbox(tmp_path: Path) -> Any:
    with sandbox_process(tmp_path / "state") as running:
        yield running


def test_the_example_passes_against_the_sandbox_and_reports_its_own_controls(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    code, report, output = _organisation_run(tmp_path, sandbox, EXAMPLE)

    assert code == 0, output
    outcomes = {e["name"]: e["outcome"] for e in report["scenarios"]}
    assert outcomes == dict.fromkeys(CONTOSO.values(), "passed")
    for entry in report["scenarios"]:
        assert entry["feature_file"] == "examples/organisation/backup_standard.feature"
        assert [t for t in entry["tags"] if t.startswith("contoso-")] == [
            tag for tag, name in CONTOSO.items() if name == entry["name"]
        ]
    assert [c["tag"] for c in report["organisation_controls"]] == list(CONTOSO)
    assert {c["framework"] for c in report["organisation_controls"]} == {"Contoso Backup Standard 2026"}
    run_dir = (tmp_path / "reports" / "latest").resolve()
    matrix = (run_dir / "matrix.md").read_text(encoding="utf-8")
    assert "Contoso Backup Standard 2026 CBS-3.1" in matrix
    controls = {
        label["value"]
        for path in (run_dir / "allure-results").glob("*-result.json")
        for label in json.loads(path.read_text())["labels"]
        if label["name"] == "control"
    }
    assert set(CONTOSO) <= controls


def test_the_example_fails_the_control_whose_check_the_sandbox_breaks(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    account = load_target(ROOT / "targets" / "sandbox.toml").storage_account_id
    sandbox.arm("PATCH", account, {"properties": {"minimumTlsVersion": "TLS1_0"}})

    code, report, output = _organisation_run(tmp_path, sandbox, EXAMPLE)

    assert code == 1, output
    outcomes = {e["name"]: e["outcome"] for e in report["scenarios"]}
    assert outcomes[CONTOSO["contoso-cbs-3.1"]] == "failed"
    assert outcomes[CONTOSO["contoso-cbs-4.2"]] == outcomes[CONTOSO["contoso-cbs-5.1"]] == "passed"
    [failed] = [e for e in report["scenarios"] if e["outcome"] == "failed"]
    assert {f["check"] for f in failed["findings"] if f["status"] == "failed"} == {"storage.minimum-tls"}


def _feature_dir(tmp_path: Path, feature: str, controls: str | None = None) -> Path:
    directory = tmp_path / "org"
    directory.mkdir()
    (directory / "rules.feature").write_text(feature, encoding="utf-8")
    if controls is not None:
        (directory / "controls.toml").write_text(controls, encoding="utf-8")
    return directory


FEATURE = """\
Feature: Acme's rule
  Scenario: A step nobody defined
    Given the target's environment as ARM reports it
    Then the vault is made of cheese
"""


def test_an_undefined_step_is_an_error_naming_the_step_and_the_file(tmp_path: Path, sandbox: Sandbox) -> None:
    directory = _feature_dir(tmp_path, FEATURE)

    code, report, output = _organisation_run(tmp_path, sandbox, directory)

    assert code == 3, output
    [entry] = report["scenarios"]
    assert entry["outcome"] == "error"
    assert entry["message"].startswith(
        f'undefined step: Then "the vault is made of cheese" ({directory / "rules.feature"}, line 4, '
    )
    assert "chsm-checks steps lists the steps there are" in entry["message"]


def test_a_tag_the_directory_does_not_declare_is_a_usage_error(tmp_path: Path, sandbox: Sandbox) -> None:
    feature = FEATURE.replace("  Scenario:", "  @acme-bk-2\n  Scenario:").replace(
        "    Then the vault is made of cheese\n", ""
    )
    directory = _feature_dir(
        tmp_path, feature, 'framework = "Acme"\ntag_prefix = "acme-"\n[controls]\n"BK-1" = "x"\n'
    )

    result = run_cli(
        "run", "--mode", "live", "--target", "targets/sandbox.toml", *sandbox.addressed,
        "--features", str(directory), "--reports", str(tmp_path / "reports"),
    )  # fmt: skip

    assert result.returncode == 2, result.output
    assert "'acme-bk-2' not found in `markers`" in result.output


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        pytest.param({}, "{dir}: --features: holds no .feature file", id="empty"),
        pytest.param(
            {
                "a.feature": FEATURE,
                "controls.toml": 'framework = "Acme"\ntag_prefix = "nist-"\n[controls]\nX = "x"\n',
            },
            "{dir}/controls.toml: tag_prefix: 'nist-' is the catalogue's own; ",
            id="reserved-prefix",
        ),
        pytest.param(
            {
                "a.feature": FEATURE,
                "controls.toml": 'framework = "Acme"\ntag_prefx = "acme-"\n[controls]\nX = "x"\n',
            },
            "{dir}/controls.toml: tag_prefx: unknown field; did you mean tag_prefix?",
            id="typo",
        ),
        pytest.param(
            {"a.feature": FEATURE + "  Background:\n    Given x\n"},
            "{dir}/a.feature: line 5: Multiple 'Background' sections detected.",
            id="not-gherkin",
        ),
        pytest.param(
            {"a.feature": b"Feature: caf\xe9\n"},
            "{dir}/a.feature: not UTF-8 text",
            id="not-utf-8",
        ),
    ],
)
def test_a_bad_feature_directory_is_one_line(tmp_path: Path, layout: dict[str, str], problem: str) -> None:
    directory = tmp_path / "org"
    directory.mkdir()
    for name, text in layout.items():
        (directory / name).write_bytes(text if isinstance(text, bytes) else text.encode())

    with pytest.raises(ConfigError) as raised:
        load_feature_dirs([directory])

    assert str(raised.value).startswith(problem.format(dir=directory))
    result = run_cli("run", "--features", str(directory), "--reports", str(tmp_path / "reports"))
    assert result.returncode == 2
    assert result.stderr.startswith("chsm-checks: " + problem.format(dir=directory))
    assert "Traceback" not in result.output
    assert not (tmp_path / "reports").exists()


def test_a_missing_directory_and_two_that_declare_one_tag_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere: --features: not a directory$"):
        load_feature_dirs([tmp_path / "nowhere"])
    shutil.copytree(EXAMPLE, tmp_path / "again")
    with pytest.raises(ConfigError, match=r"controls: contoso-cbs-3.1 is declared by .* too$"):
        load_feature_dirs([EXAMPLE, tmp_path / "again"])


def test_each_declared_control_becomes_a_marker_naming_its_framework() -> None:
    assert marker_lines(load_feature_dirs([EXAMPLE]))[0] == (
        "contoso-cbs-3.1: Contoso Backup Standard 2026 CBS-3.1 "
        "Backups of key material travel only over private, encrypted networks"
    )


def test_a_fleet_target_takes_no_organisation_features(tmp_path: Path) -> None:
    result = run_cli(
        "run", "--mode", "live", "--target", "targets/sandbox-fleet.toml", "--features", str(EXAMPLE),
        "--reports", str(tmp_path / "reports"),
    )  # fmt: skip

    assert result.returncode == 2
    assert "--features: a fleet target runs the fleet audit" in result.stderr
