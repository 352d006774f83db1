"""`jobctl stats`, `metrics` and `health`: what monitoring and people need to trust the queue."""

import time
from dataclasses import asdict
from typing import Annotated

import typer

from jobctl.cli.app import app
from jobctl.cli.completers import complete_queue
from jobctl.cli.context import STATE


@app.command(epilog="Example:  jobctl stats --since 1h --json")
def stats(
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="The window to report on: a duration (1h, 7d), or the time it starts (as --at"
            " takes it: 2026-05-01T09:30, today 0:00). It starts on the hour (the counters are"
            " hourly): --since 5m at 10:40 covers 10:00 on, in every column. The hours are the"
            " counters' UTC hours: where the offset is not whole hours they start at :30 or :45"
            " past the local hour (today 0:00 in India counts from 23:30 the day before, as the"
            " header says). 35 days at most.",
            metavar="DURATION|TIME",
        ),
    ] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Per queue and job type: enqueued, processed, succeeded, failed attempts, dead,
    cancelled, pending, success rate, run time p50/p95/max and wait time p50/p95 over a
    window. Processed counts the attempts that ended; the success rate is succeeded /
    (succeeded + dead): a cancelled job counts for neither."""
    from jobctl.cli.options import since_option
    from jobctl.documents import print_json
    from jobctl.durations import format_short
    from jobctl.observe.stats import collect
    from jobctl.render import stats_title
    from jobctl.tables import table

    now = time.time()
    start = since_option(since, "--since", now)
    assert start is not None  # (it has a default)
    _refuse_a_window_past_the_hourly_counts(since, start, now)
    with STATE.store(create=False) as store:
        rows = collect(store, start)
    if as_json:
        print_json([_stats_document(asdict(row)) for row in rows])
        return

    def secs(value: float | None) -> str:
        return "" if value is None else format_short(value)

    table(
        [
            "QUEUE",
            "JOB",
            "ENQUEUED",
            "PROCESSED",
            "OK",
            "FAILED",
            "DEAD",
            "CANCELLED",
            "PENDING",
            "SUCCESS",
            "RUN P50",
            "P95",
            "MAX",
            "WAIT P50",
            "P95",
        ],
        [
            [
                r.queue,
                r.job,
                str(r.enqueued),
                str(r.processed),
                str(r.succeeded),
                str(r.failed_attempts),
                str(r.dead),
                str(r.cancelled),
                str(r.pending),
                "" if r.success_rate is None else _success_said(r.succeeded, r.dead),
                secs(r.run_p50),
                secs(r.run_p95),
                secs(r.run_max),
                secs(r.wait_p50),
                secs(r.wait_p95),
            ]
            for r in rows
        ],
        title=stats_title(_window_said(since, start, now), start, now),
        # On a narrow terminal the times go first, each group's heading last (the wait's P95,
        # then the run's), then the counts that say least, rather than fold every row.
        spare=[
            *("P95", "P95", "MAX", "WAIT P50", "RUN P50"),
            *("PROCESSED", "CANCELLED", "ENQUEUED", "PENDING"),
        ],
    )


def _success_said(succeeded: int, dead: int) -> str:
    """SUCCESS to a tenth of a percent, with more digits where that would read 100.0% with
    a job dead, or 0.0% with one succeeded: 2,999 of 3,000 is 99.97%, not 100.0%, which
    someone looking for the job type short of 100% would pass over. Worked out in integers,
    so that no float rounds a dead job away."""
    ended = succeeded + dead
    digits = 1
    while True:
        whole = 10 ** (digits + 2)
        scaled, rest = divmod(succeeded * whole, ended)
        shown = scaled + (2 * rest >= ended)
        if 0 < shown < whole or dead == 0 or succeeded == 0:
            return f"{shown // 10**digits}.{shown % 10**digits:0{digits}d}%"
        digits += 1


def _window_said(since: str, start: float, now: float) -> str:
    """--since as the title's `last ...` says it: a duration as given, a time as how long ago."""
    from jobctl.durations import parse_duration
    from jobctl.errors import DurationError
    from jobctl.timefmt import span

    try:
        parse_duration(since)
    except DurationError:
        return f"{span(now - start)} (since {since.strip()})"
    return since


def _refuse_a_window_past_the_hourly_counts(since: str, start: float, now: float) -> None:
    """Hours older than COUNTS_BY_THE_HOUR are one lifetime total (Store.compact_counts):
    a window starting before them counted only the hours kept, under a header naming its
    start, as if nothing had run before."""
    from jobctl.errors import UsageError
    from jobctl.observe.stats import window_start
    from jobctl.retention import COUNTS_BY_THE_HOUR

    days = f"{COUNTS_BY_THE_HOUR / 86400:.0f}"
    if window_start(start) < window_start(now - COUNTS_BY_THE_HOUR):
        raise UsageError(
            f"--since {since}: stats counts by the hour for the last {days} days only (older"
            f" hours are one lifetime total, which `jobctl metrics` exports): give a window"
            f" of {days}d or less"
        )


def _stats_document(row: dict[str, object]) -> dict[str, object]:
    """A stats row for scripts: run and wait times in seconds to the millisecond, as every
    other duration in jobctl's JSON."""
    return {
        name: round(value, 3)
        if isinstance(value, float) and name.startswith(("run_", "wait_"))
        else value
        for name, value in row.items()
    }


@app.command(
    epilog="Example:  cd /var/lib/node_exporter && jobctl metrics > jobctl.prom.$$"
    " && mv jobctl.prom.$$ jobctl.prom  (written whole, then renamed: node_exporter's"
    " textfile collector never reads half of it)"
)
def metrics() -> None:
    """Print the Prometheus text exposition (the same as /metrics of --metrics-addr)."""
    import sys

    from jobctl.observe.metrics import render

    # One moment, as a scrape of /metrics reads it.
    with STATE.store(create=False) as store, store.read_snapshot():
        text = render(store, STATE.config())
    sys.stdout.write(text)


@app.command(
    epilog="Example:  jobctl health --max-age 5m --max-dead 0 --require-worker || alert",
)
def health(
    max_ready: Annotated[
        int | None,
        typer.Option(
            "--max-ready",
            help="Unhealthy above this many ready jobs (paused queues' jobs left out).",
            min=0,
            metavar="N",
        ),
    ] = None,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            help="Unhealthy when a ready job has waited longer (paused queues' jobs left out).",
            metavar="DURATION",
        ),
    ] = None,
    max_dead: Annotated[
        int | None,
        typer.Option("--max-dead", help="Unhealthy above this many dead jobs.", min=0, metavar="N"),
    ] = None,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Apply --max-ready, --max-age, --max-dead and --require-worker's per-queue"
            " check to this queue only (repeat for more queues).",
            autocompletion=complete_queue,
            metavar="QUEUE",
        ),
    ] = None,
    require_worker: Annotated[
        bool,
        typer.Option(
            "--require-worker",
            help="Unhealthy without a live worker, or with a queue (not paused) holding ready"
            " jobs that no live worker serves.",
        ),
    ] = False,
    require_scheduler: Annotated[
        bool, typer.Option("--require-scheduler", help="Unhealthy without a live cron daemon.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Exit 0 when healthy; 1 with one line per failed check on stderr."""
    import os

    from jobctl.cli.options import check_queue_name, duration_option, note_unknown_queue
    from jobctl.config import EMPTY_CONFIG, find_config_path
    from jobctl.documents import print_json
    from jobctl.errors import EXIT_FAILED, ConfigError, StoreError
    from jobctl.logfiles import log_dir
    from jobctl.observe.health import ANSWER_WAIT, Check, Limits, check, config_check
    from jobctl.text import clean

    age = duration_option(max_age, "--max-age")
    named = tuple(dict.fromkeys(queues or ()))  # a queue given twice is one queue
    for queue in named:
        check_queue_name(queue, "--queue")
    limits = Limits(max_ready, age, max_dead, require_worker, require_scheduler, named)
    config_path = find_config_path(STATE.config_path)
    config = None if config_path is None else config_check(config_path)
    broken = config is not None and not config.ok
    if broken and (STATE.db is not None or os.environ.get("JOBCTL_DB")):
        # The config check says it (no warning too); where its log_dir points is unknown.
        STATE.use_config(EMPTY_CONFIG)
    try:
        with STATE.store(create=False, timeout=ANSWER_WAIT) as store:
            for queue in named:  # a typo would pass every check it narrows, as wait's is refused
                note_unknown_queue(queue, store, fatal=True)
            logs = None if broken else log_dir(STATE.config(), store.location)
            checks = check(store, limits, time.time(), log_folder=logs, config=config)
    except ConfigError as exc:
        if as_json:  # a monitor reading `.healthy` gets its answer, not empty input
            print_json(
                {"healthy": False, "checks": [asdict(Check("config", False, None, None, str(exc)))]}
            )
        raise  # exit 2: a broken config, the database named nowhere else
    except StoreError as exc:
        # A database missing or corrupt, a Redis server down: a failed check, exit 1 like
        # a full disk's, not the 3 of a command that cannot run (a HEALTHCHECK knows 0 and
        # 1; a Nagios plugin's 3 is UNKNOWN). The checks that need no store are said too.
        checks = [Check("database", False, None, None, str(exc))]
        if config is not None:
            checks.append(config)
    healthy = all(c.ok for c in checks)
    if as_json:
        print_json({"healthy": healthy, "checks": [asdict(c) for c in checks]})
    else:  # messages name the database path: cleaned like any text jobctl did not write
        for c in checks:
            if c.ok:
                typer.echo(clean(f"{'skip' if c.skipped else 'ok':<6}{c.name}: {c.message}"))
    for c in checks:
        if not c.ok:
            typer.echo(clean(f"jobctl: unhealthy: {c.name}: {c.message}"), err=True)
    if not healthy:
        raise typer.Exit(EXIT_FAILED)
