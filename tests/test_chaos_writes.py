"""Chaos: kill -9 of commands while they write.

`enqueue --batch` is killed at random instants: each batch is stored whole or not at all, and
the jobs already there survive. A batch is large enough that SQLite spills it into the WAL
before the commit, so some kills land between those writes and the commit; they are told apart
by the WAL left behind. `dead retry --all`, `prune` and `cancel` killed mid-way leave a
database whose integrity check passes and whose job counts agree with its jobs. Acknowledged
enqueues (an id printed) survive a kill at every `[settings] durability`.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from chaoslib import (
    cli,
    consistency_problems,
    count,
    read_produced,
    report,
    require_full_scale,
    spawn_producer,
    states,
)
from conftest import Env

from jobctl.batches import BATCH
from jobctl.models import AttemptResult, NewJob, Outcome
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

CONFIG = '[jobs.noop]\ncommand = ["true"]\n'
PAD = "x" * 300  # makes a batch of thousands of lines larger than SQLite's page cache


def launch(env: Env, args: list[str]) -> subprocess.Popen[str]:
    """`jobctl ARGS` with its output in files (a full pipe would hold it up)."""
    with (env.root / "run.out").open("w") as stdout, (env.root / "run.err").open("w") as stderr:
        return subprocess.Popen(
            cli(env, *args), stdout=stdout, stderr=stderr, text=True, env=env.env, cwd=env.root
        )


def output(env: Env) -> tuple[str, str]:
    return (env.root / "run.out").read_text(), (env.root / "run.err").read_text()


def wal_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def wait_for_writing(proc: subprocess.Popen[str], db: Path) -> None:
    """Until the command has written its first WAL frame (or ended); polled every ms."""
    while proc.poll() is None and wal_size(db) <= 32:
        time.sleep(0.001)


def calibrate(env: Env, args: list[str]) -> tuple[float, float]:
    """How long a whole run takes here, and how long its writing lasts (from its first WAL
    frame to its exit)."""
    started = time.monotonic()
    proc = launch(env, args)
    wait_for_writing(proc, env.db)
    writing = time.monotonic()
    assert proc.wait(timeout=120) in (0, 1), output(env)
    ended = time.monotonic()
    return ended - started, max(0.005, ended - writing)


class Killer:
    """Kills alternate between a random instant of the whole run and a random instant of
    its writing (after its first WAL frame): both are random, the second lands where a crash
    matters more often. The durations they are drawn from follow what runs that ended before
    their kill took, so a machine that gets busier or quieter does not skew them."""

    def __init__(self, env: Env, args: list[str], seed: int) -> None:
        self.env, self.args = env, args
        self.rng = random.Random(seed)
        total, writing = calibrate(env, args)
        self.totals, self.writings = [total], [writing]
        self.kills = 0

    def kill(self) -> tuple[bool, int, str, str]:
        """Run and SIGKILL the command: whether the kill came before it ended, its exit
        code, stdout and stderr."""
        during_writing = self.kills % 2 == 1
        self.kills += 1
        started = time.monotonic()
        proc = launch(self.env, self.args)
        if during_writing:
            wait_for_writing(proc, self.env.db)
            started = time.monotonic()
            delay = self.rng.uniform(0, 1.1 * statistics.median(self.writings))
        else:
            delay = self.rng.uniform(0.2, 1.05) * statistics.median(self.totals)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        else:
            (self.writings if during_writing else self.totals).append(time.monotonic() - started)
        proc.wait(timeout=60)
        return proc.returncode == -signal.SIGKILL, proc.returncode, *output(self.env)


def fresh_copy(base: Path, db: Path) -> None:
    """The prepared database at `db`, with no WAL or shared memory of an earlier run beside it."""
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    shutil.copy(base, db)


# ---------------------------------------------------------------------------------------------
# enqueue --batch


def batch_kills(env: Env, kills: int, lines: int, seed: int) -> Counter[str]:
    env.write_config(CONFIG)
    base = env.root / "base.db"
    env.db = base
    for n in range(5):
        env.enqueue("noop", "--arg", f"n={n}")
    env.db = env.root / "q.db"
    batch = env.root / "batch.jsonl"
    batch.write_text(
        "".join(
            json.dumps({"job": "noop", "payload": {"i": i, "pad": PAD}}) + "\n"
            for i in range(lines)
        )
    )
    args = ["enqueue", "--batch", str(batch)]
    fresh_copy(base, env.db)
    killer = Killer(env, args, seed)
    assert count(env.db, "SELECT count(*) FROM jobs") == 5 + lines
    outcomes: Counter[str] = Counter()
    for _ in range(kills):
        fresh_copy(base, env.db)
        was_killed, code, stdout, stderr = killer.kill()
        frames = wal_size(env.db)  # before anything else opens the database
        stored = count(env.db, "SELECT count(*) FROM jobs") - 5
        assert count(env.db, "SELECT count(*) FROM jobs WHERE id <= 5") == 5
        if not was_killed:
            assert code == 0, stderr
            assert stored == lines
            outcome = "completed before the kill"
        elif stored == lines:
            outcome = "killed after the commit: all stored"
        elif stored == 0:
            assert stdout == "", "ids were printed for a batch that is not stored"
            outcome = (
                "killed mid-write (WAL frames without a commit): none stored"
                if frames > 32
                else "killed before writing: none stored"
            )
        else:
            outcome = f"PARTIAL: {stored} of {lines} stored"
        outcomes[outcome] += 1
        assert not outcome.startswith("PARTIAL"), outcome
        assert consistency_problems(env.db) == []
    return outcomes


def test_batches_killed_at_random_instants_are_all_or_nothing(env: Env) -> None:
    outcomes = batch_kills(env, kills=10, lines=6000, seed=7)
    assert sum(n for o, n in outcomes.items() if o.startswith("killed")) >= 3, outcomes


@pytest.mark.chaos
@pytest.mark.timeout(1800)
def test_full_scale_batch_kills(
    env: Env, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    require_full_scale(request)
    seed = int(time.time())
    outcomes = batch_kills(env, kills=50, lines=10000, seed=seed)
    rows = [(outcome, n) for outcome, n in sorted(outcomes.items())]
    report(
        capsys, f"enqueue --batch of 10000 lines, kill -9 at random instants (seed {seed})", rows
    )


# ---------------------------------------------------------------------------------------------
# dead retry --all, prune, cancel


def build_operations_db(path: Path, each: int) -> list[int]:
    """`each` dead jobs, `each` succeeded ones (finished a day ago, with attempts), `each`
    queued ones; returns the queued ids."""
    day_ago = time.time() - 86400
    with SqliteStore(path, durability="off") as store:
        store.enqueue(
            [NewJob(job="noop", payload={"i": i}, max_attempts=1) for i in range(2 * each)], day_ago
        )
        while claims := store.claim("builder", None, day_ago + 1, 3600, limit=500):
            store.finish(
                [
                    Finish(
                        claim,
                        AttemptResult(
                            Outcome.SUCCEEDED if claim.job.id % 2 else Outcome.FAILED,
                            exit_code=0 if claim.job.id % 2 else 1,
                            finished_at=day_ago + 2,
                        ),
                    )
                    for claim in claims
                ],
                day_ago + 2,
            )
        queued = store.enqueue([NewJob(job="noop", payload={}) for _ in range(each)], day_ago + 3)
    return [result.id for result in queued]


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {state: n for state, n in counts.items() if n}


def operation_kills(env: Env, each: int, kills: int, seed: int) -> dict[str, Counter[str]]:
    env.write_config(CONFIG)
    base = env.root / "base.db"
    queued = build_operations_db(base, each)
    before = states(base)
    assert before == {"dead": each, "succeeded": each, "queued": each}
    operations: dict[str, list[str]] = {
        "dead retry --all": ["dead", "retry", "--all"],
        "prune --older-than 1h": ["prune", "--older-than", "1h"],
        "cancel (all queued ids)": ["cancel", *map(str, queued)],
    }
    found: dict[str, Counter[str]] = {}
    for name, args in operations.items():
        outcomes: Counter[str] = Counter()
        fresh_copy(base, env.db)
        killer = Killer(env, args, seed)
        for _ in range(kills):
            fresh_copy(base, env.db)
            was_killed, code, _, stderr = killer.kill()
            after = states(env.db)
            assert consistency_problems(env.db) == [], name
            if not was_killed:
                assert code == 0, stderr
            if name.startswith("prune"):
                gone = 2 * each - after.get("dead", 0) - after.get("succeeded", 0)
            elif name.startswith("dead retry"):
                # A batch of BATCH jobs a transaction: whole batches of dead jobs moved.
                gone = after.get("queued", 0) - each
                assert after == _nonzero(
                    {"succeeded": each, "queued": each + gone, "dead": each - gone}
                )
                assert gone % BATCH == 0 or gone == each, after
            else:
                gone = after.get("cancelled", 0)
                assert after == _nonzero(
                    {"dead": each, "succeeded": each, "queued": each - gone, "cancelled": gone}
                )
                assert gone % BATCH == 0 or gone == each, after
            whole = 2 * each if name.startswith("prune") else each
            change = "unchanged" if not gone else "all done" if gone == whole else "partly done"
            if name.startswith("prune"):
                # Batches in transactions of their own: any number of jobs may be gone, each
                # with its attempts (foreign_key_check), each remaining one with its own.
                left = after.get("dead", 0) + after.get("succeeded", 0)
                assert after.get("queued") == each
                assert count(env.db, "SELECT count(*) FROM attempts") == left
            what = "completed" if not was_killed else "killed"
            outcomes[f"{what}, {change}"] += 1
        found[name] = outcomes
    return found


def test_operations_killed_mid_way_leave_a_consistent_database(env: Env) -> None:
    operation_kills(env, each=1000, kills=2, seed=11)


@pytest.mark.chaos
@pytest.mark.timeout(1800)
def test_full_scale_operation_kills(
    env: Env, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    require_full_scale(request)
    seed = int(time.time())
    found = operation_kills(env, each=5000, kills=10, seed=seed)
    rows = [
        (f"{name}: {outcome}", n)
        for name, outcomes in found.items()
        for outcome, n in sorted(outcomes.items())
    ]
    report(capsys, f"operations on 15000 jobs, kill -9 at random instants (seed {seed})", rows)


# ---------------------------------------------------------------------------------------------
# Durability


@pytest.mark.parametrize("durability", ["full", "normal", "off"])
def test_acknowledged_enqueues_survive_a_kill_at_every_durability(
    env: Env, durability: str
) -> None:
    # A process crash (not a power loss): what SQLite has written is in the OS's hands, so
    # every level keeps every commit. Power loss is what the levels differ in (README).
    env.write_config(f'[settings]\ndurability = "{durability}"\n\n{CONFIG}')
    env.enqueue("noop")
    out = env.root / "produced.jsonl"
    producer = spawn_producer(env, 100_000, "crash", out)
    env.wait_for(lambda: len(read_produced(out)) >= 30, timeout=60)
    producer.send_signal(signal.SIGKILL)
    producer.wait(timeout=30)
    acknowledged = [r for r in read_produced(out) if r["code"] == 0]
    assert all(r["stderr"] == "" for r in acknowledged)
    ids = [int(r["id"]) for r in acknowledged]
    stored = count(env.db, f"SELECT count(*) FROM jobs WHERE id IN ({','.join(map(str, ids))})")
    assert stored == len(ids)
    assert consistency_problems(env.db) == []
