"""`prune`, `dead purge` and `dead retry` where deleting goes wrong part of the way: a disk
that fills between batches, log files that cannot be removed, a job run after one pruned."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Env, small_file_system
from test_ops_support import wait_state

from jobctl.models import NewJob
from jobctl.store.sqlite import SqliteStore

_JOBS = '[jobs.ok]\ncommand = ["true"]\n'
_BACKLOG = 20_000


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of _BACKLOG jobs cancelled an hour ago, made once for the module (the
    cancel of 20,000 jobs is most of its cost): each test prunes a copy of its own."""
    db = tmp_path_factory.mktemp("backlog") / "q.db"
    with SqliteStore(db) as store:
        at = time.time() - 3600
        made = store.enqueue(
            [NewJob(job="ok", payload={"i": i, "pad": "x" * 100}) for i in range(_BACKLOG)], at
        )
        store.cancel([r.id for r in made], at)
    return db


def _backlog_and_room(env: Env, backlog: Path, room: int) -> tuple[Path, int]:
    """The sandbox's database made with _BACKLOG jobs cancelled an hour ago, and where to
    mount a file system for its copy with `room` bytes free beside it (less than SQLite's
    automatic checkpoint lets its -wal grow to), with that file system's size."""
    env.write_config(_JOBS)
    shutil.copy(backlog, env.db)
    size = env.db.stat().st_size
    small = env.root / "small"
    return small, size + room


def test_prune_on_a_nearly_full_disk_deletes_every_job(env: Env, backlog: Path) -> None:
    """Its -wal grew by 4 MiB before SQLite's own checkpoint: on a disk with less free,
    the one state an admin prunes in, it stopped after 2,000 of 20,000 jobs, every run."""
    small, size = _backlog_and_room(env, backlog, 1000 << 10)
    with small_file_system(small, f"size={size}"):
        shutil.copy(env.db, small / "q.db")
        env.db = small / "q.db"
        result = env.run("prune", "--older-than", "0s", "--json")
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["pruned"]) == _BACKLOG


def test_prune_stopped_by_a_full_disk_prints_the_jobs_it_deleted(env: Env, backlog: Path) -> None:
    """A prune whose later batch found the disk full said only "the disk is full", with
    nothing on stdout even with --json: the jobs its first batches deleted went unsaid."""
    small, size = _backlog_and_room(env, backlog, 1000 << 10)
    with small_file_system(small, f"size={size}"):
        shutil.copy(env.db, small / "q.db")
        env.db = small / "q.db"
        # A reader's snapshot keeps the -wal from being written over: it grows to the disk.
        reader = sqlite3.connect(env.db, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchone()
        try:
            result = env.run("prune", "--older-than", "0s", "--json")
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        assert result.returncode == 3
        pruned = json.loads(result.stdout)["pruned"]
        assert 0 < len(pruned) < _BACKLOG
        assert result.stderr == (
            f"jobctl: deleted {len(pruned)} job(s) before the disk filled\n"
            f"jobctl: database {env.db}: the disk is full\n"
        )
        with SqliteStore(env.db, create=False) as store:
            assert not store.get_many(pruned)
            assert len(store.get_many(range(1, _BACKLOG + 1))) == _BACKLOG - len(pruned)


def test_prune_says_which_logs_it_could_not_remove(env: Env) -> None:
    """Every unlink failing on a read-only log folder was "removed 0 log file(s)", exit 0:
    the jobs' records gone, nothing would ever find those logs again."""
    logs = env.root / "logs"
    env.write_config('[settings]\nlog_dir = "logs"\n[jobs.echo]\ncommand = ["echo", "hi"]\n')
    with small_file_system(logs, "size=1m"):
        ids = [int(env.run("enqueue", "echo", check=True).stdout) for _ in range(3)]
        env.run("run-worker", "--burst", check=True)
        for job_id in ids:
            wait_state(env, job_id, "succeeded")
        subprocess.run(["mount", "-o", "remount,ro", str(logs)], check=True)
        try:
            result = env.run("prune", "--older-than", "0s", "--json")
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(logs)], check=True)
        assert result.returncode == 1
        assert json.loads(result.stdout) == {"pruned": ids, "logs_removed": 0, "not_pruned": []}
        assert result.stderr == (
            "jobctl: could not remove 3 log file(s) of the jobs deleted (read-only file system)\n"
        )


def test_dead_retry_does_not_say_a_pruned_job_failed(env: Env) -> None:
    """A job run after one that succeeded, then was pruned by retention, was refused as
    running after a job "deleted before it succeeded"."""
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n'
        '[jobs.gate]\ncommand = ["sh", "-c", "test -e go"]\nmax_attempts = 1\n'
    )
    first = int(env.run("enqueue", "ok", check=True).stdout)
    gate = int(env.run("enqueue", "gate", check=True).stdout)
    last = int(env.run("enqueue", "ok", "--after", f"{first},{gate}", check=True).stdout)
    env.run("run-worker", "--burst", check=True)
    wait_state(env, last, "dead")
    env.run("prune", "--older-than", "0s", "--state", "succeeded", check=True)
    (env.root / "go").touch()
    env.run("dead", "retry", str(gate), check=True)
    refused = env.run("dead", "retry", str(last))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"jobctl: job {last} runs after job {first}, which is gone (deleted; whether it"
        " succeeded is not known); not retried\n"
    )


def test_a_workers_own_prune_says_which_logs_it_could_not_remove(env: Env) -> None:
    """Retention deleted the jobs and kept their logs on a read-only folder without a word."""
    logs = env.root / "logs"
    env.write_config(
        '[settings]\nlog_dir = "logs"\nkeep_succeeded = "1s"\n'
        '[jobs.echo]\ncommand = ["echo", "hi"]\n'
    )
    with small_file_system(logs, "size=1m"):
        ids = [int(env.run("enqueue", "echo", check=True).stdout) for _ in range(3)]
        env.run("run-worker", "--burst", check=True)
        for job_id in ids:
            wait_state(env, job_id, "succeeded")
        time.sleep(1.1)  # past keep_succeeded, on the wall clock retention counts on
        subprocess.run(["mount", "-o", "remount,ro", str(logs)], check=True)
        try:
            worker = env.start("run-worker")
            env.wait_for(lambda: not json.loads(env.run("list", "--json").stdout), timeout=30)
            # Stopped before the folder is writable again: the jobs are gone once the
            # prune's delete commits, and their logs are removed just after, which under
            # load came after a remount here (the logs then went, without a word to check).
            # The worker takes the signal once that step is done.
            worker.terminate()
            _, err = worker.communicate(timeout=20)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(logs)], check=True)
    assert "jobs.logs_kept" in err, err.replace("\n", " | ")[:3000]
    assert "could not remove the log files of jobs pruned (read-only file system)" in err
