"""The one place where instants are read from and written as text: ISO-8601 with offset,
and read also as typed at a shell (21:30, tomorrow 9:00, +10m)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, tzinfo
from datetime import time as dtime
from typing import TYPE_CHECKING

from jobctl.errors import DurationError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable
    from zoneinfo import ZoneInfo

# Seconds an instant may be past and still be taken for now without a note: that of
# `--at "$(date -Iseconds)"`, or of a batch line its producer stamped a moment ago.
PAST_UNSAID = 5.0

# Where the host's zone is set (what `timedatectl set-timezone` writes).
LOCALTIME = "/etc/localtime"
TIMEZONE_FILE = "/etc/timezone"


# Two processes read their clocks moments apart (a job made due by one's success and started
# by another): a span less than this below zero is none. One further below zero crosses a
# step back of the wall clock (an NTP step, a VM restored): its length is unknown, and its
# absolute value would be read as real.
_CLOCK_SLACK = 1.0


def elapsed(start: float, end: float) -> float | None:
    """Seconds from `start` to `end`, both wall-clock times: None (unknown) when the clock
    stepped back between them, 0 when a clock read elsewhere put it a little below 0."""
    seconds = end - start
    if seconds >= 0:
        return seconds
    return 0.0 if seconds > -_CLOCK_SLACK else None


def iso(ts: float | None, zone: tzinfo | None = None, timespec: str = "milliseconds") -> str | None:
    """ISO-8601 with its offset (to the millisecond by default): in `zone`, else local."""
    if ts is None:
        return None
    if zone is not None:
        return datetime.fromtimestamp(ts, zone).isoformat(timespec=timespec)
    local = datetime.fromtimestamp(ts)
    second = ts // 1
    if ts - second >= 0.999999:  # it may round up into the next second, of another offset
        return local.astimezone().isoformat(timespec=timespec)
    offset = _local_offsets.get(second)
    if offset is None:
        # astimezone() is most of the cost (`list --json` writes three instants a job); the
        # offset is the same all through a second.
        if len(_local_offsets) >= 4096:
            _local_offsets.clear()
        offset = _local_offsets[second] = local.astimezone().isoformat("T", "seconds")[19:]
    return local.isoformat(timespec=timespec) + offset


# The local offset (`+01:00`) of each second lately written by iso().
_local_offsets: dict[float, str] = {}


def wall_time(ts: float, zone: tzinfo) -> str:
    """`ts` as a wall time in `zone` to the second, `2027-10-31 01:30:00`, naming its zone
    (`01:30:00 GMT`) where the zone has that wall time twice (the hour the clocks go back):
    without it the two instants read alike, and the second looks past during the first."""
    moment = datetime.fromtimestamp(ts, zone)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    other = moment.replace(fold=1 - moment.fold)
    if other.utcoffset() == moment.utcoffset():
        return shown
    label = moment.strftime("%Z")
    # A zone may give both the same abbreviation (or none): then the offset tells them apart.
    if not label or label == other.strftime("%Z"):
        label = moment.isoformat(timespec="seconds")[19:]
    return f"{shown} {label}"


def parse_instant(
    text: str,
    what: str = "--at",
    zone: tzinfo | None = None,
    notes: list[str] | None = None,
    now: float | None = None,
) -> float:
    """Read an instant: ISO-8601, or one of the forms typed at a shell (see _informal_instant,
    relative to `now`). A time without an offset is in `zone`, else local time. A local time
    the zone skips or has twice (a DST change) is read as cron reads it, and `notes` gets a
    line saying which instant that is."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)  # first: a batch has 100,000 of these
    except ValueError:
        return _informal_instant(text, raw, what, zone, notes, now)
    # (The usual 2026-05-01T09:30 is told by one character, without a regular expression.)
    odd = None if raw[10:11] in ("T", "t", " ", "") else _separator(raw)
    if odd not in (None, "T", "t", " "):
        # Python takes any one character between date and time (2027-01-01x09:30): a typo,
        # such as 2027-01-01-09:30, is refused, not read.
        raise UsageError(
            f"{what}: {text.strip()!r}: put T or a blank between the date and the time"
            " (2026-05-01T09:30)"
        )
    return _instant(moment, text, what, zone, notes)


def _separator(raw: str) -> str | None:
    """The character between an ISO date (calendar or week, extended or basic) and its time."""
    import re

    found = re.match(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}|[0-9]{4}-?W[0-9]{2}-?[0-9])(.)", raw)
    return found[1] if found else None


def _instant(
    moment: datetime, text: str, what: str, zone: tzinfo | None, notes: list[str] | None
) -> float:
    """The timestamp of a date and time read from `text`: a naive one in `zone`, else local."""
    if not 1971 <= moment.year <= 9998:
        raise UsageError(f"{what}: time {text!r} is out of range (years 1971 to 9998)")
    if moment.tzinfo is None:
        zone = _zone_of_naive_times(zone)
        naive = moment
        moment = moment.astimezone() if zone is None else moment.replace(tzinfo=zone)
        if zone is not None and notes is not None:
            note = _clock_change_note(naive, moment.timestamp(), zone)
            if note:
                notes.append(f"{what}: {text.strip()} {note}")
    return moment.timestamp()


def naive_times_zone() -> tzinfo | None:
    """The zone parse_instant reads a time without an offset in, looked up once for many
    (a batch's lines: each look at the host's zone costs three stat calls)."""
    return _zone_of_naive_times(None)


def _zone_of_naive_times(zone: tzinfo | None) -> tzinfo | None:
    """The zone a time without an offset is in: `zone`, else the local one; None when $TZ
    is a rule only the C library reads (then astimezone() reads the time)."""
    # In the zone's rules, not the C library's: a time that does not exist (in a
    # spring-forward gap) is read with the offset before the change, so 02:30 is 03:30
    # summer time, as at(1) and mktime() read it; astimezone() gave 01:30, before the
    # time asked for.
    # A $TZ that names no zone (a POSIX rule, `JST-9`) is the C library's alone.
    if zone is None and tz_ignored() is None:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(local_zone())
    return zone


_ACCEPTED_FORMS = (
    "ISO-8601 (2026-05-01T09:30, 2026-05-01 9:30, 2026-05-01T09:30+02:00), a time of day"
    " (21:30, the next to come; today 9:00; tomorrow 9:00), +DURATION (+10m, +1h30m) or now"
)


def _informal_instant(
    text: str,
    raw: str,
    what: str,
    zone: tzinfo | None,
    notes: list[str] | None,
    now: float | None,
) -> float:
    """The forms at(1) and pueue users type: `+DURATION` (from now), a time of day `H:MM[:SS]`
    (the next one: today if still ahead, else tomorrow, said in `notes`), `today H:MM`,
    `tomorrow H:MM`, a date with a one-digit hour (`2026-12-01 9:00`), and `now` (as no
    time given: a script written for `at now` runs as typed)."""
    import re
    import time

    current = time.time() if now is None else now
    if raw.lower() == "now":
        return current
    if raw.startswith("+"):
        from jobctl.durations import parse_duration

        try:
            return current + parse_duration(raw[1:])
        except DurationError as exc:
            raise UsageError(f"{what}: {text.strip()!r}: {exc}") from None
    padded = re.fullmatch(r"(\d{4}-\d\d-\d\d[Tt ])(\d:\d\d.*)", raw)
    if padded:
        try:
            moment = datetime.fromisoformat(f"{padded[1]}0{padded[2]}")
        except ValueError:
            pass
        else:
            return _instant(moment, text, what, zone, notes)
    of_day = re.fullmatch(r"(?:(today|tomorrow)\s+)?(\d?\d):(\d\d)(?::(\d\d))?", raw, re.I)
    if of_day:
        day_word, hour, minute, second = of_day.groups()
        try:
            clock = dtime(int(hour), int(minute), int(second or 0))
        except ValueError:
            pass
        else:
            return _time_of_day(text, clock, day_word, what, zone, notes, current)
    raise UsageError(f"{what}: invalid time {text!r}: expected {_ACCEPTED_FORMS}")


def _time_of_day(
    text: str,
    clock: dtime,
    day_word: str | None,
    what: str,
    zone: tzinfo | None,
    notes: list[str] | None,
    now: float,
) -> float:
    """`clock` on the day `day_word` names, or without one its next occurrence after `now`;
    the days are those of `zone` (else local), so tomorrow is the next date, however long a
    DST change makes the day."""
    zone = _zone_of_naive_times(zone)
    today = datetime.fromtimestamp(now, zone).date()
    days = 1 if day_word and day_word.lower() == "tomorrow" else 0
    while True:
        day_notes: list[str] = []
        moment = datetime.combine(today + timedelta(days=days), clock)
        instant = _instant(moment, text, what, zone, day_notes)
        if instant <= now:
            # In the hour the clocks go back, the second 02:30 may still be ahead when the
            # first is past: that one is the next (a skipped time's fold=1 is earlier).
            second_notes: list[str] = []
            second = _instant(moment.replace(fold=1), text, what, zone, second_notes)
            if second > max(instant, now):
                instant, day_notes = second, second_notes
        if day_word or instant > now:
            break
        days += 1  # past today: tomorrow's, and the notes of tomorrow's
    if notes is not None:
        notes.extend(day_notes)
        if not day_word:
            notes.append(_next_occurrence_note(text, what, instant, zone, now, days))
    return instant


def _next_occurrence_note(
    text: str, what: str, instant: float, zone: tzinfo | None, now: float, days: int
) -> str:
    """`--at 21:30 is today, 2026-11-30 21:30 CET (in 9h)`: which day a time of day was
    read as."""
    read = datetime.fromtimestamp(instant, zone)
    shown = read.strftime("%Y-%m-%d %H:%M" + (":%S" if read.second else ""))
    label = (read if zone is not None else read.astimezone()).strftime("%Z")
    day = "today" if days == 0 else "tomorrow"
    return f"{what} {text.strip()} is {day}, {shown} {label} (in {span(instant - now)})"


def span(seconds: float) -> str:
    """How far an instant is from now, for a note: to the minute from a minute on ("in 9h",
    not "in 8h59m"; "3h1m ago", not "3h41s ago")."""
    from jobctl.durations import format_short

    return format_short(round(seconds / 60) * 60 if seconds >= 60 else seconds)


def _clock_change_note(naive: datetime, ts: float, zone: tzinfo) -> str | None:
    """What a local time read as `ts` in `zone` needs said: the zone skips it (clocks go
    forward), or has it twice (clocks go back)."""
    read = datetime.fromtimestamp(ts, zone)
    name = getattr(zone, "key", None) or str(zone)
    if read.replace(tzinfo=None) != naive:
        return (
            f"does not exist in {name} (the clocks skip it): read as"
            f" {read.isoformat(timespec='seconds')}"
        )
    first, second = (naive.replace(fold=fold, tzinfo=zone).utcoffset() for fold in (0, 1))
    if first != second:
        which = "the second" if read.fold else "the first"
        return (
            f"happens twice in {name} (the clocks go back): read as {which},"
            f" {read.isoformat(timespec='seconds')}; give an offset to choose"
        )
    return None


def _host_zone_files() -> tuple[object, ...]:
    """What the host's zone is read from, as it stands: /etc/localtime (the link, and what it
    leads to) and /etc/timezone, by inode and times; a change of zone (`timedatectl
    set-timezone`, a new link or a copied file) changes it. Three stat calls, no read."""
    state: list[object] = []
    for path, follow in (
        (LOCALTIME, False),
        (LOCALTIME, True),
        (TIMEZONE_FILE, True),
    ):
        try:
            found = os.stat(path, follow_symlinks=follow)
        except OSError:
            state.append(None)
            continue
        state.append((found.st_dev, found.st_ino, found.st_mtime_ns, found.st_ctime_ns))
    return tuple(state)


class _FollowingTheHost:
    """A zone name worked out once, and again when $TZ or the host's zone files change: a
    cron daemon running for months reads the new zone on its next reload (as cron, through
    the C library, and systemd's timers do), not the one it started with."""

    def __init__(self, resolve: Callable[[], str]) -> None:
        self._resolve = resolve
        self._key: tuple[object, ...] | None = None
        self._name = ""
        self.__doc__ = resolve.__doc__

    def __call__(self) -> str:
        key = (os.environ.get("TZ", ""), *_host_zone_files())
        if key != self._key:
            self._name = self._resolve()
            self._key = key
        return self._name

    def cache_clear(self) -> None:
        """Work the name out afresh on the next call."""
        self._key = None


def _local_zone() -> str:
    """The host's IANA zone name: $TZ, else /etc/localtime's target, else UTC."""
    tz = zone_from_tz(os.environ.get("TZ", ""))
    return _first_zone([tz] if tz else []) or host_zone()


def _host_zone() -> str:
    """The host's own IANA zone name, whatever $TZ says: /etc/localtime's, else UTC."""
    return _first_zone([]) or "UTC"


local_zone = _FollowingTheHost(_local_zone)
host_zone = _FollowingTheHost(_host_zone)


def zone_named(name: str) -> ZoneInfo | None:
    """The zone `name` names, None for none. Beside ZoneInfoNotFoundError (and ValueError for
    a malformed key), zoneinfo raises the OSError of its fallback's open() for a name that is
    a folder of the zone database (`Europe`: IsADirectoryError) or too long for a file."""
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return None


def _first_zone(candidates: list[str]) -> str | None:
    """The first of `candidates` that names a zone, else that of /etc/localtime (or of
    /etc/timezone)."""
    localtime = _zone_of_file(LOCALTIME)
    if localtime:
        candidates.append(localtime)
    try:
        with open(TIMEZONE_FILE, encoding="utf-8") as handle:
            candidates.append(handle.read().strip())
    except OSError:
        pass
    return next((name for name in candidates if zone_named(name) is not None), None)


def zone_from_tz(value: str) -> str | None:
    """The zone name a $TZ value gives, as the C library reads it: `Area/City`, the same
    after a `:`, or a zone file (`:/usr/share/zoneinfo/Asia/Tokyo`, `:/etc/localtime`)."""
    name = value[1:] if value.startswith(":") else value
    if name.startswith("/"):
        return _zone_of_file(name)
    return name or None


def _zone_of_file(path: str) -> str | None:
    """The zone name of a zone file, from where it is (or what it links to) in a zoneinfo
    folder: /etc/localtime -> /usr/share/zoneinfo/Europe/Berlin gives Europe/Berlin."""
    try:
        target = os.path.realpath(path)
    except OSError:
        return None
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else None


def tz_of_this_shell() -> str | None:
    """What to say when $TZ names a zone other than the host's own (/etc/localtime): the
    times of schedules that name no zone are then worked out in it here, while a daemon
    started without $TZ (by systemd) follows the host's. None when they agree."""
    value = os.environ.get("TZ", "")
    named = zone_from_tz(value) if value else None
    if not named or named != local_zone():  # unset, or no zone: see tz_ignored
        return None
    host = host_zone()
    if _same_zone(host, named):
        return None
    return (
        f"schedules that name no timezone are shown in TZ={value} of this shell; a daemon"
        f" started without TZ (by systemd, say) follows the host's zone, {host}: set"
        " [settings] timezone to make both the same"
    )


def _same_zone(one: str, other: str) -> bool:
    """Whether two zone names are one zone (UTC and Etc/UTC: one file under two names)."""
    import zoneinfo

    if one == other:
        return True
    for folder in zoneinfo.TZPATH:
        try:
            with (
                open(os.path.join(folder, one), "rb") as a,
                open(os.path.join(folder, other), "rb") as b,
            ):
                return a.read() == b.read()
        except OSError:
            continue
    return False


def tz_ignored() -> str | None:
    """Why $TZ is not the zone of schedules that name none, when it is set to what is no
    zone this host knows (a POSIX rule such as `JST-9`, a typo): jobs would then see one
    zone and the schedules follow another. None when $TZ is unset or used."""
    value = os.environ.get("TZ", "")
    if not value or zone_from_tz(value) == local_zone():
        return None
    return (
        f"TZ={value!r} is not a time zone this host knows (such as Asia/Tokyo): schedules"
        f" that name no timezone follow {local_zone()} here, while their jobs see TZ={value}"
    )
