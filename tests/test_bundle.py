"""A run directory is a signed bundle: any change to it is named, hostile manifests read nothing outside."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chsm_checks.errors import ConfigError
from chsm_checks.evidence.bundle import (
    MANIFEST,
    PUBLIC_KEY,
    SHARDS,
    SIGNATURE,
    SIGNER,
    BundleError,
    SigningKey,
    load_signing_key,
    merge,
    sign,
    verify,
    write_manifest,
)
from tests.support.opened import opened
from tests.support.processes import CliResult, run_cli

KEY_ENV = "CHSM_TEST_SIGNING_KEY"


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class Runs:
    """Two disjoint shards of the replayed catalogue, sealed by ``chsm-checks run`` with one key."""

    identity: Path
    others: Path
    public_key: Path
    private_key: Path
    run_output: str


def _run_dir(reports: Path) -> Path:
    return (reports / "latest").resolve()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("runs")
    key = Ed25519PrivateKey.generate()
    (base / "key.pem").write_bytes(_pem(key))
    (base / "key.pub.pem").write_bytes(_public_pem(key))
    by_path = run_cli(
        "run",
        "--reports",
        str(base / "a"),
        "-k",
        "identity",
        "--signing-key",
        str(base / "key.pem"),
        offline=True,
    )
    assert by_path.returncode == 0, by_path.output
    by_env = run_cli(
        "run",
        "--reports",
        str(base / "b"),
        "-k",
        "not identity",
        "--signing-key-env",
        KEY_ENV,
        offline=True,
        env_extra={KEY_ENV: _pem(key).decode()},
    )
    assert by_env.returncode == 0, by_env.output
    return Runs(
        _run_dir(base / "a"), _run_dir(base / "b"), base / "key.pub.pem", base / "key.pem", by_path.output
    )


@pytest.fixture
def bundle(runs: Runs, tmp_path: Path) -> Path:
    """A copy of a sealed run directory, to damage freely."""
    return Path(shutil.copytree(runs.identity, tmp_path / runs.identity.name))


def _reseal(run_dir: Path) -> None:
    sign(run_dir, load_signing_key(None, None))


# --- sealing ---------------------------------------------------------------------------------


def test_a_run_is_sealed_by_the_key_it_was_given(runs: Runs) -> None:
    assert "sealed" in runs.run_output
    assert "signed with the Ed25519 key from a key file" in runs.run_output
    for run_dir, source in ((runs.identity, "path"), (runs.others, "environment")):
        signer = json.loads((run_dir / SIGNER).read_text())
        assert signer["algorithm"] == "Ed25519"
        assert signer["trusted"] is True
        assert signer["source"] == source

        checked = verify(run_dir, runs.public_key)

        assert checked.ok, checked.report()
        assert checked.trusted
        assert checked.signer == signer


def test_the_manifest_lists_every_file_but_its_seal(runs: Runs) -> None:
    listed = [line.split("  ", 1)[1] for line in (runs.identity / MANIFEST).read_text().splitlines()]
    on_disk = sorted(p.relative_to(runs.identity).as_posix() for p in runs.identity.rglob("*") if p.is_file())

    assert listed == sorted(listed)
    assert set(on_disk) - set(listed) == {MANIFEST, SIGNATURE, PUBLIC_KEY}
    assert {SIGNER, "summary.json", "junit.xml", "cucumber.json"} <= set(listed)
    assert any(p.startswith("evidence/") for p in listed)
    assert any(p.startswith("allure-results/") for p in listed)


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum")
def test_sha256sum_checks_the_manifest(runs: Runs) -> None:
    result = subprocess.run(
        ["sha256sum", "--check", "--strict", "--quiet", MANIFEST],
        cwd=runs.identity,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_public_key_the_signature_holds_but_is_not_trusted(runs: Runs) -> None:
    checked = verify(runs.identity)

    assert checked.ok
    assert checked.signature_ok
    assert not checked.trusted
    assert "not signed by a trusted key" in checked.verdict


def test_a_generated_key_says_so(bundle: Path) -> None:
    key = load_signing_key(None, None)

    statement = sign(bundle, key)

    assert not key.trusted
    assert statement.startswith("not signed by a trusted key")
    signer = json.loads((bundle / SIGNER).read_text())
    assert signer["trusted"] is False
    assert signer["source"] == "generated for this run"
    assert signer["statement"] == statement
    checked = verify(bundle)
    assert checked.ok
    assert checked.verdict.endswith("not signed by a trusted key: the key was generated for this run")


def test_sealing_refuses_a_symbolic_link(bundle: Path, tmp_path: Path) -> None:
    (bundle / "evidence" / "link.json").symlink_to(tmp_path / "elsewhere.json")

    with pytest.raises(BundleError, match=r"evidence/link\.json: a symbolic link"):
        write_manifest(bundle)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a key", "not a PEM private key"),
        ("", "not a PEM private key"),
    ],
)
def test_a_bad_key_file_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(text)

    with pytest.raises(ConfigError, match=re.escape(f"--signing-key {key_file}: {message}")):
        load_signing_key(key_file, None)


def test_a_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    with pytest.raises(ConfigError, match="an Ed25519 key is needed"):
        load_signing_key(key_file, None)


def test_an_unset_key_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)

    with pytest.raises(ConfigError, match=f"--signing-key-env {KEY_ENV}: .*not set"):
        load_signing_key(None, KEY_ENV)


# --- tampering -------------------------------------------------------------------------------


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _first(bundle: Path, pattern: str) -> str:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.glob(pattern))[0]


@pytest.mark.parametrize(
    "victim",
    [
        "summary.json",
        "junit.xml",
        "cucumber.json",
        SIGNER,
        "evidence/*/*/*-provenance.json",
        "allure-results/*-result.json",
    ],
)
def test_a_one_byte_change_to_a_file_is_named(bundle: Path, victim: str) -> None:
    name = _first(bundle, victim)
    _flip_one_byte(bundle / name)

    checked = verify(bundle)

    assert not checked.ok
    assert checked.changed == [name]
    assert f"changed: {name}" in checked.report()


@pytest.mark.parametrize("victim", [MANIFEST, SIGNATURE, PUBLIC_KEY])
def test_a_one_byte_change_to_the_seal_breaks_the_signature(bundle: Path, victim: str) -> None:
    _flip_one_byte(bundle / victim)

    checked = verify(bundle)

    assert not checked.ok
    assert not checked.signature_ok
    assert victim in "\n".join(checked.problems)
    assert checked.verdict.endswith("signature does not hold")


def test_a_deleted_file_is_named(bundle: Path) -> None:
    name = _first(bundle, "evidence/*/*/*.json")
    (bundle / name).unlink()

    checked = verify(bundle)

    assert not checked.ok
    assert checked.missing == [name]
    assert checked.signature_ok


def test_an_added_file_is_named(bundle: Path) -> None:
    (bundle / "evidence" / "afterthought.json").write_text("{}")

    checked = verify(bundle)

    assert not checked.ok
    assert checked.extra == ["evidence/afterthought.json"]


def test_a_signature_by_another_key_does_not_hold(bundle: Path) -> None:
    manifest = (bundle / MANIFEST).read_bytes()
    forged = Ed25519PrivateKey.generate().sign(manifest)
    (bundle / SIGNATURE).write_text(base64.b64encode(forged).decode() + "\n")

    checked = verify(bundle)

    assert not checked.ok
    assert not checked.signature_ok
    assert f"{SIGNATURE}: does not hold over {MANIFEST}" in "\n".join(checked.problems)


def test_only_the_signer_s_public_key_makes_the_bundle_trusted(
    runs: Runs, bundle: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.pub.pem"
    other.write_bytes(_public_pem(Ed25519PrivateKey.generate()))

    assert verify(bundle, runs.public_key).trusted
    checked = verify(bundle, other)
    assert not checked.ok
    assert not checked.trusted
    assert f"with --public-key {other}" in "\n".join(checked.problems)


def test_a_resealed_bundle_is_not_trusted_with_the_original_key(runs: Runs, bundle: Path) -> None:
    _flip_one_byte(bundle / "matrix.md")
    _reseal(bundle)

    assert verify(bundle).ok
    assert not verify(bundle, runs.public_key).ok


def test_a_sealed_summary_that_is_not_a_summary_is_a_problem_naming_its_field(bundle: Path) -> None:
    summary = json.loads((bundle / "summary.json").read_text(encoding="utf-8"))
    summary["scenarios"][0]["outcome"] = "recounted"
    (bundle / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    _reseal(bundle)

    checked = verify(bundle)

    assert checked.signature_ok
    assert not checked.ok
    assert checked.problems == [
        "summary.json: scenarios[0].outcome: Input should be 'passed', 'failed', 'error', "
        "'not_applicable', 'waived' or 'not_run'; not a chsm-checks summary"
    ]


def test_a_signer_file_naming_another_key_is_a_problem(bundle: Path) -> None:
    key = load_signing_key(None, None)
    signer = json.loads((bundle / SIGNER).read_text())
    sign(bundle, key)
    (bundle / SIGNER).write_text(json.dumps(signer))
    write_manifest(bundle)
    manifest = (bundle / MANIFEST).read_bytes()
    (bundle / SIGNATURE).write_text(base64.b64encode(key.private_key.sign(manifest)).decode())

    checked = verify(bundle)

    assert checked.signature_ok
    assert not checked.ok
    assert f"{SIGNER}: names the key sha256:{signer['public_key_sha256']}" in checked.problems[0]


# --- hostile bundles -------------------------------------------------------------------------


def _sign_manifest(bundle: Path, lines: list[str]) -> None:
    """A manifest that holds a signature, so that only the checks of its lines can catch it."""
    key = Ed25519PrivateKey.generate()
    manifest = "".join(line + "\n" for line in lines).encode()
    (bundle / MANIFEST).write_bytes(manifest)
    (bundle / SIGNATURE).write_text(base64.b64encode(key.sign(manifest)).decode())
    (bundle / PUBLIC_KEY).write_bytes(_public_pem(key))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "{digest}  ../outside/secret.txt",
            "line {n}: a path out of the run directory: '../outside/secret.txt'",
        ),
        ("{digest}  {outside}/secret.txt", "line {n}: an absolute path: '{outside}/secret.txt'"),
        ("{digest}  evidence\\..\\..\\outside\\secret.txt", "line {n}: a backslash in the path"),
        ("{digest}  evidence//x.json", "line {n}: not a plain relative path"),
        ("{digest} *summary.json", "line {n}: malformed"),
        ("just some words", "line {n}: malformed: 'just some words'"),
        ("{digest}  evil/secret.txt", "line {n}: 'evil/secret.txt' passes through the symbolic link evil"),
    ],
)
def test_a_hostile_manifest_line_is_a_problem_and_nothing_outside_is_read(
    bundle: Path, tmp_path: Path, line: str, expected: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    digest = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"  # sha256("secret")
    if "evil" in line:
        (bundle / "evil").symlink_to(outside, target_is_directory=True)
    lines = (bundle / MANIFEST).read_text().splitlines()
    lines.append(line.format(digest=digest, outside=outside))
    _sign_manifest(bundle, lines)

    with opened() as paths:
        checked = verify(bundle)

    assert checked.signature_ok
    assert not checked.ok
    assert expected.format(n=len(lines), outside=outside) in "\n".join(checked.problems)
    assert not [p for p in paths if p and not Path(p).resolve().is_relative_to(bundle.resolve())]


def test_a_symbolic_link_in_the_tree_is_a_problem_and_not_followed(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (bundle / "evidence" / "escape").symlink_to(outside, target_is_directory=True)
    (bundle / "linked.json").symlink_to(outside / "secret.txt")

    with opened() as paths:
        checked = verify(bundle)

    assert not checked.ok
    assert "evidence/escape: a symbolic link; a bundle holds regular files only" in checked.problems
    assert "linked.json: a symbolic link; a bundle holds regular files only" in checked.problems
    assert checked.extra == []
    assert not [p for p in paths if p and not Path(p).resolve().is_relative_to(bundle.resolve())]


def test_a_bundle_reached_through_a_link_verifies(runs: Runs) -> None:
    assert verify(runs.identity.parent / "latest").ok


def test_a_bundle_without_a_seal_does_not_verify(bundle: Path) -> None:
    for name in (MANIFEST, SIGNATURE, PUBLIC_KEY):
        (bundle / name).unlink()

    checked = verify(bundle)

    assert not checked.ok
    assert {f"{MANIFEST}: not found", f"{SIGNATURE}: not found", f"{PUBLIC_KEY}: not found"} <= set(
        checked.problems
    )


# --- merging shards --------------------------------------------------------------------------


def _summary(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return data


def _trusted_key(runs: Runs) -> SigningKey:
    return load_signing_key(runs.private_key, None)


def test_merged_shards_verify_with_summed_counts(runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "merged"
    rebuilt: list[dict[str, Any]] = []
    key = SigningKey(Ed25519PrivateKey.generate(), trusted=True, source="path")

    merge(
        [runs.identity, runs.others],
        out,
        key,
        rebuild=lambda d: rebuilt.append(_summary(d)),
        shard_public_keys=[runs.public_key],
    )

    checked = verify(out)
    assert checked.ok, checked.report()
    merged, a, b = _summary(out), _summary(runs.identity), _summary(runs.others)
    assert rebuilt == [merged]
    assert merged["counts"] == {k: a["counts"][k] + b["counts"][k] for k in a["counts"]}
    assert len(merged["scenarios"]) == len(a["scenarios"]) + len(b["scenarios"])
    assert merged["started"] == min(a["started"], b["started"])
    assert merged["finished"] == max(a["finished"], b["finished"])
    assert merged["run_id"] == "merged"
    assert [m["run_id"] for m in merged["merged_from"]] == [a["run_id"], b["run_id"]]
    for shard in (runs.identity, runs.others):
        for name in ("junit.xml", "cucumber.json", "summary.json", MANIFEST, SIGNER):
            assert (out / "shards" / shard.name / name).read_bytes() == (shard / name).read_bytes()
    allure = {p.name for shard in (runs.identity, runs.others) for p in (shard / "allure-results").iterdir()}
    assert {p.name for p in (out / "allure-results").iterdir()} == allure
    for scenario in merged["scenarios"]:
        assert all((out / path).is_file() for path in scenario["evidence"])


def test_merge_refuses_an_input_that_does_not_verify(runs: Runs, bundle: Path, tmp_path: Path) -> None:
    _flip_one_byte(bundle / "matrix.md")
    out = tmp_path / "merged"

    with pytest.raises(BundleError, match=re.escape(f"{bundle}: does not verify (1 changed)")):
        merge([bundle, runs.others], out, load_signing_key(None, None))
    assert not out.exists()


def test_merge_refuses_runs_of_another_mode(runs: Runs, bundle: Path, tmp_path: Path) -> None:
    summary = _summary(bundle)
    (bundle / "summary.json").write_text(json.dumps(summary | {"mode": "live"}))
    _reseal(bundle)

    with pytest.raises(BundleError, match=r"mode 'replay' differs from .*'live'"):
        merge([bundle, runs.others], tmp_path / "merged", load_signing_key(None, None))


def test_merge_refuses_overlapping_shards(runs: Runs, tmp_path: Path) -> None:
    twin = Path(shutil.copytree(runs.identity, tmp_path / "twin"))

    with pytest.raises(BundleError, match="also ran in"):
        merge([runs.identity, twin], tmp_path / "merged", load_signing_key(None, None))


def test_merge_refuses_one_evidence_path_with_two_contents(runs: Runs, bundle: Path, tmp_path: Path) -> None:
    name = _first(runs.others, "evidence/*/*/*-provenance.json")
    (bundle / name).parent.mkdir(parents=True)
    (bundle / name).write_text("{}")
    _reseal(bundle)
    out = tmp_path / "merged"

    with pytest.raises(BundleError, match=re.escape(f"{name}: differs between")):
        merge([bundle, runs.others], out, load_signing_key(None, None))
    assert not out.exists()


# --- the command -----------------------------------------------------------------------------


def test_verify_command_with_the_signer_s_key(runs: Runs) -> None:
    result = run_cli("verify", str(runs.identity), "--public-key", str(runs.public_key))

    assert result.returncode == 0, result.output
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith(f"{runs.identity}: all ")
    assert "files match MANIFEST.sha256; signed by a trusted key (Ed25519 sha256:" in verdict


def test_verify_command_without_a_key_is_not_trusted(runs: Runs) -> None:
    result = run_cli("verify", str(runs.identity))

    assert result.returncode == 0, result.output
    assert "; not signed by a trusted key: give --public-key" in result.stdout


def test_verify_command_names_a_change_and_exits_1(bundle: Path) -> None:
    _flip_one_byte(bundle / "matrix.md")
    (bundle / MANIFEST).write_bytes((bundle / MANIFEST).read_bytes() + b"bad line\n")

    result = run_cli("verify", str(bundle))

    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert "changed: matrix.md" in lines
    assert f"problem: {MANIFEST} line" in result.stdout
    assert lines[-1].startswith(f"{bundle}: does not verify (1 changed, 2 problems)")
    assert lines[-1].endswith("; signature does not hold")
    assert "Traceback" not in result.output


def _one_line_usage_error(result: CliResult) -> str:
    assert result.returncode == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr.strip()


def test_verify_command_on_a_missing_directory_exits_2(tmp_path: Path) -> None:
    result = run_cli("verify", str(tmp_path / "nothing"))

    assert _one_line_usage_error(result) == f"chsm-checks: {tmp_path / 'nothing'}: no such directory"


def test_verify_command_with_an_unreadable_public_key_exits_2(runs: Runs, tmp_path: Path) -> None:
    result = run_cli("verify", str(runs.identity), "--public-key", str(tmp_path / "missing.pem"))

    assert _one_line_usage_error(result).startswith(f"chsm-checks: --public-key {tmp_path / 'missing.pem'}: ")


def test_run_with_a_bad_key_file_exits_2(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")

    result = run_cli("run", "--reports", str(tmp_path / "r"), "--signing-key", str(key_file))

    assert _one_line_usage_error(result) == (
        f"chsm-checks: --signing-key {key_file}: not a PEM private key (PKCS8, unencrypted)"
    )
    assert not (tmp_path / "r").exists()


def test_merge_command_seals_the_merged_bundle(runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "merged"

    result = run_cli("merge", str(runs.identity), str(runs.others), "--out", str(out))

    assert result.returncode == 0, result.output
    assert f"merged 2 runs into {out}: not signed by a trusted key" in result.stdout
    assert "the signers of the 2 shards were not verified" in result.stdout
    assert verify(out).ok


def test_merge_command_names_an_input_that_does_not_verify(runs: Runs, bundle: Path, tmp_path: Path) -> None:
    (bundle / "summary.json").unlink()

    result = run_cli("merge", str(bundle), str(runs.others), "--out", str(tmp_path / "merged"))

    assert result.returncode == 2
    assert result.stderr.startswith(f"chsm-checks: {bundle}: does not verify (1 missing)")
    assert "Traceback" not in result.output


# --- incomplete runs -------------------------------------------------------------------------


def _interrupt(
    bundle: Path, *, reason: str | None = "SIGTERM", ran: int = 1, complete: bool = False
) -> list[str]:
    """Make the bundle's summary that of a run stopped after ``ran`` scenarios, and reseal it; the
    scenarios it did not run, as verify names them."""
    summary = _summary(bundle)
    for scenario in summary["scenarios"][ran:]:
        scenario |= {"outcome": "not_run", "message": "did not run"}
    summary |= {"complete": False, "interrupted": reason}
    (bundle / "summary.json").write_text(json.dumps(summary, indent=2))
    _reseal(bundle)
    return [f"{s['feature_file']}: {s['name']}" for s in summary["scenarios"][ran:]]


def test_a_complete_run_says_nothing_of_incompleteness(runs: Runs) -> None:
    checked = verify(runs.identity)

    assert _summary(runs.identity)["complete"] is True
    assert checked.incomplete == []
    assert checked.not_run == []
    assert "INCOMPLETE" not in "\n".join(checked.report())


def test_an_interrupted_run_verifies_as_incomplete(bundle: Path) -> None:
    not_run = _interrupt(bundle)
    total = len(_summary(bundle)["scenarios"])

    checked = verify(bundle)

    assert checked.intact
    assert not checked.ok
    assert checked.not_run == not_run
    assert checked.incomplete == [
        "the run was interrupted (SIGTERM)",
        f"{len(not_run)} of {total} scenarios did not run",
    ]
    assert checked.verdict.startswith(
        f"{bundle}: all {checked.matched} files match {MANIFEST}; INCOMPLETE: the run was interrupted "
        f"(SIGTERM), {len(not_run)} of {total} scenarios did not run; "
    )
    assert [f"not run: {s}" for s in not_run] == [
        line for line in checked.report() if line.startswith("not run: ")
    ]


CRASH = "a pytest-xdist worker crashed while running 1 scenario(s)"


@pytest.mark.parametrize(
    ("reason", "all_ran", "expected"),
    [
        pytest.param(None, False, "{not_run} of {total} scenarios did not run", id="not-run-only"),
        pytest.param(CRASH, True, f"the run was interrupted ({CRASH})", id="crashed-worker"),
        pytest.param(None, True, "summary.json says the run is not complete", id="complete-false"),
    ],
)
def test_any_sign_of_a_partial_run_makes_it_incomplete(
    bundle: Path, reason: str | None, all_ran: bool, expected: str
) -> None:
    total = len(_summary(bundle)["scenarios"])
    not_run = _interrupt(bundle, reason=reason, ran=total if all_ran else 1)

    checked = verify(bundle)

    assert checked.intact
    assert not checked.ok
    assert checked.incomplete == [expected.format(not_run=len(not_run), total=total)]


def test_a_run_never_sealed_is_incomplete(bundle: Path) -> None:
    not_run = _interrupt(bundle)
    for name in (MANIFEST, SIGNATURE, PUBLIC_KEY):
        (bundle / name).unlink()

    checked = verify(bundle)

    assert not checked.ok
    assert checked.incomplete[0] == f"never sealed (no {MANIFEST}), the run stopped before its end"
    assert checked.not_run == not_run
    assert "INCOMPLETE: never sealed" in checked.verdict


def test_a_run_killed_before_its_summary_is_incomplete(bundle: Path) -> None:
    for name in (MANIFEST, SIGNATURE, PUBLIC_KEY, "summary.json"):
        (bundle / name).unlink()
    assert any((bundle / "evidence").iterdir()) or any((bundle / "allure-results").iterdir())

    checked = verify(bundle)

    assert checked.incomplete == [f"never sealed (no {MANIFEST}), the run stopped before its end"]


def test_a_directory_that_never_held_a_run_is_not_called_incomplete(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")

    checked = verify(tmp_path)

    assert not checked.ok
    assert checked.incomplete == []


def test_verify_command_says_incomplete_and_exits_1(bundle: Path) -> None:
    not_run = _interrupt(bundle)

    result = run_cli("verify", str(bundle))

    assert result.returncode == 1, result.output
    lines = result.stdout.strip().splitlines()
    assert [f"not run: {s}" for s in not_run] == [line for line in lines if line.startswith("not run: ")]
    assert "; INCOMPLETE: the run was interrupted (SIGTERM), " in lines[-1]
    assert "Traceback" not in result.output


def test_merge_refuses_an_incomplete_shard(runs: Runs, bundle: Path, tmp_path: Path) -> None:
    _interrupt(bundle)
    out = tmp_path / "merged"

    with pytest.raises(
        BundleError, match=re.escape(f"{bundle}: all ") + ".*INCOMPLETE: the run was interrupted"
    ):
        merge([bundle, runs.others], out, load_signing_key(None, None))
    assert not out.exists()


def test_report_reseals_an_incomplete_run_and_it_stays_incomplete(bundle: Path) -> None:
    not_run = _interrupt(bundle)

    result = run_cli("report", str(bundle))

    assert result.returncode == 0, result.output
    checked = verify(bundle)
    assert checked.intact
    assert checked.not_run == not_run
    assert not checked.ok


# --- trust across a merge --------------------------------------------------------------------


def _forged(runs: Runs, tmp_path: Path) -> Path:
    """What anyone can make: a copy of a genuine shard whose account is changed, sealed with the forger's
    own key (it verifies, with the key it carries)."""
    forged = Path(shutil.copytree(runs.identity, tmp_path / "forged"))
    summary = _summary(forged)
    summary["scenarios"][0]["message"] = "all is well (forged)"
    (forged / "summary.json").write_text(json.dumps(summary, indent=2))
    _reseal(forged)
    assert verify(forged).ok
    return forged


def _fingerprint_of(public_pem: Path) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    der = load_pem_public_key(public_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def test_a_forged_shard_never_comes_out_signed_by_a_trusted_key(runs: Runs, tmp_path: Path) -> None:
    forged = _forged(runs, tmp_path)
    out = tmp_path / "merged"
    trusted = ("--signing-key", str(runs.private_key))

    unverified = run_cli("merge", str(forged), str(runs.others), "--out", str(out), *trusted)
    # Whatever came out of it, verify with the trusted key must not accept it.
    laundered = run_cli("verify", str(out), "--public-key", str(runs.public_key)) if out.exists() else None

    assert _one_line_usage_error(unverified) == (
        "chsm-checks: merge: a trusted signing key would vouch for shards whose signers nobody checked; "
        "give --shard-public-key for the shards' signers, or merge without a signing key"
    )
    assert laundered is None
    assert not out.exists()
    refused = run_cli(
        "merge", str(forged), str(runs.others), "--out", str(out), *trusted,
        "--shard-public-key", str(runs.public_key),
    )  # fmt: skip
    signer = json.loads((forged / SIGNER).read_text())["public_key_sha256"]
    assert _one_line_usage_error(refused) == (
        f"chsm-checks: {forged}: signed by the key sha256:{signer}, which is none of the "
        "--shard-public-key keys; merge refuses a shard whose signer is not trusted"
    )
    assert not out.exists()


def test_a_merge_of_unverified_shards_resealed_with_a_trusted_key_does_not_verify_as_trusted(
    runs: Runs, tmp_path: Path
) -> None:
    """What today's merge made of a forged shard (merged unchecked, sealed with the trusted key), and
    what `chsm-checks report --signing-key` still can: the seal holds, the shards' signers do not."""
    forged = _forged(runs, tmp_path)
    out = tmp_path / "merged"
    merge([forged, runs.others], out, load_signing_key(None, None))
    sign(out, _trusted_key(runs))

    checked = verify(out, runs.public_key)

    assert checked.signature_ok
    assert not checked.ok
    signer = json.loads((forged / SIGNER).read_text())["public_key_sha256"]
    assert (
        f"{SHARDS}: shard forged: signed by the key sha256:{signer}, which nobody verified; "
        "give --shard-public-key to trust it"
    ) in checked.problems
    result = run_cli("verify", str(out), "--public-key", str(runs.public_key))
    assert result.returncode == 1, result.output
    # A verifier who trusts the shards' keys says so, and then each shard must be signed by one.
    assert not verify(out, runs.public_key, shard_public_keys=[runs.public_key]).ok
    genuine = tmp_path / "genuine"
    merge([runs.identity, runs.others], genuine, load_signing_key(None, None))
    sign(genuine, _trusted_key(runs))
    assert not verify(genuine, runs.public_key).ok
    assert verify(genuine, runs.public_key, shard_public_keys=[runs.public_key]).ok


def test_a_merged_bundle_records_each_shard_s_signer_under_its_manifest(runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "merged"

    merge([runs.identity, runs.others], out, _trusted_key(runs), shard_public_keys=[runs.public_key])

    listed = [line.split("  ", 1)[1] for line in (out / MANIFEST).read_text().splitlines()]
    assert SHARDS in listed
    record = json.loads((out / SHARDS).read_text())
    assert record["signers_verified"] is True
    fingerprint = _fingerprint_of(runs.public_key)
    for shard, entry in zip((runs.identity, runs.others), record["shards"], strict=True):
        assert entry["name"] == shard.name
        assert entry["run_id"] == _summary(shard)["run_id"]
        assert entry["manifest"] == f"shards/{shard.name}/{MANIFEST}"
        assert entry["manifest_sha256"] == hashlib.sha256((shard / MANIFEST).read_bytes()).hexdigest()
        assert entry["signature"] == (shard / SIGNATURE).read_text().strip()
        assert entry["public_key"] == (shard / PUBLIC_KEY).read_text()
        assert entry["public_key_sha256"] == fingerprint
        assert entry["verified"] is True
        assert entry["verified_against"] == f"sha256:{fingerprint}"
    checked = verify(out, runs.public_key)
    assert checked.ok, checked.report()
    assert checked.trusted
    assert checked.verdict.endswith("; the 2 shards are signed by trusted keys")
    # The reports built from the merged summary state the merge's seal, not a shard's.
    assert _summary(out)["signing"]["statement"].startswith("signed with the Ed25519 key from a key file")
    assert "the 2 shards' signers were verified" in _summary(out)["signing"]["statement"]
    result = run_cli(
        "verify", str(out), "--public-key", str(runs.public_key), "--shard-public-key", str(runs.public_key)
    )
    assert result.returncode == 0, result.output


def test_a_merge_without_shard_keys_says_so_and_is_not_trusted(runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "merged"

    merge([runs.identity, runs.others], out, load_signing_key(None, None))

    record = json.loads((out / SHARDS).read_text())
    assert record["signers_verified"] is False
    assert [e["verified"] for e in record["shards"]] == [False, False]
    assert [e["verified_against"] for e in record["shards"]] == [None, None]
    checked = verify(out)
    assert checked.ok
    assert not checked.trusted
    assert checked.verdict.endswith(
        "; the signers of the 2 shards were not verified (give --shard-public-key)"
    )
    assert _summary(out)["signing"]["trusted"] is False
    assert "were not verified" in _summary(out)["signing"]["statement"]


def test_merge_refuses_a_shard_key_that_is_not_a_public_key(runs: Runs, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")

    result = run_cli(
        "merge",
        str(runs.identity),
        str(runs.others),
        "--out",
        str(tmp_path / "m"),
        "--shard-public-key",
        str(bad),
    )

    assert (
        _one_line_usage_error(result)
        == f"chsm-checks: --shard-public-key {bad}: not a PEM Ed25519 public key"
    )
    assert not (tmp_path / "m").exists()


def _merged_then(runs: Runs, tmp_path: Path, damage: Any) -> Path:
    """A merged bundle of verified shards, changed by ``damage`` and sealed again by the merger."""
    out = tmp_path / "merged"
    merge([runs.identity, runs.others], out, _trusted_key(runs), shard_public_keys=[runs.public_key])
    damage(out)
    sign(out, _trusted_key(runs))
    return out


def _edit_shards(change: Any) -> Any:
    def damage(out: Path) -> None:
        record = json.loads((out / SHARDS).read_text())
        change(record["shards"][0])
        (out / SHARDS).write_text(json.dumps(record, indent=2))

    return damage


def _other_signature(entry: dict[str, Any]) -> None:
    entry["signature"] = base64.b64encode(Ed25519PrivateKey.generate().sign(b"x")).decode()


def _other_key(entry: dict[str, Any]) -> None:
    key = Ed25519PrivateKey.generate()
    entry["public_key"] = _public_pem(key).decode()


def _changed_evidence(out: Path) -> None:
    """Change a provenance file the first shard signed."""
    first = json.loads((out / SHARDS).read_text())["shards"][0]["manifest"]
    signed = [line.split("  ", 1)[1] for line in (out / first).read_text().splitlines()]
    (out / next(p for p in signed if p.endswith("-provenance.json"))).write_text("{}")


def _extra_evidence(out: Path) -> None:
    (out / "evidence" / "smuggled.json").write_text("{}")


def _changed_scenario(out: Path) -> None:
    summary = _summary(out)
    summary["scenarios"][0]["outcome"] = "passed"
    summary["scenarios"][0]["message"] = "changed after the merge"
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


def _no_shard_record(out: Path) -> None:
    (out / SHARDS).unlink()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        pytest.param(
            _edit_shards(_other_signature),
            "{SHARDS}: shard {name}: its signature does not hold over shards/{name}/{MANIFEST} with its key",
            id="signature",
        ),
        pytest.param(
            _edit_shards(_other_key),
            "{SHARDS}: shard {name}: its public key is not sha256:",
            id="public-key",
        ),
        pytest.param(
            _edit_shards(lambda e: e.update(manifest_sha256="0" * 64)),
            "{SHARDS}: shard {name}: shards/{name}/{MANIFEST} is not the manifest it names (sha256:",
            id="manifest-digest",
        ),
        pytest.param(_changed_evidence, "differs from what shard {name} signed", id="evidence-changed"),
        pytest.param(
            _extra_evidence, "evidence/smuggled.json: in no shard's manifest", id="evidence-from-no-shard"
        ),
        pytest.param(
            _changed_scenario,
            "summary.json: its scenarios are not the shards' scenarios",
            id="scenario-changed",
        ),
        pytest.param(
            _no_shard_record,
            "summary.json: merged from 2 shards, but {SHARDS} does not record their signers",
            id="no-shard-record",
        ),
    ],
)
def test_verify_rechecks_each_shard_of_a_merged_bundle(
    runs: Runs, tmp_path: Path, damage: Any, expected: str
) -> None:
    out = _merged_then(runs, tmp_path, damage)

    checked = verify(out, runs.public_key)

    assert checked.signature_ok
    assert not checked.ok
    wanted = expected.format(SHARDS=SHARDS, MANIFEST=MANIFEST, name=runs.identity.name)
    assert any(wanted in problem for problem in checked.problems), checked.problems
    assert "Traceback" not in "\n".join(checked.report())


def test_a_hostile_shard_record_reads_nothing_outside_the_bundle(runs: Runs, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / MANIFEST).write_text("")
    out = _merged_then(
        runs,
        tmp_path,
        _edit_shards(lambda e: e.update(name="../../outside", manifest="../../outside/" + MANIFEST)),
    )

    with opened() as paths:
        checked = verify(out, runs.public_key)

    assert not checked.ok
    assert f"{SHARDS}: shard '../../outside': not a shard name" in "\n".join(checked.problems)
    outside_reads = [p for p in paths if p and not Path(p).resolve().is_relative_to(out.resolve())]
    assert outside_reads == [str(runs.public_key)]  # the key it was given, and nothing the record names
