"""A password planted for a recording appears in no file the run wrote, in any encoding."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx

from tests.support.processes import project_copy, run_cli, sandbox_process

CANARY = "Canary-Pw_7731!x"


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def test_the_hsm_password_used_to_record_is_nowhere_in_what_the_run_wrote(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    for old in (project / "cassettes").rglob("*.yaml"):
        old.unlink()
    reports = tmp_path / "reports"
    with sandbox_process(project / ".sandbox") as sandbox:
        httpx.patch(
            f"{sandbox.url}/_sandbox/hsm/chsm-source/users/cu1", json={"password": CANARY}
        ).raise_for_status()
        target = project / "targets" / "sandbox.toml"
        target.write_text(target.read_text().replace("http://127.0.0.1:8765", sandbox.url))
        result = run_cli(
            "run", "--mode", "record", "--allow-mutations", "--target", "targets/sandbox.toml",
            "--reports", str(reports), cwd=project, env_extra={"CHSM_SANDBOX_CU_PASSWORD": CANARY},
        )  # fmt: skip

    assert result.returncode == 0, result.output
    written = [p for root in (project / "cassettes", reports) for p in root.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".transcript.yaml") for p in written)
    assert any(p.name == "hsm-source-inventory.json" for p in written)
    haystacks = {str(p): p.read_bytes().decode("utf-8", "replace") for p in written}
    haystacks["(stdout and stderr)"] = result.output
    leaks = [(where, form) for where, text in haystacks.items() for form in _forms(CANARY) if form in text]
    assert leaks == []
