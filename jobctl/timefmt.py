"""The one place where instants are read from and written as text (ISO-8601 with offset)."""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from functools import cache

from jobctl.errors import UsageError


def iso(ts: float | None, zone: tzinfo | None = None, timespec: str = "milliseconds") -> str | None:
    """ISO-8601 with its offset (to the millisecond by default): in `zone`, else local."""
    if ts is None:
        return None
    if zone is not None:
        return datetime.fromtimestamp(ts, zone).isoformat(timespec=timespec)
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec=timespec)


def parse_instant(
    text: str,
    what: str = "--at",
    zone: tzinfo | None = None,
    notes: list[str] | None = None,
) -> float:
    """Read an ISO-8601 instant; without an offset it is in `zone`, else local time. A local
    time the zone skips or has twice (a DST change) is read as cron reads it, and `notes`
    gets a line saying which instant that is."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(
            f"{what}: invalid time {text!r}: expected ISO-8601 like '2026-05-01T09:30:00+02:00'"
        ) from None
    if not 1971 <= moment.year <= 9998:
        raise UsageError(f"{what}: time {text!r} is out of range (years 1971 to 9998)")
    if moment.tzinfo is None:
        # In the zone's rules, not the C library's: a time that does not exist (in a
        # spring-forward gap) is read with the offset before the change, so 02:30 is 03:30
        # summer time, as at(1) and mktime() read it; astimezone() gave 01:30, before the
        # time asked for.
        # A $TZ that names no zone (a POSIX rule, `JST-9`) is the C library's alone.
        if zone is None and tz_ignored() is None:
            from zoneinfo import ZoneInfo

            zone = ZoneInfo(local_zone())
        naive = moment
        moment = moment.astimezone() if zone is None else moment.replace(tzinfo=zone)
        if zone is not None and notes is not None:
            note = _clock_change_note(naive, moment.timestamp(), zone)
            if note:
                notes.append(f"{what}: {text.strip()} {note}")
    return moment.timestamp()


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
    if naive.replace(fold=1, tzinfo=zone).utcoffset() != read.utcoffset():
        return (
            f"happens twice in {name} (the clocks go back): read as the first,"
            f" {read.isoformat(timespec='seconds')}; give an offset to choose"
        )
    return None


@cache
def local_zone() -> str:
    """The host's IANA zone name: $TZ, else /etc/localtime's target, else UTC."""
    tz = zone_from_tz(os.environ.get("TZ", ""))
    return _first_zone([tz] if tz else []) or host_zone()


@cache
def host_zone() -> str:
    """The host's own IANA zone name, whatever $TZ says: /etc/localtime's, else UTC."""
    return _first_zone([]) or "UTC"


def _first_zone(candidates: list[str]) -> str | None:
    """The first of `candidates` that names a zone, else that of /etc/localtime (or of
    /etc/timezone)."""
    from zoneinfo import ZoneInfo

    localtime = _zone_of_file("/etc/localtime")
    if localtime:
        candidates.append(localtime)
    try:
        with open("/etc/timezone", encoding="utf-8") as handle:
            candidates.append(handle.read().strip())
    except OSError:
        pass
    for name in candidates:
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            continue
        return name
    return None


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
