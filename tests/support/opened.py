"""Which paths this process opens or lists during a block: an audit hook, installed once.

An audit hook cannot be removed, only idled: outside ``opened()`` it records nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_OPENED: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED and event in ("open", "os.scandir", "os.listdir") and args and args[0] is not None:
        _OPENED[-1].append(os.fsdecode(args[0]) if isinstance(args[0], str | bytes) else "")


sys.addaudithook(_audit)


@contextmanager
def opened() -> Iterator[list[str]]:
    """Every path this process opens or lists meanwhile."""
    _OPENED.append([])
    try:
        yield _OPENED[-1]
    finally:
        _OPENED.pop()
