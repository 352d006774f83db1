"""cancel, retry, pause/resume and prune, end to end on a real database and real workers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Env
from test_ops_support import (
    attempts,
    burst,
    job,
    process_gone,
    read_pid,
    start_worker,
    wait_attempt_over,
    wait_state,
)

from jobctl.models import NewJob
from jobctl.store.sqlite import SqliteStore

TREE = """#!/bin/sh
# leader -> inner shell -> sleep: a process tree two levels deep
{trap}
sh -c '{trap} echo $$ > "$1/inner.pid"; sleep 300 & echo $! > "$1/sleep.pid"; wait' _ "$1" &
wait
"""


@pytest.fixture(autouse=True)
def _no_tree_left(env: Env) -> Iterator[None]:
    """A test that fails half-way leaves its tree job running in a session of its own, out
    of reach of the sandbox's clean-up: end what the tree recorded."""
    yield
    for proc in env.procs:  # first the workers, which could start another tree
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    for name in ("inner.pid", "sleep.pid"):
        pid = read_pid(env.root / name)
        if pid is not None and not process_gone(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _tree_job(env: Env, *, ignore_term: bool, kill_grace: str) -> Path:
    script = env.root / "tree.sh"
    script.write_text(TREE.format(trap='trap "" TERM;' if ignore_term else ""))
    env.write_config(
        f'[jobs.tree]\ncommand = ["sh", "{script}", "{env.root}"]\nkill_grace = "{kill_grace}"\n'
    )
    return env.root


def _cancel_running_tree(env: Env, *, ignore_term: bool) -> None:
    root = _tree_job(env, ignore_term=ignore_term, kill_grace="1s")
    start_worker(env)
    job_id = env.enqueue("tree")
    env.wait_for(lambda: read_pid(root / "sleep.pid") is not None)
    pids = [read_pid(root / "inner.pid"), read_pid(root / "sleep.pid")]
    assert all(p is not None and not process_gone(p) for p in pids)

    result = env.run("cancel", str(job_id))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cancelled {job_id} (was running: its worker is stopping it)\n"
    env.wait_for(lambda: all(process_gone(p) for p in pids if p is not None), timeout=15)

    last = wait_attempt_over(env, job_id)
    assert last.outcome is not None and last.outcome.value == "cancelled"
    assert last.signal == (9 if ignore_term else 15)
    final = job(env, job_id)
    assert final is not None and final.state.value == "cancelled"
    assert final.attempts == 1 and len(attempts(env, job_id)) == 1  # not retried


def test_cancel_running_job_terminates_its_whole_process_group(env: Env) -> None:
    _cancel_running_tree(env, ignore_term=False)


def test_cancel_kills_a_job_ignoring_sigterm_after_its_kill_grace(env: Env) -> None:
    _cancel_running_tree(env, ignore_term=True)


def test_a_cancelled_job_holds_its_key_while_its_process_is_still_stopping(env: Env) -> None:
    """kill_grace keeps the process alive for a while: a second job with the same key must
    not start beside it. The key is free once the process is gone."""
    # A grace no machine's load outlasts: the test ends the process itself once it is done.
    root = _tree_job(env, ignore_term=True, kill_grace="10m")
    env.write_config(env.config.read_text() + '[jobs.fail]\ncommand = ["false"]\n')
    dead = env.enqueue("fail", "--key", "only-one", "--max-attempts", "1")
    burst(env)
    start_worker(env)
    job_id = env.enqueue("tree", "--key", "only-one")
    env.wait_for(lambda: read_pid(root / "sleep.pid") is not None)
    sleeper = read_pid(root / "sleep.pid")
    assert sleeper is not None
    env.run("cancel", str(job_id), check=True)

    again = env.run("enqueue", "tree", "--key", "only-one")
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == (
        f"jobctl: job {job_id} still holds the key 'only-one' while its process stops (it was"
        " cancelled); nothing queued: enqueue again once it has stopped\n"
    )
    waited = env.run("enqueue", "tree", "--key", "only-one", "--wait", "--json")
    # Nothing to wait for: the refusal's document, as for a key held by a job unlike it.
    assert waited.returncode == 1
    document = json.loads(waited.stdout)
    assert (document["id"], document["created"], document["holder"]["id"]) == (None, False, job_id)
    # A batch is all or nothing: the other line is not stored either (a script enqueueing
    # the batch again on exit 1 would queue it twice).
    stored = len(json.loads(env.run("list", "--json", "-n", "0", check=True).stdout))
    lines = '{"job": "fail"}\n{"job": "tree", "key": "only-one"}\n'
    batch = env.run("enqueue", "--batch", "-", input=lines)
    assert (batch.returncode, batch.stdout) == (1, "")
    assert batch.stderr == (
        f"jobctl: job {job_id} still holds the key 'only-one' while its process stops (it was"
        " cancelled); nothing queued: enqueue the batch again once it has stopped\n"
    )
    assert len(json.loads(env.run("list", "--json", "-n", "0", check=True).stdout)) == stored
    retried = env.run("dead", "retry", str(dead))
    assert retried.returncode != 0
    assert f"job {dead} has the key 'only-one', which an active job holds" in retried.stderr
    rerun = env.run("retry", str(job_id))
    assert rerun.returncode == 1
    assert rerun.stderr == (
        f"jobctl: job {job_id} was cancelled and its process is still stopping (SIGKILL after"
        f" its kill_grace); nothing queued: retry once it has stopped (`jobctl wait {job_id}`"
        " returns then)\n"
    )
    assert not process_gone(sleeper)  # so the commands above came while it still ran

    os.kill(sleeper, signal.SIGKILL)  # as its grace would, 10 minutes from now
    env.wait_for(lambda: process_gone(sleeper), timeout=20)
    wait_attempt_over(env, job_id)
    assert env.enqueue("tree", "--key", "only-one", "--delay", "1h") != job_id


def test_a_cancelled_job_still_stopping_is_shown_as_such_not_as_ended(env: Env) -> None:
    """A cancelled job whose process ignores SIGTERM keeps its worker's slot for its
    kill_grace: `status` said "Running: none", `list` and `show` that it had ended, the
    queued job did not start and nothing said why; a second cancel said "already ended"."""
    from test_ops_json import STATUS_RUNNING
    from test_output_edges import run_on_terminal

    root = _tree_job(env, ignore_term=True, kill_grace="10m")
    start_worker(env)  # one slot
    job_id = env.enqueue("tree")
    env.wait_for(lambda: read_pid(root / "sleep.pid") is not None)
    env.run("cancel", str(job_id), check=True)
    waiting = env.enqueue("--exec", "--", "echo", "next")

    again = env.run("cancel", str(job_id))
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == (
        f"jobctl: job {job_id} already cancelled, still stopping: its worker sends SIGKILL"
        " after the job's kill_grace (10m); not cancelled again\n"
    )

    status = json.loads(env.run("status", "--json", check=True).stdout)
    assert status["running"] == [] and status["queues"][0]["stopping"] == 1
    [stopping] = status["stopping"]
    assert set(stopping) == STATUS_RUNNING | {"cancelled_at"} and stopping["id"] == job_id
    lines = env.run("status", check=True).stdout.splitlines()
    assert "Running: none" not in lines
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ID", "JOB"])
    assert lines[head].split()[-2:] == ["STATE", "COMMAND"]
    assert lines[head + 1].split()[:2] == [str(job_id), "tree"]
    assert lines[head + 1].split()[-2:] == ["stopping", "-"]
    shown = _visible(run_on_terminal(env, "status")).splitlines()
    assert next(line for line in shown if line.startswith(f"{job_id} ")).split()[-1] == "stopping"

    rows = {int(line.split()[0]): line for line in env.run("list").stdout.splitlines()[1:]}
    assert rows[job_id].split()[3] == "cancelled"  # the state as --state names it
    assert "stopping, cancelled " in rows[job_id] and "ended" not in rows[job_id]
    shown = _visible(run_on_terminal(env, "list")).splitlines()
    row = next(line for line in shown if line.startswith(f"{job_id} "))
    assert row.split()[2] == "stopping" and "ended" not in row
    assert (
        "state      cancelled (stopping: its process has yet to end; SIGKILL after its"
        " kill_grace)" in env.run("show", str(job_id), check=True).stdout.splitlines()
    )
    assert env.show(waiting)["state"] == "queued"  # its slot is held indeed


def _visible(text: str) -> str:
    """Terminal output without its SGR sequences (colour, bold)."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_cancel_of_one_unknown_job_is_one_line(env: Env) -> None:
    env.write_config('[jobs.hi]\ncommand = ["true"]\n')
    env.enqueue("hi")
    result = env.run("cancel", "999")
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "jobctl: job 999 does not exist; not cancelled\n",
    )


def test_cancel_waiting_jobs_and_refuse_finished_or_unknown(env: Env) -> None:
    env.write_config('[jobs.hi]\ncommand = ["true"]\n')
    done = env.enqueue("hi")
    burst(env)
    queued = env.enqueue("hi")
    later = env.enqueue("hi", "--delay", "1h")
    result = env.run("cancel", str(queued), str(later), str(done), "999")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"cancelled {queued} (was queued)",
        f"cancelled {later} (was scheduled)",
    ]
    assert result.stderr.splitlines() == [
        f"jobctl: job {done} already ended succeeded; not cancelled",
        "jobctl: job 999 does not exist; not cancelled",
        "jobctl: 2 job(s) not cancelled",
    ]
    for job_id in (queued, later):
        current = job(env, job_id)
        assert current is not None and current.state.value == "cancelled"
    burst(env)  # nothing left to run
    assert attempts(env, queued) == []


def test_retry_runs_a_finished_job_again_as_a_new_job(env: Env) -> None:
    env.write_config('[jobs.echo]\ncommand = ["echo", "{word}"]\nqueue = "mail"\n')
    first = env.enqueue("echo", "--arg", "word=again", "--priority", "5")
    burst(env)
    result = env.run("retry", str(first), check=True)
    second = int(result.stdout)
    assert second != first
    copy = env.show(second)
    assert copy["state"] == "queued"
    assert (copy["payload"], copy["queue"], copy["priority"]) == ({"word": "again"}, "mail", 5)
    burst(env)
    assert env.run("logs", str(second), check=True).stdout == "again\n"

    active = env.enqueue("echo", "--arg", "word=x", "--delay", "1h")
    refused = env.run("retry", str(active))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"jobctl: job {active} is scheduled: only a finished job can be run again\n"
    )
    assert env.run("retry", "999").stderr == "jobctl: no job 999\n"


def _run_at(shown: dict[str, object]) -> float:
    text = shown["run_at"]
    assert isinstance(text, str)
    return datetime.fromisoformat(text).timestamp()


def test_retry_changes_the_new_job_as_the_enqueue_options_say(env: Env) -> None:
    """`retry ID` took no changes: a job could not go to another queue, run first or later,
    have more attempts, or have a mistyped value put right, short of typing the whole
    enqueue again. Each --arg replaces its key's value, the rest of the payload stays, and
    so does the key."""
    env.write_config('[jobs.echo]\ncommand = ["echo", "{word}", "{count}"]\n')
    first = env.enqueue("echo", "--arg", "word=helo", "--arg", "count:=1", "--key", "k")
    burst(env)
    changed = env.run(
        "retry", str(first), "--arg", "word=hello", "--queue", "mail", "--priority", "7",
        "--max-attempts", "5", check=True,
    )  # fmt: skip
    second = int(changed.stdout)
    copy = env.show(second)
    assert (copy["payload"], copy["queue"], copy["priority"]) == (
        {"word": "hello", "count": 1},
        "mail",
        7,
    )
    assert (copy["max_attempts"], copy["key"], copy["state"]) == (5, "k", "queued")
    burst(env, "--queue", "mail")
    assert env.run("logs", str(second), check=True).stdout == "hello 1\n"

    # A JSON value (key:=json), and a delay: the new job waits, the old one is untouched.
    before = time.time()
    later = json.loads(
        env.run(
            "retry", str(second), "--arg", "count:=2", "--delay", "1h", "--json", check=True
        ).stdout
    )
    assert (later["payload"], later["state"], later["created"]) == (
        {"word": "hello", "count": 2},
        "scheduled",
        True,
    )
    assert (later["queue"], later["priority"], later["max_attempts"]) == ("mail", 7, 5)
    assert before + 3600 - 1 <= _run_at(later) <= time.time() + 3600 + 1
    assert env.show(second)["payload"] == {"word": "hello", "count": 1}

    # The key stays the old job's: the scheduled job holding it is the answer, as for enqueue,
    # when it is alike (the same queue); the first job's copy would go to another queue.
    held = env.run("retry", str(second), "--at", "+2h")
    assert (held.returncode, held.stdout) == (0, f"{later['id']}\n")
    assert held.stderr == (
        f"jobctl: job {later['id']} with key 'k' is already active; nothing queued\n"
    )
    moved = env.run("retry", str(first), "--at", "+2h")
    assert (moved.returncode, moved.stdout) == (1, "")
    assert f"key 'k' is held by job {later['id']} (echo, queue mail)" in moved.stderr
    env.run("cancel", str(later["id"]), check=True)
    before = time.time()
    third = int(env.run("retry", str(first), "--at", "+2h", check=True).stdout)
    shown = env.show(third)
    assert shown["state"] == "scheduled"
    assert before + 7200 - 1 <= _run_at(shown) <= time.time() + 7200 + 1


def test_retry_refuses_a_bad_option_as_enqueue_does_and_stores_nothing(env: Env) -> None:
    """Each option is read and checked as enqueue reads and checks it: exit 2, enqueue's
    message (after the job's id when it is the new job that is refused), nothing stored."""
    env.write_config('[jobs.echo]\ncommand = ["echo", "{word}"]\n')
    first = env.enqueue("echo", "--arg", "word=x")
    burst(env)
    stored = len(_jobs(env))
    for bad in (
        ["--priority", str(2**53)],
        ["--queue", "a/b"],
        ["--queue", ""],
        ["--max-attempts", "0"],
        ["--delay", "abc"],
        ["--delay", "1m", "--at", "+1m"],
        ["--at", "nope"],
        ["--arg", "word"],
        ["--arg", "n:=[1"],
        ["--arg", "word=a", "--arg", "word=b"],
    ):
        enqueued = env.run("enqueue", "echo", *bad, "--arg", "word=x")
        retried = env.run("retry", str(first), *bad)
        assert (enqueued.returncode, retried.returncode, retried.stdout) == (2, 2, ""), bad
        message = enqueued.stderr.removeprefix("jobctl: ")
        assert enqueued.stderr.startswith("jobctl: ") and message, bad
        assert retried.stderr in (
            f"jobctl: {message}",
            f"jobctl: job {first} cannot run again: {message}",
        ), bad
    assert len(_jobs(env)) == stored

    # A payload the config's command no longer fits is put right by an --arg.
    env.write_config('[jobs.echo]\ncommand = ["echo", "{word}", "{more}"]\n')
    assert env.run("retry", str(first)).returncode == 2
    fixed = int(env.run("retry", str(first), "--arg", "more=y", check=True).stdout)
    assert env.show(fixed)["payload"] == {"word": "x", "more": "y"}


def test_retry_of_a_job_whose_key_is_taken_answers_as_enqueue_does(env: Env) -> None:
    """The active job holding the key is the answer, as for `enqueue --key`: its id on
    stdout, a note on stderr, exit 0 (it exited 1 with nothing on stdout)."""
    env.write_config('[jobs.sync]\ncommand = ["true"]\n')
    first = env.enqueue("sync", "--key", "k1")
    burst(env)
    holder = env.enqueue("sync", "--key", "k1", "--delay", "1h")
    result = env.run("retry", str(first))
    again = env.run("enqueue", "sync", "--key", "k1")
    for answer in (result, again):
        assert (answer.returncode, answer.stdout) == (0, f"{holder}\n")
        assert answer.stderr == (
            f"jobctl: job {holder} with key 'k1' is already active; nothing queued\n"
        )


def test_paused_queue_is_skipped_until_resumed_and_pause_persists(env: Env) -> None:
    env.write_config(
        '[jobs.mail]\ncommand = ["true"]\nqueue = "mail"\n[jobs.other]\ncommand = ["true"]\n'
    )
    burst(env)  # a worker makes the database
    assert env.run("pause", "mail", check=True).stdout == "paused queue mail\n"
    held = env.enqueue("mail")
    free = env.enqueue("other")
    burst(env)  # a new worker process: the pause lives in the database
    assert env.show(held)["state"] == "queued"
    assert env.show(free)["state"] == "succeeded"
    queues = {q["queue"]: q for q in json.loads(env.run("status", "--json").stdout)["queues"]}
    assert queues["mail"]["paused"] is True and queues["default"]["paused"] is False

    assert env.run("resume", "mail", check=True).stdout == "resumed queue mail\n"
    burst(env)
    assert env.show(held)["state"] == "succeeded"
    bad = env.run("pause", "no spaces")
    assert bad.returncode == 2 and bad.stderr.startswith("jobctl: bad queue name 'no spaces'")
    # An empty name (an unset shell variable) is refused, not taken for the default queue.
    empty = env.run("enqueue", "--queue", "", "--exec", "--", "true")
    assert (empty.returncode, empty.stderr) == (
        2,
        "jobctl: bad queue name '': use ASCII letters, digits, '_', '-', '.', ':', starting with a"
        " letter or a digit (at most 64)\n",
    )
    batch = env.run("enqueue", "--batch", "-", input='{"job": "other", "queue": ""}\n')
    assert batch.returncode == 2 and "bad queue name ''" in batch.stderr
    # So is an empty key: every unset variable would share it, and every job but the first
    # would be dropped as a duplicate.
    no_key = env.run("enqueue", "other", "--key", "")
    assert (no_key.returncode, no_key.stderr) == (
        2,
        "jobctl: empty key (give one, or no --key at all)\n",
    )
    batch = env.run("enqueue", "--batch", "-", input='{"job": "other", "key": ""}\n')
    assert batch.returncode == 2 and "empty key" in batch.stderr


def test_pausing_lets_running_jobs_finish(env: Env) -> None:
    gate = env.root / "gate"
    env.write_config(
        f'[jobs.slow]\ncommand = ["sh", "-c", "while [ ! -e {gate} ]; do sleep 0.02; done"]\n'
    )
    start_worker(env)
    running = env.enqueue("slow")
    wait_state(env, running, "running")
    result = env.run("pause", "default", check=True)
    assert result.stdout == "paused queue default (1 running job(s) will finish)\n"
    waiting = env.enqueue("slow")
    gate.touch()
    wait_state(env, running, "succeeded")
    burst(env)  # would take `waiting` if the queue were not paused
    assert env.show(waiting)["state"] == "queued"


def test_prune_deletes_finished_jobs_and_their_logs(env: Env) -> None:
    env.write_config(
        '[jobs.ok]\ncommand = ["echo", "hi"]\n[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    ok = [env.enqueue("ok") for _ in range(2)]
    bad = env.enqueue("bad")
    burst(env)
    waiting = env.enqueue("ok", "--delay", "1h")
    logs = [Path(str(env.show(i)["attempts_history"][0]["log_path"])) for i in ok]  # type: ignore[index]
    assert all(p.exists() for p in logs)

    none = env.run("prune", "--older-than", "1h", check=True).stdout
    assert re.fullmatch(r"pruned 0 job\(s\), removed 0 log file\(s\) in \d+\.\ds\n", none)
    result = env.run("prune", "--older-than", "0s", "--state", "succeeded", check=True)
    assert result.stdout.startswith("pruned 2 job(s), removed 2 log file(s) in ")
    assert not any(p.exists() for p in logs)
    assert env.run("show", str(ok[0])).returncode == 1
    assert env.show(bad)["state"] == "dead"
    assert env.run("prune", "--older-than", "0s", check=True).stdout.startswith("pruned 1 job(s)")
    assert env.show(waiting)["state"] == "scheduled"  # never an active job


def test_prune_rejects_bad_input_with_one_line(env: Env) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    active = env.run("prune", "--older-than", "1d", "--state", "queued")
    assert active.returncode == 2
    assert active.stderr == (
        "jobctl: --state: queued jobs are not finished; prune deletes succeeded, dead or "
        "cancelled jobs\n"
    )
    bad = env.run("prune", "--older-than", "soon")
    assert bad.returncode == 2 and bad.stderr.startswith("jobctl: --older-than: invalid duration")
    assert len(bad.stderr.splitlines()) == 1
    unknown = env.run("prune", "--older-than", "1d", "--state", "gone")
    assert unknown.returncode == 2 and unknown.stderr.startswith("jobctl: --state: unknown state")


def test_workers_prune_on_their_own_with_keep_settings(env: Env) -> None:
    env.write_config(
        '[settings]\nkeep_succeeded = "100ms"\nkeep_dead = "1h"\nkeep_cancelled = "100ms"\n'
        '[jobs.ok]\ncommand = ["echo", "hi"]\n'
        '[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    ok = env.enqueue("ok")
    bad = env.enqueue("bad")
    cancelled = env.enqueue("ok", "--delay", "1h")
    env.run("cancel", str(cancelled), check=True)
    burst(env)
    finished = job(env, ok)
    assert finished is not None and finished.finished_at is not None
    log = Path(str(attempts(env, ok)[0].log_path))
    end = finished.finished_at
    env.wait_for(lambda: time.time() > end + 0.1)
    result = burst(env)  # its first maintenance pass prunes
    assert "jobs.pruned" in result.stderr  # (the cancelled job may have gone in the first)
    assert job(env, ok) is None and not log.exists()
    assert job(env, cancelled) is None  # (CI steps that time out cancel jobs by the day)
    assert job(env, bad) is not None  # kept for an hour


def test_keep_settings_are_validated(env: Env) -> None:
    for value, message in [
        ('"0s"', "[settings] keep_dead: must be longer than 0s"),
        ("7", "[settings] keep_dead: expected a string, got an integer"),
        ('"soon"', "[settings] keep_dead: invalid duration 'soon'"),
    ]:
        env.write_config(f"[settings]\nkeep_dead = {value}\n")
        result = env.run("validate")
        assert result.returncode == 2
        assert message in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_cancel_reaches_an_idle_notification_free_worker_through_its_lease(env: Env) -> None:
    """Without the wake-up socket a worker still learns of a cancel at its lease renewal."""
    root = _tree_job(env, ignore_term=False, kill_grace="1s")
    env.write_config(env.config.read_text() + '[settings]\nlease = "1s"\n')
    start_worker(env)
    job_id = env.enqueue("tree")
    env.wait_for(lambda: read_pid(root / "sleep.pid") is not None)
    sleeper = read_pid(root / "sleep.pid")
    assert sleeper is not None
    wake = Path(str(env.db) + ".wake")
    for name in os.listdir(wake):  # the worker hears no notification now
        (wake / name).unlink()
    env.run("cancel", str(job_id), check=True)
    env.wait_for(lambda: process_gone(sleeper), timeout=15)
    assert wait_attempt_over(env, job_id).outcome is not None


def test_wait_for_a_cancelled_job_returns_once_its_process_has_stopped(env: Env) -> None:
    """A job cancelled while running keeps its process (and its key) through kill_grace:
    `wait` and `enqueue --wait` return when it has stopped, so that a script that cancels,
    waits, then enqueues the key again does not race the old run."""
    env.write_config(
        '[jobs.stubborn]\ncommand = ["sh", "-c", "trap \\"\\" TERM; sleep 30"]\n'
        'kill_grace = "1s"\nmax_attempts = 1\n'
    )
    start_worker(env)
    job_id = env.enqueue("stubborn", "--key", "K")
    wait_state(env, job_id, "running")
    env.run("cancel", str(job_id), check=True)
    waited = env.run("wait", str(job_id), "--timeout", "30s")
    assert waited.returncode == 1  # it ended cancelled
    (attempt,) = env.show(job_id)["attempts_history"]  # type: ignore[misc]
    assert attempt["finished_at"] is not None  # its process had stopped
    again = env.run("enqueue", "stubborn", "--key", "K")
    assert again.returncode == 0 and int(again.stdout) != job_id


def test_a_key_held_by_another_job_type_is_refused_naming_the_holder(env: Env) -> None:
    """Keys are shared by every job type: `enqueue build --key K --wait` would wait on a
    `sleep` job that holds K, so it is refused (exit 1, nothing on stdout), naming whose job
    holds the key; the holder's own job type still gets its id, as an idempotent enqueue."""
    env.write_config('[jobs.sleep]\ncommand = ["true"]\n[jobs.build]\ncommand = ["true"]\n')
    holder = env.enqueue("sleep", "--key", "K", "--delay", "1h")
    other = env.run("enqueue", "build", "--key", "K")
    assert (other.returncode, other.stdout) == (1, "")
    assert other.stderr == (
        f"jobctl: key 'K' is held by job {holder} (sleep, queue default), not a job like this"
        " one; nothing queued\n"
    )
    same = env.run("enqueue", "sleep", "--key", "K")
    assert (same.returncode, same.stdout.strip()) == (0, str(holder))
    assert same.stderr == f"jobctl: job {holder} with key 'K' is already active; nothing queued\n"


def test_a_cancel_is_logged_once_while_the_process_takes_its_kill_grace(env: Env) -> None:
    """The worker learns of a cancel at each lease renewal: `job.cancelling` came at every
    one of them (ten lines in three seconds with a one-second lease; a grace of 1.5 s spans
    four renewals)."""
    env.write_config(
        '[settings]\nlease = "1s"\n'
        '[jobs.stubborn]\ncommand = ["sh", "-c", "trap \\"\\" TERM; touch up; sleep 30"]\n'
        'kill_grace = "1500ms"\n'
    )
    worker = start_worker(env)
    job_id = env.enqueue("stubborn")
    env.wait_for(lambda: (env.root / "up").exists())
    env.run("cancel", str(job_id), check=True)
    wait_attempt_over(env, job_id)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert stderr.count("job.cancelling") == 1, stderr


def _jobs(env: Env) -> list[dict[str, object]]:
    return json.loads(env.run("list", "--limit", "0", "--json", check=True).stdout)  # type: ignore[no-any-return]


def test_retry_is_refused_as_enqueue_refuses_a_job_the_config_no_longer_fits(env: Env) -> None:
    """`retry` stored a job enqueue refuses (its job type renamed away, a placeholder its
    payload has no value for): exit 0, then every attempt failed and it went dead."""
    env.write_config('[jobs.a]\ncommand = ["echo", "{word}"]\n')
    first = env.enqueue("a", "--arg", "word=x")
    command = env.enqueue("--exec", "--", "true")
    burst(env)
    stored = len(_jobs(env))

    env.write_config('[jobs.b]\ncommand = ["true"]\n')
    unknown = f"unknown job 'a' in {env.config}; defined jobs: b"
    enqueued = env.run("enqueue", "a", "--arg", "word=x")
    assert (enqueued.returncode, enqueued.stderr) == (2, f"jobctl: {unknown}\n")
    retried = env.run("retry", str(first))
    assert (retried.returncode, retried.stdout) == (2, "")
    assert retried.stderr == f"jobctl: job {first} cannot run again: {unknown}\n"

    env.write_config('[jobs.a]\ncommand = ["echo", "{word}", "{missing}"]\n')
    missing = "job 'a': no payload value for placeholder {missing}"
    enqueued = env.run("enqueue", "a", "--arg", "word=x")
    assert (enqueued.returncode, enqueued.stderr) == (2, f"jobctl: {missing}\n")
    retried = env.run("retry", str(first))
    assert (retried.returncode, retried.stdout) == (2, "")
    assert retried.stderr == f"jobctl: job {first} cannot run again: {missing}\n"
    assert len(_jobs(env)) == stored  # nothing stored

    # A command (--exec) needs no job type: it still runs again, as does a job that fits.
    again = int(env.run("retry", str(command), check=True).stdout)
    shown = env.show(again)
    assert (shown["command"], shown["state"]) == (["true"], "queued")
    env.write_config('[jobs.a]\ncommand = ["echo", "{word}"]\n')
    assert int(env.run("retry", str(first), check=True).stdout) not in (first, again)


def test_a_job_cancelled_while_waiting_for_its_retry_has_no_exit_code(env: Env) -> None:
    """It kept its failed attempt's (`"state": "cancelled", "exit_code": 1`), where the
    README says a cancelled job has none; the attempt keeps it, and run_at stays."""
    env.write_config(
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 2\nbackoff = "1h"\njitter = false\n'
    )
    start_worker(env)
    job_id = env.enqueue("f")
    wait_state(env, job_id, "scheduled")
    waiting = env.show(job_id)
    assert (waiting["state"], waiting["exit_code"]) == ("scheduled", 1)
    env.run("cancel", str(job_id), check=True)
    cancelled = env.show(job_id)
    assert (cancelled["state"], cancelled["exit_code"]) == ("cancelled", None)
    assert cancelled["run_at"] == waiting["run_at"]
    (attempt,) = cancelled["attempts_history"]  # type: ignore[misc]
    assert attempt["exit_code"] == 1


SCHEDULES = """[jobs.task]
command = ["true"]

[schedules.skipper]
job = "task"
cron = "@yearly"
payload = { a = "it's" }
queue = "cron"

[schedules.queuer]
job = "task"
cron = "@yearly"
overlap = "queue"

[schedules.free]
job = "task"
cron = "@yearly"
overlap = "allow"
"""


def _runs_of(env: Env, schedule: str) -> list[int]:
    return sorted(int(str(j["id"])) for j in _jobs(env) if j["schedule"] == schedule)


def test_schedule_run_honours_the_schedule_s_overlap(env: Env) -> None:
    """A manual run counts as the schedule's active run for the daemon, yet `schedule run`
    enqueued another beside it, silently, whatever `overlap` said."""
    env.write_config(SCHEDULES)
    first = int(env.run("schedule", "run", "skipper", check=True).stdout)
    # "skip": nothing queued; the active run is the answer, as `enqueue --key` answers.
    skipped = env.run("schedule", "run", "skipper")
    assert (skipped.returncode, skipped.stdout) == (0, f"{first}\n")
    assert skipped.stderr == (
        f"jobctl: run {first} of schedule 'skipper' is still active; nothing queued"
        ' (overlap = "skip"; to run one beside it anyway: jobctl enqueue task --payload'
        """ '{"a":"it'"'"'s"}' --queue cron)\n"""
    )
    assert _runs_of(env, "skipper") == [first]

    # "queue": this run waits for the active one (one at most), as a fire does.
    held = int(env.run("schedule", "run", "queuer", check=True).stdout)
    waiting = env.run("schedule", "run", "queuer")
    assert (waiting.returncode, waiting.stdout) == (0, "")
    assert waiting.stderr == (
        f"jobctl: run {held} of schedule 'queuer' is still active; this run waits for it to"
        ' end (overlap = "queue"), then the cron daemon enqueues it\n'
        "jobctl: warning: no cron daemon is running on this database: the held run is"
        f" enqueued once `jobctl up` or `jobctl schedule-daemon` runs and run {held} has"
        " ended\n"
    )
    more = env.run("schedule", "run", "queuer")
    assert (more.returncode, more.stdout) == (0, "")
    assert more.stderr == (
        f"jobctl: run {held} of schedule 'queuer' is still active and a run already waits"
        ' for it (overlap = "queue"); nothing queued\n'
    )
    assert _runs_of(env, "queuer") == [held]

    # "allow": as before, one run beside another.
    free = [int(env.run("schedule", "run", "free", check=True).stdout) for _ in range(2)]
    assert free[0] != free[1] and _runs_of(env, "free") == free

    burst(env, "-q", "*")
    after = int(env.run("schedule", "run", "skipper", check=True).stdout)
    assert after != first and _runs_of(env, "skipper") == [first, after]
    # The held run is the daemon's to enqueue once the run it waited for has ended.
    env.start("schedule-daemon")
    env.wait_for(lambda: len(_runs_of(env, "queuer")) == 2)


def test_backup_copies_the_database_while_a_worker_writes(env: Env) -> None:
    """A `cp` of a live database misses what its -wal holds (and may copy half a
    checkpoint); `backup` takes one snapshot into a new private file."""
    import sqlite3
    import stat

    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    lines = "".join('{"job": "ok"}\n' for _ in range(300))
    env.run("enqueue", "--batch", "-", input=lines, check=True)
    worker = env.start("run-worker", "--concurrency", "4")
    copies = []
    for n in range(3):  # while the worker drains the queue
        target = env.root / f"copy{n}.db"
        done = env.run("backup", str(target), check=True)
        assert done.stdout.startswith(f"backed up {env.db} to {target} (")
        copies.append(target)
    # Looked for in the file itself, then said by `list` once: a `list` at every look, 20 a
    # second while the worker drains the queue, is a process each.
    active = "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"
    with contextlib.closing(sqlite3.connect(env.db, isolation_level=None)) as reader:
        env.wait_for(lambda: reader.execute(active).fetchone() == (0,), timeout=60)
    listing = ["list", "--json", "-n", "0", "--state", "queued", "--state", "running"]
    assert json.loads(env.run(*listing, check=True).stdout) == []
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    for target in copies:
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert not Path(f"{target}-wal").exists()
        with sqlite3.connect(target) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone() == (300,)
        listed = env.run("--db", str(target), "list", "--json", "-n", "0", config=False)
        assert len(json.loads(listed.stdout)) == 300
    # A file that exists is never overwritten.
    refused = env.run("backup", str(copies[0]))
    assert refused.returncode == 2 and "exists already" in refused.stderr
    with sqlite3.connect(copies[0]) as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone() == (300,)


def test_a_running_job_whose_worker_is_gone_is_said_so(env: Env) -> None:
    """After a kill -9 of its worker, `wait` gave only "still running" and `cancel` said
    "its worker is stopping it": nothing would move until another worker came."""
    env.write_config(
        '[settings]\nlease = "60s"\n'
        '[jobs.s]\ncommand = ["sh", "-c", "echo $$ > job.pid; exec sleep 30"]\n'
    )
    job_id = env.enqueue("s")
    worker = env.start("run-worker")
    wait_state(env, job_id, "running")
    worker_id = env.show(job_id)["worker"]
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    waited = env.run("wait", str(job_id), "--timeout", "200ms")
    assert waited.returncode == 124
    assert f"job {job_id}'s worker {worker_id} is gone: it runs again once its lease" in (
        waited.stderr
    )
    assert "no live worker serves queue 'default' yet" in waited.stderr
    cancelled = env.run("cancel", str(job_id), check=True)
    assert cancelled.stdout.startswith(f"cancelled {job_id} (was running, but its worker is gone")
    # Cancelled, it is waited for until its process has stopped, which no worker does yet:
    # the wait said nothing (and, without --timeout, waited in silence).
    waited = env.run("wait", str(job_id), "--timeout", "200ms")
    assert waited.returncode == 124
    assert f"job {job_id} was cancelled, and its worker {worker_id} is gone" in waited.stderr
    assert "no live worker serves queue 'default' yet" in waited.stderr
    # Its orphaned process: stopped by the next worker once the lease runs out; here, now.
    os.kill(int((env.root / "job.pid").read_text()), signal.SIGKILL)


def test_a_backup_stopped_midway_leaves_no_file_under_its_name(env: Env) -> None:
    """Killed midway (a CI timeout), it left a full-size file that was an empty database,
    its pages in a journal: put back, a silently empty queue; a retry was refused."""
    env.write_config('[jobs.t]\ncommand = ["true"]\n')
    now = time.time()
    with SqliteStore(env.db) as store:  # 60 MB: a copy long enough to be killed midway
        store.enqueue([NewJob(job="t", payload={"p": "x" * 4000}, run_at=now + 86400)] * 15000, now)
    target = env.root / "copy.db"
    backup = env.start("backup", str(target))
    parts = f".copy.db.part-{backup.pid}-*"
    env.wait_for(lambda: any(env.root.glob(parts)) or backup.poll() is not None, interval=0.002)
    backup.send_signal(signal.SIGKILL)
    backup.wait(timeout=30)
    assert not target.exists()
    for part in env.root.glob(parts):
        part.unlink()
    done = env.run("backup", str(target), check=True)  # a retry is not refused
    assert done.stdout.startswith(f"backed up {env.db} to {target}")


def test_status_counts_a_cancelled_job_still_stopping_in_its_queue_s_limit(env: Env) -> None:
    """It held the queue's only slot for its kill_grace while status said RUNNING 0/1 with a
    job ready: the picture of a stuck worker."""
    env.write_config(
        "[jobs.h]\n"
        """command = ["sh", "-c", "trap '' TERM; echo $$ > pid; sleep 10"]\n"""
        'kill_grace = "20s"\nqueue = "lim"\n[queues.lim]\nmax_running = 1\n'
    )
    first, _ = env.enqueue("h"), env.enqueue("h")
    worker = start_worker(env, "--concurrency", "2")
    env.wait_for(lambda: (env.root / "pid").exists())
    env.run("cancel", str(first), check=True)
    (queue,) = json.loads(env.run("status", "--json", check=True).stdout)["queues"]
    assert (queue["stopping"], queue["counts"]["running"]) == (1, 0)
    assert " 1/1 " in env.run("status", check=True).stdout.splitlines()[2]
    os.kill(int((env.root / "pid").read_text()), signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)


def test_backup_to_stdout_or_over_a_file_is_a_usage_error(env: Env) -> None:
    """`backup -` wrote a file named `-`, and a FILE that exists exited 3, which says that
    the database cannot be used: a CI step could not tell its own mistake from a corrupt or
    locked database. Both are refused (exit 2) before the database is opened."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    dash = env.run("backup", "-")
    assert (dash.returncode, dash.stdout, dash.stderr) == (
        2,
        "",
        "jobctl: backup -: a file name is needed: the copy is not written to stdout (a file"
        " named - is ./-)\n",
    )
    assert not (env.root / "-").exists()
    taken = env.root / "taken.db"
    taken.write_text("not a backup")
    refused = env.run("backup", str(taken))
    assert (refused.returncode, refused.stderr) == (
        2,
        f"jobctl: backup {taken}: exists already (choose a new file)\n",
    )
    assert taken.read_text() == "not a backup"
    named = env.run("backup", "./-", check=True)  # a file named - is still written, so
    assert named.stdout.startswith(f"backed up {env.db} to ./- (")
    assert (env.root / "-").stat().st_size > 0


def test_retry_of_a_job_that_ran_after_others_runs_after_them_again(env: Env) -> None:
    """`retry` of a job dead because the job it ran after failed queued it alone, and it ran
    at once; the jobs it runs after go with it, but for those deleted since."""
    env.write_config(
        '[jobs.fail]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[jobs.ok]\ncommand = ["true"]\nmax_attempts = 1\n'
        '[jobs.mark]\ncommand = ["touch", "marked"]\nmax_attempts = 1\n'
    )
    failed = env.enqueue("fail")
    marked = env.enqueue("mark", "--after", str(failed))
    assert env.run("run-worker", "--burst").returncode == 0
    env.run("retry", str(marked))  # refused, or stored as dead as the job it ran after
    assert env.run("run-worker", "--burst").returncode == 0
    assert not (env.root / "marked").exists()

    done = env.enqueue("ok")
    second = env.enqueue("fail", "--after", str(done))  # it runs, then fails
    assert env.run("run-worker", "--burst").returncode == 0
    again = int(env.run("retry", str(second), check=True).stdout)
    assert (env.show(again)["after"], env.show(again)["state"]) == ([done], "queued")
    env.run("prune", "--older-than", "0", "--state", "succeeded", check=True)
    third = int(env.run("retry", str(second), check=True).stdout)
    assert (env.show(third)["after"], env.show(third)["state"]) == ([], "queued")


def test_retry_of_a_job_still_stopping_after_its_cancel_is_refused(env: Env) -> None:
    """`cancel X && retry X` ran the new copy beside the old, which ignores SIGTERM for its
    kill_grace: the retry waits for it to stop, as enqueue of a key it holds does."""
    env.write_config(
        '[jobs.stubborn]\ncommand = ["sh", "-c", "trap \\"\\" TERM; touch started; sleep 30"]\n'
        'kill_grace = "30s"\n'
    )
    job_id = env.enqueue("stubborn")
    start_worker(env)
    env.wait_for(lambda: (env.root / "started").exists())
    env.run("cancel", str(job_id), check=True)
    refused = env.run("retry", str(job_id))
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"jobctl: job {job_id} was cancelled and its process is still stopping (SIGKILL after"
        f" its kill_grace); nothing queued: retry once it has stopped (`jobctl wait {job_id}`"
        " returns then)\n"
    )
    assert [j["id"] for j in json.loads(env.run("list", "--json").stdout)] == [job_id]


def test_retry_stored_dead_at_once_says_so_as_enqueue_does(env: Env) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    head = env.enqueue("ok", "--delay", "1h")
    step = env.enqueue("ok", "--after", str(head))
    env.run("cancel", str(head), check=True)  # the step is dead: its head never ran
    result = env.run("retry", str(step))
    again = int(result.stdout)
    assert result.returncode == 0 and env.show(again)["state"] == "dead"
    assert result.stderr == (
        f"jobctl: note: job {again} is dead: job {head}, which it waited for, was cancelled\n"
    )


def test_a_job_put_into_a_queue_nobody_knows_is_warned_of_and_goes_there(env: Env) -> None:
    """`-q gpuu` for `gpu` (limit 1) went in without a word, and a '*' worker ran it beside
    the GPU jobs; run-worker, pause and wait all said the name was unknown."""
    env.write_config('[queues.gpu]\nmax_running = 1\n[jobs.ok]\ncommand = ["true"]\n')
    burst(env)  # (the database made)
    typo = env.run("enqueue", "ok", "-q", "gpuu")
    assert (typo.returncode, typo.stderr) == (
        0,
        "jobctl: warning: --queue: unknown queue 'gpuu' (did you mean 'gpu'?): known queues"
        " are default, gpu; the job goes there all the same\n",
    )
    assert env.show(int(typo.stdout))["queue"] == "gpuu"
    assert env.run("enqueue", "ok", "-q", "gpuu", check=True).stderr == ""  # known now
    assert env.run("enqueue", "ok", "-q", "gpu", check=True).stderr == ""
    held = env.enqueue("ok", "--delay", "1h")
    edited = env.run("edit", str(held), "-q", "bulk")
    assert (edited.returncode, edited.stderr) == (
        0,
        "jobctl: warning: --queue: unknown queue 'bulk': known queues are default, gpu, gpuu;"
        " the job goes there all the same\n",
    )
    burst(env)
    again = env.run("retry", typo.stdout.strip(), "-q", "nightly")
    assert (again.returncode, again.stderr) == (
        0,
        "jobctl: warning: --queue: unknown queue 'nightly': known queues are bulk, default,"
        " gpu, gpuu; the job goes there all the same\n",
    )
