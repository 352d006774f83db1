"""logs, logs --follow and enqueue --wait/--follow, with real workers and real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import Env
from test_ops_support import burst, start_worker, wait_state


def _gated(env: Env, *, exit_code: int = 0, max_attempts: int = 1) -> Path:
    """A job `gated` that prints, blocks on a FIFO until the test writes to it, prints again."""
    fifo = env.root / "gate"
    os.mkfifo(fifo)
    script = f"echo first; echo err >&2; read line < {fifo}; echo second; exit {exit_code}"
    env.write_config(
        f'[jobs.gated]\ncommand = ["sh", "-c", "{script}"]\n'
        f'max_attempts = {max_attempts}\nbackoff = "10ms"\njitter = false\n'
    )
    return fifo


def _release(fifo: Path) -> None:
    with open(fifo, "w") as gate:  # blocks until the job opens its end
        gate.write("go\n")


def test_logs_prints_the_latest_attempt_or_the_one_asked_for(env: Env) -> None:
    env.write_config(
        '[jobs.count]\ncommand = ["sh", "-c", "echo run $JOBCTL_ATTEMPT; exit 1"]\n'
        'max_attempts = 2\nbackoff = "10ms"\njitter = false\n'
    )
    job_id = env.enqueue("count")
    burst(env)
    assert env.run("logs", str(job_id), check=True).stdout == "run 2\n"
    assert env.run("logs", str(job_id), "--attempt", "1", check=True).stdout == "run 1\n"
    missing = env.run("logs", str(job_id), "--attempt", "3")
    assert (missing.returncode, missing.stderr) == (
        1,
        f"jobctl: job {job_id} has no run 3 (it has 2; jobctl show {job_id} lists them)\n",
    )
    assert env.run("logs", "999").stderr == "jobctl: no job 999\n"
    waiting = env.enqueue("count", "--delay", "1h")
    result = env.run("logs", str(waiting))
    assert result.returncode == 1
    assert result.stderr == f"jobctl: job {waiting} has not run yet (it is scheduled)\n"
    env.run("cancel", str(waiting), check=True)  # it never will
    result = env.run("logs", str(waiting))
    assert (result.returncode, result.stderr) == (
        1,
        f"jobctl: job {waiting} never ran (it is cancelled)\n",
    )


def test_logs_of_a_pruned_log_file_says_so(env: Env) -> None:
    env.write_config('[jobs.hi]\ncommand = ["echo", "hi"]\n')
    job_id = env.enqueue("hi")
    burst(env)
    log = Path(str(env.show(job_id)["attempts_history"][0]["log_path"]))  # type: ignore[index]
    log.unlink()
    result = env.run("logs", str(job_id))
    assert result.returncode == 1
    assert result.stderr == f"jobctl: no output kept for job {job_id} attempt 1 ({log} is gone)\n"


def test_logs_follow_streams_a_running_job_until_it_ends(env: Env) -> None:
    fifo = _gated(env, exit_code=0)
    start_worker(env)
    job_id = env.enqueue("gated")
    wait_state(env, job_id, "running")
    follower = env.start("logs", str(job_id), "--follow")
    assert follower.stdout is not None
    assert follower.stdout.readline() == "first\n"  # streamed while the job still runs
    assert follower.stdout.readline() == "err\n"
    _release(fifo)
    out, err = follower.communicate(timeout=30)
    assert out == "second\n"
    assert follower.returncode == 0, err


def test_logs_follow_exits_1_when_the_job_dies_and_spans_retries(env: Env) -> None:
    fifo = _gated(env, exit_code=4, max_attempts=2)
    start_worker(env)
    job_id = env.enqueue("gated")
    follower = env.start("logs", str(job_id), "--follow")
    assert follower.stdout is not None
    for _ in range(2):
        # Each attempt is past its first lines (blocked on the gate) before it is released.
        assert [follower.stdout.readline() for _ in range(2)] == ["first\n", "err\n"]
        _release(fifo)
        assert follower.stdout.readline() == "second\n"
    out, err = follower.communicate(timeout=30)
    assert out == ""
    assert err == (
        f"jobctl: job {job_id}: attempt 2 started\n"
        f"jobctl: job {job_id} (gated) ended dead: exit code 4: err\n"
    )
    assert follower.returncode == 1


def test_logs_follow_of_a_job_cancelled_before_it_ran(env: Env) -> None:
    env.write_config('[jobs.hi]\ncommand = ["echo", "hi"]\n')
    job_id = env.enqueue("hi", "--delay", "1h")
    follower = env.start("logs", str(job_id), "--follow")
    env.run("cancel", str(job_id), check=True)
    out, _ = follower.communicate(timeout=30)
    assert (out, follower.returncode) == ("", 1)


def test_logs_without_an_id_shows_the_job_that_started_an_attempt_last(env: Env) -> None:
    env.write_config(
        '[jobs.say]\ncommand = ["sh", "-c", "echo said $JOBCTL_JOB_ID"]\n'
        '[jobs.flaky]\ncommand = ["sh", "-c", "echo try $JOBCTL_ATTEMPT; exit 1"]\n'
        'max_attempts = 2\nbackoff = "1h"\njitter = false\n'
    )
    env.enqueue("say", "--delay", "1h")
    none = env.run("logs")
    assert (none.returncode, none.stdout, none.stderr) == (
        1,
        "",
        "jobctl: no job has started yet: there is no output to show\n",
    )
    first = env.enqueue("say")
    env.enqueue("say", "--priority", "5")
    burst(env, "--concurrency", "1")  # the second runs first: the first started last
    shown = env.run("logs", check=True)
    assert shown.stdout == f"said {first}\n"
    assert re.fullmatch(
        rf"jobctl: job {first} \(say\), started \S+ ago, now succeeded\n", shown.stderr
    )
    # A job whose attempt ended, waiting for its retry, started later; a newer job that has
    # not started is no candidate.
    start_worker(env)
    flaky = env.enqueue("flaky")
    wait_state(env, flaky, "scheduled")
    env.enqueue("say", "--delay", "1h")
    shown = env.run("logs", check=True)
    assert shown.stdout == "try 1\n"
    assert re.fullmatch(
        rf"jobctl: job {flaky} \(flaky\), started \S+ ago, now scheduled\n", shown.stderr
    )


def test_logs_follow_without_an_id_follows_the_job_started_last(env: Env) -> None:
    gate = env.root / "gate"
    script = f"echo started $JOBCTL_JOB_ID; while [ ! -e {gate} ]; do sleep 0.02; done; echo done"
    env.write_config(f'[jobs.hold]\ncommand = ["sh", "-c", "{script}"]\n')
    start_worker(env, "--concurrency", "2")
    older = env.enqueue("hold")
    wait_state(env, older, "running")
    newer = env.enqueue("hold")
    wait_state(env, newer, "running")
    follower = env.start("logs", "-f")
    assert follower.stdout is not None
    assert follower.stdout.readline() == f"started {newer}\n"
    gate.touch()
    out, err = follower.communicate(timeout=30)
    assert (follower.returncode, out) == (0, "done\n")
    assert re.fullmatch(
        rf"jobctl: job {newer} \(hold\), started \S+ ago; 1 other job\(s\) running"
        r" \(jobctl logs ID for another\)\n",
        err,
    )


def test_enqueue_wait_exits_with_the_jobs_exit_code(env: Env) -> None:
    env.write_config(
        '[jobs.ok]\ncommand = ["echo", "fine"]\n'
        '[jobs.bad]\ncommand = ["sh", "-c", "echo broken >&2; exit 7"]\nmax_attempts = 1\n'
    )
    start_worker(env)
    ok = env.run("enqueue", "ok", "--wait")
    assert ok.returncode == 0 and ok.stdout.strip().isdigit()
    bad = env.run("enqueue", "bad", "--wait")
    job_id = int(bad.stdout)
    assert bad.returncode == 7
    assert bad.stderr == f"jobctl: job {job_id} (bad) ended dead: exit code 7: broken\n"


TRACEBACK = r"""
[jobs.crash]
command = ["sh", "-c", 'printf "Traceback (most recent call last):\n  File x.py\nValueError: no input\n\n" >&2; exit 1']
max_attempts = 1

[jobs.fetch]
command = ["sh", "-c", 'printf "downloading   1%%\rdownloading 100%%\rchecksum mismatch\r" >&2; exit 4']
max_attempts = 1
"""  # noqa: E501


def test_a_failed_job_s_line_gives_the_last_line_it_wrote(env: Env) -> None:
    """`wait`, `logs --follow` and `enqueue --wait` ended with the first line of the job's
    stderr: a traceback's "Traceback (most recent call last):", a progress bar's first
    "downloading 1%". Like a terminal's cut ERROR cell, the line keeps the end."""
    env.write_config(TRACEBACK)
    crash, fetch = env.enqueue("crash"), env.enqueue("fetch")
    burst(env)
    said = {
        crash: f"jobctl: job {crash} (crash) ended dead: exit code 1: ValueError: no input\n",
        fetch: f"jobctl: job {fetch} (fetch) ended dead: exit code 4: checksum mismatch\n",
    }
    for job_id, line in said.items():
        assert env.run("wait", str(job_id)).stderr == line
        assert env.run("logs", str(job_id), "--follow").stderr == line
    start_worker(env)
    waited = env.run("enqueue", "crash", "--wait")
    assert waited.stderr == (
        f"jobctl: job {int(waited.stdout)} (crash) ended dead: exit code 1: ValueError: no input\n"
    )


def test_enqueue_follow_streams_the_output(env: Env) -> None:
    env.write_config(
        '[jobs.build]\ncommand = ["sh", "-c", "echo step 1; echo step 2; exit 3"]\n'
        "max_attempts = 1\n"
    )
    start_worker(env)
    result = env.run("enqueue", "build", "--follow")
    assert result.returncode == 3
    assert result.stdout == "step 1\nstep 2\n"  # the job's output alone; its id is a note
    assert result.stderr.startswith("jobctl: job 1 enqueued\n")


def test_enqueue_wait_refuses_what_cannot_work(env: Env) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    mixed = env.run("enqueue", "ok", "--follow", "--json")
    assert mixed.returncode == 2
    assert mixed.stderr == "jobctl: --follow prints the job's output: it does not mix with --json\n"
    batch = env.run("enqueue", "--batch", "-", "--wait", input='{"job": "ok"}\n')
    assert batch.returncode == 2
    assert batch.stderr == "jobctl: --wait and --follow take one job, not a --batch\n"


NOBODY = " (no live worker serves queue 'default' yet)"
NEW_DATABASE = (
    "which no worker serves yet (a worker takes jobs from the database its --db, $JOBCTL_DB"
    " or jobs.toml names)"
)


def test_enqueue_wait_and_logs_follow_give_up_at_their_timeout(env: Env) -> None:
    """A CI step must not hang when no worker is up: --timeout ends the wait with 124, as
    `wait --timeout` does, and says what the job was doing; the job stays queued."""
    env.write_config('[jobs.ok]\ncommand = ["echo", "done"]\n')
    waited = env.run("enqueue", "ok", "--wait", "--timeout", "300ms", "--json")
    assert waited.returncode == 124
    document = json.loads(waited.stdout)
    assert (document["state"], document["created"]) == ("queued", True)
    new, ended = waited.stderr.splitlines()  # the first enqueue made the database
    assert new == f"jobctl: note: {env.db} is a new database, {NEW_DATABASE}"
    assert (
        ended == f"jobctl: timed out after 300ms: job {document['id']} (ok) is still queued{NOBODY}"
    )
    followed = env.run("enqueue", "ok", "--follow", "-t", "200ms")
    assert (followed.returncode, followed.stdout) == (124, "")
    assert followed.stderr.endswith(
        f"jobctl: timed out after 200ms: job 2 (ok) is still queued{NOBODY}\n"
    )
    logs = env.run("logs", "1", "--follow", "--timeout", "100ms")
    assert (logs.returncode, logs.stderr) == (
        124,
        f"jobctl: timed out after 100ms: job 1 (ok) is still queued{NOBODY}\n",
    )
    burst(env)  # once a worker comes, the jobs run after all
    assert env.run("logs", "1", "--follow", "--timeout", "10s").stdout == "done\n"


def _sleeping(proc: subprocess.Popen[str]) -> bool:
    """The process sleeps in clock_nanosleep (x86-64 230, arm64 115): it is polling."""
    try:
        number = Path(f"/proc/{proc.pid}/syscall").read_text().split()[0]
    except (FileNotFoundError, IndexError, PermissionError):
        return False
    return number in ("230", "115")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["wait", "1", "2"], "jobs 1, 2; they go on"),
        (["logs", "1", "--follow"], "job 1; it goes on"),
        (["enqueue", "ok", "--wait"], "job 3; it goes on"),
    ],
)
def test_ctrl_c_while_waiting_says_the_jobs_go_on(env: Env, args: list[str], said: str) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    env.enqueue("ok")
    waiting = env.start(*args)
    env.wait_for(lambda: _sleeping(waiting))
    waiting.send_signal(signal.SIGINT)
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 130
    assert err.endswith(
        f"jobctl: interrupted: stopped waiting for {said} (jobctl cancel stops a job)\n"
    )
    assert {env.show(i)["state"] for i in (1, 2)} == {"queued"}


def test_enqueue_timeout_needs_a_wait_and_a_duration(env: Env) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    alone = env.run("enqueue", "ok", "--timeout", "1s")
    assert (alone.returncode, alone.stderr) == (
        2,
        "jobctl: --timeout goes with --wait or --follow\n",
    )
    bad = env.run("enqueue", "ok", "--wait", "--timeout", "soon")
    assert bad.returncode == 2 and bad.stderr.startswith(
        "jobctl: --timeout: invalid duration 'soon'"
    )
    assert not env.db.exists()  # nothing was stored
    logs = env.run("logs", "1", "--timeout", "1s")
    assert (logs.returncode, logs.stderr) == (2, "jobctl: --timeout goes with --follow\n")


def test_a_silent_attempt_leaves_no_log_file(env: Env) -> None:
    env.write_config(
        '[jobs.quiet]\ncommand = ["true"]\n'
        '[jobs.quiet_fail]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[jobs.talk]\ncommand = ["sh", "-c", "printf out; printf err >&2"]\n'
    )
    quiet, failing, talk = env.enqueue("quiet"), env.enqueue("quiet_fail"), env.enqueue("talk")
    burst(env)
    logs_dir = env.root / "q.db.logs"
    assert [p.name for p in logs_dir.rglob("*.log")] == [f"{talk}.1.log"]
    for job_id in (quiet, failing):
        assert env.show(job_id)["attempts_history"][0]["log_path"] is None  # type: ignore[index]
        result = env.run("logs", str(job_id))
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert env.run("logs", str(talk), check=True).stdout == "outerr"
    shown = env.run("dead", "show", str(failing), check=True).stdout
    assert "  log: none (it wrote no output)\n" in shown


def test_logs_of_a_running_attempt_that_has_written_nothing_yet_is_empty(env: Env) -> None:
    fifo = env.root / "gate"
    os.mkfifo(fifo)
    env.write_config(f'[jobs.later]\ncommand = ["sh", "-c", "read line < {fifo}; echo done"]\n')
    job_id = env.enqueue("later")
    start_worker(env)
    wait_state(env, job_id, "running")
    result = env.run("logs", str(job_id))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    _release(fifo)
    wait_state(env, job_id, "succeeded")
    assert env.run("logs", str(job_id), check=True).stdout == "done\n"


def test_following_a_log_the_worker_cuts_shows_each_byte_once(env: Env) -> None:
    """A log past twice log_max_bytes is cut to its last log_max_bytes, in place: a follower
    that had shown part of what is kept shows the rest, not all of it again (nor the line the
    cut leaves); one that comes after the cut says how much it cannot show."""
    # A gate each: a job past one gate could open the same FIFO again before the test has
    # closed it, and go past the next gate too.
    gates = [env.root / f"gate{n}" for n in range(3)]
    for gate in gates:
        os.mkfifo(gate)
    seq = "seq -f %09g"  # ten bytes a line, in one write: the worker reads each part whole
    parts = [(1, 220), (221, 320), (321, 440)]  # 2200 bytes (checked: not cut), 1000, 1200:
    script = "; ".join(
        f"{seq} {a} {b}; read x < {gate}" for (a, b), gate in zip(parts, gates, strict=True)
    )
    script += "; echo END"
    env.write_config(  # at 4400 bytes, the log is cut to its last 2000
        "[settings]\nlog_max_bytes = 2000\n\n"
        f'[jobs.chatty]\ncommand = ["sh", "-c", "{script}"]\nmax_attempts = 1\n'
    )
    lines = [f"{n:09d}\n" for n in range(1, 441)]
    start_worker(env)
    job_id = env.enqueue("chatty")
    early = env.start("logs", str(job_id), "--follow")
    assert early.stdout is not None
    for (first, last), gate in zip(parts[:2], gates[:2], strict=True):  # each part is shown
        assert [early.stdout.readline() for _ in range(first, last + 1)] == lines[first - 1 : last]
        _release(gate)  # before the next is written
    assert [early.stdout.readline() for _ in range(321, 441)] == lines[320:]
    log = Path(str(env.show(job_id)["attempts_history"][0]["log_path"]))  # type: ignore[index]
    env.wait_for(lambda: log.stat().st_size < 4400)  # cut, as the follower may see first
    late = env.start("logs", str(job_id), "--follow")  # 2400 bytes were cut before it came
    assert late.stdout is not None
    assert late.stdout.readline() == lines[240]
    _release(gates[2])
    assert (*_rest(early), early.returncode) == ("END\n", "", 0)
    out, err = _rest(late)  # (readline may have buffered what follows: communicate loses it)
    assert (out, late.returncode) == ("".join(lines[241:]) + "END\n", 0)
    assert err == (
        f"jobctl: note: job {job_id} attempt 1: 2400 bytes of its output were cut from the log"
        " (log_max_bytes) before they could be shown\n"
    )


def _rest(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """What a process started with env.start writes from here on, once it has exited."""
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()  # to its end: the note on stderr is one short line
    proc.wait(timeout=30)
    return out, proc.stderr.read()


def test_logs_are_found_after_their_folder_was_moved(env: Env) -> None:
    """Attempts record their log's absolute path: after the project (or its log folder)
    moved, `logs` said "gone" for a file that was there, and `prune` left it for good."""
    config = '[settings]\nlog_dir = "{}"\n[jobs.say]\ncommand = ["echo", "said {{w}}"]\n'
    config += '[jobs.f]\ncommand = ["sh", "-c", "echo boom; exit 4"]\nmax_attempts = 1\n'
    (env.root / "old").mkdir(mode=0o700)
    env.write_config(config.format("old/logs"))
    said, failed = env.enqueue("say", "--arg", "w=hi"), env.enqueue("f")
    burst(env)
    (env.root / "old").rename(env.root / "new")
    env.write_config(config.format("new/logs"))
    assert env.run("logs", str(said), check=True).stdout == "said hi\n"
    shown = env.run("dead", "show", str(failed), check=True).stdout
    assert "boom" in shown
    # The path shown is where the log is now, not the one recorded, which names no file.
    new_log = next((env.root / "new" / "logs").rglob(f"{failed}.1.log"))
    assert f"log tail ({new_log}):" in shown and "/old/" not in shown
    history = env.show(said)["attempts_history"]
    assert history[0]["log_path"] == str(next((env.root / "new" / "logs").rglob(f"{said}.1.log")))
    pruned = env.run("prune", "--older-than", "0s", check=True)
    assert pruned.stdout.startswith("pruned 2 job(s), removed 2 log file(s) in ")
    assert list((env.root / "new" / "logs").rglob("*.log")) == []


def test_logs_follow_names_a_run_given_back_by_a_shutdown_as_such(env: Env) -> None:
    """After a shutdown gave the job back (its attempt not counted), the next run is run 2
    but attempt 1: the note said "attempt 2 started", which `show` lists nowhere."""
    env.write_config(
        '[jobs.twice]\ncommand = ["sh", "-c", "echo run $JOBCTL_ATTEMPT; '
        'if [ ! -e second ]; then touch second; sleep 30; fi"]\n'
    )
    job_id = env.enqueue("twice")
    first = env.start("run-worker", "--shutdown-timeout", "100ms")
    env.wait_for(lambda: (env.root / "second").exists())
    follower = env.start("logs", str(job_id), "--follow")
    assert follower.stdout is not None
    # Following the first run before the stop: a follower started after both runs shows
    # the last one alone, on a loaded machine.
    assert follower.stdout.readline() == "run 1\n"
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    env.run("run-worker", "--burst", check=True)
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert out == "run 1\n"  # the attempt number both times: the first did not count
    # (A note that no worker serves the queue may come first: the follower may start late.)
    assert err.splitlines()[-1] == f"jobctl: job {job_id}: run 2 (attempt 1) started"


def test_logs_follow_shows_a_job_s_output_that_starts_with_another_cut_log(env: Env) -> None:
    """A cut log starts with a line saying how much was dropped, which `logs --follow` does
    not show. A job whose output starts with such a line of another log (here `cat` of
    one) lost its first line to `--follow`, which also said bytes were cut that were not."""
    env.write_config(
        '[settings]\nlog_max_bytes = "1KiB"\n'
        "[jobs.loud]\n"
        'command = ["sh", "-c", "head -c 5000 /dev/zero | tr \\"\\\\\\\\0\\" x"]\n'
        "[jobs.copy]\n"
        'command = ["sh", "-c", "cat \\"$1\\"; until [ -e \\"$2\\" ]; do sleep 0.05; done;'
        ' echo last", "sh", "{path}", "{gate}"]\n'
        "max_attempts = 1\n"
    )
    loud = env.enqueue("loud")
    burst(env)
    cut = Path(env.show(loud)["attempts_history"][0]["log_path"])
    assert cut.read_bytes().startswith(b"[... ")
    start_worker(env)
    gate = env.root / "gate"  # the job ends (its log cut, as any) once the follower is there
    copy = env.enqueue("copy", "--arg", f"path={cut}", "--arg", f"gate={gate}")
    wait_state(env, copy, "running")
    follower = env.start("logs", str(copy), "--follow")
    assert follower.stdout is not None
    assert follower.stdout.read(len(cut.read_bytes())) == cut.read_text()
    gate.touch()
    out, err = follower.communicate(timeout=30)
    assert (out, follower.returncode) == ("last\n", 0)
    assert "were cut" not in err
