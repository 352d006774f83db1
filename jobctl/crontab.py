"""Crontab -> jobs.toml, for `jobctl import-crontab`.

Each entry becomes a job type ``[jobs.NAME]`` and a schedule ``[schedules.NAME]`` that
runs it; NAME is a base derived from the command (``run-parts-cron-hourly``, ``backup-db``)
and a suffix from the entry's own schedule, user and command (``backup-3f9a0c``; lines
alike in those but given another environment add a digest of it: ``backup-3f9a0c-5be21d``),
never from the other lines: neither a number in line order nor a bare name kept while no
other line shares it, either of which an added or deleted line would change. Re-imported
after other lines were added, edited or deleted, a line keeps its name (a line alike in all
but its environment coming or going adds or drops the environment's digest), and no name
passes to another command, nor on a deletion to another environment, with the database's
history of it. The conversion keeps what cron did, so that switching changes nothing until
the user decides otherwise:

* The command runs through /bin/sh (``shell = true``), once per fire (``max_attempts =
  1``: cron never retries), even if the previous run is still going (``overlap =
  "allow"``), and fires missed while the daemon was down are not made up (``catch_up =
  "none"``). Relax these once a job is known to be safe to retry or skip.
* ``%``, as cron reads it: the first unescaped ``%`` ends the command and starts its
  standard input, further ``%`` are newlines, ``\\%`` is a literal ``%``, and the input
  ends with a newline. Jobs read no input, so such a command is emitted as
  ``printf '%s' 'INPUT' | /bin/sh -c 'COMMAND'``.
* Braces are doubled (``{`` -> ``{{``): jobctl reads ``{name}`` in a command as a payload
  placeholder, and ``${HOME}`` or ``awk '{print $1}'`` must reach the shell unchanged.
* ``NAME=value`` lines set the environment (``env``) of the entries below them; quotes
  around the value are removed. ``SHELL`` other than sh also runs the command with that
  shell (``SHELL -c COMMAND``), as cron does. ``HOME`` also becomes the working
  directory (cron starts commands there; without it jobs start where the worker runs).
  ``CRON_TZ`` becomes the schedules' ``timezone``; ``RANDOM_DELAY`` (minutes) their
  ``jitter``. jobctl mails nothing and keeps output in its logs, so ``MAILTO`` and
  ``MAILFROM`` are dropped with a warning; each job a ``MAILTO`` covered gets an ``on_dead``
  hook that mails its log to those addresses, commented out for the user to enable
  (``MAILTO=""``, no mail, gets none).
* Comment lines directly above an entry become its ``description``; commented-out
  entries and ruler lines (``# m h dom mon dow command``) do not.
* A line whose day fields vixie cron and cronie AND (one starts with ``*``: ``0 0 */10 *
  1-5``) where jobctl ORs them is left out with a warning saying how to keep its days,
  unless both readings fire on the same days; one whose day-of-month never occurs in its
  months (``0 0 31 4 */7``), which cron never ran, is left out saying so.
* ``@reboot`` entries and lines that cannot be read are left out with a warning that
  names the line, and so are lines cron itself refuses (``@HOURLY``: its macros are lower
  case; ``@every``, jobctl's own), which it never ran. cronie's leading ``-`` (do not syslog
  the run) is dropped with a warning: jobctl has no such setting; everything else still
  converts. Blanks at the ends of lines and CRs of CRLF line ends are dropped; fields
  are separated by spaces and tabs only.
* Entries and ``NAME=value`` lines with a NUL character are left out with a warning too:
  no command, argument or environment value can hold one, and the config refuses it.
* With ``system=True`` (/etc/crontab, /etc/cron.d) the sixth field is the user the job
  runs as (``user = "..."``).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from jobctl.config import ADHOC_JOB
from jobctl.cron import CronError, CronFields, parse, vixie_day_difference

__all__ = [
    "CrontabWarning",
    "ImportResult",
    "import_crontab",
    "job_name",
    "shell_command",
    "split_percent",
]

DEFAULT_SHELL = "/bin/sh"
_ENV_LINE = re.compile(r"^([^ \t=]+)[ \t]*=(.*)$")
_BLANKS = re.compile(r"[ \t]+")  # cron separates fields with blanks only
_UNDECODED = re.compile("[\udc80-\udcff]")  # a byte that was not UTF-8, kept by surrogateescape
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NOT_SLUG = re.compile(r"[^a-z0-9_-]+")
_BARE_REDIRECTION = re.compile(r"^[0-9&]*(<|>|>>|<<|<>)$")
_REDIRECTION = re.compile(r"^[0-9&]*[<>]")
_SHORT_OPTION = re.compile(r"^-[A-Za-z]$")  # likely followed by its value: `-U app`
_NUMBER = re.compile(r"^[+-]?[0-9][0-9.:]*[A-Za-z]?$")  # counts, sizes, durations: `+14`, `10m`
_ARGUMENT_LENGTH = 24
_DYNAMIC = re.compile(r"[$`*?]")  # variables, substitutions, globs: no help in a name
_ADDRESSES = re.compile(r"[ \t]*,[ \t]*")  # MAILTO="a@example.com, b@example.com"
_RULER = re.compile(r"^(m|min|minute)\s+(h|hour)\b", re.IGNORECASE)
_NAME_LENGTH = 48
_DIGEST_LENGTH = 6  # hex digits of a name's suffix: 16 million values per base name
# The macros cron knows, spelled as it compares them (strcmp): `@HOURLY` is an error to it.
_CRON_MACROS = frozenset(
    ["@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
)
# Words before the program that say nothing about what a job does.
_WRAPPERS = {
    "nice",
    "ionice",
    "nohup",
    "sudo",
    "env",
    "exec",
    "time",
    "timeout",
    "chronic",
    "cronic",
    "setsid",
    "stdbuf",
    "systemd-cat",
    "flock",
    "command",
}
# Commands that prepare the real one: `cd /srv && make`, `test -x X && X`.
_SETUP = {"cd", "test", "[", "[[", "sleep", "true", ":", "export", "umask", "source", ".", "set"}
_INTERPRETERS = {
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "php",
    "node",
    "nodejs",
}
_SCRIPT_SUFFIXES = (".sh", ".bash", ".py", ".pl", ".rb", ".php", ".js")
_KEYWORDS = {"if", "then", "else", "elif", "fi", "while", "until", "do", "done", "time"}
# A quoted string or an escaped character (skipped), or a break between simple commands.
_SEGMENT_BREAK = re.compile(r"""'[^']*'|"(?:\\.|[^"\\])*"|\\.|(&&|\|\||[;|&\n()])""")


# A command ending in a lone '&' (not '&&', not a redirection's '>&', not escaped).
_BACKGROUND = re.compile(r"(?<![&>\\])&[ \t]*$")


def foreground(command: str) -> tuple[str, bool]:
    """The command without a trailing '&', and whether it had one. Under cron the line's
    shell exits and the background work goes on; a job's processes left behind when its
    shell exits are stopped, so the work would be lost."""
    found = _BACKGROUND.search(command)
    rest = command[: found.start()].rstrip() if found else ""
    return (rest, True) if rest else (command, False)


@dataclass(frozen=True)
class CrontabWarning:
    """Something on a line that was left out or changed meaning."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    """The converted document, and every line left out or changed on the way."""

    toml: str  # a jobs.toml document that `jobctl.config.parse_config` accepts
    warnings: list[CrontabWarning] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the job and schedule names, in order
    entries: int = 0  # lines that are entries (not comments or variables), imported or not


def import_crontab(
    text: str, system: bool = False, user: str | None = None, prefix: str | None = None
) -> ImportResult:
    """Convert a crontab; `system` for the /etc/crontab format with a user column; `user`
    for the crontab of that user (`crontab -l -u NAME`): its jobs run as NAME (so a worker
    starts them in NAME's home, as cron does), and their names start with `NAME-`, so that
    the crontabs of several users make one config. `prefix` names them `PREFIX-...` instead,
    so that any two imports appended to one config keep apart."""
    converter = _Converter(system, user, prefix)
    # Cron splits on newlines only: other characters str.splitlines() takes are data.
    for number, raw in enumerate(text.split("\n"), start=1):
        converter.feed(number, raw.rstrip("\r"))
    return converter.result()


# ---------------------------------------------------------------------------------------------
# Commands


def split_percent(command: str) -> tuple[str, str | None]:
    """Split an entry's command as cron does: (command, standard input or None).

    In the command, ``\\%`` becomes ``%`` and the first unescaped ``%`` ends it. In the
    input, ``\\%`` is ``%``, ``%`` is a newline, other backslashes stay, and a newline is
    added unless the input already ends with one. Nothing after the ``%`` means no input.
    """
    kept: list[str] = []
    escaped = False
    for index, char in enumerate(command):
        if escaped:
            if char == "%":
                kept[-1] = "%"  # the backslash gives way to the percent sign
            else:
                kept.append(char)
            escaped = False
        elif char == "\\":
            kept.append(char)
            escaped = True
        elif char == "%":
            rest = command[index + 1 :]
            return "".join(kept), _cron_input(rest) if rest else None
        else:
            kept.append(char)
    return "".join(kept), None


def _cron_input(data: str) -> str:
    written: list[str] = []
    escaped = False
    needs_newline = False
    for char in data:
        if escaped:
            if char != "%":
                written.append("\\")
        elif char == "%":
            char = "\n"
        escaped = char == "\\"
        if not escaped:
            written.append(char)
            needs_newline = char != "\n"
    if escaped:
        written.append("\\")
    if needs_newline:
        written.append("\n")
    return "".join(written)


def shell_command(command: str, stdin: str | None, shell: str = DEFAULT_SHELL) -> str:
    """The line a job hands to /bin/sh -c to do what cron did: `shell` -c `command`, fed
    `stdin`; braces are doubled so that jobctl's placeholders leave them alone."""
    own_shell = os.path.basename(shell) != "sh"
    if stdin is None:
        line = f"exec {shlex.quote(shell)} -c {shlex.quote(command)}" if own_shell else command
    else:
        line = f"printf '%s' {shlex.quote(stdin)} | {shlex.quote(shell)} -c {shlex.quote(command)}"
    return line.replace("{", "{{").replace("}", "}}")


# ---------------------------------------------------------------------------------------------
# Names


def job_name(command: str, taken: set[str], prefix: str = "") -> str:
    """A readable, unique name from what the command runs: `run-parts-cron-daily`."""
    words = _main_words(command)
    base = _slug(prefix + "-".join(words)) or "job"
    if base == ADHOC_JOB:
        base = f"{base}-job"
    return _numbered(base, taken)


def _numbered(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`... : the first not in `taken`."""
    name, counter = base, 2
    while name in taken:
        name = _suffixed(base, str(counter))
        counter += 1
    return name


def _suffixed(base: str, suffix: str) -> str:
    return base[: _NAME_LENGTH - len(suffix) - 1].rstrip("-_") + "-" + suffix


def _content_digest(entry_cron: str, user: str | None, command: str) -> str:
    """A line's own mark, from what it runs when (sha256, the same on every host and run,
    unlike hash()): it names the line apart from others of its name without depending on
    them or on their order."""
    content = "\0".join([entry_cron, user or "", command])
    return hashlib.sha256(content.encode("utf-8", "surrogateescape")).hexdigest()


def _settings_digest(job: dict[str, Any], schedule: dict[str, Any], mail_hook: str | None) -> str:
    """The mark of all else a line's job is: the environment the crontab gives it (env, SHELL,
    HOME, CRON_TZ, RANDOM_DELAY, the MAILTO hook); not its description, which is prose."""
    content = {
        "job": {key: value for key, value in job.items() if key != "description"},
        "schedule": {key: value for key, value in schedule.items() if key != "description"},
        "mail_hook": mail_hook,
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _distinct_names(bases: list[str], digests: list[str], settings: list[str]) -> list[str]:
    """One name per line, `base-DIGEST`, from its base name and its content digest alone: a
    bare base for a line alone with it would pass to another line of that base once the first
    is deleted, and become `base-DIGEST` once a second comes. Lines alike in schedule, user
    and command but set apart by their environment (their `settings` digests) are all
    `base-DIGEST-SETTINGS`, from their own settings: numbered in line order, the one left when
    the other is deleted would take its name, history and retries. Lines alike in every
    respect (whose runs are alike as well) are numbered after the first."""
    digests_of_base: dict[str, set[str]] = {}
    settings_of_digest: dict[str, set[str]] = {}
    for base, digest, own_settings in zip(bases, digests, settings, strict=True):
        digests_of_base.setdefault(base, set()).add(digest)
        settings_of_digest.setdefault(digest, set()).add(own_settings)
    taken: set[str] = set()
    names: list[str] = []
    for base, digest, own_settings in zip(bases, digests, settings, strict=True):
        # Longer when 6 digits do not tell this line from another of its name (1 in 16
        # million pairs): the line's own content still decides.
        suffix = _telling_prefix(digest, digests_of_base[base])
        if len(settings_of_digest[digest]) > 1:
            suffix += "-" + _telling_prefix(own_settings, settings_of_digest[digest])
        name, counter = _suffixed(base, suffix), 2
        while name in taken:  # the digest stays whole: the base gives way
            name = _suffixed(base, f"{suffix}-{counter}")
            counter += 1
        taken.add(name)
        names.append(name)
    return names


def _telling_prefix(digest: str, digests: set[str]) -> str:
    """The shortest prefix of `digest`, from 6 hex digits up, that no other of `digests` has."""
    others = digests - {digest}
    length = _DIGEST_LENGTH
    while any(other[:length] == digest[:length] for other in others):
        length += 2
    return digest[:length]


def _main_words(command: str) -> list[str]:
    """The program and its first argument, from the first segment that is not setup."""
    fallback: list[str] = []
    for segment in _segments(command):
        words = _program_words(segment)
        if not words:
            continue
        if not fallback:
            fallback = words
        if words[0] in _SETUP or (len(words) == 1 and words[0] in _INTERPRETERS):
            continue  # (an interpreter with no script: inline code, `perl -e 'sleep 9'`)
        return words
    return fallback


def _segments(command: str) -> list[str]:
    """The simple commands of a line, split at `&&`, `||`, `;`, `|`, `&`, newlines and
    parentheses outside quotes (`perl -e 'sleep int(rand(9))'` is one command)."""
    segments: list[str] = []
    start = 0
    for match in _SEGMENT_BREAK.finditer(command):
        if match.group(1) is not None:
            segments.append(command[start : match.start()])
            start = match.end()
    segments.append(command[start:])
    return segments


def _program_words(segment: str) -> list[str]:
    try:
        tokens = shlex.split(segment, comments=True)
    except ValueError:
        tokens = segment.split()
    tokens = [t for t in _without_redirections(tokens) if t not in ("{", "}", "!")]
    while tokens and tokens[0] in _KEYWORDS:  # `then /usr/lib/php/sessionclean`
        tokens.pop(0)
    while tokens and ("=" in tokens[0].split("/")[0] or os.path.basename(tokens[0]) in _WRAPPERS):
        tokens.pop(0)
        while tokens and (tokens[0].startswith("-") or tokens[0][:1].isdigit()):
            tokens.pop(0)  # a wrapper's options: `nice -n 19`, `timeout 5m`
    if not tokens:
        return []
    program = _stem(tokens[0])
    arguments = _telling_arguments(tokens[1:])
    if program in _INTERPRETERS:
        # The script run, even given as an option's value (`php -f cron.php`).
        script = next((t for t in tokens[1:] if t.endswith(_SCRIPT_SUFFIXES)), None)
        if script is not None:
            arguments = arguments[arguments.index(script) :] if script in arguments else [script]
        if arguments:
            program, arguments = _stem(arguments[0]), arguments[1:]
    return [program, *[_slug(_stem(a))[:_ARGUMENT_LENGTH] for a in arguments[:1]]]


def _telling_arguments(tokens: list[str]) -> list[str]:
    """Arguments that say what is worked on: not options, their values, numbers or globs."""
    telling: list[str] = []
    after_short_option = False
    for token in tokens:
        value_of_option, after_short_option = after_short_option, bool(_SHORT_OPTION.match(token))
        if token.startswith("-") or value_of_option or _NUMBER.match(token) or "=" in token:
            continue  # (`key=value`: a setting, not what is worked on)
        if not _DYNAMIC.search(token) and _slug(_stem(token)):
            telling.append(token)
    return telling


def _without_redirections(tokens: list[str]) -> list[str]:
    """Drop `>/dev/null`, `2>&1` and `> file` (the operator and its target)."""
    kept: list[str] = []
    target_next = False
    for token in tokens:
        if target_next:
            target_next = False
        elif _BARE_REDIRECTION.match(token):
            target_next = True
        elif not _REDIRECTION.match(token):
            kept.append(token)
    return kept


def _stem(word: str) -> str:
    base = os.path.basename(word.rstrip("/")) or word
    for suffix in _SCRIPT_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base


def _slug(text: str) -> str:
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-_")
    slug = re.sub(r"-{2,}", "-", slug)
    if len(slug) > _NAME_LENGTH:
        slug = slug[:_NAME_LENGTH].rstrip("-_")
    return slug


# ---------------------------------------------------------------------------------------------
# Lines


@dataclass
class _Entry:
    line: int
    source: str
    cron: str
    command: str
    user: str | None


@dataclass
class _Job:
    """An entry converted, waiting for its name: the names of lines that share one are made
    once every line is read."""

    entry: _Entry
    base_name: str
    job: dict[str, Any]
    schedule: dict[str, Any]
    mail_hook: str | None


_BUILTINS = frozenset(
    [
        "cd",
        "test",
        "[",
        "exec",
        ".",
        "export",
        "set",
        "umask",
        "ulimit",
        "nice",
        "if",
        "for",
        "while",
        "case",
        "{",
        "(",
        "!",
        "eval",
        "command",
    ]
)


def _user_column(command: str, search: str | None = None) -> str | None:
    """The command's first word when it looks like the user column of a system crontab read
    as a user's: a user of this host, no program on `search` (the crontab's PATH), and
    followed by a command (one on it, a path, or a shell built-in). Run as a command,
    `root  test -x X || run-parts ...` fails its test and runs the fallback."""
    import shutil

    from jobctl.processes import known_user

    words = _BLANKS.split(command.strip(" \t"), maxsplit=2)
    if len(words) < 2:
        return None
    first, then = words[0], words[1]
    # On the crontab's own PATH when it sets one (`PATH=/home/u/bin`), else this host's.
    if not USER_NAME.match(first) or first.isdigit() or shutil.which(first, path=search):
        return None
    if not (then in _BUILTINS or then.startswith("/") or shutil.which(then, path=search)):
        return None
    return first if known_user(first) else None


class _Converter:
    def __init__(self, system: bool, user: str | None = None, prefix: str | None = None) -> None:
        self.system = system
        self.user = user
        self.prefix = prefix or user
        self.env: dict[str, str] = {}
        self.timezone: str | None = None
        self.jitter: str | None = None
        self.mail_hook: str | None = None  # for the jobs MAILTO covers
        self.comments: list[str] = []
        self.jobs: list[_Job] = []
        self.warnings: list[CrontabWarning] = []
        self.entries = 0

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(CrontabWarning(line, message))

    def feed(self, number: int, raw: str) -> None:
        text = raw.strip(" \t")
        if not text:
            self.comments = []
        elif _UNDECODED.search(text):  # bytes that are not UTF-8 (see _read_crontab)
            self.comments = []  # a comment in another encoding describes nothing readable
            if not text.startswith("#"):
                self.entries += 1
                self.warn(number, "not imported: the line is not UTF-8 text")
        elif text.startswith("#"):
            self.comment(text.lstrip("#").strip(" \t"))
        elif "\0" in text:
            self.comments = []
            self.entries += 1
            self.warn(number, "not imported: the line contains a NUL character")
        elif (assignment := _ENV_LINE.match(text)) is not None:
            self.comments = []
            self.assign(number, assignment.group(1), assignment.group(2))
        else:
            description = " ".join(self.comments) or None
            self.comments = []
            self.entries += 1
            entry = self.entry(number, text)
            if entry is not None:
                self.add(entry, description)

    def comment(self, text: str) -> None:
        """Prose joins the pending description; rulers and commented-out entries end it."""
        if not re.search(r"[A-Za-z0-9]", text) or _RULER.match(text) or self.looks_like_entry(text):
            self.comments = []
        else:
            self.comments.append(text)

    def looks_like_entry(self, text: str) -> bool:
        text = _without_no_log_mark(text)
        if text.startswith("@"):
            return True
        words = _BLANKS.split(text, maxsplit=5)
        if len(words) < 6:
            return False
        try:
            parse(" ".join(words[:5]))
        except CronError:
            return False
        return True

    def assign(self, number: int, name: str, value_text: str) -> None:
        value = _unquote(value_text.strip(" \t"))
        if not _ENV_NAME.match(name):
            self.warn(number, f"not imported: {name!r} is not a variable name")
        elif name == "MAILTO":
            self.mail_hook = self.mail_hook_for(number, value)
        elif name == "MAILFROM":
            self.warn(number, "MAILFROM ignored: jobctl sends no mail; output goes to the job logs")
        elif name == "CRON_TZ":
            self.timezone = self.checked_zone(number, value)
        elif name == "RANDOM_DELAY":
            if re.fullmatch(r"[0-9]+", value):
                self.jitter = f"{int(value)}m" if int(value) else None
            else:
                self.warn(number, f"RANDOM_DELAY ignored: {value!r} is not a number of minutes")
        else:
            self.env[name] = value

    def mail_hook_for(self, number: int, value: str) -> str | None:
        """The on_dead hook that stands in for MAILTO's mail, for the jobs below it; None for
        MAILTO="" (cron mailed no one) or a value that is no list of addresses."""
        addresses = [address for address in _ADDRESSES.split(value.strip(" \t")) if address]
        if not addresses:
            return None
        if any(address.startswith("-") for address in addresses):
            # mail would read it as an option; cron refuses such a MAILTO too.
            self.warn(number, f"MAILTO ignored: {value!r} is no list of mail addresses")
            return None
        self.warn(
            number,
            "MAILTO ignored: jobctl sends no mail; output goes to the job logs. Each job it"
            f" covers has an on_dead hook, commented out, that mails {value!r} the log of a"
            " run that failed: enable it there",
        )
        return _mail_command(addresses)

    def checked_zone(self, number: int, name: str) -> str | None:
        from jobctl.timefmt import zone_named

        if not name:
            return None
        if zone_named(name) is None:
            self.warn(number, f"CRON_TZ ignored: unknown time zone {name!r}")
            return self.timezone
        return name

    def entry(self, number: int, text: str) -> _Entry | None:
        source = text
        text = _without_no_log_mark(text)
        count = 1 if text.startswith("@") else 5
        words = _BLANKS.split(text, maxsplit=count + (1 if self.system else 0))
        if text.startswith("@") and words[0] not in _CRON_MACROS:
            self.warn(
                number, f"not imported: cron never ran this line: {_unknown_to_cron(words[0])}"
            )
            return None
        if words[0] == "@reboot":
            command = text[len(words[0]) :].strip(" \t")
            if self.system and len(words) > 2:  # the user column is not part of the command
                command = _BLANKS.split(command, maxsplit=1)[1]
            self.warn(
                number,
                f"@reboot entry not imported: schedules fire at times, not at boot; "
                f"start {command!r} from the init system instead",
            )
            return None
        expression = " ".join(words[:count])
        if not re.match(r"[0-9*@]", text):
            self.warn(number, "not imported: neither an entry (FIELDS COMMAND) nor NAME=value")
            return None
        try:
            parse(expression)
        except CronError as exc:
            self.warn(number, f"not imported: {exc}")
            return None
        single = _step_without_range(words[:count])
        if single is not None:
            self.warn(
                number,
                f"not imported: {single!r} steps from a single value, which crons read three"
                " ways (Debian's refuses the line, upstream vixie runs the value alone, cronie"
                " runs it to the field's end, as jobctl would): write the range or the value",
            )
            return None
        rest = words[count:]
        user: str | None = None
        if self.system:
            if not rest:
                self.warn(number, "not imported: no user and no command after the schedule")
                return None
            user, rest = rest[0], rest[1:]
            if not USER_NAME.match(user):
                self.warn(number, f"not imported: {user!r} is not a user name")
                return None
            from jobctl.processes import known_user

            if not known_user(user):  # imported, as with --user: cron logs such a line ORPHAN
                self.warn(
                    number,
                    f"user {user!r} is no user on this host: its job fails to start until"
                    " there is one (a user crontab given to --system?)",
                )
        if not rest or not rest[0].strip(" \t"):
            self.warn(number, "not imported: no command after the schedule")
            return None
        if not self.system and (column := _user_column(rest[0], self.env.get("PATH"))):
            self.warn(
                number,
                f"not imported: {column!r} is a user here, not a command: a line of the"
                " /etc/crontab format, with a user column? (give --system)",
            )
            return None
        if not self.keeps_cron_days(number, expression):
            return None
        if text != source:
            self.warn(
                number,
                "the leading '-' (cronie: do not log this job's runs to syslog) is dropped:"
                " jobctl has no equivalent, and logs every run",
            )
        return _Entry(number, source, expression, rest[0], user)

    def keeps_cron_days(self, number: int, expression: str) -> bool:
        """Whether jobctl fires `expression` on the days cron did; if not, the line is left
        out with a way to keep them. Vixie cron and cronie AND the day fields when one starts
        with '*' (`0 0 */10 * 1-5`: days 1, 11, 21 and 31 that are weekdays, 2 or 3 a month),
        where jobctl ORs them (every weekday too, 23 a month). A day-of-month that never occurs
        (`0 0 31 4 */7`) they AND into no day at all: such a line never ran."""
        parsed = parse(expression)
        fields = parsed.fields
        if fields is None or vixie_day_difference(parsed) is None:
            return True
        words = expression.split(" ")
        day, month, weekday = words[-3:]
        if parsed.days_never_occur:
            self.warn(
                number,
                f"not imported: cron never runs this line: day-of-month {day!r} never occurs"
                f" in month field {month!r}, and vixie cron and cronie require both day fields"
                f" when one starts with '*'; jobctl would fire on every day day-of-week"
                f" {weekday!r} matches",
            )
            return False
        if _same_days_either_way(fields):
            return True
        alone = " ".join([*words[:-1], "*"])  # the day-of-month alone, in the schedule
        zone = f"TZ={shlex.quote(self.timezone)} " if self.timezone else ""
        weekdays = "".join(str(value) for value in sorted(fields.weekdays))
        check = f"case $({zone}date +%w) in [{weekdays}]) ;; *) exit 0 ;; esac;"
        self.warn(
            number,
            f"not imported: cron runs this line only on days that match both day-of-month"
            f" {day!r} and day-of-week {weekday!r} (vixie cron and cronie require both when"
            " one starts with '*'), jobctl on days that match either, more often; to keep"
            f" cron's days, schedule {alone!r} and begin the command with {check!r}",
        )
        return False

    def add(self, entry: _Entry, description: str | None) -> None:
        command, stdin = split_percent(entry.command)
        if not command.strip():
            self.warn(entry.line, "not imported: the command is empty before its first '%'")
            return
        if stdin is not None:
            self.warn(
                entry.line,
                "the text after the first unescaped '%' is fed to the command's standard "
                "input, as cron does; write '\\%' where a literal '%' was meant",
            )
        command, backgrounded = foreground(command)
        if backgrounded:
            self.warn(
                entry.line,
                "the trailing '&' is dropped: the command runs as the job itself (jobctl stops"
                " what a job leaves running when its shell exits, and logs its output)",
            )
        base_name = job_name(command, set(), f"{self.prefix}-" if self.prefix else "")
        job: dict[str, Any] = {
            "command": shell_command(command, stdin, self.env.get("SHELL", DEFAULT_SHELL)),
            "shell": True,
            "max_attempts": 1,
        }
        if description:
            job["description"] = description
        user = entry.user or self.user
        if user:
            job["user"] = user
        if "HOME" in self.env:
            job["cwd"] = self.env["HOME"]
        # Else a job with a user starts in that user's home, where the worker finds it (or
        # in / when it has none), as under cron: nothing to write down here.
        if self.env:
            job["env"] = dict(self.env)
        schedule: dict[str, Any] = {
            "cron": entry.cron,
            "overlap": "allow",
            "catch_up": "none",
        }
        if self.timezone:
            schedule["timezone"] = self.timezone
        if self.jitter:
            schedule["jitter"] = self.jitter
        if description:
            schedule["description"] = description
        self.jobs.append(_Job(entry, base_name, job, schedule, self.mail_hook))

    def result(self) -> ImportResult:
        header = (
            "# Converted from a crontab by `jobctl import-crontab`.\n"
            "# Jobs run once per fire, may overlap and are not caught up, as under cron;\n"
            "# see max_attempts, overlap and catch_up to change that. Unlike cron, a worker\n"
            "# runs at most --concurrency jobs at once: raise it to what these jobs need, and\n"
            "# give jobs that may hang a timeout, or one stuck job holds back the others\n"
            '# (and the fires of an overlap = "allow" schedule queue up behind it, to run\n'
            '# one after another once it ends; overlap = "skip" drops them instead).\n'
            "# Unlike cron, a restart of `up` or a worker (an upgrade) stops running jobs\n"
            "# after --shutdown-timeout, and with max_attempts = 1 they go dead: see the\n"
            '# README\'s "Replacing crontab" for separate units and longer timeouts.\n'
            "# Each fire is a job kept in the database until pruned (a line that fires every\n"
            "# minute adds 1,440 a day): to have workers prune finished jobs, enable these\n"
            "# lines (or put the two keys in the config's settings table, if it has one):\n"
            "# [settings]\n"
            '# keep_succeeded = "7d"\n'
            '# keep_dead = "30d"\n'
        )
        names = _distinct_names(
            [job.base_name for job in self.jobs],
            [
                _content_digest(job.entry.cron, job.entry.user, job.entry.command)
                for job in self.jobs
            ],
            [_settings_digest(job.job, job.schedule, job.mail_hook) for job in self.jobs],
        )
        chunks = [
            _toml_chunk(job.entry, name, job.job, {"job": name, **job.schedule}, job.mail_hook)
            for job, name in zip(self.jobs, names, strict=True)
        ]
        return ImportResult(
            toml=header + "".join(chunks),
            warnings=list(self.warnings),
            names=names,
            entries=self.entries,
        )


def _without_no_log_mark(text: str) -> str:
    """The line without cronie's leading '-' (do not syslog the runs), when one starts an
    entry: `-*/5 * * * * root /usr/lib/sa/sa1 1 1`."""
    if text.startswith("-") and re.match(r"[0-9*@]", text[1:]):
        return text[1:]
    return text


def _step_without_range(fields: list[str]) -> str | None:
    """The first part of a schedule that steps from a single value (`5/15`: not `*/15`,
    not `5-59/15`), which cron implementations read three ways; None when there is none."""
    for text in fields:
        for part in text.split(","):
            base, slash, _ = part.partition("/")
            if slash and base != "*" and "-" not in base:
                return part
    return None


def _unknown_to_cron(macro: str) -> str:
    if macro.lower() in _CRON_MACROS:
        return f"it knows {macro.lower()!r}, not {macro!r} (it reads macros as written)"
    if macro.lower() == "@every":
        return "'@every' is jobctl's own, not cron's (write such a schedule in the config)"
    return f"unknown macro {macro!r}"


def _toml_chunk(
    entry: _Entry,
    name: str,
    job: dict[str, Any],
    schedule: dict[str, Any],
    mail_hook: str | None,
) -> str:
    import tomli_w

    origin = _CONTROL.sub("?", entry.source)
    # The commented-out hook comes before the job's [jobs.NAME.env] table: enabled there, it
    # would be an environment variable.
    keys = {key: value for key, value in job.items() if key != "env"}
    text = f"\n# line {entry.line}: {origin}\n" + tomli_w.dumps({"jobs": {name: keys}})
    if mail_hook is not None:
        text += "# " + tomli_w.dumps({"on_dead": mail_hook})  # one line: control characters escaped
    if "env" in job:
        text += "\n" + tomli_w.dumps({"jobs": {name: {"env": job["env"]}}})
    return text + "\n" + tomli_w.dumps({"schedules": {name: schedule}})


def _mail_command(addresses: list[str]) -> str:
    """A hook command (run by /bin/sh -c, with no placeholders) that mails a failed run's log
    to `addresses`, each one word to the shell whatever it holds; with no log (the run wrote
    nothing), an empty mail."""
    recipients = " ".join(shlex.quote(address) for address in addresses)
    return f'mail -s "jobctl: $JOBCTL_JOB_NAME failed" {recipients} < "${{JOBCTL_LOG:-/dev/null}}"'


def _same_days_either_way(fields: CronFields) -> bool:
    """Whether ANDing the day fields picks the days ORing them does. Each day of a month falls
    on every weekday over the years, so only when the day-of-month holds every day of the
    months and the day-of-week every weekday (`0 0 */2,2-28/2 FEB 0-6`)."""
    month_days = {
        day for month in fields.months for day in range(1, calendar.monthrange(2000, month)[1] + 1)
    }
    return month_days <= fields.days and len(fields.weekdays) == 7


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
