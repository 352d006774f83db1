"""The `jobctl` entry point: runs the typer app and turns errors into one line and an exit code."""

from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> None:
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
    from jobctl.errors import JobctlError

    try:
        app(args=argv, prog_name="jobctl", standalone_mode=True)
    except JobctlError as exc:
        print(f"jobctl: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("jobctl: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)


if __name__ == "__main__":
    run()
