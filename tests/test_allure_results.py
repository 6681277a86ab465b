"""Allure glue: secret step parameters are masked; the environment section is written."""

from __future__ import annotations

import json
from pathlib import Path

from chsm_checks.reports.allure_results import MASK, mask_parameters, write_environment


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
            {"name": "runner", "value": "HsmRunner(typed Canary-Pw_7731!x once)"},
            {"name": "state", "value": "'Active'"},
        ],
    )

    assert mask_parameters(tmp_path, {"Canary-Pw_7731!x"}) == 2

    step = json.loads(path.read_text())["steps"][0]
    assert [p["value"] for p in step["parameters"]] == [MASK, MASK, "'Active'"]
    assert [p.get("mode") for p in step["parameters"]] == ["masked", "masked", None]
    assert "Canary" not in path.read_text()


def test_the_environment_section_escapes_its_values(tmp_path: Path) -> None:
    path = write_environment(tmp_path, {"target": "a=b: c", "mode": "replay"})
    assert path.read_text() == "target=a\\=b\\: c\nmode=replay\n"
