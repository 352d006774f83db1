"""The `jobctl` entry point: runs the typer app and turns every error into one line on stderr
and a documented exit code (see jobctl.errors)."""

from __future__ import annotations

import os
import sys


def run(argv: list[str] | None = None) -> None:
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


def _fail(message: str, code: int) -> None:
    print(f"jobctl: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    run()
