"""Whether two zone names give the same fire times: one set of rules under several names.

UTC, Etc/UTC, Zulu and Etc/GMT, or Asia/Calcutta and Asia/Kolkata, are links or copies of
one another in the tz database; `$TZ` or /etc/localtime may name either. The zone files of
Etc/GMT and UTC still differ in their abbreviations ("GMT", "UTC"), which move no fire: what
is compared is the UTC offset in force from each instant on, as a zone file states it.
"""

from __future__ import annotations

import os
import re
import struct
import zoneinfo
from typing import TypeAlias

# RFC 8536: magic, version, 15 reserved bytes, then isutcnt, isstdcnt, leapcnt, timecnt,
# typecnt and charcnt.
_HEADER = struct.Struct(">4sc15x6l")
_TTINFO = struct.Struct(">lBB")  # utoff, isdst, desigidx
# A POSIX TZ string's zone names ("CET", "<+0530>"): at least three letters, or quoted.
_TZ_NAME = re.compile(rb"<[^>]*>|[A-Za-z]{3,}")

# The offset before the first transition, each (instant, offset) where it changes, and the
# footer's rule for the instants after the last transition, its names left out.
ZoneRules: TypeAlias = tuple[int, tuple[tuple[int, int], ...], bytes]


def same_zone(one: str, other: str) -> bool:
    """Whether two zone names fire a schedule at the same instants: the same name, or zone
    files whose offsets change at the same instants to the same values. A name whose file
    cannot be read is only itself."""
    if one == other:
        return True
    rules = zone_rules(one)
    return rules is not None and rules == zone_rules(other)


def zone_rules(name: str) -> ZoneRules | None:
    """The UTC offsets a zone's file gives, from where zoneinfo finds it ($PYTHONTZPATH or
    the system's folders, then the tzdata package); None if there is none to read."""
    data = _zone_file(name)
    return None if data is None else _offsets(data)


def _zone_file(name: str) -> bytes | None:
    parts = name.split("/")
    if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return None  # not a zone key: nothing outside the zone folders is read
    for folder in zoneinfo.TZPATH:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            try:
                with open(path, "rb") as handle:
                    return handle.read()
            except OSError:
                return None
    try:
        from importlib import resources

        package = ".".join(["tzdata.zoneinfo", *parts[:-1]])
        return resources.files(package).joinpath(parts[-1]).read_bytes()
    except (ImportError, OSError, ValueError):
        return None


def _offsets(data: bytes) -> ZoneRules | None:
    try:
        magic, version, isut, isstd, leaps, times, types, chars = _HEADER.unpack_from(data)
        start, width, leap_width = _HEADER.size, 4, 8
        if version != b"\0":
            # Version 2 and later repeat the data with 64-bit instants, then a footer.
            start += times * 5 + types * 6 + chars + leaps * 8 + isstd + isut
            magic, _, isut, isstd, leaps, times, types, chars = _HEADER.unpack_from(data, start)
            start, width, leap_width = start + _HEADER.size, 8, 12
        if magic != b"TZif" or types < 1:
            return None
        instants = struct.unpack_from(f">{times}{'q' if width == 8 else 'l'}", data, start)
        indices = data[start + times * width : start + times * (width + 1)]
        table = start + times * (width + 1)
        offsets = [_TTINFO.unpack_from(data, table + 6 * i)[0] for i in range(types)]
        end = table + types * 6 + chars + leaps * leap_width + isstd + isut
    except (struct.error, ValueError):
        return None
    if len(indices) != times or any(index >= types for index in indices):
        return None
    changes: list[tuple[int, int]] = []
    current = offsets[0]  # RFC 8536: type 0 is in force before the first transition
    for instant, index in zip(instants, indices, strict=True):
        if offsets[index] != current:  # (a change of name or of DST flag alone moves nothing)
            current = offsets[index]
            changes.append((instant, current))
    footer = _TZ_NAME.sub(b"?", data[end:].strip()) if version != b"\0" else b""
    return offsets[0], tuple(changes), footer
