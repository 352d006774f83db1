"""A stop signal that comes while a one-shot command's change is being committed: Python runs
its handler once SQLite has returned, the change made. It ended the command at once (130)
with no word of what it had stored, and a script that retries after a 130 enqueued the job
twice. Each command here runs as a real jobctl process whose commits are each followed at
once by a SIGINT to itself, as a Ctrl-C that came during the commit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import Env

CONFIG = '[jobs.ok]\ncommand = ["true"]\n[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n'

INTERRUPTED_AT_COMMIT = """\
import os, signal, sys
import jobctl.store.sqlite.connection as connection
commit = connection.SqliteBase._commit
def commit_then_interrupted(self, conn):
    commit(self, conn)
    os.kill(os.getpid(), signal.SIGINT)
connection.SqliteBase._commit = commit_then_interrupted
sys.argv = ["jobctl", *sys.argv[1:]]
from jobctl.cli.entry import main
main()
"""


def interrupted_at_commit(env: Env, *args: str, input: str | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_AT_COMMIT, *env.global_args(), *args],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env.env,
        cwd=env.root,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr.strip()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["enqueue", "ok"], "jobctl: interrupted: job 4 was queued"),
        (
            ["enqueue", "--batch", "-"],
            "jobctl: interrupted: 2 job(s) were queued, ids 4 to 5, but not all their ids"
            " were printed",
        ),
        (["retry", "2"], "jobctl: interrupted: job 4 was queued"),
        (["cancel", "3"], "jobctl: interrupted: 1 job(s) were cancelled"),
        (["edit", "3", "--priority", "5"], "jobctl: interrupted: 1 job(s) were edited"),
        (["dead", "retry", "2"], "jobctl: interrupted: 1 dead job(s) were retried"),
        (["pause", "default"], "jobctl: interrupted: queue default was paused"),
    ],
)
def test_a_change_a_stop_signal_came_during_is_said(env: Env, args: list[str], said: str) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok")
    env.enqueue("bad")
    env.run("run-worker", "--burst", check=True)  # 1 succeeded, 2 dead
    env.enqueue("ok", "--delay", "1h")  # 3, to cancel or edit
    batch = '{"job": "ok"}\n{"job": "ok"}\n' if "--batch" in args else None
    code, stderr = interrupted_at_commit(env, *args, input=batch)
    assert (code, stderr) == (130, said)
    jobs = {job["id"]: job for job in json.loads(env.run("list", "--json", check=True).stdout)}
    if args[0] in ("enqueue", "retry"):
        assert max(jobs) == (5 if "--batch" in args else 4)
