"""The features and the catalogue agree: every check is stated; its control tags match the mappings."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator

import pytest
from pytest_bdd.parser import FeatureParser

from chsm_checks.checks.catalogue import load_catalogue
from chsm_checks.checks.evaluate import EVALUATORS
from chsm_checks.checks.recovery import RECOVERY_TIME
from chsm_checks.hsm.checks import RESTORE_CHECKS
from steps.features import FEATURES_IN_ORDER
from tests.support.processes import ROOT

CHECK_STEP = re.compile(r'the "(?P<check>[^"]+)" check holds')
CONTROL_PREFIXES = ("nist-", "cis-", "mcsb-", "severity-")
CATALOGUE = load_catalogue()


def _stated() -> Iterator[tuple[str, frozenset[str], frozenset[str]]]:
    """(where, check ids, control and severity tags) for every scenario and Examples block."""
    for name in FEATURES_IN_ORDER:
        feature = FeatureParser(str(ROOT / "features"), name).parse()
        for scenario in feature.scenarios.values():
            base = (
                set(scenario.tags) | set(feature.tags) | (set(scenario.rule.tags) if scenario.rule else set())
            )
            texts = [step.name for step in scenario._steps]
            if not scenario.examples:
                checks = {m["check"] for t in texts if (m := CHECK_STEP.search(t))}
                yield f"{name}: {scenario.name}", frozenset(checks), frozenset(base)
            for examples in scenario.examples:
                column = (
                    examples.example_params.index("check") if "check" in examples.example_params else None
                )
                checks = {row[column] for row in examples.examples} if column is not None else set()
                yield (
                    f"{name}: {scenario.name} [{examples.name}]",
                    frozenset(checks),
                    frozenset(base | examples.tags),
                )


STATED = [s for s in _stated() if s[1]]


def _controls(tags: frozenset[str]) -> set[str]:
    return {t for t in tags if t.startswith(CONTROL_PREFIXES)}


@pytest.mark.parametrize(("where", "checks", "tags"), STATED, ids=[s[0] for s in STATED])
def test_a_scenarios_control_tags_are_its_checks_mappings(
    where: str, checks: frozenset[str], tags: frozenset[str]
) -> None:
    expected = set().union(*(CATALOGUE[c].tags() for c in checks))
    assert _controls(tags) == expected, (
        f"{where}: tags {sorted(_controls(tags))} vs mappings {sorted(expected)}"
    )


def test_every_catalogue_check_is_stated_by_a_scenario_and_has_an_evaluator() -> None:
    stated = set().union(*(checks for _, checks, _ in STATED))
    assert stated == set(CATALOGUE.checks)
    # An ARM check is evaluated over the environment; a restore-validation check judges what the
    # HSM utilities reported; one check is never both.
    # restore.rto times the drill itself (its steps and chsm_checks.services.drill).
    assert not set(EVALUATORS) & set(RESTORE_CHECKS)
    assert set(EVALUATORS) | set(RESTORE_CHECKS) | {RECOVERY_TIME} == set(CATALOGUE.checks)


def test_every_tag_a_feature_can_carry_is_a_registered_marker() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    registered = {m.split(":", 1)[0].strip() for m in pyproject["tool"]["pytest"]["ini_options"]["markers"]}
    every = set().union(*(meta.tags() for meta in CATALOGUE.checks.values()))
    assert every <= registered


DRILL_ONLY = {
    "clusters.source-active",
    "clusters.destination-not-activated",
    "clusters.distinct",
    *RESTORE_CHECKS,  # a restore's validation needs a restore
    RECOVERY_TIME,  # and so does its timing
}


def test_the_fleet_feature_lists_every_read_only_check_and_wears_their_controls() -> None:
    feature = FeatureParser(str(ROOT / "features"), "fleet.feature").parse()
    [scenario] = feature.scenarios.values()
    [table] = [step.datatable for step in scenario._steps if step.datatable is not None]
    rows = [[cell.value for cell in row.cells] for row in table.rows]
    assert rows[0] == ["check"]
    checks = [row[0] for row in rows[1:]]
    assert len(checks) == len(set(checks))
    # Every catalogue check but the drill's, which need a source and a destination.
    assert set(checks) == set(CATALOGUE.checks) - DRILL_ONLY
    tags = set(scenario.tags) | set(feature.tags)
    expected = set().union(*(CATALOGUE[c].tags() for c in checks))
    assert {t for t in tags if t.startswith(CONTROL_PREFIXES)} == expected


def _every_scenario() -> Iterator[tuple[str, frozenset[str]]]:
    for name in (*FEATURES_IN_ORDER, "fleet.feature"):
        feature = FeatureParser(str(ROOT / "features"), name).parse()
        for scenario in feature.scenarios.values():
            rule = set(scenario.rule.tags) if scenario.rule else set()
            yield f"{name}: {scenario.name}", frozenset(set(scenario.tags) | set(feature.tags) | rule)


@pytest.mark.parametrize(("where", "tags"), list(_every_scenario()), ids=[w for w, _ in _every_scenario()])
def test_a_scenario_that_tests_the_harness_is_a_self_check_and_claims_no_control(
    where: str, tags: frozenset[str]
) -> None:
    """A refusal the harness provokes or a fault it injects is evidence about chsm-checks, not the
    environment: it is tagged ``self-check`` and carries no control tag for a verdict to rest on."""
    if {"guard", "sandbox-faults"} & tags:
        assert "self-check" in tags, where
    if "self-check" in tags:
        assert not {t for t in tags if t.startswith(("nist-", "cis-", "mcsb-"))}, where
