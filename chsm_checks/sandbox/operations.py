"""The cluster actions on the wire: backup, restore, their validations, and the status polls.

A POST answers 202 with an empty body and a long, signed-looking ``location`` (the live shape);
``lro_style="spec"`` adds ``Azure-AsyncOperation`` and ``Retry-After`` (the REST examples' shape).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from chsm_checks.sandbox.jobs import (
    JobKind,
    OperationRequest,
    find_job,
    job_is_done,
    job_result,
    start_job,
)
from chsm_checks.sandbox.routing import ArmCall, Handler
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.times import dotnet_ticks
from chsm_checks.sandbox.wire import API_VERSIONS, ArmFault, ArmReply, JsonObject
from chsm_checks.sandbox.world import CLUSTER_TYPE, require_resource

_BLOB_HOST_SUFFIX = ".blob.core.windows.net"
_URI_FIELD = "azureStorageBlobContainerUri"


def start_operation(kind: JobKind, *, validate: bool) -> Handler:
    """The POST handler for ``backup``/``restore`` (or their ``validate…Properties`` twins)."""

    def handler(call: ArmCall) -> ArmReply:
        cluster = require_resource(call.state, _cluster_id(call))
        body = _json_object(call.body)
        if "token" in body:
            # Counted, never stored: it is a secret, and tests only need to prove none was sent.
            call.state["received_tokens"] += 1
        request = parse_operation(body, kind)
        job = start_job(call.state, call.settings, cluster, request, kind, validate=validate, now=call.now)
        return ArmReply(202, None, _lro_headers(call.settings, _status_url(call, cluster, job, signed=True)))

    return handler


def operation_status(kind: JobKind) -> Handler:
    """The GET handler for ``{kind}OperationStatus/{jobId}``; signature parameters are ignored."""

    def handler(call: ArmCall) -> ArmReply:
        cluster = require_resource(call.state, _cluster_id(call))
        job = find_job(call.state, call.params["job"], kind, cluster["id"])
        if job is None:
            raise ArmFault(
                404,
                "ResourceNotFound",
                f"No {kind} operation '{call.params['job']}' exists on cluster '{cluster['name']}'.",
            )
        if not job_is_done(job, call.now):
            return ArmReply(
                202, None, _lro_headers(call.settings, _status_url(call, cluster, job, signed=False))
            )
        return ArmReply(200, job_result(job))

    return handler


def parse_operation(body: JsonObject, kind: JobKind) -> OperationRequest:
    """Check a backup or restore body; 400 ``InvalidRequestContent`` names the field at fault."""
    uri = body.get(_URI_FIELD)
    if not isinstance(uri, str) or not uri:
        raise _invalid(f"{_URI_FIELD} is required and must be a string.", _URI_FIELD)
    if "?" in uri or "#" in uri:
        # A query string here is a SAS token, which the service does not support. Never echo it.
        raise _invalid(
            f"{_URI_FIELD} must not carry a query string: SAS tokens are not supported.", _URI_FIELD
        )
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    account = host.removesuffix(_BLOB_HOST_SUFFIX)
    segments = [s for s in parts.path.split("/") if s]
    if (
        parts.scheme.lower() != "https"
        or parts.netloc.lower() != host
        or not host.endswith(_BLOB_HOST_SUFFIX)
        or not account
        or "." in account
        or not segments
    ):
        raise _invalid(
            f"{_URI_FIELD} must look like https://<account>{_BLOB_HOST_SUFFIX}/<container>.", _URI_FIELD
        )
    backup_id: str | None = None
    if kind == "restore":
        given = body.get("backupId")
        if not isinstance(given, str) or not given:
            raise _invalid("backupId is required and must be a string.", "backupId")
        backup_id = given
    return OperationRequest(uri, account, segments[0], backup_id)


def _json_object(raw: bytes) -> JsonObject:
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _invalid("The request content must be a JSON object.", None)
    return body


def _invalid(detail: str, target: str | None) -> ArmFault:
    return ArmFault(400, "InvalidRequestContent", f"The request content was invalid: {detail}", target)


def _cluster_id(call: ArmCall) -> str:
    p = call.params
    group_id = f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}"
    return f"{group_id}/providers/{CLUSTER_TYPE}/{p['cluster']}"


def _lro_headers(settings: SandboxSettings, url: str) -> dict[str, str]:
    if settings.lro_style == "spec":
        retry_after = 1 if settings.retry_after is None else settings.retry_after
        return {"azure-asyncoperation": url, "location": url, "retry-after": str(retry_after)}
    headers = {"location": url}
    if settings.retry_after is not None:
        headers["retry-after"] = str(settings.retry_after)
    return headers


def _status_url(call: ArmCall, cluster: JsonObject, job: JsonObject, *, signed: bool) -> str:
    """The job's status URL on this server; signed, it carries ARM's t/c/s/h parameters (about 700 bytes)."""
    # ARM's status URLs carry the api-version the operation was started with.
    api_version = call.api_version or API_VERSIONS[CLUSTER_TYPE]
    path = f"{cluster['id']}/{job['kind']}OperationStatus/{job['job_id']}"
    url = f"{call.base_url}{path}?api-version={api_version}"
    if not signed:
        return url
    job_id: str = job["job_id"]
    return (
        f"{url}&t={dotnet_ticks(job['start_us'])}&c={_opaque(job_id, 'c', 225)}"
        f"&s={_opaque(job_id, 's', 255)}&h={_opaque(job_id, 'h', 32)}"
    )


def _opaque(job_id: str, part: str, size: int) -> str:
    """``size`` deterministic bytes as unpadded base64url: 225 → 300 chars, 255 → 340, 32 → 43."""
    digest = hashlib.shake_256(f"{job_id}:location:{part}".encode()).digest(size)
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
