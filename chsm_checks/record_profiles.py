"""Record the configuration catalogue, or the restore drill, against every faulty sandbox profile.

For each profile: a fresh sandbox process on a free loopback port, seeded with that profile, on the
recorded clock (at the profile's pace); then ``chsm-checks run --mode record -m catalogue`` into
``<out>/<profile>/``, dated ``SOURCE_DATE_EPOCH`` when it is set; a profile whose fault shows only in
the drill (``Profile.drill``) records the drill instead, with mutations allowed against its own
throw-away sandbox. Recording twice so gives the same bytes. The harness's own tests replay these and
prove that each profile fails exactly its checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .sandbox.hsm_state import SOURCE_USERS
from .sandbox.profiles import PROFILES

# What a drill profile's recording holds: the restore drill, less the harness's self-checks.
DRILL_SELECTION = "(cloudhsm-backup-restore or cloudhsm-restore-validation) and not self-check"


def profile_selection(profile: str) -> str:
    """The scenarios recorded (and replayed) for ``profile``: its drill, or its catalogue."""
    return DRILL_SELECTION if PROFILES[profile].drill else "catalogue"


def drill_options(profile: str) -> list[str]:
    """A drill profile's recording backs up and restores: it asks for that."""
    return ["--allow-mutations"] if PROFILES[profile].drill else []


def _environment(profile: str) -> dict[str, str]:
    """The run's environment; a drill logs in as the sandbox's crypto user cu1, whose password the
    sandbox target reads from CHSM_SANDBOX_CU_PASSWORD (the sandbox's own, not a secret)."""
    env = dict(os.environ)
    if PROFILES[profile].drill:
        [password] = [pw for _, role, name, pw in SOURCE_USERS if role == "CU" and name == "cu1"]
        env.setdefault("CHSM_SANDBOX_CU_PASSWORD", password)
    return env


def record_profile(profile: str, out: Path, target: Path) -> int:
    """Record one profile's catalogue cassettes of ``target``, addressed at the profile's sandbox; the
    run's exit code."""
    out, target = out.resolve(), target.resolve()
    with tempfile.TemporaryDirectory(prefix=f"chsm-profile-{profile}-") as tmp:
        # The target's HSM client is the sandbox's ([hsm] client = "sandbox"): the run asks this
        # profile's sandbox where it is, and the recordings name it <sandbox>/hsm-client/...
        state = Path(tmp) / "sandbox"
        server = subprocess.Popen(
            [sys.executable, "-m", "chsm_checks", "sandbox", "serve", "--state", str(state),
             "--port", "0", "--profile", profile, "--clock", "recorded"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            if not url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the sandbox for {profile} did not start")
            done = subprocess.run(
                [sys.executable, "-m", "chsm_checks", "run", "--mode", "record", "--target", str(target),
                 "--arm-endpoint", url, "--cassettes", str(out / profile),
                 "--reports", str(Path(tmp) / "reports"), "--no-html",
                 *drill_options(profile), "--", "-m", profile_selection(profile), "-q"],
                check=False, capture_output=True, text=True, env=_environment(profile),
            )  # fmt: skip
            outcome = [line for line in done.stdout.splitlines() if " record run of " in line]
            print(
                f"chsm-checks: profile {profile}: {outcome[-1] if outcome else done.stderr.strip()}",
                flush=True,
            )
            return done.returncode
        finally:
            server.terminate()
            server.wait(timeout=10)


def record_all(out: Path, target: Path) -> int:
    """Record every profile except the compliant one (the shipped suite is that); 0 when all recorded."""
    worst = 0
    for name in PROFILES:
        if name == "compliant":
            continue
        code = record_profile(name, out, target)
        # Findings are expected (exit 1); only usage errors or unevaluated checks are failures here.
        worst = max(worst, code if code != 1 else 0)
    return worst
