"""`jobctl health`: checks a monitor, a systemd ExecStartPre or a CI step can act on."""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.durations import format_short
from jobctl.models import State
from jobctl.store import Store


@dataclass(frozen=True)
class Limits:
    max_ready: int | None = None
    max_age: float | None = None
    max_dead: int | None = None
    require_worker: bool = False
    require_scheduler: bool = False


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    value: float | int | None
    limit: float | int | None
    message: str


def check(store: Store, limits: Limits, now: float) -> list[Check]:
    """Every check asked for, passing or not; the database being readable is always one."""
    queues = store.queue_counts(now)
    checks = [Check("database", True, None, None, f"database {store.location} is readable")]
    ready = sum(q.ready for q in queues)
    if limits.max_ready is not None:
        checks.append(
            Check(
                "max_ready",
                ready <= limits.max_ready,
                ready,
                limits.max_ready,
                f"{ready} jobs ready to run (limit {limits.max_ready})",
            )
        )
    if limits.max_age is not None:
        oldest = [q.oldest_ready_at for q in queues if q.oldest_ready_at is not None]
        age = max(0.0, now - min(oldest)) if oldest else 0.0
        checks.append(
            Check(
                "max_age",
                age <= limits.max_age,
                round(age, 3),
                limits.max_age,
                f"oldest ready job waited {format_short(age)}"
                f" (limit {format_short(limits.max_age)})",
            )
        )
    if limits.max_dead is not None:
        dead = sum(q.counts.get(State.DEAD, 0) for q in queues)
        checks.append(
            Check(
                "max_dead",
                dead <= limits.max_dead,
                dead,
                limits.max_dead,
                f"{dead} dead jobs (limit {limits.max_dead})",
            )
        )
    if limits.require_worker or limits.require_scheduler:
        live = [w for w in store.workers() if w.alive(now)]
        for kind, wanted in (
            ("worker", limits.require_worker),
            ("scheduler", limits.require_scheduler),
        ):
            if not wanted:
                continue
            n = sum(1 for w in live if w.kind == kind)
            what = "workers" if kind == "worker" else "cron daemons"
            checks.append(
                Check(
                    f"require_{kind}",
                    n > 0,
                    n,
                    1,
                    f"{n} live {what} (heartbeat within three intervals)",
                )
            )
    return checks
