"""Per-scenario evidence: every ARM exchange and HSM session a step causes, scrubbed as cassettes are.

Each piece is written to ``<run>/evidence/<feature>/<scenario>/`` and attached to the Allure step
that caused it. What is written has passed the same scrub profile (ARM) or redaction (HSM) as a
recording: evidence holds nothing a cassette may not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from vcr.request import Request as VcrRequest

from ..recording.scrub import Scrubber


def _body(raw: bytes | str | None) -> Any:
    if raw in (None, b"", ""):
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        return text


def exchange_record(
    scrubber: Scrubber, request: httpx.Request, response: httpx.Response, attempt: int
) -> dict[str, Any] | None:
    """One ARM exchange as evidence, scrubbed by the cassette profile; ``None`` for sign-in traffic."""
    scrubbed_request = scrubber.request(
        VcrRequest(request.method, str(request.url), request.content, dict(request.headers)), fresh=True
    )
    if scrubbed_request is None:
        return None
    headers: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        headers.setdefault(name, []).append(value)
    scrubbed_response = scrubber.response(
        {
            "status": {"code": response.status_code, "message": response.reason_phrase},
            "headers": headers,
            "body": {"string": response.content},
        },
        fresh=True,
    )
    return {
        "attempt": attempt,
        "request": {
            "method": scrubbed_request.method,
            "uri": scrubbed_request.uri,
            "headers": dict(scrubbed_request.headers),
            "body": _body(scrubbed_request.body),
        },
        "response": {
            "status": scrubbed_response["status"]["code"],
            "headers": {k: v[0] if len(v) == 1 else v for k, v in scrubbed_response["headers"].items()},
            "body": _body(scrubbed_response["body"]["string"]),
        },
    }


class ScenarioEvidence:
    """The evidence folder of one scenario (nothing is written when the run keeps no reports)."""

    def __init__(self, run_dir: Path | None, feature_file: str, slug: str) -> None:
        self.run_dir = run_dir
        self.directory = (
            run_dir / "evidence" / Path(feature_file).with_suffix("") / slug if run_dir is not None else None
        )
        self.files: list[str] = []
        self._count = 0

    def _write(self, name: str, text: str) -> Path | None:
        if self.directory is None or self.run_dir is None:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        path.write_text(text, encoding="utf-8")
        self.files.append(path.relative_to(self.run_dir).as_posix())
        return path

    def _attach(self, text: str, name: str, kind: str) -> None:
        import allure

        attachment_type = allure.attachment_type.JSON if kind == "json" else allure.attachment_type.YAML
        allure.attach(text, name=name, attachment_type=attachment_type)

    def add_json(self, stem: str, data: Any, *, attach: bool = True, compact: bool = False) -> None:
        """``compact`` writes one line: for large, machine-made pieces (a fleet cluster's reads),
        where indenting costs more than it helps a reader."""
        self._count += 1
        text = json.dumps(data, indent=None if compact else 2, ensure_ascii=False) + "\n"
        self._write(f"{self._count:03d}-{stem}.json", text)
        if attach:
            self._attach(text, stem, "json")

    def add_yaml(self, stem: str, data: Any, *, attach: bool = True) -> None:
        self._count += 1
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
        self._write(f"{self._count:03d}-{stem}.yaml", text)
        if attach:
            self._attach(text, stem, "yaml")

    def add_text(self, stem: str, text: str, *, attach: bool = True) -> None:
        """Plain text (a traceback): written, and attached to the step running now if any."""
        self._count += 1
        self._write(f"{self._count:03d}-{stem}.txt", text)
        if attach:
            import allure

            allure.attach(text, name=stem, attachment_type=allure.attachment_type.TEXT)

    def exchange(self, record: dict[str, Any]) -> None:
        """An ARM exchange, attached to the step that made it."""
        request = record["request"]
        last = request["uri"].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        self.add_json(f"arm-{request['method']}-{last}", record)
