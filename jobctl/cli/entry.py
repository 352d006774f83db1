"""The `jobctl` program's first instructions (its console script, and `python -m jobctl`).

Importing jobctl.cli.main and what it needs takes 40 to 90 ms, and until its _dispatch runs
no handler of jobctl's is in place: a SIGHUP then killed run-worker, up and schedule-daemon
(a systemd reload right after the start left the service down, as a death by SIGHUP counts
as clean), and a Ctrl-C printed a traceback of the imports. So these are set here, before
any other import of jobctl's: this module imports only what the interpreter has
loaded already."""

from __future__ import annotations

# The interpreter's own signal module, not `signal`, whose enum import alone takes longer
# than the rest of this module; and no typing either.
import _signal as signal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

# The commands that re-read their config on SIGHUP and never stop on it (main._HANGUP_PROOF).
HANGUP_PROOF = frozenset({"run-worker", "schedule-daemon", "up"})
# The global options that take a value (fastpath.GLOBAL_OPTIONS: a test holds them equal).
GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--config", "-c", "--db", "--log-format", "--log-level"})
# Exit code of an interrupted command (jobctl.errors.EXIT_INTERRUPTED).
EXIT_INTERRUPTED = 130


def main() -> None:
    """Set the signals of the first moment, then run the command (jobctl.cli.main.run)."""
    if command_word(sys.argv[1:]) in HANGUP_PROOF and "_JOBCTL_COMPLETE" not in os.environ:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Left alone when ignored (a background job of a shell, nohup): it stays ignored.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, quit_quietly)
    from jobctl.cli.main import run

    run()


def quit_quietly(signum: int, frame: object) -> NoReturn:
    """Ctrl-C before the command runs: nothing was done, and nothing is said (no traceback of
    the imports), as Ctrl-C ends a command: 130. _dispatch hands SIGINT back to Python."""
    os._exit(EXIT_INTERRUPTED)


def command_word(args: list[str]) -> str | None:
    """The command word after the global options, or None (help, version, nothing):
    `--config=FILE`, `--version` and `--help` are one word each."""
    index = 0
    while index < len(args):
        word = args[index]
        if word in GLOBAL_OPTIONS_WITH_VALUE:
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            return word
    return None


class Stopped(KeyboardInterrupt):
    """SIGINT, SIGTERM (a CI runner cancelling its step, `timeout`), SIGHUP (a closing
    terminal or ssh session) or SIGQUIT on a wait: ends a one-shot command as Ctrl-C does,
    and says with what (`signum`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def stop(signum: int, frame: object) -> NoReturn:
    """The handler that turns a stop signal into Stopped, and keeps it in `received`: typer
    ends a command a KeyboardInterrupt stopped with 130, and _dispatch says what the signal
    came after and exits with its own code."""
    global received
    received = signum
    raise Stopped(signum)


received: int | None = None  # the last stop signal `stop` took


class Unanswered(Stopped):
    """A second stop signal while a change sent to the server awaited its reply: it ends
    the command at once, and `note` says that the change may or may not be done."""

    def __init__(self, signum: int, note: str) -> None:
        super().__init__(signum)
        self.note = note


def give_up(signum: int, note: str) -> NoReturn:
    """End the command at once on a stop signal, though a change it sent is unanswered:
    `note` is said with the exit (typer ends it with 130 before _dispatch sees why)."""
    global received, unanswered
    received = signum
    unanswered = Unanswered(signum, note)
    raise unanswered


def hold(signum: int) -> None:
    """Keep a stop signal that came while a change was in flight, for `deliver_held` to act
    on once the command has noted what it changed (main.STORED): acted on at once, it ended
    the command before it could say so. One never delivered still ends the command with
    its code (see `received`)."""
    global held, received
    held = received = signum


def deliver_held() -> None:
    """Act on the stop signal `hold` kept, if any: the command stops here."""
    global held
    if held is not None:
        signum, held = held, None
        stop(signum, None)


held: int | None = None  # a stop signal kept until the change it came during is noted
unanswered: Unanswered | None = None  # what `give_up` ended the command with
