"""A pipeline whose head was cancelled by mistake: its jobs made dead by that cancel are run
again after a retry of the head (`retry ID --after NEW`), and `edit` says how."""

from __future__ import annotations

import json

from conftest import Env

CONFIG = '[jobs.ok]\ncommand = ["true"]\n[queues.build]\nmax_running = 1\n'


def test_a_job_dead_behind_a_cancelled_head_runs_after_the_head_s_retry(env: Env) -> None:
    """`retry` had no --after: the copy ran after the cancelled head again, dead at once
    (exit 0), and `edit` pointed to that very retry."""
    env.write_config(CONFIG)
    head = env.enqueue("ok", "-q", "build", "--delay", "1h")
    tail = env.enqueue("ok", "-q", "build", "--after", str(head))
    env.run("cancel", str(head), check=True)
    refused = env.run("edit", str(tail), "--delay", "0")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"jobctl: job {tail} not edited: it already ended dead, as a job it ran after did"
        f" (`jobctl retry {tail} --after ID` runs it again after another, such as a retry of"
        " that one)\n"
    )
    new_head = int(env.run("retry", str(head), "--delay", "0", check=True).stdout)
    new_tail = int(env.run("retry", str(tail), "--after", str(new_head), check=True).stdout)
    assert env.show(new_tail)["state"] == "waiting"
    env.run("run-worker", "--burst", check=True)
    listed = {job["id"]: job["state"] for job in json.loads(env.run("list", "--json").stdout)}
    assert (listed[new_head], listed[new_tail]) == ("succeeded", "succeeded")


def test_retry_after_a_job_that_does_not_exist_is_refused(env: Env) -> None:
    env.write_config(CONFIG)
    done = env.enqueue("ok")
    env.run("run-worker", "--burst", check=True)
    refused = env.run("retry", str(done), "--after", "999")
    assert refused.returncode == 2
    assert "there is no job 999" in refused.stderr
