"""A run is made of chsm-checks's own pytest plugins: one that happens to be installed beside it
(here one that reverses the order of the tests, and says it was loaded) changes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import run_cli, summary

ROGUE = """
from pathlib import Path

def pytest_configure(config):
    Path(__file__).with_name("rogue-was-loaded").write_text("yes")

def pytest_collection_modifyitems(items):
    items.reverse()
"""


def test_a_pytest_plugin_installed_beside_chsm_checks_is_not_loaded(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "rogue-1.0.dist-info").mkdir(parents=True)
    (site / "rogue.py").write_text(ROGUE)
    (site / "rogue-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rogue\nVersion: 1.0\n"
    )
    (site / "rogue-1.0.dist-info" / "entry_points.txt").write_text("[pytest11]\nrogue = rogue\n")

    result = run_cli(
        "run", "--reports", str(tmp_path / "reports"), "--no-html", "-k", "identity",
        offline=True, env_extra={"PYTHONPATH": str(site)},
    )  # fmt: skip

    assert result.returncode == 0, result.output
    assert not (site / "rogue-was-loaded").exists()
    names = [e["name"] for e in summary(tmp_path / "reports")["scenarios"]]
    assert names[0] == "Each cluster has exactly one user-assigned identity", names
