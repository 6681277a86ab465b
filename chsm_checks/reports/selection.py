"""What chose a run's scenarios: every report of a partial run says it is partial, and how."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deselected(summary: Mapping[str, Any]) -> int:
    """How many scenarios the run's selection (-k, -m) left out."""
    selection = summary.get("selection") or {}
    return int(selection.get("deselected") or 0)


def _chosen_by(selection: Mapping[str, Any]) -> str:
    flags = (("-k", "keyword"), ("-m", "markers"))
    chosen = [f"{flag} {selection[key]!r}" for flag, key in flags if selection.get(key)]
    return " and ".join(chosen) or "the run selection"


def selection_statement(summary: Mapping[str, Any]) -> str | None:
    """One sentence saying the run is partial, how many scenarios it left out and by what; ``None``
    for a run of every scenario it collected. A merged bundle is as partial as its shards were."""
    selection = summary.get("selection") or {}
    shards = [s for s in selection.get("shards") or () if int(s.get("deselected") or 0)]
    if shards:
        each = "; ".join(
            f"{s.get('run_id')} left out {int(s['deselected'])} by {_chosen_by(s)}" for s in shards
        )
        return (
            f"PARTIAL: merged from runs that were selections ({each}); "
            "nothing is said about what they left out"
        )
    left_out = deselected(summary)
    if not left_out:
        return None
    ran = len(summary.get("scenarios") or ())
    return (
        f"PARTIAL: {left_out} of {ran + left_out} scenarios were deselected by {_chosen_by(selection)}; "
        f"this run accounts for the {ran} it selected, and nothing is said about the others"
    )
