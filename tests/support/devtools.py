"""Headless Chromium driven over the DevTools protocol, to record every request a page makes.

The browser is started with ``--remote-debugging-pipe``: it reads protocol commands from file
descriptor 3 and writes its answers and events to descriptor 4, each message JSON ended by a NUL.
The page's target, and every frame or worker it starts (attached as they start, paused until their
network events are on), report each request through ``Network.requestWillBeSent``. The network log
(``--log-net-log``) is kept too, as a second witness.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass
class PageRequests:
    """What a page asked for while it loaded and settled."""

    urls: list[str] = field(default_factory=list)  # every request, in order: file:, data:, http(s)…
    websockets: list[str] = field(default_factory=list)
    page_net_log_urls: list[str] = field(default_factory=list)  # the page's, from the network log
    loaded: bool = False


class _Pipe:
    def __init__(self, to_browser: int, from_browser: int) -> None:
        self._out = to_browser
        self._in = from_browser
        self._next_id = 0
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffered = b""
        while chunk := os.read(self._in, 1 << 16):
            buffered += chunk
            *whole, buffered = buffered.split(b"\0")
            for message in whole:
                self.messages.put(json.loads(message))

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._next_id


def record_requests(chromium: str, page: Path, profile: Path, settle_seconds: float = 5.0) -> PageRequests:
    """Load ``page`` from ``file://`` and record every request it makes until ``settle_seconds`` after
    its load event (an analytics tag loads asynchronously, after the page itself)."""
    net_log = profile.parent / f"{profile.name}-net-log.json"
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    # The child's ends, moved above 3 and 4 so that placing them there cannot overwrite one another.
    child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
    child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
    for fd in (to_browser_r, from_browser_w):
        os.close(fd)

    def descriptors() -> None:  # in the child: inheritable copies at 3 and 4, the rest close on exec
        os.dup2(child_r, 3)
        os.dup2(child_w, 4)

    browser = subprocess.Popen(
        [
            chromium, *FLAGS, f"--user-data-dir={profile}", f"--log-net-log={net_log}",
            "--remote-debugging-pipe", "about:blank",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        close_fds=False, preexec_fn=descriptors,
    )  # fmt: skip
    os.close(child_r)
    os.close(child_w)
    pipe = _Pipe(to_browser_w, from_browser_r)
    seen = PageRequests()
    try:
        _drive(pipe, page, seen, settle_seconds)
    finally:
        try:
            pipe.send("Browser.close")
            browser.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            browser.kill()
            browser.wait()
        os.close(to_browser_w)
    seen.page_net_log_urls = _page_requests_in_net_log(net_log)
    return seen


def _drive(pipe: _Pipe, page: Path, seen: PageRequests, settle_seconds: float) -> None:
    created = pipe.send("Target.createTarget", {"url": "about:blank"})
    deadline = time.monotonic() + 120
    settle_until: float | None = None
    attach_id = navigate_id = None
    page_session: str | None = None
    asked: dict[int, None] = {}  # readiness questions in flight
    next_question = 0.0
    while time.monotonic() < (settle_until or deadline):
        if navigate_id is None and page_session is not None:
            navigate_id = pipe.send("Page.navigate", {"url": page.as_uri()}, session=page_session)
        if settle_until is None and page_session is not None and time.monotonic() >= next_question:
            question = {"expression": "location.href + ' ' + document.readyState", "returnByValue": True}
            asked[pipe.send("Runtime.evaluate", question, session=page_session)] = None
            next_question = time.monotonic() + 0.25
        try:
            message = pipe.messages.get(timeout=0.1)
        except queue.Empty:
            continue
        method = message.get("method")
        params = message.get("params", {})
        if message.get("id") == created:
            attach_id = pipe.send(
                "Target.attachToTarget", {"targetId": message["result"]["targetId"], "flatten": True}
            )
        elif message.get("id") == attach_id:
            page_session = message["result"]["sessionId"]
            _watch(pipe, page_session)
        elif message.get("id") == navigate_id and "error" in message:
            raise RuntimeError(f"Chromium could not open {page}: {message['error']}")
        elif message.get("id") in asked:
            answer = message.get("result", {}).get("result", {}).get("value")
            if answer == f"{page.as_uri()} complete" and settle_until is None:
                seen.loaded = True  # loaded; now give its asynchronous scripts time to ask for more
                settle_until = time.monotonic() + settle_seconds
        elif method == "Target.attachedToTarget":  # a frame or worker the page started, paused
            child = params["sessionId"]
            _watch(pipe, child)
            pipe.send("Runtime.runIfWaitingForDebugger", session=child)
        elif method == "Network.requestWillBeSent":
            seen.urls.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            seen.websockets.append(params["url"])


def _watch(pipe: _Pipe, session: str) -> None:
    pipe.send("Network.enable", session=session)
    pipe.send(
        "Target.setAutoAttach",
        {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
        session=session,
    )


def _page_requests_in_net_log(net_log: Path) -> list[str]:
    """URLs the network stack was asked for on behalf of a ``file://`` page. The browser's own
    background requests (its updater, its sign-in check) carry another network isolation key."""
    data = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        params["url"]
        for event in data["events"]
        if event["type"] == start_job
        and "url" in (params := event.get("params") or {})
        and "file://" in params.get("network_isolation_key", "")
    ]
