"""Backup and restore jobs: judged when accepted, finished and dated by the sandbox's clock.

The outcome is decided at POST time (a restore target must be ``NotActivated`` *then*); the effects
(a stored backup id with a copy of the source's HSM users and keys; a destination's new activation
state and those users and keys) apply once, when the sandbox first sees the job finished.
A job starts when its POST arrives and ends its duration later, and its times, its backup id's suffix
and its status URL's ``t`` say so, as on the live service: a clock that repeats (the app's ``clock``)
makes them repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chsm_checks.sandbox.access import BLOB_READ, BLOB_WRITE, holds_data_action
from chsm_checks.sandbox.hsm_state import backup_snapshot, restore_snapshot
from chsm_checks.sandbox.ids import sandbox_guid, sandbox_hex
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.times import arm_seconds, arm_time, backup_id_suffix, unix_us
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import (
    STORAGE_TYPE,
    cluster_principal,
    find_resource,
    next_number,
    properties_of,
    resources_of_type,
)

JobKind = Literal["backup", "restore"]

_CANCELLED = ("Cancelled", "Canceled")  # the service's spelling and ARM's


@dataclass(frozen=True)
class OperationRequest:
    """A parsed backup or restore body. ``backup_id`` is None for a backup."""

    container_uri: str
    account: str
    container: str
    backup_id: str | None


def job_seconds(state: JsonObject, settings: SandboxSettings, kind: JobKind) -> float:
    """How long a ``kind`` job takes: what the world says (a profile such as slow-recovery, or
    ``PATCH /_sandbox/jobs``), else the settings the sandbox was started with."""
    default = settings.backup_seconds if kind == "backup" else settings.restore_seconds
    return float(state.get(f"{kind}_seconds", default))


def start_job(
    state: JsonObject,
    settings: SandboxSettings,
    cluster: JsonObject,
    request: OperationRequest,
    kind: JobKind,
    *,
    validate: bool,
    now: float,
) -> JsonObject:
    """Record a new job on ``cluster``, started ``now``, its outcome already decided."""
    number = next_number(state, "job")
    seconds = job_seconds(state, settings, kind)
    start_us = unix_us(now)
    end_us = start_us + round(seconds * 1_000_000)
    error = (
        _backup_fault(state, cluster, request)
        if kind == "backup"
        else _restore_fault(state, cluster, request)
    )
    backup_id = request.backup_id
    if kind == "backup" and error is None and not validate:
        guid = sandbox_guid(settings.seed, "backup", next_number(state, "backup"))
        backup_id = f"cloudhsm-{guid}-{backup_id_suffix(start_us)}"
    job: JsonObject = {
        "job_id": sandbox_hex(settings.seed, "job", number),
        "kind": kind,
        "validate": validate,
        "cluster_id": cluster["id"],
        "container_uri": request.container_uri,
        "container_id": _container_id(state, request),
        # For a backup: the id it produced; for a restore: the id it asked for.
        "backup_id": backup_id,
        "start_us": start_us,
        "end_us": end_us,
        "seconds": seconds,
        "created_at": now,
        "error": error,
        "applied": False,
    }
    state["jobs"].append(job)
    return job


def job_is_done(job: JsonObject, now: float) -> bool:
    """Whether the job's real-time duration has elapsed (never, for a job forced never to end)."""
    return job.get("forced_end") != "never" and now - float(job["created_at"]) >= float(job["seconds"])


def force_end(job: JsonObject, ends: str, error: JsonObject | None) -> None:
    """Make ``job`` end ``ends`` (``Failed``, ``Cancelled``, ``Canceled``) or ``never``, whatever the world
    decided: a fault injected by a test. A job that does not succeed has no effects."""
    job["forced_end"] = ends
    job["error"] = None
    if ends == "Failed":
        job["error"] = error or _fault("InternalError", f"The {job['kind']} operation failed.")
    if job["kind"] == "backup":
        job["backup_id"] = None


def find_job(state: JsonObject, job_id: str, kind: JobKind, cluster_id: str) -> JsonObject | None:
    """The job ``job_id`` of ``kind`` on ``cluster_id``, if there is one."""
    for job in state["jobs"]:
        if (
            job["job_id"] == job_id.lower()
            and job["kind"] == kind
            and job["cluster_id"].lower() == cluster_id.lower()
        ):
            found: JsonObject = job
            return found
    return None


def complete_due_jobs(state: JsonObject, now: float) -> bool:
    """Apply, once and in order, the effects of every job that has finished by ``now``; True if any had."""
    applied = False
    for job in state["jobs"]:
        if job["applied"] or not job_is_done(job, now):
            continue
        job["applied"] = applied = True
        if job["validate"] or job.get("forced_end") in _CANCELLED:
            continue
        # A cluster shaped from outside may have no HSM contents, or be gone by now.
        hsm = state["hsm"].get(job["cluster_id"])
        if job["kind"] == "backup":
            if job["error"] is None:
                state["backups"].setdefault(job["container_id"], []).append(job["backup_id"])
                if hsm is not None:
                    state["hsm_backups"][job["backup_id"]] = backup_snapshot(hsm)
            continue
        destination = find_resource(state, job["cluster_id"])
        if destination is None or not isinstance(destination.get("properties"), dict):
            continue
        if job["error"] is None:
            destination["properties"]["activationState"] = "Active"
            snapshot = state["hsm_backups"].get(job["backup_id"])
            if snapshot is not None and hsm is not None:  # no snapshot: a backup without HSM contents
                restore_snapshot(hsm, snapshot)
        elif job["error"]["code"] == "RestoreTargetNotEligible":
            # The documented hazard: restoring onto an activated cluster leaves it nonfunctional.
            destination["properties"]["activationState"] = "Failed"
    return applied


def job_result(job: JsonObject) -> JsonObject:
    """The 200 body of a finished job, shaped as the live service shapes it."""
    error: JsonObject | None = job["error"]
    status = "Succeeded" if error is None else "Failed"
    if job.get("forced_end") in _CANCELLED:
        status = job["forced_end"]
    properties: JsonObject = {}
    if job["kind"] == "backup":
        if job["backup_id"] is not None:
            properties["backupId"] = job["backup_id"]
        properties["azureStorageBlobContainerUri"] = job["container_uri"]
        properties["status"] = status
        properties["statusDetails"] = _status_details(job)
    else:
        # Live restore results carry no statusDetails and no backupId.
        properties["status"] = status
    # Live, a job's start is to the second and its end to the tick.
    properties["startTime"] = arm_seconds(job["start_us"])
    properties["endTime"] = arm_time(job["end_us"])
    properties["jobId"] = job["job_id"]
    if error is not None:
        properties["error"] = {"code": error["code"], "message": error["message"]}
    return {"properties": properties}


def _status_details(job: JsonObject) -> str:
    if job.get("forced_end") in _CANCELLED:
        return "Backup operation was cancelled."
    if job["error"] is not None:
        message: str = job["error"]["message"]
        return message
    if job["validate"]:
        return "Backup validation completed successfully."
    return "Backup operation completed successfully."


def _storage_account(state: JsonObject, name: str) -> JsonObject | None:
    for account in resources_of_type(state, STORAGE_TYPE):
        if account["name"].lower() == name:
            return account
    return None


def _container_id(state: JsonObject, request: OperationRequest) -> str | None:
    account = _storage_account(state, request.account)
    if account is None:
        return None
    container = find_resource(state, f"{account['id']}/blobServices/default/containers/{request.container}")
    return None if container is None else str(container["id"])


def _fault(code: str, message: str) -> JsonObject:
    return {"code": code, "message": message}


def _storage_fault(
    state: JsonObject, cluster: JsonObject, request: OperationRequest, data_action: str
) -> JsonObject | None:
    """What stops the cluster's identity doing ``data_action`` on the container's blobs, checked as the
    service would: a backup writes blobs, a restore reads them."""
    if _storage_account(state, request.account) is None:
        return _fault("StorageAccountNotFound", f"The storage account '{request.account}' was not found.")
    container_id = _container_id(state, request)
    if container_id is None:
        return _fault("ContainerNotFound", f"The container '{request.container}' does not exist.")
    if not holds_data_action(state, cluster_principal(state, cluster), container_id, data_action):
        return _fault(
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission. The managed "
            f"identity of cluster '{cluster['name']}' has no Storage Blob Data Contributor role on "
            f"'{request.account}/{request.container}'.",
        )
    return None


def _backup_fault(state: JsonObject, cluster: JsonObject, request: OperationRequest) -> JsonObject | None:
    activation = properties_of(cluster).get("activationState")
    if activation != "Active":
        return _fault(
            "ClusterNotActivated",
            f"Backup requires an activated cluster; '{cluster['name']}' is in activation state "
            f"'{activation}'.",
        )
    return _storage_fault(state, cluster, request, BLOB_WRITE)


def _restore_fault(state: JsonObject, cluster: JsonObject, request: OperationRequest) -> JsonObject | None:
    fault = _storage_fault(state, cluster, request, BLOB_READ)
    if fault is not None:
        return fault
    if request.backup_id not in state["backups"].get(_container_id(state, request), []):
        return _fault(
            "BackupNotFound",
            f"The backup '{request.backup_id}' was not found in '{request.account}/{request.container}'.",
        )
    activation = properties_of(cluster).get("activationState")
    if activation != "NotActivated":
        return _fault(
            "RestoreTargetNotEligible",
            f"A restore needs a destination in activation state 'NotActivated'; '{cluster['name']}' is "
            f"'{activation}'.",
        )
    return None
