"""Following the config file while a process runs: the one rule by which workers and the cron
daemon notice an edit, read it, and refuse a broken one.

A config carries the stamp of the file it was read from (Config.stamp), so whoever holds
one can tell whether the file changed since, however the config reached them (`up` hands the
daemon's reloads to its worker). A refused version is not read again until it changes.
"""

from __future__ import annotations

import os
import stat

from jobctl.config import Config, check_schedules, file_stamp, load_config_file
from jobctl.errors import JobctlError

KEEPING = "; keeping the previous configuration"


class ConfigFollower:
    """The config in force, and what became of the file since it was read. `schedules`: the
    file is refused as the cron daemon refuses it (a bad cron expression), not only as any
    command would."""

    def __init__(self, config: Config, *, schedules: bool) -> None:
        self.config = config
        self.schedules = schedules
        self._refused: tuple[int, int, int] | None = None

    def stale(self) -> bool:
        """Whether the file is neither the version in force nor one already refused. A
        config that is no regular file (a FIFO, a device) is read once: a second read would
        wait for a writer, in the middle of a worker's loop."""
        path = self.config.path
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
        path = self.config.path
        assert path is not None
        stamp = file_stamp(path)
        try:
            config = load_config_file(path, settle=True)
            return check_schedules(config) if self.schedules else config
        except JobctlError:
            self._refused = stamp
            raise

    def refuse(self, config: Config) -> None:
        """A version read fine that the caller could not take (its schedules would not plan)."""
        self._refused = config.stamp

    def adopt(self, config: Config) -> None:
        self.config = config


def settings_changed(old: Config, new: Config, names: tuple[str, ...]) -> list[str]:
    """Which of the settings `names`, read by a process when it starts only, a reload would
    change: said as `*.restart_needed`, since the process keeps the old values."""
    return [name for name in names if getattr(new.settings, name) != getattr(old.settings, name)]
