"""Contention: eight processes enqueue while four workers drain, all on one new database.

Each producer calls the jobctl command-line entry point once per job, in one process, so
every enqueue opens the database, writes in its own transaction and closes it, as a shell
loop of `jobctl enqueue` would, without paying for an interpreter start per job. Nothing
exists when they start: all twelve processes race to create the database. No `database is
locked` may reach a user (a producer's stderr, a worker's log), and every job is accounted
for: enqueued once, run, succeeded.
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
from chaoslib import (
    consistency_problems,
    count,
    peek,
    read_produced,
    report,
    require_full_scale,
    spawn,
    spawn_producer,
    stop,
)
from conftest import Env

PRODUCERS = 8
WORKERS = 4


def contention(env: Env, per_producer: int, timeout: float) -> list[tuple[str, object]]:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    env.db = env.root / "state" / "q.db"  # not there yet
    total = PRODUCERS * per_producer
    began = time.monotonic()
    workers = [
        spawn(env, "run-worker", "--concurrency", "2", log=env.root / f"worker{n}.log")
        for n in range(WORKERS)
    ]
    outputs = [env.root / f"producer{n}.jsonl" for n in range(PRODUCERS)]
    producers = [spawn_producer(env, per_producer, f"p{n}", out) for n, out in enumerate(outputs)]
    for proc, out in zip(producers, outputs, strict=True):
        assert proc.wait(timeout=timeout) == 0, out.with_suffix(".log").read_text()[-3000:]
    produced = time.monotonic() - began
    env.wait_for(
        lambda: count(env.db, "SELECT count(*) FROM jobs WHERE state = 'succeeded'") >= total,
        timeout=timeout,
    )
    drained = time.monotonic() - began
    for proc in workers:
        assert stop(proc) == 0
    records = [record for out in outputs for record in read_produced(out)]
    # The producer that made the file says so (one line); any other word is a failure.
    said = [
        re.sub(r"jobctl: note: \S+ is a new database, [^\n]*\n", "", r["stderr"]) for r in records
    ]
    failures = [r for r, rest in zip(records, said, strict=True) if r["code"] != 0 or rest]
    locked = [r for r in records if "locked" in r["stderr"]]
    worker_logs = "".join((env.root / f"worker{n}.log").read_text() for n in range(WORKERS))
    assert len(records) == total
    assert failures == [], failures[:5]
    assert locked == []
    for needle in ("locked", "store_error", "Traceback"):
        assert needle not in worker_logs
    ids = sorted(int(r["id"]) for r in records)
    assert len(set(ids)) == total
    with peek(env.db) as conn:
        rows = conn.execute("SELECT id, state, attempts, payload FROM jobs ORDER BY id").fetchall()
    assert [row[0] for row in rows] == ids
    assert {(state, attempts) for _, state, attempts, _ in rows} == {("succeeded", 1)}
    tags = sorted(row[3] for row in rows)
    assert len(set(tags)) == total  # each producer's each enqueue, once
    assert consistency_problems(env.db) == []
    latencies = sorted(r["seconds"] for r in records)
    return [
        ("producers x enqueues", f"{PRODUCERS} x {per_producer}"),
        ("workers (concurrency 2)", WORKERS),
        ("jobs enqueued / succeeded", f"{len(ids)} / {len(rows)}"),
        ("failed enqueues (must be 0)", len(failures)),
        ("'database is locked' seen (must be 0)", len(locked)),
        (
            "enqueue latency median / p99 / max (ms)",
            " / ".join(
                f"{1000 * v:.0f}"
                for v in (
                    statistics.median(latencies),
                    latencies[int(0.99 * (len(latencies) - 1))],
                    latencies[-1],
                )
            ),
        ),
        ("seconds to enqueue all / to drain all", f"{produced:.1f} / {drained:.1f}"),
    ]


def test_producers_and_workers_on_a_new_database_never_see_it_locked(env: Env) -> None:
    contention(env, per_producer=20, timeout=90)


@pytest.mark.chaos
@pytest.mark.timeout(1800)
def test_full_scale_contention(
    env: Env, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    require_full_scale(request)
    rows = contention(env, per_producer=500, timeout=1500)
    report(capsys, "contention (8 producers, 4 workers, one new database)", rows)
