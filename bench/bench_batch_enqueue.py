"""Batch enqueue: `jobctl enqueue --batch FILE` of 100,000 JSON lines, end to end.

The wall time covers the whole command (start-up, parsing and checking every line, one
transaction, printing the ids), each run into a new database. Target: >= 100,000 jobs/s.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from benchlib import (
    ERROR,
    Row,
    Sandbox,
    describe_failure,
    format_ms,
    format_rate,
    median,
    parse_args,
    report,
    say,
    verdict,
)

TITLE = "Batch enqueue"
JOBS = 100_000
TARGET_RATE = 100_000.0


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    runs = 1 if args.quick else 3
    with Sandbox("batch-enqueue", keep=args.keep) as sandbox:
        rows = measure(sandbox, runs)
    return report(TITLE, rows, args)


def measure(sandbox: Sandbox, runs: int) -> list[Row]:
    batch = write_batch_file(sandbox.root / "batch.jsonl", JOBS)
    times: list[float] = []
    for run in range(runs):
        ids_file = sandbox.root / f"ids-{run}.txt"
        elapsed, failure = enqueue_batch(sandbox, batch, sandbox.root / f"batch-{run}.db", ids_file)
        if failure:
            return [Row(TITLE, "enqueue --batch failed", result=ERROR, note=failure)]
        stored = count_lines(ids_file)
        if stored != JOBS:
            return [Row(TITLE, f"{stored} ids printed", result=ERROR, note=f"expected {JOBS}")]
        times.append(elapsed)
        run_rate = format_rate(JOBS / elapsed)
        say(f"   run {run + 1}: {JOBS:,} jobs in {format_ms(elapsed)} ({run_rate})")
    rate = JOBS / median(times)
    return [
        Row(
            figure=f"batch enqueue ({JOBS:,} JSON lines)",
            measured=f"{format_rate(rate)} ({format_ms(median(times))})",
            target=f">= {format_rate(TARGET_RATE)}",
            result=verdict(rate >= TARGET_RATE),
        )
    ]


def enqueue_batch(sandbox: Sandbox, batch: Path, db: Path, ids_file: Path) -> tuple[float, str]:
    """Wall time of one `enqueue --batch` into a new database, and why it failed ("" if not)."""
    with open(ids_file, "wb") as ids:
        started = time.perf_counter()
        result = sandbox.run("enqueue", "--batch", str(batch), db=db, stdout=ids)
        elapsed = time.perf_counter() - started
    return elapsed, describe_failure(result) if result.returncode != 0 else ""


def write_batch_file(path: Path, jobs: int) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for number in range(jobs):
            out.write(json.dumps({"job": "noop", "payload": {"n": number}}) + "\n")
    return path


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


if __name__ == "__main__":
    sys.exit(main())
