"""Before a replay starts, every recording it needs is read and checked, or the run does not start.

A damaged recording found mid-run would end its scenario as an error; found here, it is what it
is: a bad input, one line naming the file and the field, exit code 2, and no run directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..hsm.transcript import load_transcript
from .cassettes import read_provenance

TRANSCRIPT_SUFFIX = ".transcript.yaml"


def check_recordings(paths: Iterable[Path]) -> None:
    """Read each cassette and transcript as replay will (safe YAML, every field it uses, events in
    order); raise ``ConfigError`` for the first that cannot replay."""
    for path in dict.fromkeys(paths):
        if path.name.endswith(TRANSCRIPT_SUFFIX):
            load_transcript(path)
        else:
            read_provenance(path)
