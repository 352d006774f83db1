"""The `jobctl` entry point: runs the typer app and turns every error into one line on stderr
and a documented exit code (see jobctl.errors)."""

from __future__ import annotations

import gc
import io
import os
import signal
import sys
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from jobctl.cli import entry
from jobctl.cli.entry import Stopped
from jobctl.cli.entry import command_word as command_name
from jobctl.cli.fastpath import read_enqueue
from jobctl.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PIPE, EXIT_USAGE

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer
    from typer._click.core import Context


def run(argv: list[str] | None = None) -> None:
    """Run one command. Without `argv` (the `jobctl` program itself) the call owns the
    process, and spares it the garbage collector's start-up work (see _imported) and the
    interpreter's teardown (see _exit)."""
    if argv is not None:
        _dispatch(argv, owns_process=False)
        return
    gc.disable()
    try:
        _dispatch(None, owns_process=True)
    except OutputError as exc:  # stdout failed, in a command or in jobctl's own help
        _report_output_error(exc)
        _exit(EXIT_FAILED)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            # click ends a command whose reader went away with 1, as it ends a failure.
            reader_gone = exc.code == EXIT_FAILED and _Stdout.reader_gone
            if reader_gone:
                _report_reader_gone()
            _exit(EXIT_PIPE if reader_gone else exc.code or 0)
        raise


def _exit(code: int) -> NoReturn:
    """End the process the moment its command is done: tearing the interpreter down frees
    some three hundred modules object by object, 2 to 3 ms of every call, for nothing. Only
    when nothing else was to run at exit (no other thread, no atexit handler) and the output
    is flushed; otherwise Python's own exit, without its last full collection (everything
    still alive lives until then anyway). Output still buffered is flushed first, and a
    failure to write it is reported like one in the command: one line, exit 1. A database
    connection left open on purpose (see abandoned_connections) must not be closed by
    Python's exit: then always so."""
    import atexit
    import threading

    try:  # what is still buffered: a failure here is the command's, as one raised in it
        sys.stdout.flush()
    except KeyboardInterrupt as exc:  # a signal while a stalled reader held the last lines
        code = _said_interrupted(exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
    except BrokenPipeError:  # the reader is gone: as in _dispatch
        _drop_stdout()
        _report_reader_gone()
        code = code or EXIT_PIPE
    except OutputError as exc:
        _report_output_error(exc)
        code = code or EXIT_FAILED
    except OSError:  # a stream jobctl did not set up: Python's own exit reports it
        pass
    try:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            # Nothing more can be said there (a full disk under a worker's log): what it
            # holds goes nowhere, rather than make Python's exit fail with its own code, 120.
            _to_devnull(2)
        connection = sys.modules.get("jobctl.store.sqlite.connection")
        abandoned = connection is not None and connection.abandoned_connections()
        at_once = abandoned or (threading.active_count() == 1 and not atexit._ncallbacks())
    except KeyboardInterrupt:
        # A stop signal once the command was done and its output flushed: it ends as it
        # would have (a traceback from the middle of the exit said nothing true).
        at_once = True
    if at_once:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # Python's own exit reports it, as it always did
            pass
        else:
            os._exit(code)
    gc.freeze()
    sys.exit(code)


def _dispatch(argv: list[str] | None, *, owns_process: bool) -> None:
    args = sys.argv[1:] if argv is None else argv
    if owns_process:
        _own_streams()
    _check_text(args)

    from jobctl.errors import JobctlError

    name = command_name(args)
    completing = "_JOBCTL_COMPLETE" in os.environ
    if name in _HANGUP_PROOF and not completing:
        # SIGHUP re-reads the config and never stops these: from their first moment, not
        # only once their handler is in. (A systemd reload right after the start used to
        # kill the service, and a death by SIGHUP counts as clean: it was not restarted.)
        # A hangup meanwhile is not lost: they read the config after this, and notice a
        # changed file on their own.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if owns_process:
            _own_lines_as_events()
    if name in _DATABASE_ONLY:
        from jobctl.cli.context import STATE

        STATE.lenient = True
    fast = read_enqueue(args) if name == "enqueue" and not completing else None
    try:
        if owns_process:
            _stop_on_signals(daemon=name in _HANGUP_PROOF and not completing)
        # Without typer, the garbage collector stays off: such a call ends in milliseconds,
        # and holds what it allocates until then anyway (see _imported).
        code = (
            fast() if fast is not None else _run_typer(argv, args, name, completing, owns_process)
        )
    except JobctlError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM or SIGHUP (see _stop_on_signals)
        entry.held = None  # (one held before is superseded by this stop)
        _exit_interrupted(exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
    except OverflowError:  # an id or a number beyond what the database stores
        _fail("a number given is too large (at most 9223372036854775807)", EXIT_USAGE)
    except BrokenPipeError:  # `| head` had enough: the code cat would end with
        _report_reader_gone()
        sys.stderr.close()
        sys.exit(EXIT_PIPE)
    except OutputError:
        raise  # reported by run, which knows what is still buffered
    except Exception as exc:  # a bug, or data no check foresaw: still one line
        if os.environ.get("JOBCTL_DEBUG"):
            raise
        text = " ".join(str(exc).split())[:300]
        _fail(f"unexpected error: {type(exc).__name__}: {text} (JOBCTL_DEBUG=1 shows where)", 1)
    if entry.received is not None:  # typer ended the command a signal stopped with 130
        _exit_interrupted(entry.received)
    sys.exit(code if isinstance(code, int) else 0)


def _stop_on_signals(*, daemon: bool) -> None:
    """From here on Ctrl-C raises KeyboardInterrupt (a Stopped), where until now it ended the
    process without a word (entry.quit_quietly). A one-shot command takes SIGTERM and SIGHUP
    as Ctrl-C: it says what it had done when one stopped it (see STORED), where their
    default action ended it without a word. The daemons have their own handlers for them;
    a signal the process was started with ignored (nohup) stays ignored."""
    if signal.getsignal(signal.SIGINT) in (entry.quit_quietly, signal.default_int_handler):
        signal.signal(signal.SIGINT, signal.default_int_handler if daemon else entry.stop)
    if daemon:
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, entry.stop)


_STOP_WORDS = {int(signal.SIGTERM): "terminated", int(signal.SIGHUP): "hung up"}


def stop_word(signum: int) -> str:
    """How a command a stop signal ended says so (`jobctl: terminated: ...`): every path
    that says it uses these words, so that a log tells a CI cancel from a Ctrl-C."""
    return _STOP_WORDS.get(signum, "interrupted")


def _exit_interrupted(signum: int) -> NoReturn:
    """End a command a signal stopped (see _said_interrupted)."""
    sys.exit(_said_interrupted(signum))


def _said_interrupted(signum: int) -> int:
    """The exit code of a command a signal stopped: 130 for Ctrl-C, 128 + N for another, as
    a shell reports them. Output still buffered is dropped (a reader that stalled must not
    hold the exit). What the command had done and its output did not say all of (see
    STORED) is said, as when stdout's reader goes away: a retry would do it all again."""
    import contextlib

    _drop_stdout()
    notes = [n.on_interrupt for n in STORED]
    if entry.unanswered is not None:  # a change sent, whose reply it did not wait for
        notes.append(entry.unanswered.note)
        entry.unanswered = None
    if notes:
        word = stop_word(signum)
        with contextlib.suppress(OSError, ValueError):  # a hangup took the terminal
            print(f"jobctl: {word}: {'; '.join(notes)}", file=sys.stderr)
        STORED.clear()
    return EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum


_HANGUP_PROOF = {"run-worker", "schedule-daemon", "up"}
# Commands that read or change jobs already stored: they go on without a broken config when
# the database is named otherwise (see Globals.config).
_DATABASE_ONLY = {
    "list",
    "show",
    "logs",
    "wait",
    "cancel",
    "status",
    "stats",
    "health",
    "dead",
    "reload",
    "metrics",
    "backup",
    "prune",
    "pause",
    "resume",
}


def _run_typer(
    argv: list[str] | None, args: list[str], name: str | None, completing: bool, owns_process: bool
) -> object:
    """Run the call through the typer app; click's own errors become one line."""
    import importlib

    import typer

    from jobctl.cli.app import app

    # Importing a module registers its commands on the app. A call imports only the module
    # of its command, so click builds a small tree.
    wanted = [COMMAND_MODULES[name]] if name in COMMAND_MODULES and not completing else None
    for module in wanted or ALL_MODULES:
        importlib.import_module(f"jobctl.cli.{module}")
    if completing:
        from jobctl.cli import completions  # noqa: F401  (registers the scripts' protocol)
    if owns_process:
        _imported()

    try:
        return app(args=argv, prog_name="jobctl", standalone_mode=False)
    except typer.Abort:
        _fail("aborted", EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # click's usage errors: bad option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":  # `jobctl`, `jobctl dead`: no command
            # Usage for a mistake goes to stderr, as the error line does: stdout carries
            # results alone (`-h` prints the same help there, as it was asked for).
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                print(ctx.get_help(), file=sys.stderr)
            path = ctx.command_path if ctx is not None else "jobctl"
            _fail(f"'{path}' needs a command, one of those listed above", EXIT_USAGE)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        # click's name for a bounded integer (an id) means nothing to whoever typed `show abc`.
        message = message.replace("is not a valid int range", "is not a whole number")
        message = message.replace("is not a valid int.", "is not a whole number.")
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        misplaced = _global_option_after_command(exc, ctx)
        if misplaced is not None:
            message, hint = misplaced, ""
        _fail(f"{message}{hint}", getattr(exc, "exit_code", EXIT_USAGE))
    return None  # not reached: _fail exits


def _global_option_after_command(exc: Exception, ctx: Context | None) -> str | None:
    """The error for a global option given after the command (`jobctl list --db q.db`), a
    frequent slip in scripts: click says only that the command has no such option, and
    suggests one of the command's own. None for any other error."""
    from typer._click.exceptions import NoSuchOption
    from typer.core import TyperOption

    if not isinstance(exc, NoSuchOption) or ctx is None:
        return None
    root = ctx.find_root()
    for param in root.command.params:
        if isinstance(param, TyperOption) and not param.is_flag and exc.option_name in param.opts:
            metavar = param.metavar or param.type.name.upper()
            command = ctx.command_path.removeprefix(root.command_path).strip()
            return (
                f"{exc.option_name} is a global option: give it before the command,"
                f" as in {root.command_path} {exc.option_name} {metavar} {command}"
            )
    return None


# The module that defines each command (a test checks this against the app).
COMMAND_MODULES = {
    "validate": "config_cmd",
    "cancel": "control",
    "retry": "control",
    "edit": "control",
    "pause": "control",
    "resume": "control",
    "prune": "control",
    "backup": "control",
    "dead": "dead",
    "list": "inspect",
    "show": "inspect",
    "wait": "inspect",
    "stats": "monitor",
    "metrics": "monitor",
    "health": "monitor",
    "status": "observe",
    "logs": "logs",
    "enqueue": "queue",
    "schedule": "schedule",
    "cron": "schedule",
    "import-crontab": "crontab_cmd",
    "run-worker": "worker",
    "schedule-daemon": "worker",
    "up": "worker",
    "reload": "worker",
}
# In the order `jobctl --help` lists their commands: queueing and running first.
ALL_MODULES = [
    "queue",
    "worker",
    "inspect",
    "observe",
    "logs",
    "control",
    "dead",
    "monitor",
    "schedule",
    "crontab_cmd",
    "config_cmd",
]
assert set(ALL_MODULES) == set(COMMAND_MODULES.values())


def _imported() -> None:
    """The modules are loaded: collect from now on, but never look at what they hold.

    Imports allocate tens of thousands of objects that live as long as the process, and
    collections during start-up (about 5 ms of each call) free none of them. Freezing them
    keeps the collections of a long-running worker or daemon from walking them too."""
    gc.freeze()
    gc.enable()


def _check_text(args: list[str]) -> None:
    """Refuse an argument that is not valid UTF-8, before any command sees it.

    Python hands such bytes over as lone surrogates (surrogateescape), which no database,
    JSON document or terminal can take: caught here once, they cannot fail later, half-way
    through a command, or be stored and break every read after."""
    for index, arg in enumerate(args):
        if arg.isascii():
            continue
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = repr(os.fsencode(arg))[1:]  # the bytes, escaped: b'a\xffb' -> 'a\xffb'
            if len(shown) > 80:
                shown = shown[:76] + "...'"
            after = f" (after {args[index - 1]!r})" if index else ""
            _fail(f"argument {index + 1}{after} is not valid UTF-8: {shown}", EXIT_USAGE)


class OutputError(OSError):
    """A write to standard output failed (other than a broken pipe): a full disk, /dev/full,
    an I/O error. Its own class, so that it is told apart from every other OSError. Raised
    only when jobctl owns the process (see _own_streams), and reported by run and _exit."""


class _Stdout(io.FileIO):
    """Descriptor 1, whose failed writes raise OutputError."""

    reader_gone = False  # a write found the pipe's reader gone (`| head` had enough)

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            _Stdout.reader_gone = True
            raise
        except OSError as exc:
            raise OutputError(exc.errno, exc.strerror) from None


def _own_streams() -> None:
    """Make the process's standard streams safe to use, and stdout's failures recognisable.

    A closed descriptor 0, 1 or 2 (`jobctl list >&-`) is opened on /dev/null: left free, the
    database or a log file would take its number, and a job's output or a stray message would
    land in it. A closed stdout thus behaves like /dev/null (whoever closed it asked for no
    output) rather than failing on the first write. Then stdout is set up again over
    _Stdout, with the same encoding and buffering, so that a failed write is reported as one
    line (see OutputError) instead of a traceback."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            _to_devnull(fd)
            stream = open(fd, "r" if fd == 0 else "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            setattr(sys, name, stream)
    _whole_lines_on_stderr()
    out = sys.stdout
    if not isinstance(out, io.TextIOWrapper) or type(out.buffer) not in _STDIO_BUFFERS:
        return  # not the interpreter's own stream (an embedding program replaced it)
    try:
        raw = _Stdout(out.fileno(), "w", closefd=False)
    except (OSError, ValueError):
        return
    out.flush()
    # Unbuffered (python -u, PYTHONUNBUFFERED as in many containers) wrote an id and its
    # newline in two writes: parallel enqueues sharing a pipe glued ids together. Line
    # buffering keeps the promptness and writes each line whole.
    unbuffered = type(out.buffer) is not io.BufferedWriter
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=out.encoding,
        errors=_stdout_errors(out),
        line_buffering=out.line_buffering or unbuffered,
    )


def _stdout_errors(out: io.TextIOWrapper) -> str:
    """stdout's error handler: under a locale that is not UTF-8 (Latin-1, C on an old
    system), a character it cannot encode (a job's “quote” in an error, a CJK key) is
    written as an escape (\\u201c), as stderr and the event log write it; with Python's
    `strict` every table and detail view failed as a whole on it. UTF-8 encodes everything,
    and its handler is left as it was (surrogateescape under a C.UTF-8 locale)."""
    import codecs  # loaded by the interpreter before any of jobctl

    errors = out.errors or "strict"
    if errors != "strict" or codecs.lookup(out.encoding).name == "utf-8":
        return errors
    return "backslashreplace"


class _Stderr(io.TextIOWrapper):
    """stderr, whose failed writes drop what they carried: a note or warning that cannot be
    written (`2>/dev/full`, a full disk under `2>>cron.log`) is lost, not the command. It
    ended the command with Python's own exit code, 120, after its job was stored and before
    its id was printed. (Above the buffer, not in a raw writer of Python code: a stop signal
    taken as such a writer returns would keep in the buffer what it had just written, to be
    written again.)"""

    def write(self, text: str, /) -> int:
        try:
            return super().write(text)
        except OSError:
            self._lose_the_rest()
            return len(text)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            self._lose_the_rest()

    def _lose_the_rest(self) -> None:
        """What is buffered, and all that comes later, goes to /dev/null."""
        import contextlib

        with contextlib.suppress(OSError, ValueError):
            _to_devnull(self.fileno())
            super().flush()


def _whole_lines_on_stderr() -> None:
    """stderr over _Stderr, line-buffered: unbuffered (python -u), a printed line and its
    newline were written apart, so lines of processes sharing it interleaved mid-line."""
    err = sys.stderr
    if not isinstance(err, io.TextIOWrapper) or type(err.buffer) not in _STDIO_BUFFERS:
        return  # not the interpreter's own stream (an embedding program replaced it)
    try:
        raw = io.FileIO(err.fileno(), "w", closefd=False)
    except (OSError, ValueError):
        return
    try:
        err.flush()
    except OSError:
        return
    sys.stderr = _Stderr(
        io.BufferedWriter(raw), encoding=err.encoding, errors=err.errors, line_buffering=True
    )


_STDIO_BUFFERS = (io.BufferedWriter, io.FileIO)


def _own_lines_as_events() -> None:
    """Give run-worker, schedule-daemon and up a stderr where jobctl's own lines become
    events (see _EventStderr): their warnings, notes and the error they stop with are said
    apart from the event log, and broke a JSON log shipper and journald's priorities."""
    err = sys.stderr
    if not isinstance(err, io.TextIOWrapper):
        return  # not the interpreter's own stream (an embedding program replaced it)
    try:
        raw = io.FileIO(err.fileno(), "w", closefd=False)
    except (OSError, ValueError):
        return
    err.flush()
    sys.stderr = _EventStderr(
        io.BufferedWriter(raw), encoding=err.encoding, errors=err.errors, line_buffering=True
    )


class _EventStderr(io.TextIOWrapper):
    """A long-running command's stderr: a line of jobctl's own (`jobctl: warning: ...`,
    `jobctl: note: ...`, `jobctl: <error>`) is written as an event of the log's format, a
    JSON object (`jobctl.warning`, `jobctl.note`, `jobctl.error`, its text as `message`)
    under --log-format json, a line with its priority under journald. Every other line (the
    event log's, a traceback) goes through as written."""

    _OWN = "jobctl: "
    _held: str | None = None  # an own line until its newline: print() writes that apart
    _line_start = True

    def write(self, s: str, /) -> int:
        if self._held is None and not (self._line_start and s.startswith(self._OWN)):
            if s:
                self._line_start = s.endswith("\n")
            return super().write(s)
        line, newline, rest = ((self._held or "") + s).partition("\n")
        if not newline:
            self._held = line
            return len(s)
        self._held = None
        self._line_start = True
        self._say(line)
        if rest:
            self.write(rest)
        return len(s)

    def flush(self) -> None:
        if self._held is not None:  # a line left without its newline: said as it is
            line, self._held = self._held, None
            self._say(line)
        super().flush()

    def _say(self, line: str) -> None:
        from jobctl.cli.context import STATE
        from jobctl.observe.events import EventLog, on_journal, priority_prefix

        text = line[len(self._OWN) :]
        level, kind = "error", "error"
        for word, named in (("warning", "warning"), ("note", "info")):
            if text.startswith(f"{word}: "):
                text, level, kind = text[len(word) + 2 :], named, word
                break
        if STATE.events_format() == "json":
            # (Its lines come back through write() as the event log's: passed on.)
            EventLog(self, "json", "debug").emit(f"jobctl.{kind}", level=level, message=text)
            return
        try:
            journal = on_journal(self.fileno())
        except (OSError, ValueError):
            journal = False
        super().write((priority_prefix(level) if journal else "") + line + "\n")


def _to_devnull(fd: int) -> None:
    """Point descriptor `fd` at /dev/null."""
    devnull = os.open(os.devnull, os.O_RDWR)
    if devnull != fd:
        os.dup2(devnull, fd)
        os.close(devnull)


def _drop_stdout() -> None:
    """Point a failed stdout at /dev/null: what is still in its buffer goes nowhere then,
    instead of failing again (with a traceback) when the interpreter exits."""
    import contextlib

    with contextlib.suppress(OSError, ValueError):
        _to_devnull(sys.stdout.fileno())


class Done(NamedTuple):
    """What a command changed (see STORED): `on_broken_pipe` when its output failed (None:
    its output was no record of it), `on_interrupt` when a signal stopped it."""

    on_broken_pipe: str | None
    on_interrupt: str


class _Notes(list[Done]):
    """STORED: a stop signal held while the change was in flight on a Redis server
    (entry.hold) stops the command once the change is noted here, so that it is said."""

    def append(self, done: Done) -> None:
        super().append(done)
        entry.deliver_held()


# What the command stored or changed before its output failed or a signal stopped it
# (`enqueue`'s jobs, `cancel`'s): said with the failure, since the lines that were to say it
# are lost, and a retry would do it all again.
STORED: list[Done] = _Notes()


def _report_output_error(exc: OSError) -> None:
    """Say that stdout failed (one line on stderr), and drop what it still holds."""
    _drop_stdout()
    notes = [n.on_broken_pipe for n in STORED if n.on_broken_pipe is not None]
    stored = f" ({'; '.join(notes)})" if notes else ""
    print(
        f"jobctl: cannot write to standard output: {exc.strerror or exc}{stored}", file=sys.stderr
    )


def _report_reader_gone() -> None:
    """stdout's reader went away (`| head` had enough): no word, as cat ends, unless the
    command stored something whose ids went unprinted (see STORED), where a retry of the
    step would store it all again. Said only while stderr can still take it."""
    import contextlib

    notes = [n.on_broken_pipe for n in STORED if n.on_broken_pipe is not None]
    if notes:
        with contextlib.suppress(OSError, ValueError):
            print(
                "jobctl: cannot write to standard output: its reader went away"
                f" ({'; '.join(notes)})",
                file=sys.stderr,
                flush=True,
            )
        STORED.clear()  # said once, whichever way the exit goes on


def _fail(message: str, code: int) -> None:
    """Print the error line and exit. The message can carry what a user, a config file or
    the environment chose (a path, a name, a value): control and bidi characters are shown
    escaped, as in tables, so it can neither drive the terminal nor split the line; a word
    of thousands of characters (a number or a name pasted wrong) is quoted by its start, so
    that the line stays one a terminal shows."""
    import re

    from jobctl.text import clean, shorten

    message = re.sub(r"\S{1000,}", lambda long: shorten(long.group(0), 60), message)
    print(f"jobctl: {clean(message)}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    run()
