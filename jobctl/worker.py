"""The worker: claim jobs, run them, renew their leases, report how they ended.

One thread owns the store connection, makes every decision and runs every attempt: it
sleeps in poll() on the store's wake-up channel, a self-pipe, and each attempt's stderr and
exit (a pidfd), so an idle worker costs nothing, picks up new work at once, and never hands
a job between threads. Delivery is at-least-once: a job whose worker dies runs again when
its lease expires.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from jobctl import logfiles
from jobctl.clock import Clock, SystemClock
from jobctl.config import (
    ADHOC_JOB,
    DEFAULT_JOB,
    Config,
    JobType,
    exec_allowed,
)
from jobctl.errors import (
    ConfigError,
    JobctlError,
    OperationFailed,
    PayloadError,
    StoreError,
    UsageError,
)
from jobctl.executor import HOST_LIMITS, Attempt, AttemptSpec, wait_readable
from jobctl.fsutil import NotAFolder
from jobctl.headroom import Headroom
from jobctl.logfolders import check_log_root
from jobctl.models import AttemptResult, Claim, Job, JobFilter, Outcome, State, WorkerInfo
from jobctl.observe.events import EventLog, Names, Outage, Seconds
from jobctl.observe.hooks import HOOK_KILL_GRACE, RunningHook, hook_for, hook_timeout, run_hook
from jobctl.payload import compact_json, render_argv
from jobctl.processes import (
    Refusal,
    environment_for_jobs,
    login_env,
    stop_orphans,
    uid_of,
)
from jobctl.reloads import (
    KEEPING,
    ConfigFollower,
    InForce,
    refusal_level,
    restart_needed,
    schedules_plan,
)
from jobctl.render import shown_command
from jobctl.retention import SLICE, SLICE_REST, AutoPruner, RetentionClock
from jobctl.retry import retry_delay
from jobctl.store import Finish, Store, WakeListener
from jobctl.store.base import OUTAGE_GRACE
from jobctl.timefmt import iso

_STORE_RETRY = 1.0  # seconds to wait after a store error before trying again
FORGET_CRASHED = 600.0  # seconds a crashed worker's record is kept, shown as crashed
_ENDS_READ = 20  # the latest job ends a worker reads at its start (see _last_written)
_POLL_WITHOUT_WAKEUPS = 0.25  # when the store offers no wake-up channel
_NEVER = float("inf")
_HOOK_WAIT_SLICE = 0.1  # a leaving worker's look for a stop signal while hooks run
_HOOK_END_SLACK = 1.0  # past a hook's own timeout and kill grace: its thread's last line


@dataclass
class _Running:
    claim: Claim
    job_type: JobType
    attempt: Attempt | None  # None when it ended before it started
    started: float  # monotonic
    cancelling: bool = False  # told to stop for a cancel (said once, not at every renewal)
    give_back: bool = False  # stopped for a lease lost, then handed out here again


@dataclass
class _Hook:
    job_id: int
    running: RunningHook
    end: float  # monotonic: by when its own hook_timeout and kill grace end it


class _AfterAll(RunningHook):
    """The hooks of one job still running, as one hook to start after: an on_dead waits for
    every on_failure of its job, a slow one of an earlier attempt too, so that "gave up"
    never comes before "attempt N failed"."""

    def __init__(self, hooks: Sequence[RunningHook]) -> None:
        super().__init__(None)
        self._hooks = tuple(hooks)

    def alive(self) -> bool:
        return any(hook.alive() for hook in self._hooks)

    def join(self, timeout: float | None = None) -> None:
        for hook in self._hooks:  # each ends by its own hook_timeout and kill grace
            hook.join(timeout)


# Settings a worker is built with (its database, lease, logs); a reload cannot change them.
_SETTINGS_AT_START = ("db", "lease", "log_dir", "durability", "log_format", "log_level")


def _not_run(error: str) -> AttemptResult:
    """An attempt that ended before a command started: it wrote no log (an empty log path
    says so, where None would keep the path named at claim, of a file never made)."""
    return AttemptResult(Outcome.ERROR, error=error, log_path="")


@dataclass(frozen=True)
class WorkerOptions:
    queues: tuple[str, ...] | None = None
    concurrency: int = 1
    burst: bool = False
    # In `up`, beside a cron daemon: a reload the daemon would refuse (a bad cron line) is
    # refused here too. A lone worker, started with such a file as run-worker may be, is not.
    with_daemon: bool = False
    shutdown_timeout: float = 30.0
    name: str | None = None


class Worker:
    def __init__(
        self,
        store: Store,
        config: Config,
        options: WorkerOptions,
        *,
        log: EventLog | None = None,
        clock: Clock | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.store = store
        self._follower = ConfigFollower(
            config, schedules=options.with_daemon or schedules_plan(config)
        )
        self.options = options
        self.log = log or EventLog()
        self.clock = clock or SystemClock()
        self.lease = config.settings.lease
        # Leases are renewed and heartbeats written three times per lease.
        self._maintenance_interval = max(0.2, self.lease / 3.0)
        self.id = options.name or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(2).hex()}"
        self.log_dir = log_dir or logfiles.log_dir(config, store.location)
        self._log_root = str(self.log_dir)
        # Settings the command line gave over the config's (--db, --log-format...): a restart
        # keeps them, whatever the config comes to say.
        self._in_force = InForce(store.location, self.log)
        self._set_outside = self._in_force.given_outside(config)
        self._running: dict[int, _Running] = {}
        self._environ = environment_for_jobs()
        self._envs: dict[str, tuple[JobType, dict[str, str]]] = {}
        self._euid = os.geteuid()
        self._signals: list[int] = []  # received, not yet acted on
        self._stop_signal_taken = False  # a SIGTERM or SIGINT stopped it: the next one forces
        self._store_retry_at = 0.0  # after a store error, the next try (monotonic)
        self._finished: list[tuple[int, AttemptResult]] = []  # attempts that ended
        self._claimed_again: set[int] = set()  # jobs the store handed out while run here
        self._given_back_unstarted: set[int] = set()  # claimed, and kept from starting
        self._finishes: list[Finish] = []  # their results, until the store has them
        self._releases: list[Claim] = []  # interrupted attempts, until the store has them
        self._release_ends: list[AttemptResult | None] = []  # how each one's process ended
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        # Wall clock, for `status`: when the shutdown timeout ends (see request_stop), and
        # whether the worker's record has yet to say it stops.
        self._stopping_until: float | None = None
        self._stop_unsaid = False
        self._stop_deadline: float | None = None
        self._force = False
        self._pending_retries: dict[int, float] = {}
        # The `now` of this worker's last claim: a job ready by then that it left queued is
        # held (a rate, max_running, a pause), no reason to claim again at once.
        self._claimed_at: float | None = None
        # When the rate this --burst worker last said it waits for lets a start in: one
        # worker.rate_held line per wait, not one per pass.
        self._rate_held_said: float | None = None
        self._maintain_soon = False  # a --burst worker waited out a dead worker's lease
        self._woken = False  # the wake-up channel delivered: the config's stamp gets a look
        self._pruner = AutoPruner({}, self._log_root)
        self._retention_clock = RetentionClock(self.clock)
        self._prune_at = _NEVER  # monotonic: the next slice of a prune (see _prune)
        self._hooks: list[_Hook] = []  # running hooks (see _wait_for_hooks)
        self._job_hooks: dict[int, list[_Hook]] = {}  # the same, by job (see _notify)
        self._handling = False  # our signal handlers are installed
        self._old_wakeup_fd = -1
        self.on_stop: list[Callable[[], None]] = []
        self.on_hangup: list[Callable[[], None]] = []  # SIGHUP, after the worker's own reload
        self._handed: Config | None = None  # see take_config
        self._handed_lock = threading.Lock()
        self._pending_log: list[tuple[_Running, AttemptResult, float, float | None]] = []
        self._started_at = 0.0
        self._outage = Outage(self.log, "worker")
        self._gave_up: Exception | None = None  # the store error that ended a --burst
        self._cannot_start: str | None = None  # the host's limit that ended a --burst
        self._store_replaced: str | None = None  # the database file deleted or swapped
        self._headroom = Headroom(options.concurrency)
        self._maintained_at = self.clock.monotonic()
        self._maintained_wall = self.clock.now()  # the same look, on the clock leases use
        # Monotonic: since when the other workers have had their time to renew leases and
        # write heartbeats, and until when this one takes none of theirs for lost (see
        # _maintain). A worker started just after a suspend or a clock step has seen no
        # renewal yet: every lease on the host looked expired to it.
        self._heard_since = self._maintained_at
        self._was_late = False  # a pass since the start found its clock moved, or a stall
        self._rescue_after = self._maintained_at + 1.5 * self._maintenance_interval

    # -- public ----------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._follower.config

    @config.setter
    def config(self, config: Config) -> None:
        """A config read elsewhere (up's daemon): its stamp tells whether it is current."""
        self._follower.adopt(config)

    def take_config(self, config: Config) -> None:
        """A config up's cron daemon read and took, for the worker to take at its next turn
        as it takes one it read itself (see _config_changed): set in place, its lease and
        log folder changed without a word, and no line named the jobs it leaves unknown.
        Called from the daemon's thread: only handed over here, the loop is woken."""
        with self._handed_lock:
            self._handed = config
        self._woken = True  # even with every slot full, the next turn takes it
        self._poke()

    def run(self) -> int:
        old_handlers = self._install_signals()  # first: a stop asked for from now is graceful
        if self.options.name is not None:
            try:
                self._check_name_free()
            except BaseException:
                self._restore_signals(old_handlers)
                raise
        now = self.clock.now()
        self._started_at = now
        try:
            # A write first: a database this worker may not change (read-only) is refused
            # before the log and wake-up folders are made beside it.
            self.store.register_worker(self._info(now))
        except BaseException:
            self._restore_signals(old_handlers)
            raise
        try:
            check_log_root(self._log_root)
        except OSError as exc:
            with contextlib.suppress(JobctlError):
                self.store.unregister_worker(self.id)
            self._restore_signals(old_handlers)
            raise ConfigError(_log_root_refused(exc, self._log_root)) from None
        listener = self.store.open_listener(self.id)
        self.store.while_waiting = self._serve_attempts
        started = False
        try:
            self._retention_clock = RetentionClock(self.clock, self._last_written())
            self.log.emit(
                "worker.started",
                worker=self.id,
                queues=Names(self.options.queues or ("*",)),
                concurrency=self.options.concurrency,
                db=self.store.location,  # which queue it serves: --db, $JOBCTL_DB or config
            )
            if self.store.created and not self.options.with_daemon:
                # Nothing was ever enqueued there: a wrong --db, maybe. (`up` fills its own.)
                self.log.emit(
                    "worker.new_database",
                    level="warning",
                    db=self.store.location,
                    reason="it made this database: no job was ever enqueued there",
                )
            # A store that refused the wake-up channel says why (a Redis ACL user without
            # channel rights): new jobs are then found by polling, which an operator should
            # hear about once, not guess from slow pick-ups.
            unheard = self.store.wake_error if listener is None else None
            if unheard:
                self.log.emit(
                    "worker.polling",
                    level="warning",
                    worker=self.id,
                    every=f"{_POLL_WITHOUT_WAKEUPS:g}s",
                    error=f"{unheard}; polling for new jobs instead",
                )
            started = True
            self.log.hold()
            self._loop(listener)
        finally:
            self.log.release()
            self.store.while_waiting = None
            self._restore_signals(old_handlers)
            if listener is not None:
                listener.close()
            with contextlib.suppress(JobctlError):
                self.store.unregister_worker(self.id)
            if self._handling:  # still installed by a caller: signals must not reach our pipe
                signal.set_wakeup_fd(self._old_wakeup_fd)
            for running in self._running.values():  # only when the loop failed
                if running.attempt is not None:
                    running.attempt.close()
            self._wait_for_hooks()  # before the wake-up pipe closes: a signal still writes it
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            if started:  # a worker that never started says nothing but its error
                self.log.emit("worker.stopped", worker=self.id)
        if self._store_replaced is not None:
            raise StoreError(f"{self._store_replaced}: start the worker again to serve it")
        if self._gave_up is not None:
            raise StoreError(f"{self._gave_up} (a --burst worker waits {OUTAGE_GRACE:g}s for it)")
        if self._cannot_start is not None:
            raise OperationFailed(f"cannot start any job: {self._cannot_start}")
        return 0

    def _info(self, now: float) -> WorkerInfo:
        return WorkerInfo(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=self.options.queues or ("*",),
            concurrency=self.options.concurrency,
            started_at=self._started_at,
            heartbeat_at=now,
            interval=self._maintenance_interval,
            stopping_until=self._stopping_until,
        )

    def _check_name_free(self) -> None:
        """Two live workers of one name would share a heartbeat row and a wake-up socket:
        the first to stop would take both away from the other."""
        now = self.clock.now()
        host = socket.gethostname()
        for info in self.store.workers():
            if info.id != self.id or info.kind != "worker" or not info.alive(now):
                continue
            # (alive() has asked this host's processes: one killed a moment ago, restarted
            # by systemd at once, is gone.) A container's restart often gets the same pid.
            if info.host == host and info.pid == os.getpid():
                continue
            raise UsageError(
                f"--worker-name {self.id!r}: a running worker has this name"
                f" (pid {info.pid} on {info.host}); choose another"
            )

    def request_stop(self, force: bool = False) -> None:
        """Stop claiming; running jobs get `shutdown_timeout` to finish (none when forced)."""
        for callback in self.on_stop:
            callback()
        if force and not self._force:
            self._force = True
            # Said, as a graceful stop is: the jobs' processes are stopped now, not left
            # behind, and their jobs are given back.
            self.log.emit(
                "worker.stopping",
                level="warning",
                worker=self.id,
                running=len(self._running),
                timeout_s=0.0,
                error="stopping at once: running jobs are stopped and queued again"
                " (a job with max_attempts = 1 goes dead)",
            )
        elif not self._stopping:
            self.log.emit(
                "worker.stopping",
                worker=self.id,
                running=len(self._running),
                timeout_s=self.options.shutdown_timeout,
            )
        if not self._stopping:
            self._stopping = True
            self._stop_deadline = self.clock.monotonic() + self.options.shutdown_timeout
            self._stopping_until = self.clock.now() + self.options.shutdown_timeout
            self._stop_unsaid = True
        if force and self._stopping_until is not None:
            self._stopping_until = min(self._stopping_until, self.clock.now())
            self._stop_unsaid = True
        self._poke()

    # -- the loop --------------------------------------------------------------------------

    def _loop(self, listener: WakeListener | None) -> None:
        interval = self._maintenance_interval
        next_maintenance = self.clock.monotonic()
        # Said after the first claim: the count behind it reads every waiting job (0.8 s on
        # 850,000), which the first job must not wait for.
        unknown_jobs_unsaid = True
        while True:
            self._take_signals()
            mono = self.clock.monotonic()
            # After a store error the store rests for a moment; attempts are served meanwhile.
            store_up = mono >= self._store_retry_at
            reported = store_up and self._collect_results()
            if store_up and not reported:
                self._store_retry_at = mono + _STORE_RETRY
                self._end_a_burst_the_store_fails()
            if self._stopping:
                self._enforce_shutdown(mono)
                out_of_time = self._stop_deadline is not None and mono >= self._stop_deadline
                if not self._running and (reported or self._force or out_of_time):
                    if not reported:
                        self._give_up_reporting()
                    return
            if not reported:
                self._wait(listener, self._until_attempts_need_us(self._store_retry_at - mono))
                continue
            try:
                if mono >= next_maintenance or self._maintain_soon:
                    self._maintain_soon = False
                    self._maintain()
                    next_maintenance = mono + interval
                if not self._stopping and mono >= self._prune_at:
                    self._prune()
                # A stop asked for meanwhile (during a slice of a prune, or a store call
                # that waited for the lock) is taken before claiming: no job starts after
                # SIGTERM.
                self._take_signals()
                if listener is not None and listener.control_pending:
                    listener.control_pending = False
                    self._check_held()
                if self._stop_unsaid:
                    # Said in the store before the drain, so that `status` and waits do not
                    # count a worker that takes no job as serving its queues.
                    self.store.register_worker(self._info(self.clock.now()))
                    self._stop_unsaid = False
                claimed_all = self._claim_more()
                if unknown_jobs_unsaid:
                    unknown_jobs_unsaid = False
                    self._warn_of_unknown_jobs()
                if self._outage.down_for(mono) > 0:
                    # The store is back once it takes a write: on a full disk reads answer,
                    # and this pass may have written nothing (no heartbeat while failing, no
                    # job to claim), so "back" was said every other second.
                    now = self.clock.now()
                    if not self.store.heartbeat(self.id, now):
                        self._register_again(now)  # a server back without its data
                self._outage.answered(mono)
            except StoreError as exc:
                self._outage.failed(exc, mono)
                self._store_retry_at = mono + _STORE_RETRY
                self._end_a_burst_the_store_fails()
                self._wait(listener, self._until_attempts_need_us(_STORE_RETRY))
                continue
            if claimed_all and not self._stopping:
                continue  # every free slot filled: more work may be waiting
            if self.options.burst and not self._running and not self._stopping:
                wait_for = self._burst_wait()
                if wait_for is None:
                    return
            else:
                wait_for = None
            timeout = self._sleep_time(next_maintenance, wait_for)
            self._wait(listener, timeout)

    def _end_a_burst_the_store_fails(self) -> None:
        """A --burst worker has an end to reach (a CI step waits for it): past OUTAGE_GRACE
        of failing store calls, a corrupt file or a server that stays away, it stops as if
        asked to, and run() then fails with the store's error."""
        # A fresh reading: the call that failed may have waited out SQLite's busy timeout.
        lasting = self._outage.down_for(self.clock.monotonic()) >= OUTAGE_GRACE
        if lasting and self.options.burst and not self._stopping:
            self._gave_up = self._outage.last_error
            self.request_stop()

    def _claim_more(self) -> bool:
        """Fill free slots; True when every slot asked for was filled."""
        if self._stopping:
            return False
        woken, self._woken = self._woken, False
        free = self._headroom.slots() - len(self._running)
        if free <= 0 or self._headroom.holding(self.clock.monotonic()):
            if woken:  # `jobctl reload` says its workers read the changed config now
                self._config_changed()
            return False
        # One stat, at each pass with a free slot, before the claim: [queues] limits decide
        # what it takes, a raised max_running at once. With every slot full, only at a
        # wake-up: at every pass it cost a busy worker some 2% of its time.
        self._config_changed()
        now = self._claimed_at = self.clock.now()
        claims = self.store.claim(
            self.id,
            self.options.queues,
            now,
            self.lease,
            limit=free,
            log_path=self._log_path,
            caps=self.config.queue_limits,
            rates=self.config.queue_rates,
        )
        for claim in claims:
            self._start(claim)
        for claim in claims:
            self._announce(claim)
        return len(claims) == free

    def _sleep_time(self, next_maintenance: float, burst_wait: float | None) -> float:
        mono = self.clock.monotonic()
        timeout = max(0.0, next_maintenance - mono)
        if self._stopping and self._stop_deadline is not None and self._stop_deadline > mono:
            # Past the deadline the attempts have been told to stop; their ends wake us.
            timeout = min(timeout, self._stop_deadline - mono)
        if burst_wait is not None:
            timeout = min(timeout, burst_wait)
        if self._headroom.holding(mono):
            timeout = min(timeout, self._headroom.hold_until - mono)
        if not self._stopping and self._pruner.busy:
            timeout = min(timeout, max(0.0, self._prune_at - mono))
        timeout = self._until_attempts_need_us(timeout)
        if not self._stopping and len(self._running) < self._headroom.slots():
            try:
                due = self.store.next_due(self.options.queues)
                opens = self._next_rate_start()
            except StoreError:
                due = opens = None
            if due is not None:
                timeout = min(timeout, max(0.0, due - self.clock.now()))
            if opens is not None:
                timeout = min(timeout, max(0.0, opens - self.clock.now()))
        return timeout

    def _next_rate_start(self) -> float | None:
        """When a queue of this worker that its rate holds back lets its next start in: the
        worker sleeps until then (a job ready, yet not to be claimed, is no reason to claim
        in a loop, nor to sleep past it). None with no rate among its queues: no read."""
        rates = self.config.queue_rates
        queues = self.options.queues
        if not rates or (queues is not None and not set(queues) & rates.keys()):
            return None
        return self.store.next_rate_start(queues, rates, self.clock.now())

    def _until_attempts_need_us(self, timeout: float) -> float:
        """`timeout`, or less when a running attempt has a deadline sooner (a timeout, a
        kill grace, a check on processes it left behind)."""
        now = time.monotonic()
        for running in self._running.values():
            deadline = running.attempt.deadline() if running.attempt is not None else None
            if deadline is not None:
                timeout = min(timeout, deadline - now)
        return max(0.0, timeout)

    def _wait(self, listener: WakeListener | None, timeout: float) -> None:
        if listener is None:
            timeout = min(timeout, _POLL_WITHOUT_WAKEUPS)
        fds: list[int] = [self._wake_r]
        # Stopping too: the socket carries a cancel's word, which a drain must act on at
        # once, not at the next renewal (lease/3 later).
        if listener is not None:
            fds.append(listener.fileno())
        for running in self._running.values():
            if running.attempt is not None:
                fds.extend(running.attempt.fds())
        self.log.flush()  # the lines of this turn, before sleeping
        readable = wait_readable(fds, timeout)
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError, OSError):
                while os.read(self._wake_r, 4096):
                    pass
        if listener is not None and fds[1] in readable:
            listener.drain()
            self._woken = True
        self._advance_attempts(readable)

    def _advance_attempts(self, readable: set[int]) -> None:
        now = time.monotonic()
        for job_id, running in self._running.items():
            attempt = running.attempt
            if attempt is None or attempt.result is not None:
                continue
            deadline = attempt.deadline()
            if (deadline is None or deadline > now) and readable.isdisjoint(attempt.fds()):
                continue
            try:
                result = attempt.advance(readable)
            except Exception as exc:  # a bug or an OS failure must not lose the job
                attempt.close()
                result = attempt.result = AttemptResult(Outcome.ERROR, error=f"worker error: {exc}")
            if result is not None:
                self._finished.append((job_id, result))

    def _serve_attempts(self) -> None:
        """While a store call waits for a lock another process holds (up to SQLite's busy
        timeout): the running attempts' timeouts, kill graces and output are served
        meanwhile. A `timeout = "2s"` job ran as long as a long batch held the lock."""
        fds = [
            fd
            for running in self._running.values()
            if running.attempt is not None
            for fd in running.attempt.fds()
        ]
        self._advance_attempts(wait_readable(fds, 0) if fds else set())

    def _poke(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # -- maintenance -----------------------------------------------------------------------

    def _maintain(self) -> None:
        now = self.clock.now()
        gone = self.store.replaced()
        if gone is not None and not self._stopping:
            # `rm` of the database to "reset" the queue: new jobs go to a new file this
            # worker would never see. It stops (exit 3), so that a restart opens that one.
            self._store_replaced = gone
            self.log.emit("worker.store_replaced", level="error", error=f"{gone}: stopping")
            self.request_stop()
        # A worker whose every claim or report has failed for a whole interval (its store
        # refuses those writes alone: a damaged index, a schema it does not know) does no
        # work: it lets its heartbeat lapse, as the cron daemon does, so that `health
        # --require-worker` fails rather than counting it live.
        failing = self._outage.down_for(self.clock.monotonic()) >= self._maintenance_interval
        if not failing and not self.store.heartbeat(self.id, now):  # lost (a FLUSHDB)
            self._register_again(now)
        if self._running:
            claims = [r.claim for r in self._running.values() if r.attempt is not None]
            held = self.store.renew(claims, now + self.lease)
            self._stop_lost(claims, held)
        mono = self.clock.monotonic()
        # Both clocks: the monotonic one stands still while the machine is suspended, and
        # the wall clock, which leases are counted on, moves on (a suspend, an NTP step).
        since = max(mono - self._maintained_at, now - self._maintained_wall)
        late = since > 2 * self._maintenance_interval
        if late or self._outage.down_for(mono) > 0:
            # Back from a store that failed or stalled for every worker alike (a full disk,
            # a lock held long, a server down, a suspended machine): leases that ran out
            # meanwhile are mostly those of live workers, which renew at their next look.
            # Recovering them now killed healthy jobs.
            self._heard_since, self._was_late = mono, True
            self._rescue_after = mono + 1.5 * self._maintenance_interval
        self._maintained_at, self._maintained_wall = mono, now
        self._recover_expired(now, held=mono < self._rescue_after)
        settings = self.config.settings
        self._pruner.keep = {
            State.SUCCEEDED: settings.keep_succeeded,
            State.DEAD: settings.keep_dead,
            State.CANCELLED: settings.keep_cancelled,
        }
        if not self._pruner.busy:
            self._prune_at = 0.0  # one due starts at this turn of the loop (see _prune)
        self._forget_crashed(now, mono)

    def _register_again(self, now: float) -> None:
        """Register anew, said: a record gone from the store means the store lost data (a
        Redis server restarted without persistence drops the connection first, so this is
        mostly found on the way back from an outage), its jobs with it."""
        self.store.register_worker(self._info(now))
        self.log.emit(
            "worker.registered_again",
            level="warning",
            worker=self.id,
            error="its registration was gone from the store, which may have lost data",
        )

    def _prune(self) -> None:
        """A slice of the worker's own prune (retention), about SLICE long; the next comes
        SLICE_REST later, so that leases, timeouts, signals and claims are served between
        slices as at any turn of the loop. Ages are counted on the retention clock, which a
        wall clock set ahead for a moment does not carry along (see RetentionClock)."""
        pruned = self._pruner.run(self.store, self._retention_clock.now(), budget=SLICE)
        if pruned is not None and pruned.ids:
            self.log.emit("jobs.pruned", jobs=len(pruned.ids), logs=pruned.logs_removed)
        if pruned is not None and pruned.logs_kept:  # no later prune finds them again
            self.log.emit(
                "jobs.logs_kept",
                level="warning",
                logs=pruned.logs_kept,
                error=f"could not remove the log files of jobs pruned ({pruned.kept_because})",
            )
        busy = self._pruner.busy
        self._prune_at = self.clock.monotonic() + SLICE_REST if busy else _NEVER

    def _recover_expired(self, now: float, *, held: bool = False) -> None:
        """Give the jobs whose lease ran out (their worker died) to the queue again. `held`:
        the other workers have not yet had their time to renew (see _maintain), and none is
        taken now. Not even one whose worker names this host and a pid with no process here:
        a worker in a container sharing the host name (--uts=host, hostNetwork) has its pid
        in another PID namespace, and its live job was killed and run twice."""
        if held:
            return
        # Running, or cancelled while running, and the worker that was to stop it is gone.
        # Its processes can be stopped only from its own host; stop_orphans finds them by
        # the worker id they carry, so on any other host it finds none (a shared store).
        expired = self.store.list_jobs(
            JobFilter(
                states=(State.RUNNING, State.CANCELLED),
                limit=None,
                leased=True,
                lease_expired_before=now,
            )
        )
        if expired:
            # Their workers died; their processes may not have. Stop them before the jobs
            # are given to others, so no job ever runs twice at once.
            starts = [job.started_at for job in expired if job.started_at is not None]
            _, unreached = stop_orphans(
                {(job.worker or "", job.id, job.attempts) for job in expired},
                since=min(starts, default=None),
            )
            for leftover in unreached:
                # Out of reach (it became another user: sudo, a setuid program): the rerun
                # may overlap it, which must not go unsaid.
                self.log.emit(
                    "job.orphan_unreached",
                    level="warning",
                    job_id=leftover.job_id,
                    pid=leftover.refusal.pid,
                    owner=leftover.refusal.owner,
                    error=leftover.refusal.error,
                )
        for job in self.store.rescue_expired(now):
            self.log.emit(
                "job.recovered",
                level="warning",
                job_id=job.id,
                job=job.job,
                queue=job.queue,
                attempt=job.attempts,
                state=job.state.value,
                error=job.error,
            )
            # A lost attempt is a failed one; with none left, the job is dead. One whose job
            # type left the config gets the [settings] hooks, as a failed attempt of an
            # unknown type does (_notify looks its type up by name).
            # The attempt lost is the last one: its run names its hooks' logs, and its log,
            # when it wrote one, is the output a hook of a crash most needs.
            last = max(self.store.attempts(job.id), key=lambda a: a.run, default=None)
            run = last.run if last is not None else None
            log_path = last.log_path if last is not None else None
            lost = AttemptResult(
                Outcome.LOST,
                error=job.error,
                log_path=log_path if log_path and os.path.isfile(log_path) else "",
            )
            self._notify("failure", job, DEFAULT_JOB, job.attempts, lost, run)
            if job.state == State.DEAD:
                self._notify("dead", job, DEFAULT_JOB, job.attempts, lost, run)

    def _last_written(self) -> float | None:
        """When a worker last ended a job that ran, if the store says: what a clock found
        ahead of it at the start may have stepped over (see RetentionClock). Not when the
        newest job was enqueued: a producer, the cron daemon's catch-up or `jobctl cancel`
        writes by the same wrong clock the worker starts under, and one such job made the
        worker trust that clock at once. A worker that ended a job by it had this guard."""
        try:
            ended = self.store.finished_jobs((State.SUCCEEDED, State.DEAD), limit=_ENDS_READ)
        except StoreError:
            return None
        # A job dead for one it waited for never ran: it took the end of that one, which
        # `jobctl cancel` may have written. Without one that ran, the oldest is the careful.
        ran = [j.finished_at for j in ended if j.attempts > 0 and j.finished_at is not None]
        return ran[0] if ran else min((j.finished_at or 0.0 for j in ended), default=None)

    def _forget_crashed(self, now: float, mono: float) -> None:
        """Drop the records of workers and daemons gone for FORGET_CRASHED: `status` shows
        them as crashed until then (their jobs were run again once their leases ran out),
        but a record kept for good would make every kill -9 an alarm that never clears.
        None that may be a live one's before it had time to write a heartbeat since this one
        started or was late (a suspend, a clock step, a stall): on the wall clock every
        record looked old, and live workers were dropped, then warned of a store that lost
        data."""
        for info in self.store.workers():
            if info.id == self.id or info.alive(now) or self._may_yet_write(info, mono):
                continue
            if now - info.heartbeat_at >= FORGET_CRASHED:
                self.store.unregister_worker(info.id)
                self.log.emit(
                    "worker.forgotten",
                    worker=info.id,
                    kind=info.kind,
                    last_heartbeat=f"{now - info.heartbeat_at:.0f}s ago",
                )

    def _may_yet_write(self, info: WorkerInfo, mono: float) -> bool:
        """Whether a silent record may be a live worker's that has not had its interval to
        write a heartbeat since this one started or was late: any of this host's (no process
        of its pid here is no proof: it may run in another PID namespace), and after a late
        pass any other host's too (this one's clock moved). At the start, another host's
        record is judged as it stands: hosts keep their clocks in step."""
        if mono - self._heard_since >= 1.5 * info.interval:
            return False
        return info.host == socket.gethostname() or self._was_late

    def _check_held(self) -> None:
        claims = [r.claim for r in self._running.values() if r.attempt is not None]
        if claims:
            held = self.store.still_held(claims)
            self._stop_lost(claims, held)

    def _stop_lost(self, claims: Sequence[Claim], held: set[int]) -> None:
        for claim in claims:
            if claim.job.id not in held:
                running = self._running.get(claim.job.id)
                if running is not None and running.attempt is not None:
                    if running.cancelling:
                        continue  # stopping already: its kill_grace runs on its own clock
                    running.cancelling = True
                    self.log.emit(
                        "job.cancelling",
                        job_id=claim.job.id,
                        job=claim.job.job,
                        attempt=claim.attempt,
                    )
                    running.attempt.stop(Outcome.CANCELLED)

    def _burst_wait(self) -> float | None:
        """In burst mode: how long to wait for this worker's own retries, and for the leases
        of jobs whose worker is gone, or None to exit."""
        due = self.store.next_due(self.options.queues)
        if due is not None and due <= self.clock.now():
            # A claim makes at most a slice of the due jobs ready, the longest due first,
            # whatever their queue: a slice of a paused queue's, or of one this worker does
            # not serve, left its own due jobs scheduled. Each claim takes the next slice.
            return 0.0
        waits = []
        held = self._headroom.hold_until - self.clock.monotonic()
        if held > 0:  # jobs given back when they could not start: this worker takes them
            waits.append(held)
        opens = self._next_rate_start()
        if opens is not None:  # its jobs held back by a rate are due: it waits to run them
            waits.append(max(0.0, opens - self.clock.now()))
            if opens != self._rate_held_said:
                self._say_rate_held(opens)
        self._rate_held_said = opens
        orphaned = self._orphaned_lease_end()
        if orphaned is not None:
            # Not before the others had their time to renew (see _maintain): a look before
            # then finds the job held, and the loop looked again at once, for that long.
            held = self._rescue_after - self.clock.monotonic()
            waits.append(max(0.0, orphaned - self.clock.now(), held))
            if orphaned <= self.clock.now():
                self._maintain_soon = True  # it recovers them: no spinning until it is due
        if self._pending_retries:
            jobs = self.store.get_many(list(self._pending_retries))
            coming: list[float] = []  # the run_at of those a claim may take
            for job_id in list(self._pending_retries):
                job = jobs.get(job_id)
                if job is None or job.state not in (State.SCHEDULED, State.QUEUED):
                    del self._pending_retries[job_id]
                    continue
                self._pending_retries[job_id] = job.run_at
                left = self._claimed_at is not None and job.run_at <= self._claimed_at
                if job.state == State.QUEUED and left:
                    # Ready at the last claim, which left it: a rate or max_running holds it
                    # (or a pause). It waits for the rate's opening (above) or a wake-up (a
                    # job's end, a resume), not in a loop of claims.
                    waits.append(math.inf)
                else:
                    coming.append(job.run_at)
            if coming:
                waits.append(max(0.0, min(coming) - self.clock.now()))
        return min(waits) if waits else None

    def _say_rate_held(self, opens: float) -> None:
        """A --burst worker that waits for a rate says so, once: a CI step otherwise hangs
        in silence for up to the window. The queue is looked up here alone (a read per
        rate-limited queue), not at every pass."""
        rates = self.config.queue_rates
        now = self.clock.now()
        for queue, rate in rates.items():
            if self.options.queues is not None and queue not in self.options.queues:
                continue
            if self.store.next_rate_start([queue], {queue: rate}, now) == opens:
                self.log.emit(
                    "worker.rate_held", queue=queue, rate=str(rate), until=iso(opens) or ""
                )
                return

    def _orphaned_lease_end(self) -> float | None:
        """When the first lease ends of a running job, in this worker's queues, whose worker
        is gone (no heartbeat for three intervals, or on this host no process: a kill -9 is
        seen at once). A --burst worker then runs it again, rather than exit and leave it
        running for nobody. A job cancelled while it ran counts too: until a worker stops
        its processes and lets go of its lease, they run on and its key stays taken.
        A job under this worker's own id that it does not run is an earlier process's of
        that --worker-name, one that crashed: gone too."""
        leased = self.store.list_jobs(
            JobFilter(states=(State.RUNNING, State.CANCELLED), limit=None, leased=True)
        )
        queues = self.options.queues
        leased = [
            j for j in leased if j.id not in self._running and (queues is None or j.queue in queues)
        ]
        if not leased:
            return None
        now = self.clock.now()
        live = {w.id for w in self.store.workers() if w.alive(now)} - {self.id}
        ends = [j.lease_expires_at for j in leased if j.worker not in live and j.lease_expires_at]
        return min(ends) if ends else None

    # -- attempts --------------------------------------------------------------------------

    def _announce(self, claim: Claim) -> None:
        """The job.started line, written once the job is running: spawning comes first."""
        job = claim.job
        if job.id in self._claimed_again:
            self._claimed_again.discard(job.id)
            return
        if job.id in self._given_back_unstarted:  # the host's limits kept it from starting
            self._given_back_unstarted.discard(job.id)
            return
        self.log.emit(
            "job.started",
            job_id=job.id,
            job=job.job,
            queue=job.queue,
            attempt=claim.attempt,
            max_attempts=job.max_attempts,
            # An --exec job's name is "exec" alone: its command tells a log reader which.
            command=shown_command(job.command) if job.command else None,
        )

    def _start(self, claim: Claim) -> None:
        job = claim.job
        running_here = self._running.get(job.id)
        if running_here is not None:
            # The store handed out a job this worker runs: its data went back in time (a
            # Redis server restored from a snapshot, a replica promoted behind its primary).
            # A second process beside the first ran the job twice at once, and the first
            # was never renewed, stopped or reported. The one running goes on under the new
            # claim, whose lease is the store's now.
            running_here.claim = claim
            # Stopping already, its lease found lost at a renewal: its end is given back
            # (it runs again once stopped), not taken for a cancel nobody asked for.
            running_here.give_back = running_here.cancelling
            self._claimed_again.add(job.id)
            self.log.emit(
                "worker.claimed_again",
                level="warning",
                job_id=job.id,
                job=job.job,
                error="the store handed out again a job this worker runs (it lost its latest"
                " writes): its process goes on, reported under the new attempt",
            )
            return
        self._pending_retries.pop(job.id, None)
        # (The config's stamp was looked at just before the claim: see the callers.)
        job_type = self._job_type(claim)
        running = _Running(claim, job_type or DEFAULT_JOB, None, self.clock.monotonic())
        self._running[job.id] = running
        refusal = None
        if job.command is not None and not exec_allowed(self.config.settings, self.store.location):
            refusal = (
                "--exec command refused: on a shared store this worker runs only its config's"
                " job types ([settings] allow_exec = true runs any command a holder of the"
                " server's password queues)"
            )
        elif job_type is None:
            refusal = f"unknown job {job.job!r}: not defined in " + (
                str(self.config.path) if self.config.path else "any config"
            )
        if refusal is not None or job_type is None:
            self._finished.append((job.id, _not_run(refusal or "")))
            self._poke()  # reported at the next turn of the loop, not at the next wake-up
            return
        try:
            attempt = Attempt(
                self._spec(claim, job_type),
                on_refused=lambda refused: self._kill_refused(running, refused),
            )
            result = attempt.start()
        except PayloadError as exc:
            result = _not_run(str(exc))
        except PermissionError as exc:  # its log folder or file, refused: it says why
            result = _not_run(str(exc))
        except OSError as exc:
            if exc.errno not in HOST_LIMITS:
                result = _not_run(f"worker error: {exc}")
            else:
                # No process or file to be had (a pids limit, the open files limit): the
                # job is given back without counting an attempt, and this worker takes no
                # more for a while. Charging the jobs dead-lettered a whole queue in a second.
                result = AttemptResult(
                    Outcome.INTERRUPTED,
                    error=f"not started: the worker could not start a process ({exc.strerror})",
                    log_path="",  # it wrote nothing: no log file was made
                )
                self._given_back_unstarted.add(job.id)  # no job.started line for it
                self._hold_off(exc)
        except Exception as exc:  # a bug or an OS failure must not lose the job
            result = _not_run(f"worker error: {exc}")
        if result is not None:  # it never started: report it at once (see above)
            self._finished.append((job.id, result))
            self._poke()
        else:
            running.attempt = attempt
            self._headroom.started()

    def _kill_refused(self, running: _Running, refusal: Refusal) -> None:
        """Said as soon as a signal to a job's processes is refused: its timeout, cancel or
        stop did not reach them (they became another user: sudo, a setuid program)."""
        job = running.claim.job
        self.log.emit(
            "job.kill_refused",
            level="warning",
            job_id=job.id,
            job=job.job,
            queue=job.queue,
            attempt=running.claim.attempt,
            pid=refusal.pid,
            owner=refusal.owner,
            error=refusal.error,
        )

    def _warn_of_unknown_jobs(self) -> None:
        """Queued or scheduled jobs of types this config lacks (one renamed or removed) fail
        every attempt, then go dead: said once the first jobs are claimed (the count reads
        every waiting job: 0.8 s before the first start on 850,000; those claimed by then
        are not counted) and at each reload, for the old name to be put back."""
        known = self.config.jobs
        missing: dict[str, int] = {}
        try:
            pending = self.store.pending_counts()
        except StoreError:
            return  # only a warning: the loop says what the store does
        for (_queue, job), n in pending.items():
            if job != ADHOC_JOB and job not in known:
                missing[job] = missing.get(job, 0) + n
        if missing:
            self.log.emit(
                "worker.unknown_jobs",
                level="warning",
                jobs=",".join(f"{name}:{n}" for name, n in sorted(missing.items())),
                reason="waiting jobs of types "
                + (str(self.config.path) if self.config.path else "the config")
                + " does not define: their attempts will fail (put the job type back, or"
                " cancel them)",
            )

    def _hold_off(self, exc: OSError) -> None:
        """The host is out of processes or descriptors (see Headroom). A --burst worker has
        an end to reach (a CI step waits for it): when no job of its could start for a
        while (_OWN_LIMIT_GRACE at an open files limit, OUTAGE_GRACE at a process limit),
        it stops, and run() fails, rather than back off for ever."""
        started = sum(1 for r in self._running.values() if r.attempt is not None)
        mono = self.clock.monotonic()
        line = self._headroom.refused(str(exc.strerror), started, mono)
        # Descriptors are the process's own: with none of its jobs running, what the worker
        # holds is what it will hold, and a second refusal after the first hold is final.
        grace = _OWN_LIMIT_GRACE if exc.errno == errno.EMFILE else OUTAGE_GRACE
        lasting = self._headroom.refusing_for(mono) >= grace
        # Hooks running hold descriptors and processes too, which they free as they end.
        hooks = any(hook.running.alive() for hook in self._hooks)
        if lasting and self.options.burst and not started and not hooks and not self._stopping:
            self._cannot_start = _no_room_for_a_job(exc)  # run() says it, not a hold's line
            self.request_stop()
        elif line is not None:
            self.log.emit("worker.cannot_start", level="warning", error=line)

    def _log_path(self, job_id: int, run: int) -> str:
        return logfiles.attempt_log_path(self._log_root, job_id, run)

    def _job_type(self, claim: Claim) -> JobType | None:
        job = claim.job
        if job.command is not None:
            return DEFAULT_JOB
        return self.config.jobs.get(job.job)

    def _config_changed(self, *, asked: bool = False) -> bool:
        """Re-read the config file if it changed since the config in hand was read (by this
        worker, by the CLI, or by up's cron daemon, which may have read an older version): a
        job type added to it must not be failed as unknown, nor an edited one run as it was
        (True when re-read). `asked` (SIGHUP) re-reads it whatever its stamp says. A worker
        that found no config at start takes the first one that appears where it looked (a
        job type or a queue limit written after it started must not be ignored). A config
        handed over by up's daemon (take_config) is taken in the same way, unless in force."""
        with self._handed_lock:
            handed, self._handed = self._handed, None
        if handed is not None and handed.stamp != self.config.stamp:
            config = handed  # checked by up's daemon, which took it
        elif not (asked or self._follower.stale()):
            return False
        else:
            try:
                config = self._follower.read()
            except JobctlError as exc:
                level = refusal_level(exc)
                self.log.emit("worker.reload_failed", level=level, error=f"{exc}{KEEPING}")
                return False
        if not asked and config.path == self.config.path and config.text == self.config.text:
            # The same text under a newer stamp: read twice while it was being written (once
            # here, once by up's daemon, whose stamp came before the write's end), or touched.
            # Nothing changed: said again, it read as a second edit.
            self._follower.adopt(config)
            return False
        fixed = restart_needed(
            self.config, config, _SETTINGS_AT_START, self._in_force, self._set_outside
        )
        found = self.config.path is None and config.path is not None
        self._follower.adopt(config)
        if found and config.path is not None:
            self._tell_jobs_of(config.path)
        self.log.emit("worker.reloaded", jobs=len(config.jobs))
        self._warn_of_unknown_jobs()
        if fixed:
            self.log.emit(
                "worker.restart_needed",
                level="warning",
                settings=",".join(fixed),
                error="these settings apply when the worker starts; this one keeps the old",
            )
        return True

    def _tell_jobs_of(self, path: Path) -> None:
        """Give the jobs and hooks started from now a config found after start, in
        JOBCTL_CONFIG, as run-worker gives them the one it started with: a job that chains
        `jobctl enqueue` from its own folder found none there, or another one."""
        where = str(path.absolute())
        os.environ["JOBCTL_CONFIG"] = where  # hooks take the process's environment
        self._environ["JOBCTL_CONFIG"] = where
        self._envs.clear()  # built from the environment without it

    def _base_env(self, job_type: JobType) -> dict[str, str]:
        """The worker's environment with the job type's `env` over it, built once per type
        (a reload brings new types, and so new entries)."""
        cached = self._envs.get(job_type.name)
        if cached is None or cached[0] is not job_type:
            if job_type.user is None:
                env = dict(self._environ)
            else:
                env = login_env(job_type.user, self._environ)
            env.update(job_type.env)
            cached = self._envs[job_type.name] = (job_type, env)
        return cached[1]

    def _may_become(self, user: str) -> bool:
        """Whether this worker can run a job as `user`: as root, or as that user already.
        Otherwise the start fails, and should say why (see the executor), not that the
        user's home is closed to this one."""
        if self._euid == 0:
            return True
        try:
            return uid_of(user) == self._euid
        except KeyError:
            return False

    def _spec(self, claim: Claim, job_type: JobType) -> AttemptSpec:
        job = claim.job
        if job.command is not None:
            argv = list(job.command)
            shell = False
            cwd = job.cwd
        else:
            shell = job_type.shell
            argv = render_argv(job_type.command, job.payload, shell)
            cwd = job_type.working_dir(self.config.base_dir)
        env = self._base_env(job_type).copy()
        home = cwd is None and job_type.user is not None and self._may_become(job_type.user)
        if home:
            cwd = _home_directory(env)
        env["JOBCTL_JOB_ID"] = str(job.id)
        env["JOBCTL_JOB_NAME"] = job.job
        env["JOBCTL_ATTEMPT"] = str(claim.attempt)
        env["JOBCTL_RUN"] = str(claim.run)  # every start counts: a rerun tells itself apart
        env["JOBCTL_MAX_ATTEMPTS"] = str(job.max_attempts)
        env["JOBCTL_QUEUE"] = job.queue
        env["JOBCTL_WORKER"] = self.id
        env["JOBCTL_PAYLOAD"] = compact_json(job.payload)
        log_path = claim.log_path or self._log_path(job.id, claim.run)
        return AttemptSpec(
            argv=argv,
            env=env,
            log_path=log_path,
            cwd=cwd,
            shell=shell,
            timeout=job_type.timeout,
            kill_grace=job_type.kill_grace,
            log_max_bytes=self.config.settings.log_max_bytes,
            user=job_type.user,
            group=job_type.group,
            cwd_is_home=home,
        )

    def _collect_results(self) -> bool:
        """Report finished attempts, and fill the slots they free in the same transaction;
        False when the store failed (the results are kept for the next try: the leases keep
        the jobs ours meanwhile)."""
        finished, self._finished = self._finished, []
        for job_id, result in finished:
            running = self._running.pop(job_id, None)
            if running is None:
                continue
            elapsed = self.clock.monotonic() - running.started
            result = result._replace(finished_at=self.clock.now())
            if running.give_back and result.outcome == Outcome.CANCELLED:
                result = result._replace(
                    outcome=Outcome.INTERRUPTED,
                    error="stopped when its lease was found lost; the store then handed it"
                    " out again: it runs again",
                )
            if result.outcome == Outcome.INTERRUPTED and self._at_most_once(running):
                # Its command ran, and was stopped: run again, a job that must run at most
                # once (a deploy, a migration) would have run twice. It goes dead instead.
                result = result._replace(
                    error=f"{result.error or 'stopped by worker shutdown'}; with max_attempts"
                    " = 1 it is not run again (`jobctl dead retry` runs it again)"
                )
            elif result.outcome == Outcome.INTERRUPTED:
                # With the log as the attempt left it: none when it wrote nothing.
                self._releases.append(running.claim._replace(log_path=result.log_path))
                self._release_ends.append(result)
                self._log_end(running, result, elapsed, "job.interrupted")
                continue
            retry_at = None
            if result.outcome in (Outcome.FAILED, Outcome.TIMEOUT, Outcome.ERROR):
                claim = running.claim
                if claim.attempt < claim.job.max_attempts:
                    delay = retry_delay(running.job_type, claim.attempt)
                    retry_at = self.clock.now() + delay
            self._finishes.append(Finish(running.claim, result, retry_at))
            self._pending_log.append((running, result, elapsed, retry_at))
            if result.outcome == Outcome.SUCCEEDED:
                self._headroom.ended_well(self.clock.monotonic())
        if not self._finishes and not self._releases:
            return True
        claims: list[Claim] = []
        states: list[State | None] = []
        try:
            if self._releases:
                self.store.release(
                    self._releases, self.clock.now(), "worker shutdown", self._release_ends
                )
                self._releases, self._release_ends = [], []
            if self._finishes:
                free = self._headroom.slots() - len(self._running)
                if self._stopping or self._headroom.holding(self.clock.monotonic()):
                    free = 0  # (the jobs given back in a hold would come right back)
                elif free > 0:
                    self._config_changed()  # as in _claim_more
                now = self.clock.now()
                states, claims = self.store.finish_and_claim(
                    self._finishes,
                    now,
                    self.id,
                    self.options.queues,
                    self.lease,
                    free,
                    self._log_path,
                    self.config.queue_limits,
                    self.config.queue_rates,
                )
                self._finishes = []
                if free > 0:
                    self._claimed_at = now
        except StoreError as exc:
            self._outage.failed(exc, self.clock.monotonic())
            return False
        self._outage.answered(self.clock.monotonic())  # a --burst counts failing time only
        for claim in claims:  # the next jobs start before the last ones are reported
            self._start(claim)
        for (running, result, elapsed, retry_at), state in zip(
            self._pending_log, states, strict=True
        ):
            self._report(running, result, elapsed, retry_at, state)
        self._pending_log.clear()
        for claim in claims:
            self._announce(claim)
        return True

    @staticmethod
    def _at_most_once(running: _Running) -> bool:
        """Whether a job stopped by this worker's shutdown must not run again: its command
        started (one the host's limits kept from starting never ran), and it has one attempt
        only. Jobs with more are given back without counting the attempt."""
        return (
            running.attempt is not None
            and running.claim.job.max_attempts == 1
            and not running.give_back
        )

    def _report(
        self,
        running: _Running,
        result: AttemptResult,
        elapsed: float,
        retry_at: float | None,
        state: State | None,
    ) -> None:
        claim = running.claim
        if state is None:
            self._log_end(running, result, elapsed, "job.abandoned", level="warning")
        elif state == State.SUCCEEDED:
            # A success whose output did not all reach its log says so (see the executor).
            level = "warning" if result.error else "info"
            self._log_end(running, result, elapsed, "job.succeeded", level=level)
        elif state == State.SCHEDULED:
            assert retry_at is not None
            self._pending_retries[claim.job.id] = retry_at
            self._log_end(
                running,
                result,
                elapsed,
                "job.retrying",
                level="warning",
                retry_in=Seconds(wait := max(0.0, retry_at - self.clock.now()), f"{wait:.1f}s"),
            )
        elif state == State.DEAD:
            self._log_end(running, result, elapsed, "job.dead", level="error")
        if state in (State.SCHEDULED, State.DEAD):
            self._notify("failure", claim.job, running.job_type, claim.attempt, result, claim.run)
        if state == State.DEAD:
            self._notify("dead", claim.job, running.job_type, claim.attempt, result, claim.run)
        elif state == State.CANCELLED:
            self._log_end(running, result, elapsed, "job.cancelled", level="warning")

    def _notify(
        self,
        event: str,
        job: Job,
        started_as: JobType,
        attempt: int,
        result: AttemptResult,
        run: int | None,
    ) -> None:
        """Set off the job's hook for `event`, if it has one; an on_dead starts once every
        hook of the job still running has ended. Its hooks and hook_timeout come from the
        config in force now, per-job and [settings] alike: after a reload, a job that ran
        under the old config got its old per-job hook beside the new [settings] one. A job
        type gone from the config keeps the one it started as (for an --exec job, or one
        never known, DEFAULT_JOB: the [settings] hooks)."""
        job_type = (
            DEFAULT_JOB if job.command is not None else self.config.jobs.get(job.job, started_as)
        )
        argv = hook_for(event, job_type, self.config.settings)
        if argv is None:
            return
        timeout = hook_timeout(job_type, self.config.settings)
        self._forget_ended_hooks()
        before = [h for h in self._job_hooks.get(job.id, ()) if h.running.alive()]
        after = None
        start = self.clock.monotonic()
        if event == "dead" and before:
            after = _AfterAll([h.running for h in before])
            start = max(start, *(h.end for h in before))
        hook = run_hook(
            event, argv, job, attempt, result, timeout, self.log_dir, self.log, run, after
        )
        own = _Hook(job.id, hook, start + timeout + HOOK_KILL_GRACE + _HOOK_END_SLACK)
        self._hooks.append(own)
        self._job_hooks[job.id] = [*before, own]

    def _forget_ended_hooks(self) -> None:
        """Drop the hooks that have ended, and the jobs all of whose hooks have."""
        running = []
        for hook in self._hooks:
            if hook.running.alive():
                running.append(hook)
                continue
            of_job = self._job_hooks.get(hook.job_id)
            if of_job is not None and not any(h.running.alive() for h in of_job):
                del self._job_hooks[hook.job_id]
        self._hooks = running

    def _wait_for_hooks(self) -> None:
        """A leaving worker waits for running hooks, each within its own hook_timeout (and
        kill grace), then kills any left: none outlives the worker. A stop signal meanwhile
        is taken as anywhere else: a first SIGTERM or SIGINT means finish up (a --burst
        worker's last alerts, or those of a job that died just before the stop, were killed
        by the shutdown timeout or at once); a second one, or SIGQUIT, kills them all."""
        for hook in self._hooks:
            while hook.running.alive() and not self._force:
                left = hook.end - self.clock.monotonic()
                if left <= 0:
                    break
                self._take_stop_signals()
                if self._force:
                    break
                hook.running.join(min(left, _HOOK_WAIT_SLICE))
        for hook in reversed(self._hooks):  # an on_dead first: it never starts then
            hook.running.stop()
        for hook in self._hooks:
            hook.running.join(5.0)

    def _take_stop_signals(self) -> None:
        """The stop signals that came since the last look, while the worker waits for its
        hooks (a reload then has nothing left to apply to)."""
        stops = [signum for signum in self._signals if signum != signal.SIGHUP]
        self._signals.clear()
        for signum in stops:
            self._take_stop(signum)

    def _log_end(
        self,
        running: _Running,
        result: AttemptResult,
        elapsed: float,
        event: str,
        level: str = "info",
        **extra: object,
    ) -> None:
        claim = running.claim
        self.log.emit(
            event,
            level=level,
            job_id=claim.job.id,
            job=claim.job.job,
            queue=claim.job.queue,
            attempt=claim.attempt,
            duration_ms=round(elapsed * 1000, 1),
            exit_code=result.exit_code,
            error=result.error,
            **extra,
        )

    def _give_up_reporting(self) -> None:
        """A stop that outlasted the store: `shutdown_timeout` bounds it all the same. The
        results it could not record are lost, not the jobs: their leases run out and they
        run again, as after a crash."""
        ids = sorted({f.claim.job.id for f in self._finishes} | {c.job.id for c in self._releases})
        self.log.emit(
            "worker.unreported",
            level="error",
            jobs=",".join(map(str, ids)),
            error="the store could not be reached before the shutdown timeout; these jobs"
            " run again once their leases expire (the attempt counts: one on its last"
            " attempt goes dead)",
        )

    def _enforce_shutdown(self, mono: float) -> None:
        out_of_time = self._stop_deadline is not None and mono >= self._stop_deadline
        if not (self._force or out_of_time):
            return
        for running in self._running.values():
            if running.attempt is not None:
                running.attempt.stop(Outcome.INTERRUPTED, force=self._force)

    # -- signals ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def signal_handlers(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop this worker while inside (a second one, or SIGQUIT, at
        once); SIGHUP re-reads the config (the attempts running go on as they started);
        SIGUSR1 and SIGUSR2 are said and ignored.
        Commands enter it before they start anything else (a metrics server), so no early
        signal finds the default handler and kills the process without a graceful stop."""
        old = self._install_signals()
        try:
            yield
        finally:
            self._restore_signals(old)

    def _install_signals(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread() or self._handling:
            return {}
        self._handling = True
        from jobctl.stopsignals import (
            IGNORED_SIGNALS,
            SERVICE_SIGNALS,
            ignored_and_said,
            keep_exit_statuses,
        )

        keep_exit_statuses()
        # A signal may land on any thread; the wake-up fd makes sure the main thread's
        # select() returns at once to run the handler, not at its next timeout.
        self._old_wakeup_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        old: dict[int, object] = {}
        for sig in SERVICE_SIGNALS:
            old[sig] = signal.signal(sig, self._on_signal)

        def ignored(name: str) -> None:
            self.log.emit(
                "worker.signal_ignored",
                worker=self.id,
                signal=name,
                reason="jobctl gives it no meaning: the worker goes on",
            )

        for sig in IGNORED_SIGNALS:
            old[sig] = signal.signal(sig, ignored_and_said(ignored))
        return old

    def _restore_signals(self, old: dict[int, object]) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if old:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            self._handling = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only noted here: the handler may interrupt the loop anywhere, even inside the
        # event log's lock, so the loop acts on it (its wake-up pipe is written now).
        self._signals.append(signum)
        self._poke()

    def _take_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum == signal.SIGHUP:  # a reload, as daemons take it; never a stop
                self._config_changed(asked=True)
                for callback in self.on_hangup:
                    callback()
                continue
            self._take_stop(signum)

    def _take_stop(self, signum: int) -> None:
        # SIGQUIT (Ctrl-\) is a stop at once, as a second Ctrl-C or SIGTERM is (as in
        # Celery and RQ): by default SIGQUIT would kill the worker and leave its jobs'
        # processes running unsupervised. A first SIGTERM to a worker already stopping on
        # its own (--burst, --max-jobs) is still the graceful stop a supervisor asks for.
        again = self._stop_signal_taken or (signum == signal.SIGINT and self._stopping)
        self._stop_signal_taken = True
        self.request_stop(force=signum == signal.SIGQUIT or again)


# How long a --burst worker with no job running tries to start one at an open files limit
# (two holds: see Headroom); a process limit, which others' processes free, gets OUTAGE_GRACE.
_OWN_LIMIT_GRACE = 2.0


def _no_room_for_a_job(exc: OSError) -> str:
    """Which of the host's limits leaves no room for one job, by the error its start met."""
    if exc.errno == errno.EMFILE:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return (
            f"the open files limit ({soft}) leaves no descriptor for one, with none of its"
            " jobs running (raise ulimit -n or LimitNOFILE=)"
        )
    if exc.errno == errno.EAGAIN:
        return (
            f"the host allows this user no more processes ({exc.strerror}; a --burst worker"
            f" waits {OUTAGE_GRACE:g}s for one)"
        )
    return str(exc.strerror)


def _home_directory(env: dict[str, str]) -> str:
    """Where a job run as a `user` without a `cwd` starts, as cron starts it: in the HOME
    of its environment (the user's, or the one its `env` sets), or in / when that is no
    folder (a service account's /nonexistent), or is one the user cannot enter (see
    processes.spawn); never in the worker's own directory, which may be root's and closed
    to that user."""
    home = env.get("HOME", "")
    return home if home.startswith("/") and os.path.isdir(home) else "/"


def _log_root_refused(exc: OSError, root: str) -> str:
    """The one line for a log folder no job could write to, with its fix. jobctl's own
    refusals carry no errno and name the folder; the system's name the path they failed on.
    Out of descriptors, the folder is fine: raised as headroom's `cannot start any job`."""
    if exc.errno == errno.EMFILE:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        raise OperationFailed(
            f"cannot open log folder {root}: the open files limit ({soft}) is reached (raise"
            " ulimit -n or LimitNOFILE=)"
        )
    if exc.errno == errno.ENFILE:
        raise OperationFailed(
            f"cannot open log folder {root}: the host's open files limit (fs.file-max) is"
            " reached: other processes hold every file the kernel allows open"
        )
    if isinstance(exc, NotAFolder):
        fix = "make it a folder of this user's"
    elif exc.errno is None:  # open to others (fsutil.not_private)
        fix = "chown it, or chmod go-w it"
    elif exc.filename is None:  # a link to a missing folder (logfolders._placed)
        return f"{exc.strerror}: mount its disk or make the folder"
    else:
        at = "" if exc.filename == root else f" ({exc.filename})"
        return (
            f"log folder {root}: {exc.strerror}{at}: no job could keep its output there (make"
            " the folder, or set [settings] log_dir)"
        )
    return f"{exc}: no job could keep its output there ({fix}, or set [settings] log_dir)"
