"""The same jobctl commands, pointed at a Redis server with `--db redis://...`.

Each test runs the real command in subprocesses against the session's private redis-server
(tests/redis_server.py), in a namespace of its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from conftest import Env
from redis_server import RedisEnv, RedisServer, namespace_for, start_server
from test_ops_support import process_gone

from jobctl.models import State
from jobctl.store.redis import RedisStore, parse_location

CONFIG = """
[settings]
lease = "3s"

[jobs.hello]
command = ["sh", "-c", "echo hello $JOBCTL_JOB_ID; echo to-stderr >&2"]

[jobs.bad]
command = ["sh", "-c", "echo dying; exit 3"]
max_attempts = 1

[jobs.slow]
command = ["sleep", "30"]
"""


def test_the_same_commands_work_against_redis(redis_env: RedisEnv) -> None:
    env = redis_env
    env.write_config(CONFIG)
    first = env.enqueue("hello")
    batch = env.run(
        "enqueue", "--batch", "-", input='{"job": "hello"}\n{"job": "bad"}\n', check=True
    )
    ids = [int(line) for line in batch.stdout.split()]
    assert ids == [first + 1, first + 2]
    again = env.run("enqueue", "hello", "--key", "k1", check=True).stdout.strip()
    same = env.run("enqueue", "hello", "--key", "k1", check=True)
    assert same.stdout.strip() == again and "already" in same.stderr
    env.run("run-worker", "--burst", check=True)
    listed = json.loads(env.run("list", "--json", check=True).stdout)
    assert {j["id"]: j["state"] for j in listed} == {
        first: "succeeded",
        first + 1: "succeeded",
        first + 2: "dead",
        int(again): "succeeded",
    }
    assert env.run("logs", str(first), check=True).stdout == f"hello {first}\nto-stderr\n"
    shown = env.show(first + 2)
    assert shown["state"] == "dead" and shown["exit_code"] == 3
    dead = env.run("dead", "show", str(first + 2), "--json", check=True)
    assert json.loads(dead.stdout)["attempts_history"][0]["log_tail"] == "dying"
    assert env.run("dead", "retry", str(first + 2), check=True).stdout.startswith("retried 1")
    env.run("run-worker", "--burst", check=True)
    purged = env.run("dead", "purge", "--all", "--yes", check=True)
    assert purged.stdout == f"purged 1 dead job(s): {first + 2}; removed 2 log file(s)\n"
    status = json.loads(env.run("status", "--json", check=True).stdout)
    assert status["queues"][0]["queue"] == "default"
    stats = json.loads(env.run("stats", "--json", check=True).stdout)
    assert any(row["job"] == "hello" and row["succeeded"] == 3 for row in stats)
    assert "jobctl_jobs{" in env.run("metrics", check=True).stdout


def test_a_bad_batch_line_stores_nothing(redis_env: RedisEnv) -> None:
    redis_env.write_config(CONFIG)
    lines = '{"job": "hello"}\n{"job": "hello"}\n{"job": "nope"}\n'
    result = redis_env.run("enqueue", "--batch", "-", input=lines)
    assert result.returncode == 2 and "<stdin>:3: unknown job" in result.stderr
    assert result.stdout == ""
    assert redis_env.run("list", "--json").returncode == 3  # not even the namespace exists
    assert redis_env.enqueue("hello") == 1  # and no id was used up


def test_a_batch_on_a_full_server_stores_nothing(tmp_path: Path, redis_env: RedisEnv) -> None:
    server = start_server(tmp_path / "full", "--maxmemory-policy", "noeviction")
    try:
        env = redis_env
        env.write_config(CONFIG)
        env.url = server.url("full")
        env.enqueue("hello")
        client = server.client()
        client.set("ballast", "x" * 4_000_000)
        client.config_set("maxmemory", "2mb")  # now over the limit
        lines = "".join('{"job": "hello"}\n' for _ in range(500))
        result = env.run("enqueue", "--batch", "-", input=lines)
        assert result.returncode == 3 and "out of memory" in result.stderr
        # A server that refuses every write is not healthy: health said "ok".
        health = env.run("health")
        assert health.returncode == 1 and "is at its maxmemory" in health.stderr
        client.config_set("maxmemory", "0")
        assert env.run("health").returncode == 0
        client.close()
        assert [j["id"] for j in json.loads(env.run("list", "--json", check=True).stdout)] == [1]
    finally:
        server.stop()


def test_an_idle_worker_is_woken_at_once_and_cancel_reaches_it(redis_env: RedisEnv) -> None:
    env = redis_env
    env.write_config(CONFIG.replace('lease = "3s"', 'lease = "60s"'))
    env.enqueue("hello", "--delay", "1h")  # creates the namespace
    log = env.root / "worker.log"
    worker = spawn(env, log, "run-worker", "--concurrency", "2")
    env.wait_for(lambda: "worker.started" in log.read_text())
    # Maintenance runs every lease/3 = 20s: a job picked up sooner came through the wake-up.
    started = time.monotonic()
    job_id = env.enqueue("hello")
    env.wait_for(lambda: env.show(job_id)["state"] == "succeeded", timeout=10, interval=0.02)
    assert time.monotonic() - started < 5
    slow = env.enqueue("slow")
    env.wait_for(lambda: env.show(slow)["state"] == "running", timeout=10, interval=0.02)
    cancelled_at = time.monotonic()
    env.run("cancel", str(slow), check=True)

    def attempt_closed() -> bool:
        history = env.show(slow)["attempts_history"]
        return bool(history) and history[-1]["outcome"] == "cancelled"  # type: ignore[index]

    env.wait_for(attempt_closed, timeout=15, interval=0.05)
    assert time.monotonic() - cancelled_at < 10  # the control message, not the renewal
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def test_output_is_readable_from_another_host(
    redis_env: RedisEnv, redis_server: RedisServer
) -> None:
    env = redis_env
    env.write_config(CONFIG)
    ok, bad = env.enqueue("hello"), env.enqueue("bad")
    env.run("run-worker", "--burst", check=True)
    attempt = env.show(ok)["attempts_history"][0]  # type: ignore[index]
    log_path = Path(attempt["log_path"])
    assert log_path.is_file() and attempt["host"] == socket.gethostname()
    # As another host sees it: the attempts ran elsewhere, and their log files are there.
    client = redis_server.client()
    prefix = f"jobctl:{{{namespace_for(env.root)}}}:"
    for job_id in (ok, bad):
        client.hset(f"{prefix}att:{job_id}:1", "host", "elsewhere")
    client.close()
    # A file of the same name here is not that attempt's log (another host's job, say).
    log_path.write_text("not this attempt's output\n")
    for path in log_path.parent.iterdir():
        if path != log_path:
            path.unlink()
    shown = env.run("show", str(ok), check=True).stdout
    assert f"elsewhere:{log_path}" in shown
    # For scripts: the path as it is on that host, and the host apart.
    attempt = env.show(ok)["attempts_history"][0]  # type: ignore[index]
    assert (attempt["host"], attempt["log_path"]) == ("elsewhere", str(log_path))
    logs = env.run("logs", str(ok), check=True)
    assert logs.stdout == f"hello {ok}\nto-stderr\n"
    assert "ran on host elsewhere" in logs.stderr and str(log_path) in logs.stderr
    follow = env.run("logs", "--follow", str(ok), check=True)
    assert follow.stdout == f"hello {ok}\nto-stderr\n"
    # Said, as plain `logs` says it: a tail cut short must not pass for the whole log.
    assert follow.stderr == (
        f"jobctl: note: job {ok} attempt 1 ran on host elsewhere; the last"
        f" {len(follow.stdout)} bytes of its output follow\n"
    )
    dead = env.run("dead", "show", str(bad), check=True)
    assert "dying" in dead.stdout and "elsewhere:" in dead.stdout
    # An attempt whose worker died there reported no output: said so, not "the last 0 bytes".
    client = redis_server.client()
    client.hset(f"{prefix}att:{ok}:1", mapping={"outcome": "lost", "tail": ""})
    client.close()
    lost = env.run("logs", str(ok), check=True)
    assert lost.stdout == "" and "its worker was lost before it reported" in lost.stderr


def test_following_a_job_that_runs_on_another_host_says_where(
    redis_env: RedisEnv, redis_server: RedisServer
) -> None:
    env = redis_env
    env.write_config(CONFIG.replace('["sleep", "30"]', '["sh", "-c", "echo mine; sleep 30"]'))
    slow = env.enqueue("slow")
    log = env.root / "worker.log"
    worker = spawn(env, log, "run-worker")
    try:
        env.wait_for(lambda: logged(log, "job.started", slow), timeout=15)
        assert env.show(slow)["state"] == "running"
        client = redis_server.client()
        client.hset(f"jobctl:{{{namespace_for(env.root)}}}:att:{slow}:1", "host", "elsewhere")
        client.close()
        follow = env.run("logs", "--follow", "--timeout", "1s", str(slow))
        # The file of that name here is not its log: the job runs, and writes, elsewhere.
        assert follow.stdout == ""
        assert f"job {slow} attempt 1 runs on host elsewhere" in follow.stderr
        env.run("cancel", str(slow), check=True)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_status_warns_when_the_server_does_not_persist(
    redis_env: RedisEnv, redis_server_aof: RedisServer
) -> None:
    env = redis_env
    env.write_config(CONFIG)
    env.enqueue("hello")
    off = env.run("status", check=True)
    assert "warning" in off.stderr and "persistence off" in off.stderr
    assert "appendonly yes" in off.stderr
    as_json = json.loads(env.run("status", "--json", check=True).stdout)
    assert "persistence off" in as_json["warnings"][0]
    env.url = redis_server_aof.url(namespace_for(env.root))
    env.enqueue("hello")
    on = env.run("status", check=True)
    assert "warning" not in on.stderr


def test_status_warns_when_the_server_may_evict_keys(tmp_path: Path, redis_env: RedisEnv) -> None:
    """A server that evicts keys at maxmemory (allkeys-lru, as a shared cache often is)
    deletes jobs and leaves the namespace corrupt; status said all was well."""
    server = start_server(
        tmp_path / "lru", "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"
    )
    try:
        env = redis_env
        env.write_config(CONFIG)
        env.url = server.url("lru")
        env.enqueue("hello")
        shown = env.run("status", check=True)
        assert "warning" in shown.stderr and "maxmemory-policy allkeys-lru" in shown.stderr
        assert "set maxmemory-policy noeviction" in shown.stderr
        warnings = json.loads(env.run("status", "--json", check=True).stdout)["warnings"]
        assert len(warnings) == 1 and "may evict keys" in warnings[0]  # (AOF on: no other)
        # A queue whose server deletes jobs by itself is not healthy: health said it was.
        health = env.run("health")
        assert health.returncode == 1 and "maxmemory-policy allkeys-lru" in health.stderr
        # Read from INFO: a user denied CONFIG still hears it; one denied INFO too, nothing.
        client = server.client()
        for user, denied in (("noconfig", ["-config"]), ("blind", ["-config", "-info"])):
            rules = ["on", ">pw", "~jobctl:*", "&jobctl:*", "+@all", *denied]
            client.execute_command("ACL", "SETUSER", user, *rules)
        env.url = server.url("lru").replace("redis://", "redis://noconfig:pw@")
        warnings = json.loads(env.run("status", "--json", check=True).stdout)["warnings"]
        assert len(warnings) == 1 and "maxmemory-policy allkeys-lru" in warnings[0]
        env.url = server.url("lru").replace("redis://", "redis://blind:pw@")
        assert json.loads(env.run("status", "--json", check=True).stdout)["warnings"] == []
        client.config_set("maxmemory-policy", "noeviction")
        client.close()
        env.url = server.url("lru")
        assert "warning" not in env.run("status", check=True).stderr
        assert env.run("health").returncode == 0
    finally:
        server.stop()


def test_namespaces_named_alike_keep_their_log_folders_apart(
    redis_env: RedisEnv, redis_server: RedisServer
) -> None:
    """The default log folder was the location with other characters than [A-Za-z0-9.-] made
    `_`: `prod` and `prod:`, `a/b` and `a b`, any two non-ASCII names shared one, and `logs 1`
    of one namespace showed the other's output (its own file emptied by the other's run)."""
    from urllib.parse import quote

    env = redis_env
    env.write_config('[jobs.say]\ncommand = ["echo", "{text}"]\n')
    base = namespace_for(env.root)
    names = [base, f"{base}:", f"{base}日本", f"{base}中国", f"{base}a/b", f"{base}a b"]

    def each(*args: str) -> list[str]:
        """`jobctl ARGS` in every namespace, one after another."""
        results = []
        for name in names:
            env.url = redis_server.url(quote(name, safe=""))
            results.append(env.run(*[a.replace("NAME", name) for a in args]))
        outputs = [(r.stdout, r.stderr) for r in results]
        assert [r.returncode for r in results] == [0] * len(names), outputs
        return [out for out, _ in outputs]

    assert each("enqueue", "say", "--arg", "text=run in NAME") == ["1\n"] * len(names)
    each("run-worker", "--burst")
    assert each("logs", "1") == [f"run in {name}\n" for name in names]
    folders = sorted(p.name for p in (Path(env.env["XDG_STATE_HOME"]) / "jobctl/logs").iterdir())
    assert len(folders) == len(names)
    # A location its folder name renders whole keeps the name it had: existing installs
    # find their logs. The others add a digest of the location after a `+`.
    plain = f"127.0.0.1_{redis_server.port}_0_namespace_{base}"
    assert plain in folders and all(f == plain or "+" in f for f in folders)


def test_the_password_never_shows(tmp_path: Path, redis_env: RedisEnv) -> None:
    secret = "s3cret-Pa55"
    server = start_server(tmp_path / "auth", password=secret)
    try:
        env = redis_env
        env.write_config(CONFIG)
        env.url = server.url("auth")
        env.enqueue("hello")
        outputs = [
            env.run("run-worker", "--burst", "--log-format", "json"),
            env.run("status"),
            env.run("status", "--json"),
            env.run("health", "--json"),
            env.run("show", "1"),
            env.run("list", "--state", "nope"),
        ]
        env.url = server.url("auth").replace(secret, "wrong-" + secret)
        denied = env.run("status")
        env.url = f"redis://:{secret}@127.0.0.1:1/0"
        unreachable = env.run("status")
        outputs += [denied, unreachable]
        for result in outputs:
            assert secret not in result.stdout + result.stderr
        assert denied.returncode == 3 and "authentication failed" in denied.stderr
        assert ":***@" in denied.stderr
        assert unreachable.returncode == 3 and "cannot reach the server" in unreachable.stderr
        health = json.loads(outputs[3].stdout)
        assert ":***@" in json.dumps(health)
    finally:
        server.stop()


def test_locations_parse_and_hide_the_password() -> None:
    where = parse_location("rediss://user:p%40ss@cache.example:6380/3?namespace=prod&ssl=true")
    assert where.shown == "rediss://user:***@cache.example:6380/3?namespace=prod"
    assert where.password == "p@ss" and where.namespace == "prod"
    assert "namespace" not in where.url and "ssl=true" in where.url
    assert parse_location("redis://h").shown == "redis://h/0"
    lease = parse_location("redis://h/1?leader_lease=2s&password=pw")
    assert lease.leader_lease == 2.0 and lease.password == "pw" and "pw" not in lease.shown


def test_every_key_lives_under_the_namespace_hash_tag(
    redis_env: RedisEnv, redis_server: RedisServer
) -> None:
    env = redis_env
    env.write_config(CONFIG)
    env.enqueue("hello")
    env.enqueue("bad")
    env.enqueue("hello", "--delay", "1h", "--key", "later")
    env.run("run-worker", "--burst", check=True)
    namespace = namespace_for(env.root)
    client = redis_server.client()
    try:
        ours = list(client.scan_iter(match=f"*{namespace}*", count=1000))
    finally:
        client.close()
    assert ours and all(key.startswith(f"jobctl:{{{namespace}}}:") for key in ours)
    with RedisStore(env.url, create=False) as store:
        assert store.get(3) is not None and store.get(3).state == State.SCHEDULED  # type: ignore[union-attr]


def logged(log: Path, event: str, job_id: int) -> bool:
    """Whether a worker's log file holds its `event` line of job `job_id` (job.started is
    written once the store holds the job running)."""
    return any(line.split()[1:3] == [event, f"#{job_id}"] for line in log.read_text().splitlines())


def spawn(env: RedisEnv, log: Path, *args: str) -> object:
    """Start `jobctl ARGS` with its output in a file (a pipe nobody reads would fill up)."""
    import subprocess

    from conftest import JOBCTL

    with log.open("a") as handle:
        proc = subprocess.Popen(
            [*JOBCTL, *env.global_args(), *args],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(proc)
    return proc


pytestmark = pytest.mark.timeout(120)


def test_a_killed_worker_s_job_process_is_stopped_before_its_job_runs_again(
    redis_env: RedisEnv,
) -> None:
    """On a shared store too: the worker that recovers a job on the dead worker's own host
    stops what that worker left running, so the job never runs twice at once."""
    env = redis_env
    pids = env.root / "pids"
    env.write_config(
        CONFIG + f'\n[jobs.long]\ncommand = ["sh", "-c", "echo $$ >> {pids}; sleep 30"]\n'
    )
    job_id = env.enqueue("long")
    first = spawn(env, env.root / "a.log", "run-worker")
    env.wait_for(lambda: pids.exists() and pids.read_text().count("\n") == 1)
    orphan = int(pids.read_text().split()[0])
    os.kill(first.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    spawn(env, env.root / "b.log", "run-worker")
    env.wait_for(lambda: pids.read_text().count("\n") == 2, timeout=30)  # the job again
    assert process_gone(orphan)  # stopped before the job was given out again
    assert env.show(job_id)["attempts"] == 2


def test_a_worker_told_to_stop_while_the_server_is_down_stops_within_its_timeout(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    """The results it cannot record are lost, not the jobs (their leases run out): the
    shutdown timeout bounds the stop all the same, with one line saying so."""
    server = start_server(tmp_path / "gone")
    try:
        env = redis_env
        go = env.root / "go"
        env.write_config(
            CONFIG + f'\n[jobs.gate]\ncommand = ["sh", "-c", "while [ ! -e {go} ]; do '
            'sleep 0.05; done"]\n'
        )
        env.url = server.url("gone")
        job_id = env.enqueue("gate")
        log = env.root / "worker.log"
        worker = spawn(env, log, "run-worker", "--shutdown-timeout", "1s")
        env.wait_for(lambda: logged(log, "job.started", job_id))
        assert env.show(job_id)["state"] == "running"
        server.stop()
        go.touch()  # the job ends while the server is down: its result cannot be recorded
        os.killpg(worker.pid, signal.SIGTERM)  # type: ignore[attr-defined]
        assert worker.wait(timeout=20) == 0  # type: ignore[attr-defined]
        (line,) = [x for x in log.read_text().splitlines() if "worker.unreported" in x]
        assert line.endswith(f" jobs={job_id}")  # which jobs, not how many
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("redis://h:notaport/0", "the port must be a number"),
        ("redis://h/abc", "the database must be a number"),
        ("redis://h/0?namespace=a&namespace=b", "namespace is given more than once"),
        ("redis://h/0?bogus=1", "unknown option 'bogus'"),
        ("redis://h/0?ssl_certfile=x", "unknown option 'ssl_certfile'"),  # TLS ones: rediss
        ("redis://h/0?ssl_check_hostname=false", "unknown option 'ssl_check_hostname'"),
        ("redis://:pw@[::1/0", "Invalid IPv6 URL"),  # was an unexpected ValueError, exit 1
    ],
)
def test_a_malformed_redis_location_is_one_clear_error(location: str, says: str) -> None:
    from jobctl.errors import StoreError

    with pytest.raises(StoreError, match=says) as raised:
        parse_location(location)
    assert "pw" not in str(raised.value)  # never the password
    parse_location("rediss://h/0?ssl_certfile=x&socket_timeout=5")  # these are fine
    parse_location("redis://h/0/?lib_name=app&client_name=worker")


@pytest.mark.parametrize("location", ["redis:/127.0.0.1:6379", "http://h/x", "unix:///tmp/s"])
def test_a_mistyped_url_is_refused_and_never_becomes_a_file(env: Env, location: str) -> None:
    env.write_config(CONFIG)
    result = env.run("--db", location, "enqueue", "hello")
    assert result.returncode == 2 and "not a database location" in result.stderr
    assert result.stdout == "" and not any(env.root.glob("*:*"))


def test_a_url_in_capitals_is_a_url_and_a_folder_named_with_a_colon_holds_a_path(
    env: Env,
) -> None:
    """Beside the mistyped URLs above: what is a URL and what is a path stay as they were."""
    env.write_config(CONFIG)
    upper = env.run("--db", "REDIS://127.0.0.1:1/0", "enqueue", "hello")
    assert upper.returncode == 3 and "cannot reach the server" in upper.stderr
    (env.root / "a:").mkdir(exist_ok=True)  # a folder named `a:` holds a path, not a URL
    assert env.run("--db", "a:/q.db", "enqueue", "hello").returncode == 0


def test_workers_register_again_after_the_server_lost_its_data(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    """A server restarted without persistence (or FLUSHDB) forgets the namespace while its
    workers run on: they register again at their next heartbeat, so `status` opens the
    namespace and shows them, and `health --require-worker` passes."""
    server = start_server(tmp_path / "flushed")
    try:
        env = redis_env
        env.write_config(CONFIG)  # lease 3s: a heartbeat a second
        env.url = server.url("flushed")
        env.enqueue("hello")
        log = env.root / "worker.log"
        worker = spawn(env, log, "run-worker")
        env.wait_for(lambda: "job.succeeded" in log.read_text())
        client = server.client()
        client.flushall()
        client.close()
        env.wait_for(lambda: "worker.registered_again" in log.read_text(), timeout=20)
        status = env.run("status", "--json")
        assert status.returncode == 0, status.stderr
        assert env.run("health", "--require-worker").returncode == 0
        os.killpg(worker.pid, signal.SIGTERM)  # type: ignore[attr-defined]
        assert worker.wait(timeout=30) == 0  # type: ignore[attr-defined]
    finally:
        server.stop()


def test_a_standby_says_when_it_waits_for_the_server_not_for_a_leader(tmp_path: Path) -> None:
    from jobctl.store.redis import RedisStore

    server = start_server(tmp_path / "away")
    store = RedisStore(server.url("away"))
    try:
        lock = store.scheduler_lock()
        assert lock.waiting_for == "another daemon is the leader"
        server.stop()
        assert lock.acquire(timeout=0) is False
        assert lock.waiting_for.startswith("the server cannot be reached")
    finally:
        store.close()
        server.stop()


def test_a_wait_that_times_out_in_an_outage_says_the_store_did_not_answer(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    """It said `job N is still queued`, as if the job were waiting for a worker."""
    server = start_server(tmp_path / "down")
    try:
        env = redis_env
        env.write_config(CONFIG)
        env.url = server.url("down")
        job_id = env.enqueue("hello")
        client = server.client()
        waiting = [
            env.start("wait", str(job_id), "--timeout", "1500ms"),
            env.start("logs", str(job_id), "--follow", "--timeout", "1500ms"),
        ]
        # Both are connected (and polling) before the server goes away.
        env.wait_for(lambda: len(client.client_list()) >= 3)
        client.close()
        server.stop()
        for proc in waiting:
            _, stderr = proc.communicate(timeout=30)
            assert proc.returncode == 124, stderr
            line = stderr.strip().splitlines()[-1]
            assert line.startswith("jobctl: timed out after 1500ms"), line
            assert "the store has not answered for" in line, line
    finally:
        server.stop()


def test_an_id_no_store_can_hold_is_a_usage_error_on_both_stores(
    env: Env, redis_env: RedisEnv
) -> None:
    """SQLite overflowed (exit 2) where Redis answered `no job N` (exit 1). Every command
    that takes an id, on the same two stores."""
    env.write_config(CONFIG)
    env.enqueue("hello")
    redis_env.enqueue("hello")
    huge = str(2**63)
    commands = [
        ["show"],
        ["wait"],
        ["cancel"],
        ["retry"],
        ["logs"],
        ["dead", "show"],
        ["dead", "retry"],
    ]
    for words in commands:
        for sandbox in (env, redis_env):
            result = sandbox.run(*words, huge)
            assert result.returncode == 2, (words, sandbox, result.stderr)
            assert "is too large (at most 9223372036854775807)" in result.stderr, words


def test_a_log_path_written_into_the_store_reads_and_removes_no_other_file(
    redis_env: RedisEnv,
) -> None:
    """Anyone with the server's password can rewrite an attempt's `log_path`: `logs` then
    printed a file only root could read, and `prune` (and a worker's own retention) deleted
    it as root. Only a path with the shape of that attempt's log, below this host's log
    folder, is read or removed now."""
    env = redis_env
    env.write_config(CONFIG)
    job_id = env.enqueue("hello")
    env.run("run-worker", "--burst", check=True)
    precious = env.root / "private" / "precious.key"
    precious.parent.mkdir(mode=0o700)
    precious.write_text("precious\n")
    lookalike = env.root / "other" / f"{job_id // 1000:05d}" / f"{job_id}.1.log"
    lookalike.parent.mkdir(parents=True)
    lookalike.write_text("not this job's log\n")
    with RedisStore(env.url, create=False) as store:
        client, key = store._client, store._key("att", str(job_id), "1")
        assert client.exists(key)
        own = Path(client.hget(key, "log_path"))  # where the worker wrote it
        for planted in (precious, lookalike):
            client.hset(key, mapping={"log_path": str(planted), "host": socket.gethostname()})
            logs = env.run("logs", str(job_id))
            assert planted.read_text() not in logs.stdout, logs
    # The job's own log, where this host keeps it, is read and removed first: gone, the
    # path recorded is looked at, and left, counted as kept (exit 1).
    own.unlink()
    pruned = env.run("prune", "--older-than", "0s")
    assert pruned.returncode == 1 and f"({lookalike} is outside" in pruned.stderr, pruned
    assert precious.exists() and lookalike.exists()


def test_workers_of_a_shared_store_run_no_exec_command_unless_allowed(
    redis_env: RedisEnv, tmp_path: Path
) -> None:
    """Anyone with the server's password could queue an --exec command, which every worker
    ran as its own user (root, for a crontab's replacement) with its environment. On a
    shared store workers run only their config's job types, unless allow_exec = true."""
    env = redis_env
    env.write_config(CONFIG)
    refused = env.run("enqueue", "--exec", "--", "touch", "ran")
    assert refused.returncode == 2 and "allow_exec" in refused.stderr, refused
    # A producer whose own config allows it (or any other Redis client) still can store one:
    allowing = tmp_path / "allowing.toml"
    allowing.write_text("[settings]\nallow_exec = true\n")
    queued = env.run("--config", str(allowing), "enqueue", "--exec", "--", "touch", "ran")
    job_id = int(queued.stdout)
    env.run("run-worker", "--burst", check=True)
    job = env.show(job_id)
    assert job["state"] == "dead" and "allow_exec" in str(job["error"]), job
    assert not (env.root / "ran").exists()
    env.write_config(CONFIG.replace("[settings]\n", "[settings]\nallow_exec = true\n"))
    env.run("dead", "retry", str(job_id), check=True)
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"


def test_prune_dead_purge_and_cancel_free_a_full_server(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    """At its maxmemory a `noeviction` server refuses every write, and `health` says to free
    memory: `prune`, `dead purge` and `cancel` were refused too ("out of memory"), so only
    redis-cli could. They run there now; `metrics`, which only reads, runs too."""
    server = start_server(tmp_path / "full", "--maxmemory-policy", "noeviction")
    try:
        env = redis_env
        env.write_config(CONFIG + '[schedules.nightly]\njob = "hello"\ncron = "0 3 * * *"\n')
        env.url = server.url("full")
        done, dead, waiting = env.enqueue("hello"), env.enqueue("bad"), env.enqueue("slow")
        env.run("cancel", str(waiting), check=True)
        waiting = env.enqueue("slow", "--delay", "1h")
        env.run("run-worker", "--burst", check=True)
        client = server.client()
        client.set("ballast", "x" * 4_000_000)
        client.config_set("maxmemory", "2mb")  # now over the limit
        assert "out of memory" in env.run("enqueue", "hello").stderr
        assert env.run("metrics").returncode == 0
        env.run("cancel", str(waiting), check=True)
        env.run("dead", "purge", "--all", "--yes", check=True)
        env.run("prune", "--older-than", "0s", check=True)
        left = {j["id"] for j in json.loads(env.run("list", "--json", check=True).stdout)}
        assert not left & {done, dead}, left
        client.config_set("maxmemory", "0")
        client.close()
    finally:
        server.stop()


def test_a_plain_url_to_a_port_that_drops_it_suggests_rediss(env: Env) -> None:
    """A TLS port drops the plain text of a redis:// client: "cannot reach the server
    (Connection reset by peer)" said nothing of the URL's scheme."""
    import struct
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def drop_every_client() -> None:  # as a TLS server does with a client's plain text
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            client.recv(1024)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()

    threading.Thread(target=drop_every_client, daemon=True).start()
    try:
        env.write_config(CONFIG)
        result = env.run("--db", f"redis://127.0.0.1:{port}/0", "list")
        assert result.returncode == 3, result.stderr
        assert "if that port speaks TLS, the URL must start with rediss://" in result.stderr
    finally:
        listener.close()
