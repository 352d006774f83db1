"""`jobctl validate`: check a config before it goes live."""

from __future__ import annotations

from typing import Annotated

import typer

from jobctl.cli.app import STATE, app


@app.command(epilog="Example:  jobctl --config /etc/jobctl/jobs.toml validate")
def validate(
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when valid.")] = False,
) -> None:
    """Check the config file; exit 0 when valid, 2 with the first problem otherwise."""
    from jobctl.config import check_schedules

    config = check_schedules(STATE.config(required=True))
    if not quiet:
        typer.echo(
            f"{config.path}: ok ({len(config.jobs)} jobs, {len(config.schedules)} schedules)"
        )
