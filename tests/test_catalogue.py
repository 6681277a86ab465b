"""The check catalogue: the shipped files load, tags derive by rule, and a broken file fails in one line."""

from __future__ import annotations

import shutil
from importlib.resources import as_file, files
from pathlib import Path

import pytest

from chsm_checks.checks.catalogue import Catalogue, load_catalogue
from chsm_checks.errors import ConfigError

NIST = "NIST SP 800-53 rev5"
CIS = "CIS Microsoft Azure Foundations Benchmark v5.0.0"
MCSB = "Microsoft cloud security benchmark v1"
TUTORIAL = "https://learn.microsoft.com/en-us/azure/cloud-hsm/backup-restore"

CHECK_IDS = {
    "restore.rto",
    "identity.single-user-assigned",
    "identity.resolvable",
    "clusters.provisioned",
    "clusters.sku",
    "clusters.source-active",
    "clusters.destination-not-activated",
    "clusters.distinct",
    "clusters.private",
    "locks.delete-protected",
    "logging.cluster-audit",
    "logging.blob-access",
    "backup.rpo",
    "storage.shared-key-disabled",
    "storage.private-endpoint",
    "storage.public-network",
    "storage.https-only",
    "storage.minimum-tls",
    "storage.blob-anonymous-access",
    "storage.cross-tenant-replication",
    "storage.container-private",
    "storage.blob-soft-delete",
    "storage.container-soft-delete",
    "storage.versioning",
    "storage.immutability",
    "storage.geo-redundant",
    "access.blob-data-contributor",
    "access.least-privilege",
    "requests.no-sas",
    "restore.configuration-points-at-destination",
    "restore.nodes-connected",
    "restore.keys-restored",
    "restore.no-extra-keys",
    "restore.users-restored",
    "restore.nodes-answer-success",
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The package's catalogue and mapping files, copied where a test may break them."""
    with as_file(files("chsm_checks.checks")) as source:
        shutil.copy(source / "catalogue.toml", tmp_path / "catalogue.toml")
        shutil.copytree(source / "mappings", tmp_path / "mappings")
    return tmp_path


def test_the_shipped_catalogue_holds_every_check(catalogue: Catalogue) -> None:
    assert set(catalogue.checks) == CHECK_IDS
    assert set(catalogue.frameworks) == {NIST, CIS, MCSB}
    for meta in catalogue.checks.values():
        assert TUTORIAL in {r.url for r in meta.references}, meta.id
        assert meta.remediation.cli.startswith("az "), meta.id


@pytest.mark.parametrize("check_id", sorted(CHECK_IDS))
def test_every_check_maps_to_nist_and_mcsb(catalogue: Catalogue, check_id: str) -> None:
    frameworks = {c.framework for c in catalogue[check_id].controls}

    assert {NIST, MCSB} <= frameworks


@pytest.mark.parametrize(
    ("check_id", "severity", "tags"),
    [
        (
            "storage.shared-key-disabled",
            "critical",
            {"nist-ac-3", "nist-ia-5", "nist-cp-9-8", "nist-cm-6", "cis-9.3.1.3", "mcsb-im-1"},
        ),
        (
            "storage.public-network",
            "high",
            {"nist-sc-7", "nist-sc-7-5", "nist-cm-6", "cis-9.3.2.2", "cis-9.3.2.3", "mcsb-ns-2"},
        ),
        ("storage.container-private", "high", {"nist-ac-3", "nist-cm-6", "mcsb-br-2"}),
        ("access.least-privilege", "high", {"nist-ac-6", "mcsb-pa-7"}),
        ("requests.no-sas", "critical", {"nist-ia-5", "nist-ia-5-7", "mcsb-im-8"}),
        ("clusters.sku", "low", {"nist-cm-6", "nist-sc-13", "mcsb-dp-8"}),
        ("clusters.destination-not-activated", "critical", {"nist-cp-10", "mcsb-br-4"}),
    ],
)
def test_check_tags_are_its_control_tags_and_its_severity(
    catalogue: Catalogue, check_id: str, severity: str, tags: set[str]
) -> None:
    assert catalogue[check_id].tags() == tags | {f"severity-{severity}"}


@pytest.mark.parametrize(
    ("framework", "control_id", "tag", "title"),
    [
        (NIST, "cp-9.1", "nist-cp-9-1", "Testing for Reliability and Integrity"),
        (NIST, "sc-7.5", "nist-sc-7-5", "Deny by Default — Allow by Exception"),
        (NIST, "ac-3", "nist-ac-3", "Access Enforcement"),
        (
            CIS,
            "9.3.1.3",
            "cis-9.3.1.3",
            "Ensure 'Allow storage account key access' for Azure Storage Accounts is 'Disabled'",
        ),
        (MCSB, "NS-2", "mcsb-ns-2", "Secure cloud native services with network controls"),
    ],
)
def test_control_tags_follow_each_frameworks_rule(
    catalogue: Catalogue, framework: str, control_id: str, tag: str, title: str
) -> None:
    assert catalogue.frameworks[framework].tag(control_id) == tag
    assert catalogue.control_title(framework, control_id) == title
    ref = catalogue.controls[tag]
    assert (ref.framework, ref.control_id, ref.title) == (framework, control_id, title)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}: the test is out of date"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


NIST_FILE = "mappings/nist-800-53-rev5.toml"
MCSB_FILE = "mappings/mcsb-v1.toml"


@pytest.mark.parametrize(
    ("file", "old", "new", "problem"),
    [
        (
            "catalogue.toml",
            'severity = "high"',
            'severity = "urgent"',
            "check[1].severity: Input should be 'critical'",
        ),
        (
            "catalogue.toml",
            f'url = "{TUTORIAL}"',
            'url = "http://example.com"',
            "check[1].references[1].url: 'http://example.com' is not an https URL",
        ),
        (
            "catalogue.toml",
            'id = "identity.resolvable"',
            'id = "identity.single-user-assigned"',
            "check[2].id: duplicate check id 'identity.single-user-assigned' (first at check[1])",
        ),
        (
            "catalogue.toml",
            'reads = ["cluster"]',
            'reads = ["cluster"]\ncolour = "red"',
            "check[1].colour: unknown field",
        ),
        (
            "catalogue.toml",
            "rationale = ",
            "reason = ",
            # The unknown field is the news (a misspelling makes the meant one missing too).
            "check[1].reason: unknown field",
        ),
        (
            "catalogue.toml",
            'reads = ["cluster"]',
            'reads = ["cluster", "vault"]',
            "check[1].reads[2]: Input should be 'cluster'",
        ),
        (
            "catalogue.toml",
            'remediation.cli = "az cloudhsm update',
            'remediation.cli = "cloudhsm update',
            "check[1].remediation.cli: is not an az CLI command line",
        ),
        (
            "catalogue.toml",
            '"Microsoft cloud security benchmark v1"]',
            '"MCSB v2"]',
            "required_frameworks[2]: no mapping file declares 'MCSB v2'",
        ),
        ("catalogue.toml", "[[check]]", "[[check]\n", "not valid TOML"),
        (
            NIST_FILE,
            "[checks]\n",
            '[checks]\n"storage.no-such-check" = ["ac-3"]\n',
            "checks.'storage.no-such-check': unknown check id",
        ),
        (
            NIST_FILE,
            '"access.least-privilege" = ["ac-6"]',
            '"access.least-privilege" = ["ac-6", "ac-99"]',
            "checks.'access.least-privilege'[2]: 'ac-99' is not in [controls]",
        ),
        (
            NIST_FILE,
            '"access.least-privilege" = ["ac-6"]',
            '"access.least-privilege" = []',
            "checks.'access.least-privilege': Tuple should have at least 1 item",
        ),
        (
            NIST_FILE,
            '"access.least-privilege" = ["ac-6"]\n',
            "",
            "checks.'access.least-privilege': required field is missing (every check maps to at least",
        ),
        (
            MCSB_FILE,
            '"clusters.sku" = ["DP-8"]\n',
            "",
            "checks.'clusters.sku': required field is missing (every check maps to at least one Microsoft",
        ),
        (NIST_FILE, 'tag_prefix = "nist-"', 'tag_prefix = "mcsb-"', "tag_prefix: 'mcsb-' is also used by"),
        (MCSB_FILE, 'tag_prefix = "mcsb-"', 'tag_prefix = "MCSB"', "tag_prefix: 'MCSB' is not a valid value"),
    ],
)
def test_a_broken_file_fails_with_one_line_naming_file_and_field(
    package_copy: Path, file: str, old: str, new: str, problem: str
) -> None:
    _edit(package_copy / file, old, new)

    with pytest.raises(ConfigError) as caught:
        load_catalogue(package_copy)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{package_copy / file}: {problem}")


def test_a_missing_required_framework_file_is_named(package_copy: Path) -> None:
    (package_copy / MCSB_FILE).unlink()

    with pytest.raises(
        ConfigError, match=r"catalogue\.toml: required_frameworks\[2\]: no mapping file declares"
    ):
        load_catalogue(package_copy)


def test_a_missing_catalogue_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_catalogue(tmp_path)

    assert str(caught.value) == f"{tmp_path / 'catalogue.toml'}: file not found"
