"""The HSM client install a served sandbox provides: ``<state_dir>/hsm-client/bin/``.

It mirrors the SDK's ``bin`` directory: ``azcloudhsm_mgmt_util`` and ``azcloudhsm_util`` (shell
wrappers that run the simulators against this sandbox's URL) beside the ``azcloudhsm_resource.cfg``
they read. The wrappers are rewritten on every start, since the port may change; the cfg is the
user's to repoint (at the destination, after a restore) and is rewritten only when missing or on reset.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

from chsm_checks.sandbox.hsm_state import SOURCE_USERS
from chsm_checks.sandbox.wire import JsonObject
from chsm_checks.sandbox.world import CLUSTER_TYPE, SOURCE_CLUSTER, resources_of_type

CLIENT_BIN = Path("hsm-client", "bin")
MGMT_UTIL = "azcloudhsm_mgmt_util"
UTIL = "azcloudhsm_util"
RESOURCE_CFG = "azcloudhsm_resource.cfg"


def client_bin(state_dir: Path) -> Path:
    """The sandbox's SDK ``bin`` directory."""
    return state_dir / CLIENT_BIN


def client_description(state_dir: Path) -> JsonObject:
    """What ``GET /_sandbox/hsm-client`` answers: the state directory (absolute), which a target's
    ``<sandbox>/`` names, the client's files under it, for a person reading it, and the crypto user
    a target logs in as (``chsm-checks init`` writes it)."""
    root = state_dir.resolve()
    return {
        "state_dir": str(root),
        "mgmt_util": str(root / CLIENT_BIN / MGMT_UTIL),
        "util": str(root / CLIENT_BIN / UTIL),
        "resource_cfg": str(root / CLIENT_BIN / RESOURCE_CFG),
        "crypto_user": next(name for _, role, name, _ in SOURCE_USERS if role == "CU"),
    }


def write_client_files(
    state_dir: Path, base_url: str, state: JsonObject, *, reset: bool, ca_file: Path | None = None
) -> Path:
    """Write both wrappers for ``base_url`` (trusting ``ca_file`` when it is HTTPS), and the cfg if it
    is missing or ``reset``; return the dir."""
    bin_dir = client_bin(state_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "chsm_checks.sandbox.hsm_sim"]
    sandbox = ["--sandbox", base_url, *(["--ca-file", str(ca_file)] if ca_file is not None else [])]
    # The mgmt util takes the cfg as its argument, like the real one; the util's daemon reads it from
    # the SDK directory, which here is passed explicitly.
    wrappers = {
        MGMT_UTIL: [*command, "mgmt", *sandbox],
        UTIL: [*command, "util", *sandbox, "--cfg", str(bin_dir.resolve() / RESOURCE_CFG)],
    }
    # The simulators import this very package, whether or not it is installed where they start.
    package_root = shlex.quote(str(Path(__file__).resolve().parents[2]))
    for name, argv in wrappers.items():
        script = (
            "#!/bin/sh\n"
            f'PYTHONPATH={package_root}${{PYTHONPATH:+:"$PYTHONPATH"}}\n'
            "export PYTHONPATH\n"
            f'exec {shlex.join(argv)} "$@"\n'
        )
        _write_atomically(bin_dir / name, script, mode=0o755)
    write_resource_cfg(state_dir, state, replace=reset)
    return bin_dir


def write_resource_cfg(state_dir: Path, state: JsonObject, *, replace: bool) -> Path:
    """Point ``azcloudhsm_resource.cfg`` at the source cluster's first HSM, unless one exists and not
    ``replace``."""
    path = client_bin(state_dir) / RESOURCE_CFG
    if replace or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        (source,) = [c for c in resources_of_type(state, CLUSTER_TYPE) if c["name"] == SOURCE_CLUSTER]
        hostname = source["properties"]["hsms"][0]["fqdn"]
        _write_atomically(
            path, json.dumps({"servers": [{"hostname": hostname}]}, indent=4) + "\n", mode=0o644
        )
    return path


def _write_atomically(path: Path, text: str, *, mode: int) -> None:
    # A simulator starting at this moment sees the old file or the new one, never half of one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
