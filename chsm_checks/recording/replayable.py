"""Before a replay starts, every recording it needs is read and checked, or the run does not start.

A damaged recording found mid-run would end its scenario as an error; found here, it is what it
is: a bad input, one line naming the file and the field, exit code 2, and no run directory. The
recordings are read as ``chsm-checks cassettes check`` reads them (:mod:`.bounded`): a link or a
special file anywhere under the recordings' directory, a recording past a bound, or one that does
not parse stops the run the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..hsm.transcript import load_transcript
from .bounded import check_tree
from .cassettes import read_provenance

TRANSCRIPT_SUFFIX = ".transcript.yaml"


def require_replayable(paths: Iterable[Path], root: Path) -> None:
    """Check the tree under ``root``, then read each cassette and transcript as replay will (every
    field it uses, events in order); raise ``ConfigError`` for the first that cannot replay."""
    wanted = list(dict.fromkeys(paths))
    if not wanted:
        return
    check_tree(root)
    for path in wanted:
        if path.name.endswith(TRANSCRIPT_SUFFIX):
            load_transcript(path)
        else:
            read_provenance(path)
