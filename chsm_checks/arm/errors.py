"""ARM errors: one exception carrying what a person needs to act on a failed call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import CouldNotEvaluate
from ..url_redaction import url_for_message, urls_for_message


@dataclass(frozen=True)
class ErrorDetail:
    """ARM ``ErrorDetail``: branch on ``code``, never on ``message`` (it is localized)."""

    code: str
    message: str = ""
    target: str | None = None
    details: tuple[ErrorDetail, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, data: Any) -> ErrorDetail | None:
        """Parse an ``error`` object; ``None`` when there is none or it has no code."""
        if not isinstance(data, dict):
            return None
        code = data.get("code")
        if not isinstance(code, str) or not code:
            return None
        raw_details = data.get("details")
        details = (
            tuple(d for d in (cls.from_json(x) for x in raw_details or ()) if d is not None)
            if isinstance(raw_details, list)
            else ()
        )
        message = data.get("message")
        target = data.get("target")
        return cls(
            code=code,
            message=message if isinstance(message, str) else "",
            target=target if isinstance(target, str) else None,
            details=details,
        )


class ArmError(CouldNotEvaluate):
    """A call to ARM that did not give a usable answer."""

    def __init__(
        self,
        *,
        method: str,
        url: str,
        status: int | None,
        code: str,
        message: str,
        target: str | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.request_id = request_id
        self.correlation_id = correlation_id
        super().__init__(str(self))

    def __str__(self) -> str:
        # Never a query string or userinfo, whatever the URL's length: signed status URLs carry
        # their signature there, and ARM's own message or target may quote one.
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        where = f" (target {urls_for_message(self.target)})" if self.target else ""
        rid = f" [x-ms-request-id {self.request_id}]" if self.request_id else ""
        message = urls_for_message(self.message)
        return f"{self.method} {url_for_message(self.url)}: {status} {self.code}: {message}{where}{rid}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ArmError:
        """Build from an error response, tolerating bodies that are not ARM error JSON."""
        detail = error_detail_of(response)
        reason = response.reason_phrase or "error"
        return cls(
            method=response.request.method,
            url=str(response.request.url),
            status=response.status_code,
            code=detail.code if detail else f"Http{response.status_code}",
            message=detail.message if detail else _body_excerpt(response) or reason,
            target=detail.target if detail else None,
            request_id=response.headers.get("x-ms-request-id"),
            correlation_id=response.headers.get("x-ms-correlation-request-id"),
        )


def error_detail_of(response: httpx.Response) -> ErrorDetail | None:
    """The ``error`` object of an ARM error body, if the body is one."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    return ErrorDetail.from_json(body.get("error")) if isinstance(body, dict) else None


def _body_excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = response.content[:limit].decode("utf-8", "replace").strip()
    return " ".join(text.split())
