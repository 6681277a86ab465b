"""What a live or recorded drill needs, checked before its first backup or restore is sent.

A restore activates the destination for good: a drill that finds out after it that the HSM password
is missing or a utility path is wrong cannot be run again on that destination. So before anything is
sent, everything the selected scenarios will need is looked at once, and any gap refuses the run
with one line. What is checked: the HSM crypto user's password, the utilities (present and
executable) and every client configuration file (readable, and writable when the harness manages
it), the client restart command, and, when a restore is selected, the destination reading
``NotActivated``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .arm.errors import ArmError
from .arm.resources import get_cluster
from .errors import ConfigError

if TYPE_CHECKING:
    from .services.clients import ArmClients
    from .services.secrets import RunSecrets
    from .services.settings import RunSettings
    from .target import HsmSettings


def _utility_problem(field: str, value: str, shown: str | None = None) -> str | None:
    path = Path(value)
    bare = "/" not in value and "\\" not in value
    found = shutil.which(value) if bare else (str(path) if path.exists() else None)
    if found is None:
        return f"hsm.{field}: {shown or value} does not exist"
    if not os.access(found, os.X_OK) or Path(found).is_dir():
        return f"hsm.{field}: {shown or value} is not an executable file"
    return None


def _hsm_problems(
    secrets: RunSecrets, hsm: HsmSettings, will_point: bool, locate: Callable[[str], str] = str
) -> list[str]:
    def located(name: str) -> tuple[str, str]:
        """The file ``name`` stands for, and how to show it: the target's name, and where it is."""
        path = locate(name)
        return path, (name if path == name else f"{name} ({path})")

    problems = []
    try:
        secrets.hsm_password()  # from its variable, or asked for now, before anything is sent
    except ConfigError as exc:
        problems.append(str(exc).split(": ", 1)[-1])
    for field in ("mgmt_util", "util"):
        if (problem := _utility_problem(field, *located(getattr(hsm, field)))) is not None:
            problems.append(problem)
    for n, listed in enumerate(hsm.resource_cfg):
        name, shown = located(listed)
        path = Path(name)
        if not path.is_file() or not os.access(path, os.R_OK):
            problems.append(f"hsm.resource_cfg[{n}]: {shown} cannot be read")
        elif will_point and not os.access(path, os.W_OK):
            problems.append(f"hsm.resource_cfg[{n}]: {shown} cannot be written (manage_resource_cfg is on)")
    if will_point and hsm.restart_client_command:
        command = hsm.restart_client_command[0]
        if (problem := _utility_problem("restart_client_command", command)) is not None:
            problems.append(problem.replace("hsm.restart_client_command", "hsm.restart_client_command[0]"))
    return problems


def _destination_problems(settings: RunSettings, clients: ArmClients) -> list[str]:
    """The destination must read ``NotActivated``. A read that fails does not stop the run: the
    guard reads the destination again right before the restore, and sends nothing unless that read
    shows it ``NotActivated``."""
    destination_id = settings.single_target.destination_id
    name = destination_id.rsplit("/", 1)[-1]
    with clients.read_only_client() as client:
        try:
            found = get_cluster(client, destination_id).activation_state
        except ArmError:
            return []
    if found != "NotActivated":
        return [
            f"destination: cluster {name} reads activationState {found or 'absent'!r}, not 'NotActivated'"
        ]
    return []


def drill_problems(
    settings: RunSettings, secrets: RunSecrets, clients: ArmClients, scenario_tags: Iterable[frozenset[str]]
) -> list[str]:
    """Everything the selected scenarios need that is not there, as ``field: problem`` phrases.

    Only a live or recorded run that may mutate has a drill to protect; for any other run, none.
    """
    selected = list(scenario_tags)
    if not settings.mode.reaches_azure or not settings.allow_mutations:
        return []
    if not any("mutating" in tags for tags in selected):
        return []
    hsm = settings.single_target.spec.hsm
    problems = []
    if hsm is not None and any("hsm" in tags for tags in selected):
        problems += _hsm_problems(
            secrets, hsm, will_point=hsm.manage_resource_cfg, locate=settings.hsm_client.locate
        )
    if any("restores" in tags for tags in selected):
        problems += _destination_problems(settings, clients)
    return problems
