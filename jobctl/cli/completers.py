"""Completion callbacks (typer `autocompletion=`) for job, queue and state names.

They run only while a shell completes a value, so they read the config and the database
then, never at start-up. The scripts and the protocol that calls them are in completions.py,
which loads only when a shell asks for completions. No `from __future__ import annotations`:
typer reads these signatures on every call (see jobctl.cli.app).
"""

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from jobctl.config import Config


def complete_job(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """A --job filter's names: the config's job types, then `exec`, the name of the jobs
    queued with `enqueue --exec`, which every such filter accepts."""
    from jobctl.config import ADHOC_JOB

    names = _job_types(ctx, incomplete)
    if ADHOC_JOB.startswith(incomplete):
        names.append((ADHOC_JOB, "Commands queued with enqueue --exec"))
    return names


def _job_types(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Job names defined in the config."""
    config = _config(ctx)
    if config is None:
        return []
    return [
        (name, job.description or "")
        for name, job in sorted(config.jobs.items())
        if name.startswith(incomplete)
    ]


def complete_schedule(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Schedule names defined in the config."""
    config = _config(ctx)
    if config is None:
        return []
    return [
        (name, spec.description or spec.cron)
        for name, spec in sorted(config.schedules.items())
        if name.startswith(incomplete)
    ]


def complete_enqueue(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The job name of `enqueue` (its first word, unless --exec makes the words a command)."""
    if ctx.params.get("args") or ctx.params.get("exec_"):
        return []
    return _job_types(ctx, incomplete)  # not `exec`: that one is queued with --exec


def complete_queue(ctx: typer.Context, incomplete: str) -> list[str]:
    """Queue names from the config, and those the database already knows."""
    import contextlib
    import time

    from jobctl.cli.context import Globals
    from jobctl.config import DEFAULT_QUEUE
    from jobctl.errors import JobctlError

    config = _config(ctx)
    names = queues_named_in(config) if config is not None else {DEFAULT_QUEUE}
    root = ctx.find_root().params
    state = Globals(config_path=_expanded(root.get("config")), db=_expanded(root.get("db")))
    with contextlib.suppress(JobctlError, OSError), state.store(create=False) as store:
        names.update(c.queue for c in store.queue_counts(time.time()))
    return sorted(n for n in names if n.startswith(incomplete))


def queues_named_in(config: "Config") -> set[str]:
    """The queues a config names: the default one, its job types', its schedules' and those
    declared in `[queues.NAME]` (with a limit or not), as a queue for ad-hoc commands is
    before anything else uses it. (`pause` and `resume` accept these, and those the database
    knows, and no other.)"""
    from jobctl.config import DEFAULT_QUEUE

    names = {DEFAULT_QUEUE}
    names.update(job.queue for job in config.jobs.values())
    names.update(s.queue for s in config.schedules.values() if s.queue)
    names.update(config.queues)
    return names


def complete_state(incomplete: str) -> list[str]:
    from jobctl.models import State

    return [s.value for s in State if s.value.startswith(incomplete)]


def complete_final_state(incomplete: str) -> list[str]:
    from jobctl.models import FINAL_STATES

    return [s.value for s in FINAL_STATES if s.value.startswith(incomplete)]


def _config(ctx: typer.Context) -> "Config | None":
    """The config named on the command line being completed (or found the usual way);
    None when it is missing or broken, since a completion must never print an error."""
    from jobctl.config import load_config
    from jobctl.errors import JobctlError

    try:
        return load_config(_expanded(ctx.find_root().params.get("config")))
    except JobctlError:
        return None


def _expanded(path: "str | None") -> "str | None":
    """A path from the line being completed, as the shell will pass it when the command runs:
    the script hands the raw line over, `-c ~/proj/jobs.toml` with its ~ still there."""
    import os

    return os.path.expanduser(path) if path else path
