"""The typer application, its global options, and what every command shares.

Commands import their heavy modules inside the function body: `jobctl enqueue` runs in
shell loops and cron lines, so start-up must not pay for rich, croniter or the worker.
Modules whose functions typer inspects (this one, queue.py, completers.py) do without `from
__future__ import annotations`: typer reads every signature on each call, and string
annotations would be compiled and evaluated anew each time.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jobctl import __version__

if TYPE_CHECKING:
    from jobctl.config import Config
    from jobctl.observe.events import EventLog
    from jobctl.store import Store

app = typer.Typer(
    name="jobctl",
    help="A durable job queue, worker pool and cron daemon in one command.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Globals:
    """The global options of one call, and the config they lead to (loaded once, on demand).

    A plain class: a dataclass would cost every call its code generation at start-up."""

    __slots__ = ("_config", "config_path", "db", "log_format", "log_level")

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

    def event_log(self) -> "EventLog":
        """The event log of long-running commands: --log-format/--log-level, else settings."""
        from jobctl.observe.events import EventLog

        settings = self.config().settings
        fmt = self.log_format or settings.log_format
        level = self.log_level or settings.log_level
        return EventLog(fmt=fmt, level=level)

    def config(self, required: bool = False) -> "Config":
        if self._config is None or (required and self._config.path is None):
            from jobctl.config import load_config

            self._config = load_config(self.config_path, required=required)
        return self._config

    def use_config(self, config: "Config") -> None:
        """A reloaded config replaces the loaded one for everything that asks later."""
        self._config = config

    def db_location(self) -> str:
        """--db, else $JOBCTL_DB, else [settings] db, else the XDG state directory. An empty
        --db never gets here (see main): taken as unset, it would quietly pick another one."""
        if self.db is not None:
            return self.db
        env = os.environ.get("JOBCTL_DB")
        if env:
            return env
        config = self.config()
        if config.settings.db:
            if config.settings.db.startswith(("redis://", "rediss://", "sqlite://")):
                return config.settings.db
            path = Path(config.settings.db).expanduser()
            return str(path if path.is_absolute() else config.base_dir / path)
        state = os.environ.get("XDG_STATE_HOME") or os.path.join(
            os.path.expanduser("~"), ".local", "state"
        )
        return os.path.join(state, "jobctl", "jobctl.db")

    def store(self, *, create: bool = True, durability: str | None = None) -> "Store":
        from jobctl.store import open_store

        return open_store(
            self.db_location(),
            durability=durability or self.config().settings.durability,
            create=create,
        )


STATE = Globals()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jobctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Config file (default: $JOBCTL_CONFIG, ./jobs.toml, "
            "$XDG_CONFIG_HOME/jobctl/jobs.toml).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="FILE",
            help="The queue: a SQLite file, or redis://[:password@]host:port/N (default: "
            "$JOBCTL_DB, [settings] db, $XDG_STATE_HOME/jobctl/jobctl.db).",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="Event lines on stderr: text or json (default: [settings] log_format, text).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="debug, info, warning or error (default: [settings] log_level, info).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """A durable job queue, worker pool and cron daemon in one command.

    Exit codes: 0 ok, 1 failed operation (e.g. a job ended dead), 2 bad usage, config or
    payload, 3 database unusable, 124 wait timed out.
    """
    from jobctl.errors import UsageError

    if log_format is not None and log_format not in ("text", "json"):
        raise UsageError(f"--log-format: expected text or json, got {log_format!r}")
    if log_level is not None and log_level not in ("debug", "info", "warning", "error"):
        raise UsageError(f"--log-level: expected debug, info, warning or error, got {log_level!r}")
    # An empty path (an unset shell variable: --db "$DB") is a mistake, not a wish for the
    # default: quietly falling back would use another config, or queue into another database.
    if config == "":
        raise UsageError("--config: empty path (give a config file)")
    if db == "":
        raise UsageError("--db: empty path (give a SQLite file or a redis:// URL)")
    STATE.config_path = config
    STATE.db = db
    STATE.log_format = log_format
    STATE.log_level = log_level
