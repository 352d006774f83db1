"""Cron expressions and their fire times, for the daemon and `jobctl cron next`.

Syntax
------
* Five fields, ``minute hour day-of-month month day-of-week``, or six with a leading
  seconds field, ``second minute hour day-of-month month day-of-week``.
* Each field is ``*``, a number, a range ``a-b``, a list ``a,b-c``, or any of these with a
  step: ``*/15``, ``8-18/2``, ``5/20`` (= ``5-59/20``). Months take ``JAN``..``DEC``,
  days of the week ``SUN``..``SAT`` (any case); Sunday is 0 or 7.
* When both day fields are restricted (neither is ``*``), a day matches when *either* one
  does, as POSIX cron says; otherwise both must. Unlike vixie cron, a step such as ``*/2``
  counts as restricted.
* Macros: ``@yearly`` = ``@annually`` = ``0 0 1 1 *``, ``@monthly`` = ``0 0 1 * *``,
  ``@weekly`` = ``0 0 * * 0``, ``@daily`` = ``@midnight`` = ``0 0 * * *``, ``@hourly`` =
  ``0 * * * *``.
* ``@every DURATION`` (``@every 90s``, ``@every 1h30m``; at least 1s) fires at every whole
  multiple of the interval since the Unix epoch, 1970-01-01T00:00:00Z, whatever the time
  zone. Anchoring on a fixed origin keeps the rhythm across restarts: ``@every 6h`` fires
  at 00:00, 06:00, 12:00 and 18:00 UTC, never "six hours after the daemon started".
* ``@reboot`` is rejected: a schedule fires at times, and boot is not one.

Time zones and daylight saving time
-----------------------------------
Calendar expressions are matched against the wall clock of the schedule's zone; fire
times are UTC epoch seconds. Where the wall clock jumps, two kinds of schedules differ:

*Fixed-hour* schedules name their hours (``30 2 * * *``, ``0 9-17 * * 1-5``, ``@daily``):

1. A fire in a skipped wall-clock interval (spring forward) runs once, at the instant of
   the change: ``30 2 * * *`` in Europe/Berlin on 2026-03-29 fires at 03:00 CEST
   (01:00 UTC). Several fires inside one gap still run once.
2. A fire in a repeated interval (fall back) runs once, at its first occurrence.

*Rhythm* schedules have an hour field that is ``*``, covers all 24 hours, or uses a step
(``*/15 * * * *``, ``30 * * * *``, ``0 */2 * * *``, ``@hourly``). Like vixie cron's
wildcard jobs, they keep their rhythm in real time rather than on the wall clock:

3. In a repeated interval, an instant fires when its wall time matches under both the
   offset in force before the change and the offset after it. For schedules that repeat
   at least hourly this is every matching instant: ``*/15 * * * *`` fires every 15 real
   minutes, and ``30 * * * *`` fires at both 01:30s of America/New_York's fall back,
   one real hour apart. ``0 */2 * * *`` does not fire again at the second 02:00
   (Berlin): that would be a second run one hour after the first.
4. A fire in a skipped interval runs at the instant the old offset gives it, the same
   real time after the previous fire as on any other day: ``0 */2 * * *`` in Berlin fires
   at 00:00 CET, at 03:00 CEST (the 02:00 run, two real hours later) and at 04:00 CEST.
   For ``*/15`` or ``30 *`` that instant is a regular fire anyway, so nothing doubles.

So no run is lost and none is doubled (vixie cron loses that 02:00 run in spring and
runs it twice in the fall). Hour steps longer than the shift (``*/2`` against one hour)
get one interval per change that is shorter (spring) or longer (fall) by the shift.

croniter does the calendar arithmetic, on naive wall-clock times only. Given aware times
it follows other rules (``30 2 * * *`` fires at both 02:30s of a fall-back night, and
``0 */2 * * *`` at both 02:00s), so it is never given one. It is imported lazily: the CLI
must start without it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from jobctl.durations import format_duration, parse_duration
from jobctl.errors import ConfigError, DurationError

__all__ = [
    "CronError",
    "CronExpr",
    "CronFields",
    "describe",
    "fires_between",
    "next_fires",
    "parse",
]


class CronError(ConfigError):
    """A cron expression that cannot be used; the message names the field at fault."""


MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTH_NAMES = {name: number for number, name in enumerate(_MONTHS, start=1)}
_WEEKDAY_NAMES = {name: number for number, name in enumerate(_WEEKDAYS)}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: leap years
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²"
_BLANKS = re.compile(r"[ \t]+")
_UNSUPPORTED = re.compile(r"[?#]|[LWHR]|\d+[LW]|L-?\d+|LW|H\(.*", re.IGNORECASE)


@dataclass(frozen=True)
class _FieldKind:
    name: str
    low: int
    high: int
    names: dict[str, int]
    expected: str  # what a value looks like, for error messages


_SECOND = _FieldKind("second", 0, 59, {}, "a number")
_MINUTE = _FieldKind("minute", 0, 59, {}, "a number")
_HOUR = _FieldKind("hour", 0, 23, {}, "a number")
_DAY = _FieldKind("day-of-month", 1, 31, {}, "a number")
_MONTH = _FieldKind("month", 1, 12, _MONTH_NAMES, "a number or a name (JAN-DEC)")
# 7 is Sunday again; it is folded onto 0 after parsing.
_WEEKDAY = _FieldKind("day-of-week", 0, 7, _WEEKDAY_NAMES, "a number or a name (SUN-SAT)")


@dataclass(frozen=True)
class CronFields:
    """The expanded calendar fields: the sets of values each wall-clock field may take."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    either_day: bool  # both day fields restricted: a day matches if either matches
    keeps_rhythm: bool  # hour field is *, all hours, or a step: see rules 3 and 4

    def matches(self, wall: datetime) -> bool:
        """Whether a wall-clock time (naive, in the schedule's zone) matches every field."""
        if (
            wall.second not in self.seconds
            or wall.minute not in self.minutes
            or wall.hour not in self.hours
            or wall.month not in self.months
        ):
            return False
        day_ok = wall.day in self.days
        weekday_ok = (wall.weekday() + 1) % 7 in self.weekdays
        return day_ok or weekday_ok if self.either_day else day_ok and weekday_ok

    def croniter_expression(self) -> str:
        """Six fields for croniter (seconds first), as plain lists so both agree exactly.

        A day field is written ``*`` only when it is unrestricted: croniter, like this
        module, ORs the day fields exactly when neither is ``*``.
        """
        parts = [
            _field_text(self.seconds, _SECOND),
            _field_text(self.minutes, _MINUTE),
            _field_text(self.hours, _HOUR),
            _list_text(self.days) if self.either_day else _field_text(self.days, _DAY),
            _field_text(self.months, _MONTH),
            _list_text(self.weekdays)
            if self.either_day
            else _field_text(self.weekdays, _WEEKDAY, high=6),
        ]
        return " ".join(parts)


@dataclass(frozen=True)
class CronExpr:
    """A parsed expression: calendar fields, or a fixed interval (``@every``)."""

    text: str  # as written, whitespace normalized
    fields: CronFields | None = None
    interval: float | None = None  # seconds between fires of an @every schedule


# ---------------------------------------------------------------------------------------------
# Parsing


def parse(expr: str) -> CronExpr:
    """Check an expression and expand it; raises CronError naming the field at fault."""
    # Fields are separated by blanks only, as in cron: other Unicode spaces are data.
    text = " ".join(_BLANKS.split(expr.strip()))
    if not text:
        raise CronError("invalid cron '': expected five fields like '*/15 * * * *' or a macro")
    if text.startswith("@"):
        return _parse_macro(text)
    words = text.split(" ")
    if len(words) == 5:
        words = ["0", *words]
    elif len(words) != 6:
        raise CronError(
            f"invalid cron {text!r}: expected 5 fields (minute hour day-of-month month "
            f"day-of-week) or 6 with a leading seconds field, got {len(words)}"
        )
    kinds = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY)
    sets = [_parse_field(text, word, kind) for word, kind in zip(words, kinds, strict=True)]
    seconds, minutes, hours, days, months, weekdays = sets
    weekdays = frozenset(day % 7 for day in weekdays)
    day_word, weekday_word = words[3], words[5]
    days_restricted = not _unrestricted(day_word, days, _DAY)
    weekdays_restricted = not _unrestricted(weekday_word, weekdays, _WEEKDAY)
    possible_days = _possible_days(days, months)
    if days_restricted and not possible_days:
        if not weekdays_restricted:
            raise CronError(
                f"invalid cron {text!r}: day-of-month field {day_word!r} never occurs "
                f"in month field {words[4]!r}"
            )
        days_restricted = False  # only the weekday side can match; OR with nothing
        days = frozenset(range(1, 32))
    fields = CronFields(
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        days=days if days_restricted else frozenset(range(1, 32)),
        months=months,
        weekdays=weekdays if weekdays_restricted else frozenset(range(7)),
        either_day=days_restricted and weekdays_restricted,
        keeps_rhythm="/" in words[2] or len(hours) == 24,
    )
    return CronExpr(text=text, fields=fields)


def _parse_macro(text: str) -> CronExpr:
    word, _, rest = text.partition(" ")
    macro = word.lower()
    if macro == "@every":
        if not rest:
            raise CronError(f"invalid cron {text!r}: @every needs a duration, like '@every 5m'")
        try:
            interval = parse_duration(rest)
        except DurationError as exc:
            raise CronError(f"invalid cron {text!r}: {exc}") from None
        if interval < 1:
            raise CronError(f"invalid cron {text!r}: @every needs at least 1s")
        return CronExpr(text=text, interval=interval)
    if macro == "@reboot":
        raise CronError(
            f"invalid cron {text!r}: @reboot is not supported: schedules fire at times, "
            "not at boot; start the command from the init system (e.g. a systemd unit)"
        )
    if macro not in MACROS:
        known = ", ".join([*MACROS, "@every DURATION"])
        raise CronError(f"invalid cron {text!r}: unknown macro {word!r} (expected {known})")
    if rest:
        raise CronError(f"invalid cron {text!r}: {word} takes no fields, found {rest!r}")
    parsed = parse(MACROS[macro])
    return CronExpr(text=text, fields=parsed.fields)


def _parse_field(text: str, word: str, kind: _FieldKind) -> frozenset[int]:
    values: set[int] = set()
    for part in word.split(","):
        values.update(_parse_part(text, word, part, kind))
    return frozenset(values)


def _parse_part(text: str, word: str, part: str, kind: _FieldKind) -> range:
    def fail(problem: str) -> CronError:
        where = f"{kind.name} field {word!r}" + (f": {part!r}" if part != word else "")
        return CronError(f"invalid cron {text!r}: {where} {problem}")

    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not _DIGITS.fullmatch(step_text) or int(step_text) < 1:
            raise fail("needs a step of at least 1 after '/'")
        step = int(step_text)
    if base == "*":
        return range(kind.low, kind.high + 1 if kind is not _WEEKDAY else 7, step)
    first_text, dash, last_text = base.partition("-")
    first = _value(first_text, kind, fail)
    if dash:
        last = _value(last_text, kind, fail)
        if last < first:
            raise fail(f"is a range that runs backwards ({first} > {last})")
    else:
        last = kind.high if slash else first  # "5/15" means "5-59/15"
    return range(first, last + 1, step)


def _value(token: str, kind: _FieldKind, fail: Callable[[str], CronError]) -> int:
    if _DIGITS.fullmatch(token):
        number = int(token)
        if not kind.low <= number <= kind.high:
            raise fail(f"out of range {kind.low}-{kind.high}")
        return number
    named = kind.names.get(token.lower())
    if named is not None:
        return named
    if not token:
        raise fail(f"is missing a value: expected {kind.expected}")
    if _UNSUPPORTED.fullmatch(token) or "#" in token:
        raise fail("uses an extension jobctl does not support (?, L, W, #, H, R)")
    raise fail(f"is not {kind.expected}")


def _unrestricted(word: str, values: frozenset[int], kind: _FieldKind) -> bool:
    full = 7 if kind is _WEEKDAY else kind.high - kind.low + 1
    return word.startswith("*") and len(values) == full


def _possible_days(days: frozenset[int], months: frozenset[int]) -> bool:
    longest = max(_DAYS_IN_MONTH[month - 1] for month in months)
    return min(days) <= longest


def _field_text(values: frozenset[int], kind: _FieldKind, high: int | None = None) -> str:
    top = kind.high if high is None else high
    if len(values) == top - kind.low + 1:
        return "*"
    return _list_text(values)


def _list_text(values: frozenset[int]) -> str:
    return ",".join(str(value) for value in sorted(values))


# ---------------------------------------------------------------------------------------------
# Fire times


def next_fires(expr: CronExpr | str, tz: tzinfo | str, after: float, n: int) -> list[float]:
    """The first `n` fire times strictly after `after` (UTC epoch seconds), in order."""
    parsed = parse(expr) if isinstance(expr, str) else expr
    zone = _zone(tz)
    if n <= 0 or not math.isfinite(after):
        return []
    if parsed.interval is not None:
        step = parsed.interval
        first = _first_multiple_after(step, after)
        return [(first + index) * step for index in range(n)]
    planner = _Planner(_require_fields(parsed), zone)
    fires: list[float] = []
    cursor = math.floor(after)
    while len(fires) < n:
        fire = planner.next_after(cursor)
        if fire is None:
            break
        fires.append(float(fire))
        cursor = fire
    return fires


def fires_between(
    expr: CronExpr | str,
    tz: tzinfo | str,
    start: float,
    end: float,
    limit: int | None = None,
) -> list[float]:
    """Fire times in (start, end], in order; with `limit`, only the most recent `limit`.

    Catch-up wants the latest fires, so a limit is met by walking back from `end`: the
    cost follows the limit, not the length of the downtime.
    """
    parsed = parse(expr) if isinstance(expr, str) else expr
    zone = _zone(tz)
    if end <= start or (limit is not None and limit <= 0):
        return []
    if not (math.isfinite(start) and math.isfinite(end)):
        return []
    if parsed.interval is not None:
        step = parsed.interval
        first = _first_multiple_after(step, start)
        last = _first_multiple_after(step, end) - 1
        if limit is not None:
            first = max(first, last - limit + 1)
        return [index * step for index in range(first, last + 1)]
    planner = _Planner(_require_fields(parsed), zone)
    low, high = math.floor(start), math.floor(end)
    fires: list[float] = []
    if limit is None:
        cursor = low
        while (fire := planner.next_after(cursor)) is not None and fire <= high:
            fires.append(float(fire))
            cursor = fire
        return fires
    cursor = high
    while len(fires) < limit:
        fire = planner.last_at_or_before(cursor)
        if fire is None or fire <= low:
            break
        fires.append(float(fire))
        cursor = fire - 1
    fires.reverse()
    return fires


def _first_multiple_after(step: float, moment: float) -> int:
    """The smallest k with k * step > moment (float-safe)."""
    index = math.floor(moment / step) + 1
    while (index - 1) * step > moment:
        index -= 1
    while index * step <= moment:
        index += 1
    return index


def _require_fields(expr: CronExpr) -> CronFields:
    if expr.fields is None:
        raise CronError(f"invalid cron {expr.text!r}: neither calendar fields nor an interval")
    return expr.fields


def _zone(tz: tzinfo | str) -> tzinfo:
    if not isinstance(tz, str):
        return tz
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(
            f"unknown time zone {tz!r} (expected an IANA name like 'Europe/Berlin')"
        ) from None


_EPOCH = datetime(1970, 1, 1)
_ONE_SECOND = timedelta(seconds=1)
_SHIFT_SPAN = 86400  # offset changes are looked for within a day; DST shifts are far smaller
# Wall times must stay inside what datetime can represent, with room for offsets.
_FIRST_WALL = datetime(2, 1, 1)
_LAST_WALL = datetime(9998, 12, 31)


@dataclass(frozen=True)
class _Shift:
    """A change of UTC offset from `before` to `after` (seconds) at the instant `at`."""

    at: int
    before: int
    after: int

    @property
    def size(self) -> int:
        return abs(self.after - self.before)

    @property
    def forward(self) -> bool:
        return self.after > self.before


@dataclass(frozen=True)
class _Slot:
    """A wall time that matches the fields, with the two offsets the zone can give it.

    `old` and `new` are the offsets before and after a change (PEP 495's fold 0 and 1);
    they differ only for a wall time the change repeats (old > new) or skips (old < new).
    """

    local: int  # the wall time as seconds since 1970-01-01T00:00 (naive)
    old: int
    new: int

    @property
    def first(self) -> int:
        """The instant under the old offset: the first occurrence, or rule 4's instant."""
        return self.local - self.old

    @property
    def second(self) -> int:
        return self.local - self.new

    @property
    def repeated(self) -> bool:
        return self.old > self.new

    @property
    def skipped(self) -> bool:
        return self.old < self.new


class _Planner:
    """Turns the wall-clock slots croniter finds into fire instants, by the docstring's rules.

    The fires are of three sorts. *Primary* fires: a plain slot's instant, a repeated
    slot's first occurrence, and (fixed-hour) the change instant for skipped slots; they
    are in wall-clock order, so walking the slots finds the next or previous one. Rule 3's
    *second occurrences* and rule 4's *shifted* slots (rhythm schedules only) break that
    order within one shift of a change, so they are looked up there directly. Every
    step is a croniter query that jumps to the next candidate: a schedule firing every
    second costs no more near a change than elsewhere.
    """

    def __init__(self, fields: CronFields, zone: tzinfo) -> None:
        from croniter import croniter

        self.fields = fields
        self.zone = zone
        self.rhythm = fields.keeps_rhythm
        self._walker: Any = croniter(
            fields.croniter_expression(),
            _EPOCH,
            ret_type=datetime,
            second_at_beginning=True,
        )

    # -- next ----------------------------------------------------------------------------------

    def next_after(self, after: int) -> int | None:
        """The first fire strictly after `after`."""
        try:
            found = self._primary_after(after)
            if not self.rhythm:
                return found
            # Rule 3 and 4 fires can only be earlier than the primary one near a change.
            for shift in self._shifts_near(after):
                if not shift.forward and shift.at - shift.size <= after < shift.at + shift.size:
                    found = _earliest(found, self._second_occurrence_after(shift, after))
                if shift.forward and shift.at <= after < shift.at + shift.size:
                    found = _earliest(found, self._shifted_after(shift, after))
            return found
        except (OverflowError, ValueError, OSError):
            return None  # beyond the calendar datetime can represent

    def _primary_after(self, after: int) -> int | None:
        shifted: int | None = None  # a rule 4 fire met on the way, if any
        start = after + self._offset(after)
        while (slot := self._slot_after(start)) is not None:
            if slot.skipped:
                change = self._change_instant(slot)
                if self.rhythm:
                    if slot.first > after:
                        shifted = _earliest(shifted, slot.first)
                    start = change + slot.new - 1  # on to the first wall after the gap
                    continue
                if change > after:
                    return _earliest(shifted, change)  # rule 1
                start = change + slot.new - 1
                continue
            if slot.first > after:
                return _earliest(shifted, slot.first)
            # Already past: step on, over all the repeated walls at once if it is one of them.
            start = self._change_instant(slot) + slot.old - 1 if slot.repeated else slot.local
        return shifted

    def _second_occurrence_after(self, shift: _Shift, after: int) -> int | None:
        """Rule 3: the first instant after `after` in the repeated interval of `shift`."""
        low = max(after + 1, shift.at) + shift.after
        high = shift.at + shift.before  # repeated walls are [at + after, at + before)
        local = self._matching_pair_after(low, high, shift.size)
        return None if local is None else local - shift.after

    def _shifted_after(self, shift: _Shift, after: int) -> int | None:
        """Rule 4: the first skipped slot whose old-offset instant is after `after`."""
        slot = self._slot_after(max(after + 1, shift.at) + shift.before - 1)
        if slot is None or slot.local >= shift.at + shift.after:
            return None
        return slot.local - shift.before

    def _matching_pair_after(self, low: int, high: int, size: int) -> int | None:
        """The first wall w in [low, high) where both w and w + size match the fields."""
        slot = self._slot_after(low - 1)
        while slot is not None and slot.local < high:
            partner = self._slot_after(slot.local + size - 1)
            if partner is None:
                return None
            if partner.local == slot.local + size:
                return slot.local
            slot = self._slot_after(partner.local - size - 1)
        return None

    # -- previous ------------------------------------------------------------------------------

    def last_at_or_before(self, end: int) -> int | None:
        """The last fire at or before `end`."""
        try:
            primary = self._primary_at_or_before(end)
            if primary is None or not self.rhythm:
                return primary
            # Rule 3 and 4 fires can only be later than the primary one within a shift of it.
            found: int | None = primary
            for shift in self._shifts_near(primary):
                if not shift.forward and shift.at <= end and primary < shift.at + shift.size:
                    found = _latest(found, self._second_occurrence_before(shift, end))
                if shift.forward and shift.at <= primary < shift.at + shift.size:
                    found = _latest(found, self._shifted_before(shift, end))
            return found
        except (OverflowError, ValueError, OSError):
            return None

    def _primary_at_or_before(self, end: int) -> int | None:
        shifted: int | None = None
        start = end + self._offset(end)
        for shift in self._shifts_near(end):
            if not shift.forward and shift.at <= end < shift.at + shift.size:
                start = max(start, shift.at + shift.before - 1)  # first occurrences are higher
        while (slot := self._slot_at_or_before(start)) is not None:
            if slot.skipped:
                change = self._change_instant(slot)
                if self.rhythm:
                    shift = _Shift(change, slot.old, slot.new)
                    shifted = _latest(shifted, self._shifted_before(shift, end))
                    start = change + slot.old - 1  # on to the last wall before the gap
                    continue
                if change <= end:
                    return _latest(shifted, change)  # rule 1
                start = change + slot.old - 1
                continue
            if slot.first <= end:
                return _latest(shifted, slot.first)
            start = slot.local - 1
        return shifted

    def _second_occurrence_before(self, shift: _Shift, end: int) -> int | None:
        """Rule 3: the last instant at or before `end` in the repeated interval of `shift`."""
        low = shift.at + shift.after
        high = min(end, shift.at + shift.size - 1) + shift.after
        local = self._matching_pair_at_or_before(low, high, shift.size)
        return None if local is None else local - shift.after

    def _shifted_before(self, shift: _Shift, end: int) -> int | None:
        """Rule 4: the last skipped slot whose old-offset instant is at or before `end`."""
        slot = self._slot_at_or_before(min(end + shift.before, shift.at + shift.after - 1))
        if slot is None or slot.local < shift.at + shift.before:
            return None
        return slot.local - shift.before

    def _matching_pair_at_or_before(self, low: int, high: int, size: int) -> int | None:
        """The last wall w in [low, high] where both w and w + size match the fields."""
        slot = self._slot_at_or_before(high)
        while slot is not None and slot.local >= low:
            partner = self._slot_at_or_before(slot.local + size)
            if partner is None:
                return None
            if partner.local == slot.local + size:
                return slot.local
            slot = self._slot_at_or_before(partner.local - size)
        return None

    # -- slots ---------------------------------------------------------------------------------

    def _slot_after(self, local: int) -> _Slot | None:
        """The first matching wall time strictly after `local`."""
        return self._query(local, backwards=False)

    def _slot_at_or_before(self, local: int) -> _Slot | None:
        return self._query(local + 1, backwards=True)

    def _query(self, local: int, backwards: bool) -> _Slot | None:
        from croniter import CroniterBadDateError

        start = _EPOCH + timedelta(seconds=local)
        try:
            if backwards:
                wall: datetime = self._walker.get_prev(datetime, start_time=start)
            else:
                wall = self._walker.get_next(datetime, start_time=start)
        except CroniterBadDateError:
            return None
        if not _FIRST_WALL <= wall <= _LAST_WALL:
            return None
        return _Slot(
            local=(wall - _EPOCH) // _ONE_SECOND,
            old=_seconds(wall.replace(tzinfo=self.zone, fold=0).utcoffset()),
            new=_seconds(wall.replace(tzinfo=self.zone, fold=1).utcoffset()),
        )

    # -- offsets -------------------------------------------------------------------------------

    def _offset(self, instant: int) -> int:
        return _seconds(datetime.fromtimestamp(instant, self.zone).utcoffset())

    def _change_instant(self, slot: _Slot) -> int:
        """The instant of the change that repeats or skips `slot`'s wall time."""
        return self._first_with_new_offset(
            min(slot.first, slot.second), max(slot.first, slot.second)
        )

    def _first_with_new_offset(self, before: int, after: int) -> int:
        """Bisect (before, after] for the first instant whose offset differs from `before`'s."""
        old = self._offset(before)
        while after - before > 1:
            middle = (before + after) // 2
            if self._offset(middle) == old:
                before = middle
            else:
                after = middle
        return after

    def _shifts_near(self, instant: int) -> list[_Shift]:
        """Offset changes within a day of `instant` (at most one on each side)."""
        span = _SHIFT_SPAN
        earlier, here, later = (self._offset(instant + delta) for delta in (-span, 0, span))
        shifts: list[_Shift] = []
        if earlier != here:
            at = self._first_with_new_offset(instant - span, instant)
            shifts.append(_Shift(at, self._offset(at - 1), self._offset(at)))
        if here != later:
            at = self._first_with_new_offset(instant, instant + span)
            shifts.append(_Shift(at, self._offset(at - 1), self._offset(at)))
        return shifts


def _earliest(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    return first if second is None else min(first, second)


def _latest(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    return first if second is None else max(first, second)


def _seconds(offset: timedelta | None) -> int:
    return 0 if offset is None else int(offset.total_seconds())


# ---------------------------------------------------------------------------------------------
# Describing


_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_TITLES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def describe(expr: CronExpr | str) -> str:
    """A short English reading of an expression, for listings and `cron next`."""
    parsed = parse(expr) if isinstance(expr, str) else expr
    if parsed.interval is not None:
        return f"every {format_duration(parsed.interval)} (counted from 1970-01-01 00:00 UTC)"
    fields = _require_fields(parsed)
    return " ".join(part for part in (_describe_time(fields), _describe_days(fields)) if part)


def _describe_time(fields: CronFields) -> str:
    every_hour = len(fields.hours) == 24
    if fields.seconds != frozenset({0}):
        if len(fields.seconds) == 60 and every_hour and len(fields.minutes) == 60:
            return "every second"
        step = _step_of(fields.seconds, 60)
        if step and every_hour and len(fields.minutes) == 60:
            return f"every {step} seconds"
        return f"at second {_numbers(fields.seconds)} of minute {_numbers(fields.minutes)}" + (
            "" if every_hour else f" past hour {_numbers(fields.hours)}"
        )
    if every_hour:
        if len(fields.minutes) == 60:
            return "every minute"
        step = _step_of(fields.minutes, 60)
        if step:
            return f"every {step} minutes"
        return f"every hour at minute {_numbers(fields.minutes)}"
    if len(fields.hours) * len(fields.minutes) <= 6:
        times = [f"{h:02d}:{m:02d}" for h in sorted(fields.hours) for m in sorted(fields.minutes)]
        return "at " + _join(times)
    step = _step_of(fields.hours, 24)
    hours = f"every {step} hours" if step else f"past hour {_numbers(fields.hours)}"
    if len(fields.minutes) == 1:
        return f"{hours} at minute {_numbers(fields.minutes)}"
    return f"at minute {_numbers(fields.minutes)} {hours}"


def _describe_days(fields: CronFields) -> str:
    parts: list[str] = []
    all_days = len(fields.days) == 31
    all_weekdays = len(fields.weekdays) == 7
    day_text = f"on day {_numbers(fields.days)} of the month"
    weekday_text = "on " + _runs(sorted(fields.weekdays), _DAY_NAMES)
    if fields.either_day:
        parts.append(f"{day_text} or {weekday_text.removeprefix('on ')}")
    elif not all_days:
        parts.append(day_text)
    elif not all_weekdays:
        parts.append(weekday_text)
    if len(fields.months) < 12:
        parts.append("in " + _runs([month - 1 for month in sorted(fields.months)], _MONTH_TITLES))
    return " ".join(parts)


def _step_of(values: frozenset[int], size: int) -> int | None:
    """The step if `values` is 0, s, 2s, ... covering the whole field."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != 0:
        return None
    step = ordered[1]
    return step if ordered == list(range(0, size, step)) else None


def _runs(indexes: list[int], names: tuple[str, ...]) -> str:
    """Names with runs of three or more shortened: "Monday to Friday"."""
    groups: list[list[int]] = []
    for index in indexes:
        if groups and groups[-1][-1] == index - 1:
            groups[-1].append(index)
        else:
            groups.append([index])
    items: list[str] = []
    for group in groups:
        if len(group) >= 3:
            items.append(f"{names[group[0]]} to {names[group[-1]]}")
        else:
            items.extend(names[index] for index in group)
    return _join(items)


def _numbers(values: frozenset[int]) -> str:
    return ",".join(str(value) for value in sorted(values))


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
