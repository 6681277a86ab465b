"""The check catalogue: what each check asserts, why, and how to fix it, as data validated at load.

``catalogue.toml`` holds one ``[[check]]`` per check. ``mappings/*.toml`` hold one control
framework each (its controls, its tag style, and which checks evidence which controls); they are
joined to the checks here, once. Any problem fails with one ``ConfigError`` line naming the file and
the field, entries counted from 1 as a reader counts them: ``catalogue.toml: check[3].severity: ...``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ..config_files import StrictModel, quote_key, validated
from ..errors import ConfigError

Line = Annotated[str, Field(min_length=1, pattern=r"^[^\r\n]+$")]
Text = Annotated[str, Field(min_length=1)]
CheckId = Annotated[str, Field(pattern=r"^[a-z]+\.[a-z0-9]+(-[a-z0-9]+)*$")]
ControlId = Annotated[str, Field(pattern=r"^[A-Za-z0-9]+([.-][A-Za-z0-9]+)*$")]
ResourceKind = Literal[
    "cluster",
    "identity",
    "storage_account",
    "blob_service",
    "container",
    "private_endpoint",
    "role_assignments",
    "role_definitions",
    "locks",
    "diagnostic_settings",
    "diagnostic_categories",
    "activity_log",
    "target",
    # what the HSM utilities report on the client machine, for the restore-validation checks
    "hsm_configuration",
    "hsm_cluster_info",
    "hsm_keys",
    "hsm_users",
]
FieldPath = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")]

_AZ_CMDLET = re.compile(r"\b[A-Z][a-z]+-Az[A-Z]\w*")


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Remediation(StrictModel):
    """How to fix a failed check: in the portal, with the az CLI, with Az PowerShell."""

    portal: Text
    cli: Line
    powershell: Line

    @field_validator("cli")
    @classmethod
    def _az_command(cls, value: str) -> str:
        if not value.startswith("az "):
            raise ValueError("is not an az CLI command line (it must start with 'az ')")
        return value

    @field_validator("powershell")
    @classmethod
    def _az_cmdlet(cls, value: str) -> str:
        if not _AZ_CMDLET.search(value):
            raise ValueError("names no Az PowerShell cmdlet (Verb-AzNoun)")
        return value


class Reference(StrictModel):
    """A document that supports the check."""

    title: Line
    url: Line

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        return _https_url(value)


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{value!r} is not an https URL")
    return value


class DocumentedDefault(StrictModel):
    """What an absent property means, as Azure documents it: the only way an absent property is
    judged as anything but absent."""

    resource: ResourceKind
    field: FieldPath
    means: Line
    source: Line

    @field_validator("source")
    @classmethod
    def _https(cls, value: str) -> str:
        return _https_url(value)


class ControlRef(StrictModel):
    """One control of one framework, as its mapping file names it, and the Gherkin tag for it.

    ``condition``, when set, is the named condition of the check whose finding decides this control
    (``public-network-access-disabled`` for "Public Network Access is Disabled"): a finding claims the
    control only if it judged that condition, and satisfies it only if the condition held.
    """

    framework: Line
    control_id: Line
    title: Line
    tag: Line
    condition: Line | None = None


class CheckEntry(StrictModel):
    """One ``[[check]]`` of ``catalogue.toml``."""

    id: CheckId
    title: Line
    rationale: Text
    remediation: Remediation
    severity: Severity
    references: tuple[Reference, ...] = Field(min_length=1)
    reads: tuple[ResourceKind, ...] = Field(min_length=1)
    # The fields of ARM bodies the check judges: one of the wrong JSON type, or a body without
    # ``properties``, makes the check an error naming the resource and the field.
    judges: dict[ResourceKind, tuple[FieldPath, ...]] = Field(default_factory=dict)
    defaults: tuple[DocumentedDefault, ...] = ()
    # Named conditions the check judges on its way to a verdict, that mappings may claim one by one.
    conditions: dict[Annotated[str, Field(pattern=r"^[a-z]+(-[a-z0-9]+)*$")], Line] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _defaults_are_judged(self) -> CheckEntry:
        for n, default in enumerate(self.defaults, 1):
            if default.field not in self.judges.get(default.resource, ()):
                raise ValueError(
                    f"defaults[{n}]: {default.resource} {default.field} is not a field the check judges"
                )
        for kind in self.judges:
            if kind not in self.reads:
                raise ValueError(f"judges: {kind} is not a resource the check reads")
        return self

    @property
    def from_utilities(self) -> bool:
        """Whether the check judges what the HSM utilities report (a restore validation), whose
        parsers refuse any line they do not know, rather than fields of ARM bodies."""
        return any(kind.startswith("hsm_") for kind in self.reads)


class CheckMeta(CheckEntry):
    """A check's metadata joined with the controls it evidences."""

    controls: tuple[ControlRef, ...]

    def tags(self) -> frozenset[str]:
        """The Gherkin tags of the check: one per control, plus ``severity-<severity>``."""
        return frozenset(c.tag for c in self.controls) | {f"severity-{self.severity.value}"}


class Framework(StrictModel):
    """A control framework at one version: its controls, by id as published, and its tag style."""

    name: Line = Field(alias="framework")
    tag_prefix: str = Field(pattern=r"^[a-z]+-$")
    # NIST enhancements (cp-9.1) become nist-cp-9-1, as pytest markers already spell them; CIS keeps dots.
    tag_dot: Literal[".", "-"] = "."
    controls: dict[ControlId, Line] = Field(min_length=1)

    def tag(self, control_id: str) -> str:
        return self.tag_prefix + control_id.lower().replace(".", self.tag_dot)

    def ref(self, control_id: str, condition: str | None = None) -> ControlRef:
        return ControlRef(
            framework=self.name,
            control_id=control_id,
            title=self.controls[control_id],
            tag=self.tag(control_id),
            condition=condition,
        )


class _MappingFile(Framework):
    checks: dict[str, Annotated[tuple[str, ...], Field(min_length=1)]]
    # check id -> control id -> the check's named condition that decides that control
    conditions: dict[str, dict[str, str]] = Field(default_factory=dict)


class _CatalogueFile(StrictModel):
    required_frameworks: tuple[Line, ...] = Field(min_length=1)
    check: tuple[CheckEntry, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Catalogue:
    """Every check by id, every framework by name, every control by tag."""

    checks: Mapping[str, CheckMeta]
    frameworks: Mapping[str, Framework]
    controls: Mapping[str, ControlRef]

    def __getitem__(self, check_id: str) -> CheckMeta:
        return self.checks[check_id]

    def __contains__(self, check_id: object) -> bool:
        return check_id in self.checks

    def control_title(self, framework: str, control_id: str) -> str:
        """The published title of a control; ``KeyError`` when the framework or control is unknown."""
        return self.frameworks[framework].controls[control_id]


def markdown_table(catalogue: Catalogue) -> str:
    """The catalogue as the README shows it: check, condition, what it reads, controls, severity."""
    rows = ["| check | condition | reads | controls | severity |", "|---|---|---|---|---|"]
    for meta in sorted(catalogue.checks.values(), key=lambda m: m.id):
        controls = ", ".join(
            f"{c.tag.split('-', 1)[0].upper()} {c.control_id.upper()}"
            for c in sorted(meta.controls, key=lambda c: c.tag)
        )
        reads = ", ".join(str(r).replace("_", " ") for r in meta.reads)
        rows.append(f"| `{meta.id}` | {meta.title} | {reads} | {controls} | {meta.severity.value} |")
    return "\n".join(rows) + "\n"


@cache
def default_catalogue() -> Catalogue:
    """The package's own catalogue, loaded once per process."""
    return load_catalogue()


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Load ``catalogue.toml`` and ``mappings/*.toml`` from ``directory`` (default: the package's own).

    Raises ``ConfigError`` with one line naming the file and the field on any problem.
    """
    root: Traversable = files("chsm_checks.checks") if directory is None else directory
    catalogue_file = root / "catalogue.toml"
    spec = validated(_CatalogueFile, catalogue_file)

    first_at: dict[str, int] = {}
    for n, entry in enumerate(spec.check, 1):
        if entry.id in first_at:
            raise ConfigError(
                f"{catalogue_file}: check[{n}].id: duplicate check id {entry.id!r} "
                f"(first at check[{first_at[entry.id]}])"
            )
        first_at[entry.id] = n

    mappings = _load_mappings(root / "mappings", first_at)
    for n, name in enumerate(spec.required_frameworks, 1):
        if name not in mappings:
            raise ConfigError(
                f"{catalogue_file}: required_frameworks[{n}]: no mapping file declares {name!r}"
            )
        source, mapping = mappings[name]
        for entry in spec.check:
            if entry.id not in mapping.checks:
                raise ConfigError(
                    f"{source}: checks.{quote_key(entry.id)}: required field is missing "
                    f"(every check maps to at least one {name} control)"
                )

    for source, mapping in mappings.values():
        _check_conditions(source, mapping, {entry.id: entry for entry in spec.check})

    checks = {
        entry.id: CheckMeta.model_validate(
            {
                **dict(entry),
                "controls": tuple(
                    mapping.ref(control_id, mapping.conditions.get(entry.id, {}).get(control_id))
                    for _, mapping in mappings.values()
                    for control_id in mapping.checks.get(entry.id, ())
                ),
            }
        )
        for entry in spec.check
    }
    frameworks = {
        name: Framework.model_validate(m.model_dump(by_alias=True, exclude={"checks", "conditions"}))
        for name, (_, m) in mappings.items()
    }
    controls = {c.tag: c for f in frameworks.values() for c in map(f.ref, f.controls)}
    return Catalogue(MappingProxyType(checks), MappingProxyType(frameworks), MappingProxyType(controls))


def _check_conditions(source: Traversable, mapping: _MappingFile, entries: Mapping[str, CheckEntry]) -> None:
    """Every condition a mapping names is one its check declares, for a control the check maps to."""
    for check_id, by_control in mapping.conditions.items():
        for control_id, condition in by_control.items():
            where = f"{source}: conditions.{quote_key(check_id)}.{quote_key(control_id)}"
            if check_id not in entries:
                raise ConfigError(f"{where}: unknown check id")
            if control_id not in mapping.checks.get(check_id, ()):
                raise ConfigError(f"{where}: the check does not map to {control_id!r}")
            if condition not in entries[check_id].conditions:
                known = ", ".join(sorted(entries[check_id].conditions)) or "none"
                raise ConfigError(f"{where}: {condition!r} is not a condition of the check ({known})")


def _load_mappings(
    directory: Traversable, check_ids: Mapping[str, int]
) -> dict[str, tuple[Traversable, _MappingFile]]:
    try:
        sources = sorted((p for p in directory.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)
    except OSError:
        raise ConfigError(f"{directory}: mapping directory not found") from None
    if not sources:
        raise ConfigError(f"{directory}: no mapping files (*.toml)")

    mappings: dict[str, tuple[Traversable, _MappingFile]] = {}
    prefixes: dict[str, Traversable] = {}
    for source in sources:
        mapping = validated(_MappingFile, source)
        if mapping.name in mappings:
            raise ConfigError(
                f"{source}: framework: {mapping.name!r} is also declared by {mappings[mapping.name][0]}"
            )
        if mapping.tag_prefix in prefixes:
            raise ConfigError(
                f"{source}: tag_prefix: {mapping.tag_prefix!r} is also used by {prefixes[mapping.tag_prefix]}"
            )
        for check_id, control_ids in mapping.checks.items():
            if check_id not in check_ids:
                raise ConfigError(f"{source}: checks.{quote_key(check_id)}: unknown check id")
            for n, control_id in enumerate(control_ids, 1):
                if control_id not in mapping.controls:
                    raise ConfigError(
                        f"{source}: checks.{quote_key(check_id)}[{n}]: {control_id!r} is not in [controls]"
                    )
            if len(set(control_ids)) != len(control_ids):
                raise ConfigError(f"{source}: checks.{quote_key(check_id)}: names a control twice")
        mappings[mapping.name] = (source, mapping)
        prefixes[mapping.tag_prefix] = source
    return mappings


__all__ = [
    "Catalogue",
    "CheckEntry",
    "CheckMeta",
    "ControlRef",
    "DocumentedDefault",
    "Framework",
    "Reference",
    "Remediation",
    "ResourceKind",
    "Severity",
    "default_catalogue",
    "load_catalogue",
    "markdown_table",
]
