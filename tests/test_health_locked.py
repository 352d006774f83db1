"""`health` and `/healthz` while another process holds the database's write lock.

Reads go on then, so a check that only reads said all was well while every enqueue, claim
and heartbeat waited 30 s and failed "database is locked". The lock is held by a real second
process, as a `sqlite3` shell left in a transaction holds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import Env
from test_observe_support import http_get, listening, register, start_logged

CONFIG = '[jobs.ok]\ncommand = ["true"]\n'

HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()  # until the test closes it
conn.execute("ROLLBACK")
"""


@contextlib.contextmanager
def write_locked(db: Path) -> Iterator[None]:
    """Another process holding `db`'s write lock (BEGIN IMMEDIATE) until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)


def _files(db: Path) -> tuple[str, int]:
    """The database file's bytes (hashed) and the size of its -wal."""
    wal = Path(f"{db}-wal")
    return hashlib.sha256(db.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


def test_health_fails_naming_the_lock_another_process_holds(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok")
    with write_locked(env.db):
        started = time.monotonic()
        result = env.run("health")
        took = time.monotonic() - started
        as_json = env.run("health", "--json")
    assert result.returncode == 1
    assert f"ok    database: database {env.db} is readable" not in result.stdout
    assert result.stderr.splitlines() == [
        f"jobctl: unhealthy: database: database {env.db}: locked by another process: a write"
        " waited 1.0s for its lock (enqueues, claims and heartbeats wait 30s, then fail)"
    ]
    assert took < 10  # the probe's one second, not the 30 s a write waits
    database = json.loads(as_json.stdout)["checks"][0]
    assert (database["name"], database["ok"], database["limit"]) == ("database", False, 1.0)
    assert 0.9 <= database["value"] < 3
    assert env.run("health").returncode == 0  # once the lock is given back


def test_the_probe_writes_nothing(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok")
    env.run("health", check=True)  # anything a first open makes is made now
    before = _files(env.db)
    env.run("health", check=True)
    assert _files(env.db) == before


def test_require_worker_says_the_lock_keeps_heartbeats_out(env: Env) -> None:
    env.write_config(CONFIG)
    register(env, "worker", age=120)  # its heartbeats lapsed
    with write_locked(env.db):
        result = env.run("health", "--require-worker")
    assert result.returncode == 1
    assert (
        "jobctl: unhealthy: require_worker: 0 live workers (heartbeat within three intervals;"
        " the database is locked: no heartbeat can be written)"
    ) in result.stderr.splitlines()
    # Without the lock, lapsed heartbeats are blamed on nothing else.
    result = env.run("health", "--require-worker")
    assert (
        "jobctl: unhealthy: require_worker: 0 live workers (heartbeat within three intervals)"
    ) in result.stderr.splitlines()


def test_healthz_answers_503_naming_the_lock(env: Env) -> None:
    env.write_config(CONFIG)
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    worker.wait_event(env, "worker.started")
    assert http_get("127.0.0.1", port, "/healthz")[0] == 200
    with write_locked(env.db):
        started = time.monotonic()
        status, _, body = http_get("127.0.0.1", port, "/healthz", timeout=5)
        assert time.monotonic() - started < 10
    assert (status, body.split(": a write")[0]) == (
        503,
        f"unhealthy: database {env.db}: locked by another process",
    )
    assert http_get("127.0.0.1", port, "/healthz")[0] == 200
    assert worker.stop() == 0
