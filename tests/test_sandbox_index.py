"""The sandbox finds a stored resource by id through an index, and the list stays the truth: an
insert, a removal or an id changed in place is seen at the next lookup."""

from __future__ import annotations

from chsm_checks.sandbox.world import find_resource


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
