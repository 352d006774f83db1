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

from jobctl.fsutil import DIR_FLAGS, not_private, open_private_dir

if TYPE_CHECKING:
    import socket

# Linux keeps socket paths under 108 bytes; longer ones are reached through /proc/self/fd.
_MAX_SOCKET_PATH = 100


WORK = b"w"  # new or newly due jobs
CONTROL = b"c"  # a running job was cancelled, or a queue paused


def wake_dir_for(db_path: Path) -> Path:
    """`<database>.wake/` beside the file a link to it leads to, as its -wal and -shm are: a
    folder beside the link would leave the workers and clients that name the database
    through it and those that name the file deaf to each other."""
    return Path(os.path.realpath(db_path) + ".wake")


class _DirHandle:
    """A checked directory, held open: sockets with long paths are bound and reached through
    it, and dead ones removed through it, never through a path swapped since."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self.fd = fd

    def address(self, name: str) -> str:
        full = str(self.directory / name)
        if len(full.encode()) <= _MAX_SOCKET_PATH:
            return full
        return f"/proc/self/fd/{self.fd}/{name}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class SocketListener:
    def __init__(self, directory: Path, worker: str) -> None:
        # Made private if missing, refused (PermissionError) if it is not this user's.
        self._handle = _DirHandle(directory, open_private_dir(str(directory), what="wake folder"))
        self._name = _safe_name(worker) + ".sock"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._name, dir_fd=self._handle.fd)
            import socket

            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            old = os.umask(0o177)
            try:
                self._sock.bind(self._handle.address(self._name))
            finally:
                os.umask(old)
        except BaseException:
            self._handle.close()
            raise
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
            os.unlink(self._name, dir_fd=self._handle.fd)
        self._handle.close()


class Notifier:
    """Sends wake-ups to every listening worker of one database."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sock: socket.socket | None = None

    def notify(self, message: bytes = WORK) -> None:
        try:
            fd = os.open(self._directory, DIR_FLAGS)
        except OSError:
            return  # nobody has ever listened (or it is a link: never followed)
        handle = _DirHandle(self._directory, fd)
        try:
            # Checked when the database was opened; a folder planted since is left alone.
            if not_private(os.fstat(fd), where=fd) is not None:
                return
            names = os.listdir(fd)
            if not names:
                return
            if self._sock is None:
                import socket

                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
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
                            os.unlink(name, dir_fd=fd)
        except OSError:
            return
        finally:
            handle.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def wake_all(directory: Path) -> None:
    """Wake every listening worker once (`jobctl reload`): each looks at its config's stamp
    at once, and claims into the slots a raised max_running opens."""
    notifier = Notifier(directory)
    try:
        notifier.notify(WORK)
    finally:
        notifier.close()


def _safe_name(worker: str) -> str:
    """A file name for a worker's socket, one per worker name: a name changed to fit (`a/b`
    and `a_b`, two long names alike at the start) gets a digest of the whole name, or two
    workers would bind one socket and one of them would never be woken."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.:") else "_" for ch in worker)
    if safe == worker and len(safe) <= 80:
        return safe  # (every default id, host:pid:random)
    import zlib  # not hashlib: it loads OpenSSL, megabytes of a worker's memory

    data = worker.encode("utf-8", "surrogateescape")
    return f"{safe[:60]}-{zlib.crc32(data):08x}{zlib.adler32(data):08x}"
