"""A worker draining after SIGTERM (its --shutdown-timeout): `status` says it is stopping,
with the end of its timeout, and nothing counts it as serving its queues meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime
from typing import Any

from conftest import Env
from redis_server import RedisEnv
from test_ops_support import start_worker, wait_state

from jobctl.models import WorkerInfo

GATED = '[jobs.slow]\ncommand = ["sh", "-c", "while [ ! -e {gate} ]; do sleep 0.02; done"]\n'


def _drain(env: Env) -> tuple[subprocess.Popen[str], int, float]:
    """A worker running one job that waits for a gate, sent SIGTERM: the worker, the job,
    and when it was signalled."""
    env.write_config(GATED.format(gate=env.root / "gate"))
    job_id = env.enqueue("slow")
    worker = start_worker(env, "--shutdown-timeout", "60s")
    wait_state(env, job_id, "running")
    signalled = time.time()
    worker.send_signal(signal.SIGTERM)
    return worker, job_id, signalled


def _stopping_worker(env: Env) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def stopping() -> bool:
        doc = json.loads(env.run("status", "--json", check=True).stdout)
        found[:] = [w for w in doc["workers"] if w["stopping"]]
        return bool(found)

    env.wait_for(stopping)
    return found[0]


def _finish(env: Env, worker: subprocess.Popen[str], job_id: int) -> None:
    (env.root / "gate").touch()
    assert worker.wait(timeout=30) == 0
    wait_state(env, job_id, "succeeded")


def test_status_says_a_draining_worker_is_stopping_and_until_when(env: Env) -> None:
    worker, job_id, signalled = _drain(env)
    entry = _stopping_worker(env)
    assert entry["pid"] == worker.pid
    deadline = datetime.fromisoformat(entry["stopping_until"]).timestamp()
    assert signalled + 59 <= deadline <= time.time() + 60

    text = env.run("status", check=True).stdout
    workers = text[text.index("Workers") :].splitlines()
    assert workers[1].split()[-1] == "STATE"
    [row] = [line for line in workers if entry["id"] in line]
    assert "stopping (timeout in " in row

    _finish(env, worker, job_id)


def test_a_worker_taking_jobs_is_not_stopping(env: Env) -> None:
    env.write_config(GATED.format(gate=env.root / "gate"))
    worker = start_worker(env)
    [entry] = json.loads(env.run("status", "--json", check=True).stdout)["workers"]
    assert (entry["pid"], entry["stopping"], entry["stopping_until"]) == (worker.pid, False, None)
    text = env.run("status", check=True).stdout
    assert "stopping" not in text


def test_a_wait_on_a_queue_only_a_stopping_worker_serves_says_none_does(env: Env) -> None:
    worker, job_id, _ = _drain(env)
    _stopping_worker(env)
    queued = env.enqueue("slow")
    waited = env.run("wait", str(queued), "--timeout", "200ms")
    assert waited.returncode == 124
    assert "no live worker serves queue 'default' yet: those that did are stopping" in waited.stderr
    # Its running job is not taken for lost: its worker is alive.
    assert f"job {job_id}'s worker" not in env.run("wait", str(job_id), "--timeout", "1ms").stderr

    health = env.run("health", "--require-worker", "--json")
    assert health.returncode != 0
    [check] = [c for c in json.loads(health.stdout)["checks"] if c["name"] == "require_worker"]
    assert (check["ok"], check["value"]) == (False, 0)
    assert "1 stopping" in check["message"]
    assert "\njobctl_workers 0\n" in env.run("metrics", check=True).stdout

    _finish(env, worker, job_id)
    env.run("cancel", str(queued), check=True)


def test_status_says_a_draining_worker_is_stopping_on_redis(redis_env: RedisEnv) -> None:
    env = redis_env
    env.write_config(GATED.format(gate=env.root / "gate"))
    job_id = env.enqueue("slow")
    worker = env.start("run-worker", "--shutdown-timeout", "60s")
    env.wait_for(lambda: env.show(job_id)["state"] == "running")
    worker.send_signal(signal.SIGTERM)
    entry = _stopping_worker(env)
    assert entry["pid"] == worker.pid and entry["stopping_until"] is not None
    (env.root / "gate").touch()
    assert worker.wait(timeout=30) == 0
    assert env.show(job_id)["state"] == "succeeded"


def test_a_redis_worker_record_without_the_field_reads_as_not_stopping(
    redis_env: RedisEnv,
) -> None:
    from jobctl.store.redis import RedisStore

    env = redis_env
    env.write_config(GATED.format(gate=env.root / "gate"))
    env.enqueue("slow")  # makes the namespace
    with RedisStore(env.url, create=False) as store:
        store.register_worker(WorkerInfo("new", "h", 1, ("*",), 1, 1.0, 1.0))
        older = {
            "host": "h",
            "pid": 1,
            "queues": ["*"],
            "concurrency": 1,
            "started_at": 2.0,
            "kind": "worker",
            "interval": 10.0,
        }
        store._client.hset(store._key("workers"), "old", json.dumps(older))
        found = {w.id: w.stopping_until for w in store.workers()}
    assert found == {"new": None, "old": None}


def test_a_worker_record_of_schema_8_reads_as_not_stopping(env: Env) -> None:
    from test_migrations import _live_worker_of_schema

    from jobctl.store.sqlite import SqliteStore

    env.write_config(GATED.format(gate=env.root / "gate"))
    _live_worker_of_schema(env.db, 8, os.getpid(), "worker")
    assert env.run("run-worker", "--burst", check=True).returncode == 0  # it upgrades
    with SqliteStore(env.db, create=False) as store:
        [older] = store.workers()
    assert (older.id, older.stopping_until) == ("old", None)
    [entry] = json.loads(env.run("status", "--json", check=True).stdout)["workers"]
    assert (entry["id"], entry["stopping"]) == ("old", False)
