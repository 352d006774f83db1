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
from jobctl.models import AttemptResult, Job, Outcome
from jobctl.observe.events import EventLog

HOOK_KILL_GRACE = 2.0


def hook_for(event: str, job_type: JobType, settings: Settings) -> tuple[str, ...] | None:
    own = job_type.on_failure if event == "failure" else job_type.on_dead
    default = settings.on_failure if event == "failure" else settings.on_dead
    return own or default


def hook_timeout(job_type: JobType, settings: Settings) -> float:
    """A job type's own timeout, else the settings' default, whichever hook runs."""
    return job_type.hook_timeout if job_type.hook_timeout is not None else settings.hook_timeout


def run_hook(
    event: str,
    argv: tuple[str, ...],
    job: Job,
    attempt: int,
    result: AttemptResult,
    timeout: float,
    log_dir: Path,
    log: EventLog,
) -> RunningHook:
    """Start the hook in the background. It ends by `timeout` (plus the kill grace) at the
    latest; a stopping worker may wait for it, or stop it sooner."""
    env = dict(os.environ)
    env.update(
        {
            "JOBCTL_EVENT": event,
            "JOBCTL_JOB_ID": str(job.id),
            "JOBCTL_JOB_NAME": job.job,
            "JOBCTL_QUEUE": job.queue,
            "JOBCTL_ATTEMPT": str(attempt),
            "JOBCTL_MAX_ATTEMPTS": str(job.max_attempts),
            "JOBCTL_EXIT_CODE": "" if result.exit_code is None else str(result.exit_code),
            "JOBCTL_ERROR": result.error or "",
            "JOBCTL_LOG": result.log_path or "",
        }
    )
    spec = AttemptSpec(
        argv=argv,
        env=env,
        log_path=str(log_dir / "hooks" / f"{job.id}.{attempt}.{event}.log"),
        timeout=timeout,
        kill_grace=HOOK_KILL_GRACE,
    )

    execution = Execution(spec)

    def run() -> None:
        outcome = execution.run()
        fields: dict[str, object] = {"job_id": job.id, "job": job.job, "hook": event}
        if outcome.outcome == Outcome.SUCCEEDED:
            log.emit("hook.succeeded", level="debug", **fields)
        else:
            log.emit("hook.failed", level="warning", error=outcome.error, **fields)

    thread = threading.Thread(target=run, name=f"hook-{job.id}-{event}", daemon=True)
    thread.start()
    return RunningHook(thread, execution)


class RunningHook:
    def __init__(self, thread: threading.Thread, execution: Execution) -> None:
        self.thread = thread
        self.execution = execution

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        """Kill its process group now (the worker is leaving and will not wait longer)."""
        self.execution.stop(Outcome.INTERRUPTED, force=True)
