"""Huey as a peer of jobctl: SqliteHuey with thread workers, driven by the bench scripts.

Each task runs a real command through subprocess.run, as a jobctl job does:

    huey_peer.py drain --db PATH --jobs N --threads 2   enqueue N `true` tasks, run them all,
                                                         print timings as JSON, exit
    huey_peer.py idle --db PATH --threads 2             an idle consumer, until stopped
    huey_peer.py busy --db PATH --jobs N --threads 8    enqueue N `sleep 1` tasks and run
                                                         them, until stopped
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from huey import SqliteHuey


def main() -> int:
    args = _parse_args()
    huey = SqliteHuey("bench", filename=args.db)
    if args.mode == "drain":
        return drain(huey, args.jobs, args.threads)
    if args.mode == "busy":
        return busy(huey, args.jobs, args.threads)
    huey.create_consumer(workers=args.threads, worker_type="thread").run()
    return 0


def drain(huey: SqliteHuey, jobs: int, threads: int) -> int:
    """Enqueue `jobs` tasks, start the consumer, exit the moment the last one is done."""
    all_done = threading.Event()
    lock = threading.Lock()
    finished = [0]

    @huey.task()  # type: ignore[untyped-decorator]
    def run_true() -> None:
        subprocess.run(["true"], check=True)
        with lock:
            finished[0] += 1
            if finished[0] == jobs:
                all_done.set()

    started = time.perf_counter()
    for _ in range(jobs):
        run_true()
    enqueued = time.perf_counter()
    consumer = huey.create_consumer(workers=threads, worker_type="thread", periodic=False)
    consumer.start()
    all_done.wait()
    done = time.perf_counter()
    timings = {"enqueue_s": enqueued - started, "drain_s": done - enqueued}
    sys.stdout.write(json.dumps(timings) + "\n")
    sys.stdout.flush()
    os._exit(0)  # the consumer's threads would otherwise keep polling


def busy(huey: SqliteHuey, jobs: int, threads: int) -> int:
    """Enqueue `jobs` tasks of `sleep 1` and run them until stopped."""

    @huey.task()  # type: ignore[untyped-decorator]
    def sleep_one() -> None:
        subprocess.run(["sleep", "1"], check=True)

    for _ in range(jobs):
        sleep_one()
    huey.create_consumer(workers=threads, worker_type="thread", periodic=False).run()
    return 0


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("drain", "idle", "busy"))
    parser.add_argument("--db", required=True, help="The SqliteHuey database file.")
    parser.add_argument("--jobs", type=int, default=0, help="Tasks to enqueue.")
    parser.add_argument("--threads", type=int, default=2, help="Consumer worker threads.")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
