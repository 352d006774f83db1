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
(``*/15 * * * *``, ``30 * * * *``, ``0 */2 * * *``, ``@hourly``). They keep their rhythm in
real time, as vixie cron does for such jobs:

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

So no run is lost and none is doubled; hour steps that do not divide the shift (``*/2``
against one hour) get one interval per change that is an hour shorter or longer.

croniter does the calendar arithmetic, on naive wall-clock times only. Given aware times
it follows other rules (``30 2 * * *`` fires at both 02:30s of a fall-back night, and
``0 */2 * * *`` at both 02:00s), so it is never given one. It is imported lazily: the CLI
must start without it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
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
_VALUE = re.compile(r"[0-9]+|[A-Za-z]+")


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
    text = " ".join(expr.split())
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
        if not step_text.isdigit() or int(step_text) < 1:
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
    if token.isdigit():
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
    if n <= 0:
        return []
    if parsed.interval is not None:
        step = parsed.interval
        first = _first_multiple_after(step, after)
        return [(first + index) * step for index in range(n)]
    planner = _Planner(_require_fields(parsed), _zone(tz))
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
    if end <= start or (limit is not None and limit <= 0):
        return []
    if parsed.interval is not None:
        step = parsed.interval
        first = _first_multiple_after(step, start)
        last = _first_multiple_after(step, end) - 1
        if limit is not None:
            first = max(first, last - limit + 1)
        return [index * step for index in range(first, last + 1)]
    planner = _Planner(_require_fields(parsed), _zone(tz))
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
_SHIFT_SPAN = 86400  # offset changes are found within a day; DST shifts are far smaller
# Wall times must stay inside what datetime can represent, with room for offsets.
_FIRST_WALL = datetime(2, 1, 1)
_LAST_WALL = datetime(9998, 12, 31)


@dataclass(frozen=True)
class _Shift:
    """A change of UTC offset: from `before` to `after` seconds, at instant `at`."""

    at: int
    before: int
    after: int

    @property
    def size(self) -> int:
        return abs(self.after - self.before)

    @property
    def forward(self) -> bool:
        return self.after > self.before


class _Planner:
    """Maps the wall-clock slots croniter finds to instants, by the rules in the docstring.

    A slot (a naive wall time matching the fields) yields one instant, none extra, or,
    for a rhythm schedule in a repeated interval, two. Slots are walked in wall-clock
    order; instants are almost in that order too, except within one shift of a change,
    so the walk starts and stops that much early or late (`_low`, `_high`).
    """

    def __init__(self, fields: CronFields, zone: tzinfo) -> None:
        self.fields = fields
        self.zone = zone

    # -- the two directions ------------------------------------------------------------------

    def next_after(self, after: int) -> int | None:
        best: int | None = None
        stop: datetime | None = None
        try:
            start = _wall(after + self._low(after) - 1)
            for slot in self._slots(start, backwards=False):
                if stop is not None and slot > stop:
                    break
                for instant in self._instants(slot):
                    if instant > after and (best is None or instant < best):
                        best = instant
                        stop = _wall(best + self._high(best))
        except (OverflowError, ValueError, OSError):
            pass  # beyond the calendar datetime can represent: no further fires
        return best

    def last_at_or_before(self, end: int) -> int | None:
        best: int | None = None
        stop: datetime | None = None
        try:
            start = _wall(end + self._high(end) + 1)
            for slot in self._slots(start, backwards=True):
                if stop is not None and slot < stop:
                    break
                for instant in self._instants(slot):
                    if instant <= end and (best is None or instant > best):
                        best = instant
                        stop = _wall(best + self._low(best))
        except (OverflowError, ValueError, OSError):
            pass
        return best

    def _slots(self, start: datetime, backwards: bool) -> Iterator[datetime]:
        from croniter import CroniterBadDateError, croniter

        walker: Any = croniter(
            self.fields.croniter_expression(),
            start,
            ret_type=datetime,
            second_at_beginning=True,
        )
        while True:
            try:
                slot: datetime = walker.get_prev(datetime) if backwards else walker.get_next(datetime)
            except CroniterBadDateError:
                return
            if not _FIRST_WALL <= slot <= _LAST_WALL:
                return
            yield slot

    # -- one slot ----------------------------------------------------------------------------

    def _instants(self, slot: datetime) -> tuple[int, ...]:
        local = (slot - _EPOCH) // _ONE_SECOND
        early = local - _seconds(slot.replace(tzinfo=self.zone, fold=0).utcoffset())
        late = local - _seconds(slot.replace(tzinfo=self.zone, fold=1).utcoffset())
        if early == late:
            return (early,)
        if early < late:  # repeated wall time: early is the first occurrence
            if self.fields.keeps_rhythm:
                old_wall = slot + (late - early) * _ONE_SECOND  # the wall under the old offset
                if self.fields.matches(old_wall):
                    return (early, late)
            return (early,)
        # Skipped wall time: `early` applies the old offset (rule 4), `late` the new one.
        if self.fields.keeps_rhythm:
            return (early,)
        return (self._change_instant(late, early),)

    def _change_instant(self, before: int, after: int) -> int:
        """The first instant of the new offset, between `before` (old) and `after` (new)."""
        old = self._offset(before)
        while after - before > 1:
            middle = (before + after) // 2
            if self._offset(middle) == old:
                before = middle
            else:
                after = middle
        return after

    # -- offsets near an instant -------------------------------------------------------------

    def _offset(self, instant: int) -> int:
        return _seconds(datetime.fromtimestamp(instant, self.zone).utcoffset())

    def _shifts_near(self, instant: int) -> list[_Shift]:
        span = _SHIFT_SPAN
        before, here, after = (self._offset(instant + d) for d in (-span, 0, span))
        shifts: list[_Shift] = []
        if before != here:
            at = self._change_instant(instant - span, instant)
            shifts.append(_Shift(at, self._offset(at - 1), self._offset(at)))
        if here != after:
            at = self._change_instant(instant, instant + span)
            shifts.append(_Shift(at, self._offset(at - 1), self._offset(at)))
        return shifts

    def _low(self, instant: int) -> int:
        """The lowest offset a slot firing at or after `instant` can have been mapped with."""
        low = self._offset(instant)
        for shift in self._shifts_near(instant):
            if shift.forward and shift.at <= instant < shift.at + shift.size:
                low = min(low, shift.before)  # rule 4 maps skipped slots with the old offset
            if not shift.forward and shift.at - shift.size <= instant < shift.at:
                low = min(low, shift.after)  # repeated slots come round again soon
        return low

    def _high(self, instant: int) -> int:
        """The highest offset a slot firing at or before `instant` can have been mapped with."""
        high = self._offset(instant)
        for shift in self._shifts_near(instant):
            if not shift.forward and shift.at <= instant < shift.at + shift.size:
                high = max(high, shift.before)
        return high


def _wall(instant_plus_offset: int) -> datetime:
    return _EPOCH + timedelta(seconds=instant_plus_offset)


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
        return (
            f"at second {_numbers(fields.seconds)} of minute {_numbers(fields.minutes)}"
            + ("" if every_hour else f" past hour {_numbers(fields.hours)}")
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
    weekday_text = "on " + _join([_DAY_NAMES[day] for day in sorted(fields.weekdays)])
    if fields.either_day:
        parts.append(f"{day_text} or {weekday_text.removeprefix('on ')}")
    elif not all_days:
        parts.append(day_text)
    elif not all_weekdays:
        parts.append(weekday_text)
    if len(fields.months) < 12:
        parts.append("in " + _join([_MONTH_TITLES[month - 1] for month in sorted(fields.months)]))
    return " ".join(parts)


def _step_of(values: frozenset[int], size: int) -> int | None:
    """The step if `values` is 0, s, 2s, ... covering the whole field."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != 0:
        return None
    step = ordered[1]
    return step if ordered == list(range(0, size, step)) else None


def _numbers(values: frozenset[int]) -> str:
    return ",".join(str(value) for value in sorted(values))


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
