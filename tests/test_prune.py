"""``chsm-checks prune``: old runs go when asked; sealed bundles only when that is asked too."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import run_cli

RUNS = [f"202612{day:02d}T120000Z-replay-{day:06x}" for day in range(1, 6)]


def _reports(tmp_path: Path, sealed: set[str]) -> Path:
    reports = tmp_path / "reports"
    for name in RUNS:
        (reports / name).mkdir(parents=True)
        (reports / name / "summary.json").write_text("{}")
        if name in sealed:
            (reports / name / "MANIFEST.sha256").write_text("")
    (reports / "latest").symlink_to(RUNS[1])  # an older run is the newest sealed one
    (reports / "notes").mkdir()
    (reports / "README.md").write_text("ours")
    return reports


def test_prune_keeps_the_newest_latest_and_sealed_bundles_unless_asked(tmp_path: Path) -> None:
    reports = _reports(tmp_path, sealed={RUNS[0], RUNS[1], RUNS[2]})

    result = run_cli("prune", "--keep", "2", "--reports", str(reports))

    assert result.returncode == 0, result.output
    left = sorted(p.name for p in reports.iterdir())
    # RUNS[4], RUNS[3] newest; RUNS[1] is latest; RUNS[0] and RUNS[2] sealed; nothing unsealed was older.
    assert left == sorted([*RUNS, "latest", "notes", "README.md"])
    assert (
        f"kept 2 older sealed bundle(s) ({RUNS[2]}, {RUNS[0]}); --include-sealed removes them too"
        in result.stdout
    )

    result = run_cli("prune", "--keep", "2", "--reports", str(reports), "--include-sealed", "--dry-run")
    assert result.stdout.splitlines() == [
        f"chsm-checks: would remove {reports / RUNS[2]}",
        f"chsm-checks: would remove {reports / RUNS[0]}",
    ]
    assert len(list(reports.iterdir())) == 8

    run_cli("prune", "--keep", "2", "--reports", str(reports), "--include-sealed")
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        [RUNS[1], RUNS[3], RUNS[4], "latest", "notes", "README.md"]
    )


def test_unsealed_leftovers_older_than_those_kept_go(tmp_path: Path) -> None:
    reports = _reports(tmp_path, sealed={RUNS[1]})

    run_cli("prune", "--keep", "1", "--reports", str(reports))

    assert sorted(p.name for p in reports.iterdir()) == sorted(
        [RUNS[1], RUNS[4], "latest", "notes", "README.md"]
    )


def test_bad_prune_arguments_are_one_line(tmp_path: Path) -> None:
    for args, said in (
        (("--keep", "0", "--reports", str(tmp_path)), "chsm-checks: --keep: 0: keep at least one run\n"),
        (
            ("--keep", "3", "--reports", str(tmp_path / "no")),
            f"chsm-checks: {tmp_path / 'no'}: reports directory not found\n",
        ),
    ):
        result = run_cli("prune", *args)
        assert (result.returncode, result.stderr) == (2, said)
