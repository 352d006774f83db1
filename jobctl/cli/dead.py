"""`jobctl dead ...`: the dead-letter queue, jobs that used up their attempts.

Dead jobs keep their whole history; `retry` moves them back to the queue (the same job, its
attempts reset) and `purge` deletes them. Both are guarded store operations, a batch at a
time for many jobs, so racing a worker, or each other, never runs a job twice nor deletes one
that is running.
"""

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jobctl.cli.app import app
from jobctl.cli.completers import complete_job
from jobctl.cli.context import STATE
from jobctl.cli.options import (
    MAX_ID,
    NAMED_AT_MOST,
    LeftAlone,
    check_job_name,
    duration_option,
    limit_option,
    note_unknown_job,
    refused,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from jobctl.config import Config
    from jobctl.models import Job
    from jobctl.store import Store

dead_app = typer.Typer(
    name="dead",
    help="The dead-letter queue: jobs that used up their attempts.",
    no_args_is_help=True,
    epilog="Example:  jobctl dead list --since 1d && jobctl dead retry --all --job backup",
)
app.add_typer(dead_app)

JobOption = Annotated[
    str | None,
    typer.Option(
        "--job", "-j", help="Only this job type.", autocompletion=complete_job, metavar="JOB"
    ),
]


@dead_app.command("list", epilog="Example:  jobctl dead list --job backup --since 1d --json")
def dead_list(
    job: JobOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only jobs that died within this duration (1h, 7d), or since this time (as"
            " --at takes it: 2026-05-01T09:30, today 0:00).",
            metavar="DURATION|TIME",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most this many jobs (0: all).", metavar="N")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List dead jobs, the latest death first, with their last error."""
    from jobctl.cli.options import since_option
    from jobctl.models import State
    from jobctl.render import dead_rows, job_listing, listing_fetch

    died_after = since_option(since, "--since")
    rows = limit_option(limit)
    with STATE.store(create=False) as store:
        check_job_name(job, store)
        if as_json and rows is None:  # all of them: written a page at a time, as list's
            from jobctl.documents import job_document, print_json_array

            dead = _every_dead_job(store, job, died_after)
            note_unknown_job(job, print_json_array(job_document(j) for j in dead) > 0)
            return
        jobs = store.finished_jobs(
            [State.DEAD],
            job=job,
            finished_after=died_after,
            limit=listing_fetch(rows),
        )
    note_unknown_job(job, bool(jobs))
    job_listing(jobs, rows, first="latest", as_json=as_json, show_rows=dead_rows)


def _every_dead_job(
    store: "Store", job: str | None, died_after: float | None, page: int = 1000
) -> "Iterator[Job]":
    """The dead jobs, the latest death first, read a page at a time (214,000 read whole took
    1.2 GB), among those dead when the listing began: one that dies, or dies again, while it
    goes has died after them all, so none is listed twice."""
    from jobctl.models import State

    beyond = None
    while True:
        jobs = store.finished_jobs(
            [State.DEAD], job=job, finished_after=died_after, limit=page, beyond=beyond
        )
        yield from jobs
        if len(jobs) < page:
            return
        last = jobs[-1]
        beyond = (last.finished_at or 0.0, last.id)


@dead_app.command("show", epilog="Example:  jobctl dead show 42 --lines 50")
def dead_show(
    job_id: Annotated[int, typer.Argument(help="The id of a dead job.", metavar="ID", max=MAX_ID)],
    lines: Annotated[
        int,
        typer.Option("--lines", "-l", min=0, help="Log lines to show per attempt.", metavar="N"),
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show a dead job whole: its payload, and the error and log tail of every attempt."""
    from jobctl.cli.attemptlogs import hook_document, hook_logs, located, log_tail
    from jobctl.documents import attempt_document, job_document, print_json
    from jobctl.errors import NotFound
    from jobctl.models import State
    from jobctl.render import attempt_sections, job_detail

    with STATE.store(create=False) as store:
        job = store.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        if job.state != State.DEAD:
            raise NotFound(f"job {job_id} is {job.state.value}, not dead (see `jobctl show`)")
        attempts = located(store, store.attempts(job_id))
        tails = [log_tail(store, a, lines) for a in attempts]
        hooks = hook_logs(store, attempts)
        after = store.get_many(job.after) if job.after and not as_json else {}
    if as_json:
        history = [
            attempt_document(a)
            | {
                "log_tail": None if tail is None else tail.text,
                "hooks": [hook_document(h) for h in hooks[a.run]],
            }
            for a, tail in zip(attempts, tails, strict=True)
        ]
        print_json(job_document(job) | {"attempts_history": history})
    else:
        job_detail(job, attempts, after)
        attempt_sections(attempts, tails, lines, hooks)


@dead_app.command(
    "retry",
    epilog="Examples:  jobctl dead retry 41 42  |  jobctl dead retry --all --job backup",
)
def dead_retry(
    job_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Dead job ids.", show_default=False, metavar="[ID]...", max=MAX_ID),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Every dead job.")] = False,
    job: JobOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each job, and whether it was retried, as JSON.")
    ] = False,
) -> None:
    """Queue dead jobs again, their attempts reset and their history kept; print how many.
    A job `enqueue` would refuse now (its job type gone from the config, a placeholder its
    payload has no value for) stays dead."""
    from jobctl.documents import outcome_document, print_json
    from jobctl.models import State

    ids = _targets(job_ids, all_)
    config = STATE.config()
    with STATE.store(create=False) as store:
        check_job_name(job, store)
        now = time.time()
        # Without a config (none read, or a broken one passed over), --exec jobs alone: a job
        # type's job is checked against the config that names it.
        asked = ids if ids is not None else sorted(store.finished_ids([State.DEAD], job=job))
        refusals = _cannot_run(store, config, asked, job, now, exec_only=config.path is None)
        chosen = [i for i in asked if i not in refusals]
        moved = _retry_in_batches(store, chosen, job, now)
        if moved:
            from jobctl.cli.enqueue import changed

            changed(f"{len(moved)} dead job(s) were retried")
        left = ids
        if ids is None:
            # With --all, the dead jobs still dead are those refused and those whose key an
            # active job holds (of those this call looked at: not one that died since).
            looked_at = set(chosen) | set(refusals)
            left = [i for i in store.finished_ids([State.DEAD], job=job) if i in looked_at]
        skipped = _explain_skipped(store, left, moved, "retried", refusals)
        # Those asked for, in their order; with --all, those retried and those left dead.
        reported = ids if ids is not None else sorted({*moved, *skipped})
        after = store.get_many(reported) if as_json else {}
        behind = _dead_behind(store, moved, now)
    note_unknown_job(job, bool(moved or left))
    if as_json:
        print_json(
            [
                outcome_document(i, after.get(i), retried=i not in skipped, reason=skipped.get(i))
                for i in reported
            ]
        )
    else:
        print(f"retried {len(moved)} dead job(s){_named(moved)}")
    _say_dead_behind(moved, behind)
    refused(len(skipped), asked=None if ids is None else len(ids), verb="retried")


def _dead_behind(store: "Store", moved: list[int], now: float) -> list[int]:
    """The dead jobs that ran after those just retried, directly or through each other:
    they died with them, and a retry of their parent alone leaves them dead for good."""
    from jobctl.cli.control import runs_after
    from jobctl.models import State

    return sorted(runs_after(store, moved, State.DEAD, now)) if moved else []


def _say_dead_behind(moved: list[int], behind: list[int]) -> None:
    """A note naming the dead jobs left behind the jobs retried, and how to run them after
    those: the parent alone ran again, and its pipeline stayed dead without a word."""
    if not behind:
        return
    from jobctl.text import say

    parent = f"job {moved[0]}" if len(moved) == 1 else "the jobs retried"
    them = "it" if len(moved) == 1 else "them"
    if len(behind) <= NAMED_AT_MOST:
        how = f"jobctl dead retry {' '.join(map(str, behind))} runs them after {them}"
    else:
        how = f"jobctl dead retry with their ids runs them after {them}; dead list shows them"
    say(
        f"jobctl: note: {len(behind)} job(s) that waited for {parent} stay dead"
        f"{_named(behind)} ({how})"
    )


def _retry_in_batches(store: "Store", chosen: list[int], job: str | None, now: float) -> list[int]:
    """Retry these dead jobs a batch at a time, from the oldest: each
    batch's store call retries a job after the older ones it runs after, and leaves dead
    one whose key a job retried in an earlier batch holds now, as in one call."""
    from jobctl.batches import run_in_batches

    moved: list[int] = []
    run_in_batches(
        store,
        sorted(chosen),
        lambda batch: moved.extend(store.dead_retry(batch, job, now)),
        lambda: len(moved),
        "retrying",
        "retried",
    )
    return sorted(moved)


@dead_app.command(
    "purge",
    epilog="Examples:  jobctl dead purge 41 42  |  jobctl dead purge --all --older-than 30d --yes",
)
def dead_purge(
    job_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Dead job ids.", show_default=False, metavar="[ID]...", max=MAX_ID),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Every dead job.")] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", help="Only jobs dead for longer than this.", metavar="DURATION"
        ),
    ] = None,
    job: JobOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the ids deleted, and those not, as JSON.")
    ] = False,
) -> None:
    """Delete dead jobs and their logs (asks first on a terminal)."""
    from jobctl.documents import outcome_document, print_json
    from jobctl.models import State

    ids = _targets(job_ids, all_)
    age = duration_option(older_than, "--older-than")
    cutoff = time.time() - age if age is not None else None
    with STATE.store(create=False) as store:
        check_job_name(job, store)
        targets = store.finished_ids([State.DEAD], ids=ids, finished_before=cutoff, job=job)
        skipped = _explain_skipped(store, ids, targets, "purged")
        if targets and not yes and sys.stdin.isatty():
            from jobctl.cli.control import confirm

            confirm(f"Delete {len(targets)} dead job(s) and their logs?")
        # Only the jobs counted and confirmed; one that left `dead` meanwhile stays.
        from jobctl.logfiles import log_dir
        from jobctl.retention import end_of_prune, prune

        logs = str(log_dir(STATE.config(), store.location))
        pruned = prune(
            store, [State.DEAD], ids=targets, finished_before=cutoff, job=job, log_dir=logs
        )
        not_purged: list[dict[str, Any]] = []
        if as_json:
            deleted = set(pruned.ids)
            kept = [i for i in (ids if ids is not None else targets) if i not in deleted]
            # A target that left `dead` since it was counted (retried, or purged by a purge
            # racing this one) has its reason here alone: the lines on stderr came before.
            why = skipped | _reasons(store, [i for i in targets if i not in deleted], [])
            after = store.get_many(kept)
            not_purged = [
                outcome_document(i, after.get(i), purged=False, reason=why.get(i)) for i in kept
            ]
    note_unknown_job(job, bool(targets))
    if as_json:
        print_json(
            {
                "purged": sorted(pruned.ids),
                "logs_removed": pruned.logs_removed,
                "not_purged": not_purged,
            }
        )
    else:
        print(
            f"purged {len(pruned.ids)} dead job(s){_named(pruned.ids)};"
            f" removed {pruned.logs_removed} log file(s)"
        )
    end_of_prune(pruned)
    refused(len(skipped), asked=None if ids is None else len(ids), verb="purged")


def _named(job_ids: list[int]) -> str:
    """The ids of the jobs changed, after the count that `cancel` and `edit` would give one by
    one: the first NAMED_AT_MOST, then how many more; nothing when there are none."""
    if not job_ids:
        return ""
    ordered = sorted(job_ids)
    named = ", ".join(str(i) for i in ordered[:NAMED_AT_MOST])
    more = f" and {len(ordered) - NAMED_AT_MOST:,} more" if len(ordered) > NAMED_AT_MOST else ""
    return f": {named}{more}"


def _targets(job_ids: list[int] | None, all_: bool) -> list[int] | None:
    """The ids given, or None for --all; exactly one of the two."""
    from jobctl.errors import UsageError

    if all_ and job_ids:
        raise UsageError("give job ids or --all, not both")
    if not all_ and not job_ids:
        raise UsageError("give the ids of dead jobs, or --all")
    return None if all_ else list(dict.fromkeys(job_ids or []))


def _cannot_run(
    store: "Store", config: "Config", ids: list[int], job: str | None, now: float, exec_only: bool
) -> dict[int, str]:
    """The dead jobs among `ids` (of job type `job`, when given) that `enqueue` would refuse
    now, each with why: retried, they would only fail every attempt and die again (an
    --exec job on a store whose workers run no command among them)."""
    from jobctl.errors import JobctlError
    from jobctl.models import State
    from jobctl.producer import build_again

    refusals: dict[int, str] = {}
    if exec_only:  # only --exec jobs are read, not every dead job of the database
        from jobctl.config import ADHOC_JOB

        if job not in (None, ADHOC_JOB):
            return refusals
        execs = set(store.finished_ids([State.DEAD], job=ADHOC_JOB))
        ids = [i for i in ids if i in execs]
    for job_id, found in store.get_many(ids).items():
        if found.state != State.DEAD or (job is not None and found.job != job):
            continue  # left alone by the store, and said why as before
        if exec_only and found.command is None:
            continue
        try:
            build_again(config, found, now, store_location=store.location)
        except JobctlError as exc:
            refusals[job_id] = str(exc)
    return refusals


def _explain_skipped(
    store: "Store",
    ids: list[int] | None,
    done: list[int],
    verb: str,
    refusals: dict[int, str] | None = None,
) -> dict[int, str]:
    """One line on stderr per requested id left alone, saying why; returns each one's why.
    `refusals`: the jobs left alone because `enqueue` would refuse them, with its reason."""
    if ids is None:
        return {}
    left = _reasons(store, ids, done, refusals)
    lines = LeftAlone(verb)
    for job_id, why in left.items():
        lines.say(f"job {job_id} {why}; not {verb}")
    lines.end()
    return left


def _reasons(
    store: "Store", ids: list[int], done: list[int], refusals: dict[int, str] | None = None
) -> dict[int, str]:
    """Why each of `ids` not in `done` was left alone, in the words that follow "job ID"."""
    from jobctl.models import State

    finished = set(done)
    left = [i for i in ids if i not in finished]
    jobs = store.get_many(left)
    reasons: dict[int, str] = {}
    for job_id in left:
        found = jobs.get(job_id)
        if refusals and job_id in refusals:
            reasons[job_id] = f"cannot run again ({refusals[job_id]})"
        elif found is None:
            reasons[job_id] = "does not exist"
        elif found.state == State.DEAD and found.key is not None and _key_taken(store, found):
            reasons[job_id] = f"has the key {found.key!r}, which an active job holds"
        elif found.state == State.DEAD and (blocker := _ended_before(store, found)):
            reasons[job_id] = blocker
        elif found.state == State.DEAD:
            reasons[job_id] = "does not match the filters"
        else:
            reasons[job_id] = f"is {found.state.value}, not dead"
    return reasons


def _ended_before(store: "Store", dead: "Job") -> str | None:
    """Why a dead job that runs after others cannot wait for them again: one of them is
    dead or cancelled, or gone while the job never ran (the one gone may be the one it died
    for), in the words that follow "job ID"; or None."""
    from jobctl.models import State

    found = store.get_many(dead.after)
    for after_id in sorted(set(dead.after)):
        job = found.get(after_id)
        if job is None:
            if not store.attempts(dead.id):  # the store's test: it never ran
                return (
                    f"runs after job {after_id}, which is gone (deleted; whether it"
                    " succeeded is not known)"
                )
        elif job.state in (State.DEAD, State.CANCELLED):
            first = "dead retry it first" if job.state == State.DEAD else "it cannot run"
            return f"runs after job {after_id}, which is {job.state.value} ({first})"
    return None


def _key_taken(store: "Store", dead: "Job") -> bool:
    from jobctl.models import JobFilter, holds_key

    holders = store.list_jobs(JobFilter(key=dead.key, limit=None))
    return any(
        holds_key(j.state, j.lease_expires_at is not None) for j in holders if j.id != dead.id
    )
