"""Allure glue: step parameters are readable values (secrets masked, no Python reprs); severity is the
catalogue's word; the environment section is written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.reports.allure_results import MASK, clean_parameters, write_environment
from tests.support.processes import ROOT, SharedRun, run_cli, sandbox_process, summary

# What a Python repr looks like: <… object at 0x…>, Name(…), a quoted string.
REPR = re.compile(r"<[^>]* at 0x[0-9a-f]+>|^<.*>$|^[A-Za-z_][\w.]*\(.*\)$|^'.*'$|^\".*\"$", re.S)


def _result(tmp_path: Path, parameters: list[dict[str, str]]) -> Path:
    path = tmp_path / "0-result.json"
    path.write_text(
        json.dumps({"name": "t", "parameters": [], "steps": [{"name": "s", "parameters": parameters}]})
    )
    return path


def test_parameters_named_like_secrets_or_holding_one_are_masked(tmp_path: Path) -> None:
    path = _result(
        tmp_path,
        [
            {"name": "password", "value": "'hunter22-x'"},
            {"name": "pin", "value": "'x Canary-Pw_7731!x y'"},
            {"name": "state", "value": "'Active'"},
        ],
    )

    assert clean_parameters(tmp_path, {"Canary-Pw_7731!x"}) == 2

    step = json.loads(path.read_text())["steps"][0]
    assert [p["value"] for p in step["parameters"]] == [MASK, MASK, "Active"]
    assert [p.get("mode") for p in step["parameters"]] == ["masked", "masked", None]
    assert "Canary" not in path.read_text()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("'Active'", "Active"),
        ('"it\'s"', "it's"),
        ("3", "3"),
        ("1.5", "1.5"),
        ("<chsm_checks.hsm.runner.HsmRunner object at 0x7f2ff44a12d0>", None),
        ("<FixtureRequest for <Function test_a>>", None),
        ("Target('reference', 'targets/reference.toml')", None),
        ("HsmRunner(typed Canary-Pw_7731!x once)", None),
        ("[]", None),
        ("None", None),
        ("True", None),
    ],
)
def test_a_step_parameter_is_its_plain_value_or_left_out(
    tmp_path: Path, value: str, shown: str | None
) -> None:
    path = _result(tmp_path, [{"name": "p", "value": value}])

    clean_parameters(tmp_path, ())

    parameters = json.loads(path.read_text())["steps"][0]["parameters"]
    assert parameters == ([{"name": "p", "value": shown}] if shown is not None else [])


def test_the_environment_section_escapes_its_values(tmp_path: Path) -> None:
    path = write_environment(tmp_path, {"target": "a=b: c", "mode": "replay"})
    assert path.read_text() == "target=a\\=b\\: c\nmode=replay\n"


@pytest.fixture(scope="module")
def results(shipped_replay: SharedRun) -> list[dict[str, Any]]:
    """The Allure results of a real replay of the recorded suite."""
    assert shipped_replay.result.returncode == 0, shipped_replay.result.output
    return [
        json.loads(p.read_text()) for p in (shipped_replay.run_dir / "allure-results").glob("*-result.json")
    ]


def _parameters(node: dict[str, Any]) -> list[dict[str, Any]]:
    return list(node.get("parameters") or []) + [p for s in node.get("steps") or [] for p in _parameters(s)]


def test_no_parameter_of_a_real_run_is_a_python_repr(results: list[dict[str, Any]]) -> None:
    values = [p["value"] for r in results for p in _parameters(r)]

    assert [v for v in values if REPR.search(v)] == []
    assert "identity.single-user-assigned" in values  # a Gherkin argument, as the feature spells it
    assert "Active" in values


def test_allure_severity_is_the_catalogues_word_for_the_row(results: list[dict[str, Any]]) -> None:
    for result in results:
        labels = [(label["name"], label["value"]) for label in result["labels"]]
        tagged = [v.removeprefix("severity-") for n, v in labels if n == "tag" and v.startswith("severity-")]
        assert [v for n, v in labels if n == "severity"] == tagged, result["name"]
        assert set(tagged) <= {"critical", "high", "medium", "low"}


def test_allure_suites_read_by_feature_then_rule(results: list[dict[str, Any]]) -> None:
    for result in results:
        labels = {(label["name"], label["value"]) for label in result["labels"]}
        [feature] = [value for name, value in labels if name == "feature"]
        assert [value for name, value in labels if name == "suite"] == [feature], result["name"]
        assert len([value for name, value in labels if name == "subSuite"]) <= 1
    # The drill's Rules (the harness's own fault checks) are its sub-suites.
    assert any(label["name"] == "subSuite" for result in results for label in result["labels"])


def test_each_fleet_result_names_its_cluster_readably(tmp_path: Path) -> None:
    generated = ("--fleet-clusters", "2", "--fleet-subscriptions", "1")
    with sandbox_process(tmp_path / "state", *generated) as sandbox:
        result = run_cli(
            "run", "--mode", "live", "--target", str(ROOT / "targets" / "sandbox-fleet.toml"),
            *sandbox.addressed, "--reports", str(tmp_path / "r"), "--no-html",
        )  # fmt: skip

    assert result.returncode == 0, result.output
    run_dir = tmp_path / "r" / "latest"
    clusters = {e["nodeid"].rpartition("[")[2].rstrip("]") for e in summary(tmp_path / "r")["scenarios"]}
    results = [json.loads(p.read_text()) for p in (run_dir / "allure-results").glob("*-result.json")]
    named = [label["value"] for r in results for label in r["labels"] if label["name"] == "cluster"]
    assert sorted(named) == sorted(clusters)
    assert len(clusters) == 4  # the sandbox's two seeded clusters and the two generated
    assert [p["value"] for r in results for p in _parameters(r) if REPR.search(p["value"])] == []
