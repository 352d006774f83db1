"""Reading cron expressions: fields, names, ranges, steps, macros and `@every`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache

from jobctl.durations import parse_duration
from jobctl.errors import ConfigError, DurationError
from jobctl.text import digits_value, shorten


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

    @property
    def every_day(self) -> bool:
        """Either day field matching, one of them allowing every day: every day matches
        (`0 0 15 * 0-6`, `0 0 1-31 * MON`), however the day fields are written."""
        return self.either_day and (len(self.days) == 31 or len(self.weekdays) == 7)

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

    def canonical(self) -> str:
        """The fields as the values they allow, seconds first (`*`: all of them), then
        `either-day` when a day matches on either day field, and `rhythm` for an hour field
        that keeps its rhythm through clock changes (rules 3 and 4)."""
        words = [
            _field_text(self.seconds, _SECOND),
            _field_text(self.minutes, _MINUTE),
            _field_text(self.hours, _HOUR),
            "*" if self.every_day else _field_text(self.days, _DAY),
            _field_text(self.months, _MONTH),
            "*" if self.every_day else _field_text(self.weekdays, _WEEKDAY, high=6),
        ]
        if self.either_day and not self.every_day:
            words.append("either-day")
        if self.keeps_rhythm:
            words.append("rhythm")
        return " ".join(words)


@dataclass(frozen=True)
class CronExpr:
    """A parsed expression: calendar fields, or a fixed interval (``@every``)."""

    text: str  # as written, whitespace normalized
    fields: CronFields | None = None
    interval: float | None = None  # seconds between fires of an @every schedule
    # A restricted day-of-month no month named has (`31 4 MON`): dropped, the day-of-week
    # alone decides. Kept to say where vixie cron, which may AND it, never fires instead.
    days_never_occur: bool = False

    @cached_property  # parse() hands out one instance per expression: worked out once
    def canonical(self) -> str:
        """What the expression fires on, however it is spelled: `*/20` and `0/20`, `MON`
        and `mon`, `@daily` and `0 0 * * *`, five fields and six with seconds 0 read alike
        (see CronFields.canonical); `@every 90s` and `@every 1m30s` are `@every 90s`. Two
        expressions with one canonical text fire at the same instants in any one zone."""
        if self.interval is not None:
            return f"@every {repr(float(self.interval)).removesuffix('.0')}s"
        return _require_fields(self).canonical()


# ---------------------------------------------------------------------------------------------
# Parsing


@lru_cache(maxsize=4096)
def parse(expr: str) -> CronExpr:
    """Check an expression and expand it; raises CronError naming the field at fault."""
    # Fields are separated by blanks only, as in cron: other Unicode spaces are data.
    text = " ".join(_BLANKS.split(expr.strip()))
    if text.startswith("@"):
        return _parse_macro(text)
    words = text.split(" ") if text else []
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
    days_never_occur = days_restricted and not _possible_days(days, months)
    if days_never_occur:
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
    return CronExpr(text=text, fields=fields, days_never_occur=days_never_occur)


def vixie_day_difference(expr: CronExpr) -> str | None:
    """Where this expression fires on other days than under vixie cron and cronie, which AND
    the day fields when one starts with '*' (`*/10`, `*/2`), where jobctl, as POSIX says,
    ORs them whenever both are restricted: the sentence saying so, else None. A day-of-month
    that never occurs leaves jobctl the day-of-week alone, where they AND it into no day."""
    words = expr.text.split(" ")
    fields = expr.fields
    both_restricted = fields is not None and (fields.either_day or expr.days_never_occur)
    if not both_restricted or len(words) not in (5, 6):
        return None
    day, month, weekday = words[-3:]
    if not (day.startswith("*") or weekday.startswith("*")):
        return None
    if expr.days_never_occur:
        return (
            f"day-of-month {day!r} never occurs in month field {month!r}: jobctl fires on the"
            f" days day-of-week {weekday!r} matches, as POSIX cron does (vixie cron and cronie"
            " require both day fields when one starts with '*', and never run it)"
        )
    return (
        f"day-of-month {day!r} and day-of-week {weekday!r} are both restricted: jobctl fires on"
        " days matching either, as POSIX cron does (vixie cron and cronie require both when"
        " one starts with '*')"
    )


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
    found = frozenset(values)
    # Thousands of schedules share a few sets ("*" hours, "*" days): keep one of each.
    return _INTERNED.setdefault(found, found)


_INTERNED: dict[frozenset[int], frozenset[int]] = {}


def _parse_part(text: str, word: str, part: str, kind: _FieldKind) -> range:
    def fail(problem: str) -> CronError:
        where = f"{kind.name} field {shorten(word)!r}"
        if part != word:
            where += f": {shorten(part)!r}"
        return CronError(f"invalid cron {shorten(text, 80)!r}: {where} {problem}")

    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not _DIGITS.fullmatch(step_text) or _number(step_text) < 1:
            raise fail("needs a step of at least 1 after '/'")
        step = _number(step_text)
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
        number = _number(token)
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


def _number(digits: str) -> int:
    """ASCII digits as a number; one past every field's range (10,000 or more) as 10,000,
    however many digits it has."""
    number = digits_value(digits, 4)
    return 10_000 if number is None else number


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


def _require_fields(expr: CronExpr) -> CronFields:
    if expr.fields is None:
        raise CronError(f"invalid cron {expr.text!r}: neither calendar fields nor an interval")
    return expr.fields
