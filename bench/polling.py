"""Polling: a backup then a restore against the sandbox, with Retry-After and without; the status polls
the library sends versus the fewest possible, and no poll sent before the service (or, without
Retry-After, the client's default interval) allowed it. Target: at most 1.5× the minimum.

Run by hand from the checkout: ``.venv/bin/python bench/polling.py [--repeat N]``. Starts one sandbox
per configuration on a free loopback port, with its state in a temporary directory; nothing is written
to the checkout except ``bench/RESULTS.md``.

The minimum number of polls for one operation is ``ceil(D / I)``: ``D`` is the job's duration as the
sandbox measures it (a job is finished once ``now - accepted >= D``, both on the sandbox's clock, and
``D`` is read back from its state), ``I`` is the interval the service asked for in ``Retry-After`` on
each 202 or, when it sent none, the client's default interval. A client that does not know ``D``
and polls as soon as it is allowed sends its k-th poll no earlier than ``k·I`` after the job was
accepted, so ``ceil(D / I)`` polls are needed to reach its end; that last one sees the terminal state
and is counted. Polls are status GETs only: the POST and the guard's read of the destination are not.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from measure import REPO, cached_bytecode, machine, ms, rotations, table, write_section
from measure import sandbox as shared_sandbox

from chsm_checks.arm import ArmClient, OperationResult, PollPolicy
from chsm_checks.arm.clouds import sandbox_cloud
from chsm_checks.arm.retry import retry_after_seconds
from chsm_checks.container_uri import blob_endpoint
from chsm_checks.guard import request_backup, request_restore
from chsm_checks.target import Target, load_target

TARGET = 1.5
# The send and answer times below come from one monotonic clock in this process; the poller cannot
# start its wait before the hook has seen the answer, so a correct poll is never early at all. 1 ms
# only covers the moment between httpx closing a response and the hook reading the clock.
TOLERANCE_SECONDS = 0.001
BACKUP_SECONDS = 3.3
RESTORE_SECONDS = 4.3
DEFAULT_INTERVAL_SECONDS = 0.5
# (label, the sandbox serve options). The job durations are off the multiples of both intervals, so
# the minimum does not rest on whether a poll sent at the very instant a job ends sees it ended.
CONFIGURATIONS = {
    "spec": ("spec-style LRO, Retry-After: 1", ("--lro-style", "spec", "--retry-after", "1")),
    "live": (
        f"live style, no Retry-After (client default {DEFAULT_INTERVAL_SECONDS} s)",
        ("--lro-style", "live"),
    ),
}
SANDBOX_TARGET = REPO / "targets" / "sandbox.toml"
STATUS_PATH = {"backup": "/backupOperationStatus/", "restore": "/restoreOperationStatus/"}


@dataclass(frozen=True)
class Sent:
    """One request as the client sent it, on this process's monotonic clock."""

    method: str
    path: str
    status: int
    retry_after: int | None
    sent: float  # when httpx handed the request to the transport
    answered: float  # when the answer had been read


@dataclass
class Recorder:
    """The ``on_exchange`` hook of an ``ArmClient``: every attempt, with its send time."""

    exchanges: list[Sent] = field(default_factory=list)

    def __call__(self, request: httpx.Request, response: httpx.Response, attempt: int) -> None:
        answered = time.monotonic()
        # httpx's elapsed runs from handing the request to the transport until the body was read.
        sent = answered - response.elapsed.total_seconds()
        self.exchanges.append(
            Sent(
                request.method,
                request.url.path,
                response.status_code,
                retry_after_seconds(response),
                sent,
                answered,
            )
        )


@dataclass(frozen=True)
class Operation:
    """One backup or restore: its POST, its polls, and the job as the sandbox kept it."""

    kind: str
    post: Sent
    polls: tuple[Sent, ...]
    job_seconds: float
    job_accepted_wall: float  # the sandbox's time.time() when it accepted the POST
    wall_offset: float  # time.time() - time.monotonic() in this process
    default_interval: float

    @property
    def interval(self) -> float:
        """The Retry-After every 202 carried, or the default interval when none carried one."""
        asked = {e.retry_after for e in (self.post, *self.polls) if e.status == 202}
        if len(asked) != 1:
            raise SystemExit(f"polling: the {self.kind}'s 202s asked for different intervals: {asked}")
        value = asked.pop()
        return self.default_interval if value is None else float(value)

    @property
    def retry_after(self) -> str:
        asked = sorted({e.retry_after for e in (self.post, *self.polls) if e.retry_after is not None})
        return ", ".join(f"{a} s" for a in asked) or "none"

    @property
    def minimum(self) -> int:
        # Rounded first: 3.3 / 1.1 is 2.9999999999999996 in floating point.
        return math.ceil(round(self.job_seconds / self.interval, 9))

    @property
    def ratio(self) -> float:
        return len(self.polls) / self.minimum

    def margins(self) -> list[float]:
        """For each poll, seconds between the earliest moment it was allowed and its sending."""
        previous = (self.post, *self.polls[:-1])
        return [
            poll.sent - (before.answered + self._wait_after(before))
            for before, poll in zip(previous, self.polls, strict=True)
        ]

    def _wait_after(self, answer: Sent) -> float:
        return self.default_interval if answer.retry_after is None else float(answer.retry_after)

    def seen_after_end(self) -> float:
        """Seconds from the job's end (sandbox clock) to the sending of the poll that saw it ended."""
        return self.polls[-1].sent + self.wall_offset - (self.job_accepted_wall + self.job_seconds)

    def ideal_seen_after_end(self) -> float:
        return self.minimum * self.interval - self.job_seconds


@contextmanager
def sandbox(state_dir: Path, options: tuple[str, ...], env: dict[str, str]) -> Iterator[str]:
    """The shared sandbox launcher with this benchmark's job durations; its base URL."""
    durations = ("--backup-seconds", str(BACKUP_SECONDS), "--restore-seconds", str(RESTORE_SECONDS))
    with shared_sandbox(state_dir, (*options, *durations), env, who="polling") as started:
        yield started.url


def backup_then_restore(url: str, target: Target) -> list[Operation]:
    """On a freshly re-seeded sandbox, back up the source and restore into the destination through the
    guard, as a run with --allow-mutations does; the two operations as the client and sandbox saw them."""
    httpx.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
    policy = PollPolicy(default_interval_seconds=DEFAULT_INTERVAL_SECONDS, timeout_seconds=60)
    recorder = Recorder()
    wall_offset = time.time() - time.monotonic()
    with ArmClient(sandbox_cloud(url), read_only=False, on_exchange=recorder) as client:
        backup = request_backup(
            client,
            cluster_id=target.source_id,
            container_uri=target.container_uri,
            blob_endpoint=blob_endpoint(target.spec.storage.account, target.cloud.storage_suffix),
            allow_mutations=True,
            policy=policy,
        )
        backup_id = _succeeded(backup).backup_id
        if backup_id is None:
            raise SystemExit("polling: the backup succeeded without a backupId")
        restore = request_restore(
            client,
            source_id=target.source_id,
            destination_id=target.destination_id,
            container_uri=target.container_uri,
            blob_endpoint=blob_endpoint(target.spec.storage.account, target.cloud.storage_suffix),
            backup_id=backup_id,
            allow_mutations=True,
            policy=policy,
        )
        _succeeded(restore)
    state = httpx.get(f"{url}/_sandbox/state", timeout=10).json()
    logged = httpx.get(f"{url}/_sandbox/requests", timeout=10).json()
    operations = []
    for kind, result in (("backup", backup), ("restore", restore)):
        assert isinstance(result, OperationResult)
        post = next(e for e in recorder.exchanges if e.method == "POST" and e.path.endswith(f"/{kind}"))
        polls = tuple(e for e in recorder.exchanges if e.method == "GET" and STATUS_PATH[kind] in e.path)
        (job,) = (j for j in state["jobs"] if j["kind"] == kind)
        served = sum(1 for r in logged if r["method"] == "GET" and STATUS_PATH[kind] in r["path"])
        if not len(polls) == result.polls == served:
            raise SystemExit(
                f"polling: {kind} polls disagree: hook {len(polls)}, poller {result.polls}, sandbox {served}"
            )
        operations.append(
            Operation(
                kind,
                post,
                polls,
                float(job["seconds"]),
                float(job["created_at"]),
                wall_offset,
                DEFAULT_INTERVAL_SECONDS,
            )
        )
    return operations


def _succeeded(result: object) -> OperationResult:
    if not isinstance(result, OperationResult):
        raise SystemExit(f"polling: the guard refused: {result}")
    if not result.succeeded:
        raise SystemExit(f"polling: the {result.operation} ended {result.status}: {result.error}")
    return result


@dataclass
class Figures:
    """One configuration's operation of one kind, over every run."""

    config: str
    kind: str
    runs: list[Operation] = field(default_factory=list)

    def worst_ratio(self) -> float:
        return max(op.ratio for op in self.runs)

    def early(self) -> int:
        return sum(1 for op in self.runs for m in op.margins() if m < -TOLERANCE_SECONDS)

    def row(self, label: str) -> list[str]:
        first = self.runs[0]
        polls = ", ".join(str(len(op.polls)) for op in self.runs)
        margins = [m for op in self.runs for m in op.margins()]
        seen = statistics.median(op.seen_after_end() for op in self.runs)
        return [
            label,
            self.kind,
            f"{first.job_seconds:g} s",
            f"{first.interval:g} s (Retry-After: {first.retry_after})",
            str(first.minimum),
            polls,
            f"**{self.worst_ratio():.2f}×**",
            f"{_signed_ms(min(margins))} / {_signed_ms(statistics.median(margins))}",
            f"{ms(seen)} (ideal {ms(first.ideal_seen_after_end())})",
            _verdict(self.worst_ratio(), self.early()),
        ]


def _signed_ms(seconds: float) -> str:
    return f"{seconds * 1000:+.1f} ms"


def _verdict(ratio: float, early: int) -> str:
    problems = []
    if early:
        problems.append(f"{early} poll(s) early")
    if ratio > TARGET:
        problems.append(f"missed by {ratio - TARGET:.2f}× ({ratio / TARGET - 1:.0%} over)")
    return "; ".join(problems) or "met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="backup-and-restore runs per configuration (3)")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    where = machine()
    print(f"machine: {where}")
    target = load_target(SANDBOX_TARGET)
    figures = {(c, k): Figures(c, k) for c in CONFIGURATIONS for k in ("backup", "restore")}

    with (
        tempfile.TemporaryDirectory(prefix="chsm-bench-") as tmp,
        cached_bytecode() as env,
        ExitStack() as sandboxes,
    ):
        urls = {
            config: sandboxes.enter_context(sandbox(Path(tmp) / config, options, env))
            for config, (_, options) in CONFIGURATIONS.items()
        }
        print(
            f"jobs: backup {BACKUP_SECONDS} s, restore {RESTORE_SECONDS} s; client default interval "
            f"{DEFAULT_INTERVAL_SECONDS} s; {args.repeat} interleaved runs per configuration"
        )
        for config in rotations(list(CONFIGURATIONS), args.repeat):
            for op in backup_then_restore(urls[config], target):
                figures[config, op.kind].runs.append(op)
                print(f"  {CONFIGURATIONS[config][0]}: {_line(op)}", flush=True)

    header = [
        "configuration",
        "operation",
        "job (sandbox)",
        "interval",
        "minimum polls",
        "polls per run",
        "polls / minimum (worst run)",
        "poll vs allowed: earliest / median",
        "terminal state seen after the job ended (median)",
        "verdict",
    ]
    rows = [f.row(CONFIGURATIONS[f.config][0]) for f in figures.values()]
    print()
    for row in rows:
        print("  " + " | ".join(cell.replace("**", "") for cell in row))
    side_by_side = "; ".join(
        f"{kind}: {figures['spec', kind].worst_ratio():.2f}× with Retry-After, "
        f"{figures['live', kind].worst_ratio():.2f}× without"
        for kind in ("backup", "restore")
    )
    print(f"\npolls / minimum, worst of {args.repeat} runs: {side_by_side} (target ≤ {TARGET}×)")
    early = sum(f.early() for f in figures.values())
    print(f"polls sent early (by more than {ms(TOLERANCE_SECONDS)}): {early}")
    met = early == 0 and all(f.worst_ratio() <= TARGET for f in figures.values())

    if not args.no_write:
        write_section(
            "polling",
            "## Polling (`bench/polling.py`)\n\n"
            + f"{where}\n\n"
            + f"Sandbox jobs: backup {BACKUP_SECONDS} s, restore {RESTORE_SECONDS} s; "
            + f"`PollPolicy(default_interval_seconds={DEFAULT_INTERVAL_SECONDS})`; a backup then a restore "
            + f"through the guard, {args.repeat} runs per configuration, interleaved.\n\n"
            + table(header, rows)
            + "\n\n"
            + "\n".join(f"- {note}" for note in _notes(side_by_side, early)),
        )
        print("written to bench/RESULTS.md")
    return 0 if met else 1


def _line(op: Operation) -> str:
    return (
        f"{op.kind} {len(op.polls)} polls (minimum {op.minimum}, {op.ratio:.2f}×), "
        f"earliest poll {_signed_ms(min(op.margins()))} vs allowed, "
        f"terminal state seen {ms(op.seen_after_end())} after the job ended"
    )


def _notes(side_by_side: str, early: int) -> list[str]:
    return [
        f"polls / minimum, worst run: {side_by_side}. Target ≤ {TARGET}× in every run, and no poll early.",
        "minimum polls = ceil(job duration / interval): the job's duration as the sandbox measures it "
        "(read back from its state), the interval from Retry-After on the 202s or, without one, the "
        "client's default. The poll that sees the terminal state is one of them. Polls are the status "
        "GETs; the POST and the guard's GET of the destination are not counted.",
        f"poll vs allowed: the send time of each poll minus (the time the answer before it was read + "
        f"that answer's Retry-After, or the default interval). Negative beyond {ms(TOLERANCE_SECONDS)} "
        f"is an early poll; {early} were.",
        "terminal state seen: from the job's end on the sandbox's clock to the sending of the poll that "
        "saw it; ideal = minimum polls × interval − job duration, for a client that polls the instant "
        "it is allowed and a service that answers instantly.",
    ]


if __name__ == "__main__":
    sys.exit(main())
