"""Cron expressions in words, for `jobctl cron next`."""

from __future__ import annotations

from jobctl.cron.syntax import (
    CronExpr,
    CronFields,
    _require_fields,
    parse,
)
from jobctl.durations import format_duration

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
        if every_hour and len(fields.minutes) == 60:
            return f"every minute at second {_numbers(fields.seconds)}"
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
        if not fields.every_day:  # one day field allowing every day: no day to name
            parts.append(f"{day_text} or {weekday_text.removeprefix('on ')}")
    elif not all_days:
        parts.append(day_text)
    elif not all_weekdays:
        parts.append(weekday_text)
    if len(fields.months) < 12:
        parts.append("in " + _runs([month - 1 for month in sorted(fields.months)], _MONTH_TITLES))
    return " ".join(parts)


def _step_of(values: frozenset[int], size: int) -> int | None:
    """The step if `values` is 0, s, 2s, ... covering the whole field, and s divides the
    field: `*/45` minutes fires at :00 and :45, 45 then 15 minutes apart, not every 45."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != 0:
        return None
    step = ordered[1]
    return step if size % step == 0 and ordered == list(range(0, size, step)) else None


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
