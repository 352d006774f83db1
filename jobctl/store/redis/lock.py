"""The cron leader lease: SET NX PX with a fencing token, renewed in the background."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TYPE_CHECKING

import redis

from jobctl.store.redis.codec import STANDBY_POLL

if TYPE_CHECKING:
    from jobctl.store.redis.base import RedisBase

# ---------------------------------------------------------------------------------------------
# Cron leadership


class RedisLeaderLock:
    """The cron leader lease: a key set with NX and an expiry, whose value is a fencing
    token, renewed by a background thread every third of the lease. A leader that cannot
    renew in time (its host stalled, the network split) stops counting itself as leader
    before the key can expire, and the store refuses its fires by the token; a standby
    takes over within one lease of the leader's death."""

    def __init__(self, store: RedisBase, lease: float) -> None:
        self._store = store
        self._lease = lease
        self._token: str | None = None
        self._valid_until = 0.0
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiting_for = "another daemon is the leader"

    @property
    def waiting_for(self) -> str:
        return self._waiting_for

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.held():
                return True
            sent = time.monotonic()
            pause = STANDBY_POLL
            try:
                token = self._store._run("leader_acquire", os.urandom(8).hex(), self._ms())
                self._waiting_for = "another daemon is the leader"
            except redis.exceptions.RedisError as exc:
                token = None  # the server is unreachable: keep standing by
                self._waiting_for = f"the server cannot be reached ({exc})"
            if isinstance(token, int):
                # Another daemon leads: try again the moment its lease would run out.
                pause = min(pause, max(0.002, token / 1000 + 0.002))
                token = None
            if token:
                with self._mutex:
                    self._token = str(token)
                    self._valid_until = sent + self._lease
                    self._store._fence = self._token
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._renew, args=(str(token), self._stop), daemon=True
                )
                self._thread.name = "jobctl-leader"
                self._thread.start()
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(remaining, pause))

    def held(self) -> bool:
        with self._mutex:
            return self._token is not None and time.monotonic() < self._valid_until

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._mutex:
            token, self._token = self._token, None
            self._store._fence = None
        if token is not None:
            with contextlib.suppress(redis.exceptions.RedisError):
                self._store._run("leader_release", token)

    def _ms(self) -> str:
        return str(max(1, int(self._lease * 1000)))

    def _renew(self, token: str, stop: threading.Event) -> None:
        while not stop.wait(self._lease / 3):
            sent = time.monotonic()
            try:
                kept: int | None = int(self._store._run("leader_renew", token, self._ms()))
            except redis.exceptions.RedisError:
                kept = None
            with self._mutex:
                if self._token != token:
                    return
                if kept == 1:
                    self._valid_until = sent + self._lease
                elif kept == 0 or time.monotonic() >= self._valid_until:
                    self._token = None  # lost: another daemon leads now, or may soon
                    # The fence stays this lost token, not none: a write without one is the
                    # CLI's, taken as it comes, and the rest of a tick that began before the
                    # loss (or resumed after a stall) would have enqueued a fire twice.
                    # Refused by the token until a new lease gives another (acquire).
                    return
