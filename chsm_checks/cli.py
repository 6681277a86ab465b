"""The ``chsm-checks`` command.

Heavy imports (pytest, vcrpy, azure-identity, uvicorn) happen inside the commands, so ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ChsmError, ConfigError
from .options import add_to_argparse
from .outcomes import EXIT_FINDINGS, EXIT_OK, fail
from .version import VERSION

if TYPE_CHECKING:
    from .evidence.bundle import SigningKey
    from .modes import RunMode


class _SandboxNames:
    """Names the sandbox defines, as a ``sandbox serve`` option's choices, read (``load``) only when it
    is parsed or its help shown: the sandbox package imports starlette and uvicorn."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load

    def __contains__(self, name: object) -> bool:
        return name in list(self._load())

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._load()))


def _profile_names() -> Iterable[str]:
    from .sandbox.settings import PROFILE_NAMES

    return PROFILE_NAMES


def _clock_names() -> Iterable[str]:
    from .sandbox.clock import CLOCK_NAMES

    return CLOCK_NAMES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chsm-checks",
        description="Validation and compliance evidence for Azure Cloud HSM backup and restore.",
    )
    parser.add_argument("--version", action="version", version=f"chsm-checks {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run the Gherkin scenarios and write reports/<run-id>/",
        description="Exit codes: 0 all passed, 1 findings, 2 usage or configuration error, "
        "3 something could not be evaluated.",
    )
    add_to_argparse(run)
    run.add_argument(
        "--reports", metavar="DIR", default="reports", help="where <run-id>/ goes (default: ./reports)"
    )
    run.add_argument(
        "--oscal-version",
        choices=("1.1.2", "1.1.3", "1.2.1"),
        default="1.1.3",
        help="OSCAL version of the assessment results (default: 1.1.3)",
    )
    html = run.add_mutually_exclusive_group()
    html.add_argument(
        "--html",
        dest="html",
        action="store_true",
        default=None,
        help="build the Allure HTML report when the Allure 3 command line is installed (the default, "
        "but for a fleet target)",
    )
    html.add_argument(
        "--no-html",
        dest="html",
        action="store_false",
        help="skip the Allure HTML report (the default for a fleet target: a page per cluster of a "
        "large fleet takes longer to build than to judge it)",
    )
    run.add_argument(
        "-k",
        dest="keyword",
        help="only scenarios matching this pytest -k expression (default: every scenario)",
    )
    run.add_argument(
        "-n",
        "--workers",
        metavar="N",
        help="spread the run over N pytest-xdist worker processes ('auto': one per CPU); replay runs "
        "and fleet audits only. One report and one bundle result either way (default: no workers)",
    )
    run.add_argument(
        "--progress",
        choices=("auto", "plain", "off"),
        default="auto",
        help="how a fleet audit says its progress on stderr (the listing, then clusters read and judged "
        "out of the total with the time left): auto, one line redrawn at a terminal and plain lines "
        "elsewhere; plain; or off. Never written to the reports (default: auto)",
    )
    run.add_argument("pytest_args", nargs="*", help="further pytest arguments, after -- (default: none)")
    _add_signing_options(run)

    verify = commands.add_parser(
        "verify",
        help="check a run directory against its signed manifest",
        description="Exit codes: 0 every file matches and the signature holds, 1 otherwise, 2 usage error.",
    )
    verify.add_argument("run_dir", metavar="DIR", help="a run directory, e.g. reports/latest")
    verify.add_argument(
        "--public-key", metavar="PATH", help="the signer's Ed25519 public key (PEM); only then is it trusted"
    )
    verify.add_argument(
        "--shard-public-key",
        action="append",
        default=[],
        metavar="PATH",
        help="a merged bundle: every shard must be signed by one of these Ed25519 public keys (PEM; "
        "repeatable). Without it, a trusted merged bundle needs the merge to have checked its shards' "
        "signers",
    )
    report = commands.add_parser(
        "report",
        help="rebuild a run's matrix, OSCAL document and Allure HTML report, then seal it again",
    )
    report.add_argument(
        "run_dir", metavar="DIR", nargs="?", default="reports/latest", help="(reports/latest)"
    )
    report.add_argument("--oscal-version", choices=("1.1.2", "1.1.3", "1.2.1"), default="1.1.3")
    report.add_argument(
        "--public-key",
        metavar="PATH",
        help="the Ed25519 public key (PEM) of whoever sealed the bundle: a sealed bundle is re-sealed "
        "with a trusted key only if that signer is trusted too (or it is that same key)",
    )
    _add_signing_options(report)

    prune = commands.add_parser(
        "prune",
        help="remove run directories older than the newest N; sealed bundles only when asked",
        description="Removes only directories named as runs; never the run reports/latest names. A sealed "
        "bundle is evidence: it is removed only with --include-sealed.",
    )
    prune.add_argument(
        "--keep", type=int, required=True, metavar="N", help="how many of the newest runs stay"
    )
    prune.add_argument("--reports", metavar="DIR", default="reports", help="(default: ./reports)")
    prune.add_argument(
        "--include-sealed", action="store_true", help="remove old sealed bundles too (default: they stay)"
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    init = commands.add_parser(
        "init",
        help="write a target file from what ARM shows of a subscription",
        description="Discovers the subscription's Cloud HSM clusters and their backup resources (the "
        "clusters' chsm-backup-* tags first, then the storage accounts, containers and private endpoints "
        "ARM lists), asks which cluster is which at a terminal, and writes a commented target file that "
        "chsm-checks run accepts. Read-only. Refuses a destination that is the source or is not "
        "NotActivated. Where several answers fit and no terminal can ask, name one with its option.",
    )
    init.add_argument("--subscription", required=True, metavar="ID", help="the subscription to discover")
    init.add_argument(
        "--resource-group", metavar="RG", help="only clusters in this resource group (default: all)"
    )
    for option, what in (
        ("--source", "the cluster backed up (Active)"),
        ("--destination", "the cluster restored into (NotActivated, not the source)"),
        ("--identity", "the source cluster's user-assigned identity"),
        ("--storage-account", "the backup storage account"),
        ("--container", "the backup container"),
        ("--private-endpoint", "the private endpoint of the account's blob service"),
    ):
        init.add_argument(
            option,
            metavar="NAME",
            help=f"{what}, by name or resource-group/name (default: discovered; asked at a terminal "
            "when several fit)",
        )
    init.add_argument("--out", metavar="FILE", default="target.toml", help="(default: ./target.toml)")
    init.add_argument("--force", action="store_true", help="replace --out if it exists (default: refuse)")
    init.add_argument("--name", help="the target's name (default: the source cluster's)")
    init.add_argument(
        "--cloud",
        default="AzureCloud",
        choices=("AzureCloud", "AzureUSGovernment", "AzureChinaCloud"),
        help="the Azure cloud (default: AzureCloud)",
    )
    init.add_argument(
        "--arm-endpoint", metavar="URL", help="a sandbox's ARM endpoint on loopback, instead of a cloud"
    )
    init.add_argument(
        "--arm-ca-file", metavar="FILE", help="the CA a sandbox over HTTPS printed (default: none)"
    )
    steps = commands.add_parser(
        "steps",
        help="list the steps features may use: each step's pattern, what it does, an example",
        description="The step vocabulary of the suite a run would bind (this directory's, else the one "
        "installed): for an organisation's own features (chsm-checks run --features DIR).",
    )
    steps.add_argument("--markdown", action="store_true", help="as the README's table")
    merge = commands.add_parser("merge", help="merge sealed run directories (shards) into one sealed bundle")
    merge.add_argument("run_dirs", nargs="+", metavar="DIR", help="the shards' run directories")
    merge.add_argument("--out", required=True, metavar="DIR", help="the merged run directory (new or empty)")
    merge.add_argument(
        "--shard-public-key",
        action="append",
        default=[],
        metavar="PATH",
        help="an Ed25519 public key (PEM) the shards are signed with (repeatable): each shard must verify "
        "against one. Needed to sign with a trusted key; without it the merged bundle says its shards' "
        "signers were not verified",
    )
    _add_signing_options(merge)

    cassettes = commands.add_parser("cassettes", help="check committed recordings, import others' recordings")
    cassette_commands = cassettes.add_subparsers(dest="cassettes_command", required=True)
    cassettes_check = cassette_commands.add_parser(
        "check",
        help="reject cassettes and transcripts holding what the scrub profile does not allow",
        description="Exit codes: 0 clean, 1 problems (one line each), 2 unusable input.",
    )
    cassettes_check.add_argument(
        "directory", metavar="DIR", nargs="?", default="cassettes", help="(cassettes)"
    )
    cassettes_import = cassette_commands.add_parser(
        "import",
        help="turn another tool's vcrpy recording into a scrubbed cassette with provenance",
        description="Exit codes: 0 imported (what could not be is named on stderr, one line each), "
        "1 nothing could be imported, 2 unusable input.",
    )
    cassettes_import.add_argument("source", metavar="FILE", help="the other tool's vcrpy recording (YAML)")
    cassettes_import.add_argument(
        "--from", dest="tool", required=True, choices=("azure-cli",), help="the tool that recorded it"
    )
    cassettes_import.add_argument(
        "--out", metavar="PATH", help="the cassette to write (cassettes/imported/<tool>/<FILE's name>)"
    )

    sandbox = commands.add_parser("sandbox", help="the local ARM stand-in")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_commands.add_parser("serve", help="serve the sandbox on loopback until stopped")
    serve.add_argument("--state", required=True, help="state directory (created and seeded if empty)")
    serve.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    serve.add_argument("--seed", type=int, default=1, help="seed for a new state (default 1)")
    serve.add_argument(
        "--profile",
        choices=_SandboxNames(_profile_names),
        default="compliant",
        metavar="NAME",
        help="environment of a new state, compliant or one fault away from it: %(choices)s "
        "(default %(default)s)",
    )
    serve.add_argument("--reset", action="store_true", help="re-seed the state before serving")
    serve.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate from a local CA kept in <state>/tls/ (ca.pem is printed)",
    )
    serve.add_argument(
        "--clock",
        choices=_SandboxNames(_clock_names),
        default="wall",
        metavar="NAME",
        help="the sandbox's time, one of %(choices)s: the wall clock (default), or a recorded clock that "
        "starts at a fixed instant and moves 1 s per ARM request, so that a re-recording is byte-identical",
    )
    serve.add_argument("--lro-style", choices=("live", "spec"), default="live")
    serve.add_argument("--retry-after", type=int, default=None, help="send Retry-After: N on 202s")
    serve.add_argument("--backup-seconds", type=float, default=1.5)
    serve.add_argument("--restore-seconds", type=float, default=2.5)
    fleet = serve.add_argument_group("fleet", "many clusters beside the seeded world, fixed at seeding")
    fleet.add_argument(
        "--fleet-clusters", type=int, default=0, metavar="N", help="clusters (default 0: none)"
    )
    fleet.add_argument(
        "--fleet-subscriptions", type=int, default=1, metavar="M", help="subscriptions they spread over"
    )
    fleet.add_argument(
        "--fleet-misconfigured",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of them with one storage fault each (default 0)",
    )
    pace = serve.add_argument_group(
        "pace", "how ARM's and Resource Graph's delays and throttling are imitated"
    )
    pace.add_argument("--latency-ms", type=float, default=0.0, metavar="L", help="delay every ARM answer")
    pace.add_argument(
        "--read-budget",
        type=int,
        default=0,
        metavar="B",
        help="GETs per subscription before 429s (ARM: 250; default 0: unlimited)",
    )
    pace.add_argument(
        "--read-refill",
        type=float,
        default=25.0,
        metavar="R",
        help="read tokens back per second (default 25)",
    )
    pace.add_argument(
        "--graph-quota",
        type=int,
        default=15,
        metavar="Q",
        help="Resource Graph queries per caller per window before 429s (Azure's default: 15; default 15)",
    )
    pace.add_argument(
        "--graph-window",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds of Resource Graph's quota window (Azure's default: 5; default 5)",
    )
    profiles = sandbox_commands.add_parser(
        "record-profiles",
        help="record the catalogue against every faulty sandbox profile (for the harness's own tests)",
    )
    profiles.add_argument("--out", default="cassettes/profiles", help="where (default cassettes/profiles)")
    profiles.add_argument("--target", default="targets/sandbox.toml", help="the sandbox target to adapt")
    return parser


def _add_signing_options(parser: argparse.ArgumentParser) -> None:
    key = parser.add_mutually_exclusive_group()
    key.add_argument(
        "--signing-key",
        metavar="PATH",
        help="Ed25519 private key (PEM, PKCS8, unencrypted) to sign the manifest with; without it or "
        "--signing-key-env a key is generated and the bundle is not signed by a trusted key (default: none)",
    )
    key.add_argument(
        "--signing-key-env",
        metavar="NAME",
        help="environment variable holding that key's PEM (default: none)",
    )


def _signing_key(args: argparse.Namespace) -> SigningKey:
    from .evidence.bundle import load_signing_key

    return load_signing_key(Path(args.signing_key) if args.signing_key else None, args.signing_key_env)


def _arm_endpoint(given: str | None) -> str | None:
    """``--arm-endpoint`` checked as a target's ``arm_endpoint`` is; ``ConfigError`` naming the option."""
    from .target import checked_arm_endpoint

    if given is None:
        return None
    try:
        return checked_arm_endpoint(given)
    except ValueError as exc:
        raise ConfigError(f"--arm-endpoint: {exc}") from None


def _command_prune(args: argparse.Namespace) -> int:
    from .lifecycle.prune import prune

    try:
        done = prune(Path(args.reports), args.keep, include_sealed=args.include_sealed, dry_run=args.dry_run)
    except ConfigError as exc:
        return fail(str(exc))
    verb = "would remove" if args.dry_run else "removed"
    for run_dir in done.removed:
        print(f"chsm-checks: {verb} {run_dir}")
    if done.kept_sealed:
        print(
            f"chsm-checks: kept {len(done.kept_sealed)} older sealed bundle(s) "
            f"({', '.join(p.name for p in done.kept_sealed)}); --include-sealed removes them too"
        )
    if not done.removed and not done.kept_sealed:
        print(f"chsm-checks: nothing to prune in {args.reports}")
    return EXIT_OK


def _command_steps(args: argparse.Namespace) -> int:
    from .suite import suite_root
    from .vocabulary import as_markdown, as_text, vocabulary

    if (root := suite_root(Path.cwd())) is None:
        return fail("no suite: neither this directory nor the chsm-checks installation holds steps/")
    steps = vocabulary(root)
    sys.stdout.write(as_markdown(steps) if args.markdown else as_text(steps))
    return EXIT_OK


def _command_run(args: argparse.Namespace) -> int:
    from .modes import mode_named
    from .options import fill_suite_defaults
    from .organisation import load_feature_dirs
    from .suite import SHIPPED, config_file, suite_root
    from .target import FleetTarget, load_any_target

    if (root := suite_root(Path.cwd())) is None:
        return fail(
            "no suite to run: neither this directory nor the chsm-checks installation holds steps/ and "
            "features/; reinstall chsm-checks from its wheel"
        )
    fill_suite_defaults(args, root)
    try:
        target = load_any_target(args.target, arm_endpoint=_arm_endpoint(args.arm_endpoint))
        key = _signing_key(args)
        organisation = load_feature_dirs(args.features or ())
    except ConfigError as exc:
        return fail(str(exc))
    fleet = isinstance(target, FleetTarget)
    if fleet and organisation:
        return fail(
            f"{target.path}: --features: a fleet target runs the fleet audit; an organisation's features "
            "run against a backup/restore target"
        )
    modules = [root / module for module in SHIPPED.modules(fleet=fleet, organisation=bool(organisation))]
    if absent := [m for m in modules if not m.is_file()]:
        return fail(f"{absent[0]}: not found in the suite at {root}")
    mode = mode_named(args.mode)
    if mode.writes_recordings:
        from .recording.cassettes import recording_date

        try:
            recording_date()  # a date the recordings cannot carry is refused before anything runs
        except ConfigError as exc:
            return fail(str(exc))
    if problem := _run_conflict(args, mode, fleet):
        return fail(f"{target.path}: {problem}")
    cassettes = Path(args.cassettes)
    if not mode.reaches_azure and not cassettes.is_dir():  # a replay reads its recordings from there
        return fail(f"{cassettes}: cassette directory not found")
    from .arm.clouds import listening

    if mode.reaches_azure and target.cloud.is_loopback and not listening(target.cloud.arm_endpoint):
        return fail(
            f"{'--arm-endpoint' if args.arm_endpoint else f'{target.path}: arm_endpoint'}: "
            f"nothing listens on {target.cloud.arm_endpoint}; "
            "start it with: chsm-checks sandbox serve --state .sandbox"
            + (" --tls" if target.cloud.arm_endpoint.startswith("https://") else "")
        )

    import pytest

    from .lifecycle.finish import finish_run, new_run_dir, sigterm_interrupts
    from .lifecycle.fleet_progress import FleetProgress, progress_stream
    from .lifecycle.ledger import RunLedger
    from .lifecycle.terminal import ScenarioLines
    from .options import pytest_arguments
    from .reports.build import build_reports
    from .reports.cucumber import CucumberJson

    run_dir = new_run_dir(Path(args.reports), mode.name)
    pytest_args = [
        *map(str, modules),
        # The suite's own directory and configuration, wherever the run starts: node ids, feature
        # paths and the steps' imports are the suite's.
        f"--rootdir={root}",
        "-c",
        str(config_file(root)),
        *_PLUGINS,
        "-p",
        "no:cacheprovider",
        # Judgements raise ExpectationNotMet, never assert: rewriting asserts would only cost time.
        "--assert=plain",
        # The plugins are loaded by name (above), so pytest cannot find their distributions to check.
        "-o",
        "required_plugins=",
        # The terminal says what the reports say: ScenarioLines writes each scenario's line in the
        # harness's outcomes; pytest's own header, progress letters, summaries and notices stay out.
        "--quiet",
        "--quiet",
        "--no-summary",
        "-o",
        "console_output_style=classic",
        # A fleet's failures are findings, said in one line each; tracebacks of a thousand clusters
        # would only take time to format.
        "--tb=line" if fleet else "--tb=short",
        # This process imported chsm_checks before pytest could mark it for assertion rewriting;
        # its assertions carry their own messages and need none.
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        *pytest_arguments(args),
        f"--chsm-reports={run_dir}",
        f"--junitxml={run_dir / 'junit.xml'}",
        f"--alluredir={run_dir / 'allure-results'}",
    ]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.workers:
        # The plugin's scheduler keeps the drill in one worker, and a fleet's clusters that share a
        # storage account together.
        pytest_args += ["-n", args.workers]
    ledger = RunLedger()  # the plugin feeds it; it is the run's account once pytest is done
    lines = ScenarioLines(f"{mode.name} run of {target.name}")
    cucumber = CucumberJson(str(run_dir / "cucumber.json"))
    plugins: list[object] = [ledger, lines, cucumber]
    progress = progress_stream(args.progress) if fleet else None
    if progress is not None:
        plugins.append(FleetProgress(progress[0], at_terminal=progress[1]))
    try:
        with sigterm_interrupts(), _only_our_plugins():
            status = pytest.main(pytest_args + list(args.pytest_args), plugins=plugins)
    finally:
        if progress is not None:
            progress[0].close()
    gc.collect()  # pytest's session, items and reports, freed before the reports are built beside them
    return finish_run(
        run_dir,
        int(status),
        ledger,
        key=key,
        mode=mode.name,
        target_name=target.name,
        build=lambda done: build_reports(
            done,
            oscal_version=args.oscal_version,
            html=args.html if args.html is not None else not fleet,
            no_html=FLEET_NO_HTML if args.html is None else "",
        ),
    )


FLEET_NO_HTML = "no Allure HTML report: not built for a fleet unless asked (--html)"

# The pytest plugins a run is made of, and no other: a plugin that happens to be installed beside
# chsm-checks (one that reorders tests, say) must not change what a run does or says. pytest-xdist's
# workers inherit the same environment and arguments.
_PLUGINS = tuple(
    arg
    for plugin in (
        "chsm_checks.pytest_plugin",
        "pytest_bdd.plugin",
        "allure_pytest_bdd.plugin",
        "xdist.plugin",
    )
    for arg in ("-p", plugin)
)


@contextmanager
def _only_our_plugins() -> Iterator[None]:
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def _run_conflict(args: argparse.Namespace, mode: RunMode, fleet: bool) -> str | None:
    """Why these options cannot run this target, if they cannot."""
    if fleet and not mode.audits_fleets:
        return (
            "fleet: a fleet audit runs live and read-only (--mode live); "
            "recording and replaying fleets is not supported"
        )
    if fleet and args.allow_mutations:
        return "fleet: a fleet audit is read-only; --allow-mutations does not apply"
    if args.workers and not fleet and mode.reaches_azure:
        return (
            "--workers: a live or recorded backup/restore run is one ordered story on real clusters; "
            "run it in one process (workers serve replay runs and fleet audits)"
        )
    if args.workers and not (args.workers == "auto" or (args.workers.isdigit() and int(args.workers) > 0)):
        return f"--workers: {args.workers!r} is not a number of workers or 'auto'"
    return None


def _command_verify(args: argparse.Namespace) -> int:
    from .evidence.bundle import verify

    try:
        result = verify(
            Path(args.run_dir),
            Path(args.public_key) if args.public_key else None,
            [Path(k) for k in args.shard_public_key],
        )
    except ConfigError as exc:
        return fail(str(exc))
    print("\n".join(result.report()))
    return EXIT_OK if result.ok else EXIT_FINDINGS


def _command_report(args: argparse.Namespace) -> int:
    from .evidence.bundle import check_sealable, verify
    from .lifecycle.finish import record_signing, say_notes, seal
    from .reports.build import build_reports

    run_dir = Path(args.run_dir)
    if not (run_dir / "summary.json").is_file():
        return fail(f"{run_dir}: not a run directory (no summary.json)")
    try:
        key = _signing_key(args)
        if (run_dir / "MANIFEST.sha256").exists():
            found = verify(run_dir, Path(args.public_key) if args.public_key else None)
            if not found.intact:
                # Re-sealing would bless whatever changed since the run: refuse instead.
                return fail(
                    f"{run_dir}: the bundle does not verify; run chsm-checks verify {run_dir}", EXIT_FINDINGS
                )
            if key.trusted and not (found.trusted or found.public_key_sha256 == key.public_key_sha256):
                # Trust is never laundered: a trusted key vouches only for what a trusted key sealed.
                return fail(
                    f"{run_dir}: the bundle is sealed by a key nobody here trusts (sha256:"
                    f"{found.public_key_sha256}); re-sealing it with a trusted key would vouch for whoever "
                    "made it: give its signer's key with --public-key, or re-seal without a trusted key",
                    EXIT_FINDINGS,
                )
        check_sealable(run_dir)  # before reading it: a run never sealed may hold links out of it
        record_signing(run_dir / "summary.json", key)
        say_notes(build_reports(run_dir, oscal_version=args.oscal_version))
        seal(run_dir, key)
    except ChsmError as exc:
        return fail(str(exc))
    return EXIT_OK


def _command_merge(args: argparse.Namespace) -> int:
    from .evidence.bundle import merge, shards_statement
    from .lifecycle.finish import say_notes, trust_note

    try:
        key = _signing_key(args)
        from .reports.build import build_reports

        out = merge(
            [Path(d) for d in args.run_dirs],
            Path(args.out),
            key,
            rebuild=lambda merged: say_notes(build_reports(merged)),
            shard_public_keys=[Path(k) for k in args.shard_public_key],
        )
    except ChsmError as exc:
        return fail(str(exc))
    verified = bool(args.shard_public_key)
    shards = shards_statement(len(args.run_dirs), verified=verified)
    advice = "" if verified else " (give --shard-public-key)"
    print(f"chsm-checks: merged {len(args.run_dirs)} runs into {out}: {trust_note(key)}; {shards}{advice}")
    return EXIT_OK


def _command_sandbox_serve(args: argparse.Namespace) -> int:
    from .sandbox import SandboxSettings, serve
    from .sandbox.clock import clock_named
    from .sandbox.profiles import PROFILES
    from .sandbox.tls import tls_files

    try:
        settings = SandboxSettings(
            seed=args.seed,
            profile=args.profile,
            lro_style=args.lro_style,
            retry_after=args.retry_after,
            backup_seconds=args.backup_seconds,
            restore_seconds=args.restore_seconds,
            fleet_clusters=args.fleet_clusters,
            fleet_subscriptions=args.fleet_subscriptions,
            fleet_misconfigured=args.fleet_misconfigured,
            latency_ms=args.latency_ms,
            read_budget_per_subscription=args.read_budget,
            read_refill_per_second=args.read_refill,
            graph_quota=args.graph_quota,
            graph_window_seconds=args.graph_window,
        )
    except ValueError as exc:  # a bad setting, named as SandboxSettings names it
        return fail(f"sandbox serve: {exc}")

    def ready(base_url: str) -> None:
        print(base_url, flush=True)
        if args.tls:
            ca_file = tls_files(Path(args.state)).ca_file
            print(f"CA certificate: {ca_file} (use connection_verify={ca_file})", flush=True)

    try:
        serve(
            Path(args.state),
            port=args.port,
            settings=settings,
            reset=args.reset,
            tls=args.tls,
            clock=clock_named(args.clock, PROFILES[settings.profile].recorded_clock_step),
            ready=ready,
        )
    except OSError as exc:
        return fail(f"--port {args.port}: cannot listen: {exc.strerror}")
    except ValueError as exc:  # a state seeded otherwise, or a bad setting
        return fail(f"--state {args.state}: {exc}")
    except KeyboardInterrupt:
        pass
    return EXIT_OK


# What `chsm-checks sandbox ...` needs beyond an audit's dependencies: the `sandbox` extra.
SANDBOX_MODULES = ("starlette", "uvicorn")


def _sandbox_missing() -> list[str]:
    """The sandbox's server modules that are not installed."""
    from importlib.util import find_spec

    return [name for name in SANDBOX_MODULES if find_spec(name) is None]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chsm-checks`` command."""
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["sandbox"] and (missing := _sandbox_missing()):
        return fail(
            f"the sandbox needs {' and '.join(missing)}, which an audit does not: "
            "pip install 'chsm-checks[sandbox]' (with pipx: pipx install --force 'chsm-checks[sandbox]')"
        )
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _command_run(args)
    if args.command == "verify":
        return _command_verify(args)
    if args.command == "merge":
        return _command_merge(args)
    if args.command == "report":
        return _command_report(args)
    if args.command == "prune":
        return _command_prune(args)
    if args.command == "steps":
        return _command_steps(args)
    if args.command == "init":
        from .target_init import init_command

        return init_command(args)
    if args.command == "cassettes" and args.cassettes_command == "import":
        from .recording.imported import run_import

        return run_import(Path(args.source), Path(args.out) if args.out else None, args.tool)
    if args.command == "cassettes":
        from .recording.gate import run_gate

        return run_gate(Path(args.directory))
    if args.sandbox_command == "record-profiles":
        from .record_profiles import record_all

        return record_all(Path(args.out), Path(args.target))
    return _command_sandbox_serve(args)


if __name__ == "__main__":
    sys.exit(main())
