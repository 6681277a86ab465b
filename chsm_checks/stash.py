"""What chsm-checks keeps on a pytest item while its scenario runs: one key each."""

from __future__ import annotations

import pytest

from .checks.model import Finding
from .evidence.store import ScenarioEvidence
from .outcomes import Verdict
from .scenarios import ScenarioInfo

SCENARIO = pytest.StashKey[ScenarioInfo]()  # which scenario the item is (absent: not a scenario)
VERDICT = pytest.StashKey[Verdict]()  # how it has ended so far
STARTED = pytest.StashKey[float]()  # when its setup began (time.monotonic)
FINDINGS = pytest.StashKey[list[Finding]]()  # what its checks found
EVIDENCE = pytest.StashKey[ScenarioEvidence]()  # its evidence folder
