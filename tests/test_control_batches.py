"""`cancel`, `edit` and `dead retry` of many jobs work a batch at a time, the database's write
lock (or the Redis server) let go between batches, so that enqueues and workers never wait
for the whole operation; an interrupt ends one after the batch under way, saying so."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest
from conftest import JOBCTL, Env
from redis_server import RedisEnv

from jobctl.models import AttemptResult, NewJob, Outcome, State
from jobctl.store import Finish, Store, open_store

_CONFIG = '[jobs.ok]\ncommand = ["true"]\nmax_attempts = 1\n'
_JOBS = 5000  # ten batches of 500
_WATCHED = 2000  # four batches: a second connection sees the counts half done


def _queued(store: Store, count: int) -> list[int]:
    results = store.enqueue([NewJob(job="ok", payload={}, max_attempts=1)] * count, time.time())
    return [r.id for r in results]


def _dead(store: Store, count: int, keyed: dict[int, str] | None = None) -> list[int]:
    """`count` jobs that failed their one attempt, as a worker leaves them (`keyed`: the
    unique key of the job at each of these places)."""
    now = time.time()
    keys = keyed or {}
    results = store.enqueue(
        [NewJob(job="ok", payload={}, max_attempts=1, key=keys.get(n)) for n in range(count)],
        now - 10,
    )
    claims = store.claim("w", None, now - 5, 30.0, limit=count)
    failed = AttemptResult(Outcome.FAILED, exit_code=3, error="exit code 3", finished_at=now)
    store.finish([Finish(claim, failed) for claim in claims], now)
    return [r.id for r in results]


def _count(store: Store, state: State) -> int:
    return sum(q.counts.get(state, 0) for q in store.queue_counts(time.time()))


def _run_watching(
    env: Env, args: list[str], store: Store, state: State, total: int
) -> tuple[subprocess.CompletedProcess[str], set[int]]:
    """Run `jobctl ARGS` while reading, from another connection, how many jobs are in
    `state`: the counts seen strictly between none and `total` are those of batches
    committed with more to come. The call is Env.run's, made from a thread: the command
    starts without an interpreter's start-up, through which the reads went on for nothing."""
    ended: list[subprocess.CompletedProcess[str] | BaseException] = []

    def call() -> None:
        try:
            ended.append(env.run(*args, timeout=120))
        except BaseException as exc:  # (raised again below, in the test's thread)
            ended.append(exc)

    running = threading.Thread(target=call)
    running.start()
    seen: set[int] = set()
    try:
        while running.is_alive():
            seen.add(_count(store, state))
    finally:
        running.join()
    (result,) = ended
    if isinstance(result, BaseException):
        raise result
    return result, {n for n in seen if 0 < n < total}


_COMMANDS = {
    # command: (how its jobs are made, its arguments after the ids, the state they end in)
    "cancel": (_queued, ["cancel"], State.CANCELLED),
    "edit": (_queued, ["edit", "--delay", "1h"], State.SCHEDULED),
    "dead retry": (_dead, ["dead", "retry", "--all"], State.QUEUED),
}


def _location(request: pytest.FixtureRequest, env: Env) -> Env:
    if request.param == "redis":
        redis_env: RedisEnv = request.getfixturevalue("redis_env")
        return redis_env
    return env


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request: pytest.FixtureRequest, env: Env) -> Env:
    return _location(request, env)


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_a_large_change_commits_batch_by_batch(store_env: Env, command: str) -> None:
    """Each was one transaction (one script on Redis): every other writer waited for the
    whole of it, and no one ever saw it half done."""
    make, args, ends_in = _COMMANDS[command]
    store_env.write_config(_CONFIG)
    with open_store(store_env.location()) as store:
        ids = make(store, _WATCHED)
        given = [] if command == "dead retry" else [str(i) for i in ids]
        ended, partial = _run_watching(store_env, [*args, *given], store, ends_in, _WATCHED)
        assert ended.returncode == 0, ended.stderr
        assert _count(store, ends_in) == _WATCHED
    assert len(partial) >= 2, partial  # seen between batches, from another connection
    # What a small change says, as it said it before.
    if command == "dead retry":
        assert ended.stdout.startswith(f"retried {_WATCHED} dead job(s): {ids[0]}, ")
    else:
        verb = "cancelled" if command == "cancel" else "edited"
        lines = ended.stdout.splitlines()
        assert len(lines) == _WATCHED and lines[0].startswith(f"{verb} {ids[0]} ")


def test_enqueues_wait_for_a_batch_not_for_a_large_cancel(env: Env) -> None:
    """A cancel of 100,000 ids stalled every enqueue of the database for 10 s; past the 30 s
    busy timeout they failed, and workers lost their leases."""
    env.write_config(_CONFIG)
    jobs = 20_000
    with open_store(str(env.db)) as store:
        ids = _queued(store, jobs)
    waits: list[float] = []
    stop = threading.Event()

    def enqueue_meanwhile() -> None:  # another process, as a producer would
        while not stop.is_set():
            started = time.monotonic()
            env.run("enqueue", "ok", "--queue", "other", check=True)
            waits.append(time.monotonic() - started)

    producer = threading.Thread(target=enqueue_meanwhile)
    started = time.monotonic()
    proc = subprocess.Popen(
        [*JOBCTL, *env.global_args(), "cancel", *map(str, ids)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
    )
    producer.start()
    try:
        _, err = proc.communicate(timeout=300)
        took = time.monotonic() - started
    finally:
        stop.set()
        producer.join()
    assert proc.returncode == 0, err
    assert len(waits) >= 2
    # Loose: an enqueue waits for a batch (milliseconds), never for most of the cancel.
    assert max(waits) < took / 2, (max(waits), took)


def test_an_interrupted_cancel_says_how_many_it_cancelled(env: Env) -> None:
    """Held until the batch under way is committed, then said as a prune says it."""
    env.write_config(_CONFIG)
    with open_store(str(env.db)) as store:
        ids = _queued(store, _JOBS)
        proc = subprocess.Popen(
            [*JOBCTL, *env.global_args(), "cancel", "--json", *map(str, ids)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env.env,
            cwd=env.root,
        )
        try:
            env.wait_for(
                lambda: proc.poll() is not None or _count(store, State.CANCELLED) > 0,
                interval=0.005,
            )
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        cancelled = _count(store, State.CANCELLED)
    assert proc.returncode == 130, err
    assert 0 < cancelled < _JOBS
    assert cancelled % 500 == 0  # whole batches
    assert err == f"jobctl: interrupted after cancelling {cancelled} job(s)\n"
    assert out == ""


def test_a_large_dead_retry_retries_one_job_of_a_key_as_one_call_did(env: Env) -> None:
    """Of dead jobs sharing a key, only the lowest id is retried, though the others come in
    later batches; those left are named in the document with the reason."""
    env.write_config(_CONFIG)
    with open_store(str(env.db)) as store:
        # Two enqueues (a batch takes a key once): the key's jobs 1,000 ids apart.
        first = _dead(store, 750, keyed={10: "invoice-42"})
        second = _dead(store, 750, keyed={250: "invoice-42"})
    ended = env.run("dead", "retry", "--all", "--json")
    assert ended.returncode == 1, ended.stderr
    outcomes = {o["id"]: o for o in json.loads(ended.stdout)}
    assert len(outcomes) == 1500
    assert outcomes[first[10]]["retried"] is True
    assert outcomes[second[250]]["retried"] is False
    assert outcomes[second[250]]["reason"] == "has the key 'invoice-42', which an active job holds"
    assert sum(o["retried"] for o in outcomes.values()) == 1499


def test_a_few_ids_are_one_call(env: Env) -> None:
    """A cancel of a few ids says what it said: one line each, in the order given."""
    env.write_config(_CONFIG)
    with open_store(str(env.db)) as store:
        first, second = _queued(store, 2)
    ended = env.run("cancel", str(second), str(first), check=True)
    assert ended.stdout == f"cancelled {second} (was queued)\ncancelled {first} (was queued)\n"


def test_a_large_cancel_takes_a_job_before_the_jobs_it_runs_after(env: Env) -> None:
    """A job named with the job it waits for, batches apart: cancelled after that one, it
    would be made dead by its cancel."""
    env.write_config(_CONFIG)
    with open_store(str(env.db)) as store:
        ids = _queued(store, 1200)
    waiting = env.enqueue("ok", "--after", str(ids[0]))
    later = env.enqueue("ok", "--after", str(waiting))
    env.run("cancel", *map(str, [*ids, waiting, later]), check=True)
    assert [env.show(i)["state"] for i in (ids[0], waiting, later)] == ["cancelled"] * 3
