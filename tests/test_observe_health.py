"""`jobctl health`: every check passing and failing, exit codes, one line per failure, JSON.

Old heartbeats and long-waiting jobs are written through the store with past timestamps,
so "gone for three intervals" and "waited ten minutes" need no waiting.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Env, small_file_system
from test_observe_support import enqueue_at, opened, register, start_logged

from jobctl.models import NewJob

# A wait on what jobctl's own commands say polls four times a second, not twenty: each look
# is a CLI call of some 40 ms of CPU, and the states waited for (a worker registered, a job
# running or finished) hold once reached.
POLL = 0.25

CONFIG = """
[jobs.ok]
command = ["true"]

[jobs.bad]
command = ["false"]
max_attempts = 1

[schedules.nightly]
job = "ok"
cron = "0 3 * * *"
"""


def health(env: Env, *args: str) -> tuple[int, list[str], list[str]]:
    result = env.run("health", *args)
    return result.returncode, result.stdout.splitlines(), result.stderr.splitlines()


def _ready_jobs(env: Env, count: int, waited: float) -> None:
    now = time.time()
    enqueue_at(env, now - waited, *[NewJob(job="ok", payload={}) for _ in range(count)])


def _dead_job(env: Env) -> None:
    env.enqueue("bad")
    env.run("run-worker", "--burst", check=True)


def test_healthy_with_no_limits_checks_the_database(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    code, out, err = health(env)
    assert (code, err) == (0, [])
    assert out == [
        f"ok    database: database {env.db} is readable",
        f"ok    logs: log folder {env.db}.logs is writable",
        f"ok    config: config {env.config} is valid",
    ]


def test_a_missing_or_unreadable_database_is_unusable(env: Env) -> None:
    env.write_config(CONFIG)
    """A failed check (exit 1), as a full disk's: a HEALTHCHECK knows 0 and 1, and a Nagios
    plugin's 3 is UNKNOWN: a server down read as a broken probe. The checks that need no
    database are made too."""
    code, out, err = health(env, "--max-dead", "0")
    assert code == 1 and [line.split()[:2] for line in out] == [["ok", "config:"]]
    assert len(err) == 1 and err[0].startswith("jobctl: unhealthy: database: database ")
    assert "does not exist" in err[0] and str(env.db) in err[0]
    env.db.write_bytes(b"not a database at all\n" * 200)
    code, out, err = health(env, "--json")
    report = json.loads("\n".join(out))
    assert code == 1 and report["healthy"] is False
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("database", False),
        ("config", True),
    ]
    assert len(err) == 1 and "not a jobctl database" in err[0]


@pytest.mark.parametrize(
    ("limit", "passing", "failing", "message"),
    [
        ("--max-ready", "3", "2", "max_ready: 3 jobs ready to run (limit 2)"),
        ("--max-age", "15m", "5m", "max_age: oldest ready job waited 10m"),
    ],
)
def test_ready_job_limits(env: Env, limit: str, passing: str, failing: str, message: str) -> None:
    env.write_config(CONFIG)
    _ready_jobs(env, 3, waited=600)
    env.enqueue("ok", "--delay", "1h")  # scheduled for later: neither ready nor waiting
    code, out, err = health(env, limit, passing)
    assert (code, err) == (0, [])
    check = limit[2:].replace("-", "_")
    assert out[1].startswith(f"ok    {check}: ")
    code, out, err = health(env, limit, failing)
    assert code == 1
    assert len(err) == 1 and err[0].startswith(f"jobctl: unhealthy: {message}"), err
    assert [line.split(":")[0] for line in out] == ["ok    database", "ok    logs", "ok    config"]


def test_max_age_passes_when_nothing_waits(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    code, out, _ = health(env, "--max-age", "1s")
    assert code == 0
    assert out[1] == "ok    max_age: oldest ready job waited 0s (limit 1s)"


def _due_delayed_job(env: Env) -> None:
    """Enqueued two hours ago to run one hour ago; no worker has run since to promote it."""
    now = time.time()
    enqueue_at(env, now - 7200, NewJob(job="ok", payload={}, run_at=now - 3600))


def test_a_due_delayed_job_counts_as_waiting(env: Env) -> None:
    env.write_config(CONFIG)
    _due_delayed_job(env)
    code, _, err = health(env, "--max-age", "10m")
    assert code == 1 and err[0].startswith("jobctl: unhealthy: max_age: oldest ready job waited 1h")


def test_a_due_delayed_job_counts_as_ready(env: Env) -> None:
    env.write_config(CONFIG)
    _due_delayed_job(env)
    code, _, err = health(env, "--max-ready", "0")
    assert (code, err) == (1, ["jobctl: unhealthy: max_ready: 1 jobs ready to run (limit 0)"])


def test_max_dead(env: Env) -> None:
    env.write_config(CONFIG)
    _dead_job(env)
    code, out, _ = health(env, "--max-dead", "1")
    assert code == 0 and out[1] == "ok    max_dead: 1 dead jobs (limit 1)"
    code, _, err = health(env, "--max-dead", "0")
    assert (code, err) == (1, ["jobctl: unhealthy: max_dead: 1 dead jobs (limit 0)"])


@pytest.mark.parametrize(
    ("kind", "option", "what"),
    [
        ("worker", "--require-worker", "worker"),
        ("scheduler", "--require-scheduler", "cron daemon"),
    ],
)
@pytest.mark.parametrize(
    ("age", "alive"),
    [(1.0, True), (27.0, True), (31.0, False), (3600.0, False)],  # (3 s for health to start)
)
def test_heartbeats_older_than_three_intervals_count_as_gone(
    env: Env, kind: str, option: str, what: str, age: float, alive: bool
) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    register(env, kind, age=age, interval=10.0)
    other = "scheduler" if kind == "worker" else "worker"
    register(env, other, age=1.0, interval=10.0)  # the other kind never stands in
    code, out, err = health(env, option)
    check = f"require_{kind}"
    if alive:
        assert (code, err) == (0, [])
        assert out[1] == f"ok    {check}: 1 live {what} (heartbeat within three intervals)"
    else:
        assert code == 1
        assert err == [
            f"jobctl: unhealthy: {check}: 0 live {what}s (heartbeat within three intervals)"
        ]


def test_the_interval_is_each_processs_own(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    register(env, "worker", age=20.0, interval=5.0)  # 4 intervals of 5s: gone
    assert health(env, "--require-worker")[0] == 1
    register(env, "worker", age=20.0, interval=30.0)  # not even one interval of 30s
    assert health(env, "--require-worker")[0] == 0


def test_a_running_worker_and_daemon_are_live_until_they_stop(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    worker = start_logged(env, "run-worker")
    daemon = start_logged(env, "schedule-daemon")
    worker.wait_event(env, "worker.started")
    daemon.wait_event(env, "scheduler.leader")
    env.wait_for(
        lambda: health(env, "--require-worker", "--require-scheduler")[0] == 0, interval=POLL
    )
    assert worker.stop() == 0
    assert daemon.stop() == 0
    # A clean stop says goodbye at once; nothing waits for the heartbeat to go stale.
    code, _, err = health(env, "--require-worker", "--require-scheduler")
    assert code == 1
    assert [line.split(":")[2].strip() for line in err] == ["require_worker", "require_scheduler"]


def test_a_worker_whose_every_claim_fails_is_not_live(env: Env) -> None:
    """A worker whose claims the store refuses (here a trigger; in the field a damaged
    index) ran nothing yet kept its heartbeat, so `health --require-worker` passed. Its
    heartbeat lapses after one interval of failures, and comes back with its first claim."""
    env.write_config('[settings]\nlease = "1s"\n' + CONFIG)
    job_id = env.enqueue("ok")
    with contextlib.closing(sqlite3.connect(env.db)) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE OF state ON jobs"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        conn.commit()
    worker = start_logged(env, "run-worker")
    worker.wait_event(env, "worker.store_error")
    env.wait_for(lambda: health(env, "--require-worker")[0] == 1, timeout=20, interval=POLL)
    with contextlib.closing(sqlite3.connect(env.db)) as conn:
        conn.execute("DROP TRIGGER refuse")
        conn.commit()
    env.wait_for(lambda: env.show(job_id)["state"] == "succeeded", timeout=20, interval=POLL)
    env.wait_for(lambda: health(env, "--require-worker")[0] == 0, timeout=20, interval=POLL)
    assert worker.stop() == 0


def test_a_worker_and_daemon_killed_on_this_host_are_dead_at_once(env: Env) -> None:
    """kill -9 (the OOM killer) leaves a fresh heartbeat: on its own host the missing
    process tells at once, where the heartbeat took three intervals (about 15 s)."""
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    worker = env.start("run-worker")
    daemon = env.start("schedule-daemon")
    env.wait_for(
        lambda: health(env, "--require-worker", "--require-scheduler")[0] == 0, interval=POLL
    )
    for proc in (worker, daemon):
        proc.kill()
        proc.wait(timeout=10)
    code, _, err = health(env, "--require-worker", "--require-scheduler")
    assert code == 1
    assert [line.split(":")[2].strip() for line in err] == ["require_worker", "require_scheduler"]


def test_a_killed_worker_not_yet_reaped_is_dead_at_once(env: Env) -> None:
    """A parent slow to reap (a wrapper script, an init that never reaps) leaves a zombie,
    which signal 0 still finds: it is no live worker for all that."""
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    worker = env.start("run-worker", own_child=True)
    env.wait_for(lambda: health(env, "--require-worker")[0] == 0, interval=POLL)
    worker.kill()
    # Wait for it to exit, but leave it unreaped (WNOWAIT): a zombie.
    os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOWAIT)
    try:
        code, _, err = health(env, "--require-worker")
        assert code == 1
        assert [line.split(":")[2].strip() for line in err] == ["require_worker"]
    finally:
        worker.wait(timeout=10)


def test_up_counts_as_worker_and_cron_daemon(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    up = start_logged(env, "up")
    env.wait_for(
        lambda: health(env, "--require-worker", "--require-scheduler")[0] == 0, interval=POLL
    )
    up.wait_event(env, "worker.started")
    assert up.stop() == 0


def test_one_line_per_failed_check_and_the_rest_on_stdout(env: Env) -> None:
    env.write_config(CONFIG)
    _dead_job(env)
    _ready_jobs(env, 2, waited=600)
    register(env, "scheduler", age=1.0, interval=5.0)
    code, out, err = health(
        env,
        "--max-ready",
        "1",
        "--max-age",
        "1h",
        "--max-dead",
        "0",
        "--require-worker",
        "--require-scheduler",
    )
    assert code == 1
    assert err == [
        "jobctl: unhealthy: max_ready: 2 jobs ready to run (limit 1)",
        "jobctl: unhealthy: max_dead: 1 dead jobs (limit 0)",
        "jobctl: unhealthy: require_worker: 0 live workers (heartbeat within three intervals)",
    ]
    assert [line.split(":")[0] for line in out] == [
        "ok    database",
        "ok    max_age",
        "ok    require_scheduler",
        "ok    logs",
        "ok    config",
    ]


def test_json_report(env: Env) -> None:
    env.write_config(CONFIG)
    _dead_job(env)
    result = env.run("health", "--json", "--max-dead", "0", "--max-ready", "5")
    assert result.returncode == 1
    assert result.stderr == "jobctl: unhealthy: max_dead: 1 dead jobs (limit 0)\n"
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == ["database", "max_ready", "max_dead", "logs", "config"]
    assert checks["max_dead"] == {
        "name": "max_dead",
        "ok": False,
        "value": 1,
        "limit": 0,
        "message": "1 dead jobs (limit 0)",
        "skipped": False,
    }
    assert (checks["max_ready"]["ok"], checks["max_ready"]["value"]) == (True, 0)
    result = env.run("health", "--json", "--max-dead", "1")
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout)["healthy"] is True


def test_a_database_on_a_full_disk_is_unhealthy(env: Env) -> None:
    """`health` said "ok database: ... is readable" (exit 0) while every enqueue and claim
    failed with "the disk is full": reads still work then, and the database check only read."""
    with small_file_system(env.root / "small", "size=8m") as small:
        env.db = small / "q.db"
        env.write_config(CONFIG)
        env.enqueue("ok")
        # A running worker keeps the -wal and -shm, so that reads need no room.
        with contextlib.closing(sqlite3.connect(env.db, isolation_level=None)) as holder:
            holder.execute("SELECT COUNT(*) FROM jobs").fetchone()
            code, out, err = health(env)
            assert (code, out[0], err) == (0, f"ok    database: database {env.db} is readable", [])
            with contextlib.suppress(OSError), open(small / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            info = os.statvfs(small)
            free = (info.f_bfree if os.geteuid() == 0 else info.f_bavail) * info.f_frsize
            assert free < 4 << 20
            full = env.run("enqueue", "ok")
            assert (full.returncode, full.stderr) == (
                3,
                f"jobctl: database {env.db}: the disk is full\n",
            )
            code, out, err = health(env)
            assert (code, out) == (1, [f"ok    config: config {env.config} is valid"])
            assert err == [
                f"jobctl: unhealthy: database: database {env.db}: the disk is full ({free:,}"
                " bytes free on its file system, under the 4 MiB a write may need)",
                f"jobctl: unhealthy: logs: log folder {env.db}.logs: the disk is full ({free:,}"
                " bytes free on its file system, under the 1 MiB the jobs' output needs)",
            ]
            report = json.loads(env.run("health", "--json").stdout)
            assert report["checks"][0] | {"message": ""} == {
                "name": "database",
                "ok": False,
                "value": free,
                "limit": 4 << 20,  # a write's room: the -wal's growth between checkpoints
                "message": "",
                "skipped": False,
            }
            (small / "filler").unlink()
            assert health(env)[0] == 0


def test_a_database_on_a_read_only_mount_is_unhealthy(env: Env) -> None:
    """`health` said "ok database: ... is readable" (exit 0) on a file system remounted
    read-only, where every enqueue and worker start failed (exit 3): reads still work there."""
    with small_file_system(env.root / "small", "size=8m") as small:
        env.db = small / "q.db"
        env.write_config(CONFIG)
        env.enqueue("ok")
        subprocess.run(["mount", "-o", "remount,ro", str(small)], check=True)
        refused = env.run("enqueue", "ok")
        read_only = f"database {env.db}: the file system holding {small} is mounted read-only"
        assert (refused.returncode, refused.stderr) == (3, f"jobctl: {read_only}\n")
        code, out, err = health(env)
        assert (code, out) == (1, [f"ok    config: config {env.config} is valid"])
        assert err == [
            f"jobctl: unhealthy: database: {read_only}",
            f"jobctl: unhealthy: logs: log folder {env.db}.logs: the file system holding {small}"
            " is mounted read-only (every job's output is lost)",
        ]
        report = json.loads(env.run("health", "--json").stdout)
        assert report["checks"][0] == {
            "name": "database",
            "ok": False,
            "value": None,
            "limit": None,
            "message": read_only,
            "skipped": False,
        }
        subprocess.run(["mount", "-o", "remount,rw", str(small)], check=True)
        assert health(env)[0] == 0


def test_json_report_of_a_database_that_cannot_be_used(env: Env) -> None:
    """A monitor piping `health --json` into jq got empty input exactly when the queue was
    broken: the document comes first, then the one line, and exit 1 (a failed check)."""
    missing = env.run("health", "--json")
    garbage = env.root / "garbage.db"
    garbage.write_text("not a database\n" * 100)
    broken = env.run("--db", str(garbage), "health", "--json", "--require-worker")
    for result in (missing, broken):
        assert result.returncode == 1
        said = "jobctl: unhealthy: database: "
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(said)
        report = json.loads(result.stdout)
        assert report["healthy"] is False
        (database,) = report["checks"]
        assert database["name"] == "database" and database["ok"] is False
        assert database["message"] == result.stderr.removeprefix(said).rstrip("\n")


def test_health_reads_without_a_config_and_refuses_bad_limits(env: Env) -> None:
    with opened(env):
        pass
    assert env.run("health", "--max-dead", "0", config=False).returncode == 0
    bad = env.run("health", "--max-age", "soon")
    assert bad.returncode == 2 and bad.stderr.startswith("jobctl: --max-age: invalid duration")
    bad = env.run("health", "--max-ready", "many")
    assert bad.returncode == 2


@pytest.mark.parametrize("option", ["--max-dead", "--max-ready"])
def test_a_negative_limit_is_refused_not_always_unhealthy(env: Env, option: str) -> None:
    env.run("enqueue", "--exec", "--", "true", check=True)
    result = env.run("health", option, "-1")
    assert result.returncode == 2
    assert result.stderr.startswith(f"jobctl: Invalid value for '{option}': -1 is not in the range")


def test_records_of_workers_gone_ten_minutes_are_forgotten(env: Env) -> None:
    """A kill -9 left its worker's record for good: `status` counted one more crashed worker
    after every crash, an alarm nothing could clear. Live workers now drop the records of
    those gone for ten minutes; a newer crash stays shown until then."""
    env.write_config(CONFIG)
    old = register(env, "worker", age=601.0, interval=5.0)
    recent = register(env, "scheduler", age=120.0, interval=5.0)
    before = json.loads(env.run("status", "--json", check=True).stdout)
    assert before["stale_workers"] == 2
    burst = env.run("run-worker", "--burst", check=True)
    assert f"worker.forgotten worker={old} kind=worker" in burst.stderr
    after = json.loads(env.run("status", "--json", check=True).stdout)
    assert after["stale_workers"] == 1
    with opened(env) as store:
        assert [w.id for w in store.workers()] == [recent]


def test_health_reads_as_much_on_many_job_types_as_on_a_few(tmp_path: Path) -> None:
    """health read this hour's counts and the histograms whole, which grow as queues x job
    types: 950,000 such pairs took it 6.7 s and 460 MB to print one ok line. Its reads are
    measured in SQLite's steps (a progress handler), not in seconds."""
    from jobctl.models import AttemptResult, Outcome
    from jobctl.observe.health import read_sample
    from jobctl.store import Finish
    from jobctl.store.sqlite import SqliteStore

    def steps(pairs: int) -> int:
        now = time.time()
        with SqliteStore(tmp_path / f"{pairs}.db") as store:
            jobs = [NewJob(job=f"t{i}", payload={}, queue=f"q{i % 3}") for i in range(pairs)]
            store.enqueue(jobs, now - 10)
            while claims := store.claim("w", None, now - 9, 30.0, limit=500):
                result = AttemptResult(Outcome.SUCCEEDED, exit_code=0, finished_at=now - 8)
                store.finish([Finish(claim, result) for claim in claims], now - 8)
            taken = 0

            def step() -> int:
                nonlocal taken
                taken += 1
                return 0  # go on

            store._conn.set_progress_handler(step, 100)
            read_sample(store, now)
            store._conn.set_progress_handler(None, 0)
            assert len(store.histograms()) == 2 * pairs  # a run and a wait histogram each
        return taken

    few, many = steps(300), steps(3_000)  # both more than it samples of each
    assert many < 2 * few, (few, many)


def test_healthz_fails_on_a_full_disk_as_health_does(env: Env) -> None:
    """/healthz only read the queue counts: it said ok on a full disk (or a file system
    remounted read-only), where every enqueue and claim failed."""
    from test_observe_support import free_port, http_get, listening

    with small_file_system(env.root / "small", "size=8m") as small:
        env.db = small / "q.db"
        env.write_config(CONFIG)
        env.enqueue("ok")
        port = free_port()
        worker = start_logged(env, "run-worker", "--metrics-addr", f"127.0.0.1:{port}")
        assert listening(env, worker) == ("127.0.0.1", port)
        assert http_get("127.0.0.1", port, "/healthz")[0] == 200
        with contextlib.suppress(OSError), open(small / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        status, _, body = http_get("127.0.0.1", port, "/healthz")
        assert status == 503
        assert body.startswith(f"unhealthy: database {env.db}: the disk is full ("), body
        (small / "filler").unlink()
        assert http_get("127.0.0.1", port, "/healthz")[0] == 200


def _fill(folder: Path) -> None:
    """Write into `folder` until its file system refuses: a full disk."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()


def test_a_log_folder_on_a_full_disk_is_unhealthy_in_health_and_healthz(env: Env) -> None:
    """`health` and /healthz checked the database alone: with the log folder's disk full,
    every job's output was lost ("output lost (no space left on device)") and both said ok."""
    from test_observe_support import free_port, http_get, listening

    with small_file_system(env.root / "small", "size=4m") as small:
        logs = small / "logs"
        env.write_config(f'[settings]\nlog_dir = "{logs}"\n{CONFIG}')
        env.enqueue("ok", "--delay", "1h")
        port = free_port()
        worker = start_logged(env, "run-worker", "--metrics-addr", f"127.0.0.1:{port}")
        assert listening(env, worker) == ("127.0.0.1", port)
        assert http_get("127.0.0.1", port, "/healthz")[0] == 200
        assert health(env)[1][1] == f"ok    logs: log folder {logs} is writable"
        _fill(small)
        info = os.statvfs(small)
        free = info.f_bfree * info.f_frsize  # root's (the test's) bytes
        full = (
            f"log folder {logs}: the disk is full ({free:,} bytes free on its file system,"
            " under the 1 MiB the jobs' output needs)"
        )
        code, out, err = health(env)
        assert (code, err) == (1, [f"jobctl: unhealthy: logs: {full}"])
        assert [line.split(":")[0] for line in out] == ["ok    database", "ok    config"]
        report = json.loads(env.run("health", "--json").stdout)
        assert report["checks"][1] == {
            "name": "logs",
            "ok": False,
            "value": free,
            "limit": 1 << 20,
            "message": full,
            "skipped": False,
        }
        assert http_get("127.0.0.1", port, "/healthz")[1:] == (
            "text/plain; charset=utf-8",
            f"unhealthy: {full}\n",
        )
        assert http_get("127.0.0.1", port, "/healthz")[0] == 503
        (small / "filler").unlink()
        assert health(env)[0] == 0
        assert http_get("127.0.0.1", port, "/healthz")[0] == 200


def test_a_log_folder_out_of_inodes_is_unhealthy(env: Env) -> None:
    with small_file_system(env.root / "small", "size=4m,nr_inodes=1100") as small:
        env.write_config(f'[settings]\nlog_dir = "{small}"\n{CONFIG}')
        env.enqueue("ok", "--delay", "1h")
        assert health(env)[0] == 0
        for n in range(150):
            (small / f"f{n}").touch()
        files = os.statvfs(small).f_ffree
        assert files < 1000
        code, _, err = health(env)
        assert (code, err) == (
            1,
            [
                f"jobctl: unhealthy: logs: log folder {small}: its file system is out of inodes"
                f" ({files:,} files free, under the 1,000 the jobs' logs need)"
            ],
        )
        report = json.loads(env.run("health", "--json").stdout)
        assert (report["checks"][1]["value"], report["checks"][1]["limit"]) == (files, 1000)


def test_a_config_broken_since_the_daemons_started_fails_health(env: Env) -> None:
    """A running worker and cron daemon keep the config they loaded when an edit breaks it,
    and say so only in their log: `health` said ok (exit 0, a warning on stderr) while the
    next start, a reboot's, would refuse the file (exit 2, and a unit not restarted)."""
    env.write_config(CONFIG)
    up = start_logged(env, "up")
    env.wait_for(
        lambda: health(env, "--require-worker", "--require-scheduler")[0] == 0, interval=POLL
    )
    with env.config.open("a") as config:
        config.write("[jobs.broken\n")
    refused = env.run("validate")
    assert refused.returncode == 2
    problem = refused.stderr.removeprefix("jobctl: ").rstrip("\n")
    assert problem.startswith(f"{env.config}:12: invalid TOML: ")
    message = (
        f"{problem} (running workers and cron daemons keep the config they loaded; the next"
        " start fails)"
    )
    code, out, err = health(env, "--require-worker", "--require-scheduler")
    assert (code, err) == (1, [f"jobctl: unhealthy: config: {message}"])  # and no warning
    assert [line.split(":")[0] for line in out] == [
        "ok    database",
        "ok    require_worker",
        "ok    require_scheduler",
    ]
    report = json.loads(env.run("health", "--json").stdout)
    assert report["healthy"] is False
    assert report["checks"][-1] == {
        "name": "config",
        "ok": False,
        "value": None,
        "limit": None,
        "message": message,
        "skipped": False,
    }
    assert up.stop() == 0
