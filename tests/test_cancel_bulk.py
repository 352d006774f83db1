"""`cancel --queue` / `--job` / `--all` (pueue's `kill -g` and `kill --all`) and `prune ID…`
(pueue's `remove`), end to end on a real database, real workers and the real CLI."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from pathlib import Path

from conftest import JOBCTL, Env
from test_ops_support import attempts, burst, job, opened, start_worker, wait_state

CONFIG = """
[queues.a]
max_running = 1
[queues.b]
max_running = 1
[queues.c]
max_running = 1

[jobs.ok]
command = ["sh", "-c", "echo out of $JOBCTL_JOB_ID"]
[jobs.bad]
command = ["sh", "-c", "echo failing; exit 3"]
max_attempts = 1
[jobs.slow]
command = ["sleep", "300"]
kill_grace = "1s"
"""


def _state(env: Env, job_id: int) -> str | None:
    found = job(env, job_id)
    return None if found is None else found.state.value


def _on_a_terminal(env: Env, answer: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """Run jobctl with a pseudo-terminal as stdin, typing `answer`."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*JOBCTL, *env.global_args(), *args],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env.env,
            cwd=env.root,
        )
        os.close(follower)
        os.write(leader, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_cancel_queue_cancels_every_active_job_of_those_queues_alone(env: Env) -> None:
    """`cancel -q a -q b` cancels the queued, scheduled, waiting and running jobs of a and b,
    each said as `cancel ID` says it; queue c's jobs and the jobs that had ended stay."""
    env.write_config(CONFIG)
    done = env.enqueue("ok", "-q", "a")
    burst(env)
    start_worker(env)
    running = env.enqueue("slow", "-q", "a")
    wait_state(env, running, "running")
    queued = env.enqueue("ok", "-q", "a")  # behind the running one (max_running = 1)
    scheduled = env.enqueue("ok", "-q", "b", "--delay", "1h")
    waiting = env.enqueue("ok", "-q", "b", "--after", str(scheduled))
    elsewhere = env.enqueue("ok", "-q", "c", "--delay", "1h")

    result = env.run("cancel", "-q", "a", "--queue", "b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"cancelled {running} (was running: its worker is stopping it)",
        f"cancelled {queued} (was queued)",
        f"cancelled {scheduled} (was scheduled)",
        f"cancelled {waiting} (was waiting)",
    ]
    assert result.stderr == ""
    for job_id in (running, queued, scheduled, waiting):
        assert _state(env, job_id) == "cancelled"
    assert _state(env, done) == "succeeded"
    assert _state(env, elsewhere) == "scheduled"

    # Nothing active left there: a note, exit 0; a queue no one knows is a typo (exit 2).
    again = env.run("cancel", "-q", "a", "--json")
    assert (again.returncode, again.stdout) == (0, "[]\n")
    assert again.stderr == "jobctl: note: no job is active in queue(s) a; nothing cancelled\n"
    typo = env.run("cancel", "-q", "cc")
    assert typo.returncode == 2 and "unknown queue 'cc'" in typo.stderr
    assert _state(env, elsewhere) == "scheduled"


def test_cancel_job_cancels_the_active_jobs_of_one_type_in_the_queues_given(env: Env) -> None:
    """`cancel -j bad` cancels the active jobs of that job type alone, in every queue or, with
    --queue, in those queues; the jobs of other types and those that had ended stay. A type
    no one knows is a typo (exit 2), nothing cancelled."""
    env.write_config(CONFIG)
    ended = env.enqueue("bad", "-q", "a")
    burst(env)
    in_a = env.enqueue("bad", "-q", "a", "--delay", "1h")
    in_b = env.enqueue("bad", "-q", "b", "--delay", "1h")
    in_c = env.enqueue("bad", "-q", "c", "--delay", "1h")
    other = env.enqueue("ok", "-q", "a", "--delay", "1h")

    result = env.run("cancel", "-j", "bad", "-q", "a", "-q", "b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"cancelled {in_a} (was scheduled)",
        f"cancelled {in_b} (was scheduled)",
    ]
    assert (_state(env, in_c), _state(env, other), _state(env, ended)) == (
        "scheduled",
        "scheduled",
        "dead",
    )
    everywhere = env.run("cancel", "--job", "bad", "--json")
    assert everywhere.returncode == 0, everywhere.stderr
    assert [(o["id"], o["cancelled"]) for o in json.loads(everywhere.stdout)] == [(in_c, True)]
    none_left = env.run("cancel", "-j", "bad")
    assert (none_left.returncode, none_left.stdout) == (0, "")
    assert none_left.stderr == (
        "jobctl: note: no job is active of job type bad in any queue; nothing cancelled\n"
    )
    typo = env.run("cancel", "-j", "bda")
    assert typo.returncode == 2 and "--job 'bda': no job type of that name" in typo.stderr
    assert _state(env, other) == "scheduled"


def test_cancel_all_cancels_every_active_job_with_yes_and_needs_it_from_a_script(
    env: Env,
) -> None:
    env.write_config(CONFIG)
    ids = [env.enqueue("ok", "-q", q, "--delay", "1h") for q in ("a", "b", "c", "default")]

    refused = env.run("cancel", "--all")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == "jobctl: --all needs --yes where no terminal can be asked to confirm\n"
    assert all(_state(env, i) == "scheduled" for i in ids)

    result = env.run("cancel", "--all", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert [(o["id"], o["cancelled"], o["was"]) for o in outcomes] == [
        (i, True, "scheduled") for i in ids
    ]
    assert all(_state(env, i) == "cancelled" for i in ids)
    later = env.enqueue("ok")  # enqueued after the cancel: not touched by it
    assert _state(env, later) == "queued"


def test_cancel_all_asks_first_on_a_terminal(env: Env) -> None:
    env.write_config(CONFIG)
    ids = [env.enqueue("ok", "-q", "a"), env.enqueue("ok", "-q", "b")]
    declined = _on_a_terminal(env, b"n\n", "cancel", "--all")
    assert (declined.returncode, declined.stdout) == (1, "")
    assert declined.stderr == "Cancel 2 active job(s)? [y/N] jobctl: nothing cancelled\n"
    assert all(_state(env, i) == "queued" for i in ids)

    accepted = _on_a_terminal(env, b"y\n", "cancel", "-a")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.splitlines() == [f"cancelled {i} (was queued)" for i in ids]
    assert all(_state(env, i) == "cancelled" for i in ids)


def test_cancel_refuses_ids_with_queue_or_all(env: Env) -> None:
    env.write_config(CONFIG)
    job_id = env.enqueue("ok", "-q", "a")
    for args in (
        [str(job_id), "-q", "a"],
        [str(job_id), "-j", "ok"],
        [str(job_id), "--all", "--yes"],
        ["-q", "a", "--all", "--yes"],
        ["-j", "ok", "--all", "--yes"],
        [],
    ):
        result = env.run("cancel", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == ""
    assert _state(env, job_id) == "queued"


def test_cancel_refuses_yes_with_ids(env: Env) -> None:
    """--yes answers --all's question: with ids it was taken in silence, as if that cancel
    asked first (other options that do not apply are refused). With --queue, a script's
    `cancel -q Q --yes` goes on: a cancel of a whole queue may well be asked about."""
    env.write_config(CONFIG)
    job_id = env.enqueue("ok", "-q", "a")
    result = env.run("cancel", str(job_id), "--yes")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "jobctl: --yes answers the question of --all; a cancel of ids asks none: drop it\n"
    )
    assert _state(env, job_id) == "queued"
    env.run("cancel", "-y", "-q", "a", check=True)
    assert _state(env, job_id) == "cancelled"


def test_cancel_says_a_queue_given_twice_once(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok", "-q", "c")
    result = env.run("cancel", "-q", "a", "-q", "b", "--queue", "a")
    assert result.returncode == 0
    assert result.stderr == "jobctl: note: no job is active in queue(s) a, b; nothing cancelled\n"


def test_prune_ids_deletes_ended_jobs_and_their_logs_and_refuses_active_ones(env: Env) -> None:
    """`prune ID…` deletes jobs that ended in any way, with their logs, as pueue's `remove`
    does; an active job given is named and stays (exit 1), as `dead purge` refuses a job
    that is not dead."""
    env.write_config(CONFIG)
    succeeded = env.enqueue("ok")
    dead = env.enqueue("bad")
    burst(env)
    cancelled = env.enqueue("ok")
    env.run("cancel", str(cancelled), check=True)
    active = env.enqueue("ok", "--delay", "1h")
    kept = env.enqueue("ok")
    burst(env)
    assert (_state(env, succeeded), _state(env, dead)) == ("succeeded", "dead")
    logs = [Path(a.log_path) for i in (succeeded, dead) for a in attempts(env, i) if a.log_path]
    assert len(logs) == 2 and all(p.exists() for p in logs)

    given = (succeeded, dead, cancelled, active, 999)
    result = env.run("prune", *map(str, given), "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert (document["pruned"], document["logs_removed"]) == (
        sorted([succeeded, dead, cancelled]),
        2,
    )
    # Which ids stayed, and why, as `dead purge --json` says them in not_purged.
    assert [(o["id"], o["state"], o["pruned"], o["reason"]) for o in document["not_pruned"]] == [
        (active, "scheduled", False, f"is scheduled, not ended (jobctl cancel {active} first)"),
        (999, None, False, "does not exist"),
    ]
    assert result.stderr == (
        f"jobctl: job {active} is scheduled, not ended (jobctl cancel {active} first);"
        " not pruned\n"
        "jobctl: job 999 does not exist; not pruned\n"
        "jobctl: 2 job(s) not pruned\n"
    )
    assert not any(p.exists() for p in logs)
    for job_id in (succeeded, dead, cancelled):
        assert job(env, job_id) is None
    assert _state(env, active) == "scheduled"
    assert _state(env, kept) == "succeeded"  # not given: stays, whatever its age

    one = env.run("prune", str(active))
    assert one.returncode == 1 and one.stdout.startswith("pruned 0 job(s)")
    assert "not pruned" in one.stderr and _state(env, active) == "scheduled"
    missing = env.run("prune", "999")
    assert missing.returncode == 1
    assert missing.stderr == "jobctl: job 999 does not exist; not pruned\n"


def test_prune_ids_names_a_cancelled_job_whose_process_is_still_stopping(env: Env) -> None:
    """Its lease keeps it until its worker sees the process gone (here a worker killed with
    -9, whose lease has not yet run out): prune counted it among the jobs to delete, asked
    about it on a terminal, deleted nothing and said nothing (exit 0)."""
    env.write_config(CONFIG)
    stopping = env.enqueue("slow")
    with opened(env) as store:
        (claim,) = store.claim("gone", None, time.time(), 3600.0)
    assert claim.job.id == stopping
    env.run("cancel", str(stopping), check=True)
    said = f"jobctl: job {stopping} is cancelled, but its process is still stopping; not pruned\n"

    plain = env.run("prune", "-y", str(stopping))
    assert plain.returncode == 1 and plain.stdout.startswith("pruned 0 job(s)")
    assert plain.stderr == said
    as_json = env.run("prune", "-y", str(stopping), "--json")
    assert as_json.returncode == 1 and as_json.stderr == said
    (outcome,) = json.loads(as_json.stdout)["not_pruned"]
    assert (outcome["id"], outcome["state"], outcome["pruned"]) == (stopping, "cancelled", False)
    assert outcome["reason"] == "is cancelled, but its process is still stopping"
    asked = _on_a_terminal(env, b"y\n", "prune", str(stopping))
    assert (asked.returncode, asked.stderr) == (1, said)  # no question: nothing to delete
    assert _state(env, stopping) == "cancelled"


def test_prune_needs_ids_or_older_than_not_both(env: Env) -> None:
    env.write_config(CONFIG)
    job_id = env.enqueue("ok")
    burst(env)
    bare = env.run("prune")
    assert bare.returncode == 2
    assert bare.stderr == (
        "jobctl: prune needs job ids, or --older-than (0 for every finished job)\n"
    )
    for extra in (["--older-than", "0s"], ["-s", "succeeded"]):
        both = env.run("prune", str(job_id), *extra)
        assert both.returncode == 2, both.stderr
    assert _state(env, job_id) == "succeeded"


def test_cancel_edit_and_prune_name_twenty_jobs_left_alone_then_count_the_rest(env: Env) -> None:
    """One line for each job a command on several left alone, up to 20, then how many more
    (as `dead retry` and `dead purge` say them): a cancel of 30,000 ids that do not exist
    printed 30,000 lines. `--json` still names every one."""
    env.write_config(CONFIG)
    first = env.enqueue("ok")
    missing = [str(n) for n in range(first + 1, first + 31)]
    for args, verb in (
        (["cancel", *missing], "cancelled"),
        (["edit", *missing, "--priority", "5"], "edited"),
        (["prune", *missing], "pruned"),
    ):
        result = env.run(*args)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert lines[:20] == [f"jobctl: job {n} does not exist; not {verb}" for n in missing[:20]]
        assert lines[20:] == [
            f"jobctl: and 10 more job(s) not {verb}",
            f"jobctl: 30 job(s) not {verb}",
        ], result.stderr
    documents = json.loads(env.run("cancel", *missing, "--json").stdout)
    assert [d["reason"] for d in documents] == ["does not exist"] * 30
    assert _state(env, first) == "queued"
