"""End to end: what jobctl creates is private to its user (directories 0700, files 0600).

Each test runs jobctl with an empty umask, so the modes must come from jobctl itself.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from conftest import Env


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_private_tree(top: Path) -> list[Path]:
    """Every directory under `top` (and itself) is 0700, every file 0600; returns the files."""
    assert mode(top) == 0o700, top
    files = []
    for path in top.rglob("*"):
        if path.is_dir():
            assert mode(path) == 0o700, path
        else:
            assert mode(path) == 0o600, path
            files.append(path)
    return files


def test_database_and_its_directories_are_private(env: Env) -> None:
    env.write_config('[jobs.quick]\ncommand = ["true"]\n')
    # The default location: every folder down to it is made (see test_db_files).
    state = Path(env.env["XDG_STATE_HOME"])
    env.db = state / "jobctl" / "jobctl.db"
    root_mode = mode(env.root)
    with umask(0):
        job_id = env.enqueue("quick")
        worker = env.start("run-worker")
    try:
        assert env.run("wait", str(job_id), "--timeout", "30s").returncode == 0
        # While the worker runs: the database, its WAL and shared memory, the lock, the
        # wake-up directory and its socket.
        for directory in (state.parent, state, state / "jobctl"):
            assert mode(directory) == 0o700, directory
        assert mode(env.db) == 0o600
        siblings = {p.name: p for p in env.db.parent.iterdir()}
        for name in ("jobctl.db-wal", "jobctl.db-shm", "jobctl.db.lock"):
            assert name in siblings, sorted(siblings)
            assert mode(siblings[name]) == 0o600, name
        wake = env.db.parent / "jobctl.db.wake"
        assert mode(wake) == 0o700
        sockets = list(wake.iterdir())
        assert sockets
        for sock in sockets:
            assert stat.S_ISSOCK(sock.lstat().st_mode)
            assert mode(sock) & 0o077 == 0, oct(mode(sock))
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0
    assert mode(env.root) == root_mode  # an existing directory is left as it is
    for path in env.db.parent.iterdir():
        if path.is_dir():
            assert mode(path) == 0o700, path
        elif not stat.S_ISSOCK(path.lstat().st_mode):
            assert mode(path) == 0o600, path


def test_attempt_logs_are_private(env: Env) -> None:
    env.write_config('[jobs.talk]\ncommand = ["sh", "-c", "echo out; echo err >&2"]\n')
    with umask(0):
        job_id = env.enqueue("talk")
        assert env.run("run-worker", "--burst").returncode == 0
    job = env.show(job_id)
    assert job["state"] == "succeeded"
    (attempt,) = job["attempts_history"]  # type: ignore[misc]
    log = Path(attempt["log_path"])
    logs = env.root / "q.db.logs"
    assert log.is_relative_to(logs)
    assert assert_private_tree(logs) == [log]
    assert log.read_text() == "out\nerr\n"


def test_configured_log_dir_is_created_private(env: Env) -> None:
    env.write_config(
        '[settings]\nlog_dir = "var/log/jobs"\n\n[jobs.talk]\ncommand = ["echo", "hi"]\n'
    )
    (env.root / "var" / "log").mkdir(mode=0o700, parents=True)  # its parent: never made
    (env.root / "var").chmod(0o700)
    with umask(0):
        ids = [env.enqueue("talk") for _ in range(2)]
        assert env.run("run-worker", "--burst").returncode == 0
    var = env.root / "var"  # relative to the config file's directory
    files = assert_private_tree(var)
    expected = {Path(env.show(i)["attempts_history"][0]["log_path"]) for i in ids}  # type: ignore[index]
    assert set(files) == expected
    assert all(path.is_relative_to(var / "log" / "jobs") for path in files)
    assert not (env.root / "q.db.logs").exists()


def test_a_log_folder_given_to_a_group_shares_the_logs_made_in_it(env: Env) -> None:
    """An admin shares the logs with a group by giving it the log folder, readable and
    set-group-ID (`chgrp adm DIR && chmod 2750 DIR`): the folders and logs jobctl makes in
    it are then that group's to read, never to write, whatever the umask."""
    gid = 54321 if os.geteuid() == 0 else os.getgid()  # root may give any group
    logs = env.root / "q.db.logs"
    logs.mkdir()
    os.chown(logs, -1, gid)
    logs.chmod(0o2750)
    env.write_config('[jobs.talk]\ncommand = ["sh", "-c", "echo out; echo err >&2"]\n')
    with umask(0o077):
        job_id = env.enqueue("talk")
        assert env.run("run-worker", "--burst").returncode == 0
    (attempt,) = env.show(job_id)["attempts_history"]  # type: ignore[misc]
    log = Path(attempt["log_path"])
    assert log.read_text() == "out\nerr\n"
    folder = log.parent
    assert folder.parent == logs
    assert (mode(folder), folder.stat().st_gid) == (0o2750, gid)
    assert (mode(log), log.stat().st_gid) == (0o640, gid)
    assert mode(logs) == 0o2750  # the admin's folder itself is left as it is
    assert env.run("logs", str(job_id), check=True).stdout == "out\nerr\n"


def test_a_log_folder_readable_by_a_group_but_not_set_group_id_stays_private(env: Env) -> None:
    """Without the set-group-ID bit, what is made in the folder would be the worker's own
    group's, which may have other members: its logs stay private."""
    logs = env.root / "q.db.logs"
    logs.mkdir()
    logs.chmod(0o750)
    env.write_config('[jobs.talk]\ncommand = ["echo", "hi"]\n')
    with umask(0):
        job_id = env.enqueue("talk")
        assert env.run("run-worker", "--burst").returncode == 0
    log = Path(env.show(job_id)["attempts_history"][0]["log_path"])  # type: ignore[index]
    assert (mode(log.parent), mode(log)) == (0o700, 0o600)
