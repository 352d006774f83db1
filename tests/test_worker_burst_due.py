"""A --burst worker exits only once none of its queues' jobs is due: a claim makes at most a
slice of the due jobs ready (PROMOTE_SLICE, the longest due first, of any queue), so a slice
of a paused queue's, or of a queue the worker does not serve, left its own due jobs behind."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from conftest import Env

from jobctl.store.sqlite.queue import PROMOTE_SLICE

_CONFIG = '[jobs.t]\ncommand = ["true"]\n'


@pytest.fixture(params=["sqlite", "redis"])
def cli(request: pytest.FixtureRequest, env: Env) -> Env:
    if request.param == "redis":
        return request.getfixturevalue("redis_env")  # type: ignore[no-any-return]
    return env


def _slice_of_queue_a(cli: Env) -> None:
    """A slice of jobs in queue a, due in a second."""
    cli.write_config(_CONFIG)
    line = json.dumps({"job": "t", "queue": "a", "delay": "1s"})
    (cli.root / "a.jsonl").write_text(f"{line}\n" * PROMOTE_SLICE)
    cli.run("enqueue", "--batch", "a.jsonl", check=True)


def _due_after_them(cli: Env, *options: str) -> int:
    """A job (`options`: its enqueue options) due after queue a's slice, once it is due."""
    job_id = cli.enqueue("t", "--delay", "1s", *options)
    run_at = cli.show(job_id)["run_at"]
    assert isinstance(run_at, str)
    due = datetime.fromisoformat(run_at).timestamp()
    cli.wait_for(lambda: time.time() > due)  # the wall clock: it is due once this passes
    return job_id


def test_a_burst_worker_runs_its_queue_s_due_job_behind_another_queue_s_slice(cli: Env) -> None:
    """`run-worker --burst -q b` promoted queue a's slice, claimed nothing and exited 0 at
    once, its due job of queue b still scheduled."""
    _slice_of_queue_a(cli)
    own = _due_after_them(cli, "-q", "b")
    cli.run("run-worker", "--burst", "-q", "b", check=True)
    assert cli.show(own)["state"] == "succeeded"


def test_a_burst_worker_runs_a_due_job_behind_a_paused_queue_s_slice(cli: Env) -> None:
    """Serving every queue, with queue a paused: the same exit, job left scheduled."""
    _slice_of_queue_a(cli)
    cli.run("pause", "a", check=True)
    own = _due_after_them(cli)
    cli.run("run-worker", "--burst", check=True)
    assert cli.show(own)["state"] == "succeeded"
    queued = cli.run("list", "-q", "a", "--state", "queued", "--json", "--limit", "0", check=True)
    assert len(json.loads(queued.stdout)) == PROMOTE_SLICE  # a stays paused, its jobs ready
