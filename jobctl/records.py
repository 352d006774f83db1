"""What running jobs leaves behind: attempts and their results, workers, cron fires.

Workers, the cron daemon and the observing commands use these; `jobctl enqueue` does not,
so they live apart from jobctl.models, which still offers them (loaded on first use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from jobctl.models import Outcome


@dataclass(frozen=True)
class Attempt:
    """One run of a job's command, as recorded."""

    job_id: int
    attempt: int
    worker: str
    started_at: float
    finished_at: float | None = None
    outcome: Outcome | None = None
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    log_path: str | None = None
    run: int = 0  # numbers attempts over the job's whole life, across dead retries
    # The host whose worker ran it, where a store is shared by many hosts (Redis); None on
    # SQLite, whose workers all run on the database's own host.
    host: str | None = None

    def elsewhere(self) -> bool:
        """Whether it ran on another host than this one, which then holds its log file."""
        return self.host is not None and self.host != _this_host()

    def log_place(self) -> str:
        """Its log file as a person finds it: `HOST:PATH` (as scp names it) when elsewhere."""
        if self.log_path and self.elsewhere():
            return f"{self.host}:{self.log_path}"
        return self.log_path or ""


class AttemptResult(NamedTuple):
    """What the executor observed; the worker turns it into a transition. (A NamedTuple:
    a worker makes two per attempt.)"""

    outcome: Outcome
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    log_path: str | None = None
    finished_at: float = 0.0


@dataclass(frozen=True)
class WorkerInfo:
    """A registered worker or scheduler, as its heartbeats keep it."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started_at: float
    heartbeat_at: float
    kind: str = "worker"  # or "scheduler" (the leading cron daemon), or "standby"
    interval: float = 10.0  # seconds between heartbeats; three missed ones mean it is gone
    # While it drains after SIGTERM or SIGINT: the end of its shutdown timeout (epoch). It
    # takes no job meanwhile; records written before it was kept read as None.
    stopping_until: float | None = None

    def alive(self, now: float) -> bool:
        """Heartbeats for three intervals, and on this host a process of its pid: a worker
        or daemon killed here (kill -9, OOM) is gone at once, not a heartbeat later."""
        if now - self.heartbeat_at > 3 * self.interval:
            return False
        return self.host != _this_host() or _process_exists(self.pid)


@dataclass(frozen=True)
class FireRecord:
    """What happened to one cron fire: enqueued, skipped, or pending (overlap = "queue")."""

    schedule: str
    fire_time: float
    status: str
    job_id: int | None = None
    reason: str | None = None
    manual: bool = False
    at: float = 0.0
    # Held fires of an earlier catch-up this one made give way (catch_up_limit): returned,
    # not stored, for the daemon to log.
    displaced: int = 0
    # The run still active that skipped or held this fire (its overlap): returned, not
    # stored, for `schedule run` to answer with.
    active: int | None = None
    # The held fire this call enqueued first, its run having ended before the daemon's next
    # look (overlap = "queue"): returned, not stored, for the daemon to log it as it logs
    # every fire. Its job is `active`, the run this fire then waits for.
    released: FireRecord | None = None


def backlog_dropped(limit: int) -> str:
    """Why a held fire of a catch-up gave way to newer ones (record_fire.lua says the same)."""
    return f"replaced by newer fires (catch_up_limit = {limit})"


def _this_host() -> str:
    import socket

    return socket.gethostname()


def _process_exists(pid: int) -> bool:
    from jobctl.processes import process_exists

    return process_exists(pid)
