"""An enqueue whose key a job of another job type or queue holds, and the dead jobs a
`dead retry` of the job they waited for leaves behind: end to end, through the CLI."""

from __future__ import annotations

import json

from conftest import Env
from test_ops_support import burst, job

TYPES = '[jobs.rec]\ncommand = ["true"]\n[jobs.ok]\ncommand = ["true"]\n'


def test_a_key_held_in_another_queue_is_refused_and_the_same_queue_is_idempotent(
    env: Env,
) -> None:
    """`enqueue rec --key K --queue B` while a rec job of the default queue holds K printed
    that job's id and exited 0: a script went on as if a job of queue B were queued."""
    env.write_config(TYPES)
    holder = env.enqueue("rec", "--key", "user-42", "--delay", "1h")
    moved = env.run("enqueue", "rec", "--key", "user-42", "--queue", "B")
    assert (moved.returncode, moved.stdout) == (1, "")
    assert moved.stderr.splitlines()[-1] == (
        f"jobctl: key 'user-42' is held by job {holder} (rec, queue default), not a job like"
        " this one; nothing queued"
    )
    again = env.run("enqueue", "rec", "--key", "user-42")
    assert (again.returncode, again.stdout) == (0, f"{holder}\n")
    listed = env.run("list", "--json", check=True)
    assert [j["id"] for j in json.loads(listed.stdout)] == [holder]


def test_a_refused_enqueue_with_json_names_the_holder_and_no_job(env: Env) -> None:
    """--json said `created: false` with the other job type's job as if it were this one's:
    a script read its `id` and waited on other work."""
    env.write_config(TYPES)
    holder = env.enqueue("rec", "--key", "user-42", "--delay", "1h")
    refused = env.run("enqueue", "ok", "--key", "user-42", "--json")
    assert refused.returncode == 1
    document = json.loads(refused.stdout)
    assert document["created"] is False and document["id"] is None and document["job"] is None
    assert (document["holder"]["id"], document["holder"]["job"]) == (holder, "rec")
    assert document["holder"]["queue"] == "default"
    assert "is held by job" in refused.stderr


def test_an_exec_holder_is_compared_by_its_job_type_exec(env: Env) -> None:
    """An --exec job's type is `exec`: another --exec with the key is the same kind of job
    (its id, exit 0), a job type's enqueue is not."""
    env.write_config(TYPES)
    holder = env.enqueue("--key", "K", "--delay", "1h", "--exec", "--", "true")
    same = env.run("enqueue", "--key", "K", "--exec", "--", "true")
    assert (same.returncode, same.stdout) == (0, f"{holder}\n")
    other = env.run("enqueue", "ok", "--key", "K")
    assert (other.returncode, other.stdout) == (1, "")
    assert f"held by job {holder} (exec, queue default)" in other.stderr


def test_batch_lines_whose_key_another_job_type_holds_are_counted_and_fail(env: Env) -> None:
    """A line `{"job":"ok","key":"BK"}` after a rec line with BK got `created: false` and the
    rec job's id, exit 0: now such lines are counted on stderr and the batch exits 1, while a
    line of the holder's own type is still only skipped."""
    env.write_config(TYPES)
    holder = env.enqueue("rec", "--key", "user-42", "--delay", "1h")
    lines = "".join(
        json.dumps(line) + "\n"
        for line in (
            {"job": "ok", "key": "user-42"},  # another type: refused
            {"job": "rec", "key": "user-42"},  # the holder's type: skipped, as before
            {"job": "rec", "key": "BK"},  # queued
            {"job": "ok", "key": "BK"},  # another type than the line above: refused
            {"job": "ok"},  # queued
        )
    )
    result = env.run("enqueue", "--batch", "-", input=lines)
    assert result.returncode == 1
    ids = [int(i) for i in result.stdout.split()]
    assert ids[:2] == [holder, holder] and ids[3] == ids[2]
    assert result.stderr.splitlines() == [
        "jobctl: 1 job(s) matched an active key; not queued",
        f"jobctl: 2 job(s) matched a key held by a job of another job type or queue"
        f" (job {holder}, {ids[2]}); not queued",
    ]


def test_dead_retry_names_the_dependents_that_stay_dead(env: Env) -> None:
    """`dead retry P` said only `retried 1 dead job(s)`: the jobs that waited for P (and for
    them) stayed dead for good without a word. The note names them and the command that
    runs them after it, which does."""
    flag = env.root / "flag"
    env.write_config(
        f'[jobs.flag]\ncommand = ["test", "-e", "{flag}"]\nmax_attempts = 1\n'
        '[jobs.rec]\ncommand = ["true"]\n'
    )
    parent = env.enqueue("flag")
    child = env.enqueue("rec", "--after", str(parent))
    grandchild = env.enqueue("rec", "--after", str(child))
    unrelated = env.enqueue("flag")
    burst(env)
    for job_id in (parent, child, grandchild, unrelated):
        found = job(env, job_id)
        assert found is not None and found.state.value == "dead"
    flag.touch()
    retried = env.run("dead", "retry", str(parent), check=True)
    assert retried.stdout == f"retried 1 dead job(s): {parent}\n"
    assert retried.stderr == (
        f"jobctl: note: 2 job(s) that waited for job {parent} stay dead: {child}, {grandchild}"
        f" (jobctl dead retry {child} {grandchild} runs them after it)\n"
    )
    again = env.run("dead", "retry", str(child), str(grandchild), check=True)
    assert again.stderr == ""  # nothing waits behind them
    burst(env)
    for job_id in (parent, child, grandchild):
        found = job(env, job_id)
        assert found is not None and found.state.value == "succeeded"


def test_dead_retry_of_a_job_nothing_waited_for_adds_no_note(env: Env) -> None:
    env.write_config('[jobs.no]\ncommand = ["false"]\nmax_attempts = 1\n')
    dead = env.enqueue("no")
    burst(env)
    retried = env.run("dead", "retry", str(dead), check=True)
    assert retried.stderr == ""
