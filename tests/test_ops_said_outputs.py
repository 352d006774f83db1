"""What `logs` without an id picks beside a job yet to start, on a real database with real
workers."""

from __future__ import annotations

import re

from conftest import Env
from test_ops_support import burst, start_worker, wait_state

SAY = '[jobs.say]\ncommand = ["sh", "-c", "echo said $JOBCTL_JOB_ID"]\n'


def test_logs_follow_without_an_id_waits_for_a_newer_job_yet_to_start(env: Env) -> None:
    """pueue's habit, `add` then `follow`: the job just added waited its turn (a paused
    queue), and `logs -f` printed an older job's output and exited 0."""
    env.write_config(SAY)
    start_worker(env)
    old = env.enqueue("say")
    wait_state(env, old, "succeeded")
    env.run("pause", "default", check=True)
    new = env.enqueue("say")
    shown = env.run("logs", check=True)  # without --follow: the last started, the newer named
    assert shown.stdout == f"said {old}\n"
    assert re.fullmatch(
        rf"jobctl: job {old} \(say\), started \S+ ago, now succeeded; newer job {new} \(say\)"
        rf" has not started yet \(jobctl logs -f {new} follows it once it starts\)\n",
        shown.stderr,
    )
    follower = env.start("logs", "-f")
    assert follower.stderr is not None
    assert follower.stderr.readline() == (
        f"jobctl: job {new} (say) has not started yet (it is queued); following it once it"
        f" starts (job {old}, started last, has ended: jobctl logs {old})\n"
    )
    assert follower.stderr.readline() == (
        "jobctl: note: queue 'default' is paused until jobctl resume default; waiting for a"
        " worker (--timeout gives up)\n"
    )
    env.run("resume", "default", check=True)
    out, err = follower.communicate(timeout=30)
    assert (follower.returncode, out, err) == (0, f"said {new}\n", "")


def test_logs_follow_without_an_id_and_none_started_waits_for_the_newest(env: Env) -> None:
    env.write_config(SAY)
    env.enqueue("say")
    new = env.enqueue("say", "--priority", "-1")  # runs after the other
    follower = env.start("logs", "-f")
    assert follower.stderr is not None
    assert follower.stderr.readline() == (
        f"jobctl: job {new} (say) has not started yet (it is queued); following it once it starts\n"
    )
    burst(env)
    out, _ = follower.communicate(timeout=30)
    assert (follower.returncode, out) == (0, f"said {new}\n")
    assert env.run("logs", check=True).stdout == f"said {new}\n"
