"""Secret canaries: a recording run given a distinctive value of every kind of secret it may meet
writes none of them, in any encoding, to any file, nor prints one.

Each canary is first shown to have been there to leak — the sandbox saw it come back on the wire,
sent it, or the run was given it and used it — or the search below would prove nothing.

- bearer token: a JWT from a loopback sign-in (azure-identity's EnvironmentCredential, through
  ``AZURE_AUTHORITY_HOST``), sent on every ARM request; refresh token: in the token response;
  client secret: in the run's environment, sent to the token endpoint;
- storage account key: on every storage account the sandbox serves (``keys``, listKeys' shape);
- SAS signature and the signed parameters of status URLs: ``sig``, ``t``, ``c``, ``s``, ``h`` on every
  ``location`` the sandbox hands out, sent back by every poll;
- tenant, principal, client and operator object ids, where the scrub profile removes them: in the
  identity, the role assignments and ``x-ms-operation-identifier``; the operator's id is also the
  token's ``oid``, and the caller's tenant its ``tid`` (LIVE provenance names the operator by a keyed
  pseudonym and names no tenant); the sign-in's tenant and client ids, in the run's environment;
- HSM passwords: the crypto user's, typed at the utilities' prompts; the crypto officer's, which the
  harness never types, in the run's environment and as the clusters' CO password;
- the pseudonym key the run generated: never seen by the test, so it is searched for by what it
  does — no hex or base64 string in any file or output is a key under which the operator's object
  id has the pseudonym the provenance shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import yaml

from chsm_checks.recording.gate import inspect_recordings
from tests.support.processes import project_copy, run_cli, sandbox_process, summary
from tests.support.sign_in import sign_in_server


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# Ids keep the sandbox's 5a4db0c5 prefix: obviously synthetic, never a real Azure id. They differ in
# the middle, so that the base64 forms of one (edges cut off) are not forms of another.
TENANT_ID = "5a4db0c5-7e4a-4a11-8c01-ca7a00000001"
PRINCIPAL_ID = "5a4db0c5-9a1c-4b22-8c02-ca7a00000002"
CLIENT_ID = "5a4db0c5-c11e-4c33-8c03-ca7a00000003"
OPERATOR_ID = "5a4db0c5-0be7-4d44-8c04-ca7a00000004"
CALLER_TENANT = "5a4db0c5-ca11-4000-8000-000000000001"  # the token's tid
SIGN_IN_TENANT = "5a4db0c5-ca11-4000-8000-000000000002"
SIGN_IN_CLIENT = "5a4db0c5-ca11-4000-8000-000000000003"
BEARER_TOKEN = ".".join(
    (
        _b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "chsm-canary-kid"}).encode()),
        _b64url(
            json.dumps(
                {"tid": CALLER_TENANT, "oid": OPERATOR_ID, "exp": int(time.time()) + 3600, "c": "canary"}
            ).encode()
        ),
        _b64url(b"chsm-canary-bearer-token-signature-7f3a"),
    )
)
CANARIES = {
    "bearer token": BEARER_TOKEN,
    "bearer token signature": BEARER_TOKEN.rsplit(".", 1)[1],
    "refresh token": "0.AQcanary-refresh-token_Zx81.Qp2-Rt7vCanaryRefresh",
    "client secret": "Cnr8Q~canary.client-secret_5s0Lk2Vb7Qx1Zt",
    "storage account key": "CanaryStorageAccountKey+ChsmChecks/" * 2 + "CanaryStorageKey==",
    "SAS signature": "CanarySasSig+0x7d/ChsmChecksSignature12345=",
    "status URL t": "638000000000731773",
    "status URL c": _b64url(b"chsm-canary-status-url-certificate-c"),
    "status URL s": _b64url(b"chsm-canary-status-url-signature-s"),
    "status URL h": _b64url(b"chsm-canary-status-url-hash-h!"),
    "tenant id": TENANT_ID,
    "principal id": PRINCIPAL_ID,
    "client id": CLIENT_ID,
    "operator object id": OPERATOR_ID,
    "caller tenant id": CALLER_TENANT,
    "sign-in tenant id": SIGN_IN_TENANT,
    "sign-in client id": SIGN_IN_CLIENT,
    "HSM CU password": "Canary-CU-pw_4417!k",
    "HSM CO password": "Canary-CO-pw_9052#q",
}
SIGN_IN = {
    "tenant_id": SIGN_IN_TENANT,
    "client_id": SIGN_IN_CLIENT,
    "client_secret": CANARIES["client secret"],
    "access_token": BEARER_TOKEN,
    "refresh_token": CANARIES["refresh token"],
}


def _base64_forms(raw: bytes) -> Iterator[str]:
    """The base64 text of ``raw`` wherever it sits in a longer stream: at each of the three byte
    offsets, only the characters that depend on ``raw`` alone (so a secret mid-stream is found)."""
    yield base64.b64encode(raw).decode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        yield encoded[4 if offset else 0 : (offset + len(raw)) // 3 * 4]


def forms(secret: str) -> set[str]:
    """``secret`` as it could appear in a file: plain, URL-encoded, JSON-escaped, base64 (standard and
    URL-safe, with and without padding, at every byte offset); ids in either case."""
    found = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    found |= {json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace("/", "\\/")}
    if re.fullmatch(r"[0-9a-f-]{36}", secret):
        found.add(secret.upper())
    for encoded in list(_base64_forms(secret.encode())):
        found |= {encoded, encoded.rstrip("="), encoded.translate(str.maketrans("+/", "-_")).rstrip("=")}
        found.add(encoded.translate(str.maketrans("+/", "-_")))
    return {f for f in found if len(f) >= 12}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, bytes):
        yield node.decode("utf-8", "replace")
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def haystacks(path: Path) -> list[str]:
    """What to search in one file: its text, that text without whitespace (base64 wrapped in lines),
    and for YAML and JSON every string it holds, unescaped."""
    text = path.read_bytes().decode("utf-8", "replace")
    found = [text, re.sub(r"\s+", "", text)]
    try:
        if path.suffix in (".yaml", ".yml"):
            found.append("\n".join(_strings(yaml.safe_load(text))))
        elif path.suffix == ".json":
            found.append("\n".join(_strings(json.loads(text))))
    except (yaml.YAMLError, ValueError):
        pass  # searched as text above
    return found


def leaks(paths: list[Path], outputs: dict[str, str], secrets: dict[str, str]) -> list[tuple[str, str]]:
    """``(where, kind)`` for every secret found in a file or an output, in any of its forms."""
    places = {str(p): haystacks(p) for p in paths} | {k: [v] for k, v in outputs.items()}
    return [
        (where, kind)
        for where, texts in places.items()
        for kind, secret in secrets.items()
        if any(form in text for text in texts for form in forms(secret))
    ]


PSEUDONYM = re.compile(r"pseudonym-([0-9a-f]{32})")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{64,}")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{43,}={0,2}")


def live_pseudonyms(report: dict[str, Any]) -> set[str]:
    """The operator pseudonyms the LIVE provenance of a run's scenarios names."""
    return {
        str(e["provenance"]["object_id"])
        for e in report["scenarios"]
        if e["provenance"].get("kind") == "LIVE" and "object_id" in e["provenance"]
    }


def object_id_pseudonym(key: bytes, object_id: str) -> str:
    """The pseudonym README promises: HMAC-SHA256 under the key, its first 128 bits in hex."""
    digest = hmac.new(key, b"chsm-checks object id:" + object_id.lower().encode(), hashlib.sha256)
    return "pseudonym-" + digest.hexdigest()[:32]


def _key_candidates(text: str, depth: int = 0) -> Iterator[bytes]:
    """Every 32-byte value ``text`` spells in hex or base64, at any offset; long base64 runs are
    decoded as well and searched once more (an attachment carrying a key)."""
    for run in _HEX_RUN.findall(text):
        for start in range(len(run) - 63):
            yield bytes.fromhex(run[start : start + 64])
    for run in _BASE64_RUN.findall(text):
        standard = run.rstrip("=").translate(str.maketrans("-_", "+/"))
        if len(standard) <= 400:
            for start in range(len(standard) - 42):
                yield base64.b64decode(standard[start : start + 43] + "=")
        elif depth == 0:
            for start in range(4):
                chunk = standard[start:]
                chunk = chunk[: len(chunk) // 4 * 4]
                yield from _key_candidates(base64.b64decode(chunk).decode("utf-8", "replace"), depth + 1)


def pseudonym_keys(paths: list[Path], outputs: dict[str, str], object_id: str, pseudonym: str) -> list[str]:
    """Where a key under which ``object_id`` has ``pseudonym`` is written, in hex or base64."""
    places = {str(p): haystacks(p) for p in paths} | {k: [v] for k, v in outputs.items()}
    return [
        where
        for where, texts in places.items()
        if any(object_id_pseudonym(k, object_id) == pseudonym for t in texts for k in _key_candidates(t))
    ]


def _files(root: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def test_no_secret_canary_reaches_any_file_the_record_run_wrote_or_its_output(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    for old in (project / "cassettes").rglob("*.yaml"):
        old.unlink()
    (tmp_path / "tmp").mkdir()
    reports = tmp_path / "reports"
    with (
        sign_in_server(tmp_path, **SIGN_IN) as sign_in,
        sandbox_process(project / ".sandbox") as sandbox,
    ):
        state = sandbox.get("/_sandbox/state")
        identity = next(r for r in state["resources"] if r["type"].endswith("userAssignedIdentities"))
        plan = {
            "status_url": {
                "t": CANARIES["status URL t"],
                "c": CANARIES["status URL c"],
                "s": CANARIES["status URL s"],
                "h": CANARIES["status URL h"],
                "sig": CANARIES["SAS signature"],
            },
            "storage_account_key": CANARIES["storage account key"],
            "ids": {
                state["tenant_id"]: TENANT_ID,
                state["operator_principal_id"]: OPERATOR_ID,
                identity["properties"]["principalId"]: PRINCIPAL_ID,
                identity["properties"]["clientId"]: CLIENT_ID,
            },
            "watch": CANARIES,
        }
        httpx.put(f"{sandbox.url}/_sandbox/canaries", json=plan, timeout=30).raise_for_status()
        # The restore copies the source's users to the destination, whose only user until then is its
        # pre-crypto officer.
        for cluster, user, kind in (
            ("chsm-source", "cu1", "HSM CU password"),
            ("chsm-source", "admin", "HSM CO password"),
            ("chsm-dest", "admin", "HSM CO password"),
        ):
            httpx.patch(
                f"{sandbox.url}/_sandbox/hsm/{cluster}/users/{user}",
                json={"password": CANARIES[kind]},
                timeout=5,
            ).raise_for_status()
        # No identity setting: the operator's object id is pseudonymised under a key the run generates.
        before = _files(project)
        environment = sign_in.environment() | {
            "CHSM_SANDBOX_CU_PASSWORD": CANARIES["HSM CU password"],
            "HSM_CO_PASSWORD": CANARIES["HSM CO password"],
            "TMPDIR": str(tmp_path / "tmp"),
        }
        result = run_cli(
            "run", "--mode", "record", "--allow-mutations", "--target", "targets/sandbox.toml",
            *sandbox.addressed, "--reports", str(reports), cwd=project, env_extra=environment,
        )  # fmt: skip
        wire = sandbox.get("/_sandbox/canaries")

    assert result.returncode == 0, result.output
    # There to leak: sent to the run (the token response carries the bearer and refresh tokens), or
    # sent back by it.
    assert sign_in.tokens_issued >= 1
    assert {r["client_secret"] for r in sign_in.token_requests} == {CANARIES["client secret"]}
    seen, sent = wire["seen"], wire["sent"]
    for kind in ("bearer token", "status URL t", "status URL c", "status URL s", "status URL h"):
        assert seen.get(kind, 0) > 0, f"the sandbox never saw the {kind} come back"
    assert seen.get("SAS signature", 0) > 0
    assert seen.get("principal id", 0) > 0  # the role-assignment listing's $filter
    for kind in ("storage account key", "tenant id", "client id", "operator object id", "SAS signature"):
        assert sent.get(kind, 0) > 0, f"the sandbox never sent the {kind}"
    outcomes = {e["name"]: e["outcome"] for e in summary(reports)["scenarios"]}
    assert set(outcomes.values()) == {"passed"}  # the CU canary is the only password that logs in
    assert outcomes["Every node answers success for the login and for findKey"] == "passed"

    written = [
        p for p, stamp in _files(project).items() if before.get(p) != stamp and ".sandbox" not in p.parts
    ]
    written += [*_files(reports), *_files(tmp_path / "tmp")]
    names = {p.name for p in written}
    run_dir = (reports / "latest").resolve()
    assert any(n.endswith(".transcript.yaml") for n in names)
    assert {"summary.json", "junit.xml", "cucumber.json", "matrix.html", "assessment-results.json"} <= names
    assert any(p.is_relative_to(run_dir / "allure-results") for p in written)
    assert any(p.is_relative_to(run_dir / "evidence") for p in written)
    # LIVE provenance read the token: it names a pseudonym for the operator, and no tenant.
    pseudonyms = live_pseudonyms(summary(reports))
    assert len(pseudonyms) == 1, pseudonyms
    assert not any("tenant_id" in e["provenance"] for e in summary(reports)["scenarios"])
    # The search sees into the HTML report's base64 attachments: evidence that is there is found.
    html = run_dir / "allure-report" / "index.html"
    if html.exists():
        assert leaks([html], {}, {"control": '"name": "chsmbackupsbx"'}) != []

    found = leaks(written, {"stdout": result.stdout, "stderr": result.stderr}, CANARIES)
    assert found == [], "\n".join(f"{kind} in {where}" for where, kind in found)
    outputs = {"stdout": result.stdout, "stderr": result.stderr}
    assert pseudonym_keys(written, outputs, OPERATOR_ID, pseudonyms.pop()) == []
    # What the run recorded passes the committed-recording gate as it is.
    gate = inspect_recordings(project / "cassettes")
    assert (gate.problems, gate.unusable) == ([], [])


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_the_search_finds_a_secret_base64_encoded_at_any_offset_inside_a_stream(
    encode: Any, offset: int
) -> None:
    secret = CANARIES["client secret"]
    stream = encode(b"x" * offset + b'{"secret": "' + secret.encode() + b'", "more": 1}').decode()

    assert any(form in stream for form in forms(secret))
    assert any(form in stream.rstrip("=") for form in forms(secret))


@pytest.mark.parametrize(
    "spell",
    [
        lambda key: key.hex(),
        lambda key: key.hex().upper(),
        lambda key: base64.b64encode(key).decode(),
        lambda key: base64.urlsafe_b64encode(key).decode().rstrip("="),
        lambda key: base64.b64encode(
            json.dumps({"pad": "z" * 400, "k": base64.b64encode(key).decode()}).encode()
        ).decode(),
    ],
    ids=["hex", "HEX", "base64", "base64url", "inside-a-base64-attachment"],
)
def test_the_search_finds_a_pseudonym_key_however_it_is_spelled(tmp_path: Path, spell: Any) -> None:
    key = bytes(range(7, 39))
    written = tmp_path / "evidence.json"
    written.write_text(json.dumps({"note": "x" + spell(key) + "y", "sha256": "ab" * 32}))
    pseudonym = object_id_pseudonym(key, OPERATOR_ID)

    assert pseudonym_keys([written], {}, OPERATOR_ID, pseudonym) == [str(written)]
    assert pseudonym_keys([written], {}, OPERATOR_ID, object_id_pseudonym(b"k" * 32, OPERATOR_ID)) == []
