"""Failure notifications: `on_failure` and `on_dead` commands, cron's MAILTO done right.

A hook runs in a thread of its own with its own timeout; it learns about the job from its
environment only. A failing or hanging hook is logged and killed, and never blocks or fails
the worker.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from jobctl.config import JobType, Settings
from jobctl.executor import AttemptSpec, Execution
from jobctl.models import AttemptResult, Claim, Outcome
from jobctl.observe.events import EventLog

_HOOK_KILL_GRACE = 2.0


def hook_for(event: str, job_type: JobType, settings: Settings) -> tuple[str, ...] | None:
    own = job_type.on_failure if event == "failure" else job_type.on_dead
    default = settings.on_failure if event == "failure" else settings.on_dead
    return own or default


def run_hook(
    event: str,
    argv: tuple[str, ...],
    claim: Claim,
    result: AttemptResult,
    timeout: float,
    log_dir: Path,
    log: EventLog,
) -> threading.Thread:
    """Start the hook in the background; returns its thread (tests may join it)."""
    job = claim.job
    env = dict(os.environ)
    env.update(
        {
            "JOBCTL_EVENT": event,
            "JOBCTL_JOB_ID": str(job.id),
            "JOBCTL_JOB_NAME": job.job,
            "JOBCTL_QUEUE": job.queue,
            "JOBCTL_ATTEMPT": str(claim.attempt),
            "JOBCTL_MAX_ATTEMPTS": str(job.max_attempts),
            "JOBCTL_EXIT_CODE": "" if result.exit_code is None else str(result.exit_code),
            "JOBCTL_ERROR": result.error or "",
            "JOBCTL_LOG": result.log_path or "",
        }
    )
    spec = AttemptSpec(
        argv=argv,
        env=env,
        log_path=log_dir / "hooks" / f"{job.id}.{claim.run}.{event}.log",
        timeout=timeout,
        kill_grace=_HOOK_KILL_GRACE,
    )

    def run() -> None:
        outcome = Execution(spec).run()
        fields: dict[str, object] = {"job_id": job.id, "job": job.job, "hook": event}
        if outcome.outcome == Outcome.SUCCEEDED:
            log.emit("hook.succeeded", level="debug", **fields)
        else:
            log.emit("hook.failed", level="warning", error=outcome.error, **fields)

    thread = threading.Thread(target=run, name=f"hook-{job.id}-{event}", daemon=True)
    thread.start()
    return thread
