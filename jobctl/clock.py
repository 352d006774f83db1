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


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def set(self, timestamp: float) -> None:
        with self._lock:
            if timestamp > self._now:
                self._mono += timestamp - self._now
            self._now = timestamp
