"""The ARM client of chsm-checks: httpx, azure-identity, pinned api-versions, retries, LROs."""

from __future__ import annotations

from .client import ArmClient, Exchange, RequestRefused, default_credential
from .clock import Clock, RealClock, VirtualClock
from .clouds import KNOWN_CLOUDS, Cloud, is_loopback_url
from .errors import ArmError, ErrorDetail
from .lro import TERMINAL_STATES, OperationResult, PollPolicy, wait_for_operation
from .retry import RetryPolicy
from .versions import API_VERSIONS

__all__ = [
    "API_VERSIONS",
    "KNOWN_CLOUDS",
    "TERMINAL_STATES",
    "ArmClient",
    "ArmError",
    "Clock",
    "Cloud",
    "ErrorDetail",
    "Exchange",
    "OperationResult",
    "PollPolicy",
    "RealClock",
    "RequestRefused",
    "RetryPolicy",
    "VirtualClock",
    "default_credential",
    "is_loopback_url",
    "wait_for_operation",
]
