"""What jobctl says of the processes it looks at and of the limits they meet, through the
real CLI: the cron daemons `reload` finds, the open files limit, the stop signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from conftest import Env

SCHEDULE = """
[jobs.tick]
command = ["true"]

[schedules.yearly]
job = "tick"
cron = "0 0 1 1 *"
"""


def _start_daemon(env: Env, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`up` started by a command line of the caller's, its log kept in `log`."""
    with log.open("w") as sink:
        daemon = subprocess.Popen(
            [*argv, *env.global_args(), "up"],
            stdout=sink,
            stderr=sink,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=30)
    return daemon


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0


def _script(folder: Path, name: str) -> Path:
    """jobctl's console script, as pip writes it, under `name`."""
    script = folder / name
    script.write_text(f"#!{sys.executable}\nfrom jobctl.cli.entry import main\nmain()\n")
    script.chmod(0o755)
    return script


def test_reload_reaches_a_daemon_started_with_interpreter_options_or_through_a_link(
    env: Env,
) -> None:
    """`python -u -m jobctl up` (a container's CMD) and a link to the script under another
    name went unrecognised: reload said "no cron daemon leads on this host", exit 0, and
    the schedules were not re-read."""
    env.write_config(SCHEDULE)
    link = env.root / "jc"
    link.symlink_to(_script(env.root, "jobctl"))
    for number, argv in enumerate(([sys.executable, "-u", "-m", "jobctl"], [str(link)])):
        log = env.root / f"up{number}.log"
        daemon = _start_daemon(env, argv, log)
        try:
            result = env.run("reload")
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith("reload sent to 1 daemon(s)"), result.stdout
            env.wait_for(lambda log=log: "scheduler.reloaded" in log.read_text(), timeout=30)
        finally:
            _stop(daemon)


def test_reload_says_a_leader_it_cannot_identify_and_fails(env: Env) -> None:
    """A daemon started by a copy of the script under another name leads, yet reload said
    "no cron daemon leads on this host" and exit 0: it names the process, sends it nothing
    and exits 1."""
    env.write_config(SCHEDULE)
    log = env.root / "up.log"
    daemon = _start_daemon(env, [str(_script(env.root, "cron-runner"))], log)
    try:
        result = env.run("reload")
        assert result.returncode == 1, result
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith(
            f"jobctl: the cron daemon record of this host for database {env.db} names pid"
            f" {daemon.pid} ("
        ), line
        assert "cron-runner" in line and f"kill -HUP {daemon.pid}" in line, line
        assert "no cron daemon leads" not in line
        assert daemon.poll() is None
        assert "scheduler.reloaded" not in log.read_text()
    finally:
        _stop(daemon)
