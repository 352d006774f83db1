"""An attempt's log file as the output of its command reaches it.

Made at the first byte (a silent job leaves none); capped to its last log_max_bytes once it
grows past twice that, a slice at a time between turns of the worker's loop (LogCut), the
job waiting on its pipe meanwhile; kept truthful when output cannot reach it: a log its
disk has no room for drops its older half to keep the newest output, a hole where output
was lost is marked in it (LOST), and the loss is said in the attempt's error.
"""

from __future__ import annotations

import contextlib
import errno
import os

from jobctl.logfolders import LOST, LogCut, log_exists, open_log, os_reason, write_counted

_ROOM_FROM = 65536  # a log this long frees room by dropping its older half: a shorter, none


class AttemptLog:
    """One attempt's log. The attempt writes its output here and, while `cutting`, reads
    none and calls `step()` at each turn of its loop."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.lost: str | None = None  # why output did not reach the log, if any did not
        self.final_cut = False  # the cut to max_bytes at the attempt's end: begun
        self._fd = -1  # opened at the first byte of output: silent jobs leave no file
        self._opened = False  # tried: made at most once (but for want of descriptors)
        self._made = False
        self._lost_bytes = 0  # of output lost since the log last said so (LOST)
        self._lost_why = ""
        self._no_log: str | None = None  # why the log cannot be made: output would be lost
        self._unchecked = 0  # bytes written since its size was last checked
        self._cut = (0, 0)  # bytes of output the log dropped, its line saying so: LogCut
        self._cutting: LogCut | None = None

    def prepare(self) -> None:
        """Before the command starts. Something there already (a planted link, the log of
        another database or namespace sharing the folder, or of one deleted since: its ids
        start over) is opened now, so that a refusal stops the attempt before its command
        runs, and emptied, so that the log holds this attempt's output alone. A folder
        refused raises: the job must not write where it should not."""
        try:
            there = log_exists(self.path)
        except PermissionError:
            raise
        except OSError as exc:  # no room for its folder (a full disk): the output is lost,
            self._opened = True  # not the job
            self._no_log = os_reason(exc)  # lost only if the job writes anything
            return
        if there:
            self._opened = True
            self._fd = open_log(self.path, truncate=True)
            self._made = True

    @property
    def cutting(self) -> bool:
        return self._cutting is not None

    def write(self, data: bytes) -> None:
        if self._fd < 0:
            if self._opened:  # the log could not be created: the output is lost, not the job
                self._lose(len(data), self._no_log or "")
                return
            self._opened = True
            try:
                self._fd = open_log(self.path)
            except OSError as exc:
                self._no_log = os_reason(exc)
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    # Descriptors run out while many jobs run: tried again at the next output.
                    self._opened = False
                self._lose(len(data), self._no_log)
                return
            self._made = True
        if self._lost_bytes and not self._mark_lost():
            self._lose(len(data), self._lost_why)  # after the hole, never before its mark
            return
        written, failed = write_counted(self._fd, data)
        if failed is not None:
            written += self._make_room(data[written:], failed)
            if written < len(data):
                self._lose(len(data) - written, os_reason(failed))
        self._unchecked += len(data)
        if self._unchecked > self.max_bytes:  # all output passes here: cap it here
            self._unchecked = 0
            self._begin_cut(2 * self.max_bytes)

    def step(self) -> bool:
        """A slice of the cut under way; True once it is done."""
        cutting = self._cutting
        assert cutting is not None
        if not cutting.step():
            return False
        self._cut = cutting.result
        self._cutting = None
        return True

    def begin_final_cut(self) -> bool:
        """At the attempt's end, cut the log to its last max_bytes, a slice at a time like
        any cut; whether one is under way (the attempt ends once it is done)."""
        if self._fd < 0 or self.final_cut:
            return False
        self.final_cut = True
        self._begin_cut(self.max_bytes)
        return self._cutting is not None

    def close(self) -> None:
        """Finish a cut under way (its log half copied back: done now, or output is lost),
        say a hole left at the end, and close the file."""
        if self._fd < 0:
            return
        if self._cutting is not None:
            self._cut = self._cutting.finish()
            self._cutting = None
        if self._lost_bytes:
            self._mark_lost()  # output lost up to its end: the log says so at its end
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = -1

    def lost_note(self) -> str:
        """What the error says of output that did not reach the log (a full disk): empty
        when all of it did."""
        return f", output lost ({self.lost})" if self.lost else ""

    def made_path(self) -> str:
        """The log's path; "" when the attempt wrote nothing, so no file was made."""
        return self.path if self._made else ""

    def _lose(self, size: int, why: str) -> None:
        """Output that did not reach the log: the error says so, and the log at its next
        write (LOST), where the hole is."""
        if self.lost is None:
            self.lost = why
        self._lost_bytes += size
        self._lost_why = why

    def _mark_lost(self) -> bool:
        """Write the line that marks a hole in the log, on a line of its own; whether it
        went."""
        try:
            size = os.fstat(self._fd).st_size
            open_line = size > 0 and os.pread(self._fd, 1, size - 1) != b"\n"
        except OSError:
            return False
        line = (b"\n" if open_line else b"") + LOST % (self._lost_bytes, self._lost_why.encode())
        if write_counted(self._fd, line)[1] is not None:
            return False
        self._lost_bytes = 0
        return True

    def _make_room(self, rest: bytes, failed: OSError) -> int:
        """A log its disk (or a file size limit) has no room for drops its older half, as
        the cap does, so that it keeps the newest output rather than the first, and the
        database beside it the room to record the job's end; how much of `rest` then went.
        Once per streak of lost output: a disk filled by another does not empty the log."""
        if failed.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or self._lost_bytes:
            return 0
        if self._cutting is not None:
            return 0
        try:
            size = os.fstat(self._fd).st_size
        except OSError:
            return 0
        if size < _ROOM_FROM:
            return 0
        self._cut = LogCut(self._fd, size // 2, 0, self._cut).finish()
        return write_counted(self._fd, rest)[0]

    def _begin_cut(self, above: int) -> None:
        """Cut the log to its last max_bytes if it is over `above`: a slice now, the rest
        at the loop's next turns (see LogCut), none of its output read meanwhile."""
        self._cutting = LogCut(self._fd, self.max_bytes, above, self._cut)
        self.step()
