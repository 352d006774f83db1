"""What the --metrics-addr server's probes promise a supervisor: they only read (a database
deleted under a worker is a 503, never a new empty one), /healthz answers within about a
second however the store stalls and whatever scrapes wait on it, /livez is taken however
many requests wait, a scrape of a stalled store is a 503 in its time, a scrape reads one
snapshot, and a request the server does not take is said in plain text.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Env, small_file_system
from redis_server import RedisEnv, RedisServer, start_server
from test_observe_support import Running, free_port, http_get, listening, start_logged

from jobctl.config import EMPTY_CONFIG
from jobctl.observe.health import LOCK_WAIT
from jobctl.observe.http import MAX_ANSWERING, MAX_CONNECTIONS, MetricsServer
from jobctl.store import Store, open_store
from jobctl.store.redis import RedisStore

TEXT = "text/plain; charset=utf-8"
CONFIG = '[jobs.ok]\ncommand = ["true"]\n'
# A lease of 2 minutes: the worker looks at its database file every 40 s, so it does not
# notice the file gone (and stop) while the test probes.
SLOW_LOOKS = '[settings]\nlease = "120s"\n\n[jobs.ok]\ncommand = ["true"]\n'


def test_a_probe_of_a_deleted_database_is_a_503_and_makes_no_new_one(env: Env) -> None:
    env.write_config(SLOW_LOOKS)
    env.enqueue("ok")
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", str(port))
    assert listening(env, worker) == ("127.0.0.1", port)
    worker.wait_event(env, "worker.started")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{env.db}{suffix}"):
            os.unlink(f"{env.db}{suffix}")
    status, kind, body = http_get("127.0.0.1", port, "/healthz")
    assert (status, kind) == (503, TEXT), body
    assert body.startswith("unhealthy: database ") and "does not exist" in body, body
    status, _, body = http_get("127.0.0.1", port, "/metrics")
    assert status == 503 and body.startswith("# jobctl: database ") and "does not exist" in body
    assert not env.db.exists()


def test_healthz_answers_within_seconds_while_the_redis_server_stalls(
    redis_env: RedisEnv, tmp_path: Path
) -> None:
    """/healthz opened its store with a command's timeouts: a server stopped dead held it
    60 s, and one that answered within that minute got a late 200."""
    with _worker_of_a_private_server(redis_env, tmp_path) as (server, worker, port):
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            status, _, body = http_get("127.0.0.1", port, "/healthz", timeout=30)
            took = time.monotonic() - began
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert status == 503 and body.startswith("unhealthy: redis://"), body
        assert "did not answer in time" in body, body
        assert took < 5, took
        assert http_get("127.0.0.1", port, "/healthz", timeout=30)[:1] == (200,)
        assert worker.stop() == 0


@contextlib.contextmanager
def _worker_of_a_private_server(
    redis_env: RedisEnv, tmp_path: Path
) -> Iterator[tuple[RedisServer, Running, int]]:
    """A worker serving --metrics-addr on a Redis server of the test's own (to stop with
    SIGSTOP), started and registered: (the server, the worker, its metrics port)."""
    server = start_server(tmp_path / "private")
    env = redis_env
    env.url = server.url("private")
    env.write_config(CONFIG)
    try:
        env.enqueue("ok")
        worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
        _, port = listening(env, worker)
        worker.wait_event(env, "worker.started")
        yield server, worker, port
    finally:
        server.stop()


def _fill(folder: Path) -> None:
    """Write into `folder` until its file system refuses: a full disk."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()


def _sample(exposition: str, name: str, *labels: str) -> float:
    """The value of the one sample of `name` whose labels include every one of `labels`."""
    found = [
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(name + "{") and all(label in line for label in labels)
    ]
    assert len(found) == 1, (name, labels, exposition)
    return found[0]


@pytest.mark.parametrize("read_when", ["stat_hist", "stat_sums"])
def test_a_scrape_reads_one_snapshot_while_attempts_end(env: Env, read_when: str) -> None:
    """A job ends (a worker's real commit) just before the scrape reads the histograms'
    buckets, or between their buckets and their sums. A scrape read in autocommit
    statements showed a _count ahead of its +Inf bucket, or the histograms of a later
    moment than its jobs."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    assert env.run("run-worker", "--burst").returncode == 0
    env.enqueue("ok")
    ended: list[int] = []

    def job_ends_before(statement: str) -> None:
        if not ended and f"FROM {read_when}" in statement:
            ended.append(env.run("run-worker", "--burst").returncode)

    def opened_store() -> Store:
        store = open_store(str(env.db), create=False)
        conn = store._conn
        assert isinstance(conn, sqlite3.Connection)
        conn.set_trace_callback(job_ends_before)
        return store

    server = MetricsServer(("127.0.0.1", 0), opened_store, lambda: EMPTY_CONFIG)
    server.start()
    try:
        status, _, body = http_get(*server.address, "/metrics")
    finally:
        server.stop()
    assert status == 200 and ended == [0], body
    run = ('queue="default"', 'job_type="ok"')
    assert _sample(body, "jobctl_job_duration_seconds_count", *run) == 1, body
    assert _sample(body, "jobctl_job_duration_seconds_bucket", *run, 'le="+Inf"') == 1, body
    assert _sample(body, "jobctl_jobs", run[0], 'state="queued"') == 1, body
    # The job did end: the next scrape sees it.
    with open_store(str(env.db), create=False) as store:
        assert [h.count for h in store.histograms() if h.kind == "run"] == [2]


def test_a_redis_scrape_reads_its_runs_and_durations_at_one_moment(redis_env: RedisEnv) -> None:
    """A job ends (a worker's real finish) right after the scrape read the event counters.
    On Redis the counters and the histograms were read in round trips of their own: the job
    was in the histograms' _count and not in jobctl_job_runs_total (2999 against 3003 while a
    queue drained), where the README has the two count the same attempts."""
    env = redis_env
    env.write_config(CONFIG)
    env.enqueue("ok")
    assert env.run("run-worker", "--burst").returncode == 0
    env.enqueue("ok")
    ended: list[int] = []

    def opened_store() -> Store:
        store = open_store(env.url, create=False)
        counted = store.event_counts

        def a_job_ends_after(since: float | None) -> dict[tuple[str, str, str], int]:
            counts = counted(since)
            if not ended:
                ended.append(env.run("run-worker", "--burst").returncode)
            return counts

        store.event_counts = a_job_ends_after  # type: ignore[method-assign]
        return store

    server = MetricsServer(("127.0.0.1", 0), opened_store, lambda: EMPTY_CONFIG)
    server.start()
    try:
        status, _, body = http_get(*server.address, "/metrics")
    finally:
        server.stop()
    assert status == 200 and ended == [0], body
    run = ('queue="default"', 'job_type="ok"')
    assert _sample(body, "jobctl_job_runs_total", run[1], 'outcome="succeeded"') == 1, body
    assert _sample(body, "jobctl_job_duration_seconds_count", *run) == 1, body
    assert _sample(body, "jobctl_job_duration_seconds_bucket", *run, 'le="+Inf"') == 1, body
    # The job did end: the next scrape sees it.
    with open_store(env.url, create=False) as store:
        assert [h.count for h in store.histograms() if h.kind == "run"] == [2]


def _request(port: int, method: str, path: str) -> tuple[int, str | None, str, str]:
    """(status, Allow, content type, body) of one request of any method."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        reply = conn.getresponse()
        return (
            reply.status,
            reply.getheader("Allow"),
            reply.getheader("Content-Type", ""),
            reply.read().decode(),
        )
    finally:
        conn.close()


def test_a_method_other_than_get_or_head_is_refused_in_plain_text(env: Env) -> None:
    """POST got http.server's 501 "Unsupported method" as an HTML page, and a method HTTP
    does not define (BREW, FOO) got 501 still, where the README promises 405."""
    env.write_config(CONFIG)
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW", "FOO"):
        for path in ("/metrics", "/healthz"):
            assert _request(port, method, path) == (
                405,
                "GET, HEAD",
                TEXT,
                "method not allowed: GET or HEAD\n",
            ), (method, path)
    assert _request(port, "GET", "/healthz")[0] == 200
    assert worker.stop() == 0


def test_livez_answers_while_another_process_holds_the_database_locked(env: Env) -> None:
    """/healthz was the only path: a liveness probe on it restarted a worker, its jobs
    interrupted, for a sqlite3 session that held the lock, which no restart helps."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    worker.wait_event(env, "worker.started")
    holder = sqlite3.connect(env.db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        status, _, body = http_get("127.0.0.1", port, "/healthz")
        assert status == 503 and "locked by another process" in body, body
        assert http_get("127.0.0.1", port, "/livez") == (200, TEXT, "ok\n")
        assert http_get("127.0.0.1", port, "/livez?verbose") == (200, TEXT, "ok\n")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert worker.stop() == 0


def test_livez_answers_while_scrapes_of_a_stalled_redis_server_hold_every_thread(
    redis_env: RedisEnv, tmp_path: Path
) -> None:
    """Scrapes wait up to 60 s for a stalled server, in every thread that answers: /livez
    is answered apart from them, at once."""
    scrapes: list[socket.socket] = []
    with _worker_of_a_private_server(redis_env, tmp_path) as (server, worker, port):
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(MAX_ANSWERING + 2):
                scrape = socket.create_connection(("127.0.0.1", port), timeout=5)
                scrape.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                scrapes.append(scrape)
            began = time.monotonic()
            assert http_get("127.0.0.1", port, "/livez", timeout=10) == (200, TEXT, "ok\n")
            assert time.monotonic() - began < 2
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
            for scrape in scrapes:
                scrape.close()
        assert worker.stop() == 0


def _ask(port: int, request: bytes) -> socket.socket:
    """A connection that has sent `request` whole, its answer not read."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(request)
    return conn


def _answer_of(conn: socket.socket) -> bytes:
    """Everything the server writes to `conn` until it closes it."""
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    return answer


def test_a_stalled_store_keeps_no_probe_waiting_and_a_scrape_gets_a_503_in_its_time(
    tmp_path: Path,
) -> None:
    """Scrapes of a stalled server held every answering thread for its 60 s: /healthz,
    queued behind them, got no answer, and once 32 requests waited the server accepted no
    connection at all, /livez's included."""
    redis = start_server(tmp_path / "private")
    url = redis.url("stalled")
    with open_store(url):  # the namespace made
        pass
    server = MetricsServer(
        ("127.0.0.1", 0),
        lambda: open_store(url, create=False),
        lambda: EMPTY_CONFIG,
        open_probe_store=lambda: RedisStore(url, create=False, timeout=LOCK_WAIT),
        answer_timeout=1.5,
    )
    server.start()
    port = server.address[1]
    held: list[socket.socket] = []
    try:
        assert http_get("127.0.0.1", port, "/healthz") == (200, TEXT, "ok\n")
        os.kill(redis.proc.pid, signal.SIGSTOP)
        began = time.monotonic()
        held += [_ask(port, b"GET /metrics HTTP/1.0\r\n\r\n") for _ in range(MAX_ANSWERING + 2)]
        status, _, body = http_get("127.0.0.1", port, "/healthz", timeout=3)
        assert status == 503 and "did not answer in time" in body, body
        # Every place taken by a scrape that waits: the oldest waiting is shed, not /livez.
        held += [_ask(port, b"GET /metrics HTTP/1.0\r\n\r\n") for _ in range(MAX_CONNECTIONS)]
        assert http_get("127.0.0.1", port, "/livez", timeout=1) == (200, TEXT, "ok\n")
        answer = _answer_of(held[0])
        assert time.monotonic() - began < 4  # not the 60 s a scrape waited for the server
        assert answer.startswith(b"HTTP/1.0 503 "), answer
        assert answer.endswith(
            b"\r\n\r\n# jobctl: no answer from the store within 1.5 s (is it stalled?)\n"
        ), answer
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
        for conn in held:
            conn.close()
        server.stop()
        redis.stop()


def test_a_request_shed_to_make_room_is_told_so_in_a_503(tmp_path: Path) -> None:
    """Past MAX_CONNECTIONS, the oldest request waiting for a thread made room for a new
    connection by being closed unanswered: its client saw an empty reply, with no word of
    why. It gets a 503 that says so."""
    gate = threading.Event()
    db = str(tmp_path / "q.db")
    with open_store(db):
        pass

    def stalled_store() -> Store:
        gate.wait(30)
        return open_store(db, create=False)

    server = MetricsServer(("127.0.0.1", 0), stalled_store, lambda: EMPTY_CONFIG, answer_timeout=30)
    server.start()
    port = server.address[1]
    held: list[socket.socket] = []
    try:
        # Every answering thread held by the stalled store, every other place by a request
        # that waits for one of them.
        held += [_ask(port, b"GET /metrics HTTP/1.0\r\n\r\n") for _ in range(MAX_CONNECTIONS)]
        assert http_get("127.0.0.1", port, "/livez", timeout=5) == (200, TEXT, "ok\n")
        # The oldest request waiting for a thread (which, under load, the threads may not
        # have taken yet) was shed: it alone is answered.
        shed, _, _ = select.select(held, [], [], 5)
        assert len(shed) == 1, shed
        answer = _answer_of(shed[0])
        assert answer.startswith(b"HTTP/1.0 503 "), answer
        assert answer.endswith(
            b"\r\n\r\n# jobctl: shed: more than 32 connections at once, and this request"
            b" waited longest for an answer; try again\n"
        ), answer
    finally:
        gate.set()
        for conn in held:
            conn.close()
        server.stop()


def test_on_redis_the_logs_check_is_skipped_on_a_host_that_runs_no_worker(
    redis_env: RedisEnv,
) -> None:
    """`health` on a monitoring host failed for its own log folder, to which no job writes:
    there every call said "every job's output is lost"."""
    env = redis_env
    with small_file_system(env.root / "small", "size=4m") as small:
        logs = small / "logs"
        env.write_config(f'[settings]\nlog_dir = "{logs}"\n{CONFIG}')
        env.enqueue("ok", "--delay", "1h")
        _fill(small)
        result = env.run("health")
        assert result.returncode == 0, result.stderr
        skip = (
            f"no worker of this host ({socket.gethostname()}) is registered in {env.url};"
            f" each worker's jobs write their output on its own host (here: {logs})"
        )
        assert result.stdout.splitlines()[1:] == [
            f"skip  logs: {skip}",
            f"ok    config: config {env.config} is valid",
        ], result.stdout
        report = json.loads(env.run("health", "--json").stdout)
        assert report["healthy"] is True
        assert report["checks"][1] == {
            "name": "logs",
            "ok": True,
            "value": None,
            "limit": None,
            "message": skip,
            "skipped": True,
        }
        # A worker of this host writes there: its full disk fails the check again.
        worker = start_logged(env, "run-worker")
        worker.wait_event(env, "worker.started")
        result = env.run("health")
        assert result.returncode == 1
        assert result.stderr.startswith(
            f"jobctl: unhealthy: logs: log folder {logs}: the disk is full"
        )
        assert worker.stop() == 0
        (small / "filler").unlink()


def test_a_client_that_half_closes_or_speaks_http_0_9_gets_its_answer(env: Env) -> None:
    """A client that shuts its sending side once its request is sent (`nc -N`, socat, many
    scripted probes) was taken for one that hung up: /healthz and /metrics closed without an
    answer. A request line with no version (HTTP/0.9) waited out the read timeout, then was
    closed unanswered."""
    env.write_config(CONFIG)
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    for path in ("/livez", "/healthz", "/metrics", "/nope"):
        conn = _ask(port, f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        conn.shutdown(socket.SHUT_WR)
        answer = _answer_of(conn)
        conn.close()
        status = 404 if path == "/nope" else 200
        assert answer.startswith(f"HTTP/1.0 {status} ".encode()), (path, answer[:80])
    began = time.monotonic()
    conn = _ask(port, b"GET /healthz\r\n")
    answer = _answer_of(conn)
    conn.close()
    assert answer and time.monotonic() - began < 2, answer[:80]
    assert worker.stop() == 0
