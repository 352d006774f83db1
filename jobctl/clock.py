"""Time as a dependency: the real clock for production, a fake one for tests that never sleep."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall time: what run_at and fire times are compared with)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for timeouts and intervals)."""

    def boottime(self) -> float:
        """Seconds that really passed, a suspend included, and no step of the wall clock:
        what tells a wall clock that moved by itself from time that went by."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def boottime(self) -> float:
        # Linux counts a suspend here; elsewhere the monotonic clock, which stands still
        # through one, is the nearest (a worker then trusts less of the wall clock, not more).
        if hasattr(time, "CLOCK_BOOTTIME"):
            return time.clock_gettime(time.CLOCK_BOOTTIME)
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._boot = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def boottime(self) -> float:
        with self._lock:
            return self._boot

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds
            self._boot += seconds

    def set(self, timestamp: float) -> None:
        with self._lock:
            if timestamp > self._now:
                self._mono += timestamp - self._now
                self._boot += timestamp - self._now
            self._now = timestamp

    def step(self, seconds: float) -> None:
        """The wall clock alone moves (an NTP step, `date -s`): no time passed."""
        with self._lock:
            self._now += seconds

    def suspend(self, seconds: float) -> None:
        """The machine sleeps: the wall and boot clocks move on, the monotonic one does not."""
        with self._lock:
            self._now += seconds
            self._boot += seconds
