"""What `edit`, `retry`, `cancel`, `pause` and `enqueue` say of what they did: the reason
for a job left alone fits what befell it, a past --at says when a waiting job runs, and a
stdout that cannot be written still hears what was changed.

Every test drives the real CLI on a real database.
"""

from __future__ import annotations

import json
import os
import signal

from conftest import Env, stop_outside_writes
from test_ops_support import job

PLAIN = '[jobs.plain]\ncommand = ["true"]\n'


def test_edit_says_a_job_cancelled_or_made_dead_meanwhile_as_such(env: Env) -> None:
    """A cancel landing while a long edit ran was said as "a worker started it meanwhile (it
    is cancelled)", where no worker ran: the job cancelled, and the one waiting on a job
    cancelled, are each said for what befell them."""
    env.write_config(PLAIN)
    count = 3000
    env.run("enqueue", "--batch", "-", input='{"job": "plain"}\n' * count, check=True)
    cancelled = env.enqueue("plain")
    head = env.enqueue("plain", "--delay", "1h")
    behind = env.enqueue("plain", "--after", str(head))
    editing = env.start(
        "edit",
        *map(str, range(1, count + 1)),
        str(cancelled),
        str(behind),
        "--priority",
        "7",
        "--json",
    )
    env.wait_for(lambda: (found := job(env, 1)) is not None and found.priority == 7, interval=0.001)
    stop_outside_writes(env.db, editing.pid)
    try:
        assert job(env, cancelled).priority != 7  # type: ignore[union-attr]
        env.run("cancel", str(cancelled), str(head), check=True)
    finally:
        os.kill(editing.pid, signal.SIGCONT)
    out, err = editing.communicate(timeout=60)
    assert editing.returncode == 1, err
    assert err.splitlines() == [
        f"jobctl: job {cancelled} not edited: it was cancelled meanwhile",
        f"jobctl: job {behind} not edited: it ended dead meanwhile: job {head}, which it"
        " waited for, was cancelled",
        "jobctl: 2 job(s) not edited",
    ]
    reasons = {d["id"]: d["reason"] for d in json.loads(out) if not d["edited"]}
    assert reasons == {cancelled: "cancelled meanwhile", behind: "ended dead meanwhile"}


def test_a_past_at_says_a_waiting_job_runs_once_its_jobs_have_succeeded(env: Env) -> None:
    """`--at` a time past said "the job runs now" of a job `waiting` for others, in
    `enqueue`, `edit` and `retry` alike: it runs once they have succeeded."""
    env.write_config(PLAIN)
    head = env.enqueue("plain", "--delay", "1h")
    past = "2020-01-01T00:00"
    waits = "it runs once the jobs it waits for have succeeded"
    enqueued = env.run("enqueue", "plain", "--after", str(head), "--at", past, check=True)
    behind = int(enqueued.stdout)
    assert enqueued.stderr.rstrip().endswith(f"): {waits}"), enqueued.stderr
    edited = env.run("edit", str(behind), "--at", past, check=True)
    assert edited.stdout == f"edited {behind} (waiting)\n"
    assert edited.stderr.rstrip().endswith(f"): {waits}"), edited.stderr
    both = env.run("edit", str(behind), str(head), "--at", past, check=True)
    assert both.stderr.rstrip().endswith(
        "): the job runs now, the 1 waiting for other jobs once those have succeeded"
    ), both.stderr
    env.run("cancel", str(behind), check=True)
    retried = env.run("retry", str(behind), "--at", past, check=True)
    assert retried.stderr.rstrip().endswith(f"): {waits}"), retried.stderr
    ready = env.run("enqueue", "plain", "--at", past, check=True)
    assert ready.stderr.rstrip().endswith("): the job runs now"), ready.stderr
