"""Failure notifications: `on_failure` and `on_dead` commands, cron's MAILTO done right.

A hook runs in a thread of its own with its own timeout; it learns about the job from its
environment only. A failing or hanging hook is logged and killed, and never blocks or fails
the worker. Nor does one the host has no descriptor or process left to start (a failure
storm at the open files or a pids limit): it is tried again within its timeout, and is then
a `hook.failed` line, as is one that gets no thread.

Its output is kept as a job attempt's is: stdout and stderr in a log file of its own,
`<log_dir>/hooks/ID.RUN.EVENT.log` (made at the first byte, capped at
HOOK_LOG_MAX_BYTES), named by the `hook.succeeded` or `hook.failed` event line as `log`,
with the last HOOK_OUTPUT_TAIL bytes of it as `output`. A hooks folder that is a link, or
that others may write to, is refused as a job's log folder is: nothing in it is touched. The
hook still runs, its output kept only for its event line (`no_log` says why): losing the log
matters less than losing the alert.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import tempfile
import threading
import time
from pathlib import Path

from jobctl.config import JobType, Settings
from jobctl.executor import HOST_LIMITS, AttemptSpec, Execution
from jobctl.logfiles import hook_log_path, read_tail
from jobctl.logfolders import remove_log
from jobctl.models import AttemptResult, Job, Outcome
from jobctl.observe.events import LEVELS, EventLog
from jobctl.payload import compact_json
from jobctl.processes import environment_for_jobs
from jobctl.text import clean

HOOK_KILL_GRACE = 2.0
HOOK_LOG_MAX_BYTES = 1024 * 1024  # a notification, not a job: its log is cut to its last MiB
HOOK_OUTPUT_TAIL = 1024  # bytes of the end of its output in its event line
_START_RETRY_FIRST = 0.05  # seconds before a start the host's limits refused is tried again
_START_RETRY_LONGEST = 1.0


def hook_for(event: str, job_type: JobType, settings: Settings) -> tuple[str, ...] | None:
    """The job type's own hook, else the settings' default; none where the job type says
    `false` (an empty command): a noisy job type opts out of a [settings] hook."""
    own = job_type.on_failure if event == "failure" else job_type.on_dead
    default = settings.on_failure if event == "failure" else settings.on_dead
    chosen = own if own is not None else default
    return chosen or None


def hook_error(error: str | None) -> str:
    """$JOBCTL_ERROR: the attempt's error on one line, cleaned as its event line shows it.
    Raw, a job's stderr put newlines, CRs and ESC sequences into `mail -s "$JOBCTL_ERROR"`
    (headers of the job's making) or a webhook's JSON; $JOBCTL_LOG has the output as written."""
    if not error:
        return ""
    return clean(error.replace("\r\n", "\n").replace("\n", " ⏎ "))


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
    after: RunningHook | None = None,
) -> RunningHook:
    """Start the hook in the background. It ends by `timeout` (plus the kill grace) at the
    latest; a stopping worker may wait for it, or stop it sooner.

    `run` is the run of the attempt that ended, which names the hook's log and is its
    $JOBCTL_RUN; a caller that does not know it gives None: the attempt names the log then,
    and the hook gets no $JOBCTL_RUN.

    `after`: a hook of the same attempt this one starts after (on_dead after on_failure),
    so that "gave up" never comes before "attempt N failed", and one may read what the
    other wrote. Its own timeout counts from its own start."""
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
            "JOBCTL_ERROR": hook_error(result.error),
            "JOBCTL_LOG": result.log_path or "",
            "JOBCTL_PAYLOAD": compact_json(job.payload),  # as the job's own attempts get it
        }
    )
    if job.command is not None:  # an --exec job, whose name is always "exec"
        env["JOBCTL_COMMAND"] = shlex.join(job.command)
    if run is not None:
        env["JOBCTL_RUN"] = str(run)
    log_name = hook_log_path(log_dir, job.id, attempt if run is None else run, event)
    spec = AttemptSpec(
        argv=argv,
        env=env,
        log_path=log_name,
        timeout=timeout,
        kill_grace=HOOK_KILL_GRACE,
        log_max_bytes=HOOK_LOG_MAX_BYTES,
    )

    fields: dict[str, object] = {"job_id": job.id, "job": job.job, "hook": event}

    def failed(error: str) -> None:
        log.emit("hook.failed", level="warning", **fields, error=error)

    no_log: str | None = None
    try:
        # A file found at this name is another hook's output, not this one's to append to: of
        # a purged job that had this id (or, with no run known, of an earlier life of this
        # job, whose attempts a dead retry counted from 1 again).
        remove_log(spec.log_path)
    except OSError as exc:
        # The hooks folder is refused (a link, not a folder, or writable by others): nothing
        # is written there, yet the alert is sent. Its output goes to a private scratch
        # folder for its event line alone, and is removed with it.
        refused = _reason(exc)
        no_log = f"{refused}; its output is not kept"
        try:
            spec = spec._replace(log_path=_scratch_log(os.path.basename(log_name)))
        except OSError as scratch_failed:
            failed(f"not run: {refused}; no scratch folder either: {_reason(scratch_failed)}")
            return RunningHook(None)
    hook = RunningHook(None)

    def run_to_end() -> None:
        try:
            run_and_tell()
        finally:
            if no_log is not None:
                _release_scratch(spec.log_path)

    def run_and_tell() -> None:
        if after is not None:
            after.join()
        try:
            outcome = _start_and_run(hook, spec)
        except _NotStarted as exc:
            failed(str(exc))
            return
        except Exception as exc:  # a bug or an OS failure: an event line, never a traceback
            failed(f"hook error: {exc}")
            return
        succeeded = outcome.outcome == Outcome.SUCCEEDED
        event_name = "hook.succeeded" if succeeded else "hook.failed"
        # A hook that succeeded yet lost its log, or output on a full disk ("output lost (no
        # space left on device)", in its error as in an attempt's), says so where it is seen.
        level = "debug" if succeeded and not outcome.error and no_log is None else "warning"
        done = dict(fields)
        done["error"] = outcome.error
        if no_log is not None:
            done["no_log"] = no_log
        if LEVELS[level] >= log.threshold:  # the file is read only for a line that is shown
            done["output"] = output_tail(outcome.log_path)
            if no_log is None:
                done["log"] = outcome.log_path or None  # none when the hook wrote nothing
        log.emit(event_name, level=level, **done)

    thread = threading.Thread(target=run_to_end, name=f"hook-{job.id}-{event}", daemon=True)
    try:
        thread.start()
    except RuntimeError as exc:  # "can't start new thread": a pids limit (TasksMax=)
        failed(f"not run: the worker could not start a thread for it ({exc})")
        if no_log is not None:
            _release_scratch(spec.log_path)
        return RunningHook(None)
    hook.thread = thread
    return hook


class _NotStarted(Exception):
    """The hook never started: its `hook.failed` line says why."""


def _start_and_run(hook: RunningHook, spec: AttemptSpec) -> AttemptResult:
    """Run the hook to its end. A start the host's limits refuse (no descriptor or process
    to be had, in the failure storm that sets off many hooks at once) is tried again, more
    slowly each time, within the hook's timeout: the one alert that a job is lost was
    dropped. The hook runs for what is left of its timeout."""
    assert spec.timeout is not None
    deadline = time.monotonic() + spec.timeout
    pause = _START_RETRY_FIRST
    refused = False
    while True:
        if hook.stopped:  # the worker left first (while the hook before it ran, say)
            raise _NotStarted("not run: stopped by worker shutdown")
        left = deadline - time.monotonic()
        try:
            execution = Execution(spec._replace(timeout=max(left, 0.001)) if refused else spec)
        except OSError as exc:
            if exc.errno not in HOST_LIMITS:
                raise
            error = exc
        else:
            hook.execution = execution
            if hook.stopped:  # (stop() looks at `execution` after it says it stopped)
                execution.close()
                continue
            try:
                return execution.run()
            except OSError as exc:
                if execution.started or exc.errno not in HOST_LIMITS:
                    raise
                error = exc
        if left <= pause:
            raise _NotStarted(
                f"not run: the worker could not start a process ({error.strerror or error})"
            )
        hook.wait_for_stop(pause)
        pause = min(2 * pause, _START_RETRY_LONGEST)
        refused = True


_scratch_lock = threading.Lock()
_scratch_root: str | None = None
_scratch_users = 0  # the hooks writing there now: the folder goes with the last one


def _scratch_log(name: str) -> str:
    """A log path in this process's private scratch folder (made on first use, 0700, in the
    temp folder), for a hook whose hooks folder is refused: the log code writes only to a
    folder it checked, so its output goes there until its event line is written. Each path
    handed out is given back with _release_scratch."""
    global _scratch_root, _scratch_users
    with _scratch_lock:
        if _scratch_root is None or not os.path.isdir(_scratch_root):
            _scratch_root = tempfile.mkdtemp(prefix="jobctl-hooks-")
        _scratch_users += 1
        path = os.path.join(_scratch_root, "hooks", name)
    try:
        remove_log(path)
    except OSError:
        _release_scratch(path)
        raise
    return path


def _release_scratch(path: str | None) -> None:
    """Remove a hook's scratch log, and with the last one the scratch folder itself: a worker
    that made one left an empty folder in the temp folder at each start, for good."""
    global _scratch_root, _scratch_users
    if path:
        with contextlib.suppress(OSError):
            remove_log(path)
    with _scratch_lock:
        _scratch_users -= 1
        if _scratch_users > 0 or _scratch_root is None:
            return
        root, _scratch_root = _scratch_root, None
        for folder in (os.path.join(root, "hooks"), root):
            with contextlib.suppress(OSError):  # gone already, or holding what is not ours
                os.rmdir(folder)


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
    """A hook's thread (None when it could not start: its `hook.failed` line is written),
    and its command once its thread made it."""

    def __init__(self, thread: threading.Thread | None) -> None:
        self.thread = thread
        self.execution: Execution | None = None
        self._stopped = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def wait_for_stop(self, timeout: float) -> None:
        self._stopped.wait(timeout)

    def stop(self) -> None:
        """Kill its process group now (the worker is leaving and will not wait longer); a
        hook not started yet never starts."""
        self._stopped.set()
        execution = self.execution
        if execution is not None:
            execution.stop(Outcome.INTERRUPTED, force=True)
