"""What `logs` without an id picks beside a job yet to start, and the words of pause, resume,
retry and the queue-name rule, on a real database with real workers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess

from conftest import JOBCTL, Env
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


def test_logs_follow_without_an_id_passes_over_a_job_scheduled_for_later(env: Env) -> None:
    """`logs -f` right after a run, with tomorrow's job queued meanwhile, waited for
    tomorrow instead of showing the job that had just run."""
    env.write_config(SAY)
    done = env.enqueue("say")
    burst(env)
    env.enqueue("say", "--delay", "1h")
    followed = env.run("logs", "-f", timeout=30)
    assert (followed.returncode, followed.stdout) == (0, f"said {done}\n"), followed.stderr
    assert followed.stderr.startswith(f"jobctl: job {done} (say), started "), followed.stderr


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


def test_pause_and_resume_say_what_they_did_not_change(env: Env) -> None:
    env.write_config(SAY + '[jobs.mail]\ncommand = ["true"]\nqueue = "mail"\n')
    burst(env)  # a worker makes the database
    for verb in ("pause", "resume"):
        bare = env.run(verb)
        assert (bare.returncode, bare.stderr) == (
            2,
            f"jobctl: name the queues to {verb}, or give --all\n",
        )
    first = env.run("pause", "mail", check=True)
    assert (first.stdout, first.stderr) == ("paused queue mail\n", "")
    again = env.run("pause", "mail", check=True)
    assert (again.stdout, again.stderr) == (
        "",
        "jobctl: note: queue mail was paused already; nothing to pause\n",
    )
    every = env.run("pause", "--all", check=True)  # only the queue it paused is said
    assert (every.stdout, every.stderr) == ("paused queue default\n", "")
    every = env.run("pause", "--all", check=True)
    assert (every.stdout, every.stderr) == (
        "",
        "jobctl: note: every queue was paused already; nothing to pause\n",
    )
    as_json = env.run("pause", "mail", "--json", check=True)
    assert json.loads(as_json.stdout) == [
        {"queue": "mail", "paused": True, "running": 0, "changed": False}
    ]
    resumed = env.run("resume", "mail", "--json", check=True)
    assert json.loads(resumed.stdout) == [
        {"queue": "mail", "paused": False, "running": 0, "changed": True}
    ]
    resumed = env.run("resume", "mail", "--json", check=True)
    assert json.loads(resumed.stdout) == [
        {"queue": "mail", "paused": False, "running": 0, "changed": False}
    ]


def _stdout_on_a_terminal(env: Env, *args: str) -> str:
    """`jobctl ARGS` with stdout a terminal (a person at a shell): what it printed there."""
    terminal, its_side = os.openpty()
    try:
        done = subprocess.run(
            [*JOBCTL, *env.global_args(True, args), *args],
            stdin=subprocess.DEVNULL,
            stdout=its_side,
            stderr=subprocess.PIPE,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
        )
        os.close(its_side)
        said = b""
        with contextlib.suppress(OSError):  # EIO: the terminal's other side is closed
            while chunk := os.read(terminal, 4096):
                said += chunk
    finally:
        os.close(terminal)
    assert done.returncode == 0, done.stderr
    return said.decode().replace("\r\n", "\n")


def test_retry_names_both_jobs_at_a_terminal_and_prints_the_id_to_a_pipe(env: Env) -> None:
    """A bare `30` at a terminal read as a count, or as the job retried itself."""
    env.write_config(SAY)
    first = env.enqueue("say")
    burst(env)
    piped = env.run("retry", str(first), check=True)
    assert piped.stdout == f"{first + 1}\n"  # scripts take the id
    assert _stdout_on_a_terminal(env, "retry", str(first)) == (
        f"retried {first} as job {first + 2}\n"
    )


def test_the_name_rule_says_ascii_letters(env: Env) -> None:
    refused = env.run("enqueue", "--queue", "ビルド", "--exec", "--", "true")
    assert (refused.returncode, refused.stderr) == (
        2,
        "jobctl: bad queue name 'ビルド': use ASCII letters, digits, '_', '-', '.', ':',"
        " starting with a letter or a digit (at most 64)\n",
    )
