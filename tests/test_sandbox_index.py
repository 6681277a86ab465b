"""The sandbox finds a stored resource by id through an index, and the list stays the truth: an
insert, a removal or an id changed in place is seen at the next lookup. Lists it reads a cluster
at a time (resources by type, diagnostic settings, the activity log's records) are grouped once
between changes to the state, and a change is seen by the next read."""

from __future__ import annotations

from pathlib import Path

from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.world import (
    STORAGE_TYPE,
    changed,
    changing,
    find_resource,
    positions,
    resources_of_type,
)


def _state(*ids: str) -> dict[str, list[dict[str, str]]]:
    return {"resources": [{"id": i} for i in ids]}


def test_a_lookup_is_by_id_in_any_case_and_a_missing_id_is_none() -> None:
    state = _state("/s/a", "/s/B")

    assert find_resource(state, "/S/b/") is state["resources"][1]
    assert find_resource(state, "/s/c") is None


def test_changes_to_the_list_are_seen_at_the_next_lookup() -> None:
    state = _state("/s/a", "/s/b", "/s/c")
    assert find_resource(state, "/s/c") is not None

    state["resources"].insert(0, {"id": "/s/new"})  # every place moves by one
    assert find_resource(state, "/s/c") is state["resources"][3]
    assert find_resource(state, "/s/new") is state["resources"][0]

    del state["resources"][1]  # /s/a is gone
    assert find_resource(state, "/s/a") is None
    assert find_resource(state, "/s/b") is state["resources"][1]

    state["resources"][1]["id"] = "/s/renamed"
    assert find_resource(state, "/s/b") is None
    assert find_resource(state, "/s/renamed") is state["resources"][1]

    other = _state("/s/b")  # another state's list: its own answer
    assert find_resource(other, "/s/b") is other["resources"][0]
    assert find_resource(state, "/s/b") is None


def _first_letter(text: str) -> str:
    return text[0]


def test_positions_are_kept_until_the_state_changes() -> None:
    words = ["apple", "banana", "avocado"]
    found = positions("words", words, _first_letter)
    assert found == {"a": [0, 2], "b": [1]}
    assert positions("words", words, _first_letter) is found, "kept between changes"

    words.append("apricot")  # a change the store announces
    changed()
    assert positions("words", words, _first_letter) == {"a": [0, 2, 3], "b": [1]}

    assert positions("words", ["cherry"], _first_letter) == {"c": [0]}, "another list: its own"


def test_while_the_state_is_changing_positions_are_made_afresh_and_not_kept() -> None:
    words = ["apple"]
    before = positions("words", words, _first_letter)
    with changing():
        words.insert(0, "banana")
        assert positions("words", words, _first_letter) == {"a": [1], "b": [0]}
        words.pop(0)
        assert positions("words", words, _first_letter) == {"a": [0]}
    after = positions("words", words, _first_letter)
    assert after == {"a": [0]}
    assert after is not before


def test_a_change_in_a_transaction_is_seen_by_the_next_read(tmp_path: Path) -> None:
    store = SandboxStore(tmp_path, SandboxSettings(fleet_clusters=3, fleet_subscriptions=1))
    with store.reading() as state:
        accounts = resources_of_type(state, STORAGE_TYPE)
    with store.transaction() as state:
        gone = state["resources"].index(accounts[0])
        del state["resources"][gone]
    with store.reading() as state:
        assert resources_of_type(state, STORAGE_TYPE) == accounts[1:]
