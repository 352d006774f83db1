"""`jobctl validate`: check a config before it goes live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jobctl.cli.app import app
from jobctl.cli.context import STATE
from jobctl.text import say

if TYPE_CHECKING:
    from jobctl.config import Config, ScheduleSpec


@app.command(epilog="Example:  jobctl --config /etc/jobctl/jobs.toml validate")
def validate(
    quiet: Annotated[
        bool,
        typer.Option("--quiet", help="Print nothing when valid (warnings still go to stderr)."),
    ] = False,
) -> None:
    """Check the config file; exit 0 when valid, 2 with the first problem otherwise."""
    from jobctl.config import check_schedules

    config = check_schedules(STATE.config(required=True))
    if not quiet:
        jobs = _count(len(config.jobs), "job")
        schedules = _count(len(config.schedules), "schedule")
        typer.echo(f"{config.path}: ok ({jobs}, {schedules})")
    for note in config.notes:
        say(f"jobctl: warning: {note}")
    _warn_about_this_host(config)


def _count(number: int, noun: str) -> str:
    """`1 job`, `2 jobs`: the summary line is read by people, who stumble on `1 jobs`."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _warn_about_this_host(config: Config) -> None:
    """What is valid in the file but would go wrong on this host: a `user` or `group` it does
    not know, a `cwd` that is no folder, and a $TZ its schedules cannot follow (the file may
    be meant for another host: a warning, exit 0). Each is told at the line of its key, as
    the file's errors are."""
    import grp
    import os

    from jobctl.config import host_zone_warning, problem_at
    from jobctl.processes import known_user, numeric_id, uid_of

    told = problem_at(config)

    def warn(section: str, name: str | None, key: str, message: str) -> None:
        say(f"jobctl: warning: {told(section, name, key, message)}")

    ignored = host_zone_warning(config)
    if ignored:
        # At the first schedule that follows the host's zone: a `timezone` there (or in
        # [settings]) is what makes $TZ no matter.
        following = next(name for name, spec in config.schedules.items() if spec.timezone is None)
        warn("schedules", following, "timezone", ignored)
    from jobctl import cron

    for name, spec in sorted(config.schedules.items()):
        note = cron.vixie_day_difference(cron.parse(spec.cron))
        if note:
            warn("schedules", name, "cron", f"{spec.cron!r}: {note}")
        note = _jitter_overlap(spec, config)
        if note:
            warn("schedules", name, "jitter", note)
    root = os.geteuid() == 0
    for name, job in sorted(config.jobs.items()):
        unknown: list[tuple[str, str]] = []
        if job.user is not None and not known_user(job.user):
            unknown.append(("user", f"{job.user!r} does not exist"))
        elif job.user is not None and not root and uid_of(job.user) != os.geteuid():
            # (The unit runs validate as its worker's user: what it says holds for them.)
            warn(
                "jobs",
                name,
                "user",
                f"runs as user {job.user!r}: only a worker running as root (or as that user)"
                " can start it; run as this user, its jobs would fail",
            )
        try:
            if job.group is not None and numeric_id(job.group) is None:
                grp.getgrnam(job.group)
        except KeyError:
            unknown.append(("group", f"{job.group!r} does not exist"))
        folder = job.working_dir(config.base_dir)
        if folder is not None and not os.path.isdir(folder):
            unknown.append(("cwd", f"{job.cwd!r} is not a folder"))
        for key, what in unknown:
            warn("jobs", name, key, f"{what} on this host: its jobs would fail here")
    refused = _log_folder_refused(config)
    if refused:
        warn("settings", None, refused[0], f"{refused[1]}: workers would not start here")


def _jitter_overlap(spec: ScheduleSpec, config: Config) -> str | None:
    """A jitter as long as the gap between two fires, under an overlap that will not start a
    run while the last one is active: a run waiting out its jitter is `scheduled`, so the
    next fire finds it active, and many fires are skipped (or held) instead of run."""
    import itertools
    import time

    from jobctl import cron
    from jobctl.durations import format_duration
    from jobctl.timefmt import local_zone

    if spec.jitter <= 0 or spec.overlap == "allow":
        return None
    zone = spec.timezone or config.settings.timezone or local_zone()
    # The daemon's own fire times, a few of them: the smallest gap between two (a day's
    # `0 9,10 * * *` has one of an hour).
    fires = cron.next_fires(cron.parse(spec.cron), zone, time.time(), 8)
    gaps = [later - earlier for earlier, later in itertools.pairwise(fires)]
    if not gaps or spec.jitter < min(gaps):
        return None
    fate = "is skipped" if spec.overlap == "skip" else "waits, and any further one is skipped"
    return (
        f"{format_duration(spec.jitter)} is not shorter than the"
        f' {format_duration(min(gaps))} between fires: with overlap = "{spec.overlap}", a'
        f" fire that comes while the previous run still waits out its jitter {fate}, so many"
        ' fires will be (shorten the jitter, or set overlap = "allow")'
    )


def _log_folder_refused(config: Config) -> tuple[str, str] | None:
    """Why a worker would refuse the log folder, found without making it (validate changes
    nothing), with the key of [settings] that puts it there: `log_dir`, else the `db` it is
    beside when the config names the database (`log_dir` is the fix either way)."""
    from jobctl.cli.context import STATE
    from jobctl.config import configured_db
    from jobctl.errors import StoreError
    from jobctl.logfiles import log_dir
    from jobctl.logfolders import log_root_problem

    location = STATE.db_location()
    from_config = bool(config.settings.db) and location == configured_db(config)
    key = "db" if from_config and not config.settings.log_dir else "log_dir"
    on_server = location.lower().startswith(("redis://", "rediss://"))
    if on_server:
        from jobctl.store.redis.location import parse_location

        try:  # as a worker names it: the location shown, its password hidden
            location = parse_location(location).shown
        except StoreError:
            return None  # a worker would not start on it: the store says why
    beside_database = not on_server and not config.settings.log_dir
    problem = log_root_problem(str(log_dir(config, location)), beside_database)
    return None if problem is None else (key, problem)
