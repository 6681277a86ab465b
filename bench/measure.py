"""What the benchmarks share: the machine they ran on, timing statistics, ``-X importtime`` trees and
the sections of ``bench/RESULTS.md``.

Benchmarks are run by hand (``python bench/<name>.py``), never collected as tests.
"""

from __future__ import annotations

import codecs
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_HEADER = """# Benchmark results

Written by the benchmarks themselves (`python bench/<name>.py` refreshes its own section); see
[README.md](README.md) for what each one measures. Every ratio compares two commands timed side by
side, interleaved, in one run on the machine named in its section.
"""


def machine() -> str:
    """One line naming the CPU model, the cores, the Python, the date and the bytecode caching."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    bytecode = "on" if "PYTHONDONTWRITEBYTECODE" not in os.environ else "off in this shell"
    return (
        f"{model}, {cores} cores, Python {platform.python_version()} ({sys.executable}), "
        f"{platform.system()} {platform.release()}, {now}; the commands timed cache bytecode in a "
        f"temporary PYTHONPYCACHEPREFIX (caching was {bytecode})"
    )


@dataclass
class Samples:
    """Wall-clock seconds of repeated runs of one command."""

    label: str
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def spread(self) -> str:
        """The range of the samples, and that range as a share of the median."""
        low, high = min(self.seconds), max(self.seconds)
        return f"{ms(low)}–{ms(high)} (±{(high - low) / 2 / self.median:.0%})"

    def line(self) -> str:
        return f"{self.label}: median {ms(self.median)}, range {self.spread()}, n={len(self.seconds)}"


def ms(seconds: float) -> str:
    """Seconds as milliseconds below ten seconds, seconds above, for humans."""
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def timed(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, str, str, int]:
    """Run a command to completion with its output captured; its wall time, stdout, stderr, exit code."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.stdout, done.stderr, done.returncode


@contextmanager
def cached_bytecode() -> Iterator[dict[str, str]]:
    """An environment in which Python caches bytecode, as on a usual install, but in a temporary
    directory (``PYTHONPYCACHEPREFIX``), so no ``__pycache__`` lands in the checkout. Without it, an
    environment with ``PYTHONDONTWRITEBYTECODE`` set compiles chsm_checks from source on every run."""
    with tempfile.TemporaryDirectory(prefix="chsm-bench-pycache-") as prefix:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        yield {**env, "PYTHONPYCACHEPREFIX": prefix}


def rotations(names: Sequence[str], repeat: int) -> Iterator[str]:
    """The commands in turn, the first of each round moving by one, so none always runs first."""
    for r in range(repeat):
        for i in range(len(names)):
            yield names[(r + i) % len(names)]


# "import time:      self |  cumulative | <two spaces per level>module", in microseconds.
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


@dataclass
class Import:
    """One module of an ``-X importtime`` tree, with the imports it caused."""

    name: str
    cumulative_us: int
    children: list[Import] = field(default_factory=list)

    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Import]]:
        here = (*path, self.name)
        yield here, self
        for child in self.children:
            yield from child.walk(here)


def import_tree(stderr: str) -> list[Import]:
    """The top-level imports of an ``-X importtime`` report, each with its subtree.

    Python prints a module after the modules it imported, one level deeper, so the lines waiting
    deeper than the current one are its children.
    """
    pending: list[tuple[int, Import]] = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        depth = (len(match[3]) - 1) // 2
        node = Import(match[4], int(match[2]))
        while pending and pending[-1][0] > depth:
            node.children.insert(0, pending.pop()[1])
        pending.append((depth, node))
    return [node for _, node in pending]


def chains_to(roots: list[Import], packages: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """For each module of ``packages`` (or under one) that was imported, the chain that first imported it."""
    found: dict[str, tuple[str, ...]] = {}
    for root in roots:
        for path, node in root.walk():
            top = next((p for p in packages if node.name == p or node.name.startswith(p + ".")), None)
            if top and top not in found:
                found[top] = path
    return found


def total_import_us(roots: list[Import]) -> int:
    return sum(root.cumulative_us for root in roots)


def heaviest(roots: list[Import], count: int) -> list[Import]:
    return sorted(roots, key=lambda r: r.cumulative_us, reverse=True)[:count]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def write_section(name: str, body: str) -> None:
    """Replace this benchmark's section of RESULTS.md (between its markers), keeping the others."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else RESULTS_HEADER
    section = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Sandbox:
    """A running ``chsm-checks sandbox serve``: its base URL and process id; over HTTPS, its CA."""

    url: str
    pid: int
    ca_file: str | None = None

    @property
    def verify(self) -> str | bool:
        """What an httpx call to it verifies the server with."""
        return self.ca_file if self.ca_file is not None else True

    def cpu_seconds(self) -> float:
        """User and system CPU time the sandbox process has used so far (``/proc/<pid>/stat``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox(state_dir: Path, options: Sequence[str], env: dict[str, str], *, who: str) -> Iterator[Sandbox]:
    """``chsm-checks sandbox serve --state <state_dir> --reset --port 0 <options>`` on a free loopback
    port. Stopped and waited for when the block ends, also on failure; its standard error goes to
    ``<state_dir>.stderr`` and is shown if it does not start."""
    log = state_dir.with_suffix(".stderr")
    argv = [
        *(sys.executable, "-m", "chsm_checks", "sandbox", "serve", "--state", str(state_dir)),
        *("--reset", "--port", "0", *options),
    ]
    with (
        log.open("w", encoding="utf-8") as stderr,
        subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True) as proc,
    ):
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
                raise SystemExit(f"{who}: the sandbox did not start:\n{log.read_text(encoding='utf-8')}")
            # Over HTTPS it prints "CA certificate: <path> (use connection_verify=<path>)" next.
            ca_file = proc.stdout.readline().split()[2] if url.startswith("https://") else None
            yield Sandbox(url, proc.pid, ca_file)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Streamed:
    """One run of a command whose output was read as it came: when marker texts first appeared
    (seconds from the start), its own peak memory and a trace of its resident memory."""

    wall: float
    started_epoch: float  # time.time() when the command was started, to place other clocks' events
    output: str
    code: int
    marks: dict[str, float]
    max_rss_bytes: int  # ru_maxrss of the process itself, from os.wait4
    cpu_seconds: float  # its user and system CPU time, from os.wait4
    rss: list[tuple[float, int]]  # (seconds from the start, VmRSS in bytes), sampled

    def rss_between(self, begin: float, end: float) -> int:
        """The highest sampled resident memory from ``begin`` to ``end`` seconds (0 when none)."""
        return max((rss for at, rss in self.rss if begin <= at <= end), default=0)


def run_streamed(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    markers: dict[str, re.Pattern[str]],
    rss_interval: float = 0.02,
) -> Streamed:
    """Run a command with standard error folded into its standard output, noting when each marker
    first shows in the output (read in chunks, so text without a newline yet counts too), sampling
    its resident memory from ``/proc``, and reaping it with ``os.wait4`` so that ``ru_maxrss`` is the
    command's own (and that of any child it waited for), not that of every child of this process.

    Set ``PYTHONUNBUFFERED=1`` in ``env`` for a Python command, or its output arrives in blocks."""
    marks: dict[str, float] = {}
    chunks: list[str] = []
    rss: list[tuple[float, int]] = []
    done = threading.Event()
    started_epoch, start = time.time(), time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def sample() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while not done.wait(rss_interval):
            try:
                line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
            except (OSError, StopIteration):  # gone, or a zombie without memory
                continue
            rss.append((time.perf_counter() - start, int(line.split()[1]) * 1024))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        assert proc.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        tail = ""
        while block := os.read(proc.stdout.fileno(), 65536):
            now = time.perf_counter() - start
            text = decoder.decode(block)
            chunks.append(text)
            window, tail = tail + text, (tail + text)[-500:]  # a marker may straddle two reads
            for name, pattern in markers.items():
                if name not in marks and pattern.search(window):
                    marks[name] = now
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        done.set()
        sampler.join()
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    # Linux gives ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    output = "".join(chunks)
    return Streamed(wall, started_epoch, output, proc.returncode, marks, usage.ru_maxrss * 1024, cpu, rss)


def mb(size: float) -> str:
    """Bytes as megabytes (10⁶), for humans."""
    return f"{size / 1e6:.0f} MB"


def load_average() -> str:
    """The machine's 1-, 5- and 15-minute load averages: other work skews timings."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return "unknown"
