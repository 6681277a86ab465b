"""Record the configuration catalogue against every faulty sandbox profile.

For each profile: a fresh sandbox process on a free loopback port, seeded with that profile, on the
recorded clock; then ``chsm-checks run --mode record -m catalogue`` into ``<out>/<profile>/``, dated
``SOURCE_DATE_EPOCH`` when it is set. Recording twice so gives the same bytes. The harness's own tests
replay these and prove that each profile fails exactly its checks. Read-only: nothing is mutated.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from .sandbox.profiles import PROFILES


def record_profile(profile: str, out: Path, target_template: Path) -> int:
    """Record one profile's catalogue cassettes; the run's exit code."""
    with tempfile.TemporaryDirectory(prefix=f"chsm-profile-{profile}-") as tmp:
        state = Path(tmp) / "state"
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
            target = Path(tmp) / "sandbox.toml"
            target.write_text(target_template.read_text().replace("http://127.0.0.1:8765", url))
            done = subprocess.run(
                [sys.executable, "-m", "chsm_checks", "run", "--mode", "record", "--target", str(target),
                 "--cassettes", str(out / profile), "--reports", str(Path(tmp) / "reports"), "--no-html",
                 "--", "-m", "catalogue", "-q"],
                check=False, capture_output=True, text=True,
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


def record_all(out: Path, target_template: Path) -> int:
    """Record every profile except the compliant one (the shipped suite is that); 0 when all recorded."""
    worst = 0
    for name in PROFILES:
        if name == "compliant":
            continue
        code = record_profile(name, out, target_template)
        # Findings are expected (exit 1); only usage errors or unevaluated checks are failures here.
        worst = max(worst, code if code != 1 else 0)
    return worst
