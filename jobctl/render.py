"""Everything jobctl prints for people: the views' tables and their cells (the JSON
documents for scripts are jobctl.documents).

The views are drawn by jobctl.tables: rich on a terminal (without colour under NO_COLOR),
and plain aligned text when stdout is not a terminal, so pipes and logs stay clean.

Stored text is anything a job or its submitter chose (a key, an argv, a command's stderr):
every human view passes it through `clean`, so it can neither drive the terminal nor
break a row."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobctl.documents import NO_LIMITS, NO_RATES, NOT_HELD, job_document, print_json, worker_gone
from jobctl.durations import format_short
from jobctl.models import ALL_STATES, Attempt, Job, Rate, State, WorkerInfo
from jobctl.tables import table, use_rich
from jobctl.text import clean, error_gist
from jobctl.timefmt import elapsed, iso

if TYPE_CHECKING:
    from jobctl.cli.attemptlogs import HookLog, LogTail
    from jobctl.store.base import QueueCounts


# ---------------------------------------------------------------------------------------------
# Tables


# Values a terminal table leaves blank, so that what differs stands out.
_USUAL = {"QUEUE": "default", "PRI": "0"}

_STATE_STYLE = {
    State.QUEUED: "cyan",
    State.SCHEDULED: "blue",
    State.WAITING: "magenta",
    State.RUNNING: "yellow",
    State.SUCCEEDED: "green",
    State.DEAD: "bold red",
    State.CANCELLED: "dim",
}


def waits_for(job: Job) -> str:
    """What a waiting job still waits for, after "is still waiting" (empty otherwise)."""
    if job.state != State.WAITING or not job.after:
        return ""
    ids = list(map(str, job.after))
    if len(ids) == 1:
        return f" for job {ids[0]}"
    more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
    return f" for jobs {', '.join(ids[:3])}{more}"


_LABEL_MOST = 60  # cells of an --exec job's command in a line that names the job


def job_label(job: Job) -> str:
    """What a line names a job by, after its id: its job type, or an `--exec` job's command
    as the tables show it (quoted, a control character escaped), cut to _LABEL_MOST cells:
    "(exec)" told ten ad-hoc jobs apart no better than nothing."""
    from jobctl.tables import cut_cells

    return cut_cells(_job_name(job, plain=False), _LABEL_MOST)


def ended_line(job: Job) -> str:
    """The line `wait`, `logs --follow` and `enqueue --wait` give for a job that did not
    succeed: its state and the gist of its error (cleaned)."""
    gist = error_gist(job.error or "")
    detail = f": {gist}" if gist and gist != job.state.value else ""  # not "cancelled: cancelled"
    return clean(f"jobctl: job {job.id} ({job_label(job)}) ended {job.state.value}{detail}")


def still_stopping(job: Job) -> bool:
    """Whether a job is cancelled but its process has yet to end: its worker keeps its
    slot, and the job its key, until it has seen the process go (SIGKILL after the job
    type's kill_grace)."""
    return job.state == State.CANCELLED and not job.over()


def shown_command(argv: Sequence[str]) -> str:
    """A command as a shell would need it typed, on one line: a word quoted where a shell
    would read it otherwise (spaces, quotes, `$`, `;`, an empty word), so that `a b` and
    `a` `b` can be told apart and pasted; one with a newline, a tab or another character
    `clean` escapes in bash's $'...' form, which says it exactly; other words, `é` too,
    as they are."""
    return " ".join(_shell_word(w) for w in argv)


def shown_payload(payload: Mapping[str, Any]) -> str:
    """A payload on one line as `--arg` would give it, `path=/srv/data n:=3`: each value
    quoted as `shown_command` quotes a word (so a control character is escaped, never
    sent), one that is not a string as its JSON after `:=` (the number 3 and the text "3"
    read alike otherwise); "" for an empty payload."""

    def pair(key: str, value: Any) -> str:
        if isinstance(value, str):
            return f"{_shell_word(key)}={_shell_word(value)}"
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return f"{_shell_word(key)}:={_shell_word(text)}"

    return " ".join(pair(k, v) for k, v in payload.items())


def _shell_word(word: str) -> str:
    """One word as a shell would need it typed (see shown_command)."""
    import shlex

    from jobctl.text import clean

    if clean(word) != word:  # before the plain test: DEL, C1 and U+200B are not spaces
        return "$'" + "".join(_c_quoted(c) for c in word) + "'"
    if _PLAIN_WORD.fullmatch(word):
        return word
    return shlex.quote(word)


_PLAIN_WORD = re.compile(r"[^\s'\"\\$`|&;<>()*?\[\]{}~#!]+")
_C_QUOTED = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _c_quoted(char: str) -> str:
    """One character inside bash's $'...', meaning exactly that character: a byte below
    0x80 as \\xNN, an undecodable byte (a lone surrogate U+DC80-DCFF) as that byte, any
    other character `clean` escapes as \\uXXXX (bash's \\x85 would be the byte 0x85)."""
    from jobctl.text import clean

    known = _C_QUOTED.get(char)
    if known is not None:
        return known
    if clean(char) == char:
        return char
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    # Past U+FFFF, bash's $'\\u' reads four digits only: \\ue0041 was U+E004 and "1".
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def ago(ts: float | None, now: float | None = None) -> str:
    """A time that may be ahead (a due time, a fire) from now: "5m ago" or "in 5m"."""
    if ts is None:
        return ""
    delta = (now or time.time()) - ts
    if delta >= 0:
        return format_short(delta) + " ago"
    return "in " + format_short(-delta)


UNKNOWN_SPAN = "?"


def span_text(start: float, end: float) -> str:
    seconds = elapsed(start, end)
    return UNKNOWN_SPAN if seconds is None else format_short(seconds)


def age_text(ts: float | None, now: float) -> str:
    """How long ago a time that can only be past was (a start, an end, a heartbeat): "5m
    ago", or "?" when it lies ahead, the clock having stepped back since."""
    if ts is None:
        return ""
    seconds = elapsed(ts, now)
    return UNKNOWN_SPAN if seconds is None else format_short(seconds) + " ago"


def one_line(text: str | None, width: int | None = 60) -> str:
    """The start of a text on one line, cleaned before it is cut to `width` (None: whole):
    as `show` gives it, a newline, a tab or a CR shown as its escape and every space kept,
    not a run of blanks folded into one, so that a part of it copied from `show` or `--json`
    is found in it."""
    if not text:
        return ""
    line = clean(text)
    return line if width is None or len(line) <= width else line[: width - 1] + "…"


def cell(text: str | None) -> str:
    """Prose (an error, a description) in a table cell: on one line, every character kept.
    A table piped into grep or a file keeps it whole, so that a search for part of an error
    finds its row; on a terminal, `table` cuts what does not fit."""
    return one_line(text, None)


def listing_fetch(limit: int | None) -> int | None:
    """How many jobs `list` asks the store for: one more than it shows, so that
    `job_listing` knows whether more match without counting them all."""
    if limit is None or limit >= 2**63 - 1:  # SQLite's largest integer: all there are
        return limit
    return limit + 1


def _job_name(job: Job, plain: bool) -> str:
    """A listing's JOB cell. On a terminal an `--exec` job's command, which says more than
    `exec`; in plain text `exec`, as --json's "job" and `wait`'s line name it: the words of
    a command would move every field after them (`awk '{print $4}'` read one of them for the
    state), so plain text gives the command in a last column of its own (_command_cells)."""
    return shown_command(job.command) if job.command and not plain else job.job


def _payload_cells(job: Job, plain: bool) -> tuple[str, ...]:
    """The cell of the PAYLOAD column a terminal adds after JOB: what the job was given, so
    that among thousands of `backup` rows the one of /srv/data can be found. None in plain
    text, whose last field is an `--exec` job's command to the line's end (--json has the
    payload)."""
    return () if plain else (shown_payload(job.payload),)


def _command_cells(job: Job, plain: bool) -> tuple[str, ...]:
    """The cell of the COMMAND column that plain text adds last (see _job_name): an
    `--exec` job's command, empty for a job type's; none on a terminal."""
    if not plain:
        return ()
    return (shown_command(job.command) if job.command else "",)


def job_listing(
    jobs: Sequence[Job],
    limit: int | None,
    *,
    first: str = "newest",
    as_json: bool = False,
    show_rows: Callable[[Sequence[Job]], None] | None = None,
) -> None:
    """`jobctl list` and `dead list`: `jobs` were asked for with one row more than `limit`
    (None: no limit), so a row past the limit says that more jobs match. The rows within the
    limit are printed (`show_rows`, job_rows by default, or the JSON array, unchanged); the note
    goes to stderr in both forms, since a script that acts on the array (`xargs jobctl
    cancel`) would miss the rest too. `first` names the order: "newest", "oldest"...)"""
    more = limit is not None and len(jobs) > limit
    if more:
        jobs = jobs[:limit]
    if as_json:
        print_json([job_document(j) for j in jobs])
    else:
        (show_rows or job_rows)(jobs)
    if more:
        sys.stdout.flush()  # the table first, then the note below it on a terminal
        print(
            f"jobctl: showing the {first} {limit} of more than {limit} matching jobs; "
            "--limit N shows more, --limit 0 all",
            file=sys.stderr,
        )


def job_rows(jobs: Sequence[Job], gone: Collection[int] = ()) -> None:
    """One row per job. CREATED is the time `list` sorts by and `--since` filters on; WHEN
    is the time of the job's state: when a scheduled job is due, when a running one started,
    when a finished one ended (empty for a queued job: CREATED says it). A job cancelled
    while its process is still stopping has not ended: it holds its worker's slot, so it
    says so (in plain text in WHEN, leaving the STATE field as --state names it). On a
    terminal the times are how long ago; in plain text, which a file or a mail keeps, when
    (`listed_time`). On a terminal the JOB and QUEUE names are cut last of all: they tell
    the rows apart, where the payload, the key and the error give way first. `gone`: the
    running jobs whose worker is gone, said in WHEN as `status` marks them."""
    now = time.time()
    plain = not use_rich()

    def since(ts: float | None) -> str:
        return listed_time(ts, now, plain)

    rows = []
    styles = []
    for job in jobs:
        state = job.state.value
        if job.state == State.SCHEDULED:
            when = "due " + (listed_time(job.run_at, now, plain) if plain else ago(job.run_at, now))
        elif job.state == State.RUNNING:
            when = "started " + since(job.started_at) + (", worker gone" if job.id in gone else "")
        elif job.state == State.WAITING:
            when = "after " + _waited_for(job.after, plain)
        elif still_stopping(job):
            state = state if plain else "stopping"  # as `status` marks it
            when = ("stopping, " if plain else "") + "cancelled " + since(job.finished_at)
        elif job.finished_at:
            when = "ended " + since(job.finished_at)
        else:
            when = ""
        rows.append(
            [
                str(job.id),
                _job_name(job, plain),
                *_payload_cells(job, plain),
                job.queue,
                state,
                str(job.priority),
                f"{job.attempts}/{job.max_attempts}",
                since(job.created_at),
                when,
                job.key or "",  # not folded as prose is: `a\\nb` and `a b` are two keys
                cell(job.error),
                *_command_cells(job, plain),
            ]
        )
        style = _STATE_STYLE.get(State.RUNNING if still_stopping(job) else job.state)
        styles.append("red" if job.id in gone else style)  # as status marks it
    table(
        [
            "ID",
            "JOB",
            *(() if plain else ("PAYLOAD",)),
            *("QUEUE", "STATE", "PRI", "TRIES", "CREATED", "WHEN", "KEY", "ERROR"),
            *(("COMMAND",) if plain else ()),
        ],
        rows,
        styles,
        usual=_USUAL,
        cut={"JOB": "name", "PAYLOAD": "end", "QUEUE": "name", "KEY": "end", "ERROR": "error"},
        # WHEN says what matters of a job's time; the payload goes before a name is cut.
        spare=["CREATED", "TRIES", "PRI", "PAYLOAD"],
    )


_AFTER_SHOWN = 3  # ids a terminal's WHEN gives of the jobs a waiting job runs after


def _waited_for(after: Sequence[int], plain: bool) -> str:
    """The ids a waiting job runs after, in WHEN: all of them in plain text, for grep; on a
    terminal the first few and how many (`6,7,8,… (30 jobs)`), where a fan-in of 100 jobs
    made every row of the table hundreds of cells wide (`show` lists them all)."""
    ids = list(map(str, after))
    if plain or len(ids) <= _AFTER_SHOWN:
        return ",".join(ids)
    return ",".join(ids[:_AFTER_SHOWN]) + f",… ({len(ids)} jobs)"


def listed_time(ts: float | None, now: float, plain: bool) -> str:
    """A past time in a listing: how long ago on a terminal ("5m ago"), and in plain text
    when, as ISO-8601 with its offset (as `show` gives it): "13s ago" in a report saved or
    mailed says nothing once it is read."""
    if plain:
        return iso(ts) or ""
    return age_text(ts, now)


_STOPPING = " (stopping: its process has yet to end; SIGKILL after its kill_grace)"


def job_detail(
    job: Job,
    attempts: Sequence[Attempt],
    after: Mapping[int, Job],
    alive: Sequence[WorkerInfo] | None = None,
) -> None:
    """`show`: the job's fields, then its attempts. `after`: the jobs it runs after, as
    they are now (one missing was pruned), asked for by every caller: left out, each would
    read as pruned. `alive`: the live workers, for a running job whose worker is gone to
    say so as `status` does (it read as plainly running, its dead worker named as if
    alive); None where no running job is shown (`dead show`)."""
    now = time.time()
    found = after
    waits_for = ", ".join(
        f"{i} ({found[i].state.value})" if i in found else f"{i} (gone)" for i in job.after
    )
    state = job.state.value + (_STOPPING if still_stopping(job) else "")
    if alive is not None and job.state == State.RUNNING and worker_gone(job, alive):
        state += " " + _gone_note([job], now)  # in the words of `status`
    # A waiting job's run_at is the earliest it may run: said only when it is still ahead.
    run_at = job.state != State.WAITING or job.run_at > now
    fields: list[tuple[str, str]] = [
        ("id", str(job.id)),
        ("job", job.job),
        ("command", shown_command(job.command) if job.command else ""),
        ("directory", job.cwd or ""),
        ("queue", job.queue),
        ("state", state),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempts}/{job.max_attempts}"),
        ("key", job.key or ""),
        ("schedule", job.schedule or ""),
        ("created", f"{iso(job.created_at)} ({age_text(job.created_at, now)})"),
        ("after", waits_for),
        ("run at", f"{iso(job.run_at)} ({ago(job.run_at, now)})" if run_at else ""),
        ("started", iso(job.started_at) or ""),
        ("finished", iso(job.finished_at) or ""),
        ("worker", job.worker or ""),
        ("exit code", "" if job.exit_code is None else str(job.exit_code)),
        ("error", job.error or ""),
        ("payload", json.dumps(job.payload, ensure_ascii=False)),
    ]
    width = max(len(k) for k, _ in fields)
    out = [f"{k.ljust(width)}  {clean(v)}" for k, v in fields if v]
    sys.stdout.write("\n".join(out) + "\n")
    if attempts:
        sys.stdout.write("\n")
        attempt_rows(attempts)


def attempt_rows(attempts: Sequence[Attempt]) -> None:
    """One row per attempt over the job's whole life (RUN numbers them across dead retries,
    ATTEMPT counts within one cycle). On a terminal the times are local and short, to the
    second, a time without its date when that is today's (the end's, when it is the
    start's), to leave the error room; the job's own lines above the table give them whole.
    On a narrow terminal the log's path goes, then the worker, ATTEMPT and ENDED (TOOK says
    it), then TOOK and STARTED, rather than fold every cell or cut the error's start:
    `jobctl logs ID --attempt RUN` prints the log."""
    short = use_rich()
    today = (iso(time.time()) or "")[:10]
    rows = []
    for a in attempts:
        duration = ""
        if a.finished_at is not None:
            duration = span_text(a.started_at, a.finished_at)
        started, ended = iso(a.started_at) or "", iso(a.finished_at) or ""
        if short:
            same_day = ended[:10] == started[:10]
            started = _short_time(started, today)
            ended = ended[11:19] if same_day else _short_time(ended, today)
        rows.append(
            [
                str(a.run),
                str(a.attempt),
                started,
                ended,
                duration,
                a.outcome.value if a.outcome else "running",
                exit_text(a.exit_code, a.signal),
                a.worker,
                cell(a.error),
                a.log_place(),
            ]
        )
    table(
        ["RUN", "ATTEMPT", "STARTED", "ENDED", "TOOK", "OUTCOME", "EXIT", "WORKER", "ERROR", "LOG"],
        rows,
        cut={"ERROR": "error", "LOG": "start"},
        # The error's jobctl words ("exit code 4") are kept before the times.
        spare=["LOG", "WORKER", "ATTEMPT", "ENDED", "TOOK", "STARTED"],
    )


def _short_time(text: str, today: str) -> str:
    """2026-11-30T01:16:48.255+01:00 as 2026-11-30 01:16:48, or as 01:16:48 on that day."""
    return text[11:19] if text[:10] == today else text[:19].replace("T", " ")


def exit_text(code: int | None, signum: int | None) -> str:
    if signum:
        import signal

        try:
            return f"signal {signum} ({signal.Signals(signum).name})"
        except ValueError:
            return f"signal {signum}"
    return "" if code is None else str(code)


# ---------------------------------------------------------------------------------------------
# Status


def _worker_state(worker: WorkerInfo, now: float) -> str:
    """Blank for a worker taking jobs; one draining after a stop signal takes none, and its
    shutdown timeout ends when its running jobs are stopped and queued again."""
    if worker.stopping_until is None:
        return ""
    return f"stopping (timeout {ago(worker.stopping_until, now)})"


_GONE_NAMED = 5  # jobs the note under the Running table names


def _gone_note(gone: Sequence[Job], now: float) -> str:
    """The line under the Running table that says what becomes of the jobs whose worker is
    gone: each runs again, or goes dead on its last attempt (1/1 in the table), when its
    lease ends; once that has passed, when a worker looks, which none may be alive to do."""

    def fate(job: Job) -> str:
        if job.max_attempts is not None and job.attempts >= job.max_attempts:
            return f"job {job.id} goes dead {_when_lease_ends(job, now)}, its last attempt"
        attempt = f", as attempt {job.attempts + 1}/{job.max_attempts}" if job.max_attempts else ""
        return f"job {job.id} runs again {_when_lease_ends(job, now)}{attempt}"

    named = "; ".join(fate(job) for job in gone[:_GONE_NAMED])
    if len(gone) > _GONE_NAMED:
        named += f"; and {len(gone) - _GONE_NAMED} more"
    return f"(worker gone: {named})"


def _orphans_note(orphans: Sequence[Job], now: float) -> str:
    """The line for cancelled jobs still stopping whose worker is gone: they hold no slot,
    and what is left of them is stopped by a worker on their host once their lease ends."""
    if len(orphans) == 1:
        (job,) = orphans
        return (
            f"(stopping: job {job.id} is cancelled, but its worker is gone: what is left of it"
            f" is stopped by a worker on its host {_when_lease_ends(job, now)})"
        )
    ids = ", ".join(str(job.id) for job in orphans)
    return (
        f"(stopping: jobs {ids} are cancelled, but their workers are gone: what is left of"
        " each is stopped by a worker on its host when its lease ends)"
    )


def _when_lease_ends(job: Job, now: float) -> str:
    """When a job of a gone worker is taken up: at the end of its lease, or, once that has
    passed, at the next look of a worker (nothing happens while none runs)."""
    ends = job.lease_expires_at
    if ends is None:  # (a store that read no lease: it ends all the same)
        return "when its lease ends"
    at = _short_time(iso(ends) or "", (iso(now) or "")[:10])
    if ends > now:
        return f"when its lease ends at {at} ({ago(ends, now)})"
    return f"once a worker looks (its lease ended at {at}, {ago(ends, now)})"


def _rate_text(queue: str, rates: Mapping[str, Rate], held: Mapping[str, float], now: float) -> str:
    """A queue's RATE cell: its rate, and until when it holds the ready jobs back."""
    if queue not in rates:
        return ""
    until = held.get(queue)
    if until is None:
        return str(rates[queue])
    return f"{rates[queue]} (held until {_short_time(iso(until) or '', (iso(now) or '')[:10])})"


def status_tables(
    queues: Sequence[QueueCounts],
    running: Sequence[Job],
    workers: Sequence[WorkerInfo],
    stale_workers: int,
    now: float,
    limits: Mapping[str, int] = NO_LIMITS,
    stopping: Mapping[str, int] = NO_LIMITS,
    ending: Sequence[Job] = (),
    *,
    left_out: int = 0,
    gone_left_out: Sequence[Job] = (),
    rates: Mapping[str, Rate] = NO_RATES,
    held: Mapping[str, float] = NOT_HELD,
) -> None:
    """The tables of `status`. The Running table lists the jobs in `ending` too, marked
    stopping: cancelled, their processes still hold their workers' slots, and a queued job
    that does not start must show why. `left_out` running jobs are past those listed, and
    counted under the table; those of them whose worker is gone (`gone_left_out`) are named
    in its note with the listed ones. On a narrow terminal the columns that say least go
    before any row is folded."""

    def count(q: QueueCounts, state: State) -> str:
        n = q.counts.get(state, 0)
        cap = limits.get(q.queue) if state == State.RUNNING else None
        if cap is None:
            return str(n)
        # Of its max_running, which a cancelled job's process still stopping holds too.
        return f"{n + stopping.get(q.queue, 0)}/{cap}"

    if queues:
        # A queue's rate, last: there only when one has a rate, the plain columns before it
        # stay where a script reads them.
        rated = any(q.queue in rates for q in queues)
        rows = [
            [
                q.queue,
                "paused" if q.paused else "",
                *(count(q, s) for s in ALL_STATES),
                span_text(q.oldest_ready_at, now) if q.oldest_ready_at is not None else "",
                *([_rate_text(q.queue, rates, held, now)] if rated else []),
            ]
            for q in queues
        ]
        heads = [s.value.upper() for s in ALL_STATES]
        styles = ["bold red" if q.paused else None for q in queues]
        table(
            ["QUEUE", "PAUSED", *heads, "OLDEST READY", *(["RATE"] if rated else [])],
            rows,
            styles,
            title="Queues",
            # A count of 0 goes first (tables._drop_spare), then what ran (`stats`), the age
            # of the oldest ready job, what is due later or after other jobs.
            spare=["CANCELLED", "SUCCEEDED", "OLDEST READY", "SCHEDULED", "WAITING"],
        )
    else:
        print("Queues: none (no job stored)")
    if running or ending:
        plain = not use_rich()
        both = sorted([*running, *ending], key=lambda j: j.id)
        gone = [j for j in running if worker_gone(j, workers)]  # (a cancelled one ends)
        gone_ids = {j.id for j in gone}

        def state(job: Job) -> str:
            if still_stopping(job):
                return "stopping"
            return "worker gone" if job.id in gone_ids else "running"

        table(
            ["ID", "JOB", "QUEUE", "WORKER", "ATTEMPT", "RUNNING FOR", "STATE"]
            + (["COMMAND"] if plain else []),
            [
                [
                    str(j.id),
                    _job_name(j, plain),
                    j.queue,
                    j.worker or "",
                    f"{j.attempts}/{j.max_attempts}",
                    span_text(j.started_at, now) if j.started_at else "",
                    state(j),
                    *_command_cells(j, plain),
                ]
                for j in both
            ],
            ["yellow" if still_stopping(j) else "red" if j.id in gone_ids else None for j in both],
            title="Running",
            usual={"QUEUE": "default", "STATE": "running"},
            cut={"JOB": "name", "WORKER": "end"},
            # The worker is the same on every row of one worker, and `show ID` has it: it
            # goes before a command that tells the rows apart is cut.
            give_way=["ATTEMPT", "WORKER"],
            # The job's name says which job a row is, cut as it may be: how long it ran goes
            # before it (a worker gone takes the room of its STATE).
            spare=["QUEUE", "RUNNING FOR", "JOB"],
        )
        if left_out:
            print(f"... and {left_out} more running (jobctl list --state running --limit 0)")
        orphans = [j for j in ending if worker_gone(j, workers)]
        if len(orphans) < len(ending):
            print("(stopping: cancelled, but its process holds its worker's slot until it ends)")
        if orphans:
            print(_orphans_note(orphans, now))
        if gone or gone_left_out:
            print(_gone_note([*gone, *gone_left_out], now))
    else:
        print("Running: none")
    if workers:
        table(
            ["ID", "KIND", "HOST", "PID", "QUEUES", "CONCURRENCY", "LAST HEARTBEAT", "STATE"],
            [
                [
                    w.id,
                    w.kind,
                    w.host,
                    str(w.pid),
                    ",".join(w.queues),
                    str(w.concurrency),
                    age_text(w.heartbeat_at, now),
                    _worker_state(w, now),
                ]
                for w in workers
            ],
            title="Workers",
            cut={"QUEUES": "end"},
            # A worker's id names its host and pid; only live workers are listed.
            spare=["PID", "HOST", "CONCURRENCY", "LAST HEARTBEAT", "KIND"],
        )
    else:
        print("Workers: none alive")
    if stale_workers:
        print(
            f"({stale_workers} worker record(s) without a recent heartbeat: crashed, or stopped"
            " (Ctrl-Z, SIGSTOP))"
        )


# ---------------------------------------------------------------------------------------------
# Dead letters


def dead_rows(jobs: Sequence[Job]) -> None:
    if not jobs and use_rich():  # a person is told; a pipe gets the heading alone, as `list`
        print("no dead jobs")
        return
    now = time.time()
    plain = not use_rich()
    table(
        [
            "ID",
            "JOB",
            *(() if plain else ("PAYLOAD",)),
            *("QUEUE", "TRIES", "FAILED", "ERROR"),  # as `list` heads attempts/max_attempts
            *(("COMMAND",) if plain else ()),
        ],
        [
            [
                str(j.id),
                _job_name(j, plain),
                *_payload_cells(j, plain),
                j.queue,
                f"{j.attempts}/{j.max_attempts}",
                listed_time(j.finished_at, now, plain),
                cell(j.error),
                *_command_cells(j, plain),
            ]
            for j in jobs
        ],
        usual=_USUAL,
        cut={"JOB": "name", "PAYLOAD": "end", "ERROR": "error"},
        spare=["TRIES", "PAYLOAD"],  # before the job's name or the error's words are cut
    )


def attempt_sections(
    attempts: Sequence[Attempt],
    tails: Sequence[LogTail | None],
    lines: int = 20,
    hooks: Mapping[int, Sequence[HookLog]] | None = None,
) -> None:
    """Every attempt in full: its whole error, the tail of its log (`lines` asked), and the
    logs of the hooks it set off (`hooks`, by run)."""
    out: list[str] = []
    for a, tail in zip(attempts, tails, strict=True):
        head = [f"attempt {a.attempt} (run {a.run})", a.outcome.value if a.outcome else "running"]
        code = exit_text(a.exit_code, a.signal)
        if code:
            head.append(f"exit {code}")
        head.append(f"on {a.worker}")
        out.append("")
        out.append(clean(" · ".join(head)))
        path = clean(a.log_place())
        if a.error:
            out.append("  error:")
            out.extend(_indented_lines(a.error))
        if a.log_path == "":
            out.append("  log: none (it wrote no output)")
        elif tail is not None and lines == 0:
            gone = ": gone from this host" if tail.stored_only else ""
            out.append(f"  log ({path}){gone}: not shown (--lines 0)")
        elif tail is not None:
            # The job's own output, but shown inside jobctl's view: cleaned like the rest
            # (`jobctl logs` prints it raw).
            if tail.stored_only:  # run here, its file gone: the store's copy is all there is
                out.append(f"  log ({path}): gone from this host; the end the store kept:")
            else:
                out.append(f"  log tail ({path}):" if tail.text else f"  log ({path}): empty")
            if tail.text:
                out.extend(_indented_lines(tail.text))
        elif a.log_path:
            out.append(f"  log ({path}): gone")
        for hook in (hooks or {}).get(a.run, ()):
            out.append(f"  hook on_{hook.kind} log ({clean(hook.path)}): {hook_size(hook)}")
    sys.stdout.write("\n".join(out) + "\n")


def _indented_lines(text: str) -> list[str]:
    """An error or a log tail in `dead show`: a line of output per line of the text, each
    cleaned. Lines end at a newline alone, as log_tail counts them, not as str.splitlines
    ends them (at a carriage return too, and at NEL or U+2028): a progress bar's frames
    came out as lines the job never wrote. Such a character stays in its line, escaped."""
    return ["    " + clean(line) for line in text.split("\n")]


def hook_size(hook: HookLog) -> str:
    return f"{hook.size} bytes" if hook.size else "empty"


def hook_rows(
    job_id: int, attempts: Sequence[Attempt], hooks: Mapping[int, Sequence[HookLog]]
) -> None:
    """`show`: the hooks' logs of each attempt, where there are any (a hook's run is seen
    nowhere else: its event line goes to the worker's stderr)."""
    found = [(a.run, hook) for a in attempts for hook in hooks.get(a.run, ())]
    if not found:
        return
    out = ["", f"hook logs (jobctl logs {job_id} --run RUN --hook KIND prints one):"]
    out.extend(
        f"  run {run}  {'on_' + hook.kind:<10}  {clean(hook.path)}  ({hook_size(hook)})"
        for run, hook in found
    )
    sys.stdout.write("\n".join(out) + "\n")


def stats_title(since: str, start: float, now: float) -> str:
    """The stats view's header: the window asked for, and the one its counts cover, which
    are hourly counters: `--since 5m` at 10:40 counts from 10:00, and says so. Their hours
    are UTC's: where the zone's offset is not whole hours (India's +05:30), they start at
    :30 or :45 past the local hour, so `--since "today 0:00"` counts from 23:30 the day
    before, and the header says how much earlier than asked (a whole-hour zone's never
    needs to: its hours are the counters')."""
    from datetime import datetime

    from jobctl.timefmt import span

    counted_from = int(start // 3600) * 3600
    shown = datetime.fromtimestamp(counted_from).astimezone()
    same_day = shown.date() == datetime.fromtimestamp(now).astimezone().date()
    when = shown.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")
    offset = shown.utcoffset()
    if offset is not None and offset.total_seconds() % 3600 and counted_from < start:
        when += f" (UTC hours: {span(start - counted_from)} before the start asked)"
    return f"last {since}, whole hours since {when}; SUCCESS = OK / (OK + DEAD)"
