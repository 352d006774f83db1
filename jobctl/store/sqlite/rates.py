"""The log of recent attempt starts that a [queues.NAME] rate counts (see Store.claim).

Its table is one an older jobctl neither needs nor minds, made with no schema version of its
own, as connection.EXTRA_INDEXES are: the workers of an older jobctl running beside go on (and
start the queue's jobs with no regard for its rate). The first claim with a rate to keep
makes it, in its own transaction; a database whose queues have no rate never has it, and a
read does without. Each rate-limited queue keeps the starts of its window, at most its rate's
number: older ones are deleted by the claims as they go.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from jobctl.models import RATE_CLOCK_STEP, Rate

# A read outside any transaction (SqliteBase._read): it waits out a lock a writer holds.
Read = Callable[[str, Sequence[Any]], list[Any]]

RATE_LOG = (
    "CREATE TABLE IF NOT EXISTS rate_starts (queue TEXT NOT NULL, started_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS rate_starts_queue ON rate_starts (queue, started_at)",
)


def make_rate_log(conn: sqlite3.Connection) -> None:
    """Make the table where it is missing, inside the caller's write transaction."""
    for statement in RATE_LOG:
        conn.execute(statement)


def has_rate_log(read: Read) -> bool:
    return bool(read("SELECT 1 FROM sqlite_master WHERE name = 'rate_starts'", ()))


def rate_room(conn: sqlite3.Connection, queue: str, rate: Rate, now: float) -> int:
    """How many of the queue's attempts may start at `now`, inside a write transaction:
    the starts a clock since stepped back recorded over RATE_CLOCK_STEP ahead of `now` are
    counted as made now (so that they hold the queue one window at most), and those out of
    the window go. A start less far ahead is another worker's, recorded a moment later than
    this claim read its clock: it stays as it is."""
    conn.execute(
        "UPDATE rate_starts SET started_at = ? WHERE queue = ? AND started_at > ?",
        (now, queue, now + RATE_CLOCK_STEP),
    )
    conn.execute(
        "DELETE FROM rate_starts WHERE queue = ? AND started_at <= ?",
        (queue, now - rate.window),
    )
    (count,) = conn.execute("SELECT COUNT(*) FROM rate_starts WHERE queue = ?", (queue,)).fetchone()
    return max(0, rate.starts - int(count))


def record_starts(conn: sqlite3.Connection, queues: Iterable[str], now: float) -> None:
    """One start for each queue named (a queue once per attempt started), at `now` or at
    the queue's latest start if that is later: a queue's starts are recorded in order, so
    that a claim whose `now` was read before another's (it waited for the lock) neither
    records its own behind the other's nor, at its next claim, takes them for a clock step."""
    starts = list(queues)
    at: dict[str, float] = {}
    for queue in set(starts):
        (latest,) = conn.execute(
            "SELECT MAX(started_at) FROM rate_starts WHERE queue = ?", (queue,)
        ).fetchone()
        at[queue] = now if latest is None else max(now, float(latest))
    conn.executemany(
        "INSERT INTO rate_starts (queue, started_at) VALUES (?, ?)",
        [(queue, at[queue]) for queue in starts],
    )


def rate_reopens_at(read: Read, queue: str, rate: Rate, now: float) -> float | None:
    """When the queue's window lets its next start in, if it is full at `now`, else None;
    read without a write, counting as rate_room does."""
    ((count,),) = read(
        "SELECT COUNT(*) FROM rate_starts WHERE queue = ? AND started_at > ?",
        (queue, now - rate.window),
    )
    if count < rate.starts:
        return None
    # The start whose leaving makes room: with `count` in the window, the (count - N + 1)th
    # oldest (the oldest, unless a lowered rate left more than N in it).
    found = read(
        "SELECT started_at FROM rate_starts WHERE queue = ? AND started_at > ?"
        " ORDER BY started_at LIMIT 1 OFFSET ?",
        (queue, now - rate.window, count - rate.starts),
    )
    return rate.reopens_at(float(found[0][0]), now) if found else None
