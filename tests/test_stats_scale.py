"""`jobctl stats` on a long history: memory that stays flat as attempts grow, a short window
that reads its own attempts, and percentiles over the same whole hours as the counts.

`stats` held every attempt's run and wait time of its window (about 300 bytes each: 80 MB
for 200,000 attempts) and, on SQLite, read every attempt ever stored even for `--since 1h`.
Attempts are written through the store with explicit times, as a worker records them.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import signal
import sqlite3
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import JOBCTL, Env
from test_observe_support import finish_at
from test_store_contract import durations

from jobctl.models import AttemptResult, NewJob, Outcome
from jobctl.observe.stats import StatsRow, collect
from jobctl.store import Finish, Store
from jobctl.store.sqlite import SqliteStore

HOUR = 3600.0
T0 = 1_800_000_000.0  # on the hour
StoreFactory = Callable[[Path], Store]


def _sqlite(root: Path) -> Store:
    return SqliteStore(root / "q.db")


def _redis(root: Path) -> Store:
    from redis_server import current, namespace_for

    from jobctl.store.redis import RedisStore

    return RedisStore(current().url(namespace_for(root)))


STORES: dict[str, StoreFactory] = {"sqlite": _sqlite, "redis": _redis}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "redis":
        request.getfixturevalue("redis_server")  # started once per session; skips without it
    opened = STORES[request.param](tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def run_attempts(
    store: Store, count: int, started: float, run_time: Callable[[int], float]
) -> None:
    """`count` jobs of type `t`, each claimed at `started` and ended run_time(i) later."""
    done = 0
    while done < count:
        batch = min(500, count - done)
        store.enqueue([NewJob(job="t", payload={}) for _ in range(batch)], started)
        claims = store.claim("w", None, started, 3600.0, limit=batch)
        assert len(claims) == batch
        store.finish(
            [
                Finish(
                    claim,
                    AttemptResult(
                        Outcome.SUCCEEDED,
                        exit_code=0,
                        finished_at=started + run_time(done + i),
                    ),
                )
                for i, claim in enumerate(claims)
            ],
            started + 60,
        )
        done += batch


def peak_of_collect(store: Store, since: float) -> tuple[int, list[StatsRow]]:
    tracemalloc.start()
    try:
        rows = collect(store, since)
        return tracemalloc.get_traced_memory()[1], rows
    finally:
        tracemalloc.stop()


def run_time_of(i: int) -> float:
    return 0.01 * (1 + i % 1000)  # 10 ms to 10 s, in equal steps


def test_stats_memory_stays_flat_as_attempts_grow(store: Store) -> None:
    """Every time of the window was held (and sorted): 2,000 attempts and 10,000 took from
    0.5 MB to 2.5 MB of Python memory. Now a page of attempts and bounded summaries."""
    run_attempts(store, 2_000, T0 + 10, run_time_of)
    small, _ = peak_of_collect(store, T0)
    # 3,000 more: past EXACT_UP_TO, and held whole they would take 2.5 times the memory.
    # (Fewer than a page of 1,000 at first would make the first peak the smaller one.)
    run_attempts(store, 3_000, T0 + 20, run_time_of)
    large, (row,) = peak_of_collect(store, T0)
    assert large < 1.5 * small, f"{small} bytes for 2,000 attempts, {large} for 5,000"

    exact = sorted(run_time_of(i) for i in range(2_000)) + sorted(
        run_time_of(i) for i in range(3_000)
    )
    exact.sort()
    for got, pct in ((row.run_p50, 50), (row.run_p95, 95)):
        want = exact[math.ceil(pct / 100 * len(exact)) - 1]
        assert got == pytest.approx(want, rel=0.01), (pct, got, want)
    assert row.run_max == pytest.approx(10.0)  # the largest stays exact
    assert (row.processed, row.succeeded) == (5_000, 5_000)
    assert row.wait_p50 == row.wait_p95 == 0.0
    # Read a page at a time, 3,000 of them started at the same moment: each once.
    runs, _ = durations(store, T0)[("default", "t")]
    assert sorted(runs) == pytest.approx(exact)


def test_stats_percentiles_stay_exact_for_a_small_window(store: Store) -> None:
    """Below 2,000 attempts of a queue and job type the times are all kept: observed ones."""
    run_attempts(store, 101, T0 + 10, lambda i: 0.001 * 7 ** (i % 5) + i * 1e-6)
    (row,) = collect(store, T0)
    times = sorted(0.001 * 7 ** (i % 5) + i * 1e-6 for i in range(101))
    assert row.run_p50 == pytest.approx(times[50], abs=1e-6)
    assert row.run_p95 == pytest.approx(times[95], abs=1e-6)
    assert row.run_max == pytest.approx(times[-1], abs=1e-6)


def test_a_short_window_reads_only_its_own_attempts(tmp_path: Path) -> None:
    """No index on attempts.started_at: `stats --since 1h` read every attempt ever stored.
    The work of a one-hour window (SQLite's virtual machine steps) no longer grows with the
    attempts of the days before it."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    now = T0 + 30 * 24 * HOUR
    with SqliteStore(tmp_path / "q.db") as store:
        run_attempts(store, 100, now - 600, run_time_of)
        measured = []
        for old in (1_000, 4_000):
            run_attempts(store, old, now - 7 * 24 * HOUR, run_time_of)
            steps[0] = 0
            store._conn.set_progress_handler(step, 100)
            try:
                (row,) = collect(store, now - HOUR)
            finally:
                store._conn.set_progress_handler(None, 0)
            assert row.processed == 100 and row.run_max == pytest.approx(1.0)
            measured.append(steps[0])
    assert measured[1] < 1.5 * measured[0], (
        f"steps of 100 attempts among 1,000 and 5,000 old: {measured}"
    )


def test_percentiles_cover_the_whole_hours_the_counts_cover(store: Store) -> None:
    """`stats --since 5m` counted the whole hour while its percentiles covered the last 5
    minutes: an attempt of the hour was processed, yet gave no run time."""
    run_attempts(store, 3, T0 + 60, lambda i: 2.0)
    (row,) = collect(store, T0 + 1800)
    assert (row.processed, row.run_p50, row.run_max) == (3, pytest.approx(2.0), pytest.approx(2.0))
    assert row.wait_p50 == 0.0
    assert collect(store, T0 + HOUR) == []  # the next hour holds none of it


def test_stats_since_a_time_in_the_hour_gives_the_hour_s_run_times(env: Env) -> None:
    """Through the CLI: the header's whole hours are the window of every column."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    last_hour = (time.time() // HOUR - 1) * HOUR
    finish_at(env, "ok", last_hour + 60, 2.0, Outcome.SUCCEEDED)
    since = datetime.fromtimestamp(last_hour + 1800).strftime("%Y-%m-%dT%H:%M")
    out = env.run("stats", "--since", since, check=True).stdout.splitlines()
    # (the hour's date is said too when it was yesterday, as just after midnight)
    shown = datetime.fromtimestamp(last_hour).strftime("%H:%M")
    assert re.search(rf"whole hours since (\d{{4}}-\d\d-\d\d )?{shown}[; ]", out[0]), out[0]
    (row,) = json.loads(env.run("stats", "--since", since, "--json", check=True).stdout)
    assert (row["processed"], row["run_p50"], row["run_max"]) == (1, 2.0, 2.0)


def test_a_database_without_the_attempts_index_gets_it_from_a_writer_at_its_version(
    env: Env,
) -> None:
    """The index once came with a schema version of its own: the first enqueue of the new
    jobctl upgraded the file, and the older workers running on it stopped, killing their
    running jobs. A read does without it; the first writer makes it, the version kept."""
    from importlib import resources

    from jobctl.store.sqlite.connection import APPLICATION_ID, SCHEMA_VERSION

    folder = resources.files("jobctl.store") / "schema"
    scripts = sorted((e.name, e.read_text(encoding="utf-8")) for e in folder.iterdir())
    conn = sqlite3.connect(env.db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for name, script in scripts:
        if name.endswith(".sql") and int(name[:3]) <= SCHEMA_VERSION:
            conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    now = time.time()
    conn.execute(
        "INSERT INTO jobs (job, queue, state, max_attempts, payload, run_at, created_at)"
        " VALUES ('ok', 'default', 'queued', 3, '{}', ?, ?)",
        (now - 60, now - 60),
    )  # claimed and ended as a worker does it, for the counting triggers:
    conn.execute(
        "UPDATE jobs SET state = 'running', attempts = 1, runs = 1, started_at = ?", (now - 55,)
    )
    conn.execute(
        "INSERT INTO attempts (job_id, run, attempt, worker, due_at, started_at)"
        " VALUES (1, 1, 1, 'old', ?, ?)",
        (now - 60, now - 55),
    )
    conn.execute("UPDATE attempts SET finished_at = ?, outcome = 'succeeded'", (now - 50,))
    conn.execute("UPDATE jobs SET state = 'succeeded', finished_at = ?", (now - 50,))
    conn.close()
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')

    def indexed() -> bool:
        with contextlib.closing(sqlite3.connect(env.db)) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'attempts_started'")
            return found.fetchone() is not None

    for made in (False, True):  # a read does without; the enqueue between makes it
        shown = env.run("stats", "--json", check=True)
        assert "upgraded" not in shown.stderr
        (row,) = json.loads(shown.stdout)
        assert (row["processed"], row["run_max"], row["wait_p50"]) == (1, 5.0, 5.0)
        assert indexed() == made
        env.run("enqueue", "ok", "--delay", "1h", check=True)
    conn = sqlite3.connect(env.db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'attempts_started'"
        ).fetchone()
        assert "attempts (started_at)" in sql
    finally:
        conn.close()


def test_a_writer_making_the_attempts_index_waits_no_longer_for_a_lock_than_its_writes(
    env: Env,
) -> None:
    """Made with the connection's own 30 s wait for a lock, the index held a first enqueue
    deaf to Ctrl-C for as long as another process held the database."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    errors = env.root / "stderr"
    holder = sqlite3.connect(env.db, isolation_level=None)
    try:
        holder.execute("DROP INDEX attempts_started")
        holder.execute("BEGIN IMMEDIATE")
        with errors.open("w") as stderr:
            enqueue = subprocess.Popen(
                [*JOBCTL, *env.global_args(), "enqueue", "ok"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env.env,
                cwd=env.root,
            )
        env.procs.append(enqueue)  # type: ignore[arg-type]
        env.wait_for(lambda: "holds it locked" in errors.read_text(), timeout=20)
        began = time.monotonic()
        enqueue.send_signal(signal.SIGINT)
        assert enqueue.wait(timeout=40) == 130
        assert time.monotonic() - began < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
