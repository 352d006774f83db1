"""An attempt's output as `logs` reads it: where its log file is, its last lines, and a
reader that follows the file as the worker appends to it (and cuts it, or another program
empties it), like `tail -f`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from jobctl.cli.context import STATE
from jobctl.text import say

if TYPE_CHECKING:
    from jobctl.models import Attempt
    from jobctl.store import Store


def attempt_log(store: Store, attempt: Attempt) -> Path:
    """Where an attempt's output is: recorded with the attempt when it starts; for an attempt
    recorded without one, where a worker with this config would put it."""
    from jobctl import logfiles
    from jobctl.config import shared_store

    directory = logfiles.log_dir(STATE.config(), store.location)
    if attempt.log_path:
        if attempt.elsewhere():
            return Path(attempt.log_path)  # that host's path, only shown: not read here
        found = logfiles.locate(attempt.log_path, directory)
        if logfiles.trusted(found, (attempt.job_id,), directory, shared_store(store.location)):
            return Path(found)
    return Path(logfiles.attempt_log_path(directory, attempt.job_id, attempt.run))


def located(store: Store, attempts: list[Attempt]) -> list[Attempt]:
    """The attempts with their logs' paths where they are now: a log folder moved since an
    attempt recorded its path is found all the same (attempt_log), and that is the path to
    show, not the one recorded, which names no file any more."""
    from dataclasses import replace

    found = []
    for attempt in attempts:
        if attempt.log_path and not attempt.elsewhere():
            here = attempt_log(store, attempt)
            if str(here) != attempt.log_path and here.is_file():
                attempt = replace(attempt, log_path=str(here))
        found.append(attempt)
    return found


def log_tail(store: Store, attempt: Attempt, lines: int) -> str | None:
    """The last `lines` lines of an attempt's log as written (None when there is none, an
    undecodable byte replaced, no newline at its end); when the file is not on this host,
    the end of it that a shared store (Redis) kept."""
    from jobctl.logfiles import read_tail

    if not attempt.log_path:
        return None
    data = None if attempt.elsewhere() else read_tail(str(attempt_log(store, attempt)), 64 * 1024)
    if data is None:
        stored = store.attempt_output(attempt.job_id, attempt.run)
        if stored is None:
            return None
        data = stored[1]
    if lines <= 0:
        return ""
    # Lines end at a newline alone, as `tail -n` counts them: str.splitlines also ends one
    # at a carriage return (and \x0b, \x0c, \x85, U+2028...), so a progress bar's frames
    # pushed the job's last real lines out, and the tail was not the text the job wrote.
    text = data.decode("utf-8", "replace").removesuffix("\n")
    return "\n".join(text.split("\n")[-lines:])


def say_output_lost(attempt: Attempt) -> None:
    """A note on stderr when some of an attempt's output never reached its log (a full
    disk): the log, or no log at all, would pass for all of it. Its error says so, and why."""
    import re

    found = re.search(r"(?:^|, )output lost \((.+?)\)(?=: |$)", attempt.error or "")
    if found is not None:
        say(
            f"jobctl: note: job {attempt.job_id} attempt {attempt.run}: part of its output"
            f" was lost ({found.group(1)})"
        )


class FollowedOutput:
    """The jobs' output as `--follow` copies it to stdout, with jobctl's own lines on stderr
    between: where both reach one file (a terminal, `2>&1`), a line of jobctl's after output
    that did not end its line starts a line of its own, so that it is read (and grepped) as
    jobctl's. Nothing is added to stdout: it stays the job's bytes, as its log holds them."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._open_line = False  # the last byte copied was not a newline

    def write(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._open_line = not data.endswith(b"\n")

    def flush(self) -> None:
        self._out.flush()

    def own_line(self) -> None:
        """Before a line of jobctl's on stderr: end the job's open line there, when stdout
        and stderr are one file."""
        if self._open_line and _one_file(self._out, sys.stderr):
            sys.stderr.write("\n")
        self._open_line = False


def _one_file(out: BinaryIO, err: TextIO) -> bool:
    try:
        a, b = os.fstat(out.fileno()), os.fstat(err.fileno())
    except (OSError, ValueError):  # closed, or not a file (a test's buffer)
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class LogReader:
    """Copies what is appended to one log file, like `tail -f`. The worker cuts a log that
    grows past twice log_max_bytes to its last log_max_bytes, in place, and starts it with a
    line saying how many bytes it dropped in all (logfolders.trim_log): that says where in
    the job's output each byte of the file is, so that none is shown twice, nor the line.

    Something else may cut the file too: logrotate's `copytruncate` copies it and empties
    it, the job writing on at its new end. The file is then shorter than what was shown, or
    holds other bytes where the last ones shown were: read on at the old offset, it would
    lose what is written until the file grows past it, then start in the middle of a line.
    It is read again from its new start instead, saying so."""

    def __init__(self, job_id: int, run: int, path: Path, *, remote: bool = False) -> None:
        self.job_id = job_id
        self.run = run
        self.path = path
        # Run on another host: a file of its name here is another log, never to be read.
        self.remote = remote
        self.told = False  # whether the person was told where it runs (see watch)
        self.shown = 0  # bytes of the job's output copied so far
        self._last = b""  # the last bytes copied, to tell the file was rewritten under them
        self._handle: BinaryIO | None = None

    def copy(self, out: FollowedOutput) -> bool:
        """Copy what is new; True when something was."""
        from jobctl.errors import OperationFailed
        from jobctl.logfolders import kept_from

        if self.remote:
            return False
        if self._handle is None:
            try:
                self._handle = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
            except FileNotFoundError:
                return False  # not created yet, or the attempt never started its command
            except OSError as exc:
                raise OperationFailed(f"cannot read {self.path}: {exc.strerror}") from None
        fd = self._handle.fileno()
        copied = 0
        kept = kept_from(fd)
        while kept is not None:
            start, offset = kept  # the file holds the output from byte `start` on, at `offset`
            if start > self.shown:  # cut before it was read: it cannot be shown
                out.own_line()
                say(
                    f"jobctl: note: job {self.job_id} attempt {self.run}: {start - self.shown}"
                    " bytes of its output were cut from the log (log_max_bytes) before they"
                    " could be shown"
                )
                self.shown, self._last = start, b""
            if self._emptied_by_another(fd, kept):
                out.own_line()
                say(
                    f"jobctl: note: job {self.job_id} attempt {self.run}: its log {self.path}"
                    " was truncated by something other than jobctl (logrotate's copytruncate?):"
                    " following it from its new start; what the job wrote just before that is"
                    " only in the copy, if one was made"
                )
                self.shown, self._last = start, b""
            chunk = os.pread(fd, 64 * 1024, offset + self.shown - start)
            if not chunk:
                break
            now = kept_from(fd)
            if now != kept:  # cut while it was read: read again where the bytes are now
                kept = now
                continue
            out.write(chunk)
            self.shown += len(chunk)
            self._last = (self._last + chunk)[-_LAST_BYTES:]
            copied += len(chunk)
        if copied:
            out.flush()
        return copied > 0

    def _emptied_by_another(self, fd: int, kept: tuple[int, int]) -> bool:
        """Whether the file lost bytes already shown to something other than the worker: it
        is shorter than what was shown, or other bytes stand where the last ones shown were.
        Only for a file the worker never cut (kept is (0, 0)): one it is cutting is short
        for a moment, its kept bytes not all copied back yet (logfolders.trim_log)."""
        start, offset = kept
        if kept != (0, 0) or self.shown <= start:
            return False
        at = offset + self.shown - start
        if os.fstat(fd).st_size < at:
            return True
        last = self._last[-min(len(self._last), at) :] if self._last else b""
        return bool(last) and os.pread(fd, len(last), at - len(last)) != last

    def missing(self) -> bool:
        """True while the file was never found (it is on another host, or never made)."""
        return self.remote or (self._handle is None and not self.path.exists())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# The bytes last shown that a follower compares with the file's: a log emptied and written
# again past its old length holds others there, but for output that repeats itself.
_LAST_BYTES = 256


def copy_output(source: BinaryIO, out: BinaryIO) -> int:
    total = 0
    while chunk := source.read(64 * 1024):
        out.write(chunk)
        total += len(chunk)
    if total:
        out.flush()
    return total
