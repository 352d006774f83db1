"""What a user other than root is told of what only another user, or root, could do: a cron
daemon of another user's that a reload cannot signal, a hooks scratch folder the worker
leaves behind, and the `validate` warnings of a log folder, a `cwd` or a `group` that such a
worker could not use.

Tests that need jobctl to run as another user run it as uid OTHER through `setpriv`, as
test_hostile_ownership does (skipped when the suite does not run as root or lacks it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaoslib import one_error_line
from conftest import Env
from redis_server import RedisEnv
from test_hostile_ownership import ROOT, user_environ, user_python

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
