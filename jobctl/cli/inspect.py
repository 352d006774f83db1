"""`jobctl list`, `show` and `wait`: reading the queue; and which job `logs` shows when
given no id."""

import bisect
import contextlib
import heapq
import itertools
import os
import time
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, NoReturn, overload

import typer

from jobctl.cli.app import app
from jobctl.cli.completers import complete_job, complete_queue, complete_state
from jobctl.cli.context import STATE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from jobctl.models import Job, JobFilter, WorkerInfo
    from jobctl.store import Store

from jobctl.cli.options import (
    MAX_ID,
    check_job_name,
    check_queue_name,
    duration_option,
    limit_option,
    note_unknown_job,
    note_unknown_queue,
    since_option,
    state_option,
)

# How many jobs a wait reads between two looks at its deadline: a look at every job it waits
# for takes seconds on a million, and a --timeout is kept within one batch's read.
WAIT_BATCH = 2000
_NAMED_MOST = 20  # jobs `wait` names that did not succeed; the rest are counted


@app.command("list", epilog="Example:  jobctl list --state dead --job backup --json")
def list_jobs(
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            "-s",
            help="queued, scheduled, waiting, running, succeeded, dead, cancelled.",
            autocompletion=complete_state,
            metavar="STATE",
        ),
    ] = None,
    job: Annotated[
        str | None,
        typer.Option(
            "--job", "-j", help="Only this job type.", autocompletion=complete_job, metavar="JOB"
        ),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue", "-q", help="Only this queue.", autocompletion=complete_queue, metavar="QUEUE"
        ),
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="Only this unique key.", metavar="KEY")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only jobs created within this duration (1h, 7d), or since this time (as --at"
            " takes it: 2026-05-01T09:30, today 0:00).",
            metavar="DURATION|TIME",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most this many jobs.", metavar="N")
    ] = 50,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="Oldest jobs first.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List jobs, newest first.

    --limit 0 lists every job that matches; a negative limit is refused.
    """
    from jobctl.errors import UsageError
    from jobctl.models import JobFilter
    from jobctl.render import job_listing, listing_fetch

    rows = limit_option(limit)
    states = tuple(state_option(s) for s in state or [])
    since_ts = since_option(since, "--since")
    if queue is not None:  # as wait and enqueue read it: '' or '--json' is no queue's name
        check_queue_name(queue, "--queue")
    if key == "":  # as enqueue refuses it: an unset variable, which no job's key is
        raise UsageError("--key: empty key (give one, or no --key at all)")
    where = JobFilter(
        states=states,
        job=job,
        queue=queue,
        key=key,
        since=since_ts,
        limit=listing_fetch(rows),
        newest_first=not oldest_first,
    )
    with STATE.store(create=False) as store:
        check_job_name(job, store)
        if as_json and rows is None:  # all of them: written a page at a time
            from jobctl.documents import job_document, print_json_array

            if queue is not None and not store.list_jobs(where._replace(limit=1)):
                note_unknown_queue(queue, store, fatal=True)  # before a `[]` that says none
            matched = print_json_array(job_document(j) for j in _every_job(store, where)) > 0
            note_unknown_job(job, matched)
            return
        jobs = store.list_jobs(where)
        if queue is not None and not jobs:
            note_unknown_queue(queue, store, fatal=True)  # a typo is exit 2, as in wait
        gone = _gone_workers_jobs(store, jobs) if not as_json else set()
    note_unknown_job(job, bool(jobs))
    order = "oldest" if oldest_first else "newest"
    job_listing(jobs, rows, first=order, as_json=as_json, show_rows=_rows_marking(gone))


def _every_job(store: "Store", where: "JobFilter", page: int = 1000) -> "Iterator[Job]":
    """The jobs a filter matches, read a page at a time (each page a read of its own: a job
    that changes meanwhile is listed as it was, or as it is, once), among those there were
    when the listing began: oldest first, it chased the jobs enqueued as it went."""
    from jobctl.models import JobFilter

    newest = store.list_jobs(JobFilter(limit=1))
    if not newest:
        return
    where = where._replace(through=newest[0].id)
    beyond = None
    while True:
        jobs = store.list_jobs(where._replace(limit=page, beyond=beyond))
        yield from jobs
        if len(jobs) < page:
            return
        beyond = jobs[-1].id


@app.command(epilog="Example:  jobctl show 42 --json")
def show(
    job_id: Annotated[int, typer.Argument(help="The job id.", metavar="ID", max=MAX_ID)],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show one job with every attempt, and the logs of the hooks they set off."""
    from jobctl.cli.attemptlogs import hook_document, hook_logs, located
    from jobctl.documents import attempt_document, job_document, print_json
    from jobctl.errors import NotFound
    from jobctl.models import State
    from jobctl.render import hook_rows, job_detail

    with STATE.store(create=False) as store:
        job = store.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        attempts = located(store, store.attempts(job_id))
        hooks = hook_logs(store, attempts)
        after = store.get_many(job.after) if job.after and not as_json else {}
        # A running job's worker may be gone: the state says so, as `status` does.
        alive = _alive_workers(store) if job.state == State.RUNNING and not as_json else None
    if as_json:
        history = [
            attempt_document(a) | {"hooks": [hook_document(h) for h in hooks[a.run]]}
            for a in attempts
        ]
        print_json(job_document(job) | {"attempts_history": history})
    else:
        job_detail(job, attempts, after, alive)
        hook_rows(job_id, attempts, hooks)


def _gone_workers_jobs(store: "Store", jobs: "Sequence[Job]") -> set[int]:
    """The running jobs among `jobs` whose worker is gone (documents.worker_gone), read only
    when some job is running: `list` marks them as `status` does."""
    from jobctl.documents import worker_gone
    from jobctl.models import State

    running = [job for job in jobs if job.state == State.RUNNING]
    if not running:
        return set()
    alive = _alive_workers(store)
    return {job.id for job in running if worker_gone(job, alive)}


def _rows_marking(gone: set[int]) -> "Callable[[Sequence[Job]], None]":
    from jobctl.render import job_rows

    return lambda jobs: job_rows(jobs, gone=gone)


def _alive_workers(store: "Store") -> "list[WorkerInfo]":
    """The live workers, as `status` lists them: a running job of none of them is a gone
    worker's (documents.worker_gone)."""
    now = time.time()
    return [worker for worker in store.workers() if worker.alive(now)]


@app.command(
    epilog="Examples:  jobctl wait 41 42 --timeout 10m && echo all good  |"
    "  jobctl wait --all --timeout 1h"
)
def wait(
    job_ids: Annotated[
        list[int] | None, typer.Argument(help="Job ids to wait for.", metavar="[ID]...", max=MAX_ID)
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            "-q",
            help="Also every job queued, scheduled, waiting or running in this queue now.",
            autocompletion=complete_queue,
            metavar="QUEUE",
        ),
    ] = None,
    job: Annotated[
        str | None,
        typer.Option(
            "--job",
            "-j",
            help="Also every job of this type active now (queued, scheduled, waiting or running;"
            " with --queue: in that queue).",
            autocompletion=complete_job,
            metavar="JOB",
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", "-a", help="Also every job active now, in every queue.")
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout", "-t", help="Give up after this long (exit 124).", metavar="DURATION"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the jobs as JSON.")] = False,
) -> None:
    """Wait until jobs finish: exit 0 if all succeeded, 1 if any ended dead or cancelled.

    --queue, --job and --all take the jobs active when the wait starts; jobs enqueued later
    are not waited for.
    """
    from jobctl.cli.observe import (
        Patience,
        Report,
        because,
        say_if_nobody_runs,
        waiting_for,
    )
    from jobctl.cli.unserved import why_nobody_runs
    from jobctl.documents import job_document, print_json, print_json_array
    from jobctl.errors import (
        EXIT_FAILED,
        EXIT_TIMEOUT,
        StoreError,
        StoreMissing,
        UsageError,
    )
    from jobctl.models import ACTIVE_STATES, JobFilter, State
    from jobctl.render import ended_line, job_label
    from jobctl.text import say

    if every and (queue is not None or job is not None):
        raise UsageError("--all waits for every active job: drop --queue and --job, or --all")
    if not job_ids and not every and queue is None and job is None:
        raise UsageError("wait needs job ids, or --queue, --job or --all")
    limit = duration_option(timeout, "--timeout")
    deadline = time.monotonic() + limit if limit is not None else None
    pause = 0.01
    patience = Patience()
    try:
        opened = STATE.store(create=False)
    except StoreMissing:
        if job_ids:
            raise
        # `wait --all` in a CI step before anything was enqueued: nothing to wait for.
        typer.echo(
            f"jobctl: note: database {STATE.db_location()} does not exist (no job was ever"
            " enqueued there): nothing to wait for",
            err=True,
        )
        if as_json:
            print_json([])
        return
    with opened as store:
        given = list(dict.fromkeys(job_ids or []))
        own = _own_job(store)
        if own is not None and own in given:
            raise UsageError(
                f"job {own} is the job whose command runs this wait: it cannot end before the"
                " wait does"
            )
        wanted = _WaitedFor(given)
        stopping: list[int] = []  # waited for (their keys are held), not reported on
        listing_timed_out = False
        if every or queue is not None or job is not None:
            if queue is not None:
                check_queue_name(queue, "--queue")
            check_job_name(job, store)  # as list and dead do: a typo is exit 2
            where = JobFilter(states=ACTIVE_STATES, queue=queue, job=job, limit=None)
            active_ids, listing_timed_out = _active_ids(store, where, deadline)
            if own is not None and _holds(active_ids, own):
                active_ids = array("q", (i for i in active_ids if i != own))
                say(f"jobctl: note: not waiting for job {own}, whose command runs this wait")
            if queue is not None and not active_ids:
                note_unknown_queue(queue, store, fatal=True)
            wanted = _WaitedFor(given, active_ids)
            del active_ids
            # Cancelled while running, still taking their kill_grace: "cancel, wait, enqueue
            # the key again" needs them stopped, but they ended before the wait began.
            ending = where._replace(states=(State.CANCELLED,), leased=True)
            stopping = [j.id for j in store.list_jobs(ending) if j.id not in wanted]
        # Each job waited for as last read, once it has ended (or as given): one still
        # pending is read again at each look, and a million held whole took gigabytes.
        seen: dict[int, Job] = {}
        if job_ids:
            seen.update(_refuse_unknown(store, [i for i in given if not wanted.active(i)]))
        deleted: set[int] = set()  # pruned while waited for: how they ended is not known
        said: set[int] = set()  # the jobs whose bad end was said, as soon as it was seen

        def say_ended(ended: "Job") -> None:
            """A job waited for that did not succeed, named once, as it ends: a CI log
            shows a failure in the first minute of an hour's batch when it happens.
            (A stopping job's end was never asked about.)"""
            if ended.id in wanted and ended.id not in said and len(said) < _NAMED_MOST:
                said.add(ended.id)
                typer.echo(ended_line(ended), err=True)

        # Also what Ctrl-C says is still waited for.
        pending = _Pending(wanted.ids + array("q", stopping) if stopping else wanted.ids)

        # The jobs as last seen, as at a timeout: once, even if an interrupt cuts it.
        report = Report(
            lambda: print_json_array(job_document(j) for j in _last_seen(store, wanted.ids, seen))
        )

        def say_deleted() -> list[int]:
            """The jobs waited for that were deleted (pruned) while waited for, each named."""
            gone = [i for i in wanted if i in deleted] if deleted else []
            for job_id in gone:
                # (one listed as active may end and go before the wait first reads it)
                kind = f" ({job_label(seen[job_id])})" if job_id in seen else ""
                say(
                    f"jobctl: job {job_id}{kind} was deleted while waited for: how it ended"
                    " is not known"
                )
            return gone

        def timed_out() -> NoReturn:
            if as_json:
                report()
            say_deleted()  # ended, as far as the wait can tell: not among those still pending
            unended = {i for i in pending if i in seen}  # (those given are seen at the start)
            unnamed = sum(
                1
                for i, last in seen.items()
                if i in wanted
                and i not in unended
                and i not in said
                and i not in deleted
                and last.state != State.SUCCEEDED
            )
            if unnamed:
                typer.echo(f"jobctl: and {unnamed} more jobs did not succeed", err=True)
            # The first few still pending, read now if the wait never came to them.
            few = list(itertools.islice(pending, 5))
            known = {i: seen[i] for i in few if i in seen}
            if len(known) < len(few):
                with contextlib.suppress(StoreError):
                    known.update(store.get_many([i for i in few if i not in known]))
            still = [_still(known[i]) if i in known else f"job {i}" for i in few]
            if len(pending) > len(few):
                still.append(f"and {len(pending) - len(few)} more")
            doing = ", ".join(still)
            why = because(why_nobody_runs(store, _one_per_queue(pending, seen)))
            typer.echo(f"jobctl: timed out after {timeout}: {doing}{why}", err=True)
            raise typer.Exit(EXIT_TIMEOUT)

        # In place before the first note: a Ctrl-C after it is answered.
        with waiting_for(pending, report if as_json else None):
            if not wanted and stopping:
                say(f"jobctl: note: waiting for {len(stopping)} cancelled job(s) to stop")
            elif not wanted and (every or queue is not None or job is not None):
                typer.echo("jobctl: note: no job is active there: nothing to wait for", err=True)
            say_if_nobody_runs(store, wanted.ids, timeout)
            if listing_timed_out:  # thousands of jobs, read for as long as it had
                say(
                    f"jobctl: note: the timeout came while the active jobs were listed: the"
                    f" first {len(wanted.ids):,} of them are reported"
                )
                timed_out()
            while pending:
                # A look at many jobs is read a batch at a time, the deadline checked
                # between batches: a look at a million jobs takes longer than a --timeout.
                batch = pending.next_batch(WAIT_BATCH)
                try:
                    jobs = store.get_many(batch)
                except StoreError as exc:
                    patience.failed(exc)
                    if deadline is not None and time.monotonic() >= deadline:
                        say(f"jobctl: timed out after {timeout} ({patience.outage()})")
                        raise typer.Exit(EXIT_TIMEOUT) from None
                    time.sleep(0.25)
                    continue
                patience.answered()
                gone = store.replaced()
                if gone is not None:  # `rm q.db*`: the jobs waited for are nowhere now
                    raise StoreError(f"{gone}: the jobs waited for are not in the file there now")
                missing = [i for i in batch if i not in jobs]
                # After the first look, an id missing now was found before: pruned since.
                unknown = [
                    i
                    for i in missing
                    if pending.first_look and i not in seen and not wanted.active(i)
                ]
                if unknown:  # not "a job failed" (exit 1): a script must tell them apart
                    raise UsageError(_no_such_jobs(unknown))
                deleted.update(missing)  # seen before: pruned meanwhile (only ended jobs are)
                ended = set(missing)
                for i in batch:
                    if i in jobs and jobs[i].over():
                        ended.add(i)
                        seen[i] = jobs[i]
                        if jobs[i].state != State.SUCCEEDED:
                            say_ended(jobs[i])
                pending.read(batch, ended)
                if not pending:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out()
                if not pending.look_done():
                    continue  # the rest of this look first
                time.sleep(pause)
                pause = min(pause * 1.5, 0.25)
    if as_json:
        print_json_array(job_document(seen[i]) for i in wanted if i in seen)
    failed = [
        i for i in wanted if i in seen and seen[i].state != State.SUCCEEDED and i not in deleted
    ]
    deleted_wanted = say_deleted()
    unnamed = sum(1 for i in failed if i not in said)
    if unnamed:
        typer.echo(f"jobctl: and {unnamed} more jobs did not succeed", err=True)
    if failed or deleted_wanted:
        raise typer.Exit(EXIT_FAILED)


class _WaitedFor:
    """The ids a wait reports on, 8 bytes each (sets, dicts and lists of ints took some 250
    bytes a job: 210 MB for 853,000): those given, in their order, then those listed as
    active that were not given, ascending as listed, which a binary search finds."""

    def __init__(self, given: list[int], active: "array[int] | None" = None) -> None:
        self._given = set(given)
        self.ids = array("q", given)
        self._listed_from = len(self.ids)
        if active is not None:
            self.ids.extend(i for i in active if i not in self._given)
        # The ids given that were listed as active too: they existed when the wait began.
        self._given_active = {i for i in given if active is not None and _holds(active, i)}

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._given or (
            isinstance(job_id, int) and _holds(self.ids, job_id, self._listed_from)
        )

    def __iter__(self) -> "Iterator[int]":
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def active(self, job_id: int) -> bool:
        """Whether the job was listed as active when the wait began (it was there)."""
        return job_id in self._given_active or _holds(self.ids, job_id, self._listed_from)


def _holds(ascending: "array[int]", job_id: int, start: int = 0) -> bool:
    at = bisect.bisect_left(ascending, job_id, start)
    return at < len(ascending) and ascending[at] == job_id


class _Pending(Sequence[int]):
    """The ids still waited for, in order, 8 bytes each: a look reads `look` a batch at a
    time, and keeps those that have not ended, which the next look reads. Ctrl-C names
    them too (a Sequence).

    The signal handler that names them runs between any two bytecodes of an update, so each
    update is published in one assignment of `_state` (look, kept, read up to, kept so far):
    ids appended to `kept` beyond its published length are not yet pending."""

    def __init__(self, ids: "array[int]") -> None:
        # `look` is never changed: it may be the caller's.
        self._state: tuple[array[int], array[int], int, int] = (ids, array("q"), 0, 0)
        self.first_look = True

    def __len__(self) -> int:
        look, _, read_up_to, kept = self._state
        return kept + len(look) - read_up_to

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        if isinstance(index, slice):
            return list(self)[index]
        look, kept_ids, read_up_to, kept = self._state
        if index < 0:
            index += kept + len(look) - read_up_to
        if 0 <= index < kept:
            return kept_ids[index]
        return look[read_up_to + index - kept]

    def __iter__(self) -> "Iterator[int]":
        look, kept_ids, read_up_to, kept = self._state
        yield from itertools.islice(kept_ids, kept)
        yield from itertools.islice(look, read_up_to, None)

    def look_done(self) -> bool:
        look, _, read_up_to, _ = self._state
        return read_up_to >= len(look)

    def next_batch(self, size: int) -> list[int]:
        """The ids to read next: a new look at every job still pending once one is done."""
        look, kept_ids, read_up_to, kept = self._state
        if read_up_to >= len(look):
            look, read_up_to = kept_ids[:kept], 0
            self._state = (look, array("q"), 0, 0)
            self.first_look = False
        return look[read_up_to : read_up_to + size].tolist()

    def read(self, batch: list[int], ended: set[int]) -> None:
        """The batch next_batch gave was read: those in `ended` are waited for no more."""
        look, kept_ids, read_up_to, kept = self._state
        del kept_ids[kept:]  # left by an update an interrupt cut short
        kept_ids.extend(i for i in batch if i not in ended)
        self._state = (look, kept_ids, read_up_to + len(batch), len(kept_ids))


def _own_job(store: "Store") -> int | None:
    """The job whose command runs this call, when it runs in one of this database's jobs
    (JOBCTL_JOB_ID, and JOBCTL_WORKER its running worker: the same id of another database
    is another job)."""
    inside, worker = os.environ.get("JOBCTL_JOB_ID", ""), os.environ.get("JOBCTL_WORKER")
    if not inside.isascii() or not inside.isdigit() or not worker:
        return None
    from jobctl.errors import StoreError
    from jobctl.models import State

    try:
        job = store.get(int(inside))
    except (StoreError, OverflowError):
        return None
    if job is None or job.state is not State.RUNNING or job.worker != worker:
        return None
    return job.id


def _active_ids(
    store: "Store", where: "JobFilter", deadline: float | None
) -> "tuple[array[int], bool]":
    """The ids of the active jobs a filter matches, oldest first, among those there were when
    the wait began, read a batch at a time; and whether the deadline came before the last
    (ids alone: a million jobs read whole took a GB, and 10 s before a first look at the
    deadline). A job that ends before its batch is read is in none: the jobs that ended
    since the wait began are read back at the end (a dead one went unsaid, exit 0)."""
    from jobctl.models import FINAL_STATES, JobFilter

    began = time.time()
    newest = store.job_ids(JobFilter(limit=1))
    if not newest:
        return array("q"), False
    where = where._replace(through=newest[0], newest_first=False, limit=WAIT_BATCH)
    found = array("q")
    while True:
        ids = store.job_ids(where._replace(beyond=found[-1] if found else None))
        found.extend(ids)
        if len(ids) < WAIT_BATCH:
            break
        if deadline is not None and time.monotonic() >= deadline:
            return found, True
    ended = store.finished_jobs(FINAL_STATES, job=where.job, finished_after=began)
    missed = sorted(
        job.id
        for job in ended
        if job.id <= newest[0] and where.queue in (None, job.queue) and not _holds(found, job.id)
    )
    if missed:
        found = array("q", heapq.merge(found, missed))
    return found, False


def _last_seen(store: "Store", job_ids: Sequence[int], seen: "dict[int, Job]") -> "Iterator[Job]":
    """The jobs as last seen, those the wait has not read yet read now, a thousand at a
    time (none of them if the store does not answer)."""
    from jobctl.errors import StoreError

    for start in range(0, len(job_ids), 1000):
        ids = job_ids[start : start + 1000]
        read: dict[int, Job] = {}
        if any(i not in seen for i in ids):
            with contextlib.suppress(StoreError):
                read = store.get_many([i for i in ids if i not in seen])
        for i in ids:
            job = seen.get(i) or read.get(i)
            if job is not None:
                yield job


def _refuse_unknown(store: "Store", ids: list[int]) -> "dict[int, Job]":
    """The jobs given by id, read before waiting, so that every id with no job is named
    (a look at many is read a batch at a time, and a timeout may come between batches).
    A store that does not answer now is left to the wait, which rides out an outage."""
    from jobctl.errors import StoreError, UsageError

    found: dict[int, Job] = {}
    try:
        for start in range(0, len(ids), WAIT_BATCH):
            found.update(store.get_many(ids[start : start + WAIT_BATCH]))
    except StoreError:
        return found
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise UsageError(_no_such_jobs(unknown))
    return found


def _no_such_jobs(ids: list[int]) -> str:
    named = ", ".join(map(str, ids[:50])) + (
        f" and {len(ids) - 50:,} more" if len(ids) > 50 else ""
    )
    return f"no job {named} (never made, or pruned): nothing waited for"


def _one_per_queue(job_ids: "Iterable[int]", seen: "dict[int, Job]") -> list[int]:
    """The jobs a timeout line's reasons are read from: one job per queue and state for those
    waiting (the reasons for those are per queue) and every running or stopping one (each
    has its worker), not a million jobs read again to say why none runs. Of those the wait
    has not read yet (a timeout during its first look), a batch's worth."""
    from jobctl.models import State

    picked: dict[tuple[str, State], int] = {}
    running: list[int] = []
    unread: list[int] = []
    for i in job_ids:
        job = seen.get(i)
        if job is None:
            if len(unread) < WAIT_BATCH:
                unread.append(i)
        elif job.state in (State.RUNNING, State.CANCELLED):
            running.append(i)
        else:
            picked.setdefault((job.queue, job.state), i)
    return [*picked.values(), *running, *unread]


def _still(job: "Job") -> str:
    """What a job waited for is still doing, at a timeout."""
    from jobctl.models import State
    from jobctl.render import job_label, waits_for

    if job.state == State.CANCELLED:  # (waited for until its process has stopped)
        return f"job {job.id} ({job_label(job)}) was cancelled, and its process is still stopping"
    return f"job {job.id} ({job_label(job)}) is still {job.state.value}{waits_for(job)}"


# How far `logs` without an id looks among the newest jobs waiting (for one whose attempt
# ended and that waits for its retry) and among the last to end (for one that had started):
# any shell session's worth, and still little for a queue of millions.
RECENT = 1000


def started_last(store: "Store", *, follow: bool = False) -> int:
    """The job `logs` shows when given no id, as pueue's `follow` takes the task that runs:
    the one that started an attempt last, running or ended, so that `jobctl logs -f` right
    after an enqueue follows that job. Which job, and how many others run, goes to stderr;
    with none started, NotFound.

    When that one has ended (or none started) and a newer job has yet to start (its queue
    paused, busy or at max_running), `add` then `follow` means the newer one: --follow
    takes the newest such job and waits for it to start, as `logs -f ID` does; without
    --follow the note names it, lest an old job's output pass for its own."""
    from jobctl.documents import worker_gone
    from jobctl.errors import NotFound
    from jobctl.models import FINAL_STATES, JobFilter, State
    from jobctl.render import _gone_note, age_text, job_label
    from jobctl.text import say

    now = time.time()
    running = store.list_jobs(JobFilter(states=(State.RUNNING,), limit=None))
    started = list(running)
    waiting = (State.SCHEDULED, State.QUEUED)
    if any(c.counts.get(s) for c in store.queue_counts(now) for s in waiting):
        # Counted first: a listing by state that finds none has read every job to say so.
        retries = store.list_jobs(JobFilter(states=waiting, limit=RECENT))
        started += [j for j in retries if j.started_at is not None]
    since = max((j.started_at for j in started if j.started_at is not None), default=None)
    none_started = ""
    if since is None:
        ended = store.finished_jobs(FINAL_STATES, limit=RECENT)
        since = next((j.started_at for j in ended if j.started_at is not None), None)
        if since is None and len(ended) == RECENT:
            none_started = f"none of the {RECENT} jobs that ended last had started: give an id"
        elif since is None:
            none_started = "no job has started yet: there is no output to show"
    job = None
    if since is not None:
        # A job that started after `since` ended after it too, if it has ended.
        ended_since = store.finished_jobs(FINAL_STATES, finished_after=since)
        started += [j for j in ended_since if j.started_at]
        job = max(started, key=lambda j: (j.started_at or 0.0, j.id))
    newer = None
    if job is None or job.state in FINAL_STATES:
        newer = _newest_not_started(store, after=0 if job is None else job.id, now=now)
    if follow and newer is not None:
        line = (
            f"jobctl: job {newer.id} ({job_label(newer)}) has not started yet (it is"
            f" {newer.state.value}); following it once it starts"
        )
        if job is not None:
            line += f" (job {job.id}, started last, has ended: jobctl logs {job.id})"
        say(line)
        return newer.id
    if job is None:
        raise NotFound(none_started)
    line = f"jobctl: job {job.id} ({job_label(job)}), started {age_text(job.started_at, now)}"
    if job.state != State.RUNNING:
        line += f", now {job.state.value}"
    elif worker_gone(job, _alive_workers(store)):  # no more output until it runs again
        line += f" {_gone_note([job], now)}"
    others = sum(1 for j in running if j.id != job.id)
    if others:
        line += f"; {others} other job(s) running (jobctl logs ID for another)"
    if newer is not None:
        line += (
            f"; newer job {newer.id} ({job_label(newer)}) has not started yet (jobctl logs -f"
            f" {newer.id} follows it once it starts)"
        )
    say(line)
    return job.id


# A job due later than this is not the one just enqueued to watch (`--at tomorrow 9:00`).
SOON = 10.0


def _newest_not_started(store: "Store", after: int, now: float) -> "Job | None":
    """The newest job past `after` that has yet to start an attempt and is ready to (queued,
    or due within SOON), among the RECENT newest such jobs. One scheduled for later, or
    waiting for other jobs, is passed over: `logs -f` waited for tomorrow's job."""
    from jobctl.models import JobFilter, State

    ready = (State.QUEUED, State.SCHEDULED)
    candidates = store.list_jobs(JobFilter(states=ready, limit=RECENT))
    return next(
        (
            j
            for j in candidates
            if j.started_at is None and j.id > after and (j.run_at or 0.0) <= now + SOON
        ),
        None,
    )
