"""The cron daemon process: leadership, sleeping until the next fire, reloads, heartbeats.

Only the leader fires; a second daemon on the same database blocks on the leader lock as a
hot standby and takes over the instant the leader's process ends (the kernel drops its lock),
or for a shared store, once the leader's lease runs out. A leader that finds its lock no longer
held (a lease it could not renew) stops firing and stands by again.
The daemon sleeps in select() until the next fire, a signal, or its heartbeat; it never polls.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from collections.abc import Callable

from jobctl.clock import Clock, SystemClock
from jobctl.config import Config
from jobctl.errors import JobctlError, StoreError
from jobctl.models import WorkerInfo
from jobctl.observe.events import EventLog, Outage
from jobctl.reloads import KEEPING, ConfigFollower, InForce, refusal_level, restart_needed
from jobctl.scheduler import Scheduler, lacking_text, schedules_lacking
from jobctl.store import Store
from jobctl.store.base import LeaderLock

# Settings the daemon is built with (its database, its log); a reload cannot change them.
_SETTINGS_AT_START = ("db", "durability", "log_format", "log_level")
HEARTBEAT = 5.0  # seconds; also how often the config file is checked for changes
STANDBY = "standby"  # the kind a daemon waiting for the leader lock registers as
_LOCK_POLL = 1.0


class Daemon:
    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        log: EventLog | None = None,
        clock: Clock | None = None,
        on_reload: Callable[[Config], None] | None = None,
    ) -> None:
        self.on_reload = on_reload
        self.store = store
        self._follower = ConfigFollower(config, schedules=True)
        self.log = log or EventLog()
        # Settings the command line gave over the config's: a restart keeps them.
        self._in_force = InForce(store.location, self.log)
        self._set_outside = self._in_force.given_outside(config)
        self.clock = clock or SystemClock()
        self._started = self.clock.now()  # a standby that takes over has run since then
        self.scheduler = Scheduler(store, config, self.log, live_since=self._started)
        # A random part, as a worker's id has: every jobctl that is a container's PID 1 runs
        # its daemon as pid 2 (see jobctl.initproc), and daemons of containers sharing a host
        # name shared one record, which a standby's clean stop erased under the leader.
        self.id = f"scheduler:{socket.gethostname()}:{os.getpid()}:{os.urandom(2).hex()}"
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        self.failure: str | None = None  # why it stopped by itself (its store went away)
        self._reload_requested = False
        self._outage = Outage(self.log, "scheduler")
        self._next_heartbeat = 0.0
        self._config_compared = False  # a standby compares its config with the plan once

    @property
    def config(self) -> Config:
        return self._follower.config

    # -- control from signal handlers or other threads -------------------------------------

    @property
    def wake_fd(self) -> int:
        """For signal.set_wakeup_fd: a signal wakes the daemon whichever thread it lands on."""
        return self._wake_w

    def request_stop(self) -> None:
        self._stopping = True
        self._poke()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._poke()

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    # -- the loop --------------------------------------------------------------------------

    def _warn_of_tz(self) -> None:
        """Say so when $TZ names no zone and some schedule would follow another one."""
        from jobctl.config import host_zone_warning

        ignored = host_zone_warning(self.config)
        if ignored:
            self.log.emit("scheduler.tz_ignored", level="warning", error=ignored)

    def _warn_of_other_config(self) -> None:
        """Say so when the leader plans schedules this config lacks: this standby would take
        them out of the plan on taking over (the leader warns so itself: see Scheduler.load).
        A file edited since this daemon read it is not compared: it leads with the file as it
        is then (see run), and the leader may have planned the edit already."""
        if self._config_compared or self._follower.stale():
            return
        self._config_compared = True
        try:
            lacking = schedules_lacking(self.store, self.config)
        except StoreError:
            return  # the heartbeat's outage handling tells of a store that fails
        if lacking:
            self.log.emit(
                "scheduler.other_config",
                level="warning",
                schedules=", ".join(lacking),
                error=lacking_text(lacking, leading=False),
            )

    def run(self) -> int:
        lock = self.store.scheduler_lock()
        try:
            while not self._stopping:
                if not self._await_leadership(lock):
                    break
                if self._follower.stale():
                    # Edited while this daemon stood by: it leads with the file as it is now
                    # (a broken one: with the config it has), not with the one it started
                    # with, which would fire taken-out schedules until its first heartbeat.
                    self._reload()
                self.log.emit(
                    "scheduler.leader", scheduler=self.id, schedules=len(self.config.schedules)
                )
                self._warn_of_tz()
                self._register()
                self._loop(lock)
                if self._stopping:
                    break
                # Leadership lost: another daemon may be firing already. Stand by again, and
                # plan afresh from the store's record when leading next.
                self.log.emit(
                    "scheduler.lost_leadership",
                    level="warning",
                    scheduler=self.id,
                    reason="the leader lock is no longer held",
                )
                with contextlib.suppress(JobctlError):
                    self.store.unregister_worker(self.id)
                lock.release()
                self.scheduler = Scheduler(
                    self.store, self.config, self.log, live_since=self._started
                )
        finally:
            lock.release()
            with contextlib.suppress(JobctlError):
                self.store.unregister_worker(self.id)
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.log.emit("scheduler.stopped", scheduler=self.id)
        return 0

    def _await_leadership(self, lock: LeaderLock) -> bool:
        """Block until this daemon leads (True), or until asked to stop (False). A standby
        registers as one and keeps its heartbeat, so that `status`, `metrics` and `health`
        show whether a daemon is ready to take over."""
        announced = False
        wait = 0.0  # first a quick try, so a standby says so at once
        next_heartbeat = 0.0
        while not self._stopping:
            if lock.acquire(timeout=wait):
                return True
            wait = _LOCK_POLL
            if not announced:
                self.log.emit("scheduler.standby", reason=lock.waiting_for)
                announced = True
                self._register(STANDBY)
                self._warn_of_other_config()
                next_heartbeat = self.clock.monotonic() + HEARTBEAT
            elif self.clock.monotonic() >= next_heartbeat:
                next_heartbeat = self.clock.monotonic() + HEARTBEAT
                self._heartbeat(STANDBY)
                self._warn_of_other_config()
        return False

    def _loop(self, lock: LeaderLock) -> None:
        """Fire while the lock is held; return when stopping or when leadership is lost."""
        self._next_heartbeat = self.clock.monotonic() + HEARTBEAT
        while not self._stopping:
            timeout = self._step(lock)
            if timeout is None:
                return
            self._sleep(timeout)

    def _step(self, lock: LeaderLock) -> float | None:
        """One pass of the leader's loop: fire what is due, heartbeat when it is time. The
        seconds to sleep before the next pass; None once leadership is lost."""
        if not lock.held():
            return None
        if self._reload_requested:
            self._reload()
        now = self.clock.now()
        try:
            # The boot clock: a suspend moves it, a wall clock set forward does not (the
            # monotonic clock stands still through a suspend, which it would take for one).
            next_fire = self.scheduler.tick(now, self.clock.boottime())
            self._outage.answered(self.clock.monotonic())
        except StoreError as exc:
            self._outage.failed(exc, self.clock.monotonic())
            next_fire = now + 1.0
        mono = self.clock.monotonic()
        if mono >= self._next_heartbeat:
            self._next_heartbeat = mono + HEARTBEAT
            # A leader whose every tick has failed for a whole interval fires nothing: it
            # lets its heartbeat lapse, so that `health --require-scheduler` fails and
            # `status` shows no live cron daemon, rather than one that looks well.
            if self._outage.down_for(mono) < HEARTBEAT:
                self._heartbeat()
            gone = self.store.replaced()
            if gone is not None:  # see Worker._maintain: a restart opens the new file
                self.log.emit("scheduler.store_replaced", level="error", error=gone)
                self.failure = f"{gone}: start the cron daemon again to serve it"
                self.request_stop()
                return 0.0
            if self._follower.stale():
                self._reload_requested = True
                return 0.0
        timeout = self._next_heartbeat - mono
        if next_fire is not None:
            timeout = min(timeout, next_fire - self.clock.now())
        return max(0.0, timeout)

    def _sleep(self, timeout: float) -> None:
        readable, _, _ = select.select([self._wake_r], [], [], timeout)
        if readable:
            with contextlib.suppress(OSError):
                while os.read(self._wake_r, 4096):
                    pass

    def _reload(self) -> None:
        self._reload_requested = False
        if self.config.path is None:
            return
        try:
            config = self._follower.read()  # errors name the schedule
        except JobctlError as exc:
            level = refusal_level(exc)
            self.log.emit("scheduler.reload_failed", level=level, error=f"{exc}{KEEPING}")
            return
        try:
            self.scheduler.load(config, self.clock.now())
        except JobctlError as exc:
            self._follower.refuse(config)
            self.log.emit("scheduler.reload_failed", level="error", error=f"{exc}{KEEPING}")
            return
        fixed = restart_needed(
            self.config, config, _SETTINGS_AT_START, self._in_force, self._set_outside
        )
        self._follower.adopt(config)
        if self.on_reload is not None:
            self.on_reload(config)
        renamed = self.scheduler.renamed
        self.log.emit(
            "scheduler.reloaded",
            level="warning" if renamed else "info",
            schedules=len(config.schedules),
            renamed=", ".join(renamed) or None,
            reason="overlap holds per schedule name: a run of the old name still going does not"
            " hold the new one's fires"
            if renamed
            else None,
        )
        if fixed:
            self.log.emit(
                "scheduler.restart_needed",
                level="warning",
                settings=",".join(fixed),
                error="these settings apply when the daemon starts; this one keeps the old",
            )

    def _register(self, kind: str = "scheduler") -> None:
        now = self.clock.now()
        with contextlib.suppress(StoreError):
            self.store.register_worker(
                WorkerInfo(
                    id=self.id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    queues=(),
                    concurrency=0,
                    started_at=now,
                    heartbeat_at=now,
                    kind=kind,
                    interval=HEARTBEAT,
                )
            )

    def _heartbeat(self, kind: str = "scheduler") -> None:
        with contextlib.suppress(StoreError):
            if not self.store.heartbeat(self.id, self.clock.now()):  # the store lost it
                self._register(kind)


def run_in_thread(target: Callable[[], int], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
