"""An enqueue whose key a job of another job type or queue holds, and the dead jobs a
`dead retry` of the job they waited for leaves behind: end to end, through the CLI."""

from __future__ import annotations

import json
import time

from conftest import Env
from test_ops_support import burst, job, opened

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


def test_an_exec_holder_is_alike_only_with_the_same_command_and_cwd(env: Env) -> None:
    """Every --exec job's type is `exec`: `--exec --key deploy -- echo run-tests` while
    `echo deploy-prod` held the key printed that job's id, exit 0, and `run-tests` never ran.
    Another command or cwd is another job (refused, the holder named by its command); the
    same command in the same place is the idempotent answer, and a job type is refused."""
    env.write_config(TYPES)
    holder = env.enqueue("--key", "K", "--delay", "1h", "--exec", "--", "echo", "deploy-prod")
    same = env.run("enqueue", "--key", "K", "--exec", "--", "echo", "deploy-prod")
    assert (same.returncode, same.stdout) == (0, f"{holder}\n")
    other = env.run("enqueue", "--key", "K", "--exec", "--", "echo", "run-tests")
    assert (other.returncode, other.stdout) == (1, "")
    assert other.stderr.splitlines()[-1] == (
        f"jobctl: key 'K' is held by job {holder} (echo deploy-prod, queue default), not a job"
        " like this one; nothing queued"
    )
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    moved = env.run(
        "enqueue", "--key", "K", "--exec", "--cwd", str(elsewhere), "--", "echo", "deploy-prod"
    )
    assert (moved.returncode, moved.stdout) == (1, "")
    assert f"held by job {holder} (echo deploy-prod in {env.root}, queue" in moved.stderr
    typed = env.run("enqueue", "ok", "--key", "K")
    assert (typed.returncode, typed.stdout) == (1, "")
    assert f"held by job {holder} (echo deploy-prod, queue default)" in typed.stderr
    lines = '{"command":["echo","run-tests"],"key":"K"}\n'
    batch = env.run("enqueue", "--batch", "-", input=lines)
    assert (batch.returncode, batch.stdout) == (1, "")
    assert "is held by job" in batch.stderr and "(echo deploy-prod, queue default)" in batch.stderr
    listed = env.run("list", "--json", check=True)
    assert [j["id"] for j in json.loads(listed.stdout)] == [holder]


def test_a_key_held_by_a_job_still_stopping_gives_json_the_refusal_s_document(env: Env) -> None:
    """A key held by a job cancelled while running, whose process still stops (here its
    worker was killed with -9 and its lease has not run out), left stdout empty under --json
    (exit 1): `jq` read no document where every other held key gives one."""
    env.write_config(TYPES)
    done = env.enqueue("ok", "--key", "K")
    burst(env)
    stopping = env.enqueue("rec", "--key", "K")
    with opened(env) as store:
        (claim,) = store.claim("gone", None, time.time(), 3600.0)
    assert claim.job.id == stopping
    env.run("cancel", str(stopping), check=True)
    for command in (
        ["enqueue", "rec", "-k", "K"],
        ["enqueue", "ok", "-k", "K"],
        ["retry", str(done)],
    ):
        refused = env.run(*command, "--json")
        assert refused.returncode == 1, command
        assert f"job {stopping} still holds the key 'K' while its process stops" in refused.stderr
        document = json.loads(refused.stdout)
        assert document["id"] is None and document["created"] is False, command
        assert (document["holder"]["id"], document["holder"]["state"]) == (stopping, "cancelled")
    listed = env.run("list", "--json", check=True)
    assert sorted(j["id"] for j in json.loads(listed.stdout)) == [done, stopping]


def test_retry_whose_key_another_job_type_holds_is_refused_as_enqueue_refuses_it(
    env: Env,
) -> None:
    """`retry 1` of an ok job whose key a rec job now held printed the rec job's id, exit 0
    (`--json`: the rec job as if it were the retry): `new=$(jobctl retry 1) && jobctl wait
    $new` waited on other work. It is refused as enqueue refuses it; a holder alike is still
    the answer."""
    env.write_config(TYPES)
    done = env.enqueue("ok", "--key", "K")
    burst(env)
    holder = env.enqueue("rec", "--key", "K", "--delay", "1h")
    refused = env.run("retry", str(done))
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.splitlines()[-1] == (
        f"jobctl: key 'K' is held by job {holder} (rec, queue default), not a job like this"
        " one; nothing queued"
    )
    as_json = env.run("retry", str(done), "--json")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["id"] is None and document["created"] is False
    assert (document["holder"]["id"], document["holder"]["job"]) == (holder, "rec")
    listed = env.run("list", "--json", check=True)
    assert sorted(j["id"] for j in json.loads(listed.stdout)) == [done, holder]
    env.run("cancel", str(holder), check=True)
    alike = env.enqueue("ok", "--key", "K", "--delay", "1h")
    again = env.run("retry", str(done))
    assert (again.returncode, again.stdout) == (0, f"{alike}\n")
    assert again.stderr == f"jobctl: job {alike} with key 'K' is already active; nothing queued\n"


def test_a_batch_line_whose_key_another_job_type_holds_stores_nothing_of_the_batch(
    env: Env,
) -> None:
    """Such a line printed the other job type's id as its own, and the batch's other lines
    were stored before it exited 1: a script that ran the batch again on exit 1 stored them
    twice. Now the batch stores nothing, names the first such line, and prints no id."""
    env.write_config(TYPES)
    holder = env.enqueue("rec", "--key", "K", "--delay", "1h")
    (env.root / "m.jsonl").write_text(
        '{"job":"rec","key":"K"}\n\n{"job":"ok","key":"K"}\n{"job":"ok"}\n{"job":"ok","key":"K"}\n'
    )
    refusal = (
        f"jobctl: m.jsonl:3: key 'K' is held by job {holder} (rec, queue default), not a job"
        " like this one; nothing queued"
    )
    for extra in ((), ("--json",), ()):  # run again on exit 1: still nothing stored
        result = env.run("enqueue", "--batch", "m.jsonl", *extra)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.splitlines()[-1] == refusal
    listed = env.run("list", "--json", check=True)
    assert [j["id"] for j in json.loads(listed.stdout)] == [holder]


def test_a_batch_line_whose_key_an_earlier_line_unlike_it_takes_is_refused(env: Env) -> None:
    """Within a batch too: an `ok` line after a `rec` line with the same key got the rec
    job's id. The batch stores nothing and names both lines; lines of one kind stay one job."""
    env.write_config(TYPES)
    lines = '{"job":"rec","key":"B"}\n{"job":"ok"}\n{"job":"ok","key":"B","queue":"q"}\n'
    refused = env.run("enqueue", "--batch", "-", input=lines)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.splitlines()[-1] == (
        "jobctl: <stdin>:3: key 'B' is held by line 1's job (rec, queue default), not a job"
        " like this one; nothing queued"
    )
    assert json.loads(env.run("list", "--json", check=True).stdout) == []
    same = env.run("enqueue", "--batch", "-", input='{"job":"ok","key":"B"}\n' * 2, check=True)
    first, second = same.stdout.split()
    assert first == second


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
