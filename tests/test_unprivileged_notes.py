"""What a user other than root is told of what only another user, or root, could do: a cron
daemon of another user's that a reload cannot signal, a hooks scratch folder the worker
leaves behind, and the `validate` warnings of a log folder, a `cwd` or a `group` that such a
worker could not use.

Tests that need jobctl to run as another user run it as uid OTHER through `setpriv`, as
test_hostile_ownership does (skipped when the suite does not run as root or lacks it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaoslib import one_error_line
from conftest import Env
from redis_server import RedisEnv
from test_hostile_ownership import OTHER, ROOT, user_environ, user_python

from jobctl.fsutil import login_name

__all__ = ["user_python"]  # a fixture the tests below take

DAEMON_CONFIG = """
[jobs.tick]
command = ["true"]

[schedules.hourly]
job = "tick"
cron = "@hourly"
"""


@pytest.fixture
def readable_dir(user_python: list[str] | None) -> Iterator[Path]:
    """A folder of root's that uid OTHER can read (the test's own tmp_path is closed)."""
    if not ROOT or not user_python:
        pytest.skip("needs root, setpriv and an interpreter uid 1001 can run")
    top = Path(tempfile.mkdtemp(prefix="jobctl-unprivileged-"))
    try:
        top.chmod(0o755)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_other(
    user_python: list[str] | None, top: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS...` run as uid OTHER in `top`."""
    assert user_python
    return subprocess.run(
        [*user_python, "-m", "jobctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=user_environ(None),
        cwd=top,
    )


def test_reload_names_the_leader_of_another_user_it_cannot_signal(
    redis_env: RedisEnv, user_python: list[str] | None, readable_dir: Path
) -> None:
    """The leading daemon on this host is root's: a reload by another user cannot signal it.
    It said no daemon led on this host, and exited 0, while the leader read nothing."""
    assert user_python
    probe = subprocess.run(
        [*user_python, "-c", "import redis"],
        capture_output=True,
        timeout=60,
        env=user_environ(None),
    )
    if probe.returncode != 0:  # a system interpreter older than the venv's lacks a backport
        pytest.skip("the interpreter uid 1001 can run cannot import redis from the venv")
    env = redis_env
    env.write_config(DAEMON_CONFIG)
    daemon = env.start("schedule-daemon")

    def leads() -> bool:
        status = env.run("status", "--json")  # exit 3 until the daemon makes the namespace
        workers = json.loads(status.stdout)["workers"] if status.returncode == 0 else []
        return any(w["kind"] == "scheduler" for w in workers)

    env.wait_for(leads, timeout=30)
    config = readable_dir / "jobs.toml"
    config.write_text(DAEMON_CONFIG)
    config.chmod(0o644)
    result = as_other(user_python, readable_dir, "--config", str(config), "--db", env.url, "reload")
    line = one_error_line(result, 1, f"pid {daemon.pid} of root", "run jobctl reload as root")
    assert "no cron daemon leads" not in line
    assert daemon.poll() is None


def test_a_worker_leaves_no_hooks_scratch_folder_behind(env: Env) -> None:
    """A hook whose hooks folder is refused writes its output in a scratch folder of the
    temp folder, for its event line alone. Each worker run left an empty one there, for good."""
    temp = env.root / "tmp"
    temp.mkdir()
    env.env["TMPDIR"] = str(temp)
    env.write_config(
        "[settings]\non_failure = 'echo hook ran'\n"
        '[jobs.fail]\ncommand = ["false"]\nmax_attempts = 2\nbackoff = "10ms"\n'
    )
    env.enqueue("fail")
    env.enqueue("fail")
    (env.root / "q.db.logs").mkdir(mode=0o700, exist_ok=True)
    hooks = env.root / "q.db.logs" / "hooks"
    hooks.mkdir()
    hooks.chmod(0o777)  # writable by others: refused
    result = env.run("--log-format", "json", "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    ran = [line for line in result.stderr.splitlines() if '"hook.succeeded"' in line]
    assert len(ran) == 4 and all("hook ran" in line and "no_log" in line for line in ran), ran
    assert list(temp.iterdir()) == []


def validate_as_other(
    user_python: list[str], top: Path, config: str, *, groups: str = "--clear-groups"
) -> list[str]:
    """The warnings of `jobctl validate` run as uid OTHER (with `groups` of setpriv), which
    must find the config valid."""
    (top / "jobs.toml").write_text(config)
    (top / "jobs.toml").chmod(0o644)
    python = [groups if word == "--clear-groups" else word for word in user_python]
    db = top / "q.db"
    result = as_other(python, top, "--config", str(top / "jobs.toml"), "--db", str(db), "validate")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("jobctl: warning: ") for line in lines), lines
    return lines


def own_logs(top: Path) -> str:
    """A [settings] table naming a log folder uid OTHER may use."""
    logs = top / "own-logs"
    logs.mkdir(mode=0o700)
    os.chown(logs, OTHER, OTHER)
    return f'[settings]\nlog_dir = "{logs}"\n'


def test_validate_warns_of_a_log_folder_this_user_cannot_make(
    user_python: list[str], readable_dir: Path
) -> None:
    """`validate` said ok, and the worker stopped at its start with "Permission denied"."""
    me = login_name(OTHER) or f"uid {OTHER}"
    job = '[jobs.t]\ncommand = ["true"]\n'
    [line] = validate_as_other(
        user_python, readable_dir, f'[settings]\nlog_dir = "{readable_dir}/logs"\n{job}'
    )
    assert line.endswith(
        f"[settings] log_dir: log folder {readable_dir}/logs cannot be made:"
        f" {readable_dir} is not writable by {me}: workers would not start here"
    ), line
    assert validate_as_other(user_python, readable_dir, own_logs(readable_dir) + job) == []


def test_validate_warns_of_a_cwd_this_user_cannot_reach_or_enter(
    user_python: list[str], readable_dir: Path
) -> None:
    """A cwd of root's 0700 folder got no warning (its jobs failed with exit 126), and one
    below it was said to be no folder."""
    me = login_name(OTHER) or f"uid {OTHER}"
    shut = readable_dir / "shut"
    (shut / "inner").mkdir(parents=True)
    shut.chmod(0o700)
    (readable_dir / "open").mkdir()
    config = own_logs(readable_dir) + "".join(
        f'[jobs.{name}]\ncommand = ["true"]\ncwd = "{folder}"\n'
        for name, folder in (("entered", shut), ("reached", shut / "inner"))
    )
    config += f'[jobs.fine]\ncommand = ["true"]\ncwd = "{readable_dir / "open"}"\n'
    entered, reached = validate_as_other(user_python, readable_dir, config)
    assert f"[jobs.entered] cwd: '{shut}' cannot be entered by {me} (permission denied:" in entered
    assert f"'{shut / 'inner'}' cannot be reached by {me} (permission denied: {shut} is" in reached
    assert "not a folder" not in reached


def test_validate_warns_of_a_group_a_worker_of_this_user_cannot_switch_to(
    user_python: list[str], readable_dir: Path
) -> None:
    """It warned of a `user` only; a job of another `group` failed with a bare "Operation
    not permitted", even a group its user is a member of."""
    config = own_logs(readable_dir) + (
        f'[jobs.other]\ncommand = ["id"]\ngroup = "0"\n'
        f'[jobs.own]\ncommand = ["id"]\ngroup = "{OTHER}"\n'
    )
    [line] = validate_as_other(user_python, readable_dir, config)
    assert "[jobs.other] group: runs as group '0': only a worker running as root may" in line
    assert "supplementary" not in line
    [line] = validate_as_other(user_python, readable_dir, config, groups="--groups=0")
    me = login_name(OTHER) or f"uid {OTHER}"
    assert f"; 0 is only a supplementary group of {me};" in line
