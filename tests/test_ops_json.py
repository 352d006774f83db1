"""Pins the keys of every JSON document the queue commands print (the README documents
them): a change here is a change of the interface scripts rely on. Add keys, never drop one."""

from __future__ import annotations

import json
from typing import Any

from conftest import Env
from test_ops_support import burst, start_worker, wait_state

JOB = {
    "after",
    "id", "job", "queue", "state", "priority", "attempts", "max_attempts", "payload", "key",
    "command", "cwd", "run_at", "created_at", "started_at", "finished_at", "exit_code", "error",
    "worker", "schedule", "fire_time",
}  # fmt: skip
ATTEMPT = {
    "run", "attempt", "worker", "started_at", "finished_at", "duration_s", "outcome",
    "exit_code", "signal", "error", "log_path", "host",
}  # fmt: skip
STATUS = {
    "generated_at", "queues", "running", "running_left_out", "stopping", "workers",
    "stale_workers", "warnings",
}  # fmt: skip
STATUS_QUEUE = {
    "queue", "paused", "max_running", "rate", "held_until", "stopping", "counts", "oldest_ready_at",
    "oldest_ready_age_s",
}  # fmt: skip
STATES = {"queued", "scheduled", "waiting", "running", "succeeded", "dead", "cancelled"}
STATUS_RUNNING = {
    "id", "job", "queue", "worker", "attempt", "max_attempts", "started_at", "running_s",
    "command", "cwd", "worker_gone", "lease_expires_at",
}  # fmt: skip
STATUS_WORKER = {
    "id", "kind", "host", "pid", "queues", "concurrency", "started_at", "heartbeat_at",
    "heartbeat_age_s", "stopping", "stopping_until",
}  # fmt: skip


def _json(env: Env, *args: str) -> Any:
    return json.loads(env.run(*args, check=True).stdout)


def test_every_json_document_keeps_its_keys(env: Env) -> None:
    gate = env.root / "gate"
    env.write_config(
        '[jobs.bad]\ncommand = ["sh", "-c", "echo out; exit 2"]\nmax_attempts = 1\n'
        '[jobs.ok]\ncommand = ["true"]\n'
        f'[jobs.slow]\ncommand = ["sh", "-c", "while [ ! -e {gate} ]; do sleep 0.02; done"]\n'
    )
    enqueued = _json(env, "enqueue", "bad", "--json")
    assert set(enqueued) == JOB | {"created"}
    batch = json.loads(env.run("enqueue", "--batch", "-", "--json", input='{"job": "ok"}\n').stdout)
    assert [set(r) for r in batch] == [{"id", "created"}]
    burst(env)
    dead = enqueued["id"]

    assert [set(j) for j in _json(env, "list", "--json", "-n", "1")] == [JOB]
    shown = _json(env, "show", str(dead), "--json")
    assert set(shown) == JOB | {"attempts_history"}
    assert [set(a) for a in shown["attempts_history"]] == [ATTEMPT | {"hooks"}]
    assert shown["attempts_history"][0]["host"] is None  # SQLite: the database's own host
    waited = json.loads(env.run("wait", str(dead), "--json").stdout)
    assert [set(j) for j in waited] == [JOB]
    assert [set(j) for j in _json(env, "dead", "list", "--json")] == [JOB]
    dead_shown = _json(env, "dead", "show", str(dead), "--json")
    assert set(dead_shown) == JOB | {"attempts_history"}
    assert [set(a) for a in dead_shown["attempts_history"]] == [ATTEMPT | {"log_tail", "hooks"}]
    assert dead_shown["attempts_history"][0]["log_tail"] == "out"

    start_worker(env)
    running = env.enqueue("slow")
    wait_state(env, running, "running")
    status = _json(env, "status", "--json")
    assert set(status) == STATUS
    assert {frozenset(q) for q in status["queues"]} == {frozenset(STATUS_QUEUE)}
    assert all(set(q["counts"]) == STATES for q in status["queues"])
    assert [set(r) for r in status["running"]] == [STATUS_RUNNING]
    assert status["stopping"] == []  # cancelled jobs still stopping: see test_ops_control
    assert [set(w) for w in status["workers"]] == [STATUS_WORKER]
    gate.touch()
    waited_enqueue = _json(env, "enqueue", "ok", "--wait", "--json")
    assert set(waited_enqueue) == JOB | {"created"}
    assert waited_enqueue["state"] == "succeeded"
