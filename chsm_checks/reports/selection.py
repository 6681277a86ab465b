"""What chose a run's scenarios: every report of a partial run says it is partial, and how."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deselected(summary: Mapping[str, Any]) -> int:
    """How many scenarios the run's selection (-k, -m) left out."""
    selection = summary.get("selection") or {}
    return int(selection.get("deselected") or 0)


def selection_statement(summary: Mapping[str, Any]) -> str | None:
    """One sentence saying the run is partial, how many scenarios it left out and by what; ``None``
    for a run of every scenario it collected."""
    left_out = deselected(summary)
    if not left_out:
        return None
    selection = summary.get("selection") or {}
    chosen_by = [
        f"{flag} {selection[key]!r}"
        for flag, key in (("-k", "keyword"), ("-m", "markers"))
        if selection.get(key)
    ]
    ran = len(summary.get("scenarios") or ())
    return (
        f"PARTIAL: {left_out} of {ran + left_out} scenarios were deselected by "
        f"{' and '.join(chosen_by) or 'the run selection'}; this run accounts for the {ran} it selected, "
        "and nothing is said about the others"
    )
