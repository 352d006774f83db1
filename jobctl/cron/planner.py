"""Fire times: the calendar matched on the schedule's wall clock, with the DST rules of the
package docstring."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from jobctl.cron.syntax import (
    CronError,
    CronExpr,
    CronFields,
    _require_fields,
    parse,
)

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
        steps = ((first + index) * step for index in range(n))
        return [fire for fire in steps if _within_the_planned_years(fire, zone)]
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


def count_fires(
    expr: CronExpr | str, tz: tzinfo | str, start: float, end: float, limit: int
) -> int | None:
    """How many fire times (start, end] holds: an interval's whatever their number, a
    calendar's up to `limit` (each costs a lookup), None beyond."""
    parsed = parse(expr) if isinstance(expr, str) else expr
    if parsed.interval is not None and math.isfinite(start) and math.isfinite(end):
        step = parsed.interval
        return max(0, _first_multiple_after(step, end) - _first_multiple_after(step, start))
    found = len(fires_between(parsed, tz, start, end, limit=limit + 1))
    return found if found <= limit else None


def _first_multiple_after(step: float, moment: float) -> int:
    """The smallest k with k * step > moment (float-safe)."""
    index = math.floor(moment / step) + 1
    while (index - 1) * step > moment:
        index -= 1
    while index * step <= moment:
        index += 1
    return index


def _zone(tz: tzinfo | str) -> tzinfo:
    if not isinstance(tz, str):
        return tz
    from jobctl.timefmt import zone_named

    zone = zone_named(tz)
    if zone is None:
        raise CronError(f"unknown time zone {tz!r} (expected an IANA name like 'Europe/Berlin')")
    return zone


_EPOCH = datetime(1970, 1, 1)
_ONE_SECOND = timedelta(seconds=1)
_SHIFT_SPAN = 86400  # offset changes are looked for within a day; DST shifts are far smaller
# Fires are planned up to the end of 9998 on the schedule's wall clock. Year 9999 is the
# room datetime needs past it: offsets (a day at most), the day _shifts_near looks ahead,
# and croniter's step to the next match in 9999, which it then finds beyond the end.
_FIRST_WALL = datetime(2, 1, 1)
_LAST_WALL = datetime(9998, 12, 31, 23, 59, 59)
_LAST_INSTANT = (_LAST_WALL - _EPOCH) // _ONE_SECOND  # as UTC epoch seconds, for a quick bound


def _within_the_planned_years(fire: float, zone: tzinfo) -> bool:
    """Whether an instant falls in 9998 or before on `zone`'s wall clock, as calendar fires
    end (_LAST_WALL); a day's margin either side of _LAST_INSTANT covers any offset."""
    if fire <= _LAST_INSTANT - 86400:
        return True
    if fire > _LAST_INSTANT + 86400:
        return False
    return datetime.fromtimestamp(fire, zone).year <= _LAST_WALL.year


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

    A schedule that runs every hour (its hour field covers all 24) takes no rule 4: its
    skipped slots are not run, and the first fire after a forward change is dropped when it
    comes sooner than the schedule's shortest interval after the last fire before the change.
    A shift of whole hours drops nothing (the wall times after the gap are the skipped ones,
    one shift later); a shift of 30 minutes (Australia/Lord_Howe) would otherwise run an
    hourly schedule twice within one real hour, at the skipped 02:00 and again at 03:00.

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
        self.every_hour = len(fields.hours) == 24
        self.shifts_skipped = self.rhythm and not self.every_hour  # rule 4 applies
        self.shortest_gap = _shortest_gap_within_an_hour(fields)
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
            if self.every_hour and found is not None and self._too_soon_after_a_gap(found):
                found = self._primary_after(found)  # the one after is a full interval later
            # Rule 3 and 4 fires can only be earlier than the primary one near a change.
            for shift in self._shifts_near(after):
                if not shift.forward and shift.at - shift.size <= after < shift.at + shift.size:
                    found = _earliest(found, self._second_occurrence_after(shift, after))
                rule_4_window = shift.at <= after < shift.at + shift.size
                if shift.forward and self.shifts_skipped and rule_4_window:
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
                    if slot.first > after and self.shifts_skipped:
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
            if self.every_hour and self._too_soon_after_a_gap(primary):
                primary = self._primary_at_or_before(primary - 1)
                if primary is None:
                    return None
            # Rule 3 and 4 fires can only be later than the primary one within a shift of it.
            found: int | None = primary
            for shift in self._shifts_near(primary):
                if not shift.forward and shift.at <= end and primary < shift.at + shift.size:
                    found = _latest(found, self._second_occurrence_before(shift, end))
                rule_4_window = shift.at <= primary < shift.at + shift.size
                if shift.forward and self.shifts_skipped and rule_4_window:
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
                    if self.shifts_skipped:
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

    def _too_soon_after_a_gap(self, fire: int) -> bool:
        """Whether `fire`, a wall-clock fire of an every-hour schedule, comes less than its
        shortest interval after the last fire before a forward change just behind it."""
        earliest = fire - self.shortest_gap + 1
        if self._offset(earliest) >= self._offset(fire):
            return False  # no forward change in the interval before it
        change = self._first_with_new_offset(earliest, fire)
        previous = self._primary_at_or_before(change - 1)
        return previous is not None and fire - previous < self.shortest_gap

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


def _shortest_gap_within_an_hour(fields: CronFields) -> int:
    """The shortest time between two fires an hour's minutes and seconds allow, counting
    from the hour's last fire to the next hour's first (seconds)."""
    moments = sorted(minute * 60 + second for minute in fields.minutes for second in fields.seconds)
    following = [*moments[1:], moments[0] + 3600]
    return min(later - earlier for earlier, later in zip(moments, following, strict=True))


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
