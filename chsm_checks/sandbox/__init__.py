"""A local stand-in for Azure Resource Manager, serving a seeded Cloud HSM backup/restore world.

``create_app`` gives the Starlette app (for in-process tests); ``serve`` runs it with uvicorn on a
loopback port. Everything it returns is deterministic for a seed, a sequence of requests and the
readings of its clock (``create_app(clock=…)``, :mod:`.clock`: the wall clock, or a recorded clock that
repeats), which dates jobs and backup ids as the live service does.

Each cluster also holds what the HSM utilities see (nodes, users, keys; :mod:`.hsm_state`), served to
the simulated ``azcloudhsm_mgmt_util`` and ``azcloudhsm_util`` (:mod:`.hsm_sim`) whose wrappers
``serve`` writes under ``<state_dir>/hsm-client/bin/``.

``SandboxSettings.profile`` picks the world seeded: the compliant one or one fault away from it
(:mod:`.profiles`). ``fleet_clusters`` adds many more clusters in further subscriptions, some of them
misconfigured (:mod:`.fleet`); ``latency_ms`` and ``read_budget_per_subscription`` imitate ARM's pace
and read throttling (:mod:`.throttle`). ``/_sandbox/arm-faults`` breaks chosen ARM answers for tests
(:mod:`.arm_faults`); ``/_sandbox/arm/<resource id>`` reads and shapes any resource it serves
(:mod:`.control_arm`). Role definitions are Azure's published built-ins plus custom ones
(:mod:`.roles`), and a job's access to its container is judged by their data actions (:mod:`.access`).
"""

from __future__ import annotations

from chsm_checks.sandbox.app import create_app
from chsm_checks.sandbox.profiles import seed_state
from chsm_checks.sandbox.server import serve
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.wire import API_VERSIONS

__all__ = ["API_VERSIONS", "SandboxSettings", "create_app", "seed_state", "serve"]
