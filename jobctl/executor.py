"""One attempt of one job: a process group, its environment, its timeout, its output.

The command runs in a new session (its own process group, away from the terminal's Ctrl-C),
so a timeout, a cancel or a shutdown can signal every process it started: SIGTERM to the
whole group, then SIGKILL after `kill_grace`. Processes it leaves behind when it exits are
stopped the same way. stdout goes straight to the attempt's log file; stderr passes through
us into the same file so that its tail can be kept with the job as its error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobctl.durations import format_duration
from jobctl.fsutil import private_dir
from jobctl.models import AttemptResult, Outcome

ERROR_TAIL_BYTES = 2048
_LOG_CHECK_INTERVAL = 5.0


@dataclass(frozen=True)
class AttemptSpec:
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: str | None = None
    shell: bool = False
    timeout: float | None = None
    kill_grace: float = 10.0
    log_max_bytes: int = 10 * 1024 * 1024
    user: str | None = None
    group: str | None = None


class Execution:
    """A running attempt: `run()` blocks, so call it in a thread; `stop()` may come from any."""

    def __init__(self, spec: AttemptSpec) -> None:
        self.spec = spec
        self._stop_reason: Outcome | None = None
        self._force = False
        self._closed = False
        self._stop_read, self._stop_write = os.pipe()
        self._lock = threading.Lock()

    def stop(self, reason: Outcome, force: bool = False) -> None:
        """Terminate the attempt (cancel or shutdown); the outcome reports `reason`.

        SIGTERM to the group, SIGKILL after `kill_grace`; at once with `force`."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
            if force:
                self._force = True
            if not self._closed:
                with contextlib.suppress(OSError):
                    os.write(self._stop_write, b"x")

    def run(self) -> AttemptResult:
        try:
            return self._run()
        finally:
            with self._lock:
                self._closed = True
                for fd in (self._stop_read, self._stop_write):
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _run(self) -> AttemptResult:
        spec = self.spec
        log_fd = _open_log(spec.log_path)
        argv = ["/bin/sh", "-c", spec.argv[0]] if spec.shell else list(spec.argv)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=spec.cwd,
                env=dict(spec.env),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                user=spec.user,
                group=spec.group,
            )
        except OSError as exc:
            message = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                message = f"cannot start {argv[0]!r}: command not found"
            elif isinstance(exc, FileNotFoundError) and spec.cwd:
                message = f"cannot start {argv[0]!r}: {exc.strerror}"
            os.write(log_fd, (message + "\n").encode())
            os.close(log_fd)
            code = 127 if exc.errno == errno.ENOENT else 126
            return AttemptResult(
                Outcome.ERROR, exit_code=code, error=message, log_path=str(spec.log_path)
            )
        except (ValueError, KeyError) as exc:  # unknown user or group
            message = f"cannot start {argv[0]!r}: {exc}"
            os.write(log_fd, (message + "\n").encode())
            os.close(log_fd)
            return AttemptResult(
                Outcome.ERROR, exit_code=126, error=message, log_path=str(spec.log_path)
            )
        try:
            timed_out = self._supervise(proc, log_fd, started)
            _trim_log(log_fd, spec.log_max_bytes, spec.log_max_bytes)
        finally:
            os.close(log_fd)
        return self._result(proc, timed_out, started)

    def _supervise(self, proc: subprocess.Popen[bytes], log_fd: int, started: float) -> bool:
        """Copy stderr, enforce the timeout and stop requests; True when it timed out."""
        spec = self.spec
        assert proc.stderr is not None
        err_fd = proc.stderr.fileno()
        os.set_blocking(err_fd, False)
        self._tail = bytearray()
        try:
            exit_fd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            exit_fd = None
        deadline = started + spec.timeout if spec.timeout else None
        kill_at: float | None = None
        timed_out = False
        stop_seen = False
        err_open = True
        next_log_check = started + _LOG_CHECK_INTERVAL
        try:
            while True:
                if proc.poll() is not None and (not err_open or exit_fd is None):
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline and kill_at is None:
                    timed_out = True
                    kill_at = now + spec.kill_grace
                    _signal_group(proc.pid, signal.SIGTERM)
                if self._stop_reason is not None and not stop_seen:
                    stop_seen = True
                    if kill_at is None:
                        kill_at = now + spec.kill_grace
                        _signal_group(proc.pid, signal.SIGTERM)
                if self._force and kill_at != float("inf"):
                    kill_at = now
                if kill_at is not None and now >= kill_at:
                    _signal_group(proc.pid, signal.SIGKILL)
                    kill_at = float("inf")
                if now >= next_log_check:
                    next_log_check = now + _LOG_CHECK_INTERVAL
                    _trim_log(log_fd, spec.log_max_bytes, 2 * spec.log_max_bytes)
                waits = [next_log_check]
                if deadline is not None and kill_at is None:
                    waits.append(deadline)
                if kill_at is not None and kill_at != float("inf"):
                    waits.append(kill_at)
                timeout = max(0.0, min(waits) - now)
                fds = [self._stop_read] if not (stop_seen and self._force) else []
                if err_open:
                    fds.append(err_fd)
                if exit_fd is not None:
                    fds.append(exit_fd)
                else:
                    timeout = min(timeout, 0.05)
                if proc.returncode is not None:
                    timeout = min(timeout, 0.05)  # leader gone; something holds stderr
                readable, _, _ = select.select(fds, [], [], timeout)
                if self._stop_read in readable:
                    with contextlib.suppress(OSError):
                        os.read(self._stop_read, 64)
                if err_fd in readable:
                    err_open = self._copy_stderr(err_fd, log_fd)
                if exit_fd is not None and exit_fd in readable:
                    proc.wait()
                    if err_open:
                        err_open = self._copy_stderr(err_fd, log_fd)
                    if err_open:
                        # A leftover process holds stderr: stop the rest of the group.
                        _stop_leftovers(proc.pid, spec.kill_grace)
                        while err_open and select.select([err_fd], [], [], 0.5)[0]:
                            err_open = self._copy_stderr(err_fd, log_fd)
                    break
            proc.wait()
            _stop_leftovers(proc.pid, spec.kill_grace)
        finally:
            if exit_fd is not None:
                os.close(exit_fd)
            assert proc.stderr is not None
            proc.stderr.close()
        return timed_out

    def _copy_stderr(self, err_fd: int, log_fd: int) -> bool:
        """Move what stderr has to the log; False at end of file."""
        while True:
            try:
                chunk = os.read(err_fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            _write_all(log_fd, chunk)
            self._tail += chunk
            if len(self._tail) > ERROR_TAIL_BYTES * 2:
                del self._tail[: len(self._tail) - ERROR_TAIL_BYTES]

    def _result(
        self, proc: subprocess.Popen[bytes], timed_out: bool, started: float
    ) -> AttemptResult:
        spec = self.spec
        code = proc.returncode
        tail = bytes(self._tail[-ERROR_TAIL_BYTES:]).decode("utf-8", "replace").strip()
        log_path = str(spec.log_path)
        if self._stop_reason is not None and not timed_out and code != 0:
            reason = self._stop_reason
            what = "cancelled" if reason == Outcome.CANCELLED else "stopped by worker shutdown"
            return AttemptResult(
                reason,
                exit_code=_shell_code(code),
                signal=-code if code < 0 else None,
                error=what,
                log_path=log_path,
            )
        if timed_out:
            assert spec.timeout is not None
            error = f"timeout after {format_duration(spec.timeout)}"
            return AttemptResult(
                Outcome.TIMEOUT,
                exit_code=_shell_code(code),
                signal=-code if code < 0 else None,
                error=_with_tail(error, tail),
                log_path=log_path,
            )
        if code == 0:
            return AttemptResult(Outcome.SUCCEEDED, exit_code=0, log_path=log_path)
        if code < 0:
            name = _signal_name(-code)
            return AttemptResult(
                Outcome.FAILED,
                exit_code=_shell_code(code),
                signal=-code,
                error=_with_tail(f"killed by signal {-code} ({name})", tail),
                log_path=log_path,
            )
        return AttemptResult(
            Outcome.FAILED,
            exit_code=code,
            error=_with_tail(f"exit code {code}", tail),
            log_path=log_path,
        )


def _with_tail(head: str, tail: str) -> str:
    return f"{head}: {tail}" if tail else head


def _shell_code(code: int) -> int:
    """Exit codes as a shell reports them: 128 + n for a death by signal n."""
    return 128 - code if code < 0 else code


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return False


def _stop_leftovers(pgid: int, grace: float) -> None:
    """Processes of the attempt's group that outlived its leader get SIGTERM, then SIGKILL."""
    if not _group_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    end = time.monotonic() + min(grace, 5.0)
    while time.monotonic() < end:
        time.sleep(0.02)
        if not _group_alive(pgid):
            return
    _signal_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Dead members can linger as zombies until
    their new parent reaps them, and signals still "reach" those, so on Linux /proc decides."""
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): state ppid pgrp ...
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


_LOG_DIRS: set[Path] = set()  # log folders known to exist, so most attempts skip the check


def _open_log(path: Path) -> int:
    if path.parent not in _LOG_DIRS:
        private_dir(path.parent)
        _check_own_dir(path.parent)
        _LOG_DIRS.add(path.parent)
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except FileNotFoundError:  # the folder was removed since: make it again
        private_dir(path.parent)
        return os.open(path, flags, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:
            return  # a full disk must not kill the attempt; the output is lost
        view = view[written:]


def stop_orphans(attempts: set[tuple[str, int, int]]) -> int:
    """SIGKILL the process groups of attempts whose worker died: each attempt runs in a
    session of its own, so it outlives a `kill -9` of its worker, and must not overlap the
    run that replaces it. An attempt is (worker id, job id, attempt), found by the
    JOBCTL_WORKER, JOBCTL_JOB_ID and JOBCTL_ATTEMPT its processes carry: worker ids are
    unique, so jobs of other databases are never touched (Linux /proc; this user's
    processes on this host)."""
    wanted = {
        (
            b"JOBCTL_WORKER=" + worker.encode(),
            b"JOBCTL_JOB_ID=%d" % job,
            b"JOBCTL_ATTEMPT=%d" % attempt,
        )
        for worker, job, attempt in attempts
    }
    own = os.getpgrp()
    groups: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if b"JOBCTL_JOB_ID=" not in environ:
            continue
        variables = set(environ.split(b"\0"))
        if any(all(var in variables for var in attempt) for attempt in wanted):
            try:
                group = os.getpgid(int(entry))
            except OSError:
                continue
            if group != own:
                groups.add(group)
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    return len(groups)


def _check_own_dir(directory: Path) -> None:
    """A log folder must be a real folder of ours: one planted by someone else (or a link to
    elsewhere) would let them read or redirect a job's output."""
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"log folder {directory} is a link or not a folder")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise PermissionError(f"log folder {directory} is not private to this user")


def _trim_log(fd: int, keep: int, above: int) -> None:
    """Cut the log to its last `keep` bytes once it is over `above`, dropping the head.
    Through the open descriptor, never the path, which someone could have swapped."""
    try:
        size = os.fstat(fd).st_size
        if size <= above:
            return
        tail = os.pread(fd, keep, size - keep)
        os.ftruncate(fd, 0)
        _write_all(fd, b"[... earlier output dropped ...]\n" + tail)  # O_APPEND: at the start
    except OSError:
        return
