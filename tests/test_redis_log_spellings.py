"""One Redis server named two ways (`127.0.0.1` and `localhost`): the log folder is named
after the spelling, so a worker given one writes its logs where a command given the other
does not look. Its logs are found, read and removed all the same, by `logs`, `show`,
`prune`, `dead purge` and a worker's retention; a log a prune may not remove (recorded
outside this user's log folders) is counted as kept, and `logs` names the path recorded.

Each test runs the real commands in subprocesses against the session's redis-server
(tests/redis_server.py), in a namespace of its own.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from redis_server import RedisEnv

from jobctl.logfiles import trusted

CONFIG = """
[jobs.greet]
command = ["echo", "hello, {name}"]

[jobs.fail]
command = ["sh", "-c", "echo dying; exit 3"]
max_attempts = 1
"""


def _other_spelling(url: str) -> str:
    assert "@127.0.0.1:" in url or "//127.0.0.1:" in url, url
    return url.replace("127.0.0.1", "localhost", 1)


def _run_log(env: RedisEnv, job_id: int) -> Path:
    """The log path the job's one attempt recorded, as `show --json` gives it."""
    shown = env.show(job_id)
    attempts = shown["attempts_history"]
    assert isinstance(attempts, list) and len(attempts) == 1, shown
    return Path(attempts[0]["log_path"])


def test_logs_show_and_prune_find_a_log_written_under_another_spelling(
    redis_env: RedisEnv,
) -> None:
    """`logs` said the log was gone (exit 1), and `prune` deleted the job, said `removed 0
    log file(s)` and exited 0, leaving the log where no later prune would find it."""
    env = redis_env
    env.write_config(CONFIG)
    job_id = env.enqueue("greet", "--arg", "name=Ada")
    env.run("run-worker", "--burst", check=True)
    log = _run_log(env, job_id)
    assert log.is_file() and "127.0.0.1" in log.parent.parent.name

    env.url = _other_spelling(env.url)
    logs = env.run("logs", str(job_id))
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "hello, Ada\n", "")
    assert str(log) in env.run("show", str(job_id), check=True).stdout
    pruned = env.run("prune", "--older-than", "0", "--yes")
    assert pruned.returncode == 0, pruned.stderr
    assert "pruned 1 job(s), removed 1 log file(s)" in pruned.stdout + pruned.stderr
    assert not log.exists()


def test_dead_purge_removes_a_log_written_under_another_spelling(redis_env: RedisEnv) -> None:
    env = redis_env
    env.write_config(CONFIG)
    job_id = env.enqueue("fail")
    env.run("run-worker", "--burst", check=True)
    log = _run_log(env, job_id)
    assert log.read_text() == "dying\n"

    env.url = _other_spelling(env.url)
    tail = json.loads(env.run("dead", "show", str(job_id), "--json", check=True).stdout)
    assert tail["attempts_history"][0]["log_tail"] == "dying"
    purged = env.run("dead", "purge", "--all", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert not log.exists()


def test_a_workers_retention_removes_logs_written_under_another_spelling(
    redis_env: RedisEnv,
) -> None:
    env = redis_env
    env.write_config(CONFIG)
    job_id = env.enqueue("greet", "--arg", "name=Bo")
    env.run("run-worker", "--burst", check=True)
    log = _run_log(env, job_id)

    env.url = _other_spelling(env.url)
    env.write_config('[settings]\nkeep_succeeded = "100ms"\n' + CONFIG)
    ended = time.time()  # (after the job's end)
    env.wait_for(lambda: time.time() > ended + 0.2)  # past keep_succeeded
    worker = env.run("run-worker", "--burst", check=True)
    assert "jobs.pruned" in worker.stderr, worker.stderr
    assert "jobs.logs_kept" not in worker.stderr, worker.stderr
    assert env.run("show", str(job_id)).returncode != 0  # deleted
    assert not log.exists()


def test_a_prune_counts_a_log_recorded_outside_this_users_log_folders_as_kept(
    redis_env: RedisEnv,
) -> None:
    """A log a shared store recorded outside this host's log folders (a worker's own
    log_dir) is never removed, as the store's records are not trusted with any file: it is
    said, with the path `logs` names, and the prune exits 1 rather than 0 in silence."""
    env = redis_env
    elsewhere = env.root / "worker-logs"
    elsewhere.mkdir(mode=0o700)
    env.write_config(f'[settings]\nlog_dir = "{elsewhere}"\n' + CONFIG)
    job_id = env.enqueue("greet", "--arg", "name=Cy")
    env.run("run-worker", "--burst", check=True)
    log = _run_log(env, job_id)
    assert log.parent.parent == elsewhere and log.is_file()

    env.write_config(CONFIG)  # this host's log folder is the server's
    logs = env.run("logs", str(job_id))
    assert logs.returncode == 1 and logs.stdout == "hello, Cy\n"
    assert f"the path its worker recorded, {log}, is outside this host's log folders" in (
        logs.stderr
    )
    pruned = env.run("prune", "--older-than", "0", "--yes")
    assert pruned.returncode == 1, pruned.stderr
    assert "pruned 1 job(s)" in pruned.stdout + pruned.stderr
    assert (
        f"jobctl: could not remove 1 log file(s) of the jobs deleted ({log} is outside this"
        " host's log folders" in pruned.stderr
    )
    assert log.is_file()  # kept, not trusted


def test_a_shared_stores_log_path_is_trusted_only_in_a_server_folder_of_this_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another spelling's folder is trusted, and no path that only names this user's log
    root on its way elsewhere: a shared store's records are not to delete any file."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    root = tmp_path / "jobctl" / "logs"
    mine = root / "127.0.0.1_6379_0"
    assert trusted(f"{mine}/00000/1.1.log", {1}, mine, True)
    assert trusted(f"{root}/localhost_6379_0/00000/1.1.log", {1}, mine, True)
    for path in (
        f"{root}/00000/1.1.log",
        f"{root}/./00000/1.1.log",
        f"{root}/../00000/1.1.log",
        f"{root}/a/b/00000/1.1.log",
        f"{root}/../logs/a/00000/1.1.log",
        f"{tmp_path}/other/00000/1.1.log",
        f"{root}/localhost_6379_0/00000/2.1.log",  # another job's
    ):
        assert not trusted(path, {1}, mine, True), path
