"""[queues.NAME] rate: at most N attempt starts of a queue within any window of time, over
every worker of the database (BullMQ's limiter, Celery's rate_limit).

The store's side (the window, every worker's starts, retries, max_running beside it, a clock
stepped back, the next start) is in test_store_contract.py; here, a real worker that sleeps
until the window lets the next start in, a rate raised by a reload, and what each store keeps.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Env

from jobctl.models import NewJob, Rate, State
from jobctl.store import Store
from jobctl.store.sqlite import SCHEMA_VERSION, SqliteStore

T0 = 1_800_000_000.0
LEASE = 30.0


def _started(env: Env, name: str) -> list[float]:
    """The start times of the jobs of a job type, earliest first (each ran one attempt)."""
    jobs = json.loads(env.run("list", "--json", "--limit", "0", check=True).stdout)
    assert {job["state"] for job in jobs} == {"succeeded"}, jobs
    return sorted(
        datetime.fromisoformat(job["started_at"]).timestamp() for job in jobs if job["job"] == name
    )


def _cpu_seconds(proc: subprocess.Popen[str]) -> tuple[int, float]:
    """Wait for a child to exit: its exit code, and the CPU time it and its jobs used."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def test_a_burst_worker_starts_a_rate_limited_queue_s_jobs_as_its_window_slides(
    env: Env,
) -> None:
    """rate = "2/1s", four jobs: two start at once, the third and fourth a second after
    the first and second, no sooner (the window holds them) and not much later (the worker
    sleeps until the window lets them in: its next regular look is 10 s away). Meanwhile it
    sleeps: a worker claiming in a loop would have used the whole second of CPU. A --burst
    worker waits for them: they are due, held by the rate alone. The jobs of another queue,
    enqueued after them, take the slots the rate leaves at once."""
    env.write_config(
        '[queues.mail]\nrate = "2/1s"\n\n[jobs.send]\nqueue = "mail"\ncommand = ["true"]\n'
        '[jobs.other]\ncommand = ["true"]\n'
    )
    lines = '{"job": "send"}\n' * 4 + '{"job": "other"}\n' * 2
    env.run("enqueue", "--batch", "-", input=lines, check=True)
    worker = env.start("run-worker", "--burst", "--concurrency", "4", own_child=True)
    code, cpu = _cpu_seconds(worker)
    assert code == 0, worker.stderr.read() if worker.stderr else ""
    first, second, third, fourth = _started(env, "send")
    assert max(_started(env, "other")) < first + 0.5
    assert third - first >= 0.998 and fourth - second >= 0.998  # (times shown to the ms)
    assert third - first < 3, (first, third)  # (a loaded host may wake it late)
    assert cpu < 0.8, f"the worker used {cpu:.2f}s of CPU while the rate held its jobs"


def test_a_burst_worker_whose_retries_a_rate_holds_sleeps_until_the_window_opens(
    env: Env,
) -> None:
    """rate = "2/1s": two jobs fail at once, their retries due 100 ms later, queued while
    the window holds them until a second after the first starts. The --burst worker waits
    for them asleep (a worker claiming in a loop used most of a core), then runs them."""
    env.write_config(
        '[queues.mail]\nrate = "2/1s"\n\n[jobs.fail]\nqueue = "mail"\ncommand = ["false"]\n'
        'max_attempts = 2\nbackoff = "100ms"\njitter = false\n'
    )
    env.run("enqueue", "--batch", "-", input='{"job": "fail"}\n' * 2, check=True)
    worker = env.start("run-worker", "--burst", "--concurrency", "2")

    def first_start() -> float | None:
        jobs = json.loads(env.run("list", "--json", check=True).stdout)
        starts = [job["started_at"] for job in jobs if job["started_at"]]
        return min(datetime.fromisoformat(at).timestamp() for at in starts) if starts else None

    env.wait_for(lambda: first_start() is not None, timeout=10)
    opens = (first_start() or 0.0) + 1.0
    time.sleep(max(0.0, opens - 0.75 - time.time()))  # the retries are due, and held
    ticks = os.sysconf("SC_CLK_TCK")
    before, at = _cpu_ticks(worker.pid), time.time()
    time.sleep(max(0.0, opens - 0.1 - time.time()))
    held_for = time.time() - at
    cpu = (_cpu_ticks(worker.pid) - before) / ticks
    assert held_for > 0.4, "the host was too slow to look while the rate held the retries"
    assert cpu < 0.1 * held_for + 0.05, f"{cpu:.2f}s of CPU in {held_for:.2f}s held"
    assert worker.wait(timeout=10) == 0
    jobs = json.loads(env.run("list", "--json", check=True).stdout)
    assert [(job["state"], job["attempts"]) for job in jobs] == [("dead", 2)] * 2


def test_a_rate_raised_by_a_reload_applies_at_once(env: Env) -> None:
    """rate = "1/1d" starts one job, and the worker waits (sleeping, at no cost) while the
    others stay queued; raised to 10/1d, `jobctl reload` has it start them at once, not at
    its next regular look."""
    config = '[queues.mail]\nrate = "{}"\n\n[jobs.send]\nqueue = "mail"\ncommand = ["true"]\n'
    env.write_config(config.format("1/1d"))
    worker = env.start("run-worker", "--shutdown-timeout", "100ms")
    env.run("enqueue", "--batch", "-", input='{"job": "send"}\n' * 3, check=True)

    def states() -> list[str]:
        jobs = json.loads(env.run("list", "--json", check=True).stdout)
        return sorted(job["state"] for job in jobs)

    env.wait_for(lambda: states() == ["queued", "queued", "succeeded"], timeout=10)
    ticks = os.sysconf("SC_CLK_TCK")
    before = _cpu_ticks(worker.pid)
    time.sleep(0.5)
    assert (_cpu_ticks(worker.pid) - before) / ticks < 0.2  # held, it sleeps
    assert states() == ["queued", "queued", "succeeded"]
    env.write_config(config.format("10/1d"))
    env.run("reload")
    env.wait_for(lambda: states() == ["succeeded"] * 3, timeout=5)
    worker.terminate()
    assert worker.wait(timeout=30) == 0


def test_status_shows_each_queue_s_rate_beside_its_max_running(env: Env) -> None:
    """A backlog its rate holds is no stuck worker: status says which queue has one, in
    JSON and in a last column of the table (there only when a queue has a rate), as the
    config writes it (100/60s, not 100/1m)."""
    env.write_config(
        '[queues.mail]\nrate = "100/60s"\nmax_running = 3\n\n'
        '[jobs.send]\nqueue = "mail"\ncommand = ["true"]\n[jobs.other]\ncommand = ["true"]\n'
    )
    env.enqueue("send")
    env.enqueue("other")
    status = json.loads(env.run("status", "--json", check=True).stdout)
    queues = {q["queue"]: (q["max_running"], q["rate"]) for q in status["queues"]}
    assert queues == {"mail": (3, "100/60s"), "default": (None, None)}
    lines = env.run("status", check=True).stdout.splitlines()
    assert lines[1].split()[-2:] == ["READY", "RATE"]
    assert [line.split()[-1] for line in lines[2:4]] == ["-", "100/60s"]


def test_a_rate_holding_ready_jobs_is_said_by_status_and_by_a_waiting_burst_worker(
    env: Env,
) -> None:
    """rate = "1/1h", two jobs: after the first, the --burst worker says once that it
    waits for the rate, naming the queue and until when (a CI step hung in silence for up to
    the hour), and status shows until when the rate holds the queue: `held_until` in JSON,
    beside the rate in the table."""
    env.write_config(
        '[queues.mail]\nrate = "1/1h"\n\n[jobs.send]\nqueue = "mail"\ncommand = ["true"]\n'
    )
    env.run("enqueue", "--batch", "-", input='{"job": "send"}\n' * 2, check=True)
    worker = env.start("run-worker", "--burst")
    stderr = worker.stderr
    assert stderr is not None
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(stderr), daemon=True)
    reader.start()
    env.wait_for(lambda: any("worker.rate_held" in line for line in said), timeout=10)
    (first,) = (
        datetime.fromisoformat(job["started_at"]).timestamp()
        for job in json.loads(env.run("list", "--json", check=True).stdout)
        if job["started_at"]
    )
    status = json.loads(env.run("status", "--json", check=True).stdout)
    (mail,) = (q for q in status["queues"] if q["queue"] == "mail")
    until = datetime.fromisoformat(mail["held_until"]).timestamp()
    assert abs(until - (first + 3600)) < 0.002, (mail, first)
    (line,) = (line for line in env.run("status", check=True).stdout.splitlines() if "mail" in line)
    assert "1/1h (held until " in line, line
    held = next(line for line in said if "worker.rate_held" in line)
    assert "queue=mail" in held and mail["held_until"][:19] in held, held
    worker.terminate()
    assert worker.wait(timeout=30) == 0
    reader.join(timeout=10)
    assert sum("worker.rate_held" in line for line in said) == 1, said  # not at every pass


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


# -- what each store keeps --------------------------------------------------------------------


def test_sqlite_keeps_the_starts_of_rate_limited_queues_alone_without_a_schema_version(
    tmp_path: Path,
) -> None:
    """The log is made by the first claim with a rate, at no schema version of its own (an
    older jobctl's workers beside go on, and ignore the rate); it holds the starts of the
    window of each rate-limited queue, the older ones deleted as claims go."""
    path = tmp_path / "rate.db"
    store = SqliteStore(path)
    try:
        store.enqueue([NewJob(job="j", payload={}, queue=q) for q in ["mail"] * 6 + ["b"] * 2], T0)
        store.claim("w", None, T0, LEASE, limit=8)
        with sqlite3.connect(path) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rate_starts'")
            assert found.fetchone() is None  # no rate, no log
        rates = {"mail": Rate(2, 10.0)}
        store.enqueue([NewJob(job="j", payload={}, queue=q) for q in ["mail"] * 6 + ["b"]], T0)
        assert len(store.claim("w", None, T0, LEASE, limit=9, rates=rates)) == 3
        assert len(store.claim("w", None, T0 + 10, LEASE, limit=9, rates=rates)) == 2
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT queue, started_at FROM rate_starts ORDER BY rowid")
            assert rows.fetchall() == [("mail", T0 + 10)] * 2
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()


def test_sqlite_counts_each_queue_s_starts_beside_them_through_claims_and_trims(
    tmp_path: Path,
) -> None:
    """A claim reads a queue's count of starts from rate_counts rather than count its rows
    (up to a million, under the write lock): kept with every start recorded and every one a
    claim trims out of the window, a lowered rate's and a shortened window's too, per
    queue; a queue's count missing (a log made by an earlier claim) is counted once."""
    path = tmp_path / "rate.db"
    store = SqliteStore(path)

    def counts() -> tuple[dict[str, int], dict[str, int]]:
        with sqlite3.connect(path) as conn:
            kept = dict(conn.execute("SELECT queue, starts FROM rate_counts").fetchall())
            rows = conn.execute("SELECT queue, COUNT(*) FROM rate_starts GROUP BY queue")
            return kept, dict(rows.fetchall())

    try:
        store.enqueue([NewJob(job="j", payload={}, queue=q) for q in ["a", "b"] * 40], T0)
        rates = {"a": Rate(5, 10.0), "b": Rate(3, 4.0)}
        steps = [(T0, rates), (T0 + 2, rates), (T0 + 5, rates), (T0 + 10.5, rates)]
        steps += [(T0 + 12, {"a": Rate(2, 10.0), "b": Rate(3, 1.0)}), (T0 + 30, rates)]
        for now, used in steps:
            store.claim("w", None, now, LEASE, limit=4, rates=used)
            kept, rows = counts()
            assert kept == {queue: rows.get(queue, 0) for queue in kept}, now
        assert counts() == ({"a": 4, "b": 0}, {"a": 4})  # b's last three trimmed at T0+30
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM rate_counts WHERE queue = 'a'")
        assert len(store.claim("w", ["a"], T0 + 31, LEASE, limit=4, rates=rates)) == 1
        assert counts() == ({"a": 5, "b": 0}, {"a": 5})
    finally:
        store.close()


def test_sqlite_records_a_start_at_its_time_after_a_wait_for_the_write_lock(
    tmp_path: Path,
) -> None:
    """A claim that waited for the write lock recorded its rate's starts at the time its
    worker read before the wait: a start made a second late left the window a second
    early, and let the queue's next start in a second before its window was up."""
    path = tmp_path / "rate.db"
    store = SqliteStore(path)
    try:
        store.enqueue([NewJob(job="j", payload={}, queue="mail") for _ in range(2)], T0)
        one_a_minute = {"mail": Rate(1, 60.0)}
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        released: list[float] = []

        def release() -> None:
            released.append(time.monotonic())
            holder.commit()

        timer = threading.Timer(1.5, release)
        began = time.monotonic()
        timer.start()
        try:
            assert len(store.claim("w", None, T0, LEASE, limit=1, rates=one_a_minute)) == 1
            waited = time.monotonic() - began
        finally:
            timer.join()
            holder.close()
        held = released[0] - began  # how long the claim could not have the lock
        with sqlite3.connect(path) as conn:
            ((started,),) = conn.execute("SELECT started_at FROM rate_starts").fetchall()
        assert T0 + held - 0.05 <= started <= T0 + waited, (started - T0, held, waited)
        # A minute after the clock read before the wait, the window has not slid yet; it
        # has a minute after the start.
        assert store.claim("w", None, T0 + 60.5, LEASE, limit=1, rates=one_a_minute) == []
        later = T0 + 60 + waited + 0.01
        assert len(store.claim("w", None, later, LEASE, limit=1, rates=one_a_minute)) == 1
    finally:
        store.close()


@pytest.fixture
def redis_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    request.getfixturevalue("redis_server")  # started once per session; skips without it
    from redis_server import current, namespace_for

    from jobctl.store.redis import RedisStore

    opened = RedisStore(current().url(namespace_for(tmp_path)))
    yield opened
    opened.close()


def test_redis_keeps_a_rate_limited_queue_s_starts_for_a_day(redis_store: Store) -> None:
    """A sorted set per rate-limited queue, written in the claim script, that expires a day
    (the longest window) after its last start, whatever its window: an idle queue leaves
    nothing behind, and a window a reload lengthens still counts the starts it covers."""
    from jobctl.store.redis import RedisStore

    assert isinstance(redis_store, RedisStore)
    client = redis_store._client
    key = redis_store._key("rate", "mail")
    redis_store.enqueue([NewJob(job="j", payload={}, queue="mail") for _ in range(3)], T0)
    redis_store.claim("w", None, T0, LEASE, limit=1)
    assert client.exists(key) == 0  # no rate, no log
    rates = {"mail": Rate(1, 2.0)}
    (claim,) = redis_store.claim("w", None, T0, LEASE, limit=5, rates=rates)
    assert claim.job.state == State.RUNNING
    assert client.zrange(key, 0, -1, withscores=True) == [
        (f"{claim.job.id:015d}:1", T0),
    ]
    assert 86_399_000 < client.pttl(key) <= 86_400_000  # Redis deletes it then
