"""Signals at the moments that matter: during the imports of the first moment, after a
command committed its change, while `wait --json` writes its report, and SIGQUIT on a wait.

The moment is chosen by a condition of the real process, not by a delay: where it is blocked
(/proc/PID/wchan), which handlers it has (/proc/PID/status), what the database holds. The
first moment is held still by `python -X importtime`, which writes a line to stderr as each
import ends: stderr is a pipe filled beforehand so that it blocks at a chosen import.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from conftest import JOBCTL, Env

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
[jobs.echo]
command = "echo hello {msg}"
"""


def _wchan(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return ""


def _blocked_writing(proc: subprocess.Popen[bytes]) -> bool:
    """The process waits for room in a pipe (or has ended)."""
    return proc.poll() is not None or "pipe_write" in _wchan(proc.pid)


def _handles(pid: int, signum: int) -> bool:
    """A handler of the process's own is in place for `signum`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _ignores(pid: int, signum: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _imports_until(env: Env, module: str) -> int:
    """How many bytes `python -X importtime -m jobctl` writes on stderr before the line of
    `module` (the first moment's imports are the same whatever the command)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *JOBCTL[1:], "--version"],
        capture_output=True,
        env=env.env,
        cwd=env.root,
        check=True,
    )
    written = 0
    for line in result.stderr.splitlines(keepends=True):
        if line.split(b"|")[-1].strip() == module.encode():
            return written
        written += len(line)
    raise AssertionError(f"{module} is not imported at start-up")


def _start_held_in_imports(env: Env, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start `jobctl ARGS` held still in the import of jobctl.cli.main, after the lines of
    the modules it imported first (typing among them): its stderr, a pipe of one page, is
    filled so that the line of jobctl.cli.options no longer fits. Returns the process and
    the read end of its stderr."""
    room = _imports_until(env, "jobctl.cli.options")
    assert room < 4096
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    os.write(write_end, b"x" * (4096 - room))
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", *JOBCTL[1:], *env.global_args(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=write_end,
        env=env.env,
        cwd=env.root,
        start_new_session=True,
    )
    os.close(write_end)
    env.wait_for(lambda: _blocked_writing(proc))
    assert proc.poll() is None, "it was to wait for room on stderr"
    return proc, read_end


def _drain(read_end: int) -> tuple[threading.Thread, list[bytes]]:
    """Read a pipe to its end in a thread; the chunks land in the list."""
    chunks: list[bytes] = []

    def read() -> None:
        with os.fdopen(read_end, "rb") as stream:
            while chunk := stream.read1(65536):
                chunks.append(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, chunks


def test_a_hangup_during_the_imports_does_not_stop_a_worker(env: Env) -> None:
    env.write_config(CONFIG)
    proc, read_end = _start_held_in_imports(env, "run-worker")
    try:
        assert _ignores(proc.pid, signal.SIGHUP)
        os.kill(proc.pid, signal.SIGHUP)
        _drain(read_end)
        # Up: its own handlers are in (SIGHUP reloads the config), and it is still there.
        env.wait_for(lambda: proc.poll() is not None or _handles(proc.pid, signal.SIGHUP))
        assert proc.poll() is None, f"the worker ended: {proc.returncode}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode != -signal.SIGHUP


def test_ctrl_c_during_the_imports_exits_130_without_a_traceback(env: Env) -> None:
    proc, read_end = _start_held_in_imports(env, "status")
    os.kill(proc.pid, signal.SIGINT)
    thread, chunks = _drain(read_end)
    assert proc.wait(timeout=30) == 130
    thread.join(timeout=30)
    assert b"Traceback" not in b"".join(chunks)


def test_the_entry_point_imports_nothing_heavy_before_its_signals(env: Env) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["jobctl"] == "jobctl.cli.entry:main"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import jobctl.cli.entry"],
        capture_output=True,
        text=True,
        env=env.env,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    heavy = {"typing", "enum", "signal", "typer", "click", "rich", "jobctl.cli.main"}
    assert not imported & heavy


def test_the_entry_point_knows_the_global_options_that_take_a_value() -> None:
    from jobctl.cli import entry, main
    from jobctl.cli.fastpath import GLOBAL_OPTIONS

    assert set(GLOBAL_OPTIONS) == entry.GLOBAL_OPTIONS_WITH_VALUE
    assert main._HANGUP_PROOF == entry.HANGUP_PROOF


def _start_unread(env: Env, *args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    """`jobctl ARGS` with a stdout nobody reads (a reader that stalled)."""
    proc = subprocess.Popen(
        [*JOBCTL, *env.global_args(), *args],
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env.env,
        cwd=env.root,
        start_new_session=True,
    )
    env.procs.append(proc)  # type: ignore[arg-type]
    return proc


def _count(env: Env, where: str = "1") -> int:
    with sqlite3.connect(env.db) as db:
        return int(db.execute(f"select count(*) from jobs where {where}").fetchone()[0])


STOPS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
STOPS.append((signal.SIGHUP, 129, "hung up"))


@pytest.mark.parametrize(("signum", "code", "word"), STOPS)
def test_an_interrupt_after_a_batch_is_stored_says_it_was(
    env: Env, signum: int, code: int, word: str
) -> None:
    env.write_config(CONFIG)
    lines = "".join(json.dumps({"job": "echo", "payload": {"msg": i}}) + "\n" for i in range(20000))
    batch = env.root / "batch.jsonl"
    batch.write_text(lines)
    proc = _start_unread(env, "enqueue", "--batch", str(batch))
    env.wait_for(lambda: _blocked_writing(proc))
    assert _count(env) == 20000
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert err.decode().splitlines()[-1] == (
        f"jobctl: {word}: 20000 job(s) were queued, ids 1 to 20000, but not all their ids"
        " were printed"
    )


def test_an_interrupt_after_a_cancel_says_how_many_were_cancelled(env: Env) -> None:
    env.write_config(CONFIG)
    count = 5000  # their lines, some 140 KB, fill a pipe's 64 KB
    batch = '{"job": "echo", "payload": {"msg": 1}}\n' * count
    env.run("enqueue", "--batch", "-", input=batch, check=True)
    proc = _start_unread(env, "cancel", *map(str, range(1, count + 1)))
    env.wait_for(lambda: _blocked_writing(proc))
    assert _count(env, "state = 'cancelled'") == count
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.decode() == f"jobctl: terminated: {count} job(s) were cancelled\n"


def test_an_interrupt_cutting_the_timeout_report_of_wait_json_writes_no_second_one(
    env: Env,
) -> None:
    env.write_config(CONFIG)
    batch = "".join('{"job": "echo", "payload": {"msg": 1}}\n' for _ in range(2000))
    env.run("enqueue", "--batch", "-", input=batch, check=True)
    proc = _start_unread(env, "wait", "--all", "--json", "--timeout", "1s")
    env.wait_for(lambda: _blocked_writing(proc))  # its report filled the pipe
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out.count(b'"id": 1,') == 1
    assert out.lstrip().startswith(b"[") and out.count(b"\n[") == 0
    assert "timed out" not in err.decode()
    assert err.decode().endswith("they go on (jobctl cancel stops a job)\n")


@pytest.mark.parametrize("command", [["wait", "1"], ["logs", "1", "--follow"]])
def test_sigquit_on_a_wait_stops_the_wait_not_the_job(env: Env, command: list[str]) -> None:
    env.write_config(CONFIG)
    env.enqueue("echo", "-a", "msg=x")
    proc = _start_unread(env, *command)
    env.wait_for(lambda: proc.poll() is not None or _handles(proc.pid, signal.SIGQUIT))
    os.kill(proc.pid, signal.SIGQUIT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 131
    assert err.decode().splitlines()[-1] == (
        "jobctl: quit: stopped waiting for job 1; it goes on (jobctl cancel stops a job)"
    )
    assert env.show(1)["state"] == "queued"


def test_a_batch_stored_dead_by_its_after_says_so_once(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("echo", "-a", "msg=x")
    env.run("cancel", "1", check=True)
    batch = '{"job": "echo", "payload": {"msg": 1}}\n' * 3
    result = env.run("enqueue", "--batch", "-", "--after", "1", input=batch, check=True)
    assert result.stdout.split() == ["2", "3", "4"]
    assert result.stderr == (
        "jobctl: note: 3 job(s) are dead: job 1, which they wait for, was cancelled\n"
    )


def test_a_stop_signal_in_the_middle_of_the_exit_ends_the_done_command_without_a_traceback() -> (
    None
):
    """A SIGINT that came once a command was done and its output flushed, while the exit
    looked for threads left running, printed a traceback of the exit itself and exited 1
    (an interrupted `prune` that had deleted everything and said so). The signal is sent by
    the process to itself at that moment: a real signal, placed where the race put it."""
    script = (
        "import os, signal, threading\n"
        "from jobctl.cli import entry, main\n"
        "signal.signal(signal.SIGINT, entry.stop)\n"
        "count = threading.active_count\n"
        "def counted():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    return count()\n"
        "threading.active_count = counted\n"
        "print('done')\n"
        "main._exit(0)\n"
    )
    ended = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert (ended.returncode, ended.stdout, ended.stderr) == (0, "done\n", "")
