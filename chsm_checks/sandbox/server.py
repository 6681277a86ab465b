"""Serve the sandbox with uvicorn on a loopback socket, until SIGINT or SIGTERM."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from chsm_checks.sandbox.app import app_for_store
from chsm_checks.sandbox.arm_faults import ArmFaults
from chsm_checks.sandbox.canaries import Canaries
from chsm_checks.sandbox.clock import WALL_CLOCK, SandboxClock
from chsm_checks.sandbox.hsm_client import write_client_files
from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.state import SandboxStore
from chsm_checks.sandbox.tls import TlsFiles, ensure_tls_files, tls_files


def serve(
    state_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    settings: SandboxSettings | None = None,
    reset: bool = False,
    tls: bool = False,
    clock: SandboxClock = WALL_CLOCK,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the sandbox on ``host:port`` (``port=0`` picks a free one) until SIGINT or SIGTERM.

    ``ready`` receives the base URL, e.g. ``http://127.0.0.1:54321``, once the socket is listening
    and ``<state_dir>/hsm-client/bin/`` holds the HSM utility wrappers for that URL.
    Only loopback hosts are accepted: the sandbox has no authentication.

    With ``tls`` it serves HTTPS (``https://127.0.0.1:54321``) with the certificate in
    ``<state_dir>/tls/`` (:mod:`.tls`), made anew when missing, no longer valid, or on ``reset``;
    clients trust :func:`~chsm_checks.sandbox.tls.tls_files`'s ``ca_file``. A TLS directory that
    cannot be written is a ``ValueError`` naming it.

    ``clock`` is the sandbox's time (:mod:`.clock`): the wall clock, or a recorded clock for
    reproducible recordings.
    """
    family = _loopback_family(host)
    store = SandboxStore(state_dir, settings, reset=reset, clock=clock)
    files = _tls_files(state_dir, reset=reset) if tls else None
    faults = ArmFaults()
    app = Canaries(app_for_store(store, faults), store)
    # Naming TCP lets asyncio set TCP_NODELAY on each connection; without it, the headers and body of
    # an answer, sent apart, wait ~40 ms on Nagle and delayed ACKs.
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening before announcing lets early clients queue instead of being refused.
        sock.listen(128)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
        base_url = f"{'https' if files else 'http'}://{shown}:{bound_port}"
        with store.reading() as state:
            write_client_files(
                state_dir, base_url, state, reset=reset, ca_file=files.ca_file if files else None
            )
        if ready is not None:
            ready(base_url)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # The app dates its answers by the sandbox's clock (.wire.arm_headers); uvicorn's own
            # date would be a second one, by the wall clock.
            date_header=False,
            ssl_certfile=files.cert_file if files else None,
            ssl_keyfile=files.key_file if files else None,
        )
        server = uvicorn.Server(config)
        with _quiet_exit_signals(), faults.quiet_deliberate_resets(logging.getLogger("uvicorn.error")):
            server.run(sockets=[sock])


def _tls_files(state_dir: Path, *, reset: bool) -> TlsFiles:
    """The state's TLS files, made when needed; ValueError naming the directory if it is unwritable."""
    try:
        return ensure_tls_files(state_dir, regenerate=reset)
    except OSError as exc:
        where = tls_files(state_dir).ca_file.parent
        raise ValueError(f"cannot write the TLS files in {where}: {exc.strerror}") from None


def _loopback_family(host: str) -> socket.AddressFamily:
    """The address family for ``host``, or ValueError unless it is a loopback address."""
    if host == "localhost":
        return socket.AF_INET
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"the sandbox serves only on a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"the sandbox serves only on a loopback address, not {host!r}")
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


@contextmanager
def _quiet_exit_signals() -> Iterator[None]:
    """Make SIGINT/SIGTERM end :func:`serve` by returning.

    uvicorn shuts down on these signals and then re-raises them to the previous handlers, which would
    turn a clean stop into KeyboardInterrupt or death by SIGTERM; no-op handlers absorb the re-raise.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
