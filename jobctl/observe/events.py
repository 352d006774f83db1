"""Event lines on stderr: one per job start, finish, retry and death, and per worker event.

Text is one readable line per event; JSON is one object per line with fixed field names,
so journald, container logs and log shippers take them as they are. Under journald each
line starts with its level's sd-daemon priority (`<4>` for a warning), which journald takes
off and keeps as the entry's priority (`journalctl -p warning`); a text line then carries no
time of its own, journald stamping each one.

A stream with a descriptor is written only as far as it takes bytes now (see _Outlet): a
reader of stderr that stalls (a log collector, `| logger`, docker's blocking log mode) must
not stop a worker's loop, its lease renewals and its signals with it.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from jobctl.durations import format_short
from jobctl.text import clean, json_safe
from jobctl.timefmt import iso

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_TEXT_ORDER = ("job_id", "job", "queue", "attempt", "duration_ms", "exit_code", "error")
_TEXT_KEYS = frozenset(_TEXT_ORDER)
# sd-daemon(3)'s prefixes: err, warning, info and debug.
_PRIORITY = {"error": "<3>", "warning": "<4>", "info": "<6>", "debug": "<7>"}


class EventLog:
    def __init__(
        self, stream: TextIO | None = None, fmt: str = "text", level: str = "info"
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.fmt = fmt
        self.threshold = LEVELS.get(level, 20)
        self.stamp = stamp_for(self.stream)
        self._outlet = _outlet_for(self.stream)
        self._encoding = getattr(self.stream, "encoding", None) or "utf-8"
        self._lock = threading.Lock()
        self._holder: int | None = None  # the thread whose lines wait for flush()
        self._held: list[str] = []

    def hold(self) -> None:
        """Keep the calling thread's lines until `flush()`: a busy worker writes the lines of
        one turn of its loop at once, before it sleeps, instead of a write per line."""
        self._holder = threading.get_ident()

    def flush(self) -> None:
        with self._lock:
            lines, self._held = self._held, []
            if lines:
                self._write("".join(lines))

    def release(self) -> None:
        self._holder = None
        self.flush()

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        if LEVELS.get(level, 20) < self.threshold:
            return
        now = time.time()
        if self.fmt == "json":
            record = {"ts": iso(now), "level": level, "event": event}
            record.update(_json_fields(fields))
            line = _json_line(record)
            if self.stamp == "journal":
                line = priority_prefix(level) + line
        else:
            line = _text_line(now, level, event, fields, self.stamp)
        with self._lock:
            if self._holder is not None and self._holder == threading.get_ident():
                self._held.append(line + "\n")
            else:
                self._write(line + "\n")

    def _write(self, text: str) -> None:
        try:
            if self._outlet is None:  # a StringIO, a stream of a test's own: as it takes it
                self.stream.write(text)
                self.stream.flush()
                return
            self.stream.flush()  # another writer's text (a say() line) goes first
        except (OSError, ValueError):
            return  # a closed stderr must never stop a worker
        data = text.encode(self._encoding, "backslashreplace")
        self._outlet.send(data, self._dropped_line)

    def _dropped_line(self, count: int) -> bytes:
        """The line standing for `count` lines dropped while the stream took no writes."""
        fields = {"dropped": count, "reason": "stderr was not read"}
        if self.fmt == "json":
            record = {"ts": iso(time.time()), "level": "warning", "event": "log.dropped"}
            line = _json_line({**record, **fields})
            if self.stamp == "journal":
                line = priority_prefix("warning") + line
        else:
            line = _text_line(time.time(), "warning", "log.dropped", fields, self.stamp)
        return (line + "\n").encode(self._encoding, "backslashreplace")


class _Outlet:
    """The bytes of event lines on their way to one descriptor, written only as far as it
    takes them now: poll says whether it is writable, and a write of PIPE_BUF bytes at most
    then never blocks (a pipe's promise; a file or a terminal takes it too). What it does
    not take waits for the next line or flush, up to PENDING_MOST bytes; whole lines beyond
    are dropped and counted, and once there is room again one `log.dropped` line says how
    many. Every event log on one descriptor shares its outlet, so lines stay whole and in
    order (`up`'s worker and cron daemon, the JSON lines of jobctl's own warnings)."""

    PENDING_MOST = 256 * 1024
    EXIT_WAIT = 3.0  # at exit, how long lines still pending wait for a reader

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.pending = bytearray()
        self.dropped = 0
        self._poll = select.poll()
        self._poll.register(fd, select.POLLOUT)
        self._waits_at_exit = False
        self._dropped_line: Callable[[int], bytes] | None = None

    def send(self, data: bytes, dropped_line: Callable[[int], bytes]) -> None:
        with self.lock:
            if self.pending:
                self._write_now(0)
            self._dropped_line = dropped_line
            if self.dropped and len(self.pending) <= self.PENDING_MOST // 2:
                self._say_dropped()  # the stream took writes again: where the gap is
            elif self.dropped:
                self.dropped += data.count(b"\n")  # still stalled: one gap, one line
                return
            room = self.PENDING_MOST - len(self.pending)
            if len(data) <= room:
                self.pending += data
            else:
                kept = data.rfind(b"\n", 0, max(room, 0)) + 1
                self.pending += data[:kept]
                self.dropped += data.count(b"\n", kept)
            self._write_now(0)
            if (self.pending or self.dropped) and not self._waits_at_exit:
                self._waits_at_exit = True
                atexit.register(self.finish)

    def _say_dropped(self) -> None:
        if self._dropped_line is not None:
            self.pending += self._dropped_line(self.dropped)
        self.dropped = 0

    def _write_now(self, timeout_ms: int) -> None:
        """Write what is pending while the descriptor takes it, waiting `timeout_ms` at most
        for it to be writable. Chunks end at a line's end where one fits, so that another
        writer of the descriptor never lands inside a line."""
        pending = self.pending
        while pending:
            try:
                ready = self._poll.poll(timeout_ms)
            except OSError:
                return
            if not ready:
                return
            if ready[0][1] & select.POLLNVAL:  # closed: what is pending goes nowhere
                pending.clear()
                return
            end = min(len(pending), select.PIPE_BUF)
            if end < len(pending):
                end = pending.rfind(b"\n", 0, end) + 1 or end
            try:
                written = os.write(self.fd, pending[:end])
            except BlockingIOError:
                return
            except OSError:  # a closed stderr, a reader gone: never stops a worker
                pending.clear()
                return
            del pending[:written]

    def finish(self) -> None:
        """At exit: the lines still pending, and the count of those dropped, get EXIT_WAIT
        seconds at most for a reader, so that a stalled one never holds a shutdown."""
        deadline = time.monotonic() + self.EXIT_WAIT
        with self.lock:
            while self.pending or self.dropped:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._write_now(max(1, int(left * 1000)))
                if self.dropped and not self.pending:
                    self._say_dropped()


_outlets: dict[int, _Outlet] = {}
_outlets_lock = threading.Lock()


def _outlet_for(stream: TextIO) -> _Outlet | None:
    """The outlet of `stream`'s descriptor; None for a stream without one (a StringIO)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    with _outlets_lock:
        outlet = _outlets.get(fd)
        if outlet is None:
            try:
                outlet = _outlets[fd] = _Outlet(fd)
            except (OSError, ValueError):  # a descriptor poll refuses
                return None
        return outlet


def stamp_for(stream: TextIO) -> str:
    """How the text lines written to `stream` start: "journal" (journald's stream: a priority
    and no time), "clock" (a terminal: the time of day, to the millisecond) or "date" (a file,
    a pipe: the date and time with its offset, as a log kept for months needs)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO, a stream of a test's own
        return "date"
    if on_journal(fd):
        return "journal"
    try:
        return "clock" if os.isatty(fd) else "date"
    except OSError:
        return "date"


def on_journal(fd: int) -> bool:
    """Whether `fd` is the journald stream systemd gave this service: JOURNAL_STREAM names
    it by device and inode. A variable inherited by a process whose stderr goes elsewhere
    (`jobctl up 2>file` run from a unit's shell) names another file, and is no match."""
    named = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = named.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        found = os.fstat(fd)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == (int(device), int(inode))


def priority_prefix(level: str) -> str:
    """The sd-daemon prefix of a line at `level` ("error", "warning", "info", "debug")."""
    return _PRIORITY.get(level, "<6>")


class Seconds(float):
    """A span of time in an event: as people read it in text (`retry_in=2.0s`), a number of
    seconds in JSON, under the field's name and `_s` (`"retry_in_s": 2.0`), which a log
    shipper can sum and compare."""

    text: str

    def __new__(cls, seconds: float, text: str) -> Seconds:
        made = super().__new__(cls, seconds)
        made.text = text
        return made

    def __str__(self) -> str:
        return self.text


class Count(int):
    """A count that may have been cut short (`100 or more` in text): a number in JSON, and
    the field's name and `_capped` true beside it when it was."""

    capped: bool

    def __new__(cls, value: int, capped: bool = False) -> Count:
        made = super().__new__(cls, value)
        made.capped = capped
        return made

    def __str__(self) -> str:
        return f"{int(self)} or more" if self.capped else str(int(self))


class Names(tuple[str, ...]):
    """Names in an event (a worker's queues): `a,b` in text, a list in JSON."""

    def __str__(self) -> str:
        return ",".join(self)


def _json_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """An event's fields as its JSON line holds them (see Seconds, Count, Names)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Seconds):
            out[f"{key}_s"] = round(float(value), 3)
        elif isinstance(value, Count):
            out[key] = int(value)
            if value.capped:
                out[f"{key}_capped"] = True
        elif isinstance(value, Names):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def _json_line(record: dict[str, Any]) -> str:
    """One JSON object as one line, safe for a terminal showing the log (text.json_safe)."""
    return json_safe(json.dumps(record, ensure_ascii=False, default=str))


def _text_line(
    ts: float, level: str, event: str, fields: dict[str, Any], stamp: str = "clock"
) -> str:
    """One line, starting as `stamp` says (see stamp_for); fields whose value is None are
    left out. A worker writes two per job, so this stays lean: the clock part is made once
    a second."""
    global _clock, _dated
    if stamp == "journal":
        head = priority_prefix(level)
    else:
        second = ts // 1
        cached = _dated if stamp == "date" else _clock
        if cached[0] != second:
            local = time.localtime(int(second))  # as localtime() rounds: down
            clock = f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}"
            if stamp == "date":
                offset = local.tm_gmtoff
                sign = "-" if offset < 0 else "+"
                hours, minutes = divmod(abs(offset) // 60, 60)
                date = f"{local.tm_year:04d}-{local.tm_mon:02d}-{local.tm_mday:02d}"
                cached = _dated = (second, f"{date}T{clock}", f"{sign}{hours:02d}:{minutes:02d}")
            else:
                cached = _clock = (second, clock, "")
        head = f"{cached[1]}.{int(ts % 1 * 1000):03d}{cached[2]} "
    parts = [f"{event:<15}"] if level == "info" else [level.upper(), f"{event:<15}"]
    for key in _TEXT_ORDER:
        value = fields.get(key)
        if value is not None:
            parts.append(_text_field(key, value))
    for key, value in fields.items():
        if value is not None and key not in _TEXT_KEYS:
            parts.append(_text_field(key, value))
    return head + " ".join(parts)


# The last second formatted: (second, its HH:MM:SS or date and time, its offset), each
# replaced whole (threads share them); NaN equals no second.
_clock: tuple[float, str, str] = (float("nan"), "", "")
_dated: tuple[float, str, str] = (float("nan"), "", "")


# Fields that hold the end of some output (a hook's `output`): cut, they keep that end.
_TAIL_KEYS = frozenset({"output"})


def _text_field(key: str, value: Any) -> str:
    if key == "job_id":
        return f"#{value}"
    if key == "job":
        return str(value)
    if key == "duration_ms":
        return f"in {_human_ms(value)}"
    # ESC, CR and the like from a job's stderr: shown, not obeyed. Not only when the text is
    # not isprintable(): a Hangul filler is a printable letter that draws as a blank.
    text = clean(str(value).replace("\n", " ⏎ "))
    if len(text) > 300:
        # A tail of output keeps its end, where a failing command says what went wrong.
        text = "..." + text[-297:] if key in _TAIL_KEYS else text[:297] + "..."
    if " " in text or '"' in text:
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{key}={text}"


def _human_ms(ms: Any) -> str:
    try:
        return format_short(float(ms) / 1000.0)
    except (TypeError, ValueError):
        return str(ms)


class Outage:
    """The log lines of a store that stopped answering: one when it fails, one when it is
    back, and a reminder a minute apart in between, not a line a second for as long as a
    server is down. `prefix` names the process ("worker", "scheduler")."""

    REMIND_EVERY = 60.0

    def __init__(self, log: EventLog, prefix: str) -> None:
        self.log = log
        self.prefix = prefix
        self._since: float | None = None
        self._said_at = 0.0
        self.last_error: Exception | None = None

    def down_for(self, now: float) -> float:
        """How long the store has been failing; 0 while it answers."""
        return 0.0 if self._since is None else now - self._since

    def failed(self, error: Exception, now: float) -> None:
        self.last_error = error
        if self._since is None:
            self._since = self._said_at = now
            self.log.emit(f"{self.prefix}.store_error", level="error", error=str(error))
        elif now - self._said_at >= self.REMIND_EVERY:
            self._said_at = now
            self.log.emit(
                f"{self.prefix}.store_error",
                level="error",
                error=f"{error} (failing for {format_short(now - self._since)})",
            )
        else:  # each try, for whoever debugs the retry rhythm
            self.log.emit(f"{self.prefix}.store_retry", level="debug", error=str(error))

    def answered(self, now: float) -> None:
        if self._since is not None:
            down = now - self._since
            self._since = None
            self.log.emit(
                f"{self.prefix}.store_back",
                level="warning",
                after=Seconds(down, format_short(down)),
            )
