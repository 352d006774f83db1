"""Cron expressions and their fire times, for the daemon and `jobctl cron next`.

Syntax
------
* Five fields, ``minute hour day-of-month month day-of-week``, or six with a leading
  seconds field, ``second minute hour day-of-month month day-of-week``.
* Each field is ``*``, a number, a range ``a-b``, a list ``a,b-c``, or any of these with a
  step: ``*/15``, ``8-18/2``, ``5/20`` (= ``5-59/20``). Months take ``JAN``..``DEC``,
  days of the week ``SUN``..``SAT`` (any case); Sunday is 0 or 7.
* When both day fields are restricted (neither is ``*``), a day matches when *either* one
  does, as POSIX cron says; otherwise both must. Unlike vixie cron and cronie, a step such as
  ``*/2`` counts as restricted: `validate`, `cron next` and `import-crontab` warn of such a
  line (vixie_day_difference).
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
   A schedule that runs every hour (its hour field covers all 24: ``*/15``, ``30 *``)
   takes no rule 4. Across a whole-hour shift that instant is one of its regular fires
   anyway; across Australia/Lord_Howe's 30 minutes it would run twice in one real hour
   (the skipped 02:00 at 02:30, then 03:00). So its skipped slots are not run, as systemd
   runs only the wall times that exist, and its first fire after the change is dropped
   when it comes sooner than its shortest interval after the last fire before it.

So no run is lost and none is doubled (vixie cron loses that 02:00 run in spring and
runs it twice in the fall). Hour steps longer than the shift (``*/2`` against one hour)
get one interval per change that is shorter (spring) or longer (fall) by the shift.

croniter does the calendar arithmetic, on naive wall-clock times only. Given aware times
it follows other rules (``30 2 * * *`` fires at both 02:30s of a fall-back night, and
``0 */2 * * *`` at both 02:00s), so it is never given one. It is imported lazily: the CLI
must start without it.
"""

from __future__ import annotations

from jobctl.cron.describe import describe
from jobctl.cron.planner import count_fires, fires_between, next_fires
from jobctl.cron.syntax import CronError, CronExpr, CronFields, parse, vixie_day_difference
from jobctl.cron.timetable import TimeTable
from jobctl.cron.zones import same_zone

__all__ = [
    "CronError",
    "CronExpr",
    "CronFields",
    "TimeTable",
    "count_fires",
    "describe",
    "fires_between",
    "next_fires",
    "parse",
    "same_zone",
    "vixie_day_difference",
]
