"""Worker memory: the RSS of `jobctl run-worker --concurrency 8` while busy with `sleep 1` jobs.

Enough `sleep 1` jobs to keep all 8 slots full are queued first; the worker then runs for a
few seconds while its VmRSS is sampled from /proc/PID/status, and its VmHWM (peak RSS) is
read at the end, before it is stopped. Only the worker process counts, not the `sleep`
processes it starts. A Huey consumer with 8 threads running the same tasks is measured
alongside as a peer. Target: VmHWM <= 60 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field

from benchlib import (
    ERROR,
    INFO,
    Row,
    Sandbox,
    describe_failure,
    kib_to_mb,
    median,
    memory_kib,
    parse_args,
    report,
    say,
    stop_process,
    unavailable_row,
    verdict,
)
from peers import ensure_huey

from jobctl.models import State
from jobctl.store import open_store

TITLE = "Worker memory"
CONCURRENCY = 8
TARGET_MB = 60.0
SAMPLE_INTERVAL = 0.05


@dataclass
class MemoryTrace:
    """RSS samples of one process while busy, and its peak."""

    rss_kib: list[int] = field(default_factory=list)
    peak_kib: int = 0
    failure: str = ""


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    busy_seconds = 2.0 if args.quick else 4.0
    with Sandbox("memory", keep=args.keep) as sandbox:
        rows = measure(sandbox, busy_seconds)
    return report(TITLE, rows, args)


def measure(sandbox: Sandbox, busy_seconds: float) -> list[Row]:
    jobs = CONCURRENCY * (int(busy_seconds) + 2)
    batch = sandbox.root / "sleep.jsonl"
    batch.write_text("".join(json.dumps({"command": ["sleep", "1"]}) + "\n" for _ in range(jobs)))
    enqueued = sandbox.run("enqueue", "--batch", str(batch))
    if enqueued.returncode != 0:
        return [Row(TITLE, "enqueue failed", result=ERROR, note=describe_failure(enqueued))]
    worker = sandbox.start(
        "run-worker",
        "--concurrency",
        str(CONCURRENCY),
        "--shutdown-timeout",
        "0s",
        log_name="worker.log",
    )
    huey = start_huey(sandbox, jobs)
    time.sleep(0.5)  # start-up, and all slots filled
    traces = sample_memory([worker, huey], busy_seconds)
    running = running_jobs(sandbox)
    for proc in (worker, huey):
        if proc is not None:
            stop_process(proc)
    return [worker_row(traces[0], running, sandbox), huey_row(traces[1], traces[0], huey)]


def running_jobs(sandbox: Sandbox) -> int:
    """How many jobs the worker is running right now (all slots full: CONCURRENCY)."""
    with open_store(str(sandbox.db), create=False) as store:
        counts = store.queue_counts(time.time())
    return sum(queue.counts.get(State.RUNNING, 0) for queue in counts)


def start_huey(sandbox: Sandbox, jobs: int) -> subprocess.Popen[bytes] | None:
    available = ensure_huey()
    if not available.ok:
        return None
    assert available.path is not None
    argv = [sys.executable, available.path, "busy", "--db", str(sandbox.root / "huey.db")]
    argv += ["--jobs", str(jobs), "--threads", str(CONCURRENCY)]
    return sandbox.spawn(argv, log_name="huey.log")


def sample_memory(procs: list[subprocess.Popen[bytes] | None], seconds: float) -> list[MemoryTrace]:
    traces = [MemoryTrace() for _ in procs]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc, trace in zip(procs, traces, strict=True):
            if proc is not None and proc.poll() is None:
                trace.rss_kib.append(memory_kib(proc.pid, "VmRSS"))
        time.sleep(SAMPLE_INTERVAL)
    for proc, trace in zip(procs, traces, strict=True):
        if proc is None:
            trace.failure = "not started"
        elif proc.poll() is not None:
            trace.failure = f"exited {proc.returncode} while busy"
        else:
            trace.peak_kib = memory_kib(proc.pid, "VmHWM")
    return traces


def worker_row(trace: MemoryTrace, running: int, sandbox: Sandbox) -> Row:
    figure = f"worker memory, `run-worker --concurrency {CONCURRENCY}` busy"
    target = f"<= {TARGET_MB:g} MB"
    if trace.failure:
        note = f"{trace.failure}: {sandbox.log_tail('worker.log')}"
        return Row(figure, "failed", target=target, result=ERROR, note=note)
    peak_mb = kib_to_mb(trace.peak_kib)
    typical = f"median VmRSS {kib_to_mb(median(trace.rss_kib)):.1f} MB, {running} jobs running"
    say(f"   jobctl worker: VmHWM {peak_mb:.1f} MB, {typical}")
    if running != CONCURRENCY:
        note = f"only {running} of {CONCURRENCY} slots busy"
        return Row(figure, f"VmHWM {peak_mb:.1f} MB", typical, result=ERROR, note=note)
    return Row(
        figure,
        f"VmHWM {peak_mb:.1f} MB",
        compared=typical,
        target=target,
        result=verdict(peak_mb <= TARGET_MB),
    )


def huey_row(
    trace: MemoryTrace, worker_trace: MemoryTrace, huey: subprocess.Popen[bytes] | None
) -> Row:
    figure = f"worker memory, Huey consumer, {CONCURRENCY} threads busy"
    if huey is None:
        return unavailable_row(figure, ensure_huey().reason or "not installed")
    if trace.failure:
        return Row(figure, "failed", result=ERROR, note=trace.failure)
    peak_mb = kib_to_mb(trace.peak_kib)
    say(f"   Huey consumer: VmHWM {peak_mb:.1f} MB")
    ratio = f"jobctl {worker_trace.peak_kib / trace.peak_kib:.2f}x" if worker_trace.peak_kib else ""
    return Row(figure, f"VmHWM {peak_mb:.1f} MB", ratio=ratio, result=INFO, note="peer, no target")


if __name__ == "__main__":
    sys.exit(main())
