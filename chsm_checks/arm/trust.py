"""Which certificates the ARM client trusts: httpx's defaults, plus the one CA a target may name.

A target's ``arm_ca_file`` adds a CA to the roots; it replaces nothing. Hostname checks, the minimum
TLS version and the usual roots (certifi's, or ``SSL_CERT_FILE``) stay as httpx sets them, so the
same rule serves the sandbox over HTTPS (its ``<state>/tls/ca.pem``) and Azure behind a
TLS-inspecting proxy (the proxy's CA).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx


def ca_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a CA file (one phrase naming it), or None when it can."""
    try:
        _context_trusting(path)
    except FileNotFoundError:
        return f"{path}: not found"
    except IsADirectoryError:
        return f"{path}: is a directory, not a PEM file"
    except ssl.SSLError:
        return f"{path}: holds no PEM CA certificate"
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror}"
    return None


def verify_for(ca_file: Path | None) -> ssl.SSLContext | bool:
    """What the ARM client's ``verify`` is: httpx's defaults, with ``ca_file`` added when given."""
    return True if ca_file is None else _context_trusting(ca_file)


def _context_trusting(ca_file: Path) -> ssl.SSLContext:
    context = httpx.create_ssl_context()
    context.load_verify_locations(cafile=ca_file)
    return context
