"""`jobctl validate`: check a config before it goes live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jobctl.cli.app import app
from jobctl.cli.context import STATE
from jobctl.text import say

if TYPE_CHECKING:
    from jobctl.config import Config


@app.command(epilog="Example:  jobctl --config /etc/jobctl/jobs.toml validate")
def validate(
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when valid.")] = False,
) -> None:
    """Check the config file; exit 0 when valid, 2 with the first problem otherwise."""
    from jobctl.config import check_schedules

    config = check_schedules(STATE.config(required=True))
    if not quiet:
        typer.echo(
            f"{config.path}: ok ({len(config.jobs)} jobs, {len(config.schedules)} schedules)"
        )
    _warn_about_this_host(config)


def _warn_about_this_host(config: Config) -> None:
    """What is valid in the file but would go wrong on this host: a `user` or `group` it does
    not know, a `cwd` that is no folder, and a $TZ its schedules cannot follow (the file may
    be meant for another host: a warning, exit 0)."""
    import grp
    import os

    from jobctl.config import host_zone_warning
    from jobctl.processes import known_user, numeric_id, uid_of

    ignored = host_zone_warning(config)
    if ignored:
        say(f"jobctl: warning: {ignored}")
    from jobctl import cron

    for name, spec in sorted(config.schedules.items()):
        note = cron.vixie_day_difference(cron.parse(spec.cron))
        if note:
            say(f"jobctl: warning: [schedules.{name}] cron {spec.cron!r}: {note}")
    root = os.geteuid() == 0
    for name, job in sorted(config.jobs.items()):
        unknown = []
        if job.user is not None and not known_user(job.user):
            unknown.append(f"user {job.user!r} does not exist")
        elif job.user is not None and not root and uid_of(job.user) != os.geteuid():
            # (The unit runs validate as its worker's user: what it says holds for them.)
            say(
                f"jobctl: warning: [jobs.{name}] runs as user {job.user!r}: only a worker"
                " running as root (or as that user) can start it; run as this user, its"
                " jobs would fail"
            )
        try:
            if job.group is not None and numeric_id(job.group) is None:
                grp.getgrnam(job.group)
        except KeyError:
            unknown.append(f"group {job.group!r} does not exist")
        folder = job.working_dir(config.base_dir)
        if folder is not None and not os.path.isdir(folder):
            unknown.append(f"cwd {job.cwd!r} is not a folder")
        for what in unknown:
            say(f"jobctl: warning: [jobs.{name}] {what} on this host: its jobs would fail here")
    refused = _log_folder_refused(config)
    if refused:
        say(f"jobctl: warning: {refused}: workers would not start here")


def _log_folder_refused(config: Config) -> str | None:
    """Why a worker would refuse the log folder, found without making it (validate changes
    nothing)."""
    from jobctl.cli.context import STATE
    from jobctl.logfiles import log_dir
    from jobctl.logfolders import log_root_problem

    return log_root_problem(str(log_dir(config, STATE.db_location())))
