"""Faults injected into the sandbox's ARM answers: ``/_sandbox/arm-faults`` (see the README's table).

A rule names the requests it matches (a method, a path regular expression, and/or a named request:
``read``, ``operation-status``, ``backup-post``, ``restore-post``) and what happens to them, for a
number of ``times`` or ``"always"``. The first live rule that matches a request fires; a spent rule
stays listed with how often it fired. Rules live in memory: they steer a test, not the world. What a
rule does to the world (a job's forced end, a cluster activated) is a state change like any other,
on disk before the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal, get_args

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chsm_checks.sandbox.wire import JSON_MEDIA_TYPE, ArmFault, ArmReply, JsonObject

Effect = Literal["status", "reset", "truncate", "not-json", "job-ends", "activate-cluster", "require-bearer"]
EFFECTS: tuple[Effect, ...] = get_args(Effect)
# Effects that serve the request and then spoil the bytes of its answer.
BROKEN_ANSWERS = frozenset({"reset", "truncate", "not-json"})
_JOB_ENDS = ("Failed", "Cancelled", "Canceled", "never")

_STATUS_POLL = re.compile(r"/(backup|restore)OperationStatus/[^/]+$", re.IGNORECASE)
_ACTION_POST = re.compile(r"/cloudHsmClusters/[^/]+/(backup|restore)$", re.IGNORECASE)
_CLUSTER = re.compile(
    r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/cloudHsmClusters/[^/]+)", re.IGNORECASE
)
_RULE_KEYS = frozenset({"match", "effect", "times", "status", "retry_after", "error", "ends"})
_MATCH_KEYS = frozenset({"method", "path", "request"})
_REQUESTS = ("read", "operation-status", "backup-post", "restore-post")
_NOT_JSON = b"<html><head><title>Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
_UNFINISHED = "ASGI callable returned without completing response."


def _named_request(method: str, path: str) -> str | None:
    """Which of the named requests ``method path`` is, if any."""
    if method == "GET":
        return "operation-status" if _STATUS_POLL.search(path) else "read"
    if method == "POST" and (action := _ACTION_POST.search(path)):
        return f"{action.group(1).lower()}-post"
    return None


def cluster_of(path: str) -> str | None:
    """The id of the cluster an ARM path names, if it names one."""
    found = _CLUSTER.match(path)
    return found.group(1) if found else None


@dataclass
class FaultRule:
    """One rule as given, validated, plus how often it has fired."""

    id: int
    effect: Effect
    times: int | None  # None: always
    method: str | None = None
    path: re.Pattern[str] | None = None
    request: str | None = None
    status: int | None = None
    retry_after: int | None = None
    error: JsonObject | None = None
    ends: str | None = None
    fired: int = 0

    @classmethod
    def from_json(cls, rule_id: int, data: Any) -> FaultRule:
        """Validate one rule; ``ValueError`` names the field at fault."""
        if not isinstance(data, dict):
            raise ValueError("a rule must be a JSON object")
        if unknown := set(data) - _RULE_KEYS:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
        match = data.get("match", {})
        if not isinstance(match, dict) or (unknown := set(match) - _MATCH_KEYS):
            raise ValueError(f"match: an object of {', '.join(sorted(_MATCH_KEYS))}")
        effect = data.get("effect")
        if effect not in EFFECTS:
            raise ValueError(f"effect: one of {', '.join(EFFECTS)}")
        times = data.get("times", 1)
        if times != "always" and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ValueError('times: a whole number >= 1 or "always"')
        method = match.get("method")
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise ValueError("match.method: an HTTP method")
        try:
            path = re.compile(match["path"], re.IGNORECASE) if "path" in match else None
        except (re.error, TypeError) as exc:
            raise ValueError(f"match.path: not a regular expression ({exc})") from None
        request = match.get("request")
        if request is not None and request not in _REQUESTS:
            raise ValueError(f"match.request: one of {', '.join(_REQUESTS)}")
        rule = cls(
            id=rule_id,
            effect=effect,
            times=None if times == "always" else times,
            method=method.upper() if method else None,
            path=path,
            request=request,
            status=_optional_int(data, "status", 400, 599),
            retry_after=_optional_int(data, "retry_after", 0, 3600),
            error=_error(data.get("error")),
            ends=data.get("ends"),
        )
        if effect == "status" and rule.status is None:
            raise ValueError("status: the effect 'status' needs an HTTP status from 400 to 599")
        if effect == "job-ends" and rule.ends not in _JOB_ENDS:
            raise ValueError(f"ends: the effect 'job-ends' needs one of {', '.join(_JOB_ENDS)}")
        if effect != "job-ends" and rule.ends is not None:
            raise ValueError("ends: only for the effect 'job-ends'")
        return rule

    def to_json(self) -> JsonObject:
        """The rule as listed: what it matches, what it does, how often it fired and may still fire."""
        match = {
            "method": self.method,
            "path": self.path.pattern if self.path else None,
            "request": self.request,
        }
        listed: JsonObject = {"id": self.id, "match": {k: v for k, v in match.items() if v is not None}}
        listed["effect"] = self.effect
        for name in ("status", "retry_after", "error", "ends"):
            if (value := getattr(self, name)) is not None:
                listed[name] = value
        listed["times"] = "always" if self.times is None else self.times
        listed["fired"] = self.fired
        return listed

    @property
    def live(self) -> bool:
        """Whether the rule may fire again."""
        return self.times is None or self.fired < self.times

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule concerns this request (a ``require-bearer`` rule then judges its token)."""
        if self.method is not None and self.method != method:
            return False
        if self.path is not None and not self.path.search(path):
            return False
        named = _named_request(method, path)
        if self.request is not None and self.request != named:
            return False
        if self.effect == "job-ends":
            return named in ("backup-post", "restore-post")
        if self.effect == "activate-cluster":
            return cluster_of(path) is not None
        return True


@dataclass(frozen=True)
class Injection:
    """A rule that fired on one request. ``reply`` set: the answer instead of serving the request."""

    effect: Effect
    rule: FaultRule
    reply: ArmReply | None = None

    @property
    def changes_state(self) -> bool:
        """Whether serving the request under this fault changes the world (so it must be saved)."""
        return self.effect in ("job-ends", "activate-cluster")


@dataclass
class ArmFaults:
    """The rules of one sandbox, in the order given."""

    rules: list[FaultRule] = field(default_factory=list)
    resets_sent: int = 0  # deliberate unfinished answers uvicorn has yet to complain about
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_id: int = 1

    @property
    def armed(self) -> bool:
        """Whether any rule may still fire (without rules, a request costs one attribute check)."""
        return bool(self.rules) and any(rule.live for rule in self.rules)

    def add(self, data: Any) -> list[FaultRule]:
        """Append one rule or a list of them, all or none; ``ValueError`` names the one at fault."""
        given = data if isinstance(data, list) else [data]
        with self._lock:
            added = []
            for n, item in enumerate(given):
                try:
                    added.append(FaultRule.from_json(self._next_id + n, item))
                except ValueError as exc:
                    raise ValueError(f"rule {n + 1}: {exc}" if isinstance(data, list) else str(exc)) from None
            self._next_id += len(added)
            self.rules.extend(added)
            return added

    def clear(self) -> None:
        """Forget every rule."""
        with self._lock:
            self.rules.clear()

    def listing(self) -> JsonObject:
        """Every rule, spent ones too, as ``GET /_sandbox/arm-faults`` lists them."""
        with self._lock:
            return {"rules": [rule.to_json() for rule in self.rules]}

    def take(self, method: str, path: str, authorization: str | None, now: float) -> Injection | None:
        """The first live rule that fires on this request, counted as fired; None when none does."""
        with self._lock:
            for rule in self.rules:
                if not rule.live or not rule.matches(method, path):
                    continue
                reply: ArmReply | None = None
                if rule.effect == "require-bearer":
                    refusal = bearer_refusal(authorization, now)
                    if refusal is None:
                        continue  # a valid token: this rule lets the request through
                    reply = refusal
                elif rule.effect == "status":
                    reply = _status_reply(rule)
                rule.fired += 1
                if rule.effect == "reset":
                    self.resets_sent += 1
                return Injection(rule.effect, rule, reply)
        return None

    @contextmanager
    def quiet_deliberate_resets(self, logger: logging.Logger) -> Iterator[None]:
        """Keep uvicorn from logging, as an application error, each unfinished answer a rule asked for."""
        quiet = _QuietResets(self)
        logger.addFilter(quiet)
        try:
            yield
        finally:
            logger.removeFilter(quiet)


def broken_answer(effect: Effect, status: int, headers: Mapping[str, str], content: bytes | None) -> ASGIApp:
    """What a broken-answer effect sends instead of ``content`` (``None``: an empty body)."""
    if effect == "truncate":
        # Framed correctly, cut in half: the HTTP message is whole, its JSON is not.
        cut = (content or b"")[: len(content or b"") // 2]
        return Response(cut, status_code=status, headers=dict(headers), media_type=JSON_MEDIA_TYPE)
    if effect == "not-json":
        return Response(_NOT_JSON, status_code=status, headers=dict(headers), media_type="text/html")
    # An empty answer declares a small body it never sends.
    return _ResetMidBody(status, headers, content or b"{}")


class _ResetMidBody:
    """Headers declaring the whole body, half of it, then the connection closes (uvicorn closes it)."""

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self._status = status
        self._headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self._headers.append((b"content-type", JSON_MEDIA_TYPE.encode()))
        self._headers.append((b"content-length", str(len(content)).encode()))
        self._content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self._status, "headers": self._headers})
        await send(
            {
                "type": "http.response.body",
                "body": self._content[: len(self._content) // 2],
                "more_body": True,
            }
        )


class _QuietResets(logging.Filter):
    def __init__(self, faults: ArmFaults) -> None:
        super().__init__()
        self._faults = faults

    def filter(self, record: logging.LogRecord) -> bool:
        if self._faults.resets_sent and record.getMessage() == _UNFINISHED:
            self._faults.resets_sent -= 1
            return False
        return True


def _optional_int(data: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name}: a whole number from {low} to {high}")
    return value


def _error(value: Any) -> JsonObject | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("code"), str) or not value["code"]:
        raise ValueError("error: an object with a 'code' (and optionally a 'message')")
    message = value.get("message", "")
    if not isinstance(message, str) or set(value) - {"code", "message"}:
        raise ValueError("error: only 'code' and 'message', both strings")
    return {"code": value["code"], "message": message}


def _status_reply(rule: FaultRule) -> ArmReply:
    assert rule.status is not None, "validated: a status effect has a status"
    try:
        default_code = HTTPStatus(rule.status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        default_code = f"Http{rule.status}"
    error = rule.error or {"code": default_code, "message": f"Injected by the sandbox: HTTP {rule.status}."}
    reply = ArmFault(rule.status, error["code"], error["message"]).reply()
    headers = {} if rule.retry_after is None else {"retry-after": str(rule.retry_after)}
    return ArmReply(rule.status, reply.body, headers)


def bearer_refusal(authorization: str | None, now: float) -> ArmReply | None:
    """ARM's 401 for a missing, unreadable or expired bearer token; None for a token still valid.

    The sandbox reads the token's ``exp`` claim (a JWT's payload) and checks nothing else: it proves
    the client's refresh, not a signature. Nothing of the token is echoed.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        fault = ArmFault(
            401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        )
        return _unauthorized(fault, "The access token is missing.")
    expires = _token_expiry(token.strip())
    if expires is None:
        fault = ArmFault(401, "InvalidAuthenticationToken", "The access token is invalid.")
        return _unauthorized(fault, "The access token is invalid.")
    if expires <= now:
        fault = ArmFault(
            401,
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{_utc(expires)}' is earlier than current UTC time "
            f"'{_utc(now)}'.",
        )
        return _unauthorized(fault, "The access token has expired.")
    return None


def _unauthorized(fault: ArmFault, description: str) -> ArmReply:
    challenge = (
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", '
        f'error_description="{description}"'
    )
    return ArmReply(401, fault.reply().body, {"www-authenticate": challenge})


def _token_expiry(token: str) -> float | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%m/%d/%Y %H:%M:%S")
