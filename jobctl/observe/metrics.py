"""The Prometheus text exposition of jobctl's state, for `jobctl metrics` and /metrics."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from jobctl import cron
from jobctl.config import Config
from jobctl.errors import JobctlError
from jobctl.models import ALL_STATES, FireRecord, Outcome, State
from jobctl.observe.serving import serving_counts
from jobctl.scheduler import daemon_zones
from jobctl.store import Store
from jobctl.store.base import REMOVED_TIME_TABLE
from jobctl.timefmt import local_zone


def render(store: Store, config: Config, now: float | None = None) -> str:
    now = time.time() if now is None else now
    out: list[str] = []
    queues = store.queue_counts(now)

    _family(out, "jobctl_jobs", "gauge", "Jobs per queue and state.")
    for q in queues:
        for state in ALL_STATES:
            out.append(
                _sample(
                    "jobctl_jobs", {"queue": q.queue, "state": state.value}, q.counts.get(state, 0)
                )
            )

    _family(out, "jobctl_queue_paused", "gauge", "1 when the queue is paused.")
    for q in queues:
        out.append(_sample("jobctl_queue_paused", {"queue": q.queue}, int(q.paused)))

    _family(
        out,
        "jobctl_oldest_ready_age_seconds",
        "gauge",
        "Age of the oldest job ready to run, per queue (0 when none is waiting).",
    )
    for q in queues:
        age = max(0.0, now - q.oldest_ready_at) if q.oldest_ready_at is not None else 0.0
        out.append(_sample("jobctl_oldest_ready_age_seconds", {"queue": q.queue}, age))

    counts = store.event_counts(None)
    _runs(out, counts, config)
    _job_counters(out, counts, config)

    histograms = store.histograms()
    for kind, name, text in (
        ("run", "jobctl_job_duration_seconds", "Run time of attempts."),
        ("wait", "jobctl_job_wait_seconds", "Time from a job being due to its attempt starting."),
    ):
        _family(out, name, "histogram", text)
        for hist in (h for h in histograms if h.kind == kind):
            labels = {"queue": hist.queue, "job_type": hist.job}
            running = 0
            for bound, n in hist.buckets:
                running += n
                le = "+Inf" if bound >= 1e300 else _number(bound)
                out.append(_sample(f"{name}_bucket", {**labels, "le": le}, running))
            out.append(_sample(f"{name}_sum", labels, hist.sum))
            out.append(_sample(f"{name}_count", labels, hist.count))

    registered = store.workers()
    workers = [w for w in registered if w.alive(now)]
    # A worker draining after a stop signal takes no job: an alert on no worker fires then.
    _family(
        out,
        "jobctl_workers",
        "gauge",
        "Live worker processes taking jobs (fresh heartbeat, not stopping).",
    )
    out.append(
        _sample(
            "jobctl_workers",
            {},
            sum(1 for w in workers if w.kind == "worker" and w.stopping_until is None),
        )
    )
    _family(
        out,
        "jobctl_queue_workers",
        "gauge",
        "Live workers taking jobs from the queue (0 with jobs in it: nobody runs them).",
    )
    for queue, count in serving_counts(workers, (q.queue for q in queues)).items():
        out.append(_sample("jobctl_queue_workers", {"queue": queue}, count))
    _family(out, "jobctl_schedulers", "gauge", "Live cron daemons (fresh heartbeat).")
    out.append(_sample("jobctl_schedulers", {}, sum(1 for w in workers if w.kind == "scheduler")))
    _family(out, "jobctl_standby_schedulers", "gauge", "Live cron daemons ready to take over.")
    out.append(
        _sample("jobctl_standby_schedulers", {}, sum(1 for w in workers if w.kind == "standby"))
    )

    # A worker killed (OOM, kill -9) leaves its record behind: a restart by systemd hides it
    # from jobctl_workers, not from this.
    _family(
        out,
        "jobctl_stale_workers",
        "gauge",
        "Worker and cron daemon records without a fresh heartbeat: crashed, or stopped uncleanly.",
    )
    out.append(_sample("jobctl_stale_workers", {}, len(registered) - len(workers)))

    _schedules(out, store, config, now)
    return "\n".join(out) + "\n"


def _runs(out: list[str], counts: dict[tuple[str, str, str], int], config: Config) -> None:
    """Every outcome of every job type known (configured, or counted once) starts at 0: a
    series that first appears at 1 has no earlier sample, so rate() and increase() miss it."""
    _family(
        out, "jobctl_job_runs_total", "counter", "Attempts that ended, per job type and outcome."
    )
    runs = {(job, outcome.value): 0 for job in config.jobs for outcome in Outcome}
    for (_queue, job, event), n in counts.items():
        for outcome in Outcome:
            runs.setdefault((job, outcome.value), 0)
        if event.startswith("attempt:"):
            key = (job, event.split(":", 1)[1])
            runs[key] = runs.get(key, 0) + n
    for (job, ended), n in sorted(runs.items()):
        out.append(_sample("jobctl_job_runs_total", {"job_type": job, "outcome": ended}, n))


# What happened to jobs (not attempts), from the same never-pruned counters `stats` reads: the
# jobctl_jobs gauges go down with prune, retention, `dead purge` and `dead retry`.
JOB_COUNTERS = (
    ("enqueued", "jobctl_jobs_enqueued_total", "Jobs enqueued, per queue and job type."),
    (
        "dead",
        "jobctl_jobs_dead_total",
        "Jobs that ended dead (attempts used up, or a job they ran after failed), per queue and"
        " job type.",
    ),
    ("cancelled", "jobctl_jobs_cancelled_total", "Jobs cancelled, per queue and job type."),
)


def _job_counters(out: list[str], counts: dict[tuple[str, str, str], int], config: Config) -> None:
    pairs = {(spec.queue, name) for name, spec in config.jobs.items()}
    pairs |= {(queue, job) for queue, job, _event in counts}
    for event, name, text in JOB_COUNTERS:
        _family(out, name, "counter", text)
        for queue, job in sorted(pairs):
            value = counts.get((queue, job, event), 0)
            out.append(_sample(name, {"queue": queue, "job_type": job}, value))


def _schedule_names(
    store: Store, config: Config, last: dict[str, tuple[FireRecord, State | None]], paused: set[str]
) -> list[str]:
    """The config's schedules; without a config file (a textfile collector's cron job run
    from its own folder), every schedule the store knows, so that the last fire, run and
    success, which the store holds, still reach an alert."""
    if config.path is not None:
        return sorted(config.schedules)
    known = set(last) | paused
    known |= {
        name for name, table in store.time_tables(None).items() if table != REMOVED_TIME_TABLE
    }
    return sorted(known)


def _schedules(out: list[str], store: Store, config: Config, now: float) -> None:
    last = store.last_fires()
    paused = store.paused_schedules()
    names = _schedule_names(store, config, last, paused)
    if not names:
        return
    recorded = daemon_zones(store, config)
    _family(
        out,
        "jobctl_schedule_last_fire_timestamp_seconds",
        "gauge",
        "When the schedule last fired (Unix time), a skipped fire included.",
    )
    for name in names:
        if name in last:
            out.append(
                _sample(
                    "jobctl_schedule_last_fire_timestamp_seconds",
                    {"schedule": name},
                    last[name][0].fire_time,
                )
            )
    runs = store.last_runs(names)
    _family(
        out,
        "jobctl_schedule_last_run_timestamp_seconds",
        "gauge",
        "The fire time of the schedule's latest enqueued run (Unix time); skipped fires do"
        " not count: alert on this one for a schedule that stopped running (whether its runs"
        " succeed: jobctl_job_runs_total by outcome).",
    )
    for name in sorted(runs):
        out.append(
            _sample("jobctl_schedule_last_run_timestamp_seconds", {"schedule": name}, runs[name])
        )
    successes = store.last_successes(names)
    _family(
        out,
        "jobctl_schedule_last_success_timestamp_seconds",
        "gauge",
        "When the schedule's latest run that succeeded finished (Unix time), manual runs"
        " included; runs that failed, died, were cancelled or still run do not count: alert"
        " on this one for a schedule whose work stopped succeeding. Absent until one has.",
    )
    for name in sorted(successes):
        out.append(
            _sample(
                "jobctl_schedule_last_success_timestamp_seconds",
                {"schedule": name},
                successes[name],
            )
        )
    _family(
        out,
        "jobctl_schedule_paused",
        "gauge",
        "1 while the schedule is paused (schedule pause): leave it out of a last-success alert.",
    )
    for name in names:
        out.append(_sample("jobctl_schedule_paused", {"schedule": name}, int(name in paused)))
    _family(
        out,
        "jobctl_schedule_enabled",
        "gauge",
        "0 for a schedule its config disables (enabled = false); only with a config file.",
    )
    for name, spec in sorted(config.schedules.items()):
        out.append(_sample("jobctl_schedule_enabled", {"schedule": name}, int(spec.enabled)))
    _family(
        out,
        "jobctl_schedule_next_fire_timestamp_seconds",
        "gauge",
        "When the schedule fires next (Unix time); absent when disabled or paused.",
    )
    for name, spec in sorted(config.schedules.items()):
        if not spec.enabled or name in paused:
            continue
        zone = spec.timezone or config.settings.timezone or recorded.get(name) or local_zone()
        try:
            upcoming = cron.next_fires(cron.parse(spec.cron), ZoneInfo(zone), now, 1)
        except JobctlError:  # a bad line on disk (the daemon kept its last good config)
            continue  # must not blind the whole scrape: only its next fire is unknown
        if upcoming:
            out.append(
                _sample(
                    "jobctl_schedule_next_fire_timestamp_seconds", {"schedule": name}, upcoming[0]
                )
            )


def _family(out: list[str], name: str, kind: str, text: str) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {_number(value)}"
    return f"{name} {_number(value)}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
