"""`jobctl cancel`, `retry`, `edit`, `pause`, `resume` and `prune`: steering the queue.

Each is one guarded store operation (a batch at a time for many jobs: see jobctl.batches): a
cancel names the state it expects to leave, so it never undoes a job that has just finished;
a running job's worker learns of the cancel at once (or at its next lease renewal) and stops
the whole process group.
"""

import contextlib
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click import Context as ClickContext
from typer.core import TyperCommand

from jobctl.batches import run_in_batches
from jobctl.cli.app import app
from jobctl.cli.completers import complete_final_state, complete_job, complete_queue
from jobctl.cli.context import STATE
from jobctl.cli.options import (
    MAX_ID,
    LeftAlone,
    check_job_name,
    check_queue_name,
    duration_option,
    instant_option,
    refused,
    state_option,
)
from jobctl.cli.queue import (
    AfterOption,
    ArgOption,
    AtOption,
    DelayOption,
    MaxAttemptsOption,
    PriorityOption,
    QueueOption,
    _EnqueueCommand,
)

if TYPE_CHECKING:
    from jobctl.config import Config
    from jobctl.models import Job, JobEdit, State
    from jobctl.producer import Changes
    from jobctl.store import Store


@app.command(
    epilog="Examples:  jobctl cancel 42  |  "
    "jobctl list -s queued -j report --limit 0 --json | jq '.[].id' | xargs -r jobctl cancel  |  "
    "jobctl cancel -q build  |  jobctl cancel -j report  |  jobctl cancel --all --yes",
)
def cancel(
    job_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Job ids.", show_default=False, metavar="[ID]...", max=MAX_ID),
    ] = None,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Every job active in this queue (repeat for more queues).",
            autocompletion=complete_queue,
            metavar="QUEUE",
        ),
    ] = None,
    job: Annotated[
        str | None,
        typer.Option(
            "--job",
            "-j",
            help="Every job of this job type active now (with --queue, in those queues).",
            autocompletion=complete_job,
            metavar="JOB",
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", "-a", help="Every job active now, in every queue.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="With --all: do not ask (needed where no terminal can be asked)."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each job, and whether it was cancelled, as JSON.")
    ] = False,
) -> None:
    """Cancel jobs. A waiting one never runs; a running one's process group gets SIGTERM,
    then SIGKILL after the job's kill_grace. A cancelled job is not retried.

    --queue, --job and --all cancel the jobs active (queued, scheduled, waiting or running)
    when the cancel reads them; jobs enqueued after that are not cancelled. --all asks first
    on a terminal, and needs --yes elsewhere.
    """
    from jobctl.errors import UsageError

    if job_ids and (queues or job is not None or every):
        raise UsageError("give job ids, or --queue, --job or --all, not both")
    if (queues or job is not None) and every:
        given = "--queue" if queues else "--job"
        raise UsageError(f"--all cancels every active job: drop {given}, or --all")
    if not job_ids and not queues and job is None and not every:
        raise UsageError("cancel needs job ids, or --queue, --job or --all")
    if yes and job_ids:  # taken in silence, it read as if it had been needed
        raise UsageError("--yes answers the question of --all; a cancel of ids asks none: drop it")
    ask = every and not yes
    if ask and not sys.stdin.isatty():
        raise UsageError("--all needs --yes where no terminal can be asked to confirm")
    named = list(dict.fromkeys(queues or ()))  # a queue given twice is one queue
    for queue in named:
        check_queue_name(queue, "--queue")
    with STATE.store(create=False) as store:
        if job_ids:
            _cancel_jobs(store, list(dict.fromkeys(job_ids)), listed=False, as_json=as_json)
            return
        check_job_name(job, store)
        active = _active_jobs(store, named, job)
        if not active:
            from jobctl.text import say

            where = f"in queue(s) {', '.join(named)}" if named else "in any queue"
            if job is not None:
                where = f"of job type {job} {where}"
            say(f"jobctl: note: no job is active {where}; nothing cancelled")
            if as_json:
                from jobctl.documents import print_json

                print_json([])
            return
        if ask:
            confirm(f"Cancel {len(active)} active job(s)?", nothing="nothing cancelled")
        _cancel_jobs(store, active, listed=True, as_json=as_json)


def _active_jobs(store: "Store", queues: list[str], job: str | None = None) -> list[int]:
    """The ids of the jobs active now in `queues` (none: in every queue), of job type `job`
    if given, oldest first. A queue with none that neither the config nor the database
    knows is a usage error (exit 2): a typo would cancel nothing, and exit 0."""
    from jobctl.cli.options import note_unknown_queue
    from jobctl.models import ACTIVE_STATES, JobFilter

    where = JobFilter(states=ACTIVE_STATES, job=job, limit=None, newest_first=False)
    if not queues:
        return store.job_ids(where)
    found: set[int] = set()
    for queue in queues:
        ids = store.job_ids(where._replace(queue=queue))
        if not ids:
            note_unknown_queue(queue, store, fatal=True)
        found.update(ids)
    return sorted(found)


def _cancel_jobs(store: "Store", job_ids: list[int], *, listed: bool, as_json: bool) -> None:
    """Cancel these jobs, a batch at a time, and say each one's outcome (exit 1 when one
    named was not cancelled). `listed`: the ids are those --queue or --all read as active,
    not named: one that ended before its batch came was not asked for, and is left unsaid."""
    from jobctl.models import ACTIVE_STATES, State
    from jobctl.text import say

    now = time.time()
    dependents = _waiting_on(store, job_ids, now)
    found_as: dict[int, State | None] = {}

    def cancelled_now() -> int:
        return sum(1 for state in found_as.values() if state in ACTIVE_STATES)

    # Newest first, batch after batch too: a job before the jobs it runs after. (Oldest
    # first, the order workers claim in, they claimed the next batch's front during each
    # rest, and the cancel then killed them mid-run.)
    run_in_batches(
        store,
        sorted(job_ids, reverse=True),
        lambda batch: found_as.update(store.cancel(batch, now)),
        cancelled_now,
        "cancelling",
        "cancelled",
    )
    before = {job_id: found_as[job_id] for job_id in job_ids}  # in the order given
    if listed:
        before = {job_id: state for job_id, state in before.items() if state in ACTIVE_STATES}
    cancelled_count = cancelled_now()
    if cancelled_count:
        from jobctl.cli.enqueue import changed

        changed(f"{cancelled_count} job(s) were cancelled")
    if dependents:  # made dead by the cancel, as they could never run: said, not hidden
        dead = [j for j in store.get_many(sorted(dependents)).values() if j.state == State.DEAD]
        if dead:
            say(
                f"jobctl: note: {len(dead)} job(s) waiting on the jobs cancelled are dead"
                f" now (first: job {dead[0].id}; jobctl dead list shows them)"
            )
    running = [i for i, state in before.items() if state == State.RUNNING]
    # Cancelled before, and still taking their kill_grace: not over, whatever the state.
    cancelled = [i for i, state in before.items() if state == State.CANCELLED]
    found = store.get_many(cancelled) if cancelled else {}
    stopping = {i: j for i, j in found.items() if not j.over()}
    orphans: set[int] = set()
    if running or stopping:  # a worker killed (kill -9) cannot stop them: the next does
        alive = {w.id for w in store.workers() if w.alive(now)}
        jobs = [*store.get_many(running).values(), *stopping.values()]
        # (A worker may have let go of its job already.)
        orphans = {j.id for j in jobs if j.worker is not None and j.worker not in alive}
    after = store.get_many(list(before)) if as_json else {}
    reasons: dict[int, str] = {}
    left_alone = LeftAlone("cancelled")
    for job_id, state in before.items():
        if state is None:
            left_alone.say(f"job {job_id} does not exist; not cancelled")
            reasons[job_id] = "does not exist"
        elif job_id in stopping:
            # Not "already ended": its process runs on, and holds its worker's slot.
            left_alone.say(
                f"job {job_id} already cancelled, still stopping:"
                f" {_still_stopping(stopping[job_id], job_id in orphans)}; not cancelled again"
            )
            reasons[job_id] = "already cancelled, still stopping"
        elif state not in ACTIVE_STATES:
            left_alone.say(f"job {job_id} already ended {state.value}; not cancelled")
            reasons[job_id] = f"already ended {state.value}"
        elif as_json:
            pass  # the document below says it
        elif state == State.RUNNING and job_id in orphans:
            print(
                f"cancelled {job_id} (was running, but its worker is gone: the next worker to"
                " look stops its processes once its lease runs out)"
            )
        elif state == State.RUNNING:
            print(f"cancelled {job_id} (was running: its worker is stopping it)")
        else:
            print(f"cancelled {job_id} (was {state.value})")
    left_alone.end()
    if as_json:
        from jobctl.documents import outcome_document, print_json

        print_json(
            [
                outcome_document(
                    job_id,
                    after.get(job_id),
                    cancelled=job_id not in reasons,
                    was=state.value if state is not None else None,
                    reason=reasons.get(job_id),
                )
                for job_id, state in before.items()
            ]
        )
    refused(len(reasons), asked=len(before), verb="cancelled")


def _waiting_on(store: "Store", job_ids: list[int], now: float) -> set[int]:
    """The waiting jobs that run after any of `job_ids`, directly or through others (a
    cancel makes them dead), those named aside; nothing read when no job waits."""
    from jobctl.models import State

    return runs_after(store, job_ids, State.WAITING, now)


def runs_after(store: "Store", job_ids: list[int], state: "State", now: float) -> set[int]:
    """The jobs in `state` that run after any of `job_ids`, directly or through others in
    that state, those named aside; nothing read when no job is in it. One walk for the
    waiting jobs a cancel makes dead and the dead ones a `dead retry` leaves behind."""
    from jobctl.models import JobFilter

    if not any(q.counts.get(state) for q in store.queue_counts(now)):
        return set()
    dependents: dict[int, list[int]] = {}
    for job in store.list_jobs(JobFilter(states=(state,), limit=None)):
        for after_id in job.after:
            dependents.setdefault(after_id, []).append(job.id)
    found: set[int] = set()
    todo = list(job_ids)
    while todo:
        for dependent in dependents.get(todo.pop(), ()):
            if dependent not in found:
                found.add(dependent)
                todo.append(dependent)
    return found - set(job_ids)


def _still_stopping(job: "Job", orphaned: bool) -> str:
    """What becomes of a cancelled job whose process has yet to end: SIGKILL after its
    kill_grace (as this config has it), or, with its worker gone, after its lease."""
    from jobctl.config import DEFAULT_JOB
    from jobctl.durations import format_duration

    if orphaned:
        return (
            "its worker is gone, and the next worker to look stops its processes once its lease"
            " runs out"
        )
    job_type = DEFAULT_JOB if job.command is not None else STATE.config().jobs.get(job.job)
    grace = f" ({format_duration(job_type.kill_grace)})" if job_type is not None else ""
    return f"its worker sends SIGKILL after the job's kill_grace{grace}"


@app.command(
    epilog="Examples:  jobctl retry 42  |  jobctl retry 42 --arg name=Ada --queue slow"
    " --priority 9  |  jobctl retry 42 --at 21:30"
)
def retry(
    job_id: Annotated[
        int, typer.Argument(help="A succeeded, dead or cancelled job.", metavar="ID", max=MAX_ID)
    ],
    arg: ArgOption = None,
    delay: DelayOption = None,
    at: AtOption = None,
    priority: PriorityOption = None,
    queue: QueueOption = None,
    max_attempts: MaxAttemptsOption = None,
    after: AfterOption = None,
    cwd: Annotated[
        str | None,
        typer.Option(
            "--cwd",
            help="Run an --exec job's command in DIR (its own directory is gone, say).",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the new job (or the one holding its key).")
    ] = False,
) -> None:
    """Run a finished job again, as a new job with the same payload; print the new id.
    At a terminal it says `retried ID as job NEW`; a pipe gets the id alone, for scripts.
    The options change the new job as `enqueue` reads them: each --arg replaces the value of
    its key in the payload (or adds it); the queue, priority and max attempts are the old
    job's unless given, and its key stays. It is checked as `enqueue` checks a new job: one
    whose job type the config no longer has, or whose payload its command no longer fits,
    is refused (exit 2). The new job runs after the jobs the old one ran after, but for those
    pruned since; --after gives it others instead (a pipeline whose head was cancelled by
    mistake: retry the head, then each job after it --after the new head's id). --cwd runs
    an --exec job's command in another directory, checked as `enqueue --cwd` checks it: one
    whose own directory is gone is refused without it. (`jobctl dead retry` instead queues
    the same dead job again.)"""
    from jobctl.cli.enqueue import (
        _chosen_directory,
        _say_if_dead,
        _say_if_past,
        runs_of,
        warn_if_new_queue,
    )
    from jobctl.errors import JobctlError, NotFound, OperationFailed, UsageError
    from jobctl.models import FINAL_STATES
    from jobctl.producer import build_again, check_exec_allowed, read_after
    from jobctl.tables import use_rich

    config = STATE.config()
    now = time.time()
    changes = _changes(config, arg, delay, at, priority, queue, max_attempts, now)
    after_ids = read_after(after, "--after") if after else None
    if cwd is not None:
        changes = changes._replace(cwd=_chosen_directory(cwd))
        # Only an --exec job takes a --cwd, and none runs where workers run only job types.
        check_exec_allowed(config, STATE.db_location(), "--cwd")
    with STATE.store(create=False) as store:
        if queue is not None:
            warn_if_new_queue(store, queue)
        job = store.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        if cwd is not None and job.command is None:  # as `edit --cwd` refuses it
            raise UsageError(
                f"job {job_id} cannot run again in --cwd {cwd}: it is a {job.job!r} job, whose"
                " command and cwd come from the config: --cwd changes only an --exec job's"
            )
        if job.state not in FINAL_STATES:
            raise OperationFailed(
                f"job {job_id} is {job.state.value}: only a finished job can be run again"
            )
        if not job.over():  # `cancel X && retry X` ran both copies side by side
            raise OperationFailed(
                f"job {job_id} was cancelled and its process is still stopping (SIGKILL after"
                f" its kill_grace); nothing queued: retry once it has stopped (`jobctl wait"
                f" {job_id}` returns then)"
            )
        try:
            again = build_again(config, job, now, changes, store.location)
        except JobctlError as exc:  # as enqueue refuses it: exit 2, nothing stored
            raise type(exc)(f"job {job_id} cannot run again: {exc}{_cwd_hint(job, cwd)}") from None
        if after_ids is not None:
            again = again._replace(after=after_ids)
        elif job.after:  # it runs after them again, but for those deleted since (pruned)
            still = store.get_many(job.after)
            again = again._replace(after=tuple(i for i in job.after if i in still))
        from jobctl.cli.enqueue import answer_of_held_key, refusal_of_unlike
        from jobctl.errors import KeyHeldByAnother

        try:
            (result,) = store.enqueue([again], now, refuse_unlike=True)
        except UsageError as exc:  # one it runs after is dead or cancelled
            raise UsageError(f"job {job_id} cannot run again: {exc}") from None
        except KeyHeldByAnother as exc:  # held by a job unlike it: refused as enqueue refuses it
            raise refusal_of_unlike(store, exc, again, as_json, "retry") from None
        if not result.created:  # as `enqueue` says it: the active job is the answer
            answer = answer_of_held_key(store, result.id, again, "retry", as_json=as_json)
        else:
            from jobctl.cli.enqueue import stored

            stored(f"job {result.id} was queued, but its id could not be printed")
            runs = "the job runs now" if not again.after else lambda: runs_of(store, [result.id])
            _say_if_past(at, changes.at, now, runs)
            if again.after:
                _say_if_dead(store, result.id)
            answer = store.get(result.id) if as_json else None
    if as_json:  # as `enqueue --json` answers
        from jobctl.documents import outcome_document, print_json

        print_json(outcome_document(result.id, answer, created=result.created))
    elif result.created and use_rich():  # a person reads it; a script takes the id alone
        print(f"retried {job_id} as job {result.id}")
    else:
        print(result.id)


def _cwd_hint(job: "Job", cwd: str | None) -> str:
    """How to run again an --exec job whose directory is gone (removed since it ran), said
    with its refusal: --cwd was not named, and re-typing its command looked the only way."""
    from jobctl.fsutil import directory_problem

    if job.command is None or job.cwd is None or cwd is not None:
        return ""
    if directory_problem(job.cwd) is None:
        return ""
    return f" (`jobctl retry {job.id} --cwd DIR` runs it in another directory)"


_EDIT_COMMAND = "jobctl.edit.command"


class _EditCommand(_EnqueueCommand):
    """`edit`, whose words after `--`, or after --exec as `enqueue --exec` reads them, are
    an --exec job's new command, not more ids (`jobctl edit 42 -- make test`): kept aside
    for the command, as click would read them as ids."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        args = self._unbundled(args)
        end = args.index("--") if "--" in args else len(args)
        flag = next((i for i, word in enumerate(args[:end]) if word in ("--exec", "-x")), None)
        first = None if flag is None else self._command_start(args[:end], flag + 1)
        if first is not None:
            ctx.meta[_EDIT_COMMAND] = args[first:]
            args = args[:first]
        elif end < len(args):
            ctx.meta[_EDIT_COMMAND] = args[end + 1 :]
            args = args[:end]
        return TyperCommand.parse_args(self, ctx, args)


@app.command(
    cls=_EditCommand,
    epilog="Examples:  jobctl edit 42 --priority 9  |  jobctl edit 42 --at 21:30  |"
    "  jobctl edit 42 --arg name=Ada  |  jobctl edit 42 43 --delay 0  (run them now)  |"
    "  jobctl edit 42 -- make test  (an --exec job's command)",
)
def edit(
    ctx: typer.Context,
    job_ids: Annotated[
        list[int],
        typer.Argument(
            help="Queued, scheduled or waiting jobs.",
            show_default=False,
            metavar="ID...",
            max=MAX_ID,
        ),
    ],
    arg: ArgOption = None,
    delay: DelayOption = None,
    at: AtOption = None,
    priority: PriorityOption = None,
    queue: QueueOption = None,
    max_attempts: MaxAttemptsOption = None,
    exec_: Annotated[
        bool,
        typer.Option(
            "--exec",
            "-x",
            help="The words that follow (or those after --) are an --exec job's new command,"
            " read as `enqueue --exec` reads its command.",
        ),
    ] = False,
    cwd: Annotated[
        str | None,
        typer.Option(
            "--cwd", help="Run an --exec job's command in DIR.", metavar="DIR", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each job, and whether it was edited, as JSON.")
    ] = False,
) -> None:
    """Change jobs that have not started. Each --arg replaces the value of its key in the
    payload (or adds it); --delay and --at set when the job runs, from now (--delay 0: at
    once; a waiting job still waits for its jobs too); --priority, --queue and
    --max-attempts replace the job's; the words after -- (or --exec) replace an --exec
    job's command, and --cwd its directory (a job type's come from the config). Checked as
    `enqueue` checks a new job: if one job is refused (exit 2), none is changed. A job keeps
    its id, its place and the jobs it waits for or that wait for it. A job running or ended
    is left as it is (exit 1): `retry` runs an ended one again with the same options."""
    from jobctl.cli.enqueue import _say_if_past
    from jobctl.errors import JobctlError, UsageError
    from jobctl.models import UNSTARTED_STATES, State
    from jobctl.producer import Changes

    config = STATE.config()
    now = time.time()
    changes = _changes(config, arg, delay, at, priority, queue, max_attempts, now)
    changes = _command_changes(changes, exec_, ctx.meta.get(_EDIT_COMMAND), cwd)
    if changes == Changes():
        raise UsageError(
            "nothing to change: give --arg, --delay, --at, --priority, --queue, --max-attempts,"
            " --cwd or a command (-- CMD ARGS...)"
        )
    named = list(dict.fromkeys(job_ids))
    reasons: dict[int, str] = {}
    with STATE.store(create=False) as store:
        if queue is not None:
            from jobctl.cli.enqueue import warn_if_new_queue

            warn_if_new_queue(store, queue)
        found = store.get_many(named)
        todo = [j for j in found.values() if j.state in UNSTARTED_STATES]
        edited: set[int] = set()
        for round_ in range(3):  # a job another edit changed meanwhile is read and edited again
            edits = []
            for unstarted in todo:
                try:
                    edits.append(_build_edit(config, unstarted, now, changes))
                except JobctlError as exc:
                    if not round_:  # as enqueue refuses it: exit 2, nothing changed
                        raise type(exc)(f"job {unstarted.id} cannot be edited: {exc}") from None
                    reasons[unstarted.id] = f"changed meanwhile: {exc}"
            run_in_batches(
                store,
                edits,
                lambda batch: edited.update(store.edit(batch, now)),
                lambda: len(edited),
                "editing",
                "edited",
            )
            again = store.get_many([e.id for e in edits if e.id not in edited])
            todo = [j for j in again.values() if j.state in UNSTARTED_STATES]
            if not todo:
                break
        if edited:
            from jobctl.cli.enqueue import changed

            changed(f"{len(edited)} job(s) were edited")
        after = store.get_many(named)
    if edited:
        from jobctl.cli.enqueue import when_past_runs

        runs = when_past_runs([j for i, j in after.items() if i in edited])
        _say_if_past(at, changes.at, now, runs)
    left_alone = LeftAlone("edited")
    for job_id in named:
        job, now_job = found.get(job_id), after.get(job_id)
        if job is None:
            reasons[job_id] = "does not exist"
            left_alone.say(f"job {job_id} does not exist; not edited")
        elif job_id in reasons:
            left_alone.say(f"job {job_id} not edited: it {reasons[job_id]}")
        elif job_id not in edited:
            state = now_job.state if now_job is not None else job.state
            if job.state == State.RUNNING:
                reasons[job_id] = "has started"
                hint = "it has started (cancel it, or wait for it and retry it)"
            elif job.state not in UNSTARTED_STATES:
                reasons[job_id] = f"already ended {job.state.value}"
                hint = f"it already ended {job.state.value} (`jobctl retry {job_id}` runs it again)"
                if job.state == State.DEAD and job.after and not job.attempts:
                    # Dead with a job it ran after: a copy after that one would be dead too.
                    hint = (
                        "it already ended dead, as a job it ran after did (`jobctl retry"
                        f" {job_id} --after ID` runs it again after another, such as a retry"
                        " of that one)"
                    )
            elif state in UNSTARTED_STATES:  # other edits changed it each time it was read
                reasons[job_id] = "changed meanwhile by other edits"
                hint = "other edits changed it meanwhile, each time it was read; edit it again"
            else:  # started, cancelled or made dead between the look and the change
                reasons[job_id], hint = _left_meanwhile(now_job or job)
            left_alone.say(f"job {job_id} not edited: {hint}")
        elif not as_json and now_job is not None:
            print(f"edited {job_id} ({now_job.state.value})")
    left_alone.end()
    if as_json:
        from jobctl.documents import outcome_document, print_json

        print_json(
            [
                outcome_document(
                    job_id,
                    after.get(job_id),
                    edited=job_id in edited,
                    reason=reasons.get(job_id),
                )
                for job_id in named
            ]
        )
    refused(len(reasons), asked=len(named), verb="edited")


def _left_meanwhile(job: "Job") -> tuple[str, str]:
    """Why `edit` left a job it read unstarted but found otherwise when it came to change it:
    the reason (for --json) and the words of its line. A job cancelled meanwhile, or made
    dead by one it waits for, never started: a worker was named for them, where none ran."""
    from jobctl.models import State

    if job.state == State.CANCELLED:
        return "cancelled meanwhile", "it was cancelled meanwhile"
    if job.state == State.DEAD and job.after and not job.attempts:
        return "ended dead meanwhile", f"it ended dead meanwhile: {job.error}"
    state = job.state.value
    return f"started meanwhile ({state})", f"a worker started it meanwhile (it is {state})"


def _changes(
    config: "Config",
    arg: list[str] | None,
    delay: str | None,
    at: str | None,
    priority: int | None,
    queue: str | None,
    max_attempts: int | None,
    now: float,
) -> "Changes":
    """`retry`'s and `edit`'s options, read as enqueue reads them and refused as it refuses
    them, before the store is opened: a fault of the command line (a delay and a time, a
    bad queue name, a number out of range) is exit 2 in enqueue's words, whatever the state
    of the job named, and not blamed on it ("job 20 not edited: it already ended")."""
    from jobctl.payload import parse_args
    from jobctl.producer import Changes, JobRequest, build_job

    changes = Changes(
        payload=parse_args(arg) if arg else None,
        delay=duration_option(delay, "--delay"),
        at=instant_option(at, "--at", now),
        priority=priority,
        queue=queue,
        max_attempts=max_attempts,
    )
    # The options alone, checked by build_job as a job of their own (as `enqueue --batch`
    # checks its options): one place for these checks and their words.
    options_alone = JobRequest(
        job=None,
        payload={},
        delay=changes.delay,
        at=changes.at,
        priority=priority,
        queue=queue,
        max_attempts=max_attempts,
        command=["true"],
    )
    build_job(config, options_alone, now)
    return changes


def _command_changes(
    changes: "Changes", exec_: bool, command: list[str] | None, cwd: str | None
) -> "Changes":
    """`changes` with an --exec job's new command and cwd, read and refused as `enqueue
    --exec` reads and refuses them, before the store is opened: a cwd made absolute and
    checked to be a directory, and neither where the config lets workers run only its job
    types (a shared store without allow_exec)."""
    from jobctl.cli.enqueue import _chosen_directory
    from jobctl.config import exec_allowed
    from jobctl.errors import UsageError
    from jobctl.producer import check_exec_words

    if (exec_ and command is None) or command == []:
        raise UsageError("--exec needs a command: jobctl edit ID -- CMD ARGS...")
    if command is not None:
        check_exec_words(command, "--exec")
    if command is None and cwd is None:
        return changes
    if not exec_allowed(STATE.config().settings, STATE.db_location()):
        raise UsageError(
            f"{'--exec' if command is not None else '--cwd'}: workers of a shared store run only"
            " their config's job types; set [settings] allow_exec = true (here and on the"
            " workers) to change commands"
        )
    return changes._replace(command=command, cwd=None if cwd is None else _chosen_directory(cwd))


def _build_edit(config: "Config", job: "Job", now: float, changes: "Changes") -> "JobEdit":
    """build_edit's edit of `job`: a new command is refused there as `enqueue --exec`
    refuses one (build_job), a line of shell in one word in the directory the job runs in."""
    from jobctl.producer import build_edit

    return build_edit(config, job, now, changes)


QueueArguments = Annotated[
    list[str] | None,
    typer.Argument(help="Queue names.", autocompletion=complete_queue, metavar="[QUEUE]..."),
]
AllQueuesOption = Annotated[
    bool, typer.Option("--all", "-a", help="Every queue the config names or the database holds.")
]
QueuesJsonOption = Annotated[
    bool, typer.Option("--json", help="Print each queue, paused or not, as JSON.")
]


@app.command(epilog="Example:  jobctl pause slow  (then: jobctl resume slow)")
def pause(
    queues: QueueArguments = None, every: AllQueuesOption = False, as_json: QueuesJsonOption = False
) -> None:
    """Stop workers taking jobs from queues; running jobs finish. A queue stays paused,
    across restarts, until `jobctl resume`. Each must be named in the config or have jobs.
    A queue that was paused already is said on stderr, and not as paused."""
    from jobctl.text import say

    chosen, were_paused = _set_paused(queues, every, True)
    if as_json:
        _print_queues(chosen, paused=True, changed=set(chosen) - were_paused)
        return
    for queue, running in chosen.items():
        if queue not in were_paused:
            print(
                f"paused queue {queue}"
                + (f" ({running} running job(s) will finish)" if running else "")
            )
        elif not every:  # with --all, only those it paused are said
            say(f"jobctl: note: queue {queue} was paused already; nothing to pause")
    if every and were_paused.issuperset(chosen):
        say("jobctl: note: every queue was paused already; nothing to pause")


@app.command(epilog="Example:  jobctl resume slow")
def resume(
    queues: QueueArguments = None, every: AllQueuesOption = False, as_json: QueuesJsonOption = False
) -> None:
    """Let workers take jobs from paused queues again. A queue that was not paused is said
    on stderr, and not as resumed."""
    from jobctl.text import say

    chosen, were_paused = _set_paused(queues, every, False)
    if as_json:
        _print_queues(chosen, paused=False, changed=were_paused)
        return
    for queue in chosen:
        if queue in were_paused:
            print(f"resumed queue {queue}")
        elif not every:  # with --all, only those paused are said
            say(f"jobctl: note: queue {queue} was not paused; nothing to resume")
    if every and not were_paused:
        say("jobctl: note: no queue was paused; nothing to resume")


def _print_queues(running: dict[str, int], *, paused: bool, changed: set[str]) -> None:
    """The queues `pause` or `resume` set, under the names `status --json` gives a queue,
    and whether the call changed each (as `schedule pause --json` says it)."""
    from jobctl.documents import print_json

    print_json(
        [
            {"queue": q, "paused": paused, "running": n, "changed": q in changed}
            for q, n in running.items()
        ]
    )


def _set_paused(
    queues: list[str] | None, every: bool, paused: bool
) -> tuple[dict[str, int], set[str]]:
    """Pause or resume; returns each queue's count of running jobs, and the queues that
    were paused before.

    Only queues jobctl knows of: one the config names (the default queue, a job type's, a
    schedule's or one with a `[queues.NAME]` limit) or one the database holds. A typo would
    otherwise pause nothing that runs, report success, and leave a queue of that name in
    `status` for good. Every name is checked before any queue changes. A database that does
    not exist is refused (exit 3) as `cancel` refuses it: a --db typo paused a queue in a new
    file no worker serves, and exited 0."""
    from jobctl.cli.completers import queues_named_in
    from jobctl.cli.options import unknown_queue
    from jobctl.config import QUEUE_NAME, bad_queue_name
    from jobctl.errors import StoreMissing, UsageError
    from jobctl.models import State

    if every and queues:
        raise UsageError("name the queues, or give --all, not both")
    if not every and not queues:
        raise UsageError(f"name the queues to {'pause' if paused else 'resume'}, or give --all")
    for queue in queues or ():
        if not QUEUE_NAME.match(queue):
            raise UsageError(bad_queue_name(queue))
    known = queues_named_in(STATE.config())
    missing: StoreMissing | None = None
    try:  # a refused name creates no database
        with STATE.store(create=False) as store:
            counts = {c.queue: c for c in store.queue_counts(time.time())}
    except StoreMissing as exc:  # a typo in the name is said first, as the usage error
        counts, missing = {}, exc
    known.update(counts)
    chosen = sorted(known) if every else list(dict.fromkeys(queues or ()))
    for queue in chosen:
        if queue not in known:
            raise UsageError(unknown_queue(queue, known))
    if missing is not None:
        raise missing
    with STATE.store(create=False) as store:
        for queue in chosen:
            store.set_paused(queue, paused)
    were_paused = {queue for queue in chosen if queue in counts and counts[queue].paused}
    if turned := [q for q in chosen if (q in were_paused) != paused]:
        from jobctl.cli.enqueue import changed

        which = f"queue {turned[0]} was" if len(turned) == 1 else f"queues {', '.join(turned)} were"
        changed(f"{which} {'paused' if paused else 'resumed'}")
    running = {
        queue: counts[queue].counts.get(State.RUNNING, 0) if queue in counts else 0
        for queue in chosen
    }
    return running, were_paused


@app.command(
    epilog="Examples:  jobctl prune --older-than 30d  |  jobctl prune --older-than 7d -s succeeded"
    " --yes  |  jobctl prune 41 42",
)
def prune(
    job_ids: Annotated[
        list[int] | None,
        typer.Argument(
            help="Ended jobs to delete (instead of --older-than).",
            show_default=False,
            metavar="[ID]...",
            max=MAX_ID,
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Delete jobs that ended longer ago than this, e.g. 30d (0 for all).",
            metavar="DURATION",
        ),
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            "-s",
            help="succeeded, dead or cancelled (repeat; default: all three).",
            autocompletion=complete_final_state,
            metavar="STATE",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the ids deleted, and the jobs not, as JSON."),
    ] = False,
) -> None:
    """Delete finished jobs, their history and their logs (asks first on a terminal, as
    `dead purge` does): those given by id, whatever way they ended, or by age. Workers can
    do this on their own: see [settings] keep_succeeded, keep_dead and keep_cancelled."""
    from jobctl.errors import StoreFull, UsageError
    from jobctl.models import FINAL_STATES

    if job_ids and (older_than is not None or state):
        raise UsageError("give job ids, or --older-than (and --state), not both")
    if not job_ids and older_than is None:
        raise UsageError("prune needs job ids, or --older-than (0 for every finished job)")
    states = [state_option(s) for s in state or []] or list(FINAL_STATES)
    active = [s.value for s in states if s not in FINAL_STATES]
    if active:
        raise UsageError(
            f"--state: {active[0]} jobs are not finished; prune deletes succeeded, dead or "
            "cancelled jobs"
        )
    ids = list(dict.fromkeys(job_ids)) if job_ids else None
    age = duration_option(older_than, "--older-than")
    cutoff = time.time() - age if age is not None else None
    from jobctl.logfiles import log_dir
    from jobctl.retention import COUNTS_BY_THE_HOUR, end_of_prune, prune, remove_logs_at_rest

    started = time.monotonic()
    ask = not yes and sys.stdin.isatty()
    early = 0  # logs removed before the database could be opened
    try:
        opened = STATE.store(create=False)
    except StoreFull:
        if cutoff is None:
            raise
        # A disk its logs filled, with no process holding the database open: not even a
        # read can start (it makes a -shm). The logs of the jobs to prune go first.
        if ask:  # the jobs cannot be counted before their logs are gone
            confirm(f"Delete the jobs that ended more than {older_than} ago, and their logs?")
            ask = False
        early = remove_logs_at_rest(STATE.db_location(), states, cutoff, STATE.config())
        if not early:
            raise
        opened = STATE.store(create=False)
    with opened as store:
        targets = None
        if ask or ids is not None:
            targets = store.finished_ids(states, ids=ids, finished_before=cutoff)
        skipped = _not_prunable(store, ids, targets or [])
        if ask:
            if targets:
                confirm(f"Delete {len(targets)} finished job(s) and their logs?")
            started = time.monotonic()  # not the time the question waited
        logs = str(log_dir(STATE.config(), store.location))
        # Only the jobs counted and confirmed, when asked; one retried meanwhile stays.
        pruned = prune(store, states, ids=targets, finished_before=cutoff, log_dir=logs)
        if pruned.stopped is None and cutoff is not None:
            store.prune_fires(cutoff)  # skipped fires, and those of the runs just deleted
            with contextlib.suppress(StoreFull):  # still full: the sums wait for a later prune
                store.compact_counts(time.time() - COUNTS_BY_THE_HOUR)
        not_pruned = _not_pruned(store, ids, targets or [], pruned.ids, skipped) if as_json else []
    removed = pruned.logs_removed + early
    if as_json:
        from jobctl.documents import print_json

        print_json(
            {"pruned": sorted(pruned.ids), "logs_removed": removed, "not_pruned": not_pruned}
        )
    else:
        # (It rests between batches for the workers' sake: a large one takes a while.)
        took = time.monotonic() - started
        print(f"pruned {len(pruned.ids)} job(s), removed {removed} log file(s) in {took:.1f}s")
    end_of_prune(pruned)
    refused(len(skipped), asked=None if ids is None else len(ids), verb="pruned")


def _not_prunable(store: "Store", ids: list[int] | None, targets: list[int]) -> dict[int, str]:
    """Each job given by id that `prune` leaves, said on stderr with why, as `dead purge`
    says a job not dead: one that does not exist, one not ended, one cancelled whose
    process still stops, a schedule's latest success (its last success goes with it)."""
    if ids is None:
        return {}
    deleting = set(targets)
    reasons = _prune_refusals(store, [i for i in ids if i not in deleting])
    left_alone = LeftAlone("pruned")
    for job_id, reason in reasons.items():
        left_alone.say(f"job {job_id} {reason}; not pruned")
    left_alone.end()
    return reasons


def _not_pruned(
    store: "Store",
    ids: list[int] | None,
    targets: list[int],
    deleted: list[int],
    skipped: dict[int, str],
) -> list[dict[str, Any]]:
    """`prune --json`'s outcome for each job given (or counted, with --older-than on a
    terminal) that stays, as `dead purge --json` gives its `not_purged`: exit 1 alone does
    not tell a script which ids were left, nor why."""
    from jobctl.documents import outcome_document

    gone = set(deleted)
    kept = [i for i in (ids if ids is not None else targets) if i not in gone]
    # A target that changed since it was counted (retried meanwhile) has its reason here
    # alone: the lines on stderr came before the delete.
    why = skipped | _prune_refusals(store, [i for i in targets if i not in gone])
    after = store.get_many(kept)
    return [outcome_document(i, after.get(i), pruned=False, reason=why.get(i)) for i in kept]


def _prune_refusals(store: "Store", left: list[int]) -> dict[int, str]:
    """Why `prune` leaves each of these jobs, in the words that follow "job ID"."""
    from jobctl.models import ACTIVE_STATES, State

    jobs = store.get_many(left)
    reasons: dict[int, str] = {}
    for job_id in left:
        found = jobs.get(job_id)
        if found is None:
            reasons[job_id] = "does not exist"
        elif found.state in ACTIVE_STATES:
            reasons[job_id] = f"is {found.state.value}, not ended (jobctl cancel {job_id} first)"
        elif not found.over():
            reasons[job_id] = "is cancelled, but its process is still stopping"
        elif found.state == State.SUCCEEDED and found.schedule is not None:
            reasons[job_id] = (
                f"is schedule {found.schedule}'s latest success (kept until a newer run succeeds)"
            )
        else:
            reasons[job_id] = f"is {found.state.value}, and was not deleted"
    return reasons


def confirm(question: str, *, nothing: str = "nothing deleted") -> None:
    """Ask on the terminal before a change that cannot be undone (`prune`, `dead purge`,
    `cancel --all`); anything but y or yes ends the command, `nothing` said (exit 1)."""
    from jobctl.errors import OperationFailed

    try:  # from the question on: a Ctrl-C right after it is printed is one at the prompt
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        line = sys.stdin.readline()
    except KeyboardInterrupt:  # Ctrl-C ends the question's line, as Enter would have
        sys.stderr.write("\n")
        raise
    if not line.endswith("\n"):  # Ctrl-D: the next line starts on a line of its own
        sys.stderr.write("\n")
    answer = line.strip().lower()
    if answer not in ("y", "yes"):
        raise OperationFailed(nothing)


@app.command(epilog="Example:  jobctl backup /var/backups/jobctl-$(date +%F).db")
def backup(
    target: Annotated[
        # Text as given, not a Path: one would make `./-` the `-` it is told apart from.
        str,
        typer.Argument(help="The new file to write (never one that exists).", metavar="FILE"),
    ],
) -> None:
    """Copy the database to a new file, consistent while workers and daemons run (a `cp` of
    the file is not: it misses what the -wal holds). The copy is one file, private to you;
    see README "Backups" for putting it back."""
    import os

    from jobctl.errors import StoreError, UsageError

    # The caller's mistakes (exit 2), which a CI step must tell apart from a database that
    # cannot be used (exit 3).
    if target == "-":
        raise UsageError(
            "backup -: a file name is needed: the copy is not written to stdout (a file named"
            " - is ./-)"
        )
    if not target:
        raise UsageError("backup: the file name is empty")
    if os.path.basename(target) in ("", ".", ".."):  # a folder's name, that folder missing
        raise UsageError(
            f"backup {target}: names a folder, not a file: give the new file's name in it"
        )
    if os.path.lexists(target):
        raise UsageError(f"backup {target}: exists already (choose a new file)")
    with STATE.store(create=False) as store:
        try:
            size = store.backup(target)
        except StoreError:
            if os.path.lexists(target):  # made by another process meanwhile
                raise UsageError(f"backup {target}: exists already (choose a new file)") from None
            raise
    print(f"backed up {store.location} to {target} ({size:,} bytes)")
