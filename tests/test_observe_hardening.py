"""What a security review found in the --metrics-addr server and in hooks, held shut: a
scrape that resets its connection or meets an unexpected error never puts a traceback on the
worker's stderr, an empty host binds loopback however it is spelled, idle connections held
open and renewed keep no request from its answer, a request trickled in is closed once its
5 seconds are up, and a hooks folder that is a link (or open to others) is refused before
anything in it is touched, with a `hook.failed` line that says why.

Long-running commands log JSON event lines to a file (see test_observe_support), so "no
traceback" is checked as "every line of stderr is one event object".
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import sqlite3
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Env
from test_observe_support import (
    Running,
    free_port,
    http_get,
    listening,
    opened,
    start_logged,
)

CONFIG = '[jobs.ok]\ncommand = ["true"]\n'
TEXT = "text/plain; charset=utf-8"


def _event_lines(stderr: str) -> list[dict[str, object]]:
    """Every line of a JSON-logging command's stderr as an event: a traceback fails this."""
    assert "Traceback" not in stderr, stderr
    records = [json.loads(line) for line in stderr.splitlines()]
    assert all(isinstance(r, dict) and "event" in r for r in records), stderr
    return records


# ---------------------------------------------------------------------------------------------
# --metrics-addr


def _reset(port: int, request: bytes) -> None:
    """Connect, maybe send, and close with SO_LINGER 0: the server sees a reset (RST), as
    from a Prometheus scrape that timed out."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if request:
            conn.sendall(request)


def test_clients_that_reset_their_connection_leave_no_traceback(env: Env) -> None:
    env.write_config(CONFIG)
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", f"127.0.0.1:{port}")
    assert listening(env, worker) == ("127.0.0.1", port)
    worker.wait_event(env, "worker.started")
    for request in (b"GET /metrics HTTP/1.0\r\n\r\n", b"GET /healthz HTTP/1.1\r\n", b""):
        for _ in range(20):
            _reset(port, request)
    # The server goes on answering, and the worker on working.
    assert http_get("127.0.0.1", port, "/healthz") == (200, TEXT, "ok\n")
    job_id = env.enqueue("ok")
    worker.wait_event(env, "job.succeeded", job_id=job_id)
    assert worker.stop() == 0
    events = _event_lines(worker.text())
    assert events[-1]["event"] == "worker.stopped"


def test_an_unexpected_error_in_a_request_is_a_503_and_no_traceback(env: Env) -> None:
    env.write_config(CONFIG)
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", str(port))
    assert listening(env, worker) == ("127.0.0.1", port)
    worker.wait_event(env, "worker.started")
    # A row the store cannot read back: it raises ValueError, not one of jobctl's errors.
    with sqlite3.connect(env.db) as db:
        db.execute("INSERT INTO job_counts (queue, state, n) VALUES ('x', 'bogus', 1)")
    for path in ("/metrics", "/healthz"):
        status, kind, body = http_get("127.0.0.1", port, path)
        assert (status, kind) == (503, TEXT), body
        lead = "unhealthy: " if path == "/healthz" else "# jobctl: "
        assert body == f"{lead}internal error (see the process's log)\n"
    with sqlite3.connect(env.db) as db:
        db.execute("DELETE FROM job_counts WHERE state = 'bogus'")
    assert http_get("127.0.0.1", port, "/metrics")[0] == 200  # the server lived through it
    assert http_get("127.0.0.1", port, "/healthz") == (200, TEXT, "ok\n")
    assert worker.stop() == 0
    errors = [e for e in _event_lines(worker.text()) if e["event"] == "jobctl.error"]
    assert len(errors) == 2 and all("bogus" in str(e["message"]) for e in errors), errors


# The server of a process that has every descriptor it may open but the one it accepts a
# scrape with, as a worker whose jobs took the rest: the answer opens nothing it can avoid.
OUT_OF_DESCRIPTORS = """
import os, resource, socket, sys
from jobctl.config import EMPTY_CONFIG
from jobctl.observe.http import MetricsServer
from jobctl.store import open_store

db, path = sys.argv[1:]
server = MetricsServer(("127.0.0.1", 0), lambda: open_store(db, create=False), lambda: EMPTY_CONFIG)
client = socket.create_connection(server.address)
client.sendall(f"GET {path} HTTP/1.0\\r\\n\\r\\n".encode())
highest = max(int(n) for n in os.listdir("/proc/self/fd"))
held = []
while (fd := os.open(os.devnull, os.O_RDONLY)) < highest:
    held.append(fd)
os.close(fd)
resource.setrlimit(resource.RLIMIT_NOFILE, (fd + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
server.start()
answer = b""
while chunk := client.recv(65536):
    answer += chunk
sys.stdout.write(answer.decode())
sys.stdout.flush()
os._exit(0)  # no shutdown: it too needs descriptors (SQLite's, the threads')
"""


@pytest.mark.parametrize(
    ("path", "lead"), [("/healthz", "unhealthy: "), ("/metrics", "# jobctl: ")]
)
def test_a_scrape_in_a_process_out_of_descriptors_is_a_503_naming_no_file(
    env: Env, path: str, lead: str
) -> None:
    """The first scrape imported the module that answers it, which takes a descriptor: a
    worker whose jobs held them all answered 500 `internal error: OSError: [Errno 24] Too
    many open files: '/.../jobctl/observe/health.py'`."""
    import subprocess
    import sys

    env.write_config(CONFIG)
    env.enqueue("ok")
    result = subprocess.run(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS, str(env.db), path],
        capture_output=True,
        text=True,
        timeout=30,
        env=env.env,
        check=True,
    )
    head, _, body = result.stdout.partition("\n\n")  # (CRLF read as text)
    assert head.startswith("HTTP/1.0 503 "), result.stdout
    assert body == f"{lead}too many open files\n"


def _listens_on(env: Env, address: str) -> str:
    """The host a burst worker given `--metrics-addr ADDRESS` announced it listens on."""
    result = env.run("--log-format", "json", "run-worker", "--burst", "--metrics-addr", address)
    assert result.returncode == 0, result.stderr
    [record] = [r for r in _event_lines(result.stderr) if r["event"] == "metrics.listening"]
    host, _, port = str(record["address"]).rpartition(":")
    assert int(port) > 0
    return host


@pytest.mark.parametrize("address", ["[]:0", "[ ]:0", " []:0 ", ":0", "0", " :0"])
def test_an_empty_host_in_any_spelling_binds_loopback(env: Env, address: str) -> None:
    env.write_config(CONFIG)
    assert _listens_on(env, address) == "127.0.0.1"


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("127.0.0.1:0", "127.0.0.1"),
        ("[127.0.0.1]:0", "127.0.0.1"),
        ("localhost:0", "127.0.0.1"),
        ("0.0.0.0:0", "0.0.0.0"),  # every interface, when asked
    ],
)
def test_a_given_host_is_still_the_one_bound(env: Env, address: str, host: str) -> None:
    env.write_config(CONFIG)
    assert _listens_on(env, address) == host


def test_an_empty_host_serves_on_loopback(env: Env) -> None:
    env.write_config(CONFIG)
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", f"[]:{port}")
    assert listening(env, worker) == ("127.0.0.1", port)
    assert http_get("127.0.0.1", port, "/healthz") == (200, TEXT, "ok\n")
    assert worker.stop() == 0


IDLE = 100  # connections held open without a request: more than the server keeps at once
RENEW_AFTER = 4.5  # seconds: each is replaced just before its 5 s to send a request are up


def _hold_idle(port: int, held: list[tuple[socket.socket, float]]) -> None:
    """Tops `held` up to IDLE connections that never send a byte, replacing each one once
    it is RENEW_AFTER seconds old: what any local user can do to hold every place for good."""
    now = time.monotonic()
    for conn, opened_at in [(c, t) for c, t in held if now - t >= RENEW_AFTER]:
        conn.close()
        held.remove((conn, opened_at))
    while len(held) < IDLE:
        held.append((socket.create_connection(("127.0.0.1", port), timeout=5), now))


def _probe(port: int, path: str) -> str | None:
    """None when `path` is answered 200 within a second, else what happened instead."""
    asked = time.monotonic()
    try:
        status = http_get("127.0.0.1", port, path, timeout=2)[0]
    except (OSError, http.client.HTTPException) as exc:
        return f"{path}: {type(exc).__name__} after {time.monotonic() - asked:.2f}s"
    took = time.monotonic() - asked
    return None if status == 200 and took < 1 else f"{path}: {status} after {took:.2f}s"


def test_idle_connections_held_and_renewed_keep_no_request_from_its_answer(env: Env) -> None:
    """However many idle connections are held open, each renewed before its 5 s are up, a
    request that arrives whole is answered at once: a liveness probe must not restart a
    healthy worker, nor Prometheus lose its scrapes, because of them."""
    env.write_config(CONFIG)
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", f"127.0.0.1:{port}")
    assert listening(env, worker) == ("127.0.0.1", port)
    worker.wait_event(env, "worker.started")
    held: list[tuple[socket.socket, float]] = []
    failed: list[str] = []
    rounds = 0
    try:
        started = time.monotonic()
        while time.monotonic() - started < 2 * RENEW_AFTER:  # every one renewed at least once
            _hold_idle(port, held)
            failed += [f for f in (_probe(port, "/healthz"), _probe(port, "/metrics")) if f]
            rounds += 1
            time.sleep(0.1)  # the probes' cadence: a scrape interval, shortened
    finally:
        for conn, _ in held:
            conn.close()
    assert not failed, f"{len(failed)} of {2 * rounds} requests failed: {failed[:6]}"
    job_id = env.enqueue("ok")
    worker.wait_event(env, "job.succeeded", job_id=job_id)
    assert worker.stop() == 0
    _event_lines(worker.text())


def test_a_request_trickled_in_is_closed_once_its_5_seconds_are_up(env: Env) -> None:
    """A client that sends a byte of its headers now and then is not waited on for good:
    the request line and headers have 5 s in all, however the bytes come, and what never
    arrived whole is not answered."""
    env.write_config(CONFIG)
    port = free_port()
    worker = start_logged(env, "run-worker", "--metrics-addr", f"127.0.0.1:{port}")
    assert listening(env, worker) == ("127.0.0.1", port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        opened_at = time.monotonic()
        conn.sendall(b"GET /healthz HTTP/1.1\r\nX-Trickle: ")
        conn.settimeout(0.25)  # a byte each quarter second, until the server hangs up
        answer = None
        while answer is None and time.monotonic() - opened_at < 15:
            try:
                answer = conn.recv(1024)
            except TimeoutError:
                with contextlib.suppress(OSError):  # closed as we wrote: seen at the next read
                    conn.sendall(b"x")
            except ConnectionResetError:
                answer = b""
        closed_after = time.monotonic() - opened_at
    assert answer == b"", answer
    assert 4.9 <= closed_after < 7, closed_after
    assert http_get("127.0.0.1", port, "/healthz") == (200, TEXT, "ok\n")
    assert worker.stop() == 0
    _event_lines(worker.text())


# ---------------------------------------------------------------------------------------------
# Hooks


def _hooks_folder(env: Env, kind: str) -> Path:
    """`<db>.logs/hooks` made hostile: a link to another folder, or a folder others may
    write to. Returns the folder where the hook logs' names end up."""
    logs = env.root / "q.db.logs"
    logs.mkdir(mode=0o700)
    hooks = logs / "hooks"
    if kind == "link":
        elsewhere = env.root / "elsewhere"
        elsewhere.mkdir()
        hooks.symlink_to(elsewhere)
        return elsewhere
    hooks.mkdir()
    os.chmod(hooks, 0o777)
    return hooks


@pytest.mark.parametrize(
    ("kind", "reasons"),
    [
        ("link", ("link", "not a folder")),
        ("shared", ("not private", "writable by group or others")),
    ],
)
def test_a_refused_hooks_folder_keeps_no_log_yet_the_hook_runs_and_nothing_is_deleted(
    env: Env, kind: str, reasons: tuple[str, ...]
) -> None:
    marker = env.root / "hook-ran"
    env.write_config(
        f"[settings]\non_failure = 'echo hook ran >> {marker}'\n"
        '[jobs.fail]\ncommand = ["false"]\nmax_attempts = 2\nbackoff = "10ms"\n'
    )
    job_id = env.enqueue("fail")
    folder = _hooks_folder(env, kind)
    precious = {folder / f"{job_id}.{attempt}.failure.log" for attempt in (1, 2)}
    for path in precious:
        path.write_text("precious\n")

    result = env.run("--log-format", "json", "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    events = _event_lines(result.stderr)
    failed = [e for e in events if str(e["event"]).startswith("hook.")]
    assert len(failed) == 2, events
    hooks = env.root / "q.db.logs" / "hooks"
    for record in failed:
        assert (record["event"], record["level"], record["hook"]) == (
            "hook.succeeded",
            "warning",
            "failure",
        )
        assert (record["job_id"], record["job"]) == (job_id, "fail")
        # The reason is the log folder check's own (jobctl/logfolders.py), in its words.
        no_log = str(record["no_log"])
        assert no_log.startswith(f"log folder {hooks} "), no_log
        assert any(reason in no_log for reason in reasons), no_log
        assert "\n" not in no_log and "log" not in record
    assert all(path.read_text() == "precious\n" for path in precious)
    # The alert matters more than its log: the hook runs, its output kept nowhere there.
    assert marker.read_text() == "hook ran\n" * 2
    with opened(env) as store:
        job = store.get(job_id)
    assert job is not None and job.state.value == "dead"  # the job is not affected


def _hook_lines(worker: Running) -> list[dict[str, Any]]:
    return [e for e in worker.events() if str(e["event"]).startswith("hook.")]


def test_a_hooks_folder_swapped_for_a_link_after_use_is_not_followed(env: Env) -> None:
    """The folder is checked once and kept open, as a job's log folder is: a link put in
    its place later has no file elsewhere deleted, nor the hook's output written there;
    that goes on into the folder checked, wherever it was moved."""
    marker = env.root / "hook-ran"
    env.write_config(
        f"[settings]\non_dead = 'echo $JOBCTL_JOB_ID >> {marker}; echo noted >&2'\n"
        '[jobs.fail]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    worker = start_logged(env, "--log-level", "debug", "run-worker")
    first = env.enqueue("fail")
    worker.wait_event(env, "hook.succeeded", job_id=first, hook="dead")
    hooks = env.root / "q.db.logs" / "hooks"
    assert (hooks / f"{first}.1.dead.log").read_text() == "noted\n"

    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    hooks.rename(env.root / "hooks.old")
    hooks.symlink_to(elsewhere)
    second = first + 1
    precious = elsewhere / f"{second}.1.dead.log"
    precious.write_text("precious\n")
    assert env.enqueue("fail") == second
    env.wait_for(lambda: any(e.get("job_id") == second for e in _hook_lines(worker)))
    [record] = [e for e in _hook_lines(worker) if e["job_id"] == second]
    assert record["event"] == "hook.succeeded", record
    assert precious.read_text() == "precious\n"
    assert (env.root / "hooks.old" / f"{second}.1.dead.log").read_text() == "noted\n"
    assert marker.read_text() == f"{first}\n{second}\n"
    assert worker.stop() == 0
    _event_lines(worker.text())
