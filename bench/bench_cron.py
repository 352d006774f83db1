"""Cron daemon: fire precision of a seconds schedule, and the cost of 10,000 schedules.

Precision: a real `jobctl schedule-daemon` on a SQLite database of its own, with one schedule
`cron = "* * * * * *"` (overlap "allow", a job running `true`; no worker). After 100 fires
(10 with --quick) the daemon is stopped, and for each job `jobctl list --json --limit 0` gives
the enqueue time (created_at) minus its fire time (fire_time), both printed to the millisecond.
Targets: p50 reported, p99 <= 50 ms.

Many schedules: a config of 10,000 schedules (1,000 with --quick) of varied expressions (minute
and hour steps, fixed times, weekdays, other time zones, a few `@every`), all on one job type,
overlap "allow". Figures:

- start: wall time from spawning `jobctl schedule-daemon` until `scheduler.leader` appears on
  its stderr (config read and parsed, store opened, leader lock taken). The plan itself is built
  in the first tick, after that line; the time until every schedule's plan start is recorded in
  the database (the bulk of the first tick) is printed as an INFO row beside it.
- RSS: VmHWM of that daemon once its first tick is done (all schedules planned).
- CPU per simulated hour: `jobctl.scheduler.Scheduler` run in this process over the real
  SqliteStore (new database, the config's durability), `tick(now)` called at each `now` the
  previous tick returned, through one hour of fires, without sleeping; the process CPU time
  (time.process_time) of that hour. Building the plan (load) is timed apart. No target.

Targets: start <= 2 s, RSS <= 80 MB.
"""

from __future__ import annotations

import datetime
import itertools
import json
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    ERROR,
    INFO,
    Row,
    Sandbox,
    describe_failure,
    format_ms,
    kib_to_mb,
    memory_kib,
    parse_args,
    percentile,
    report,
    say,
    stop_process,
    verdict,
    wait_until,
)

TITLE = "Cron daemon"
P99_TARGET_S = 0.050
START_TARGET_S = 2.0
RSS_TARGET_MB = 80.0
SIMULATED_HOUR = 3600.0

PRECISION_CONFIG = """\
# Written by the jobctl benchmarks into their own temporary directory.
[jobs.noop]
command = ["true"]

[schedules.every_second]
cron = "* * * * * *"
job = "noop"
overlap = "allow"
"""

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata")


def main() -> int:
    """Run both figures, each in a sandbox of its own."""
    args = parse_args(__doc__.splitlines()[0])
    fires = 10 if args.quick else 100
    schedules = 1_000 if args.quick else 10_000
    rows: list[Row] = []
    with Sandbox("cron-precision", keep=args.keep) as sandbox:
        rows.extend(measure_precision(sandbox, fires))
    with Sandbox("cron-many", keep=args.keep) as sandbox:
        rows.extend(measure_many(sandbox, schedules))
    return report(TITLE, rows, args)


# ---------------------------------------------------------------------------------------------
# Precision


def measure_precision(sandbox: Sandbox, fires: int) -> list[Row]:
    """Let a daemon fire a seconds schedule `fires` times; percentiles of enqueue - fire."""
    figure = f"cron precision, `* * * * * *`, {fires} fires"
    sandbox.config.write_text(PRECISION_CONFIG)
    say(f"   precision: schedule-daemon, one fire a second, waiting for {fires} fires")
    proc = sandbox.start("schedule-daemon", log_name="precision.log")
    log = sandbox.root / "precision.log"

    def fired() -> int:
        return log.read_text(errors="replace").count("schedule.fired")

    ok = wait_until(
        lambda: fired() >= fires or proc.poll() is not None, timeout=fires + 30, interval=0.2
    )
    if proc.poll() is not None or not ok:
        reason = f"daemon exited {proc.returncode}" if proc.poll() is not None else "too slow"
        return [error_row(figure, f"{reason}: {sandbox.log_tail('precision.log', 1)}")]
    stop_process(proc)
    result = sandbox.run("list", "--json", "--limit", "0", stdout=subprocess.PIPE)
    if result.returncode != 0:
        return [error_row(figure, f"`jobctl list` failed: {describe_failure(result)}")]
    jobs = [j for j in json.loads(result.stdout) if j.get("schedule") == "every_second"]
    jobs.sort(key=lambda j: j["fire_time"])
    problem = check_fires(jobs, fires)
    if problem:
        return [error_row(figure, problem)]
    delays = [parse_iso(j["created_at"]) - parse_iso(j["fire_time"]) for j in jobs[:fires]]
    p50, p99 = percentile(delays, 0.50), percentile(delays, 0.99)
    say(
        f"   precision: p50 {format_ms(p50)}, p99 {format_ms(p99)}, "
        f"min {format_ms(min(delays))}, max {format_ms(max(delays))} over {len(delays)} fires"
    )
    raw = raw_delays(sandbox.db, [int(str(j["id"])) for j in jobs[:fires]])
    if raw:
        say(f"   same jobs read from the database: p50 {raw[0]:.2f} ms, p99 {raw[1]:.2f} ms")
    note = f"{len(delays)} fires; list --json prints times to the ms"
    if raw:
        note += f"; database: p50 {raw[0]:.2f} ms, p99 {raw[1]:.2f} ms"
    return [
        Row(f"{figure}: p50", format_ms(p50), result=INFO, note=note),
        Row(
            f"{figure}: p99",
            format_ms(p99),
            target=f"<= {format_ms(P99_TARGET_S)}",
            result=verdict(p99 <= P99_TARGET_S),
            note=f"max {format_ms(max(delays))}",
        ),
    ]


def raw_delays(db: Path, ids: list[int]) -> tuple[float, float] | None:
    """p50 and p99 (ms) of created_at - fire_time as stored, or None if they cannot be read."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT id, created_at - fire_time FROM jobs").fetchall()
    except sqlite3.Error:
        return None
    wanted = set(ids)
    delays = [float(delay) * 1000 for job_id, delay in rows if job_id in wanted]
    if len(delays) != len(wanted):
        return None
    return percentile(delays, 0.50), percentile(delays, 0.99)


def check_fires(jobs: list[dict[str, object]], fires: int) -> str:
    """Empty when there are at least `fires` jobs, one per second, none doubled or missing."""
    if len(jobs) < fires:
        return f"only {len(jobs)} jobs for {fires} fires"
    times = [parse_iso(str(j["fire_time"])) for j in jobs]
    if len(set(times)) != len(times):
        return "a fire time was enqueued twice"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if any(abs(gap - 1.0) > 1e-6 for gap in gaps):
        return f"fire times not one second apart (gaps {sorted(set(gaps))[:5]})"
    return ""


def parse_iso(text: str) -> float:
    """An ISO 8601 time with an offset, as jobctl prints it, in epoch seconds."""
    return datetime.datetime.fromisoformat(text).timestamp()


# ---------------------------------------------------------------------------------------------
# Many schedules


@dataclass
class StartFigures:
    """What one daemon start on the many-schedules config measured."""

    leader_s: float | None = None
    planned_s: float | None = None
    hwm_kib: int | None = None
    rss_kib: int | None = None
    failure: str = ""


def measure_many(sandbox: Sandbox, count: int) -> list[Row]:
    """Daemon start time and RSS with `count` schedules, then CPU per simulated hour."""
    sandbox.config.write_text(many_config(count))
    start = start_daemon(sandbox, count)
    rows = start_rows(start, count)
    rows.append(simulated_hour_row(sandbox, count))
    return rows


def many_config(count: int, seed: int = 7) -> str:
    """A config of `count` schedules of varied cron expressions, all on the job `noop`."""
    rng = random.Random(seed)
    lines = ["# Written by the jobctl benchmarks.", "[jobs.noop]", 'command = ["true"]', ""]
    kinds = (
        (25, lambda: f"*/{rng.choice((5, 10, 15, 20, 30))} * * * *"),
        (5, lambda: f"{rng.randrange(60)} * * * *"),
        (15, lambda: f"{rng.randrange(60)} */{rng.choice((2, 3, 4, 6, 12))} * * *"),
        (30, lambda: f"{rng.randrange(60)} {rng.randrange(24)} * * *"),
        (10, lambda: f"{rng.randrange(60)} {rng.randrange(7, 19)} * * MON-FRI"),
        (5, lambda: f"{rng.randrange(60)} {rng.randrange(24)} {rng.randrange(1, 29)} * *"),
        (3, lambda: f"0 {rng.randrange(8, 18)}-{rng.randrange(18, 23)}/2 * JAN-JUN 1,3,5"),
        (4, lambda: rng.choice(("@hourly", "@daily", "@weekly", "@monthly"))),
        (3, lambda: f"@every {rng.choice(('90s', '7m', '20m', '1h30m', '6h'))}"),
    )
    weights = [weight for weight, _ in kinds]
    for index in range(count):
        _, make = rng.choices(kinds, weights=weights)[0]
        lines.append(f"[schedules.s{index:05d}]")
        lines.append(f'cron = "{make()}"')
        lines.append('job = "noop"')
        lines.append('overlap = "allow"')
        if rng.random() < 0.2:
            lines.append(f'timezone = "{rng.choice(ZONES)}"')
        lines.append("")
    return "\n".join(lines)


def start_daemon(sandbox: Sandbox, count: int) -> StartFigures:
    """Spawn the daemon; time the leader line and the plan, then read its VmHWM."""
    figures = StartFigures()
    log = sandbox.root / "many.log"
    started = time.perf_counter()
    proc = sandbox.start("schedule-daemon", log_name="many.log")

    def leader() -> bool:
        return "scheduler.leader" in log.read_text(errors="replace") or proc.poll() is not None

    wait_until(leader, timeout=120, interval=0.005)
    if proc.poll() is None and "scheduler.leader" in log.read_text(errors="replace"):
        figures.leader_s = time.perf_counter() - started
    else:
        figures.failure = f"no scheduler.leader line: {sandbox.log_tail('many.log', 1)}"
        return figures
    wait_until(lambda: planned(sandbox.db) >= count or proc.poll() is not None, 300, 0.02)
    if proc.poll() is None and planned(sandbox.db) >= count:
        figures.planned_s = time.perf_counter() - started
        time.sleep(0.5)  # the rest of the first tick: one pass over the plans
        figures.hwm_kib = memory_kib(proc.pid, "VmHWM")
        figures.rss_kib = memory_kib(proc.pid, "VmRSS")
    if figures.hwm_kib is None:
        figures.failure = f"plan not built: {sandbox.log_tail('many.log', 1)}"
    stop_process(proc)
    say(
        f"   {count:,} schedules: leader line after {figures.leader_s or 0:.2f} s, "
        f"all planned after {figures.planned_s or 0:.2f} s, "
        f"VmHWM {kib_to_mb(figures.hwm_kib or 0):.1f} MB, "
        f"VmRSS {kib_to_mb(figures.rss_kib or 0):.1f} MB"
    )
    return figures


def planned(db: Path) -> int:
    """How many schedules have a plan start recorded (read-only, 0 before the table exists)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM schedule_state").fetchone()[0])
    except sqlite3.Error:
        return 0


def start_rows(start: StartFigures, count: int) -> list[Row]:
    """Rows for the start time, the time until planned, and the peak RSS."""
    prefix = f"many schedules ({count:,})"
    if start.leader_s is None:
        return [error_row(f"{prefix}: daemon start", start.failure)]
    rows = [
        Row(
            f"{prefix}: daemon start, spawn to `scheduler.leader`",
            f"{start.leader_s:.2f} s",
            target=f"<= {START_TARGET_S:g} s",
            result=verdict(start.leader_s <= START_TARGET_S),
        )
    ]
    if start.planned_s is None or start.hwm_kib is None:
        rows.append(error_row(f"{prefix}: first tick", start.failure))
        return rows
    rows.append(
        Row(
            f"{prefix}: spawn to every schedule planned (first tick)",
            f"{start.planned_s:.2f} s",
            result=INFO,
            note="reading the config, planning every schedule and its first tick",
        )
    )
    mb = kib_to_mb(start.hwm_kib)
    rows.append(
        Row(
            f"{prefix}: daemon VmHWM after the first tick",
            f"{mb:.1f} MB",
            target=f"<= {RSS_TARGET_MB:g} MB",
            result=verdict(mb <= RSS_TARGET_MB),
            note=f"VmRSS then {kib_to_mb(start.rss_kib or 0):.1f} MB",
        )
    )
    return rows


def simulated_hour_row(sandbox: Sandbox, count: int) -> Row:
    """CPU time of the Scheduler, in this process, through one simulated hour of fires."""
    from jobctl.config import load_config_file
    from jobctl.observe.events import EventLog
    from jobctl.scheduler import Scheduler
    from jobctl.store.sqlite import SqliteStore

    figure = f"many schedules ({count:,}): scheduler CPU per simulated hour"
    config = load_config_file(sandbox.config)
    db = sandbox.root / "hour.db"
    events = open(sandbox.root / "hour-events.log", "w")  # noqa: SIM115 - closed below
    store = SqliteStore(db, durability=config.settings.durability)
    try:
        scheduler = Scheduler(store, config, EventLog(stream=events), rng=random.Random(1))
        begin = (time.time() // 3600 + 1) * 3600  # a whole hour, for the fixed-time schedules
        cpu0, wall0 = time.process_time(), time.perf_counter()
        scheduler.load(config, begin - 1.0)
        load_cpu = time.process_time() - cpu0
        cpu1, wall1 = time.process_time(), time.perf_counter()
        ticks = 0
        now = begin - 1.0
        while now <= begin + SIMULATED_HOUR:
            next_fire = scheduler.tick(now)
            ticks += 1
            if next_fire is None:
                break
            now = max(next_fire, now + 1e-6)
        hour_cpu = time.process_time() - cpu1
        hour_wall = time.perf_counter() - wall1
        load_wall = wall1 - wall0
    finally:
        store.close()
        events.close()
    jobs = count_jobs(db)
    say(
        f"   simulated hour: {ticks:,} ticks, {jobs:,} jobs enqueued, CPU {hour_cpu:.2f} s "
        f"(wall {hour_wall:.2f} s); plan load CPU {load_cpu:.2f} s (wall {load_wall:.2f} s)"
    )
    return Row(
        figure,
        f"{hour_cpu:.2f} s CPU",
        result=INFO,
        note=f"{ticks:,} ticks, {jobs:,} jobs enqueued, wall {hour_wall:.1f} s; "
        f"plan load apart: {load_cpu:.2f} s CPU",
    )


def count_jobs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def error_row(figure: str, why: str) -> Row:
    return Row(figure, "not measured", result=ERROR, note=why)


if __name__ == "__main__":
    sys.exit(main())
