"""The `jobctl` entry point: runs the typer app and turns every error into one line on stderr
and a documented exit code (see jobctl.errors)."""

from __future__ import annotations

import gc
import os
import sys
from typing import NoReturn


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
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            _exit(exc.code or 0)
        raise


def _exit(code: int) -> NoReturn:
    """End the process the moment its command is done: tearing the interpreter down frees
    some three hundred modules object by object, 2 to 3 ms of every call, for nothing. Only
    when nothing else was to run at exit (no other thread, no atexit handler) and the output
    is flushed; otherwise Python's own exit, without its last full collection (everything
    still alive lives until then anyway)."""
    import atexit
    import threading

    if threading.active_count() == 1 and not atexit._ncallbacks():
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
    import importlib

    import typer

    from jobctl.cli.app import app
    from jobctl.errors import EXIT_USAGE, JobctlError

    # Importing a module registers its commands on the app. A call imports only the module
    # of its command, so click builds a small tree: `enqueue` runs in shell loops.
    name = command_name(sys.argv[1:] if argv is None else argv)
    completing = "_JOBCTL_COMPLETE" in os.environ
    wanted = [COMMAND_MODULES[name]] if name in COMMAND_MODULES and not completing else None
    for module in wanted or ALL_MODULES:
        importlib.import_module(f"jobctl.cli.{module}")
    if completing:
        from jobctl.cli import completions  # noqa: F401  (registers the scripts' protocol)
    if owns_process:
        _imported()

    try:
        code = app(args=argv, prog_name="jobctl", standalone_mode=False)
    except JobctlError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Abort:
        _fail("aborted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OverflowError:  # an id or a number beyond what the database stores
        _fail("a number given is too large (at most 9223372036854775807)", EXIT_USAGE)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except typer.TyperException as exc:  # click's usage errors: bad option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                print(ctx.get_help())
            sys.exit(EXIT_USAGE)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(f"{message}{hint}", getattr(exc, "exit_code", EXIT_USAGE))
    sys.exit(code if isinstance(code, int) else 0)


# The module that defines each command (a test checks this against the app).
COMMAND_MODULES = {
    "validate": "config_cmd",
    "cancel": "control",
    "retry": "control",
    "pause": "control",
    "resume": "control",
    "prune": "control",
    "dead": "dead",
    "list": "inspect",
    "show": "inspect",
    "wait": "inspect",
    "stats": "monitor",
    "metrics": "monitor",
    "health": "monitor",
    "status": "observe",
    "logs": "observe",
    "enqueue": "queue",
    "schedule": "schedule",
    "cron": "schedule",
    "import-crontab": "schedule",
    "run-worker": "worker",
    "schedule-daemon": "worker",
    "up": "worker",
    "reload": "worker",
}
ALL_MODULES = sorted(set(COMMAND_MODULES.values()))
_GLOBAL_WITH_VALUE = {"-c", "--config", "--db", "--log-format", "--log-level"}


def command_name(args: list[str]) -> str | None:
    """The command word after the global options, or None (help, version, nothing)."""
    index = 0
    while index < len(args):
        word = args[index]
        if word in _GLOBAL_WITH_VALUE:
            index += 2
            continue
        if word.startswith("-"):
            index += 1  # --config=FILE, --version, --help
            continue
        return word
    return None


def _imported() -> None:
    """The modules are loaded: collect from now on, but never look at what they hold.

    Imports allocate tens of thousands of objects that live as long as the process, and
    collections during start-up (about 5 ms of each call) free none of them. Freezing them
    keeps the collections of a long-running worker or daemon from walking them too."""
    gc.freeze()
    gc.enable()


def _fail(message: str, code: int) -> None:
    print(f"jobctl: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    run()
