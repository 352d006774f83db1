"""Claim at scale: claim + complete time per job with 1,000,000 queued jobs vs 1,000.

Straight through the store API (SqliteStore.claim, then SqliteStore.finish with a success),
one job at a time, as a worker does it. Both databases come from bench/scaledb.py (10% of
the jobs delayed at a higher priority; a claimed job must never be one of them) and are
copies private to this run; the small one is copied afresh for every round so that it keeps
its size. Rounds alternate the two; the ratio is the median of per-round ratios.
--quick uses 100,000 jobs. Target: the big database costs at most 1.5x the small one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchlib import (
    Row,
    Sandbox,
    format_ratio,
    median,
    paired_ratio,
    parse_args,
    report,
    say,
    verdict,
)
from scaledb import DELAYED_PRIORITY, cached_database, copy_database

from jobctl.models import AttemptResult, Outcome
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

TITLE = "Claim at scale"
SMALL_JOBS = 1_000
WARM_UP_CLAIMS = 20
LEASE_SECONDS = 30.0
WORKER_NAME = "bench-claim"
TARGET_RATIO = 1.5
ROUND_BUDGET_SECONDS = 3.0  # a slow store stops a round early rather than run for minutes


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    big_jobs, per_round, rounds = (100_000, 200, 5) if args.quick else (1_000_000, 300, 7)
    with Sandbox("claim-scale", keep=args.keep) as sandbox:
        rows = measure(sandbox, big_jobs, per_round, rounds)
    return report(TITLE, rows, args)


def measure(sandbox: Sandbox, big_jobs: int, per_round: int, rounds: int) -> list[Row]:
    small_source = cached_database(SMALL_JOBS)
    big_path = copy_database(cached_database(big_jobs), sandbox.root, "big.db")
    small_times: list[float] = []
    big_times: list[float] = []
    with SqliteStore(big_path, durability="normal") as big_store:
        per_job_seconds(big_store, WARM_UP_CLAIMS)
        for round_number in range(rounds):
            small_path = copy_database(small_source, sandbox.root, f"small-{round_number}.db")
            with SqliteStore(small_path, durability="normal") as small_store:
                per_job_seconds(small_store, WARM_UP_CLAIMS)
                pair = [(small_store, small_times), (big_store, big_times)]
                for store, sink in pair if round_number % 2 == 0 else reversed(pair):
                    sink.append(per_job_seconds(store, per_round))
            remove_database(small_path)
            say(
                f"   round {round_number + 1}: {SMALL_JOBS:,} jobs {small_times[-1] * 1e6:.0f} us,"
                f" {big_jobs:,} jobs {big_times[-1] * 1e6:.0f} us per claim + complete"
            )
    ratio = paired_ratio(big_times, small_times)
    return [
        Row(
            figure=f"claim + complete per job, {big_jobs:,} queued (10% delayed) vs {SMALL_JOBS:,}",
            measured=f"{median(big_times) * 1e6:.0f} us/job",
            compared=f"{SMALL_JOBS:,} jobs: {median(small_times) * 1e6:.0f} us/job",
            ratio=format_ratio(ratio),
            target=f"<= {TARGET_RATIO:g}x",
            result=verdict(ratio <= TARGET_RATIO),
        )
    ]


def per_job_seconds(store: SqliteStore, count: int) -> float:
    """Mean seconds per claim + complete over `count` jobs (fewer if the budget runs out)."""
    started = time.perf_counter()
    deadline = started + ROUND_BUDGET_SECONDS
    done = 0
    while done < count and (done < 10 or time.perf_counter() < deadline):
        claim_and_complete(store)
        done += 1
    return (time.perf_counter() - started) / done


def claim_and_complete(store: SqliteStore) -> None:
    now = time.time()
    claims = store.claim(WORKER_NAME, None, now, LEASE_SECONDS, limit=1)
    if len(claims) != 1:
        raise RuntimeError(f"claim returned {len(claims)} jobs, expected 1")
    claim = claims[0]
    if claim.job.priority == DELAYED_PRIORITY:
        raise RuntimeError(f"claimed job {claim.job.id}, which is delayed until {claim.job.run_at}")
    done = AttemptResult(Outcome.SUCCEEDED, exit_code=0, finished_at=now)
    store.finish([Finish(claim, done)], now)


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
