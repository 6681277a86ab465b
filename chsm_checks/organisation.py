"""An organisation's own features: ``.feature`` files in the organisation's directories
(``--features DIR``, repeatable) that use the shipped step vocabulary (``chsm-checks steps``) and are
tagged with the organisation's own controls.

A directory's ``controls.toml`` declares those controls as a framework mapping does (a name, a tag
prefix, each control's id and title); each one's tag becomes a registered marker, so that pytest's
strict markers still refuse a tag nobody declared, an organisation's typo included. The catalogue's
prefixes (``nist-``, ``cis-``, ``mcsb-``) and ``severity-`` stay the catalogue's.

The directories a run binds are held here for the glue module that binds their features
(``steps/test_organisation.py``): pytest-bdd binds scenarios when a module is imported, where no
pytest configuration is at hand. The plugin sets them when pytest is configured, in every process
of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .checks.catalogue import Framework
from .config_files import validated
from .errors import ConfigError

CONTROLS_FILE: Final = "controls.toml"
# Tag prefixes an organisation's framework may not take: the catalogue's, and the severities'.
RESERVED_PREFIXES: Final = ("nist-", "cis-", "mcsb-", "severity-")


@dataclass(frozen=True)
class FeatureDir:
    """One ``--features`` directory: its feature files, in name order, and the controls it declares."""

    path: Path
    features: tuple[Path, ...]
    framework: Framework | None

    def controls(self) -> list[tuple[str, str, str]]:
        """``(tag, control id, title)`` of each control the directory declares."""
        if self.framework is None:
            return []
        return [(self.framework.tag(cid), cid, title) for cid, title in self.framework.controls.items()]


def load_feature_dirs(given: Sequence[str | Path]) -> tuple[FeatureDir, ...]:
    """The directories ``--features`` names, read; ``ConfigError`` with one line naming the directory
    or file and the field on any problem."""
    dirs: list[FeatureDir] = []
    for entry in given:
        path = Path(entry)
        if not path.is_dir():
            raise ConfigError(f"{path}: --features: not a directory")
        features = tuple(sorted(p for p in path.resolve().rglob("*.feature") if p.is_file()))
        if not features:
            raise ConfigError(f"{path}: --features: holds no .feature file")
        for feature in features:
            _parsed(feature)
        dirs.append(FeatureDir(path.resolve(), features, _framework(path / CONTROLS_FILE)))
    _no_clash(dirs)
    return tuple(dirs)


def _parsed(feature: Path) -> None:
    """Refuse a feature file pytest-bdd cannot read, before any scenario runs, naming its line."""
    from pytest_bdd.exceptions import GherkinParseError
    from pytest_bdd.parser import FeatureParser

    try:
        FeatureParser(str(feature.parent), feature.name).parse()
    except GherkinParseError as exc:
        raise ConfigError(f"{feature}: line {exc.line}: {exc.message}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{feature}: not UTF-8 text") from None


def _framework(path: Path) -> Framework | None:
    if not path.is_file():
        return None
    framework = validated(Framework, path, what="controls file")
    if framework.tag_prefix in RESERVED_PREFIXES:
        raise ConfigError(
            f"{path}: tag_prefix: {framework.tag_prefix!r} is the catalogue's own; "
            "give the organisation's controls a prefix of their own, such as 'acme-'"
        )
    return framework


def _no_clash(dirs: Sequence[FeatureDir]) -> None:
    """Two directories may not declare the same tag, nor bind the same feature file twice."""
    seen_tags: dict[str, Path] = {}
    seen_features: set[Path] = set()
    for directory in dirs:
        for tag, _, _ in directory.controls():
            if (other := seen_tags.setdefault(tag, directory.path)) != directory.path:
                raise ConfigError(
                    f"{directory.path / CONTROLS_FILE}: controls: {tag} is declared by {other} too"
                )
        for feature in directory.features:
            if feature.resolve() in seen_features:
                raise ConfigError(f"{feature}: --features: given twice (the directories overlap)")
            seen_features.add(feature.resolve())


def marker_lines(dirs: Sequence[FeatureDir]) -> list[str]:
    """The ``markers`` lines that register each declared control's tag."""
    return [
        f"{tag}: {directory.framework.name} {cid} {title}"
        for directory in dirs
        if directory.framework is not None
        for tag, cid, title in directory.controls()
    ]


_bound: tuple[FeatureDir, ...] = ()


def bind(dirs: tuple[FeatureDir, ...]) -> None:
    """The directories this process's run binds (the plugin's, when pytest is configured)."""
    global _bound
    _bound = dirs


def bound() -> tuple[FeatureDir, ...]:
    """The directories this process's run binds."""
    return _bound


def bound_features() -> list[Path]:
    """The feature files this process's run binds from the organisation's directories, in order."""
    return [feature for directory in _bound for feature in directory.features]
