"""The `jobctl` entry point: runs the typer app and turns every error into one line on stderr
and a documented exit code (see jobctl.errors)."""

from __future__ import annotations

import os
import sys


def run(argv: list[str] | None = None) -> None:
    import typer

    # Importing registers the commands on the app.
    from jobctl.cli import (  # noqa: F401
        config_cmd,
        control,
        dead,
        inspect,
        monitor,
        observe,
        queue,
        schedule,
        worker,
    )
    from jobctl.cli.app import app
    from jobctl.errors import EXIT_USAGE, JobctlError

    if "_JOBCTL_COMPLETE" in os.environ:
        from jobctl.cli import completions  # noqa: F401  (registers the scripts' protocol)

    try:
        code = app(args=argv, prog_name="jobctl", standalone_mode=False)
    except JobctlError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Abort:
        _fail("aborted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
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


def _fail(message: str, code: int) -> None:
    print(f"jobctl: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    run()
