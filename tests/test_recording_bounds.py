"""The bounded reader's parts: JSON nesting measured as JSON would nest, without parsing; vcrpy's own
load refusing what the check refuses; and record mode never writing what replay would refuse."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from vcr.request import Request

from chsm_checks.errors import ConfigError
from chsm_checks.recording import Provenance, Scrubber, cassettes, read_provenance, replaying, write_cassette
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
