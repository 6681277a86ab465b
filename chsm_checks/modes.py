"""How a run meets Azure: it replays recordings, records while it runs live, or runs live alone.

One definition, imported by the CLI, the pytest plugin, the run and the HSM runner alike.
"""

from __future__ import annotations

from typing import Final, Literal

Mode = Literal["replay", "record", "live"]
MODES: Final[tuple[Mode, ...]] = ("replay", "record", "live")
DEFAULT_MODE: Final[Mode] = "replay"
