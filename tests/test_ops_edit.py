"""`jobctl edit`: changing jobs that have not started, end to end on a real database and
real workers."""

from __future__ import annotations

import json

from conftest import Env
from test_ops_support import burst, start_worker, wait_state


def test_edit_changes_the_payload_and_order_a_worker_runs_jobs_in(env: Env) -> None:
    env.write_config(
        '[jobs.record]\ncommand = ["sh", "-c", "echo \\"$1\\" >> runs.txt", "_", "{name}"]\n'
    )
    first = env.enqueue("record", "--arg", "name=first")
    second = env.enqueue("record", "--arg", "name=second", "--arg", "extra=kept")
    result = env.run("edit", str(second), "--priority", "5", "--arg", "name=edited")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"edited {second} (queued)\n"
    burst(env, "--concurrency", "1")
    assert (env.root / "runs.txt").read_text() == "edited\nfirst\n"
    assert env.show(second)["payload"] == {"name": "edited", "extra": "kept"}
    assert env.show(first)["payload"] == {"name": "first"}


def test_edit_delay_0_runs_a_scheduled_job_now_and_a_delay_puts_one_off(env: Env) -> None:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    later = env.enqueue("noop", "--delay", "1h")
    now = env.enqueue("noop")
    result = env.run("edit", str(later), "--delay", "0")
    assert result.stdout == f"edited {later} (queued)\n"
    result = env.run("edit", str(now), "--at", "+2h", "--json")
    (document,) = json.loads(result.stdout)
    assert (document["id"], document["state"], document["edited"]) == (now, "scheduled", True)
    burst(env)
    assert env.show(later)["state"] == "succeeded"
    assert env.show(now)["state"] == "scheduled"


def test_edit_wakes_an_idle_worker_for_a_job_it_moves_forward(env: Env) -> None:
    # A lease of 5 minutes: the idle worker's own next look is 100 s away, so only the
    # edit's wake-up can start the job within the wait below.
    env.write_config('[settings]\nlease = "5m"\n[jobs.noop]\ncommand = ["true"]\n')
    job_id = env.enqueue("noop", "--delay", "1h")
    start_worker(env)
    env.run("edit", str(job_id), "--delay", "0", check=True)
    wait_state(env, job_id, "succeeded", timeout=20)


def test_edit_to_run_now_keeps_the_place_of_a_job_due_already(env: Env) -> None:
    """`edit --delay 0` ("run it now") set a queued job's time to now, behind every job of
    its priority: the first in line ran last."""
    env.write_config(
        '[jobs.record]\ncommand = ["sh", "-c", "echo \\"$1\\" >> runs.txt", "_", "{name}"]\n'
    )
    first = env.enqueue("record", "--arg", "name=first")
    for name in ("second", "third"):
        env.enqueue("record", "--arg", f"name={name}")
    env.run("edit", str(first), "--delay", "0", check=True)
    env.run("edit", str(first), "--at", "2020-01-01T00:00", check=True)
    burst(env, "--concurrency", "1")
    assert (env.root / "runs.txt").read_text().split() == ["first", "second", "third"]


def test_edit_at_a_time_past_says_the_job_runs_now(env: Env) -> None:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    job_id = env.enqueue("noop", "--delay", "1h")
    result = env.run("edit", str(job_id), "--at", "2020-01-01T00:00", check=True)
    assert result.stdout == f"edited {job_id} (queued)\n"
    assert "jobctl: note: --at 2020-01-01T00:00 was " in result.stderr
    assert result.stderr.rstrip().endswith("the job runs now")


def test_edits_of_different_fields_at_once_both_hold(env: Env) -> None:
    """Each edit wrote back every field it had read: `edit --priority` beside `edit --arg`
    on the same jobs undid one of the two, both saying edited."""
    import subprocess

    from conftest import JOBCTL

    env.write_config('[jobs.greet]\ncommand = ["echo", "{name}"]\n')
    lines = "".join(f'{{"job": "greet", "payload": {{"name": "n{i}"}}}}\n' for i in range(300))
    ids = env.run("enqueue", "--batch", "-", input=lines, check=True).stdout.split()
    both = [
        subprocess.Popen(
            [*JOBCTL, *env.global_args(), "edit", *ids, *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env.env,
            cwd=env.root,
        )
        for options in (["--priority", "9"], ["--arg", "name=new"], ["--arg", "extra=1"])
    ]
    for proc in both:
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    listed = json.loads(env.run("list", "--limit", "0", "--json", check=True).stdout)
    assert {j["priority"] for j in listed} == {9}
    assert all(j["payload"] == {"name": "new", "extra": "1"} for j in listed)


def test_edit_refuses_a_change_enqueue_would_refuse_and_changes_none(env: Env) -> None:
    env.write_config('[jobs.greet]\ncommand = ["echo", "{name}"]\n')
    ids = [env.enqueue("greet", "--arg", f"name=n{i}") for i in range(2)]
    for options, words in (
        (["--queue", "bad queue"], "queue"),
        (["--max-attempts", "0"], "--max-attempts: must be between 1 and 1000, got 0"),
        (["--priority", "9007199254740992"], "priority"),
        (["--arg", "name:=null"], "{name}"),
        ([], "nothing to change"),
    ):
        result = env.run("edit", *map(str, ids), *options)
        assert result.returncode == 2, (options, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    for job_id, i in zip(ids, range(2), strict=True):
        shown = env.show(job_id)
        assert (shown["queue"], shown["max_attempts"], shown["priority"]) == ("default", 3, 0)
        assert shown["payload"] == {"name": f"n{i}"}


def test_edit_leaves_jobs_running_or_ended_and_says_how_to_change_them(env: Env) -> None:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    done = env.enqueue("noop")
    burst(env)
    queued = env.enqueue("noop")
    result = env.run("edit", str(done), str(queued), "999", "--priority", "3")
    assert result.returncode == 1
    assert result.stdout == f"edited {queued} (queued)\n"
    assert f"job {done} not edited: it already ended succeeded (`jobctl retry {done}`" in (
        result.stderr
    )
    assert "jobctl: job 999 does not exist; not edited\n" in result.stderr
    assert "2 job(s) not edited" in result.stderr
    assert env.show(done)["priority"] == 0 and env.show(queued)["priority"] == 3
    result = env.run("edit", str(done), "--priority", "3", "--json")
    assert result.returncode == 1
    (document,) = json.loads(result.stdout)
    assert document["edited"] is False and document["reason"] == "already ended succeeded"


def test_edit_of_max_attempts_counts_the_attempts_made(env: Env) -> None:
    env.write_config('[jobs.fail]\ncommand = ["false"]\nmax_attempts = 3\nbackoff = "1h"\n')
    job_id = env.enqueue("fail")
    start_worker(env)
    wait_state(env, job_id, "scheduled", timeout=10)  # its first attempt failed; retry in 1h
    result = env.run("edit", str(job_id), "--max-attempts", "1")
    assert result.returncode == 2
    assert "has made 1 attempt(s) already" in result.stderr
    result = env.run("edit", str(job_id), "--max-attempts", "2", "--delay", "0")
    assert result.returncode == 0, result.stderr
    shown = wait_state(env, job_id, "dead", timeout=10)  # its second and last attempt
    assert shown.attempts == 2


def test_edit_of_a_waiting_job_keeps_it_after_its_jobs(env: Env) -> None:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    first = env.enqueue("noop", "--delay", "1h")
    then = env.enqueue("noop", "--after", str(first))
    result = env.run("edit", str(then), "--delay", "0", "--queue", "later")
    assert result.stdout == f"edited {then} (waiting)\n"
    burst(env, "--queue", "later")
    assert env.show(then)["state"] == "waiting"
    env.run("edit", str(first), "--delay", "0", check=True)
    burst(env)
    assert env.show(then)["state"] == "succeeded"
