"""Start-up: ``chsm-checks --help`` imports none of the heavy dependencies, and costs little over bare Python.

Run by hand from the checkout: ``.venv/bin/python bench/startup.py [--repeat N]``. Exits 1 when
``--help`` imports azure-identity, vcrpy, pexpect or allure (printing the import chain that pulled
each in), 0 otherwise. The timing ratio is reported, not judged.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from measure import (
    REPO,
    Import,
    Samples,
    cached_bytecode,
    chains_to,
    heaviest,
    import_tree,
    machine,
    ms,
    rotations,
    table,
    timed,
    total_import_us,
    write_section,
)

# What --help must not import: the credential stack, the recorder, the HSM session driver, the
# reporting plugin. None is needed to print help, and each costs tens of milliseconds or more.
FORBIDDEN = ("azure.identity", "vcr", "pexpect", "allure", "allure_commons", "allure_pytest_bdd")
# Also heavy: reported so that a regression shows, but not part of pass/fail.
WATCHED = (
    "pytest",
    "pytest_bdd",
    "httpx",
    "pydantic",
    "cryptography",
    "jsonschema_rs",
    "starlette",
    "uvicorn",
)
HELP = (sys.executable, "-m", "chsm_checks", "--help")
BARE = (sys.executable, "-c", "pass")
IMPORTTIME_RUNS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of each command (20)")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    with cached_bytecode() as env:
        return _measure(args, env)


def _measure(args: argparse.Namespace, env: dict[str, str]) -> int:
    where = machine()
    print(f"machine: {where}")
    commands = {"help": HELP, "bare": BARE}
    for command in commands.values():  # fill the file cache and the bytecode cache, untimed
        timed(command, cwd=REPO, env=env)

    # What --help imports does not vary run to run; how long the imports take does: median of several.
    totals, chsm_totals, bare_totals = [], [], []
    roots: list[Import] = []
    for _ in range(IMPORTTIME_RUNS):
        _, _, stderr, code = timed((sys.executable, "-X", "importtime", *HELP[1:]), cwd=REPO, env=env)
        if code != 0:
            print(stderr, file=sys.stderr)
            print("startup: chsm-checks --help failed; is chsm-checks installed in this Python?")
            return 2
        roots = import_tree(stderr)
        totals.append(total_import_us(roots))
        chsm_totals.append(sum(r.cumulative_us for r in roots if r.name.split(".")[0] == "chsm_checks"))
        bare_stderr = timed((sys.executable, "-X", "importtime", *BARE[1:]), cwd=REPO, env=env)[2]
        bare_totals.append(total_import_us(import_tree(bare_stderr)))
    found, watched, top = chains_to(roots, FORBIDDEN), chains_to(roots, WATCHED), heaviest(roots, 5)
    import_total, chsm_total, bare_total = (
        statistics.median(t) / 1e6 for t in (totals, chsm_totals, bare_totals)
    )

    print("\n--help imports (python -X importtime -m chsm_checks --help):")
    for name in FORBIDDEN:
        print(f"  {name:18} {'IMPORTED via ' + _chain(found[name]) if name in found else 'not imported'}")
    for name, chain in watched.items():
        print(f"  (watched) {name} imported via {_chain(chain)}")
    print(
        f"  total import time {ms(import_total)} (median of {IMPORTTIME_RUNS}; python -c pass: "
        f"{ms(bare_total)}), of which chsm_checks' own {ms(chsm_total)}"
    )
    print("  heaviest top-level imports: " + ", ".join(_weight(r) for r in top))

    samples = {"help": Samples("python -m chsm_checks --help"), "bare": Samples("python -c pass")}
    for name in rotations(list(commands), args.repeat):
        seconds, _, _, code = timed(commands[name], cwd=REPO, env=env)
        if code != 0:
            print(f"startup: {' '.join(commands[name])} exited {code}")
            return 2
        samples[name].seconds.append(seconds)
    ratio = samples["help"].median / samples["bare"].median
    print(f"\nwall time, {args.repeat} interleaved runs each:")
    for s in samples.values():
        print(f"  {s.line()}")
    print(f"  ratio --help / bare python: {ratio:.2f}×")

    imported = "; ".join(f"{name} via {_chain(chain)}" for name, chain in found.items())
    print(f"\nstart-up target (--help imports none of {', '.join(FORBIDDEN)}): {imported or 'met'}")
    if not args.no_write:
        rows = [
            [
                "heavy modules imported by `chsm-checks --help`",
                "none of " + ", ".join(f"`{m}`" for m in FORBIDDEN),
                imported or "none",
                "missed" if found else "met",
            ],
            [
                "`python -m chsm_checks --help` / `python -c pass`",
                "none set (tracked)",
                f"**{ratio:.2f}×** ({ms(samples['help'].median)} / {ms(samples['bare'].median)})",
                "—",
            ],
            [
                "import time of `--help` (`-X importtime`)",
                "none set (tracked)",
                f"{ms(import_total)} (bare python {ms(bare_total)}), of which `chsm_checks` {ms(chsm_total)}",
                "—",
            ],
        ]
        notes = [s.line() for s in samples.values()]
        notes.append("heaviest top-level imports of `--help`: " + ", ".join(_weight(r) for r in top))
        write_section(
            "startup",
            "## Start-up (`bench/startup.py`)\n\n"
            + f"{where}\n\n"
            + table(["measure", "target", "measured", "verdict"], rows)
            + "\n\n"
            + "\n".join(f"- {note}" for note in notes),
        )
        print("written to bench/RESULTS.md")
    return 1 if found else 0


def _chain(chain: tuple[str, ...]) -> str:
    return " -> ".join(chain)


def _weight(module: Import) -> str:
    """A module's cumulative import time, and its heaviest import when that is most of it."""
    text = f"{module.name} {ms(module.cumulative_us / 1e6)}"
    child = max(module.children, key=lambda c: c.cumulative_us, default=None)
    if child and child.cumulative_us * 2 > module.cumulative_us:
        text += f" (of which {child.name} {ms(child.cumulative_us / 1e6)})"
    return text


if __name__ == "__main__":
    sys.exit(main())
