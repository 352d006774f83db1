"""`jobctl metrics` and --metrics-addr: the Prometheus exposition, parsed by the official
parser, and the /metrics and /healthz server of workers and daemons.

The server must answer while the worker is saturated (every slot busy, work waiting, idle
connections held open, the database write-locked by someone else), bind to loopback when
given only a port, and never keep the worker from working or stopping.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import struct
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Env
from test_observe_support import (
    Running,
    Samples,
    enqueue_at,
    free_port,
    http_get,
    listening,
    opened,
    parse_exposition,
    register,
    sample,
    series,
    start_logged,
)

from jobctl.models import NewJob
from jobctl.store.sqlite import SqliteStore

CONFIG = """
[jobs.ok]
command = ["true"]

[jobs.flaky]
command = ["sh", "-c", "exit 3"]
max_attempts = 2
backoff = "10ms"
jitter = false

[schedules.nightly]
job = "ok"
cron = "0 3 * * *"
timezone = "UTC"

[schedules.off]
job = "ok"
cron = "0 4 * * *"
enabled = false

[schedules.held]
job = "ok"
cron = "0 5 * * *"
"""

STATES = {"queued", "scheduled", "waiting", "running", "succeeded", "dead", "cancelled"}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def scrape(env: Env) -> tuple[dict[str, str], Samples]:
    return parse_exposition(env.run("metrics", check=True).stdout)


def _check_histogram(samples: Samples, name: str, queue: str, job: str) -> tuple[int, float]:
    """Buckets cumulative and in order, +Inf equal to _count; returns (count, sum)."""
    buckets = {
        dict(labels)["le"]: value
        for labels, value in series(samples, f"{name}_bucket").items()
        if dict(labels)["queue"] == queue and dict(labels)["job_type"] == job
    }
    assert "+Inf" in buckets
    bounds = sorted(buckets, key=float)
    assert bounds[-1] == "+Inf"
    counts = [buckets[b] for b in bounds]
    assert counts == sorted(counts), f"{name} buckets not cumulative: {counts}"
    count = sample(samples, f"{name}_count", queue=queue, job_type=job)
    assert counts[-1] == count
    return int(count), sample(samples, f"{name}_sum", queue=queue, job_type=job)


def test_metrics_parse_with_the_official_parser(env: Env) -> None:
    env.write_config(CONFIG)
    for _ in range(3):
        env.enqueue("ok")
    env.enqueue("flaky", "--queue", "batch")
    env.enqueue("ok", "--delay", "1h")
    env.run("pause", "batch", check=True)
    env.run("resume", "batch", check=True)
    env.run("run-worker", "--burst", check=True)
    env.enqueue("ok", "--queue", "batch")  # left ready: no worker runs it
    register(env, "worker", age=1.0)

    types, samples = scrape(env)
    assert types["jobctl_jobs"] == "gauge"
    assert types["jobctl_job_runs"] == "counter"  # the parser names counters without _total
    assert types["jobctl_job_duration_seconds"] == "histogram"
    assert types["jobctl_job_wait_seconds"] == "histogram"
    assert types["jobctl_oldest_ready_age_seconds"] == "gauge"
    assert types["jobctl_workers"] == "gauge"
    assert types["jobctl_schedule_last_fire_timestamp_seconds"] == "gauge"
    assert types["jobctl_schedule_next_fire_timestamp_seconds"] == "gauge"

    jobs = {
        (dict(labels)["queue"], dict(labels)["state"]): value
        for labels, value in series(samples, "jobctl_jobs").items()
    }
    assert set(jobs) == {(q, s) for q in ("default", "batch") for s in STATES}
    assert jobs[("default", "succeeded")] == 3 and jobs[("default", "scheduled")] == 1
    assert jobs[("batch", "dead")] == 1 and jobs[("batch", "queued")] == 1
    assert sum(jobs.values()) == 6

    assert sample(samples, "jobctl_job_runs_total", job_type="ok", outcome="succeeded") == 3
    assert sample(samples, "jobctl_job_runs_total", job_type="flaky", outcome="failed") == 2
    assert sum(series(samples, "jobctl_job_runs_total").values()) == 5

    runs, run_sum = _check_histogram(samples, "jobctl_job_duration_seconds", "default", "ok")
    assert runs == 3 and 0 <= run_sum < 30
    assert _check_histogram(samples, "jobctl_job_duration_seconds", "batch", "flaky")[0] == 2
    waits, wait_sum = _check_histogram(samples, "jobctl_job_wait_seconds", "default", "ok")
    assert waits == 3 and 0 <= wait_sum < 60
    assert _check_histogram(samples, "jobctl_job_wait_seconds", "batch", "flaky")[0] == 2

    assert sample(samples, "jobctl_oldest_ready_age_seconds", queue="default") == 0
    assert 0 <= sample(samples, "jobctl_oldest_ready_age_seconds", queue="batch") < 60
    assert sample(samples, "jobctl_workers") == 1


def test_oldest_ready_age_per_queue(env: Env) -> None:
    env.write_config(CONFIG)
    now = time.time()
    enqueue_at(env, now - 120, NewJob(job="ok", payload={}, queue="slow"))
    enqueue_at(env, now - 30, NewJob(job="ok", payload={}, queue="slow"))
    env.enqueue("ok", "--queue", "idle", "--delay", "1h")
    _, samples = scrape(env)
    assert 120 <= sample(samples, "jobctl_oldest_ready_age_seconds", queue="slow") < 150
    assert sample(samples, "jobctl_oldest_ready_age_seconds", queue="idle") == 0


def test_oldest_ready_age_counts_a_delayed_job_that_is_due(env: Env) -> None:
    env.write_config(CONFIG)
    now = time.time()
    # Enqueued two hours ago to run one hour ago; no worker has run since.
    enqueue_at(env, now - 7200, NewJob(job="ok", payload={}, run_at=now - 3600))
    _, samples = scrape(env)
    assert sample(samples, "jobctl_oldest_ready_age_seconds", queue="default") >= 3600


def test_workers_and_cron_daemons_with_fresh_heartbeats(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    register(env, "worker", age=5.0, interval=10.0)
    register(env, "worker", age=31.0, interval=10.0)  # three intervals missed: gone
    register(env, "scheduler", age=31.0, interval=10.0)
    _, samples = scrape(env)
    assert sample(samples, "jobctl_workers") == 1
    assert sample(samples, "jobctl_schedulers") == 0
    register(env, "scheduler", age=2.0, interval=5.0)
    _, samples = scrape(env)
    assert sample(samples, "jobctl_schedulers") == 1


def test_schedule_fire_timestamps(env: Env) -> None:
    env.write_config(CONFIG)
    SqliteStore(env.db).close()  # schedule pause refuses a database that does not exist
    env.run("schedule", "pause", "held", check=True)
    before = time.time()
    env.run("schedule", "run", "nightly", check=True)
    after = time.time()
    _, samples = scrape(env)
    last = series(samples, "jobctl_schedule_last_fire_timestamp_seconds")
    assert list(last) == [frozenset({("schedule", "nightly")})]
    assert before - 1 <= last[frozenset({("schedule", "nightly")})] <= after + 1
    upcoming = series(samples, "jobctl_schedule_next_fire_timestamp_seconds")
    assert list(upcoming) == [frozenset({("schedule", "nightly")})]  # not off, not paused
    now = datetime.now(UTC)
    expected = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if expected <= now:
        expected += timedelta(days=1)
    assert upcoming[frozenset({("schedule", "nightly")})] == expected.timestamp()


def test_the_last_run_metric_leaves_skipped_fires_out(env: Env) -> None:
    """The last fire moves on a skip; the last run, what an alert should watch, does not."""
    env.write_config(CONFIG)
    ran = datetime(2026, 6, 1, 3, tzinfo=UTC).timestamp()
    with opened(env) as store:
        store.record_fire(
            "nightly", ran, NewJob(job="ok", payload={}, schedule="nightly", fire_time=ran), ran
        )
        store.record_fire("nightly", ran + 86400, None, ran + 86400, reason="paused")
    types, samples = scrape(env)
    assert types["jobctl_schedule_last_run_timestamp_seconds"] == "gauge"
    key = frozenset({("schedule", "nightly")})
    assert series(samples, "jobctl_schedule_last_fire_timestamp_seconds") == {key: ran + 86400}
    assert series(samples, "jobctl_schedule_last_run_timestamp_seconds") == {key: ran}


def test_the_last_success_metric_stays_on_the_last_run_that_succeeded(env: Env) -> None:
    """The last fire and the last run move on with a run that fails: an alert on a schedule
    whose work stopped succeeding had nothing to watch. Manual runs count; a schedule that
    never succeeded has no series; a prune keeps it."""
    broken = env.root / "broken"
    env.write_config(
        f'[jobs.backup]\ncommand = ["sh", "-c", "test ! -e {broken}"]\nmax_attempts = 1\n'
        '[schedules.backup]\njob = "backup"\ncron = "30 2 * * *"\n'
        '[schedules.never]\njob = "backup"\ncron = "0 3 * * *"\n'
    )
    good = int(env.run("schedule", "run", "backup", check=True).stdout)
    env.run("run-worker", "--burst", check=True)
    broken.touch()
    env.run("schedule", "run", "backup", check=True)
    env.run("schedule", "run", "never", check=True)
    env.run("run-worker", "--burst", check=True)
    with opened(env) as store:
        ran = store.get(good)
    assert ran is not None and ran.finished_at is not None
    ended = ran.finished_at
    types, samples = scrape(env)
    assert types["jobctl_schedule_last_success_timestamp_seconds"] == "gauge"
    key = frozenset({("schedule", "backup")})
    assert series(samples, "jobctl_schedule_last_success_timestamp_seconds") == {key: ended}
    assert sample(samples, "jobctl_schedule_last_run_timestamp_seconds", schedule="backup") > ended
    env.run("prune", "--older-than", "0s", check=True)
    _, samples = scrape(env)
    assert series(samples, "jobctl_schedule_last_success_timestamp_seconds") == {key: ended}


def test_metrics_of_an_empty_database(env: Env) -> None:
    missing = env.run("metrics")
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    with opened(env):
        pass  # creates the database
    types, samples = scrape(env)
    assert {"jobctl_jobs", "jobctl_job_runs", "jobctl_workers"} <= set(types)
    assert sample(samples, "jobctl_workers") == 0
    assert series(samples, "jobctl_jobs") == {}


OUTCOMES = {"succeeded", "failed", "timeout", "lost", "interrupted", "cancelled", "error"}


def test_no_label_is_named_as_a_prometheus_target_label(env: Env) -> None:
    """Prometheus sets `job` and `instance` itself: a `job` label of jobctl's came out as
    exported_job on a default scrape, and every dashboard query selected the scrape job."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    env.run("run-worker", "--burst", check=True)
    _, samples = scrape(env)
    labels = {name for _, labelset in samples for name, _ in labelset}
    assert not labels & {"job", "instance"}
    assert sample(samples, "jobctl_job_runs_total", job_type="ok", outcome="succeeded") == 1
    assert _check_histogram(samples, "jobctl_job_duration_seconds", "default", "ok")[0] == 1


def test_every_outcome_of_every_known_job_type_is_there_at_zero(env: Env) -> None:
    """A series that appears at 1 has no earlier sample: rate() and increase() never saw the
    first failure of a job type. Configured job types, and any counted, start at 0."""
    env.write_config(CONFIG)
    with opened(env):
        pass  # creates the database
    _, samples = scrape(env)
    runs = series(samples, "jobctl_job_runs_total")
    assert set(runs) == {
        frozenset({("job_type", job), ("outcome", outcome)})
        for job in ("ok", "flaky")
        for outcome in OUTCOMES
    }
    assert set(runs.values()) == {0}
    env.run("enqueue", "--exec", "--", "false", check=True)  # a job type no config names
    _, samples = scrape(env)
    assert sample(samples, "jobctl_job_runs_total", job_type="exec", outcome="failed") == 0
    env.run("run-worker", "--burst", check=True)
    _, samples = scrape(env)
    assert sample(samples, "jobctl_job_runs_total", job_type="exec", outcome="failed") == 1
    assert sample(samples, "jobctl_job_runs_total", job_type="flaky", outcome="failed") == 0


def test_enqueued_dead_and_cancelled_jobs_are_counters_a_prune_keeps(env: Env) -> None:
    """The jobctl_jobs gauge of dead jobs goes down with a prune, `dead purge` or `dead
    retry`: a job that died between two scrapes never showed."""
    env.write_config(CONFIG + '\n[jobs.once]\ncommand = ["false"]\nmax_attempts = 1\n')
    with opened(env):
        pass
    _, samples = scrape(env)
    for name in ("jobctl_jobs_enqueued_total", "jobctl_jobs_dead_total"):
        assert sample(samples, name, queue="default", job_type="once") == 0
    env.enqueue("once")
    env.enqueue("once")
    cancelled = env.enqueue("ok", "--queue", "later", "--delay", "1h")
    env.run("cancel", str(cancelled), check=True)
    env.run("run-worker", "--burst", check=True)
    env.run("prune", "--older-than", "0s", "-y", check=True)
    types, samples = scrape(env)
    assert types["jobctl_jobs_dead"] == "counter"
    dead_now = ("jobctl_jobs", frozenset({("queue", "default"), ("state", "dead")}))
    assert samples.get(dead_now, 0) == 0  # pruned: the queue holds no job now
    assert sample(samples, "jobctl_jobs_dead_total", queue="default", job_type="once") == 2
    assert sample(samples, "jobctl_jobs_enqueued_total", queue="default", job_type="once") == 2
    assert sample(samples, "jobctl_jobs_enqueued_total", queue="later", job_type="ok") == 1
    assert sample(samples, "jobctl_jobs_cancelled_total", queue="later", job_type="ok") == 1
    assert sample(samples, "jobctl_jobs_cancelled_total", queue="default", job_type="ok") == 0


@pytest.fixture(params=["sqlite", "redis"])
def either(request: pytest.FixtureRequest, env: Env) -> Env:
    """The sandbox on a SQLite file, then on a Redis namespace."""
    if request.param == "redis":
        redis_env: Env = request.getfixturevalue("redis_env")
        return redis_env
    return env


def test_a_job_moved_by_edit_stays_counted_where_it_was_enqueued_and_ran(either: Env) -> None:
    """`edit --queue` took a job's enqueue (and its attempts) from the old queue's counts to
    the new one's: jobctl_jobs_enqueued_total of the old queue went 1 -> 0, which Prometheus
    takes for a counter reset, and `stats` kept an all-zero row for the old queue."""
    env = either
    env.write_config('[jobs.f]\ncommand = ["false"]\nmax_attempts = 3\nbackoff = "1h"\n')
    ran = env.enqueue("f")
    worker = start_logged(env, "run-worker")
    worker.wait_event(env, "job.retrying", job_id=ran)  # attempt 1 failed: the next is 1 h off
    assert worker.stop() == 0
    never = env.enqueue("f", "--delay", "1h")
    _, before = scrape(env)
    env.run("edit", str(ran), str(never), "--queue", "other", check=True)
    _, after = scrape(env)
    enqueued = "jobctl_jobs_enqueued_total"
    assert sample(before, enqueued, queue="default", job_type="f") == 2
    assert sample(after, enqueued, queue="default", job_type="f") == 2
    assert after.get((enqueued, frozenset({("queue", "other"), ("job_type", "f")})), 0) == 0
    assert sample(after, "jobctl_job_runs_total", job_type="f", outcome="failed") == 1
    assert sample(after, "jobctl_jobs", queue="other", state="scheduled") == 2
    assert sample(after, "jobctl_jobs", queue="default", state="scheduled") == 0
    rows = {
        row["queue"]: (row["enqueued"], row["processed"], row["pending"])
        for row in json.loads(env.run("stats", "--json", check=True).stdout)
    }
    assert rows == {"default": (2, 1, 0), "other": (0, 0, 2)}


def test_workers_gone_without_a_goodbye_are_counted(env: Env) -> None:
    """A worker the OOM killer took, restarted by systemd, left no trace in jobctl_workers."""
    env.write_config(CONFIG)
    register(env, "worker", age=1.0, interval=10.0)
    _, samples = scrape(env)
    assert sample(samples, "jobctl_stale_workers") == 0
    register(env, "worker", age=31.0, interval=10.0)
    register(env, "scheduler", age=31.0, interval=10.0)
    types, samples = scrape(env)
    assert types["jobctl_stale_workers"] == "gauge"
    assert sample(samples, "jobctl_stale_workers") == 2
    assert sample(samples, "jobctl_workers") == 1


def test_each_queue_says_how_many_live_workers_take_its_jobs(env: Env) -> None:
    """Only `wait` could tell that a queue's jobs had no worker to run them: an alert on
    Prometheus could not (jobctl_workers counts any worker, whatever it serves)."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    env.enqueue("ok", "--queue", "night")
    every = register(env, "worker", age=1.0)  # serves every queue
    register(env, "worker", age=1.0, queues=("default",))
    types, samples = scrape(env)
    assert types["jobctl_queue_workers"] == "gauge"
    assert sample(samples, "jobctl_queue_workers", queue="default") == 2
    assert sample(samples, "jobctl_queue_workers", queue="night") == 1
    with opened(env) as store:
        store.unregister_worker(every)
    _, samples = scrape(env)
    assert sample(samples, "jobctl_queue_workers", queue="night") == 0


def test_paused_and_disabled_schedules_say_so(env: Env) -> None:
    """A last-success alert must be able to leave out a schedule paused or disabled on
    purpose; only the absence of its next fire told them apart."""
    env.write_config(CONFIG)
    SqliteStore(env.db).close()  # schedule pause refuses a database that does not exist
    env.run("schedule", "pause", "held", check=True)
    types, samples = scrape(env)
    assert types["jobctl_schedule_paused"] == types["jobctl_schedule_enabled"] == "gauge"
    paused = series(samples, "jobctl_schedule_paused")
    assert paused == {
        frozenset({("schedule", "nightly")}): 0,
        frozenset({("schedule", "off")}): 0,
        frozenset({("schedule", "held")}): 1,
    }
    assert series(samples, "jobctl_schedule_enabled") == {
        frozenset({("schedule", "nightly")}): 1,
        frozenset({("schedule", "off")}): 0,
        frozenset({("schedule", "held")}): 1,
    }
    env.run("schedule", "resume", "held", check=True)
    _, samples = scrape(env)
    assert sample(samples, "jobctl_schedule_paused", schedule="held") == 0


def test_schedule_series_without_a_config_file_come_from_the_store(env: Env) -> None:
    """`metrics --db` run where no jobs.toml is (a textfile collector's folder) left out
    every schedule series, silently: a last-success alert then had nothing to watch."""
    env.write_config(CONFIG)
    env.run("schedule", "run", "nightly", check=True)
    env.run("run-worker", "--burst", check=True)
    env.run("schedule", "pause", "held", check=True)
    _, with_config = scrape(env)
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    result = env.run("metrics", config=False, cwd=elsewhere, check=True)
    _, samples = parse_exposition(result.stdout)
    for name in (
        "jobctl_schedule_last_fire_timestamp_seconds",
        "jobctl_schedule_last_run_timestamp_seconds",
        "jobctl_schedule_last_success_timestamp_seconds",
    ):
        assert series(samples, name) == series(with_config, name), name
        assert frozenset({("schedule", "nightly")}) in series(samples, name)
    assert sample(samples, "jobctl_schedule_paused", schedule="held") == 1
    assert series(samples, "jobctl_schedule_next_fire_timestamp_seconds") == {}  # needs the cron


# ---------------------------------------------------------------------------------------------
# --metrics-addr


def _listeners(port: int) -> set[str]:
    """Addresses the kernel has a TCP socket listening on at `port` (IPv4 and IPv6)."""
    found = set()
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port or fields[3] != "0A":  # 0A: LISTEN
                continue
            if family == 4:
                found.add(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
            else:
                raw = b"".join(
                    struct.pack("<I", int(address[i : i + 8], 16)) for i in range(0, 32, 8)
                )
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def _scrape_http(host: str, port: int, timeout: float = 5.0) -> Samples:
    status, kind, body = http_get(host, port, "/metrics", timeout=timeout)
    assert status == 200 and kind == CONTENT_TYPE
    return parse_exposition(body)[1]


def _wait_gauge(env: Env, host: str, port: int, name: str, value: float) -> None:
    env.wait_for(lambda: sample(_scrape_http(host, port), name) == value, timeout=20)


def test_a_port_alone_binds_loopback_and_serves_metrics_and_health(env: Env) -> None:
    env.write_config(CONFIG)
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", str(port))
    assert listening(env, worker) == ("127.0.0.1", port)
    assert _listeners(port) == {"127.0.0.1"}
    _wait_gauge(env, "127.0.0.1", port, "jobctl_workers", 1)
    assert http_get("127.0.0.1", port, "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
    assert http_get("127.0.0.1", port, "/metrics?x=1")[0] == 200
    assert http_get("127.0.0.1", port, "/nope")[0] == 404
    env.enqueue("ok")
    env.wait_for(
        lambda: (
            _scrape_http("127.0.0.1", port).get(
                (
                    "jobctl_job_runs_total",
                    frozenset({("job_type", "ok"), ("outcome", "succeeded")}),
                )
            )
            == 1
        )
    )
    assert worker.stop() == 0
    assert _listeners(port) == set()  # the server stops with the worker


def _saturate(env: Env, concurrency: int, jobs: int) -> tuple[Running, int, Path]:
    release = env.root / "release"
    wait = 'while [ ! -e "$RELEASE" ]; do sleep 0.02; done'
    env.write_config(
        f"[jobs.block]\ncommand = ['sh', '-c', '{wait}']\nenv = {{ RELEASE = '{release}' }}\n"
    )
    worker = start_logged(
        env, "run-worker", "--concurrency", str(concurrency), "--metrics-addr", "127.0.0.1:0"
    )
    _, port = listening(env, worker)
    assert port != 0  # the port the kernel chose, announced
    lines = "".join(json.dumps({"job": "block"}) + "\n" for _ in range(jobs))
    env.run("enqueue", "--batch", "-", input=lines, check=True)
    return worker, port, release


def test_the_endpoint_answers_while_the_worker_is_saturated(env: Env) -> None:
    worker, port, release = _saturate(env, concurrency=2, jobs=8)

    def running(samples: Samples) -> float:
        return sample(samples, "jobctl_jobs", queue="default", state="running")

    env.wait_for(lambda: running(_scrape_http("127.0.0.1", port)) == 2)
    # Connections that never finish a request must not hold up anyone else.
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    partial = socket.create_connection(("127.0.0.1", port), timeout=5)
    partial.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    try:
        for _ in range(10):
            started = time.monotonic()
            samples = _scrape_http("127.0.0.1", port, timeout=3)
            assert running(samples) == 2
            assert sample(samples, "jobctl_jobs", queue="default", state="queued") == 6
            assert sample(samples, "jobctl_workers") == 1
            assert http_get("127.0.0.1", port, "/healthz", timeout=3)[0] == 200
            assert time.monotonic() - started < 3
        release.touch()

        def all_done() -> bool:
            samples = _scrape_http("127.0.0.1", port)
            return sample(samples, "jobctl_jobs", queue="default", state="succeeded") == 8

        env.wait_for(all_done)
        assert worker.stop(timeout=20) == 0  # even with the idle connections still open
    finally:
        idle.close()
        partial.close()
    names = [e["event"] for e in worker.events()]
    assert names.count("job.succeeded") == 8 and names[-1] == "worker.stopped"


def _unaccepted(port: int) -> int:
    """Connections waiting to be accepted at the IPv4 socket listening on `port` (the
    rx_queue of its LISTEN row in /proc/net/tcp)."""
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def _held(pid: int) -> tuple[int, int]:
    """(open descriptors, threads) of a process."""
    return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def _healthy(port: int) -> bool:
    try:
        return http_get("127.0.0.1", port, "/healthz", timeout=2)[0] == 200
    except (OSError, http.client.HTTPException):  # closed unanswered: every slot is taken
        return False


def test_idle_connections_cannot_exhaust_the_worker(env: Env) -> None:
    """200 connections that never send a request cost the worker a few descriptors and
    threads for a few seconds, not one of each for good: past a small cap a new one is closed
    at once, and one being handled has a few seconds to send its request. Jobs run, and once
    those few seconds are up /healthz answers, while all 200 are still held open."""
    env.write_config(CONFIG)
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    worker.wait_event(env, "worker.started")
    assert http_get("127.0.0.1", port, "/healthz")[0] == 200
    fds, threads = _held(worker.proc.pid)
    idle = []
    try:
        for _ in range(200):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        env.wait_for(lambda: _unaccepted(port) == 0)  # the server has taken every one
        held_fds, held_threads = _held(worker.proc.pid)
        assert held_fds < fds + 40, (fds, held_fds)
        assert held_threads < threads + 40, (threads, held_threads)
        job_id = env.enqueue("ok")
        worker.wait_event(env, "job.succeeded", job_id=job_id)
        env.wait_for(lambda: _healthy(port), timeout=15)
        assert _healthy(port)
        assert worker.stop() == 0  # with the 200 still open
    finally:
        for conn in idle:
            conn.close()
    names = [e["event"] for e in worker.events()]  # every line an event: no traceback
    assert names[-1] == "worker.stopped"


def test_scrapes_answer_while_the_database_is_write_locked(env: Env) -> None:
    worker, port, release = _saturate(env, concurrency=1, jobs=2)
    env.wait_for(
        lambda: (
            sample(_scrape_http("127.0.0.1", port), "jobctl_jobs", queue="default", state="running")
            == 1
        )
    )
    locker = sqlite3.connect(env.db, timeout=5, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # every writer, the worker included, now waits
        for _ in range(3):  # scrapes read: each answers at once, however many
            started = time.monotonic()
            samples = _scrape_http("127.0.0.1", port, timeout=3)
            assert sample(samples, "jobctl_jobs", queue="default", state="queued") == 1
            assert time.monotonic() - started < 2
        # Health is not ok while no write can be made (see test_health_locked): it says why
        # after a second's try, not after the 30 s a write would wait.
        started = time.monotonic()
        status, _, body = http_get("127.0.0.1", port, "/healthz", timeout=3)
        assert status == 503 and "locked by another process" in body, body
        assert time.monotonic() - started < 3
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    release.touch()
    env.wait_for(
        lambda: (
            sample(
                _scrape_http("127.0.0.1", port), "jobctl_jobs", queue="default", state="succeeded"
            )
            == 2
        )
    )
    assert worker.stop() == 0


@pytest.mark.parametrize(
    ("command", "gauges"),
    [
        (["schedule-daemon"], {"jobctl_schedulers": 1, "jobctl_workers": 0}),
        (["up"], {"jobctl_schedulers": 1, "jobctl_workers": 1}),
    ],
)
def test_the_cron_daemon_and_up_serve_metrics(
    env: Env, command: list[str], gauges: dict[str, int]
) -> None:
    env.write_config(CONFIG)
    daemon = start_logged(env, *command, "--metrics-addr", "0")
    host, port = listening(env, daemon)
    assert host == "127.0.0.1"
    for name, value in gauges.items():
        _wait_gauge(env, host, port, name, value)
    samples = _scrape_http(host, port)
    assert (
        "jobctl_schedule_next_fire_timestamp_seconds",
        frozenset({("schedule", "nightly")}),
    ) in samples
    assert http_get(host, port, "/healthz")[0] == 200
    assert daemon.stop() == 0


def test_an_ipv6_loopback_address(env: Env) -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    env.write_config(CONFIG)
    worker = start_logged(env, "run-worker", "--metrics-addr", "[::1]:0")
    # Logged in brackets: `::1:9479` could not be pasted into a scrape config.
    address = str(worker.wait_event(env, "metrics.listening")["address"])
    assert re.fullmatch(r"\[::1\]:[1-9][0-9]*", address), address
    host, port = listening(env, worker)
    assert host == "::1"
    assert _listeners(port) == {"::1"}
    assert http_get("::1", port, "/healthz")[0] == 200
    worker.wait_event(env, "worker.started")
    assert worker.stop() == 0


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("nonsense", "jobctl: --metrics-addr: bad port in 'nonsense'\n"),
        ("127.0.0.1:99999", "jobctl: --metrics-addr: port 99999 out of range\n"),
        ("[::1:9100", "jobctl: --metrics-addr: bad address '[::1:9100': expected [HOST]:PORT\n"),
        # Numbers are ASCII digits alone: int() took these, and the worker listened.
        ("9_100", "jobctl: --metrics-addr: bad port in '9_100'\n"),
        (":+19420", "jobctl: --metrics-addr: bad port in ':+19420'\n"),
        (
            "\u0669\u0661\u0660\u0661",
            "jobctl: --metrics-addr: bad port in '\u0669\u0661\u0660\u0661'\n",
        ),
        ("9" * 5000, f"jobctl: --metrics-addr: port {'9' * 39}\u2026 out of range\n"),
    ],
)
def test_bad_metrics_addresses(env: Env, address: str, message: str) -> None:
    env.write_config(CONFIG)
    result = env.run("run-worker", "--burst", "--metrics-addr", address)
    assert (result.returncode, result.stderr) == (2, message)


def test_a_port_in_use_is_a_usage_error(env: Env) -> None:
    env.write_config(CONFIG)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in (["run-worker", "--burst"], ["schedule-daemon"], ["up"]):
            result = env.run(*command, "--metrics-addr", str(port), timeout=30)
            assert result.returncode == 2, (command, result.stderr)
            assert f"jobctl: --metrics-addr: cannot listen on 127.0.0.1:{port}:" in result.stderr


def test_metrics_follow_a_reloaded_configuration(env: Env) -> None:
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n[schedules.alpha]\njob = "ok"\ncron = "0 3 * * *"\n'
    )
    daemon = start_logged(env, "schedule-daemon", "--metrics-addr", "0")
    host, port = listening(env, daemon)
    daemon.wait_event(env, "scheduler.leader")
    alpha = ("jobctl_schedule_next_fire_timestamp_seconds", frozenset({("schedule", "alpha")}))
    beta = ("jobctl_schedule_next_fire_timestamp_seconds", frozenset({("schedule", "beta")}))
    assert alpha in _scrape_http(host, port)
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n[schedules.beta]\njob = "ok"\ncron = "0 4 * * *"\n'
    )
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_event(env, "scheduler.reloaded")
    samples = _scrape_http(host, port)
    assert beta in samples and alpha not in samples


def test_the_next_fire_metric_is_in_the_zone_the_cron_daemon_plans_in(env: Env) -> None:
    """A schedule that names no zone fires in the cron daemon's (its TZ, or its host's), which
    the daemon records; the metric was worked out in the zone of the scraping process."""
    from zoneinfo import ZoneInfo

    from jobctl.timefmt import host_zone

    def next_five(zone: str) -> float:
        now = datetime.now(ZoneInfo(zone))
        upcoming = now.replace(hour=5, minute=0, second=0, microsecond=0)
        return (upcoming if upcoming > now else upcoming + timedelta(days=1)).timestamp()

    daemon_zone = "Asia/Tokyo" if host_zone() not in ("Asia/Tokyo", "Japan") else "America/Chicago"
    env.write_config(CONFIG)
    env.env.pop("TZ", None)  # the scraper follows the host's zone
    key = frozenset({("schedule", "held")})
    with opened(env) as store:
        store.record_time_tables({"held": f"0 5 * * * {daemon_zone}"})  # as the daemon does
    _, samples = scrape(env)
    assert series(samples, "jobctl_schedule_next_fire_timestamp_seconds")[key] == next_five(
        daemon_zone
    )
    with opened(env) as store:  # a zone only the daemon's host knows: the scraper's own
        store.record_time_tables({"held": "0 5 * * * Mars/Olympus"})
    _, samples = scrape(env)
    assert series(samples, "jobctl_schedule_next_fire_timestamp_seconds")[key] == next_five(
        host_zone()
    )


@pytest.mark.parametrize("command", [["run-worker", "--burst"], ["up"], ["schedule-daemon"]])
def test_a_bad_metrics_address_is_refused_before_a_database_is_made(
    env: Env, command: list[str]
) -> None:
    env.write_config('[jobs.a]\ncommand = ["true"]\n[schedules.s]\njob = "a"\ncron = "@hourly"\n')
    env.db = env.root / "new" / "q.db"
    env.db.parent.mkdir()
    result = env.run(*command, "--metrics-addr", "x")
    assert (result.returncode, result.stderr) == (2, "jobctl: --metrics-addr: bad port in 'x'\n")
    assert list(env.db.parent.iterdir()) == []
