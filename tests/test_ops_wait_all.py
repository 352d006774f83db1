"""`wait --queue/--job/--all` (a CI step that hands out many jobs waits for them all) and a
worker's --queue values, end to end on a real database and real workers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import IO

import pytest
from conftest import JOBCTL, Env
from test_observe_support import read_pid
from test_ops_support import burst, start_worker

from jobctl.models import NewJob
from jobctl.store.sqlite import SqliteStore

CONFIG = """\
[jobs.ok]
command = ["true"]

[jobs.bad]
command = ["false"]
max_attempts = 1

[jobs.other]
command = ["true"]
queue = "other"
"""

NO_WORKER = "jobctl: note: no live worker serves queue '{}' yet; waiting for a worker"


def _queued(env: Env, count: int, payload: dict[str, str]) -> None:
    """`count` jobs `ok` queued in one enqueue through the store (ids 1 to `count` in a new
    database): a backlog as a `--batch` of `count` lines leaves, without parsing the lines."""
    with SqliteStore(env.db) as store:
        store.enqueue([NewJob(job="ok", payload=payload)] * count, time.time())


def test_wait_queue_takes_the_jobs_active_when_it_starts(env: Env) -> None:
    """A job enqueued after the wait began is not waited for (a cron schedule would keep
    the wait going for ever), nor is one of another queue."""
    env.write_config(CONFIG)
    first, second = env.enqueue("ok"), env.enqueue("ok")
    elsewhere = env.enqueue("other")
    waiting = env.start("wait", "--queue", "default", "--json")
    assert waiting.stderr is not None and waiting.stdout is not None
    assert waiting.stderr.readline().startswith(NO_WORKER.format("default"))
    late = env.enqueue("bad")  # it fails, but came after the wait had taken its jobs
    burst(env, "--queue", "default")
    assert waiting.wait(timeout=30) == 0
    jobs = json.loads(waiting.stdout.read())
    assert [(j["id"], j["state"]) for j in jobs] == [(first, "succeeded"), (second, "succeeded")]
    assert env.show(late)["state"] == "dead"
    assert env.show(elsewhere)["state"] == "queued"


def test_wait_all_exits_1_naming_the_jobs_that_did_not_succeed(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok")
    failing = env.enqueue("bad")
    env.enqueue("other")
    waiting = env.start("wait", "--all")
    assert waiting.stderr is not None
    assert waiting.stderr.readline().startswith(NO_WORKER.format("default"))  # it has its jobs
    burst(env)
    assert waiting.wait(timeout=30) == 1
    lines = [line for line in waiting.stderr.read().splitlines() if "note:" not in line]
    assert lines == [f"jobctl: job {failing} (bad) ended dead: exit code 1"]


def test_wait_job_selects_by_type(env: Env) -> None:
    env.write_config(CONFIG)
    good = env.enqueue("ok")
    env.enqueue("bad")
    waiting = env.start("wait", "--job", "ok", "--json")
    assert waiting.stdout is not None and waiting.stderr is not None
    assert waiting.stderr.readline().startswith(NO_WORKER.format("default"))  # it has its jobs
    burst(env)
    assert waiting.wait(timeout=30) == 0
    assert [j["id"] for j in json.loads(waiting.stdout.read())] == [good]


def test_wait_with_nothing_active_returns_at_once_and_says_so(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok")
    burst(env)
    result = env.run("wait", "--all", "--json")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])
    assert result.stderr == "jobctl: note: no job is active there: nothing to wait for\n"


def test_wait_refuses_no_jobs_and_all_with_a_filter(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("ok")
    nothing = env.run("wait")
    assert (nothing.returncode, nothing.stderr) == (
        2,
        "jobctl: wait needs job ids, or --queue, --job or --all\n",
    )
    both = env.run("wait", "--all", "--queue", "default")
    assert (both.returncode, both.stderr) == (
        2,
        "jobctl: --all waits for every active job: drop --queue and --job, or --all\n",
    )


def test_a_wait_on_many_jobs_times_out_with_one_readable_line(env: Env) -> None:
    env.write_config(CONFIG)
    lines = "".join(json.dumps({"job": "ok"}) + "\n" for _ in range(40))
    ids = env.run("enqueue", "--batch", "-", input=lines, check=True).stdout.split()
    result = env.run("wait", "--all", "--timeout", "100ms")
    assert result.returncode == 124
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"jobctl: timed out after 100ms: job {ids[0]} (ok) is still queued,")
    assert ", and 35 more (no live worker serves queue 'default' yet)" in line


def test_ids_and_a_queue_together_wait_for_both(env: Env) -> None:
    env.write_config(CONFIG)
    elsewhere = env.enqueue("other")
    here = env.enqueue("ok")
    result = env.run("wait", str(elsewhere), "--queue", "default", "--timeout", "100ms")
    assert result.returncode == 124
    assert f"job {elsewhere} (other) is still queued, job {here} (ok)" in result.stderr


def test_worker_queue_star_serves_every_queue(env: Env) -> None:
    """`*` is how `status` shows a worker of every queue; as a --queue value it means the
    same, not a queue of that name that no job can have."""
    env.write_config(CONFIG)
    jobs = [env.enqueue("ok"), env.enqueue("other")]
    burst(env, "--queue", "*")
    assert [env.show(j)["state"] for j in jobs] == ["succeeded", "succeeded"]


def test_worker_refuses_a_queue_name_no_job_can_have_and_warns_of_an_unknown_one(
    env: Env,
) -> None:
    env.write_config(CONFIG)
    bad = env.run("run-worker", "--burst", "--queue", "mail queue")
    assert (bad.returncode, bad.stderr) == (
        2,
        "jobctl: --queue: bad queue name 'mail queue': use ASCII letters, digits, '_', '-', '.',"
        " ':', starting with a letter or a digit (at most 64) (or '*' for every queue)\n",
    )
    typo = env.run("run-worker", "--burst", "--queue", "mial", check=True)
    assert typo.stderr.splitlines()[0] == (
        f"jobctl: warning: no job type, schedule or [queues] limit in {env.config} names"
        " queue 'mial': only jobs enqueued with --queue mial run there"
    )
    known = env.run("run-worker", "--burst", "--queue", "other", check=True)
    assert "warning" not in known.stderr


def test_wait_refuses_a_queue_or_job_name_nobody_knows(env: Env) -> None:
    """A misspelt name waited for nothing and exited 0: a CI gate `wait --job bulid` passed.
    A name the config knows, with nothing active, is still nothing to wait for (exit 0)."""
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    bad = env.run("wait", "--queue", "bad name!")
    assert bad.returncode == 2 and bad.stderr.startswith("jobctl: --queue: bad queue name")
    typo = env.run("wait", "--queue", "defualt", "--timeout", "1h")
    assert (typo.returncode, typo.stderr) == (
        2,
        "jobctl: --queue: unknown queue 'defualt' (did you mean 'default'?): known queues are"
        " default, other\n",
    )
    typo = env.run("wait", "--job", "okk", "--timeout", "1h")
    assert (typo.returncode, typo.stderr) == (
        2,
        f"jobctl: --job 'okk': no job type of that name in {env.config}, and no job of it in"
        " the database (did you mean 'ok'?)\n",
    )
    idle = env.run("wait", "--queue", "other", "--timeout", "1h")
    assert idle.returncode == 0 and "nothing to wait for" in idle.stderr


def test_a_job_cancelled_before_the_wait_is_waited_for_but_not_a_failure(env: Env) -> None:
    """`cancel; wait --all; enqueue --key` needs the cancelled job's process gone (it holds
    its key meanwhile), but that job ended before the wait began: it is no failure of it."""
    # Neither job ends before the wait has begun, on a loaded machine too: the stubborn one
    # has a grace no load outlasts (the test ends it), the other no worker until the wait
    # has said so.
    env.write_config(
        CONFIG + '[jobs.stubborn]\ncommand = ["sh", "-c", "trap \\"\\" TERM; echo $$ > up;'
        ' exec sleep 600"]\nkill_grace = "10m"\nqueue = "slow"\n'
    )
    start_worker(env, "--queue", "slow")
    stubborn = env.enqueue("stubborn", "--key", "k")
    env.wait_for(lambda: read_pid(env.root / "up") is not None)
    stopping = read_pid(env.root / "up")
    assert stopping is not None
    env.run("cancel", str(stubborn), check=True)
    fine = env.enqueue("ok")
    waiting = env.start("wait", "--all", "--json")
    assert waiting.stderr is not None
    assert waiting.stderr.readline().startswith(NO_WORKER.format("default"))  # it has its jobs
    start_worker(env, "--queue", "default")
    env.wait_for(lambda: env.show(fine)["state"] == "succeeded")
    assert waiting.poll() is None  # the cancelled job's process still holds its key
    os.kill(stopping, signal.SIGKILL)  # as its grace would, 10 minutes from now
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert [j["id"] for j in json.loads(out)] == [fine]
    again = env.run("enqueue", "stubborn", "--key", "k", "--delay", "1h")
    assert again.returncode == 0 and int(again.stdout) not in (stubborn, fine)


def test_a_wait_over_many_queues_keeps_its_lines_short(env: Env) -> None:
    env.write_config(CONFIG)
    lines = "".join(json.dumps({"job": "ok", "queue": f"q{n}"}) + "\n" for n in range(30))
    env.run("enqueue", "--batch", "-", input=lines, check=True)
    timed_out = env.run("wait", "--all", "--timeout", "100ms")
    (line,) = timed_out.stderr.splitlines()[-1:]
    assert timed_out.returncode == 124 and len(line) < 600, line
    assert line.endswith("; and 25 more)")
    waiting = env.start("wait", "--all")
    assert waiting.stderr is not None
    notes = [waiting.stderr.readline() for _ in range(6)]
    assert notes[-1] == "jobctl: note: and 25 more queues no worker takes from yet\n"
    waiting.send_signal(signal.SIGINT)
    _, rest = waiting.communicate(timeout=30)
    assert waiting.returncode == 130
    assert rest.startswith(
        "jobctl: interrupted: stopped waiting for jobs 1, 2, 3, 4, 5, and 25 more"
    )


def test_a_wait_on_jobs_still_stopping_says_so_and_ctrl_c_names_them(env: Env) -> None:
    env.write_config(
        CONFIG + '[jobs.stubborn]\ncommand = ["sh", "-c", "trap \\"\\" TERM; touch up; sleep 30"]\n'
        'kill_grace = "20s"\n'
    )
    start_worker(env)
    stubborn = env.enqueue("stubborn")
    env.wait_for(lambda: (env.root / "up").exists())
    env.run("cancel", str(stubborn), check=True)
    waiting = env.start("wait", "--all")
    assert waiting.stderr is not None
    assert waiting.stderr.readline() == "jobctl: note: waiting for 1 cancelled job(s) to stop\n"
    waiting.send_signal(signal.SIGINT)
    _, rest = waiting.communicate(timeout=30)
    assert (waiting.returncode, rest) == (
        130,
        "jobctl: interrupted: stopped waiting for job 1; it goes on (jobctl cancel stops a job)\n",
    )


def test_wait_all_before_any_enqueue_has_nothing_to_wait_for(env: Env) -> None:
    """A CI step's `wait --all` when no job was ever queued: nothing to wait for (exit 0),
    where an id given is still unknown (exit 3: no database). The note names the database
    looked in, since a wrong --db or JOBCTL_DB passes the same way."""
    env.write_config(CONFIG)
    result = env.run("wait", "--all", "--json")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])
    assert result.stderr == (
        f"jobctl: note: database {env.db} does not exist (no job was ever enqueued there):"
        " nothing to wait for\n"
    )
    assert not env.db.exists()
    assert env.run("wait", "1").returncode == 3


def test_a_filter_given_twice_is_refused_not_cut_to_its_last_value(env: Env) -> None:
    """`wait --job build --job test` waited for test alone, and said all was well: click
    keeps an option's last value. --state may be repeated; --job and --queue may not."""
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    for args in (
        ["wait", "--job", "ok", "--job", "bad", "--timeout", "1s"],
        ["list", "-j", "ok", "--job=bad"],
        ["dead", "list", "--job", "ok", "-j", "bad"],
        ["list", "--queue", "default", "-q", "other"],
    ):
        result = env.run(*args)
        option = "--queue" if "-q" in args else "--job"
        command = " ".join(args[:2]) if args[0] == "dead" else args[0]
        assert (result.returncode, result.stderr) == (
            2,
            f"jobctl: {option} was given twice: it takes one value (see 'jobctl {command}"
            " --help')\n",
        ), args
    assert env.run("list", "--state", "scheduled", "--state", "queued", check=True)


def test_wait_json_prints_the_jobs_as_last_seen_when_interrupted(env: Env) -> None:
    """As at its timeout: a script that cancels the wait still reads the states it saw."""
    env.write_config(CONFIG)
    job_id = env.enqueue("ok", "--delay", "1h")
    waiting = env.start("wait", str(job_id), "--json")
    assert waiting.stderr is not None
    assert waiting.stderr.readline().startswith("jobctl: note: ")
    waiting.send_signal(signal.SIGINT)
    out, _ = waiting.communicate(timeout=30)
    assert waiting.returncode == 130
    assert [(j["id"], j["state"]) for j in json.loads(out)] == [(job_id, "scheduled")]


def test_a_timeout_names_the_jobs_that_ended_badly_meanwhile(env: Env) -> None:
    """`wait A B --timeout` with A dead and B still running gave only "B is still running"
    (exit 124): a CI log hid the failed job."""
    env.write_config(CONFIG + '\n[jobs.slow]\ncommand = ["sleep", "30"]\nqueue = "other"\n')
    dead, done = env.enqueue("bad"), env.enqueue("ok")
    burst(env)
    slow = env.enqueue("slow")
    result = env.run("wait", str(dead), str(done), str(slow), "--timeout", "100ms")
    assert result.returncode == 124
    assert result.stderr.splitlines()[0] == f"jobctl: job {dead} (bad) ended dead: exit code 1"
    assert f"timed out after 100ms: job {slow} (slow) is still queued" in result.stderr
    assert f"job {done} " not in result.stderr


def test_a_job_that_fails_is_named_as_it_ends_not_after_the_last_one(
    env: Env, tmp_path: Path
) -> None:
    """A CI step waiting on an hour's batch showed a job dead in its first minute only at
    the end of the hour."""
    go = tmp_path / "go"
    env.write_config(
        CONFIG
        + f'\n[jobs.held]\ncommand = ["sh", "-c", "until [ -e {go} ]; do sleep 0.05; done"]\n'
    )
    held, failing = env.enqueue("held"), env.enqueue("bad")
    start_worker(env, "--concurrency", "2")
    waiting = env.start("wait", str(held), str(failing))
    assert waiting.stderr is not None
    try:
        line = _line_within(waiting.stderr, 20)
        assert line == f"jobctl: job {failing} (bad) ended dead: exit code 1\n"
        assert waiting.poll() is None  # still waiting for the held job
    finally:
        go.touch()
    assert waiting.wait(timeout=30) == 1
    assert waiting.stderr.read() == ""  # named once


def _line_within(stream: IO[str], seconds: float) -> str:
    """The next line, or "" when none comes within `seconds`."""
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else ""


def test_a_timeout_on_a_cancelled_job_says_its_process_still_stops(env: Env) -> None:
    env.write_config(
        "[jobs.stub]\n"
        'command = ["sh", "-c", "trap \'echo TERM\' TERM; echo $$ > pid;'
        ' while :; do sleep 0.05; done"]\n'
        'kill_grace = "20s"\n'
    )
    job_id = env.enqueue("stub")
    worker = start_worker(env)
    env.wait_for(lambda: (env.root / "pid").exists())
    env.run("cancel", str(job_id), check=True)
    result = env.run("wait", str(job_id), "--timeout", "200ms")
    assert result.returncode == 124
    assert result.stderr == (
        f"jobctl: timed out after 200ms: job {job_id} (stub) was cancelled, and its process is"
        " still stopping\n"
    )
    os.kill(int((env.root / "pid").read_text()), signal.SIGKILL)
    ended = env.run("wait", str(job_id), "--timeout", "20s")  # once its worker saw it end
    assert (ended.returncode, ended.stderr) == (1, f"jobctl: job {job_id} (stub) ended cancelled\n")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


@pytest.mark.parametrize("command", ["wait", "logs"])
def test_a_wait_on_a_database_deleted_under_it_ends(env: Env, command: str) -> None:
    """`rm q.db*` to reset the queue: `wait` and `logs --follow` waited on the old file for
    good, and a timeout said the job "goes on", which it does nowhere."""
    env.write_config(CONFIG)
    job_id = env.enqueue("ok", "--delay", "1h")
    args = ["wait", str(job_id)] if command == "wait" else ["logs", "--follow", str(job_id)]
    waiting = env.start(*args)
    env.wait_for(lambda: _holds_open(waiting.pid, env.db))  # it is waiting
    for suffix in ("", "-wal", "-shm"):
        Path(f"{env.db}{suffix}").unlink(missing_ok=True)
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 3, err
    assert f"database {env.db}: deleted while in use" in err


def test_a_database_deleted_as_its_store_opens_is_said_deleted(env: Env) -> None:
    """Deleted between SQLite's open and the store's look at the file's identity (the test
    above, now and then, under load): the identity was "cannot tell", and a wait on the
    deleted file waited for good. The deletion lands there through a trace on the return
    of the function that opens the file."""
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")

    def at_return(frame: object, event: str, arg: object) -> None:
        if event == "return":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{env.db}{suffix}").unlink(missing_ok=True)

    def trace(frame: object, event: str, arg: object) -> object:
        opening = frame.f_code.co_name == "open_database"  # type: ignore[attr-defined]
        return at_return if event == "call" and opening else None

    sys.settrace(trace)
    try:
        store = SqliteStore(env.db, create=False)
    finally:
        sys.settrace(None)
    with store:
        assert not env.db.exists()
        assert store.replaced() == f"database {env.db}: deleted while in use"


@pytest.mark.parametrize(
    ("signum", "code", "how"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGHUP, 129, "hung up"),
    ],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_enqueue_wait_json_prints_the_job_when_its_wait_is_stopped(
    env: Env, signum: int, code: int, how: str
) -> None:
    """A CI runner cancelling its step: stdout was empty, the id only in a line of prose, so
    the step's cleanup had no job to cancel. As at its timeout, and as `wait --json`, the
    job goes to stdout as last seen, with `created`."""
    env.write_config(CONFIG)
    job_id = env.enqueue("ok", "--delay", "1h") + 1  # (the database is made: no note of it)
    waiting = env.start("enqueue", "ok", "--delay", "1h", "--wait", "--json")
    assert waiting.stderr is not None
    assert waiting.stderr.readline() == NO_WORKER.format("default") + " (--timeout gives up)\n"
    waiting.send_signal(signum)  # once said, its handler is in
    out, rest = waiting.communicate(timeout=30)
    assert (waiting.returncode, rest) == (
        code,
        f"jobctl: {how}: stopped waiting for job {job_id}; it goes on (jobctl cancel stops a"
        " job)\n",
    )
    document = json.loads(out)
    assert (document["id"], document["state"], document["created"]) == (
        job_id,
        "scheduled",
        True,
    )
    assert env.show(job_id)["state"] == "scheduled"  # the job goes on


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 129, "hung up")],
    ids=["SIGTERM", "SIGHUP"],
)
@pytest.mark.parametrize("how", ["wait", "wait --json", "enqueue --wait", "logs --follow"])
def test_sigterm_or_sighup_ends_a_wait_as_ctrl_c_does_and_says_the_job_goes_on(
    env: Env, how: str, signum: int, code: int, said: str
) -> None:
    """A CI runner cancels its step with SIGTERM; an ssh session or a terminal that closes
    sends SIGHUP. The wait ended with 143 or 129 and no word (nor the JSON `wait --json`
    prints when interrupted), while Ctrl-C said that the job goes on."""
    env.write_config(CONFIG)
    job_id = env.enqueue("ok", "--delay", "1h")
    args = {
        "wait": ["wait", str(job_id)],
        "wait --json": ["wait", str(job_id), "--json"],
        "enqueue --wait": ["enqueue", "ok", "--delay", "1h", "--wait"],
        "logs --follow": ["logs", str(job_id), "--follow"],
    }[how]
    waiting = env.start(*args)
    assert waiting.stderr is not None
    if how == "enqueue --wait":
        job_id += 1
    # Each says first that no worker runs the job: by then its handler is in.
    assert waiting.stderr.readline().startswith("jobctl: note: ")
    waiting.send_signal(signum)
    out, rest = waiting.communicate(timeout=30)
    assert (waiting.returncode, rest.splitlines()[-1]) == (
        code,
        f"jobctl: {said}: stopped waiting for job {job_id}; it goes on (jobctl cancel stops a job)",
    )
    if how == "wait --json":
        assert [(j["id"], j["state"]) for j in json.loads(out)] == [(job_id, "scheduled")]


def test_a_wait_under_nohup_outlives_a_hangup(env: Env) -> None:
    """`nohup jobctl wait` asks for the wait to go on when the terminal closes: a hangup it
    was started ignoring is not taken for one that ends it."""
    env.write_config(CONFIG)
    job_id = env.enqueue("ok", "--delay", "1h")
    waiting = subprocess.Popen(
        [*JOBCTL, *env.global_args(), "wait", str(job_id)],
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    env.procs.append(waiting)
    assert waiting.stderr is not None
    assert waiting.stderr.readline().startswith("jobctl: note: ")
    waiting.send_signal(signal.SIGHUP)
    waiting.send_signal(signal.SIGTERM)  # ends it only if the hangup did not: 143, not 129
    _, rest = waiting.communicate(timeout=30)
    assert (waiting.returncode, rest.splitlines()[-1]) == (
        143,
        f"jobctl: terminated: stopped waiting for job {job_id}; it goes on (jobctl cancel stops"
        " a job)",
    )


@pytest.mark.parametrize("args", [["wait", "1"], ["wait", "1", "--json"]])
def test_a_wait_whose_terminal_closes_still_exits_129(env: Env, args: list[str]) -> None:
    """The terminal a wait writes to is gone once it hangs up: the line (and JSON) it would
    print there cannot be written, and that must not end the wait with another code than
    the hangup's (Python's own failing exit gave 120)."""
    env.write_config(CONFIG)
    env.enqueue("ok", "--delay", "1h")
    terminal, its_side = os.openpty()

    def own_terminal() -> None:  # a session whose controlling terminal is the pty
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    waiting = subprocess.Popen(
        [*JOBCTL, *env.global_args(), *args],
        stdin=its_side,
        stdout=its_side,
        stderr=its_side,
        env=env.env,
        cwd=env.root,
        preexec_fn=own_terminal,
    )
    env.procs.append(waiting)  # type: ignore[arg-type]
    os.close(its_side)
    seen = b""
    while b"note" not in seen:  # its handler is in
        seen += os.read(terminal, 4096)
    os.close(terminal)  # the terminal closes: the kernel sends its session SIGHUP
    assert waiting.wait(timeout=30) == 129


def test_a_wait_inside_a_job_says_every_slot_is_busy_with_it(env: Env) -> None:
    """A chain, `jobctl enqueue child --wait` in a job's command, on a worker with one slot:
    the child could never start, and the wait's timeout gave no reason, since a live worker
    does serve the queue. It says the slots are all taken, one by the job it runs in."""
    command = json.dumps([*JOBCTL, "enqueue", "child", "--wait", "--timeout", "2s"])
    env.write_config(
        f'[jobs.child]\ncommand = ["true"]\n[jobs.parent]\ncommand = {command}\nmax_attempts = 1\n'
    )
    parent = env.enqueue("parent")
    burst(env, "--concurrency", "1")  # (the child runs once the parent is over)
    assert env.show(parent)["state"] == "dead"
    error = str(env.show(parent)["error"])
    assert "timed out after 2s" in error and "is busy, one slot with job" in error, error


def test_a_timeout_is_kept_on_a_hundred_thousand_jobs(env: Env) -> None:
    """The timeout's report compared every job with every job still pending: with 100,000
    queued jobs and no worker, --timeout 1s took over a minute, and on a million, hours."""
    env.write_config(CONFIG)
    _queued(env, 100_000, {})
    started = time.monotonic()
    result = env.run("wait", "--all", "--timeout", "1s", timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 124, result.stderr
    assert ", and 99995 more (no live worker serves queue 'default' yet)" in result.stderr
    assert took < 20, f"wait --timeout 1s took {took:.1f}s"


def test_an_id_with_no_job_is_a_usage_error_not_a_failed_job(env: Env) -> None:
    """`jobctl wait $ids || report_failed` took a mistyped or pruned id for a job that ended
    dead (exit 1), at once, waiting for none of the others, and named only the first."""
    env.write_config(CONFIG)
    later = env.enqueue("ok", "--delay", "1h")
    result = env.run("wait", str(later), "9998", "9999", "--json", "--timeout", "30s")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "jobctl: no job 9998, 9999 (never made, or pruned): nothing waited for"
    )


def test_every_unknown_id_is_named_however_many_ids_are_given(env: Env) -> None:
    """The first look at many jobs is read 2,000 at a time: only the unknown ids of the first
    2,000 were named."""
    env.write_config(CONFIG)
    lines = '{"job": "ok", "delay": "1h"}\n' * 2500
    ids = env.run("enqueue", "--batch", "-", input=lines, check=True).stdout.split()
    result = env.run("wait", "999999", *ids, "888888", "--timeout", "30s")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "jobctl: no job 999999, 888888 (never made, or pruned): nothing waited for"
    )


def test_a_timeout_says_which_jobs_a_waiting_job_waits_for(env: Env) -> None:
    env.write_config(CONFIG)
    first = env.enqueue("ok", "--delay", "1h")
    second = env.enqueue("ok", "--after", str(first))
    for args in (
        ["wait", str(second)],
        ["enqueue", "ok", "--after", f"{first},{second}", "--wait"],
    ):
        result = env.run(*args, "--timeout", "0.5s")
        assert result.returncode == 124, result.stderr
        after = f"for job {first}" if args[0] == "wait" else f"for jobs {first}, {second}"
        assert f"(ok) is still waiting {after}" in result.stderr.splitlines()[-1]


def test_a_wait_on_a_waiting_job_says_why_the_job_ahead_of_it_does_not_run(env: Env) -> None:
    """It said only "still waiting for job 15", where job 15 sat in a paused queue: the
    reason was given only to a wait on job 15 itself."""
    env.write_config(CONFIG)
    env.run("run-worker", "--burst", check=True)  # makes the database a queue is paused in
    env.run("pause", "other", check=True)
    head = env.enqueue("other")
    middle = env.enqueue("ok", "--after", str(head))
    last = env.enqueue("ok", "--after", str(middle))
    result = env.run("wait", str(last), "--timeout", "100ms")
    assert result.returncode == 124
    assert result.stderr == (
        f"jobctl: timed out after 100ms: job {last} (ok) is still waiting for job {middle}"
        " (queue 'other' is paused until jobctl resume other)\n"
    )
    followed = env.run("logs", str(last), "--follow", "--timeout", "100ms")
    assert "(queue 'other' is paused until jobctl resume other)" in followed.stderr


def _holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has the file open."""
    fds = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    return False


def test_a_wait_on_a_big_backlog_holds_ids_and_streams_its_json(env: Env) -> None:
    """`wait --all` read every active job whole before its first look at the deadline, and
    built its --json document whole at the timeout: 1.1 GB for 200,000 queued jobs, where
    `list --limit 0 --json` streams them in a tenth of that."""
    env.write_config(CONFIG)
    _queued(env, 20_000, {"pad": "x" * 1000})
    out, peak = env.root / "wait.json", env.root / "peak"
    # Started from a small process: a child forked from this test's (large) one counts the
    # pages they shared before its exec in its peak.
    measured = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen(sys.argv[2:])\n"
        "_, status, usage = os.wait4(child.pid, 0)\n"
        "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    # Long enough to look at every job: one still pending was held whole after the look.
    cmd = [*JOBCTL, *env.global_args(), "wait", "--all", "--timeout", "3s", "--json"]
    with out.open("wb") as sink:
        waiting = subprocess.run(
            [sys.executable, "-c", measured, str(peak), *cmd],
            stdout=sink,
            stderr=subprocess.PIPE,
            env=env.env,
            cwd=env.root,
            timeout=120,
        )
    error = waiting.stderr.decode()
    assert waiting.returncode == 124, error
    assert ", and 19995 more (no live worker serves queue 'default' yet)" in error
    jobs = json.loads(out.read_text())
    assert [j["id"] for j in jobs] == list(range(1, 20_001))
    assert {j["state"] for j in jobs} == {"queued"}
    rss_mb = int(peak.read_text()) / 1024
    # (at 40,000 jobs: about 300 MB when every job was listed whole, 130 MB when held whole
    # once looked at, 40 MB now; at 20,000 about half of each but the last, 31 MB)
    assert rss_mb < 50, f"wait --all --json on 20,000 jobs took {rss_mb:.0f} MB"


def test_a_timeout_while_the_active_jobs_are_listed_reports_those_listed(env: Env) -> None:
    """The active jobs are listed a batch of ids at a time, the deadline looked at between
    batches: a wait on a million jobs with --timeout 1s took 10 s to list them."""
    env.write_config(CONFIG)
    lines = json.dumps({"job": "ok"}) + "\n"
    env.run("enqueue", "--batch", "-", input=lines * 5000, check=True)
    result = env.run("wait", "--all", "--timeout", "0s", "--json")
    assert result.returncode == 124, result.stderr
    assert result.stderr.splitlines() == [
        "jobctl: note: the timeout came while the active jobs were listed: the first 2,000"
        " of them are reported",
        "jobctl: timed out after 0s: job 1 (ok) is still queued, job 2 (ok) is still queued,"
        " job 3 (ok) is still queued, job 4 (ok) is still queued, job 5 (ok) is still queued,"
        " and 1995 more (no live worker serves queue 'default' yet)",
    ]
    assert [j["id"] for j in json.loads(result.stdout)] == list(range(1, 2001))


class _Interrupted(Exception):
    pass


def _interrupt_at_opcode(count: int, names: set[str]) -> object:
    """A trace that raises at the `count`-th bytecode run inside the functions `names`, as
    a signal handler raises between any two of them."""
    seen = 0

    def trace(frame: object, event: str, arg: object) -> object:
        nonlocal seen
        if frame.f_code.co_name not in names:  # type: ignore[attr-defined]
            return None
        frame.f_trace_opcodes = True  # type: ignore[attr-defined]
        if event == "opcode":
            seen += 1
            if seen == count:
                raise _Interrupted
        return trace

    return trace


def test_an_interrupt_anywhere_in_a_wait_s_look_names_each_pending_job_once() -> None:
    """SIGTERM to `wait --json` under load said "stopped waiting for jobs 1, 1": the handler
    that names the pending jobs ran between the two halves of an update to them."""
    from array import array

    from jobctl.cli.inspect import _Pending

    def steps(pending: _Pending) -> list[set[int]]:
        """Read 1-4 two at a time, 2 and 3 ending: what is pending after each update."""
        after = []
        for ended in ({2}, {3}, set()):
            pending.read(pending.next_batch(2), ended)
            after.append(set(pending))
        return after

    expected = [{1, 2, 3, 4}, *steps(_Pending(array("q", [1, 2, 3, 4])))]
    assert expected == [{1, 2, 3, 4}, {1, 3, 4}, {1, 4}, {1, 4}]
    count = 1
    while True:
        pending = _Pending(array("q", [1, 2, 3, 4]))
        sys.settrace(_interrupt_at_opcode(count, {"next_batch", "read"}))  # type: ignore[arg-type]
        try:
            steps(pending)
        except _Interrupted:
            pass
        else:
            break
        finally:
            sys.settrace(None)
        named = list(pending)
        assert len(named) == len(set(named)) == len(pending), (count, named)
        assert set(named) in expected, (count, named)
        count += 1
    assert count > 20  # the trace did reach the updates


@pytest.mark.parametrize("timeout", [None, "1s"])
def test_a_job_deleted_while_waited_for_is_named_at_the_end_and_at_a_timeout(
    env: Env, timeout: str | None
) -> None:
    """Pruned between two looks of the wait: how it ended is not known, and the wait says
    so, exit 1, as it does when every other job has ended; at a timeout (another job still
    scheduled) it named only the job still pending."""
    env.write_config(CONFIG)
    gone = env.enqueue("ok")
    later = env.enqueue("ok", "--delay", "1h")
    waited = [str(gone)] if timeout is None else [str(gone), str(later)]
    options = [] if timeout is None else ["--timeout", timeout]
    wait = env.start("wait", *waited, *options)
    assert wait.stderr is not None
    # Once the wait has read its jobs it is stopped, so that no look falls between the
    # cancel and the prune (it would see the job cancelled, not gone): when it first sleeps
    # between two looks (with a --timeout it says nothing before its end).
    if timeout is None:
        assert wait.stderr.readline().startswith(NO_WORKER.format("default"))
    else:
        _wait_until_it_sleeps(wait.pid)
    wait.send_signal(signal.SIGSTOP)
    try:
        assert env.run("cancel", str(gone)).returncode == 0
        assert env.run("prune", str(gone)).returncode == 0
    finally:
        wait.send_signal(signal.SIGCONT)
    _, err = wait.communicate(timeout=30)
    deleted = f"jobctl: job {gone} (ok) was deleted while waited for: how it ended is not known"
    if timeout is None:
        assert (wait.returncode, err.splitlines()) == (1, [deleted])
    else:
        assert wait.returncode == 124
        assert err.splitlines()[0] == deleted, err
        assert f"timed out after 1s: job {later} (ok) is still scheduled" in err


def _wait_until_it_sleeps(pid: int) -> None:
    """Until process `pid` sleeps in nanosleep (time.sleep), as the kernel reports it."""
    wchan = Path(f"/proc/{pid}/wchan")
    said: set[str] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        said.add(where := wchan.read_text())
        if "nanosleep" in where:
            return
        time.sleep(0.002)
    if said <= {"", "0"}:  # "0" while it runs, and always where the kernel hides it
        pytest.skip("the kernel does not say where a process sleeps (/proc/PID/wchan)")
    raise AssertionError(f"process {pid} never slept in nanosleep: {sorted(said)}")


def test_wait_all_holds_a_job_that_ends_before_its_batch_of_ids_is_read(tmp_path: Path) -> None:
    """The active jobs are read a batch at a time: one running when the wait began that
    ended before its batch was read was in none, and a dead end went unsaid (exit 0). The
    store is a real one whose second read comes after that job died."""
    from jobctl.cli.inspect import WAIT_BATCH, _active_ids
    from jobctl.models import ACTIVE_STATES, AttemptResult, JobFilter, Outcome
    from jobctl.store import Finish

    class EndsOneBetweenReads(SqliteStore):
        reads = 0

        def job_ids(self, where: JobFilter) -> list[int]:
            self.reads += 1
            if self.reads == 3:  # the newest id, the first batch, then this one's
                failed = AttemptResult(Outcome.FAILED, exit_code=1, error="exit code 1")
                self.finish([Finish(running, failed)], time.time())
            return super().job_ids(where)

    store = EndsOneBetweenReads(tmp_path / "q.db")
    now = time.time()
    store.enqueue([NewJob(job="ok", payload={}, max_attempts=1)] * WAIT_BATCH, now)
    (dies,) = store.enqueue([NewJob(job="bad", payload={}, max_attempts=1, priority=9)], now)
    (other,) = store.enqueue([NewJob(job="ok", payload={}, queue="other")], now)
    (running,) = store.claim("w", ["default"], now, 30.0, limit=1)
    assert running.job.id == dies.id == WAIT_BATCH + 1  # the first of the second batch
    ids, timed_out = _active_ids(store, JobFilter(states=ACTIVE_STATES, limit=None), None)
    assert (len(ids), timed_out) == (WAIT_BATCH + 2, False)
    assert store.get(dies.id).state.value == "dead"  # type: ignore[union-attr]
    store.reads = 0
    queue_only = JobFilter(states=ACTIVE_STATES, queue="other", limit=None)
    assert list(_active_ids(store, queue_only, None)[0]) == [other.id]
