"""The installed distribution's version (a leaf: every module that names the tool imports this)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("chsm-checks")
except PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0.0.0+unknown"
