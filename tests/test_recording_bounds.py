"""The bounded reader's parts: JSON nesting measured as JSON would nest, without parsing; vcrpy's own
load refusing what the check refuses; and record mode never writing what replay would refuse."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import vcr
import yaml
from vcr.request import Request

from chsm_checks.errors import ConfigError
from chsm_checks.hsm.transcript import SessionRecord, load_transcript
from chsm_checks.recording import (
    Provenance,
    Scrubber,
    bounded,
    cassettes,
    read_provenance,
    replaying,
    write_cassette,
)
from chsm_checks.recording.bounded import MAX_NESTING, json_nesting, json_problem
from tests.support.processes import ROOT

CASSETTE = ROOT / "cassettes" / "clusters" / "both_clusters_are_provisioned.yaml"
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _depth(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + max(map(_depth, node.values()), default=0)
    if isinstance(node, list):
        return 1 + max(map(_depth, node), default=0)
    return 0


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        '{"a": [1, {"b": [[]]}]}',
        '  \n{"a": "[[[[[[[[ not brackets ]"}',
        '["a \\" [[[[", ["b"]]',
        '["\\\\", [["\\\\\\"[["]]]',
        '{"x": "}}}}", "y": {"z": "{{{{"}}',
        "[" * MAX_NESTING + "]" * MAX_NESTING,
        '"a string"',
        "12",
        "null",
    ],
)
def test_json_nesting_is_the_depth_json_reads(text: str) -> None:
    assert json_nesting(text) == _depth(json.loads(text))
    assert json_nesting(text.encode("utf-16")) == _depth(json.loads(text.encode("utf-16")))


@pytest.mark.parametrize(
    ("text", "nesting"),
    [
        ("[" * 100_000, 100_000),  # cut short: json would nest this deep before failing
        ('{"a":' * 100_000, 100_000),
        ('["unclosed ' + '\\"' * 50_000 + "[" * 100, 1),  # a string never closed holds no brackets
        ("<html>" + "[" * 100_000, 0),  # json refuses it at its first character
    ],
)
def test_json_nesting_of_text_that_is_not_json_is_what_json_would_reach(text: str, nesting: int) -> None:
    assert json_nesting(text) == nesting


def test_nesting_at_the_bound_is_allowed_and_one_past_it_is_not() -> None:
    assert json_problem("[" * MAX_NESTING + "]" * MAX_NESTING) is None
    deeper = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    assert json_problem(deeper) == f"JSON nested deeper than {MAX_NESTING} levels"


def test_vcrpy_itself_refuses_an_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even were the cassette not checked first, vcrpy's load goes through the bounded parser.
    victim = tmp_path / "cassette.yaml"
    text = CASSETTE.read_text()
    victim.write_text(
        text.replace("    body: ''\n", "    body: &b ''\n", 1).replace("body: ''", "body: *b", 1)
    )
    monkeypatch.setattr(cassettes, "read_provenance", lambda path: None)

    with (
        pytest.raises(yaml.YAMLError, match="a YAML alias"),
        replaying(victim, Scrubber(subscription_id=PLACEHOLDER)) as transport,
        httpx.Client(transport=transport) as client,
    ):
        client.get("http://127.0.0.1/anything")


def _recorded(body: str) -> Any:
    """What vcrpy's in-memory cassette holds after one exchange (a GET answered with ``body``)."""
    request = Request("GET", "http://127.0.0.1/thing", "", {})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"]},
        "body": {"string": body},
    }
    return SimpleNamespace(data=[(request, response)])


def _provenance() -> Provenance:
    return Provenance.now(target_kind="sandbox", target_name="t", cloud="Sandbox", scenario="s")


def test_a_recording_within_the_bounds_is_written_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"

    write_cassette(path, _recorded('{"name": "x"}'), _provenance(), Scrubber(subscription_id=PLACEHOLDER))

    assert read_provenance(path).target_kind == "sandbox"


def test_a_recording_replay_would_refuse_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    deep = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)

    with pytest.raises(ConfigError) as raised:
        write_cassette(path, _recorded(deep), _provenance(), Scrubber(subscription_id=PLACEHOLDER))

    assert str(raised.value) == (
        f"{path}: not written, replay would refuse it: "
        f"interactions[0].response.body.string: JSON nested deeper than {MAX_NESTING} levels"
    )
    assert list(tmp_path.iterdir()) == []


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every YAML text the bounded reader parses from here on."""
    seen: list[str] = []
    real = bounded.parse_recording

    def counted(text: str) -> Any:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(bounded, "parse_recording", counted)
    return seen


def test_a_recording_is_parsed_once_per_version_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "c.yaml"
    copy.write_bytes(CASSETTE.read_bytes())
    parses = _parses(monkeypatch)
    first = read_provenance(copy)
    assert read_provenance(copy) == first
    assert len(parses) == 1
    # Written again, it is another version: read again, and what it now says is what is returned.
    data = yaml.safe_load(copy.read_text())
    data["metadata"]["provenance"]["target_name"] = "another-target"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    assert read_provenance(copy).target_name == "another-target"
    assert len(parses) == 2


def test_a_recording_that_is_refused_is_refused_each_time_it_is_read(tmp_path: Path) -> None:
    broken = tmp_path / "c.yaml"
    broken.write_text("interactions: [\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="not a readable cassette"):
            read_provenance(broken)
    # Mended, it is read as it now is.
    broken.write_bytes(CASSETTE.read_bytes())
    assert read_provenance(broken) == read_provenance(CASSETTE)


def test_each_reader_of_a_transcript_gets_lists_of_its_own() -> None:
    transcript = (
        ROOT / "cassettes" / "restore_validation" / "every_node_answers_success_for_the_login_and_for_findkey"
    )
    transcript = transcript.with_name(transcript.name + ".transcript.yaml")
    first, second = load_transcript(transcript), load_transcript(transcript)
    first.sessions.append(SessionRecord("azcloudhsm_util"))
    first.sessions[0].events.clear()
    first.files["added.cfg"] = "{}"
    assert len(second.sessions) == len(load_transcript(transcript).sessions) > 0
    assert second.sessions[0].events
    assert "added.cfg" not in second.files


def test_each_parse_of_a_text_is_a_copy_of_its_own() -> None:
    text = CASSETTE.read_text()
    first = bounded.parse_recording(text)
    first["interactions"][0]["response"]["body"]["string"] = b"changed by vcrpy"
    second = bounded.parse_recording(text)
    assert second == yaml.safe_load(text)
    assert second["interactions"][0]["response"]["body"]["string"] != b"changed by vcrpy"


def test_a_text_that_is_refused_is_refused_each_time_it_is_parsed() -> None:
    for _ in range(2):
        with pytest.raises(yaml.YAMLError, match="alias"):
            bounded.parse_recording("a: &x [1]\nb: *x\n")


def test_vcrpy_hands_the_request_hook_a_copy_of_its_own() -> None:
    """The scrubber scrubs in place what vcrpy's before_record_request hook is given: it relies on
    vcrpy copying the request first, as this vcrpy does."""
    given: list[Request] = []
    hook = vcr.VCR(before_record_request=lambda r: given.append(r) or r).get_merged_config()[
        "before_record_request"
    ]
    original = Request("GET", "https://management.azure.com/subscriptions?api-version=1", b"", {"A": "b"})
    hook(original)
    assert given[0] is not original
    assert given[0].headers is not original.headers
