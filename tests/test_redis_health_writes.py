"""`health` on a Redis server that answers reads but takes no write, and on one busy running
another client's script: the failed check says why, as a held write lock does on SQLite.

Each test runs the real command against a redis-server of its own (tests/redis_server.py),
which it changes: replicas required for a write, writes paused, a script that never ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_server import RedisEnv, RedisServer, start_server
from test_observe_support import http_get, listening, start_logged

CONFIG = """
[jobs.ok]
command = ["true"]
"""

BUSY = (
    "the server is busy running a script (a large enqueue --batch from another client?); try"
    " again when it ends"
)


@pytest.fixture
def private_server(tmp_path: Path, redis_env: RedisEnv) -> Iterator[RedisServer]:
    """A server of the test's own, whose writes the test may stop."""
    server = start_server(tmp_path / "private")
    redis_env.url = server.url("private")
    redis_env.write_config(CONFIG)
    try:
        yield server
    finally:
        server.stop()


def test_health_fails_while_the_server_refuses_writes_for_want_of_replicas(
    redis_env: RedisEnv, private_server: RedisServer
) -> None:
    env = redis_env
    env.enqueue("ok")
    client = private_server.client()
    client.config_set("min-replicas-to-write", "1")
    try:
        assert env.run("enqueue", "ok").returncode == 3
        health = env.run("health", "--require-worker")
        assert health.returncode == 1, health.stdout
        lines = health.stderr.splitlines()
        assert any(
            line.startswith("jobctl: unhealthy: database: database redis://")
            and "the server takes no write: NOREPLICAS Not enough good replicas to write" in line
            for line in lines
        ), health.stderr
        assert any(
            line.startswith("jobctl: unhealthy: require_worker: 0 live workers")
            and "the server takes no write: no heartbeat can be written" in line
            for line in lines
        ), health.stderr
    finally:
        client.config_set("min-replicas-to-write", "0")
    healthy = env.run("health")
    assert healthy.returncode == 0, healthy.stderr
    assert "ok    database:" in healthy.stdout
    client.close()


def test_healthz_answers_503_with_the_servers_reason_while_it_refuses_writes(
    redis_env: RedisEnv, private_server: RedisServer
) -> None:
    env = redis_env
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    worker.wait_event(env, "worker.started")
    assert http_get("127.0.0.1", port, "/healthz")[0] == 200
    client = private_server.client()
    client.config_set("min-replicas-to-write", "1")
    try:
        status, _, body = http_get("127.0.0.1", port, "/healthz", timeout=5)
    finally:
        client.config_set("min-replicas-to-write", "0")
    assert status == 503, body
    assert body.startswith(f"unhealthy: database {env.url}: the server takes no write: NOREPLICAS")
    assert http_get("127.0.0.1", port, "/healthz")[0] == 200
    assert worker.stop() == 0
    client.close()


def test_health_fails_within_about_a_second_while_writes_are_paused(
    redis_env: RedisEnv, private_server: RedisServer
) -> None:
    env = redis_env
    env.enqueue("ok")
    client = private_server.client()
    client.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
    try:
        began = time.monotonic()
        health = env.run("health", "--json")
        took = time.monotonic() - began
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    assert health.returncode == 1, health.stderr
    assert took < 10, took  # the pause lasts 60 s: the probe gave up after 1 s
    assert '"healthy": false' in health.stdout
    assert "the server took no write within 1.0s" in health.stdout
    assert env.run("health").returncode == 0
    client.close()


def test_a_busy_server_is_said_in_jobctl_words_and_fails_health_as_a_check(
    redis_env: RedisEnv, private_server: RedisServer
) -> None:
    env = redis_env
    env.enqueue("ok")
    client = private_server.client()
    client.config_set("busy-reply-threshold", "100")  # milliseconds (5 s by default)
    # No read timeout (redis-py's own is 5 s, after which it sends the script again and the
    # server answers BUSY): the script runs for as long as the checks below take.
    looping = private_server.client(socket_timeout=None)
    ended: list[str] = []

    def run_until_killed() -> None:
        # A script that writes nothing runs until SCRIPT KILL, which then ends it at once.
        try:
            looping.eval("while true do end", 0)
        except redis.ResponseError as exc:
            ended.append(str(exc))

    script = threading.Thread(target=run_until_killed)
    script.start()
    try:
        env.wait_for(lambda: _answers_busy(client))
        health = env.run("health")
        assert health.returncode == 1, health.stderr
        assert f"jobctl: unhealthy: database: database {env.url}: {BUSY}" in health.stderr
        assert "SHUTDOWN NOSAVE" not in health.stderr
        enqueue = env.run("enqueue", "ok")
        assert (enqueue.returncode, enqueue.stderr) == (3, f"jobctl: {env.url}: {BUSY}\n")
    finally:
        client.script_kill()
        script.join()
    assert len(ended) == 1 and "killed" in ended[0], ended
    assert env.run("health").returncode == 0
    looping.close()
    client.close()


def _answers_busy(client: redis.Redis) -> bool:
    try:
        client.ping()
    except redis.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False


def test_healthz_answers_within_seconds_while_writes_are_paused(
    redis_env: RedisEnv, private_server: RedisServer
) -> None:
    """/healthz read the queues before its write probe, and a read script waits out a
    CLIENT PAUSE WRITE: the answer came when the pause ended (or the 60 s timeout did)."""
    env = redis_env
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    worker.wait_event(env, "worker.started")
    client = private_server.client()
    client.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
    try:
        began = time.monotonic()
        status, _, body = http_get("127.0.0.1", port, "/healthz", timeout=30)
        took = time.monotonic() - began
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    assert status == 503 and "took no write within 1.0s" in body, body
    assert took < 10, took
    assert worker.stop() == 0
    client.close()


def test_health_fails_within_seconds_on_a_server_paused_for_every_command(
    redis_env: RedisEnv, private_server: RedisServer
) -> None:
    """`health` waited on a CLIENT PAUSE ALL with a command's 60 s: a pause shorter than
    that ended before it answered, and every check then said ok (exit 0)."""
    env = redis_env
    env.enqueue("ok")
    client = private_server.client()
    client.execute_command("CLIENT", "PAUSE", "10000", "ALL")  # (UNPAUSE waits it out)
    try:
        began = time.monotonic()
        health = env.run("health", "--json", timeout=60)
        took = time.monotonic() - began
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    assert health.returncode == 1, (health.stdout, health.stderr)
    assert "did not answer in time" in health.stdout, health.stdout
    assert took < 9, took
    client.close()
