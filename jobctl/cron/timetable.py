"""A schedule's time table (its cron and zone) and when two of them are the same.

The cron daemon plans a schedule afresh when its time table changes, on a reload or while
no daemon ran, and then catches none of its missed fires up: a rewrite that moves no fire
("*/20" as "0/20", "MON" as "mon", "@daily" as "0 0 * * *", the zone UTC as Etc/UTC) must
not count as one. Daemons record a time table as the text "<cron> <zone>", which `read`
reads back.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.cron.syntax import CronError, CronExpr, parse
from jobctl.cron.zones import same_zone


@dataclass(frozen=True)
class TimeTable:
    """A schedule's cron expression and the zone its wall clock is read in."""

    expr: CronExpr
    zone: str  # an IANA name, the host's own as the daemon resolved it for a schedule naming none

    @classmethod
    def read(cls, text: str) -> TimeTable | None:
        """A time table as the daemons record it, "<cron> <zone>" (zone names hold no
        blank); None when its cron no longer reads."""
        written, _, zone = text.rpartition(" ")
        try:
            return cls(parse(written), zone)
        except CronError:
            return None

    def changes(self, new: TimeTable) -> dict[str, str]:
        """What moved the fire times from this time table to `new`, as "old -> new" under
        "cron" and "timezone": empty when both fire at the same instants. An `@every`
        schedule fires at the same instants in every zone."""
        found: dict[str, str] = {}
        if self.expr.canonical != new.expr.canonical:
            found["cron"] = f"{self.expr.text} -> {new.expr.text}"
        both_intervals = self.expr.interval is not None and new.expr.interval is not None
        if not both_intervals and not same_zone(self.zone, new.zone):
            found["timezone"] = f"{self.zone} -> {new.zone}"
        return found
