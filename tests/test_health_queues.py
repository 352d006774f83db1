"""`jobctl health` by queue: a queue paused on purpose fails no limit, `--queue` limits the
checks to the queues named, and `--require-worker` fails for a queue holding ready jobs that
no live worker serves, as `wait` says of it."""

from __future__ import annotations

import json
import time

from conftest import Env
from test_observe_health import health
from test_observe_support import enqueue_at, start_logged

from jobctl.models import NewJob

CONFIG = """
[jobs.ok]
command = ["true"]

[jobs.bad]
command = ["false"]
max_attempts = 1

[queues.slowq]
max_running = 1
"""


def _waited(env: Env, queue: str, count: int, seconds: float) -> None:
    """`count` jobs of `queue` ready for `seconds` already."""
    jobs = [NewJob(job="ok", payload={}, queue=queue) for _ in range(count)]
    enqueue_at(env, time.time() - seconds, *jobs)


def test_a_paused_queues_jobs_fail_no_limit_and_are_said_left_out(env: Env) -> None:
    env.write_config(CONFIG)
    _waited(env, "slowq", 2, 600)
    env.run("pause", "slowq", check=True)
    code, out, err = health(env, "--max-age", "1m", "--max-ready", "0")
    assert (code, err) == (0, [])
    assert out[1:3] == [
        "ok    max_ready: 0 jobs ready to run (limit 0; 2 ready in 1 paused queue left out)",
        "ok    max_age: oldest ready job waited 0s (limit 1m; 2 ready in 1 paused queue left out)",
    ]
    _waited(env, "default", 1, 120)  # a queue not paused still counts
    code, _, err = health(env, "--max-age", "1m")
    assert code == 1
    (line,) = err  # minutes and the few seconds a loaded machine takes
    assert line.startswith("jobctl: unhealthy: max_age: oldest ready job waited 2m")
    assert line.endswith(" (limit 1m; 2 ready in 1 paused queue left out)")
    env.run("resume", "slowq", check=True)
    code, _, err = health(env, "--max-age", "1m", "--max-ready", "1")
    assert code == 1 and err[0] == "jobctl: unhealthy: max_ready: 3 jobs ready to run (limit 1)"
    assert err[1].startswith("jobctl: unhealthy: max_age: oldest ready job waited 10m")
    assert err[1].endswith(" (limit 1m)") and len(err) == 2


def test_queue_limits_the_checks_to_the_queues_named(env: Env) -> None:
    env.write_config(CONFIG)
    _waited(env, "bulk", 5, 3600)
    _waited(env, "fast", 1, 30)
    env.enqueue("bad", "--queue", "fast")
    env.run("run-worker", "--burst", "-q", "fast", check=True)  # fast's two jobs: one dead
    limits = ("--max-age", "1m", "--max-ready", "0", "--max-dead", "0")
    code, _, err = health(env, *limits, "--queue", "bulk")
    assert code == 1
    assert err[0] == "jobctl: unhealthy: max_ready: 5 jobs ready to run (limit 0)"
    assert err[1].startswith("jobctl: unhealthy: max_age: oldest ready job waited 1h")
    assert len(err) == 2
    code, _, err = health(env, *limits, "-q", "fast", "-q", "slowq")
    assert (code, err) == (1, ["jobctl: unhealthy: max_dead: 1 dead jobs (limit 0)"])
    code, _, err = health(env, *limits, "-q", "bulk", "-q", "fast")
    assert code == 1 and len(err) == 3
    code, out, err = health(env, "--max-ready", "0", "--queue", "slowq", "--json")
    assert (code, err) == (0, [])  # a queue the config names, with no job: nothing ready
    assert json.loads("\n".join(out))["checks"][1]["value"] == 0
    # A typo passed every check it narrowed: refused as `wait --queue` refuses one.
    code, out, err = health(env, "--max-ready", "0", "--queue", "fats")
    assert (code, out) == (2, [])
    assert err == [
        "jobctl: --queue: unknown queue 'fats' (did you mean 'fast'?): known queues are bulk,"
        " default, fast, slowq"
    ]
    assert health(env, "--queue", "")[0] == 2  # as `list --queue ''`: no queue's name


def test_require_worker_fails_for_a_queue_with_ready_jobs_no_live_worker_serves(
    env: Env,
) -> None:
    env.write_config(CONFIG)
    worker = start_logged(env, "run-worker", "-q", "default")
    worker.wait_event(env, "worker.started")
    env.wait_for(lambda: health(env, "--require-worker")[0] == 0)  # no ready job: any worker
    env.run("pause", "slowq", check=True)
    slow = env.enqueue("ok", "--queue", "slowq")
    code, out, _ = health(env, "--require-worker")
    assert (
        code == 0
        and out[1] == "ok    require_worker: 1 live worker (heartbeat within three intervals)"
    )
    env.run("resume", "slowq", check=True)
    code, _, err = health(env, "--require-worker")
    message = (
        "require_worker: 1 live worker (heartbeat within three intervals); no live worker"
        " serves queue 'slowq' yet (1 ready job)"
    )
    assert (code, err) == (1, [f"jobctl: unhealthy: {message}"])
    waited = env.run("wait", str(slow), "--timeout", "0.2s")
    assert "no live worker serves queue 'slowq' yet" in waited.stderr  # as wait says it
    code, out, _ = health(env, "--require-worker", "--json")
    (required,) = [c for c in json.loads("\n".join(out))["checks"] if c["name"] == "require_worker"]
    assert required == {
        "name": "require_worker",
        "ok": False,
        "value": 1,
        "limit": 1,
        "message": message.removeprefix("require_worker: "),
        "skipped": False,
    }
    assert health(env, "--require-worker", "--queue", "default")[0] == 0
    other = start_logged(env, "run-worker", "-q", "slowq")
    env.wait_for(lambda: env.show(slow)["state"] == "succeeded")
    assert health(env, "--require-worker")[0] == 0
    assert worker.stop() == 0 and other.stop() == 0
