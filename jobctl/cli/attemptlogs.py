"""An attempt's output as `logs` reads it: where its log file is, its last lines, and a
reader that follows the file as the worker appends to it (and cuts it, or another program
empties it), like `tail -f`."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, TextIO

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
            if str(here) != attempt.log_path and os.path.isfile(here):
                attempt = replace(attempt, log_path=str(here))
        found.append(attempt)
    return found


class LogTail(NamedTuple):
    """The end of an attempt's log as `dead show` gives it. `stored_only`: its file is gone
    from this host, the host that ran it, and this is what a shared store (Redis) kept of
    it, not the file's end."""

    text: str
    stored_only: bool = False


def log_tail(store: Store, attempt: Attempt, lines: int) -> LogTail | None:
    """The last `lines` lines of an attempt's log as written (None when there is none, an
    undecodable byte replaced, no newline at its end); when the file is not on this host,
    the end of it that a shared store (Redis) kept."""
    if not attempt.log_path:
        return None
    data = None if attempt.elsewhere() else _file_last_lines(attempt_log(store, attempt), lines)
    stored_only = False
    if data is None:
        stored = store.attempt_output(attempt.job_id, attempt.run)
        if stored is None:
            return None
        data, stored_only = stored[1], not attempt.elsewhere()
    text = last_lines(data, lines).decode("utf-8", "replace").removesuffix("\n")
    return LogTail(text, stored_only)


def _file_last_lines(path: Path, lines: int) -> bytes | None:
    """The last `lines` lines of a log file, read from its end as `logs --lines` reads them
    (read_last_lines): as many lines as asked, however long they are, each whole. None when
    there is no file to read (opened as logfiles.open_log opens one: never through a link)."""
    from jobctl.logfiles import open_log

    try:
        with os.fdopen(open_log(str(path)), "rb") as handle:
            return read_last_lines(handle, lines)
    except OSError:
        return None


def last_lines(data: bytes, lines: int) -> bytes:
    """The last `lines` lines of `data`, counted at newlines alone as `tail -n` counts them
    (a last line without its newline counts too)."""
    # Not str.splitlines: it also ends a line at a carriage return (and \x0b, \x0c, \x85,
    # U+2028...), so a progress bar's frames pushed the job's last real lines out, and the
    # tail was not the text the job wrote.
    if lines <= 0:
        return b""
    cut = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(lines):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return data
    return data[cut + 1 :]


def read_last_lines(handle: BinaryIO, lines: int) -> bytes:
    """The last `lines` lines of an open log file, read from its end a block at a time: a
    log of gigabytes is not read whole for its last lines."""
    if lines <= 0:
        return b""  # (a log without a newline would be read whole for none)
    fd = handle.fileno()
    start = os.fstat(fd).st_size
    blocks: list[bytes] = []
    newlines = 0
    while start > 0 and newlines <= lines:  # one more: the file's own last newline
        step = min(_BLOCK, start)
        start -= step
        block = os.pread(fd, step, start)
        blocks.append(block)
        newlines += block.count(b"\n")
    return last_lines(b"".join(reversed(blocks)), lines)


_BLOCK = 64 * 1024


def gone_line(attempt: Attempt, path: Path) -> str:
    """What `logs` says of an attempt whose log file is gone from this host, the one that
    ran it (removed by hand, a cleaned folder, a log_dir changed since)."""
    return (
        f"no output kept for job {attempt.job_id} attempt {attempt.run} ({path} is gone"
        f"{_not_read(attempt, path)})"
    )


def _not_read(attempt: Attempt, path: Path) -> str:
    """Where a log said gone was recorded, when that is not the path looked at (one the
    store named outside this host's log folders, never read: logfiles.trusted)."""
    if not attempt.log_path or str(path) == attempt.log_path:
        return ""
    return (
        f"; the path its worker recorded, {attempt.log_path}, is outside this host's log"
        " folders, and is not read"
    )


def say_stored_tail(attempt: Attempt, path: Path, tail: bytes) -> None:
    """The note before the end of an attempt's output that a shared store kept, when its
    log file is gone from this host, which ran it: the tail is all that is left, not the
    full log, and the full log is nowhere else to be found."""
    say(
        f"jobctl: job {attempt.job_id} attempt {attempt.run}: its log on this host ({path})"
        f" is gone{_not_read(attempt, path)}; the last {len(tail)} bytes the store kept follow"
    )


# The hooks an attempt may set off, as their logs name them (observe/hooks.py), in the order
# they run: on_failure, then on_dead.
HOOK_KINDS = ("failure", "dead")


class HookLog(NamedTuple):
    """A notification hook's log file for one attempt."""

    kind: str  # failure or dead, as on_failure and on_dead
    path: str
    size: int


def hook_document(hook: HookLog) -> dict[str, object]:
    """A hook's log as `show --json` and `dead show --json` give it in its attempt."""
    return {"kind": hook.kind, "log_path": hook.path, "size": hook.size}


class HookFolders(NamedTuple):
    """The log folders where an attempt's hooks may have written their logs, the likeliest
    first. `known`: the first is where the attempt's worker kept its logs, as its own log's
    recorded path says; otherwise each is a guess (the attempt wrote nothing, so recorded
    no log), and a hook log not found there may be elsewhere."""

    folders: tuple[str, ...]
    known: bool


def hook_folders(store: Store, attempts: Sequence[Attempt]) -> dict[int, HookFolders]:
    """Where to look for each attempt's hook logs (by run): beside its own log's folder as
    recorded, then beside those of the job's other attempts, then in this config's log
    folder. The worker that ran the hooks put them beside the attempt's log, whatever
    log_dir a reader's config names (or none, with --db alone)."""
    from jobctl import logfiles

    directory = str(logfiles.log_dir(STATE.config(), store.location))
    recorded = {a.run: _recorded_folder(store, a, directory) for a in attempts}
    anywhere = [f for f in recorded.values() if f is not None]
    return {
        run: HookFolders(
            tuple(dict.fromkeys([*([own] if own else []), *anywhere, directory])), own is not None
        )
        for run, own in recorded.items()
    }


def _recorded_folder(store: Store, attempt: Attempt, directory: str) -> str | None:
    """The log folder of an attempt's log as recorded (or where it is now, moved with its
    folder); None for one that recorded none, or one not to be trusted (logfiles.trusted)."""
    from jobctl import logfiles
    from jobctl.config import shared_store

    if not attempt.log_path or attempt.elsewhere():
        return None
    found = logfiles.locate(attempt.log_path, directory)
    if not logfiles.trusted(found, (attempt.job_id,), directory, shared_store(store.location)):
        return None
    return logfiles.log_folder_of(found)


def find_hook_log(folders: HookFolders, attempt: Attempt, kind: str) -> HookLog | None:
    """The attempt's hook log of this kind in the first of its folders that holds one: a
    stat a folder, most often one (a listing of a hooks folder, which holds a file per hook
    run of every job kept, would cost more the more jobs are kept)."""
    from jobctl import logfiles
    from jobctl.models import Outcome

    if attempt.outcome == Outcome.SUCCEEDED:
        return None  # it set off no hook: a log there is of another job of its id
    for folder in folders.folders:
        path = logfiles.hook_log_path(folder, attempt.job_id, attempt.run, kind)
        try:
            found = os.lstat(path)
        except OSError:
            continue
        # A hook runs once its attempt has ended: a log last written before the attempt
        # started is that of a job of the same id and run in a timeline a restore undid
        # (to the second: a file system may keep whole seconds).
        if stat.S_ISREG(found.st_mode) and found.st_mtime >= int(attempt.started_at):
            return HookLog(kind, path, found.st_size)
    return None


def hook_logs(store: Store, attempts: Sequence[Attempt]) -> dict[int, list[HookLog]]:
    """The hook logs of each attempt of a job (by run) that exist on this host, found beside
    the attempts' own logs (hook_folders). A hook's log is made at its first byte: a hook
    that wrote nothing has none. The hooks of an attempt run on another host wrote their
    logs there."""
    if not attempts:
        return {}
    found: dict[int, list[HookLog]] = {}
    folders = hook_folders(store, attempts)
    for attempt in attempts:
        found[attempt.run] = []
        if attempt.elsewhere():
            continue
        for kind in HOOK_KINDS:
            hook = find_hook_log(folders[attempt.run], attempt, kind)
            if hook is not None:
                found[attempt.run].append(hook)
    return found


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
        return self.remote or (self._handle is None and not os.path.exists(self.path))

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
