"""Canaries: secrets a test plants in what the sandbox sends, and where the sandbox saw them.

A test that finds no secret in a run's files proves something only if the secret was there to leak.
``PUT /_sandbox/canaries`` with a JSON object plants values (each key optional):

- ``status_url``: ``{"t": …, "c": …, "s": …, "h": …, "sig": …}`` — every status URL the sandbox
  hands out (``location``, ``azure-asyncoperation``) carries these query parameters, replacing its
  own signature; the status polls ignore them, as before;
- ``storage_account_key``: every storage account lists it under ``keys``, in ``listKeys``' shape
  (the live service returns keys only from ``listKeys``, which chsm-checks never calls);
- ``ids``: ``{"<sandbox id>": "<canary id>"}`` — the world's ids renamed (tenant, principals, clients);
- ``watch``: ``{"name": "value"}`` — values to look for, planted here or elsewhere (a bearer token).

From then on it counts, per name, the ARM requests that carried a watched value anywhere (headers,
path, query or body, URL-decoded or not: ``seen``) and the ARM answers that did (headers or body:
``sent``); ``GET /_sandbox/canaries`` answers ``{"seen": {…}, "sent": {…}}``. Nothing is logged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode, urlsplit, urlunsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.wire import JsonObject, render_json
from chsm_checks.sandbox.world import STORAGE_TYPE, resources_of_type

PATH = "/_sandbox/canaries"
_STATUS_HEADERS = (b"location", b"azure-asyncoperation")
_STATUS_PARAMETERS = frozenset({"t", "c", "s", "h", "sig"})


class Canaries:
    """An ASGI wrapper around the sandbox app: answers :data:`PATH`, plants, and counts sightings."""

    def __init__(self, app: ASGIApp, store: SandboxStore) -> None:
        self._app = app
        self._store = store
        self._status_url: dict[str, str] = {}
        self._watched: dict[str, bytes] = {}
        self._seen: Counter[str] = Counter()
        self._sent: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
        elif scope["path"].rstrip("/") == PATH:
            await self._control(scope, receive, send)
        elif not self._watched or scope["path"].startswith("/_sandbox/"):
            await self._app(scope, receive, send)
        else:
            body = await _body(receive)
            path = scope.get("raw_path") or scope["path"].encode()
            request = b"\n".join([path, scope["query_string"], *(v for _, v in scope["headers"])])
            self._count(self._seen, request + b"\n" + body)
            await self._app(scope, _replay(body, receive), self._planting(send))

    def _planting(self, send: Send) -> Send:
        sent: list[bytes] = []

        async def planted(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, _with_parameters(v.decode("latin-1"), self._status_url).encode("latin-1"))
                    if k.lower() in _STATUS_HEADERS and self._status_url
                    else (k, v)
                    for k, v in message["headers"]
                ]
                message = {**message, "headers": headers}
                sent.extend(v for _, v in headers)
            elif message["type"] == "http.response.body":
                sent.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._count(self._sent, b"\n".join(sent))
            await send(message)

        return planted

    def _count(self, counter: Counter[str], data: bytes) -> None:
        """Count once each watched value in ``data``, as sent or URL-decoded."""
        views = (data, unquote_to_bytes(data), unquote_to_bytes(data.replace(b"+", b" ")))
        for name, value in self._watched.items():
            if any(value in view for view in views):
                counter[name] += 1

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "PUT":
            try:
                self._plant(json.loads(await _body(receive)))
            except (ValueError, TypeError) as exc:
                await _answer(send, 400, {"error": {"code": "InvalidRequestContent", "message": str(exc)}})
                return
        elif scope["method"] != "GET":
            await _answer(send, 405, {"error": {"code": "MethodNotAllowed", "message": "GET or PUT"}})
            return
        await _answer(send, 200, {"seen": dict(self._seen), "sent": dict(self._sent)})

    def _plant(self, plan: Any) -> None:
        if not isinstance(plan, dict) or set(plan) - {"status_url", "storage_account_key", "ids", "watch"}:
            raise ValueError("expected an object of status_url, storage_account_key, ids and watch")
        status_url = _strings(plan.get("status_url", {}), "status_url")
        if set(status_url) - _STATUS_PARAMETERS:
            raise ValueError(f"status_url: only {', '.join(sorted(_STATUS_PARAMETERS))}")
        ids = _strings(plan.get("ids", {}), "ids")
        watch = _strings(plan.get("watch", {}), "watch")
        key = plan.get("storage_account_key")
        if key is not None and not isinstance(key, str):
            raise ValueError("storage_account_key: must be a string")
        with self._store.transaction() as state:
            text = render_json(state).decode("utf-8")
            for old, new in ids.items():
                text = text.replace(old, new)
            renamed = json.loads(text)
            state.clear()
            state.update(renamed)
            if key is not None:
                for account in resources_of_type(state, STORAGE_TYPE):
                    account["keys"] = [{"keyName": "key1", "value": key, "permissions": "FULL"}]
        self._status_url.update(status_url)
        self._watched.update({name: value.encode("utf-8") for name, value in watch.items()})


def _strings(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise ValueError(f"{field}: must map non-empty strings to non-empty strings")
    return value


def _with_parameters(url: str, parameters: Mapping[str, str]) -> str:
    """``url`` with ``parameters`` in its query: replacing those it has, appended otherwise."""
    parts = urlsplit(url)
    query = [(k, parameters.get(k, v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query += [(k, v) for k, v in parameters.items() if k not in dict(query)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="")))


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then waits on the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _answer(send: Send, status: int, body: JsonObject) -> None:
    content = render_json(body)
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(content)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
