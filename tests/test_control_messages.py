"""What `edit`, `retry`, `cancel`, `pause` and `enqueue` say of what they did: the reason
for a job left alone fits what befell it, a past --at says when a waiting job runs, and a
stdout that cannot be written still hears what was changed.

Every test drives the real CLI on a real database.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess

import pytest
from conftest import JOBCTL, Env, stop_outside_writes
from test_ops_support import job

PLAIN = '[jobs.plain]\ncommand = ["true"]\n'


def test_edit_says_a_job_cancelled_or_made_dead_meanwhile_as_such(env: Env) -> None:
    """A cancel landing while a long edit ran was said as "a worker started it meanwhile (it
    is cancelled)", where no worker ran: the job cancelled, and the one waiting on a job
    cancelled, are each said for what befell them."""
    env.write_config(PLAIN)
    count = 10000
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
    # One connection for every look (a store opened at each, every millisecond, kept a core
    # busy through the edit's start-up).
    reader = sqlite3.connect(env.db, isolation_level=None)
    try:
        first = "SELECT priority FROM jobs WHERE id = 1"
        env.wait_for(lambda: reader.execute(first).fetchone() == (7,), interval=0.001)
    finally:
        reader.close()
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


def _to_full(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS > /dev/full`: a stdout that takes no byte."""
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [*JOBCTL, *env.global_args(), *args],
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
        )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_still_says_what_cancel_edit_pause_and_resume_changed(env: Env) -> None:
    """They said only "cannot write to standard output" (exit 1), yet the change was made:
    a script that cancelled again on exit 1 was told the job had already ended cancelled."""
    env.write_config(PLAIN)
    first, second = env.enqueue("plain"), env.enqueue("plain")
    failed = "jobctl: cannot write to standard output: No space left on device"
    unsaid = "but the output saying so could not be written"
    for args, note in (
        (["cancel", str(first)], "1 job(s) were cancelled"),
        (["edit", str(second), "--priority", "4"], "1 job(s) were edited"),
        (["pause", "default"], "queue default was paused"),
        (["resume", "default", "--json"], "queue default was resumed"),
    ):
        result = _to_full(env, *args)
        assert (result.returncode, result.stderr) == (1, f"{failed} ({note}, {unsaid})\n"), args
    assert job(env, first).state.value == "cancelled"  # type: ignore[union-attr]
    assert job(env, second).priority == 4  # type: ignore[union-attr]
    # A queue not paused is a note on stderr alone: nothing changed, nothing failed.
    again = _to_full(env, "resume", "default")
    assert (again.returncode, again.stderr) == (
        0,
        "jobctl: note: queue default was not paused; nothing to resume\n",
    )


def test_a_batch_after_option_naming_no_job_is_blamed_on_the_option(env: Env) -> None:
    """`--batch - --after 99999` was refused as `<stdin>:1: after: there is no job 99999`,
    a line that names no id; a line's own `after` is still said at its line."""
    env.write_config(PLAIN)
    head = env.enqueue("plain")
    lines = '{"job": "plain"}\n{"job": "plain"}\n'
    option = env.run("enqueue", "--batch", "-", "--after", "99999", input=lines)
    alone = env.run("enqueue", "plain", "--after", "99999")
    assert (option.returncode, option.stderr) == (2, alone.stderr)
    assert alone.stderr == "jobctl: --after 99999: there is no job 99999\n"
    own = '{"job": "plain"}\n{"job": "plain", "after": 88888}\n'
    line = env.run("enqueue", "--batch", "-", "--after", str(head), input=own)
    assert (line.returncode, line.stderr) == (
        2,
        "jobctl: <stdin>:2: after: there is no job 88888\n",
    )


def test_retry_cwd_runs_an_exec_job_whose_directory_is_gone_in_another(env: Env) -> None:
    """An --exec job whose directory was removed since could not run again but by typing its
    command anew: `retry --cwd DIR` runs it elsewhere, checked as `enqueue --cwd` is, and the
    refusal without it says so. A job type's job takes its cwd from the config: refused."""
    env.write_config(PLAIN + "[settings]\nallow_exec = true\n")
    gone, elsewhere = env.root / "gone", env.root / "elsewhere"
    gone.mkdir()
    elsewhere.mkdir()
    ran_in = env.root / "ran-in.txt"
    exec_job = env.enqueue("--exec", "--cwd", str(gone), "--", "sh", "-c", f"pwd >> {ran_in}")
    env.run("run-worker", "--burst", check=True)
    gone.rmdir()
    refused = env.run("retry", str(exec_job))
    assert (refused.returncode, refused.stderr) == (
        2,
        f"jobctl: job {exec_job} cannot run again: cwd {gone}: no such directory"
        f" (`jobctl retry {exec_job} --cwd DIR` runs it in another directory)\n",
    )
    mistyped = env.run("retry", str(exec_job), "--cwd", "nosuch")
    assert (mistyped.returncode, mistyped.stderr) == (
        2,
        "jobctl: --cwd nosuch: no such directory\n",
    )
    again = int(env.run("retry", str(exec_job), "--cwd", "elsewhere", check=True).stdout)
    assert job(env, again).cwd == str(elsewhere)  # type: ignore[union-attr]
    env.run("run-worker", "--burst", check=True)
    assert ran_in.read_text() == f"{gone}\n{elsewhere}\n"
    typed = env.enqueue("plain")
    env.run("cancel", str(typed), check=True)
    of_a_type = env.run("retry", str(typed), "--cwd", str(elsewhere))
    assert of_a_type.returncode == 2
    assert of_a_type.stderr.endswith(
        "job, whose command and cwd come from the config: --cwd changes only an --exec job's\n"
    )
