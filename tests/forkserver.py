"""Run `python -m jobctl ARGS` in a process forked from one that imported jobctl already.

Most of a CLI call's cost in the suite is the interpreter starting and importing jobctl,
typer and their modules (some 40 ms of CPU a call, thousands of calls). A server process
(the "zygote") does that once; each call is then a fork of it that takes the call's
arguments, environment, directory and standard streams, and runs jobctl's `__main__` as
`python -m` would, in a process of its own: its own pid, real pipes, a real exit status or
death by a signal. Nothing of jobctl is stood in for; only the interpreter's start is shared.

A fork is faithful only where nothing the interpreter reads as it starts differs, so a
call is served only when its environment differs from the zygote's in variables read at
run time alone (`SHARED_AT_RUN_TIME`), and the caller's umask, resource limits and ignored
signals are the zygote's; any other call runs as a plain subprocess. JOBCTL_TEST_FORK=0
turns the server off for a whole run.
"""

from __future__ import annotations

import contextlib
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
# What the CLI's commands import, loaded once in the zygote (a module a command would not
# have loaded changes nothing but the time its import takes).
PRELOAD = (
    "jobctl.cli.main",
    "jobctl.cli.app",
    "jobctl.cli.enqueue",
    "jobctl.cli.context",
    "jobctl.cli.attemptlogs",
    "jobctl.cli.unserved",
    "jobctl.store.sqlite",
    "jobctl.store.redis",  # redis-py: some 65 ms of every forked call on a Redis store
    "jobctl.config",
    "jobctl.worker",
    "jobctl.render",
    "jobctl.producer",
    "jobctl.observe.hooks",
    "jobctl.observe.events",
    "typer",
)
HEADER = struct.Struct("!I")


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
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.address, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=dict(environ),
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

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.address)
            os.unlink(self.log.name)
            os.rmdir(self.folder)


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
    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".new")
    listener.listen(64)
    os.rename(address + ".new", address)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    while True:
        ready, _, _ = selectors.select.select([listener], [], [], 1.0)
        if os.getppid() != parent:
            os._exit(0)  # the test process is gone
        if not ready:
            continue
        conn, _ = listener.accept()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _handle(conn)
        conn.close()


def _handle(conn: socket.socket) -> None:
    """In a child of the server: take one call, run it in a child of its own, report."""
    try:
        header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
        while len(header) < HEADER.size:
            header += conn.recv(HEADER.size - len(header))
        (size,) = HEADER.unpack(header)
        body = bytearray()
        while len(body) < size:
            body += conn.recv(size - len(body))
        request = json.loads(body)
        pid = os.fork()
        if pid == 0:
            conn.close()
            _become(request, fds)
        for fd in fds:
            os.close(fd)
        conn.sendall(b"P%d\n" % pid)
        _, status = os.waitpid(pid, 0)
        conn.sendall(b"S%d\n" % status)
    finally:
        os._exit(0)


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
