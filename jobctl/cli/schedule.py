"""`jobctl schedule …` and `jobctl cron next`: the cron side (`import-crontab` is
jobctl.cli.crontab_cmd)."""

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jobctl.cli.app import app
from jobctl.cli.completers import complete_schedule
from jobctl.cli.context import STATE
from jobctl.durations import format_duration
from jobctl.text import say

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from jobctl.config import Config, ScheduleSpec
    from jobctl.records import FireRecord, WorkerInfo
    from jobctl.store import Store

schedule_app = typer.Typer(
    help="Inspect and steer cron schedules.",
    epilog="Example:  jobctl schedule list  |  jobctl schedule run nightly-backup",
    no_args_is_help=True,
    add_completion=False,
)
cron_app = typer.Typer(
    help="Check cron expressions.",
    epilog='Example:  jobctl cron next "*/15 9-17 * * MON-FRI" -n 5',
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(schedule_app, name="schedule")
app.add_typer(cron_app, name="cron")


def _zone_name(
    spec: "ScheduleSpec", config: "Config", recorded: "Mapping[str, str] | None" = None
) -> str:
    """The zone a schedule fires in; `recorded`: the zones the cron daemon planned the
    schedules that name none in (scheduler.daemon_zones), which this process's may not be."""
    return spec.timezone or (recorded or {}).get(spec.name) or _settings_zone_name(config)


def _settings_zone_name(config: "Config") -> str:
    """The zone of a schedule that names none: [settings] timezone, else the host's."""
    from jobctl.timefmt import local_zone

    return config.settings.timezone or local_zone()


def _spec(config: "Config", name: str) -> "ScheduleSpec":
    """The schedule `name`; an unknown one is a usage error (exit 2), as an unknown job is."""
    from jobctl.errors import ConfigError

    spec = config.schedules.get(name)
    if spec is None:
        raise ConfigError(_unknown_schedule(config, name))
    return spec


def _unknown_schedule(config: "Config", name: str) -> str:
    """What is said of a name no schedule has, naming those there are (with the one it may
    be a typo of): `schedule run` and `cron next` say it alike."""
    from jobctl.config import _closest

    where = f" in {config.path}" if config.path else ""
    hint = _closest(name, set(config.schedules))
    typo = f" (did you mean {hint!r}?)" if hint is not None else ""
    if not config.schedules:
        return f"unknown schedule {name!r}{where}, which defines no schedule"
    known = ", ".join(sorted(config.schedules))
    return f"unknown schedule {name!r}{where}{typo}; defined schedules: {known}"


@schedule_app.command("list", epilog="Example:  jobctl schedule list --json")
def schedule_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Every schedule: its plan, next and last fire, and policies."""
    from zoneinfo import ZoneInfo

    from jobctl import cron
    from jobctl.documents import print_json
    from jobctl.errors import JobctlError, StoreMissing
    from jobctl.render import ago, cell
    from jobctl.scheduler import daemon_zones
    from jobctl.tables import table
    from jobctl.timefmt import iso, wall_time

    config = STATE.config(required=True)
    now = time.time()
    try:  # a view: it makes no database (none yet: nothing fired, nothing paused)
        with STATE.store(create=False) as store:
            last = store.last_fires()
            successes = store.last_successes(sorted(config.schedules))
            paused = store.paused_schedules()
            recorded = daemon_zones(store, config)
            daemons, stale = _cron_daemons(store, now)
            # One leading, or a standby to take over; not a standby behind a leader that
            # stopped heartbeating while it holds the lock (stopped, hung): none fires then.
            daemon_running = bool(daemons) and stale is None
            otherwise = _planned_otherwise(store, config, daemons)
        database_exists = True
    except StoreMissing:
        last, paused, recorded, daemon_running, database_exists = {}, set(), {}, False, False
        successes = {}
        otherwise = stale = None
    _say_zones(config, config.schedules.values(), recorded)
    documents: list[dict[str, Any]] = []
    for name, spec in sorted(config.schedules.items()):
        zone = _zone_name(spec, config, recorded)
        try:
            upcoming = cron.next_fires(cron.parse(spec.cron), ZoneInfo(zone), now, 1)
            error = None
        except JobctlError as exc:  # shown in its row: the others still are
            upcoming, error = [], f"invalid cron: {exc} (see jobctl validate)"
        next_fire = upcoming[0] if upcoming and spec.enabled and name not in paused else None
        record, state = last.get(name, (None, None))
        job_type = config.jobs.get(spec.job)
        described = spec.description or (job_type.description if job_type else None)
        documents.append(
            {
                "name": name,
                "job": spec.job,
                "cron": spec.cron,
                "timezone": zone,
                "next_fire": iso(next_fire, ZoneInfo(zone)),
                "last_fire": iso(record.fire_time, ZoneInfo(zone)) if record else None,
                "last_status": record.status if record else None,
                # Why it was skipped or held: "overlap: run 12 is still active" names the run
                # that holds the schedule up.
                "last_reason": record.reason if record else None,
                "last_job_id": record.job_id if record else None,
                "last_outcome": state.value if state else None,
                # When its latest run that succeeded ended, whatever fired since: what an
                # alert on a schedule whose work stopped succeeding reads.
                "last_success": iso(successes.get(name), ZoneInfo(zone)),
                "overlap": spec.overlap,
                "catch_up": spec.catch_up,
                "enabled": spec.enabled,
                "paused": name in paused,
                "description": described,
                "error": error,
                # next_fire is when the plan says: nothing fires then without a daemon.
                "daemon_running": daemon_running,
                # The leading daemon whose heartbeat is stale while its process lives on.
                "stale_leader": stale.id if stale else None,
            }
        )
    # Not for a config tried out before any daemon made its database: the warning is for
    # a database whose daemon stopped (or for one daemons do not serve: a wrong --db).
    due = any(doc["next_fire"] for doc in documents)
    if stale is not None and due:
        say(_stale_leader_warning(stale, daemons, now))
    elif database_exists and not daemon_running and due:
        say(
            "jobctl: warning: no cron daemon is running on this database: no schedule fires"
            " until `jobctl up` or `jobctl schedule-daemon` runs"
        )
    if otherwise is not None:
        say(otherwise)
    if as_json:
        print_json(documents)
        return
    rows = []
    for doc, (_, spec) in zip(documents, sorted(config.schedules.items()), strict=True):
        record, state = last.get(doc["name"], (None, None))
        if doc["error"]:
            next_text = doc["error"]
        elif not spec.enabled:
            next_text = "disabled"
        elif doc["paused"]:
            next_text = "paused"
        elif doc["next_fire"]:
            upcoming = cron.next_fires(cron.parse(spec.cron), ZoneInfo(doc["timezone"]), now, 1)
            shown = wall_time(upcoming[0], ZoneInfo(doc["timezone"]))
            next_text = f"{shown} ({ago(upcoming[0], now)})"
        else:
            next_text = "never"
        last_text = ""
        if record is not None:
            outcome = doc["last_outcome"] or doc["last_status"]
            if record.job_id is not None and state is None:
                outcome = "pruned"  # its job is deleted: the fire record outlives it
            last_text = f"{ago(record.fire_time, now)} → {outcome}"
            if doc["last_job_id"]:
                last_text += f" (#{doc['last_job_id']})"
            elif record.reason:
                last_text += f": {record.reason}"
        rows.append(
            [
                doc["name"],
                spec.cron,
                doc["timezone"],
                next_text,
                last_text,
                ago(successes.get(doc["name"]), now),
                spec.overlap,
                spec.catch_up,
                cell(doc["description"]),
            ]
        )
    table(
        [
            "SCHEDULE",
            "CRON",
            "ZONE",
            "NEXT",
            "LAST",
            "LAST OK",
            "OVERLAP",
            "CATCH-UP",
            "DESCRIPTION",
        ],
        rows,
        cut={"DESCRIPTION": "end"},
        # At 80 columns every row folded over several lines: the columns a narrow terminal
        # can do without go, the policies first (--json and a wider terminal show them).
        spare=("CATCH-UP", "OVERLAP", "DESCRIPTION", "CRON", "ZONE"),
    )


def _cron_daemons(store: "Store", now: float) -> "tuple[list[WorkerInfo], WorkerInfo | None]":
    """The live cron daemons (leading or standing by), and the leader whose heartbeat lapsed
    while its process lives on, if any (then none of them fires)."""
    cron_daemons = [w for w in store.workers() if w.kind in ("scheduler", "standby")]
    live = [w for w in cron_daemons if w.alive(now)]
    return live, _stale_leader(cron_daemons, live, now)


def stale_cron_leader(store: "Store", now: float) -> "WorkerInfo | None":
    """The leading cron daemon whose heartbeat lapsed while its process lives on (see
    _stale_leader), for `reload`."""
    return _cron_daemons(store, now)[1]


def _stale_leader(
    cron_daemons: "list[WorkerInfo]", live: "list[WorkerInfo]", now: float
) -> "WorkerInfo | None":
    """The leading cron daemon whose heartbeat lapsed while its process lives on (stopped
    by SIGSTOP, hung): it keeps the leader lock, so no standby takes over and nothing
    fires. None while some daemon leads, or when the leader's process is gone here (a
    standby takes over at once; without one, no daemon runs): a process of its pid that
    started after its record was made is another, given the pid since (after a kill -9 or
    a reboot), and was named as the hung daemon. One of another host counts only beside a
    live standby, which it keeps from firing."""
    import socket

    from jobctl.processes import process_running_since

    if any(w.kind == "scheduler" for w in live):
        return None
    host = socket.gethostname()
    stale = [
        w
        for w in cron_daemons
        if w.kind == "scheduler"
        and not w.alive(now)
        and (process_running_since(w.pid, w.started_at) if w.host == host else bool(live))
    ]
    return max(stale, key=lambda w: w.heartbeat_at, default=None)


def _stale_leader_warning(stale: "WorkerInfo", live: "list[WorkerInfo]", now: float) -> str:
    """What `schedule list` says of a leading daemon that stopped heartbeating."""
    import socket

    from jobctl.render import ago

    gone = "" if stale.host == socket.gethostname() else f", or gone from {stale.host}"
    standing_by = sum(1 for w in live if w.kind == "standby")
    then = (
        f"; {standing_by} standby daemon{'' if standing_by == 1 else 's'} cannot take over"
        " while it holds the leader lock"
        if standing_by
        else ""
    )
    return (
        f"jobctl: warning: the leading cron daemon ({stale.id}, pid {stale.pid}) last"
        f" heartbeated {ago(stale.heartbeat_at, now)}: it is stopped or hung{gone}, and no"
        f" schedule fires until it answers again{then}"
    )


def _planned_otherwise(store: "Store", config: "Config", daemons: "list[WorkerInfo]") -> str | None:
    """A warning when the leading cron daemon plans some schedule of this config otherwise,
    or not at all: it reads another file (another host's copy, another --config), or has not
    re-read this one. Its NEXT would be one nothing fires at. None when all agree."""
    from jobctl import cron
    from jobctl.store.base import REMOVED_TIME_TABLE

    leader = next((w for w in daemons if w.kind == "scheduler"), None)
    if leader is None or not config.schedules:
        return None
    planned = store.time_tables(sorted(config.schedules))
    differ = []
    for name, spec in sorted(config.schedules.items()):
        if planned.get(name, REMOVED_TIME_TABLE) == REMOVED_TIME_TABLE:
            differ.append(f"{name} (not in its plan)")
            continue
        theirs = cron.TimeTable.read(planned[name])
        if theirs is None:
            continue
        zone = spec.timezone or config.settings.timezone or theirs.zone
        try:
            mine = cron.TimeTable(cron.parse(spec.cron), zone)
        except cron.CronError:
            continue  # shown in its row
        changes = theirs.changes(mine)
        if changes:
            said = "; ".join(f"{key} {text}" for key, text in changes.items())
            differ.append(f"{name} ({said}, its -> this config's)")
    if not differ:
        return None
    return (
        f"jobctl: warning: the leading cron daemon ({leader.id}) plans schedules otherwise than"
        f" {config.path or 'this config'}: {', '.join(differ)}; it reads another config, or has"
        " not re-read this one yet (it does within 5 s of a change)"
    )


def _say_zones(
    config: "Config", specs: "Iterable[ScheduleSpec]", recorded: "Mapping[str, str]"
) -> None:
    """Say which zone the schedules of `specs` that name none are shown in, when one might
    read another: the zone the cron daemon planned them in, where this shell's differs (a
    daemon with Environment=TZ=... in its unit); else, for those no daemon planned yet, this
    shell's TZ, where a daemon started without it would follow the host's zone."""
    from jobctl.timefmt import _same_zone, local_zone, tz_of_this_shell

    if config.settings.timezone:
        return
    zoneless = [spec.name for spec in specs if not spec.timezone]
    here = local_zone()
    elsewhere: dict[str, list[str]] = {}
    for name in zoneless:
        if name in recorded and not _same_zone(recorded[name], here):
            elsewhere.setdefault(recorded[name], []).append(name)
    for zone, names in sorted(elsewhere.items()):
        if len(names) == len(zoneless) > 1:
            which = "the schedules that name no timezone"
        elif len(names) == 1:
            which = f"schedule {names[0]!r} (no timezone of its own)"
        else:
            which = f"schedules {', '.join(map(repr, names))} (no timezone of their own)"
        say(
            f"jobctl: warning: the cron daemon planned {which} in {zone} (its TZ, or its"
            f" host's zone), not in {here} as this shell would: shown in {zone}; set"
            " [settings] timezone to make both the same"
        )
    if any(name not in recorded for name in zoneless):
        shell_zone = tz_of_this_shell()
        if shell_zone:
            say(f"jobctl: note: {shell_zone}")


@schedule_app.command("run", epilog="Example:  jobctl schedule run nightly-backup")
def schedule_run(
    name: Annotated[
        str,
        typer.Argument(help="The schedule.", metavar="SCHEDULE", autocompletion=complete_schedule),
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the job as enqueue --json does, with the run's status (enqueued,"
            " skipped, pending), its reason, the active run that held it up, and the held"
            " fire this command enqueued first (released).",
        ),
    ] = False,
) -> None:
    """Enqueue one run now, outside the plan (recorded as manual); prints the job id. The
    schedule's overlap applies as to its fires: while a run is active, "skip" queues
    nothing (that run's id is printed) and "queue" holds this run until that one ends.
    A database it makes is said as `enqueue` says it: no worker serves one just made."""
    from jobctl.cli.enqueue import changed, say_if_new, stored
    from jobctl.scheduler import Scheduler

    config = STATE.config(required=True)
    spec = _spec(config, name)
    now = time.time()
    with STATE.store() as store:
        scheduler = Scheduler(store, config)
        # A fire held under "queue" whose run has ended (a cron daemon stopped before it
        # enqueued it) goes first, as the daemon would enqueue it: here, so that it is said,
        # where recording this run enqueued it on the way and named it as a run still active.
        released = scheduler.release_held(name, now) if spec.overlap == "queue" else None
        held_text = None
        if released is not None:
            held_text = _held_text(store, config, spec, released, now)
            changed(f"{held_text} was enqueued as job {released.job_id}")
        # Recorded as the daemon records a fire, under the schedule's overlap: the store
        # tells an active run (a manual one too) in the transaction that would enqueue.
        record = scheduler.fire_now(name, now)
        if released is None and record is not None and record.released is not None:
            # The held run ended between the look above and the record, which enqueued
            # the held fire itself first: said as the look would have said it.
            released = record.released
            held_text = _held_text(store, config, spec, released, now)
            changed(f"{held_text} was enqueued as job {released.job_id}")
        active = record.active if record is not None else None
        # The job that answers: the new run, or under "skip" the active one standing for it.
        answer = active if spec.overlap == "skip" else None
        enqueued = record is not None and record.status == "enqueued"
        if record is not None and enqueued:
            stored(f"job {record.job_id} was queued, but its id could not be printed")
            answer = record.job_id
        say_if_new(store)
        job = store.get(answer) if as_json and answer is not None else None
        released_job = None
        if as_json and released is not None and released.job_id is not None:
            released_job = store.get(released.job_id)
        served = True
        if record is not None and record.status == "pending":  # the daemon enqueues it
            live, stale = _cron_daemons(store, now)
            served = bool(live) and stale is None
    if released is not None and (record is None or active != released.job_id):
        say(f"jobctl: {held_text} was enqueued as job {released.job_id}")
        held_text = None  # said: the note on this run names that job as any other
    if not enqueued and record is not None:
        _say_not_enqueued(spec, record.status, active, held_text)
    if not served:  # as schedule list warns: a held run waits for a daemon that is not there
        say(
            "jobctl: warning: no cron daemon is running on this database: the held run is"
            " enqueued once `jobctl up` or `jobctl schedule-daemon` runs and run"
            f" {'?' if active is None else active} has ended"
        )
    if as_json:
        from jobctl.documents import fire_document, job_document, print_json

        document = fire_document(name, record, job, active)
        # The job of a held fire this command enqueued before its own run (null if none).
        document["released"] = job_document(released_job) if released_job is not None else None
        print_json(document)
    elif answer is not None or record is None:
        typer.echo(answer)


def _held_text(
    store: "Store", config: "Config", spec: "ScheduleSpec", released: "FireRecord", now: float
) -> str:
    """The held fire `schedule run` enqueued first, as its notes name it: "the fire of
    20:44:31 (3m ago) of schedule 'nap', held for a run that has ended", in the zone
    `schedule list` shows the schedule in."""
    from zoneinfo import ZoneInfo

    from jobctl.render import ago
    from jobctl.scheduler import daemon_zones
    from jobctl.timefmt import wall_time

    zone = ZoneInfo(_zone_name(spec, config, daemon_zones(store, config)))
    when = wall_time(released.fire_time, zone)  # its zone named in a repeated hour
    today = wall_time(now, zone)
    clock = when[11:] if when[:10] == today[:10] else when
    what = "the run asked for at" if released.manual else "the fire of"
    return (
        f"{what} {clock} ({ago(released.fire_time, now)}) of schedule {spec.name!r}, held for"
        " a run that has ended,"
    )


def _say_not_enqueued(
    spec: "ScheduleSpec", status: str, active: int | None, released: str | None = None
) -> None:
    """The note on stderr for a run `schedule run` did not enqueue: held, or skipped.
    `released`: the held fire it enqueued first, which is the active run `active`."""
    shown = "?" if active is None else active
    policy = f'overlap = "{spec.overlap}"'
    if released is not None:
        held = "this run waits for it to end" if status == "pending" else "a run already waits"
        said = f"jobctl: {released} was enqueued as job {shown} ({policy}); {held}"
        if status == "pending":
            say(f"{said}, then the cron daemon enqueues it")
        else:
            say(f"{said} for it; nothing queued")
    elif status == "pending":
        say(
            f"jobctl: run {shown} of schedule {spec.name!r} is still active; this run waits for"
            f" it to end ({policy}), then the cron daemon enqueues it"
        )
    elif spec.overlap == "queue":
        say(
            f"jobctl: run {shown} of schedule {spec.name!r} is still active and a run already"
            f" waits for it ({policy}); nothing queued"
        )
    else:
        # As `enqueue --key` answers for a key an active job holds: that job's id on stdout,
        # a note on stderr, exit 0.
        say(
            f"jobctl: run {shown} of schedule {spec.name!r} is still active; nothing queued"
            f" ({policy}; to run one beside it anyway: {_enqueue_line(spec)})"
        )


def _enqueue_line(spec: "ScheduleSpec") -> str:
    """The `jobctl enqueue` line that queues a run of `spec` outside the schedule."""
    import shlex

    from jobctl.payload import compact_json

    words = ["jobctl", "enqueue", spec.job]
    if spec.payload:
        words += ["--payload", compact_json(dict(spec.payload))]
    if spec.queue:
        words += ["--queue", spec.queue]
    if spec.priority is not None:
        words += ["--priority", str(spec.priority)]
    return " ".join(shlex.quote(word) for word in words)


ScheduleJsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the schedule, whether it is paused, and whether this changed it, as JSON.",
    ),
]


@schedule_app.command("pause", epilog="Example:  jobctl schedule pause nightly-backup")
def schedule_pause(
    name: Annotated[
        str,
        typer.Argument(help="The schedule.", metavar="SCHEDULE", autocompletion=complete_schedule),
    ],
    as_json: ScheduleJsonOption = False,
) -> None:
    """Stop a schedule's fires until resumed (kept in the database)."""
    _set_paused(name, True, as_json)


@schedule_app.command("resume", epilog="Example:  jobctl schedule resume nightly-backup")
def schedule_resume(
    name: Annotated[
        str,
        typer.Argument(help="The schedule.", metavar="SCHEDULE", autocompletion=complete_schedule),
    ],
    as_json: ScheduleJsonOption = False,
) -> None:
    """Let a paused schedule fire again."""
    _set_paused(name, False, as_json)


def _set_paused(name: str, paused: bool, as_json: bool) -> None:
    """Pause or resume a schedule. One already so is said in a note on stderr, not as paused
    or resumed, as `jobctl resume QUEUE` says a queue that was not paused: a script or a
    person could not tell that nothing changed. --json says it as "changed". A database that
    does not exist is refused (exit 3) as `jobctl pause QUEUE` refuses it, and nothing is
    made: a --db typo paused a schedule in a new file while the daemon kept firing it."""
    config = STATE.config(required=True)
    _spec(config, name)
    with STATE.store(create=False) as store:
        changed = (name in store.paused_schedules()) != paused
        if changed and paused:
            store.set_schedule_paused(name, True)
        elif changed:
            from jobctl.scheduler import resume_schedule

            resume_schedule(store, config, name, time.time())
    if as_json:  # as `jobctl pause QUEUE --json` gives each queue
        from jobctl.documents import print_json

        print_json({"schedule": name, "paused": paused, "changed": changed})
        return
    if changed:
        print(f"{'paused' if paused else 'resumed'} schedule {name}")  # as `jobctl pause QUEUE`
    elif paused:
        say(f"jobctl: note: schedule {name} was paused already; nothing to pause")
    else:
        say(f"jobctl: note: schedule {name} was not paused; nothing to resume")


@cron_app.command(
    "next",
    epilog='Examples:  jobctl cron next "30 2 * * *" -n 3 --tz Europe/Berlin  |'
    "  jobctl cron next nightly-backup",
)
def cron_next(
    expression: Annotated[
        str,
        typer.Argument(
            help="A cron expression, quoted, or the name of a schedule in the config.",
            metavar="EXPRESSION",
            autocompletion=complete_schedule,
        ),
    ],
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, max=1000, help="How many.", metavar="N")
    ] = 5,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="IANA time zone (default: the schedule's, else [settings] timezone, else the"
            " one the cron daemon recorded planning in, else this shell's).",
            metavar="ZONE",
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start after this time, as enqueue --at takes it (2030-05-01T09:30, 21:30,"
            " tomorrow 9:00, +10m), in --tz unless it has an offset.",
            metavar="TIME",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """The next fire times of an expression or a schedule, computed by the daemon's own code
    (DST included), in the zone the daemon would use."""
    from datetime import UTC

    from jobctl import cron
    from jobctl.documents import print_json
    from jobctl.errors import ConfigError, UsageError
    from jobctl.render import ago
    from jobctl.tables import table
    from jobctl.timefmt import iso, local_zone, parse_instant, tz_ignored, zone_named

    try:
        config: Config | None = STATE.config()
    except ConfigError as exc:
        if not expression.startswith("@") and len(expression.split()) == 1:
            raise  # a schedule's name: only the config can say what it is
        # An expression is checked all the same: in --tz, or in the host's zone, said once.
        if tz is None:
            say(f"jobctl: warning: {exc} (the host's time zone is used)")
        config = None
    spec = config.schedules.get(expression) if config is not None else None
    if spec is not None:
        expression = spec.cron
        if not spec.enabled:
            say(f"jobctl: note: schedule {spec.name!r} is disabled: the daemon fires none of these")
        if spec.jitter:
            say(
                f"jobctl: note: schedule {spec.name!r} has a jitter: each run waits up to"
                f" {format_duration(spec.jitter)} after its fire time"
            )
    configured = config is not None and config.settings.timezone
    recorded: dict[str, str] = {}
    if config is not None and spec is not None and not (tz or spec.timezone or configured):
        recorded = _daemon_zones(config)  # a schedule's times: those the daemon would use
    if tz is not None:
        zone_name = tz
    elif config is None:
        zone_name = local_zone()
    else:
        zone_name = _zone_name(spec, config, recorded) if spec else _settings_zone_name(config)
    ignored = (
        None
        if tz or (spec and (spec.timezone or spec.name in recorded)) or configured
        else tz_ignored()
    )
    if ignored:
        say(f"jobctl: warning: {ignored}")
    elif config is not None and spec is not None and tz is None:
        _say_zones(config, [spec], recorded)
    zone = zone_named(zone_name)
    if zone is None:
        raise UsageError(f"--tz: unknown time zone {zone_name!r}")
    read_as: list[str] = []
    after = parse_instant(start, "--from", zone, read_as) if start else time.time()  # in --tz
    try:
        parsed = cron.parse(expression)
    except cron.CronError as exc:
        word = expression.strip()
        if spec is None and config is not None and len(word.split()) == 1 and word[0] != "@":
            # One word, no macro: most likely a schedule's name (another config's, one taken
            # out, a typo), so what schedules there are is the answer, the fields the rest.
            fields = str(exc).partition(": ")[2]  # a word has no blank: the first is the cron's
            raise UsageError(
                f"{_unknown_schedule(config, expression)}; and no cron expression either: {fields}"
            ) from None
        if spec is not None and config is not None:
            from jobctl.config import bad_cron

            raise bad_cron(config, spec, exc) from None
        raise
    for line in read_as:  # (after the expression's check: an error is its one line)
        say(f"jobctl: note: {line}")
    note = cron.vixie_day_difference(parsed)
    if note:
        say(f"jobctl: warning: {note}")
    fires = cron.next_fires(parsed, zone, after, count)
    if len(fires) < count:  # the end of the years jobctl computes: not "it never fires"
        some = f"only {len(fires)} of the {count}" if fires else f"none of the {count}"
        say(
            f"jobctl: note: {some} fire times asked for come before 9999 (jobctl plans up to"
            " the end of 9998)"
        )
    # To the second, or to the millisecond for an `@every 1500ms` (not to the microsecond).
    precision = "seconds" if all(f == int(f) for f in fires) else "milliseconds"
    if as_json:
        print_json([iso(f, zone, precision) for f in fires])
        return
    now = time.time()
    table(
        ["FIRE", "UTC", "IN"],
        [[iso(f, zone, precision) or "", iso(f, UTC, precision) or "", ago(f, now)] for f in fires],
        title=f"{parsed.text}: {cron.describe(parsed)} ({zone_name})",
        spare=("UTC", "IN"),  # on a narrow terminal: never a time folded over lines
    )


def _daemon_zones(config: "Config") -> dict[str, str]:
    """scheduler.daemon_zones for `cron next`, which answers with no database (nothing was
    planned there yet) or no store within reach all the same, in this process's zone."""
    from jobctl.errors import StoreError, StoreMissing
    from jobctl.scheduler import daemon_zones

    try:
        with STATE.store(create=False) as store:
            return daemon_zones(store, config)
    except StoreMissing:
        return {}
    except StoreError as exc:
        say(f"jobctl: note: shown in this shell's zone; the cron daemon's is unknown: {exc}")
        return {}
