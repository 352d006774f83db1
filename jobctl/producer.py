"""Turning what a user asks for (a job name, a payload, options, batch lines) into NewJobs.

Everything is checked here, before anything is stored: an unknown job, a payload that is
not a JSON object or is too large, a placeholder without a value, a bad delay. The CLI, the
batch reader and the cron daemon all build jobs through these functions. (No `from
__future__ import annotations`: see jobctl.models.)
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import tzinfo
from typing import Any, NamedTuple

from jobctl.config import (
    ADHOC_JOB,
    JOB_NAME,
    NAME_RULE,
    QUEUE_NAME,
    Config,
    bad_queue_name,
    check_filled,
    check_max_attempts,
    check_priority,
    exec_allowed,
    roomy_payload,
)
from jobctl.durations import MAX_SECONDS, parse_duration
from jobctl.errors import ConfigError, JobctlError, PayloadError, UsageError
from jobctl.models import Job, JobEdit, NewJob
from jobctl.payload import (
    BATCH_DECODER,
    check_command,
    check_placeholder_values,
    check_placeholders,
    compact_json,
    encode,
    longest_batch_line,
    placeholders,
)
from jobctl.text import digits_value, shorten
from jobctl.timefmt import PAST_UNSAID, naive_times_zone, parse_instant, span


class JobRequest(NamedTuple):
    """One job as asked for, before it is checked (a NamedTuple: cheap to define at start-up)."""

    job: str | None
    payload: Mapping[str, Any]
    delay: float | None = None
    at: float | None = None
    priority: int | None = None
    queue: str | None = None
    key: str | None = None
    max_attempts: int | None = None
    command: Sequence[str] | None = None
    cwd: str | None = None
    after: tuple[int, ...] = ()
    after_refs: tuple[str, ...] = ()  # earlier lines of its batch, by their `ref`


# The most jobs one job may run after (a job after a whole batch gives their ids).
MAX_AFTER = 10_000
_MAX_ID = 2**63 - 1


def read_after(value: Any, where: str) -> tuple[int, ...]:
    """The ids a job runs after, from --after's values ("12", "12,13") or a batch line's
    `after` (12, [12, 13]), in order, each once."""
    ids, _ = read_after_lines(value, where, refs=False)
    return ids


def read_after_lines(
    value: Any, where: str, refs: bool = True
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """A batch line's `after`: the ids it names, and the names of earlier lines (their
    `ref`), each once. A name is any text but digits, which are an id."""
    items = value if isinstance(value, list) else [value]
    ids: dict[int, None] = {}
    names: dict[str, None] = {}
    for item in items:
        parts = item.split(",") if isinstance(item, str) else [item]
        for part in parts:
            word = part.strip() if isinstance(part, str) else None
            if word is not None and word.isascii() and word.isdigit():
                if word != part:  # " 1" as every other id argument refuses it
                    raise UsageError(f"{where}: {part!r} is not a job id (a blank around it)")
                # ASCII digits alone: "²" and "１" are no id. Nor are more digits than any id
                # has, however many.
                number = digits_value(part, len(str(_MAX_ID)))
                if number is None:
                    raise UsageError(f"{where}: {shorten(part)!r} is not a job id")
                part = number
            elif refs and word:
                names[word] = None
                continue
            if type(part) is not int or not 1 <= part <= _MAX_ID:
                raise UsageError(f"{where}: {shorten(str(part))!r} is not a job id")
            ids[part] = None
    if len(ids) + len(names) > MAX_AFTER:
        raise UsageError(f"{where}: {len(ids) + len(names):,} jobs, over {MAX_AFTER:,}")
    return tuple(ids), tuple(names)


def build_job(
    config: Config,
    request: JobRequest,
    now: float,
    source: str = "",
    store_location: str | None = None,
) -> NewJob:
    """Check `request` whole, the same way for every caller, and turn it into a NewJob; an
    error names `source` (a batch's file and line) when given. A command is refused where
    the store's workers would refuse to run it (check_exec_allowed), when `store_location`
    is given: the job's store (not given by `edit`, which checks a new command itself)."""
    prefix = f"{source}: " if source else ""
    if request.delay is not None and request.at is not None:
        raise UsageError(f"{prefix}give either a delay or an absolute time, not both")
    if request.command is not None:
        if store_location is not None:
            check_exec_allowed(config, store_location, f"{source}: command" if source else "--exec")
        check_exec_words(request.command, source or "--exec")
        refuse_a_shell_line(request.command, request.cwd, source)
        job_type = config.exec_job_type()
        name = ADHOC_JOB
    else:
        if not request.job:
            raise UsageError(f"{prefix}missing job name")
        job_type = config.job_type(request.job)
        name = job_type.name
        try:
            check_placeholders(job_type.command, request.payload, name)
        except PayloadError as exc:
            raise PayloadError(f"{prefix}{exc}") from None
    payload_json = encode(request.payload, config.settings.max_payload, source or "payload")
    if request.command is None:
        check_filled(job_type, request.payload, payload_json, prefix)
    # `is None`: an empty name (an unset shell variable) is a mistake, not the default queue.
    queue = job_type.queue if request.queue is None else request.queue
    if not QUEUE_NAME.match(queue):
        raise UsageError(f"{prefix}{bad_queue_name(queue)}")
    if request.key == "":  # as for the queue: one key shared by every unset variable
        raise UsageError(f"{prefix}empty key (give one, or no --key at all)")
    for field_name, text in (("key", request.key), ("cwd", request.cwd)):
        if text is not None and not _is_unicode(text):  # stored as text: a lone surrogate
            raise UsageError(f"{prefix}{field_name} is not valid Unicode")
    if request.command is not None and request.cwd is not None:
        # As --cwd is checked: a directory gone or mistyped failed every attempt ("cannot
        # start"), a batch line's, a retried job's or a dead one's run again alike.
        from jobctl.fsutil import directory_problem

        problem = directory_problem(request.cwd)
        if problem is not None:
            raise UsageError(f"{prefix}cwd {request.cwd}: {problem}")
    if request.key is not None and len(request.key) > MAX_KEY:
        raise UsageError(
            f"{prefix}key {shorten(request.key)!r} is {len(request.key):,} characters long, over"
            f" {MAX_KEY:,}: a key names a job (hash a longer text)"
        )
    check_numbers(request.priority, request.max_attempts, source)
    # `is None`, not `or`: an explicit 0 is a mistake to refuse, not a wish for the default.
    max_attempts = job_type.max_attempts if request.max_attempts is None else request.max_attempts
    priority = job_type.priority if request.priority is None else request.priority
    _check_delay(request.delay, prefix)
    run_at = None
    if request.delay:
        run_at = now + request.delay
    elif request.at is not None:
        # A time already past runs now, as pueue takes it: a job cannot have been ready
        # before it existed, and a run_at years back made it the oldest ready job by years
        # (status, health --max-age and the wait times of stats all count from run_at).
        run_at = max(request.at, now)
    return NewJob(
        job=name,
        payload=dict(request.payload),
        queue=queue,
        priority=priority,
        max_attempts=max_attempts,
        run_at=run_at,
        key=request.key,
        command=list(request.command) if request.command is not None else None,
        cwd=request.cwd,
        payload_json=payload_json,
        after=request.after,
    )


EXEC_REFUSED = (
    "workers of a shared store run only their config's job types; set [settings] allow_exec"
    " = true (here and on the workers) to queue commands"
)


def check_exec_allowed(config: Config, store_location: str, where: str) -> None:
    """Refuse a job with its own command for a store whose workers run none (a shared one
    without allow_exec: see exec_allowed): stored, it would only die on every worker."""
    if not exec_allowed(config.settings, store_location):
        raise UsageError(f"{where}: {EXEC_REFUSED}")


def check_exec_words(command: Sequence[str], where: str) -> None:
    """An --exec job's command, whatever gave it (`enqueue --exec`, `edit -x`, a batch line,
    a stored job run again): a program's name, and words a process can be started with
    (check_command). An empty name failed every attempt ("Permission denied")."""
    if not command:
        raise UsageError(f"{where}: the command has no words")
    if not command[0]:
        raise UsageError(f"{where}: the command's name is empty")
    check_command(command, where)


def refuse_a_shell_line(command: Sequence[str], cwd: str | None, source: str = "") -> None:
    """`--exec 'make && make install'`, as pueue takes it, is one word: run without a shell,
    it names no program, and every attempt would fail (command not found). Refused, saying
    how to write it (as --exec's words, or with `source`, a batch line's JSON), unless the
    word does name a program in `cwd` or on the PATH (a path with a space in it)."""
    line = command[0]
    if len(command) > 1 or not any(c.isspace() for c in line):
        return
    import shutil  # here, not at the top: a shell line is rare, and start-up counts

    here = os.path.join(cwd, line) if cwd is not None else line
    if os.path.exists(here) or shutil.which(line) is not None:
        return
    first = shorten(line.split()[0], 20)
    if source:
        apart = f"[{compact_json(first)}, ...]"
        shell = f'["sh", "-c", {compact_json(shorten(line, 60))}]'
        raise UsageError(
            f"{source}: {shorten(line, 60)!r} is one word, which names no program: jobctl runs"
            f" no shell; give the words apart ({apart}) or ask for a shell ({shell})"
        )
    import shlex

    raise UsageError(
        f"--exec: {shorten(line, 60)!r} is one word, which names no program: jobctl runs no"
        f" shell; give the words apart (--exec -- {first} ...) or ask for a shell"
        f" (--exec -- sh -c {shlex.quote(shorten(line, 60))})"
    )


def check_numbers(priority: int | None, max_attempts: int | None, source: str = "") -> None:
    """The ranges of a priority and max attempts given (None: the job type's, which its
    config checked), refused naming the option and the value, or with `source` (a batch's
    file and line) the line's field: retry and edit check theirs before they read a job, as
    a value out of range is the option's fault, not the job's."""
    for value, option, field, check in (
        (max_attempts, "--max-attempts", "max_attempts", check_max_attempts),
        (priority, "--priority", "priority", check_priority),
    ):
        if value is None:
            continue
        try:
            check(value)
        except ConfigError as exc:
            named = f"{source}: {field}" if source else option
            raise UsageError(f"{named}: {exc}") from None


class Changes(NamedTuple):
    """What `retry`'s options change of the job it runs again (`edit`'s, of the job it
    changes); None keeps the job's own."""

    payload: Mapping[str, Any] | None = None  # merged into the job's: these keys win
    delay: float | None = None
    at: float | None = None
    priority: int | None = None
    queue: str | None = None
    max_attempts: int | None = None
    command: Sequence[str] | None = None  # an --exec job's: `edit ID -- CMD ARGS...`
    cwd: str | None = None  # an --exec job's: `edit --cwd DIR`, absolute and checked


def build_again(
    config: Config,
    job: Job,
    now: float,
    changes: Changes = Changes(),
    store_location: str | None = None,
) -> NewJob:
    """A stored job asked for again (`retry`, `dead retry`), checked by build_job as
    `enqueue` checks a new one: the config may have changed since it was stored (its job
    type renamed away, a placeholder its payload has no value for), and a job enqueue would
    refuse only fails every attempt, then goes dead. Its queue, priority and attempts stay
    its own unless `changes` says otherwise, its key always (it names the work, whatever the
    changes); an --exec job's stored command is checked as --exec checks one, and refused
    as it is for a store (`store_location`) whose workers run no command."""
    payload = job.payload if changes.payload is None else {**job.payload, **changes.payload}
    request = JobRequest(
        job=job.job if job.command is None else None,
        payload=payload,
        delay=changes.delay,
        at=changes.at,
        priority=job.priority if changes.priority is None else changes.priority,
        queue=job.queue if changes.queue is None else changes.queue,
        key=job.key,
        max_attempts=job.max_attempts if changes.max_attempts is None else changes.max_attempts,
        command=job.command if changes.command is None else changes.command,
        cwd=job.cwd if changes.cwd is None else changes.cwd,
    )
    return build_job(config, request, now, store_location=store_location)


def build_edit(config: Config, job: Job, now: float, changes: Changes) -> JobEdit:
    """What `edit` changes of a job not yet started, the job as it would be checked as
    build_again checks a job asked for again; its attempts left must be at least one, those
    made counting. A delay or time sets when it runs; one now or past (`--delay 0`) makes it
    due now, or keeps its time if that is earlier: "run it now" never puts it back in line.
    A new command or cwd is an --exec job's only: a job type's come from the config, where
    the next attempt reads them."""
    if job.command is None and (changes.command is not None or changes.cwd is not None):
        given = "a command" if changes.command is not None else "--cwd"
        raise UsageError(
            f"it is a {job.job!r} job, whose command and cwd come from the config: {given}"
            " changes only an --exec job's"
        )
    built = build_again(config, job, now, changes)
    if built.max_attempts <= job.attempts:
        raise UsageError(
            f"--max-attempts {built.max_attempts}: the job has made {job.attempts}"
            " attempt(s) already, so it must be more"
        )
    run_at = None
    if changes.delay is not None or changes.at is not None:
        run_at = built.run_at if built.run_at is not None and built.run_at > now else None
        run_at = min(job.run_at, now) if run_at is None else run_at
    payload_was = None if changes.payload is None else compact_json(job.payload)
    return JobEdit(
        id=job.id,
        attempts=job.attempts,
        payload_json=None if changes.payload is None else built.payload_json,
        payload_was=payload_was,
        queue=None if changes.queue is None else built.queue,
        priority=None if changes.priority is None else built.priority,
        max_attempts=None if changes.max_attempts is None else built.max_attempts,
        run_at=run_at,
        command=None if changes.command is None else built.command,
        cwd=None if changes.cwd is None else built.cwd,
    )


MAX_KEY = 1024  # characters: a key is an id, stored, indexed and shown with its job


def _is_unicode(text: str) -> bool:
    """False for a lone surrogate (JSON's "\\ud800", an undecodable argv byte)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_delay(delay: float | None, prefix: str) -> None:
    """The bounds of a delay given in seconds (a batch line's number): those of a duration
    (jobctl.durations.MAX_SECONDS, as `--delay` enforces), and a number at all (NaN)."""
    if delay is None or 0 <= delay <= MAX_SECONDS:
        return
    if delay < 0:
        raise UsageError(f"{prefix}delay must not be negative")
    if delay > MAX_SECONDS:
        raise UsageError(f"{prefix}invalid delay {delay!r}: longer than 100 years")
    raise UsageError(f"{prefix}invalid delay {delay!r}: not a number")


_BATCH_KEYS = {"job", "payload", "delay", "at", "priority", "key", "queue", "max_attempts"}
_BATCH_KEYS |= {"command", "cwd", "after", "ref"}


class BatchDefaults(NamedTuple):
    """What `enqueue --batch` options give every line that does not say it itself (a line
    with its own `delay` or `at` keeps its own timing, both fields)."""

    delay: float | None = None
    at: float | None = None
    priority: int | None = None
    queue: str | None = None
    max_attempts: int | None = None
    cwd: str | None = None  # of a line's `command`: where --exec would run it (the caller's)
    after: tuple[int, ...] = ()  # of the lines without their own `after`


def check_batch_defaults(config: Config, defaults: BatchDefaults, now: float) -> None:
    """The --batch options checked as options, before any line: a bad --queue is no line's
    fault, and is refused even when every line sets its own."""
    probe = JobRequest(
        job=None,
        payload={},
        delay=defaults.delay,
        at=defaults.at,
        priority=defaults.priority,
        queue=defaults.queue,
        max_attempts=defaults.max_attempts,
        command=["true"],
    )
    try:
        build_job(config, probe, now)
    except JobctlError as exc:
        raise type(exc)(f"--batch options: {exc}") from None


def read_batch(
    config: Config,
    lines: Iterable[str],
    now: float,
    source: str,
    defaults: BatchDefaults = BatchDefaults(),
    notes: list[str] | None = None,
    store_location: str | None = None,
) -> list[NewJob]:
    """Parse and check every line first; the caller stores all of them or none. `notes`
    gets one line for the lines whose own `at` is past (their jobs run now); a line's
    command is refused as `enqueue --exec` refuses one for `store_location`.

    Lines of the common shape `{"job": ..., "payload": {...}}` take a short path that
    checks the same things with what was learned about their job type on its first line:
    batches of a hundred thousand lines are what this is for. Anything the short path does
    not accept goes the long way, which gives the error its message."""
    jobs: list[NewJob] = []
    known: dict[str, NewJob] = {}  # job name -> a template carrying the type's defaults
    # job name -> its template's fields before the payload, between payload and
    # payload_json, and after (see _around)
    around: dict[str, tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]] = {}
    needs: dict[str, frozenset[str]] = {}  # job name -> its placeholders
    roomy: dict[str, int] = {}  # job name -> payloads this long need no rendered check
    max_payload = config.settings.max_payload
    longest = longest_batch_line(max_payload)
    loads, raw_decode = BATCH_DECODER.decode, BATCH_DECODER.raw_decode
    number = 0
    past, first_past = 0, (0, 0.0)  # lines whose own `at` is past; the first, by how much
    refs: dict[str, int] = {}  # a line's `ref` -> the place of its job in `jobs`
    zone = naive_times_zone()  # of the lines' times without an offset, looked up once
    try:
        for number, line in enumerate(lines, start=1):
            if len(line) > longest:  # not decoded: a payload could not fill it
                raise PayloadError(
                    f"{source}:{number}: line is {len(line)} characters, longer than any job"
                    f" within max_payload ({max_payload} bytes) could be"
                )
            try:
                item, end = raw_decode(line)  # without decode()'s two scans for whitespace
            except ValueError:
                end = -1
            if end != len(line):  # blank, padded or invalid: decoded as it always was
                if not line or line.isspace():
                    continue
                try:
                    item = loads(line)
                except ValueError as exc:
                    raise PayloadError(f"{source}:{number}: invalid JSON: {exc}") from None
            if type(item) is dict and item.keys() <= _SHORT_KEYS:
                name = item.get("job")
                payload = item.get("payload", {})
                template = known.get(name) if type(name) is str else None
                if (
                    template is not None
                    and type(payload) is dict
                    and _fills(needs[template.job], payload, template.job)
                ):
                    payload_json = encode(payload, max_payload, source, number)
                    if len(payload_json) <= roomy[template.job]:
                        # The template's fields (its run_at: the same `now` for every
                        # line), with this line's payload: a tuple made whole, where
                        # keywords cost a line about a microsecond more.
                        head, middle, tail = around[template.job]
                        jobs.append(
                            _new_job(NewJob, (*head, payload, *middle, payload_json, *tail))
                        )
                        continue
            where = f"{source}:{number}"
            if not isinstance(item, dict):
                raise PayloadError(f"{where}: each line must be a JSON object")
            unknown = set(item) - _BATCH_KEYS
            if unknown:
                raise PayloadError(f"{where}: unknown field {sorted(unknown)[0]!r}")
            try:
                request = _request_from(item, where, defaults, now, zone)
                new_job = build_job(config, request, now, where, store_location)
                if request.after_refs:
                    new_job = new_job._replace(
                        after_lines=tuple(_line_of(refs, r, where) for r in request.after_refs)
                    )
                if item.get("ref") is not None:
                    refs[_ref_of(item["ref"], refs, where)] = len(jobs)
            except JobctlError as exc:
                message = str(exc)
                if not message.startswith(where):
                    message = f"{where}: {message}"
                raise type(exc)(message) from None
            jobs.append(new_job)
            at = request.at if item.get("at") is not None else None  # not --at's, said once
            if at is not None and at < now - PAST_UNSAID:
                if not past:
                    first_past = (number, now - at)
                past += 1
            if item.keys() <= _SHORT_KEYS and new_job.command is None and new_job.job not in known:
                known[new_job.job] = new_job
                around[new_job.job] = _around(new_job)
                needs[new_job.job] = frozenset(placeholders(config.jobs[new_job.job].command))
                roomy[new_job.job] = roomy_payload(config.jobs[new_job.job])
    except RecursionError:  # nested thousands deep: too deep to decode, check or encode
        raise PayloadError(f"{source}:{number}: JSON nested too deeply") from None
    if past and notes is not None:  # one note for the batch, not a line each
        first, by = first_past
        notes.append(
            f"{past} line(s) give an 'at' already past (the first, {source}:{first}, by"
            f" {span(by)}): their jobs run now"
        )
    return jobs


def _ref_of(value: Any, refs: Mapping[str, int], where: str) -> str:
    """A line's `ref`: a name the later lines of its batch give in their `after`."""
    if not isinstance(value, str) or not JOB_NAME.match(value) or value.isdigit():
        raise UsageError(
            f"{where}: ref {shorten(str(value))!r} is not a name ({NAME_RULE}; not digits"
            " alone, which are a job id)"
        )
    if value in refs:
        raise UsageError(f"{where}: ref {value!r} is already an earlier line's")
    return value


def _line_of(refs: Mapping[str, int], ref: str, where: str) -> int:
    """The place in the batch of the line whose `ref` a later line's `after` gives."""
    place = refs.get(ref)
    if place is None:
        raise UsageError(
            f"{where}: after {shorten(ref)!r}: no earlier line has this ref (a line runs after"
            ' lines above it, which name themselves with "ref")'
        )
    return place


def _fills(needed: frozenset[str], payload: dict[str, Any], job: str) -> bool:
    """Whether `payload` passes build_job's placeholder checks (the long way says why not)."""
    if not needed:
        return True
    try:
        check_placeholder_values(needed, payload, job)
    except PayloadError:
        return False
    return True


_SHORT_KEYS = frozenset({"job", "payload"})
_new_job = tuple.__new__
_PAYLOAD = NewJob._fields.index("payload")
_PAYLOAD_JSON = NewJob._fields.index("payload_json")


def _around(template: NewJob) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The fields of a batch's short-path template but its payload and payload_json: those
    before the payload, those between the two, and those after, each line's own given the
    template's place (only `job`, `payload` and the type's defaults: see read_batch)."""
    return (
        tuple(template[:_PAYLOAD]),
        tuple(template[_PAYLOAD + 1 : _PAYLOAD_JSON]),
        tuple(template[_PAYLOAD_JSON + 1 :]),
    )


def _given(item: dict[str, Any], key: str, default: Any) -> Any:
    value = item.get(key)
    return default if value is None else value


def _request_from(
    item: dict[str, Any],
    where: str,
    defaults: BatchDefaults = BatchDefaults(),
    now: float | None = None,
    zone: tzinfo | None = None,
) -> JobRequest:
    """One batch line as asked for; `zone`: that of its times without an offset (the
    batch's, looked up once: see naive_times_zone)."""
    payload = item.get("payload")
    if payload is None:  # absent, or null as jq writes a missing field: as for other keys
        payload = {}
    if not isinstance(payload, dict):
        raise PayloadError(f"{where}: payload must be a JSON object")
    delay = item.get("delay")
    if delay is not None:
        if isinstance(delay, int | float) and not isinstance(delay, bool):
            try:
                delay = float(delay)
            except OverflowError:  # an integer of hundreds of digits: build_job refuses it
                delay = float("inf")
        elif isinstance(delay, str):
            delay = parse_duration(delay)
        else:
            raise UsageError(f"{where}: delay must be a duration like '30s' or seconds")
    at = item.get("at")
    if at is not None:
        if not isinstance(at, str):
            raise UsageError(f"{where}: at must be a string, like '2026-05-01T09:30' or '+10m'")
        at = parse_instant(at, "at", zone, now=now)  # as --at: `+10m` counts from `now`
    for field_name, kind in (("priority", int), ("max_attempts", int)):
        value = item.get(field_name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise UsageError(f"{where}: {field_name} must be an integer")
    for field_name in ("job", "key", "queue", "cwd"):
        value = item.get(field_name)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{where}: {field_name} must be a string")
    command = item.get("command")
    if command is not None and (
        not isinstance(command, list) or not all(isinstance(p, str) for p in command)
    ):
        raise UsageError(f"{where}: command must be a list of strings")
    if command is None and not item.get("job"):
        raise UsageError(f"{where}: missing 'job'")
    if command is not None and item.get("job") is not None:
        raise UsageError(f"{where}: give 'job' or 'command', not both")
    cwd = item.get("cwd")
    if cwd is not None and command is None:
        raise UsageError(f"{where}: 'cwd' goes with 'command' (a job type has its own cwd)")
    if cwd is not None and not os.path.isabs(cwd):
        raise UsageError(f"{where}: 'cwd' must be an absolute path (a worker runs it)")
    if command is not None and cwd is None and defaults.cwd is None:
        raise UsageError(
            f"{where}: a command runs in the current directory, which cannot be used (it was"
            " deleted?): give the line a 'cwd', or cd to an existing directory"
        )
    after = None
    if item.get("after") is not None:
        after = read_after_lines(item["after"], f"{where}: after")
    # A null is no value, as jq and Python's None write a missing field: the options apply.
    if delay is None and at is None:
        delay, at = defaults.delay, defaults.at
    return JobRequest(
        job=item.get("job"),
        payload=payload,
        delay=delay,
        at=at,
        priority=_given(item, "priority", defaults.priority),
        queue=_given(item, "queue", defaults.queue),
        key=item.get("key"),
        max_attempts=_given(item, "max_attempts", defaults.max_attempts),
        command=command,
        cwd=cwd if cwd is not None or command is None else defaults.cwd,
        after=defaults.after if after is None else after[0],
        after_refs=() if after is None else after[1],
    )
