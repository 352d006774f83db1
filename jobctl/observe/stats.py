"""`jobctl stats`: what the queue did over a window, per queue and job type.

Counts come from hourly counters that outlive pruned jobs, so a window is made of whole
hours; run- and wait-time percentiles come from the attempts still stored in that same
window: exact up to EXACT_UP_TO of a queue and job type, within 1% past it (TimeSummary).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from jobctl.store import Store

FAILED_OUTCOMES = ("failed", "timeout", "error", "lost")
# Times of a queue and job type kept as they are: up to this many, percentiles are observed
# values; past it, those of a TimeSummary's buckets (8 bytes a time until then).
EXACT_UP_TO = 2000
# A bucket's bounds are within 1% of the value it stands for: a run p95 of 2m03.4s is said
# as something between 2m02.2s and 2m04.6s.
RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
# Times below a microsecond are 0 (a wait of a job claimed the moment it was due).
_ZERO_BELOW = 1e-6


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


def window_start(since: float) -> float:
    """The start of the hour `since` falls in: the counters are hourly, so `--since 5m` at
    10:40 counts from 10:00, and its percentiles cover the same whole hours. They are UTC
    hours, which start at :30 or :45 past the local hour where the offset is not whole
    hours (India, Nepal), so no window there starts on a local hour (stats_title says so)."""
    return int(since // 3600) * 3600


class TimeSummary:
    """Run or wait times of one queue and job type, in memory that stays flat however many
    there are: the times themselves up to EXACT_UP_TO (percentiles exact: observed
    values), then counts in buckets of logarithmic width, each within RELATIVE_ACCURACY
    of the times it holds (as DDSketch does): about 1,600 from 1 µs to a year.
    The largest stays exact."""

    def __init__(self) -> None:
        self.count = 0
        self.largest: float | None = None
        self._exact: array[float] | None = array("d")
        self._buckets: dict[int, int] = {}
        self._zeros = 0

    def add(self, value: float) -> None:
        self.count += 1
        if self.largest is None or value > self.largest:
            self.largest = value
        if self._exact is not None:
            self._exact.append(value)
            if len(self._exact) <= EXACT_UP_TO:
                return
            kept, self._exact = self._exact, None
            for each in kept:
                self._bucket(each)
            return
        self._bucket(value)

    def _bucket(self, value: float) -> None:
        if value < _ZERO_BELOW:
            self._zeros += 1
            return
        index = math.ceil(math.log(value) / _LOG_GAMMA)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def percentile(self, pct: float) -> float | None:
        """Nearest rank: an observed value while every time is kept, else the value its
        bucket stands for (never above the largest)."""
        if self._exact is not None:
            return percentile(self._exact, pct)
        rank = max(1, math.ceil(pct / 100 * self.count))
        if rank <= self._zeros:
            return 0.0
        seen = self._zeros
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                middle = 2 * _GAMMA**index / (_GAMMA + 1)
                return middle if self.largest is None else min(middle, self.largest)
        return self.largest


def collect(store: Store, since: float) -> list[StatsRow]:
    """The rows of the whole hours from the one `since` falls in (window_start)."""
    start = window_start(since)
    counts = store.event_counts(start)
    pending = store.pending_counts()
    times: dict[tuple[str, str], tuple[TimeSummary, TimeSummary]] = {}
    for queue, job, run, wait in store.attempt_times(start):
        if (queue, job) not in times:
            times[(queue, job)] = (TimeSummary(), TimeSummary())
        runs, waits = times[(queue, job)]
        if run is not None:
            runs.add(run)
        if wait is not None:
            waits.add(wait)
    keys = {(q, j) for q, j, _ in counts} | set(pending) | set(times)
    # Attempts given back (a shutdown, the host's limits: "interrupted") did not run the
    # job: they are not processed, and their times are none of its runs'. Summed in one
    # pass: a scan of every count for each pair grew as the square of the pairs.
    processed: dict[tuple[str, str], int] = {}
    for (q, j, e), n in counts.items():
        if e.startswith("attempt:") and e != "attempt:interrupted":
            processed[(q, j)] = processed.get((q, j), 0) + n
    none = TimeSummary()
    rows = []
    for queue, job in sorted(keys):

        def count(event: str, queue: str = queue, job: str = job) -> int:
            return counts.get((queue, job, event), 0)

        succeeded, dead = count("succeeded"), count("dead")
        runs, waits = times.get((queue, job), (none, none))
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
                run_p50=runs.percentile(50),
                run_p95=runs.percentile(95),
                run_max=runs.largest,
                wait_p50=waits.percentile(50),
                wait_p95=waits.percentile(95),
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
