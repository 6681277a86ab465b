"""Who ran the checks, as LIVE provenance names it: a keyed pseudonym by default, ids in clear only on
request, and nothing at all in replay.

The credential is a seam here (a fake that hands out a JWT with known ``oid`` and ``tid``); the
end-to-end proofs that no id reaches a file are in ``tests/test_e2e_secrets.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from chsm_checks.modes import mode_named
from chsm_checks.recording.provenance import replay_provenance
from chsm_checks.services.identity import RunIdentity
from chsm_checks.services.settings import RunSettings
from chsm_checks.target import load_target

OBJECT_ID = "5a4db0c5-0be7-4d44-8c04-ca7a00000004"
TENANT_ID = "5a4db0c5-ca11-4000-8000-000000000001"
KEY_ENV = "CHSM_TEST_PSEUDONYM_KEY"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
ROOT = Path(__file__).resolve().parent.parent
CASSETTE = ROOT / "cassettes" / "identity" / "each_cluster_has_exactly_one_user_assigned_identity.yaml"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class _Credential:
    """A signed-in identity whose access token names ``claims``."""

    def __init__(self, **claims: Any) -> None:
        body = claims | {"exp": int(time.time()) + 3600}
        self.token = ".".join(
            (_b64url(b'{"alg":"none"}'), _b64url(json.dumps(body).encode()), _b64url(b"signature"))
        )

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def _target(tmp_path: Path, extra: str = "") -> Path:
    text = (ROOT / "targets" / "sandbox.toml").read_text(encoding="utf-8")
    path = tmp_path / "target.toml"
    path.write_text(extra + "\n" + text, encoding="utf-8")
    return path


def _run(target: Path, mode: str = "live", **claims: Any) -> RunIdentity:
    settings = RunSettings(
        mode=mode_named(mode),
        target=load_target(target),
        cassette_dir=ROOT / "cassettes",
        allow_mutations_flag=False,
    )
    named = {"oid": OBJECT_ID, "tid": TENANT_ID} | claims
    credential = _Credential(**{claim: value for claim, value in named.items() if value is not None})
    return RunIdentity(settings, credential)  # type: ignore[arg-type]


def _provenance(run: RunIdentity, mode: str = "live") -> dict[str, Any]:
    return mode_named(mode).scenario_provenance(CASSETTE, None, run.live_facts)


def _hmac_pseudonym(key: bytes, object_id: str) -> str:
    digest = hmac.new(key, b"chsm-checks object id:" + object_id.encode(), hashlib.sha256).hexdigest()
    return "pseudonym-" + digest[:32]


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY.hex())
    return _target(tmp_path, f'pseudonym_key_env = "{KEY_ENV}"')


def test_the_pseudonym_is_an_hmac_of_the_object_id_under_the_named_key(keyed: Path) -> None:
    identity = _run(keyed).identity_used()

    assert identity["object_id"] == _hmac_pseudonym(KEY, OBJECT_ID)
    assert KEY_ENV in identity["pseudonym"]
    assert "HMAC-SHA256" in identity["pseudonym"]


def test_the_same_id_and_key_give_the_same_pseudonym_in_every_run(keyed: Path) -> None:
    first, second = _run(keyed).identity_used(), _run(keyed).identity_used()

    assert first["object_id"] == second["object_id"]
    assert _run(keyed, oid=OBJECT_ID.upper()).identity_used()["object_id"] == first["object_id"]


def test_another_key_or_another_id_gives_another_pseudonym(
    keyed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_key = _run(keyed).identity_used()["object_id"]
    other_id = _run(keyed, oid="5a4db0c5-0be7-4d44-8c04-ca7a00000005").identity_used()["object_id"]
    monkeypatch.setenv(KEY_ENV, OTHER_KEY.hex())
    other_key = _run(keyed).identity_used()["object_id"]

    assert len({with_key, other_id, other_key}) == 3


def test_without_a_named_key_each_run_generates_its_own(tmp_path: Path) -> None:
    target = _target(tmp_path)
    one, two = _run(target), _run(target)

    first = one.identity_used()

    assert first["object_id"].startswith("pseudonym-")
    assert one.identity_used() == first  # one run, one key: the same identity has one pseudonym
    assert two.identity_used()["object_id"] != first["object_id"]
    assert "generated for this run" in first["pseudonym"]


def test_a_worker_given_the_run_s_key_names_the_identity_as_the_run_does(tmp_path: Path) -> None:
    target = _target(tmp_path)
    controller, worker = _run(target), _run(target)

    handed = controller.pseudonym_key_handoff()
    assert handed is not None
    worker.adopt_pseudonym_key(handed)

    assert worker.identity_used() == controller.identity_used()


def test_a_named_key_is_never_handed_on_nor_is_one_in_replay(keyed: Path, tmp_path: Path) -> None:
    assert _run(keyed).pseudonym_key_handoff() is None  # workers read the variable themselves
    assert _run(_target(tmp_path), mode="replay").pseudonym_key_handoff() is None


def test_no_plain_hash_of_an_id_and_no_tenant_id_is_named(tmp_path: Path, keyed: Path) -> None:
    text = json.dumps([_run(_target(tmp_path)).identity_used(), _run(keyed).identity_used()])
    sha = hashlib.sha256(OBJECT_ID.encode()).hexdigest()

    assert sha[:16] not in text  # today's unsalted pseudonym, reversible with a list of candidate ids
    assert OBJECT_ID not in text
    assert OBJECT_ID.upper() not in text
    assert TENANT_ID not in text
    assert hashlib.sha256(TENANT_ID.encode()).hexdigest()[:16] not in text


def test_ids_appear_in_clear_only_when_the_target_asks(tmp_path: Path) -> None:
    identity = _run(_target(tmp_path, "identities_in_clear = true")).identity_used()

    assert identity["object_id"] == OBJECT_ID
    assert identity["tenant_id"] == TENANT_ID
    assert "identities_in_clear" in identity["identity_ids"]


def test_a_token_without_an_object_id_is_said_so_and_not_pseudonymised(tmp_path: Path) -> None:
    run = _run(_target(tmp_path), oid=None)  # the token names no object id at all

    identity = run.identity_used()

    assert identity["object_id"].startswith("unknown")
    assert TENANT_ID not in json.dumps(identity)


def test_live_provenance_names_the_endpoint_and_the_pseudonym(tmp_path: Path) -> None:
    run = _run(_target(tmp_path))

    provenance = _provenance(run)

    assert provenance["kind"] == "LIVE"
    assert provenance["object_id"] == run.identity_used()["object_id"]
    assert "tenant_id" not in provenance


def test_replay_provenance_names_no_identity_and_is_the_recording_s(tmp_path: Path) -> None:
    run = _run(_target(tmp_path, "identities_in_clear = true"), mode="replay")

    provenance = _provenance(run, "replay")

    assert provenance == {"kind": "REPLAY", **replay_provenance(CASSETTE)}
    assert not {"object_id", "tenant_id", "identity", "pseudonym"} & provenance.keys()
    assert provenance["sha256"] == hashlib.sha256(CASSETTE.read_bytes()).hexdigest()
