"""The Redis store against what the SQLite store does: output tails that are not text,
the pending counts of jobs stored dead, servers that refuse every write, and locations.

Each test runs the real command in subprocesses against a real redis-server
(tests/redis_server.py): the session's, in a namespace of its own, or a private one where
the test changes the server itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import JOBCTL
from redis_server import RedisEnv, RedisServer, start_server

from jobctl.errors import StoreError
from jobctl.store.redis import parse_location

CONFIG = """
[jobs.accents]
command = ["python3", "-c", "print('\\u00e9' * 10000)"]

[jobs.binary]
command = ["sh", "-c", "printf 'dying \\\\377'; exit 3"]
max_attempts = 1

[jobs.ok]
command = ["true"]

[jobs.fail]
command = ["false"]
max_attempts = 1
"""


def test_a_tail_cut_inside_a_character_or_not_text_is_shown_as_on_sqlite(
    redis_env: RedisEnv,
) -> None:
    """The last 16 KiB of 20,001 bytes of é start in the middle of one, and printf '\\377' is
    no UTF-8 at all: show, logs and dead show failed on them (UnicodeDecodeError, exit 1)."""
    env = redis_env
    env.write_config(CONFIG)
    accents = env.enqueue("accents")
    binary = env.enqueue("binary")
    env.run("run-worker", "--burst", check=True)
    shown = env.run("show", str(accents), check=True)
    assert "succeeded" in shown.stdout
    assert env.show(accents)["state"] == "succeeded"
    logs = env.run("logs", str(accents), check=True)
    assert logs.stdout == "é" * 10000 + "\n"
    latest = subprocess.run(  # the binary job's: raw bytes, which text=True cannot take
        [*JOBCTL, *env.global_args(), "logs"], capture_output=True, env=env.env, timeout=60
    )
    assert (latest.returncode, latest.stdout) == (0, b"dying \377")
    dead = json.loads(env.run("dead", "show", str(binary), "--json", check=True).stdout)
    assert dead["attempts_history"][0]["log_tail"] == "dying \ufffd"
    assert "dying" in env.run("dead", "show", str(binary), check=True).stdout
    assert env.show(binary)["exit_code"] == 3


def test_enqueue_follow_exits_with_the_code_of_a_job_whose_tail_is_not_text(
    redis_env: RedisEnv,
) -> None:
    env = redis_env
    env.write_config(CONFIG)
    env.start("run-worker")
    followed = env.run("enqueue", "accents", "--follow", timeout=60)
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.endswith("é" * 100 + "\n")


def test_a_job_stored_dead_at_enqueue_is_not_pending(redis_env: RedisEnv) -> None:
    """A job enqueued --after a dead one is stored dead: it was counted pending for good."""
    env = redis_env
    env.write_config(CONFIG)
    failed = env.enqueue("fail")
    env.run("run-worker", "--burst", check=True)
    after = env.run("enqueue", "ok", "--after", str(failed), check=True)
    assert f"job {failed}, which it waited for, ended dead" in after.stderr
    stats = json.loads(env.run("stats", "--json", check=True).stdout)
    assert [row["pending"] for row in stats if row["job"] == "ok"] in ([], [0])
    env.run("dead", "purge", "--all", "--yes", check=True)
    stats = json.loads(env.run("stats", "--json", check=True).stdout)
    assert all(row["pending"] == 0 for row in stats)


@pytest.fixture
def private_server(tmp_path: Path, redis_env: RedisEnv) -> Iterator[RedisServer]:
    """A server of the test's own, which it may turn into a replica or break."""
    server = start_server(tmp_path / "private")
    redis_env.url = server.url("private")
    redis_env.write_config(CONFIG)
    try:
        yield server
    finally:
        server.stop()


def test_health_fails_on_a_read_only_replica(
    redis_env: RedisEnv, private_server: RedisServer
) -> None:
    env = redis_env
    env.enqueue("ok")
    assert env.run("health").returncode == 0
    client = private_server.client()
    client.replicaof("127.0.0.1", "1")  # a master that does not exist
    try:
        assert env.run("enqueue", "ok").returncode == 3
        health = env.run("health")
        assert health.returncode == 1, health.stdout
        assert "read-only replica (role:slave) of 127.0.0.1:1" in health.stderr
        assert "no job can be queued or finished" in health.stderr
        status = env.run("status", check=True)
        assert "read-only replica" in status.stderr
    finally:
        client.replicaof("no", "one")
    assert env.run("health").returncode == 0
    client.close()


def test_health_fails_on_a_server_that_stops_writes_after_a_failed_snapshot(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    folder = tmp_path / "snapshots"
    server = start_server(folder, "--save", "3600 1")
    try:
        env = redis_env
        env.url = server.url("snapshots")
        env.write_config(CONFIG)
        env.enqueue("ok")
        client = server.client()
        shutil.rmtree(folder)  # the server's dir: its snapshot cannot be written
        client.bgsave()
        env.wait_for(lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err")
        enqueue = env.run("enqueue", "ok")
        assert enqueue.returncode == 3 and "MISCONF" in enqueue.stderr
        health = env.run("health")
        assert health.returncode == 1 and "rdb_last_bgsave_status:err" in health.stderr
        client.config_set("stop-writes-on-bgsave-error", "no")
        assert env.run("health").returncode == 0
        client.config_set("save", "")  # a shutdown that tries to save into the folder gone waits
        client.close()
    finally:
        server.stop()


def test_an_empty_namespace_is_said_to_be_empty() -> None:
    with pytest.raises(StoreError, match=r"namespace is empty$"):
        parse_location("redis://127.0.0.1:6379/0?namespace=")
    with pytest.raises(StoreError, match="namespace must be a name without braces"):
        parse_location("redis://127.0.0.1:6379/0?namespace=a{b}")


def test_an_empty_namespace_on_the_command_line(redis_env: RedisEnv) -> None:
    redis_env.url = "redis://127.0.0.1:1/0?namespace="
    result = redis_env.run("status", config=False)
    assert result.returncode == 2
    assert result.stderr == "jobctl: redis://127.0.0.1:1/0: namespace is empty\n"
