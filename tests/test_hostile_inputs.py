"""Hostile and broken inputs: one line naming the file and the problem, exit code 2, no traceback,
and the reports of earlier runs untouched.

Every case runs into a reports directory that already holds a sealed run. Afterwards that run's
files are byte for byte what they were and still verify, no run directory was added, and
``reports/latest`` still names it: a run refused for bad input leaves nothing behind.
"""

from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chsm_checks import cli
from chsm_checks.errors import ConfigError
from chsm_checks.evidence.bundle import MANIFEST, PUBLIC_KEY, SIGNATURE, verify
from chsm_checks.recording import Scrubber, cassettes, read_provenance, replaying
from chsm_checks.recording.bounded import MAX_NESTING, MAX_RECORDING_BYTES
from tests.support.opened import opened
from tests.support.processes import ROOT, CliResult, project_copy, run_cli, summary

REFERENCE = (ROOT / "targets" / "reference.toml").read_text()
CASSETTE = Path("clusters/both_clusters_are_provisioned.yaml")
TRANSCRIPT = Path(
    "restore_validation/all_three_nodes_of_the_restored_destination_are_connected.transcript.yaml"
)
KEY_TRANSCRIPT = Path(
    "restore_validation/every_node_answers_success_for_the_login_and_for_findkey.transcript.yaml"
)
CONFIG_TRANSCRIPT = Path(
    "restore_validation/the_hsm_client_configuration_points_at_the_destination_cluster.transcript.yaml"
)
DEEP = 100_000  # far past any bound, and past Python's recursion limit


@dataclass(frozen=True)
class Earlier:
    """A reports directory holding one sealed run, and that run's files as they were."""

    reports: Path
    run_name: str
    files: dict[str, bytes]


def _files(run_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Earlier:
    reports = tmp_path_factory.mktemp("earlier") / "reports"
    result = run_cli("run", "--reports", str(reports), "-k", "identity", "--no-html", offline=True)
    assert result.returncode == 0, result.output
    run_dir = (reports / "latest").resolve()
    return Earlier(reports, run_dir.name, _files(run_dir))


@pytest.fixture
def reports(earlier: Earlier, tmp_path: Path) -> Path:
    """A copy of the earlier reports directory, for one hostile run to write into."""
    return Path(shutil.copytree(earlier.reports, tmp_path / "reports", symlinks=True))


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """A copy of the shipped recordings, to damage."""
    return Path(shutil.copytree(ROOT / "cassettes", tmp_path / "cassettes"))


def _assert_untouched(reports: Path, earlier: Earlier) -> None:
    run_dir = reports / earlier.run_name
    assert _files(run_dir) == earlier.files
    assert verify(run_dir).ok
    assert sorted(p.name for p in reports.iterdir()) == sorted([earlier.run_name, "latest"])
    assert os.readlink(reports / "latest") == earlier.run_name
    assert verify(reports / "latest").ok


def _assert_refused(result: CliResult, path: Path, problem: str, reports: Path, earlier: Earlier) -> str:
    """Exit 2, no traceback, and one line on stderr naming ``path`` and ``problem``; that line."""
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{path}: " in lines[0]
    assert problem in lines[0]
    _assert_untouched(reports, earlier)
    return lines[0]


def _run(reports: Path, *args: str, cwd: Path = ROOT, timeout: float = 300) -> CliResult:
    return run_cli(
        "run", "--reports", str(reports), "--no-html", *args, cwd=cwd, offline=True, timeout=timeout
    )


# --- target files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("name = [unclosed", "not valid TOML", id="malformed"),
        pytest.param("\x00\x01binary", "not valid TOML", id="binary"),
        pytest.param(
            REFERENCE.replace("[storage]\n", "[storage]\nsas_token = 'sv=2022&sig=abc'\n"),
            "storage.sas_token: unknown field",
            id="unknown-key",
        ),
        pytest.param(REFERENCE + "\n[extras]\nx = 1\n", "extras: unknown field", id="unknown-table"),
        pytest.param(
            REFERENCE.replace('cluster = "chsm-dest"', 'cluster = "chsm-source"'),
            "destination: names the source cluster",
            id="same-cluster",
        ),
        pytest.param(
            REFERENCE.replace('cluster = "chsm-dest"', 'cluster = "CHSM-Source"').replace(
                '[destination]\nresource_group = "rg-chsm-sandbox"',
                '[destination]\nresource_group = "RG-CHSM-Sandbox"',
            ),
            "destination: names the source cluster",
            id="same-cluster-other-case",
        ),
    ],
)
def test_a_bad_target_file(
    reports: Path, earlier: Earlier, tmp_path: Path, content: str, problem: str
) -> None:
    target = tmp_path / "target.toml"
    target.write_text(content)

    result = _run(reports, "--target", str(target))

    line = _assert_refused(result, target, problem, reports, earlier)
    assert line.startswith(f"chsm-checks: {target}: ")


# --- cassettes ---------------------------------------------------------------------------------


def _cut_short(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[: len(lines) // 2])


def _tag_in_body(tag: str) -> Any:
    def edit(text: str) -> str:
        assert "    body: ''\n" in text, "the test is out of date"
        return text.replace("    body: ''\n", f"    body: {tag}\n", 1)

    return edit


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(_cut_short, "the cassette is cut short", id="truncated"),
        pytest.param(
            lambda text: text[: text.index("string: '") + 20],
            "not a readable cassette",
            id="truncated-mid-token",
        ),
        pytest.param(lambda _: "<html>502 Bad Gateway</html>\n", "not a cassette", id="not-yaml-html"),
        pytest.param(lambda _: "interactions: [\n  {request: \n", "not a readable cassette", id="not-yaml"),
        pytest.param(lambda _: "\udcff", "not a readable cassette", id="not-utf8"),
        pytest.param(lambda text: text.replace("uri: ", "uri: \x00", 1), "not a readable cassette", id="nul"),
        pytest.param(lambda _: "", "not a cassette", id="empty"),
        pytest.param(lambda _: "- request: {}\n", "not a cassette", id="a-list"),
        pytest.param(
            lambda text: text.replace("code: 200", "code: " + "2" * 5000, 1),
            "not a readable cassette",
            id="number-too-long-to-read",
        ),
        pytest.param(
            lambda text: text.replace("    body: ''\n", "    body: 2026-13-45\n", 1),
            "not a readable cassette",
            id="impossible-date",
        ),
        pytest.param(
            lambda text: text.replace("  response:\n", "  reply:\n", 1),
            "interactions[0].response: missing",
            id="field-renamed",
        ),
    ],
)
def test_a_damaged_cassette(
    reports: Path, earlier: Earlier, recordings: Path, edit: Any, problem: str
) -> None:
    victim = recordings / CASSETTE
    text = victim.read_text()
    edited = edit(text)
    victim.write_bytes(edited.encode("utf-8", "surrogateescape"))

    result = _run(reports, "--cassettes", str(recordings))

    _assert_refused(result, victim, problem, reports, earlier)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(None, "recording not found", id="missing"),
        pytest.param(_cut_short, "the cassette is cut short", id="truncated"),
        pytest.param("link", "a symbolic link", id="symlink"),
        pytest.param(
            lambda text: _json_body(text, "[" * DEEP + "]" * DEEP),
            f"JSON nested deeper than {MAX_NESTING} levels",
            id="json-nested-too-deep",
        ),
    ],
)
def test_a_damaged_or_missing_recording_under_workers_is_the_same_one_line(
    reports: Path, earlier: Earlier, recordings: Path, tmp_path: Path, edit: Any, problem: str
) -> None:
    victim = recordings / CASSETTE
    if edit is None:
        victim.unlink()
    elif edit == "link":
        _link_outside(victim, tmp_path / "outside")
    else:
        victim.write_text(edit(victim.read_text()))

    result = _run(reports, "--cassettes", str(recordings), "-n", "2")

    _assert_refused(result, victim, problem, reports, earlier)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A path that a constructed object would create."""
    return tmp_path / "constructed"


def _object_tags(marker: Path) -> list[str]:
    return [
        f'!!python/object/apply:os.system ["touch {marker}"]',
        f'!!python/object/apply:os.mkdir ["{marker}"]',
        f'!!python/object/new:pathlib.Path ["{marker}"]',
        f'!!python/object/apply:builtins.exec ["open({str(marker)!r}, \\"w\\")"]',
    ]


def test_the_object_tags_would_construct_under_an_unsafe_loader(marker: Path) -> None:
    # The control: the payload used below is live, so its not running proves something.
    yaml.unsafe_load(_object_tags(marker)[1])

    assert marker.is_dir()


@pytest.mark.parametrize("which", range(4))
def test_a_cassette_with_tags_that_construct_objects_is_refused_and_nothing_runs(
    reports: Path, earlier: Earlier, recordings: Path, marker: Path, which: int
) -> None:
    tag = _object_tags(marker)[which]
    victim = recordings / CASSETTE
    victim.write_text(_tag_in_body(tag)(victim.read_text()))

    result = _run(reports, "--cassettes", str(recordings))

    _assert_refused(result, victim, "could not determine a constructor for the tag", reports, earlier)
    assert not marker.exists()


def test_a_whole_cassette_that_is_one_object_tag_is_refused(
    reports: Path, earlier: Earlier, recordings: Path, marker: Path
) -> None:
    victim = recordings / CASSETTE
    victim.write_text(f'!!python/object/apply:os.mkdir ["{marker}"]\n')

    result = _run(reports, "--cassettes", str(recordings))

    _assert_refused(result, victim, "not a readable cassette", reports, earlier)
    assert not marker.exists()


@pytest.mark.parametrize("which", range(4))
def test_vcrpy_itself_loads_cassettes_safely(
    tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch, which: int
) -> None:
    # Even were the cassette not checked first, vcrpy reads it with the safe loader.
    victim = tmp_path / "cassette.yaml"
    victim.write_text(_tag_in_body(_object_tags(marker)[which])((ROOT / "cassettes" / CASSETTE).read_text()))
    monkeypatch.setattr(cassettes, "read_provenance", lambda path: None)

    with (
        pytest.raises(ValueError, match="could not determine a constructor"),
        replaying(victim, Scrubber(subscription_id="00000000-0000-0000-0000-000000000000")) as transport,
        httpx.Client(transport=transport) as client,
    ):
        client.get("http://127.0.0.1/anything")
    assert not marker.exists()


def test_every_shipped_cassette_passes_the_same_checks() -> None:
    for path in sorted((ROOT / "cassettes").rglob("*.yaml")):
        if not path.name.endswith(".transcript.yaml"):
            read_provenance(path)


# --- transcripts -------------------------------------------------------------------------------


def _move(events: list[Any], source: int, destination: int) -> None:
    events.insert(destination, events.pop(source))


@pytest.mark.parametrize(
    ("transcript", "edit", "problem"),
    [
        pytest.param(
            TRANSCRIPT,
            lambda ev: _move(ev, len(ev) - 1, 3),
            "events[4]: in follows the session's end (exit)",
            id="exit-moved-up",
        ),
        pytest.param(
            TRANSCRIPT,
            lambda ev: _move(ev, 1, 2),
            "events[1]: out follows another output",
            id="command-after-its-output",
        ),
        pytest.param(
            TRANSCRIPT,
            lambda ev: _move(ev, 1, 0),
            "events[0]: in comes before the utility printed anything",
            id="command-first",
        ),
        pytest.param(
            KEY_TRANSCRIPT,
            lambda ev: _move(ev, next(i for i, e in enumerate(ev) if "file" in e), 3),
            "events[3]: file does not follow the command that wrote it",
            id="file-away-from-its-command",
        ),
        pytest.param(
            KEY_TRANSCRIPT,
            lambda ev: next(e for e in ev if "file" in e)["file"].update(name="../../escape.txt"),
            ".file: needs a plain file name",
            id="file-outside-its-directory",
        ),
    ],
)
def test_a_transcript_edited_out_of_order(
    reports: Path, earlier: Earlier, recordings: Path, transcript: Path, edit: Any, problem: str
) -> None:
    victim = recordings / transcript
    data = yaml.safe_load(victim.read_text())
    edit(data["sessions"][0]["events"])
    victim.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000))

    result = _run(reports, "--cassettes", str(recordings))

    line = _assert_refused(result, victim, problem, reports, earlier)
    assert f"{victim}: sessions[0].events[" in line


# --- recordings stay in the tree, within bounds -------------------------------------------------


def _link_outside(inside: Path, outside: Path) -> None:
    """Move ``inside`` (a file or a directory) out of the tree and leave a link to it in its place:
    what is read through the link is a faithful recording, so only the link can be refused."""
    outside.mkdir(exist_ok=True)
    moved = Path(shutil.move(inside, outside / inside.name))
    inside.symlink_to(moved, target_is_directory=moved.is_dir())


def _json_body(text: str, body: str) -> str:
    """The cassette with its first response body replaced by ``body``."""
    data = yaml.safe_load(text)
    data["interactions"][0]["response"]["body"]["string"] = body
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def _request_json_body(text: str, body: str) -> str:
    data = yaml.safe_load(text)
    request = data["interactions"][0]["request"]
    request["body"] = body
    request["headers"]["Content-Type"] = ["application/json"]  # vcrpy's matcher parses JSON bodies
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def _yaml_nested(depth: int) -> Any:
    def edit(text: str) -> str:
        assert "    body: ''\n" in text, "the test is out of date"
        return text.replace("    body: ''\n", "    body: " + "[" * depth + "]" * depth + "\n", 1)

    return edit


def _alias(text: str) -> str:
    assert "    body: ''\n" in text, "the test is out of date"
    return text.replace("    body: ''\n", "    body: &same ''\n", 1).replace(
        "    body: ''\n", "    body: *same\n", 1
    )


def _alias_bomb(levels: int = 12) -> str:
    """A flow sequence of anchors, each nine aliases of the one before: 9**levels strings if expanded."""
    chain = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    chain += [f"&a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels)]
    return "[" + ", ".join(chain) + "]"


def _padded(text: str) -> str:
    return text + "# " + "x" * MAX_RECORDING_BYTES + "\n"


def _config_file(text: str, content: str) -> str:
    data = yaml.safe_load(text)
    (name,) = data["files"]
    data["files"][name] = content
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


OUT_OF_BOUNDS = [
    pytest.param(
        CASSETTE, _padded, f"more than a recording may hold ({MAX_RECORDING_BYTES:,} bytes)", id="too-big"
    ),
    pytest.param(
        CASSETTE,
        lambda text: _json_body(text, "[" * DEEP + "]" * DEEP),
        f"interactions[0].response.body.string: JSON nested deeper than {MAX_NESTING} levels",
        id="response-json-too-deep",
    ),
    pytest.param(
        CASSETTE,
        lambda text: _json_body(text, '{"a":' * (MAX_NESTING + 1) + "1" + "}" * (MAX_NESTING + 1)),
        f"interactions[0].response.body.string: JSON nested deeper than {MAX_NESTING} levels",
        id="response-json-just-too-deep",
    ),
    pytest.param(
        CASSETTE,
        lambda text: _request_json_body(text, '{"a":' * DEEP + "1" + "}" * DEEP),
        f"interactions[0].request.body: JSON nested deeper than {MAX_NESTING} levels",
        id="request-json-too-deep",
    ),
    # libyaml stops at its own limit (1,000 levels) before the bound is reached: the line is its.
    pytest.param(CASSETTE, _yaml_nested(DEEP), "not a readable cassette", id="yaml-too-deep"),
    pytest.param(CASSETTE, _yaml_nested(990), f"nested deeper than {MAX_NESTING} levels", id="yaml-990-deep"),
    pytest.param(CASSETTE, _alias, "a YAML alias", id="alias"),
    pytest.param(
        CASSETTE,
        lambda text: text.replace("    headers: {}\n", f"    headers: {{x-many: {_alias_bomb()}}}\n", 1),
        "a YAML alias",
        id="alias-bomb",
    ),
    pytest.param(TRANSCRIPT, _padded, "more than a recording may hold", id="transcript-too-big"),
    pytest.param(
        TRANSCRIPT,
        lambda text: text.replace("files: {}\n", f"files: {{x: {_alias_bomb()}}}\n", 1),
        "a YAML alias",
        id="transcript-alias-bomb",
    ),
    pytest.param(
        CONFIG_TRANSCRIPT,
        lambda text: _config_file(text, '{"servers":' + "[" * DEEP + "]" * DEEP + "}"),
        f"JSON nested deeper than {MAX_NESTING} levels",
        id="transcript-config-json-too-deep",
    ),
]


@pytest.mark.parametrize(("recording", "edit", "problem"), OUT_OF_BOUNDS)
def test_a_recording_past_a_bound_is_refused_on_one_line(
    reports: Path, earlier: Earlier, recordings: Path, recording: Path, edit: Any, problem: str
) -> None:
    victim = recordings / recording
    victim.write_text(edit(victim.read_text()))

    result = _run(reports, "--cassettes", str(recordings), timeout=60)

    _assert_refused(result, victim, problem, reports, earlier)


def _link_the_cassette(recordings: Path, outside: Path) -> Path:
    _link_outside(recordings / CASSETTE, outside)
    return recordings / CASSETTE


def _link_the_transcript(recordings: Path, outside: Path) -> Path:
    _link_outside(recordings / TRANSCRIPT, outside)
    return recordings / TRANSCRIPT


def _link_a_feature_directory(recordings: Path, outside: Path) -> Path:
    _link_outside(recordings / CASSETTE.parent, outside)
    return recordings / CASSETTE.parent


def _link_that_no_scenario_reads(recordings: Path, outside: Path) -> Path:
    link = recordings / "profiles" / "stray.yaml"
    (outside / "stray.yaml").write_text((ROOT / "cassettes" / CASSETTE).read_text())
    link.symlink_to(outside / "stray.yaml")
    return link


def _dangling_link(recordings: Path, outside: Path) -> Path:
    link = recordings / CASSETTE.parent / "gone"
    link.symlink_to(outside / "nothing-here")
    return link


@pytest.mark.parametrize(
    "plant",
    [
        _link_the_cassette,
        _link_the_transcript,
        _link_a_feature_directory,
        _link_that_no_scenario_reads,
        _dangling_link,
    ],
)
def test_a_symbolic_link_anywhere_under_the_recordings_is_refused_and_not_followed(
    reports: Path, earlier: Earlier, recordings: Path, tmp_path: Path, plant: Any
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = plant(recordings, outside)

    result = _run(reports, "--cassettes", str(recordings))

    line = _assert_refused(result, link, "a symbolic link", reports, earlier)
    assert str(outside) not in line


def test_a_recordings_directory_that_is_itself_a_link_is_refused(
    reports: Path, earlier: Earlier, recordings: Path, tmp_path: Path
) -> None:
    link = tmp_path / "cassettes-link"
    link.symlink_to(recordings, target_is_directory=True)

    result = _run(reports, "--cassettes", str(link))

    line = _assert_refused(result, link, "a symbolic link", reports, earlier)
    assert "name the directory it points to" in line


# --- waiver files ------------------------------------------------------------------------------

WAIVER = """
[[waiver]]
check = "storage.shared-key-disabled"
resource = "/subscriptions/*/storageAccounts/*"
justification = "Legacy reader needs a key until the migration in Q2."
approver = "Dana Whitfield (CISO)"
approved_on = 2026-01-15
expires = 2026-06-30T00:00:00Z
"""


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('approver = "Dana Whitfield (CISO)"\n', "", "waiver[1].approver: required field is missing"),
        (
            'justification = "Legacy reader needs a key until the migration in Q2."\n',
            "",
            "waiver[1].justification: required field is missing",
        ),
        ("approved_on = 2026-01-15", "approved_on = 2026-02-30", "not valid TOML"),
        ("approved_on = 2026-01-15", 'approved_on = "last week"', "waiver[1].approved_on: Input should be"),
        ("expires = 2026-06-30T00:00:00Z", "expires = 2026-06-30T00:00:00", "waiver[1].expires: needs a UTC"),
        ("expires = 2026-06-30T00:00:00Z", "expires = 2025-06-30T00:00:00Z", "is not after approved_on"),
    ],
)
def test_a_bad_waiver_file(
    reports: Path, earlier: Earlier, tmp_path: Path, old: str, new: str, problem: str
) -> None:
    assert old in WAIVER, "the test is out of date"
    waivers = tmp_path / "waivers.toml"
    waivers.write_text(WAIVER.replace(old, new, 1))

    result = _run(reports, "--waivers", str(waivers))

    _assert_refused(result, waivers, problem, reports, earlier)


# --- feature files -----------------------------------------------------------------------------


def test_an_unknown_step_is_an_error_naming_the_step_and_its_file(
    reports: Path, earlier: Earlier, tmp_path: Path
) -> None:
    project = project_copy(tmp_path)
    feature = project / "features" / "backup_restore.feature"
    feature.write_text(
        feature.read_text().replace("And no request was sent", "And nothing at all happened", 1)
    )

    result = _run(reports, cwd=project)

    # Not a skip, and not a usage error: the scenario could not be evaluated (exit 3), and says why.
    assert result.returncode == 3, result.output
    problem = 'undefined step: Then "nothing at all happened" (features/backup_restore.feature, line '
    assert [line for line in result.output.splitlines() if problem in line]
    (entry,) = [e for e in summary(reports)["scenarios"] if e["outcome"] != "passed"]
    assert entry["outcome"] == "error"
    assert problem in entry["message"]
    assert entry["feature_file"] == "backup_restore.feature"
    # The earlier run is as it was; latest names this run, which is sealed and verifies.
    assert _files(reports / earlier.run_name) == earlier.files
    assert verify(reports / earlier.run_name).ok
    assert os.readlink(reports / "latest") != earlier.run_name
    assert verify(reports / "latest").ok


# --- evidence bundles --------------------------------------------------------------------------


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _reseal_by_hand(bundle: Path, extra_line: str) -> None:
    """The manifest plus ``extra_line``, signed by a key of the attacker's own: the signature holds."""
    key = Ed25519PrivateKey.generate()
    manifest = (bundle / MANIFEST).read_bytes() + extra_line.encode() + b"\n"
    (bundle / MANIFEST).write_bytes(manifest)
    (bundle / SIGNATURE).write_text(base64.b64encode(key.sign(manifest)).decode())
    (bundle / PUBLIC_KEY).write_bytes(_public_pem(key))


SECRET = "outside-secret-do-not-read"
DIGEST = "0" * 64  # a well-formed line: only where it points is hostile


def _escape_by_dotdot(bundle: Path, outside: Path) -> str:
    _reseal_by_hand(bundle, f"{DIGEST}  ../{outside.name}/secret.txt")
    return "a path out of the run directory"


def _absolute_path(bundle: Path, outside: Path) -> str:
    _reseal_by_hand(bundle, f"{DIGEST}  {outside}/secret.txt")
    return "an absolute path"


def _directory_link(bundle: Path, outside: Path) -> str:
    (bundle / "evidence" / "more").symlink_to(outside, target_is_directory=True)
    _reseal_by_hand(bundle, f"{DIGEST}  evidence/more/secret.txt")
    return "passes through the symbolic link evidence/more"


def _file_link(bundle: Path, outside: Path) -> str:
    (bundle / "evidence" / "leak.json").symlink_to(outside / "secret.txt")
    return "evidence/leak.json: a symbolic link"


def _summary_link_never_sealed(bundle: Path, outside: Path) -> str:
    for name in (MANIFEST, SIGNATURE, PUBLIC_KEY):
        (bundle / name).unlink()
    (bundle / "summary.json").unlink()
    (bundle / "summary.json").symlink_to(outside / "secret.txt")
    return "summary.json: a symbolic link"


HOSTILE_BUNDLES = [_escape_by_dotdot, _absolute_path, _directory_link, _file_link, _summary_link_never_sealed]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the bundle holding a secret that nothing may read."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text(SECRET)
    return directory


@pytest.fixture
def hostile(earlier: Earlier, tmp_path: Path) -> Path:
    return Path(shutil.copytree(earlier.reports / earlier.run_name, tmp_path / "bundle"))


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _nothing_outside_was_read(paths: list[str], outside: Path, *outputs: str) -> None:
    assert not [p for p in paths if Path(p).resolve().is_relative_to(outside.resolve())]
    assert not [o for o in outputs if SECRET in o]


@pytest.mark.parametrize("damage", HOSTILE_BUNDLES)
def test_verify_names_a_hostile_bundle_and_reads_nothing_outside_it(
    hostile: Path, outside: Path, capsys: pytest.CaptureFixture[str], damage: Any
) -> None:
    problem = damage(hostile, outside)

    with opened() as paths:
        code, out, err = _main(capsys, "verify", str(hostile))

    assert code == 1, out + err
    assert [line for line in out.splitlines() if line.startswith("problem: ") and problem in line], out
    assert out.splitlines()[-1].startswith(f"{hostile}: does not verify")
    _nothing_outside_was_read(paths, outside, out, err)


@pytest.mark.parametrize("damage", HOSTILE_BUNDLES)
def test_report_refuses_a_hostile_bundle_and_reads_nothing_outside_it(
    hostile: Path, outside: Path, capsys: pytest.CaptureFixture[str], damage: Any
) -> None:
    problem = damage(hostile, outside)
    before = _files(hostile)

    with opened() as paths:
        code, out, err = _main(capsys, "report", str(hostile))

    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"chsm-checks: {hostile}: ")
    if damage is _summary_link_never_sealed:
        assert problem in lines[0]
    else:
        assert "does not verify" in lines[0]
    assert _files(hostile) == before  # nothing rebuilt, nothing sealed
    _nothing_outside_was_read(paths, outside, out, err)


@pytest.mark.parametrize("damage", HOSTILE_BUNDLES)
def test_merge_refuses_a_hostile_bundle_and_reads_nothing_outside_it(
    earlier: Earlier,
    hostile: Path,
    outside: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Any,
) -> None:
    damage(hostile, outside)
    out_dir = tmp_path / "merged"

    with opened() as paths:
        code, out, err = _main(
            capsys, "merge", str(earlier.reports / earlier.run_name), str(hostile), "--out", str(out_dir)
        )

    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"chsm-checks: {hostile}: does not verify")
    assert not out_dir.exists()
    _nothing_outside_was_read(paths, outside, out, err)


def test_a_refused_recording_names_its_field_in_one_line(tmp_path: Path) -> None:
    victim = tmp_path / "c.yaml"
    victim.write_text((ROOT / "cassettes" / CASSETTE).read_text().replace("code: 200", "code: '200'", 1))

    with pytest.raises(ConfigError) as raised:
        read_provenance(victim)

    assert str(raised.value) == f"{victim}: interactions[0].response.status.code: missing or not a number"
