"""Listing a Redis namespace by unique key, queue or creation time reads the jobs that match,
not every job there is: the namespace keeps every job's id by queue and by key, and a listing
by --since, newest first, stops past the first job older than its window (by as far back as
any job was stamped behind an earlier one: enqueuers' clocks may disagree)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, namespace_for, start_server

from jobctl.models import JobEdit, JobFilter, NewJob, State
from jobctl.store import Store
from jobctl.store.redis import RedisStore
from jobctl.store.redis.codec import PAGE
from jobctl.store.sqlite import SqliteStore

T0 = 1_800_000_000.0


def commands_run(server: RedisServer, action: Callable[[], Any]) -> int:
    """How many commands the server ran for `action` (those of its scripts included)."""
    client = server.client()
    try:
        client.config_resetstat()
        action()
        stats = client.info("commandstats")
    finally:
        client.close()
    return sum(int(row["calls"]) for name, row in stats.items() if name != "cmdstat_info")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own: its command counts are the test's alone."""
    server = start_server(tmp_path / "own")
    try:
        yield server
    finally:
        server.stop()


def _crowded(store: Store) -> tuple[list[int], int, int]:
    """20,000 jobs at T0 (every tenth with a unique key), the key uk4's first job cancelled
    and a second one enqueued with it, then one job in a queue of its own at T0 + 100.
    Returns the ids holding uk4, oldest first, and the id of the job in the queue probe."""
    bulk = [
        NewJob(job="t", payload={}, queue="bulk", key=f"uk{i}" if i % 10 == 0 else None)
        for i in range(20_000)
    ]
    ids = [r.id for r in store.enqueue(bulk, T0)]
    first = ids[40]  # key uk40: the one looked up is uk4's tenfold, as unique as any
    store.cancel([first], T0 + 1)
    (again,) = store.enqueue([NewJob(job="t", payload={}, key="uk40")], T0 + 2)
    (probe,) = store.enqueue([NewJob(job="t", payload={}, queue="probe")], T0 + 100)
    return [first, again.id], again.id, probe.id


def test_a_lookup_by_key_queue_or_recent_creation_reads_only_the_matching_jobs(
    own_server: RedisServer,
) -> None:
    """On 20,000 jobs a lookup by key or queue is a few commands, one by --since a page or two
    of jobs (each read every job: some 20,000 HGETALLs a listing, 22 to 38 s on 235,000
    jobs), and finds what it found before: a finished job
    with the key too, newest first unless asked otherwise."""
    store = RedisStore(own_server.url("crowded"))
    try:
        keyed, active, probe = _crowded(store)
        lookups: list[tuple[JobFilter, list[int]]] = [
            (JobFilter(key="uk40", limit=None), [active, keyed[0]]),
            (JobFilter(key="uk40", limit=None, newest_first=False), keyed),
            (JobFilter(key="uk40", states=(State.CANCELLED,), limit=None), [keyed[0]]),
            (JobFilter(queue="probe", limit=None), [probe]),
            (JobFilter(queue="probe", states=(State.QUEUED,), job="t", limit=None), [probe]),
            (JobFilter(since=T0 + 50, limit=None), [probe]),
            (JobFilter(since=T0 + 1.5, limit=1), [probe]),
            (JobFilter(since=T0 + 1.5, limit=None), [probe, active]),
            (JobFilter(queue="bulk", since=T0 + 1.5, limit=None), []),
        ]
        found: list[list[int]] = []
        for where, expected in lookups:
            found.clear()
            listed = commands_run(
                own_server, lambda w=where: found.append([j.id for j in store.list_jobs(w)])
            )
            counted = commands_run(own_server, lambda w=where: found.append(store.job_ids(w)))
            assert found == [expected, expected], where
            # By --since: the page of the index holding the window's oldest job, and the next.
            bound = 20 if where.since is None else 2 * PAGE + 20
            assert listed < bound and counted < bound, (where, listed, counted)
    finally:
        store.close()


def _history(store: Store) -> None:
    """The same jobs on either store: clocks that disagree (a job stamped 60 s before the one
    stored ahead of it), a job moved to another queue, a key let go and taken again, a job
    dead on arrival that keeps its key, and a prune."""
    first = [
        r.id
        for r in store.enqueue(
            [
                NewJob(job="a", payload={}, queue="x", key="k1"),
                NewJob(job="b", payload={}, queue="y", key="k2"),
                NewJob(job="a", payload={}, queue="y"),
            ],
            T0,
        )
    ]
    (ahead,) = store.enqueue([NewJob(job="a", payload={}, queue="x", key="k3")], T0 + 100)
    store.enqueue([NewJob(job="b", payload={}, queue="y")], T0 + 40)  # a clock behind
    store.edit([JobEdit(id=first[2], attempts=0, queue="z")], T0 + 101)
    store.cancel([first[0], first[1]], T0 + 102)
    store.enqueue([NewJob(job="a", payload={}, queue="y", key="k1")], T0 + 103)
    store.enqueue([NewJob(job="a", payload={}, key="k4", after=(first[1],))], T0 + 104)
    store.delete_jobs(states=(State.CANCELLED,), ids=[first[1]])
    assert store.get(ahead.id) is not None


FILTERS = [
    JobFilter(key="k1", limit=None),
    JobFilter(key="k1", limit=1, newest_first=False),
    JobFilter(key="k2", limit=None),
    JobFilter(key="k4", states=(State.DEAD,), limit=None),
    JobFilter(key="k1", queue="x", limit=None),
    JobFilter(queue="x", limit=None),
    JobFilter(queue="y", limit=None, newest_first=False),
    JobFilter(queue="z", limit=None),
    JobFilter(queue="y", job="a", limit=None),
    JobFilter(queue="y", states=(State.QUEUED,), limit=None),
    JobFilter(since=T0 + 45, limit=None),
    JobFilter(since=T0 + 30, limit=None),
    JobFilter(since=T0 + 30, limit=2),
    JobFilter(since=T0 + 45, limit=None, newest_first=False),
    JobFilter(since=T0 + 45, queue="x", limit=None),
    JobFilter(since=T0 + 30, states=(State.QUEUED, State.DEAD), limit=None),
    JobFilter(since=T0 + 500, limit=None),
    JobFilter(queue="nowhere", limit=None),
    JobFilter(key="nokey", limit=None),
]


def _listings(store: Store) -> list[tuple[list[int], list[int]]]:
    return [([j.id for j in store.list_jobs(w)], store.job_ids(w)) for w in FILTERS]


def test_listings_by_key_queue_and_creation_are_the_sqlite_stores(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Under clocks that disagree, edits, keys taken again and prunes. Stopped at the first
    job older than --since itself, the listing since T0 + 45 lost the job at T0 + 100 stored
    before one stamped T0 + 40."""
    sqlite = SqliteStore(tmp_path / "q.db")
    redis_store = RedisStore(redis_server.url(namespace_for(tmp_path)))
    try:
        _history(sqlite)
        _history(redis_store)
        expected = _listings(sqlite)
        assert expected[10][0] and expected[0][0], "the history lists something"
        assert _listings(redis_store) == expected
    finally:
        sqlite.close()
        redis_store.close()


def _to_schema_2(store: RedisStore) -> None:
    """What a namespace of schema 2 holds: no index by queue or key, no creation bounds."""
    client = store._client
    stale = [*client.scan_iter(store._key("byqueue:*")), *client.scan_iter(store._key("bykey:*"))]
    if stale:
        client.delete(*stale)
    client.hdel(store._key("meta"), "created_latest", "created_back")
    client.hset(store._key("meta"), "schema", "2")


def test_a_namespace_of_schema_2_is_indexed_on_open_and_listed_alike_before(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Until a writer upgrades it (a replica's reader cannot), a namespace of schema 2 is
    listed by reading its jobs; once upgraded, through the indexes built from them, the
    clocks' disagreement found among them."""
    sqlite = SqliteStore(tmp_path / "q.db")
    url = redis_server.url(namespace_for(tmp_path))
    store = RedisStore(url)
    try:
        _history(sqlite)
        _history(store)
        expected = _listings(sqlite)
        _to_schema_2(store)
        assert _listings(store) == expected
    finally:
        sqlite.close()
        store.close()
    upgraded = RedisStore(url)
    try:
        meta = upgraded._client.hgetall(upgraded._key("meta"))
        assert meta["schema"] == "3" and float(meta["created_back"]) == 60
        assert upgraded._client.zcard(upgraded._key("byqueue:y")) == 2
        assert _listings(upgraded) == expected
        _to_schema_2(upgraded)  # again, two jobs a script
        assert int(upgraded._run("upgrade", "3", "2")) == -1
        assert upgraded._client.hget(upgraded._key("meta"), "schema") == "2"
        assert _listings(upgraded) == expected  # read as schema 2 until the last chunk
        upgraded.enqueue([NewJob(job="a", payload={}, queue="y")], T0 - 30)  # meanwhile
        upgraded._upgrade(chunk=2)
        meta = upgraded._client.hgetall(upgraded._key("meta"))
        assert meta["schema"] == "3" and float(meta["created_back"]) == 134
        assert not {"upgrade_from", "upgrade_latest", "upgrade_back"} & set(meta)
        assert upgraded._client.zcard(upgraded._key("byqueue:y")) == 3
        sqlite = SqliteStore(tmp_path / "q.db")
        try:
            sqlite.enqueue([NewJob(job="a", payload={}, queue="y")], T0 - 30)
            assert _listings(upgraded) == _listings(sqlite)
        finally:
            sqlite.close()
    finally:
        upgraded.close()
