"""jobctl on Redis beside RQ, on the same private redis-server.

A redis-server of the bench's own (free loopback port, persistence off, in the sandbox) serves
both; jobctl uses a namespace, RQ its own database number. RQ is installed from PyPI into the
running Python when missing, as Huey is; redis-server from Debian's packages when running as
root outside CI. Three figures, each with the same work on both sides, interleaved by round:

  batch enqueue   N jobs in one call, end to end in a fresh process: `jobctl enqueue --batch
                  FILE` against RQ's `Queue.enqueue_many` in one pipeline;
  drain           N jobs running `true`, concurrency 2, from the start of enqueueing until all
                  are done: `jobctl run-worker --concurrency 2 --burst` against two `rq worker
                  --burst` processes (RQ's default worker, a fork per job);
  pick-up latency an idle worker; one job enqueued; from enqueue returning to the job's first
                  instruction (`date +%s%N`, whose spawn cost is measured and subtracted).

    bench_redis.py [--quick] [--json PATH] [--keep]
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import (
    ERROR,
    INFO,
    SKIP,
    Row,
    Sandbox,
    describe_failure,
    format_ms,
    format_rate,
    format_ratio,
    jobctl_command,
    median,
    paired_ratio,
    parse_args,
    percentile,
    report,
    say,
    stop_process,
    verdict,
    wait_until,
)

TITLE = "Redis: jobctl and RQ"
CONCURRENCY = 2
STAMP_COMMAND = ["date", "+%s%N"]
TARGET_P50 = 0.005
TARGET_P99 = 0.020
RQ_DB = 1
RQ_QUEUE = "bench"


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    sizes = (
        {"batch": 5_000, "batch_rounds": 2, "drain": 300, "drain_rounds": 1, "samples": 30}
        if args.quick
        else {"batch": 20_000, "batch_rounds": 3, "drain": 2_000, "drain_rounds": 2, "samples": 100}
    )
    with Sandbox("redis", keep=args.keep) as sandbox:
        server = find_redis_server()
        if server is None:
            reason = "not installed (apt-get install redis-server)"
            return report(TITLE, [Row(TITLE, "not available", result=SKIP, note=reason)], args)
        rq_ok, rq_reason = ensure_rq()
        port = start_redis(sandbox, server)
        if port is None:
            note = f"redis-server did not start: {sandbox.log_tail('redis.log')}"
            return report(TITLE, [Row(TITLE, "failed", result=ERROR, note=note)], args)
        bench = Bench(sandbox, port, rq_ok, rq_reason)
        rows = bench.batch_rows(sizes["batch"], sizes["batch_rounds"])
        rows += bench.drain_rows(sizes["drain"], sizes["drain_rounds"])
        rows += bench.pickup_rows(sizes["samples"])
    return report(TITLE, rows, args)


# ---------------------------------------------------------------------------------------------
# The server and the peer


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found is not None or os.geteuid() != 0 or os.environ.get("CI"):
        return found
    say("   installing redis-server from Debian's packages (apt-get install redis-server) ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "redis-server"]):
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, check=False)
    return shutil.which("redis-server")


def ensure_rq() -> tuple[bool, str]:
    """RQ importable by this Python, installing it from PyPI when missing."""
    if importlib.util.find_spec("rq") is None:
        say("   installing rq from PyPI into this Python (pip install rq) ...")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "rq"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        importlib.invalidate_caches()
        if result.returncode != 0 or importlib.util.find_spec("rq") is None:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return False, f"not installed: pip install rq failed ({last})"
    return True, ""


def start_redis(sandbox: Sandbox, binary: str) -> int | None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--dir", str(sandbox.root), "--logfile", str(sandbox.root / "redis.log")]
    sandbox.spawn(argv, log_name="redis-stderr.log")

    def answers() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        return False

    return port if wait_until(answers, timeout=20) else None


# ---------------------------------------------------------------------------------------------
# The figures


class Bench:
    def __init__(self, sandbox: Sandbox, port: int, rq_ok: bool, rq_reason: str) -> None:
        import redis

        self.sandbox = sandbox
        self.port = port
        self.rq_ok = rq_ok
        self.rq_reason = rq_reason
        self.rq_url = f"redis://127.0.0.1:{port}/{RQ_DB}"
        self.rq_client = redis.Redis(host="127.0.0.1", port=port, db=RQ_DB)
        self.rounds = 0

    def url(self, name: str) -> str:
        self.rounds += 1
        return f"redis://127.0.0.1:{self.port}/0?namespace={name}-{self.rounds}"

    def jobctl(self, url: str, *args: str) -> list[str]:
        return [*jobctl_command(), "--config", str(self.sandbox.config), "--db", url, *args]

    def run(self, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.sandbox.env,
            cwd=self.sandbox.root,
            timeout=timeout,
            check=False,
        )

    # -- batch enqueue ---------------------------------------------------------------------

    def batch_rows(self, jobs: int, rounds: int) -> list[Row]:
        batch = self.sandbox.root / "batch.jsonl"
        batch.write_text('{"job": "noop"}\n' * jobs)
        mine: list[float] = []
        theirs: list[float] = []
        for round_number in range(rounds):
            contenders: list[tuple[str, Callable[[], float]]] = [
                ("jobctl", lambda: self.jobctl_batch(batch, jobs))
            ]
            if self.rq_ok:
                contenders.append(("RQ", lambda: self.rq_batch(jobs)))
            if round_number % 2:
                contenders.reverse()
            for name, enqueue in contenders:
                try:
                    seconds = enqueue()
                except RuntimeError as exc:
                    return [Row(f"batch enqueue {jobs:,}", "failed", result=ERROR, note=str(exc))]
                (mine if name == "jobctl" else theirs).append(seconds)
                say(f"   batch enqueue, round {round_number + 1}: {name:<6} {seconds:6.2f} s")
        return [self.peer_row(f"batch enqueue {jobs:,} jobs, one call", jobs, mine, theirs)]

    def jobctl_batch(self, batch: Path, jobs: int) -> float:
        url = self.url("batch")
        started = time.perf_counter()
        result = self.run(self.jobctl(url, "enqueue", "--batch", str(batch)))
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"jobctl enqueue --batch: {describe_failure(result)}")
        self.check_jobctl(url, "queued", jobs)
        return seconds

    def rq_batch(self, jobs: int) -> float:
        self.rq_client.flushdb()
        started = time.perf_counter()
        result = self.run([sys.executable, __file__, "rq-enqueue", self.rq_url, str(jobs)])
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"RQ enqueue_many: {describe_failure(result)}")
        return seconds

    # -- drain -----------------------------------------------------------------------------

    def drain_rows(self, jobs: int, rounds: int) -> list[Row]:
        batch = self.sandbox.root / "true.jsonl"
        batch.write_text('{"job": "noop"}\n' * jobs)
        mine: list[float] = []
        theirs: list[float] = []
        for round_number in range(rounds):
            contenders: list[tuple[str, Callable[[], float]]] = [
                ("jobctl", lambda: self.jobctl_drain(batch, jobs))
            ]
            if self.rq_ok:
                contenders.append(("RQ", lambda: self.rq_drain(jobs)))
            if round_number % 2:
                contenders.reverse()
            for name, drain in contenders:
                try:
                    seconds = drain()
                except RuntimeError as exc:
                    return [Row(f"drain {jobs:,}", "failed", result=ERROR, note=str(exc))]
                (mine if name == "jobctl" else theirs).append(seconds)
                say(
                    f"   drain, round {round_number + 1}: {name:<6} {seconds:6.2f} s "
                    f"({format_rate(jobs / seconds)})"
                )
        label = f"drain {jobs:,} x `true`, concurrency {CONCURRENCY}"
        return [self.peer_row(label, jobs, mine, theirs)]

    def jobctl_drain(self, batch: Path, jobs: int) -> float:
        url = self.url("drain")
        started = time.perf_counter()
        enqueued = self.run(self.jobctl(url, "enqueue", "--batch", str(batch)))
        if enqueued.returncode != 0:
            raise RuntimeError(f"jobctl enqueue --batch: {describe_failure(enqueued)}")
        worker = self.run(self.jobctl(url, "run-worker", "-n", str(CONCURRENCY), "--burst"))
        seconds = time.perf_counter() - started
        if worker.returncode != 0:
            raise RuntimeError(f"jobctl run-worker: {describe_failure(worker)}")
        self.check_jobctl(url, "succeeded", jobs)
        return seconds

    def rq_drain(self, jobs: int) -> float:
        self.rq_client.flushdb()
        started = time.perf_counter()
        enqueued = self.run([sys.executable, __file__, "rq-enqueue", self.rq_url, str(jobs)])
        if enqueued.returncode != 0:
            raise RuntimeError(f"RQ enqueue_many: {describe_failure(enqueued)}")
        workers = [
            self.sandbox.spawn(self.rq_worker("--burst"), log_name="rq-drain.log")
            for _ in range(CONCURRENCY)
        ]
        for worker in workers:
            worker.wait(timeout=600)
        seconds = time.perf_counter() - started
        done = rq_count(self.rq_client, "finished")
        if done != jobs:
            raise RuntimeError(f"RQ finished {done} of {jobs} jobs")
        return seconds

    def rq_worker(self, *args: str) -> list[str]:
        rq = Path(sys.executable).with_name("rq")
        command = [str(rq)] if rq.exists() else [sys.executable, "-m", "rq.cli"]
        return [*command, "worker", "--url", self.rq_url, "--quiet", *args, RQ_QUEUE]

    def check_jobctl(self, url: str, state: str, jobs: int) -> None:
        from jobctl.models import State
        from jobctl.store import open_store

        with open_store(url, create=False) as store:
            found = sum(q.counts.get(State(state), 0) for q in store.queue_counts(time.time()))
        if found != jobs:
            raise RuntimeError(f"{found} of {jobs} jobs are {state}")

    # -- pick-up latency -------------------------------------------------------------------

    def pickup_rows(self, samples: int) -> list[Row]:
        spawn_cost = median([spawn_sample(self.sandbox) for _ in range(50)])
        say(f"   spawn cost of `{' '.join(STAMP_COMMAND)}`: {format_ms(spawn_cost)}")
        mine = self.jobctl_pickup(samples)
        theirs = self.rq_pickup(samples) if self.rq_ok else []
        rows = []
        for name, fraction, target in (("p50", 0.5, TARGET_P50), ("p99", 0.99, TARGET_P99)):
            if not mine:
                rows.append(Row(f"pick-up latency: {name}", "failed", result=ERROR))
                continue
            value = percentile(mine, fraction) - spawn_cost
            compared = (
                f"RQ {format_ms(percentile(theirs, fraction) - spawn_cost)}"
                if theirs
                else f"RQ: {self.rq_reason or 'failed'}"
            )
            rows.append(
                Row(
                    figure=f"pick-up latency, idle worker on Redis: {name}",
                    measured=format_ms(value),
                    compared=compared,
                    target=f"<= {format_ms(target)}",
                    result=verdict(value <= target),
                    note=f"{len(mine)} samples; spawn cost {format_ms(spawn_cost)} subtracted",
                )
            )
        return rows

    def jobctl_pickup(self, samples: int) -> list[float]:
        from jobctl.models import NewJob, State
        from jobctl.store import open_store

        url = self.url("pickup")
        raw: list[float] = []
        with open_store(url) as store:
            worker = self.sandbox.spawn(self.jobctl(url, "run-worker"), log_name="pickup.log")
            if not wait_until(lambda: any(w.kind == "worker" for w in store.workers()), 30):
                say(f"   jobctl worker did not start: {self.sandbox.log_tail('pickup.log')}")
                return []
            time.sleep(0.5)  # let it settle into its idle wait
            for _ in range(samples):
                job = NewJob("exec", {}, command=STAMP_COMMAND, cwd=str(self.sandbox.root))
                (result,) = store.enqueue([job], time.time())
                returned = time.time_ns()
                time.sleep(0.02)  # do not compete with the worker for the CPU
                stamp = None
                deadline = time.monotonic() + 30
                while stamp is None and time.monotonic() < deadline:
                    got = store.get(result.id)
                    if got is not None and got.state == State.SUCCEEDED:
                        path = store.attempts(result.id)[-1].log_path
                        stamp = int(Path(path or "").read_text().split()[0])
                    else:
                        time.sleep(0.005)
                if stamp is None:
                    say("   a jobctl job did not finish within 30 s")
                    return []
                raw.append((stamp - returned) / 1e9)
                time.sleep(random.uniform(0.01, 0.03))
            stop_process(worker)
        return raw

    def rq_pickup(self, samples: int) -> list[float]:
        from redis import Redis
        from rq import Queue

        self.rq_client.flushdb()
        queue = Queue(RQ_QUEUE, connection=Redis(host="127.0.0.1", port=self.port, db=RQ_DB))
        worker = self.sandbox.spawn(self.rq_worker(), log_name="rq-pickup.log")
        if not wait_until(lambda: bool(self.rq_client.keys("rq:worker:*")), 30):
            say(f"   RQ worker did not start: {self.sandbox.log_tail('rq-pickup.log')}")
            return []
        time.sleep(0.5)
        raw: list[float] = []
        for _ in range(samples):
            job = queue.enqueue("subprocess.check_output", STAMP_COMMAND)
            returned = time.time_ns()
            time.sleep(0.02)
            deadline = time.monotonic() + 30
            while job.get_status(refresh=True) != "finished" and time.monotonic() < deadline:
                time.sleep(0.005)
            value: Any = job.return_value()
            if value is None:
                say("   an RQ job did not finish within 30 s")
                return []
            raw.append((int(value) - returned) / 1e9)
            time.sleep(random.uniform(0.01, 0.03))
        stop_process(worker)
        return raw

    # -- rows ------------------------------------------------------------------------------

    def peer_row(self, label: str, jobs: int, mine: list[float], theirs: list[float]) -> Row:
        measured = format_rate(jobs / median(mine)) if mine else "failed"
        if not theirs or len(theirs) != len(mine):
            return Row(label, measured, f"RQ: {self.rq_reason or 'failed'}", result=SKIP)
        ratio = paired_ratio(theirs, mine)  # rates invert the time ratio
        return Row(
            figure=f"{label}: vs RQ",
            measured=measured,
            compared=f"RQ {format_rate(jobs / median(theirs))}",
            ratio=format_ratio(ratio),
            result=INFO,
        )


def spawn_sample(sandbox: Sandbox) -> float:
    before = time.time_ns()
    out = subprocess.run(
        STAMP_COMMAND, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=sandbox.env, check=True
    ).stdout
    return (int(out) - before) / 1e9


def rq_count(client: Any, registry: str) -> int:
    return int(client.zcard(f"rq:{registry}:{RQ_QUEUE}"))


def rq_enqueue(url: str, jobs: int) -> int:
    """The RQ side of a batch: `jobs` runs of `true` in one enqueue_many pipeline."""
    from redis import Redis
    from rq import Queue

    queue = Queue(RQ_QUEUE, connection=Redis.from_url(url))
    data = [
        Queue.prepare_data("subprocess.run", args=(["true"],), result_ttl=3600) for _ in range(jobs)
    ]
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(data, pipeline=pipe)
        pipe.execute()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "rq-enqueue":
        sys.exit(rq_enqueue(sys.argv[2], int(sys.argv[3])))
    sys.exit(main())
