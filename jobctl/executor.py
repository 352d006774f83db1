"""One attempt of one job: a process group, its environment, its timeout, its output.

The command runs in a new session (its own process group, away from the terminal's Ctrl-C),
so a timeout, a cancel or a shutdown can signal every process it started: SIGTERM to the
whole group (then SIGCONT), then SIGKILL after `kill_grace`. Processes it leaves behind
when it exits are stopped the same way. stdout and stderr pass through us into the attempt's
log (jobctl.attemptlog); the tail of stderr is kept with the job as its error.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import math
import os
import pwd
import select
import signal
import threading
import time
from collections.abc import Callable, Container, Mapping, Sequence
from typing import NamedTuple

from jobctl.attemptlog import AttemptLog
from jobctl.durations import format_duration
from jobctl.logfolders import continuation_bytes
from jobctl.models import AttemptResult, Outcome
from jobctl.processes import (
    Child,
    Refusal,
    group_alive,
    known_user,
    may_signal_other_users,
    numeric_id,
    session_alive,
    signal_session,
    spawn,
    terminate_session,
    uid_of,
)

ERROR_TAIL_BYTES = 2048
_POLL_WITHOUT_PIDFD = 0.05
# At most this long for processes the leader left, then SIGKILL, whatever the kill_grace:
# the attempt is not recorded as ended until they are gone (README, Workers, says so).
_LEFTOVER_GRACE = 5.0
_LEFTOVER_CHECK = 0.02
_READS_PER_TURN = 16  # of 64 KiB each
_LAST_OUTPUT_GRACE = 0.5  # for stderr held open by a process outside the group
_SENT = float("inf")
_LONGEST_WAIT = 86400.0  # seconds: see wait_readable


# Errors of the host's limits (processes, open files, memory) when starting a command: they
# say nothing of the job, and pass when some running jobs end. See Worker._start.
HOST_LIMITS = frozenset({errno.EAGAIN, errno.EMFILE, errno.ENFILE, errno.ENOMEM})


class AttemptSpec(NamedTuple):
    """What to run and how (a NamedTuple: a worker makes one per attempt). `log_path` is a
    string for the same reason: pathlib costs more than the rest of the attempt's set-up."""

    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: str
    cwd: str | None = None
    shell: bool = False
    timeout: float | None = None
    kill_grace: float = 10.0
    log_max_bytes: int = 10 * 1024 * 1024
    user: str | None = None
    group: str | None = None
    cwd_is_home: bool = False  # `cwd` is the user's HOME: / when the user cannot enter it


class Attempt:
    """A running attempt, driven without blocking by the loop that owns it.

    `start()` spawns the command; then `advance(readable)` whenever one of `fds()` is
    readable or `deadline()` has come, until it returns the result. One thread drives it, so
    a worker runs any number of attempts from its own event loop, without a thread each
    (threads contending for the GIL cost more than spawning did)."""

    def __init__(
        self, spec: AttemptSpec, on_refused: Callable[[Refusal], None] | None = None
    ) -> None:
        self.spec = spec
        self._on_refused = on_refused  # told at once of each process group a signal missed
        self.result: AttemptResult | None = None
        self._stop_reason: Outcome | None = None
        self._force = False
        self._proc: Child | None = None
        self._log = AttemptLog(spec.log_path, spec.log_max_bytes)
        self._out_fd: int | None = None
        self._err_fd: int | None = None
        self._exit_fd: int | None = None
        self._tail = bytearray()
        self._started = 0.0
        self._timeout_at: float | None = None
        self._kill_at: float | None = None  # SIGKILL then; inf once sent
        self._timed_out = False
        self._leader_done = False
        self._leftovers_kill_at: float | None = None  # stopping processes the leader left
        self._leftovers_check = 0.0
        self._drain_until: float | None = None  # giving the output's last holders this long
        self._poll_at = 0.0  # without a pidfd: when to look for the exit next
        self._refused: list[Refusal] = []  # one per group whose signals were refused
        self._stop_refused: Refusal | None = None  # the first, while the command ran

    # -- driving ---------------------------------------------------------------------------

    def start(self) -> AttemptResult | None:
        """Spawn the command; the result at once when it cannot start. On an exception,
        nothing it opened stays open."""
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> AttemptResult | None:
        spec = self.spec
        self._log.prepare()
        argv = ["/bin/sh", "-c", spec.argv[0]] if spec.shell else list(spec.argv)
        if spec.user is not None and not _may_stop_as(spec.user):
            return self._not_started(
                f"cannot start {argv[0]!r} as user {spec.user}: the worker runs as root without"
                " CAP_KILL, so it could not stop the job (timeout, cancel, shutdown): see a"
                " systemd unit's CapabilityBoundingSet=",
                126,
            )
        self._started = time.monotonic()
        self._out_fd, out_write = os.pipe2(os.O_CLOEXEC)
        try:
            self._err_fd, err_write = os.pipe2(os.O_CLOEXEC)
        except BaseException:
            os.close(out_write)
            raise
        try:
            child = spawn(
                argv,
                spec.env,
                out_write,
                err_write,
                cwd=spec.cwd,
                user=spec.user,
                group=spec.group,
                cwd_is_home=spec.cwd_is_home,
            )
        except OSError as exc:
            if exc.errno in HOST_LIMITS:
                raise  # the host's limits, not the job's doing: the worker gives it back
            message = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
            switching = spec.user is not None or spec.group is not None
            if exc.errno == errno.EPERM and switching and os.geteuid() == 0:
                # (Popen names the working directory for any failure before the exec.)
                message = (
                    f"cannot start {argv[0]!r} as {_whom(spec.user, spec.group)}: the worker"
                    " runs as root without the capabilities to switch users (CAP_SETUID,"
                    " CAP_SETGID: see a systemd unit's CapabilityBoundingSet=)"
                )
            elif spec.cwd is not None and exc.filename == spec.cwd:
                message = f"cannot start {argv[0]!r}: working directory {spec.cwd}: {exc.strerror}"
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                message = f"cannot start {argv[0]!r}: command not found"
            elif exc.errno == errno.EPERM and spec.user is not None and os.geteuid() != 0:
                message = (
                    f"cannot start {argv[0]!r} as user {spec.user}: the worker does not run as"
                    " root, and only root may switch users"
                )
            elif exc.errno == errno.EPERM and spec.group is not None and os.geteuid() != 0:
                message = (
                    f"cannot start {argv[0]!r} as group {spec.group}: the worker does not run"
                    f" as root, and only root may switch groups{_membership(spec.group)}"
                )
            code = 127 if exc.errno == errno.ENOENT else 126
            return self._not_started(message, code)
        except KeyError:  # a user or group this host does not know: which, asked again
            which = f"group {spec.group!r}"
            if spec.user is not None and not known_user(spec.user):
                which = f"user {spec.user!r}"
            return self._not_started(f"cannot start {argv[0]!r}: no {which} on this host", 126)
        except ValueError as exc:
            return self._not_started(f"cannot start {argv[0]!r}: {exc}", 126)
        finally:
            os.close(out_write)
            os.close(err_write)
        self._proc = child
        os.set_blocking(self._out_fd, False)
        os.set_blocking(self._err_fd, False)
        try:
            self._exit_fd = os.pidfd_open(child.pid)
        except (AttributeError, OSError):
            self._exit_fd = None  # no pidfd: the deadline polls instead
        self._poll_at = self._started + _POLL_WITHOUT_PIDFD
        if spec.timeout:
            self._timeout_at = self._started + spec.timeout
        return None

    def fds(self) -> list[int]:
        """The descriptors to watch for this attempt: its stdout, stderr and exit."""
        fds: list[int] = []
        if self._log.cutting:  # the job waits on its pipes while its log is cut
            return [self._exit_fd] if self._exit_fd is not None else fds
        if self._out_fd is not None:
            fds.append(self._out_fd)
        if self._err_fd is not None:
            fds.append(self._err_fd)
        if self._exit_fd is not None:
            fds.append(self._exit_fd)
        return fds

    def deadline(self) -> float | None:
        """When `advance()` must run next even if nothing is readable (time.monotonic)."""
        if self.result is not None or self._proc is None:
            return None
        if self._log.cutting:
            return 0.0  # its next slice, at the next turn
        if not self._leader_done:
            waits: list[float] = []
            if self._timeout_at is not None and self._kill_at is None:
                waits.append(self._timeout_at)
            if self._kill_at is not None and self._kill_at != _SENT:
                waits.append(self._kill_at)
            if self._exit_fd is None:
                waits.append(self._poll_at)
            return min(waits, default=None)
        if self._leftovers_kill_at is not None:
            return min(self._leftovers_check, self._leftovers_kill_at)
        return self._drain_until

    def stop(self, reason: Outcome, force: bool = False) -> None:
        """Terminate the attempt (cancel or shutdown); the outcome reports `reason`.

        SIGTERM to the group, SIGKILL after `kill_grace`; at once with `force`."""
        if self.result is not None or self._proc is None:
            return
        # Only a stop that finds the command running decides its outcome: one that comes
        # while its leftovers are stopped or its output drains, after it exited on its own,
        # leaves the exit code to say how it ended (a job done must not run again).
        if self._stop_reason is None and not self._leader_done and self._proc.poll() is None:
            self._stop_reason = reason
        if force:
            self._force = True
        self._enforce(time.monotonic())

    def advance(self, readable: Container[int]) -> AttemptResult | None:
        """Move the output to the log, notice the exit, act on the clock; the result once
        done."""
        proc = self._proc
        if self.result is not None or proc is None:
            return self.result
        if self._log.cutting:
            self._cut_slice()
        else:
            if self._out_fd is not None and self._out_fd in readable:
                self._copy_output(self._out_fd)
            if self._err_fd is not None and self._err_fd in readable:
                self._copy_output(self._err_fd)
        now = time.monotonic()
        if not self._leader_done:
            exited = self._exit_fd is None or self._exit_fd in readable
            if exited and proc.poll() is not None:
                self._leader_exited(now)
            else:
                self._poll_at = now + _POLL_WITHOUT_PIDFD
                self._enforce(now)
                return None
        if self._leftovers_kill_at is not None:
            self._stop_leftovers(now)
            if self._leftovers_kill_at is not None:
                return None
        if self._log.cutting:
            return None
        if self._out_fd is not None or self._err_fd is not None:
            if self._drain_until is None:
                # The leader is gone, yet something (outside its session) holds output open.
                self._drain_until = now + _LAST_OUTPUT_GRACE
            if now < self._drain_until:
                return None
        if self._log.begin_final_cut():
            return None
        return self._finish()

    def close(self) -> None:
        """Kill what is still running and release its descriptors (the owner is leaving)."""
        if self.result is None and self._proc is not None:
            self._signal(signal_session, signal.SIGKILL)  # the leader's, leftovers too
            if not self._leader_done:
                self._proc.wait(5.0)
        self._release()

    # -- steps -----------------------------------------------------------------------------

    def _enforce(self, now: float) -> None:
        """Timeout, stop requests and the kill grace, while the leader runs."""
        assert self._proc is not None
        if self._leader_done:
            if self._force and self._leftovers_kill_at is not None:
                self._leftovers_kill_at = now
            return
        spec = self.spec
        if self._timeout_at is not None and now >= self._timeout_at and self._kill_at is None:
            self._timed_out = True
            self._kill_at = now + spec.kill_grace
            self._signal(terminate_session)
        if self._stop_reason is not None and self._kill_at is None:
            self._kill_at = now + spec.kill_grace
            self._signal(terminate_session)
        if self._force and self._kill_at != _SENT:
            self._kill_at = now
        if self._kill_at is not None and now >= self._kill_at:
            self._signal(signal_session, signal.SIGKILL)
            self._kill_at = _SENT

    def _signal(self, send: Callable[..., bool], *signals: int) -> bool:
        """Signal the attempt's session with `send`, telling at once of each process group
        that refused it (a command that became another user: sudo, a setuid program). One
        refused while the command runs means its timeout or stop was not applied."""
        assert self._proc is not None
        refused: list[Refusal] = []
        alive = send(self._proc.pid, *signals, refused=refused)
        for refusal in refused:
            if any(said.pid == refusal.pid for said in self._refused):
                continue
            self._refused.append(refusal)
            if self._stop_refused is None and not self._leader_done:
                self._stop_refused = refusal
            if self._on_refused is not None:
                self._on_refused(refusal)
        return alive

    def _leader_exited(self, now: float) -> None:
        assert self._proc is not None
        self._leader_done = True
        if self._exit_fd is not None:
            os.close(self._exit_fd)
            self._exit_fd = None
        for fd in (self._out_fd, self._err_fd):
            if fd is not None:
                self._copy_output(fd)
        # Leftovers may be in groups of their own (a `timeout`, a shell's job control), their
        # output sent elsewhere: only a look through the session finds those.
        pid = self._proc.pid
        if group_alive(pid) or session_alive(pid, age=now - self._started):
            # Processes the leader started outlive it: SIGTERM (and SIGCONT), then SIGKILL.
            self._signal(terminate_session)
            grace = 0.0 if self._force else min(self.spec.kill_grace, _LEFTOVER_GRACE)
            self._leftovers_kill_at = now + grace
            self._leftovers_check = now + _LEFTOVER_CHECK

    def _stop_leftovers(self, now: float) -> None:
        assert self._proc is not None and self._leftovers_kill_at is not None
        pid = self._proc.pid
        if now >= self._leftovers_kill_at:
            self._signal(signal_session, signal.SIGKILL)
            self._leftovers_kill_at = None
        elif now >= self._leftovers_check:
            self._leftovers_check = now + _LEFTOVER_CHECK
            if not session_alive(pid):
                self._leftovers_kill_at = None

    def _copy_output(self, fd: int) -> None:
        """Move what stdout or stderr has to the log; closes it at end of file. The tail of
        stderr is kept for the error message. A bounded amount per call: a job that writes
        without pause must not keep its loop from the other attempts."""
        is_stderr = fd == self._err_fd
        for _ in range(_READS_PER_TURN):
            if self._log.cutting:
                return  # read on once the log is cut: the job waits on its pipe meanwhile
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close_pipe(fd)
                return
            self._log.write(chunk)
            if is_stderr:
                self._tail += chunk
                if len(self._tail) > ERROR_TAIL_BYTES * 2:
                    del self._tail[: len(self._tail) - ERROR_TAIL_BYTES]

    def _cut_slice(self) -> None:
        if self._log.step() and self._drain_until is not None and not self._log.final_cut:
            self._drain_until = None  # the grace for the last output starts again

    def _close_pipe(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)
        if fd == self._out_fd:
            self._out_fd = None
        if fd == self._err_fd:
            self._err_fd = None

    def _finish(self) -> AttemptResult:
        self._release()
        self.result = self._result()
        return self.result

    def _release(self) -> None:
        self._log.close()
        for fd in (self._exit_fd, self._out_fd, self._err_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._exit_fd = self._out_fd = self._err_fd = None

    def _not_started(self, message: str, code: int) -> AttemptResult:
        self._log.write((message + "\n").encode())
        self._release()
        self.result = AttemptResult(
            Outcome.ERROR,
            exit_code=code,
            error=message + self._log.lost_note(),
            log_path=self._log.made_path(),
        )
        return self.result

    def _result(self) -> AttemptResult:
        assert self._proc is not None and self._proc.returncode is not None
        spec = self.spec
        code = self._proc.returncode
        kept = bytes(self._tail[-ERROR_TAIL_BYTES:])
        if len(self._tail) >= ERROR_TAIL_BYTES:  # perhaps cut from more, inside a character
            kept = kept[continuation_bytes(kept) :]
        tail = kept.decode("utf-8", "replace").strip()
        log_path = self._log.made_path()
        lost = self._log.lost_note()
        refused = self._stop_refused
        ran_on = ""  # why a stop's outcome is left to the exit code
        if refused is not None and self._stop_reason == Outcome.INTERRUPTED and not self._timed_out:
            # A shutdown that could not reach the command (it became another user: sudo, a
            # setuid program) did not stop it: it ran to its own end, which says how it went.
            # A job that then exited 0 was put back, and ran a second time.
            ran_on = f"; the worker shutdown could not stop it: {_not_applied(refused)}"
        # Stopped by the worker (a cancel, a shutdown): what the process did on the signal
        # tells nothing of its work. A job that exits 0 on SIGTERM, as a service does, was
        # recorded as succeeded, and a shutdown's job was never run again.
        if self._stop_reason is not None and not self._timed_out and not ran_on:
            reason = self._stop_reason
            what = "cancelled" if reason == Outcome.CANCELLED else "stopped by worker shutdown"
            if refused is not None:
                what += f", though the stop could not be applied: {_not_applied(refused)}"
            return AttemptResult(
                reason,
                exit_code=_shell_code(code),
                signal=-code if code < 0 else None,
                error=what + lost,
                log_path=log_path,
            )
        if self._timed_out:
            assert spec.timeout is not None
            error = f"timeout after {format_duration(spec.timeout)}"
            if refused is not None:
                error += f" could not be applied: {_not_applied(refused)}"
            return AttemptResult(
                Outcome.TIMEOUT,
                exit_code=_shell_code(code),
                signal=-code if code < 0 else None,
                error=_with_tail(error + lost, tail),
                log_path=log_path,
            )
        if code == 0:
            # A job whose output did not all reach its log still succeeded; its error says
            # what was lost, where a script or `show` sees it.
            return AttemptResult(
                Outcome.SUCCEEDED,
                exit_code=0,
                error=(lost + ran_on)[2:] or None,
                log_path=log_path,
            )
        if code < 0:
            name = _signal_name(-code)
            return AttemptResult(
                Outcome.FAILED,
                exit_code=_shell_code(code),
                signal=-code,
                error=_with_tail(f"killed by signal {-code} ({name}){lost}{ran_on}", tail),
                log_path=log_path,
            )
        return AttemptResult(
            Outcome.FAILED,
            exit_code=code,
            error=_with_tail(f"exit code {code}{lost}{ran_on}", tail),
            log_path=log_path,
        )


class Execution:
    """An attempt run to its end by the calling thread (`run()` blocks); `stop()` may come
    from any thread. For hooks, which run beside the worker's loop."""

    def __init__(self, spec: AttemptSpec) -> None:
        self.attempt = Attempt(spec)
        self._requests: list[tuple[Outcome, bool]] = []
        self._closed = False
        self.started = False  # its command was spawned: an error after it is no refused start
        self._stop_read, self._stop_write = os.pipe()
        self._lock = threading.Lock()

    def stop(self, reason: Outcome, force: bool = False) -> None:
        with self._lock:
            self._requests.append((reason, force))
            if not self._closed:
                with contextlib.suppress(OSError):
                    os.write(self._stop_write, b"x")

    def close(self) -> None:
        """Let go of its descriptors when it will not run (a hook the worker stopped before
        it started): run() does so at its end."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self._stop_read, self._stop_write):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def run(self) -> AttemptResult:
        attempt = self.attempt
        try:
            result = attempt.start()
            self.started = True
            while result is None:
                with self._lock:
                    requests, self._requests = self._requests, []
                for reason, force in requests:
                    attempt.stop(reason, force)
                deadline = attempt.deadline()
                timeout = None if deadline is None else deadline - time.monotonic()
                readable = wait_readable([self._stop_read, *attempt.fds()], timeout)
                if self._stop_read in readable:
                    with contextlib.suppress(OSError):
                        os.read(self._stop_read, 64)
                result = attempt.advance(readable)
            return result
        finally:
            attempt.close()
            with self._lock:
                self._closed = True
                for fd in (self._stop_read, self._stop_write):
                    with contextlib.suppress(OSError):
                        os.close(fd)


def wait_readable(fds: Sequence[int], timeout: float | None) -> set[int]:
    """The descriptors of `fds` that are readable (or hung up) within `timeout` seconds.
    poll(), not select(): a busy worker may hold descriptors numbered over 1024.

    At most a day: poll() waits no more than INT_MAX ms (24.8 days), and a longer wait (the
    renewal of a 75-day lease, a 25-day hook_timeout) stopped the worker or failed the hook.
    Waking early finds nothing readable, and the callers wait again until their deadlines."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    if timeout is not None:
        timeout = min(max(0.0, timeout), _LONGEST_WAIT)
    try:
        events = poller.poll(None if timeout is None else math.ceil(timeout * 1000))
    except InterruptedError:
        return set()
    return {fd for fd, _ in events}


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


def _not_applied(refusal: Refusal) -> str:
    return f"its signals to pid {refusal.pid} ({refusal.owner}) were refused ({refusal.error})"


def _may_stop_as(user: str) -> bool:
    """Whether the worker could signal a job run as `user`: as that user itself, or with
    CAP_KILL (a root unit whose capabilities were bounded may lack it)."""
    if os.geteuid() != 0:
        return True  # not root: it runs as itself, or fails to start, and says why
    try:
        if uid_of(user) == 0:
            return True
    except KeyError:
        return True  # an unknown user fails to start, and says so
    return may_signal_other_users()


def _membership(group: str) -> str:
    """Why the worker's own membership of `group` is not enough, when it is a member: a
    process may take only its own primary group without root, not a supplementary one."""
    try:
        gid = numeric_id(group)
        gid = grp.getgrnam(group).gr_gid if gid is None else gid
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return ""
    if gid in os.getgroups():
        return f" ({group} is only a supplementary group of {me})"
    return f" ({me} is not a member of {group})"


def _whom(user: str | None, group: str | None) -> str:
    """`user U`, `group G` or `user U, group G`: whom an attempt was to run as."""
    return ", ".join(f"{kind} {name}" for kind, name in (("user", user), ("group", group)) if name)
