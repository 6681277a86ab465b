"""chsm-checks: validation and compliance evidence for Azure Cloud HSM backup and restore.

What step definitions import, ours and an organisation's own: the fixtures' types, the judging
helpers (:mod:`expect`), the guard in front of every mutation, the drill's HSM side and the
outcomes a step may end with. Everything else is the harness's own and may change.

The names are resolved on first use, so ``import chsm_checks`` (and ``chsm-checks --help``) stays
light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .version import VERSION as __version__

# name -> (module, attribute); attribute None: the module itself
_PUBLIC: dict[str, tuple[str, str | None]] = {
    # fixtures' types
    "ArmClient": (".arm.client", "ArmClient"),
    "DrillRecord": (".services.drill", "DrillRecord"),
    "Environment": (".checks.environment", "Environment"),
    "FleetRun": (".fleet.run", "FleetRun"),
    "HsmRunner": (".hsm.runner", "HsmRunner"),
    "Judge": (".services.judge", "Judge"),
    "MemberScope": (".fleet.audit", "MemberScope"),
    "RunSettings": (".services.settings", "RunSettings"),
    "ScenarioEvidence": (".evidence.store", "ScenarioEvidence"),
    "Scrubber": (".recording", "Scrubber"),
    "Target": (".target", "Target"),
    # what steps observe and judge
    "Finding": (".checks.model", "Finding"),
    "FindKeyResult": (".hsm.parsers", "FindKeyResult"),
    "KeyInventory": (".hsm.inventory", "KeyInventory"),
    "OperationResult": (".arm.lro", "OperationResult"),
    "Refusal": (".guard", "Refusal"),
    "blob_endpoint": (".container_uri", "blob_endpoint"),
    "blob_endpoint_named_by": (".container_uri", "blob_endpoint_named_by"),
    "get_cluster": (".arm.resources", "get_cluster"),
    "judged_findings": (".fleet.run", "judged_findings"),
    # the organisation's features a run binds (steps/test_organisation.py)
    "bound_features": (".organisation", "bound_features"),
    # modules of helpers
    "drill": (".hsm.drill", None),
    "expect": (".expect", None),
    "faults": (".faults", None),
    "guard": (".guard", None),
    # how a step ends other than by passing
    "CouldNotEvaluate": (".errors", "CouldNotEvaluate"),
    "FleetUnavailable": (".fleet.run", "FleetUnavailable"),
    "HsmSessionError": (".hsm.errors", "HsmSessionError"),
    "not_applicable": (".outcomes", "not_applicable"),
    "Outcome": (".outcomes", "Outcome"),
}

__all__ = [
    "ArmClient",
    "CouldNotEvaluate",
    "DrillRecord",
    "Environment",
    "FindKeyResult",
    "Finding",
    "FleetRun",
    "FleetUnavailable",
    "HsmRunner",
    "HsmSessionError",
    "Judge",
    "KeyInventory",
    "MemberScope",
    "OperationResult",
    "Outcome",
    "Refusal",
    "RunSettings",
    "ScenarioEvidence",
    "Scrubber",
    "Target",
    "__version__",
    "blob_endpoint",
    "blob_endpoint_named_by",
    "bound_features",
    "drill",
    "expect",
    "faults",
    "get_cluster",
    "guard",
    "judged_findings",
    "not_applicable",
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'chsm_checks' has no attribute {name!r}") from None
    module = import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:
    from . import expect, faults, guard
    from .arm.client import ArmClient
    from .arm.lro import OperationResult
    from .arm.resources import get_cluster
    from .checks.environment import Environment
    from .checks.model import Finding
    from .container_uri import blob_endpoint, blob_endpoint_named_by
    from .errors import CouldNotEvaluate
    from .evidence.store import ScenarioEvidence
    from .fleet.audit import MemberScope
    from .fleet.run import FleetRun, FleetUnavailable, judged_findings
    from .guard import Refusal
    from .hsm import drill
    from .hsm.errors import HsmSessionError
    from .hsm.inventory import KeyInventory
    from .hsm.parsers import FindKeyResult
    from .hsm.runner import HsmRunner
    from .organisation import bound_features
    from .outcomes import Outcome, not_applicable
    from .recording import Scrubber
    from .services.drill import DrillRecord
    from .services.judge import Judge
    from .services.settings import RunSettings
    from .target import Target
