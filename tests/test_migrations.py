"""Upgrades of a database made by an older jobctl: early schema-1 files, whose 001 script was
edited after they were made, and databases that older processes still have open."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from conftest import Env

from jobctl.store.sqlite.connection import APPLICATION_ID, SCHEMA_VERSION

DATA = Path(__file__).parent / "data"
CONFIG = """\
[jobs.t]
command = ["echo", "hi"]

[schedules.often]
job = "t"
cron = "*/2 * * * * *"
"""


def _script(number: int) -> str:
    folder = resources.files("jobctl.store") / "schema"
    (entry,) = [e for e in folder.iterdir() if e.name.startswith(f"{number:03d}_")]
    return entry.read_text(encoding="utf-8")


def _early_database(path: Path, first: str, *, up_to: int = 1) -> None:
    """A database as an early jobctl made it with `first` (its 001 script), with one job
    that ran and one still queued; then migrated to `up_to` as the runner that did not know
    of the edits did: by the later scripts alone."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(first)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    now = time.time()
    for state, finished in (("succeeded", now - 50), ("queued", None)):
        conn.execute(
            "INSERT INTO jobs (job, queue, state, max_attempts, payload, run_at, created_at,"
            " finished_at) VALUES ('t', 'default', ?, 3, '{}', ?, ?, ?)",
            (state, now - 60, now - 60, finished),
        )
    # Counted as that release did: by a trigger in the earliest, by the store after.
    conn.execute("DELETE FROM job_counts")
    conn.execute(
        "INSERT INTO job_counts (queue, state, n)"
        " SELECT queue, state, count(*) FROM jobs GROUP BY queue, state"
    )
    conn.execute(
        "INSERT INTO attempts (job_id, run, attempt, worker, started_at, finished_at, outcome,"
        " exit_code) VALUES (1, 1, 1, 'old', ?, ?, 'succeeded', 0)",
        (now - 55, now - 50),
    )
    for number in range(2, up_to + 1):
        conn.executescript(_script(number))
    conn.execute(f"PRAGMA user_version = {up_to}")
    conn.close()


def _schema(path: Path) -> dict[tuple[str, str], object]:
    """Each index and trigger by its words, each table by its columns."""
    conn = sqlite3.connect(path)
    try:
        found: dict[tuple[str, str], object] = {}
        for kind, name, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ):
            if kind == "table":
                found[kind, name] = sorted(
                    row[1:] for row in conn.execute(f"PRAGMA table_info({name})")
                )
            else:
                found[kind, name] = " ".join(sql.split())
        return found
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("made_by", "up_to"),
    [("20a46d1", 1), ("6e41da7", 1), ("6e41da7", 7)],
    ids=["earliest", "before-index-changes", "upgraded-to-7-already"],
)
def test_an_early_schema_1_database_is_upgraded_to_the_current_schema(
    env: Env, made_by: str, up_to: int
) -> None:
    """001 was edited after early releases made databases with it (attempts.due_at,
    schedule_state.planned_at, the jobs_lease and jobs_state_finished indexes): such a file
    was marked upgraded, then every claim failed ("no column named due_at"), status said "no
    query solution", and the cron daemon fired nothing. One upgraded by such a runner
    already (marked 7) is mended too."""
    env.write_config(CONFIG)
    _early_database(env.db, (DATA / f"schema_001_{made_by}.sql").read_text(), up_to=up_to)

    added = env.run("enqueue", "t")
    assert added.returncode == 0, added.stderr
    assert f"upgraded {env.db} from schema version {up_to}" in added.stderr
    fresh = env.root / "fresh.db"
    env.run("--db", str(fresh), "enqueue", "t", check=True)
    assert _schema(env.db) == _schema(fresh)

    burst = env.run("run-worker", "--burst", timeout=30)
    assert burst.returncode == 0, burst.stderr
    assert "store_error" not in burst.stderr
    states = [j["state"] for j in json.loads(env.run("list", "--json", check=True).stdout)]
    assert states == ["succeeded"] * 3
    status = env.run("status", "--json")
    assert status.returncode == 0, status.stderr
    # The insert trigger early files had is gone: each enqueue is counted once.
    conn = sqlite3.connect(env.db)
    counted = conn.execute("SELECT state, n FROM job_counts WHERE n != 0").fetchall()
    assert counted == [("succeeded", 3)]
    conn.close()

    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: _count(env.db, "SELECT count(*) FROM jobs") > 3)  # it fired
    assert len(json.loads(env.run("list", "--json", check=True).stdout)) > 3
    daemon.terminate()
    _, err = daemon.communicate(timeout=20)
    assert "store_error" not in err, err


def _count(path: Path, query: str, *args: str) -> int:
    """A count read in this process, what a wait polls for at the cost of a query (a `list`
    or `health` run per poll cost a process each 50 ms)."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        return int(conn.execute(query, args).fetchone()[0])
    finally:
        conn.close()


def _live_worker_of_schema(path: Path, version: int, pid: int, kind: str) -> None:
    """A database of schema `version` (made by the scripts up to it) that a process of that
    older jobctl has open: its row, with a fresh heartbeat."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for number in range(1, version + 1):
        conn.executescript(_script(number))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {version}")
    now = time.time()
    conn.execute(
        "INSERT INTO workers (id, kind, host, pid, queues, concurrency, started_at,"
        " heartbeat_at, interval) VALUES ('old', ?, ?, ?, '[\"default\"]', 1, ?, ?, 10)",
        (kind, socket.gethostname(), pid, now - 60, now),
    )
    conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_read_does_not_upgrade_a_database_older_processes_have_open(env: Env) -> None:
    """`jobctl status` after a package upgrade migrated the database under the running older
    cron daemon, whose queries named indexes 005 makes again: it fired nothing from then on,
    and looked live. A command on an existing database now says to restart them; the first
    to start (a worker, up, the cron daemon) upgrades it."""
    env.write_config(CONFIG)
    older = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _live_worker_of_schema(env.db, 4, older.pid, "scheduler")
        for command in (["status"], ["list"], ["health"]):
            refused = env.run(*command)
            # health: a failed check (exit 1), not a command that cannot run
            unhealthy = "unhealthy: database: " if command == ["health"] else ""
            assert refused.returncode == (1 if unhealthy else 3), refused.stderr
            assert refused.stderr.splitlines() == [
                f"jobctl: {unhealthy}database {env.db}: schema version 4 is in use by jobctl"
                f" processes of an older version (cron daemon pid {older.pid}); restart them:"
                f" the first to start upgrades it to {SCHEMA_VERSION}"
            ]
        assert _version(env.db) == 4
        older.kill()
        older.wait()
        # Gone (its pid has no process): nothing holds the upgrade back.
        assert env.run("status").returncode == 0
        assert _version(env.db) == SCHEMA_VERSION
    finally:
        older.kill()
        older.wait()


def test_a_worker_started_on_a_database_older_processes_have_open_upgrades_it(env: Env) -> None:
    env.write_config(CONFIG)
    _live_worker_of_schema(env.db, 4, os.getpid(), "worker")
    burst = env.run("run-worker", "--burst")
    assert burst.returncode == 0, burst.stderr
    assert f"upgraded {env.db} from schema version 4" in burst.stderr
    assert _version(env.db) == SCHEMA_VERSION


def _newer_jobctl_upgrades(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


@pytest.mark.parametrize("command", ["run-worker", "schedule-daemon"])
def test_a_process_whose_database_a_newer_jobctl_upgrades_stops(env: Env, command: str) -> None:
    """A running worker or cron daemon whose queries the new schema breaks stayed alive and
    idle, its heartbeat fresh. It stops (exit 3), so that its supervisor starts the new one."""
    env.write_config('[settings]\nlease = "1s"\n' + CONFIG)
    env.enqueue("t", "--delay", "1h")
    process = env.start(command)
    flag = "--require-worker" if command == "run-worker" else "--require-scheduler"
    kind = "worker" if command == "run-worker" else "scheduler"
    env.wait_for(lambda: _count(env.db, "SELECT count(*) FROM workers WHERE kind = ?", kind))
    assert env.run("health", flag).returncode == 0
    _newer_jobctl_upgrades(env.db)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 3, err
    said = (
        f"database {env.db}: upgraded to schema version {SCHEMA_VERSION + 1} by a newer"
        f" jobctl while in use (this one knows {SCHEMA_VERSION})"
    )
    event = "worker.store_replaced" if command == "run-worker" else "scheduler.store_replaced"
    errors = [line for line in err.splitlines() if event in line]
    assert len(errors) == 1 and said in errors[0], err
    assert said in err.splitlines()[-1]


@pytest.mark.parametrize(
    ("command", "second"), [("true", "succeeded"), ("false", "dead")], ids=["success", "death"]
)
def test_jobs_waiting_on_one_from_before_version_10_move_on_as_it_ends(
    env: Env, command: str, second: str
) -> None:
    """Version 10 merged the triggers that move on the jobs waiting on one that ends, and
    that count and time its attempts: in a file made before it, a job waiting on one still
    queued runs once that one succeeds, or is dead once it dies, and both are counted."""
    env.write_config(f'[jobs.t]\ncommand = ["{command}"]\nmax_attempts = 1\n')
    conn = sqlite3.connect(env.db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for number in range(1, 10):
        conn.executescript(_script(number))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 9")
    now = time.time()
    for state in ("queued", "waiting"):
        conn.execute(
            "INSERT INTO jobs (job, queue, state, max_attempts, payload, run_at, created_at,"
            " after_ids) VALUES ('t', 'default', ?, 1, '{}', ?, ?, ?)",
            (state, now - 60, now - 60, "[1]" if state == "waiting" else None),
        )
    conn.execute("INSERT INTO job_after (after_id, job_id) VALUES (1, 2)")
    conn.execute("INSERT INTO job_counts (queue, state, n) VALUES ('default', 'queued', 1)")
    conn.execute("INSERT INTO job_counts (queue, state, n) VALUES ('default', 'waiting', 1)")
    conn.close()

    burst = env.run("run-worker", "--burst", timeout=30)
    assert burst.returncode == 0, burst.stderr
    assert "upgraded" in burst.stderr and _version(env.db) == SCHEMA_VERSION

    jobs = {j["id"]: j for j in json.loads(env.run("list", "--json", check=True).stdout)}
    assert jobs[1]["state"] == ("succeeded" if command == "true" else "dead")
    assert jobs[2]["state"] == second
    if second == "dead":
        assert jobs[2]["error"] == "job 1, which it waited for, ended dead"
    conn = sqlite3.connect(env.db)
    try:
        counted = dict(conn.execute("SELECT state, n FROM job_counts WHERE n != 0").fetchall())
        started, ended, waits = (
            conn.execute(query).fetchone()[0]
            for query in (
                "SELECT sum(n) FROM stat_counts WHERE event = 'started'",
                "SELECT sum(n) FROM stat_counts WHERE event IN ('succeeded', 'dead')",
                "SELECT count FROM stat_sums WHERE kind = 'wait'",
            )
        )
    finally:
        conn.close()
    assert counted == {second: 2}
    ran = 2 if second == "succeeded" else 1
    assert (started, waits, ended) == (ran, ran, 2)
