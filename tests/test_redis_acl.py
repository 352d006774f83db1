"""jobctl under a Redis ACL user: what it needs, and what it does with less.

Redis 7 gives a new ACL user no pub/sub channel (`acl-pubsub-default resetchannels`), so the
least-privilege user an operator makes for a queue (`~jobctl:*  +@all`) may not PUBLISH or
SUBSCRIBE to the namespace's wake-up channel. The wake-up is only a hint: every write must
still succeed exactly once, and a worker that cannot listen must say that it polls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import JOBCTL, Env
from redis_server import RedisEnv, RedisServer, namespace_for

CONFIG = """
[settings]
lease = "30s"

[jobs.hello]
command = ["echo", "hello"]

[jobs.bad]
command = ["false"]
max_attempts = 1
"""

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def channelless(redis_env: RedisEnv, redis_server: RedisServer) -> Iterator[RedisEnv]:
    """The test's sandbox as an ACL user with every command and jobctl's keys, but no
    channel: what `ACL SETUSER NAME on >PW ~jobctl:* +@all` gives on Redis 7."""
    user = "u" + namespace_for(redis_env.root)
    client = redis_server.client()
    client.execute_command(
        "ACL", "SETUSER", user, "on", ">pw", "~jobctl:*", "resetchannels", "+@all"
    )
    redis_env.write_config(CONFIG)
    redis_env.url = redis_env.url.replace("redis://", f"redis://{user}:pw@", 1)
    try:
        yield redis_env
    finally:
        client.execute_command("ACL", "DELUSER", user)
        client.close()


def ids(env: Env) -> list[tuple[int, str]]:
    listed = json.loads(env.run("list", "--json", "--limit", "0", check=True).stdout)
    return sorted((j["id"], j["state"]) for j in listed)


def test_without_channel_rights_every_write_succeeds_once(channelless: RedisEnv) -> None:
    """The PUBLISH at the end of a script failed after its writes, which Redis keeps: the
    command exited 3 with the jobs stored, and a retried CI step queued them twice."""
    env = channelless
    first = env.run("enqueue", "hello")
    assert (first.returncode, first.stdout.strip()) == (0, "1"), first.stderr
    assert "publish" not in first.stderr
    batch = env.run("enqueue", "--batch", "-", input='{"job": "hello"}\n{"job": "bad"}\n')
    assert (batch.returncode, batch.stdout.split()) == (0, ["2", "3"]), batch.stderr
    keyed = env.run("enqueue", "hello", "--key", "k1")
    assert (keyed.returncode, keyed.stdout.strip()) == (0, "4"), keyed.stderr
    again = env.run("enqueue", "hello", "--key", "k1")
    assert (again.returncode, again.stdout.strip()) == (0, "4") and "already" in again.stderr
    assert ids(env) == [(i, "queued") for i in (1, 2, 3, 4)]
    env.run("run-worker", "--burst", check=True)
    assert ids(env) == [(1, "succeeded"), (2, "succeeded"), (3, "dead"), (4, "succeeded")]
    retried = env.run("dead", "retry", "3")
    assert retried.returncode == 0 and retried.stdout.startswith("retried 1"), retried.stderr
    assert env.show(3)["state"] == "queued"
    env.run("pause", "default", check=True)
    resumed = env.run("resume", "default")
    assert resumed.returncode == 0, resumed.stderr
    final = ids(env)
    assert final[-1] == (4, "succeeded") and len(final) == 4


def test_a_worker_that_cannot_subscribe_says_so_once_and_polls(channelless: RedisEnv) -> None:
    """It fell back to its maintenance interval (a third of the lease) without a word."""
    env = channelless
    env.enqueue("hello")  # the namespace
    log = env.root / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [*JOBCTL, *env.global_args(), "run-worker"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(worker)  # type: ignore[arg-type]
    env.wait_for(lambda: "job.succeeded" in log.read_text())
    warned = [line for line in log.read_text().splitlines() if "worker.polling" in line]
    assert len(warned) == 1, log.read_text()
    assert "WARNING" in warned[0] and "cannot subscribe" in warned[0]
    assert "&jobctl:*" in warned[0] and "polling for new jobs" in warned[0]
    assert ":***@" in warned[0] and ":pw@" not in log.read_text()
    # Polling, not the maintenance interval (10s): a new job is picked up at once.
    started = time.monotonic()
    job_id = env.enqueue("hello")
    env.wait_for(lambda: env.show(job_id)["state"] == "succeeded", timeout=20, interval=0.05)
    assert time.monotonic() - started < 5
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert log.read_text().count("worker.polling") == 1  # once, at start


def test_a_worker_with_channel_rights_does_not_warn(redis_env: RedisEnv) -> None:
    redis_env.write_config(CONFIG)
    redis_env.enqueue("hello")
    burst = redis_env.run("run-worker", "--burst", check=True)
    assert "job.succeeded" in burst.stderr and "worker.polling" not in burst.stderr


def test_connection_errors_name_their_cause(tmp_path: Path, redis_env: RedisEnv) -> None:
    """A URL without the password the server asks for gave the server's HELLO text; a TLS
    file the URL names that is not there read as a server that cannot be reached; a user
    without the keys was not told which it needs."""
    from redis_server import start_server

    server = start_server(tmp_path / "locked", password="s3cret")
    try:
        env = redis_env
        env.write_config(CONFIG)
        env.url = server.url("acl").replace(":s3cret@", "")
        bare = env.run("status")
        assert bare.returncode == 3
        assert "the server asks for a password, and the URL gives none" in bare.stderr
        client = server.client()
        client.execute_command("ACL", "SETUSER", "elsewhere", "on", ">pw", "~other:*", "+@all")
        client.close()
        env.url = server.url("acl").replace(":s3cret@", "elsewhere:pw@")
        keys = env.run("enqueue", "hello")
        assert keys.returncode == 3 and "the user needs the keys jobctl:{acl}:*" in keys.stderr
        assert "pw" not in keys.stderr.replace("pw@", "")
        env.url = f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={tmp_path / 'none.pem'}"
        tls = env.run("status")
        assert tls.returncode == 3 and "a TLS file the URL names does not exist" in tls.stderr
    finally:
        server.stop()


def test_status_without_config_rights_does_not_guess_snapshots(
    redis_env: RedisEnv, redis_server: RedisServer
) -> None:
    """Without CONFIG GET (the README's ACL user), a server with no persistence at all was
    said to keep "only RDB snapshots", which understates it: a restart loses every job."""
    user = "c" + namespace_for(redis_env.root)
    client = redis_server.client()
    client.execute_command(
        "ACL", "SETUSER", user, "on", ">pw", "~jobctl:*", "&*", "+@all", "-config"
    )
    try:
        redis_env.write_config(CONFIG)
        redis_env.url = redis_env.url.replace("redis://", f"redis://{user}:pw@", 1)
        redis_env.enqueue("hello")
        status = json.loads(redis_env.run("status", "--json", check=True).stdout)
        (warning,) = status["warnings"]
        assert "keeps only RDB snapshots" not in warning
        assert "or every job if it takes none" in warning and "CONFIG GET" in warning
    finally:
        client.execute_command("ACL", "DELUSER", user)
        client.close()
