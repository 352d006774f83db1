"""Security: payloads never run as shell code, what jobctl creates is private, planted
symlinks are not followed, the metrics endpoint stays on loopback, and switching to a user
that does not exist is a clean job error.

(Payload values through argv and `shell = true` are also covered, with random values, by
test_hostile_input.test_payloads_reach_the_command_byte_for_byte.)
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaoslib import file_digest, stop
from conftest import Env

from jobctl.observe.hooks import hook_error

HOSTILE = [
    "$(touch {canary}1)",
    "`touch {canary}2`",
    "'; touch {canary}3; '",
    '"; touch {canary}4; "',
    "a\ntouch {canary}5\n",
    "x && touch {canary}6",
]


def values(root: Path) -> list[str]:
    return [value.replace("{canary}", str(root / "pwned")) for value in HOSTILE]


def assert_not_pwned(root: Path) -> None:
    assert sorted(p.name for p in root.glob("pwned*")) == []


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def read_events(
    proc: subprocess.Popen[str], *events: str, timeout: float = 30
) -> dict[str, dict[str, object]]:
    """Read a `--log-format json` process's stderr (raw fd) until every one of `events` has
    come; return the first record of each."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    buffer = b""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, dict[str, object]] = {}
        for line in buffer.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("event") in events:
                    found.setdefault(record["event"], record)
        if len(found) == len(events):
            return found
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"not all of {events} within {timeout}s: {buffer!r}"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"stderr closed before {events}: {buffer!r}"
            buffer += chunk


# ---------------------------------------------------------------------------------------------
# Payload values never run as shell code


def test_hostile_values_stay_data_in_hooks_cron_payloads_and_exec(env: Env) -> None:
    # A failing job's stderr reaches its hook as $JOBCTL_ERROR; a schedule's payload reaches a
    # shell job quoted; `enqueue --exec` stores an argv. None of them is ever shell code.
    out = env.root / "out"
    out.mkdir()
    hostile = values(env.root)
    env.write_config(
        "[jobs.fail]\n"
        'command = ["sh", "-c", "printf %s \\"$0\\" >&2; exit 3", "{value}"]\n'
        "max_attempts = 1\n"
        f'on_failure = "printf %s \\"$JOBCTL_ERROR\\" > {out}/hook.$JOBCTL_JOB_ID"\n\n'
        "[jobs.shelled]\nshell = true\n"
        f'command = "printf %s {{value}} > {out}/cron.$JOBCTL_JOB_ID"\n\n'
        + "".join(
            f'[schedules.s{n}]\njob = "shelled"\ncron = "@yearly"\n'
            f"payload = {{ value = {json.dumps(value)} }}\n\n"
            for n, value in enumerate(hostile)
        )
    )
    failing = {env.enqueue("fail", "--arg", f"value={value}"): value for value in hostile}
    fired = {}
    for n, value in enumerate(hostile):
        result = env.run("schedule", "run", f"s{n}")
        assert result.returncode == 0, result.stderr
        fired[int(result.stdout.split()[-1])] = value
    execs = {
        env.enqueue(
            "--exec", "--", "sh", "-c", f'printf %s "$1" > {out}/exec.$JOBCTL_JOB_ID', "sh", value
        ): value
        for value in hostile
    }
    worker = env.start("run-worker", "--concurrency", "4")
    try:
        everything = [*failing, *fired, *execs]
        assert env.run("wait", *map(str, everything), "--timeout", "60s").returncode == 1
        env.wait_for(lambda: all((out / f"hook.{i}").exists() for i in failing), timeout=30)
    finally:
        assert stop(worker) == 0
    for job_id, value in failing.items():
        job = env.show(job_id)
        assert job["state"] == "dead" and job["error"] == f"exit code 3: {value.strip()}"
        # On one line, as its event line shows it: data still, run by nothing.
        assert (out / f"hook.{job_id}").read_text() == hook_error(job["error"])
    for job_id, value in fired.items():
        assert (out / f"cron.{job_id}").read_text() == value
    for job_id, value in execs.items():
        assert (out / f"exec.{job_id}").read_text() == value
    assert_not_pwned(env.root)


# ---------------------------------------------------------------------------------------------
# Everything jobctl creates is private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_every_file_of_a_running_system_is_private(env: Env) -> None:
    # With an empty umask, `up` (cron daemon and workers), a failing job's hook and a
    # configured log directory: every directory 0700, every file 0600, sockets closed to
    # group and others.
    env.db = env.root / "state" / "q.db"
    env.write_config(
        '[settings]\nlog_dir = "logs/jobs"\n\n'
        '[jobs.fail]\ncommand = ["sh", "-c", "echo out; echo err >&2; exit 1"]\nmax_attempts = 1\n'
        'on_failure = ["sh", "-c", "echo hook ran"]\n\n'
        '[schedules.tick]\njob = "fail"\ncron = "@every 1s"\n'
    )
    (env.root / "logs").mkdir(mode=0o700)  # a log folder's parent is never made
    with umask(0):
        daemon = env.start("up", "--concurrency", "2")
        try:
            hooks = env.root / "logs" / "jobs" / "hooks"
            env.wait_for(lambda: hooks.exists() and any(hooks.iterdir()), timeout=60)
            found = [*(env.root / "state").rglob("*"), *(env.root / "logs").rglob("*")]
            names = {p.name for p in found}
            for expected in ("q.db", "q.db-wal", "q.db-shm", "q.db.scheduler.lock"):
                assert expected in names, sorted(names)
            for tree in (env.root / "state", env.root / "logs"):
                assert mode(tree) == 0o700, tree
            for path in found:
                kind = path.lstat().st_mode
                if stat.S_ISDIR(kind):
                    assert mode(path) == 0o700, path
                elif stat.S_ISSOCK(kind):
                    assert mode(path) & 0o077 == 0, (path, oct(mode(path)))
                else:
                    assert mode(path) == 0o600, (path, oct(mode(path)))
            assert any(p.suffix == ".log" and p.parent.parent.name == "jobs" for p in found)
        finally:
            assert stop(daemon) == 0


# ---------------------------------------------------------------------------------------------
# Symlinks planted in a log directory


def plant(link: Path, target: Path) -> None:
    """A symlink as another user would leave it (owned by nobody when we are root)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    if os.geteuid() == 0:
        os.lchown(link, 65534, 65534)


def test_a_log_file_planted_as_a_symlink_is_not_followed(env: Env) -> None:
    victim = env.root / "victim.txt"
    victim.write_text("precious\n")
    before = file_digest(victim)
    env.write_config('[jobs.talk]\ncommand = ["echo", "overwritten"]\nmax_attempts = 2\n')
    job_id = env.enqueue("talk")
    plant(env.root / "q.db.logs" / "00000" / f"{job_id}.1.log", victim)
    result = env.run("run-worker", "--burst")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert file_digest(victim) == before
    job = env.show(job_id)
    first = job["attempts_history"][0]  # type: ignore[index]
    assert first["outcome"] == "error", first
    assert "symbolic link" in first["error"], first  # a clear reason for the lost attempt


def test_a_log_directory_planted_as_a_symlink_is_not_followed(env: Env) -> None:
    # A shared log_dir (say under /tmp) that another user prepared before jobctl first ran.
    shared = env.root / "shared"
    shared.mkdir(mode=0o777)
    victim = env.root / "victim"
    victim.mkdir()
    env.write_config(f'[settings]\nlog_dir = "{shared}"\n\n[jobs.talk]\ncommand = ["echo", "hi"]\n')
    job_id = env.enqueue("talk")
    plant(shared / "00000", victim)
    result = env.run("run-worker", "--burst")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert list(victim.iterdir()) == [], (
        f"job {job_id}'s log was written into the victim's directory"
    )


def test_a_log_swapped_for_a_symlink_during_the_attempt_is_not_trimmed_through(env: Env) -> None:
    # In a log directory another user can write to, the log is replaced by a symlink while
    # the attempt runs (here the job does it, at the very end, like a racing attacker).
    shared = env.root / "shared"
    shared.mkdir(mode=0o777)
    victim = env.root / "victim.txt"
    victim.write_text("precious line\n" * 500)
    before = file_digest(victim)
    log = shared / "00000" / "1.1.log"
    # It waits for the worker to have made the log (at the output's first byte): under load
    # the worker may not have read the output yet, and then there is nothing to swap.
    swap = (
        f'head -c 5000 /dev/zero | tr "\\\\0" x; while [ ! -e {log} ]; do sleep 0.01; done;'
        f" rm -f {log}; ln -s {victim} {log}"
    )
    env.write_config(
        f'[settings]\nlog_dir = "{shared}"\nlog_max_bytes = 1024\n\n'
        f'[jobs.swap]\ncommand = ["sh", "-c", {json.dumps(swap)}]\nmax_attempts = 1\n'
    )
    assert env.enqueue("swap") == 1
    result = env.run("run-worker", "--burst")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert log.is_symlink()
    assert file_digest(victim) == before, victim.read_text()[:200]


# ---------------------------------------------------------------------------------------------
# The metrics endpoint


def listening_address(port: int) -> str:
    """The local address of the IPv4 socket listening on `port`, from /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
            return socket.inet_ntoa(bytes.fromhex(address)[::-1])
    raise AssertionError(f"nothing listens on port {port}")


@pytest.mark.parametrize(
    ("given", "host"),
    [("0", "127.0.0.1"), (":0", "127.0.0.1"), ("0.0.0.0:0", "0.0.0.0")],
    ids=["port-only", "colon-port", "told-otherwise"],
)
def test_the_metrics_endpoint_binds_to_loopback_unless_told_otherwise(
    env: Env, given: str, host: str
) -> None:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    worker = env.start("--log-format", "json", "run-worker", "--metrics-addr", given)
    try:
        # (Once the worker has started, SIGTERM is a graceful stop.)
        record = read_events(worker, "metrics.listening", "worker.started")["metrics.listening"]
        bound_host, _, port_text = str(record["address"]).rpartition(":")
        port = int(port_text)
        assert bound_host == host
        assert listening_address(port) == host  # what the kernel says, not the log
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            assert reply.status == 200
    finally:
        assert stop(worker) == 0


# ---------------------------------------------------------------------------------------------
# Switching user and group


@pytest.mark.parametrize(
    "setting",
    ['user = "no-such-user-jobctl"', 'group = "no-such-group-jobctl"'],
    ids=["user", "group"],
)
def test_a_user_or_group_that_does_not_exist_is_a_clean_job_error(env: Env, setting: str) -> None:
    canary = env.root / "ran"
    env.write_config(f'[jobs.as]\ncommand = ["touch", "{canary}"]\n{setting}\nmax_attempts = 1\n')
    job_id = env.enqueue("as")
    result = env.run("run-worker", "--burst")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    job = env.show(job_id)
    assert job["state"] == "dead", job
    name = setting.split('"')[1]
    assert name in str(job["error"]) and str(job["error"]).startswith("cannot start"), job["error"]
    assert "\n" not in str(job["error"])
    assert not canary.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_switching_to_an_existing_user_runs_the_job_as_that_user(env: Env) -> None:
    env.write_config('[jobs.as]\ncommand = ["id", "-u"]\nuser = "nobody"\n')
    job_id = env.enqueue("as")
    assert env.run("run-worker", "--burst").returncode == 0
    job = env.show(job_id)
    assert job["state"] == "succeeded", job
    assert env.run("logs", str(job_id)).stdout.strip() == str(65534)
