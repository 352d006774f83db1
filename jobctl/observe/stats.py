"""`jobctl stats`: what the queue did over a window, per queue and job type.

Counts come from counters that outlive pruned jobs; run- and wait-time percentiles come from
the attempts still stored in the window, so they are exact where they are given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from jobctl.store import Store

FAILED_OUTCOMES = ("failed", "timeout", "error", "lost")


@dataclass(frozen=True)
class StatsRow:
    queue: str
    job: str
    enqueued: int
    processed: int  # attempts that ended, whatever their outcome
    succeeded: int
    failed_attempts: int
    dead: int
    cancelled: int  # jobs cancelled, whether they had started or not
    pending: int
    # succeeded / (succeeded + dead), over the window: a cancelled job counts for neither,
    # since cancelling is someone's decision, not the job failing.
    success_rate: float | None
    run_p50: float | None
    run_p95: float | None
    run_max: float | None
    wait_p50: float | None
    wait_p95: float | None


def collect(store: Store, since: float) -> list[StatsRow]:
    counts = store.event_counts(since)
    pending = store.pending_counts()
    durations = store.durations(since)
    keys = {(q, j) for q, j, _ in counts} | set(pending) | set(durations)
    # Attempts given back (a shutdown, the host's limits: "interrupted") did not run the
    # job: they are not processed, and their times are none of its runs'. Summed in one
    # pass: a scan of every count for each pair grew as the square of the pairs.
    processed: dict[tuple[str, str], int] = {}
    for (q, j, e), n in counts.items():
        if e.startswith("attempt:") and e != "attempt:interrupted":
            processed[(q, j)] = processed.get((q, j), 0) + n
    rows = []
    for queue, job in sorted(keys):

        def count(event: str, queue: str = queue, job: str = job) -> int:
            return counts.get((queue, job, event), 0)

        succeeded, dead = count("succeeded"), count("dead")
        runs, waits = durations.get((queue, job), ([], []))
        rows.append(
            StatsRow(
                queue=queue,
                job=job,
                enqueued=count("enqueued"),
                processed=processed.get((queue, job), 0),
                succeeded=succeeded,
                failed_attempts=sum(count(f"attempt:{o}") for o in FAILED_OUTCOMES),
                dead=dead,
                cancelled=count("cancelled"),
                pending=pending.get((queue, job), 0),
                success_rate=succeeded / (succeeded + dead) if succeeded + dead else None,
                run_p50=percentile(runs, 50),
                run_p95=percentile(runs, 95),
                run_max=max(runs) if runs else None,
                wait_p50=percentile(waits, 50),
                wait_p95=percentile(waits, 95),
            )
        )
    return rows


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile: always one of the observed values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
