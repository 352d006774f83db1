"""The storage contract: every store must behave exactly like this.

Parametrized over store factories; a new store (Redis) adds itself to STORES and must pass
unchanged. Times are explicit arguments, so nothing here sleeps.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobctl.config import Config, parse_config
from jobctl.errors import KeyHeldByAnother, StoreError
from jobctl.models import AttemptResult, JobEdit, JobFilter, NewJob, Outcome, Rate, State
from jobctl.observe.events import EventLog
from jobctl.scheduler import Scheduler, resume_schedule
from jobctl.store import Finish, Store
from jobctl.store.sqlite import SqliteStore


def durations(store: Store, since: float) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """(queue, job) -> (run times, wait times) of store.attempt_times(since), every one."""
    found: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for queue, job, run, wait in store.attempt_times(since):
        runs, waits = found.setdefault((queue, job), ([], []))
        if run is not None:
            runs.append(run)
        if wait is not None:
            waits.append(wait)
    return found


T0 = 1_800_000_000.0
LEASE = 30.0

StoreFactory = Callable[[Path], Store]


def _sqlite(root: Path) -> Store:
    return SqliteStore(root / "contract.db")


def _redis(root: Path) -> Store:
    """A namespace of its own on the session's private redis-server (tests/redis_server.py)."""
    from redis_server import current, namespace_for

    from jobctl.store.redis import RedisStore

    return RedisStore(current().url(namespace_for(root)))


STORES: dict[str, StoreFactory] = {"sqlite": _sqlite, "redis": _redis}


@pytest.fixture(params=sorted(STORES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    opened: list[Store] = []
    if request.param == "redis":
        request.getfixturevalue("redis_server")  # started once per session; skips without it
    factory = STORES[request.param]

    def make() -> Store:
        store = factory(tmp_path)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


def job(name: str = "j", **kwargs: object) -> NewJob:
    return NewJob(job=name, payload=kwargs.pop("payload", {}), **kwargs)  # type: ignore[arg-type]


def ok() -> AttemptResult:
    return AttemptResult(Outcome.SUCCEEDED, exit_code=0)


def failed(code: int = 1) -> AttemptResult:
    return AttemptResult(Outcome.FAILED, exit_code=code, error=f"exit code {code}")


# -- enqueue -----------------------------------------------------------------------------------


def test_a_store_says_whether_opening_it_made_it(make_store: Callable[[], Store]) -> None:
    # `enqueue` says when it made its database: no worker can be serving one that was not there.
    first = make_store()
    assert first.created is True
    assert make_store().created is False


def test_enqueue_returns_increasing_ids_and_stores_fields(store: Store) -> None:
    results = store.enqueue([job(payload={"a": "é"}), job(priority=5, queue="q")], T0)
    assert [r.created for r in results] == [True, True]
    assert results[0].id < results[1].id
    first = store.get(results[0].id)
    assert first is not None
    assert first.state == State.QUEUED
    assert first.payload == {"a": "é"}
    assert first.run_at == T0
    second = store.get(results[1].id)
    assert second is not None and second.queue == "q" and second.priority == 5


def test_future_jobs_are_scheduled(store: Store) -> None:
    (r,) = store.enqueue([job(run_at=T0 + 60)], T0)
    got = store.get(r.id)
    assert got is not None and got.state == State.SCHEDULED


def test_unique_key_returns_the_active_job(store: Store) -> None:
    (first,) = store.enqueue([job(key="k")], T0)
    (again,) = store.enqueue([job(key="k")], T0)
    assert again.id == first.id and again.created is False
    # Within one batch too.
    batch = store.enqueue([job(key="x"), job(key="x")], T0)
    assert batch[0].created and not batch[1].created and batch[0].id == batch[1].id
    # Once the job is finished, the key is free again.
    (claim,) = store.claim("w", None, T0, LEASE)
    store.finish([Finish(claim, ok())], T0 + 1)
    (later,) = store.enqueue([job(key="k")], T0 + 2)
    assert later.created and later.id != first.id


def test_a_key_held_by_a_job_of_another_type_or_queue_refuses_the_whole_call(
    store: Store,
) -> None:
    """Its holder's id is not the new job's: the call stores nothing, not even its other
    jobs (a batch is all or nothing), and names the holder. A holder of the same type and
    queue stays the idempotent answer."""
    (rec,) = store.enqueue([job("rec", key="k", run_at=T0 + 3600)], T0)
    unlike = [  # the calls, and the place of the job refused in each
        ([job("rec", key="k"), job("ok", key="k"), job("ok")], 1),  # another job type
        ([job("ok"), job("rec", key="k", queue="other")], 1),  # another queue
    ]
    for jobs, index in unlike:
        with pytest.raises(KeyHeldByAnother) as refused:
            store.enqueue(jobs, T0, refuse_unlike=True)
        assert (refused.value.key, refused.value.index, refused.value.holder) == (
            "k",
            index,
            rec.id,
        )
        assert [j.id for j in store.list_jobs(JobFilter(limit=None))] == [rec.id]
    # An earlier job of the same call unlike it holds the key too.
    with pytest.raises(KeyHeldByAnother) as refused:
        store.enqueue([job("ok", key="n"), job("ok"), job("rec", key="n")], T0, refuse_unlike=True)
    assert (refused.value.index, refused.value.holder, refused.value.holder_index) == (2, None, 0)
    assert [j.id for j in store.list_jobs(JobFilter(limit=None))] == [rec.id]
    # A job cancelled while running holds its key while its process stops: unlike, refused.
    (running,) = store.enqueue([job("run", key="s")], T0)
    store.claim("w", None, T0, LEASE)
    store.cancel([running.id], T0 + 1)
    with pytest.raises(KeyHeldByAnother):
        store.enqueue([job("ok", key="s")], T0 + 2, refuse_unlike=True)
    same = store.enqueue([job("rec", key="k"), job("ok")], T0, refuse_unlike=True)
    assert same[0].id == rec.id and not same[0].created and same[1].created
    # Without refuse_unlike (a retry's), any holder is the answer, as before.
    (held,) = store.enqueue([job("ok", key="k")], T0)
    assert (held.id, held.created) == (rec.id, False)


def test_a_refused_batch_names_its_first_fault_in_line_order(store: Store) -> None:
    """A batch with a key held by an unlike job and an `after` naming no job is refused for
    whichever comes first in it, as a caller reading the batch line by line would find it."""
    from jobctl.errors import UsageError

    (rec,) = store.enqueue([job("rec", key="k", run_at=T0 + 3600)], T0)
    with pytest.raises(KeyHeldByAnother) as refused:
        store.enqueue([job("ok", key="k"), job("ok", after=(999,))], T0, refuse_unlike=True)
    assert (refused.value.index, refused.value.holder) == (0, rec.id)
    with pytest.raises(KeyHeldByAnother) as refused:  # held by an earlier line of the call
        store.enqueue(
            [job("ok", key="n"), job("rec", key="n"), job("ok", after=(999,))],
            T0,
            refuse_unlike=True,
        )
    assert (refused.value.index, refused.value.holder_index) == (1, 0)
    with pytest.raises(UsageError, match=r"^--after 999: there is no job 999$"):
        store.enqueue([job("ok", after=(999,)), job("ok", key="k")], T0, refuse_unlike=True)
    assert [j.id for j in store.list_jobs(JobFilter(limit=None))] == [rec.id]


def test_exec_jobs_hold_a_key_alike_only_with_the_same_command_and_cwd(store: Store) -> None:
    """Every --exec job's type is "exec": one running another command (or the same command in
    another directory) counted as alike, and its id answered for a job never stored."""
    deploy = {"command": ["echo", "deploy-prod"], "cwd": "/srv"}
    (holder,) = store.enqueue([job("exec", key="k", run_at=T0 + 3600, **deploy)], T0)
    for unlike in ({"command": ["echo", "run-tests"], "cwd": "/srv"}, deploy | {"cwd": "/tmp"}):
        with pytest.raises(KeyHeldByAnother) as refused:
            store.enqueue([job("exec", key="k", **unlike)], T0, refuse_unlike=True)
        assert refused.value.holder == holder.id
        with pytest.raises(KeyHeldByAnother) as refused:  # an earlier job of the same call
            store.enqueue(
                [job("exec", key="n", **deploy), job("exec", key="n", **unlike)],
                T0,
                refuse_unlike=True,
            )
        assert (refused.value.index, refused.value.holder_index) == (1, 0)
    assert [j.id for j in store.list_jobs(JobFilter(limit=None))] == [holder.id]
    (same,) = store.enqueue([job("exec", key="k", **deploy)], T0, refuse_unlike=True)
    assert (same.id, same.created) == (holder.id, False)


def test_ids_are_never_reused_after_deletion(store: Store) -> None:
    (r,) = store.enqueue([job()], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    store.finish([Finish(claim, ok())], T0)
    store.delete_jobs(states=[State.SUCCEEDED])
    (again,) = store.enqueue([job()], T0)
    assert again.id > r.id


# -- claiming ----------------------------------------------------------------------------------


def test_claim_order_priority_then_run_at_then_fifo(store: Store) -> None:
    low = store.enqueue([job("low", priority=0)], T0)[0].id
    high_late = store.enqueue([job("hl", priority=9)], T0 + 1)[0].id
    high_early = store.enqueue([job("he", priority=9, run_at=T0 - 5)], T0 + 2)[0].id
    low2 = store.enqueue([job("low2", priority=0)], T0 + 3)[0].id
    order = [c.job.id for c in store.claim("w", None, T0 + 10, LEASE, limit=10)]
    assert order == [high_early, high_late, low, low2]


def test_delayed_jobs_wait_for_their_time_even_at_high_priority(store: Store) -> None:
    store.enqueue([job("later", priority=100, run_at=T0 + 60)], T0)
    (now_id,) = [r.id for r in store.enqueue([job("now")], T0)]
    (claim,) = store.claim("w", None, T0, LEASE)
    assert claim.job.id == now_id
    assert store.claim("w", None, T0 + 59, LEASE) == []
    assert store.next_due(None) == T0 + 60
    (late,) = store.claim("w", None, T0 + 60, LEASE)
    assert late.job.job == "later" and late.attempt == 1


def test_claim_respects_queues_and_pause(store: Store) -> None:
    store.enqueue([job("a", queue="a"), job("b", queue="b")], T0)
    (claim,) = store.claim("w", ["b"], T0, LEASE, limit=5)
    assert claim.job.job == "b"
    store.set_paused("a", True)
    assert store.claim("w", None, T0, LEASE) == []
    store.set_paused("a", False)
    (claim,) = store.claim("w", None, T0, LEASE)
    assert claim.job.job == "a"


def test_a_capped_queue_has_no_more_jobs_leased_than_its_cap(store: Store) -> None:
    """[queues.NAME] max_running: every worker's leases count, a job cancelled while its
    process stops among them; other queues take the slots a capped one leaves."""
    store.enqueue([job("s", queue="slow") for _ in range(4)], T0)
    store.enqueue([job("f", queue="fast", priority=-1) for _ in range(4)], T0)
    caps = {"slow": 2}
    first = store.claim("w1", None, T0, LEASE, limit=3, caps=caps)
    assert [c.job.queue for c in first] == ["slow", "slow", "fast"]
    second = store.claim("w2", ["slow"], T0, LEASE, limit=3, caps=caps)
    assert second == []  # two of slow hold leases already: none for another worker
    store.cancel([first[0].job.id], T0)  # still stopping: it holds its lease
    assert store.claim("w2", ["slow"], T0, LEASE, limit=3, caps=caps) == []
    _, claims = store.finish_and_claim(
        [Finish(first[0], ok()), Finish(first[1], ok())], T0 + 1, "w1", None, LEASE, 2, caps=caps
    )
    assert [c.job.queue for c in claims] == ["slow", "slow"]
    others = store.claim("w2", None, T0 + 1, LEASE, limit=5, caps=caps)
    assert [c.job.queue for c in others] == ["fast"] * 3
    # A cap on another queue takes as before.
    store.enqueue([job("f", queue="fast") for _ in range(2)], T0 + 2)
    assert len(store.claim("w3", None, T0 + 2, LEASE, limit=5, caps={"other": 1})) == 2


def test_a_finish_with_no_slot_free_moves_no_job_that_came_due(store: Store) -> None:
    """A worker with no slot free reports its ended jobs and claims nothing, in a capped
    queue too (where the store looks for a slot left that idle workers should hear of): a
    job that came due meanwhile stays scheduled until a claim takes it."""
    store.enqueue([job("a", queue="q")], T0)
    (later,) = store.enqueue([job("b", queue="q", run_at=T0 + 0.5)], T0)
    (claim,) = store.claim("w", None, T0, LEASE, caps={"q": 2})
    states, claims = store.finish_and_claim(
        [Finish(claim, ok())], T0 + 1, "w", None, LEASE, 0, caps={"q": 2}
    )
    assert (states, claims) == ([State.SUCCEEDED], [])
    got = store.get(later.id)
    assert got is not None and got.state == State.SCHEDULED
    (taken,) = store.claim("w", None, T0 + 1, LEASE, caps={"q": 2})
    assert taken.job.id == later.id


# -- [queues.NAME] rate ------------------------------------------------------------------------

MAIL = {"mail": Rate(3, 60.0)}


def test_a_rate_lets_n_starts_into_any_window_then_more_as_it_slides(store: Store) -> None:
    """rate = "3/1m": three starts at T0, T0+10 and T0+20; none more before T0+60, when the
    first leaves the window (it counts while `start > now - window`), the next at T0+70."""
    store.enqueue([job("m", queue="mail") for _ in range(6)], T0)
    assert len(store.claim("w", None, T0, LEASE, limit=1, rates=MAIL)) == 1
    assert len(store.claim("w", None, T0 + 10, LEASE, limit=1, rates=MAIL)) == 1
    assert len(store.claim("w", None, T0 + 20, LEASE, limit=5, rates=MAIL)) == 1
    assert store.claim("w", None, T0 + 30, LEASE, limit=5, rates=MAIL) == []
    assert store.claim("w", None, T0 + 59.999, LEASE, limit=5, rates=MAIL) == []
    assert len(store.claim("w", None, T0 + 60, LEASE, limit=5, rates=MAIL)) == 1
    assert store.claim("w", None, T0 + 69, LEASE, limit=5, rates=MAIL) == []
    assert len(store.claim("w", None, T0 + 70, LEASE, limit=5, rates=MAIL)) == 1
    # A burst after a quiet window: three at once, and the jobs left over stay queued.
    store.enqueue([job("m", queue="mail") for _ in range(3)], T0 + 200)
    burst = store.claim("w", None, T0 + 200, LEASE, limit=5, rates=MAIL)
    assert len(burst) == 3
    (counts,) = store.queue_counts(T0 + 200)
    assert counts.counts[State.QUEUED] == 1
    # Without its rate (a worker of an earlier jobctl) the queue's jobs start as before.
    assert len(store.claim("old", None, T0 + 201, LEASE, limit=5)) == 1


def test_a_rate_counts_every_worker_s_starts_and_a_raised_one_applies_at_once(
    make_store: Callable[[], Store],
) -> None:
    """Two workers (each its own connection) share the window; a rate raised (a reload)
    lets more start at the very next claim, a lowered one fewer."""
    first, second = make_store(), make_store()
    first.enqueue([job("m", queue="mail") for _ in range(8)], T0)
    assert len(first.claim("w1", ["mail"], T0, LEASE, limit=2, rates=MAIL)) == 2
    assert len(second.claim("w2", ["mail"], T0 + 1, LEASE, limit=2, rates=MAIL)) == 1
    assert first.claim("w1", ["mail"], T0 + 2, LEASE, limit=2, rates=MAIL) == []
    raised = {"mail": Rate(5, 60.0)}
    assert len(second.claim("w2", ["mail"], T0 + 3, LEASE, limit=5, rates=raised)) == 2
    assert first.claim("w1", ["mail"], T0 + 4, LEASE, limit=5, rates=raised) == []
    # Lowered to 2 per 10s: the five starts of the last 10 s hold it until T0+10 has passed
    # three of them (T0, T0, T0+1), then T0+13 lets one more (the ones at T0+3 go).
    lowered = {"mail": Rate(2, 10.0)}
    assert second.claim("w2", ["mail"], T0 + 10, LEASE, limit=5, rates=lowered) == []
    assert first.next_rate_start(["mail"], lowered, T0 + 10) == T0 + 13
    assert len(first.claim("w1", ["mail"], T0 + 13, LEASE, limit=5, rates=lowered)) == 2


def test_a_rate_counts_a_retry_s_attempt_and_a_job_given_back_and_started_again(
    store: Store,
) -> None:
    """Starts are attempts: a retry's next attempt counts, and so does a job given back by
    a shutdown (its attempt not counted) when it starts again."""
    (first,) = (r.id for r in store.enqueue([job("m", queue="mail", max_attempts=3)], T0))
    store.enqueue([job("m", queue="mail", priority=-1)], T0)  # behind it, whatever its run_at
    rates = {"mail": Rate(2, 60.0)}
    (c1,) = store.claim("w", None, T0, LEASE, limit=1, rates=rates)
    assert c1.job.id == first
    store.finish([Finish(c1, failed(), retry_at=T0 + 1)], T0 + 0.5)
    (c2,) = store.claim("w", None, T0 + 1, LEASE, limit=5, rates=rates)
    assert (c2.job.id, c2.attempt) == (first, 2)
    assert store.claim("w", None, T0 + 2, LEASE, limit=5, rates=rates) == []  # the other waits
    assert store.release([c2], T0 + 3, "worker shutdown") == 1
    assert store.claim("w", None, T0 + 4, LEASE, limit=5, rates=rates) == []
    again = store.claim("w", None, T0 + 60, LEASE, limit=5, rates=rates)
    assert [(c.job.id, c.attempt) for c in again] == [(first, 2)]  # the older start left
    assert store.claim("w", None, T0 + 60.5, LEASE, limit=5, rates=rates) == []
    assert len(store.claim("w", None, T0 + 61, LEASE, limit=5, rates=rates)) == 1


def test_a_rate_leaves_other_queues_their_slots_and_holds_with_max_running(
    store: Store,
) -> None:
    """Jobs over the rate stay queued while the claim fills its slots from other queues;
    max_running and the rate apply together, whichever is the tighter."""
    store.enqueue([job("m", queue="mail", priority=5) for _ in range(5)], T0)
    store.enqueue([job("f", queue="fast") for _ in range(5)], T0)
    claims = store.claim("w", None, T0, LEASE, limit=4, rates=MAIL, caps={"mail": 2})
    assert sorted(c.job.queue for c in claims) == ["fast", "fast", "mail", "mail"]
    mail = [c for c in claims if c.job.queue == "mail"]
    # The cap holds the third start the rate allows, until a mail job ends.
    assert store.claim("w", ["mail"], T0 + 1, LEASE, limit=4, rates=MAIL, caps={"mail": 2}) == []
    _, more = store.finish_and_claim(
        [Finish(c, ok()) for c in mail], T0 + 2, "w", None, LEASE, 4, rates=MAIL, caps={"mail": 2}
    )
    assert sorted(c.job.queue for c in more) == ["fast", "fast", "fast", "mail"]
    # Room under the cap again, but the window is full: only the rate holds it now.
    _, more = store.finish_and_claim(
        [Finish(c, ok()) for c in more], T0 + 3, "w", None, LEASE, 4, rates=MAIL, caps={"mail": 2}
    )
    assert more == []
    assert store.next_rate_start(None, MAIL, T0 + 3) == T0 + 60
    assert len(store.claim("w", None, T0 + 60, LEASE, limit=4, rates=MAIL, caps={"mail": 2})) == 2


def test_the_next_rate_start_is_when_the_window_lets_one_in(store: Store) -> None:
    """An idle worker sleeps until then: told only of a queue its rate holds back with a
    job ready (not paused, not empty, not one the worker does not serve), always after now,
    and exact: a claim at that instant starts a job, one a moment before does not."""
    rates = {"mail": Rate(2, 1.1), "news": Rate(1, 30.0)}
    assert store.next_rate_start(None, rates, T0) is None  # nothing ever started
    store.enqueue([job("m", queue="mail") for _ in range(5)], T0)
    start = T0 + 0.3
    assert len(store.claim("w", None, start, LEASE, limit=1, rates=rates)) == 1
    assert store.next_rate_start(None, rates, start) is None  # room in the window
    assert len(store.claim("w", None, start, LEASE, limit=5, rates=rates)) == 1
    opens = store.next_rate_start(None, rates, start + 0.1)
    assert opens is not None and start + 1.1 <= opens <= start + 1.1 + 1e-6
    assert store.next_rate_start(["mail", "other"], rates, start + 0.1) == opens
    assert store.next_rate_start(["other"], rates, start + 0.1) is None
    assert store.next_rate_start(None, {"news": Rate(1, 30.0)}, start + 0.1) is None
    assert store.claim("w", None, opens - 0.001, LEASE, limit=5, rates=rates) == []
    assert len(store.claim("w", None, opens, LEASE, limit=5, rates=rates)) == 2
    store.set_paused("mail", True)
    assert store.next_rate_start(None, rates, opens) is None  # a pause holds it, not the rate
    store.set_paused("mail", False)
    assert store.next_rate_start(None, rates, opens) == pytest.approx(opens + 1.1, abs=1e-6)
    # Nothing left to start: no wake-up for the rate.
    store.claim("w", None, opens + 2, LEASE, limit=5, rates=rates)
    assert store.next_rate_start(None, rates, opens + 2) is None


def test_rate_starts_recorded_before_the_clock_stepped_back_hold_a_queue_one_window_at_most(
    store: Store,
) -> None:
    """Two starts at T0+3600, then the clock is set back an hour: they count as made at the
    first claim after, T0, so that the queue starts again at T0+60, not at T0+3660."""
    store.enqueue([job("m", queue="mail") for _ in range(5)], T0)
    rates = {"mail": Rate(2, 60.0)}
    assert len(store.claim("w", None, T0 + 3600, LEASE, limit=5, rates=rates)) == 2
    assert store.next_rate_start(None, rates, T0) == T0 + 60
    assert store.claim("w", None, T0, LEASE, limit=5, rates=rates) == []
    assert store.next_rate_start(None, rates, T0 + 30) == T0 + 60  # counted as made at T0
    assert store.claim("w", None, T0 + 59, LEASE, limit=5, rates=rates) == []
    assert len(store.claim("w", None, T0 + 60, LEASE, limit=5, rates=rates)) == 2


def test_a_claim_whose_clock_was_read_before_another_s_moves_no_start_back(
    make_store: Callable[[], Store],
) -> None:
    """rate = "2/10s". Worker A reads its clock at T0+0.3 and takes two starts; worker B
    read its own at T0 but got the lock after A (SQLite's wait, a Redis round trip): B takes
    none, and A's starts stay at T0+0.3, so none starts again before T0+10.3. B, with one
    start left to it, records its start beside A's, not behind: starts are recorded in
    order, and one less than RATE_CLOCK_STEP ahead is no clock step."""
    first, second = make_store(), make_store()
    first.enqueue([job("m", queue="mail") for _ in range(8)], T0)
    rates = {"mail": Rate(2, 10.0)}
    assert len(first.claim("A", None, T0 + 0.3, LEASE, limit=4, rates=rates)) == 2
    assert second.claim("B", None, T0, LEASE, limit=4, rates=rates) == []
    assert first.claim("C", None, T0 + 10.1, LEASE, limit=4, rates=rates) == []
    assert first.next_rate_start(None, rates, T0 + 10.1) == T0 + 10.3
    assert len(first.claim("C", None, T0 + 10.3, LEASE, limit=4, rates=rates)) == 2
    # One start at T0+30.3 by A; B, its clock read at T0+30, takes the second, recorded then.
    assert len(first.claim("A", None, T0 + 30.3, LEASE, limit=1, rates=rates)) == 1
    assert len(second.claim("B", None, T0 + 30, LEASE, limit=4, rates=rates)) == 1
    assert first.claim("C", None, T0 + 40.2, LEASE, limit=4, rates=rates) == []
    assert len(first.claim("C", None, T0 + 40.3, LEASE, limit=4, rates=rates)) == 2


def test_rate_starts_a_small_clock_step_back_left_ahead_hold_a_queue_window_plus_step(
    store: Store,
) -> None:
    """Under RATE_CLOCK_STEP (60 s) a start ahead of `now` is taken as another worker's,
    not as a clock step: set back 30 s after two starts, the queue waits the window and
    the step (T0+30+60), no more."""
    store.enqueue([job("m", queue="mail") for _ in range(5)], T0)
    rates = {"mail": Rate(2, 60.0)}
    assert len(store.claim("w", None, T0 + 30, LEASE, limit=5, rates=rates)) == 2
    assert store.claim("w", None, T0, LEASE, limit=5, rates=rates) == []
    assert store.next_rate_start(None, rates, T0) == T0 + 90
    assert store.claim("w", None, T0 + 89, LEASE, limit=5, rates=rates) == []
    assert len(store.claim("w", None, T0 + 90, LEASE, limit=5, rates=rates)) == 2


def test_a_rate_limited_claim_that_fails_leaves_the_next_ones_their_rate(store: Store) -> None:
    """The first claim with a rate fails (a full disk: here its log path): on SQLite its
    transaction, and the rate log it made there, are rolled back; the next claims make it
    again and keep the rate, rather than fail on a table taken for made."""
    store.enqueue([job("m", queue="mail") for _ in range(4)], T0)
    rates = {"mail": Rate(2, 60.0)}

    def full(job_id: int, run: int) -> str:
        raise StoreError("database q.db: database or disk is full")

    with pytest.raises(StoreError):
        store.claim("w", None, T0, LEASE, limit=1, log_path=full, rates=rates)
    # (Redis runs the claim before it asks for the log paths: the job and its start stay.)
    assert len(store.claim("w", None, T0 + 1, LEASE, limit=5, rates=rates)) >= 1
    assert store.claim("w", None, T0 + 3, LEASE, limit=5, rates=rates) == []
    assert store.next_rate_start(None, rates, T0 + 3) is not None


def test_a_window_lengthened_by_a_reload_counts_the_starts_it_covers(store: Store) -> None:
    """rate = "2/50ms" (shorter than a config allows, so that Redis, which expires its log
    by its own clock, has its chance to drop it), two starts; then, the window lengthened to
    a minute, they still hold the queue on both stores, until a minute after them."""
    store.enqueue([job("m", queue="mail") for _ in range(4)], T0)
    assert len(store.claim("w", None, T0, LEASE, limit=5, rates={"mail": Rate(2, 0.05)})) == 2
    time.sleep(0.1)
    longer = {"mail": Rate(2, 60.0)}
    assert store.claim("w", None, T0 + 7, LEASE, limit=5, rates=longer) == []
    assert store.next_rate_start(None, longer, T0 + 7) == T0 + 60
    assert len(store.claim("w", None, T0 + 60, LEASE, limit=5, rates=longer)) == 2


def test_concurrent_claims_never_share_a_job(make_store: Callable[[], Store]) -> None:
    make_store().enqueue([job() for _ in range(400)], T0)
    seen: list[int] = []
    lock = threading.Lock()

    def drain(name: str) -> None:
        own = make_store()
        while True:
            claims = own.claim(name, None, T0, LEASE, limit=3)
            if not claims:
                return
            with lock:
                seen.extend(c.job.id for c in claims)
            own.finish([Finish(c, ok()) for c in claims], T0)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 400 and len(set(seen)) == 400


# -- finishing ---------------------------------------------------------------------------------


def test_failure_with_attempts_left_is_scheduled_then_dead(store: Store) -> None:
    (r,) = store.enqueue([job(max_attempts=2)], T0)
    (c1,) = store.claim("w", None, T0, LEASE)
    assert store.finish([Finish(c1, failed(3), retry_at=T0 + 5)], T0) == [State.SCHEDULED]
    got = store.get(r.id)
    assert got is not None and got.state == State.SCHEDULED and got.run_at == T0 + 5
    (c2,) = store.claim("w", None, T0 + 5, LEASE)
    assert c2.attempt == 2
    assert store.finish([Finish(c2, failed(4))], T0 + 6) == [State.DEAD]
    dead = store.get(r.id)
    assert dead is not None and dead.exit_code == 4 and dead.error == "exit code 4"
    history = store.attempts(r.id)
    assert [(a.attempt, a.outcome) for a in history] == [
        (1, Outcome.FAILED),
        (2, Outcome.FAILED),
    ]


def test_finish_and_claim_records_results_and_fills_the_freed_slots(store: Store) -> None:
    first, second, third = (r.id for r in store.enqueue([job(), job(), job()], T0))
    (c1,) = store.claim("w", None, T0, LEASE)
    states, claims = store.finish_and_claim([Finish(c1, ok())], T0 + 1, "w", None, LEASE, 2)
    assert states == [State.SUCCEEDED]
    assert [c.job.id for c in claims] == [second, third]
    assert all(c.job.state == State.RUNNING and c.attempt == 1 for c in claims)
    states, claims = store.finish_and_claim(
        [Finish(c, ok()) for c in claims], T0 + 2, "w", None, LEASE, 0
    )
    assert states == [State.SUCCEEDED, State.SUCCEEDED] and claims == []
    assert {j.state for j in store.get_many([first, second, third]).values()} == {State.SUCCEEDED}


def test_a_late_writer_changes_nothing(store: Store) -> None:
    (r,) = store.enqueue([job(max_attempts=3)], T0)
    (stale,) = store.claim("w1", None, T0, LEASE)
    rescued = store.rescue_expired(T0 + LEASE + 1)
    assert [j.id for j in rescued] == [r.id]
    requeued = store.get(r.id)  # queued again, as a released job is: it has not started
    assert requeued is not None and (requeued.state, requeued.started_at) == (State.QUEUED, None)
    (fresh,) = store.claim("w2", None, T0 + LEASE + 1, LEASE)
    assert fresh.attempt == 2
    # The first worker comes back and reports: ignored, the job stays with w2.
    assert store.finish([Finish(stale, ok())], T0 + LEASE + 2) == [None]
    assert store.renew([stale], T0 + 100) == set()
    got = store.get(r.id)
    assert got is not None and got.state == State.RUNNING and got.worker == "w2"
    assert store.finish([Finish(fresh, ok())], T0 + LEASE + 3) == [State.SUCCEEDED]
    outcomes = [a.outcome for a in store.attempts(r.id)]
    assert outcomes == [Outcome.LOST, Outcome.SUCCEEDED]


def test_lost_attempt_on_last_try_goes_dead(store: Store) -> None:
    (r,) = store.enqueue([job(max_attempts=1)], T0)
    store.claim("w", None, T0, LEASE)
    (dead,) = store.rescue_expired(T0 + LEASE + 3600)
    assert dead.state == State.DEAD
    got = store.get(r.id)
    assert got is not None and got.state == State.DEAD and "lease expired" in (got.error or "")
    # The lost attempt ended when its lease ran out, not an hour later when a worker looked:
    # its run time is what stats and the run-time histogram count.
    (lost,) = store.attempts(r.id)
    assert (lost.outcome, lost.finished_at) == (Outcome.LOST, T0 + LEASE)


def test_wake_workers_reaches_a_listening_worker(make_store: Callable[[], Store]) -> None:
    """`jobctl reload` wakes the idle workers through the store, whichever it is."""
    import select

    worker_side, reloader = make_store(), make_store()
    listener = worker_side.open_listener("w1")
    assert listener is not None
    try:
        listener.drain()
        reloader.wake_workers()
        readable, _, _ = select.select([listener.fileno()], [], [], 10)
        assert readable == [listener.fileno()]
    finally:
        listener.close()


def test_renew_keeps_a_lease_alive(store: Store) -> None:
    store.enqueue([job()], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    assert store.renew([claim], T0 + 2 * LEASE) == {claim.job.id}
    assert store.rescue_expired(T0 + LEASE + 1) == []


def test_release_does_not_count_the_attempt(store: Store) -> None:
    (r,) = store.enqueue([job()], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    assert store.release([claim], T0 + 1, "shutdown") == 1
    got = store.get(r.id)
    assert got is not None and got.state == State.QUEUED and got.attempts == 0
    (again,) = store.claim("w", None, T0 + 2, LEASE)
    assert again.attempt == 1
    assert [a.outcome for a in store.attempts(r.id)] == [Outcome.INTERRUPTED, None]


def test_release_records_the_log_as_the_attempt_left_it(store: Store) -> None:
    """The path named at the start stays unless the worker says how it ended: "" when the
    attempt wrote nothing, so nothing points at a file that was never made."""
    silent, talking, unknown = (r.id for r in store.enqueue([job(), job(), job()], T0))
    claims = store.claim("w", None, T0, LEASE, limit=3, log_path=lambda i, run: f"/l/{i}.{run}")
    by_id = {c.job.id: c for c in claims}
    ended = [
        by_id[silent]._replace(log_path=""),
        by_id[talking],
        by_id[unknown]._replace(log_path=None),
    ]
    assert store.release(ended, T0 + 1, "shutdown") == 3
    paths = {i: store.attempts(i)[0].log_path for i in (silent, talking, unknown)}
    assert paths == {silent: "", talking: f"/l/{talking}.1", unknown: f"/l/{unknown}.1"}


def test_release_records_how_each_process_ended(store: Store) -> None:
    """A worker's shutdown line said exit_code=143; the attempt kept none, and the error
    "worker shutdown" where the line said why."""
    by_term, by_kill, unknown = (r.id for r in store.enqueue([job(), job(), job()], T0))
    claims = {c.job.id: c for c in store.claim("w", None, T0, LEASE, limit=3)}
    ends = [
        AttemptResult(Outcome.INTERRUPTED, exit_code=143, error="stopped by worker shutdown"),
        AttemptResult(Outcome.INTERRUPTED, exit_code=137, signal=9, error="killed"),
        None,
    ]
    chosen = [claims[by_term], claims[by_kill], claims[unknown]]
    assert store.release(chosen, T0 + 1, "worker shutdown", ends) == 3
    seen = {
        i: (a.exit_code, a.signal, a.error)
        for i in (by_term, by_kill, unknown)
        for a in store.attempts(i)
    }
    assert seen == {
        by_term: (143, None, "stopped by worker shutdown"),
        by_kill: (137, 9, "killed"),
        unknown: (None, None, "worker shutdown"),
    }


# -- control -----------------------------------------------------------------------------------


def test_cancel_active_jobs_and_report_previous_states(store: Store) -> None:
    queued, running, done = (r.id for r in store.enqueue([job(), job(), job()], T0))
    claims = store.claim("w", None, T0, LEASE, limit=3)
    by_id = {c.job.id: c for c in claims}
    store.release([by_id[queued]], T0, "test")
    store.finish([Finish(by_id[done], ok())], T0)
    before = store.cancel([queued, running, done, 999_999], T0 + 1)
    assert before == {
        queued: State.QUEUED,
        running: State.RUNNING,
        done: State.SUCCEEDED,
        999_999: None,
    }
    states = {i: j.state for i, j in store.get_many([queued, running, done]).items()}
    assert states == {
        queued: State.CANCELLED,
        running: State.CANCELLED,
        done: State.SUCCEEDED,
    }
    # The running attempt's worker learns it at renewal, and its report keeps it cancelled.
    assert store.renew([by_id[running]], T0 + 100) == set()
    result = AttemptResult(Outcome.CANCELLED, error="cancelled")
    assert store.finish([Finish(by_id[running], result)], T0 + 2) == [State.CANCELLED]


def test_cancel_of_a_job_whose_worker_died_closes_its_attempt(store: Store) -> None:
    (r,) = store.enqueue([job()], T0)
    store.claim("w", None, T0, LEASE)
    store.cancel([r.id], T0 + 1)
    (attempt,) = store.attempts(r.id)
    assert attempt.finished_at is None  # its worker may still be stopping the process
    assert store.rescue_expired(T0 + LEASE + 1) == []  # nothing to requeue
    (attempt,) = store.attempts(r.id)
    assert attempt.outcome == Outcome.CANCELLED and attempt.finished_at == T0 + LEASE
    got = store.get(r.id)
    assert got is not None and got.state == State.CANCELLED and got.error == "cancelled"


def test_a_cancelled_job_has_no_exit_code_whatever_its_attempts_left(store: Store) -> None:
    """A job waiting for its retry carries its failed attempt's exit code; cancelled, it has
    none (as one cancelled while queued or running), and the attempt keeps it. The cancel
    leaves run_at alone."""
    waiting, again = (r.id for r in store.enqueue([job(max_attempts=3), job(max_attempts=3)], T0))
    claims = {c.job.id: c for c in store.claim("w", None, T0, LEASE, limit=2)}
    store.finish(
        [
            Finish(claims[waiting], failed(3), retry_at=T0 + 3600),
            Finish(claims[again], failed(4), retry_at=T0 + 5),
        ],
        T0 + 1,
    )
    (second,) = store.claim("w", None, T0 + 5, LEASE)  # its next attempt runs
    assert second.job.id == again
    before = store.get_many([waiting, again])
    assert before[waiting].state == State.SCHEDULED and before[waiting].exit_code == 3
    queued = store.enqueue([job()], T0 + 6)[0].id
    assert store.cancel([waiting, again, queued], T0 + 10) == {
        waiting: State.SCHEDULED,
        again: State.RUNNING,
        queued: State.QUEUED,
    }
    after = store.get_many([waiting, again, queued])
    assert {i: (j.state, j.exit_code) for i, j in after.items()} == {
        waiting: (State.CANCELLED, None),
        again: (State.CANCELLED, None),
        queued: (State.CANCELLED, None),
    }
    assert after[waiting].run_at == T0 + 3600
    assert [a.exit_code for a in store.attempts(waiting)] == [3]
    stopped = AttemptResult(Outcome.CANCELLED, error="cancelled", exit_code=143)
    assert store.finish([Finish(second, stopped)], T0 + 11) == [State.CANCELLED]
    assert store.get(again).exit_code is None  # type: ignore[union-attr]
    assert [a.exit_code for a in store.attempts(again)] == [4, 143]


def test_a_job_cancelled_while_running_holds_its_key_until_its_process_is_gone(
    store: Store,
) -> None:
    """Its process may still be stopping (kill_grace): a second job with the key, or a dead
    one retried, would run beside it. The key is let go when the worker reports the end."""
    (first,) = store.enqueue([job(key="k")], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    store.cancel([first.id], T0 + 1)
    (again,) = store.enqueue([job(key="k")], T0 + 2)
    assert again.id == first.id and not again.created
    store.enqueue([job(key="d", max_attempts=1)], T0)  # a dead job with the key, to retry
    (dead_claim,) = store.claim("w", None, T0, LEASE)
    store.finish([Finish(dead_claim, failed())], T0)
    (dying,) = store.enqueue([job(key="d")], T0 + 3)
    store.claim("w", None, T0 + 3, LEASE)
    store.cancel([dying.id], T0 + 4)
    assert store.dead_retry([dead_claim.job.id], None, T0 + 5) == []
    stopped = AttemptResult(Outcome.CANCELLED, error="cancelled")
    assert store.finish([Finish(claim, stopped)], T0 + 6) == [State.CANCELLED]
    (later,) = store.enqueue([job(key="k")], T0 + 7)
    assert later.created and later.id != first.id
    # A job cancelled before it ran lets its key go at once.
    (queued,) = store.enqueue([job(key="q")], T0)
    store.cancel([queued.id], T0 + 1)
    (fresh,) = store.enqueue([job(key="q")], T0 + 2)
    assert fresh.created


def test_a_cancelled_job_whose_worker_died_lets_its_key_go_at_rescue(store: Store) -> None:
    (first,) = store.enqueue([job(key="k")], T0)
    store.claim("w", None, T0, LEASE)
    store.cancel([first.id], T0 + 1)
    (again,) = store.enqueue([job(key="k")], T0 + 2)
    assert not again.created
    store.rescue_expired(T0 + LEASE + 1)
    (later,) = store.enqueue([job(key="k")], T0 + LEASE + 2)
    assert later.created


def test_a_run_cancelled_while_running_still_counts_for_overlap(store: Store) -> None:
    store.record_fire("s", T0, job(schedule="s"), T0, overlap="skip")
    (claim,) = store.claim("w", None, T0, LEASE)
    store.cancel([claim.job.id], T0 + 1)
    skipped = store.record_fire("s", T0 + 60, job(schedule="s"), T0 + 60, overlap="skip")
    assert skipped is not None and skipped.status == "skipped"
    pending = store.record_fire("s", T0 + 120, job(schedule="s"), T0 + 120, overlap="queue")
    assert pending is not None and pending.status == "pending"
    assert store.promote_pending("s", job(schedule="s"), T0 + 121) is None
    stopped = AttemptResult(Outcome.CANCELLED, error="cancelled")
    store.finish([Finish(claim, stopped)], T0 + 122)
    promoted = store.promote_pending("s", job(schedule="s"), T0 + 123)
    assert promoted is not None and promoted.fire_time == T0 + 120


@pytest.mark.parametrize(
    "end",
    [ok(), failed(), AttemptResult(Outcome.TIMEOUT, error="timeout")],
    ids=["exit-0", "failed", "timeout"],
)
def test_a_cancelled_attempt_lets_its_key_go_whatever_its_outcome(
    store: Store, end: AttemptResult
) -> None:
    """A process may exit 0 on SIGTERM, or end by itself as the cancel lands: the job stays
    cancelled, and the attempt's end lets its key and overlap guard go at once."""
    store.record_fire("s", T0, job(schedule="s", key="k"), T0, overlap="skip")
    (claim,) = store.claim("w", None, T0, LEASE)
    store.cancel([claim.job.id], T0 + 1)
    assert store.finish([Finish(claim, end)], T0 + 2) == [State.CANCELLED]
    got = store.get(claim.job.id)
    assert got is not None and got.state == State.CANCELLED and got.lease_expires_at is None
    (attempt,) = store.attempts(claim.job.id)
    assert attempt.outcome == end.outcome
    (later,) = store.enqueue([job(key="k")], T0 + 3)
    assert later.created
    fired = store.record_fire("s", T0 + 60, job(schedule="s"), T0 + 60, overlap="skip")
    assert fired is not None and fired.status == "enqueued"


def test_a_job_cancelled_during_a_shutdown_lets_its_key_go_when_released(store: Store) -> None:
    (first,) = store.enqueue([job(key="k")], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    store.cancel([first.id], T0 + 1)
    assert store.release([claim], T0 + 2, "worker shutdown") == 0
    got = store.get(first.id)
    assert got is not None and got.state == State.CANCELLED and got.lease_expires_at is None
    (later,) = store.enqueue([job(key="k")], T0 + 3)
    assert later.created


def test_renewal_keeps_a_stopping_job_s_key_past_its_first_lease(store: Store) -> None:
    """kill_grace may outlast the lease: the worker's renewals keep the lease (and key) of a
    job it is stopping, while telling it the job is no longer held."""
    (first,) = store.enqueue([job(key="k")], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    store.cancel([first.id], T0 + 1)
    assert store.renew([claim], T0 + 2 * LEASE) == set()
    assert store.rescue_expired(T0 + LEASE + 1) == []
    (again,) = store.enqueue([job(key="k")], T0 + LEASE + 1)
    assert again.id == first.id and not again.created
    # Pruning leaves a job whose process still stops alone.
    assert store.delete_jobs(states=[State.CANCELLED], finished_before=T0 + LEASE) == []
    assert store.get(first.id) is not None
    stopped = AttemptResult(Outcome.CANCELLED, error="cancelled")
    assert store.finish([Finish(claim, stopped)], T0 + LEASE + 2) == [State.CANCELLED]
    (later,) = store.enqueue([job(key="k")], T0 + LEASE + 3)
    assert later.created


def test_oldest_ready_counts_due_jobs_not_yet_promoted(store: Store) -> None:
    store.enqueue([job(run_at=T0 + 10)], T0)
    (counts,) = store.queue_counts(T0 + 5)
    assert counts.oldest_ready_at is None
    (counts,) = store.queue_counts(T0 + 20)
    assert counts.oldest_ready_at == T0 + 10


def test_dead_retry_resets_attempts_and_keeps_history(store: Store) -> None:
    (r,) = store.enqueue([job(max_attempts=1)], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    store.finish([Finish(claim, failed())], T0)
    assert store.dead_retry([r.id], None, T0 + 1) == [r.id]
    assert store.dead_retry([r.id], None, T0 + 1) == []  # no longer dead: nothing happens
    queued = store.get(r.id)  # it starts over: its last attempt's end is in its history
    assert queued is not None and queued.state == State.QUEUED
    assert (queued.exit_code, queued.error, queued.started_at, queued.finished_at) == (
        None,
        None,
        None,
        None,
    )
    (again,) = store.claim("w", None, T0 + 2, LEASE)
    assert again.attempt == 1
    store.finish([Finish(again, ok())], T0 + 3)
    assert [a.outcome for a in store.attempts(r.id)] == [Outcome.FAILED, Outcome.SUCCEEDED]


def test_dead_retry_all_by_job(store: Store) -> None:
    ids = [r.id for r in store.enqueue([job("a", max_attempts=1), job("b", max_attempts=1)], T0)]
    for claim in store.claim("w", None, T0, LEASE, limit=2):
        store.finish([Finish(claim, failed())], T0)
    assert store.dead_retry(None, "a", T0) == [ids[0]]


def test_delete_only_finished_jobs(store: Store) -> None:
    active, finished = (r.id for r in store.enqueue([job(), job()], T0))
    claims = store.claim("w", None, T0, LEASE, limit=2)
    for claim in claims:
        if claim.job.id == finished:
            store.finish([Finish(claim, ok())], T0)
    store.delete_jobs(states=[State.RUNNING, State.SUCCEEDED])
    assert store.get(active) is not None
    assert store.get(finished) is None
    assert store.attempts(finished) == []


def test_queue_counts_follow_every_transition(store: Store) -> None:
    store.enqueue([job(queue="q") for _ in range(3)], T0)
    store.enqueue([job(queue="q", run_at=T0 + 100)], T0)
    (claim,) = store.claim("w", ["q"], T0, LEASE)
    store.finish([Finish(claim, ok())], T0)
    (counts,) = store.queue_counts(T0)
    assert counts.queue == "q"
    assert counts.counts == {State.QUEUED: 2, State.SCHEDULED: 1, State.SUCCEEDED: 1}
    assert counts.oldest_ready_at == T0


# -- cron fires --------------------------------------------------------------------------------


def test_a_fire_is_recorded_once(store: Store) -> None:
    first = store.record_fire("s", T0, job(schedule="s", fire_time=T0), T0)
    assert first is not None and first.status == "enqueued" and first.job_id is not None
    assert store.record_fire("s", T0, job(schedule="s", fire_time=T0), T0 + 1) is None
    assert len(store.list_jobs(_all())) == 1
    assert store.last_fire_time("s") == T0


def test_overlap_skip_and_queue(store: Store) -> None:
    store.record_fire("s", T0, job(schedule="s"), T0, overlap="skip")
    skipped = store.record_fire("s", T0 + 60, job(schedule="s"), T0 + 60, overlap="skip")
    assert (
        skipped is not None and skipped.status == "skipped" and "overlap" in (skipped.reason or "")
    )
    pending = store.record_fire("s", T0 + 120, job(schedule="s"), T0 + 120, overlap="queue")
    assert pending is not None and pending.status == "pending"
    assert store.promote_pending("s", job(schedule="s"), T0 + 121) is None  # still active
    (claim,) = store.claim("w", None, T0 + 122, LEASE)
    store.finish([Finish(claim, ok())], T0 + 123)
    promoted = store.promote_pending("s", job(schedule="s"), T0 + 124)
    assert promoted is not None and promoted.fire_time == T0 + 120
    assert promoted.job_id is not None
    promoted_job = store.get(promoted.job_id)
    assert promoted_job is not None and promoted_job.fire_time == T0 + 120
    last, state = store.last_fires()["s"]
    assert last.fire_time == T0 + 120 and state == State.QUEUED


def test_overlap_queue_holds_one_fire_not_a_backlog(store: Store) -> None:
    store.record_fire("s", T0, job(schedule="s"), T0, overlap="queue")
    held = store.record_fire("s", T0 + 1, job(schedule="s"), T0 + 1, overlap="queue")
    assert held is not None and held.status == "pending"
    more = store.record_fire("s", T0 + 2, job(schedule="s"), T0 + 2, overlap="queue")
    assert more is not None and more.status == "skipped" and "waits" in (more.reason or "")
    (claim,) = store.claim("w", None, T0 + 3, LEASE)
    store.finish([Finish(claim, ok())], T0 + 3)
    promoted = store.promote_pending("s", job(schedule="s"), T0 + 4)
    assert promoted is not None and promoted.fire_time == T0 + 1
    assert store.promote_pending("s", job(schedule="s"), T0 + 5) is None
    assert store.last_fire_time("s") == T0 + 2


def test_dropped_pending_fires_are_skipped_and_never_enqueued(store: Store) -> None:
    store.record_fire("s", T0, job(schedule="s"), T0, overlap="queue")
    held = store.record_fire("s", T0 + 1, job(schedule="s"), T0 + 1, overlap="queue")
    assert held is not None and held.status == "pending"
    assert store.drop_pending("s", "time table changed", T0 + 2) == 1
    assert store.drop_pending("s", "time table changed", T0 + 2) == 0
    (claim,) = store.claim("w", None, T0 + 3, LEASE)
    store.finish([Finish(claim, ok())], T0 + 3)
    assert store.promote_pending("s", job(schedule="s"), T0 + 4) is None
    assert len(store.list_jobs(JobFilter(limit=None))) == 1
    # Nothing pending any more: a new fire is enqueued at once, not held behind the old one.
    fired = store.record_fire("s", T0 + 5, job(schedule="s"), T0 + 5, overlap="queue")
    assert fired is not None and fired.status == "enqueued"


def test_dropping_held_fires_beyond_a_count_keeps_the_newest_and_a_manual_run(
    store: Store,
) -> None:
    """drop_pending with `keep` (a lowered catch_up_limit, a pause) trims by record_fire's
    backlog rule: the newest planned fires stay, a manual run held is never dropped."""
    assert store.held_schedules(["s", "t"]) == set()
    store.record_fire("s", T0, job(schedule="s", fire_time=T0), T0, overlap="queue")
    manual = store.record_fire("s", T0 + 1, job(schedule="s"), T0 + 1, overlap="queue", manual=True)
    assert manual is not None and manual.status == "pending"
    for offset in (2, 3, 4, 5):
        store.record_fire(
            "s",
            T0 + offset,
            job(schedule="s", fire_time=T0 + offset),
            T0 + 10,
            overlap="queue",
            backlog=5,
        )
    assert store.held_schedules(["s", "t"]) == {"s"}
    assert store.drop_pending("s", "replaced", T0 + 12, keep=1) == 3
    assert store.drop_pending("s", "replaced", T0 + 12, keep=1) == 0
    ran = []
    for step in range(3):
        (claim,) = store.claim("w", None, T0 + 20 + step, LEASE)
        ran.append(claim.job.fire_time)
        store.finish([Finish(claim, ok())], T0 + 20 + step)
        store.promote_pending("s", job(schedule="s"), T0 + 20 + step)
    assert ran == [T0, T0 + 1, T0 + 5]
    assert store.held_schedules(["s"]) == set()
    assert store.drop_pending("s", "paused", T0 + 30, keep=0) == 0


def test_a_catch_up_backlog_holds_every_fire_and_runs_them_in_order(store: Store) -> None:
    """catch_up = "all" with overlap = "queue": each missed fire waits its turn (the
    catch-up limit bounds them), where a live schedule holds one fire only."""
    for offset in (0, 1, 2, 3):
        record = store.record_fire(
            "s",
            T0 + offset,
            job(schedule="s", fire_time=T0 + offset),
            T0 + 10,
            overlap="queue",
            backlog=3,
        )
        assert record is not None
        assert record.status == ("enqueued" if offset == 0 else "pending")
    ran = []
    for step in range(4):
        (claim,) = store.claim("w", None, T0 + 20 + step, LEASE)
        ran.append(claim.job.fire_time)
        store.finish([Finish(claim, ok())], T0 + 20 + step)
        store.promote_pending("s", job(schedule="s"), T0 + 20 + step)
    assert ran == [T0, T0 + 1, T0 + 2, T0 + 3]


def test_a_held_fire_goes_before_a_newer_one_when_its_run_ended_meanwhile(store: Store) -> None:
    """overlap = "queue": the run ends, and the next fire comes before the held one was
    promoted (the daemon looks once a second). The held fire runs first, the new one waits
    behind it: none jumps ahead, and none is left pending for good."""
    store.record_fire("s", T0, job(schedule="s", fire_time=T0), T0, overlap="queue")
    held = store.record_fire(
        "s", T0 + 2, job(schedule="s", fire_time=T0 + 2), T0 + 2, overlap="queue"
    )
    assert held is not None and held.status == "pending"
    (claim,) = store.claim("w", None, T0 + 3, LEASE)
    store.finish([Finish(claim, ok())], T0 + 3.7)
    new = store.record_fire(
        "s", T0 + 4, job(schedule="s", fire_time=T0 + 4), T0 + 4, overlap="queue"
    )
    assert new is not None and new.status == "pending"  # behind the held one, now running
    (second,) = store.claim("w", None, T0 + 4, LEASE)
    assert second.job.fire_time == T0 + 2
    store.finish([Finish(second, ok())], T0 + 5)
    promoted = store.promote_pending("s", job(schedule="s"), T0 + 5)
    assert promoted is not None and promoted.fire_time == T0 + 4


def test_a_record_names_the_held_fire_it_enqueued_first(store: Store) -> None:
    """FireRecord.released: the held fire a record enqueued on the way, its run having ended
    before the daemon's look, for the daemon to log as a fire (it went unlogged)."""
    first = store.record_fire("s", T0, job(schedule="s", fire_time=T0), T0, overlap="queue")
    assert first is not None and first.released is None
    held = store.record_fire("s", T0 + 1, job(schedule="s"), T0 + 1, overlap="queue", manual=True)
    assert held is not None and held.status == "pending" and held.released is None
    (claim,) = store.claim("w", None, T0 + 2, LEASE)
    store.finish([Finish(claim, ok())], T0 + 2)
    new = store.record_fire(
        "s", T0 + 3, job(schedule="s", fire_time=T0 + 3), T0 + 3, overlap="queue"
    )
    assert new is not None and new.status == "pending" and new.released is not None
    released = new.released
    assert (released.fire_time, released.status, released.manual) == (T0 + 1, "enqueued", True)
    assert released.job_id is not None and released.job_id == new.active
    released_job = store.get(released.job_id)
    assert released_job is not None and released_job.fire_time == T0 + 1
    again = store.record_fire("s", T0 + 4, job(schedule="s"), T0 + 4, overlap="queue")
    assert again is not None and again.status == "skipped" and again.released is None


def test_last_runs_leave_skipped_and_pending_fires_out(store: Store) -> None:
    assert store.last_runs(["s"]) == {}
    store.record_fire("s", T0, job(schedule="s"), T0, overlap="queue")
    store.record_fire("s", T0 + 60, None, T0 + 60, reason="paused")
    store.record_fire("s", T0 + 120, job(schedule="s"), T0 + 120, overlap="queue")  # pending
    assert store.last_runs(["s", "other"]) == {"s": T0}
    (claim,) = store.claim("w", None, T0 + 121, LEASE)
    store.finish([Finish(claim, ok())], T0 + 121)
    store.promote_pending("s", job(schedule="s"), T0 + 122)
    assert store.last_runs(["s"]) == {"s": T0 + 120}
    store.record_fire("s", T0 + 130, job(schedule="s"), T0 + 130, manual=True)
    assert store.last_runs(["s"]) == {"s": T0 + 130}


def _run_once(
    store: Store, schedule: str, at: float, result: AttemptResult, manual: bool = False
) -> int:
    """Fire `schedule` at `at`, and end its run's one attempt with `result` a second later."""
    fired = store.record_fire(schedule, at, job(schedule=schedule, fire_time=at), at, manual=manual)
    assert fired is not None and fired.job_id is not None
    (claim,) = store.claim("w", None, at, LEASE)
    assert claim.job.id == fired.job_id
    store.finish([Finish(claim, result._replace(finished_at=at + 1))], at + 1)
    return fired.job_id


def test_last_successes_count_the_runs_that_succeeded_alone(store: Store) -> None:
    """An alert on a schedule whose work stopped succeeding: the runs that failed, died, were
    cancelled, still run or wait for a retry, and the skipped fires, move nothing."""
    assert store.last_successes(["s"]) == {}
    _run_once(store, "s", T0, ok())
    assert store.last_successes(["s", "other"]) == {"s": T0 + 1}
    _run_once(store, "s", T0 + 60, failed())  # no attempt left: dead
    store.record_fire("s", T0 + 180, None, T0 + 180, reason="paused")
    running = store.record_fire("s", T0 + 240, job(schedule="s"), T0 + 240)
    assert running is not None
    (claim,) = store.claim("w", None, T0 + 240, LEASE)
    assert store.last_successes(["s"]) == {"s": T0 + 1}
    store.finish([Finish(claim, failed(), retry_at=T0 + 300)], T0 + 241)  # waits for a retry
    assert store.last_successes(["s"]) == {"s": T0 + 1}
    store.cancel([claim.job.id], T0 + 242)
    assert store.last_successes(["s"]) == {"s": T0 + 1}
    # A job cancelled during its attempt is cancelled, whatever the attempt's outcome.
    store.record_fire("s", T0 + 300, job(schedule="s"), T0 + 300)
    (claim,) = store.claim("w", None, T0 + 300, LEASE)
    store.cancel([claim.job.id], T0 + 301)
    assert store.finish([Finish(claim, ok())], T0 + 302) == [State.CANCELLED]
    assert store.last_successes(["s"]) == {"s": T0 + 1}
    # A manual run counts, as does each schedule's own.
    _run_once(store, "s", T0 + 400, ok(), manual=True)
    _run_once(store, "t", T0 + 410, ok())
    assert store.last_successes(["s", "t"]) == {"s": T0 + 401, "t": T0 + 411}


def test_the_last_success_is_the_latest_by_finish_not_by_fire(store: Store) -> None:
    """overlap = "allow": a later fire's run may end first; the earlier run succeeding after
    it is the last success."""
    for at in (T0, T0 + 60):
        store.record_fire("s", at, job(schedule="s", fire_time=at), at)
    first, second = store.claim("w", None, T0 + 60, LEASE, limit=2)
    assert first.job.fire_time == T0
    store.finish([Finish(second, ok())], T0 + 70)
    store.finish([Finish(first, ok())], T0 + 90)
    assert store.last_successes(["s"]) == {"s": T0 + 90}
    store.record_fire("s", T0 + 120, job(schedule="s", fire_time=T0 + 120), T0 + 120)
    (third,) = store.claim("w", None, T0 + 120, LEASE)
    store.finish(
        [Finish(third, AttemptResult(Outcome.SUCCEEDED, 0, finished_at=T0 + 80))], T0 + 121
    )
    assert store.last_successes(["s"]) == {"s": T0 + 90}  # it ended before the one found


def test_retention_keeps_each_schedule_s_latest_succeeded_job(store: Store) -> None:
    """Pruning old jobs deleted the run a schedule's last success was read from: a nightly
    backup kept for a week showed no success at all after `prune --older-than 1d`. As a
    schedule keeps its latest fire, it keeps its latest succeeded job; the rest go."""
    from jobctl.retention import prune

    runs = [_run_once(store, "s", T0 + n, ok()) for n in range(3)]
    broken = _run_once(store, "s", T0 + 3, failed())
    other = _run_once(store, "t", T0 + 10, ok())
    (plain,) = store.enqueue([job("plain")], T0)
    (claim,) = store.claim("w", None, T0 + 20, LEASE)
    store.finish([Finish(claim, ok())], T0 + 20)
    everything = [State.SUCCEEDED, State.DEAD, State.CANCELLED]
    assert store.finished_ids(everything, finished_before=T0 + 100) == [
        runs[0],
        runs[1],
        broken,
        plain.id,
    ]
    assert store.finished_ids([State.SUCCEEDED], ids=[runs[2], runs[1], other]) == [runs[1]]
    pruned = prune(store, everything, finished_before=T0 + 100)
    assert sorted(pruned.ids) == [runs[0], runs[1], broken, plain.id]
    assert store.delete_jobs(states=everything, ids=[runs[2], other]) == []
    assert store.get(runs[2]) is not None and store.get(other) is not None
    assert store.last_successes(["s", "t"]) == {"s": T0 + 3, "t": T0 + 11}
    # A newer success takes its place: the one before may go now.
    newer = _run_once(store, "s", T0 + 200, ok())
    assert prune(store, everything).ids == [runs[2]]
    assert store.last_successes(["s", "t"]) == {"s": T0 + 201, "t": T0 + 11}
    assert store.get(newer) is not None


def test_of_two_runs_that_succeed_at_one_instant_the_later_id_is_kept(store: Store) -> None:
    for at in (T0, T0 + 1):
        store.record_fire("s", at, job(schedule="s", fire_time=at), at)
    claims = store.claim("w", None, T0 + 1, LEASE, limit=2)
    store.finish([Finish(c, ok()) for c in reversed(claims)], T0 + 5)
    ids = sorted(c.job.id for c in claims)
    assert store.finished_ids([State.SUCCEEDED]) == ids[:1]
    store.delete_jobs(states=[State.SUCCEEDED])
    assert [j.id for j in store.list_jobs(_all())] == ids[1:]
    assert store.last_successes(["s"]) == {"s": T0 + 5}


def test_a_keyed_fire_answered_by_a_job_holding_its_key_credits_no_success(store: Store) -> None:
    """A fire whose key a job already held enqueued nothing: that job's success is the
    success of whatever made it (a hand-queued job, another schedule's run), not this
    schedule's."""
    (by_hand,) = store.enqueue([job(key="k")], T0)
    fired = store.record_fire("s", T0, job(schedule="s", fire_time=T0, key="k"), T0)
    assert fired is not None and (fired.status, fired.job_id) == ("enqueued", by_hand.id)
    (claim,) = store.claim("w", None, T0, LEASE)
    store.finish([Finish(claim, ok())], T0 + 1)
    assert store.last_successes(["s"]) == {}
    other = store.record_fire("t", T0 + 10, job(schedule="t", fire_time=T0 + 10, key="n"), T0 + 10)
    fired = store.record_fire("s", T0 + 10, job(schedule="s", fire_time=T0 + 10, key="n"), T0 + 10)
    assert other is not None and fired is not None and fired.job_id == other.job_id
    (claim,) = store.claim("w", None, T0 + 10, LEASE)
    store.finish([Finish(claim, ok())], T0 + 11)
    assert store.last_successes(["s", "t"]) == {"t": T0 + 11}


def test_prune_fires_forgets_old_records_but_where_each_plan_stands(store: Store) -> None:
    # "s": runs, then skips (disabled); "q": a run still active holds a pending fire;
    # "m": manual runs only (no plan to keep).
    for n in range(3):
        store.record_fire("s", T0 + n, job(schedule="s"), T0 + n)
    for n in range(3, 8):  # (reasons that differ keep a row each: see the next test)
        store.record_fire("s", T0 + n, None, T0 + n, reason=("disabled", "paused")[n % 2])
    store.record_fire("q", T0, job(schedule="q"), T0, overlap="queue")
    store.record_fire("q", T0 + 1, job(schedule="q"), T0 + 1, overlap="queue")  # pending
    store.record_fire("q", T0 + 2, None, T0 + 2, reason="paused")
    store.record_fire("m", T0, job(schedule="m"), T0, manual=True)
    assert store.prune_fires(T0 + 100) == 6  # s: T0, T0+1 and T0+3..T0+6
    assert store.last_fire_time("s") == T0 + 7
    assert store.last_runs(["s", "q", "m"]) == {"s": T0 + 2, "q": T0, "m": T0}
    last = store.last_fires()
    assert last["s"][0].fire_time == T0 + 7 and last["q"][0].fire_time == T0 + 2
    assert store.record_fire("s", T0 + 7, None, T0 + 8, reason="paused") is None
    assert store.prune_fires(T0 + 100) == 0
    (claim,) = [c for c in store.claim("w", None, T0 + 9, LEASE, limit=5) if c.job.schedule == "q"]
    store.finish([Finish(claim, ok())], T0 + 9)
    promoted = store.promote_pending("q", job(schedule="q"), T0 + 10)
    assert promoted is not None and promoted.fire_time == T0 + 1  # the pending fire was kept


def test_a_skip_for_the_same_reason_moves_the_last_one_on(store: Store) -> None:
    """A disabled or paused schedule skips every fire: each skip replaces the one before it
    (an every-second schedule wrote a row a second, for nothing), and the plan still stands
    at the newest."""
    store.record_fire("s", T0, job(schedule="s"), T0)
    for n in range(1, 6):
        moved = store.record_fire("s", T0 + n, None, T0 + n, reason="disabled")
        assert moved is not None and moved.status == "skipped"
    assert store.last_fire_time("s") == T0 + 5
    assert store.last_fires()["s"][0].fire_time == T0 + 5
    assert store.record_fire("s", T0 + 5, None, T0 + 6, reason="disabled") is None
    assert store.last_runs(["s"]) == {"s": T0}  # the run before them stays
    assert store.prune_fires(T0 + 100) == 0  # the run and one skip: nothing else to forget
    # A manual run between two skips, or another reason, keeps what came before.
    store.record_fire("s", T0 + 7, job(schedule="s"), T0 + 7, manual=True)
    store.record_fire("s", T0 + 8, None, T0 + 8, reason="disabled")
    store.record_fire("s", T0 + 9, None, T0 + 9, reason="paused")
    store.record_fire("s", T0 + 10, None, T0 + 10, reason="paused")
    assert store.last_runs(["s"]) == {"s": T0 + 7}
    assert store.prune_fires(T0 + 100) == 3  # T0, T0 + 5, T0 + 8; not the last run, nor T0 + 10
    assert store.last_fire_time("s") == T0 + 10


def test_prune_fires_leaves_recent_records(store: Store) -> None:
    for n in range(4):
        store.record_fire("s", T0 + n, None, T0 + n, reason=("disabled", "paused")[n % 2])
    assert store.prune_fires(T0 + 2) == 2
    assert store.prune_fires(T0 + 100) == 1
    assert store.last_fire_time("s") == T0 + 3


def test_manual_fires_do_not_move_the_plan(store: Store) -> None:
    store.record_fire("s", T0, job(schedule="s"), T0)
    store.record_fire("s", T0 + 5, job(schedule="s"), T0 + 5, manual=True)
    assert store.last_fire_time("s") == T0


def test_plan_start_is_the_first_planner_s_instant(make_store: Callable[[], Store]) -> None:
    assert make_store().plan_start(["s"], T0) == {"s": T0}
    later = make_store().plan_start(["s", "other"], T0 + 100)
    assert later == {"s": T0, "other": T0 + 100}  # a later daemon keeps the first instants
    make_store().set_schedule_paused("s", True)
    assert make_store().plan_start(["s"], T0 + 200) == {"s": T0}
    assert make_store().plan_start([], T0) == {}


def test_schedule_pause_is_persisted(make_store: Callable[[], Store]) -> None:
    make_store().set_schedule_paused("s", True)
    assert make_store().paused_schedules() == {"s"}
    make_store().set_schedule_paused("s", False)
    assert make_store().paused_schedules() == set()


def test_fires_raced_by_many_daemons_are_each_recorded_once(
    make_store: Callable[[], Store],
) -> None:
    fire_times = [T0 + i for i in range(40)]
    records: list[object] = []
    lock = threading.Lock()
    make_store()  # created before the race: the race is about fires, not about creation

    def daemon() -> None:
        own = make_store()
        for fire_time in fire_times:
            record = own.record_fire("s", fire_time, job(schedule="s", fire_time=fire_time), T0)
            with lock:
                records.append(record)

    threads = [threading.Thread(target=daemon) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in records if r is not None]) == len(fire_times)
    jobs = make_store().list_jobs(_all())
    assert sorted(j.fire_time for j in jobs) == fire_times


# -- batches and unique keys ---------------------------------------------------------------------


def test_a_batch_is_stored_whole_or_not_at_all(make_store: Callable[[], Store]) -> None:
    store = make_store()
    bad = job(payload={"not json": object()})
    with pytest.raises(TypeError):
        store.enqueue([job(), job(key="k"), bad], T0)
    assert store.list_jobs(_all()) == [] and store.queue_counts(T0) == []
    (first,) = store.enqueue([job(key="k")], T0)
    assert first.created and first.id == 1  # the failed batch used up no id, took no key
    # A reader never sees part of a batch, however large.
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        reader = make_store()
        while not done.is_set():
            counts = {q.queue: q.counts.get(State.QUEUED, 0) for q in reader.queue_counts(T0)}
            seen.add(counts.get("big", 0))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        store.enqueue([job(queue="big", payload={"i": i}) for i in range(3000)], T0)
    finally:
        done.set()
        watcher.join()
    assert seen <= {0, 3000}


def test_unique_keys_raced_by_many_clients_store_one_job(make_store: Callable[[], Store]) -> None:
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)
    make_store()  # created before the race: the race is about keys, not about creation

    def producer() -> None:
        own = make_store()
        start.wait()
        for _ in range(20):
            (r,) = own.enqueue([job(key="only")], T0)
            with lock:
                results.append((r.id, r.created))

    threads = [threading.Thread(target=producer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r[1]]) == 1
    assert len({job_id for job_id, _ in results}) == 1
    assert len(make_store().list_jobs(_all())) == 1


def test_dead_retry_all_retries_the_lowest_id_of_dead_jobs_sharing_a_key(store: Store) -> None:
    """Both stores choose the same one, whichever died last."""
    (first,) = store.enqueue([job(key="k", max_attempts=1)], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    store.finish([Finish(claim, failed())], T0)
    store.enqueue([job(key="k", max_attempts=1)], T0 + 1)
    (claim,) = store.claim("w", None, T0 + 1, LEASE)
    store.finish([Finish(claim, failed())], T0 + 1)
    assert store.dead_retry([first.id], None, T0 + 2) == [first.id]
    (claim,) = store.claim("w", None, T0 + 3, LEASE)
    store.finish([Finish(claim, failed())], T0 + 4)  # first dies again, after second
    assert store.dead_retry(None, None, T0 + 5) == [first.id]
    assert store.dead_retry(None, "other", T0 + 5) == []


def test_dead_retry_skips_a_job_whose_key_an_active_job_holds(store: Store) -> None:
    """Such a job stays dead (a second active job with the key would break the promise of
    the key); every other job named is retried, and one key is never taken twice."""
    first, second, plain = (
        r.id
        for r in store.enqueue(
            [job(key="k", max_attempts=1), job(key="k2", max_attempts=1), job(max_attempts=1)],
            T0,
        )
    )
    for claim in store.claim("w", None, T0, LEASE, limit=3):
        store.finish([Finish(claim, failed())], T0)
    (twin,) = store.enqueue([job(key="k2", max_attempts=1)], T0 + 1)
    (claim,) = store.claim("w", None, T0 + 1, LEASE)
    store.finish([Finish(claim, failed())], T0 + 1)  # dead too, with the same key as second
    (holder,) = store.enqueue([job(key="k")], T0 + 2)
    assert holder.created
    moved = store.dead_retry(None, None, T0 + 3)
    assert first not in moved and plain in moved
    assert len({second, twin.id} & set(moved)) == 1  # the key k2 is taken once, not twice
    got = store.get(first)
    assert got is not None and got.state == State.DEAD
    assert store.dead_retry([first], None, T0 + 4) == []


# -- leases --------------------------------------------------------------------------------------


def test_a_lease_expires_after_its_instant_not_at_it(store: Store) -> None:
    store.enqueue([job()], T0)
    (claim,) = store.claim("w", None, T0, LEASE)
    assert store.rescue_expired(T0 + LEASE) == []
    assert [j.id for j in store.rescue_expired(T0 + LEASE + 0.001)] == [claim.job.id]


def test_leased_jobs_can_be_listed_by_lease_expiry(store: Store) -> None:
    """What a worker asks before rescuing: the jobs whose lease has run out, running or
    cancelled while running, and no other (its cost follows them, not the fleet)."""
    from jobctl.models import JobFilter

    early, late, cancelled = (r.id for r in store.enqueue([job(), job(), job()], T0))
    store.claim("w", None, T0, LEASE, limit=1)
    store.claim("w", None, T0 + 10, LEASE, limit=2)
    store.cancel([cancelled], T0 + 11)
    leased = JobFilter(limit=None, leased=True, lease_expired_before=T0 + LEASE + 1)
    assert [j.id for j in store.list_jobs(leased)] == [early]
    later = leased._replace(lease_expired_before=T0 + LEASE + 11, newest_first=False)
    assert [j.id for j in store.list_jobs(later)] == [early, late, cancelled]
    assert store.list_jobs(leased._replace(lease_expired_before=T0)) == []


def test_running_jobs_are_listed_by_lease_expiry_without_leased(store: Store) -> None:
    """A listing of running jobs alone finds them through their leases, `leased` named or
    not, and so takes their expiry too; a listing of other states has no lease to read."""
    early, late, queued = (r.id for r in store.enqueue([job(), job(), job()], T0))
    store.claim("w", None, T0, LEASE, limit=1)
    store.claim("w", None, T0 + 10, LEASE, limit=1)
    running = JobFilter(states=(State.RUNNING,), limit=None, lease_expired_before=T0 + LEASE + 1)
    assert [j.id for j in store.list_jobs(running)] == [early]
    assert store.job_ids(running) == [early]
    assert store.job_ids(running._replace(lease_expired_before=T0)) == []
    assert store.job_ids(running._replace(lease_expired_before=None)) == [late, early]
    anything = JobFilter(limit=None, lease_expired_before=T0)
    assert store.job_ids(anything) == [queued, late, early]


def test_still_held_reads_without_renewing(store: Store) -> None:
    store.enqueue([job(), job()], T0)
    first, second = store.claim("w", None, T0, LEASE, limit=2)
    store.cancel([second.job.id], T0)
    assert store.still_held([first, second]) == {first.job.id}  # type: ignore[attr-defined]
    got = store.get(first.job.id)
    assert got is not None and got.lease_expires_at == T0 + LEASE


def test_the_log_path_is_recorded_when_the_attempt_starts(store: Store) -> None:
    (r,) = store.enqueue([job()], T0)
    (claim,) = store.claim("w", None, T0, LEASE, log_path=lambda i, run: f"/l/{i}.{run}.log")
    assert claim.log_path == f"/l/{r.id}.1.log"
    (attempt,) = store.attempts(r.id)
    assert attempt.log_path == claim.log_path and attempt.outcome is None
    store.finish([Finish(claim, ok())], T0 + 1)  # no path reported: the recorded one stays
    (attempt,) = store.attempts(r.id)
    assert attempt.log_path == claim.log_path and attempt.finished_at == T0 + 1


# -- listing, the dead letter list, pruning -----------------------------------------------------


def test_list_jobs_filters_and_orders(store: Store) -> None:
    from jobctl.models import JobFilter

    ids = [
        r.id
        for r in store.enqueue(
            [job("a", queue="x", key="k1"), job("b", queue="y"), job("a", queue="y")], T0
        )
    ]
    store.enqueue([job("a", queue="y")], T0 + 100)
    (claim,) = store.claim("w", ["x"], T0, LEASE)
    assert [j.id for j in store.list_jobs(JobFilter(limit=None))] == [4, *reversed(ids)]
    assert [j.id for j in store.list_jobs(JobFilter(limit=2, newest_first=False))] == ids[:2]
    assert [j.id for j in store.list_jobs(JobFilter(states=(State.RUNNING,)))] == [claim.job.id]
    assert [j.id for j in store.list_jobs(JobFilter(job="a", queue="y"))] == [4, ids[2]]
    assert [j.id for j in store.list_jobs(JobFilter(key="k1"))] == [ids[0]]
    assert [j.id for j in store.list_jobs(JobFilter(since=T0 + 50))] == [4]
    both = JobFilter(states=(State.RUNNING, State.QUEUED), job="a", limit=None)
    assert [j.id for j in store.list_jobs(both)] == [4, ids[2], ids[0]]


def test_the_dead_list_is_newest_death_first(store: Store) -> None:
    ids = [
        r.id
        for r in store.enqueue([job("a" if i % 2 else "b", max_attempts=1) for i in range(5)], T0)
    ]
    claims = store.claim("w", None, T0, LEASE, limit=5)
    for claim, at in zip(claims, [T0 + 5, T0 + 3, T0 + 5, T0 + 1, T0 + 9], strict=True):
        store.finish([Finish(claim, failed())], at)
    dead = store.finished_jobs([State.DEAD])
    assert [j.id for j in dead] == [ids[4], ids[2], ids[0], ids[1], ids[3]]
    assert [j.id for j in store.finished_jobs([State.DEAD], job="a")] == [ids[1], ids[3]]
    assert [j.id for j in store.finished_jobs([State.DEAD], finished_after=T0 + 5)] == [
        ids[4],
        ids[2],
        ids[0],
    ]
    assert len(store.finished_jobs([State.DEAD], limit=2)) == 2
    assert store.finished_jobs([State.QUEUED]) == []


def test_prune_deletes_what_finished_ids_named(store: Store) -> None:
    from jobctl.retention import prune

    ids = [r.id for r in store.enqueue([job("a"), job("b"), job("a"), job("a")], T0)]
    claims = store.claim("w", None, T0, LEASE, limit=4, log_path=lambda i, r: f"/nope/{i}.{r}")
    for claim, at in zip(claims[:3], [T0 + 1, T0 + 2, T0 + 50], strict=True):
        store.finish([Finish(claim, ok())], at)
    assert store.finished_ids([State.SUCCEEDED], finished_before=T0 + 10) == ids[:2]
    assert store.finished_ids([State.SUCCEEDED], ids=[ids[3], ids[1], 999], job="b") == [ids[1]]
    assert store.finished_ids([State.RUNNING]) == []
    pruned = prune(store, [State.SUCCEEDED], finished_before=T0 + 10, job="a")
    assert pruned.ids == [ids[0]] and pruned.logs_removed == 0
    assert store.get(ids[0]) is None and store.get(ids[1]) is not None
    paths = store.delete_jobs(states=[State.SUCCEEDED], ids=[ids[1], ids[3]])
    assert paths == [f"/nope/{ids[1]}.1"]
    assert store.get(ids[3]) is not None  # still running: never deleted
    (counts,) = store.queue_counts(T0 + 60)
    assert counts.counts == {State.SUCCEEDED: 1, State.RUNNING: 1}


def test_finished_ids_leaves_out_a_cancelled_job_whose_process_still_stops(store: Store) -> None:
    """delete_jobs keeps it until its worker reports the process gone: named by finished_ids,
    a prune asked about it would count it, delete nothing and say nothing."""
    stopping, ended = (r.id for r in store.enqueue([job(), job()], T0))
    first, second = store.claim("w", None, T0, LEASE, limit=2)
    store.cancel([stopping, ended], T0 + 1)
    stopped = AttemptResult(Outcome.CANCELLED, error="cancelled")
    store.finish([Finish(second if second.job.id == ended else first, stopped)], T0 + 2)
    cancelled = [State.CANCELLED]
    assert store.finished_ids(cancelled) == [ended]
    assert store.finished_ids(cancelled, ids=[stopping, ended]) == [ended]
    assert store.finished_ids(cancelled, finished_before=T0 + 10, job="j") == [ended]
    assert store.delete_jobs(states=cancelled, ids=[stopping]) == []
    assert store.get(stopping) is not None


# -- statistics and workers ----------------------------------------------------------------------


def test_statistics_count_every_event(store: Store) -> None:
    store.enqueue([job("a", max_attempts=2), job("b")], T0)
    store.enqueue([job("a", run_at=T0 + 7200)], T0)
    first, second = store.claim("w", None, T0 + 2, LEASE, limit=2)
    store.finish([Finish(first, failed(), retry_at=T0 + 10)], T0 + 3)
    store.finish([Finish(second, ok())], T0 + 2.5)
    (retry,) = store.claim("w", None, T0 + 10, LEASE)
    store.finish([Finish(retry, ok())], T0 + 10.03)
    counts = store.event_counts(None)
    assert counts == {
        ("default", "a", "enqueued"): 2,
        ("default", "b", "enqueued"): 1,
        ("default", "a", "started"): 2,
        ("default", "b", "started"): 1,
        ("default", "a", "attempt:failed"): 1,
        ("default", "a", "attempt:succeeded"): 1,
        ("default", "b", "attempt:succeeded"): 1,
        ("default", "a", "succeeded"): 1,
        ("default", "b", "succeeded"): 1,
    }
    assert store.event_counts(T0 + 7200) == {}
    assert store.pending_counts() == {("default", "a"): 1}
    runs, waits = durations(store, T0)[("default", "a")]
    assert sorted(runs) == pytest.approx([0.03, 1.0])
    assert sorted(waits) == [0.0, 2.0]  # from when each attempt was due: the retry at once
    hist = {(h.kind, h.job): h for h in store.histograms()}
    assert set(hist) == {("run", "a"), ("run", "b"), ("wait", "a"), ("wait", "b")}
    run_a = hist[("run", "a")]
    assert run_a.count == 2 and run_a.sum == pytest.approx(1.03)
    assert [n for _, n in run_a.buckets if n] == [1, 1]
    assert dict(run_a.buckets)[0.05] == 1 and dict(run_a.buckets)[1.0] == 1
    assert hist[("wait", "a")].count == 2 and hist[("wait", "a")].sum == pytest.approx(2.0)


def test_workers_register_beat_and_leave(store: Store) -> None:
    from jobctl.models import WorkerInfo

    info = WorkerInfo("w1", "host-a", 42, ("q",), 4, T0, T0, kind="worker", interval=2.5)
    store.register_worker(info)
    store.register_worker(WorkerInfo("d1", "host-b", 7, (), 0, T0 - 1, T0 - 1, "scheduler"))
    assert store.heartbeat("w1", T0 + 9) is True
    assert store.heartbeat("ghost", T0 + 9) is False  # not registered: it must register
    assert [w.id for w in store.workers()] == ["d1", "w1"]
    (w1,) = [w for w in store.workers() if w.id == "w1"]
    assert w1 == WorkerInfo("w1", "host-a", 42, ("q",), 4, T0, T0 + 9, "worker", 2.5)
    store.unregister_worker("w1")
    assert [w.id for w in store.workers()] == ["d1"]


def test_next_due_by_queue(store: Store) -> None:
    store.enqueue([job(queue="a", run_at=T0 + 50), job(queue="b", run_at=T0 + 20)], T0)
    assert store.next_due(None) == T0 + 20
    assert store.next_due(["a"]) == T0 + 50
    assert store.next_due(["c"]) is None
    counts = {q.queue: (q.due, q.oldest_ready_at) for q in store.queue_counts(T0 + 30)}
    assert counts == {"a": (0, None), "b": (1, T0 + 20)}  # due, not yet promoted: ready


def _all() -> object:
    from jobctl.models import JobFilter

    return JobFilter(limit=None)


def test_old_hourly_counts_are_summed_into_one_total(store: Store) -> None:
    """Every read of the lifetime totals (a metrics scrape) summed each hour ever counted:
    a year of them took seconds. Hours before the horizon become one total."""
    day = 86400.0
    for n, age in enumerate([100 * day, 60 * day, 50 * day, 3 * day, 0.0]):
        store.enqueue([job(f"j{n % 2}")], T0 - age)
    before = store.event_counts(None)
    recent = store.event_counts(T0 - 10 * day)
    assert store.compact_counts(T0 - 35 * day) == 3
    assert store.event_counts(None) == before
    assert store.event_counts(T0 - 10 * day) == recent
    assert store.compact_counts(T0 - 35 * day) == 0
    store.enqueue([job("j0")], T0 - 40 * day)  # a late count of an old hour
    assert store.compact_counts(T0 - 35 * day) == 1
    assert store.event_counts(None)[("default", "j0", "enqueued")] == 4
    # A long history folds in one call (Redis folds it in steps of 500 hours).
    for hour in range(1200):
        store.enqueue([job("old")], T0 - 100 * day - hour * 3600)
    assert store.compact_counts(T0 - 35 * day) == 1200
    assert store.event_counts(None)[("default", "old", "enqueued")] == 1200


def test_time_tables_are_recorded_per_schedule(make_store: Callable[[], Store]) -> None:
    assert make_store().time_tables(["a", "b"]) == {}
    make_store().record_time_tables({"a": "0 3 * * * UTC", "b": "@hourly Europe/Berlin"})
    make_store().record_time_tables({"a": "*/5 * * * * UTC"})
    assert make_store().time_tables(["a", "b", "c"]) == {
        "a": "*/5 * * * * UTC",
        "b": "@hourly Europe/Berlin",
    }
    make_store().set_schedule_paused("c", True)  # a schedule's other state: no time table
    assert make_store().time_tables(["c"]) == {}


def test_an_attempt_given_back_is_no_run_in_the_run_times(store: Store) -> None:
    """A start given back at the host's limits (or by a shutdown) counted as a run of about a
    millisecond: `stats` showed a run p50 of 4 ms for jobs that all took 2 s."""
    store.enqueue([job("a")], T0)
    (claim,) = store.claim("w", None, T0 + 1, LEASE)
    store.release([claim], T0 + 1.001, "not started")
    (again,) = store.claim("w", None, T0 + 2, LEASE)
    store.finish([Finish(again, ok()._replace(finished_at=T0 + 4))], T0 + 4)
    runs, _ = durations(store, T0)[("default", "a")]
    assert runs == [pytest.approx(2.0)]


# -- jobs that run after others (enqueue --after) ----------------------------------------------


def _run(store: Store, job_id: int, now: float, result: AttemptResult) -> State | None:
    """Claim `job_id` (the only ready job) and end its attempt with `result`."""
    (claim,) = store.claim("w", None, now, LEASE)
    assert claim.job.id == job_id
    failing = result.outcome != Outcome.SUCCEEDED
    retry = now + 5 if failing and claim.attempt < claim.job.max_attempts else None
    (state,) = store.finish([Finish(claim, result, retry_at=retry)], now)
    return state


def test_a_job_after_others_waits_until_all_of_them_succeeded(store: Store) -> None:
    first, second = (r.id for r in store.enqueue([job("a"), job("b")], T0))
    (r,) = store.enqueue([job("c", after=(first, second))], T0)
    waiting = store.get(r.id)
    assert waiting is not None and waiting.state == State.WAITING
    assert waiting.after == (first, second)
    assert store.claim("w", None, T0, LEASE, limit=5) != []  # a and b, never c
    assert store.get(r.id).state == State.WAITING  # type: ignore[union-attr]
    counts = {c.queue: c.counts for c in store.queue_counts(T0)}["default"]
    assert counts[State.WAITING] == 1 and counts[State.RUNNING] == 2


def test_the_last_success_makes_the_waiting_job_due_from_then(store: Store) -> None:
    first, second = (r.id for r in store.enqueue([job("a"), job("b", priority=-1)], T0))
    (r,) = store.enqueue([job("c", after=(first, second))], T0)
    assert _run(store, first, T0 + 1, ok()) == State.SUCCEEDED
    assert store.get(r.id).state == State.WAITING  # type: ignore[union-attr]
    assert _run(store, second, T0 + 2, ok()) == State.SUCCEEDED
    ready = store.get(r.id)
    assert ready is not None and ready.state == State.QUEUED and ready.run_at == T0 + 2
    (claim,) = store.claim("w", None, T0 + 3, LEASE)
    assert claim.job.id == r.id and claim.job.after == (first, second)


def test_a_waiting_job_keeps_its_own_delay(store: Store) -> None:
    (first,) = store.enqueue([job("a")], T0)
    (r,) = store.enqueue([job("c", after=(first.id,), run_at=T0 + 100)], T0)
    _run(store, first.id, T0 + 1, ok())
    later = store.get(r.id)
    assert later is not None and later.state == State.SCHEDULED and later.run_at == T0 + 100
    assert store.next_due(None) == T0 + 100


def test_a_failure_with_attempts_left_keeps_the_job_after_it_waiting(store: Store) -> None:
    (first,) = store.enqueue([job("a", max_attempts=2)], T0)
    (r,) = store.enqueue([job("c", after=(first.id,))], T0)
    assert _run(store, first.id, T0 + 1, failed()) == State.SCHEDULED
    assert store.get(r.id).state == State.WAITING  # type: ignore[union-attr]


@pytest.mark.parametrize("ending", ["dead", "cancelled", "lost"])
def test_jobs_waiting_on_a_job_that_ended_dead_or_cancelled_are_dead(
    store: Store, ending: str
) -> None:
    (first,) = store.enqueue([job("a", max_attempts=1)], T0)
    (second,) = store.enqueue([job("b", after=(first.id,))], T0)
    (third,) = store.enqueue([job("c", after=(second.id,))], T0)
    (other,) = store.enqueue([job("d")], T0 + 1)
    if ending == "dead":
        _run(store, first.id, T0 + 1, failed())
    elif ending == "cancelled":
        store.cancel([first.id], T0 + 1)
    else:
        store.claim("w", None, T0, LEASE)
        assert [j.id for j in store.rescue_expired(T0 + LEASE + 1)] == [first.id]
    for job_id in (second.id, third.id):
        dead = store.get(job_id)
        assert dead is not None and dead.state == State.DEAD, ending
        assert dead.finished_at is not None and f"job {first.id}" in (dead.error or "")
    assert store.get(other.id).state == State.QUEUED  # type: ignore[union-attr]
    assert {j.id for j in store.finished_jobs([State.DEAD])} >= {second.id, third.id}
    (counts,) = store.queue_counts(T0 + 2)
    assert counts.counts.get(State.WAITING, 0) == 0


def test_after_a_job_that_already_succeeded_the_job_is_ready(store: Store) -> None:
    (first,) = store.enqueue([job("a")], T0)
    _run(store, first.id, T0 + 1, ok())
    (r,) = store.enqueue([job("b", after=(first.id,))], T0 + 2)
    assert store.get(r.id).state == State.QUEUED  # type: ignore[union-attr]


def test_after_a_job_that_does_not_exist_nothing_is_stored(store: Store) -> None:
    from jobctl.errors import UsageError

    dead, cancelled = (r.id for r in store.enqueue([job("a", max_attempts=1), job("b")], T0))
    _run(store, dead, T0 + 1, failed())
    store.cancel([cancelled], T0 + 1)
    with pytest.raises(UsageError, match="no job 99"):
        store.enqueue([job("x"), job("c", after=(dead, 99))], T0 + 2)
    largest = 2**63 - 1  # said as given, not as a double rounds it
    with pytest.raises(UsageError, match=f"^--after {largest}: there is no job {largest}$"):
        store.enqueue([job("c", after=(largest,))], T0 + 2)
    assert [j.id for j in store.list_jobs(JobFilter(limit=None))] == [cancelled, dead]


def test_a_batch_line_may_run_after_an_earlier_line(store: Store) -> None:
    from jobctl.errors import UsageError

    (base,) = store.enqueue([job("a")], T0)
    first, second = store.enqueue([job("b"), job("c", after=(base.id + 1,))], T0)
    assert second.id == first.id + 1
    assert store.get(second.id).state == State.WAITING  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="itself"):
        store.enqueue([job("d", after=(second.id + 1,))], T0)
    with pytest.raises(UsageError, match="no job"):
        store.enqueue([job("d", after=(second.id + 2,))], T0)


def test_a_waiting_job_holds_its_key_and_can_be_cancelled(store: Store) -> None:
    (first,) = store.enqueue([job("a")], T0)
    (r,) = store.enqueue([job("b", key="k", after=(first.id,))], T0)
    (again,) = store.enqueue([job("b", key="k")], T0)
    assert (again.id, again.created) == (r.id, False)
    assert store.cancel([r.id], T0 + 1) == {r.id: State.WAITING}
    assert store.get(r.id).state == State.CANCELLED  # type: ignore[union-attr]
    _run(store, first.id, T0 + 2, ok())  # its success does not bring the cancelled job back
    assert store.get(r.id).state == State.CANCELLED  # type: ignore[union-attr]


def test_dead_retry_of_a_job_after_others_waits_for_them_again(store: Store) -> None:
    (first,) = store.enqueue([job("a", max_attempts=1)], T0)
    (second,) = store.enqueue([job("b", after=(first.id,))], T0)
    _run(store, first.id, T0 + 1, failed())
    assert store.dead_retry([second.id], None, T0 + 2) == []  # job a is still dead
    # --all retries the oldest first: b then waits for a's new attempt.
    assert store.dead_retry(None, None, T0 + 3) == [first.id, second.id]
    assert store.get(second.id).state == State.WAITING  # type: ignore[union-attr]
    _run(store, first.id, T0 + 4, ok())
    assert store.get(second.id).state == State.QUEUED  # type: ignore[union-attr]


def test_a_catch_up_backlog_keeps_its_limit_with_the_fires_held_before(store: Store) -> None:
    """Restarts during one long run: each catch-up (catch_up = "all", limit 2) adds its
    fires to those an earlier one left waiting. The newest two wait; the older ones are
    recorded as skipped, and none of them is ever enqueued."""
    store.record_fire("s", T0, job(schedule="s", fire_time=T0), T0, overlap="queue")
    for offset in (1, 2, 3, 4, 5):  # one catch-up, then another after the next restart
        held = store.record_fire(
            "s", T0 + offset, job(schedule="s"), T0 + 10 * offset, overlap="queue", backlog=2
        )
        assert held is not None and held.status == "pending"
    # A fire older than the two held (a clock set back since) gives way at once itself.
    older = store.record_fire("s", T0 + 0.5, job(schedule="s"), T0 + 60, overlap="queue", backlog=2)
    assert older is not None and older.status == "skipped"
    assert older.reason == "replaced by newer fires (catch_up_limit = 2)"
    ran = []
    for step in range(4):
        claims = store.claim("w", None, T0 + 100 + step, LEASE)
        ran += [claim.job.fire_time for claim in claims]
        store.finish([Finish(claim, ok()) for claim in claims], T0 + 100 + step)
        store.promote_pending("s", job(schedule="s"), T0 + 100 + step)
    assert ran == [T0, T0 + 4, T0 + 5]
    assert len(store.list_jobs(JobFilter(limit=None))) == 3
    assert store.drop_pending("s", "schedule removed", T0 + 200) == 0


def test_a_fire_a_backlog_drops_at_once_still_names_the_held_fire_it_released(
    store: Store,
) -> None:
    """The run two held fires waited for ended (cancelled), and a fire older than both comes
    (a clock set back): the oldest held fire is enqueued first, and the new one, behind it,
    is dropped at once by the backlog of one. Its record names the fire released; on Redis
    the daemon got a ValueError for a write that had gone through."""
    store.record_fire("s", T0 + 100, job(schedule="s"), T0 + 100)
    store.record_fire("s", T0 + 200, job(schedule="s"), T0 + 200, overlap="queue")
    store.record_fire("s", T0 + 300, job(schedule="s"), T0 + 300, overlap="queue", backlog=2)
    (first,) = store.list_jobs(JobFilter(limit=None))
    store.cancel([first.id], T0 + 310)
    record = store.record_fire(
        "s", T0 + 150, job(schedule="s"), T0 + 320, overlap="queue", backlog=1
    )
    assert record is not None
    assert (record.status, record.job_id, record.active) == ("skipped", None, None)
    released = record.released
    assert released is not None and (released.fire_time, released.status) == (T0 + 200, "enqueued")
    running = [j for j in store.list_jobs(JobFilter(limit=None)) if j.id != first.id]
    assert [j.id for j in running] == [released.job_id]


def test_prune_forgets_the_queues_it_empties_unless_paused(store: Store) -> None:
    """A queue is listed while it holds a job or is paused: status and metrics listed every
    queue ever used, thousands of them empty after a prune."""
    from jobctl.retention import prune

    made = store.enqueue(
        [job(queue=q) for q in ("gone", "gone", "kept", "kept", "held", "also")], T0
    )
    ids = [r.id for r in made]
    store.set_paused("held", True)
    store.cancel([ids[0], ids[1], ids[2], ids[4], ids[5]], T0 + 1)
    assert {q.queue for q in store.queue_counts(T0 + 2)} == {"gone", "kept", "held", "also"}
    pruned = prune(store, [State.CANCELLED], job="j", ids=[ids[0], ids[1], ids[2], ids[4]])
    assert sorted(pruned.ids) == [ids[0], ids[1], ids[2], ids[4]]
    listed = {q.queue: (q.paused, q.counts) for q in store.queue_counts(T0 + 2)}
    assert listed == {
        "kept": (False, {State.QUEUED: 1}),  # one job left in it
        "held": (True, {}),  # paused: its pause stays
        "also": (False, {State.CANCELLED: 1}),  # its job not pruned
    }
    # A queue forgotten is used again as a new one.
    (again,) = store.enqueue([job(queue="gone")], T0 + 3)
    claims = store.claim("w", ["gone"], T0 + 3, LEASE, limit=5)
    assert [c.job.id for c in claims] == [again.id]
    assert "gone" in {q.queue for q in store.queue_counts(T0 + 4)}


def test_a_claim_reads_only_the_queues_holding_ready_jobs(tmp_path: Path) -> None:
    """Queues with no ready job (here each holds a delayed one) cost a claim nothing: it ran
    a query for each queue ever used, and a database that had seen 5,000 drained seven
    times slower than a new one."""
    store = SqliteStore(tmp_path / "many.db")
    try:
        later = [job(queue=f"q{i}", run_at=T0 + 3600) for i in range(1000)]
        store.enqueue([*later, job("now", queue="q500", priority=1), job("now", queue="z")], T0)
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        claims = store.claim("w", None, T0, LEASE, limit=4)
        store._conn.set_trace_callback(None)
        assert [(c.job.job, c.job.queue) for c in claims] == [("now", "q500"), ("now", "z")]
        assert len(statements) < 100  # 1,000 more before
    finally:
        store.close()


def test_a_job_given_back_by_a_shutdown_is_due_from_then_behind_the_ready_ones(
    store: Store,
) -> None:
    """Restarts closer together than a job lasts: the job given back came first again with
    its old run_at, so every worker started only it, and the jobs behind it never ran."""
    long, short = (r.id for r in store.enqueue([job("long"), job("short")], T0))
    (claim,) = store.claim("w", None, T0 + 1, LEASE)
    assert claim.job.id == long
    assert store.release([claim], T0 + 2, "worker shutdown") == 1
    given_back = store.get(long)
    assert given_back is not None and given_back.run_at == T0 + 2
    assert given_back.attempts == 0  # the attempt still does not count
    (first,) = store.claim("w", None, T0 + 3, LEASE)
    assert first.job.id == short
    (second,) = store.claim("w", None, T0 + 3, LEASE)
    assert (second.job.id, second.attempt) == (long, 1)


def test_a_catch_up_backlog_neither_counts_nor_drops_a_manual_run_held(store: Store) -> None:
    """A manual run held under overlap = "queue" (schedule run) waits for the active run: a
    catch-up's limit (1) after a restart counted it as one of its held fires and skipped it.
    How many held fires the limit does skip is returned (for the daemon's log), not stored."""
    store.record_fire("s", T0, job(schedule="s", fire_time=T0), T0, overlap="queue")
    manual = store.record_fire("s", T0 + 5, job(schedule="s"), T0 + 5, overlap="queue", manual=True)
    assert manual is not None and manual.status == "pending"
    first = store.record_fire("s", T0 + 60, job(schedule="s"), T0 + 130, overlap="queue", backlog=1)
    assert first is not None and first.status == "pending"
    assert first.displaced == 0
    second = store.record_fire(
        "s", T0 + 120, job(schedule="s"), T0 + 190, overlap="queue", backlog=1
    )
    assert second is not None and second.status == "pending"
    assert (second.reason, second.displaced) == (first.reason, 1)
    latest = store.last_fires()["s"][0]
    assert (latest.status, latest.reason) == ("pending", first.reason)  # stored as it was
    ran = []
    for step in range(4):
        claims = store.claim("w", None, T0 + 200 + step, LEASE)
        ran += [claim.job.fire_time for claim in claims]
        store.finish([Finish(claim, ok()) for claim in claims], T0 + 200 + step)
        store.promote_pending("s", job(schedule="s"), T0 + 200 + step)
    assert ran == [T0, T0 + 5, T0 + 120]


def test_dead_retry_leaves_dead_a_job_that_never_ran_after_a_job_gone(store: Store) -> None:
    """A job dead by cascade names a job purged since: that may be the one it died for, so
    retried it would run though that one never succeeded."""
    (failing,) = store.enqueue([job("a", max_attempts=1)], T0)
    (cascaded,) = store.enqueue([job("b", after=(failing.id,))], T0)
    _run(store, failing.id, T0 + 1, failed())
    store.delete_jobs(states=[State.DEAD], ids=[failing.id])
    assert store.dead_retry([cascaded.id], None, T0 + 2) == []
    assert store.dead_retry(None, None, T0 + 2) == []
    assert store.get(cascaded.id).state == State.DEAD  # type: ignore[union-attr]
    assert store.claim("w", None, T0 + 3, LEASE) == []


def test_dead_retry_queues_a_job_that_ran_whatever_became_of_the_jobs_it_ran_after(
    store: Store,
) -> None:
    (first,) = store.enqueue([job("a")], T0)
    (ran,) = store.enqueue([job("b", max_attempts=1, after=(first.id,))], T0)
    _run(store, first.id, T0 + 1, ok())
    _run(store, ran.id, T0 + 2, failed())
    store.delete_jobs(states=[State.SUCCEEDED], ids=[first.id])
    assert store.dead_retry([ran.id], None, T0 + 3) == [ran.id]
    assert store.get(ran.id).state == State.QUEUED  # type: ignore[union-attr]


def test_dead_retry_takes_the_ids_given_oldest_first(store: Store) -> None:
    (first,) = store.enqueue([job("a", max_attempts=1)], T0)
    (second,) = store.enqueue([job("b", after=(first.id,))], T0)
    (third,) = store.enqueue([job("c", after=(second.id,))], T0)
    _run(store, first.id, T0 + 1, failed())
    given = [third.id, second.id, first.id]
    assert store.dead_retry(given, None, T0 + 2) == [first.id, second.id, third.id]
    states = [store.get(i).state for i in (first.id, second.id, third.id)]  # type: ignore[union-attr]
    assert states == [State.QUEUED, State.WAITING, State.WAITING]


# -- a job after one already ended, and cancelling a pipeline ---------------------------------


@pytest.mark.parametrize("ending", ["dead", "cancelled"])
def test_a_job_after_one_already_ended_is_stored_dead_as_the_cascade_makes_it(
    store: Store, ending: str
) -> None:
    """Refused, it told a failed build apart from a ready one only by the timing: a moment
    earlier the same enqueue was stored and made dead by the cascade."""
    (first,) = store.enqueue([job("a", max_attempts=1)], T0)
    if ending == "dead":
        _run(store, first.id, T0 + 1, failed())
    else:
        store.cancel([first.id], T0 + 1)
    (r,) = store.enqueue([job("b", key="k", after=(first.id,))], T0 + 2)
    dead = store.get(r.id)
    how = "ended dead" if ending == "dead" else "was cancelled"
    assert dead is not None and r.created
    assert (dead.state, dead.finished_at, dead.error, dead.after) == (
        State.DEAD,
        T0 + 2,
        f"job {first.id}, which it waited for, {how}",
        (first.id,),
    )
    assert [j.id for j in store.finished_jobs([State.DEAD], finished_after=T0 + 1.5)] == [r.id]
    (counts,) = store.queue_counts(T0 + 3)
    assert counts.counts.get(State.WAITING, 0) == 0 and counts.counts[State.DEAD] >= 1
    events = store.event_counts(None)
    assert events[("default", "b", "enqueued")] == events[("default", "b", "dead")] == 1
    (again,) = store.enqueue([job("b", key="k")], T0 + 3)  # a dead job holds no key
    assert again.created and again.id != r.id
    assert store.dead_retry([r.id], None, T0 + 4) == []  # it still could never run
    assert store.claim("w", None, T0 + 5, LEASE, limit=5)[0].job.id == again.id


def test_a_batch_stores_dead_the_lines_after_a_job_already_ended(store: Store) -> None:
    (first,) = store.enqueue([job("a", max_attempts=1)], T0)
    _run(store, first.id, T0 + 1, failed())
    (ready,) = store.enqueue([job("r")], T0 + 1)
    base = ready.id + 1
    results = store.enqueue(
        [
            job("b", after=(first.id,)),
            job("c", after=(base,)),  # after the line stored dead: dead too
            job("d", after=(ready.id,)),
            job("e"),
        ],
        T0 + 2,
    )
    assert [r.id for r in results] == [base, base + 1, base + 2, base + 3]
    found = store.get_many([r.id for r in results])
    assert [found[r.id].state for r in results] == [
        State.DEAD,
        State.DEAD,
        State.WAITING,
        State.QUEUED,
    ]
    why = f"job {first.id}, which it waited for, ended dead"
    assert [found[r.id].error for r in results[:2]] == [why, why]


def test_cancel_of_a_pipeline_cancels_every_job_named_whatever_their_order(
    store: Store,
) -> None:
    """cancel A B C cancelled A, whose cascade made B and C dead before their turn came,
    where cancel C B A cancelled all three."""
    for given in ("forward", "backward"):
        (a,) = store.enqueue([job("a")], T0)
        (b,) = store.enqueue([job("b", after=(a.id,))], T0)
        (c,) = store.enqueue([job("c", after=(b.id,))], T0)
        ids = [a.id, b.id, c.id] if given == "forward" else [c.id, b.id, a.id]
        before = store.cancel(ids, T0 + 1)
        assert list(before.items()) == [
            (i, State.QUEUED if i == a.id else State.WAITING) for i in ids
        ], given
        found = store.get_many(ids)
        assert [found[i].state for i in ids] == [State.CANCELLED] * 3, given


# -- a job after many others (fan-in) -----------------------------------------------------------


# -- a job after many others (fan-in), and a claim racing a release -----------------------------


@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled"])
def test_a_job_after_many_waits_for_the_last_of_them_in_whatever_order_they_end(
    store: Store, order: str
) -> None:
    """Each success counts down what the job still waits for, wherever the one ending
    stands among them: the job is due at the last success, not before."""
    firsts = [r.id for r in store.enqueue([job("a") for _ in range(40)], T0)]
    (fan_in,) = store.enqueue([job("b", after=tuple(firsts))], T0)
    claims = store.claim("w", None, T0 + 1, LEASE, limit=40)
    assert sorted(c.job.id for c in claims) == firsts
    if order == "reversed":
        claims.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(claims)
    for step, claim in enumerate(claims):
        assert store.get(fan_in.id).state == State.WAITING  # type: ignore[union-attr]
        assert store.finish([Finish(claim, ok())], T0 + 2 + step) == [State.SUCCEEDED]
    ready = store.get(fan_in.id)
    assert ready is not None and ready.state == State.QUEUED
    assert ready.run_at == T0 + 2 + len(claims) - 1


def test_a_job_after_others_retried_with_one_of_them_waits_for_each_still_to_succeed(
    store: Store,
) -> None:
    """One of the jobs it runs after died, and the job with it: dead retried, both wait
    again, the job for that one as for those that had not run yet, not for those that had
    succeeded."""
    (done, dies, later) = (
        r.id for r in store.enqueue([job("a"), job("b", max_attempts=1), job("c")], T0)
    )
    (fan_in,) = store.enqueue([job("d", after=(done, dies, later))], T0)
    _run(store, done, T0 + 1, ok())
    _run(store, dies, T0 + 2, failed())
    assert store.get(fan_in.id).state == State.DEAD  # type: ignore[union-attr]
    assert store.dead_retry([dies, fan_in.id], None, T0 + 3) == [dies, fan_in.id]
    assert store.get(fan_in.id).state == State.WAITING  # type: ignore[union-attr]
    _run(store, later, T0 + 4, ok())
    assert store.get(fan_in.id).state == State.WAITING  # type: ignore[union-attr]
    _run(store, dies, T0 + 5, ok())
    assert store.get(fan_in.id).state == State.QUEUED  # type: ignore[union-attr]


def test_a_claim_never_starts_a_job_before_the_job_it_ran_after_ended(store: Store) -> None:
    """A worker read its clock, then another's success made a job due from its end, then the
    worker's claim took that job: its attempt starts at the job's run_at, not before (no
    negative wait, no start before the end of the job it ran after)."""
    (first,) = store.enqueue([job("a")], T0)
    (after,) = store.enqueue([job("b", after=(first.id,))], T0)
    ended = T0 + 10.25
    _run(store, first.id, ended, ok())
    claims = store.claim("w", None, ended - 0.001, LEASE)
    assert [c.job.id for c in claims] == [after.id]
    (claim,) = claims
    assert claim.job.run_at == ended
    assert claim.job.started_at is not None
    assert claim.job.started_at >= ended
    (attempt,) = store.attempts(after.id)
    assert attempt.started_at >= ended


def _steps_to_finish_after(tmp_path: Path, name: str, fan_in: bool) -> int:
    """SQLite's own steps (its progress handler: one per hundred VM instructions) to end
    2,000 jobs, 50 at a time, beside a job that runs after all of them or not."""
    store = SqliteStore(tmp_path / f"{name}.db")
    try:
        firsts = [r.id for r in store.enqueue([job("a") for _ in range(2_000)], T0)]
        if fan_in:
            store.enqueue([job("b", after=tuple(firsts))], T0)
        claims = store.claim("w", None, T0 + 1, LEASE, limit=2_000)
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        store._conn.set_progress_handler(count, 100)
        try:
            for start in range(0, len(claims), 50):
                store.finish([Finish(c, ok()) for c in claims[start : start + 50]], T0 + 2)
        finally:
            store._conn.set_progress_handler(None, 0)
        assert [j.state for j in store.list_jobs(JobFilter(job="b"))] == [State.QUEUED] * fan_in
        return steps[0]
    finally:
        store.close()


def test_a_success_costs_the_same_whatever_the_number_of_jobs_its_dependent_runs_after(
    tmp_path: Path,
) -> None:
    """Each of 10,000 jobs a job ran after looked through all their rows as it succeeded: a
    drain of 20.7 s instead of 7.9 s without that job."""
    plain = _steps_to_finish_after(tmp_path, "plain", fan_in=False)
    fan_in = _steps_to_finish_after(tmp_path, "fan_in", fan_in=True)
    assert fan_in < plain * 1.5, f"{fan_in * 100} instructions, {plain * 100} without the job"


# -- edit --------------------------------------------------------------------------------------


def _edit_of(store: Store, job_id: int, **changes: object) -> JobEdit:
    """The job's fields as they are, with `changes`: what `jobctl edit` builds."""
    found = store.get(job_id)
    assert found is not None
    fields: dict[str, object] = {
        "id": found.id,
        "attempts": found.attempts,
        "payload_json": json.dumps(found.payload),
        "queue": found.queue,
        "priority": found.priority,
        "max_attempts": found.max_attempts,
        "run_at": found.run_at,
    }
    return JobEdit(**(fields | changes))  # type: ignore[arg-type]


def test_edit_changes_a_queued_job_and_the_order_of_claims(store: Store) -> None:
    first, second = (r.id for r in store.enqueue([job(), job(payload={"n": 1})], T0))
    edit = _edit_of(store, second, priority=9, payload_json='{"n":2}', max_attempts=7)
    assert store.edit([edit], T0 + 1) == {second}
    (claim,) = store.claim("w", None, T0 + 2, LEASE)
    assert claim.job.id == second  # its new priority puts it first
    assert (claim.job.payload, claim.job.max_attempts) == ({"n": 2}, 7)
    (claim,) = store.claim("w", None, T0 + 3, LEASE)
    assert claim.job.id == first


def test_edit_moves_a_job_between_queues_and_keeps_every_count_in_step(store: Store) -> None:
    (moved,) = (r.id for r in store.enqueue([job(queue="a")], T0))
    store.enqueue([job(queue="a", run_at=T0 + 100)], T0)
    assert store.edit([_edit_of(store, moved, queue="b")], T0 + 1) == {moved}
    counts = {c.queue: c.counts for c in store.queue_counts(T0 + 1)}
    assert counts["a"] == {State.SCHEDULED: 1}
    assert counts["b"] == {State.QUEUED: 1}
    assert store.pending_counts() == {("a", "j"): 1, ("b", "j"): 1}
    assert store.claim("w", ["a"], T0 + 2, LEASE) == []  # queue a holds no ready job now
    (claim,) = store.claim("w", ["b"], T0 + 2, LEASE)
    assert claim.job.id == moved


def test_edit_leaves_what_stats_counted_for_a_job_where_it_happened(store: Store) -> None:
    """Moved after attempts, a job's enqueue and attempts stay counted in the queue they
    happened in, in their hours and in the lifetime total alike: taking them to the new
    queue lowered the old one's jobctl_jobs_enqueued_total, which Prometheus takes for a
    counter reset. Only what is pending moves; stats reads the attempts' times through the
    job's queue, the new one."""
    from jobctl.observe.stats import collect

    day = 86400.0
    (old,) = store.enqueue([job(queue="a")], T0 - 40 * day)
    (claim,) = store.claim("w", ["a"], T0 - 40 * day, LEASE)
    store.finish([Finish(claim, failed(), retry_at=T0 + 600)], T0 - 40 * day + 1)
    assert store.compact_counts(T0 - 35 * day) == 1
    recent, kept = (r.id for r in store.enqueue([job(queue="a"), job(queue="a")], T0))
    claims = {c.job.id: c for c in store.claim("w", ["a"], T0 + 10, LEASE, limit=2)}
    store.finish([Finish(claims[recent], failed(), retry_at=T0 + 600)], T0 + 12)
    store.finish([Finish(claims[kept], ok())], T0 + 15)
    edits = [_edit_of(store, old.id, queue="b"), _edit_of(store, recent, queue="b")]
    assert store.edit(edits, T0 + 20) == {old.id, recent}

    lifetime = {k: n for k, n in store.event_counts(None).items() if n}
    assert lifetime == {
        ("a", "j", "enqueued"): 3,
        ("a", "j", "started"): 3,
        ("a", "j", "attempt:failed"): 2,
        ("a", "j", "attempt:succeeded"): 1,
        ("a", "j", "succeeded"): 1,
    }
    assert durations(store, T0 - 41 * day) == {
        ("a", "j"): ([5.0], [10.0]),
        ("b", "j"): ([1.0, 2.0], [0.0, 10.0]),
    }
    rows = {(r.queue, r.job): r for r in collect(store, T0)}
    a, b = rows[("a", "j")], rows[("b", "j")]
    assert (a.enqueued, a.processed, a.succeeded, a.failed_attempts, a.pending) == (2, 2, 1, 1, 0)
    assert (b.enqueued, b.processed, b.failed_attempts, b.pending) == (0, 0, 0, 2)
    assert (a.run_max, b.run_max, b.wait_p50) == (5.0, 2.0, 10.0)


def test_edit_of_run_at_moves_a_job_between_queued_and_scheduled(store: Store) -> None:
    later, now = (r.id for r in store.enqueue([job(run_at=T0 + 3600), job()], T0))
    edits = [_edit_of(store, later, run_at=T0 + 1), _edit_of(store, now, run_at=T0 + 600)]
    assert store.edit(edits, T0 + 1) == {later, now}
    states = {i: j.state for i, j in store.get_many([later, now]).items()}
    assert states == {later: State.QUEUED, now: State.SCHEDULED}
    assert store.next_due(None) == T0 + 600
    (claim,) = store.claim("w", None, T0 + 2, LEASE)
    assert claim.job.id == later
    assert store.claim("w", None, T0 + 2, LEASE) == []
    (claim,) = store.claim("w", None, T0 + 600, LEASE)
    assert claim.job.id == now


def test_edit_of_a_waiting_job_keeps_it_waiting_until_its_delay_too(store: Store) -> None:
    (before,) = store.enqueue([job()], T0)
    (after,) = store.enqueue([job(after=(before.id,))], T0)
    assert store.edit([_edit_of(store, after.id, run_at=T0 + 500)], T0 + 1) == {after.id}
    waiting = store.get(after.id)
    assert waiting is not None and waiting.state == State.WAITING
    (claim,) = store.claim("w", None, T0 + 2, LEASE)
    store.finish([Finish(claim, ok())], T0 + 3)
    due = store.get(after.id)
    assert due is not None and (due.state, due.run_at) == (State.SCHEDULED, T0 + 500)


def test_edit_of_an_exec_jobs_command_keeps_its_id_place_and_after_links(store: Store) -> None:
    """An --exec job's command and cwd change in place: the job waiting for it still waits
    for the same id, and the job still comes first in line (cancelling it to queue it
    again made the one waiting for it dead)."""
    first, second = (
        r.id
        for r in store.enqueue(
            [job("exec", command=["make", "tset"], cwd="/a"), job("exec", command=["true"])], T0
        )
    )
    (chained,) = store.enqueue([job("exec", command=["make", "deploy"], after=(first,))], T0)
    edit = _edit_of(store, first, command=["make", "test"], cwd="/b")
    assert store.edit([edit], T0 + 1) == {first}
    edited = store.get(first)
    assert edited is not None
    assert (edited.command, edited.cwd, edited.state) == (["make", "test"], "/b", State.QUEUED)
    (claim,) = store.claim("w", None, T0 + 2, LEASE)
    assert claim.job.id == first and claim.job.command == ["make", "test"]
    waiting = store.get(chained.id)
    assert waiting is not None and (waiting.after, waiting.state) == ((first,), State.WAITING)
    store.finish([Finish(claim, ok())], T0 + 3)
    claimed = {c.job.id for c in store.claim("w", None, T0 + 4, LEASE, limit=5)}
    assert claimed == {second, chained.id}


def test_edit_leaves_a_job_that_started_or_moved_on_since_it_was_read(store: Store) -> None:
    running, done, retried = (r.id for r in store.enqueue([job(), job(), job()], T0))
    stale = _edit_of(store, retried, priority=5)  # read before its first attempt
    claims = {c.job.id: c for c in store.claim("w", None, T0, LEASE, limit=3)}
    store.finish([Finish(claims[done], ok())], T0 + 1)
    store.finish([Finish(claims[retried], failed(), retry_at=T0 + 60)], T0 + 1)  # to retry
    edits = [_edit_of(store, running, priority=5), _edit_of(store, done, priority=5), stale]
    edits.append(stale._replace(id=999_999))  # no such job
    assert store.edit(edits, T0 + 2) == set()
    jobs = store.get_many([running, done, retried])
    assert {i: j.priority for i, j in jobs.items()} == {running: 0, done: 0, retried: 0}
    assert jobs[retried].state == State.SCHEDULED
    # Edited from what it is now, the retried job changes.
    assert store.edit([_edit_of(store, retried, priority=5)], T0 + 3) == {retried}


def test_a_batch_line_runs_after_earlier_lines_named_by_place(store: Store) -> None:
    """A batch line's `after` may name earlier lines (after_lines): each is the id that line
    got, or that of the job holding its key when it took none."""
    (holder,) = store.enqueue([job("k", key="held")], T0)
    (before,) = store.enqueue([job("a")], T0)
    results = store.enqueue(
        [
            job("build"),
            job("again", key="held"),  # takes no id: the job holding the key stands for it
            job("test", after=(before.id,), after_lines=(0,)),
            job("deploy", after_lines=(2, 1, 0)),
        ],
        T0 + 1,
    )
    build, again, test, deploy = results
    assert (again.id, again.created) == (holder.id, False)
    found = store.get_many([test.id, deploy.id])
    assert found[test.id].after == (before.id, build.id)
    assert found[deploy.id].after == (test.id, holder.id, build.id)
    assert {j.state for j in found.values()} == {State.WAITING}
    for job_id in (holder.id, before.id, build.id):
        _run(store, job_id, T0 + 2, ok())
    assert store.get(test.id).state == State.QUEUED  # type: ignore[union-attr]
    assert store.get(deploy.id).state == State.WAITING  # type: ignore[union-attr]
    _run(store, test.id, T0 + 3, ok())
    assert store.get(deploy.id).state == State.QUEUED  # type: ignore[union-attr]


def test_a_batch_line_after_an_earlier_line_stored_dead_is_dead(store: Store) -> None:
    (first,) = store.enqueue([job("a", max_attempts=1)], T0)
    _run(store, first.id, T0 + 1, failed())
    doomed, after_it = store.enqueue(
        [job("b", after=(first.id,)), job("c", after_lines=(0,))], T0 + 2
    )
    found = store.get_many([doomed.id, after_it.id])
    assert [found[i].state for i in (doomed.id, after_it.id)] == [State.DEAD, State.DEAD]
    assert found[after_it.id].error == f"job {first.id}, which it waited for, ended dead"


def test_a_listing_goes_on_past_the_last_id_read(store: Store) -> None:
    """JobFilter.beyond: `list --limit 0` reads a page at a time, each from where the last
    ended, in either order and through each index a filter reads."""
    ids = [r.id for r in store.enqueue([job("a"), job("b"), job("a"), job("a")], T0)]
    (claim,) = store.claim("w", None, T0, LEASE)  # the first one runs: leased
    newest = JobFilter(limit=2, beyond=ids[3])
    assert [j.id for j in store.list_jobs(newest)] == [ids[2], ids[1]]
    oldest = JobFilter(limit=2, beyond=ids[0], newest_first=False)
    assert [j.id for j in store.list_jobs(oldest)] == [ids[1], ids[2]]
    of_a = JobFilter(job="a", limit=None, beyond=ids[3])
    assert [j.id for j in store.list_jobs(of_a)] == [ids[2], ids[0]]
    queued = JobFilter(states=(State.QUEUED,), limit=None, beyond=ids[1], newest_first=False)
    assert [j.id for j in store.list_jobs(queued)] == [ids[2], ids[3]]
    running = JobFilter(leased=True, limit=None, beyond=claim.job.id)
    assert store.list_jobs(running) == []


def test_a_claim_after_the_clock_stepped_back_starts_a_job_now_not_at_its_run_at(
    store: Store,
) -> None:
    """A job enqueued, then the wall clock set back an hour (an NTP step), then claimed: its
    run_at is an hour past the claim's `now`, and its attempt starts at that `now`, not in
    the future (a 10 ms job shown as taking -59m59s)."""
    (stepped,) = store.enqueue([job("a")], T0 + 3600)
    claims = store.claim("w", None, T0, LEASE)
    assert [c.job.id for c in claims] == [stepped.id]
    assert claims[0].job.started_at == T0
    (attempt,) = store.attempts(stepped.id)
    assert attempt.started_at == T0


def test_fires_recorded_ahead_of_a_clock_set_back_are_forgotten(store: Store) -> None:
    """forget_fires_after: the planned fires recorded under a clock since set back (hours
    back) can each be recorded again; a held fire and a manual run are work promised and
    stay; where the plan stands and the latest run go back to the records that stay."""
    store.record_fire("s", T0, job(schedule="s"), T0, overlap="queue")
    store.record_fire("s", T0 + 60, job(schedule="s"), T0 + 60, overlap="queue")  # held
    store.record_fire("s", T0 + 90, job(schedule="s"), T0 + 90, manual=True)
    store.record_fire("s", T0 + 120, job(schedule="s"), T0 + 120)
    store.record_fire("t", T0 + 60, job(schedule="t"), T0 + 60)
    assert store.forget_fires_after("s", T0 + 30) == 1
    assert store.forget_fires_after("s", T0 + 30) == 0
    assert store.last_fire_time("s") == T0 + 60  # the held fire: still planned
    assert store.last_runs(["s", "t"]) == {"s": T0 + 90, "t": T0 + 60}
    assert store.record_fire("s", T0 + 60, job(schedule="s"), T0 + 60) is None  # kept
    assert store.record_fire("s", T0 + 90, job(schedule="s"), T0 + 90, manual=True) is None
    again = store.record_fire("s", T0 + 120, job(schedule="s"), T0 + 120)
    assert again is not None and again.status == "enqueued"
    assert store.last_runs(["s"]) == {"s": T0 + 120}
    assert store.last_fire_time("s") == T0 + 120
    assert store.last_fire_time("t") == T0 + 60


def test_edits_change_only_the_fields_they_name(store: Store) -> None:
    """Two edits built from one read, of different fields, both hold; a new payload built on
    a payload changed since (`payload_was`) is not written over it."""
    (r,) = store.enqueue([job(payload={"n": 1})], T0)
    priority = JobEdit(id=r.id, attempts=0, priority=9)
    payload = JobEdit(id=r.id, attempts=0, payload_json='{"n":2}', payload_was='{"n":1}')
    stale = JobEdit(id=r.id, attempts=0, payload_json='{"n":3}', payload_was='{"n":1}')
    assert store.edit([priority], T0 + 1) == {r.id}
    assert store.edit([payload], T0 + 1) == {r.id}
    assert store.edit([stale], T0 + 1) == set()  # built on {"n": 1}, which is gone
    edited = store.get(r.id)
    assert edited is not None
    assert (edited.priority, edited.payload, edited.run_at, edited.queue) == (
        9,
        {"n": 2},
        T0,
        "default",
    )


def test_an_edit_naming_no_field_edits_nothing_and_an_empty_cwd_is_a_change(
    store: Store,
) -> None:
    """None leaves a field as it is, and an edit of no field changes nothing (a payload_was
    alone is a guard, no change); an empty cwd is a value, set as given."""
    (r,) = store.enqueue([job("exec", command=["true"], cwd="/srv")], T0)
    assert store.edit([JobEdit(id=r.id, attempts=0)], T0 + 1) == set()
    assert store.edit([JobEdit(id=r.id, attempts=0, payload_was="{}")], T0 + 1) == set()
    assert store.edit([JobEdit(id=r.id, attempts=0, cwd="")], T0 + 1) == {r.id}
    edited = store.get(r.id)
    assert edited is not None and (edited.cwd, edited.command) == ("", ["true"])


def test_an_edit_s_payload_was_is_compared_as_json_not_as_text(store: Store) -> None:
    """The payload an edit was built on is the same JSON however it is spaced; a space inside
    a string is part of its value."""
    jobs = [job(payload={"n": 1, "s": "a b"}), job(payload_json='{ "n": 1,\n "s": "a b" }')]
    compact, spaced = (r.id for r in store.enqueue(jobs, T0))
    for job_id in (compact, spaced):
        for was in ('{"n":1,"s":"a  b"}', '{"s":"a b","n":1}', '{"n":1,"s":"ab"}'):
            stale = JobEdit(id=job_id, attempts=0, payload_json='{"n":3}', payload_was=was)
            assert store.edit([stale], T0 + 1) == set()
    read_spaced = JobEdit(
        id=compact, attempts=0, payload_json='{"n":2}', payload_was='{"n": 1, "s": "a b"}'
    )
    read_compact = JobEdit(
        id=spaced, attempts=0, payload_json='{"n":2}', payload_was='{"n":1,"s":"a b"}'
    )
    assert store.edit([read_spaced, read_compact], T0 + 1) == {compact, spaced}
    assert [j.payload for j in store.get_many([compact, spaced]).values()] == [{"n": 2}] * 2
    quoted = {"q": 'a " b\\', "r": [" ", "\\"]}  # quotes and backslashes inside strings
    (r,) = store.enqueue([job(payload=quoted)], T0)
    unlike = json.dumps(quoted | {"q": 'a "  b\\'}, indent=2)
    for was, edited in ((unlike, set()), (json.dumps(quoted, indent=2), {r.id})):
        edit = JobEdit(id=r.id, attempts=0, payload_json="{}", payload_was=was)
        assert store.edit([edit], T0 + 1) == edited


def test_a_job_moved_to_another_queue_stays_counted_as_enqueued_where_it_was(
    store: Store,
) -> None:
    """Its enqueue moved with it: jobctl_jobs_enqueued_total of the old queue went down, a
    counter reset to Prometheus. Only what it is now (pending) moves."""
    (r,) = store.enqueue([job("j", queue="a")], T0)
    assert store.edit([JobEdit(id=r.id, attempts=0, queue="b")], T0 + 1) == {r.id}
    counts = store.event_counts(None)
    assert counts[("a", "j", "enqueued")] == 1
    assert counts.get(("b", "j", "enqueued"), 0) == 0
    assert store.pending_counts() == {("b", "j"): 1}


def test_a_listing_goes_no_further_than_the_id_it_was_given(store: Store) -> None:
    ids = [r.id for r in store.enqueue([job() for _ in range(5)], T0)]
    oldest = JobFilter(limit=None, newest_first=False, through=ids[2])
    assert [j.id for j in store.list_jobs(oldest)] == ids[:3]
    newest = JobFilter(limit=None, through=ids[3], beyond=ids[3])
    assert [j.id for j in store.list_jobs(newest)] == [ids[2], ids[1], ids[0]]
    queued = JobFilter(states=(State.QUEUED,), limit=2, through=ids[3])
    assert [j.id for j in store.list_jobs(queued)] == [ids[3], ids[2]]
    # Newest first, past an id above its end: the end holds (Redis listed from the cursor).
    lower = JobFilter(limit=None, through=ids[1], beyond=ids[3])
    assert [j.id for j in store.list_jobs(lower)] == store.job_ids(lower) == [ids[1], ids[0]]


def test_a_paged_listing_is_of_the_jobs_there_were_when_it_began(store: Store) -> None:
    """`list --limit 0 --json --oldest-first` read pages past the last id read with no end:
    while producers enqueued, it listed the new jobs too, and need never have ended."""
    from jobctl.cli.inspect import _every_job

    first = [r.id for r in store.enqueue([job() for _ in range(5)], T0)]
    listed = []
    for found in _every_job(store, JobFilter(limit=None, newest_first=False), page=2):
        listed.append(found.id)
        store.enqueue([job()], T0)  # a producer keeps enqueueing as the listing goes
        if len(listed) > 20:  # (it would never end)
            break
    assert listed == first


def test_a_fire_skipped_or_held_names_the_run_that_held_it(store: Store) -> None:
    """FireRecord.active: `schedule run` answered with the run its overlap met by reading a
    number out of the record's reason."""
    first = store.record_fire("s", T0, job(schedule="s"), T0, overlap="queue")
    assert first is not None and first.active is None and first.job_id is not None
    held = store.record_fire("s", T0 + 60, job(schedule="s"), T0 + 60, overlap="queue")
    assert held is not None and (held.status, held.active) == ("pending", first.job_id)
    again = store.record_fire("s", T0 + 90, job(schedule="s"), T0 + 90, overlap="queue")
    assert again is not None and (again.status, again.active) == ("skipped", first.job_id)
    skipped = store.record_fire("s", T0 + 120, job(schedule="s"), T0 + 120, overlap="skip")
    assert skipped is not None and (skipped.status, skipped.active) == ("skipped", first.job_id)


# -- the cron daemon over each store -----------------------------------------------------------


def _scheduled(store: Store, schedule: str) -> list[float]:
    """The fire times a schedule's jobs were enqueued for."""
    listed = store.list_jobs(JobFilter(limit=None, newest_first=False))
    return sorted(j.fire_time for j in listed if j.schedule == schedule and j.fire_time)


def _cron_config(schedules: str) -> Config:
    return parse_config('[jobs.task]\ncommand = ["true"]\n\n' + schedules)


def _tick_through(scheduler: Scheduler, start: float, end: float) -> None:
    """Tick at every instant the scheduler asks for, from start until end."""
    now = start
    while now < end:
        wake = scheduler.tick(now)
        if wake is None or wake > end:
            break
        now = max(wake, now + 0.001)
    scheduler.tick(end)


EVERY_MINUTE = 'job = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'


@pytest.mark.parametrize(
    ("catch_up", "restart", "expected"),
    [
        # Started right after the resume: the fires of the pause are no missed ones.
        ("latest", 315, [60]),
        ("all", 315, [60]),
        # Started after a fire that came since the resume: that one is caught up.
        ("all", 435, [60, 360, 420]),
        ("latest", 435, [60, 420]),
    ],
)
def test_the_fires_of_a_pause_are_not_caught_up_after_a_resume_while_no_daemon_ran(
    make_store: Callable[[], Store], catch_up: str, restart: float, expected: list[float]
) -> None:
    """`schedule pause`, the service stopped, `schedule resume`, the service started: every
    fire of the pause ran at the start (catch_up = "all"), or its newest ("latest"), as if no
    daemon had run; the resume did not say since when the schedule fires again."""
    store = make_store()
    config = _cron_config(f'[schedules.s]\n{EVERY_MINUTE}catch_up = "{catch_up}"\n')
    start = T0 - T0 % 3600 + 30  # 30 s past an hour
    first = Scheduler(store, config, EventLog(stream=io.StringIO()))
    _tick_through(first, start, start + 60)  # :01 runs
    store.set_schedule_paused("s", True)
    _tick_through(first, start + 60, start + 120)  # :02 is skipped; the daemon stops
    resume_schedule(store, config, "s", start + 300)  # no daemon: :03 to :05 came paused
    assert store.paused_schedules() == set()
    second = Scheduler(store, config, EventLog(stream=io.StringIO()))
    _tick_through(second, start + restart, start + restart + 5)
    assert _scheduled(store, "s") == [start - 30 + t for t in expected]


@pytest.mark.parametrize("restart", [False, True])
def test_a_fire_held_under_overlap_queue_is_skipped_once_overlap_holds_none(
    make_store: Callable[[], Store], restart: bool
) -> None:
    """overlap switched from "queue" to "skip" (a reload, or a restart): the fire held for
    the run still going ran once that run ended, where the admin meant no run to pile up."""
    store = make_store()
    queued = _cron_config(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "queue"\n'
    )
    skipping = _cron_config(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "skip"\n'
    )
    start = T0 - T0 % 3600 + 30
    sink = io.StringIO()
    scheduler = Scheduler(store, queued, EventLog(stream=sink, fmt="json"))
    scheduler.tick(start)
    scheduler.tick(start + 30)  # :01 runs
    (claim,) = store.claim("w", None, start + 31, LEASE)
    scheduler.tick(start + 90)  # :02 is held for it
    if restart:
        scheduler = Scheduler(store, skipping, EventLog(stream=sink, fmt="json"))
        scheduler.tick(start + 95)
    else:
        scheduler.load(skipping, start + 95)
    store.finish([Finish(claim, ok())], start + 100)
    _tick_through(scheduler, start + 100, start + 110)
    assert _scheduled(store, "s") == [start + 30]
    ((record, _),) = store.last_fires().values()
    assert (record.fire_time, record.status) == (start + 90, "skipped")
    assert record.reason == 'overlap = "skip" holds no fire'
    said = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [e["held_fires"] for e in said if "held_fires" in e] == [1]


@pytest.mark.parametrize("put_back", ["restart", "reload"])
def test_a_schedule_a_reload_took_out_counts_from_when_it_is_put_back(
    make_store: Callable[[], Store], put_back: str
) -> None:
    """A reload takes a schedule out; a restart (a deploy) puts it back: every fire of the
    time it was out ran at the restart, the removal having been kept in memory alone."""
    store = make_store()
    other = '[schedules.other]\njob = "task"\ncron = "0 0 1 1 *"\ntimezone = "UTC"\n'
    with_it = _cron_config(f'[schedules.s]\n{EVERY_MINUTE}catch_up = "all"\n{other}')
    without = _cron_config(other)
    start = T0 - T0 % 3600 + 30
    first = Scheduler(store, with_it, EventLog(stream=io.StringIO()))
    _tick_through(first, start, start + 60)  # :01 runs
    first.load(without, start + 70)
    _tick_through(first, start + 70, start + 250)  # :02 to :04 come while it is out
    if put_back == "restart":
        first = Scheduler(store, with_it, EventLog(stream=io.StringIO()))
        first.tick(start + 260)
    else:  # a standby taking over with its config: one new to it, reloaded again
        first = Scheduler(store, without, EventLog(stream=io.StringIO()))
        first.tick(start + 255)
        first.load(with_it, start + 260)
    _tick_through(first, start + 260, start + 300)  # :05 runs
    assert _scheduled(store, "s") == [start + 30, start + 270]
    assert store.time_tables(["s", "other"]) == {"s": "* * * * * UTC", "other": "0 0 1 1 * UTC"}


def test_a_cancelled_attempt_whose_worker_was_lost_ends_when_its_lease_ran_out(
    store: Store,
) -> None:
    """As a lost running attempt does: it ended when a worker noticed, an hour later, and
    that hour went into stats and the run-time histogram. Its lease and key are let go."""
    (r,) = store.enqueue([job(key="release")], T0)
    store.claim("w", None, T0, LEASE)
    store.cancel([r.id], T0 + 1)
    assert store.rescue_expired(T0 + LEASE + 3600) == []  # no running job requeued
    (attempt,) = store.attempts(r.id)
    assert (attempt.outcome, attempt.finished_at) == (Outcome.CANCELLED, T0 + LEASE)
    got = store.get(r.id)
    assert got is not None and (got.state, got.lease_expires_at) == (State.CANCELLED, None)
    (again,) = store.enqueue([job(key="release")], T0 + LEASE + 3601)
    assert again.created and again.id != r.id


def test_job_ids_lists_the_ids_list_jobs_lists(store: Store) -> None:
    """Every filter list_jobs takes, its ids alone: `wait --all` on a million active jobs
    holds their ids, where their jobs took a GB."""
    ids = [r.id for r in store.enqueue([job("a"), job("b", queue="q"), job("a", key="k")], T0)]
    later = [r.id for r in store.enqueue([job("a"), job("b", run_at=T0 + 60)], T0 + 10)]
    (claim,) = store.claim("w", ["default"], T0 + 11, LEASE)
    store.finish([Finish(claim, ok())], T0 + 12)
    (running,) = store.claim("w", ["default"], T0 + 13, LEASE)
    store.cancel([ids[1]], T0 + 14)
    active = (State.QUEUED, State.SCHEDULED, State.WAITING, State.RUNNING)
    filters = [
        JobFilter(limit=None),
        JobFilter(states=active, limit=None, newest_first=False),
        JobFilter(states=active, job="a", limit=None),
        JobFilter(states=active, queue="default", limit=1, newest_first=False),
        JobFilter(states=(State.RUNNING,), limit=None),
        JobFilter(key="k", limit=None),
        JobFilter(since=T0 + 5, limit=None),
        JobFilter(states=active, limit=2, beyond=later[1], through=later[0]),
        JobFilter(states=active, limit=2, newest_first=False, beyond=ids[0]),
        JobFilter(states=(State.CANCELLED,), leased=True, limit=None),
        JobFilter(limit=0),
    ]
    for where in filters:
        assert store.job_ids(where) == [j.id for j in store.list_jobs(where)], where
    assert store.job_ids(JobFilter(states=(State.RUNNING,), limit=None)) == [running.job.id]
    assert store.job_ids(JobFilter(states=active, limit=None, newest_first=False)) == [
        i for i in [*ids, *later] if i not in (claim.job.id, ids[1])
    ]


def test_a_leader_of_another_config_records_the_schedules_it_lacks_as_taken_out(
    make_store: Callable[[], Store],
) -> None:
    """A daemon of another config (a second `up` started with another --config) took the
    lead and planned none of the schedules the real one had: their time tables stayed
    recorded, so `schedule list` took them for planned while none fired."""
    from jobctl.store.base import REMOVED_TIME_TABLE

    store = make_store()
    real = _cron_config(f"[schedules.s]\n{EVERY_MINUTE}")
    other = _cron_config("")
    start = T0 - T0 % 3600 + 30
    first = Scheduler(
        store,
        _cron_config(f"[schedules.s]\n{EVERY_MINUTE}[schedules.t]\n{EVERY_MINUTE}"),
        EventLog(stream=io.StringIO()),
    )
    _tick_through(first, start, start + 60)
    assert store.time_tables(["s", "t"]) == {"s": "* * * * * UTC", "t": "* * * * * UTC"}
    first.load(real, start + 65)  # t is taken out by a reload: recorded so already
    sink = io.StringIO()
    stray = Scheduler(store, other, EventLog(stream=sink, fmt="json"))
    _tick_through(stray, start + 70, start + 250)  # :02 to :04 fire nowhere
    assert store.time_tables(["s", "t"]) == {"s": REMOVED_TIME_TABLE, "t": REMOVED_TIME_TABLE}
    (warned,) = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert (warned["event"], warned["level"], warned["schedules"]) == (
        "scheduler.other_config",
        "warning",
        "s",
    )
    # Taken out, it is put back as a reload's removal is: it counts from the real one's lead.
    back = Scheduler(store, real, EventLog(stream=io.StringIO()))
    _tick_through(back, start + 260, start + 300)
    assert _scheduled(store, "s") == [start + 30, start + 270]
    # Every schedule's at once, as a daemon reads them on taking the lead or at its start.
    assert store.time_tables(None) == {"s": "* * * * * UTC", "t": REMOVED_TIME_TABLE}


def test_prune_fires_forgets_the_runs_by_hand_of_a_schedule_never_planned(store: Store) -> None:
    """A schedule only ever run by hand (`schedule run`) has no plan: its fire records were
    never pruned, a row a run for good. Its latest run is kept, as any schedule's."""
    for n in range(5):
        store.record_fire("m", T0 + n, job(schedule="m"), T0 + n, manual=True)
    store.record_fire("m", T0 + 5, None, T0 + 5, reason="overlap", manual=True)
    assert store.prune_fires(T0 + 100) == 4  # the latest run (T0+4) and fire (T0+5) stay
    assert store.last_runs(["m"]) == {"m": T0 + 4}
    assert store.last_fires()["m"][0].fire_time == T0 + 5
    assert store.prune_fires(T0 + 100) == 0
