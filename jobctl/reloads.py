"""Following the config file while a process runs: the one rule by which workers and the cron
daemon notice an edit, read it, and refuse a broken one.

A config carries the stamp of the file it was read from (Config.stamp), so whoever holds
one can tell whether the file changed since, however the config reached them (`up` hands the
daemon's reloads to its worker). A refused version is not read again until it changes (its
contents, or its mode or owner) or a reload is asked for.

A file that sets nothing, or drops every job type of the config in force, is refused too: it
is a write in progress (an editor saving in place, `generator > jobs.toml`) far more often
than a wish, and taken it would fail every waiting job as of an unknown type and drop every
schedule with its held fires. A process is restarted to run without job types.

A process that found no config at start (none is needed for --exec jobs alone) looks for one
where it looked then, and follows the first that appears there as it would have at start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from jobctl.config import (
    Config,
    Stamp,
    check_schedules,
    file_stamp,
    find_config_path,
    load_config_file,
)
from jobctl.errors import ConfigError, JobctlError
from jobctl.text import shorten

if TYPE_CHECKING:
    from jobctl.observe.events import EventLog

KEEPING = "; keeping the previous configuration"


class WriteInProgress(ConfigError):
    """A file refused as one being written (see the module's docstring): said as a warning,
    not an error, since the next change of the file is most likely the whole of it."""


class NoneFound(ConfigError):
    """A reload asked for (SIGHUP) by a process that found no config at start, and finds none
    still: a warning, since it runs on as it did (a closed terminal sends SIGHUP too)."""


def refusal_level(exc: Exception) -> str:
    """The level of a `*.reload_failed` line: a broken file is an error; one being written,
    or none found, a warning."""
    return "warning" if isinstance(exc, (WriteInProgress, NoneFound)) else "error"


class ConfigFollower:
    """The config in force, and what became of the file since it was read. `schedules`: the
    file is refused as the cron daemon refuses it (a bad cron expression), not only as any
    command would."""

    def __init__(self, config: Config, *, schedules: bool) -> None:
        self._started_with = config.settings_at_start or config.settings
        self.config = config._replace(settings_at_start=self._started_with)
        self.schedules = schedules
        self._refused: Stamp | None = None
        # None found at start: a config built in code, with job types, is not one to replace.
        self._looking = config.path is None and config.says_nothing()

    def path(self) -> Path | None:
        """The file followed: the one read, or, for a process that found none at start, the
        one it would find now ($JOBCTL_CONFIG, ./jobs.toml, the XDG path): a few stats."""
        if self.config.path is not None or not self._looking:
            return self.config.path
        return find_config_path(None)

    def stale(self) -> bool:
        """Whether the file is neither the version in force nor one already refused. A
        config that is no regular file (a FIFO, a device) is read once: a second read would
        wait for a writer, in the middle of a worker's loop."""
        path = self.path()
        if path is None or file_stamp(path) in (self.config.stamp, self._refused):
            return False
        try:
            return stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            return True  # gone: re-read, and refused with a line (see read)

    def read(self) -> Config:
        """The file as it is now, checked; not yet in force (see adopt). A JobctlError for a
        version that cannot be taken: the config in force stays, and that version is not
        read again until it changes."""
        path = self.path()
        if path is None:
            raise NoneFound(_NONE_FOUND)
        stamp = file_stamp(path)
        try:
            config = load_config_file(path, settle=True)
            _check_not_emptied(config, self.config)
            return check_schedules(config) if self.schedules else config
        except JobctlError:
            self._refused = stamp
            raise
        except (ValueError, RecursionError, MemoryError) as exc:
            # Whatever slips past the config's own checks refuses this version as a bad edit
            # would: out of a worker's or daemon's loop it killed the process, its jobs too.
            self._refused = stamp
            raise ConfigError(f"{path}: cannot read config: {shorten(str(exc), 120)}") from None

    def refuse(self, config: Config) -> None:
        """A version read fine that the caller could not take (its schedules would not plan)."""
        self._refused = config.stamp

    def adopt(self, config: Config) -> None:
        self.config = config._replace(settings_at_start=self._started_with)


_NONE_FOUND = (
    "no config found: set JOBCTL_CONFIG, or create ./jobs.toml or"
    " $XDG_CONFIG_HOME/jobctl/jobs.toml (a file appearing there is read)"
)


def schedules_plan(config: Config) -> bool:
    """Whether every cron expression of `config` parses: a worker started with such a
    config refuses a reload that breaks one, as the cron daemon does, so that no process
    takes half of an edit (`up`'s daemon checks its config before it starts; a lone
    worker, started with a bad cron line as it may be, has nothing to keep)."""
    try:
        check_schedules(config)
    except JobctlError:
        return False
    return True


def _check_not_emptied(config: Config, in_force: Config) -> None:
    """Refuse a version that sets nothing, or that has no job type where the config in
    force has some (see the module's docstring)."""
    if config.says_nothing() and not in_force.says_nothing():
        raise WriteInProgress(
            f"{config.path} sets nothing (it is empty, or comments alone): taken for a write"
            " in progress, and read again when it changes"
        )
    if not config.jobs and in_force.jobs:
        raise WriteInProgress(
            f"{config.path} defines no job types, where the configuration in force has"
            f" {len(in_force.jobs)}: taken for a write in progress, and read again when it"
            " changes (restart to run without job types)"
        )


def restart_needed(
    old: Config, new: Config, names: tuple[str, ...], process: InForce, outside: set[str]
) -> list[str]:
    """The settings of `names` a restart would change: those `new` changes (settings_changed)
    but for those the command line gave (`outside`: a restart keeps them) and those whose new
    value is the one in force already (the same file spelled otherwise)."""
    configured = as_configured(new)
    return [
        name
        for name in settings_changed(old, new, names)
        if name not in outside and not process.holds(name, configured.get(name))
    ]


def as_configured(config: Config) -> dict[str, object]:
    """The settings `config` gives a process started with it alone, of those the command line
    can set too, resolved as the process resolves them."""
    from jobctl.config import configured_db
    from jobctl.observe.events import LEVELS

    settings = config.settings
    return {
        "db": configured_db(config),
        "log_format": settings.log_format,
        "log_level": LEVELS.get(settings.log_level, LEVELS["info"]),
    }


class InForce:
    """What a running process uses of the settings the command line can give: its store's
    location and its event log's format and level."""

    def __init__(self, location: str, log: EventLog) -> None:
        self.location, self.log = location, log

    def holds(self, name: str, value: object) -> bool:
        """Whether `value` of setting `name` (as as_configured gives it) is the one in force."""
        if name == "db":
            return isinstance(value, str) and same_database(value, self.location)
        if name == "log_format":
            return value == self.log.fmt
        if name == "log_level":
            return value == self.log.threshold
        return False

    def given_outside(self, config: Config) -> set[str]:
        """The settings the command line gave over `config`'s (--db, --log-format...): a
        restart keeps them, whatever the config comes to say."""
        configured = as_configured(config)
        return {name for name, value in configured.items() if not self.holds(name, value)}


def settings_changed(old: Config, new: Config, names: tuple[str, ...]) -> list[str]:
    """Which of the settings `names`, read by a process when it starts only, a reload would
    change: said as `*.restart_needed`, since the process keeps the values it started with.
    `old` is the config in force, which carries them (see ConfigFollower): a file edited
    back to its first state needs no restart, whatever versions came in between."""
    started = old.settings_at_start or old.settings
    return [name for name in names if getattr(new.settings, name) != getattr(started, name)]


def same_database(location: str, other: str) -> bool:
    """Whether two locations name one database: a SQLite file however it is spelled
    (relative, sqlite:///PATH, ~), a Redis one by all but its password (a store shows its
    location without it)."""
    servers = [_on_server(location), _on_server(other)]
    if all(servers):
        from jobctl.store.redis.location import parse_location

        try:
            return parse_location(location).shown == parse_location(other).shown
        except JobctlError:
            return location == other
    return not any(servers) and _as_file(location) == _as_file(other)


def _on_server(location: str) -> bool:
    return location.lower().startswith(("redis://", "rediss://"))


def _as_file(location: str) -> str:
    if location.lower().startswith("sqlite://"):
        location = location[len("sqlite://") :]
    return os.path.realpath(os.path.expanduser(location))
