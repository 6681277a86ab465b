"""What a collected pytest item is in Gherkin terms: feature, scenario, tags, cassette."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .recording import slug
from .suite import from_here


@dataclass(frozen=True)
class ScenarioInfo:
    """One Gherkin scenario (or one example row of an outline) as collected."""

    feature_file: str
    feature: str
    name: str
    tags: tuple[str, ...]
    example: str | None
    cassette: Path
    rule: str | None = None
    rendered: str | None = None  # an outline row's name with its example's values in place

    @property
    def title(self) -> str:
        """How reports name the scenario: an outline row by its name with the row's values in place,
        as a reader of the feature reads it; a row whose name has no placeholder, by name and row id."""
        if self.example is None:
            return self.name
        if self.rendered and self.rendered != self.name:
            return self.rendered
        return f"{self.name} [{self.example}]"

    @property
    def expected(self) -> str:
        """What the scenario's configuration should meet: ``rejected`` for refusals, else ``supported``."""
        return "rejected" if {"guard", "negative"} & set(self.tags) else "supported"

    @property
    def slug(self) -> str:
        """The scenario's file name stem (shared by its cassette, transcript and evidence folder)."""
        return self.cassette.stem

    @property
    def transcript(self) -> Path:
        """Where the scenario's HSM utility sessions are recorded, beside its cassette."""
        return self.cassette.with_suffix(".transcript.yaml")

    @property
    def label(self) -> str:
        """``<feature file>: <title>``: how provenance names the scenario."""
        return f"{self.feature_file}: {self.title}"


def scenario_template(item: pytest.Item) -> Any:
    # The one place that reads pytest-bdd internals (pinned to 9.x): which scenario a test runs.
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    obj = getattr(item, "obj", None)
    return scenario_wrapper_template_registry.get(obj) if obj is not None else None


def is_scenario(item: pytest.Item) -> bool:
    return scenario_template(item) is not None


def _outside_the_suite(feature: Path) -> Path:
    """How a feature outside the suite's features is named: relative to the working directory when it
    is below it, else by its own directory's name and its name."""
    shown = from_here(feature)
    return shown if not shown.is_absolute() else Path(feature.parent.name) / feature.name


def scenario_info(item: pytest.Item, cassette_dir: Path, features_root: Path) -> ScenarioInfo | None:
    """The scenario ``item`` runs, with the cassette path it records to and replays from."""
    template = scenario_template(item)
    if template is None:
        return None
    feature_path = Path(template.feature.filename)
    try:
        rel = feature_path.resolve().relative_to(features_root.resolve())
    except ValueError:  # an organisation's feature (--features): as given, from where the run started
        rel = _outside_the_suite(feature_path)
    callspec = getattr(item, "callspec", None)
    example = callspec.id if callspec is not None else None
    values = callspec.params.get("_pytest_bdd_example") if callspec is not None else None
    rendered = template.render(values).name if isinstance(values, dict) and values else None
    name = slug(template.name) + (f"__{slug(example)}" if example else "")
    rule_tags = template.rule.tags if template.rule is not None else set()
    # An outline's Examples block can carry tags too: pytest-bdd makes them marks of its rows.
    example_tags = {mark.name for mark in getattr(callspec, "marks", ())} if callspec is not None else set()
    return ScenarioInfo(
        feature_file=rel.as_posix(),
        feature=template.feature.name,
        name=template.name,
        tags=tuple(sorted(set(template.tags) | set(template.feature.tags) | set(rule_tags) | example_tags)),
        example=example,
        cassette=cassette_dir / rel.with_suffix("") / f"{name}.yaml",
        rule=template.rule.name if template.rule is not None else None,
        rendered=rendered,
    )
