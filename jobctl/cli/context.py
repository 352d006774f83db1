"""The global options of one call (--config, --db, --log-format, --log-level) and what
they lead to: the config, the database, the event log.

Apart from the typer application (see jobctl.cli.app) so that a call typer is not needed
for (see jobctl.cli.fastpath) reads them the same way."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobctl.config import Config
    from jobctl.observe.events import EventLog
    from jobctl.store import Store


class Globals:
    """The global options of one call, and the config they lead to (loaded once, on demand).

    A plain class: a dataclass would cost every call its code generation at start-up."""

    __slots__ = ("_config", "config_path", "db", "lenient", "log_format", "log_level")

    def __init__(
        self,
        config_path: str | None = None,
        db: str | None = None,
        log_format: str | None = None,
        log_level: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.db = db
        self.log_format = log_format
        self.log_level = log_level
        self._config: Config | None = None
        # A command that needs the database only (list, cancel, wait...) goes on without a
        # broken config when --db or $JOBCTL_DB names the database: see config().
        self.lenient = False

    def set_options(
        self,
        config: str | None,
        db: str | None,
        log_format: str | None,
        log_level: str | None,
    ) -> None:
        """Take the global options of this call, refusing values no command could use."""
        from jobctl.config import LOG_FORMATS, LOG_LEVELS
        from jobctl.errors import UsageError

        # Any case, as --state takes it: `--log-level DEBUG` is no other level.
        if log_format is not None and log_format.lower() not in LOG_FORMATS:
            raise UsageError(f"--log-format: expected text or json, got {log_format!r}")
        if log_level is not None and log_level.lower() not in LOG_LEVELS:
            raise UsageError(
                f"--log-level: expected debug, info, warning or error, got {log_level!r}"
            )
        # An empty path (an unset shell variable: --db "$DB") is a mistake, not a wish for
        # the default: quietly falling back would use another config, or queue into another
        # database.
        if config == "":
            raise UsageError("--config: empty path (give a config file)")
        if db == "":
            raise UsageError("--db: empty path (give a SQLite file or a redis:// URL)")
        self.config_path = config
        self.db = db
        self.log_format = None if log_format is None else log_format.lower()
        self.log_level = None if log_level is None else log_level.lower()

    def event_log(self) -> "EventLog":
        """The event log of long-running commands: --log-format/--log-level, else settings."""
        from jobctl.observe.events import EventLog

        settings = self.config().settings
        fmt = self.log_format or settings.log_format
        level = self.log_level or settings.log_level
        return EventLog(fmt=fmt, level=level)

    def events_format(self) -> str | None:
        """The event log's format as far as known yet (--log-format, else the settings of
        a config loaded already), without loading one: None before then."""
        if self.log_format is not None:
            return self.log_format
        return None if self._config is None else self._config.settings.log_format

    def config(self, required: bool = False) -> "Config":
        if self._config is None or (required and self._config.path is None):
            from jobctl.config import EMPTY_CONFIG, load_config
            from jobctl.errors import ConfigError

            try:
                self._config = load_config(self.config_path, required=required)
            except ConfigError as exc:
                # An edit with a typo must not stop an operator from listing or cancelling
                # jobs, nor fail a CI step's wait: the database needs no config when named.
                named = self.db is not None or os.environ.get("JOBCTL_DB")
                if not (self.lenient and named and not required):
                    raise
                from jobctl.text import say

                say(f"jobctl: warning: {exc} (going on without it: the database is named)")
                self._config = EMPTY_CONFIG
        return self._config

    def use_config(self, config: "Config") -> None:
        """A reloaded config replaces the loaded one for everything that asks later."""
        self._config = config

    def db_location(self) -> str:
        """--db, else $JOBCTL_DB, else [settings] db, else the XDG state directory. An empty
        --db never gets here (see set_options): taken as unset, it would quietly pick another
        one."""
        if self.db is not None:
            return self.db
        env = os.environ.get("JOBCTL_DB")
        if env:
            return env
        from jobctl.config import configured_db

        return configured_db(self.config())

    def store(
        self,
        *,
        create: bool = True,
        durability: str | None = None,
        service: bool = False,
        timeout: float | None = None,
    ) -> "Store":
        """The store the command works on. A command that waits long for a lock says so on
        stderr (a service logs its events instead). `timeout`: see open_store."""
        from jobctl.store import open_store

        location = self.db_location()
        if create:
            _refuse_a_far_missing_folder(location)
        store = open_store(
            location,
            durability=durability or self.config().settings.durability,
            create=create,
            timeout=timeout,
        )
        if store.upgraded_from is not None:
            from jobctl.text import say

            say(  # services too: a log line alone would go unseen where it matters most
                f"jobctl: note: upgraded {store.location} from schema version"
                f" {store.upgraded_from}: an older jobctl cannot open it any more (see"
                " `jobctl --version`)"
            )
        if not service:
            from jobctl.text import say

            location = store.location
            store.on_lock_wait = lambda: say(
                f"jobctl: note: waiting for {location}: another process holds it locked"
                " (up to 30s; Ctrl-C gives up)"
            )
        return store

    def database_absent(self) -> bool:
        """Whether the database is a file not made yet: a command that would be refused on
        an empty one (a job to run after another) says so before opening it, which would
        make it, so that the refusal leaves no file behind."""
        from jobctl.store import location_kind

        kind, path = location_kind(self.db_location())
        return kind in ("path", "sqlite") and not os.path.lexists(Path(path).expanduser())


def _refuse_a_far_missing_folder(location: str) -> None:
    """A database named (--db, $JOBCTL_DB, [settings] db) gets its folder made only when the
    folder's parent exists, as a log folder does: `--db /srv/jobctl/q.db` with /srv/jobctl
    missing is made, but a typo (`/sr/jobctl/q.db`) or a disk not mounted made every folder
    down to it, and the jobs went there without a word. The default location's folders are
    all made (a new account has no ~/.local/state)."""
    from jobctl.errors import StoreError

    problem = far_missing_folder(location)
    if problem is not None:
        raise StoreError(problem)


def far_missing_folder(location: str) -> str | None:
    """Why _refuse_a_far_missing_folder refuses `location`, found without making anything, so
    that `validate` tells what a worker would refuse by the same rule; None when it would
    not (a server's location, or one open_store refuses with its own words)."""
    from jobctl.store import location_kind

    kind, path = location_kind(location)
    if kind not in ("path", "sqlite"):
        return None
    folder = Path(path).expanduser().parent
    if os.path.lexists(folder):
        from jobctl.store.sqlite.files import missing_link_target_folder

        return missing_link_target_folder(Path(path).expanduser())
    if os.path.lexists(folder.parent):
        return None
    from jobctl.config import default_db

    if path == default_db():  # (asked last: without a home it is refused)
        return None
    return (
        f"database {path}: neither its folder {folder} nor {folder.parent} exists (a"
        f" typo, or a disk not mounted?): make the folder first (mkdir -p -m 700 {folder})"
    )


STATE = Globals()
