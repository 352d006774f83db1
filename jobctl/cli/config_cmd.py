"""`jobctl validate`: check a config before it goes live."""

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
    far_missing = _check_database_location(config)
    if not quiet:
        jobs = _count(len(config.jobs), "job")
        schedules = _count(len(config.schedules), "schedule")
        typer.echo(f"{config.path}: ok ({jobs}, {schedules})")
    for note in config.notes:
        say(f"jobctl: warning: {note}")
    if far_missing is not None:
        say(f"jobctl: warning: {far_missing}: workers would not start here")
    _warn_about_this_host(config)


def _check_database_location(config: "Config") -> str | None:
    """Refuse (exit 2) a database location no worker could start on anywhere: a scheme
    jobctl does not know, or a malformed redis:// URL (a port past 65535, no host). Return,
    for a warning, what a worker would refuse on this host only, told where the location
    comes from: the far-missing folder (by the rule of _refuse_a_far_missing_folder), or an
    existing file that is not a jobctl database. Nothing is
    made or opened: a worker refused each of them at its start, where validate said ok."""
    import os

    from jobctl.cli.context import far_missing_folder
    from jobctl.config import problem_at
    from jobctl.errors import ConfigError, StoreError, UsageError
    from jobctl.store import location_kind, not_a_location

    location = STATE.db_location()
    kind, url = location_kind(location)
    problem = None
    if kind == "unknown":
        problem = not_a_location(location)
    elif kind == "redis":  # (the Redis store's modules only then: see open_store)
        from jobctl.store.redis.location import parse_location

        try:
            parse_location(url)
        except StoreError as exc:
            problem = str(exc)
    refused = None
    if problem is None:
        refused = far_missing_folder(location) or _not_a_jobctl_database(location)
    if STATE.db is not None or os.environ.get("JOBCTL_DB"):
        named_by = "--db" if STATE.db is not None else "$JOBCTL_DB"
        if problem is not None:
            raise UsageError(f"{named_by}: {problem}")
        return None if refused is None else f"{named_by}: {refused}"
    told = problem_at(config)
    if problem is not None:
        raise ConfigError(told("settings", None, "db", problem))
    if refused is None or not config.settings.db:
        return refused
    return told("settings", None, "db", refused)


def _not_a_jobctl_database(location: str) -> str | None:
    """Why the existing file at a SQLite location is no database a worker would open (see
    the store's not_a_jobctl_database); None for any other location."""
    from pathlib import Path

    from jobctl.store import location_kind

    kind, named = location_kind(location)
    if kind not in ("path", "sqlite"):
        return None
    from jobctl.store.sqlite.diagnose import not_a_jobctl_database

    return not_a_jobctl_database(Path(named).expanduser())


def _count(number: int, noun: str) -> str:
    """`1 job`, `2 jobs`: the summary line is read by people, who stumble on `1 jobs`."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _warn_about_this_host(config: "Config") -> None:
    """What is valid in the file but would go wrong on this host: a `user` or `group` it does
    not know (or, not as root, one a worker cannot switch to), a `cwd` that is no folder or
    that this user cannot enter, a log folder it cannot write, and a $TZ its schedules
    cannot follow (the file may be meant for another host: a warning, exit 0). Each is told
    at the line of its key, as the file's errors are."""
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
            gid = None if job.group is None else numeric_id(job.group)
            if job.group is not None and gid is None:
                gid = grp.getgrnam(job.group).gr_gid
        except KeyError:
            unknown.append(("group", f"{job.group!r} does not exist"))
        else:
            if gid is not None and not root and gid not in os.getresgid():
                warn("jobs", name, "group", _group_out_of_reach(job.group, gid))
        folder = job.working_dir(config.base_dir)
        # Root enters it as the job's `user`, whom this call cannot speak for.
        entered_here = not root or job.user is None
        problem = None if folder is None else _cwd_problem(folder, entered_here)
        if problem is not None:
            unknown.append(("cwd", f"{job.cwd!r} {problem}"))
        for key, what in unknown:
            warn("jobs", name, key, f"{what} on this host: its jobs would fail here")
    refused = log_folder_refused(config)
    if refused:
        key, _, problem = refused
        warn("settings", None, key, f"{problem}: workers would not start here")


def _group_out_of_reach(group: str | None, gid: int) -> str:
    """Why a worker of this user cannot start a job of `group`: no process but root's may
    take a group other than its own, even one its user is a member of (the job failed with
    a bare "Operation not permitted", three times)."""
    import os

    from jobctl.fsutil import login_name

    me = login_name(os.geteuid()) or f"uid {os.geteuid()}"
    member = f"; {group} is only a supplementary group of {me}" if gid in os.getgroups() else ""
    return (
        f"runs as group {group!r}: only a worker running as root may switch groups{member};"
        " run as this user, its jobs would fail"
    )


def _cwd_problem(folder: str, entered_here: bool) -> str | None:
    """Why a job's `cwd` would fail here, as the end of a sentence naming it: not a folder,
    or (`entered_here`: the job would run as this user) one this user cannot reach or enter
    (its jobs failed with exit 126, or the folder was called missing)."""
    import os
    import stat

    from jobctl.fsutil import login_name

    me = login_name(os.geteuid()) or f"uid {os.geteuid()}"
    try:
        info = os.stat(folder)
    except PermissionError:
        closed = next(
            (above for above in _folders_above(folder) if not os.access(above, os.X_OK)), None
        )
        where = f": {closed} is closed to {me}" if closed else ""
        return f"cannot be reached by {me} (permission denied{where})"
    except OSError:
        return "is not a folder"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if entered_here and not os.access(folder, os.X_OK):
        return f"cannot be entered by {me} (permission denied: mode {info.st_mode & 0o777:04o})"
    return None


def _folders_above(path: str) -> list[str]:
    """The folders above `path`, from the root down."""
    import os

    folders = []
    above = os.path.dirname(os.path.abspath(path))
    while True:
        folders.append(above)
        if above == os.path.dirname(above):
            return folders[::-1]
        above = os.path.dirname(above)


def _jitter_overlap(spec: "ScheduleSpec", config: "Config") -> str | None:
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


def log_folder_refused(config: "Config") -> tuple[str, str, str] | None:
    """Why a worker would refuse the log folder, found without making it (validate changes
    nothing; a worker asks before it makes its database), as the key of [settings] that puts
    it there (`log_dir`, else the `db` it is beside when the config names the database:
    `log_dir` is the fix either way), the folder, and the problem."""
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
    folder = str(log_dir(config, location))
    problem = log_root_problem(folder, beside_database) or _log_folder_not_writable(folder)
    return None if problem is None else (key, folder, problem)


def _log_folder_not_writable(folder: str) -> str | None:
    """A log folder, or the folder a worker would make it in, that this user cannot write to:
    the worker stops at its start (`Permission denied`), where validate said ok."""
    import os

    from jobctl.fsutil import login_name

    target = folder
    while not os.path.lexists(target) and target != os.path.dirname(target):
        target = os.path.dirname(target)
    if not os.path.isdir(target) or os.access(target, os.W_OK | os.X_OK):
        return None
    me = login_name(os.geteuid()) or f"uid {os.geteuid()}"
    if target == folder:
        return f"log folder {folder} is not writable by {me}"
    return f"log folder {folder} cannot be made: {target} is not writable by {me}"
