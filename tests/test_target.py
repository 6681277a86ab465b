"""Target files: the shipped ones load, and a bad one fails with one line naming file and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chsm_checks.errors import ConfigError
from chsm_checks.target import load_target
from tests.support.processes import run_cli

TARGETS = Path(__file__).resolve().parent.parent / "targets"
SUB = "5a4db0c5-bb2d-4bf6-8511-e5af3d4f4247"


def _valid() -> dict[str, Any]:
    return {
        "name": "unit",
        "arm_endpoint": "http://127.0.0.1:8765",
        "subscription_id": SUB,
        "source": {"resource_group": "rg-a", "cluster": "chsm-source"},
        "destination": {"resource_group": "rg-b", "cluster": "chsm-dest"},
        "storage": {"resource_group": "rg-a", "account": "chsmbackup", "container": "chsm-backups"},
        "identity": {"resource_group": "rg-a", "name": "id-chsm"},
        "private_endpoint": {"resource_group": "rg-a", "name": "pe-chsm-blob", "virtual_network": "vnet-a"},
    }


def _toml(data: dict[str, Any]) -> str:
    """Enough TOML for target files: scalars at the top, then one level of tables."""
    scalars = [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [
        f"[{k}]\n" + "\n".join(f"{json.dumps(kk)} = {json.dumps(vv)}" for kk, vv in v.items())
        for k, v in data.items()
        if isinstance(v, dict)
    ]
    return "\n".join(scalars) + "\n\n" + "\n\n".join(tables) + "\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("file", "kind", "endpoint"),
    [
        ("sandbox.toml", "sandbox", "http://127.0.0.1:8765"),
        ("reference.toml", "sandbox", "http://127.0.0.1:8765"),
        ("example-live.toml", "azure", "https://management.azure.com"),
    ],
)
def test_shipped_targets_load(file: str, kind: str, endpoint: str) -> None:
    target = load_target(TARGETS / file)

    assert target.kind == kind
    assert target.cloud.arm_endpoint == endpoint
    assert target.source_id != target.destination_id
    assert target.source_id.startswith(f"/subscriptions/{target.subscription_id}/resourceGroups/")
    assert target.container_uri.startswith("https://")
    assert "?" not in target.container_uri


def test_a_valid_file_derives_ids_and_the_container_uri(tmp_path: Path) -> None:
    target = load_target(_write(tmp_path, _toml(_valid())))

    assert target.destination_id == (
        f"/subscriptions/{SUB}/resourceGroups/rg-b/providers/Microsoft.HardwareSecurityModules"
        "/cloudHsmClusters/chsm-dest"
    )
    assert target.container_id.endswith(
        "/storageAccounts/chsmbackup/blobServices/default/containers/chsm-backups"
    )
    assert target.container_uri == "https://chsmbackup.blob.core.windows.net/chsm-backups"
    assert target.spec.arm.poll_interval_seconds == 30.0


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return edit


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[leaf]

    return edit


def _both(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for e in edits:
            e(data)

    return edit


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        pytest.param(_set("colour", "blue"), ["colour", "unknown field"], id="unknown-top-level-field"),
        pytest.param(
            _set("source.region", "uksouth"), ["source.region", "unknown field"], id="unknown-nested"
        ),
        pytest.param(_drop("storage"), ["storage", "missing"], id="missing-table"),
        pytest.param(_drop("source.cluster"), ["source.cluster", "missing"], id="missing-field"),
        pytest.param(_set("subscription_id", "not-a-guid"), ["subscription_id", "not-a-guid"], id="bad-guid"),
        pytest.param(_set("subscription_id", SUB + "0"), ["subscription_id"], id="guid-with-an-extra-digit"),
        pytest.param(
            _both(_drop("arm_endpoint"), _set("cloud", "AzureMars")),
            ["cloud", "AzureMars"],
            id="unknown-cloud",
        ),
        pytest.param(_set("cloud", "AzureCloud"), ["cloud", "arm_endpoint"], id="both-cloud-and-endpoint"),
        pytest.param(_drop("arm_endpoint"), ["cloud", "arm_endpoint"], id="neither-cloud-nor-endpoint"),
        pytest.param(
            _set("arm_endpoint", "https://management.azure.com"),
            ["arm_endpoint", "loopback"],
            id="non-loopback",
        ),
        pytest.param(
            _set("arm_endpoint", "http://127.0.0.1:8765/api"),
            ["arm_endpoint", "bare origin"],
            id="endpoint-path",
        ),
        # Loopback means loopback: 127.0.0.0/8, ::1 and the name localhost, nothing a resolver decides.
        *(
            pytest.param(_set("arm_endpoint", endpoint), ["arm_endpoint", "loopback"], id=f"endpoint-{name}")
            for name, endpoint in [
                ("dot-localhost", "http://a.localhost:8765"),
                ("localhost-trailing-dot", "http://LOCALHOST.:8765"),
                ("localhost-as-a-prefix", "http://localhost.example.com:8765"),
                ("loopback-as-a-prefix", "http://127.0.0.1.nip.io:8765"),
                ("mapped-ipv6", "http://[::ffff:127.0.0.1]:8765"),
                ("short-ipv4", "http://127.1:8765"),
                ("hex-ipv4", "http://0x7f000001:8765"),
                ("ipv6-zone", "http://[::1%25lo]:8765"),
                ("unspecified", "http://0.0.0.0:8765"),
            ]
        ),
        pytest.param(
            _set("arm_endpoint", "http://user:SeCrEt@127.0.0.1:8765"),
            ["arm_endpoint", "userinfo"],
            id="endpoint-userinfo",
        ),
        pytest.param(
            _set("arm_endpoint", "http://evil.example@127.0.0.1:8765"),
            ["arm_endpoint", "userinfo"],
            id="endpoint-name-as-userinfo",
        ),
        pytest.param(
            _set("arm_endpoint", "http://evil.example\\@127.0.0.1:8765"),
            ["arm_endpoint", "backslash"],
            id="endpoint-backslash",
        ),
        pytest.param(
            _set("arm_endpoint", "http://127.0.0.1:8765?token=SeCrEt"),
            ["arm_endpoint", "bare origin"],
            id="endpoint-query",
        ),
        pytest.param(
            _set("arm_endpoint", "http://127.0.0.1:8765#SeCrEt"),
            ["arm_endpoint", "bare origin"],
            id="endpoint-fragment",
        ),
        pytest.param(
            _set("arm_endpoint", "http://127.0.0.1\t:8765"),  # Python's parser drops the tab
            ["arm_endpoint", "control"],
            id="endpoint-tab",
        ),
        pytest.param(
            _set(
                "negative.unwritable_container_uri",
                "https://noaccess.blob.core.windows.net/c?sv=1&sig=SeCrEt",
            ),
            ["negative.unwritable_container_uri", "query string"],
            id="sas-in-negative-container",
        ),
        pytest.param(_set("storage.account", "Bad_Account"), ["storage.account"], id="bad-account-name"),
        pytest.param(_set("arm.max_attempts", 0), ["arm.max_attempts"], id="max-attempts-zero"),
        pytest.param(
            _set("destination", {"resource_group": "RG-A", "cluster": "CHSM-SOURCE"}),
            ["destination", "source"],
            id="destination-is-source",
        ),
    ],
)
def test_a_bad_file_fails_with_one_line_naming_file_and_field(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], names: list[str]
) -> None:
    data = _valid()
    edit(data)
    path = _write(tmp_path, _toml(data))

    with pytest.raises(ConfigError) as excinfo:
        load_target(path)

    message = str(excinfo.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for name in names:
        assert name in message
    assert "SeCrEt" not in message


@pytest.mark.parametrize(
    ("text", "names"),
    [
        pytest.param('name = "unterminated\n', ["not valid TOML"], id="malformed"),
        pytest.param("name = 1\nname = 2\n", ["not valid TOML"], id="duplicate-key"),
        pytest.param("", ["name", "missing"], id="empty"),
    ],
)
def test_a_file_that_is_not_a_target_fails_with_one_line(tmp_path: Path, text: str, names: list[str]) -> None:
    path = _write(tmp_path, text)

    with pytest.raises(ConfigError) as excinfo:
        load_target(path)

    message = str(excinfo.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for name in names:
        assert name in message


def test_a_field_name_with_a_newline_still_gives_one_line(tmp_path: Path) -> None:
    data = _valid()
    data["evil\nname"] = 1
    path = _write(tmp_path, _toml(data))

    with pytest.raises(ConfigError) as excinfo:
        load_target(path)

    message = str(excinfo.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert "unknown field" in message


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8765",
        "http://LocalHost:8765",
        "http://[::1]:8765",
        "http://127.9.9.9",
        "https://127.0.0.1",
    ],
)
def test_a_loopback_endpoint_loads_as_the_sandbox(tmp_path: Path, endpoint: str) -> None:
    data = _valid()
    data["arm_endpoint"] = endpoint + "/"
    target = load_target(_write(tmp_path, _toml(data)))

    assert target.kind == "sandbox"
    assert target.cloud.arm_endpoint == endpoint


def test_a_file_that_is_not_utf8_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    path.write_bytes(b'name = "\xff"\n')

    with pytest.raises(ConfigError, match="UTF-8") as excinfo:
        load_target(path)

    assert str(excinfo.value).startswith(f"{path}: ")


def test_a_missing_file_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(ConfigError) as excinfo:
        load_target(path)

    assert str(excinfo.value) == f"{path}: target file not found"


# --- identities in evidence --------------------------------------------------------------------

KEY_ENV = "CHSM_TEST_PSEUDONYM_KEY"
KEY_HEX = "5a4db0c5" * 8  # 32 bytes, written as 64 hex digits


def test_identities_are_pseudonymised_by_default_with_a_key_the_run_generates(tmp_path: Path) -> None:
    target = load_target(_write(tmp_path, _toml(_valid())))

    assert target.spec.identities_in_clear is False
    assert target.spec.pseudonym_key_env is None
    assert target.pseudonym_key is None  # the run generates one and keeps it in memory


def test_a_named_pseudonym_key_is_read_from_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY_HEX.upper())
    data = _valid() | {"pseudonym_key_env": KEY_ENV}

    target = load_target(_write(tmp_path, _toml(data)))

    assert target.pseudonym_key is not None
    assert target.pseudonym_key.source == KEY_ENV
    assert KEY_HEX not in repr(target.pseudonym_key)
    assert KEY_HEX.upper() not in repr(target.pseudonym_key)


def test_identities_in_clear_is_an_explicit_choice(tmp_path: Path) -> None:
    target = load_target(_write(tmp_path, _toml(_valid() | {"identities_in_clear": True})))

    assert target.spec.identities_in_clear is True


@pytest.mark.parametrize(
    ("data", "environment", "names"),
    [
        pytest.param(
            {"pseudonymise_identity": True},
            None,
            ["pseudonymise_identity", "by default", "pseudonym_key_env", "identities_in_clear"],
            id="the-old-key",
        ),
        pytest.param(
            {"pseudonymise_identity": False},
            None,
            ["pseudonymise_identity", "identities_in_clear = true"],
            id="the-old-key-off",
        ),
        pytest.param(
            {"pseudonym_key_env": "not a name"},
            None,
            ["pseudonym_key_env", "'not a name'"],
            id="bad-env-name",
        ),
        pytest.param(
            {"pseudonym_key_env": KEY_ENV}, None, ["pseudonym_key_env", KEY_ENV, "not set"], id="env-unset"
        ),
        pytest.param(
            {"pseudonym_key_env": KEY_ENV}, "   ", ["pseudonym_key_env", KEY_ENV, "not set"], id="env-empty"
        ),
        pytest.param(
            {"pseudonym_key_env": KEY_ENV},
            "SeCrEt-not-hex-" * 4,
            ["pseudonym_key_env", KEY_ENV, "hex"],
            id="env-not-hex",
        ),
        pytest.param(
            {"pseudonym_key_env": KEY_ENV},
            "5a4db0c5" * 3,
            ["pseudonym_key_env", KEY_ENV, "12 bytes", "at least 16"],
            id="env-key-too-short",
        ),
        pytest.param(
            {"pseudonym_key_env": KEY_ENV},
            KEY_HEX + "a",
            ["pseudonym_key_env", KEY_ENV, "hex"],
            id="env-odd-hex-digits",
        ),
        pytest.param(
            {"pseudonym_key_env": KEY_ENV, "identities_in_clear": True},
            KEY_HEX,
            ["identities_in_clear", "pseudonym_key_env"],
            id="clear-and-keyed",
        ),
        pytest.param({"identities_in_clear": "yes"}, None, ["identities_in_clear"], id="clear-not-a-boolean"),
    ],
)
def test_a_bad_identity_setting_fails_with_one_line_naming_file_and_field(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: dict[str, Any],
    environment: str | None,
    names: list[str],
) -> None:
    if environment is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, environment)
    path = _write(tmp_path, _toml(_valid() | data))

    with pytest.raises(ConfigError) as excinfo:
        load_target(path)

    message = str(excinfo.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for name in names:
        assert name in message
    assert "SeCrEt" not in message
    assert "5a4db0c5" * 3 not in message  # the key's value is never repeated


def test_a_fleet_target_takes_the_identity_settings_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chsm_checks.target import load_fleet_target

    monkeypatch.delenv(KEY_ENV, raising=False)
    path = _write(
        tmp_path,
        f'name = "fleet"\narm_endpoint = "http://127.0.0.1:8765"\npseudonym_key_env = "{KEY_ENV}"\n\n'
        f'[fleet]\nsubscriptions = ["{SUB}"]\n',
    )

    with pytest.raises(ConfigError, match=f"^{path}: pseudonym_key_env: .*{KEY_ENV}"):
        load_fleet_target(path)
    monkeypatch.setenv(KEY_ENV, KEY_HEX)
    assert load_fleet_target(path).pseudonym_key is not None


@pytest.mark.parametrize(
    "endpoint",
    ["http://user:SeCrEt@127.0.0.1:8765", "http://a.localhost:8765", "http://127.0.0.1:8765?token=SeCrEt"],
)
def test_chsm_checks_run_refuses_an_endpoint_off_loopback_with_one_line_and_exit_2(
    tmp_path: Path, endpoint: str
) -> None:
    text = (TARGETS / "reference.toml").read_text(encoding="utf-8")
    assert 'arm_endpoint = "http://127.0.0.1:8765"' in text
    target = _write(
        tmp_path, text.replace('arm_endpoint = "http://127.0.0.1:8765"', f"arm_endpoint = {endpoint!r}")
    )

    result = run_cli("run", "--target", str(target), "--reports", str(tmp_path / "reports"))

    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"chsm-checks: {target}: arm_endpoint:")
    assert "Traceback" not in result.output
    assert "SeCrEt" not in result.output
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("endpoint", ["http://user:SeCrEt@127.0.0.1:8765", "https://management.azure.com"])
def test_an_arm_endpoint_option_off_loopback_is_refused_naming_the_option(
    tmp_path: Path, endpoint: str
) -> None:
    result = run_cli("run", "--arm-endpoint", endpoint, "--reports", str(tmp_path / "reports"))

    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("chsm-checks: --arm-endpoint: ")
    assert "SeCrEt" not in result.output
    assert not (tmp_path / "reports").exists()


def test_an_arm_endpoint_given_replaces_the_target_files_cloud(tmp_path: Path) -> None:
    spec = _valid()
    del spec["arm_endpoint"]
    azure = _write(tmp_path, _toml(spec | {"cloud": "AzureCloud"}))
    assert load_target(azure).kind == "azure"

    pointed = load_target(azure, arm_endpoint="http://127.0.0.1:9/")

    assert (pointed.kind, pointed.cloud.arm_endpoint) == ("sandbox", "http://127.0.0.1:9")
    assert pointed.subscription_id == load_target(azure).subscription_id
    shipped = load_target(TARGETS / "sandbox.toml", arm_endpoint="http://localhost:4000")
    assert shipped.cloud.arm_endpoint == "http://localhost:4000"


def test_nothing_listening_at_the_arm_endpoint_given_names_the_option(tmp_path: Path) -> None:
    result = run_cli(
        "run", "--mode", "record", "--target", str(TARGETS / "sandbox.toml"), "--arm-endpoint", "http://127.0.0.1:9",
        "--reports", str(tmp_path / "reports"),
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.startswith("chsm-checks: --arm-endpoint: nothing listens on http://127.0.0.1:9; ")


def test_the_protection_table_defaults_to_what_an_auditor_asks_of_any_account(tmp_path: Path) -> None:
    protection = load_target(_write(tmp_path, _toml(_valid()))).protection
    assert (protection.min_soft_delete_days, protection.require_immutability) == (7, False)
    assert (protection.require_alternate_site, protection.rpo_hours) == (False, 24)
    shipped = load_target(TARGETS / "sandbox.toml").protection
    assert (shipped.require_immutability, shipped.require_alternate_site) == (True, True)


@pytest.mark.parametrize(
    ("protection", "field"),
    [
        pytest.param({"min_soft_delete_days": 0}, "protection.min_soft_delete_days", id="no-days"),
        pytest.param({"min_soft_delete_days": 366}, "protection.min_soft_delete_days", id="beyond-azure"),
        pytest.param({"min_soft_delete_days": "7"}, "protection.min_soft_delete_days", id="a-string"),
        pytest.param({"require_immutability": "yes"}, "protection.require_immutability", id="not-a-boolean"),
        pytest.param({"require_alternate_site": 1}, "protection.require_alternate_site", id="a-number"),
        pytest.param({"rpo": 24}, "protection.rpo", id="an-unknown-key"),
        pytest.param({"rpo_hours": 0}, "protection.rpo_hours", id="no-rpo"),
        pytest.param({"rpo_hours": 24 * 90}, "protection.rpo_hours", id="beyond-the-log"),
        pytest.param({"rpo_hours": 1.5}, "protection.rpo_hours", id="a-fraction"),
    ],
)
def test_a_bad_protection_table_fails_with_one_line_naming_the_field(
    tmp_path: Path, protection: dict[str, Any], field: str
) -> None:
    path = _write(tmp_path, _toml(_valid() | {"protection": protection}))
    with pytest.raises(ConfigError) as excinfo:
        load_target(path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}:"), message


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        pytest.param(
            "subscription_id =", "subscripton_id =",
            "subscripton_id: unknown field; did you mean subscription_id?", id="missing",
        ),
        pytest.param(
            'cluster = "chsm-source"', 'clustr = "chsm-source"',
            "source.clustr: unknown field; did you mean cluster?", id="nested",
        ),
        pytest.param(
            'name = "reference"', 'name = "reference"\nwaiver = "w.toml"',
            "waiver: unknown field; did you mean waivers?", id="optional",
        ),
        pytest.param(
            'name = "reference"', 'name = "reference"\ncolour = "blue"',
            "colour: unknown field", id="no-guess",
        ),
    ],
)  # fmt: skip
def test_a_misspelt_field_is_named_first_with_what_it_likely_meant(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    text = (TARGETS / "reference.toml").read_text(encoding="utf-8")
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))

    with pytest.raises(ConfigError) as raised:
        load_target(path)

    assert str(raised.value) == f"{path}: {said}"
