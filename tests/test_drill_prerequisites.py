"""Nothing is mutated before everything the drill needs is known to be there.

Each gap is found before the first backup or restore POST: the run is refused with one line naming
it, exit 2, nothing is sent but reads, and no run directory is left.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import Sandbox, project_copy, run_cli, sandbox_process


def _target(project: Path, sandbox: Sandbox, *replacements: tuple[str, str]) -> None:
    path = project / "targets" / "sandbox.toml"
    text = path.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)


def _no_password(project: Path, sandbox: Sandbox) -> None:
    _target(
        project,
        sandbox,
        ('password_env = "CHSM_SANDBOX_CU_PASSWORD"', 'password_env = "CHSM_UNSET_PASSWORD"'),
    )


def _sandbox_files(sandbox: Sandbox, **replaced: str) -> str:
    """The ``[hsm]`` lines naming the sandbox's client files, with ``replaced`` ones in their place."""
    bin_dir = sandbox.state_dir / "hsm-client" / "bin"
    files = {
        "mgmt_util": f'"{bin_dir / "azcloudhsm_mgmt_util"}"',
        "util": f'"{bin_dir / "azcloudhsm_util"}"',
        "resource_cfg": f'["{bin_dir / "azcloudhsm_resource.cfg"}"]',
        **replaced,
    }
    return "".join(f"{field} = {value}\n" for field, value in files.items())


def _wrong_utility(project: Path, sandbox: Sandbox) -> None:
    lines = _sandbox_files(sandbox, mgmt_util='"/nowhere/azcloudhsm_mgmt_util"')
    _target(project, sandbox, ('client = "sandbox"\n', lines))


def _unreadable_configuration(project: Path, sandbox: Sandbox) -> None:
    _target(
        project, sandbox, ('client = "sandbox"\n', _sandbox_files(sandbox, resource_cfg='["missing.cfg"]'))
    )


def _sandbox_utility_gone(project: Path, sandbox: Sandbox) -> None:
    (sandbox.state_dir / "hsm-client" / "bin" / "azcloudhsm_util").unlink()


def _destination_active(project: Path, sandbox: Sandbox) -> None:
    sandbox.patch_cluster("chsm-dest", {"activationState": "Active"})


@pytest.mark.parametrize(
    ("shape", "named"),
    [
        pytest.param(_no_password, "no HSM password: set CHSM_UNSET_PASSWORD", id="no-password"),
        pytest.param(
            _wrong_utility, "hsm.mgmt_util: /nowhere/azcloudhsm_mgmt_util does not exist", id="utility"
        ),
        pytest.param(_unreadable_configuration, "hsm.resource_cfg[0]: missing.cfg cannot be read", id="cfg"),
        pytest.param(
            _sandbox_utility_gone,
            "hsm.util: <sandbox>/hsm-client/bin/azcloudhsm_util (",
            id="sandbox-utility-gone",
        ),
        pytest.param(
            _destination_active,
            "destination: cluster chsm-dest reads activationState 'Active', not 'NotActivated'",
            id="destination-active",
        ),
    ],
)
def test_a_missing_prerequisite_refuses_the_drill_before_anything_is_sent(
    tmp_path: Path, shape: Callable[[Path, Sandbox], None], named: str
) -> None:
    project = project_copy(tmp_path)
    with sandbox_process(project / ".sandbox") as sandbox:
        shape(project, sandbox)
        result = run_cli(
            "run", "--mode", "live", "--allow-mutations", "--target", "targets/sandbox.toml",
            *sandbox.addressed, "--reports", str(tmp_path / "reports"), cwd=project,
            env_extra={"CHSM_UNSET_PASSWORD": ""},
        )  # fmt: skip
        methods = [r["method"] for r in sandbox.requests()]

    assert result.returncode == 2, result.output
    assert named in result.stderr, result.stderr
    assert "the drill cannot start, and nothing was sent" in result.stderr
    assert "Traceback" not in result.output
    assert set(methods) <= {"GET"}, methods
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
