"""How many jobs the host lets a worker start at once.

Out of processes or descriptors (a pids limit, the open files limit), a start fails with
EAGAIN or EMFILE, and the job goes back to the queue. Claiming the whole --concurrency again
gave back the rest at every try, as interrupted runs: 124 for 60 jobs at `ulimit -n 40`. So a
worker with jobs running takes no more than those at once, and tries one more now and then;
one with none running takes no job for a while.
"""

from __future__ import annotations

from jobctl.durations import format_duration

ROOM_RETRY = 10.0  # seconds after the host refused a start before trying one more at once
LONGEST_HOLD = 30.0  # seconds: the longest a worker with nothing running takes no job


class Headroom:
    """A worker's room to start jobs, on the monotonic clock its caller passes in."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.hold_until = 0.0  # no claims before (when nothing runs: see refused)
        self._held_off = 0.0  # seconds of the last hold; 0 once a job starts again
        self._room: int | None = None  # jobs the host let run at once, when fewer
        self._credit = 0  # jobs ended well since the room last grew
        self._refused_at = 0.0  # when the host last refused a start
        self._refusing_since: float | None = None  # nothing could start since (see refusing_for)

    def slots(self) -> int:
        """How many jobs to run at once: --concurrency, or fewer while the host allows fewer."""
        return self.concurrency if self._room is None else min(self._room, self.concurrency)

    def holding(self, mono: float) -> bool:
        return mono < self.hold_until

    def refusing_for(self, mono: float) -> float:
        """How long the host has refused every start with none of this worker's jobs
        running: 0 once one starts. A --burst worker gives up past a grace (see Worker)."""
        return 0.0 if self._refusing_since is None else mono - self._refusing_since

    def refused(self, reason: str, started: int, mono: float) -> str | None:
        """A start failed for want of a process or a descriptor, with `started` jobs of this
        worker running: the `worker.cannot_start` line to log, or None when one was said
        already. The starts of one batch that fail together make one hold, and one line."""
        if self.holding(mono):
            return None
        if started:
            narrower = self._room is None or started < self._room
            self._room, self._credit, self._refused_at = started, 0, mono
            if not narrower:
                return None
            return (
                f"{reason}: jobs go back to the queue; at most {started} run at once until the"
                " host allows more"
            )
        if self._refusing_since is None:
            self._refusing_since = mono
        self._held_off = min(LONGEST_HOLD, max(1.0, self._held_off * 2))
        self.hold_until = mono + self._held_off
        return (
            f"{reason}: jobs go back to the queue; none taken for {format_duration(self._held_off)}"
        )

    def started(self) -> None:
        """A job started: the next hold, if any, starts from a second again."""
        self._held_off = 0.0
        self._refusing_since = None

    def ended_well(self, mono: float) -> None:
        """A job ended well: once as many as the room holds have, and a while after the host
        last refused one, one more may run at once."""
        if self._room is None:
            return
        self._credit += 1
        if self._credit >= self._room and mono - self._refused_at >= ROOM_RETRY:
            self._credit = 0
            self._room = self._room + 1 if self._room + 1 < self.concurrency else None
