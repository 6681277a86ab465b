"""The activity log (``Microsoft.Insights/eventtypes/management/values``, ActivityLogs_List, 2015-04-01).

Each backup, restore and validation the sandbox runs writes its events on the sandbox's clock: one
``Started`` when its POST is accepted and one ``Succeeded``, ``Failed`` or ``Cancelled`` when it ends,
with one correlation id, as the live service writes them. The seeded world also has a history: the
backups the source ran before the sandbox started (``state["backup_history"]``, each so many hours
before the clock's start, which ``state["clock_started_us"]`` holds), so that a recovery point can be
judged on a fresh sandbox, on the wall clock as on the recorded one.

The list takes exactly the ``$filter`` patterns the service documents (a time window, and one of
``resourceUri``, ``resourceGroupName``, ``resourceProvider``, ``correlationId``), refuses any other
with a ``400`` naming it, refuses a window starting more than 90 days back as the service does, honours
``$select``, answers newest first, and pages with ``nextLink``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

from chsm_checks.sandbox.ids import sandbox_guid
from chsm_checks.sandbox.resources import page
from chsm_checks.sandbox.routing import ArmCall
from chsm_checks.sandbox.times import arm_time, unix_us
from chsm_checks.sandbox.wire import ArmFault, ArmReply, JsonObject
from chsm_checks.sandbox.world import CLUSTER_TYPE, OPERATOR_SIGN_IN_NAME, positions, require_subscription

ACTIVITY_TYPE = "Microsoft.Insights/eventtypes"
RETENTION = timedelta(days=90)
# A seeded backup ran this long: its Started event comes this long before its end.
SEEDED_BACKUP_SECONDS = 95
_US_PER_HOUR = 3_600_000_000

_TIME = r"'(?P<{}>[^']+)'"
_FILTER = re.compile(
    r"^\s*eventTimestamp\s+ge\s+" + _TIME.format("start") + r"\s+and\s+eventTimestamp\s+le\s+"
    r"" + _TIME.format("end") + r"(?:\s+and\s+(?P<field>resourceUri|resourceGroupName|resourceProvider|"
    r"correlationId)\s+eq\s+'(?P<value>[^']*)')?\s*$",
    re.IGNORECASE,
)
_TERMINAL = {"Succeeded": "Succeeded", "Failed": "Failed", "Cancelled": "Cancelled", "Canceled": "Cancelled"}


def seeded_backup(cluster_id: str, hours_before_start: float, status: str) -> JsonObject:
    """A backup of ``cluster_id`` that ended ``hours_before_start`` before the sandbox's clock started."""
    return {"cluster_id": cluster_id, "hours_before_start": hours_before_start, "status": status}


def _event(
    state: JsonObject, cluster_id: str, action: str, status: str, at_us: int, correlation: str, n: int
) -> JsonObject:
    seed = int(state["settings"]["seed"])
    parts = cluster_id.strip("/").split("/")
    event_id = sandbox_guid(seed, f"activity-event-{correlation}", n)
    phase = "BeginRequest" if status == "Started" else "EndRequest"
    return {
        "authorization": {"action": action, "scope": cluster_id},
        "caller": OPERATOR_SIGN_IN_NAME,
        "channels": "Operation",
        "claims": {},
        "correlationId": correlation,
        "description": "",
        "eventDataId": event_id,
        "eventName": {"value": phase, "localizedValue": "Begin request" if n == 0 else "End request"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": arm_time(at_us),
        "id": f"{cluster_id}/events/{event_id}/ticks/{at_us * 10 + 621_355_968_000_000_000}",
        "level": "Informational",
        "operationId": correlation,
        "operationName": {"value": action, "localizedValue": action.rsplit("/", 2)[-2]},
        "resourceGroupName": parts[3] if len(parts) > 3 else "",
        "resourceProviderName": {"value": CLUSTER_TYPE.split("/")[0], "localizedValue": "Cloud HSM"},
        "resourceType": {"value": CLUSTER_TYPE, "localizedValue": CLUSTER_TYPE},
        "resourceId": cluster_id,
        "status": {"value": status, "localizedValue": status},
        "subStatus": {"value": "", "localizedValue": ""},
        # The log takes an event in a few seconds after it happens.
        "submissionTimestamp": arm_time(at_us + 4_000_000),
        "subscriptionId": parts[1] if len(parts) > 1 else "",
        "tenantId": state.get("tenant_id", ""),
        "properties": {},
    }


Dated = tuple[int, JsonObject]  # an event and its time, in microseconds since 1970


def _operation(
    state: JsonObject, cluster_id: str, action: str, start_us: int, end: tuple[int, str] | None, key: str
) -> Iterator[Dated]:
    correlation = sandbox_guid(int(state["settings"]["seed"]), f"activity-correlation-{key}")
    yield start_us, _event(state, cluster_id, action, "Started", start_us, correlation, 0)
    if end is not None:
        yield end[0], _event(state, cluster_id, action, end[1], end[0], correlation, 1)


def activity_events(
    state: JsonObject,
    now: float,
    about: Callable[[str], bool] = lambda cluster_id: True,
    cluster: str | None = None,
) -> list[Dated]:
    """Every event the activity log holds at ``now`` for the clusters ``about`` keeps (only
    ``cluster``'s, any case, when it is given): the seeded history, then each job's (the others'
    events are never made: a fleet's log is long, and read a cluster at a time)."""
    events: list[Dated] = []
    started = int(state.get("clock_started_us", unix_us(now)))
    history: list[JsonObject] = state.get("backup_history", [])
    jobs: list[JsonObject] = state.get("jobs", [])
    numbered: Iterable[tuple[int, JsonObject]] = enumerate(history)
    if cluster is not None:
        wanted = cluster.lower()
        at = positions("backup history", history, _cluster_of).get(wanted, [])
        numbered = [(n, history[n]) for n in at]
        jobs = [jobs[n] for n in positions("jobs", jobs, _cluster_of).get(wanted, [])]
    for n, past in numbered:
        if not about(str(past["cluster_id"])):
            continue
        end_us = started - round(float(past["hours_before_start"]) * _US_PER_HOUR)
        action = f"{CLUSTER_TYPE}/backup/action"
        end = (end_us, str(past["status"]))
        events += _operation(
            state, past["cluster_id"], action, end_us - SEEDED_BACKUP_SECONDS * 1_000_000, end, f"seeded-{n}"
        )
    now_us = unix_us(now)
    for job in jobs:
        if not about(str(job["cluster_id"])):
            continue
        verb = job["kind"] if not job["validate"] else f"validate{job['kind'].capitalize()}Properties"
        action = f"{CLUSTER_TYPE}/{verb}/action"
        ends: tuple[int, str] | None = None
        forced = job.get("forced_end")
        if forced != "never" and now_us >= int(job["end_us"]):
            status = _TERMINAL.get(str(forced), "Failed" if job["error"] is not None else "Succeeded")
            ends = (int(job["end_us"]), status)
        events += _operation(
            state, job["cluster_id"], action, int(job["start_us"]), ends, f"job-{job['job_id']}"
        )
    return events


def _cluster_of(record: JsonObject) -> str:
    return str(record["cluster_id"]).lower()


def _instant(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ArmFault(
            400, "BadRequest", f"The $filter's {what} '{text}' is not a date and time.", target="$filter"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matches(event: JsonObject, field: str | None, value: str) -> bool:
    if field is None:
        return True
    wanted = value.lower()
    found = {
        "resourceuri": event["resourceId"],
        "resourcegroupname": event["resourceGroupName"],
        "resourceprovider": event["resourceProviderName"]["value"],
        "correlationid": event["correlationId"],
    }[field.lower()]
    return str(found).lower() == wanted


def list_activity(call: ArmCall) -> ArmReply:
    """ActivityLogs_List for one subscription: the events its ``$filter`` selects, newest first, paged."""
    subscription = call.params["subscription"]
    require_subscription(call.state, subscription)
    given = call.query.get("$filter", "")
    match = _FILTER.match(given)
    if match is None:
        raise ArmFault(
            400,
            "BadRequest",
            f"The $filter '{given}' is not one the activity log allows: eventTimestamp ge '<start>' and "
            "eventTimestamp le '<end>', optionally and one of resourceUri, resourceGroupName, "
            "resourceProvider or correlationId eq '<value>'.",
            target="$filter",
        )
    start, end = _instant(match["start"], "start"), _instant(match["end"], "end")
    now = datetime.fromtimestamp(call.now, UTC)
    if start < now - RETENTION:
        raise ArmFault(
            400,
            "BadRequest",
            f"The start time '{match['start']}' is more than 90 days in the past; "
            "the activity log keeps 90 days.",
            target="$filter",
        )
    prefix = f"/subscriptions/{subscription}/".lower()
    window = (unix_us(start.timestamp()), unix_us(end.timestamp()))
    one = (match["value"] or "").lower() if (match["field"] or "").lower() == "resourceuri" else None

    def about(cluster_id: str) -> bool:
        return cluster_id.lower().startswith(prefix) and (one is None or cluster_id.lower() == one)

    dated = [
        (at_us, event)
        for at_us, event in activity_events(call.state, call.now, about, one)
        if event["resourceId"].lower().startswith(prefix)
        and window[0] <= at_us <= window[1]
        and _matches(event, match["field"], match["value"] or "")
    ]
    dated.sort(key=lambda pair: pair[0], reverse=True)
    chosen = [event for _, event in dated]
    if select := [name.strip() for name in call.query.get("$select", "").split(",") if name.strip()]:
        chosen = [{k: v for k, v in event.items() if k in select} for event in chosen]
    return ArmReply(200, page(call, chosen))
