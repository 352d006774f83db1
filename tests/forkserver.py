"""Run `python -m jobctl ARGS` in a process forked from one that imported jobctl already.

Most of a CLI call's cost in the suite is the interpreter starting and importing jobctl,
typer and their modules (some 40 ms of CPU a call, thousands of calls). A server process
(the "zygote") does that once; each call is then a fork of it that takes the call's
arguments, environment, directory and standard streams, and runs jobctl's `__main__` as
`python -m` would, in a process of its own: its own pid, real pipes, a real exit status or
death by a signal. Nothing of jobctl is stood in for; only the interpreter's start is shared.
A call either runs to its end (`Zygote.run`, as subprocess.run) or is started in the
background (`Zygote.start`, a Popen). Its /proc/PID/cmdline and /proc/PID/environ read as a
new interpreter's would (jobctl's reload finds a daemon's config from them). The one thing a
test sees differ: the process is the zygote's child, not the test's, so a test that waits for
it with os.waitpid and the like starts it as a new interpreter (conftest's `own_child`).

A fork is faithful only where nothing the interpreter reads as it starts differs, so a
call is served only when its environment differs from the zygote's in variables read at
run time alone (`SHARED_AT_RUN_TIME`), and the caller's umask, resource limits and ignored
signals are the zygote's; any other call runs as a plain subprocess. JOBCTL_TEST_FORK=0
turns the server off for a whole run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import locale
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Variables jobctl, Python and the libraries read only when a command runs, never as the
# interpreter starts or a module is imported: a call may set them as it likes.
SHARED_AT_RUN_TIME = ("HOME", "PATH", "JOBCTL_", "XDG_", "PYTEST_")
LIMITS = (
    resource.RLIMIT_NOFILE,
    resource.RLIMIT_FSIZE,
    resource.RLIMIT_AS,
    resource.RLIMIT_NPROC,
    resource.RLIMIT_CORE,
    resource.RLIMIT_STACK,
)
# Signals an ignoring caller hands on ignored to the commands it starts.
INHERITED_IGNORES = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT)
# What the CLI's commands import, loaded once in the zygote with every module of jobctl's
# (a module a command would not have loaded changes nothing but the time its import takes).
PRELOAD = (
    "jobctl.store.redis",  # redis-py: some 65 ms of every forked call on a Redis store
    "typer",
    "rich.cells",  # what a table's layout imports of rich
    "zoneinfo",
    "sysconfig",  # imported by zoneinfo as it looks for the time zone database
    "filelock",  # taken by a command that makes or upgrades a database
)
HEADER = struct.Struct("!I")
# Bytes of command line and of environment a forked call can have as its own; a call with
# more runs as a new interpreter.
ROOM = 64 * 1024
ROOM_VARIABLE = "JOBCTL_TEST_FORK_ROOM"


class NotServed(Exception):
    """The zygote cannot run this call as a new interpreter would (see _retitle)."""


def _startup_key(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The part of an environment the interpreter and imports may read as they start."""
    return tuple(sorted((k, v) for k, v in environ.items() if not k.startswith(SHARED_AT_RUN_TIME)))


def _process_traits() -> tuple[object, ...]:
    """What a child inherits besides its environment: umask, limits, ignored signals."""
    umask = os.umask(0)
    os.umask(umask)
    limits = tuple(resource.getrlimit(limit) for limit in LIMITS)
    ignored = tuple(signal.getsignal(sig) is signal.SIG_IGN for sig in INHERITED_IGNORES)
    return umask, limits, ignored


class Zygote:
    """One server process, and the calls it can take."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.key = _startup_key(environ)
        self.traits = _process_traits()
        self.folder = tempfile.mkdtemp(prefix="jobctl-fork-")
        self.address = os.path.join(self.folder, "socket")
        self.log = open(os.path.join(self.folder, "log"), "wb")  # noqa: SIM115
        # Room, at the top of its stack, for the command line and environment of each call
        # (see _retitle).
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.address, str(os.getpid()), "x" * ROOM],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**environ, ROOM_VARIABLE: "x" * ROOM},
            cwd=self.folder,
        )
        deadline = time.monotonic() + 30
        while not os.path.exists(self.address):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fork server did not start: {self.log.name}")
            time.sleep(0.005)

    def takes(self, argv: Sequence[str], environ: Mapping[str, str]) -> bool:
        return (
            self.process.poll() is None
            and _startup_key(environ) == self.key
            and _process_traits() == self.traits
            and not any("\0" in word for word in argv)
            and not any("\0" in k or "=" in k or "\0" in v for k, v in environ.items())
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        environ: Mapping[str, str],
        cwd: Path,
        input: str | None,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        """As subprocess.run([python, -m, jobctl, *argv], text=True, capture_output=True)."""
        encoding = locale.getpreferredencoding(False)
        request = json.dumps(
            {"argv": list(argv), "env": dict(environ), "cwd": os.fspath(cwd)}
        ).encode()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        if input is None:
            in_read, in_write = os.open(os.devnull, os.O_RDONLY), None
        else:
            in_read, in_write = os.pipe()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.address)
            socket.send_fds(sock, [HEADER.pack(len(request))], [in_read, out_write, err_write])
            sock.sendall(request)
        finally:
            for fd in (in_read, out_write, err_write):
                os.close(fd)
        pending = input.encode(encoding) if input is not None else b""
        chunks: dict[int, list[bytes]] = {out_read: [], err_read: []}
        replies = bytearray()
        pid = status = None
        selector = selectors.DefaultSelector()
        selector.register(out_read, selectors.EVENT_READ)
        selector.register(err_read, selectors.EVENT_READ)
        selector.register(sock, selectors.EVENT_READ)
        if in_write is not None:
            os.set_blocking(in_write, False)
            selector.register(in_write, selectors.EVENT_WRITE)
        deadline = time.monotonic() + timeout
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired(
                        [sys.executable, "-m", "jobctl", *argv],
                        timeout,
                        b"".join(chunks[out_read]),
                        b"".join(chunks[err_read]),
                    )
                for key, _ in selector.select(left):
                    fd = key.fd
                    if fd == in_write:
                        try:
                            sent = os.write(in_write, pending[:65536])
                        except BrokenPipeError:
                            sent = len(pending)
                        pending = pending[sent:]
                        if not pending:
                            selector.unregister(in_write)
                            os.close(in_write)
                            in_write = None
                        continue
                    data = sock.recv(4096) if fd == sock.fileno() else os.read(fd, 65536)
                    if not data:
                        selector.unregister(fd)
                        continue
                    if fd == sock.fileno():
                        replies += data
                        if replies.startswith(b"F"):
                            raise NotServed
                        pid, status = _parse_replies(bytes(replies))
                        if status is not None:
                            selector.unregister(sock)
                    else:
                        chunks[fd].append(data)
        finally:
            selector.close()
            sock.close()
            os.close(out_read)
            os.close(err_read)
            if in_write is not None:
                os.close(in_write)
        if status is None:
            raise RuntimeError(f"the fork server lost a call: {self.log.name}")
        return subprocess.CompletedProcess(
            [sys.executable, "-m", "jobctl", *argv],
            os.waitstatus_to_exitcode(status),
            _text(b"".join(chunks[out_read]), encoding),
            _text(b"".join(chunks[err_read]), encoding),
        )

    def start(self, argv: Sequence[str], **options: Any) -> subprocess.Popen[str]:
        """As subprocess.Popen([python, -m, jobctl, *argv], **options)."""
        return ForkedPopen(self, argv, **options)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.address)
            os.unlink(self.log.name)
            os.rmdir(self.folder)


class ForkedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """A Popen whose process is forked by a zygote instead of started by exec: everything
    Popen does with its pipes, signals and timeouts is unchanged, but the process is the
    zygote's child, so its wait status comes back on the call's socket, not from waitpid."""

    def __init__(self, zygote: Zygote, argv: Sequence[str], **options: Any) -> None:
        self._zygote = zygote
        self._jobctl_argv = list(argv)
        self._socket: socket.socket | None = None
        self._replies = bytearray()
        self._status: int | None = None
        super().__init__([sys.executable, "-m", "jobctl", *argv], **options)

    def _execute_child(  # type: ignore[override]
        self,
        args: object,
        executable: object,
        preexec_fn: object,
        close_fds: bool,
        pass_fds: Sequence[int],
        cwd: str | None,
        env: Mapping[str, str] | None,
        startupinfo: object,
        creationflags: int,
        shell: bool,
        p2cread: int,
        p2cwrite: int,
        c2pread: int,
        c2pwrite: int,
        errread: int,
        errwrite: int,
        restore_signals: bool,
        gid: object,
        gids: object,
        uid: object,
        umask: int,
        start_new_session: bool,
        process_group: object,
    ) -> None:
        if preexec_fn is not None or pass_fds or gid is not None or gids is not None:
            raise ValueError("the fork server takes no preexec_fn, pass_fds or ids")
        if uid is not None or umask != -1 or process_group not in (None, -1) or shell:
            raise ValueError("the fork server takes no uid, umask, process group or shell")
        try:
            self._fork(cwd, env, start_new_session, p2cread, c2pwrite, errwrite)
        except NotServed:
            self._zygote = None  # a process of its own: Popen's own waiting from here on
            super()._execute_child(  # type: ignore[misc]
                args,
                executable,
                preexec_fn,
                close_fds,
                pass_fds,
                cwd,
                env,
                startupinfo,
                creationflags,
                shell,
                p2cread,
                p2cwrite,
                c2pread,
                c2pwrite,
                errread,
                errwrite,
                restore_signals,
                gid,
                gids,
                uid,
                umask,
                start_new_session,
                process_group,
            )
            return
        finally:
            if self._zygote is not None:
                self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

    def _fork(
        self,
        cwd: str | None,
        env: Mapping[str, str] | None,
        start_new_session: bool,
        p2cread: int,
        c2pwrite: int,
        errwrite: int,
    ) -> None:
        assert self._zygote is not None
        request = json.dumps(
            {
                "argv": self._jobctl_argv,
                "env": dict(os.environ if env is None else env),
                "cwd": os.fspath(cwd) if cwd is not None else os.getcwd(),
                "session": bool(start_new_session),
            }
        ).encode()
        # What the process gets as its standard streams: the pipes, or what a child
        # started here would inherit.
        streams = [p2cread, c2pwrite, errwrite]
        streams = [fd if fd != -1 else default for default, fd in enumerate(streams)]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self._zygote.address)
            socket.send_fds(sock, [HEADER.pack(len(request))], streams)
            sock.sendall(request)
            while True:
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError(f"the fork server lost a call: {self._zygote.log.name}")
                self._replies += data
                if self._replies.startswith(b"F"):
                    raise NotServed
                pid, status = _parse_replies(bytes(self._replies))
                if pid is not None:
                    break
        except BaseException:
            sock.close()
            raise
        self._socket = sock
        self.pid = pid
        self._child_created = True
        if status is not None:
            self._ended(status)

    def _ended(self, status: int) -> None:
        self._status = status
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        """As waitpid(pid, wait_flags), from the zygote's report."""
        if self._zygote is None:
            return super()._try_wait(wait_flags)  # type: ignore[misc, no-any-return]
        while self._status is None:
            assert self._socket is not None
            if wait_flags & os.WNOHANG:
                ready, _, _ = selectors.select.select([self._socket], [], [], 0)
                if not ready:
                    return 0, 0
            data = self._socket.recv(4096)
            if not data:
                raise RuntimeError(f"the fork server lost a call: {self._zygote.log.name}")
            self._replies += data
            _, status = _parse_replies(bytes(self._replies))
            if status is not None:
                self._ended(status)
        return self.pid, self._status

    def _internal_poll(self, _deadstate: int | None = None, **_: object) -> int | None:
        if self._zygote is None:
            return super()._internal_poll(_deadstate)  # type: ignore[misc, no-any-return]
        if self.returncode is None and self._waitpid_lock.acquire(False):
            try:
                if self.returncode is None:
                    pid, status = self._try_wait(os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(status)
            except OSError:
                if _deadstate is not None:
                    self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()
        return self.returncode


def _parse_replies(replies: bytes) -> tuple[int | None, int | None]:
    """`P<pid>\\n` as the call starts, `S<wait status>\\n` once it ended."""
    pid = status = None
    for line in replies.split(b"\n")[:-1]:
        if line.startswith(b"P"):
            pid = int(line[1:])
        elif line.startswith(b"S"):
            status = int(line[1:])
    return pid, status


def _text(data: bytes, encoding: str) -> str:
    """As subprocess's text mode decodes a stream it captured."""
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


_zygotes: list[Zygote] = []
MAX_ZYGOTES = 2


def zygote_for(argv: Sequence[str], environ: Mapping[str, str]) -> Zygote | None:
    """A server that can take this call, started if need be; None to run it plainly."""
    if os.environ.get("JOBCTL_TEST_FORK", "1") == "0":
        return None
    for zygote in _zygotes:
        if zygote.takes(argv, environ):
            return zygote
    if len(_zygotes) >= MAX_ZYGOTES:
        return None
    zygote = Zygote(environ)
    _zygotes.append(zygote)
    return zygote if zygote.takes(argv, environ) else None


def stop_all() -> None:
    while _zygotes:
        _zygotes.pop().stop()


# The server side: runs as `python forkserver.py ADDRESS PARENT_PID`.


def _serve(address: str, parent: int) -> None:
    import gc
    import pkgutil

    import jobctl

    for module in pkgutil.walk_packages(jobctl.__path__, "jobctl."):
        if module.name != "jobctl.__main__":
            importlib.import_module(module.name)
    for name in PRELOAD:
        importlib.import_module(name)
    # What was loaded is never collected: left to the collector, a child's first collection
    # walked (and so copied) every page of it, for nothing the call made.
    gc.collect()
    gc.freeze()
    # Each call's environment is written over this process's before its fork (_retitle),
    # where the C environment's entries point: emptied first, nothing here reads it again.
    os.environ.clear()
    own_lines = _lines_now()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".new")
    listener.listen(64)
    os.rename(address + ".new", address)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    # The calls running: each one's process (as a pidfd, readable once it ended) and the
    # connection its status goes back on.
    running: dict[int, tuple[int, socket.socket]] = {}
    while True:
        ready = selector.select(1.0)
        if os.getppid() != parent:
            os._exit(0)  # the test process is gone
        for key, _ in ready:
            if key.fileobj is listener:
                conn, _ = listener.accept()
                started = _start(conn, (listener, selector), running, own_lines)
                if started is None:
                    conn.close()
                else:
                    pidfd, pid = started
                    running[pidfd] = (pid, conn)
                    selector.register(pidfd, selectors.EVENT_READ)
            else:
                pidfd = key.fd
                pid, conn = running.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):
                    conn.sendall(b"S%d\n" % status)
                conn.close()


def _start(
    conn: socket.socket,
    own: tuple[socket.socket, selectors.BaseSelector],
    running: Mapping[int, tuple[int, socket.socket]],
    own_lines: tuple[bytes, bytes],
) -> tuple[int, int] | None:
    """Take one call and fork the process that runs it: (its pidfd, its pid); None if the
    caller went away before it had sent the whole call. The process keeps no descriptor of
    the server's (`own`, the other calls')."""
    fds: list[int] = []
    try:
        header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
        while len(header) < HEADER.size:
            more = conn.recv(HEADER.size - len(header))
            if not more:
                return None
            header += more
        (size,) = HEADER.unpack(header)
        body = bytearray()
        while len(body) < size:
            more = conn.recv(size - len(body))
            if not more:
                return None
            body += more
        request = json.loads(body)
        lines = _call_lines(request)
        room = [end - start for start, end in _areas()]
        if any(len(text) > size for text, size in zip(lines, room, strict=True)):
            with contextlib.suppress(OSError):
                conn.sendall(b"F\n")
            return None
        _retitle(lines)  # before the fork: /proc shows them from the process's first moment
        sys.stderr.flush()
        try:
            pid = os.fork()
        except BaseException:
            _retitle(own_lines)
            raise
        if pid == 0:
            try:
                for server_side in (*own, conn):
                    server_side.close()
                for pidfd, (_, other) in running.items():
                    os.close(pidfd)
                    other.close()
            finally:
                _become(request, fds)
        _retitle(own_lines)  # the zygote shows its own again
        with contextlib.suppress(OSError):
            conn.sendall(b"P%d\n" % pid)
        return os.pidfd_open(pid), pid
    finally:
        for fd in fds:
            os.close(fd)


def _become(request: dict[str, object], fds: list[int]) -> None:
    """Be `python -m jobctl ARGV` in the call's directory, environment and streams."""
    import runpy
    import threading

    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        cwd = str(request["cwd"])
        os.chdir(cwd)
        if request.get("session"):
            os.setsid()
        os.environ.clear()
        os.environ.update(request["env"])  # type: ignore[arg-type]
        sys.path[0] = cwd  # as `-m` puts the working directory first
        importlib.invalidate_caches()
        sys.argv = ["-m", *request["argv"]]  # type: ignore[misc]
        try:
            runpy.run_module("jobctl", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = _exit_code(stop.code)
        except KeyboardInterrupt:
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
            _die_by_sigint()
        except BaseException:
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                code = 120 if code == 0 else code
    finally:
        os._exit(code)


@functools.cache
def _areas() -> tuple[tuple[int, int], tuple[int, int]]:
    """Where the zygote's command line and environment lie in its memory (and so in each
    fork's), as the kernel reads them for /proc/PID/cmdline and /proc/PID/environ."""
    with open("/proc/self/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    arg_start, arg_end, env_start, env_end = (int(field) for field in fields[45:49])
    return (arg_start, arg_end), (env_start, env_end)


def _lines_now() -> tuple[bytes, bytes]:
    """What this process's command line and environment areas hold now."""
    import ctypes

    return tuple(ctypes.string_at(start, end - start) for start, end in _areas())  # type: ignore[return-value]


def _call_lines(request: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The command line and environment of `python -m jobctl ARGV` with the call's env, as
    /proc shows a new interpreter's."""
    argv = [sys.executable, "-m", "jobctl", *request["argv"]]
    command = b"".join(os.fsencode(word) + b"\0" for word in argv)
    environ = b"".join(os.fsencode(f"{k}={v}") + b"\0" for k, v in request["env"].items())
    return command, environ


def _retitle(lines: tuple[bytes, bytes]) -> None:
    """Write a call's command line and environment over the zygote's, so that what
    reads another process's /proc/PID/cmdline or /proc/PID/environ (jobctl's reload finds
    a daemon's config from them) sees what a new interpreter would show. The rest of each
    area stays zeros, read as empty words."""
    import ctypes

    for text, (start, end) in zip(lines, _areas(), strict=True):
        ctypes.memmove(start, text.ljust(end - start, b"\0"), end - start)


def _exit_code(code: object) -> int:
    """As the interpreter ends on SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


def _die_by_sigint() -> None:
    """As the interpreter ends on an uncaught KeyboardInterrupt: killed by SIGINT."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    os._exit(130)


if __name__ == "__main__":
    sys.path[0] = os.getcwd()
    _serve(sys.argv[1], int(sys.argv[2]))
