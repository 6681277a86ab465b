"""Pruning old run directories (``chsm-checks prune``): asked for, never done on the side.

Only directories named as runs are named (``20261206T130321Z-replay-6f73fd``); anything else in the
reports directory is not looked at. The newest ``keep`` runs stay, and so does the run ``latest``
points at. A sealed bundle (one with a signed manifest) is evidence: it goes only when
``include_sealed`` asks for it; an unsealed directory (a run stopped before sealing) goes when it is
older than the runs kept.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

_RUN_DIR = re.compile(r"^\d{8}T\d{6}Z-[a-z]+-[0-9a-f]{6}$")


@dataclass(frozen=True)
class Pruned:
    removed: tuple[Path, ...]
    kept_sealed: tuple[Path, ...]  # older than those kept, but sealed, and not asked for


def is_sealed(run_dir: Path) -> bool:
    return (run_dir / "MANIFEST.sha256").is_file()


def prune(reports: Path, keep: int, *, include_sealed: bool = False, dry_run: bool = False) -> Pruned:
    """Remove the run directories in ``reports`` older than its ``keep`` newest (see the module)."""
    if keep < 1:
        raise ConfigError(f"--keep: {keep}: keep at least one run")
    if not reports.is_dir():
        raise ConfigError(f"{reports}: reports directory not found")
    named = [p for p in reports.iterdir() if p.is_dir() and not p.is_symlink() and _RUN_DIR.match(p.name)]
    runs = sorted(named, key=lambda p: p.name, reverse=True)  # newest first: the names start with the time
    latest = reports / "latest"
    current = latest.resolve() if latest.is_symlink() else None
    removed, kept_sealed = [], []
    for run_dir in runs[keep:]:
        if current is not None and run_dir.resolve() == current:
            continue
        if is_sealed(run_dir) and not include_sealed:
            kept_sealed.append(run_dir)
            continue
        removed.append(run_dir)
        if not dry_run:
            shutil.rmtree(run_dir)
    return Pruned(tuple(removed), tuple(kept_sealed))
