"""Pruning beside running workers, on real SQLite files with real workers and the real CLI:
a worker's own retention done in slices of its loop, `prune` resting between its batches,
pruners at the same time each counting only what they deleted, and the log folders a prune
empties removed."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path

from conftest import Env
from test_ops_support import job, start_worker, wait_state

from jobctl.models import NewJob, State
from jobctl.retention import AutoPruner, prune
from jobctl.store.sqlite import SqliteStore

_JOBS = '[jobs.ok]\ncommand = ["true"]\n[jobs.long]\ncommand = ["sleep", "60"]\n'


def _cancelled_backlog(db: Path, count: int) -> list[int]:
    """`count` jobs cancelled an hour ago before they ran (no attempt: cheap to make)."""
    with SqliteStore(db) as store:
        at = time.time() - 3600
        made = store.enqueue([NewJob(job="ok", payload={}) for _ in range(count)], at)
        ids = [r.id for r in made]
        store.cancel(ids, at)
    return ids


def _reader(db: Path) -> sqlite3.Connection:
    """A plain connection reading the database as it is at each statement."""
    return sqlite3.connect(db, isolation_level=None, check_same_thread=False)


def test_a_worker_renews_its_leases_while_its_own_retention_prunes_a_long_history(
    env: Env,
) -> None:
    """Turning retention on with a long history to delete: the worker pruned it all in one
    go, renewing no lease meanwhile (another worker then took its running jobs for lost,
    killed and ran them again), enforcing no timeout and writing no heartbeat."""
    settings = '[settings]\nlease = "1s"\n'
    env.write_config(settings + _JOBS)
    backlog = 15_000
    _cancelled_backlog(env.db, backlog)
    running = env.enqueue("long")
    worker = start_worker(env, "--shutdown-timeout", "0.1s")
    wait_state(env, running, "running")
    env.write_config(settings + 'keep_cancelled = "1m"\n' + _JOBS)
    worker.send_signal(signal.SIGHUP)

    reader = _reader(env.db)
    seen: list[tuple[int, float]] = []  # (cancelled jobs left, the running job's lease)

    def pruned() -> bool:
        left, lease = reader.execute(
            "SELECT (SELECT count(*) FROM jobs WHERE state = 'cancelled'),"
            " (SELECT lease_expires_at FROM jobs WHERE id = ?)",
            (running,),
        ).fetchone()
        seen.append((left, lease))
        return bool(left == 0)

    env.wait_for(pruned, timeout=60, interval=0.01)
    reader.close()
    # Renewed every lease/3 while the prune went on, as at any other time.
    leases = {lease for left, lease in seen if 0 < left < backlog}
    # (Two: renewed at least once while it went on. A prune in one go left one lease in view.)
    assert len(leases) >= 2, f"{len(leases)} lease(s) seen in {len(seen)} looks"
    still = job(env, running)
    assert still is not None and still.state == State.RUNNING and still.attempts == 1
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert re.search(rf"jobs\.pruned +jobs={backlog} logs=0\n", stderr), stderr


def test_a_stop_asked_for_during_a_workers_upkeep_is_taken_before_it_claims(env: Env) -> None:
    """SIGTERM while the worker was busy with its upkeep (its prune, or a store call that
    waits for the lock): it claimed and started a job that fell due meanwhile, and only
    then stopped."""
    env.write_config('[settings]\nlease = "1s"\n[jobs.mark]\ncommand = ["true"]\n')
    marked = env.enqueue("mark", "--delay", "2s")  # time for the worker to start, under load too
    due = time.time() + 2  # (or sooner)
    holder = _reader(env.db)
    try:
        worker = start_worker(env)
        # Its heartbeats (every lease/3) wait from now; the job falls due meanwhile.
        holder.execute("BEGIN IMMEDIATE")
        env.wait_for(lambda: time.time() > due + 0.3)
        worker.send_signal(signal.SIGTERM)
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
    assert worker.wait(timeout=30) == 0
    left = job(env, marked)
    assert left is not None and left.state != State.RUNNING and left.attempts == 0


def test_prune_lets_other_writers_in_between_its_batches(env: Env) -> None:
    """Its batches ran back to back: each took the write lock again at once, and enqueues
    and workers, retrying in SQLite's busy handler, waited for the whole prune."""
    env.write_config(_JOBS)
    backlog = 20_000
    _cancelled_backlog(env.db, backlog)
    done = threading.Event()
    left_after: list[int] = []  # cancelled jobs still there after each enqueue

    def enqueue_meanwhile() -> None:
        reader = _reader(env.db)
        with SqliteStore(env.db, create=False) as store:
            while not done.is_set():
                store.enqueue([NewJob(job="ok", payload={})], time.time())
                left_after.append(
                    reader.execute(
                        "SELECT count(*) FROM jobs WHERE state = 'cancelled'"
                    ).fetchone()[0]
                )
                time.sleep(0.005)
        reader.close()

    writer = threading.Thread(target=enqueue_meanwhile)
    writer.start()
    try:
        result = env.run("prune", "--older-than", "0s", "--state", "cancelled", check=True)
    finally:
        done.set()
        writer.join()
    during = [left for left in left_after if 0 < left < backlog]
    assert len(during) >= 20, f"{len(during)} of {len(left_after)} enqueues during the prune"
    assert re.fullmatch(
        rf"pruned {backlog} job\(s\), removed 0 log file\(s\) in \d+\.\ds\n", result.stdout
    )


def test_pruners_at_the_same_time_each_count_only_the_jobs_they_deleted(tmp_path: Path) -> None:
    """Two workers pruning together each logged `jobs.pruned jobs=500000` for one set of
    500,000 jobs: a job gone after its batch counted as the batch's, whoever deleted it."""
    db = tmp_path / "q.db"
    logs = tmp_path / "q.db.logs"
    logs.mkdir(mode=0o700)
    ids = _cancelled_backlog(db, 5_000)
    waiting = threading.Event()  # a pruner waits for the write lock the test holds
    counted: list[list[int]] = []

    def worker_retention() -> None:
        with SqliteStore(db, create=False) as store:
            store.while_waiting = waiting.set
            pruned = AutoPruner({State.CANCELLED: 60.0}, str(logs)).run(store, time.time())
            assert pruned is not None
            counted.append(pruned.ids)

    def prune_command() -> None:
        with SqliteStore(db, create=False) as store:
            store.while_waiting = waiting.set
            counted.append(prune(store, [State.CANCELLED], log_dir=str(logs)).ids)

    pruners = [threading.Thread(target=t) for t in (worker_retention, worker_retention)]
    pruners.append(threading.Thread(target=prune_command))
    holder = _reader(db)
    holder.execute("BEGIN IMMEDIATE")  # all three read their targets before any deletes
    try:
        for thread in pruners:
            thread.start()
        assert waiting.wait(timeout=30)  # (half a second into the wait of one)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for thread in pruners:
        thread.join()
    assert len(counted) == 3
    assert sorted(i for ids_of_one in counted for i in ids_of_one) == ids


def test_prune_removes_the_log_folders_it_empties(env: Env) -> None:
    """A folder is made per thousand ids, for the logs of their attempts (even for jobs
    that write nothing), and no prune ever removed one: a busy host kept one more each
    thousand jobs, for good."""
    env.write_config(_JOBS)
    logs = Path(f"{env.db}.logs")
    logs.mkdir(mode=0o700)
    for name in ("00000", "00001", "00002", "00003"):
        (logs / name).mkdir(mode=0o700)  # as a worker makes them, at each attempt's start
    (logs / "00002" / "notes").write_text("not a log\n")
    with SqliteStore(env.db) as store:
        made = store.enqueue([NewJob(job="ok", payload={}) for _ in range(3_100)], time.time())
        assert [made[0].id, made[-1].id] == [1, 3_100]
        store.cancel([r.id for r in made if r.id != 1_500], time.time() - 3600)
    env.run("prune", "--older-than", "1m", check=True)
    # 00000: every job of its thousand ids deleted. 00001: job 1500 is still queued (it may
    # make a log there). 00002: not empty. 00003: ids of its thousand are still to come.
    assert sorted(p.name for p in logs.iterdir()) == ["00001", "00002", "00003"]


def test_a_workers_retention_deletes_a_batch_at_least_per_slice_and_carries_on(
    tmp_path: Path,
) -> None:
    """A slice ends once its time is up, and the next goes on from there; the prune's total
    comes once, at its end."""
    db = tmp_path / "q.db"
    ids = _cancelled_backlog(db, 1_200)  # three batches
    with SqliteStore(db, create=False) as store:
        pruner = AutoPruner({State.CANCELLED: 60.0})
        now = time.time()
        for left in (700, 200):
            assert pruner.run(store, now, budget=0) is None and pruner.busy
            assert len(store.finished_ids([State.CANCELLED])) == left
        done = pruner.run(store, now, budget=0)
        assert done is not None and sorted(done.ids) == ids and not pruner.busy
        assert pruner.run(store, now + 1, budget=0) is None  # the next is a minute away


def test_prune_forgets_the_queues_it_empties_but_a_paused_one(env: Env) -> None:
    """One queue per customer, its jobs pruned: status and metrics listed every such queue
    for good, empty, and each claim looked at each one."""
    env.write_config(_JOBS)
    with SqliteStore(env.db) as store:
        at = time.time() - 3600
        made = store.enqueue([NewJob(job="ok", payload={}, queue=f"c{i}") for i in range(50)], at)
        store.cancel([r.id for r in made], at)
        store.set_paused("held", True)
    listed = env.run("status", "--json", check=True).stdout
    assert '"c49"' in listed
    env.run("prune", "--older-than", "0s", check=True)
    status = env.run("status", "--json", check=True)
    assert [(q["queue"], q["paused"]) for q in json.loads(status.stdout)["queues"]] == [
        ("held", True)
    ]
    counters = tuple(f"jobctl_jobs_{what}_total" for what in ("enqueued", "dead", "cancelled"))
    gauges = [  # the counters of jobs keep what was counted in each queue, as stats does
        line
        for line in env.run("metrics", check=True).stdout.splitlines()
        if not line.startswith(("#", *counters))
    ]
    assert not [line for line in gauges if 'queue="c' in line]


def test_an_older_database_forgets_its_empty_queues_at_its_upgrade(tmp_path: Path) -> None:
    """A database pruned before queues were forgotten lists its empty ones no more once
    upgraded (schema 6), a paused one and one holding a job staying."""
    from jobctl.store.sqlite.connection import APPLICATION_ID
    from jobctl.store.sqlite.migrations import scripts, statements

    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for number, script in scripts():  # the schema as version 5 left it
        if number <= 5:
            for statement in statements(script):
                conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 5")
    now = time.time()
    conn.execute(
        "INSERT INTO jobs (job, queue, state, max_attempts, payload, run_at, created_at)"
        " VALUES ('ok', 'busy', 'queued', 3, '{}', ?, ?)",
        (now, now),
    )
    conn.execute("INSERT INTO job_counts (queue, state, n) VALUES ('busy', 'queued', 1)")
    conn.execute("INSERT INTO queues (name, paused) VALUES ('busy', 0), ('held', 1)")
    conn.executemany("INSERT INTO queues (name) VALUES (?)", [(f"cust{i}",) for i in range(50)])
    conn.executemany(
        "INSERT INTO job_counts (queue, state, n) VALUES (?, 'cancelled', 0)",
        [(f"cust{i}",) for i in range(50)],
    )
    conn.close()
    with SqliteStore(path) as store:
        assert store.upgraded_from == 5
        listed = [(q.queue, q.paused) for q in store.queue_counts(time.time())]
        assert listed == [("busy", False), ("held", True)]
        (claim,) = store.claim("w", None, time.time(), 30.0)
        assert claim.job.queue == "busy"
