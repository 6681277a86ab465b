"""What chose a run's scenarios: every report of a partial run says it is partial, and how."""

from __future__ import annotations

from ..lifecycle.summary import RunSummary, Selection, ShardSelection


def _chosen_by(selection: Selection | ShardSelection) -> str:
    flags = (("-k", selection.keyword), ("-m", selection.markers))
    chosen = [f"{flag} {value!r}" for flag, value in flags if value]
    return " and ".join(chosen) or "the run selection"


def selection_statement(summary: RunSummary) -> str | None:
    """One sentence saying the run is partial, how many scenarios it left out and by what; ``None``
    for a run of every scenario it collected. A merged bundle is as partial as its shards were."""
    shards = [s for s in summary.selection.shards or () if s.deselected]
    if shards:
        each = "; ".join(f"{s.run_id} left out {s.deselected} by {_chosen_by(s)}" for s in shards)
        return (
            f"PARTIAL: merged from runs that were selections ({each}); "
            "nothing is said about what they left out"
        )
    left_out = summary.deselected
    if not left_out:
        return None
    ran = len(summary.scenarios)
    return (
        f"PARTIAL: {left_out} of {ran + left_out} scenarios were deselected by "
        f"{_chosen_by(summary.selection)}; "
        f"this run accounts for the {ran} it selected, and nothing is said about the others"
    )
