"""A worker started without a config takes the first one written where it looked, and
`jobctl reload` makes workers take an edit at once (jobctl.reloads, the worker's loop)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from conftest import JOBCTL, Env

_HELLO = """[jobs.hello]
command = ["sh", "-c", 'echo "hello $1" >> "$2"', "sh", "{{name}}", "{marker}"]
max_attempts = 1
"""


def _start_logged(
    env: Env, log: Path, *args: str, options: list[str] | None = None
) -> subprocess.Popen[str]:
    """`jobctl --db D ARGS...` in the background with its event lines in `log`, read while it
    runs; started before any config exists, it is given no --config. `options`: the global
    options instead of the sandbox's --db."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*JOBCTL, *(env.global_args() if options is None else options), *args],
            stdout=subprocess.DEVNULL,
            stderr=out,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(proc)
    return proc


def _lines(log: Path, event: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f" {event} " in line]


def _stop(worker: subprocess.Popen[str]) -> None:
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    assert worker.returncode == 0


def test_a_worker_without_a_config_takes_the_first_written_at_the_xdg_path(env: Env) -> None:
    """Its job types went dead as unknown ("not defined in any config", though enqueue had
    just read them), and its queue limits were ignored: it never looked for a file."""
    log, marker = env.root / "worker.log", env.root / "ran"
    worker = _start_logged(env, log, "run-worker", "-n", "4")
    env.run("wait", str(env.enqueue("--exec", "--", "true")), "--timeout", "30s", check=True)
    user_config = Path(env.env["XDG_CONFIG_HOME"]) / "jobctl" / "jobs.toml"
    user_config.parent.mkdir(parents=True, mode=0o700)
    user_config.write_text("[queues.net]\nmax_running = 1\n\n" + _HELLO.format(marker=marker))
    hello = env.enqueue("hello", "--arg", "name=Ada")
    env.run("wait", str(hello), "--timeout", "30s", check=True)
    assert marker.read_text() == "hello Ada\n"
    # Two at once in queue net: the second finds the folder made and fails (one attempt).
    alone = "mkdir net.lock || exit 7; sleep 0.3; rmdir net.lock"
    env.run("pause", "net", check=True)
    ids = [
        str(env.enqueue("--exec", "-q", "net", "--max-attempts", "1", "--", "sh", "-c", alone))
        for _ in range(3)
    ]
    env.run("resume", "net", check=True)
    env.run("wait", *ids, "--timeout", "30s", check=True)
    _stop(worker)
    assert len(_lines(log, "worker.reloaded")) == 1, log.read_text()
    assert not _lines(log, "worker.reload_failed"), log.read_text()


def test_sighup_looks_for_a_config_refuses_a_broken_one_and_takes_it_fixed(env: Env) -> None:
    """SIGHUP left no line at all in the log of a worker started without a config."""
    log, marker = env.root / "worker.log", env.root / "ran"
    worker = _start_logged(env, log, "run-worker")
    env.run("wait", str(env.enqueue("--exec", "--", "true")), "--timeout", "30s", check=True)

    worker.send_signal(signal.SIGHUP)  # nothing to find yet: said, and it runs on
    env.wait_for(lambda: _lines(log, "worker.reload_failed"))
    (nothing,) = _lines(log, "worker.reload_failed")
    assert " WARNING " in nothing and "no config found" in nothing, nothing

    env.config.write_text("[jobs.hello\n")  # ./jobs.toml, broken
    worker.send_signal(signal.SIGHUP)
    env.wait_for(lambda: len(_lines(log, "worker.reload_failed")) == 2)
    broken = _lines(log, "worker.reload_failed")[1]
    assert " ERROR " in broken and "jobs.toml" in broken and "keeping" in broken, broken

    env.config.write_text(_HELLO.format(marker=marker))
    worker.send_signal(signal.SIGHUP)
    env.wait_for(lambda: _lines(log, "worker.reloaded"))
    hello = env.enqueue("hello", "--arg", "name=Ada")
    env.run("wait", str(hello), "--timeout", "30s", check=True)
    _stop(worker)
    assert marker.read_text() == "hello Ada\n"
    assert len(_lines(log, "worker.reload_failed")) == 2, log.read_text()


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request: pytest.FixtureRequest, env: Env) -> Env:
    if request.param == "redis":
        return request.getfixturevalue("redis_env")  # type: ignore[no-any-return]
    return env


def test_reload_wakes_a_worker_that_then_fills_a_raised_max_running_at_once(
    store_env: Env,
) -> None:
    """With the default lease (30 s) the worker read the raised limit at its next regular
    pass, some 10 s later, and `reload` woke no one (on Redis until the wake went to the
    server's channel)."""
    env = store_env
    allow = "[settings]\nallow_exec = true\n"  # a shared store runs commands only if told
    env.write_config(f"{allow}[queues.build]\nmax_running = 1\n")
    worker = env.start("run-worker", "-n", "4")
    started = env.root / "started"
    started.mkdir()
    ids = [
        str(
            env.enqueue(
                *("--exec", "-q", "build", "--max-attempts", "1", "--"),
                *("sh", "-c", 'touch "$0"; sleep 60', str(started / str(n))),
            )
        )
        for n in range(3)
    ]
    env.wait_for(lambda: len(list(started.iterdir())) == 1)
    env.write_config(f"{allow}[queues.build]\nmax_running = 3\n")
    try:
        reloaded = env.run("reload", check=True)
        env.wait_for(lambda: len(list(started.iterdir())) == 3, timeout=1.0, interval=0.01)
    finally:
        env.run("cancel", *ids, check=True)
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert reloaded.stdout == (
        "no cron daemon leads on this host: woke its 1 worker(s), which read the changed"
        " config now (standby daemons read it on taking over)\n"
    )
    assert "worker.reloaded" in err, err


def test_a_config_found_after_start_is_given_to_the_jobs_and_hooks(env: Env) -> None:
    """Its jobs and hooks got no JOBCTL_CONFIG (a worker started with the file gives them its
    path): a job that chains `jobctl enqueue` from its own folder found no config there."""
    log, seen = env.root / "worker.log", env.root / "seen"
    seen.mkdir()
    worker = _start_logged(env, log, "run-worker")
    env.run("wait", str(env.enqueue("--exec", "--", "true")), "--timeout", "30s", check=True)
    job = 'echo "$JOBCTL_CONFIG" > "$0/job"; exit 1'
    hook = 'echo "$JOBCTL_CONFIG" > "$0/$JOBCTL_EVENT"'
    env.write_config(
        f'[jobs.chain]\ncommand = ["sh", "-c", {job!r}, "{seen}"]\ncwd = "/"\n'
        f'max_attempts = 1\non_dead = ["sh", "-c", {hook!r}, "{seen}"]\n'
    )
    env.enqueue("chain")
    env.wait_for(lambda: (seen / "dead").exists())
    _stop(worker)
    assert " worker.reloaded " in log.read_text()
    assert (seen / "job").read_text() == f"{env.config}\n"
    assert (seen / "dead").read_text() == f"{env.config}\n"


def test_reload_wakes_a_worker_whose_every_slot_is_full_into_reading_the_config(
    env: Env,
) -> None:
    """`jobctl reload` said the worker read the changed config now; with its one slot taken,
    it looked at the file only once that job ended."""
    env.write_config('[jobs.old]\ncommand = ["true"]\n')
    log, go = env.root / "worker.log", env.root / "go"
    worker = _start_logged(env, log, "run-worker", "--concurrency", "1")
    busy = env.enqueue("--exec", "--", "sh", "-c", f'while [ ! -e "{go}" ]; do sleep 0.05; done')
    env.wait_for(lambda: env.show(busy)["state"] == "running")
    env.write_config('[jobs.old]\ncommand = ["true"]\n\n[jobs.new]\ncommand = ["true"]\n')
    try:
        env.run("reload", check=True)
        env.wait_for(lambda: _lines(log, "worker.reloaded"), timeout=10)
        assert env.show(busy)["state"] == "running"
    finally:
        go.touch()
    env.run("wait", str(busy), "--timeout", "30s", check=True)
    _stop(worker)
    assert len(_lines(log, "worker.reloaded")) == 1, log.read_text()


def test_a_config_found_after_start_needs_no_restart_for_what_the_command_line_set(
    env: Env,
) -> None:
    """A worker started with --db and no config warned restart_needed settings=db when a
    config naming that very file appeared, and again for another file, though --db wins over
    [settings] db at a restart too (and --log-level over log_level)."""
    log, marker = env.root / "worker.log", env.root / "ran"
    worker = _start_logged(env, log, "--log-level", "debug", "run-worker")
    env.run("wait", str(env.enqueue("--exec", "--", "true")), "--timeout", "30s", check=True)
    hello = _HELLO.format(marker=marker)
    for db in ("q.db", "elsewhere.db"):
        env.write_config(f'[settings]\ndb = "{db}"\nlog_level = "warning"\n{hello}')
        env.run("wait", str(env.enqueue("hello", "--arg", f"name={db}")), check=True)
    _stop(worker)
    assert marker.read_text() == "hello q.db\nhello elsewhere.db\n"
    assert len(_lines(log, "worker.reloaded")) == 2, log.read_text()
    assert not _lines(log, "worker.restart_needed"), log.read_text()
    assert not (env.root / "elsewhere.db").exists()


def test_a_config_db_is_compared_as_the_file_it_names(env: Env) -> None:
    """Started without --db, a worker uses the config's db: the same file spelled otherwise
    needs no restart (it warned of one), another file does."""
    hello = _HELLO.format(marker=env.root / "ran")
    env.write_config(f'[settings]\ndb = "q.db"\n{hello}')
    log = env.root / "worker.log"
    worker = _start_logged(env, log, "run-worker", options=["--config", str(env.config)])
    env.run("wait", str(env.enqueue("hello", "--arg", "name=x")), check=True)  # it runs
    for db in ("./q.db", f"{env.db}", "other.db"):
        env.write_config(f'[settings]\ndb = "{db}"\n{hello}')
        env.run("wait", str(env.enqueue("hello", "--arg", "name=x")), check=True)
    _stop(worker)
    assert len(_lines(log, "worker.reloaded")) == 3, log.read_text()
    (needed,) = _lines(log, "worker.restart_needed")
    assert "settings=db" in needed, needed


def test_a_cron_daemon_needs_no_restart_for_what_its_command_line_set(env: Env) -> None:
    """A daemon started with --db warned restart_needed settings=db for a config naming that
    file or another (a restart keeps --db), as workers did; a setting the command line does
    not give (durability) is still said."""
    schedule = '[jobs.tick]\ncommand = ["true"]\n[schedules.yearly]\njob = "tick"\n'
    schedule += 'cron = "0 0 1 1 *"\ntimezone = "UTC"\n'
    env.write_config(schedule)
    log = env.root / "daemon.log"
    daemon = _start_logged(env, log, "schedule-daemon")
    env.wait_for(lambda: _lines(log, "scheduler.leader"), timeout=20)
    for count, settings in enumerate(('db = "q.db"', 'db = "other.db"', 'durability = "normal"')):
        env.write_config(f"[settings]\n{settings}\n{schedule}")
        env.run("reload", check=True)
        env.wait_for(lambda n=count: len(_lines(log, "scheduler.reloaded")) > n, timeout=20)
    _stop(daemon)
    (needed,) = _lines(log, "scheduler.restart_needed")
    assert "settings=durability" in needed, log.read_text()
