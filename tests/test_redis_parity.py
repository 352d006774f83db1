"""Differential check of the two stores: one random history of operations, applied to the
SQLite store and the Redis store in lockstep, must give the same answers and leave the same
observable state (jobs, attempts, counts, statistics, fires) after every step.

The contract suite states each behaviour once; this finds the interleavings nobody wrote a
case for. Times are explicit, so nothing sleeps; a failure names the seed and the step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, namespace_for, start_server
from test_store_contract import durations

from jobctl.errors import StoreError
from jobctl.models import (
    FINAL_STATES,
    AttemptResult,
    Claim,
    JobFilter,
    NewJob,
    Outcome,
    State,
    WorkerInfo,
)
from jobctl.store import Finish, Store
from jobctl.store.redis import RedisStore
from jobctl.store.sqlite import SqliteStore

T0 = 1_800_000_000.0
STEPS = 120
SEEDS = range(4)


@dataclass
class Pair:
    """The same claim as each store handed it out (their lease tokens differ)."""

    sqlite: Claim
    redis: Claim


@pytest.fixture
def stores(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Store, Store]]:
    left = SqliteStore(tmp_path / "parity.db")
    right = RedisStore(redis_server.url(namespace_for(tmp_path)))
    yield left, right
    left.close()
    right.close()


def both(stores: tuple[Store, Store], call: Callable[[Store], Any]) -> tuple[Any, Any]:
    """Call on each store; an error is an answer too (both must fail alike)."""
    out = []
    for store in stores:
        try:
            out.append(call(store))
        except StoreError as exc:
            out.append(("StoreError", "UNIQUE" in str(exc)))
    return out[0], out[1]


def claim_view(claim: Claim) -> tuple[Any, ...]:
    return (claim.job._asdict(), claim.attempt, claim.run, claim.log_path)


def snapshot(store: Store, now: float) -> dict[str, Any]:
    jobs = store.list_jobs(JobFilter(limit=None, newest_first=False))
    return {
        "jobs": [j._asdict() for j in jobs],
        # (Redis names the host that ran each attempt; SQLite's is the database's host.)
        "attempts": {
            j.id: [asdict(a) | {"host": None} for a in store.attempts(j.id)] for j in jobs
        },
        "counts": [asdict(q) for q in store.queue_counts(now)],
        "events": store.event_counts(None),
        "recent": store.event_counts(now - 3600),
        "hist": [
            (h.kind, h.queue, h.job, h.buckets, h.count, round(h.sum, 6))
            for h in store.histograms()
        ],
        "durations": {
            k: (sorted(round(x, 6) for x in r), sorted(round(x, 6) for x in w))
            for k, (r, w) in durations(store, T0 - 10).items()
        },
        "pending": store.pending_counts(),
        "next_due": (store.next_due(None), store.next_due(["q1"])),
        "dead": [j.id for j in store.finished_jobs([State.DEAD])],
        "finished": [j.id for j in store.finished_jobs(list(FINAL_STATES), limit=7)],
        "finished_ids": store.finished_ids(list(FINAL_STATES), finished_before=now - 30),
        "fires": {
            name: (asdict(record), state) for name, (record, state) in store.last_fires().items()
        },
        "last_fire": {s: store.last_fire_time(s) for s in ("s1", "s2")},
        "last_success": store.last_successes(["s1", "s2"]),
        "paused": store.paused_schedules(),
        "workers": [asdict(w) for w in store.workers()],
        "by_state": [
            [j.id for j in store.list_jobs(JobFilter(states=(s,), limit=5))] for s in State
        ],
        "filtered": [
            j.id
            for j in store.list_jobs(
                JobFilter(job="a", queue="q2", since=T0 + 100, limit=None, newest_first=False)
            )
        ],
        "keyed": [j.id for j in store.list_jobs(JobFilter(key="k1", limit=None))],
    }


def new_job(rng: random.Random, now: float) -> NewJob:
    schedule = rng.choice([None, None, None, "s1"])
    return NewJob(
        job=rng.choice(["a", "b"]),
        payload={"n": rng.randrange(100), "é": "x"},
        queue=rng.choice(["q1", "q2", "q1"]),
        priority=rng.choice([-1, 0, 0, 5]),
        max_attempts=rng.choice([1, 2, 3]),
        run_at=rng.choice([None, None, now + rng.uniform(-20, 40), now + 0.5]),
        key=rng.choice([None, None, None, "k1", "k2"]),
        command=rng.choice([None, ["echo", "hi"]]),
        schedule=schedule,
        fire_time=now if schedule else None,
    )


def result(rng: random.Random, now: float) -> tuple[AttemptResult, bool]:
    """An attempt's end, and whether a retry is wanted (if attempts are left)."""
    outcome = rng.choice(
        [
            Outcome.SUCCEEDED,
            Outcome.SUCCEEDED,
            Outcome.FAILED,
            Outcome.TIMEOUT,
            Outcome.ERROR,
            Outcome.CANCELLED,
        ]
    )
    code = 0 if outcome == Outcome.SUCCEEDED else rng.choice([None, 1, 3])
    error = None if outcome == Outcome.SUCCEEDED else f"{outcome.value} {code}"
    return (
        AttemptResult(
            outcome,
            exit_code=code,
            signal=rng.choice([None, None, 9]),
            error=error,
            log_path=rng.choice([None, f"/logs/{rng.randrange(5)}.log"]),
            finished_at=now,
        ),
        rng.random() < 0.7,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_histories_agree(stores: tuple[Store, Store], seed: int) -> None:
    rng = random.Random(seed)
    now = T0
    held: list[Pair] = []
    for step in range(STEPS):
        now += rng.choice([0.0, 0.25, 1.0, 7.0, 31.0])
        op = rng.choice(
            ["enqueue"] * 4
            + ["claim"] * 4
            + ["finish"] * 4
            + ["renew", "release", "rescue", "cancel", "pause", "dead_retry", "delete"]
            + ["fire", "fire", "promote", "workers", "still_held"]
        )
        where = f"seed {seed}, step {step}: {op}"
        left, right = apply(stores, rng, op, now, held, lease=rng_lease(seed, step))
        assert left == right, where
        assert snapshot(stores[0], now) == snapshot(stores[1], now), where
    # The paused schedules and schedule state round trip too.
    for store in stores:
        store.set_schedule_paused("s1", True)
    assert stores[0].paused_schedules() == stores[1].paused_schedules() == {"s1"}


def apply(
    stores: tuple[Store, Store],
    rng: random.Random,
    op: str,
    now: float,
    held: list[Pair],
    lease: float,
) -> tuple[Any, Any]:
    """One random operation on both stores; returns what each answered."""
    if op == "enqueue":
        batch = [new_job(rng, now) for _ in range(rng.randint(1, 3))]
        left, right = both(stores, lambda s: s.enqueue(batch, now))
    elif op == "claim":
        queues = rng.choice([None, ["q1"], ["q2", "q1"], ["nope"]])
        limit = rng.randint(1, 3)
        worker = rng.choice(["w1", "w2"])

        def claim(s: Store) -> list[Claim]:
            return s.claim(worker, queues, now, 30.0, limit, lambda i, r: f"/logs/{i}.{r}.log")

        got_left, got_right = both(stores, claim)
        left = [claim_view(c) for c in got_left]
        right = [claim_view(c) for c in got_right]
        held.extend(Pair(a, b) for a, b in zip(got_left, got_right, strict=False))
    elif op in ("finish", "renew", "release", "still_held"):
        chosen = rng.sample(held, min(len(held), rng.randint(1, 2))) if held else []
        if op == "finish":
            ends = [result(rng, now) for _ in chosen]

            def finish(s: Store) -> list[State | None]:
                items = []
                for pair, (res, retry) in zip(chosen, ends, strict=True):
                    claim = pair.sqlite if isinstance(s, SqliteStore) else pair.redis
                    retry_at = now + 5 if retry and res.outcome != Outcome.SUCCEEDED else None
                    items.append(Finish(claim, res, retry_at))
                return s.finish(items, now)

            left, right = both(stores, finish)
            for pair in chosen:
                if rng.random() < 0.8:
                    held.remove(pair)
        elif op == "renew":
            left, right = both(stores, lambda s: s.renew(claims_of(s, chosen), now + lease))
        elif op == "release":
            left, right = both(stores, lambda s: s.release(claims_of(s, chosen), now, "bye"))
        else:
            left, right = both(
                stores,
                lambda s: s.still_held(claims_of(s, chosen)),  # type: ignore[attr-defined]
            )
    elif op == "rescue":
        left, right = both(stores, lambda s: [j._asdict() for j in s.rescue_expired(now)])
    elif op == "cancel":
        ids = [rng.randint(1, 40) for _ in range(rng.randint(1, 3))]
        left, right = both(stores, lambda s: s.cancel(ids, now))
    elif op == "pause":
        queue, paused = rng.choice(["q1", "q2", "q3"]), rng.random() < 0.4
        left, right = both(stores, lambda s: s.set_paused(queue, paused))
    elif op == "dead_retry":
        ids = rng.choice([None, [rng.randint(1, 40) for _ in range(3)]])
        job = rng.choice([None, "a"])
        left, right = both(stores, lambda s: s.dead_retry(ids, job, now))
    elif op == "delete":
        states = rng.sample(list(State), rng.randint(1, 3))
        before = rng.choice([None, now - 20])
        job = rng.choice([None, "b"])
        ids = rng.choice([None, [rng.randint(1, 40) for _ in range(4)]])
        left, right = both(
            stores,
            lambda s: sorted(
                s.delete_jobs(states=states, ids=ids, finished_before=before, job=job)
            ),
        )
    elif op == "fire":
        name = rng.choice(["s1", "s2"])
        fire_time = T0 + 60 * rng.randint(0, 30)
        overlap = rng.choice(["allow", "skip", "queue"])
        manual = rng.random() < 0.2
        spec = rng.choice([None, NewJob("a", {}, schedule=name, fire_time=fire_time)])
        left, right = both(
            stores,
            lambda s: s.record_fire(
                name, fire_time, spec, now, overlap=overlap, manual=manual, reason="r"
            ),
        )
    elif op == "promote":
        name = rng.choice(["s1", "s2"])
        left, right = both(
            stores, lambda s: s.promote_pending(name, NewJob("a", {}, schedule=name), now)
        )
    else:
        info = WorkerInfo(f"w{rng.randint(1, 3)}", "host", 7, ("q1",), 2, now, now)
        kind = rng.choice(["register", "beat", "drop"])

        def workers(s: Store) -> None:
            if kind == "register":
                s.register_worker(info)
            elif kind == "beat":
                s.heartbeat(info.id, now)
            else:
                s.unregister_worker(info.id)

        left, right = both(stores, workers)
    return left, right


def claims_of(store: Store, pairs: list[Pair]) -> list[Claim]:
    return [p.sqlite if isinstance(store, SqliteStore) else p.redis for p in pairs]


def rng_lease(seed: int, step: int) -> float:
    return 10.0 + (seed * 7 + step) % 40


def test_a_namespace_written_before_last_run_keys_keeps_its_latest_run(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Fires recorded by a jobctl that kept no last_run key: the latest run is found from
    the fire records, so the metric shows it and pruning keeps its record, as SQLite does."""
    store = RedisStore(redis_server.url(namespace_for(tmp_path)))
    try:
        new = NewJob(job="task", payload={}, schedule="s", fire_time=100.0)
        store.record_fire("s", 100.0, new, 100.0)
        store.record_fire("s", 200.0, None, 200.0, reason="disabled")
        store._client.delete(store._key("last_run", "s"))  # as an older jobctl left it
        assert store.last_runs(["s"]) == {"s": 100.0}
        store._client.delete(store._key("last_run", "s"))
        assert store.prune_fires(1000.0) == 0  # the run at 100 is the latest: kept
        assert store.last_runs(["s"]) == {"s": 100.0}
        assert store.last_fires()["s"][0].fire_time == 200.0
    finally:
        store.close()


def test_a_namespace_written_before_last_success_keys_finds_its_last_success(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Runs that succeeded under a jobctl that kept no sched_succeeded: the last success is
    found from the schedule's newest fires, shown, and kept by a prune, as SQLite does."""
    store = RedisStore(redis_server.url(namespace_for(tmp_path)))
    try:
        ids = []
        for at in (100.0, 200.0):
            fired = store.record_fire("s", at, NewJob(job="task", payload={}, schedule="s"), at)
            assert fired is not None and fired.job_id is not None
            ids.append(fired.job_id)
            (claim,) = store.claim("w", None, at, 30.0)
            store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], at + 5)
        store.record_fire("s", 300.0, None, 300.0, reason="paused")
        for key in ("sched_succeeded", "sched_succeeded_id"):  # as an older jobctl left it
            store._client.delete(store._key(key))
        assert store.last_successes(["s", "other"]) == {"s": 205.0}
        assert store.delete_jobs(states=[State.SUCCEEDED]) == []
        assert store.get(ids[0]) is None and store.get(ids[1]) is not None
        assert store._client.hget(store._key("sched_succeeded_id"), "s") == str(ids[1])
        assert store.last_successes(["s"]) == {"s": 205.0}
    finally:
        store.close()


def test_holds_left_behind_by_a_release_that_lets_go_elsewhere_are_not_obeyed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """In a rolling upgrade a worker of the previous release may end a cancelled attempt
    without letting go of its key and schedule entry (that release let go at the cancel).
    Such an entry no longer belongs to a holding job: enqueue and the overlap rule drop it."""
    store = RedisStore(redis_server.url(namespace_for(tmp_path)))
    try:
        store.record_fire(
            "s", T0, NewJob(job="j", payload={}, key="k", schedule="s"), T0, overlap="skip"
        )
        (claim,) = store.claim("w", None, T0, 30.0)
        store.cancel([claim.job.id], T0 + 1)
        client = store._client  # what the previous release's finish did: the lease alone
        client.hdel(store._key("job", str(claim.job.id)), "worker", "lease_token")
        client.hdel(store._key("job", str(claim.job.id)), "lease_expires_at")
        (again,) = store.enqueue([NewJob(job="j", payload={}, key="k")], T0 + 2)
        assert again.created
        fired = store.record_fire(
            "s", T0 + 60, NewJob(job="j", payload={}, schedule="s"), T0 + 60, overlap="skip"
        )
        assert fired is not None and fired.status == "enqueued"
    finally:
        store.close()


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


def test_a_claim_reads_only_the_queues_with_ready_or_due_jobs(tmp_path: Path) -> None:
    """Beside 300 queues that each hold only a delayed job, a claim and a worker's next_due
    read the namespace's due set and the queues holding queued jobs: each claim read every
    queue's due set (and next_due each one), so 1,000 jobs drained in 33 s instead of 3 s
    beside 5,000 such queues."""
    server = start_server(tmp_path / "own")
    store = RedisStore(server.url("cost"))
    try:
        later = [NewJob(job="t", payload={}, queue=f"q{i}", run_at=T0 + 3600) for i in range(300)]
        store.enqueue(later, T0)
        store.enqueue([NewJob(job="t", payload={}) for _ in range(3)], T0)
        store.enqueue([NewJob(job="t", payload={}, queue="soon", run_at=T0 + 5)], T0)

        def claim() -> None:
            claims.extend(store.claim("w", None, T0 + 10, 30.0))

        claims: list[Claim] = []
        assert commands_run(server, claim) < 60
        assert [c.job.queue for c in claims] == ["default"]
        assert commands_run(server, lambda: store.next_due(None)) < 5
        assert store.next_due(None) == T0 + 3600
        asked = ["q7", "soon", "default"]
        claims.clear()

        def claim_asked() -> None:
            claims.extend(store.claim("w", asked, T0 + 11, 30.0, limit=3))

        assert commands_run(server, claim_asked) < 100  # about 25 a job claimed
        assert [c.job.queue for c in claims] == ["default", "default", "soon"]
    finally:
        store.close()
        server.stop()


def test_a_namespace_of_schema_1_is_upgraded_on_open_and_claims_from_it(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A namespace written by a jobctl of schema 1 has no due set of its own nor
    ready_queues: the first store to open it builds them, once, and its delayed jobs become
    due and its queued jobs are claimed in the usual order."""
    url = redis_server.url(namespace_for(tmp_path))
    store = RedisStore(url)
    try:
        store.enqueue(
            [
                NewJob(job="t", payload={}, queue="a", run_at=T0 + 5),
                NewJob(job="t", payload={}, queue="b", priority=5),
                NewJob(job="t", payload={}, queue="c", run_at=T0 + 3600),
                NewJob(job="t", payload={}, queue="b"),
            ],
            T0,
        )
        client = store._client  # what schema 1 left: neither key, and its version
        client.delete(store._key("due"), store._key("ready_queues"))
        client.hset(store._key("meta"), "schema", "1")
    finally:
        store.close()
    upgraded = RedisStore(url)
    try:
        client = upgraded._client
        assert client.hget(upgraded._key("meta"), "schema") == "2"
        assert client.smembers(upgraded._key("ready_queues")) == {"b"}
        assert client.zcard(upgraded._key("due")) == 2
        assert upgraded.next_due(None) == T0 + 5
        claims = upgraded.claim("w", None, T0 + 10, 30.0, limit=4)
        assert [(c.job.queue, c.job.priority) for c in claims] == [("b", 5), ("b", 0), ("a", 0)]
        assert upgraded.next_due(None) == T0 + 3600
        assert not client.smembers(upgraded._key("ready_queues"))
    finally:
        upgraded.close()
    again = RedisStore(url)  # found upgraded: nothing is built twice
    try:
        assert again._client.zcard(again._key("due")) == 1
    finally:
        again.close()


@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_a_success_costs_the_same_whatever_the_number_of_jobs_its_dependent_runs_after(
    tmp_path: Path, order: str
) -> None:
    """Each of 200 jobs a job runs after ends, in id order or the reverse: the scripts run
    about as many commands as for 200 jobs none waits for. Each success read the state of
    every job its dependent runs after: 10,000 of them took run-worker 270 s instead of 13 s,
    each finish script blocking the server for up to 142 ms. (Here that would take some
    45,000 commands where 4,400 do.)"""
    server = start_server(tmp_path / "own")
    store = RedisStore(server.url("cost"))
    succeeded = AttemptResult(Outcome.SUCCEEDED, exit_code=0)
    try:

        def finish_all(name: str, fan_in: bool) -> int:
            firsts = [r.id for r in store.enqueue([NewJob(job=name, payload={})] * 200, T0)]
            if fan_in:
                store.enqueue([NewJob(job="fan_in", payload={}, after=tuple(firsts))], T0)
            claims = store.claim("w", None, T0 + 1, 30.0, limit=200)
            if order == "reversed":
                claims.reverse()

            def finish() -> None:
                for start in range(0, len(claims), 50):
                    store.finish([Finish(c, succeeded) for c in claims[start : start + 50]], T0 + 2)

            return commands_run(server, finish)

        plain = finish_all("plain", fan_in=False)
        fan_in = finish_all("before", fan_in=True)
        assert fan_in < plain * 2, f"{fan_in} commands, {plain} without the job after them"
        (waited,) = store.list_jobs(JobFilter(job="fan_in"))
        assert waited.state == State.QUEUED and waited.run_at == T0 + 2
    finally:
        store.close()
        server.stop()
