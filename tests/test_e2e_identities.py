"""Who ran the checks, end to end: live runs that sign in (a loopback Entra stand-in) against the
sandbox, and what their bundles say of the identity.

The operator's object id (the token's ``oid``) appears in a bundle only as a keyed pseudonym: the
same under the key a target names, a different one in every run without it; the caller's tenant
(``tid``) not at all. Both appear in clear, and only in provenance, when the target asks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import CliResult, Sandbox, project_copy, run_cli, sandbox_process, summary
from tests.support.sign_in import SignIn, sign_in_server
from tests.test_e2e_secrets import (
    CALLER_TENANT,
    CLIENT_ID,
    OPERATOR_ID,
    PRINCIPAL_ID,
    SIGN_IN,
    TENANT_ID,
    _files,
    leaks,
    live_pseudonyms,
    object_id_pseudonym,
    pseudonym_keys,
)

KEY_ENV = "CHSM_PSEUDONYM_KEY"
KEY = b"chsm-canary-pseudonym-key-5a4db0"  # 32 bytes
IDS = {
    "operator object id": OPERATOR_ID,
    "caller tenant id": CALLER_TENANT,
    "tenant id": TENANT_ID,
    "principal id": PRINCIPAL_ID,
    "client id": CLIENT_ID,
    "unsalted hash of the operator id": hashlib.sha256(OPERATOR_ID.encode()).hexdigest()[:16],
}


@dataclass
class Live:
    project: Path
    sandbox: Sandbox
    sign_in: SignIn


@dataclass
class Run:
    result: CliResult
    report: dict[str, object]
    written: list[Path]

    @property
    def outputs(self) -> dict[str, str]:
        return {"stdout": self.result.stdout, "stderr": self.result.stderr}

    @property
    def pseudonym(self) -> str:
        [pseudonym] = live_pseudonyms(self.report)
        return pseudonym


def _rename_ids(sandbox: Sandbox) -> None:
    """The sandbox's identity ids become the canaries, so that a leak of any is found by value."""
    state = sandbox.get("/_sandbox/state")
    identity = next(r for r in state["resources"] if r["type"].endswith("userAssignedIdentities"))
    plan = {
        "ids": {
            state["tenant_id"]: TENANT_ID,
            state["operator_principal_id"]: OPERATOR_ID,
            identity["properties"]["principalId"]: PRINCIPAL_ID,
            identity["properties"]["clientId"]: CLIENT_ID,
        },
        "watch": {"operator object id": OPERATOR_ID},
    }
    httpx.put(f"{sandbox.url}/_sandbox/canaries", json=plan, timeout=30).raise_for_status()


@pytest.fixture(scope="module")
def sign_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignIn]:
    with sign_in_server(tmp_path_factory.mktemp("sign-in"), **SIGN_IN) as server:
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sign_in: SignIn) -> Iterator[Live]:
    project = project_copy(tmp_path_factory.mktemp("live"))
    with sandbox_process(project / ".sandbox") as sandbox:
        _rename_ids(sandbox)
        yield Live(project, sandbox, sign_in)


def _run(live: Live, tmp_path: Path, settings: str = "", env: dict[str, str] | None = None) -> Run:
    """``chsm-checks run --mode live`` of the identity scenarios, with ``settings`` atop the sandbox
    target; everything the run wrote."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "target.toml"
    text = (live.project / "targets" / "sandbox.toml").read_text(encoding="utf-8")
    target.write_text(settings + "\n" + text)
    reports = tmp_path / "reports"
    result = run_cli(
        "run", "--mode", "live", "--target", str(target), *live.sandbox.addressed,
        "--reports", str(reports), "-k", "identity",
        "--no-html", cwd=live.project, env_extra=live.sign_in.environment() | (env or {}),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    return Run(result, summary(reports), list(_files(reports)))


def test_a_named_key_gives_one_pseudonym_in_every_run_and_is_written_nowhere(
    live: Live, tmp_path: Path
) -> None:
    keyed = f'pseudonym_key_env = "{KEY_ENV}"'
    first = _run(live, tmp_path / "1", keyed, {KEY_ENV: KEY.hex()})
    second = _run(live, tmp_path / "2", keyed, {KEY_ENV: KEY.hex().upper()})

    assert first.pseudonym == second.pseudonym == object_id_pseudonym(KEY, OPERATOR_ID)
    assert live.sandbox.get("/_sandbox/canaries")["seen"].get("operator object id", 0) == 0
    for run in (first, second):
        assert leaks(run.written, run.outputs, IDS | {"pseudonym key": KEY.hex()}) == []
        assert pseudonym_keys(run.written, run.outputs, OPERATOR_ID, run.pseudonym) == []


def test_without_a_key_every_run_names_the_operator_by_another_pseudonym(live: Live, tmp_path: Path) -> None:
    first, second = _run(live, tmp_path / "1"), _run(live, tmp_path / "2")

    assert first.pseudonym.startswith("pseudonym-")
    assert first.pseudonym != second.pseudonym
    assert object_id_pseudonym(KEY, OPERATOR_ID) not in (first.pseudonym, second.pseudonym)
    for run in (first, second):
        found = leaks(run.written, run.outputs, IDS)
        assert found == [], "\n".join(f"{kind} in {where}" for where, kind in found)
        assert pseudonym_keys(run.written, run.outputs, OPERATOR_ID, run.pseudonym) == []
        provenance = [e["provenance"] for e in run.report["scenarios"]]  # type: ignore[attr-defined]
        assert all("generated for this run" in p["pseudonym"] for p in provenance)


def test_ids_are_in_clear_only_when_the_target_asks_and_only_in_provenance(
    live: Live, tmp_path: Path
) -> None:
    run = _run(live, tmp_path, "identities_in_clear = true")

    for entry in run.report["scenarios"]:  # type: ignore[attr-defined]
        assert entry["provenance"]["object_id"] == OPERATOR_ID
        assert entry["provenance"]["tenant_id"] == CALLER_TENANT
    in_clear = {
        where
        for where, _ in leaks(
            run.written, {}, {k: IDS[k] for k in ("operator object id", "caller tenant id")}
        )
    }
    run_dir = (tmp_path / "reports" / "latest").resolve()
    named = {Path(w).relative_to(run_dir).as_posix() for w in in_clear}
    assert {"summary.json", "oscal/assessment-results.json"} <= named
    assert all(
        n in ("summary.json", "oscal/assessment-results.json") or n.endswith("-provenance.json")
        for n in named
    ), named
    others = {k: v for k, v in IDS.items() if k not in ("operator object id", "caller tenant id")}
    assert leaks(run.written, run.outputs, others) == []


def test_a_named_key_variable_that_is_unset_stops_the_run_with_one_line(live: Live, tmp_path: Path) -> None:
    target = tmp_path / "target.toml"
    target.write_text(
        f'pseudonym_key_env = "{KEY_ENV}"\n' + (live.project / "targets" / "sandbox.toml").read_text()
    )
    reports = tmp_path / "reports"

    result = run_cli(
        "run", "--mode", "live", "--target", str(target), "--reports", str(reports), cwd=live.project,
        env_extra=live.sign_in.environment(),
    )  # fmt: skip

    assert result.returncode == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"chsm-checks: {target}: pseudonym_key_env: the environment variable {KEY_ENV} is not set or empty; "
        "it must hold the pseudonym key in hex, at least 16 random bytes (openssl rand -hex 32)"
    ]
    assert not reports.exists()


def test_workers_of_one_run_name_the_operator_by_one_pseudonym(sign_in: SignIn, tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    with sandbox_process(
        project / ".sandbox", "--fleet-clusters", "6", "--fleet-subscriptions", "2"
    ) as sandbox:
        reports = tmp_path / "reports"
        result = run_cli(
            "run", "--mode", "live", "--target", "targets/sandbox-fleet.toml", *sandbox.addressed,
            "--reports", str(reports),
            "-n", "2", "--no-html", cwd=project, env_extra=sign_in.environment(),
        )  # fmt: skip

    report = summary(reports)
    assert len(report["scenarios"]) >= 6, result.output
    threads = {  # allure-pytest names the process each test ran in: two workers, two processes
        label["value"].split("-")[0]
        for path in ((reports / "latest").resolve() / "allure-results").glob("*-result.json")
        for label in json.loads(path.read_text(encoding="utf-8"))["labels"]
        if label["name"] == "thread"
    }
    assert len(threads) == 2, (threads, result.output)
    pseudonyms = live_pseudonyms(report)
    assert len(pseudonyms) == 1, pseudonyms
    assert next(iter(pseudonyms)).startswith("pseudonym-")
    assert OPERATOR_ID not in json.dumps(report)
