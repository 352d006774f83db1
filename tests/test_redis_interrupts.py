"""Stop signals while a change is in flight on a Redis server: sent as one script, which the
server completes whatever the client does, and which an interrupt must not hide.

The server is held with CLIENT PAUSE WRITE, so the change is known to be in flight: the
command's script waits in the server (a client blocked on EVAL/EVALSHA) while the signals
come. Each signal is sent once the one before has been taken (/proc/PID/status shows none
pending), not after a delay.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import JOBCTL
from redis_server import RedisEnv, RedisServer, namespace_for

from jobctl.models import AttemptResult, NewJob, Outcome
from jobctl.store import Finish
from jobctl.store.redis import RedisStore
from jobctl.store.redis.codec import script_source

CONFIG = """
[jobs.echo]
command = "echo hello {msg}"

[jobs.bad]
command = ["sh", "-c", "exit 3"]
max_attempts = 1
"""

PAUSE_MS = 60_000  # longer than any test: each unpauses, or its teardown does


class Relay:
    """A TCP relay to the test's server that pauses the server's writes (CLIENT PAUSE
    WRITE) just before it passes on the call of one script (`arm`): the command's reads
    before it, scripts too (a paused server holds every EVALSHA), go through, and its change
    is then in flight, held in the server, until the test unpauses it."""

    def __init__(self, server: RedisServer) -> None:
        self.client = server.client()
        self._server = server
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sha: bytes | None = None
        self._let_through = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, namespace: str) -> str:
        return self._server.url(namespace).replace(f":{self._server.port}/", f":{self.port}/")

    def arm(self, script: str, *, after: int = 0) -> None:
        """Pause at the call of `script` that follows `after` others of it. (Loaded first: a
        server without it makes the command send it again by its SHA after a NOSCRIPT.)"""
        self.client.script_load(script_source(script))
        self._sha = hashlib.sha1(script_source(script).encode()).hexdigest().encode()
        self._let_through = after

    def unpause(self) -> None:
        self.client.client_unpause()

    def close(self) -> None:
        self.unpause()
        self._listener.close()
        self.client.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                near, _ = self._listener.accept()
                far = socket.create_connection(("127.0.0.1", self._server.port))
                threading.Thread(target=self._pass, args=(near, far, True), daemon=True).start()
                threading.Thread(target=self._pass, args=(far, near, False), daemon=True).start()

    def _pass(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if upstream and self._sha is not None and self._sha in data:
                    if self._let_through:
                        self._let_through -= 1
                    else:
                        self._sha = None
                        self.client.client_pause(PAUSE_MS, all=False)
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


@pytest.fixture
def relay(redis_server: RedisServer) -> Iterator[Relay]:
    relay = Relay(redis_server)
    yield relay
    relay.close()


@pytest.fixture
def relayed(redis_env: RedisEnv, relay: Relay) -> RedisEnv:
    """The test's sandbox, reaching its Redis server through the relay."""
    redis_env.url = relay.url(namespace_for(redis_env.root))
    redis_env.write_config(CONFIG)
    return redis_env


def _start(env: RedisEnv, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*JOBCTL, *env.global_args(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env.env,
        cwd=env.root,
        start_new_session=True,
    )
    env.procs.append(proc)  # type: ignore[arg-type]
    return proc


def _script_held(client: Any) -> bool:
    """Whether a client's script waits for the paused server to run it."""
    return any("b" in c["flags"] and c["cmd"] in ("eval", "evalsha") for c in client.client_list())


def _taken(pid: int) -> bool:
    """Whether the process has no signal pending: the one sent to it was handled."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return all(int(fields[name], 16) == 0 for name in ("SigPnd", "ShdPnd"))


def _waiting_in(proc: subprocess.Popen[bytes]) -> str | None:
    """The system call the command's main thread waits in (its number), "gone" once it has
    exited (or cannot be looked at), None while it runs."""
    try:
        fields = Path(f"/proc/{proc.pid}/syscall").read_text().split()
    except OSError:
        return "gone"
    if proc.poll() is not None:
        return "gone"
    return fields[0] if fields and fields[0].isdigit() else None


def _signal_in_flight(env: RedisEnv, proc: subprocess.Popen[bytes], *signums: int) -> None:
    """Send these signals to a command whose change is held in the paused server, each once
    the command waits again in the call it was held in: its handler for the one before has
    run. Python runs a handler once for the signals that came before it could (a flag, not
    a count): two sent back to back on a loaded machine were taken for one, and a purge
    waited for the second interrupt for good."""
    env.wait_for(lambda: _waiting_in(proc) is not None)
    held_in = _waiting_in(proc)
    for signum in signums:
        os.kill(proc.pid, signum)
        env.wait_for(lambda: _taken(proc.pid) and _waiting_in(proc) in (held_in, "gone"))


def _count(env: RedisEnv, state: str) -> int:
    listed = env.run("list", "-s", state, "--limit", "0", "--json", check=True)
    return len(json.loads(listed.stdout))


def _delayed(env: RedisEnv, count: int) -> None:
    """`count` jobs of type echo due in an hour, stored as `enqueue --delay 1h` stores them."""
    now = time.time()
    with RedisStore(env.url) as store:
        jobs = [NewJob(job="echo", payload={"msg": i}, run_at=now + 3600) for i in range(count)]
        store.enqueue(jobs, now)


STOPS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
STOPS.append((signal.SIGHUP, 129, "hung up"))


def _start_held(
    env: RedisEnv, relay: Relay, script: str, *args: str, after: int = 0
) -> subprocess.Popen[bytes]:
    """`jobctl ARGS`, once its call of `script` (after `after` others) is held in the paused
    server."""
    relay.arm(script, after=after)
    proc = _start(env, *args)
    env.wait_for(lambda: _script_held(relay.client))
    return proc


def _batch(env: RedisEnv, count: int) -> str:
    batch = env.root / "batch.jsonl"
    batch.write_text(
        "".join(json.dumps({"job": "echo", "payload": {"msg": i}}) + "\n" for i in range(count))
    )
    return str(batch)


@pytest.mark.parametrize(("signum", "code", "word"), STOPS)
def test_an_interrupt_while_a_cancel_is_in_flight_says_it_was_done(
    relayed: RedisEnv, relay: Relay, signum: int, code: int, word: str
) -> None:
    _delayed(relayed, 300)
    proc = _start_held(relayed, relay, "cancel", "cancel", *map(str, range(1, 301)))
    _signal_in_flight(relayed, proc, signum)
    relay.unpause()
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (code, b"")
    assert err.decode() == f"jobctl: {word}: 300 job(s) were cancelled\n"
    assert _count(relayed, "cancelled") == 300


def test_an_interrupt_while_an_edit_is_in_flight_says_it_was_done(
    relayed: RedisEnv, relay: Relay
) -> None:
    _delayed(relayed, 300)
    proc = _start_held(relayed, relay, "edit", "edit", *map(str, range(1, 301)), "--priority", "9")
    _signal_in_flight(relayed, proc, signal.SIGTERM)
    relay.unpause()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.decode() == "jobctl: terminated: 300 job(s) were edited\n"
    assert relayed.show(300)["priority"] == 9


def test_an_interrupt_while_a_batch_is_in_flight_says_it_was_stored(
    relayed: RedisEnv, relay: Relay
) -> None:
    relayed.enqueue("echo", "--arg", "msg=first")
    proc = _start_held(relayed, relay, "enqueue", "enqueue", "--batch", _batch(relayed, 500))
    _signal_in_flight(relayed, proc, signal.SIGINT)
    relay.unpause()
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (130, b"")
    assert err.decode() == (
        "jobctl: interrupted: 500 job(s) were queued, ids 2 to 501, but not all their ids"
        " were printed\n"
    )
    assert _count(relayed, "queued") == 501


@pytest.mark.parametrize("command", ["cancel", "edit", "enqueue"])
def test_a_second_interrupt_under_a_stalled_server_ends_the_command_at_once(
    relayed: RedisEnv, relay: Relay, command: str
) -> None:
    _delayed(relayed, 300)
    ids = list(map(str, range(1, 301)))
    args = {
        "cancel": ["cancel", *ids],
        "edit": ["edit", *ids, "--priority", "9"],
        "enqueue": ["enqueue", "--batch", _batch(relayed, 300)],
    }[command]
    proc = _start_held(relayed, relay, command, *args)
    _signal_in_flight(relayed, proc, signal.SIGINT)
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10  # not the pause's 60 s, nor the socket's timeout
    assert (proc.returncode, out) == (143, b"")
    assert err.decode() == (
        f"jobctl: terminated: the {command} of 300 job(s) was sent to the server, and may or"
        " may not be done (jobctl list shows)\n"
    )


def _dead(env: RedisEnv, count: int) -> None:
    """`count` dead jobs, as a worker leaves them."""
    now = time.time()
    with RedisStore(env.url) as store:
        store.enqueue([NewJob(job="bad", payload={}, max_attempts=1)] * count, now - 10)
        claims = store.claim("w", None, now - 5, 30.0, limit=count)
        failed = AttemptResult(Outcome.FAILED, exit_code=3, finished_at=now)
        store.finish([Finish(claim, failed) for claim in claims], now)
    assert _count(env, "dead") == count


def test_a_second_interrupt_ends_a_purge_waiting_for_a_stalled_server(
    relayed: RedisEnv, relay: Relay
) -> None:
    _dead(relayed, 3)
    proc = _start_held(relayed, relay, "delete", "dead", "purge", "--all", "-y")
    _signal_in_flight(relayed, proc, signal.SIGINT)
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130
    assert err.decode() == (
        "jobctl: interrupted: the delete of 3 job(s) was sent to the server, and may or may"
        " not be done (jobctl list shows)\n"
    )


def test_one_interrupt_lets_the_purge_batch_in_flight_finish_and_starts_no_other(
    relayed: RedisEnv, relay: Relay
) -> None:
    _dead(relayed, 3)
    proc = _start_held(relayed, relay, "delete", "dead", "purge", "--all", "-y")
    _signal_in_flight(relayed, proc, signal.SIGINT)
    relay.unpause()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.decode() == "jobctl: interrupted after deleting 3 job(s)\n"
    assert _count(relayed, "dead") == 0


def test_a_second_interrupt_during_a_later_purge_batch_says_what_was_deleted_first(
    relayed: RedisEnv, relay: Relay
) -> None:
    now = time.time()
    with RedisStore(relayed.url) as store:  # 501 dead jobs, as a worker leaves them
        store.enqueue([NewJob(job="bad", payload={}, max_attempts=1)] * 501, now - 10)
        claims = store.claim("w", None, now - 5, 30.0, limit=501)
        failed = AttemptResult(Outcome.FAILED, exit_code=3, finished_at=now)
        store.finish([Finish(claim, failed) for claim in claims], now)
    proc = _start_held(relayed, relay, "delete", "dead", "purge", "--all", "-y", after=1)
    _signal_in_flight(relayed, proc, signal.SIGINT)
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 129
    assert err.decode() == (
        "jobctl: hung up: 500 job(s) were deleted; then the delete of 1 job(s) was sent to the"
        " server, and may or may not be done (jobctl list shows)\n"
    )
