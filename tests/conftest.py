"""Shared fixtures: a private config and database per test, and the real `jobctl` CLI.

Tests drive the installed command in subprocesses against a real SQLite file, exactly as a
user would; nothing here mocks the store or the clock of a worker process. A call
(`Env.run`, `Env.start`) is a process forked from one that has imported jobctl already
(forkserver.py), as a new interpreter would run it where nothing it reads at start differs;
set JOBCTL_TEST_FORK=0 to start every call as a new interpreter.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import forkserver
import hypothesis
import pytest

pytest_plugins = ["redis_server"]

JOBCTL = [sys.executable, "-m", "jobctl"]

atexit.register(forkserver.stop_all)

# No per-example time limit for property tests: on a loaded machine (CI on 2 cores) the
# limit failed examples for being slow, which says nothing about their property.
hypothesis.settings.register_profile("jobctl", deadline=None)
hypothesis.settings.load_profile("jobctl")


@dataclass
class Env:
    """A sandbox: its own config file, database, HOME and XDG dirs."""

    root: Path
    config: Path
    db: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def write_config(self, text: str) -> Path:
        self.config.write_text(text)
        return self.config

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 60,
        check: bool = False,
        config: bool = True,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `jobctl [--config C] --db D ARGS...` (in the sandbox, or `cwd`) and wait."""
        argv = [*self.global_args(config, args), *args]
        where = self.root if cwd is None else cwd
        zygote = forkserver.zygote_for(argv, self.env)
        try:
            if zygote is None:
                raise forkserver.NotServed
            result = zygote.run(argv, environ=self.env, cwd=where, input=input, timeout=timeout)
        except forkserver.NotServed:
            result = self._spawn(argv, input=input, timeout=timeout, cwd=where)
        if check and result.returncode != 0:
            raise AssertionError(
                f"jobctl {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def _spawn(
        self, argv: Sequence[str], *, input: str | None, timeout: float, cwd: Path
    ) -> subprocess.CompletedProcess[str]:
        """The call as a new interpreter: what the fork server stands in for."""
        return subprocess.run(
            [*JOBCTL, *argv],
            input=input,
            # Never the terminal pytest runs in: a command that asks there (prune, dead
            # purge) would wait for an answer.
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=cwd,
        )

    def start(
        self, *args: str, config: bool = True, own_child: bool = False
    ) -> subprocess.Popen[str]:
        """Start `jobctl ARGS...` in the background (e.g. a worker); stopped at teardown.
        Forked by the fork server, it is that server's child: `own_child` starts it as a new
        interpreter, a child of the test's, for a test that waits for it with os.wait4 or
        os.waitid rather than through the Popen."""
        argv = [*self.global_args(config, args), *args]
        options: dict[str, Any] = dict(
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.root,
            start_new_session=True,
        )
        zygote = None if own_child else forkserver.zygote_for(argv, self.env)
        if zygote is not None:
            proc = zygote.start(argv, **options)
        else:
            proc = subprocess.Popen([*JOBCTL, *argv], **options)
        self.procs.append(proc)
        return proc

    def location(self) -> str:
        """What --db names: the sandbox's database."""
        return str(self.db)

    def global_args(self, config: bool = True, args: Sequence[str] = ()) -> list[str]:
        """The sandbox's --config and --db, but for one `args` gives itself (`--db other.db`):
        jobctl refuses a global option given twice."""
        given = _global_options_given(args)
        out = [] if "--db" in given else ["--db", self.location()]
        if config and self.config.exists() and "--config" not in given:
            out = ["--config", str(self.config), *out]
        return out

    def enqueue(self, *args: str) -> int:
        result = self.run("enqueue", *args, check=True)
        return int(result.stdout.strip())

    def show(self, job_id: int) -> dict[str, object]:
        import json

        result = self.run("show", str(job_id), "--json", check=True)
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def wait_for(self, predicate: object, timeout: float = 30.0, interval: float = 0.05) -> None:
        """Poll a condition of the outside world (a process, a file) until it holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s")


def _global_options_given(args: Sequence[str]) -> set[str]:
    """The global options that lead `args`, by their long names."""
    given: set[str] = set()
    index = 0
    while index < len(args) and args[index].startswith("-"):
        name, equals, _ = args[index].partition("=")
        name = {"-c": "--config"}.get(name, name)
        if name not in ("--db", "--config", "--log-format", "--log-level"):
            break
        given.add(name)
        index += 1 if equals else 2
    return given


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    home = tmp_path / "home"
    home.mkdir()
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOBCTL_", "XDG_")) and k not in ("NO_COLOR",)
    }
    environ.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    sandbox = Env(root=tmp_path, config=tmp_path / "jobs.toml", db=tmp_path / "q.db", env=environ)
    yield sandbox
    for proc in sandbox.procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)


@contextlib.contextmanager
def small_file_system(folder: Path, options: str) -> Iterator[Path]:
    """`folder` as a tmpfs of its own (`options` as mount takes them: "size=4m"), for a full
    disk or one out of inodes; the test is skipped where no file system can be mounted (it
    takes root)."""
    folder.mkdir(mode=0o700, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"{options},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def stop_outside_writes(db: Path, pid: int) -> None:
    """SIGSTOP process `pid` at a moment it holds no write transaction on `db`.

    A process stopped inside one holds the write lock until it runs again, and every write
    a test makes while it is stopped waits out the busy timeout: the test takes the write
    lock first, stops the process once it is known to wait or be elsewhere, then lets go.
    """
    import sqlite3

    holder = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while _process_state(pid) not in ("T", "t"):
            if time.monotonic() > deadline:
                raise AssertionError(f"process {pid} did not stop")
            time.sleep(0.001)
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def _process_state(pid: int) -> str:
    """The one-letter state of process `pid` (`T`: stopped by a signal)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]
