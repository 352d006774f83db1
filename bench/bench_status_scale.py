"""Status at scale: the wall time of `jobctl status` on 1,000,000 jobs vs 1,000.

Both databases come from bench/scaledb.py (copies private to this run). The two commands
run alternately; the ratio is the median of per-round ratios. --quick uses 100,000 jobs.
Targets: the big database costs at most 2x the small one, and under 150 ms.
While `status` is not available (the command fails), the rows say so and nothing is built.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from benchlib import (
    Row,
    Sandbox,
    describe_failure,
    format_ms,
    format_ratio,
    median,
    paired_ratio,
    parse_args,
    report,
    say,
    timed,
    unavailable_row,
    verdict,
)
from scaledb import cached_database, copy_database

TITLE = "Status at scale"
SMALL_JOBS = 1_000
TARGET_RATIO = 2.0
TARGET_SECONDS = 0.150
STATUS_COMMAND = ("status",)


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    big_jobs, rounds = (100_000, 3) if args.quick else (1_000_000, 9)
    with Sandbox("status-scale", keep=args.keep) as sandbox:
        rows = measure(sandbox, big_jobs, rounds)
    return report(TITLE, rows, args)


def measure(sandbox: Sandbox, big_jobs: int, rounds: int) -> list[Row]:
    figure = f"`status` on {big_jobs:,} jobs vs {SMALL_JOBS:,}"
    target = f"<= {TARGET_RATIO:g}x and < {format_ms(TARGET_SECONDS)}"
    small = copy_database(cached_database(SMALL_JOBS), sandbox.root, "small.db")
    first = sandbox.run(*STATUS_COMMAND, db=small)
    if first.returncode != 0:
        return [unavailable_row(figure, f"`jobctl status` {describe_failure(first)}", target)]
    big = copy_database(cached_database(big_jobs), sandbox.root, "big.db")
    for db in (small, big):  # warm the page cache
        status(sandbox, db)
    small_times: list[float] = []
    big_times: list[float] = []
    for round_number in range(rounds):
        pair = [(small, small_times), (big, big_times)]
        for db, sink in pair if round_number % 2 == 0 else reversed(pair):
            sink.append(timed(partial(status, sandbox, db)))
    ratio = paired_ratio(big_times, small_times)
    big_median = median(big_times)
    say(f"   {rounds} rounds: {format_ms(median(small_times))} vs {format_ms(big_median)}")
    return [
        Row(
            figure=figure,
            measured=format_ms(big_median),
            compared=f"{SMALL_JOBS:,} jobs: {format_ms(median(small_times))}",
            ratio=format_ratio(ratio),
            target=target,
            result=verdict(ratio <= TARGET_RATIO and big_median < TARGET_SECONDS),
        )
    ]


def status(sandbox: Sandbox, db: Path) -> None:
    result = sandbox.run(*STATUS_COMMAND, db=db)
    if result.returncode != 0:
        raise RuntimeError(f"jobctl status failed on {db.name}: {describe_failure(result)}")


if __name__ == "__main__":
    sys.exit(main())
