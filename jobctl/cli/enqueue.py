"""What `jobctl enqueue` does once its command line is read, by typer (jobctl.cli.queue) or
by the fast path (jobctl.cli.fastpath): one body for both."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO, overload

from jobctl.cli.context import STATE
from jobctl.cli.options import duration_option, instant_option

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from jobctl.errors import JobctlError, KeyHeldByAnother, UsageError
    from jobctl.models import EnqueueResult, Job, NewJob
    from jobctl.producer import BatchDefaults
    from jobctl.store import Store


def run_enqueue(
    *,
    args: list[str] | None = None,
    arg: list[str] | None = None,
    payload: str | None = None,
    payload_file: str | None = None,
    delay: str | None = None,
    at: str | None = None,
    priority: int | None = None,
    queue: str | None = None,
    key: str | None = None,
    max_attempts: int | None = None,
    after: list[str] | None = None,
    batch: str | None = None,
    exec_: bool = False,
    as_json: bool = False,
    wait: bool = False,
    follow: bool = False,
    timeout: str | None = None,
    cwd: str | None = None,
    named_before_exec: list[str] | None = None,
) -> None:
    """Queue one job, an --exec command or a --batch, as the options say. With --exec,
    `named_before_exec` are the words given before the flag (a job name by mistake); `cwd`
    is where a command runs instead of here (--exec's, and a batch's lines' default)."""
    from jobctl.errors import UsageError
    from jobctl.producer import JobRequest, build_job, read_after

    config = STATE.config()
    after_ids = read_after(after, "--after") if after else ()
    if follow and as_json:
        raise UsageError("--follow prints the job's output: it does not mix with --json")
    if timeout is not None and not (wait or follow):
        raise UsageError("--timeout goes with --wait or --follow")
    duration_option(timeout, "--timeout")  # refused before anything is stored
    if cwd is not None and not exec_ and batch is None:
        raise UsageError(
            "--cwd goes with --exec (or a --batch's command lines): a job type runs in its"
            " config's cwd"
        )
    if batch is not None:
        if args or arg or payload or payload_file or exec_:
            raise UsageError("--batch takes no job name, payload or --exec")
        if wait or follow:
            raise UsageError("--wait and --follow take one job, not a --batch")
        if key is not None:
            raise UsageError("--key names one job: give each line of a --batch its own 'key'")
        from jobctl.producer import BatchDefaults, check_batch_defaults

        defaults = BatchDefaults(
            delay=duration_option(delay, "--delay"),
            at=instant_option(at, "--at"),  # checked before any line; read again with them
            priority=priority,
            queue=queue,
            max_attempts=max_attempts,
            cwd=_exec_directory(required=False) if cwd is None else _chosen_directory(cwd),
            after=after_ids,
        )
        check_batch_defaults(config, defaults, time.time())
        _enqueue_batch(batch, as_json, defaults, at)
        return
    words = list(args or [])
    if exec_:
        command: list[str] | None = words
        name = None
        named = named_before_exec
        if named:
            raise UsageError(
                f"a job name cannot be combined with --exec (got {named[0]!r} before --exec): "
                "jobctl enqueue --exec -- CMD ARGS..."
            )
        if not command:
            raise UsageError("--exec needs a command: jobctl enqueue --exec -- CMD ARGS...")
        from jobctl.producer import check_exec_allowed, check_exec_words

        # Before the payload is read: build_job checks them again, with the directory.
        check_exec_words(command, "--exec")
        check_exec_allowed(config, STATE.db_location(), "--exec")
        job_cwd: str | None = _exec_directory() if cwd is None else _chosen_directory(cwd)
    else:
        if not words:
            raise UsageError("missing job name (or use --exec to queue a command)")
        if len(words) > 1:
            raise UsageError(
                f"unexpected argument {words[1]!r}: pass payload values with --arg key=value"
            )
        command, name, job_cwd = None, words[0], None
    body = _payload(arg, payload, payload_file)
    now = time.time()  # once the payload is read: a slow producer on stdin delays nothing
    at_instant = instant_option(at, "--at", now)
    request = JobRequest(
        job=name,
        payload=body,
        delay=duration_option(delay, "--delay"),
        at=at_instant,
        priority=priority,
        queue=queue,
        key=key,
        max_attempts=max_attempts,
        command=command,
        cwd=job_cwd,
        after=after_ids,
    )
    new_job = build_job(config, request, now, store_location=STATE.db_location())
    if after_ids and STATE.database_absent():
        from jobctl.errors import no_job_to_run_after

        raise no_job_to_run_after(after_ids[0])
    with STATE.store() as store:
        if queue is not None:
            warn_if_new_queue(store, queue)
        from jobctl.errors import KeyHeldByAnother

        try:
            (result,) = store.enqueue([new_job], now, refuse_unlike=True)
        except KeyHeldByAnother as exc:
            raise refusal_of_unlike(store, exc, new_job, as_json, "enqueue again") from None
        holder = None  # the job holding the key, when it is the answer
        if result.created:
            stored(f"job {result.id} was queued, but its id could not be printed")
        say_if_new(store)
        if result.created:
            runs = "the job runs now" if not after_ids else lambda: runs_of(store, [result.id])
            _say_if_past(at, at_instant, now, runs)
            if after_ids:
                _say_if_dead(store, result.id)
            if not (wait or follow):  # (a wait says it in its own words)
                say_if_nobody_takes(store, [result.id])
        else:
            holder = answer_of_held_key(store, result.id, new_job, "enqueue again", as_json=as_json)
        if as_json and not (wait or follow):
            from jobctl.documents import job_document, print_json

            job = store.get(result.id) if holder is None else holder
            assert job is not None
            print_json(job_document(job) | {"created": result.created})
        elif follow:
            # stdout is the job's output alone (`> out.txt`): its id goes with the notes.
            if result.created:
                print(f"jobctl: job {result.id} enqueued", file=sys.stderr, flush=True)
        elif not as_json:
            print(result.id, flush=True)
    if wait or follow:
        from jobctl.cli.observe import await_job

        await_job(
            result.id,
            follow=follow,
            as_json=as_json,
            extra={"created": result.created},
            timeout=timeout,
            new=result.created,
        )


def warn_if_new_queue(store: Store, queue: str) -> None:
    """A job put into a queue neither the config nor the database knows: likely a typo
    (`-q gpuu`), where it would run beside the limits of the queue meant. Said, not refused:
    a queue needs no declaring."""
    from jobctl.cli.options import note_unknown_queue
    from jobctl.config import QUEUE_NAME

    if QUEUE_NAME.match(queue):  # (a bad name is refused, with its own error)
        note_unknown_queue(queue, store, then="; the job goes there all the same")


def _say_if_past(
    text: str | None, instant: float | None, now: float, runs: str | Callable[[], str]
) -> None:
    """An --at already past runs now, as pueue takes it; at(1) refuses one. Said, since
    `--at 2026-11-30T07:00` typed for 17:00 otherwise started the job at once without a word.
    `runs` says when the job runs, or reads it (only for a time past: it costs a read)."""
    from jobctl.timefmt import PAST_UNSAID

    if text is None or instant is None or instant >= now - PAST_UNSAID:
        return
    if callable(runs):
        runs = runs()
    from jobctl.text import say
    from jobctl.timefmt import iso, span

    say(
        f"jobctl: note: --at {text.strip()} was {span(now - instant)} ago"
        f" ({iso(instant, timespec='seconds')}): {runs}"
    )


def runs_of(store: Store, job_ids: list[int]) -> str:
    """When jobs stored or edited with an --at already past run: now, but for those that
    wait for other jobs, which run once those have succeeded (`_say_if_past`'s words)."""
    return when_past_runs(store.get_many(job_ids).values())


def when_past_runs(jobs: Collection[Job]) -> str:
    """runs_of for jobs already read. "Runs now" was said of a job `waiting`, which does not."""
    from jobctl.models import State

    waiting = sum(1 for job in jobs if job.state == State.WAITING)
    if len(jobs) == 1 and waiting:
        return "it runs once the jobs it waits for have succeeded"
    if len(jobs) == 1 and any(job.state == State.DEAD for job in jobs):
        return "it does not run: it is dead"
    if waiting and waiting == len(jobs):
        return "they run once the jobs they wait for have succeeded"
    if waiting:
        return f"the job runs now, the {waiting} waiting for other jobs once those have succeeded"
    return "the job runs now"


def say_if_new(store: Store) -> None:
    """A note when the enqueue made its database: no worker can be serving a database that
    did not exist. `enqueue` from another folder (no jobs.toml there) used to put its job
    quietly into the default database while the worker ran on the project's."""
    if store.created:
        from jobctl.text import say

        say(
            f"jobctl: note: {store.location} is a new database, which no worker serves yet"
            " (a worker takes jobs from the database its --db, $JOBCTL_DB or jobs.toml names)"
        )


def say_if_nobody_takes(store: Store, job_ids: list[int]) -> None:
    """At a terminal, a note for jobs queued where no live worker takes them (none runs, none
    serves their queue, it is paused): `pueue add` refuses when its daemon is down, and an
    id alone read as a job about to run. Scripts and cron lines, with no terminal on
    stderr, are spared the lookup and the line: a queue with no worker yet is theirs to
    fill. A new database has its own note."""
    if not job_ids or store.created or not sys.stderr.isatty():
        return
    from jobctl.cli.unserved import why_nobody_runs
    from jobctl.text import say

    for why in why_nobody_runs(store, job_ids)[:5]:
        if why.startswith("no live worker"):
            why += " (`jobctl run-worker` or `jobctl up` starts one)"
        say(f"jobctl: note: {why}")


def _say_if_dead(store: Store, job_id: int) -> None:
    """A job enqueued after one that already ended dead or cancelled is stored dead: said,
    as the id alone reads as a job queued."""
    from jobctl.models import State

    job = store.get(job_id)
    if job is not None and job.state == State.DEAD:
        print(f"jobctl: note: job {job_id} is dead: {job.error}", file=sys.stderr)


def _say_if_batch_dead(store: Store, jobs: list[NewJob], results: list[EnqueueResult]) -> None:
    """A batch's jobs stored dead at once, as they run after a job that already ended dead or
    cancelled: one note counting them, as _say_if_dead says it for one job (the ids alone
    read as jobs queued)."""
    from jobctl.models import State

    waiting = [
        r.id for j, r in zip(jobs, results, strict=True) if r.created and (j.after or j.after_lines)
    ]
    if not waiting:
        return
    dead = [j for j in store.get_many(waiting).values() if j.state == State.DEAD]
    if not dead:
        return
    errors = {j.error for j in dead}
    first = dead[0].error or ""
    if len(errors) == 1 and ", which it waited for, " in first:
        why = first.replace(", which it waited for, ", ", which they wait for, ")
    else:
        why = f"the jobs they wait for ended dead or cancelled (first: job {dead[0].id}: {first})"
    print(f"jobctl: note: {len(dead)} job(s) are dead: {why}", file=sys.stderr)


def answer_of_held_key(
    store: Store, holder_id: int, new_job: NewJob, then: str, *, as_json: bool = False
) -> Job | None:
    """A job not queued because an active job like it holds its key (`enqueue`, `retry`):
    that job's id is the answer, on stdout, said in a note. Its holder is read once, here,
    and returned for --json. One cancelled while running, whose process still stops, is no
    answer: a failure (exit 1), as its work was called off; `then` says what to run again.
    With --json it has the document of a key held by a job unlike it (refusal_of_unlike)."""
    holder = store.get(holder_id)
    if holder is not None and _held_while_stopping(holder):
        if as_json:
            _print_refusal(holder)
        raise key_still_held(holder_id, new_job.key, then)
    print(
        f"jobctl: job {holder_id} with key {new_job.key!r} is already active; nothing queued",
        file=sys.stderr,
    )
    return holder


def key_still_held(holder: int, key: str | None, then: str) -> JobctlError:
    """The one error for a job refused because a job cancelled while running still holds
    its key while its process stops (enqueue, a batch, retry): exit 1, nothing queued."""
    from jobctl.errors import OperationFailed

    return OperationFailed(
        f"job {holder} still holds the key {key!r} while its process stops (it was"
        f" cancelled); nothing queued: {then} once it has stopped"
    )


def _stopping_holders(store: Store, holders: set[int]) -> set[int]:
    """Those of the jobs holding keys that were cancelled while running and still stop."""
    jobs = store.get_many(sorted(holders))
    return {i for i, job in jobs.items() if _held_while_stopping(job)}


def _held_while_stopping(holder: Job) -> bool:
    """Whether a job holding a key was cancelled while running: it keeps the key until its
    process has stopped (an ended job of any other state holds none)."""
    from jobctl.models import State

    return holder.state == State.CANCELLED


def refusal_of_unlike(
    store: Store, refused: KeyHeldByAnother, new_job: NewJob, as_json: bool, then: str
) -> JobctlError:
    """An enqueue (or retry) whose key a job unlike it holds queued nothing (the store
    refused it): a failure (exit 1), its holder named, not its id printed as the job's.
    With --json, a document with every field of a job null (no job was queued), `created`
    false and the `holder`. A holder cancelled while its process stops is refused as such;
    `then` says what to run again."""
    from jobctl.errors import OperationFailed

    holder = None if refused.holder is None else store.get(refused.holder)
    if holder is None:
        return refused
    if as_json:
        _print_refusal(holder)
    if _held_while_stopping(holder):
        return key_still_held(holder.id, new_job.key, then)
    from jobctl.render import job_label

    what = _what_runs(job_label(holder), holder.command, holder.cwd, new_job)
    return OperationFailed(_held_unlike(refused.key, f"job {holder.id}", what, holder.queue))


def _print_refusal(holder: Job) -> None:
    """--json's answer to a job refused for a key another job holds: every field of a job
    null (none was queued), `created` false and the `holder`, so that a script reading
    stdout finds a document whatever held the key."""
    from jobctl.documents import JOB_DOCUMENT_FIELDS, job_document, print_json

    print_json(
        dict.fromkeys(JOB_DOCUMENT_FIELDS) | {"created": False, "holder": job_document(holder)}
    )


def _held_unlike(key: str, holder: str, what: str, queue: str) -> str:
    """The one sentence for a key held by a job unlike the one asked for (one job, a batch)."""
    return (
        f"key {key!r} is held by {holder} ({what}, queue {queue}), not a job like this one;"
        " nothing queued"
    )


def _what_runs(label: str, command: list[str] | None, cwd: str | None, new_job: NewJob) -> str:
    """A key holder's job type, or an --exec holder's command (every such job's type is
    "exec"), with its directory when the command is the new job's own, running elsewhere."""
    if command is not None and command == new_job.command:
        return f"{label} in {cwd}"
    return label


def _batch_refusal_of_unlike(
    store: Store, refused: KeyHeldByAnother, jobs: list[NewJob], lines: list[str], name: str
) -> JobctlError:
    """A batch line whose key a job unlike it holds refused the whole batch (the store stored
    nothing): that line named, as a line's other refusals are, with the holder: a job, or an
    earlier line of the batch."""
    from jobctl.errors import OperationFailed

    number = _line_number(lines, refused.index)
    if refused.holder_index is not None:
        from jobctl.render import shown_command
        from jobctl.text import shorten

        earlier = jobs[refused.holder_index]
        held_by = f"line {_line_number(lines, refused.holder_index)}'s job"
        label = (
            earlier.job if earlier.command is None else shorten(shown_command(earlier.command), 60)
        )
        what = _what_runs(label, earlier.command, earlier.cwd, jobs[refused.index])
        queue = earlier.queue
    else:
        holder = None if refused.holder is None else store.get(refused.holder)
        if holder is None:
            return OperationFailed(f"{name}:{number}: {refused}")
        from jobctl.render import job_label

        held_by, queue = f"job {holder.id}", holder.queue
        what = _what_runs(job_label(holder), holder.command, holder.cwd, jobs[refused.index])
    return OperationFailed(f"{name}:{number}: {_held_unlike(refused.key, held_by, what, queue)}")


def _warn_of_new_queues(store: Store, jobs: list[NewJob], lines: list[str], name: str) -> None:
    """The batch's queues that neither the config nor the database knows, each said once, at
    the first line that puts a job there, as `enqueue --queue` says one (a typo in a
    generated batch, whose jobs a worker of the queue meant never runs)."""
    import time

    from jobctl.cli.completers import queues_named_in
    from jobctl.cli.options import unknown_queue
    from jobctl.config import QUEUE_NAME

    named = queues_named_in(STATE.config())
    first: dict[str, int] = {}
    for index, job in enumerate(jobs):
        if job.queue not in named and job.queue not in first:
            first[job.queue] = index
    if not first:
        return
    from jobctl.text import say

    known = named | {c.queue for c in store.queue_counts(time.time())}
    new = [(q, i) for q, i in first.items() if q not in known and QUEUE_NAME.match(q)]
    if not new:
        return
    numbers = [n for n, line in enumerate(lines, start=1) if line and not line.isspace()]
    for queue, index in new[:_QUEUES_SAID]:
        say(
            f"jobctl: warning: {name}:{numbers[index]}: {unknown_queue(queue, known)}; the job"
            " goes there all the same"
        )
    if len(new) > _QUEUES_SAID:
        say(f"jobctl: warning: and {len(new) - _QUEUES_SAID:,} more queues nobody knows")


_QUEUES_SAID = 20  # unknown queues of a batch named one by one


def _batch_refusal_of_after(
    refused: UsageError, jobs: list[NewJob], lines: list[str], name: str, option: tuple[int, ...]
) -> UsageError:
    """A store's refusal of an `after` id (`--after 7: there is no job 7`), said of the batch
    line that gave it, as the line's other refusals are. An id of the --after option
    (`option`), which the lines without their own `after` take, is the option's: it was
    blamed on the first such line, which names no id."""
    import re

    from jobctl.errors import UsageError

    found = re.fullmatch(r"--after (\d+): (.*)", str(refused), re.S)
    if found is None:
        return refused
    after_id = int(found.group(1))
    if after_id in option:
        return refused
    for index, job in enumerate(jobs):
        if after_id in job.after:
            return UsageError(f"{name}:{_line_number(lines, index)}: after: {found.group(2)}")
    return refused


def _line_number(lines: list[str], index: int) -> int:
    """The line number of a batch's job at `index`: each line that is not blank is a job."""
    seen = -1
    for number, line in enumerate(lines, start=1):
        if line and not line.isspace():
            seen += 1
            if seen == index:
                return number
    return index + 1


def _refuse_keys_held_while_stopping(store: Store, jobs: list[NewJob]) -> None:
    """A batch is all or nothing: a line whose key a cancelled job holds while its process
    stops would be refused after the others were stored, and a script that enqueues the
    batch again on exit 1 would queue those twice. So the batch is refused first (the rare
    cancel in between is still reported after storing)."""
    from jobctl.models import JobFilter, State

    keys = {job.key for job in jobs if job.key is not None}
    if not keys:
        return
    stopping = store.list_jobs(JobFilter(states=(State.CANCELLED,), leased=True, limit=None))
    held = sorted((job.id, job.key) for job in stopping if job.key in keys)
    if held:
        holder, key = held[0]
        raise key_still_held(holder, key, "enqueue the batch again")


@overload
def _exec_directory() -> str: ...
@overload
def _exec_directory(*, required: bool) -> str | None: ...
def _exec_directory(*, required: bool = True) -> str | None:
    """The directory an --exec command will run in: this one, which must still exist (a
    shell can stand in a directory that was deleted under it). Not `required` (a batch,
    whose lines may hold no command): None when it cannot be used."""
    import os

    from jobctl.errors import UsageError

    if not required:
        try:
            return _exec_directory()
        except UsageError:
            return None
    try:
        here = os.getcwd()
        here.encode("utf-8")  # stored as text, as every argument is
        return here
    except FileNotFoundError:
        reason = "it was deleted"
    except UnicodeEncodeError:
        reason = f"its path is not UTF-8: {os.fsencode(here)!r}"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise UsageError(
        f"--exec runs the command in the current directory, which cannot be used ({reason}): "
        "cd to an existing directory first, or give --cwd DIR"
    )


def _chosen_directory(text: str) -> str:
    """--cwd's directory, made absolute from this one (a worker started elsewhere runs the
    command) and checked now: a typo or a folder not yet made would fail every attempt."""
    import os

    from jobctl.errors import UsageError
    from jobctl.fsutil import directory_problem

    if not text:
        raise UsageError("--cwd: the path is empty")
    try:
        path = os.path.abspath(text)
        path.encode("utf-8")  # stored as text, as every argument is
    except FileNotFoundError:  # (a relative path, from a directory deleted since)
        reason: str | None = "the current directory, which it is read from, was deleted"
    except UnicodeEncodeError:
        reason = f"its path is not UTF-8: {os.fsencode(text)!r}"
    except ValueError as exc:
        reason = str(exc)
    else:
        reason = directory_problem(path)
        if reason is None:
            return path
        cwd_gone = not os.path.isabs(text) and _exec_directory(required=False) is None
        if reason == "no such directory" and cwd_gone:
            reason = "the current directory, which it is read from, was deleted"
    raise UsageError(f"--cwd {text}: {reason}")


def _enqueue_batch(source: str, as_json: bool, defaults: BatchDefaults, at: str | None) -> None:
    """_enqueue_lines without the garbage collector: a batch builds a few objects per line
    and frees none of them until it ends, so the collections their allocations set off find
    nothing (an eighth of the time, on 100,000 lines)."""
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        _enqueue_lines(source, as_json, defaults, at)
    finally:
        if collecting:
            gc.enable()


def _enqueue_lines(source: str, as_json: bool, defaults: BatchDefaults, at: str | None) -> None:
    """Store the jobs of a batch's lines, `at` the --at they were given, if any."""
    from jobctl.errors import UsageError
    from jobctl.producer import read_batch
    from jobctl.text import say
    from jobctl.timefmt import parse_instant

    config = STATE.config()
    if source == "-":
        name = "<stdin>"
        lines = _batch_lines(None, name, config.settings.max_payload)
    else:
        name = source
        try:
            # A byte-order mark (a file saved by a Windows editor) starts the text, not a line.
            with open(source, encoding="utf-8-sig", newline="\n") as handle:
                lines = _batch_lines(handle, name, config.settings.max_payload)
        except OSError as exc:
            raise UsageError(f"--batch {source}: {exc.strerror}") from None
    # Stamped once read: `producer | jobctl enqueue --batch - --delay 10m` counts the delay
    # from when the jobs exist, not from when the producer started.
    now = time.time()
    if at is not None:  # read again at this `now`: `--at +10m` counts from it, as --delay does
        defaults = defaults._replace(at=parse_instant(at, "--at", now=now))
    notes: list[str] = []
    jobs = read_batch(config, lines, now, name, defaults, notes, STATE.db_location())
    if at is not None:
        runs = "the jobs of the lines that give no time run now"
        if any(job.after or job.after_lines for job in jobs):
            runs += ", those waiting for other jobs once these have succeeded"
        _say_if_past(at, defaults.at, now, runs)
    for note in notes:
        say(f"jobctl: note: {note}")
    first_after = next((after_id for job in jobs for after_id in job.after), None)
    if first_after is not None and STATE.database_absent():
        from jobctl.errors import no_job_to_run_after

        no_job = no_job_to_run_after(first_after)
        raise _batch_refusal_of_after(no_job, jobs, lines, name, defaults.after)
    with STATE.store() as store:
        _refuse_keys_held_while_stopping(store, jobs)
        _warn_of_new_queues(store, jobs, lines, name)
        from jobctl.errors import KeyHeldByAnother

        try:
            results = store.enqueue(jobs, now, refuse_unlike=True)
        except KeyHeldByAnother as exc:
            raise _batch_refusal_of_unlike(store, exc, jobs, lines, name) from None
        except UsageError as exc:
            raise _batch_refusal_of_after(exc, jobs, lines, name, defaults.after) from None
        created = [r.id for r in results if r.created]
        if created:
            queued = f"{len(created)} job(s) were queued, ids {created[0]} to {created[-1]}"
            stored(
                f"{queued}, but their ids could not be printed",
                f"{queued}, but not all their ids were printed",
            )
        say_if_new(store)
        _say_if_batch_dead(store, jobs, results)
        firsts: dict[str, int] = {}  # one job a queue: each queue's reason is the same
        for job, result in zip(jobs, results, strict=True):
            if result.created:
                firsts.setdefault(job.queue, result.id)
        say_if_nobody_takes(store, list(firsts.values()))
        held = {r.id for r in results if not r.created}
        stopping = _stopping_holders(store, held) if held else set()
    skipped = sum(1 for r in results if not r.created and r.id not in stopping)
    if skipped:
        print(f"jobctl: {skipped} job(s) matched an active key; not queued", file=sys.stderr)
    if as_json:
        from jobctl.documents import print_json

        print_json([{"id": r.id, "created": r.created} for r in results])
    else:
        sys.stdout.write("".join(f"{r.id}\n" for r in results))
    if stopping:  # as for one job (see answer_of_held_key): called off, not queued
        from jobctl.errors import OperationFailed

        refused = sum(1 for r in results if r.id in stopping)
        raise OperationFailed(
            f"{refused} job(s) matched a key still held by a cancelled job while its process"
            f" stops (job {', '.join(map(str, sorted(stopping)))}); not queued"
        )


def _batch_lines(handle: TextIO | None, name: str, max_payload: int) -> list[str]:
    """A batch's lines (from `handle`, or stdin), each read no further than the longest line
    a job can fill: /dev/zero, or a file with no line breaks, is refused at that length, not
    read whole into memory. JSON lines end at "\\n" alone (and "\\r\\n"): splitlines()
    would also split at U+2028, U+2029 and U+0085, which JSON allows raw inside a string."""
    import io

    if handle is not None:
        return _read_lines(handle, name, name, max_payload)
    # stdin again, split at "\\n" only, a byte-order mark dropped
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="\n")
    try:
        return _read_lines(stdin, name, "-", max_payload)
    finally:
        stdin.detach()  # stdin's own buffer stays open for the rest of the process


def _read_lines(handle: TextIO, name: str, source: str, max_payload: int) -> list[str]:
    from jobctl.errors import PayloadError, UsageError
    from jobctl.payload import longest_batch_line

    longest = longest_batch_line(max_payload)
    lines: list[str] = []
    try:
        while line := handle.readline(longest + 3):  # the line, "\\r\\n", and one more
            line = line.removesuffix("\n").removesuffix("\r")
            if len(line) > longest:
                raise PayloadError(
                    f"{name}:{len(lines) + 1}: line is over {longest} characters, longer than"
                    f" any job within max_payload ({max_payload} bytes) could be"
                )
            lines.append(line)
    except OSError as exc:
        raise UsageError(f"--batch {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--batch {source}: not UTF-8 text (line {len(lines) + 1})") from None
    except MemoryError:
        raise UsageError(f"--batch {source}: too large to read into memory") from None
    return lines


def stored(note: str, on_interrupt: str | None = None) -> None:
    """What a failed stdout, or a signal that stops the command, must not hide (see
    main.STORED). `note` says it with the failure (`job 5 was queued, but its id could not
    be printed`); on an interrupt, `on_interrupt`, or what `note` says before its `, but`."""
    main = sys.modules.get("jobctl.cli.main")
    if main is not None:
        main.STORED.append(main.Done(note, on_interrupt or note.split(", but ")[0]))


def changed(note: str) -> None:
    """What a command changed (`20000 job(s) were cancelled`), said if its output fails or a
    signal stops it before its output says it all (see main.STORED): a script that ran a
    cancel again on its exit 1 was told the jobs had already ended cancelled."""
    stored(f"{note}, but the output saying so could not be written", note)


def _payload(pairs: list[str] | None, text: str | None, file: str | None) -> dict[str, object]:
    from jobctl.errors import UsageError
    from jobctl.payload import longest_json, parse_args, parse_json

    given = sum(x is not None and x != [] for x in (pairs, text, file))
    if given > 1:
        raise UsageError("give the payload one way: --arg, --payload or --payload-file")
    if text is not None:
        return _sized(parse_json(text, "--payload"), "--payload")
    if file is not None:
        # A payload's JSON text, however spaced, is not many times its limit: /dev/zero or a
        # log given by mistake is refused without being read whole.
        most = longest_json(STATE.config().settings.max_payload)
        # A byte-order mark (a file saved by a Windows editor) starts the text, not the
        # JSON, as in a --batch (from stdin, one character more is read for it).
        if file == "-":
            text = _bounded(sys.stdin.read(most + 2).removeprefix("\ufeff"), most, file)
            return _sized(parse_json(text, "--payload-file -"), "--payload-file -")
        try:
            with open(file, encoding="utf-8-sig") as handle:
                text = _bounded(handle.read(most + 1), most, file)
                return _sized(parse_json(text, f"--payload-file {file}"), f"--payload-file {file}")
        except OSError as exc:
            raise UsageError(f"--payload-file {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--payload-file {file}: not UTF-8 text") from None
    return parse_args(pairs or [])


def _sized(payload: dict[str, object], source: str) -> dict[str, object]:
    """The payload, refused here when over max_payload, so that the error names where it
    came from (the file)."""
    from jobctl.payload import encode

    encode(payload, STATE.config().settings.max_payload, source)
    return payload


def _bounded(text: str, most: int, source: str) -> str:
    from jobctl.errors import PayloadError

    if len(text) > most:
        raise PayloadError(
            f"--payload-file {source}: over {most} characters, too large for a payload"
        )
    return text
