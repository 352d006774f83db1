"""Failure notifications: `on_failure` and `on_dead` commands, cron's MAILTO done right.

A hook runs in a thread of its own with its own timeout; it learns about the job from its
environment only. A failing or hanging hook is logged and killed, and never blocks or fails
the worker.

Its output is kept as a job attempt's is: stdout and stderr in a log file of its own,
`<log_dir>/hooks/ID.RUN.EVENT.log` (made at the first byte, capped at
HOOK_LOG_MAX_BYTES), named by the `hook.succeeded` or `hook.failed` event line as `log`,
with the last HOOK_OUTPUT_TAIL bytes of it as `output`. A hooks folder that is a link, or
that others may write to, is refused as a job's log folder is: nothing in it is touched, the
hook is not run, and its `hook.failed` line says why.
"""

from __future__ import annotations

import threading
from pathlib import Path

from jobctl.config import JobType, Settings
from jobctl.executor import AttemptSpec, Execution
from jobctl.logfiles import hook_log_path, read_tail
from jobctl.logfolders import remove_log
from jobctl.models import AttemptResult, Job, Outcome
from jobctl.observe.events import LEVELS, EventLog
from jobctl.processes import environment_for_jobs

HOOK_KILL_GRACE = 2.0
HOOK_LOG_MAX_BYTES = 1024 * 1024  # a notification, not a job: its log is cut to its last MiB
HOOK_OUTPUT_TAIL = 1024  # bytes of the end of its output in its event line


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
    run: int | None = None,
) -> RunningHook:
    """Start the hook in the background. It ends by `timeout` (plus the kill grace) at the
    latest; a stopping worker may wait for it, or stop it sooner.

    `run` is the run of the attempt that ended, which names the hook's log and is its
    $JOBCTL_RUN; a caller that does not know it gives None: the attempt names the log then,
    and the hook gets no $JOBCTL_RUN."""
    env = environment_for_jobs()
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
    if run is not None:
        env["JOBCTL_RUN"] = str(run)
    spec = AttemptSpec(
        argv=argv,
        env=env,
        log_path=hook_log_path(log_dir, job.id, attempt if run is None else run, event),
        timeout=timeout,
        kill_grace=HOOK_KILL_GRACE,
        log_max_bytes=HOOK_LOG_MAX_BYTES,
    )

    fields: dict[str, object] = {"job_id": job.id, "job": job.job, "hook": event}

    def failed(error: str) -> None:
        log.emit("hook.failed", level="warning", **fields, error=error)

    try:
        # A file found at this name is another hook's output, not this one's to append to: of
        # a purged job that had this id (or, with no run known, of an earlier life of this
        # job, whose attempts a dead retry counted from 1 again).
        remove_log(spec.log_path)
    except OSError as exc:
        # The hooks folder is refused (a link, not a folder, or writable by others): the hook
        # is not run, as a job whose log folder is refused is not, and its line says why.
        thread = threading.Thread(
            target=failed,
            args=(f"not run: {_reason(exc)}",),
            name=f"hook-{job.id}-{event}",
            daemon=True,
        )
        thread.start()
        return RunningHook(thread, None)
    execution = Execution(spec)

    def run_to_end() -> None:
        try:
            outcome = execution.run()
        except Exception as exc:  # a bug or an OS failure: an event line, never a traceback
            failed(f"hook error: {exc}")
            return
        succeeded = outcome.outcome == Outcome.SUCCEEDED
        event_name, level = ("hook.succeeded", "debug") if succeeded else ("hook.failed", "warning")
        done = dict(fields)
        if not succeeded:
            done["error"] = outcome.error
        if LEVELS[level] >= log.threshold:  # the file is read only for a line that is shown
            done["output"] = output_tail(outcome.log_path)
            done["log"] = outcome.log_path or None  # none when the hook wrote nothing
        log.emit(event_name, level=level, **done)

    thread = threading.Thread(target=run_to_end, name=f"hook-{job.id}-{event}", daemon=True)
    thread.start()
    return RunningHook(thread, execution)


def _reason(exc: OSError) -> str:
    """An OSError as one line: the check's own message, or "PATH: strerror"."""
    if exc.strerror is None:
        return str(exc)
    return f"{exc.filename}: {exc.strerror}" if exc.filename is not None else exc.strerror


def output_tail(path: str | None, limit: int = HOOK_OUTPUT_TAIL) -> str | None:
    """The end of a hook's log (its stdout and stderr as they came), at most `limit` bytes
    and cut to whole lines where it can be; None when it wrote nothing or the file is gone.
    A long output keeps its end: the last words of a failing command say the most."""
    data = read_tail(path, limit + 1)  # one byte more tells whether the start is cut
    if data is None:
        return None
    if len(data) > limit:
        data = data[1:]
        data = data[data.find(b"\n") + 1 :] or data  # drop the partial first line
    return data.decode("utf-8", "replace").strip() or None


class RunningHook:
    """A hook's thread, and its command unless it was refused before it started (then
    `execution` is None and the thread only writes the `hook.failed` line)."""

    def __init__(self, thread: threading.Thread, execution: Execution | None) -> None:
        self.thread = thread
        self.execution = execution

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        """Kill its process group now (the worker is leaving and will not wait longer)."""
        if self.execution is not None:
            self.execution.stop(Outcome.INTERRUPTED, force=True)
