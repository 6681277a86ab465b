"""The committed-recording gate: the shipped cassettes pass it; a planted violation of each kind is
named on one line; a file that is no recording is exit code 2, without a traceback."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chsm_checks.cli import main
from chsm_checks.recording.bounded import MAX_NESTING, MAX_RECORDING_BYTES
from chsm_checks.recording.gate import MAX_LISTED, SANDBOX_ID_PREFIX, inspect_recordings
from chsm_checks.sandbox.ids import SANDBOX_GUID_PREFIX
from tests.support.opened import opened
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
PASSWORD = "gate-test-password-not-real"
USERINFO = "URL carries userinfo"


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
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: req.update(uri=req["uri"].replace("http://", f"http://user:{PASSWORD}@"))),
        f"interaction 1: request.uri: {USERINFO}",
        id="userinfo-request-uri",
    ),
    pytest.param(
        BACKUP,
        _in(1, lambda req, res: req.update(uri=req["uri"].replace("http://", "http://user@"))),
        f"interaction 1: request.uri: {USERINFO}",
        id="userinfo-user-only",
    ),
    pytest.param(
        BACKUP,
        _in(
            2,
            lambda req, res: res["headers"].update(
                location=[res["headers"]["location"][0].replace("http://", f"http://user:{PASSWORD}@")]
            ),
        ),
        f"interaction 2: response.headers.location: {USERINFO}",
        id="userinfo-status-url",
    ),
    pytest.param(
        BACKUP,
        _in(
            1,
            lambda req, res: res["headers"].update(
                {"content-type": [f"application/json; see=https://user:{PASSWORD}@example.invalid/"]}
            ),
        ),
        f"interaction 1: response.headers.content-type: {USERINFO}",
        id="userinfo-other-header",
    ),
    pytest.param(
        BACKUP,
        _in(
            2,
            lambda req, res: _json_body(
                req,
                lambda b: b.update(
                    azureStorageBlobContainerUri=f"https://user:{PASSWORD}@account.blob.core.windows.net/c"
                ),
            ),
        ),
        f"interaction 2: request.body.azureStorageBlobContainerUri: {USERINFO}",
        id="userinfo-request-body",
    ),
    pytest.param(
        BACKUP,
        _in(
            1,
            lambda req, res: _json_body(
                res,
                lambda b: b["properties"].update(
                    statusMessage=f"see https%3A%2F%2Fuser%3A{PASSWORD}%40account.blob.core.windows.net%2Fc"
                ),
            ),
        ),
        f"interaction 1: response.body.properties.statusMessage: {USERINFO}",
        id="userinfo-percent-encoded",
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

    report = inspect_recordings(tmp_path)

    assert report.problems == [f"{planted}: {expected}"]
    assert report.exit_code == 1


def test_an_unredacted_password_in_a_transcript_is_reported(tmp_path: Path) -> None:
    planted = tmp_path / TRANSCRIPT.name
    planted.write_text(TRANSCRIPT.read_text().replace("-p REDACTED", "-p hunter2-not-redacted", 1))

    report = inspect_recordings(tmp_path)

    assert report.problems == [
        f"{planted}: session 1: event 2 (in): a documented password position is not REDACTED"
    ]


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        pytest.param(
            lambda t: t.replace("-p REDACTED", f"-p REDACTED https://cu:{PASSWORD}@hsm1.invalid/", 1),
            "session 1: event 2 (in)",
            id="typed",
        ),
        pytest.param(
            lambda t: t.replace("files: {}", f"files: {{cfg.json: 'https://cu:{PASSWORD}@hsm1.invalid'}}", 1),
            'files["cfg.json"]',
            id="configuration-file",
        ),
    ],
)
def test_userinfo_in_a_transcript_is_reported_without_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Callable[[str], str], where: str
) -> None:
    planted = tmp_path / TRANSCRIPT.name
    text = TRANSCRIPT.read_text()
    planted.write_text(edit(text))
    assert planted.read_text() != text, "the test is out of date"

    code = main(["cassettes", "check", str(tmp_path)])

    out, err = capsys.readouterr()
    assert code == 1, err
    assert out.splitlines() == [f"{planted}: {where}: {USERINFO}"]
    assert PASSWORD not in out + err


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
        pytest.param(b"interactions: []\x00\n", id="nul"),
        pytest.param("", id="empty"),
        pytest.param("- request: {}\n", id="a-list"),
        pytest.param(BACKUP.read_text().replace("code: 200", "code: " + "2" * 5000, 1), id="long-number"),
        pytest.param(
            BACKUP.read_text().replace("    body: ''\n", "    body: 2026-13-45\n", 1), id="bad-date"
        ),
        pytest.param(BACKUP.read_text().replace("uri: http://", "uri: http://[", 1), id="uri-not-a-url"),
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


# --- bounds: the gate finishes quickly, in bounded memory, whatever it is given ------------------

DEEP = 100_000  # far past any bound, and past Python's recursion limit


def _alias_bomb(levels: int = 12) -> str:
    """Anchors each holding nine aliases of the one before: 9**levels strings if anyone expands them."""
    chain = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    chain += [f"&a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels)]
    return "[" + ", ".join(chain) + "]"


def _cassette(change: Callable[[dict[str, Any]], None]) -> str:
    data = yaml.safe_load(BACKUP.read_text())
    change(data["interactions"][0])
    return yaml.safe_dump(data, sort_keys=False, width=10_000)


def _response_body(body: str) -> str:
    return _cassette(lambda i: i["response"]["body"].update(string=body))


def _request_body(body: str) -> str:
    return _cassette(lambda i: i["request"].update(body=body))


UNBOUNDED = [
    pytest.param(
        "c.yaml",
        BACKUP.read_text().replace("    headers: {}\n", f"    headers: {{x-many: {_alias_bomb()}}}\n", 1),
        "a YAML alias",
        id="alias-bomb",
    ),
    pytest.param(
        "t.transcript.yaml",
        TRANSCRIPT.read_text().replace("files: {}\n", f"files: {{x: {_alias_bomb()}}}\n", 1),
        "a YAML alias",
        id="transcript-alias-bomb",
    ),
    pytest.param(
        "c.yaml",
        BACKUP.read_text().replace("    body: ''\n", "    body: " + "[" * DEEP + "]" * DEEP + "\n", 1),
        "not a readable cassette",  # libyaml's own limit (1,000 levels) may speak first
        id="yaml-nested",
    ),
    pytest.param(
        "c.yaml",
        BACKUP.read_text().replace("    body: ''\n", "    body: " + "[" * 990 + "]" * 990 + "\n", 1),
        f"nested deeper than {MAX_NESTING} levels",
        id="yaml-nested-990",
    ),
    pytest.param(
        "c.yaml",
        _response_body("[" * DEEP + "]" * DEEP),
        f"interactions[0].response.body.string: JSON nested deeper than {MAX_NESTING} levels",
        id="response-json-nested",
    ),
    pytest.param(
        "c.yaml",
        _request_body('{"a":' * DEEP + "0" + "}" * DEEP),
        f"interactions[0].request.body: JSON nested deeper than {MAX_NESTING} levels",
        id="request-json-nested",
    ),
    pytest.param(
        "t.transcript.yaml",
        TRANSCRIPT.read_text().replace("files: {}\n", "files: {x: '" + "[" * DEEP + "]" * DEEP + "'}\n", 1),
        f'files["x"]: JSON nested deeper than {MAX_NESTING} levels',
        id="transcript-json-nested",
    ),
    pytest.param(
        "c.yaml",
        BACKUP.read_text() + "# " + "x" * MAX_RECORDING_BYTES + "\n",
        f"more than a recording may hold ({MAX_RECORDING_BYTES:,} bytes)",
        id="too-big",
    ),
]


@pytest.mark.parametrize(("name", "content", "problem"), UNBOUNDED)
def test_an_input_past_a_bound_ends_quickly_with_exit_2_on_one_line(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    bad = tmp_path / name
    bad.write_text(content)

    # A hang fails here (the timeout) instead of holding CI for minutes.
    result = run_cli("cassettes", "check", str(tmp_path), timeout=60)

    assert (result.returncode, result.stdout) == (2, ""), result.output[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"chsm-checks: {bad}: ")
    assert problem in line


NEAR_THE_BOUND = MAX_RECORDING_BYTES - 200_000  # room for the rest of the cassette


def _many_unknown_fields() -> str:
    fields = {f"f{n}": 0 for n in range(NEAR_THE_BOUND // 12)}
    return json.dumps({"properties": fields}, separators=(",", ":"))


def _status_message(text: str) -> str:
    return json.dumps({"properties": {"statusMessage": text}})


WITHIN_BOUNDS = [
    # Each would take minutes to hours were a pattern quadratic (a search restarted at every "eyJ",
    # or searched back from every GUID), or were problems kept in a list.
    pytest.param(_status_message("eyJ" * (NEAR_THE_BOUND // 3) + " " + JWT), 1, id="jwt-starts-then-a-jwt"),
    pytest.param(_status_message(" ".join([MADE_UP_GUID] * (NEAR_THE_BOUND // 37))), 1, id="guid-after-guid"),
    pytest.param(
        _status_message(f"/roleAssignments/{MADE_UP_GUID}" * (NEAR_THE_BOUND // 53)), 0, id="names-no-one"
    ),
    pytest.param(_status_message("x://a" * (NEAR_THE_BOUND // 5) + "@"), 1, id="url-starts-then-userinfo"),
    pytest.param(_many_unknown_fields(), 1, id="a-field-after-a-field"),
]


@pytest.mark.parametrize(("body", "exit_code"), WITHIN_BOUNDS)
def test_hostile_content_within_the_bounds_is_checked_quickly_and_listed_within_a_bound(
    tmp_path: Path, body: str, exit_code: int
) -> None:
    planted = tmp_path / "c.yaml"
    planted.write_text(_response_body(body))
    assert planted.stat().st_size < MAX_RECORDING_BYTES

    result = run_cli("cassettes", "check", str(tmp_path), timeout=60)

    assert result.returncode == exit_code, result.output[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith(f"{planted}: ") for line in lines)
    assert (len(lines) > 0) == (exit_code == 1)
    assert len(lines) <= MAX_LISTED + 1


def test_more_problems_than_are_listed_says_so_on_its_last_line(tmp_path: Path) -> None:
    planted = tmp_path / "c.yaml"
    planted.write_text(_response_body(_many_unknown_fields()))

    report = inspect_recordings(tmp_path)

    assert len(report.problems) == MAX_LISTED + 1
    assert (
        report.problems[0]
        == f"{planted}: interaction 1: response.body.properties.f0: not on the scrub allow-list"
    )
    assert report.problems[-1] == f"{planted}: more than {MAX_LISTED} problems; the rest are not listed"
    assert report.exit_code == 1


# --- recordings stay in the tree -----------------------------------------------------------------


def _violating_cassette() -> str:
    """A cassette the gate objects to: were it read through a link, its problem would be printed."""
    data = yaml.safe_load(IDENTITY.read_text())
    data["interactions"][0]["request"]["headers"]["Authorization"] = ["Bearer not-a-real-token"]
    return yaml.safe_dump(data, sort_keys=False)


def _file_link(tree: Path, outside: Path) -> Path:
    (outside / "c.yaml").write_text(_violating_cassette())
    (tree / "identity" / "linked.yaml").symlink_to(outside / "c.yaml")
    return tree / "identity" / "linked.yaml"


def _directory_link(tree: Path, outside: Path) -> Path:
    (outside / "c.yaml").write_text(_violating_cassette())
    (tree / "more").symlink_to(outside, target_is_directory=True)
    return tree / "more"


def _link_not_named_yaml(tree: Path, outside: Path) -> Path:
    (outside / "c.yaml").write_text(_violating_cassette())
    (tree / "identity" / "notes").symlink_to(outside / "c.yaml")
    return tree / "identity" / "notes"


def _dangling_link(tree: Path, outside: Path) -> Path:
    (tree / "gone.yaml").symlink_to(outside / "nothing-here.yaml")
    return tree / "gone.yaml"


def _fifo(tree: Path, outside: Path) -> Path:
    # Opening a FIFO blocks until someone writes to it: the gate must never try.
    os.mkfifo(tree / "identity" / "pipe.yaml")
    return tree / "identity" / "pipe.yaml"


@pytest.mark.parametrize(
    ("plant", "problem"),
    [
        (_file_link, "a symbolic link"),
        (_directory_link, "a symbolic link"),
        (_link_not_named_yaml, "a symbolic link"),
        (_dangling_link, "a symbolic link"),
        (_fifo, "not a regular file or directory"),
    ],
)
def test_a_link_or_special_file_under_the_tree_is_exit_2_and_never_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plant: Callable[[Path, Path], Path], problem: str
) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    shutil.copytree(CASSETTES / "identity", tree / "identity")
    outside.mkdir()
    link = plant(tree, outside)

    with opened() as paths:
        code = main(["cassettes", "check", str(tree)])

    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), out + err
    assert err.splitlines() == [
        f"chsm-checks: {link}: {problem}; recordings must be regular files in the tree"
    ]
    assert not [p for p in paths if Path(p).resolve().is_relative_to(outside.resolve())]
    assert [p for p in paths if p.endswith(".yaml")], "the rest of the tree was not checked"


@pytest.mark.parametrize("what", ["directory", "file"])
def test_a_root_that_is_itself_a_link_is_exit_2_and_never_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "c.yaml").write_text(_violating_cassette())
    link = tmp_path / "link"
    link.symlink_to(real if what == "directory" else real / "c.yaml")

    with opened() as paths:
        code = main(["cassettes", "check", str(link)])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"chsm-checks: {link}: a symbolic link; name the {what} it points to"]
    assert not [p for p in paths if Path(p).resolve().is_relative_to(real.resolve())]
