"""Wake-ups for idle workers on one machine, through Unix datagram sockets.

Each idle worker binds a socket in a private directory beside the database; whoever commits
new work sends one byte to every socket there. A worker sleeps in select() until then, so
pick-up takes well under a millisecond and an idle worker costs no CPU. A lost datagram only
delays a job until the worker's next periodic check: correctness never depends on it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from jobctl.fsutil import private_dir

if TYPE_CHECKING:
    import socket

# Linux keeps socket paths under 108 bytes; longer ones are reached through /proc/self/fd.
_MAX_SOCKET_PATH = 100

WORK = b"w"  # new or newly due jobs
CONTROL = b"c"  # a running job was cancelled, or a queue paused


def wake_dir_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".wake")


class _DirHandle:
    """A directory through which sockets with long paths can still be bound and reached."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    def address(self, name: str) -> str:
        full = str(self.directory / name)
        if len(full.encode()) <= _MAX_SOCKET_PATH:
            return full
        if self._fd is None:
            self._fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._fd}/{name}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SocketListener:
    def __init__(self, directory: Path, worker: str) -> None:
        private_dir(directory)
        self._handle = _DirHandle(directory)
        self._name = _safe_name(worker) + ".sock"
        self._path = directory / self._name
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        import socket

        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old = os.umask(0o177)
        try:
            self._sock.bind(self._handle.address(self._name))
        finally:
            os.umask(old)
        self._sock.setblocking(False)
        self.control_pending = False

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> None:
        """Empty the socket; remember whether a control message (cancel, pause) came."""
        while True:
            try:
                data = self._sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if CONTROL in data:
                self.control_pending = True

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(OSError):
            self._path.unlink()
        self._handle.close()


class Notifier:
    """Sends wake-ups to every listening worker of one database."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sock: socket.socket | None = None

    def notify(self, message: bytes = WORK) -> None:
        try:
            names = os.listdir(self._directory)
        except OSError:
            return  # nobody has ever listened
        if not names:
            return
        if self._sock is None:
            import socket

            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        handle = _DirHandle(self._directory)
        try:
            for name in names:
                if not name.endswith(".sock"):
                    continue
                try:
                    self._sock.sendto(message, handle.address(name))
                except BlockingIOError:
                    pass  # its buffer is full of wake-ups already
                except OSError as exc:
                    if exc.errno == errno.ECONNREFUSED:  # its worker died; tidy up
                        with contextlib.suppress(OSError):
                            (self._directory / name).unlink()
        finally:
            handle.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _safe_name(worker: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in worker)[:80]
