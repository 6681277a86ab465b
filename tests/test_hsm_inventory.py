"""Comparing key and user inventories: matched by key id and class, handles free to change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chsm_checks.checks.catalogue import load_catalogue
from chsm_checks.errors import CouldNotEvaluate
from chsm_checks.hsm.checks import KEYS_RESTORED, keys_restored
from chsm_checks.hsm.drill import (
    SourceInventory,
    configuration_findings,
    keys_not_the_sources,
    not_the_source,
)
from chsm_checks.hsm.inventory import Key, KeyInventory, UserInventory, compare_keys, compare_users
from chsm_checks.hsm.parsers import HsmUser, KeyUtilResult, ReturnCode
from chsm_checks.outcomes import Outcome
from chsm_checks.recording import Scrubber
from chsm_checks.services.judge import Judge
from tests.check_fixtures import DESTINATION_ID, SUB

OK = KeyUtilResult(ReturnCode("Cfm3LoginHSM", 0, "HSM Return: SUCCESS"), ())


def _key(handle: int, key_id: str | None, key_class: str = "0x04", label: str = "k", **extra: str) -> Key:
    attributes = {"OBJ_ATTR_CLASS": key_class, "OBJ_ATTR_LABEL": label, **extra}
    if key_id is not None:
        attributes["OBJ_ATTR_ID"] = key_id
    return Key(handle, attributes, owner=3, shared_with=())


def _inventory(*keys: Key) -> KeyInventory:
    return KeyInventory(OK, None, keys)


def test_same_keys_under_new_handles_agree() -> None:
    source = _inventory(_key(6, "aa"), _key(7, "bb", "0x03"), _key(8, "bb", "0x02"))
    restored = _inventory(_key(1048582, "aa"), _key(1048583, "bb", "0x03"), _key(1048584, "bb", "0x02"))
    comparison = compare_keys(source, restored)
    assert comparison.differences == []
    assert comparison.extras == []
    assert sorted(comparison.matched) == [(6, 1048582), (7, 1048583), (8, 1048584)]


def test_missing_changed_extra_and_unmatchable_keys_are_each_named() -> None:
    source = _inventory(_key(6, "aa"), _key(7, "bb", label="old"), _key(9, None))
    destination = _inventory(_key(10, "bb", label="new"), _key(11, "cc"))
    comparison = compare_keys(source, destination)
    assert any("aa" in d and "missing" in d for d in comparison.differences)
    assert any("OBJ_ATTR_LABEL was 'old', now 'new'" in d for d in comparison.differences)
    assert any("handle 9 has no OBJ_ATTR_ID" in d for d in comparison.differences)
    assert comparison.extras == ["key id cc class 0x04 ('k') is on the destination but was not on the source"]


def test_users_must_agree_on_every_node_and_with_the_source() -> None:
    def users(*names: str) -> tuple[HsmUser, ...]:
        return tuple(HsmUser(n, "CU", name, False, 0, False) for n, name in enumerate(names, 1))

    source = UserInventory({0: users("admin", "cu1")})
    same = UserInventory({0: users("admin", "cu1"), 1: users("admin", "cu1"), 2: users("admin", "cu1")})
    drifted = UserInventory({0: users("admin", "cu1"), 1: users("admin"), 2: users("admin", "cu1", "cu9")})

    assert compare_users(source, same).differences == []
    result = compare_users(source, drifted)
    assert any(d.startswith("server 1 lists") for d in result.differences)
    assert any(d.startswith("server 2 lists") for d in result.differences)


SOURCE_HOST = "hsm1.chsm-source-abc.privatelink.cloudhsm.azure.net"
DESTINATION_HOST = "hsm1.chsm-dest-xyz.privatelink.cloudhsm.azure.net"


def _source() -> SourceInventory:
    return SourceInventory(_inventory(_key(6, "aa")), UserInventory({}), SOURCE_HOST)


def test_a_validation_that_finds_the_sources_handles_is_talking_to_the_source() -> None:
    same_handles = compare_keys(
        _inventory(_key(6, "aa"), _key(262150, "bb")), _inventory(_key(6, "aa"), _key(262150, "bb"))
    )
    with pytest.raises(CouldNotEvaluate, match="talking to the source"):
        keys_not_the_sources(same_handles)
    new_handles = compare_keys(_inventory(_key(6, "aa")), _inventory(_key(1048582, "aa")))
    assert keys_not_the_sources(new_handles) is new_handles


def test_a_destination_host_that_is_the_sources_is_an_error() -> None:
    with pytest.raises(CouldNotEvaluate, match="is the source's"):
        not_the_source(SOURCE_HOST.upper(), _source())
    assert not_the_source(DESTINATION_HOST, _source()) == DESTINATION_HOST


CFG = "azcloudhsm_resource.cfg"


class _Configs:
    def __init__(self, text: str) -> None:
        self.text = text

    def read_config(self, path: str) -> str:
        return self.text


def test_a_configuration_that_still_names_the_source_is_an_error_not_a_finding() -> None:
    still_source = _Configs(json.dumps({"servers": [{"hostname": SOURCE_HOST}]}))
    with pytest.raises(CouldNotEvaluate, match="still names the source cluster's host"):
        configuration_findings(
            still_source, DESTINATION_ID, ["azcloudhsm_resource.cfg"], DESTINATION_HOST, _source()
        )
    elsewhere = _Configs(json.dumps({"servers": [{"hostname": "hsm1.other.example"}]}))
    [finding] = configuration_findings(
        elsewhere, DESTINATION_ID, ["azcloudhsm_resource.cfg"], DESTINATION_HOST, _source()
    )
    assert finding.status is Outcome.FAILED
    assert finding.check_id == "restore.configuration-points-at-destination"
    assert "names hsm1.other.example" in finding.message


def test_a_restore_check_is_judged_and_waived_like_an_arm_check(tmp_path: Path) -> None:
    comparison = compare_keys(_inventory(_key(6, "aa"), _key(7, "bb")), _inventory(_key(1048582, "aa")))
    waivers = tmp_path / "waivers.toml"
    waivers.write_text(
        f"""
[[waiver]]
check = "{KEYS_RESTORED}"
resource = "{DESTINATION_ID}"
justification = "Key bb is retired on the source; its removal is tracked in CHG-2001."
approver = "Dana Whitfield (CISO)"
approved_on = 2026-01-15
expires = 2999-01-01T00:00:00Z
""",
        encoding="utf-8",
    )
    catalogue, scrubber = load_catalogue(), Scrubber(subscription_id=SUB)
    findings = keys_restored(DESTINATION_ID, comparison)

    unwaived = Judge.load(catalogue, None, scrubber).settle(KEYS_RESTORED, findings)
    waived = Judge.load(catalogue, waivers, scrubber).settle(KEYS_RESTORED, findings)

    assert [(f.status, f.resource_id) for f in unwaived] == [(Outcome.FAILED, DESTINATION_ID)]
    assert "bb" in unwaived[0].message
    assert catalogue[KEYS_RESTORED].remediation
    assert [f.status for f in waived] == [Outcome.WAIVED]
    assert waived[0].waiver is not None
    assert "CHG-2001" in waived[0].waiver.justification
