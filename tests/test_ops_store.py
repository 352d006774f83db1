"""The store operations behind the dead-letter and prune commands, on a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from jobctl.logfiles import attempt_log_path
from jobctl.models import AttemptResult, JobFilter, NewJob, Outcome, State
from jobctl.retention import AutoPruner, prune
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

NOW = 1_700_000_000.0


def _finished(store: SqliteStore, outcomes: list[Outcome], at: float, logs: Path) -> list[int]:
    """One job per outcome, run once and finished at `at` (max_attempts 1: failures die)."""
    results = store.enqueue(
        [NewJob(job="j", payload={}, max_attempts=1) for _ in outcomes], at - 10
    )
    claims = store.claim("w", None, at - 5, 30.0, limit=len(outcomes))
    finishes = []
    for claim, outcome in zip(claims, outcomes, strict=True):
        log = Path(attempt_log_path(logs, claim.job.id, claim.run))
        log.parent.mkdir(exist_ok=True)
        log.write_text("output\n")
        finishes.append(
            Finish(claim, AttemptResult(outcome, exit_code=1, log_path=str(log), finished_at=at))
        )
    store.finish(finishes, at)
    return [r.id for r in results]


def test_finished_jobs_newest_death_first_with_filters(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as store:
        old = _finished(store, [Outcome.FAILED], NOW - 3600, tmp_path)
        new = _finished(store, [Outcome.FAILED, Outcome.SUCCEEDED], NOW, tmp_path)
        dead = store.finished_jobs([State.DEAD])
        assert [j.id for j in dead] == [new[0], old[0]]
        assert [j.id for j in store.finished_jobs([State.DEAD], finished_after=NOW - 60)] == [
            new[0]
        ]
        assert [j.id for j in store.finished_jobs([State.DEAD], limit=1)] == [new[0]]
        assert store.finished_jobs([State.DEAD], job="other") == []
        assert store.finished_jobs([State.QUEUED]) == []  # never an active state


def test_finished_ids_match_what_delete_jobs_would_delete(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as store:
        dead_old = _finished(store, [Outcome.FAILED], NOW - 3600, tmp_path)[0]
        dead_new, ok = _finished(store, [Outcome.FAILED, Outcome.SUCCEEDED], NOW, tmp_path)
        (active,) = store.enqueue([NewJob(job="j", payload={})], NOW)
        assert store.finished_ids([State.DEAD]) == [dead_old, dead_new]
        assert store.finished_ids([State.DEAD], finished_before=NOW - 60) == [dead_old]
        assert store.finished_ids([State.DEAD], ids=[ok, dead_new, active.id, 999]) == [dead_new]
        assert store.finished_ids([State.DEAD], ids=[]) == []


def test_prune_deletes_in_batches_and_removes_logs(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as store:
        ids = _finished(store, [Outcome.SUCCEEDED] * 5, NOW, tmp_path)
        (active,) = store.enqueue([NewJob(job="j", payload={})], NOW)
        pruned = prune(store, [State.SUCCEEDED, State.QUEUED], batch=2)
        assert (sorted(pruned.ids), pruned.logs_removed) == (ids, 5)
        assert store.get_many([*ids, active.id]).keys() == {active.id}
        assert not any(Path(attempt_log_path(tmp_path, i, 1)).exists() for i in ids)


def test_prune_leaves_a_job_that_was_retried_meanwhile(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as store:
        ids = _finished(store, [Outcome.FAILED] * 2, NOW, tmp_path)
        targets = store.finished_ids([State.DEAD])
        store.dead_retry([ids[0]], None, NOW)  # between the count and the deletion
        pruned = prune(store, [State.DEAD], ids=targets)
        assert pruned.ids == [ids[1]]
        job = store.get(ids[0])
        assert job is not None and job.state == State.QUEUED


def test_a_prune_on_a_full_disk_removes_only_the_logs_of_jobs_it_deletes(tmp_path: Path) -> None:
    """Its fallback (the logs first, to make room for the delete) took the logs of every
    job of the batch, one retried meanwhile too."""
    from jobctl.retention import _remove_logs_first

    with SqliteStore(tmp_path / "q.db") as store:
        ids = _finished(store, [Outcome.FAILED] * 2, NOW, tmp_path)
        store.dead_retry([ids[0]], None, NOW)  # between the count and the deletion
        assert _remove_logs_first(store, ids, [State.DEAD], NOW + 1, None) == 1
        assert Path(attempt_log_path(tmp_path, ids[0], 1)).exists()
        assert not Path(attempt_log_path(tmp_path, ids[1], 1)).exists()


def test_auto_prune_keeps_each_state_its_time_and_runs_once_a_minute(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as store:
        ok, dead = _finished(store, [Outcome.SUCCEEDED, Outcome.FAILED], NOW, tmp_path)
        assert AutoPruner({State.SUCCEEDED: None, State.DEAD: None}).run(store, NOW) is None
        pruner = AutoPruner({State.SUCCEEDED: 3600.0, State.DEAD: None})
        first = pruner.run(store, NOW + 60)
        assert first is not None and first.ids == []  # not an hour old yet
        assert pruner.run(store, NOW + 90) is None  # pruned less than a minute ago
        later = pruner.run(store, NOW + 3700)
        assert later is not None and later.ids == [ok]
        assert store.get(dead) is not None  # keep_dead unset: dead jobs stay


def _stored_rows(db: Path) -> list[tuple[object, ...]]:
    """Every column of every job as SQLite holds it: types, and the payload's exact bytes."""
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
        exact = ", ".join(f"typeof({c}), quote({c})" for c in columns)
        rows = conn.execute(f"SELECT {exact} FROM jobs ORDER BY id").fetchall()
        rows += conn.execute("SELECT * FROM job_counts ORDER BY 1, 2").fetchall()
        rows += conn.execute("SELECT * FROM sqlite_sequence").fetchall()
    return rows


def _awkward_batch() -> list[NewJob]:
    text = 'quote " back \\ é 😀 \n \x01 \u2028'
    jobs = [
        NewJob(job="a" if n < 40 else "b", payload={"n": n, "s": text[: n % 23]})
        for n in range(120)
    ]
    jobs.insert(70, NewJob(job="a", payload={}, key="k"))  # breaks the run of "b"
    jobs.insert(90, NewJob(job="b", payload={"big": "x" * 3000}))  # longer than a small chunk
    return jobs


@pytest.mark.parametrize("run_bytes", [1 << 24, 600], ids=["one-chunk", "many-chunks"])
def test_batches_store_the_same_with_or_without_sqlites_json_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_bytes: int
) -> None:
    """Long runs of one job type go in through json_each when SQLite has it, in chunks; a
    SQLite built without its JSON functions takes the row-by-row INSERT. Both store the
    same bytes."""
    from jobctl.store.sqlite import queue

    monkeypatch.setattr(queue, "_RUN_BYTES", run_bytes)
    jobs = _awkward_batch()
    with SqliteStore(tmp_path / "json.db") as store:
        results = store.enqueue(jobs, NOW)
        if not store._json_each:
            pytest.skip("this SQLite has no JSON functions")
    with SqliteStore(tmp_path / "rows.db") as store:
        store._json_each = False
        assert store.enqueue(jobs, NOW) == results
    assert [r.id for r in results] == list(range(1, len(jobs) + 1))
    assert _stored_rows(tmp_path / "json.db") == _stored_rows(tmp_path / "rows.db")
    with SqliteStore(tmp_path / "json.db") as store:
        stored = store.list_jobs(JobFilter(limit=None, newest_first=False))
        assert [j.payload for j in stored] == [j.payload for j in jobs]


def test_a_batch_fits_a_sqlite_built_with_a_short_longest_string(tmp_path: Path) -> None:
    """SQLite's longest string may be set or built smaller than its default: the payloads'
    JSON arrays are cut to fit it, as the rows inserted one by one always did."""
    payload = {"text": '"\\' * 400}  # 800 characters, each one escaped in an array
    with SqliteStore(tmp_path / "q.db") as store:
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 20_000)
        results = store.enqueue([NewJob(job="j", payload=payload) for _ in range(40)], NOW)
        assert [r.id for r in results] == list(range(1, 41))
        stored = store.list_jobs(JobFilter(limit=None))
        assert [j.payload for j in stored] == [payload] * 40


def test_a_version_1_database_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    """A database of the first release (the 001 script alone) opens with its jobs intact,
    and gains the index that keeps a schedule's overlap check off its old runs."""
    from importlib import resources

    from jobctl.store.sqlite.connection import APPLICATION_ID, SCHEMA_VERSION

    path = tmp_path / "v1.db"
    script = (resources.files("jobctl.store") / "schema" / "001_init.sql").read_text()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO jobs (job, queue, state, priority, attempts, max_attempts, payload, run_at,"
        " created_at, schedule, fire_time) VALUES ('j', 'default', 'queued', 0, 0, 3, '{}',"
        " ?, ?, 's', ?)",
        (NOW, NOW, NOW),
    )
    conn.execute(
        "INSERT INTO jobs (job, queue, state, priority, attempts, max_attempts, payload, run_at,"
        " created_at, finished_at, schedule, fire_time) VALUES ('j', 'default', 'succeeded', 0,"
        " 1, 3, '{}', ?, ?, ?, 's', ?)",
        (NOW - 60, NOW - 60, NOW - 50, NOW - 60),
    )
    conn.close()

    store = SqliteStore(path)
    try:
        version = store._conn.execute("PRAGMA user_version").fetchone()[0]
        assert version == SCHEMA_VERSION == 10
        # Said (by the CLI, on stderr): an older jobctl cannot open it any more.
        assert store.upgraded_from == 1 and SqliteStore(path).upgraded_from is None
        done, old = store.list_jobs(JobFilter(limit=None))  # newest first
        assert old.schedule == "s" and old.state == State.QUEUED
        assert done.state == State.SUCCEEDED
        # Its runs' history indexed: the success before the upgrade is the last one.
        assert store.last_successes(["s"]) == {"s": NOW - 50}
        fired = store.record_fire(
            "s", NOW + 60, NewJob(job="j", payload={}, schedule="s"), NOW + 60, overlap="skip"
        )
        assert fired is not None and fired.status == "skipped"  # the old run still counts
        plan = store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE schedule = 's' AND"
            " (state IN ('queued', 'scheduled', 'running', 'waiting')"
            " OR (lease_token IS NOT NULL AND state = 'cancelled'))"
        ).fetchall()
        assert "jobs_schedule_holding" in str(plan)
    finally:
        store.close()


def test_reads_of_a_schedule_do_not_grow_with_its_history(tmp_path: Path) -> None:
    """A schedule firing every second keeps 86,400 fires and runs a day unless pruned. The
    daemon's overlap check, `schedule list` and `metrics` must stay lookups: counted here
    in SQLite's own steps (its progress handler), not in time."""
    store = SqliteStore(tmp_path / "history.db")
    history = 50_000
    conn = store._conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (job, queue, state, priority, attempts, max_attempts, payload,"
        " run_at, created_at, finished_at, schedule, fire_time, runs)"
        " VALUES ('j', 'default', 'succeeded', 0, 1, 1, '{}', ?, ?, ?, 'busy', ?, 1)",
        ((NOW + i,) * 4 for i in range(history)),
    )
    conn.executemany(
        "INSERT INTO fires (schedule, fire_time, job_id, status, manual, at)"
        " VALUES ('busy', ?, ?, 'enqueued', 0, ?)",
        ((NOW + i, i + 1, NOW + i) for i in range(history)),
    )
    conn.executemany(  # a schedule that last ran long ago and has skipped since
        "INSERT INTO fires (schedule, fire_time, job_id, status, manual, at)"
        " VALUES ('quiet', ?, NULL, 'skipped', 0, ?)",
        ((NOW + i, NOW + i) for i in range(1, history)),
    )
    conn.execute("INSERT INTO fires VALUES ('quiet', ?, 1, 'enqueued', NULL, 0, ?)", (NOW, NOW))
    conn.execute("COMMIT")

    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 100)  # one call per hundred VM instructions
    try:
        fired = store.record_fire(
            "busy", NOW + history, NewJob(job="j", payload={}, schedule="busy"), NOW, overlap="skip"
        )
        assert fired is not None and fired.status == "enqueued"
        last = store.last_fires()
        assert last["busy"][0].fire_time == NOW + history
        assert last["quiet"][0].status == "skipped"
        assert store.last_runs(["busy", "quiet"]) == {"busy": NOW + history, "quiet": NOW}
    finally:
        conn.set_progress_handler(None, 0)
        store.close()
    assert steps[0] * 100 < 20_000, f"{steps[0] * 100} instructions for {history} runs"


def test_a_schedule_s_last_success_is_a_lookup_however_many_runs_failed_since(
    tmp_path: Path,
) -> None:
    """`schedule list` and `metrics` read each schedule's last success: through the index of
    its runs, that walked every failure since (1,440 a day for a broken every-minute
    schedule), and every run of a schedule that never succeeded. Counted in SQLite's own
    steps, as above."""
    store = SqliteStore(tmp_path / "failures.db")
    history = 50_000
    conn = store._conn
    conn.execute("BEGIN")
    insert = (
        "INSERT INTO jobs (job, queue, state, priority, attempts, max_attempts, payload,"
        " run_at, created_at, finished_at, schedule, fire_time, runs)"
        " VALUES ('j', 'default', ?, 0, 1, 1, '{}', ?, ?, ?, ?, ?, 1)"
    )
    conn.execute(insert, ("succeeded", NOW, NOW, NOW + 1, "broken", NOW))
    for name in ("broken", "never"):
        conn.executemany(
            insert, (("dead", NOW + i, NOW + i, NOW + i + 1, name, NOW + i) for i in range(history))
        )
    conn.execute("COMMIT")

    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 100)
    try:
        assert store.last_successes(["broken", "never"]) == {"broken": NOW + 1}
    finally:
        conn.set_progress_handler(None, 0)
        store.close()
    assert steps[0] * 100 < 2_000, f"{steps[0] * 100} instructions for {history} failures"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write a read-only file")
def test_a_version_1_database_without_write_access_says_it_needs_upgrading(tmp_path: Path) -> None:
    from importlib import resources

    from jobctl.errors import StoreError
    from jobctl.store.sqlite.connection import APPLICATION_ID

    path = tmp_path / "v1.db"
    script = (resources.files("jobctl.store") / "schema" / "001_init.sql").read_text()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    path.chmod(0o444)
    with pytest.raises(StoreError, match="needs upgrading to 4, which takes write access"):
        SqliteStore(path)


def test_an_empty_file_made_a_database_counts_as_created(tmp_path: Path) -> None:
    """An enqueue into a 0-byte file (a stray `>`) wrote its schema without the note a new
    database gets: `created` was whether this call made the file, not the database."""
    path = tmp_path / "q.db"
    path.touch(mode=0o600)
    with SqliteStore(path) as store:
        assert store.created
    with SqliteStore(path) as store:
        assert not store.created


def _open_at_once(path: Path, count: int) -> list[bool]:
    """`created` of `count` stores opened on `path` by as many threads started together."""
    import threading

    start = threading.Barrier(count)
    created: list[bool] = []

    def open_one() -> None:
        start.wait()
        with SqliteStore(path) as store:
            created.append(store.created)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return created


def test_of_stores_making_one_database_at_once_only_the_schema_s_writer_is_created(
    tmp_path: Path,
) -> None:
    """Processes that all found no file, and each made it, all said they made the database,
    the one whose schema lost the race too: only the one that wrote the schema made it."""
    import sys

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads interleave between a look and a make
    try:
        for round_ in range(20):
            created = _open_at_once(tmp_path / f"q{round_}.db", 8)
            assert sorted(created) == [False] * 7 + [True], round_
    finally:
        sys.setswitchinterval(switch)
