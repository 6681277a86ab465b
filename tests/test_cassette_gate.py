"""The committed-recording gate: the shipped cassettes pass it; a planted violation of each kind is
named on one line; a file that is no recording is exit code 2, without a traceback."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chsm_checks.cli import main
from chsm_checks.recording.gate import SANDBOX_ID_PREFIX, check_recordings
from chsm_checks.sandbox.ids import SANDBOX_GUID_PREFIX
from tests.support.processes import ROOT, run_cli

CASSETTES = ROOT / "cassettes"
BACKUP = (
    CASSETTES
    / "backup_restore/a_backup_of_the_activated_source_cluster_completes_and_yields_a_backup_id.yaml"
)
IDENTITY = CASSETTES / "identity/each_cluster_s_identity_exists_and_resolves_to_its_principal.yaml"
TRANSCRIPT = (
    CASSETTES / "restore_validation/a_wrong_password_is_tried_once_and_reported_with_its_return_code"
    ".transcript.yaml"
)
# An unsigned, made-up token in a JWT's shape, built here so no token-like literal is committed.
JWT = ".".join(
    base64.urlsafe_b64encode(part).decode().rstrip("=")
    for part in (b'{"alg":"none"}', b'{"sub":"nobody"}', b"signature")
)
STORAGE_KEY = ("GateTestStorageAccountKey+NotAKey/" * 3)[:86] + "=="
MADE_UP_GUID = "12345678-90ab-4cde-8f01-234567890abc"  # no Azure id: made up for this test
SANDBOX_SUBSCRIPTION = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"


def test_the_shipped_recordings_pass_the_gate_profiles_included() -> None:
    result = run_cli("cassettes", "check")

    assert (result.returncode, result.stdout) == (0, ""), result.output
    recordings = list(CASSETTES.rglob("*.yaml"))
    assert any("profiles" in p.parts for p in recordings)
    assert any(p.name.endswith(".transcript.yaml") for p in recordings)
    assert f"{len(recordings)} recording(s) under cassettes: clean" in result.stderr


def test_the_gate_knows_the_sandbox_id_prefix() -> None:
    assert SANDBOX_ID_PREFIX == SANDBOX_GUID_PREFIX + "-"


Edit = Callable[[dict[str, Any]], None]


def _json_body(part: dict[str, Any], change: Callable[[Any], None]) -> None:
    """Change the JSON body of a recorded request (``body``) or response (``body.string``)."""
    holder, key = (part["body"], "string") if isinstance(part["body"], dict) else (part, "body")
    data = json.loads(holder[key])
    change(data)
    holder[key] = json.dumps(data)


def _in(n: int, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> Edit:
    """Apply ``edit(request, response)`` to interaction ``n`` (from 1, as the gate counts)."""

    def apply(cassette: dict[str, Any]) -> None:
        interaction = cassette["interactions"][n - 1]
        edit(interaction["request"], interaction["response"])

    return apply


VIOLATIONS = [
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: req["headers"].update(Authorization=["Bearer not-a-real-token"])),
        "interaction 1: request.headers.authorization: not on the scrub allow-list",
        id="request-header",
    ),
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: res["headers"].update({"x-ms-operation-identifier": ["tenantId=x"]})),
        "interaction 1: response.headers.x-ms-operation-identifier: not on the scrub allow-list",
        id="response-header",
    ),
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: req.update(uri=req["uri"] + "&flavour=vanilla")),
        "interaction 1: request.uri: query parameter flavour: not on the scrub allow-list",
        id="query-parameter",
    ),
    pytest.param(
        BACKUP,
        _in(
            2,
            lambda req, res: res["headers"].update(
                location=[res["headers"]["location"][0].replace("t=REDACTED", "t=638000000000000001")]
            ),
        ),
        "interaction 2: response.headers.location: query parameter t: not on the scrub allow-list",
        id="status-url-parameter",
    ),
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: _json_body(res, lambda b: b["properties"].update(internalNote="x"))),
        "interaction 1: response.body.properties.internalNote: not on the scrub allow-list",
        id="body-field",
    ),
    pytest.param(
        BACKUP,
        _in(2, lambda req, res: _json_body(req, lambda b: b.update(token="x"))),
        "interaction 2: request.body.token: not on the scrub allow-list",
        id="request-body-field",
    ),
    pytest.param(
        IDENTITY,
        _in(
            2,
            lambda req, res: _json_body(
                res,
                lambda b: b["properties"].update(
                    principalId=SANDBOX_GUID_PREFIX + "-0000-4000-8000-000000000001"
                ),
            ),
        ),
        "interaction 2: response.body.properties.principalId: an id that is not a placeholder",
        id="id-field",
    ),
    pytest.param(
        BACKUP,
        _in(
            1,
            lambda req, res: req.update(
                uri=req["uri"].replace("00000000-0000-0000-0000-000000000000", SANDBOX_SUBSCRIPTION)
            ),
        ),
        "interaction 1: request.uri: a subscription id that is not the placeholder",
        id="subscription",
    ),
    pytest.param(
        BACKUP,
        _in(
            1,
            lambda req, res: _json_body(
                res, lambda b: b["properties"].update(statusMessage=f"by {MADE_UP_GUID}")
            ),
        ),
        "interaction 1: response.body.properties.statusMessage: looks like an unscrubbed id "
        "(a GUID neither a placeholder nor a sandbox id)",
        id="guid",
    ),
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: _json_body(res, lambda b: b["properties"].update(statusMessage=JWT))),
        "interaction 1: response.body.properties.statusMessage: looks like a bearer token (a JWT)",
        id="jwt",
    ),
    pytest.param(
        BACKUP,
        _in(
            2,
            lambda req, res: _json_body(
                req,
                lambda b: b.update(
                    azureStorageBlobContainerUri=b["azureStorageBlobContainerUri"] + "?sv=1&sig=abc"
                ),
            ),
        ),
        "interaction 2: request.body.azureStorageBlobContainerUri: looks like a SAS signature (sig=)",
        id="sas",
    ),
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: _json_body(res, lambda b: b.update(value=[STORAGE_KEY]))),
        "interaction 1: response.body.value[0]: looks like a storage account key",
        id="storage-key",
    ),
    pytest.param(
        BACKUP,
        _in(
            1,
            lambda req, res: _json_body(
                res, lambda b: b["properties"].update(statusMessage="Ab38Q~" + "x" * 34)
            ),
        ),
        "interaction 1: response.body.properties.statusMessage: looks like a client secret",
        id="client-secret",
    ),
]


@pytest.mark.parametrize(("cassette", "edit", "expected"), VIOLATIONS)
def test_a_planted_violation_is_reported_on_one_line_naming_the_file_interaction_and_field(
    tmp_path: Path, cassette: Path, edit: Edit, expected: str
) -> None:
    data = yaml.safe_load(cassette.read_text())
    edit(data)
    planted = tmp_path / cassette.name
    planted.write_text(yaml.safe_dump(data, sort_keys=False))

    report = check_recordings(tmp_path)

    assert report.problems == [f"{planted}: {expected}"]
    assert report.exit_code == 1


def test_an_unredacted_password_in_a_transcript_is_reported(tmp_path: Path) -> None:
    planted = tmp_path / TRANSCRIPT.name
    planted.write_text(TRANSCRIPT.read_text().replace("-p REDACTED", "-p hunter2-not-redacted", 1))

    report = check_recordings(tmp_path)

    assert report.problems == [
        f"{planted}: session 1: event 2 (in): a documented password position is not REDACTED"
    ]


def test_the_command_prints_one_line_per_problem_exits_1_and_never_prints_the_value(tmp_path: Path) -> None:
    data = yaml.safe_load(BACKUP.read_text())
    data["interactions"][0]["request"]["headers"]["Authorization"] = [f"Bearer {JWT}"]
    data["interactions"][1]["request"]["uri"] += "&sig=c2VjcmV0"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))

    result = run_cli("cassettes", "check", str(tmp_path))

    assert result.returncode == 1, result.output
    cassette = tmp_path / "c.yaml"
    assert result.stdout.splitlines() == [
        f"{cassette}: interaction 1: request.headers.authorization: not on the scrub allow-list",
        f"{cassette}: interaction 2: request.uri: looks like a SAS signature (sig=)",
        f"{cassette}: interaction 2: request.uri: query parameter sig: not on the scrub allow-list",
    ]
    assert JWT not in result.output
    assert "c2VjcmV0" not in result.output


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("interactions: [\n  {request: ", id="not-yaml"),
        pytest.param(None, id="cut-short"),
        pytest.param("!!python/object/apply:os.system ['true']\n", id="object-tag"),
        pytest.param("just text\n", id="not-a-cassette"),
        pytest.param(b"\xff\xfe not utf-8", id="not-text"),
    ],
)
def test_a_file_that_is_no_recording_is_exit_2_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None
) -> None:
    shutil.copy(BACKUP, tmp_path / "good.yaml")
    text = BACKUP.read_text()
    bad = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(text[: len(text) // 2] if content is None else content)

    code = main(["cassettes", "check", str(tmp_path)])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"chsm-checks: {bad}: ")


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_nothing_to_check_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    target = tmp_path / "missing" if where == "missing" else tmp_path

    code = main(["cassettes", "check", str(target)])

    assert code == 2
    assert capsys.readouterr().err.startswith(f"chsm-checks: {target}: ")
