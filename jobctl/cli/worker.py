"""`jobctl run-worker`: run jobs from the queue."""

from __future__ import annotations

from typing import Annotated

import typer

from jobctl.cli.app import STATE, app


@app.command(
    "run-worker",
    epilog="Examples:  jobctl run-worker --concurrency 4  |  jobctl run-worker --burst -q mail",
)
def run_worker(
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", "-q", help="Take jobs from this queue (repeat; default: all)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, max=1024, help="Jobs at once.")
    ] = 1,
    burst: Annotated[
        bool, typer.Option("--burst", help="Exit once nothing is ready or running.")
    ] = False,
    shutdown_timeout: Annotated[
        str,
        typer.Option("--shutdown-timeout", help="On SIGTERM/SIGINT, let running jobs finish."),
    ] = "30s",
    name: Annotated[
        str | None, typer.Option("--worker-name", help="Worker id (default: host:pid:random).")
    ] = None,
) -> None:
    """Run jobs until stopped. SIGTERM or Ctrl-C: finish running jobs, then exit 0;
    a second Ctrl-C stops at once (interrupted jobs are queued again)."""
    from jobctl.durations import parse_duration
    from jobctl.errors import DurationError
    from jobctl.observe.events import EventLog
    from jobctl.worker import Worker, WorkerOptions

    try:
        grace = parse_duration(shutdown_timeout)
    except DurationError as exc:
        raise DurationError(f"--shutdown-timeout: {exc}") from None
    config = STATE.config()
    options = WorkerOptions(
        queues=tuple(queue) if queue else None,
        concurrency=concurrency,
        burst=burst,
        shutdown_timeout=grace,
        name=name,
    )
    with STATE.store(durability="normal") as store:
        code = Worker(store, config, options, log=EventLog()).run()
    raise typer.Exit(code)
