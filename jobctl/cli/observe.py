"""`jobctl status`, and following a job: what the queue is doing, and what a job prints.

Following a job (`logs --follow`, `enqueue --wait`) polls the store and the attempt's log
file, like `tail -f`: the store says which attempt runs and when the job has ended, the
file holds its output. An attempt's log is complete once the store records its end.
"""

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, NamedTuple, NoReturn, TextIO

import typer

from jobctl.cli.app import app
from jobctl.cli.attemptlogs import (
    FollowedOutput,
    LogReader,
    attempt_log,
    gone_line,
    say_stored_tail,
)
from jobctl.cli.context import STATE
from jobctl.cli.entry import Stopped
from jobctl.cli.options import duration_option
from jobctl.cli.unserved import why_nobody_runs
from jobctl.errors import EXIT_INTERRUPTED
from jobctl.store.base import OUTAGE_GRACE
from jobctl.text import say

if TYPE_CHECKING:
    from jobctl.models import Attempt, Job, WorkerInfo
    from jobctl.store import Store

RUNNING_SHOWN = 1000  # `status` lists at most this many running jobs
_POLL_MIN = 0.02
_POLL_MAX = 0.25


class Patience:
    """What a polling command (wait, logs --follow, enqueue --wait) makes of a store error:
    it rides out a short outage, as workers do, retrying for up to GRACE seconds before it
    reports the error."""

    GRACE = OUTAGE_GRACE

    def __init__(self) -> None:
        self._since: float | None = None
        self._error: Exception | None = None

    def failed(self, error: Exception) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        self._error = error
        if now - self._since >= self.GRACE:
            raise error

    def answered(self) -> None:
        self._since = None

    def outage(self) -> str | None:
        """While the store fails: for how long, and its error, for a timeout line to say
        (a wait that timed out in an outage is not a job still running)."""
        if self._since is None:
            return None
        lasting = time.monotonic() - self._since
        return f"the store has not answered for {lasting:.0f}s: {self._error}"


@app.command(
    epilog="Examples:  jobctl status  |  watch -n1 jobctl status  |  jobctl status --json",
)
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Per queue: counts by state, the oldest ready job's age, paused or not; then the
    running jobs (with those cancelled whose processes are still stopping) and the live
    workers."""
    from jobctl.documents import print_json, status_document
    from jobctl.models import JobFilter, State
    from jobctl.render import status_tables

    now = time.time()
    with STATE.store(create=False) as store:
        queues = store.queue_counts(now)
        running = store.list_jobs(
            JobFilter(states=(State.RUNNING,), limit=RUNNING_SHOWN, newest_first=False)
        )
        registered = store.workers()
        alive = [w for w in registered if w.alive(now)]
        past = RunningPast.read(store, running, alive)
        warnings = store.warnings()
        # Cancelled, their processes still stopping: they hold their slots (max_running).
        ending = store.list_jobs(
            JobFilter(states=(State.CANCELLED,), leased=True, limit=None, newest_first=False)
        )
        limits, rates = STATE.config().queue_limits, STATE.config().queue_rates
        # Until when each queue's rate holds its ready jobs back: a read per rated queue.
        opens = {name: store.next_rate_start([name], {name: rates[name]}, now) for name in rates}
        held = {name: at for name, at in opens.items() if at is not None}
    stopping: dict[str, int] = {}
    for job in ending:
        stopping[job.queue] = stopping.get(job.queue, 0) + 1
    stale = len(registered) - len(alive)
    for warning in warnings:  # e.g. a Redis server that does not persist the queue
        say(f"jobctl: warning: {warning}")
    if as_json:
        # Always there (empty on SQLite): a script reads one shape from every store.
        document = status_document(
            queues,
            running,
            alive,
            stale,
            now,
            limits,
            stopping,
            ending,
            left_out=past.left_out,
            rates=rates,
            held=held,
        )
        print_json(document | {"warnings": warnings})
    else:
        status_tables(
            queues,
            running,
            alive,
            stale,
            now,
            limits,
            stopping,
            ending,
            left_out=past.left_out,
            gone_left_out=past.gone,
            rates=rates,
            held=held,
        )


class RunningPast(NamedTuple):
    """The running jobs `status` does not list, past its first RUNNING_SHOWN: how many, and
    those whose worker is gone, which its note names all the same (a job of a dead worker
    was left unsaid when its id was past the first thousand)."""

    left_out: int
    gone: "list[Job]"

    @classmethod
    def read(
        cls, store: "Store", listed: "Sequence[Job]", alive: "Sequence[WorkerInfo]"
    ) -> "RunningPast":
        """Read a page at a time, holding only the gone ones: running jobs are as many as the
        workers' slots, read through their leases, however many jobs the store holds."""
        from jobctl.documents import worker_gone
        from jobctl.models import JobFilter, State

        left_out, gone = 0, []
        page = JobFilter(states=(State.RUNNING,), limit=RUNNING_SHOWN, newest_first=False)
        jobs = listed
        while len(jobs) == RUNNING_SHOWN:
            jobs = store.list_jobs(page._replace(beyond=jobs[-1].id))
            left_out += len(jobs)
            gone += [job for job in jobs if worker_gone(job, alive)]
        return cls(left_out, gone)


# ---------------------------------------------------------------------------------------------
# Following a job (also `enqueue --wait`)


def await_job(
    job_id: int,
    *,
    follow: bool,
    as_json: bool,
    extra: dict[str, object],
    timeout: str | None,
    new: bool,
) -> None:
    """Wait for a job to end (streaming its output with `follow`) and exit with its exit
    code, so a CI step that hands work to the queue still fails when the job fails. A `new`
    job is followed from its first run, which may have ended before the first look (a job
    that failed at once and is on its second); another's from its latest."""
    from jobctl.documents import job_document, print_json
    from jobctl.models import State
    from jobctl.render import ended_line

    deadline = deadline_of(timeout)
    main = sys.modules.get("jobctl.cli.main")
    if main is not None and not as_json:
        # Its id is out (on stdout, or on stderr with --follow): a failed write from here on
        # (`--follow | head`) leaves no stored job unnamed (see main.STORED).
        main.STORED.clear()
    with STATE.store(create=False) as store:

        def report() -> None:
            """The job as it is now, as at a timeout: a CI step cancelled while it waits
            still hands its cleanup the id (and `created`) on stdout."""
            from jobctl.errors import StoreError

            with contextlib.suppress(StoreError):
                now = store.get(job_id)
                if now is not None:
                    print_json(job_document(now) | extra)

        out = FollowedOutput(sys.stdout.buffer) if follow else None
        try:
            # In place before the note: a signal after it is answered.
            with waiting_for([job_id], report if as_json else None):
                say_if_nobody_runs(store, [job_id], timeout)
                job = watch(store, job_id, out, 1 if new else None, deadline)
        except WaitTimedOut as exc:
            if as_json and exc.job is not None:
                print_json(job_document(exc.job) | extra)
            if out is not None:
                out.own_line()
            give_up(job_id, exc.job, timeout, timed_out_reasons(store, job_id, exc))
    if as_json:
        print_json(job_document(job) | extra)
    code = job_exit_code(job)
    if job.state != State.SUCCEEDED:
        if out is not None:
            out.own_line()
        typer.echo(ended_line(job), err=True)
    raise typer.Exit(code)


def timed_out_reasons(store: "Store", job_id: int, timed_out: "WaitTimedOut") -> list[str]:
    """Why a wait ran out: the store's outage, or why no worker took the job."""
    return [timed_out.outage] if timed_out.outage else why_nobody_runs(store, [job_id])


def because(reasons: Sequence[str]) -> str:
    """The end of a timeout line that says why no worker took the jobs: " (a; b)", cut to
    a few (one per queue, and jobs may be in hundreds)."""
    return f" ({'; '.join(first_few(reasons))})" if reasons else ""


def say_if_nobody_runs(store: "Store", job_ids: Sequence[int], timeout: str | None) -> None:
    """A wait without --timeout for jobs no worker would take lasts until one comes, or
    forever: say so once, on stderr. With --timeout, the line it ends with says it."""
    if timeout is None:
        reasons = why_nobody_runs(store, job_ids)
        for why in reasons[:5]:
            say(f"jobctl: note: {why}; waiting for a worker (--timeout gives up)")
        if len(reasons) > 5:
            say(f"jobctl: note: and {len(reasons) - 5} more queues no worker takes from yet")


def _terminated(signum: int, frame: object) -> None:
    raise Stopped(signum)


class Report:
    """What a wait saw so far, as --json prints it at a timeout or an interrupt: written once.
    An interrupt while it is written (a slow reader of stdout) stops it there, rather than
    start a second document after the cut first one."""

    def __init__(self, write: Callable[[], object]) -> None:
        self._write = write
        self.started = False
        self.done = False

    def __call__(self) -> None:
        if self.started:
            return
        self.started = True
        self._write()
        self.done = True


@contextlib.contextmanager
def waiting_for(
    job_ids: Sequence[int], report: Report | Callable[[], object] | None = None
) -> Iterator[None]:
    """Ctrl-C (or SIGTERM, SIGHUP or SIGQUIT) ends a wait, not the jobs waited for: say so
    (typer would exit 130 without a word, SIGTERM and SIGHUP with none at all, SIGQUIT with
    a core dump, and the user could take the job for stopped). Exit 130 for Ctrl-C, 143 for
    SIGTERM, 129 for SIGHUP, 131 for SIGQUIT, as a shell reports them. `report` prints what
    the wait saw so far first (`wait --json`, `enqueue --wait --json`, as at their timeout),
    unless it had started already."""
    import signal

    from jobctl.cli import entry

    once = report if isinstance(report, Report) or report is None else Report(report)
    previous = {}
    # Under nohup a hangup is ignored, and goes on being: the wait was asked to outlive it.
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(number) != signal.SIG_IGN:
            previous[number] = signal.signal(number, _terminated)
    try:
        yield
    except KeyboardInterrupt as exc:
        entry.received = None  # said here: not again by main._dispatch
        main = sys.modules.get("jobctl.cli.main")
        if main is not None:
            main.STORED.clear()  # the line below names the jobs
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        hung_up = signum == signal.SIGHUP
        if once is not None and not once.started:
            _written(once, sys.stdout, hung_up=hung_up)
        elif once is not None and not once.done:  # cut: what it still holds goes nowhere
            _to_devnull(sys.stdout)
        code = EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum
        words = {
            int(signal.SIGTERM): "terminated",
            int(signal.SIGHUP): "hung up",
            int(signal.SIGQUIT): "quit",
        }
        line = f"jobctl: {words.get(signum, 'interrupted')}: stopped waiting"
        if job_ids:
            many = len(job_ids) > 1
            ids = ", ".join(first_few([str(i) for i in job_ids]))
            line += (
                f" for job{'s' if many else ''} {ids};"
                f" {'they go' if many else 'it goes'} on (jobctl cancel stops a job)"
            )
        _written(lambda: typer.echo(line, err=True), sys.stderr, hung_up=hung_up)
        raise typer.Exit(code) from None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _written(write: Callable[[], None], stream: TextIO, *, hung_up: bool) -> None:
    """Run `write`, which writes to `stream`. After a hangup the terminal is gone, as a
    rule, and a write to it fails (EIO): what was to be said there goes to /dev/null then,
    and the exit code (129) says it, rather than an error about a stream nobody reads."""
    if not hung_up:
        write()
        return
    try:
        write()
        stream.flush()
    except OSError:
        _to_devnull(stream)


def _to_devnull(stream: TextIO) -> None:
    """Point `stream`'s descriptor at /dev/null, and what it still holds with it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)
    with contextlib.suppress(OSError):
        stream.flush()


def first_few(items: Sequence[str], most: int = 5) -> list[str]:
    """At most `most` of the items, then "and N more": a wait on thousands of jobs still
    ends with a line a person can read."""
    if len(items) <= most:
        return list(items)
    return [*items[:most], f"and {len(items) - most} more"]


class WaitTimedOut(Exception):
    """A follow or wait reached its --timeout; `job` as last seen (None if never read), and
    the store's outage then, if it was failing."""

    def __init__(self, job: "Job | None", outage: str | None = None) -> None:
        super().__init__("timed out")
        self.job = job
        self.outage = outage


def deadline_of(timeout: str | None) -> float | None:
    """The monotonic instant a --timeout ends at."""
    limit = duration_option(timeout, "--timeout")
    return None if limit is None else time.monotonic() + limit


def give_up(
    job_id: int, job: "Job | None", timeout: str | None, reasons: Sequence[str] = ()
) -> NoReturn:
    """Say that waiting for the job timed out, what it was doing then, and why no worker
    took it, if none would; exit 124."""
    from jobctl.errors import EXIT_TIMEOUT
    from jobctl.render import job_label, waits_for
    from jobctl.text import clean

    doing = ""
    if job is not None:
        doing = clean(f" ({job_label(job)}) is still {job.state.value}{waits_for(job)}")
    typer.echo(
        f"jobctl: timed out after {timeout}: job {job_id}{doing}{because(reasons)}", err=True
    )
    raise typer.Exit(EXIT_TIMEOUT)


def _pause(
    seconds: float, deadline: float | None, job: "Job | None", outage: str | None = None
) -> None:
    """Sleep before polling again, unless the deadline is reached (then WaitTimedOut)."""
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimedOut(job, outage)
        seconds = min(seconds, left)
    time.sleep(seconds)


def job_exit_code(job: "Job") -> int:
    """0 for a succeeded job; a failed one's own exit code, or 1 when it has none."""
    from jobctl.models import State

    if job.state == State.SUCCEEDED:
        return 0
    if job.state == State.DEAD and job.exit_code:
        return job.exit_code
    return 1


def watch(
    store: "Store",
    job_id: int,
    out: FollowedOutput | None,
    run: int | None,
    deadline: float | None = None,
) -> "Job":
    """Poll until the job has ended and its last attempt is over; with `out`, copy the
    output of its attempts (from attempt `run`, default the latest) as it is written.
    WaitTimedOut once the monotonic `deadline` passes."""
    from jobctl.errors import OperationFailed, StoreError
    from jobctl.models import FINAL_STATES

    reader: LogReader | None = None
    pause = _POLL_MIN
    next_worker_check = 0.0
    patience = Patience()
    seen: Job | None = None
    try:
        while True:
            try:
                job = store.get(job_id)
                attempts = {a.run: a for a in store.attempts(job_id)} if out is not None else {}
            except StoreError as exc:
                patience.failed(exc)
                _pause(_POLL_MAX, deadline, seen, patience.outage())
                continue
            patience.answered()
            gone = store.replaced()
            if gone is not None:  # `rm q.db*`: the job followed is nowhere now
                raise StoreError(f"{gone}: job {job_id} is not in the file there now")
            if job is None:
                raise OperationFailed(f"job {job_id} was deleted while waiting for it")
            seen = job
            ended = job.state in FINAL_STATES
            if out is None:
                if job.over():
                    return job
                _pause(pause, deadline, seen)
                pause = min(pause * 1.5, _POLL_MAX)
                continue
            if run is None:
                run = max(attempts, default=1)
            current = attempts.get(run)
            moved = False
            if current is not None:
                if reader is None or reader.run != run:
                    if reader is not None:
                        reader.close()
                        # Runs and attempts differ once a shutdown gave the job back (its
                        # attempt did not count) or a dead retry reset them: say both then.
                        which = (
                            f"attempt {run}"
                            if current.attempt == run
                            else f"run {run} (attempt {current.attempt})"
                        )
                        out.own_line()
                        typer.echo(f"jobctl: job {job_id}: {which} started", err=True)
                    path = attempt_log(store, current)
                    reader = LogReader(job_id, run, path, remote=current.elsewhere())
                moved = reader.copy(out)
                if reader.remote and not reader.told and current.finished_at is None:
                    reader.told = True
                    out.own_line()
                    say(
                        f"jobctl: note: job {job_id} attempt {run} runs on host"
                        f" {current.host}, where its log is: the end of its output that"
                        " the store keeps follows once it ends"
                    )
                if current.finished_at is not None and reader.missing():
                    # Run on another host: what a shared store kept of its output, once done.
                    # Run here, its log gone: said as plain `logs` says it, else it would
                    # pass for an attempt that wrote nothing.
                    try:
                        stored = store.attempt_output(job_id, run)
                    except StoreError as exc:
                        patience.failed(exc)
                        _pause(_POLL_MAX, deadline, seen, patience.outage())
                        continue
                    if reader.remote and stored is not None:
                        out.own_line()
                        say(
                            f"jobctl: note: job {job_id} attempt {run} ran on host"
                            f" {stored[0] or 'unknown'}; the last {len(stored[1])} bytes of its"
                            " output follow"
                        )
                        out.write(stored[1])
                        out.flush()
                    elif not reader.remote and stored is not None and stored[1]:
                        out.own_line()
                        say_stored_tail(current, reader.path, stored[1])
                        out.write(stored[1])
                        out.flush()
                    elif not reader.remote and _log_lost(current):
                        out.own_line()
                        say(f"jobctl: note: {gone_line(current, reader.path)}")
                if current.finished_at is not None:
                    later = [r for r in attempts if r > run]
                    if later:
                        run = min(later)
                        continue
                    if ended:
                        return job
                    run += 1  # a retry is due: follow it once it starts
                elif ended:
                    # Cancelled: its worker is stopping the process; the attempt ends soon,
                    # unless that worker is gone and nobody will ever record its end.
                    now = time.monotonic()
                    if now >= next_worker_check:
                        next_worker_check = now + 1.0
                        try:
                            alive = _worker_alive(store, current.worker)
                        except StoreError as exc:
                            patience.failed(exc)
                            continue
                        if not alive:
                            return job
            elif ended:
                return job  # it ended before this attempt started (cancelled while waiting)
            pause = _POLL_MIN if moved else min(pause * 1.5, _POLL_MAX)
            _pause(pause, deadline, seen)
    finally:
        if reader is not None:
            reader.close()


def _log_lost(attempt: "Attempt") -> bool:
    """Whether an ended attempt run on this host, whose log file is not there, had output
    that is lost: not one that wrote nothing (no log is made then), nor one whose worker
    stopped or died before telling whether it wrote anything."""
    from jobctl.models import Outcome

    lost_worker = attempt.outcome in (Outcome.INTERRUPTED, Outcome.LOST)
    return attempt.log_path != "" and attempt.finished_at is not None and not lost_worker


def _worker_alive(store: "Store", worker: str) -> bool:
    now = time.time()
    return any(w.id == worker and w.alive(now) for w in store.workers())
