"""jobs.toml -> validated, immutable records.

Validation is strict and every error names the file, the line (where it can be found),
the table and the key, so a typo is fixed at once instead of discovered at 3 a.m.

The records are NamedTuples, not frozen dataclasses: every `jobctl enqueue` loads the config,
and a dataclass costs each call its code generation (about 1 ms a class) at start-up. (No
`from __future__ import annotations` either: see jobctl.models.)
"""

import math
import os
import re
import stat
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from jobctl.durations import parse_duration
from jobctl.errors import ConfigError, JobctlError
from jobctl.models import Rate
from jobctl.sizes import parse_size
from jobctl.text import shorten

# \Z, not $: $ also matches before a final newline, and a name "b\n" split event lines.
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
# JOB_NAME in words, for every message that refuses a name: a name such as `-x`, `.` or `:` is
# made of the characters allowed, and is refused for its first one.
NAME_RULE = (
    "use ASCII letters, digits, '_', '-', '.', ':', starting with a letter or a digit (at most 64)"
)
MAX_CONFIG_BYTES = 16 << 20  # far above any real config; stops a read of /dev/zero
# The keys of a job type that a schedule with an inline `command` takes for it (its own
# jitter and description are the schedule's alone; its queue and priority, its job type's too).
_INLINE_JOB_KEYS = (
    "command",
    "shell",
    "cwd",
    "env",
    "timeout",
    "kill_grace",
    "max_attempts",
    "backoff",
    "backoff_max",
    "user",
    "group",
    "on_failure",
    "on_dead",
    "hook_timeout",
)
QUEUE_NAME = JOB_NAME
MIN_LOG_BYTES = 1024  # [settings] log_max_bytes: below it a cut log keeps next to nothing
MIN_PAYLOAD_LIMIT = 1024  # [settings] max_payload: below it most payloads, or all, are refused
MAX_PAYLOAD_LIMIT = 127 * 1024  # under Linux's MAX_ARG_STRLEN (128 KiB) with the variable's name
ADHOC_JOB = "exec"  # the job name of ad-hoc commands queued with `enqueue --exec`
DEFAULT_QUEUE = "default"
LOG_FORMATS = ("text", "json")  # of event lines: [settings] log_format, --log-format
LOG_LEVELS = ("debug", "info", "warning", "error")

T = TypeVar("T")
# What tells that a config file changed since it was read (see file_stamp).
Stamp = tuple[int, int, int, int]
# Patterns only errors and schedules need: compiled where used (through re's cache), since
# every `jobctl enqueue` loads the config.
_HEADER = r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$"
_ANY_HEADER = r"^\s*\["
_NOTHING: Mapping[str, Any] = MappingProxyType({})  # the shared default of mapping fields


class JobType(NamedTuple):
    """A `[jobs.NAME]` table: what to run, and how to retry it."""

    name: str
    command: tuple[str, ...]
    shell: bool = False
    cwd: str | None = None
    env: Mapping[str, str] = _NOTHING
    timeout: float | None = None
    kill_grace: float = 10.0
    max_attempts: int = 3
    backoff: float = 1.0
    backoff_max: float = 3600.0
    jitter: bool = True
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    description: str | None = None
    user: str | None = None
    group: str | None = None
    on_failure: tuple[str, ...] | None = None
    on_dead: tuple[str, ...] | None = None
    hook_timeout: float | None = None  # None: [settings] hook_timeout

    def working_dir(self, base_dir: Path) -> str | None:
        """Where its jobs start, when it says: `cwd`, `~` expanded, relative to the
        config's folder; absolute, as a job run as another `user` enters it from /, where
        `sub` of a config found as `./jobs.toml` was no folder."""
        if self.cwd is None:
            return None
        # `~` is the home of whoever reads the file, as in [settings] db and log_dir.
        cwd = os.path.expanduser(self.cwd)
        return cwd if os.path.isabs(cwd) else str((base_dir / cwd).absolute())


class ScheduleSpec(NamedTuple):
    """A schedule as written; cron.py checks the expression and computes fires."""

    name: str
    cron: str
    job: str
    payload: Mapping[str, Any] = _NOTHING
    timezone: str | None = None
    overlap: str = "skip"
    catch_up: str = "latest"
    catch_up_limit: int = 100
    jitter: float = 0.0
    enabled: bool = True
    priority: int | None = None
    queue: str | None = None
    description: str | None = None
    line: int | None = None


class Settings(NamedTuple):
    """The `[settings]` table, with every default filled in."""

    db: str | None = None
    lease: float = 30.0
    max_payload: int = 64 * 1024
    log_dir: str | None = None
    log_max_bytes: int = 10 * 1024 * 1024
    timezone: str | None = None
    durability: str = "full"
    # Workers delete finished jobs (and their logs) this long after they end; None keeps them.
    keep_succeeded: float | None = None
    keep_dead: float | None = None
    keep_cancelled: float | None = None
    log_format: str = "text"
    log_level: str = "info"
    # Defaults for job types that name no hooks of their own.
    on_failure: tuple[str, ...] | None = None
    on_dead: tuple[str, ...] | None = None
    hook_timeout: float = 30.0
    # Whether workers run `enqueue --exec` commands; None: yes on SQLite, no on a shared store
    # (see exec_allowed).
    allow_exec: bool | None = None
    # The attempts of an `enqueue --exec` job that gives no --max-attempts (see exec_job_type).
    # One, as pueue, task-spooler and at(1) run a command typed at a shell: a failed
    # `./deploy.sh` or `curl -X POST` is not run twice more unasked.
    exec_max_attempts: int = 1


def exec_allowed(settings: Settings, store_location: str) -> bool:
    """Whether a worker of this config runs jobs that carry their own command (`enqueue
    --exec`). A SQLite file is private to its user, and whoever can write it can run any
    command as that user already; a shared store's (redis://) records are written by
    whoever holds its password, who must not thereby run any command on every worker host,
    as its user: there only the config's job types run, unless `allow_exec = true`."""
    if settings.allow_exec is not None:
        return settings.allow_exec
    return not shared_store(store_location)


def shared_store(location: str) -> bool:
    """Whether a database location is a server's (redis://, rediss://), whose records
    anyone holding its password writes, rather than a file private to its user. Its scheme
    in any case, as open_store reads it: `REDIS://` is the same server."""
    from jobctl.store import location_kind

    return location_kind(location)[0] == "redis"


class Config(NamedTuple):
    """A whole config file, checked; EMPTY_CONFIG when there is none."""

    path: Path | None
    settings: Settings
    jobs: Mapping[str, JobType]
    schedules: Mapping[str, ScheduleSpec] = _NOTHING
    # [queues.NAME] max_running: at most that many of the queue's jobs run at once, counting
    # every worker of the database (a pueue group's `parallel`).
    queue_limits: Mapping[str, int] = _NOTHING
    # [queues.NAME] rate: at most so many of the queue's attempts start within any window of
    # time, counting every worker of the database (BullMQ's limiter, Celery's rate_limit).
    queue_rates: Mapping[str, Rate] = _NOTHING
    # The file's stamp (see file_stamp) as it was read: whoever holds this config can tell
    # whether the file changed since, however the config reached them.
    stamp: Stamp | None = None
    # In a running process, the settings of the config it started with (see
    # reloads.ConfigFollower): those it reads at start only are compared with them on a reload.
    settings_at_start: Settings | None = None
    # What is valid but has no effect (`shell = true` on a list command): `validate` warns.
    notes: tuple[str, ...] = ()
    # The text it was read from: what `validate` finds on this host is told at its line
    # (see problem_at), even when the file was a pipe that cannot be read twice.
    text: str = ""
    # Every [queues.NAME] table, with a limit or none: a queue declared is a known one (for
    # completion, and for enqueue's word on a --queue no one uses), as pueue's groups are.
    queues: tuple[str, ...] = ()

    def job_type(self, name: str) -> JobType:
        try:
            return self.jobs[name]
        except KeyError:
            where = f" in {self.path}" if self.path else " (no config file found)"
            known = ", ".join(sorted(self.jobs)) or "none"
            raise ConfigError(f"unknown job {name!r}{where}; defined jobs: {known}") from None

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def exec_job_type(self) -> JobType:
        """What an `enqueue --exec` job is run as: DEFAULT_JOB, with `[settings]
        exec_max_attempts` for the attempts of one that gives no --max-attempts."""
        attempts = self.settings.exec_max_attempts
        if attempts == DEFAULT_JOB.max_attempts:
            return DEFAULT_JOB
        return DEFAULT_JOB._replace(max_attempts=attempts)

    def says_nothing(self) -> bool:
        """Whether the file sets nothing at all (empty, or only comments): as a reload, it
        is a write in progress far more often than a wish for no job types or schedules."""
        return (
            not self.jobs and not self.schedules and not self.queues and self.settings == Settings()
        )


DEFAULT_JOB = JobType(name=ADHOC_JOB, command=())
EMPTY_CONFIG = Config(path=None, settings=Settings(), jobs={})


# ---------------------------------------------------------------------------------------------
# Locating the config


def find_config_path(explicit: str | None) -> Path | None:
    """--config, then $JOBCTL_CONFIG, then ./jobs.toml, then $XDG_CONFIG_HOME/jobctl/jobs.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("JOBCTL_CONFIG")
    if env:
        return Path(env)
    local = Path("jobs.toml")
    if os.path.lexists(local):  # even a broken link or a loop: its error says so
        return local
    from jobctl.fsutil import xdg_base

    candidate = Path(xdg_base("XDG_CONFIG_HOME", ".config")) / "jobctl" / "jobs.toml"
    if candidate.is_file():
        return candidate
    return None


def load_config(explicit: str | None = None, *, required: bool = False) -> Config:
    path = find_config_path(explicit)
    if path is None:
        if required:
            from jobctl.fsutil import xdg_base

            # Every place, in the order looked in: a per-user setup belongs in the last one.
            user_config = Path(xdg_base("XDG_CONFIG_HOME", ".config")) / "jobctl" / "jobs.toml"
            raise ConfigError(
                "no config found: pass --config PATH, set JOBCTL_CONFIG, or create ./jobs.toml"
                f" or {user_config} ($XDG_CONFIG_HOME/jobctl/jobs.toml), looked for in that order"
            )
        return EMPTY_CONFIG
    return load_config_file(path)


# An editor that saves in place leaves the file empty, or cut short, for a moment: a read
# that finds it so within this many seconds of its last change waits and reads it again.
_SETTLE = 0.2


def load_config_file(
    path: Path,
    *,
    settle: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Config:
    """The config in `path`, checked. With `settle` (a worker or daemon reloading it while
    it runs), a file found empty or unparsable right after a change is read again once its
    writer has had time to finish: half a save must not become the config in force (an
    empty one has no job types at all). A one-shot command just reports what it read."""
    stamp, raw = _read_config(path)
    age = clock() - stamp[2] / 1e9
    if settle and 0 <= age < _SETTLE:
        try:
            if raw.strip():
                return _parse_file(path, stamp, raw)
        except ConfigError:
            pass
        sleep(_SETTLE - age)
        stamp, raw = _read_config(path)
    return _parse_file(path, stamp, raw)


def _check_trusted(path: Path, info: os.stat_result) -> None:
    """Refuse a config another user could have written: its commands run as this user (cron
    refuses such a crontab too, git a repository another user owns). The file must be
    private, by the rule the database and log folders follow (fsutil.not_private), to this
    user or to root, and so must its folder, unless the folder is root's and sticky (/tmp):
    there only its owner may replace the file. A `./jobs.toml` in a shared folder would
    otherwise run whatever its writer put there."""
    from jobctl.fsutil import not_private, user_name

    if not stat.S_ISREG(info.st_mode):
        return  # /dev/null, a pipe: nothing another user keeps
    problem = not_private(info, owner=0, where=str(path))
    if problem is not None:
        raise ConfigError(
            f"{path} {problem}: its commands would run as {user_name(os.geteuid())}; make it"
            " yours (or root's) and not group- or world-writable (chown; chmod go-w FILE)"
            + _or_pass_it_by(path)
        )
    # The folder of the file read, through any symlink, and the link's own folder: either
    # one open to others lets them swap the file.
    for parent in dict.fromkeys((Path(os.path.realpath(path)).parent, path.parent)):
        try:
            folder = os.stat(parent)
        except OSError:
            continue
        sticky = folder.st_mode & stat.S_ISVTX and folder.st_uid == 0  # (its owner may delete)
        problem = None if sticky else not_private(folder, owner=0, where=str(parent))
        if problem is not None:
            raise ConfigError(
                f"{path}: its folder {parent} {problem}: another user could replace the"
                f" file, whose commands run as {user_name(os.geteuid())}; make the folder yours"
                " (or root's) and not group- or world-writable (chown; chmod go-w FOLDER)"
                + _or_pass_it_by(path)
            )


def _or_pass_it_by(path: Path) -> str:
    """For the ./jobs.toml found in the current folder, which may rightly be another user's
    (a colleague's checkout, a deploy user's /srv/app): the ways to leave it out, where a
    chown of someone else's file is no fix."""
    if path != Path("jobs.toml"):
        return ""
    return (
        ", or, where it is rightly another's, leave it out: run jobctl from another folder, or"
        " name your config (--config FILE or $JOBCTL_CONFIG, read before ./jobs.toml)"
    )


def _read_config(path: Path) -> tuple[Stamp, bytes]:
    try:
        with path.open("rb") as handle:
            # The stamp before the read: a write after it makes the file's stamp differ, and
            # the config stale.
            info = os.fstat(handle.fileno())
            stamp = _stamp(info)
            _check_trusted(path, info)
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:  # /dev/zero, a log given by mistake: not read whole
            raise ConfigError(f"{path}: over {MAX_CONFIG_BYTES >> 20} MiB, too large for a config")
        return stamp, raw
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None


def _parse_file(path: Path, stamp: Stamp, raw: bytes) -> Config:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    # A byte-order mark (a file saved by Windows Notepad) starts the text, not a statement.
    return parse_config(text.removeprefix("\ufeff"), path)._replace(stamp=stamp)


def file_stamp(path: Path | None) -> Stamp | None:
    """What tells that a config file changed since it was read: its inode, size,
    modification time and change time (None: no file). Workers and the cron daemon re-read
    it on a change; the change time is there for a chmod or chown, which alone can turn a
    file refused for its permissions into one to take."""
    if path is None:
        return None
    try:
        return _stamp(path.stat())
    except OSError:
        return None


def _stamp(info: os.stat_result) -> Stamp:
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def parse_config(text: str, path: Path | None = None) -> Config:
    name = str(path) if path else "<config>"
    try:
        doc = tomllib.loads(text)
        return _Parser(doc, text, name, path).config()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(name, text, str(exc))) from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise ConfigError(f"{name}: invalid TOML: nested too deeply") from None
    except ValueError as exc:  # tomllib's int() of a number past sys.get_int_max_str_digits()
        raise ConfigError(_too_many_digits(name, text, exc)) from None


def _too_many_digits(name: str, text: str, exc: ValueError) -> str:
    """The `FILE:LINE:` error for a number too long for Python's int(): tomllib lets its
    ValueError out bare, with no position, and a worker reloading the file must refuse it
    as any other bad edit rather than die of it."""
    import sys

    most = sys.get_int_max_str_digits()
    for found in re.finditer(r"[0-9_]+", text):
        if found.end() - found.start() > most:
            line = text.count("\n", 0, found.start()) + 1
            return f"{name}:{line}: invalid TOML: a number of over {most} digits"
    return f"{name}: invalid TOML: {shorten(str(exc), 120)}"


_TOML_AT = re.compile(r" \(at line (\d+), column (\d+)\)$")
# What a list-form hook may hold, thinking it filled: a shell variable, and a job command's
# {key} placeholder (a shell's own ${VAR} is not one).
_SHELL_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*")
_PAYLOAD_PLACEHOLDER = re.compile(r"(?<!\$)\{[A-Za-z_][A-Za-z0-9_.-]*\}")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
# Words of a string command that only a shell reads (see _Parser.note_shell_syntax).
_SHELL_OPERATORS = frozenset({">", ">>", "<", "|", "&&", "||", ";", "&", "2>&1", "&>", "2>"})
# The same operators written against a word: at its start (`>out.txt`, `|grep`, `2>/dev/null`),
# at its end (`cmd;`, `ls&&`, `cmd2>&1`, a trailing `&`), or between two plain words (`hi>out`,
# `x;y`, `a&&b`). Only there: the text of an argument holds them too (a URL's `?a=1&b=2`, a
# regex's `a|b`, sed's `s/a;b/c/`, jq's `.a | .b`, an arrow `a->b`), and is no mistake.
_ATTACHED_OPERATOR = re.compile(
    r"^(?:2>&1|&>|2>|>>|>|<|\|\||\||&&|;)[\w./~$-]"
    r"|[\w)\]}\"'](?:2>&1|>>|>|<|\|\||\||&&|;|&)$"
    r"|^[\w.-]*\w(?:>>|>|<|;|&&)[\w./~-]+$"
)
# A metavariable written in angle brackets (`--format=<x>`, `<name>`), not a redirection.
_ANGLE_BRACKETED = re.compile(r"<[^<>\s]*>")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def _quoted_words(text: str, count: int) -> list[bool]:
    """Which of the `count` words of a string command were written quoted or escaped (`psql
    -c "CHECKPOINT;"`): their operators are meant as text. Read from the text as written,
    quotes kept; where that reading does not line up with the command's words (quotes inside
    a word), every word is taken as quoted: a warning missed, not one given wrongly."""
    import shlex

    reader = shlex.shlex(text, posix=False)
    reader.whitespace_split = True
    reader.commenters = ""
    try:
        written = list(reader)
    except ValueError:
        return [True] * count
    if len(written) != count:
        return [True] * count
    return [any(mark in word for mark in "\"'\\") for word in written]


def _is_shell_operator(word: str) -> bool:
    """Whether a word of a string command run without a shell holds an operator that a shell
    would have read (see _ATTACHED_OPERATOR); not a phrase (a space in it: quoted on purpose),
    an option (`cut -d';'`) or a metavariable (`--format=<x>`), whose operators are text."""
    if word in _SHELL_OPERATORS:
        return True
    if word.startswith("-") or any(c.isspace() for c in word) or _ANGLE_BRACKETED.search(word):
        return False
    return _ATTACHED_OPERATOR.search(word) is not None


def _toml_error(name: str, text: str, message: str) -> str:
    """tomllib's error in the `FILE:LINE:` form of every other config error, which editors
    and CI annotations jump to ("at end of document": the last line)."""
    found = _TOML_AT.search(message)
    if found:
        line, column = found.groups()
        return f"{name}:{line}: invalid TOML: {message[: found.start()]} (column {column})"
    if message.endswith(" (at end of document)"):
        last = max(1, len(text.splitlines()))
        return (
            f"{name}:{last}: invalid TOML: {message.removesuffix(' (at end of document)')}"
            " (at the end of the file)"
        )
    return f"{name}: invalid TOML: {message}"


def host_zone_warning(config: Config) -> str | None:
    """Why some schedule will not follow $TZ (see timefmt.tz_ignored), when one follows
    the host's zone at all: it names no timezone, nor does [settings]."""
    if config.settings.timezone is not None:
        return None
    if all(spec.timezone is not None for spec in config.schedules.values()):
        return None
    from jobctl.timefmt import tz_ignored

    return tz_ignored()


def problem_at(config: Config) -> Callable[[str, str | None, str, str], str]:
    """What tells a problem found after loading (a `user` this host does not know) as the
    file's errors are told, `FILE:LINE: [section.name] key: message` (name None: the
    `[section]` itself): one reading of the file's lines serves every call, so that ten
    thousand schedules are not ten thousand reads."""
    path_name = str(config.path) if config.path else "<config>"
    parser = _Parser({}, config.text, path_name, config.path)

    def told(section: str, name: str | None, key: str, message: str) -> str:
        table = section if name is None else f"{section}.{_quote_key(name)}"
        return str(parser.fail(table, key, message))

    return told


def check_schedules(config: Config) -> Config:
    """Check every cron expression: kept out of plain loading so that `enqueue`, run from
    shell loops, never imports the cron module, nor does a config without schedules (a
    worker's start: some 10 ms)."""
    if not config.schedules:
        return config
    from jobctl import cron

    for spec in config.schedules.values():
        try:
            cron.parse(spec.cron)
        except JobctlError as exc:
            raise bad_cron(config, spec, exc) from None
    return config


def bad_cron(config: Config, spec: ScheduleSpec, exc: Exception) -> ConfigError:
    """A schedule's cron expression refused, told with its file, line and schedule."""
    where = f"{config.path}:{spec.line}" if spec.line else str(config.path or "<config>")
    return ConfigError(f"{where}: [schedules.{_quote_key(spec.name)}] cron: {exc}")


# ---------------------------------------------------------------------------------------------
# Validation


class _Parser:
    def __init__(self, doc: dict[str, Any], text: str, name: str, path: Path | None) -> None:
        self.doc = doc
        self.text = text
        self.lines = text.splitlines()
        self.name = name
        self.path = path
        self._headers: dict[tuple[str, ...], int] | None = None
        self._in_strings: frozenset[int] | None = None
        self.notes: list[str] = []

    # -- error reporting ---------------------------------------------------------------------

    def fail(self, table: str, key: str | None, message: str) -> ConfigError:
        line = self.locate(table, key)
        where = f"{self.name}:{line}" if line else self.name
        what = f"[{table}]" + (f" {key}" if key else "") if table else (key or "")
        return ConfigError(f"{where}: {_printable(what)}: {message}")

    def note(self, table: str, key: str, message: str) -> None:
        """A warning for `validate`, in the form of an error."""
        self.notes.append(str(self.fail(table, key, message)))

    def locate(self, table: str, key: str | None) -> int | None:
        """Best-effort line number of `key` in `[table]` (tomllib keeps no positions)."""
        if not table:
            return self.locate_top_level(key)
        parts = tuple(_split_table(table))
        # A key that is a table of its own header (`[jobs.a.env]`, `[queues."-q"]`): there.
        own = self.headers().get((*parts, key)) if key is not None else None
        if own is not None:
            return own + 1
        start = self.headers().get(parts)
        if start is None:  # an inline table (`a = { ... }`) or dotted keys (`s.cron = ...`)
            return self.locate_dotted(list(parts), key)
        if key is None:
            return start + 1
        key_re = re.compile(r"^\s*(" + re.escape(key) + r"|\"" + re.escape(key) + r"\")\s*[=.]")
        any_header = re.compile(_ANY_HEADER)
        inside = self.in_strings()
        for index in range(start + 1, len(self.lines)):
            line = self.lines[index]
            if index in inside:
                continue
            if any_header.match(line):
                break
            if key_re.match(line):
                return index + 1
        return start + 1

    def locate_dotted(self, parts: list[str], key: str | None) -> int | None:
        """The line of a table written without its own header: under the closest header
        above it (or before any header), the line whose dotted key starts with the rest of
        its name, the key itself first (`s.cron = ...`), else the table (`a = { ... }`)."""
        any_header = re.compile(_ANY_HEADER)
        for cut in range(len(parts) - 1, -1, -1):
            above = self.headers().get(tuple(parts[:cut])) if cut else -1
            if above is None:
                continue
            rest = parts[cut:]
            for words in ([*rest, key], rest) if key else (rest,):
                dotted = r"\s*\.\s*".join(rf'(?:{re.escape(w)}|"{re.escape(w)}")' for w in words)
                pattern = re.compile(rf"^\s*{dotted}\s*[=.]")
                inside = self.in_strings()
                for index in range(above + 1, len(self.lines)):
                    if index in inside:
                        continue
                    if any_header.match(self.lines[index]):
                        break
                    if pattern.match(self.lines[index]):
                        return index + 1
        return None

    def headers(self) -> dict[tuple[str, ...], int]:
        """Where each `[table]` header stands, found in one pass over the file: a config of
        ten thousand schedules must not be read ten thousand times."""
        if self._headers is None:
            found: dict[tuple[str, ...], int] = {}
            header = re.compile(_HEADER)
            inside = self.in_strings()
            for index, line in enumerate(self.lines):
                match = None if index in inside else header.match(line)
                if match:
                    parts = tuple(_split_table(match.group(1).strip()))
                    found.setdefault(tuple(p.strip() for p in parts), index)
            self._headers = found
        return self._headers

    def locate_top_level(self, key: str | None) -> int | None:
        if key is None:
            return None
        pattern = re.compile(
            r"^\s*(\[\[?\s*" + re.escape(key) + r"\s*[\].]|" + re.escape(key) + r"\s*[=.])"
        )
        inside = self.in_strings()
        for index, line in enumerate(self.lines):
            if index not in inside and pattern.match(line):
                return index + 1
        return None

    def in_strings(self) -> frozenset[int]:
        """The lines that begin inside a multi-line string (\"\"\"...\"\"\" or '''...'''):
        their text is a value's, however much it looks like a key or a header (a script's
        `timeout = 5`), so the locators pass them by."""
        if self._in_strings is None:
            found: set[int] = set()
            closing = ""  # the quotes that end the multi-line string open, if one is
            for index, line in enumerate(self.lines):
                if closing:
                    found.add(index)
                at = 0
                while at < len(line):
                    if closing:
                        end = _string_end(line, at, closing)
                        if end < 0:
                            break
                        closing, at = "", end
                        continue
                    char = line[at]
                    if char == "#":
                        break
                    if line.startswith(('"""', "'''"), at):
                        closing, at = line[at : at + 3], at + 3
                    elif char in "\"'":
                        end = _string_end(line, at + 1, char)
                        at = len(line) if end < 0 else end
                    else:
                        at += 1
            self._in_strings = frozenset(found)
        return self._in_strings

    # -- typed getters -----------------------------------------------------------------------

    def take(
        self,
        table: str,
        data: dict[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        default: Any,
        convert: Callable[[Any], Any] | None = None,
    ) -> Any:
        if key not in data:
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(table, key, f"expected {_kind_name(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.fail(table, key, f"expected {_kind_name(kinds)}, got {_toml_type(value)}")
        if convert is not None:
            try:
                return convert(value)
            except JobctlError as exc:
                raise self.fail(table, key, str(exc)) from None
        return value

    def duration(self, table: str, data: dict[str, Any], key: str, default: Any) -> Any:
        return self.take(table, data, key, str, default, parse_duration)

    def hook(self, table: str, data: dict[str, Any], key: str) -> tuple[str, ...] | None:
        """A notification command: an argv list, or a string run by /bin/sh -c. It learns
        about the job from its environment only, so no job data reaches a shell."""
        if key not in data:
            return None
        value = data[key]
        if value is False:  # none for this job type, whatever [settings] sets: see hook_for
            return ()
        if isinstance(value, str) and value.strip():
            return ("/bin/sh", "-c", value)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            self.note_unexpanded(table, key, value)
            return tuple(value)
        raise self.fail(
            table,
            key,
            "expected a command string, a non-empty list of strings, or false for none",
        )

    def note_unexpanded(self, table: str, key: str, argv: list[str]) -> None:
        """A list-form hook runs with no shell, and nothing fills in its job's {key}: a
        `$JOBCTL_ERROR` or `{src}` in it reaches the command as written. (A `sh -c` script
        in the list expands its own `$VAR`s, not `{key}`.)"""
        runs_shell = self.runs_a_shell_script(argv)
        for word in argv:
            found = None if runs_shell else _SHELL_VARIABLE.search(word)
            found = found or _PAYLOAD_PLACEHOLDER.search(word)
            if found is not None:
                self.note(
                    table,
                    key,
                    f"{found.group()!r} is passed as written: a list-form hook runs without a"
                    " shell and gets no {key} of the payload; write it as a string (run by"
                    " /bin/sh -c) reading $JOBCTL_* such as $JOBCTL_PAYLOAD",
                )
                return

    @staticmethod
    def runs_a_shell_script(argv: list[str]) -> bool:
        """Whether `argv` runs a shell on a script of its own: `sh -c`, with -c among
        combined flags too (`sh -ec`, `bash -lc`), and through env (`/usr/bin/env bash -c`,
        `env -i PATH=/bin sh -c`), as hooks are commonly written."""
        words = iter(argv)
        program = next(words, "")
        if os.path.basename(program) == "env":
            for word in words:
                if word in ("-u", "--unset", "-C", "--chdir"):
                    next(words, None)  # their argument
                elif not (word.startswith("-") or "=" in word):
                    program = word
                    break
        if os.path.basename(program) not in _SHELLS:
            return False
        for word in words:
            if word == "-c" or re.fullmatch(r"-[A-Za-z]*c[A-Za-z]*", word):
                return True
            if word in ("-o", "+o", "-O", "+O"):  # an option's name follows
                next(words, None)
            elif not word.startswith(("-", "+")):
                return False  # a script file: its words are its arguments
        return False

    def note_shell_syntax(self, table: str, argv: tuple[str, ...], text: str) -> None:
        """A string command runs without a shell unless `shell = true`: a crontab line's
        `> out.txt`, `&& make` or leading `FOO=1` is passed to the program as its words,
        and the job succeeds having done nothing of what was meant. A word quoted in the
        `text` as written is meant as it is (`"VACUUM;"`)."""
        found: str | None = argv[0] if argv and _ASSIGNMENT.match(argv[0]) else None
        taken_as = "taken for the program's name"
        if found is None:
            quoted = _quoted_words(text, len(argv))
            found = next(
                (w for w, q in zip(argv, quoted, strict=True) if not q and _is_shell_operator(w)),
                None,
            )
            taken_as = "passed to the program as one of its words"
        if found is not None:
            self.note(
                table,
                "command",
                f"{found!r} is shell syntax, but no shell runs a string command without"
                f" shell = true: it is {taken_as}; set shell = true, or split the command"
                " into the program's own words (a variable in env)",
            )

    def positive_duration(self, table: str, data: dict[str, Any], key: str, default: Any) -> Any:
        value: float | None = self.duration(table, data, key, default)
        if value is not None and value <= 0:
            raise self.fail(table, key, "must be longer than 0s")
        return value

    def keep(self, table: str, data: dict[str, Any], key: str) -> float | None:
        """A retention period: how long finished jobs stay before workers prune them."""
        value: float | None = self.duration(table, data, key, None)
        if value is not None and value <= 0:
            raise self.fail(table, key, "must be longer than 0s")
        return value

    def check_keys(self, table: str, data: dict[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                hint = _closest(key, allowed)
                extra = f" (did you mean {hint!r}?)" if hint else ""
                raise self.fail(table, key, f"unknown key{extra}")

    # -- tables ------------------------------------------------------------------------------

    def config(self) -> Config:
        self.check_keys("", self.doc, {"settings", "jobs", "schedules", "queues"})
        for top in ("settings", "jobs", "schedules", "queues"):
            if top in self.doc and not isinstance(self.doc[top], dict):
                raise self.fail("", top, "must be a table")
        settings = self.settings(self.doc.get("settings", {}))
        jobs_doc = self.doc.get("jobs", {})
        jobs: dict[str, JobType] = {}
        for name, data in jobs_doc.items():
            jobs[name] = self.job(name, data)
        schedules: dict[str, ScheduleSpec] = {}
        inline_jobs: dict[str, JobType] = {}
        for name, data in self.doc.get("schedules", {}).items():
            # Each schedule sees the [jobs] tables alone, not another schedule's inline job
            # type: whether a file is valid must not hang on the order of its tables.
            spec, inline = self.schedule(name, data, jobs, settings.max_payload)
            schedules[name] = spec
            if inline is not None:
                inline_jobs[inline.name] = inline
        jobs.update(inline_jobs)
        queues_doc = self.doc.get("queues", {})
        limits: dict[str, int] = {}
        rates: dict[str, Rate] = {}
        for name, data in queues_doc.items():
            limit, rate = self.queue(name, data)
            if limit is not None:
                limits[name] = limit
            if rate is not None:
                rates[name] = rate
        return Config(
            path=self.path,
            settings=settings,
            jobs=jobs,
            schedules=schedules,
            queue_limits=limits,
            queue_rates=rates,
            notes=tuple(self.notes),
            text=self.text,
            queues=tuple(queues_doc),
        )

    def queue(self, name: str, data: Any) -> tuple[int | None, Rate | None]:
        """A [queues.NAME] table: its max_running and its rate, each None when not set."""
        t = f"queues.{_quote_key(name)}"
        if not isinstance(data, dict):
            raise self.fail("queues", name, "must be a table")
        if not QUEUE_NAME.match(name):
            raise self.fail("queues", name, bad_queue_name(name))
        self.check_keys(t, data, {"max_running", "rate"})
        limit: int | None = self.take(t, data, "max_running", int, None)
        if limit is not None and not 1 <= limit <= 1_000_000:
            raise self.fail(t, "max_running", f"must be between 1 and 1000000, got {limit}")
        rate: Rate | None = self.take(t, data, "rate", str, None, _parse_rate)
        return limit, rate

    def settings(self, data: dict[str, Any]) -> Settings:
        t = "settings"
        allowed = {
            "db",
            "lease",
            "max_payload",
            "log_dir",
            "log_max_bytes",
            "timezone",
            "durability",
            "keep_succeeded",
            "keep_dead",
            "keep_cancelled",
            "log_format",
            "log_level",
            "on_failure",
            "on_dead",
            "hook_timeout",
            "allow_exec",
            "exec_max_attempts",
        }
        self.check_keys(t, data, allowed)
        log_format = self.take(t, data, "log_format", str, "text")
        if log_format not in LOG_FORMATS:
            raise self.fail(t, "log_format", "must be 'text' or 'json'")
        log_level = self.take(t, data, "log_level", str, "info")
        if log_level not in LOG_LEVELS:
            raise self.fail(t, "log_level", "must be 'debug', 'info', 'warning' or 'error'")
        lease = self.duration(t, data, "lease", 30.0)
        if lease < 1:
            raise self.fail(t, "lease", "must be at least 1s")
        max_payload = self.take(t, data, "max_payload", (int, str), 64 * 1024, parse_size)
        if max_payload < MIN_PAYLOAD_LIMIT:
            raise self.fail(
                t,
                "max_payload",
                f"must be at least 1KiB, got {max_payload} bytes: every job's payload is held"
                " to it, an empty one ({}) of an enqueue --exec job too, so 0 would refuse"
                " every enqueue (it is no 'unlimited'; the most is 127KiB)",
            )
        if max_payload > MAX_PAYLOAD_LIMIT:
            raise self.fail(
                t,
                "max_payload",
                "must be at most 127KiB: a job gets its payload in one environment string"
                " (JOBCTL_PAYLOAD), and Linux starts no process with one over 128 KiB",
            )
        durability = self.take(t, data, "durability", str, "full")
        if durability not in ("full", "normal", "off"):
            raise self.fail(t, "durability", "must be 'full', 'normal' or 'off'")
        log_max_bytes = self.take(t, data, "log_max_bytes", (int, str), 10 << 20, parse_size)
        if log_max_bytes < MIN_LOG_BYTES:
            raise self.fail(
                t,
                "log_max_bytes",
                "must be at least 1KiB: a log cut back is its last log_max_bytes after a line"
                " saying how much was dropped, so 0 would keep no output at all (it is no"
                " 'unlimited'), and a few bytes less than that line",
            )
        exec_max_attempts = self.take(t, data, "exec_max_attempts", int, 1, check_max_attempts)
        return Settings(
            db=self.take(t, data, "db", str, None, _path_text),
            lease=lease,
            max_payload=max_payload,
            log_dir=self.take(t, data, "log_dir", str, None, _path_text),
            log_max_bytes=log_max_bytes,
            timezone=self.take(t, data, "timezone", str, None, _check_timezone),
            durability=durability,
            keep_succeeded=self.keep(t, data, "keep_succeeded"),
            keep_dead=self.keep(t, data, "keep_dead"),
            keep_cancelled=self.keep(t, data, "keep_cancelled"),
            log_format=log_format,
            log_level=log_level,
            on_failure=self.hook(t, data, "on_failure"),
            on_dead=self.hook(t, data, "on_dead"),
            hook_timeout=self.positive_duration(t, data, "hook_timeout", 30.0),
            allow_exec=self.take(t, data, "allow_exec", bool, None),
            exec_max_attempts=exec_max_attempts,
        )

    def job(self, name: str, data: Any) -> JobType:
        t = f"jobs.{_quote_key(name)}"
        if not JOB_NAME.match(name):
            raise self.fail(t, None, f"bad job name: {NAME_RULE}")
        if name == ADHOC_JOB:
            raise self.fail(t, None, f"the name {ADHOC_JOB!r} is reserved for ad-hoc commands")
        if not isinstance(data, dict):
            raise self.fail("jobs", name, "must be a table")
        self.check_keys(t, data, {*_INLINE_JOB_KEYS, "jitter", "queue", "priority", "description"})
        if "command" not in data:
            raise self.fail(t, None, "missing required key 'command'")
        return self.job_type(t, name, data, default_attempts=3)

    def job_type(self, t: str, name: str, data: dict[str, Any], default_attempts: int) -> JobType:
        """The job type a [jobs] table, or a schedule's inline command, describes (table `t`
        in messages)."""
        shell = self.take(t, data, "shell", bool, False)
        if shell and isinstance(data["command"], list):
            self.note(
                t,
                "shell",
                "has no effect on a list command: each element stays one argument, quoted"
                " for the shell, so no $VARIABLE, pipe or glob in it is expanded; give the"
                " command as one string for the shell to read it (or drop shell = true)",
            )
            # Run as the argv it is: a list of one element went to the shell as a script.
            shell = False
        command = self.command(t, data["command"], shell)
        if not shell and isinstance(data["command"], str):
            self.note_shell_syntax(t, command, data["command"])
        self.check_placeholders(t, command, shell)
        env = self.take(t, data, "env", dict, {})
        for key, value in env.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise self.fail(t, "env", f"value of {key!r} must be a string or a number")
            if not key or "=" in key or "\0" in key:
                raise self.fail(t, "env", f"bad variable name {_printable(key)!r}")
            if isinstance(value, str) and "\0" in value:
                raise self.fail(t, "env", f"value of {key!r} contains a NUL character")
            if isinstance(value, float) and not math.isfinite(value):  # `inf`: no number
                raise self.fail(t, "env", f"value of {key!r} is {value}: quote it to pass the text")
        max_attempts = self.take(t, data, "max_attempts", int, default_attempts, check_max_attempts)
        timeout = self.duration(t, data, "timeout", None)
        if timeout is not None and timeout <= 0:
            raise self.fail(t, "timeout", "must be longer than 0s (leave it out for no timeout)")
        queue = self.take(t, data, "queue", str, DEFAULT_QUEUE)
        if not QUEUE_NAME.match(queue):
            raise self.fail(t, "queue", f"bad queue name: {NAME_RULE}")
        return JobType(
            name=name,
            command=command,
            shell=shell,
            cwd=self.take(t, data, "cwd", str, None, _path_text),
            env={k: str(v) for k, v in env.items()},
            timeout=timeout,
            kill_grace=self.duration(t, data, "kill_grace", 10.0),
            max_attempts=max_attempts,
            backoff=self.duration(t, data, "backoff", 1.0),
            backoff_max=self.duration(t, data, "backoff_max", 3600.0),
            jitter=self.take(t, data, "jitter", bool, True),
            queue=queue,
            priority=self.take(t, data, "priority", int, 0, check_priority),
            description=self.take(t, data, "description", str, None),
            user=self.take(t, data, "user", str, None),
            group=self.take(t, data, "group", str, None),
            on_failure=self.hook(t, data, "on_failure"),
            on_dead=self.hook(t, data, "on_dead"),
            hook_timeout=self.positive_duration(t, data, "hook_timeout", None),
        )

    def command(self, table: str, value: Any, shell: bool) -> tuple[str, ...]:
        if isinstance(value, str):
            if not value.strip():
                raise self.fail(table, "command", "must not be empty")
            if "\0" in value:
                raise self.fail(table, "command", "a command cannot contain a NUL character")
            if shell:
                return (value,)
            import shlex  # only string commands need it: enqueue's start-up does not

            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise self.fail(table, "command", f"cannot split into words: {exc}") from None
            if not argv[0]:  # '""': as enqueue --exec refuses it, not a job dead at its start
                raise self.fail(table, "command", "the command's name is empty")
            return tuple(argv)
        if isinstance(value, list):
            if not value or not all(isinstance(part, str) for part in value):
                raise self.fail(table, "command", "must be a non-empty list of strings")
            if any("\0" in part for part in value):
                raise self.fail(table, "command", "an argument cannot contain a NUL character")
            if not value[0]:  # [""]: as enqueue --exec refuses it
                raise self.fail(table, "command", "the command's name is empty")
            return tuple(value)
        raise self.fail(
            table, "command", f"expected a string or a list of strings, got {_toml_type(value)}"
        )

    def check_placeholders(self, table: str, command: tuple[str, ...], shell: bool) -> None:
        """No placeholder may reach a shell that would parse its value as code (see
        jobctl.shellscan, loaded only for commands that have placeholders at all)."""
        from jobctl.payload import PLACEHOLDER, placeholders

        if not placeholders(command):
            return
        for part in command:  # ${HOME}, meant for the shell, would ask every job for HOME
            for match in PLACEHOLDER.finditer(part):
                name = match.group(1)
                if name and part[: match.start()].endswith("$"):
                    raise self.fail(
                        table,
                        "command",
                        f"${{{name}}} holds the payload placeholder {{{name}}}; for the"
                        f" variable, write ${{{{{name}}}}} or ${name}",
                    )
        from jobctl.shellscan import shell_hazard

        hazard = shell_hazard(command, shell)
        if hazard is not None:
            raise self.fail(table, "command", hazard)

    def schedule(
        self, name: str, data: Any, jobs: Mapping[str, JobType], max_payload: int
    ) -> tuple[ScheduleSpec, JobType | None]:
        t = f"schedules.{_quote_key(name)}"
        if not JOB_NAME.match(name):
            raise self.fail(t, None, f"bad schedule name: {NAME_RULE}")
        if not isinstance(data, dict):
            raise self.fail("schedules", name, "must be a table")
        allowed = {
            "job",
            "command",
            "cron",
            "payload",
            "timezone",
            "overlap",
            "catch_up",
            "catch_up_limit",
            "jitter",
            "enabled",
            "priority",
            "queue",
            "description",
            *_INLINE_JOB_KEYS,
        }
        self.check_keys(t, data, allowed)
        if "cron" not in data:
            raise self.fail(t, None, "missing required key 'cron'")
        cron = self.take(t, data, "cron", str, "")
        has_job, has_command = "job" in data, "command" in data
        if has_job == has_command:
            raise self.fail(t, None, "set exactly one of 'job' (a job type) or 'command'")
        inline: JobType | None = None
        if has_job:
            job = self.take(t, data, "job", str, "")
            if job not in jobs:
                owner = job.removeprefix("schedule:")
                owner_data = self.doc.get("schedules", {}).get(owner)
                if job != owner and isinstance(owner_data, dict) and "command" in owner_data:
                    raise self.fail(
                        t,
                        "job",
                        f"{job!r} is the inline command of [schedules.{_quote_key(owner)}], for"
                        " it alone: to run that command on two schedules, move it into a"
                        ' [jobs.NAME] table and set job = "NAME" in both',
                    )
                known = ", ".join(sorted(jobs)) or "none"
                raise self.fail(t, "job", f"unknown job {job!r}; defined jobs: {known}")
            for key in _INLINE_JOB_KEYS:
                if key in data:
                    raise self.fail(
                        t,
                        key,
                        f"a key of the job type: set it in [jobs.{_quote_key(job)}] (a"
                        " schedule takes it only with an inline command)",
                    )
        else:
            # An inline command becomes a job type of its own, named after the schedule.
            job = f"schedule:{name}"
            if job in jobs:  # (a [jobs] table: schedules' names are their own)
                raise self.fail(
                    t,
                    "command",
                    f"its job type would be named {job!r}, as [jobs.{_quote_key(job)}] is:"
                    f" rename one (or set job = {job!r} instead of a command)",
                )
            # It runs once a fire, as a crontab line does, unless max_attempts says more. It
            # takes the schedule's queue and priority too: `enqueue schedule:NAME` queues it
            # where `schedule run NAME` and the fires do, for the workers of that queue.
            keys = (*_INLINE_JOB_KEYS, "queue", "priority")
            own = {key: data[key] for key in keys if key in data}
            inline = self.job_type(t, job, own, default_attempts=1)
        overlap = self.take(t, data, "overlap", str, "skip")
        if overlap not in ("skip", "queue", "allow"):
            raise self.fail(t, "overlap", "must be 'skip', 'queue' or 'allow'")
        catch_up = self.take(t, data, "catch_up", str, "latest")
        if catch_up not in ("latest", "none", "all"):
            raise self.fail(t, "catch_up", "must be 'latest', 'none' or 'all'")
        catch_up_limit = self.take(t, data, "catch_up_limit", int, 100)
        if not 1 <= catch_up_limit <= MAX_CATCH_UP_LIMIT:
            raise self.fail(
                t,
                "catch_up_limit",
                f"must be between 1 and {MAX_CATCH_UP_LIMIT}, got {shorten(str(catch_up_limit))}",
            )
        queue = self.take(t, data, "queue", str, None)
        if queue is not None and not QUEUE_NAME.match(queue):
            raise self.fail(t, "queue", f"bad queue name: {NAME_RULE}")
        spec = ScheduleSpec(
            name=name,
            cron=cron,
            job=job,
            payload=self.take(t, data, "payload", dict, {}, _json_table),
            timezone=self.take(t, data, "timezone", str, None, _check_timezone),
            overlap=overlap,
            catch_up=catch_up,
            catch_up_limit=catch_up_limit,
            jitter=self.duration(t, data, "jitter", 0.0),
            enabled=self.take(t, data, "enabled", bool, True),
            priority=self.take(t, data, "priority", int, None, check_priority),
            queue=queue,
            description=self.take(t, data, "description", str, None),
            line=self.locate(t, "cron"),
        )
        # Every fire must be runnable, so its payload is checked as an enqueue of it is: it
        # fills each placeholder of the command, is no larger than max_payload, and fills the
        # command within what Linux starts a process with (the cron daemon stores each fire
        # unchecked: a fire that cannot start goes dead, fire after fire).
        from jobctl.payload import check_placeholders, encode

        job_type = inline or jobs[job]
        try:
            check_placeholders(job_type.command, spec.payload, job)
            check_filled(job_type, spec.payload, encode(spec.payload, max_payload), "")
        except JobctlError as exc:
            raise self.fail(t, "payload", str(exc)) from None
        return spec, inline


# Priorities are whole numbers both stores order exactly: SQLite's integers, and the doubles
# of Redis's sorted sets and Lua, which tell integers apart up to 2**53 (beyond, two that
# differ by one tie or swap, and jobs ran out of order on Redis alone).
MAX_PRIORITY = 2**53 - 1


# The attempts a job may be given: a job type's, [settings] exec_max_attempts, --max-attempts.
MAX_ATTEMPTS = 1000

# The missed fires a schedule's catch-up may run: far more than a real one needs, and far
# below the integers the stores take (past 2**63 the cron daemon failed at every start).
MAX_CATCH_UP_LIMIT = 100_000


def check_priority(value: int) -> int:
    if not -MAX_PRIORITY <= value <= MAX_PRIORITY:
        raise ConfigError(
            f"must be between {-MAX_PRIORITY} and {MAX_PRIORITY}, got {shorten(str(value))}"
        )
    return value


def check_max_attempts(value: int) -> int:
    if not 1 <= value <= MAX_ATTEMPTS:
        raise ConfigError(f"must be between 1 and {MAX_ATTEMPTS}, got {shorten(str(value))}")
    return value


def roomy_payload(job_type: JobType) -> int:
    """How long a payload's JSON may be for the job's command, filled with its values, to
    surely stay within Linux's limits on arguments: a value's text is no longer than the
    payload's JSON, a shell-quoted one at most five times it (each ' becomes '"'"'), and a
    placeholder may stand more than once (`{v}{v}`)."""
    from jobctl.payload import MAX_ARG_BYTES, MAX_COMMAND_BYTES, PLACEHOLDER

    uses = sum(1 for part in job_type.command for m in PLACEHOLDER.finditer(part) if m.group(1))
    if not uses:
        return MAX_COMMAND_BYTES
    return MAX_ARG_BYTES // (uses * (5 if job_type.shell else 1))


def check_filled(
    job_type: JobType, payload: Mapping[str, Any], payload_json: str, where: str
) -> None:
    """Refuse a payload that fills the job's command past what Linux starts a process with
    (a placeholder used twice, a value in a shell line): stored, every attempt would fail
    with 'Argument list too long', then go dead. Rendered only when it could be so. Beside
    the job types, not in jobctl.producer: reading a schedule's payload checks it too, in
    commands that build no job and need not load the producer."""
    if len(payload_json) > roomy_payload(job_type):
        from jobctl.payload import check_command, render_argv

        filled = render_argv(job_type.command, payload, job_type.shell)
        check_command(filled, f"{where}job {job_type.name!r} with this payload")


# [queues.NAME] rate: STARTS/DURATION, the starts a whole number (ASCII digits, as sizes).
_RATE = r"[ \t]*([0-9]+)[ \t]*/(.*)"
MAX_RATE_STARTS = 1_000_000
MIN_RATE_WINDOW, MAX_RATE_WINDOW = 1.0, 86400.0


def _parse_rate(text: str) -> Rate:
    """`100/1m`: at most 100 starts within any minute. The window is a duration as every
    other key writes one, from 1s (below it, when each worker happened to read its clock
    decides more than the rate) to 1d (past it, the store keeps a log of starts for days)."""
    found = re.fullmatch(_RATE, text)
    if found is None:
        raise ConfigError(
            f"expected STARTS/DURATION, like '100/1m' (at most 100 starts within any minute),"
            f" got {shorten(text)!r}"
        )
    digits = found.group(1).lstrip("0")
    # (Past Python's 4,300 digits int() refuses: as many as that are too many anyway.)
    starts = int(digits or "0") if len(digits) <= 7 else MAX_RATE_STARTS + 1
    if not 1 <= starts <= MAX_RATE_STARTS:
        raise ConfigError(
            f"its number of starts must be between 1 and {MAX_RATE_STARTS}, got {shorten(text)!r}"
        )
    duration = found.group(2).strip()
    if duration.isalpha():  # `100/m`, as Celery writes it
        raise ConfigError(
            f"its duration needs a number: {starts}/1{duration}, not {shorten(text)!r}"
        )
    window = parse_duration(duration)
    if not MIN_RATE_WINDOW <= window <= MAX_RATE_WINDOW:
        raise ConfigError(f"its duration must be between 1s and 1d, got {shorten(text)!r}")
    return Rate(starts, window, "".join(text.split()))  # as written, less its blanks


def _path_text(value: str) -> str:
    if "\0" in value or not value.strip():
        raise ConfigError("not a usable path (empty, or with a NUL character)")
    return value


def _json_table(value: dict[str, Any]) -> dict[str, Any]:
    """A payload must be JSON: TOML dates and times are not."""
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"payload must hold only JSON values (strings, numbers, ...): {exc}"
        ) from None
    from jobctl.payload import TOO_DEEP, too_deep

    if too_deep(value):
        raise ConfigError(TOO_DEEP)
    return value


def _printable(text: str) -> str:
    """Names from the file with control characters escaped: an error is one line."""
    from jobctl.text import clean

    return clean(text)


def _check_timezone(name: str) -> str:
    from jobctl.timefmt import zone_named

    if zone_named(name) is None:
        raise ConfigError(
            f"unknown time zone {name!r} (expected an IANA name like 'Europe/Berlin')"
        )
    return name


def _string_end(line: str, at: int, quotes: str) -> int:
    """Where a string whose text begins at `at` of `line` ends (past its closing `quotes`);
    -1 when it goes on past the line. A basic string's (") backslash escapes what follows."""
    while at < len(line):
        if line.startswith(quotes, at):
            end = at + len(quotes)
            while len(quotes) == 3 and line.startswith(quotes[0], end) and end - at < 5:
                end += 1  # \"\"\"a\"\"\"\" ends with up to two quotes of its own
            return end
        at += 2 if line[at] == "\\" and quotes[0] == '"' else 1
    return -1


def _split_table(table: str) -> list[str]:
    """`schedules."a b".x` -> ["schedules", "a b", "x"] (quoted parts keep their dots)."""
    parts: list[str] = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.]+)', table):
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        parts.append(quoted if quoted is not None else match.group(3).strip())
    return parts


def _quote_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name + '"'


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", dict: "a table", list: "a list"}
    names[float] = "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def bad_queue_name(name: str) -> str:
    """The one message for a queue name no queue can have (enqueue, pause, workers, wait)."""
    from jobctl.text import shorten

    return f"bad queue name {shorten(name)!r}: {NAME_RULE}"


def _closest(key: str, allowed: set[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.75)
    return matches[0] if matches else None


def configured_db(config: Config) -> str:
    """The database a process started with `config` and neither --db nor $JOBCTL_DB opens:
    [settings] db, a path (plain or sqlite://) taken from the config's folder, else the
    default location. A relative `sqlite://state/j.db` is the config's `state/j.db` too:
    read from the caller's folder, producers and workers started apart used two databases."""
    if config.settings.db:
        from jobctl.store import location_kind

        kind, path_given = location_kind(config.settings.db)
        # A URL whose scheme is in another case is a URL still, not a folder `REDIS:`.
        if kind not in ("path", "sqlite"):
            return config.settings.db
        path = Path(path_given).expanduser()
        if kind == "sqlite" and path.is_absolute():
            return config.settings.db
        return str(path if path.is_absolute() else config.base_dir / path)
    return default_db()


def default_db() -> str:
    """$XDG_STATE_HOME/jobctl/jobctl.db (refused without a home to put it in)."""
    from jobctl.fsutil import xdg_base

    return os.path.join(xdg_base("XDG_STATE_HOME", ".local/state"), "jobctl", "jobctl.db")
