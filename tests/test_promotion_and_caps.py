"""Due delayed jobs become ready a slice at a time, and a freed slot of a capped queue is taken
at once by an idle worker of that queue.

A claim that promoted every due job at once held SQLite's write lock (or Redis, for every
client) for seconds with a few hundred thousand of them; an idle worker of a `max_running`
queue saw a freed slot only at its next look, lease/3 later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Env

from jobctl.models import NewJob, State
from jobctl.store import Store
from jobctl.store.sqlite import SqliteStore
from jobctl.store.sqlite.queue import PROMOTE_SLICE

T0 = 1_800_000_000.0
LEASE = 30.0


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "redis":
        request.getfixturevalue("redis_server")  # started once per session; skips without it
        from redis_server import current, namespace_for

        from jobctl.store.redis import RedisStore

        opened: Store = RedisStore(current().url(namespace_for(tmp_path)))
    else:
        opened = SqliteStore(tmp_path / "promote.db")
    yield opened
    opened.close()


def _states(store: Store) -> dict[State, int]:
    (counts,) = store.queue_counts(T0)
    return {state: n for state, n in counts.counts.items() if n}


def test_a_claim_promotes_a_slice_of_the_due_jobs_the_longest_due_first(store: Store) -> None:
    """2.5 slices of due jobs, the later ids due earlier: each claim makes one slice ready,
    those due longest, and the scheduled rest is still due at once (a worker claims again)."""
    total = 2 * PROMOTE_SLICE + PROMOTE_SLICE // 2
    due_at = [T0 + 10 + (total - index) * 0.001 for index in range(total)]
    jobs = [NewJob(job="j", payload={}, run_at=at) for at in due_at]
    ids = [r.id for r in store.enqueue(jobs, T0)]
    by_due = [job_id for _, job_id in sorted(zip(due_at, ids, strict=True))]
    now = T0 + 100

    (first,) = store.claim("w", None, now, LEASE)
    assert first.job.id == by_due[0]
    assert _states(store) == {
        State.RUNNING: 1,
        State.QUEUED: PROMOTE_SLICE - 1,
        State.SCHEDULED: total - PROMOTE_SLICE,
    }
    first_slice = store.get_many(by_due[:PROMOTE_SLICE])
    assert {job.state for job in first_slice.values()} <= {State.QUEUED, State.RUNNING}
    assert store.get_many([by_due[PROMOTE_SLICE]])[by_due[PROMOTE_SLICE]].state == (State.SCHEDULED)
    left_due = store.next_due(None)
    assert left_due is not None and left_due <= now

    # The ready jobs keep their order: the next claim takes the next longest due.
    (second,) = store.claim("w", None, now, LEASE)
    assert second.job.id == by_due[1]
    assert _states(store) == {
        State.RUNNING: 2,
        State.QUEUED: 2 * PROMOTE_SLICE - 2,
        State.SCHEDULED: total - 2 * PROMOTE_SLICE,
    }
    store.claim("w", None, now, LEASE)
    assert _states(store) == {State.RUNNING: 3, State.QUEUED: total - 3}
    assert store.next_due(None) is None


def test_a_promoted_slice_is_claimed_by_priority_then_due_time(store: Store) -> None:
    """Within what a claim promotes, a higher priority due later still comes first."""
    urgent = store.enqueue([NewJob(job="u", payload={}, run_at=T0 + 20, priority=5)], T0)[0].id
    store.enqueue([NewJob(job="j", payload={}, run_at=T0 + 10) for _ in range(3)], T0)
    (claim,) = store.claim("w", None, T0 + 30, LEASE)
    assert claim.job.id == urgent


# Each job marks its start (a file the test waits for at no cost) and runs until told to end.
GATED = "touch started.$JOBCTL_JOB_ID; while [ ! -e go.$JOBCTL_JOB_ID ]; do sleep 0.05; done"
CAPPED = (
    "[queues.lim]\nmax_running = 1\n\n"
    f'[jobs.L]\nqueue = "lim"\ncommand = ["sh", "-c", "{GATED}"]\n\n'
    f'[jobs.X]\nqueue = "other"\npriority = 10\ncommand = ["sh", "-c", "{GATED}"]\n'
)


def _time(value: object) -> float:
    assert isinstance(value, str)
    return datetime.fromisoformat(value).timestamp()


@pytest.fixture(params=["sqlite", "redis"])
def cli(request: pytest.FixtureRequest, env: Env) -> Env:
    if request.param == "redis":
        return request.getfixturevalue("redis_env")  # type: ignore[no-any-return]
    return env


def test_an_idle_worker_takes_the_slot_a_capped_queue_s_job_frees_at_once(cli: Env) -> None:
    """Worker A runs the only job lim may run; B, idle, serves lim too. When A's job ends, A
    takes a job of another queue (priority 10) and B starts lim's next one at once: it waited
    for its next look, up to lease/3 (10 s here), with the slot free."""
    cli.write_config(CAPPED)
    cli.start("run-worker", "-q", "lim", "-q", "other", "--concurrency", "1", "--worker-name", "A")
    first = cli.enqueue("L")

    def started_running(job_id: int) -> bool:
        return (cli.root / f"started.{job_id}").exists()

    cli.wait_for(lambda: started_running(first))
    assert cli.show(first)["state"] == "running"
    cli.start("run-worker", "-q", "lim", "--concurrency", "1", "--worker-name", "B")

    def workers() -> int:
        return len(json.loads(cli.run("status", "--json", check=True).stdout)["workers"])

    cli.wait_for(lambda: workers() == 2, interval=0.25)
    waiting, other = cli.enqueue("L"), cli.enqueue("X")
    (cli.root / f"go.{first}").touch()
    cli.wait_for(lambda: started_running(other))
    assert cli.show(other)["state"] == "running"
    cli.wait_for(lambda: started_running(waiting), timeout=20)
    ended, started = cli.show(first), cli.show(waiting)
    assert started["state"] == "running"
    for job_id in (other, waiting):
        (cli.root / f"go.{job_id}").touch()
    assert started["worker"] == "B"
    assert _time(started["started_at"]) - _time(ended["finished_at"]) < 1.0
