"""The log of recent attempt starts that a [queues.NAME] rate counts (see Store.claim).

Its table is one an older jobctl neither needs nor minds, made with no schema version of its
own, as connection.EXTRA_INDEXES are: the workers of an older jobctl running beside go on (and
start the queue's jobs with no regard for its rate). The first claim with a rate to keep
makes it, in its own transaction; a database whose queues have no rate never has it, and a
read does without. Each rate-limited queue keeps the starts of its window, at most its rate's
number: older ones are deleted by the claims as they go. Beside them, rate_counts holds how
many rows each queue has, kept with every insert and delete in the same transaction, so that
a claim never counts up to a million rows under the write lock.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from jobctl.models import RATE_CLOCK_STEP, Rate

# A read outside any transaction (SqliteBase._read): it waits out a lock a writer holds.
Read = Callable[[str, Sequence[Any]], list[Any]]

RATE_LOG = (
    "CREATE TABLE IF NOT EXISTS rate_starts (queue TEXT NOT NULL, started_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS rate_starts_queue ON rate_starts (queue, started_at)",
    "CREATE TABLE IF NOT EXISTS rate_counts (queue TEXT PRIMARY KEY, starts INTEGER NOT NULL)",
)


def make_rate_log(conn: sqlite3.Connection) -> None:
    """Make the table where it is missing, inside the caller's write transaction."""
    for statement in RATE_LOG:
        conn.execute(statement)


def has_rate_log(read: Read) -> bool:
    """Whether a claim made the log (its last table: rate_counts)."""
    return bool(read("SELECT 1 FROM sqlite_master WHERE name = 'rate_counts'", ()))


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
    gone = conn.execute(
        "DELETE FROM rate_starts WHERE queue = ? AND started_at <= ?",
        (queue, now - rate.window),
    ).rowcount
    found = conn.execute("SELECT starts FROM rate_counts WHERE queue = ?", (queue,)).fetchone()
    if found is None:  # the queue's first claim with a rate: counted once
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM rate_starts WHERE queue = ?", (queue,)
        ).fetchone()
        conn.execute("INSERT INTO rate_counts (queue, starts) VALUES (?, ?)", (queue, count))
    else:
        count = int(found[0]) - gone
        if gone:
            conn.execute("UPDATE rate_counts SET starts = ? WHERE queue = ?", (count, queue))
    return max(0, rate.starts - int(count))


def record_starts(conn: sqlite3.Connection, queues: Iterable[str], now: float) -> None:
    """One start for each queue named (a queue once per attempt started), at `now` or at
    the queue's latest start if that is later: a queue's starts are recorded in order, so
    that a claim whose `now` was read before another's (it waited for the lock) neither
    records its own behind the other's nor, at its next claim, takes them for a clock step.
    Each queue named had its rate_room in this transaction (its count row exists)."""
    starts = Counter(queues)
    for queue, added in starts.items():
        (latest,) = conn.execute(
            "SELECT MAX(started_at) FROM rate_starts WHERE queue = ?", (queue,)
        ).fetchone()
        at = now if latest is None else max(now, float(latest))
        conn.executemany(
            "INSERT INTO rate_starts (queue, started_at) VALUES (?, ?)", [(queue, at)] * added
        )
        conn.execute("UPDATE rate_counts SET starts = starts + ? WHERE queue = ?", (added, queue))


def rate_reopens_at(read: Read, queue: str, rate: Rate, now: float) -> float | None:
    """When the queue's window lets its next start in, if it is full at `now`, else None;
    read without a write, as rate_room counts. Of the queue's rows, the start whose leaving
    makes room is the Nth newest (the oldest in the window, unless a lowered rate left more
    than N in it): if that one is out of the window at `now` already, there is room."""
    counted = read("SELECT starts FROM rate_counts WHERE queue = ?", (queue,))
    if not counted or int(counted[0][0]) < rate.starts:
        return None
    found = read(
        "SELECT started_at FROM rate_starts WHERE queue = ? ORDER BY started_at LIMIT 1 OFFSET ?",
        (queue, int(counted[0][0]) - rate.starts),
    )
    if not found or float(found[0][0]) <= now - rate.window:
        return None
    return rate.reopens_at(float(found[0][0]), now)
