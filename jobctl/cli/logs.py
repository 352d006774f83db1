"""`jobctl logs`: what an attempt of a job printed, or one of its hooks; with `--follow`,
what it prints until it ends (the following itself is jobctl.cli.observe's, shared with
`enqueue --wait`)."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jobctl.cli.app import app
from jobctl.cli.attemptlogs import (
    HOOK_KINDS,
    FollowedOutput,
    HookFolders,
    attempt_log,
    copy_output,
    find_hook_log,
    gone_line,
    hook_folders,
    last_lines,
    read_last_lines,
    say_output_lost,
    say_stored_tail,
)
from jobctl.cli.context import STATE
from jobctl.cli.observe import (
    WaitTimedOut,
    deadline_of,
    give_up,
    say_if_nobody_runs,
    timed_out_reasons,
    waiting_for,
    watch,
)
from jobctl.cli.options import MAX_ID

if TYPE_CHECKING:
    from jobctl.models import Attempt
    from jobctl.store import Store


@app.command(
    epilog="Examples:  jobctl logs 42  |  jobctl logs 42 --run 1  |  jobctl logs 42 -f"
    "  |  jobctl logs 42 --lines 20  |  jobctl logs 42 --hook dead",
)
def logs(
    job_id: Annotated[
        int | None,
        typer.Argument(
            help="The job id (default: the job that started an attempt last; with --follow,"
            " once it has ended, a newer job yet to start).",
            metavar="[ID]",
            max=MAX_ID,
            show_default=False,
        ),
    ] = None,
    run: Annotated[
        int | None,
        typer.Option(
            "--run",
            "--attempt",
            "-a",
            min=1,
            help="Which run (RUN in `jobctl show`; default: the latest). Runs count over the"
            " job's whole life, where a dead retry starts its attempts over.",
            show_default=False,
            metavar="N",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Stream the output until the job ends; exit 0 if it succeeded, 1 if not.",
        ),
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            "-t",
            help="With --follow: give up after this long (exit 124).",
            metavar="DURATION",
        ),
    ] = None,
    lines: Annotated[
        int | None,
        typer.Option(
            "--lines",
            "-l",
            min=0,
            help="Only the last N lines (counted at newlines, as `tail -n` counts them).",
            show_default=False,
            metavar="N",
        ),
    ] = None,
    hook: Annotated[
        str | None,
        typer.Option(
            "--hook",
            help="The output of the attempt's on_failure or on_dead hook instead: failure or dead.",
            show_default=False,
            metavar="KIND",
        ),
    ] = None,
) -> None:
    """Print what an attempt of a job wrote (stdout and stderr, as captured), or what a
    hook it set off wrote (--hook). Exit 1 when there is none to print: the attempt's log
    is gone from the host that ran it (on Redis, with the end the store kept printed), or
    it set off no such hook that wrote anything."""
    from jobctl.cli.main import OutputError
    from jobctl.errors import NotFound, OperationFailed, UsageError
    from jobctl.models import FINAL_STATES, Outcome, State
    from jobctl.render import ended_line

    if timeout is not None and not follow:
        raise UsageError("--timeout goes with --follow")
    if follow and lines is not None:
        raise UsageError("--lines goes without --follow")
    if follow and hook is not None:
        raise UsageError("--hook goes without --follow (a hook's log is whole once it ends)")
    if hook is not None and hook not in HOOK_KINDS:
        raise UsageError(f"--hook takes {' or '.join(HOOK_KINDS)}, not {hook!r}")
    with STATE.store(create=False) as store:
        if job_id is None:
            from jobctl.cli.inspect import started_last

            job_id = started_last(store, follow=follow)
        job = store.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        attempts = store.attempts(job_id)
        known = any(a.run == run for a in attempts)
        if run is not None and not known and (not follow or job.state in FINAL_STATES):
            # (Following may wait for an attempt of an active job that has yet to start.)
            if not attempts:
                raise NotFound(f"job {job_id} has no run {run}: it has not run (it is {job.state})")
            raise NotFound(
                f"job {job_id} has no run {run} (it has {len(attempts)}; jobctl show {job_id}"
                " lists them)"
            )
        if follow:
            out = FollowedOutput(sys.stdout.buffer)
            try:
                with waiting_for([job_id]):  # before the note: a signal after it is answered
                    say_if_nobody_runs(store, [job_id], timeout)
                    final = watch(store, job_id, out, run, deadline_of(timeout))
            except WaitTimedOut as exc:
                out.own_line()
                give_up(job_id, exc.job, timeout, timed_out_reasons(store, job_id, exc))
            if final.state != State.SUCCEEDED:  # the line `jobctl wait` gives
                out.own_line()
                typer.echo(ended_line(final), err=True)
            raise typer.Exit(0 if final.state == State.SUCCEEDED else 1)
        if not attempts:
            if job.state in FINAL_STATES:  # cancelled before it ran, or dead with the job it
                # waited for: "yet" would say it still will
                raise OperationFailed(f"job {job_id} never ran (it is {job.state.value})")
            raise OperationFailed(f"job {job_id} has not run yet (it is {job.state.value})")
        chosen = attempts[-1] if run is None else next(a for a in attempts if a.run == run)
        if hook is not None:
            _print_hook_log(store, attempts, chosen, hook, lines, last=run is None)
            return
        say_output_lost(chosen)  # before the output: a note after it would be lost in it
        if chosen.log_path == "":
            return  # it wrote nothing, so no log file was made
        path = attempt_log(store, chosen)
        # A store shared by many hosts keeps the end of the output: the full log is on the
        # host that ran the attempt, which may not be this one (where a file of that name
        # here is another log).
        elsewhere = chosen.elsewhere()
        # (os.path: a folder on the way closed to this user is no error here, the open says it)
        here = os.path.exists(path) and not elsewhere
        stored = None if here else store.attempt_output(job_id, chosen.run)
    if elsewhere and stored is not None:
        _print_stored_output(chosen, path, stored, lines)
        return
    try:
        with open(path, "rb") as handle:
            if lines is None:
                copy_output(handle, sys.stdout.buffer)
            else:
                _write(read_last_lines(handle, lines))
    except FileNotFoundError:
        if stored is not None and stored[1]:
            # Gone from this host, which ran it: the end the store kept is all there is,
            # and the exit code says so, as where no store keeps any (SQLite).
            tail = stored[1] if lines is None else last_lines(stored[1], lines)
            say_stored_tail(chosen, path, tail)
            _write(tail)
            raise typer.Exit(1) from None
        if chosen.finished_at is None:
            return  # running, and silent so far: its log is made at its first output
        if chosen.outcome in (Outcome.INTERRUPTED, Outcome.LOST):
            return  # its worker stopped or died before telling whether it wrote anything
        from jobctl.render import one_line

        # The error of an attempt that never started its command (it names the argv).
        why = f": {one_line(chosen.error, 200)}" if chosen.error and not chosen.log_path else ""
        raise OperationFailed(f"{gone_line(chosen, path)}{why}") from None
    except (OutputError, BrokenPipeError):
        raise  # stdout failed, not the log: main says so (or, for a reader gone, not)
    except OSError as exc:
        raise OperationFailed(f"cannot read {path}: {exc.strerror}") from None


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _print_stored_output(
    attempt: "Attempt", path: Path, stored: tuple[str | None, bytes], lines: int | None
) -> None:
    """What a shared store kept of the output of an attempt run on another host, after a
    note of where the rest is."""
    from jobctl.models import Outcome
    from jobctl.text import clean

    host, tail = stored
    if lines is not None:
        tail = last_lines(tail, lines)
    if tail:
        kept = f"the last {len(tail)} bytes follow"
    elif attempt.outcome == Outcome.LOST:  # its worker died before it could report the end
        kept = "its worker was lost before it reported, so the store kept none of its output"
    elif attempt.outcome is None:
        kept = "it is still running: `logs --follow` there, or wait for its end"
    else:
        kept = "the store kept no output of it"
    typer.echo(  # the output that follows stays raw; this note is jobctl's own
        clean(
            f"jobctl: job {attempt.job_id} attempt {attempt.run} ran on host"
            f" {host or 'unknown'}; its full log is there ({path}); {kept}"
        ),
        err=True,
    )
    _write(tail)


def _print_hook_log(
    store: "Store",
    attempts: "list[Attempt]",
    attempt: "Attempt",
    kind: str,
    lines: int | None,
    *,
    last: bool,
) -> None:
    """`logs --hook KIND`: what the attempt's on_failure or on_dead hook wrote, from its
    log on this host (the hooks run where the attempt ran), beside the attempt's own log.
    Named by run, as `show` lists it: a dead retry counts attempts from 1 again."""
    from jobctl.errors import OperationFailed
    from jobctl.logfiles import open_log
    from jobctl.text import clean

    named = f"job {attempt.job_id} run {attempt.run}"
    if attempt.elsewhere():
        raise OperationFailed(
            clean(f"{named} ran on host {attempt.host}; the log of its on_{kind} hook is there")
        )
    folders = hook_folders(store, attempts)
    found = find_hook_log(folders[attempt.run], attempt, kind)
    if found is None:
        raise OperationFailed(_no_hook_log(attempts, attempt, kind, folders, last=last))
    try:
        fd = open_log(found.path)
    except FileNotFoundError:  # removed since it was found (a prune)
        raise OperationFailed(_no_hook_log(attempts, attempt, kind, folders, last=last)) from None
    except OSError as exc:
        raise OperationFailed(f"cannot read {found.path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if lines is None:
            copy_output(handle, sys.stdout.buffer)
        else:
            _write(read_last_lines(handle, lines))


def _no_hook_log(
    attempts: "list[Attempt]",
    attempt: "Attempt",
    kind: str,
    folders: dict[int, HookFolders],
    *,
    last: bool,
) -> str:
    """Why `logs --hook` has nothing to print, and where to look instead: "no hook ran" is
    said only where the attempt's own log says which folder its hooks wrote to; and, for
    the last run (taken without --run), the earlier runs that have such a log are named."""
    from jobctl import logfiles

    where = folders[attempt.run]
    path = logfiles.hook_log_path(where.folders[0], attempt.job_id, attempt.run, kind)
    named = f"job {attempt.job_id} run {attempt.run}"
    if where.known:
        line = (
            f"{named} has no on_{kind} hook log ({path}): no on_{kind} hook ran for it, or it"
            " wrote nothing"
        )
    else:
        line = (
            f"found no on_{kind} hook log of {named} ({path}); it wrote nothing, so it recorded"
            " no log to say which folder its worker kept logs in: a hook may have run and"
            " written to another (that worker's log_dir)"
        )
    others = [
        a.run
        for a in attempts
        if last
        and a is not attempt
        and not a.elsewhere()
        and find_hook_log(folders[a.run], a, kind) is not None
    ]
    if others:
        if len(others) == 1:
            line += f"; run {others[0]} has one (--run {others[0]})"
        else:
            runs = ", ".join(map(str, others[:-1])) + f" and {others[-1]}"
            line += f"; runs {runs} have one (--run N)"
    return line
