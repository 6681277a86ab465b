"""Long-running operations, as the live Cloud HSM service and the ARM spec both do them.

Live (api-version 2025-03-31): the POST answers 202 with only a ``location``; polling it answers
202 with an empty body (and a fresh, unsigned ``location``) until a 200 carries the result.
Spec: 202 with ``Azure-AsyncOperation`` and ``Retry-After``, or an immediate 200 ``InProgress``.
``Cancelled`` (the service's spelling) and ``Canceled`` (ARM's) are both terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ..errors import CouldNotEvaluate, OperationTimeout
from .client import ArmClient, answer_date
from .errors import ErrorDetail
from .retry import retry_after_seconds

TERMINAL_STATES = frozenset({"Succeeded", "Failed", "Cancelled", "Canceled"})


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll when the service does not say, and how long to wait in all."""

    default_interval_seconds: float = 30.0
    timeout_seconds: float = 3600.0


@dataclass(frozen=True)
class OperationResult:
    """How a backup or restore ended, as the service reported it."""

    operation: str
    status: str
    job_id: str | None = None
    backup_id: str | None = None
    error: ErrorDetail | None = None
    http_status: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    polls: int = 0
    waited_seconds: float = 0.0
    #: When the service answered the POST, and the poll that found it ended, by its clock (the
    #: answers' ``Date``; ``None`` without one).
    accepted_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"


def _body(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    where = f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}"
    try:
        data = response.json()
    except ValueError as exc:
        raise CouldNotEvaluate(f"{where} with a body that is not JSON") from exc
    if not isinstance(data, dict):
        # Read as "no status", it would pass for a finished operation.
        raise CouldNotEvaluate(f"{where} with a JSON body that is not an object")
    return data


def _properties(body: Mapping[str, Any]) -> Mapping[str, Any]:
    props = body.get("properties")
    return props if isinstance(props, dict) else body


def _status(body: Mapping[str, Any]) -> str | None:
    for where in (body, _properties(body)):
        value = where.get("status")
        if isinstance(value, str) and value:
            return value
    return None


def result_from(
    operation: str,
    body: Mapping[str, Any],
    *,
    polls: int,
    waited: float,
    accepted_at: datetime | None = None,
    ended_at: datetime | None = None,
) -> OperationResult:
    """An ``OperationResult`` from a terminal body (either the result or an async-operation status)."""
    props = _properties(body)
    error = ErrorDetail.from_json(body.get("error")) or ErrorDetail.from_json(props.get("error"))
    return OperationResult(
        operation=operation,
        status=_status(body) or "Succeeded",
        job_id=_str(props.get("jobId")),
        backup_id=_str(props.get("backupId")),
        error=error,
        properties=dict(props),
        polls=polls,
        waited_seconds=waited,
        accepted_at=accepted_at,
        ended_at=ended_at,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def wait_for_operation(
    client: ArmClient,
    first: httpx.Response,
    *,
    operation: str,
    policy: PollPolicy,
    status_url_for_job: Callable[[str], str] | None = None,
) -> OperationResult:
    """Poll from the POST's response until a terminal state; raise ``OperationTimeout`` past the budget.

    A 4xx/5xx while polling is a failure to read the status (``ArmError``), not a failed operation.
    """
    clock = client.clock
    started = clock.now()
    async_url = first.headers.get("azure-asyncoperation")
    location = first.headers.get("location")
    response = first
    polls = 0
    while True:
        body = _body(response)
        status = _status(body)
        if response.status_code != 202:
            done = status in TERMINAL_STATES
            # Location pattern: any 2xx other than 202 is done and the body is the result.
            done = done or (status is None and response is not first and async_url is None)
            if done:
                return result_from(
                    operation,
                    body,
                    polls=polls,
                    waited=clock.now() - started,
                    accepted_at=answer_date(first),
                    ended_at=answer_date(response),
                )
            if status is None and async_url is not None and response is not first:
                raise CouldNotEvaluate(
                    f"{operation}: the async-operation status response has no 'status' field"
                )
        # Still running: keep following the newest polling URL the service gave.
        async_url = response.headers.get("azure-asyncoperation", async_url)
        location = response.headers.get("location", location)
        poll_url = async_url or location
        if poll_url is None:
            job_id = _str(_properties(body).get("jobId"))
            if job_id is None or status_url_for_job is None:
                raise CouldNotEvaluate(
                    f"{operation}: HTTP {response.status_code} gave no Azure-AsyncOperation, "
                    "Location or jobId to follow"
                )
            # Remember it: a later 202 from the job status URL may carry no location either.
            poll_url = location = status_url_for_job(job_id)
        advised = retry_after_seconds(response)
        # "Retry-After: 0" asks for no pause at all: it would make this loop spin, so it counts as
        # no advice (as azure-core's pollers treat it) and the default interval applies.
        wait = float(advised) if advised else policy.default_interval_seconds
        elapsed = clock.now() - started
        if elapsed + wait > policy.timeout_seconds:
            raise OperationTimeout(
                f"{operation}: still {status or 'running'} after {elapsed:.0f} s and {polls} polls; "
                f"the operation timeout is {policy.timeout_seconds:.0f} s"
            )
        client.event(f"{operation}: {status or 'running'} after {elapsed:.0f} s; next poll in {wait:g} s")
        clock.sleep(wait)
        response = client.send("GET", poll_url)
        polls += 1
