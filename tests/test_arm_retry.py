"""Retries in ``ArmClient.send``: what is sent again, how long the client waits, and when it stops."""

from __future__ import annotations

import random

import httpx
import pytest
from arm_fakes import API_VERSION, ENDPOINT, SOURCE_ID, ScriptedTransport, make_client, raise_, reply

from chsm_checks.arm.clock import VirtualClock
from chsm_checks.arm.errors import ArmError
from chsm_checks.arm.retry import RetryPolicy

BACKUP = f"{SOURCE_ID}/backup"


def test_429_with_retry_after_waits_exactly_that_long_then_succeeds() -> None:
    transport = ScriptedTransport()
    transport.script(
        "GET", SOURCE_ID, reply(429, headers={"Retry-After": "7"}), reply(200, json={"name": "chsm-source"})
    )
    clock = VirtualClock()
    client = make_client(transport, clock)

    response = client.send("GET", SOURCE_ID, api_version=API_VERSION)

    assert response.json() == {"name": "chsm-source"}
    assert clock.sleeps == [7.0]
    assert len(transport.requests) == 2
    assert client.exchanges[-1].attempts == 2


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_with_jittered_backoff_under_the_cap(status: int) -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, *[reply(status)] * 4, reply(200, json={}))
    clock = VirtualClock()
    policy = RetryPolicy(
        max_attempts=5, budget_seconds=100.0, backoff_base_seconds=1.0, backoff_cap_seconds=3.0
    )

    make_client(transport, clock, retry=policy).send("GET", SOURCE_ID)

    assert len(transport.requests) == 5
    assert len(clock.sleeps) == 4
    assert all(0.0 <= s <= 3.0 for s in clock.sleeps)


def test_backoff_is_jittered_not_fixed() -> None:
    policy = RetryPolicy(
        max_attempts=6, budget_seconds=1000.0, backoff_base_seconds=4.0, backoff_cap_seconds=64.0
    )
    waits: set[tuple[float, ...]] = set()
    for _ in range(5):
        transport = ScriptedTransport()
        transport.script("GET", SOURCE_ID, *[reply(503)] * 5, reply(200, json={}))
        clock = VirtualClock()
        make_client(transport, clock, retry=policy).send("GET", SOURCE_ID)
        waits.add(tuple(clock.sleeps))

    assert len(waits) > 1


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param(400, {}, id="400"),
        pytest.param(401, {}, id="401"),
        pytest.param(403, {}, id="403"),
        pytest.param(404, {}, id="404"),
        pytest.param(409, {}, id="409"),
        pytest.param(404, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, id="404-http-date"),
    ],
)
def test_client_errors_are_not_retried(status: int, headers: dict[str, str]) -> None:
    transport = ScriptedTransport()
    transport.script(
        "GET", SOURCE_ID, reply(status, headers=headers, json={"error": {"code": "Nope", "message": "no"}})
    )
    clock = VirtualClock()

    with pytest.raises(ArmError) as excinfo:
        make_client(transport, clock).send("GET", SOURCE_ID)

    assert excinfo.value.status == status
    assert len(transport.requests) == 1
    assert clock.sleeps == []


def test_any_error_response_with_retry_after_is_retried() -> None:
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(409, headers={"Retry-After": "3"}), reply(202))
    clock = VirtualClock()

    response = make_client(transport, clock).send("POST", BACKUP, json={})

    assert response.status_code == 202
    assert clock.sleeps == [3.0]


@pytest.mark.parametrize(
    ("status", "headers", "retried"),
    [
        pytest.param(429, {"Retry-After": "2"}, True, id="429-throttled-before-the-service"),
        pytest.param(408, {}, True, id="408-request-never-complete"),
        pytest.param(500, {}, False, id="500"),
        pytest.param(502, {}, False, id="502"),
        pytest.param(503, {"Retry-After": "2"}, False, id="503-even-with-retry-after"),
        pytest.param(504, {}, False, id="504"),
    ],
)
def test_a_post_is_resent_only_after_a_refusal_never_after_a_server_error(
    status: int, headers: dict[str, str], retried: bool
) -> None:
    # A 5xx may come after the job started: resending could start a second backup or restore.
    transport = ScriptedTransport()
    transport.script("POST", BACKUP, reply(status, headers=headers), reply(202))
    client = make_client(transport, VirtualClock())

    if retried:
        assert client.send("POST", BACKUP, json={}).status_code == 202
    else:
        with pytest.raises(ArmError) as excinfo:
            client.send("POST", BACKUP, json={})
        assert excinfo.value.status == status

    assert len(transport.requests) == (2 if retried else 1)


@pytest.mark.parametrize(
    ("method", "error", "retried"),
    [
        pytest.param("GET", httpx.ReadError, True, id="read-error-on-GET"),
        pytest.param("GET", httpx.RemoteProtocolError, True, id="protocol-error-on-GET"),
        pytest.param("GET", httpx.ConnectError, True, id="connect-error-on-GET"),
        pytest.param("POST", httpx.ReadError, False, id="read-error-on-POST"),
        pytest.param("POST", httpx.ReadTimeout, False, id="read-timeout-on-POST"),
        pytest.param("POST", httpx.ConnectError, True, id="connect-error-on-POST"),
        pytest.param("POST", httpx.ConnectTimeout, True, id="connect-timeout-on-POST"),
    ],
)
def test_connection_errors_are_retried_only_when_resending_is_safe(
    method: str, error: type[httpx.TransportError], retried: bool
) -> None:
    transport = ScriptedTransport()
    transport.script(method, BACKUP, raise_(error), reply(202))
    clock = VirtualClock()
    client = make_client(transport, clock)

    if retried:
        assert client.send(method, BACKUP).status_code == 202
        assert len(transport.requests) == 2
        assert len(clock.sleeps) == 1
    else:
        with pytest.raises(ArmError) as excinfo:
            client.send(method, BACKUP)
        assert (excinfo.value.status, excinfo.value.code) == (None, error.__name__)
        assert len(transport.requests) == 1
        assert clock.sleeps == []
        assert client.exchanges[-1].status is None


def test_connection_errors_stop_after_max_attempts() -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, *[raise_(httpx.ConnectError, "connection refused")] * 3)

    with pytest.raises(ArmError) as excinfo:
        make_client(transport, retry=RetryPolicy(max_attempts=3, backoff_cap_seconds=1.0)).send(
            "GET", SOURCE_ID
        )

    assert excinfo.value.status is None
    assert excinfo.value.code == "ConnectError"
    assert "connection refused" in excinfo.value.message
    assert len(transport.requests) == 3


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_attempts_are_bounded(max_attempts: int) -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, *[reply(503)] * 10)
    clock = VirtualClock()
    client = make_client(
        transport, clock, retry=RetryPolicy(max_attempts=max_attempts, backoff_cap_seconds=1.0)
    )

    with pytest.raises(ArmError) as excinfo:
        client.send("GET", SOURCE_ID)

    assert excinfo.value.status == 503
    assert len(transport.requests) == max_attempts
    assert len(clock.sleeps) == max_attempts - 1
    assert client.exchanges[-1].attempts == max_attempts


def test_retry_after_beyond_the_remaining_budget_stops_at_once_without_sleeping() -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(429, headers={"Retry-After": "120"}))
    clock = VirtualClock()
    client = make_client(transport, clock, retry=RetryPolicy(max_attempts=10, budget_seconds=60.0))

    with pytest.raises(ArmError) as excinfo:
        client.send("GET", SOURCE_ID)

    assert excinfo.value.status == 429
    assert clock.sleeps == []
    assert len(transport.requests) == 1


def test_budget_counts_earlier_waits() -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, *[reply(429, headers={"Retry-After": "20"})] * 5)
    clock = VirtualClock()
    client = make_client(transport, clock, retry=RetryPolicy(max_attempts=10, budget_seconds=50.0))

    with pytest.raises(ArmError):
        client.send("GET", SOURCE_ID)

    assert clock.sleeps == [20.0, 20.0]
    assert len(transport.requests) == 3


def test_jittered_backoff_never_waits_past_the_budget() -> None:
    # Backoff is random: try many seeds so a wait that overshoots the budget cannot hide.
    policy = RetryPolicy(
        max_attempts=50, budget_seconds=10.0, backoff_base_seconds=1.0, backoff_cap_seconds=30.0
    )
    saved = random.getstate()
    overshoots: dict[int, float] = {}
    try:
        for seed in range(40):
            random.seed(seed)
            transport = ScriptedTransport()
            transport.script("GET", SOURCE_ID, *[reply(503)] * 50)
            clock = VirtualClock()
            with pytest.raises(ArmError):
                make_client(transport, clock, retry=policy).send("GET", SOURCE_ID)
            if sum(clock.sleeps) > policy.budget_seconds:
                overshoots[seed] = sum(clock.sleeps)
    finally:
        random.setstate(saved)

    assert overshoots == {}


def test_final_failure_carries_what_a_person_needs() -> None:
    error = {
        "error": {
            "code": "ServiceUnavailable",
            "message": "The service is busy",
            "target": "cloudHsmClusters",
        }
    }
    headers = {"x-ms-request-id": "rid-42", "x-ms-correlation-request-id": "corr-7"}
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, *[reply(503, json=error, headers=headers)] * 2)
    client = make_client(transport, retry=RetryPolicy(max_attempts=2, backoff_cap_seconds=1.0))

    with pytest.raises(ArmError) as excinfo:
        client.send("GET", SOURCE_ID, api_version=API_VERSION)

    exc = excinfo.value
    assert (exc.status, exc.code, exc.message, exc.target) == (
        503,
        "ServiceUnavailable",
        "The service is busy",
        "cloudHsmClusters",
    )
    assert (exc.request_id, exc.correlation_id) == ("rid-42", "corr-7")
    assert exc.method == "GET"
    assert exc.url == f"{ENDPOINT}{SOURCE_ID}?api-version={API_VERSION}"
    assert "rid-42" in str(exc)
    assert "ServiceUnavailable" in str(exc)


def test_error_without_an_arm_body_keeps_the_http_status_as_its_code() -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(404, content=b"<html>Not Found</html>"))

    with pytest.raises(ArmError) as excinfo:
        make_client(transport).send("GET", SOURCE_ID)

    assert (excinfo.value.code, excinfo.value.status) == ("Http404", 404)
    assert "Not Found" in excinfo.value.message


def test_retries_are_reported_through_the_event_hook() -> None:
    transport = ScriptedTransport()
    transport.script("GET", SOURCE_ID, reply(429, headers={"Retry-After": "7"}), reply(200, json={}))
    events: list[str] = []

    make_client(transport, on_event=events.append).send("GET", SOURCE_ID)

    assert events == ["GET HTTP 429; attempt 2 in 7.0 s"]
