"""When to send a request again, and how long to wait first.

Retried: 408, 429, 5xx, any error response with ``Retry-After``, and connection errors. A request
that may have reached the service is retried only when it is safe to repeat (GET): resending a
backup or restore POST could start a second job. For a POST that rules out a read error after
sending and any 5xx answer (the service may have failed after starting the job); a 4xx is a refusal
of the request itself (throttled, conflicting), so it may be sent again when the service asks. An
integer ``Retry-After`` is always honoured; without one the wait is capped, jittered exponential backoff.
Attempts and total waiting are both bounded, on the client's clock (virtual in replay).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from tenacity import RetryCallState, Retrying, wait_random_exponential

from .clock import Clock

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD"})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying one request."""

    max_attempts: int = 6
    budget_seconds: float = 300.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0


QUOTA_REMAINING = "x-ms-user-quota-remaining"
QUOTA_RESETS_AFTER = "x-ms-user-quota-resets-after"


def retry_after_seconds(response: httpx.Response) -> int | None:
    """The integer ``Retry-After`` of a response, if it has a usable one (HTTP dates are ignored); for
    Resource Graph's 429, which documents its quota headers instead, when its window resets."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return int(value)
    if response.status_code == 429:
        return quota_resets_after(response)
    return None


def quota_resets_after(response: httpx.Response) -> int | None:
    """Resource Graph's ``x-ms-user-quota-resets-after`` (``hh:mm:ss``) in whole seconds, if readable."""
    parts = response.headers.get(QUOTA_RESETS_AFTER, "").strip().split(":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    hours, minutes, seconds = map(int, parts)
    return hours * 3600 + minutes * 60 + seconds


def is_retryable_response(response: httpx.Response, method: str) -> bool:
    """Whether the service asked, or may be glad, to see this request again, and resending is safe."""
    if response.status_code >= 500 and method not in SAFE_METHODS:
        return False
    if response.status_code in RETRYABLE_STATUS:
        return True
    return response.status_code >= 400 and retry_after_seconds(response) is not None


def is_retryable_exception(exc: BaseException, method: str) -> bool:
    """Connection errors: always when nothing was sent, otherwise only for safe methods."""
    if isinstance(exc, _NEVER_SENT):
        return True
    return isinstance(exc, httpx.TransportError) and method in SAFE_METHODS


def build_retrying(
    policy: RetryPolicy,
    clock: Clock,
    method: str,
    on_retry: Callable[[str], None] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` for one request, sleeping on ``clock``.

    When attempts or the time budget run out, the last response is returned (the caller turns it
    into an ``ArmError``) or the last exception re-raised.
    """
    backoff = wait_random_exponential(multiplier=policy.backoff_base_seconds, max=policy.backoff_cap_seconds)
    started = clock.now()

    def next_wait(state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            advised = retry_after_seconds(outcome.result())
            if advised is not None:
                return float(advised)
        return float(backoff(state))

    def should_retry(state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            exc = outcome.exception()
            return exc is not None and is_retryable_exception(exc, method)
        return is_retryable_response(outcome.result(), method)

    def should_stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        # tenacity has already drawn the wait it will sleep (upcoming_sleep); judge that one.
        # Never send before Retry-After allows, and never wait past the budget: give up instead.
        return clock.now() - started + state.upcoming_sleep > policy.budget_seconds

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None or state.next_action is None:
            return
        outcome = state.outcome
        why = type(outcome.exception()).__name__ if outcome.failed else f"HTTP {outcome.result().status_code}"
        on_retry(f"{method} {why}; attempt {state.attempt_number + 1} in {state.next_action.sleep:.1f} s")

    def give_up(state: RetryCallState) -> object:
        assert state.outcome is not None
        return state.outcome.result()  # the last response, or re-raises the last exception

    return Retrying(
        retry=should_retry,
        stop=should_stop,
        wait=next_wait,
        sleep=clock.sleep,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
        reraise=True,
    )
