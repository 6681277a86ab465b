"""Allure glue: the run's environment section, and secrets masked out of step parameters.

allure-pytest-bdd records each step's arguments (fixture values included) as step parameters.
chsm-checks' own fixtures show only harmless summaries, and as a second line of defence every
parameter whose name suggests a secret, or whose value holds a secret the run used, is masked
before anyone generates a report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "******"
_SECRET_NAME = re.compile(r"(?i)pass(word)?|secret|token|credential|private.?key|sas")


def write_environment(results_dir: Path, properties: Mapping[str, str]) -> Path:
    """``environment.properties``: what the report's environment section shows."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "environment.properties"

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")

    path.write_text("".join(f"{escape(k)}={escape(v)}\n" for k, v in properties.items()), encoding="utf-8")
    return path


def _mask(node: Any, secrets: tuple[str, ...]) -> int:
    masked = 0
    if isinstance(node, dict):
        for parameter in node.get("parameters") or []:
            value = str(parameter.get("value", ""))
            if _SECRET_NAME.search(str(parameter.get("name", ""))) or any(s in value for s in secrets):
                parameter["value"] = MASK
                parameter["mode"] = "masked"
                masked += 1
        for child in node.get("steps") or []:
            masked += _mask(child, secrets)
    return masked


def mask_parameters(results_dir: Path, secrets: Iterable[str]) -> int:
    """Mask secret step and test parameters in every Allure result; how many were masked."""
    known = tuple(s for s in secrets if s)
    masked = 0
    for path in sorted(results_dir.glob("*-result.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        count = _mask(data, known)
        if count:
            path.write_text(json.dumps(data), encoding="utf-8")
            masked += count
    return masked
