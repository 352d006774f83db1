"""Option values every command reads the same way: durations, instants, job states and
row limits."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from jobctl.text import digits_value, shorten

if TYPE_CHECKING:
    from collections.abc import Iterable

    from jobctl.models import State
    from jobctl.store import Store


# The largest job id a store holds (SQLite's integer): a larger one is a usage error on every
# store alike, not "no job" on one and an overflow on the other.
MAX_ID = 2**63 - 1
MIN_INTEGER = -(2**63)


def whole_number(value: str | int) -> int:
    """A number of the command line, in ASCII digits with an optional leading '-', as kill
    and systemd read it. Python's int() also takes '1_6', blanks around it and any script's
    digits ('١'): `cancel 1_6` cancelled job 16, a typo more likely meant as 16 or 1 6.
    ValueError for anything else; OverflowError for more digits than Python converts."""
    if isinstance(value, int):  # a default, already a number
        return value
    negative = value.startswith("-")
    digits = value[1:] if negative else value
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{value!r} is not a whole number")
    number = digits_value(digits, sys.get_int_max_str_digits())
    if number is None:
        raise OverflowError(f"{shorten(value)} is too {'small' if negative else 'large'}")
    return -number if negative else number


def stored_number(value: str | int) -> int:
    """A whole number (see whole_number) that a store can hold, SQLite's 64-bit integer;
    OverflowError beyond it, which the caller names the option of."""
    number = whole_number(value)
    if number > MAX_ID:
        raise OverflowError(f"{value} is too large (at most {MAX_ID})")
    if number < MIN_INTEGER:
        raise OverflowError(f"{value} is too small (at least {MIN_INTEGER})")
    return number


def option_named(word: str, names: Iterable[str]) -> bool:
    """Whether `word`, read as an option's value, is one of `names` (a command's options),
    alone or with a value attached (`--state=queued`): a value forgotten before it, surely,
    as no key, queue or payload is meant to look like one."""
    if not word.startswith("-"):
        return False
    return word.partition("=")[0] in names if word.startswith("--") else word in names


def value_is_an_option(option: str, word: str) -> str:
    """The one line for an option whose value was one of its command's own options."""
    return (
        f"{option}: got {word}, an option of this command, where its value goes"
        f" (write {option}={word} if it is meant)"
    )


def duration_option(text: str | None, option: str) -> float | None:
    """A duration option's seconds; errors name the option."""
    if text is None:
        return None
    from jobctl.durations import parse_duration
    from jobctl.errors import DurationError

    try:
        return parse_duration(text)
    except DurationError as exc:
        raise DurationError(f"{option}: {exc}") from None


def since_option(text: str | None, option: str, now: float | None = None) -> float | None:
    """The instant a --since counts from: a duration back from `now` (`1d`, else the clock's
    now), or a time as --at takes it (`2026-05-01T09:30`, `today 9:00`), for a script that
    wants what came since its pipeline started. A bare `9:00` is today's (--at takes the next
    to come); a time still to come would match nothing, and is refused."""
    if text is None:
        return None
    import time

    from jobctl.durations import parse_duration
    from jobctl.errors import DurationError, UsageError
    from jobctl.text import say
    from jobctl.timefmt import iso, parse_instant

    current = time.time() if now is None else now
    try:
        return current - parse_duration(text)
    except DurationError:
        pass
    import re

    # A bare time of day is today's, gone by: --at reads it as the next to come.
    read = f"today {text.strip()}" if re.fullmatch(r"\d?\d:\d\d(:\d\d)?", text.strip()) else text
    notes: list[str] = []
    try:
        instant = parse_instant(read, option, notes=notes, now=current)
    except UsageError as exc:
        if "invalid time" not in str(exc):  # a time read, and refused for what it says
            raise
        raise UsageError(
            f"{option}: invalid duration or time {text!r}: expected a duration (30m, 1h30m,"
            " 7d) or a time as --at takes it (2026-05-01T09:30, 2026-05-01T09:30+02:00,"
            " today 9:00)"
        ) from None
    if instant > current:
        when = iso(instant, timespec="seconds")
        raise UsageError(f"{option}: {text.strip()!r} is {when}, still to come: give one gone by")
    for note in notes:
        say(f"jobctl: note: {note}")
    return instant


def instant_option(text: str | None, option: str, now: float | None = None) -> float | None:
    """An instant option's timestamp (`+10m`, `21:30`: from `now`, else the clock's); errors
    name the option."""
    if text is None:
        return None
    from jobctl.text import say
    from jobctl.timefmt import parse_instant

    notes: list[str] = []
    instant = parse_instant(text, option, notes=notes, now=now)
    for note in notes:
        say(f"jobctl: note: {note}")
    return instant


def state_option(text: str, option: str = "--state") -> State:
    from jobctl.errors import UsageError
    from jobctl.models import State

    try:
        return State(text.lower())
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise UsageError(f"{option}: unknown state {text!r} (one of: {names})") from None


def limit_option(value: int, option: str = "--limit") -> int | None:
    """A --limit's row count, or None for no limit: 0 means all, as the commands' help says.
    A negative count is a mistake, not another way to say all."""
    if value < 0:
        from jobctl.errors import UsageError

        raise UsageError(f"{option}: must be 0 (no limit) or more, got {value}")
    return value or None


def worker_queues(names: list[str] | None) -> tuple[str, ...] | None:
    """A worker's --queue values: None (every queue) when none is given or one is `*`, the
    spelling `status` shows for it. A name no queue can have is refused, not served for
    ever in vain."""
    if not names or "*" in names:
        return None
    for name in names:
        check_queue_name(name, "--queue", " (or '*' for every queue)")
    return tuple(dict.fromkeys(names))


def check_queue_name(name: str, option: str, more: str = "") -> None:
    from jobctl.config import QUEUE_NAME, bad_queue_name
    from jobctl.errors import UsageError

    if not QUEUE_NAME.match(name):
        raise UsageError(f"{option}: {bad_queue_name(name)}{more}")


def unknown_queue(queue: str, known: set[str]) -> str:
    """The one line for a queue neither the config nor the database knows."""
    from jobctl.config import _closest

    hint = _closest(queue, known)
    extra = f" (did you mean {hint!r}?)" if hint else ""
    names = sorted(known)
    shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
    return f"unknown queue {queue!r}{extra}: known queues are {shown}"


def note_unknown_queue(queue: str, store: Store, *, fatal: bool = False, then: str = "") -> None:
    """A --queue that matched nothing, and that neither the config nor the database knows:
    likely a typo, said on stderr (the exit code stays, as for --job), with `then` after
    it. `fatal`: a usage error instead (`wait`, whose exit 0 would pass a CI gate)."""
    import time

    from jobctl.cli.completers import queues_named_in
    from jobctl.cli.context import STATE
    from jobctl.errors import UsageError
    from jobctl.text import say

    named = queues_named_in(STATE.config())
    if queue in named:  # the database is asked only when the config does not say
        return
    known = named | {c.queue for c in store.queue_counts(time.time())}
    if queue not in known:
        if fatal:
            raise UsageError(f"--queue: {unknown_queue(queue, known)}")
        say(f"jobctl: warning: --queue: {unknown_queue(queue, known)}{then}")


def check_job_name(job: str | None, store: Store) -> None:
    """Refuse a --job that names neither a job type of the config nor any job of the
    database: a typo (`dead purge --all --job bakup`) that matches nothing would exit 0 and
    pass a CI step with nothing done, where the exit codes promise 2 for an unknown name.
    Checked before anything is done; a name the database still holds jobs of (a job type
    since removed from the config) is no typo, and its jobs are matched by it."""
    if job is None:
        return
    from jobctl.cli.context import STATE
    from jobctl.config import ADHOC_JOB
    from jobctl.errors import UsageError
    from jobctl.models import JobFilter

    config = STATE.config()
    if job in config.jobs or job == ADHOC_JOB:
        return
    if store.list_jobs(JobFilter(job=job, limit=1)):
        return
    raise UsageError(
        f"--job {job!r}: no job type of that name in {config.path or 'the config'}, and no job"
        f" of it in the database{_did_you_mean(job, set(config.jobs))}"
    )


def note_unknown_job(job: str | None, matched: bool, *, fatal: bool = False) -> None:
    """A --job filter that matched nothing and names no job type of the config is likely a
    typo (`dead purge --all --job bakup`): say so on stderr. The exit code stays: the jobs
    of a job type since removed from the config are still matched by its name (a name no
    job has either is refused first: check_job_name). `fatal`: a usage error instead (`wait
    --job bulid` must not pass a CI gate with nothing waited)."""
    if job is None or matched:
        return
    from jobctl.cli.context import STATE
    from jobctl.config import ADHOC_JOB
    from jobctl.text import say

    config = STATE.config()
    if job in config.jobs or job == ADHOC_JOB:
        return
    line = (
        f"--job {job!r} matched no job, and {config.path or 'the config'} has no job type of"
        f" that name{_did_you_mean(job, set(config.jobs))}"
    )
    if fatal:
        from jobctl.errors import UsageError

        raise UsageError(line)
    say(f"jobctl: warning: {line}")


def _did_you_mean(name: str, known: set[str]) -> str:
    from jobctl.config import _closest

    hint = _closest(name, known)
    return f" (did you mean {hint!r}?)" if hint else ""


# How many jobs a command on several left alone it names one by one on stderr; the rest are
# counted (`--json` names them all). A chain of 5,000 jobs after a cancelled one gave 4,999
# lines, a `cancel` of 30,000 ids that do not exist 30,000.
NAMED_AT_MOST = 20


class LeftAlone:
    """The error lines of the jobs a command on several left alone: the first NAMED_AT_MOST
    said, then one line for how many more."""

    def __init__(self, verb: str) -> None:
        self.verb = verb  # "not {verb}" in the count's line
        self.count = 0

    def say(self, line: str) -> None:
        self.count += 1
        if self.count <= NAMED_AT_MOST:
            print(f"jobctl: {line}", file=sys.stderr)

    def end(self) -> None:
        if self.count > NAMED_AT_MOST:
            more = self.count - NAMED_AT_MOST
            print(f"jobctl: and {more:,} more job(s) not {self.verb}", file=sys.stderr)


def refused(count: int, *, asked: int | None, verb: str) -> None:
    """End a command on several jobs of which `count` were refused, each already named in
    a line of its own: exit 1, with a count when more than one job was asked for (`asked`
    None: every job matching, as with --all). For one job its own line is the error."""
    if not count:
        return
    if asked == 1:
        import typer

        from jobctl.errors import EXIT_FAILED

        raise typer.Exit(EXIT_FAILED)
    from jobctl.errors import OperationFailed

    raise OperationFailed(f"{count} job(s) not {verb}")
