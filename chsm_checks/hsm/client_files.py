"""Where a target's HSM client files are on this machine.

A target names the utilities and their configuration by path, or, with ``[hsm] client = "sandbox"``,
as ``<sandbox>/hsm-client/bin/...``: the files of the sandbox it addresses, wherever that sandbox
keeps its ``--state``. Those names are what recordings, evidence and findings carry, the same on
every machine; only a live or recording run locates them, by asking the sandbox itself
(``GET /_sandbox/hsm-client``) before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from ..arm.trust import verify_for
from ..errors import ConfigError
from ..target import SANDBOX_CLIENT_ROOT, Target

#: How long a sandbox on loopback may take to say where its client is.
ASK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ClientFiles:
    """Locates a target's HSM client names: a path as given, ``<sandbox>/...`` under ``sandbox_root``."""

    sandbox_root: Path | None = None

    def locate(self, name: str) -> str:
        """The file ``name`` stands for on this machine."""
        prefix = f"{SANDBOX_CLIENT_ROOT}/"
        if not name.startswith(prefix):
            return name
        if self.sandbox_root is None:
            # Only a replay has no sandbox, and a replay touches no client file.
            raise ConfigError(f"{name}: names the sandbox's HSM client, and this run asked no sandbox")
        return str(self.sandbox_root / name.removeprefix(prefix))


NO_SANDBOX = ClientFiles()


def client_files_for(target: Target, reaches_azure: bool) -> ClientFiles:
    """How this run locates ``target``'s HSM client: for ``client = "sandbox"`` in a run that reaches
    the sandbox, by asking it; else paths are what they say."""
    hsm = target.spec.hsm
    if hsm is None or not hsm.from_sandbox or not reaches_azure:
        return NO_SANDBOX
    return ClientFiles(sandbox_root(target))


def ask_sandbox(endpoint: str, ca_file: Path | None) -> httpx.Response:
    """The answer to ``GET /_sandbox/hsm-client`` at ``endpoint`` (a loopback ARM endpoint)."""
    with httpx.Client(verify=verify_for(ca_file), timeout=ASK_TIMEOUT_SECONDS) as http:
        return http.get(f"{endpoint}/_sandbox/hsm-client")


def sandbox_crypto_user(endpoint: str, ca_file: Path | None) -> str | None:
    """The crypto user of the sandbox at ``endpoint``, or None when what answers there is no
    chsm-checks sandbox."""
    try:
        answer = ask_sandbox(endpoint, ca_file)
        user = answer.json().get("crypto_user") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return user if isinstance(user, str) else None


def sandbox_root(target: Target) -> Path:
    """The state directory of the sandbox ``target`` addresses, as the sandbox says; ``ConfigError``
    (one line naming the target's ``hsm.client``) when no sandbox answers or its answer is no use."""
    endpoint = target.cloud.arm_endpoint
    where = f"{target.path}: hsm.client"
    try:
        answer = ask_sandbox(endpoint, target.arm_ca_file)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"{where}: no sandbox answers at {endpoint} ({type(exc).__name__}); start one with "
            "chsm-checks sandbox serve --state DIR, or give its URL with --arm-endpoint"
        ) from None
    try:
        stated = answer.json().get("state_dir") if answer.status_code == 200 else None
    except (ValueError, AttributeError):
        stated = None
    if not isinstance(stated, str):
        raise ConfigError(
            f"{where}: {endpoint} did not say where its HSM client is (HTTP {answer.status_code} to "
            "GET /_sandbox/hsm-client); is it a chsm-checks sandbox?"
        )
    root = Path(stated)
    if not root.is_absolute() or not (root / "hsm-client" / "bin").is_dir():
        raise ConfigError(
            f"{where}: the sandbox at {endpoint} keeps its HSM client in {stated}, which is not "
            "a directory on this machine"
        )
    return root
