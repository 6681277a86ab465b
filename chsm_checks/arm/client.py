"""The ARM client: httpx underneath, one seam (the transport) for tests and recordings.

Who may receive what is decided here, before anything is sent: a bearer token goes only to the
target's own ARM origin, and a request without a token goes only to loopback (the sandbox) —
except in replay, where the transport is a recording and nothing leaves the process.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..errors import ChsmError
from ..url_redaction import url_for_message
from ..version import VERSION
from .clock import Clock, RealClock
from .clouds import Cloud, is_loopback_host, is_loopback_url
from .errors import ArmError
from .graph_query import is_graph_query
from .pacing import REMAINING_READS, SubscriptionPacer
from .retry import RetryPolicy, build_retrying, retry_after_seconds
from .trust import verify_for

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

_REFRESH_MARGIN_SECONDS = 300


class RequestRefused(ChsmError):
    """chsm-checks would not send this request (token to a foreign host, no token off loopback)."""


@dataclass(frozen=True)
class Exchange:
    """One request and its final answer, as the client saw it."""

    method: str
    url: str
    status: int | None
    request_id: str | None
    attempts: int
    #: When the service answered, by its own clock: the answer's ``Date`` (``None`` without one).
    answered_at: datetime | None = None


def answer_date(response: httpx.Response) -> datetime | None:
    """The instant a response's ``Date`` header names (UTC, to the second), or ``None`` without a
    readable one: what times the restore drill, by the service's clock, live and replayed alike."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else None


class BearerAuth(httpx.Auth):
    """Bearer tokens from azure-identity, reused until close to expiry, refreshed once on 401."""

    def __init__(self, credential: TokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._token: AccessToken | None = None

    def _current(self, force: bool = False) -> str:
        if force or self._token is None or self._token.expires_on - _REFRESH_MARGIN_SECONDS < time.time():
            self._token = self._credential.get_token(self._scope)
        return self._token.token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._current()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self._current(force=True)}"
            yield request


def default_credential(cloud: Cloud) -> TokenCredential:
    """``DefaultAzureCredential`` for the cloud's sign-in authority (imported only when needed)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(authority=cloud.authority_host)


def loopback_sign_in() -> TokenCredential | None:
    """For the sandbox, which needs no token: azure-identity's ``EnvironmentCredential``, but only when
    ``AZURE_AUTHORITY_HOST`` names a loopback authority (a test's token endpoint), so that tokens
    reach the sandbox only from a sign-in on this machine, never from Microsoft Entra. MSAL's instance
    discovery, which would ask login.microsoftonline.com about the authority, is off."""
    if not is_loopback_url(os.environ.get("AZURE_AUTHORITY_HOST", "")):
        return None
    from azure.identity import EnvironmentCredential

    return EnvironmentCredential(disable_instance_discovery=True)


class ArmClient:
    """Calls ARM for one run or scenario and remembers every exchange it made."""

    def __init__(
        self,
        cloud: Cloud,
        *,
        credential: TokenCredential | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 60.0,
        replay: bool = False,
        read_only: bool = False,
        on_event: Callable[[str], None] | None = None,
        on_exchange: Callable[[httpx.Request, httpx.Response, int], None] | None = None,
        pacer: SubscriptionPacer | None = None,
        ca_file: Path | None = None,
        as_of: Callable[[], datetime] | None = None,
    ) -> None:
        self.cloud = cloud
        self._as_of = as_of
        self._as_of_value: datetime | None = None
        self.clock: Clock = clock or RealClock()
        self.retry = retry or RetryPolicy()
        self.replay = replay
        self.read_only = read_only
        self.exchanges: list[Exchange] = []
        self._credential = credential
        self._on_event = on_event
        self._on_exchange = on_exchange
        self._pacer = pacer
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout_seconds,
            follow_redirects=False,
            verify=verify_for(ca_file),
            auth=BearerAuth(credential, cloud.token_scope) if credential is not None else None,
            headers={"User-Agent": f"chsm-checks/{VERSION}", "Accept": "application/json"},
        )

    @property
    def as_of(self) -> datetime:
        """The moment a judgement of age reads as "now": the run's live, the recording's when the
        exchanges are replayed, so that a replay judges what the recording saw. Asked for once."""
        if self._as_of_value is None:
            self._as_of_value = self._as_of() if self._as_of else datetime.now(UTC).replace(microsecond=0)
        return self._as_of_value

    @property
    def answered_at(self) -> datetime | None:
        """When the service answered the latest request, by its clock (its ``Date``), if it said."""
        return self.exchanges[-1].answered_at if self.exchanges else None

    def __repr__(self) -> str:
        return f"ArmClient({self.cloud.arm_endpoint!r}, exchanges={len(self.exchanges)})"

    @property
    def pacer(self) -> SubscriptionPacer | None:
        """The per-subscription pacing this client shares with others, if any."""
        return self._pacer

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def event(self, message: str) -> None:
        """Tell a person watching a live run what is happening (no-op when nobody listens)."""
        if self._on_event is not None:
            self._on_event(message)

    # -- URLs -------------------------------------------------------------------------------

    def url(self, path_or_url: str, api_version: str | None = None) -> httpx.URL:
        """An absolute URL for an ARM path (or a URL ARM handed back), with its api-version."""
        if path_or_url.startswith(("http://", "https://")):
            url = httpx.URL(path_or_url)
        else:
            url = httpx.URL(self.cloud.arm_endpoint + "/" + path_or_url.lstrip("/"))
        if api_version is not None and "api-version" not in url.params:
            url = url.copy_merge_params({"api-version": api_version})
        return url

    def _check_may_send(self, method: str, url: httpx.URL) -> None:
        # Judged on httpx's own reading of the URL: the host it reads is the host it connects to.
        if self.read_only and method not in ("GET", "HEAD") and not is_graph_query(method, url.path):
            # Scenarios that prove a refusal run read-only: a broken guard cannot reach the service.
            raise RequestRefused(f"refusing {method} {url_for_message(url.path)}: this client is read-only")
        if url.userinfo:
            # httpx would turn it into a Basic Authorization header, and parsers disagree on its end.
            raise RequestRefused(f"refusing a request to {url.host}: its URL carries userinfo")
        if self._credential is not None:
            if _origin(url) != _origin(httpx.URL(self.cloud.arm_endpoint)):
                raise RequestRefused(
                    f"refusing to send a bearer token to {url.host}: it is not {self.cloud.arm_endpoint}"
                )
        elif not self.replay and not (url.scheme in ("http", "https") and is_loopback_host(url.host)):
            raise RequestRefused(
                f"refusing an unauthenticated request to {url.host}: without a credential "
                "chsm-checks talks only to loopback (the sandbox)"
            )

    # -- sending ----------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path_or_url: str,
        *,
        api_version: str | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send with retries; return the final 2xx response or raise ``ArmError``."""
        url = self.url(path_or_url, api_version)
        if params:
            url = url.copy_merge_params(dict(params))
        self._check_may_send(method, url)
        headers = {"x-ms-client-request-id": str(uuid.uuid4())}
        request = self._http.build_request(method, url, json=json, headers=headers)
        attempts = 0

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            if self._pacer is not None:
                self._pacer.wait(str(request.url))
            response = self._http.send(request)
            advised = retry_after_seconds(response)
            if self._pacer is not None:
                if response.status_code == 429 and advised is not None:
                    self._pacer.hold(str(request.url), advised)
                elif (left := response.headers.get(REMAINING_READS, "")).isdigit():
                    self._pacer.remaining(str(request.url), int(left))
            if self._on_exchange is not None:
                self._on_exchange(request, response, attempts)
            return response

        try:
            response: httpx.Response = build_retrying(self.retry, self.clock, method, self.event)(attempt)
        except httpx.TransportError as exc:
            self.exchanges.append(Exchange(method, str(url), None, None, attempts))
            raise ArmError(
                method=method,
                url=str(url),
                status=None,
                code=type(exc).__name__,
                message=str(exc) or "connection failed",
            ) from exc
        self.exchanges.append(
            Exchange(
                method,
                str(url),
                response.status_code,
                response.headers.get("x-ms-request-id"),
                attempts,
                answer_date(response),
            )
        )
        if response.is_error:
            raise ArmError.from_response(response)
        return response

    def get_json(self, path_or_url: str, api_version: str | None = None, **kw: Any) -> dict[str, Any]:
        """GET a resource and return its JSON object."""
        response = self.send("GET", path_or_url, api_version=api_version, **kw)
        return json_object(response)

    def list_pages(
        self, path: str, api_version: str, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a pageable list, following ``nextLink``."""
        page = self.get_json(path, api_version, params=params)
        while True:
            items = page.get("value")
            if not isinstance(items, list):
                raise ArmError(
                    method="GET",
                    url=str(self.url(path, api_version)),
                    status=200,
                    code="MalformedListResponse",
                    message="list response has no 'value' array",
                )
            yield from (item for item in items if isinstance(item, dict))
            next_link = page.get("nextLink")
            if not next_link:
                return
            page = self.get_json(str(next_link))

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        """How many exchanges matched (used to prove that a refusal sent nothing)."""
        return sum(
            1
            for e in self.exchanges
            if (method is None or e.method == method) and path_contains in urlsplit(e.url).path
        )


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object body of a response, or an ``ArmError`` saying why it is not one."""
    try:
        body = response.json()
    except ValueError:
        problem = "the body is not JSON (cut short, or not JSON at all)"
    else:
        if isinstance(body, dict):
            return body
        problem = "the body is JSON but not an object"
    raise ArmError(
        method=response.request.method,
        url=str(response.request.url),
        status=response.status_code,
        code="MalformedResponse",
        message=f"{problem}; expected a JSON object",
        request_id=response.headers.get("x-ms-request-id"),
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"https": 443, "http": 80}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default)
