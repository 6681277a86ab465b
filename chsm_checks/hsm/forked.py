"""A utility session forked from the run instead of executed: how replay starts without an interpreter.

:class:`ForkedSpawn` is ``pexpect.spawn`` in every respect but one: where pexpect forks and then
executes the command, it forks and runs a function of this process in the child, on the pty, and
exits with what it returns. The child is a process of its own (its own pid, its own terminal, a
session leader, killed and reaped as any child), so the pexpect code that drives a live utility
drives it the same way; it only skips the interpreter start-up and imports a program would pay.

The child runs nothing of the run but that function: other threads do not exist in it, its
signal handlers are reset to the defaults, every inherited descriptor past the terminal is
closed, and it leaves by ``os._exit`` (no ``atexit`` handlers, no buffered output of the run's).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import resource
import signal
import struct
import termios
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import pexpect
import ptyprocess

# What the child exits with when the function raised: EX_SOFTWARE, "internal software error".
EXIT_CRASHED = 70
_RESET = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGALRM, signal.SIGPIPE)


class ForkedSpawn(pexpect.spawn):  # type: ignore[misc]
    """``pexpect.spawn(command, args, ...)`` whose child runs ``act()`` instead of ``command``.

    ``command`` and ``args`` still name what the session stands for (pexpect reports them), and
    ``cwd``, ``echo`` and ``dimensions`` apply to the child as they would to a program.
    """

    def __init__(self, command: str, args: list[str], *, act: Callable[[], int], **kwargs: Any) -> None:
        self._act = act
        super().__init__(command, args, **kwargs)

    def _spawnpty(self, args: list[str], **kwargs: Any) -> ptyprocess.PtyProcess:
        return _fork(self._act, args, **kwargs)


def _fork(
    act: Callable[[], int],
    argv: list[str],
    *,
    cwd: str | None = None,
    echo: bool = True,
    dimensions: tuple[int, int] | None = None,
    env: dict[str, str] | None = None,
    **_: Any,
) -> ptyprocess.PtyProcess:
    with warnings.catch_warnings():
        # Python 3.12 warns of fork() in a process with threads (an xdist worker has execnet's): the
        # child may find a lock another thread held. This child takes none of the run's: it runs
        # ``act`` on its own descriptors and leaves by os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid, fd = pty.fork()
    if pid == pty.CHILD:
        _child(act, cwd, echo, dimensions)  # never returns
    process = ptyprocess.PtyProcess(pid, fd)
    process.argv = argv
    if env is not None:
        process.env = env
    if cwd is not None:
        process.launch_dir = cwd
    return process


def _child(act: Callable[[], int], cwd: str | None, echo: bool, dimensions: tuple[int, int] | None) -> None:
    code = EXIT_CRASHED
    try:
        for number in _RESET:
            signal.signal(number, signal.SIG_DFL)
        os.closerange(3, min(1_048_576, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
        if dimensions is not None:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", dimensions[0], dimensions[1], 0, 0))
        if not echo:
            attrs = termios.tcgetattr(0)
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(0, termios.TCSANOW, attrs)
        if cwd is not None:
            os.chdir(cwd)
        code = act()
    except BaseException:  # the child must never return into the run it was forked from
        with contextlib.suppress(OSError):
            os.write(2, traceback.format_exc().replace("\n", "\r\n").encode("utf-8", "replace"))
    finally:
        os._exit(code)
