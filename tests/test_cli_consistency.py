"""The CLI's conventions across commands: a mistake is one `jobctl:` line on stderr with the
documented exit code, and stdout carries only results."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import JOBCTL, Env
from test_ops_support import burst, start_worker

from jobctl.store.sqlite import SqliteStore


def _one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jobctl: "), result.stderr
    return lines[0]


def _jobs(env: Env) -> list[dict[str, object]]:
    return json.loads(env.run("list", "--json", "--oldest-first", check=True).stdout)  # type: ignore[no-any-return]


def test_exec_refuses_a_job_name_and_keeps_its_documented_uses(env: Env) -> None:
    env.write_config('[jobs.greet]\ncommand = ["echo", "hello"]\n')
    plain = env.enqueue("--exec", "--", "echo", "hi")
    # The payload reaches an --exec command too, as $JOBCTL_PAYLOAD: it is not refused.
    script = 'printf %s "$JOBCTL_PAYLOAD" > payload.out'
    with_payload = env.enqueue("--exec", "--arg", "a=1", "--", "sh", "-c", script)
    # From the command's first word on, every word is the command's, as sudo, env or
    # task-spooler read theirs: its options, and a `--` of its own.
    split = env.enqueue("--exec", "ls", "--", "-la")
    options = env.enqueue("--exec", "ls", "-la")
    for words in (
        ["greet", "--exec", "--", "echo", "hi"],
        ["greet", "--exec", "echo", "hi"],
        ["greet", "-x", "--queue", "q", "--", "echo", "hi"],
    ):
        line = _one_error_line(env.run("enqueue", *words), 2)
        assert "job name" in line and "--exec" in line and "'greet'" in line
    assert [(j["id"], j["command"]) for j in _jobs(env)] == [
        (plain, ["echo", "hi"]),
        (with_payload, ["sh", "-c", script]),
        (split, ["ls", "--", "-la"]),
        (options, ["ls", "-la"]),
    ]
    burst(env)
    assert json.loads((env.root / "payload.out").read_text()) == {"a": "1"}


def test_enqueue_follow_leaves_stdout_to_the_jobs_output(env: Env) -> None:
    env.write_config(
        '[jobs.build]\ncommand = ["sh", "-c", "echo step 1; echo step 2; exit 3"]\n'
        "max_attempts = 1\n"
    )
    start_worker(env)
    followed = env.run("enqueue", "build", "--wait", "--follow")
    assert followed.returncode == 3
    assert followed.stdout == "step 1\nstep 2\n"  # as `> out.txt` would keep it
    (job,) = _jobs(env)
    assert followed.stderr.splitlines()[0] == f"jobctl: job {job['id']} enqueued"
    waited = env.run("enqueue", "build", "--wait")  # without --follow, the id stays on stdout
    assert waited.returncode == 3 and int(waited.stdout) == _jobs(env)[-1]["id"]
    as_json = env.run("enqueue", "build", "--wait", "--json")
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["state"] == "dead"


def test_logs_follow_says_how_the_job_ended_as_wait_does(env: Env) -> None:
    env.write_config('[jobs.bad]\ncommand = ["sh", "-c", "echo out; exit 4"]\nmax_attempts = 1\n')
    dead = env.enqueue("bad")
    cancelled = env.enqueue("bad", "--delay", "1h")
    env.run("cancel", str(cancelled), check=True)
    burst(env)
    for job_id, state, detail in ((dead, "dead", ": exit code 4"), (cancelled, "cancelled", "")):
        waited = env.run("wait", str(job_id))
        assert (waited.returncode, waited.stderr) == (
            1,
            f"jobctl: job {job_id} (bad) ended {state}{detail}\n",
        )
        followed = env.run("logs", str(job_id), "--follow")
        assert (followed.returncode, followed.stderr) == (waited.returncode, waited.stderr)
    assert env.run("logs", str(dead), "--follow").stdout == "out\n"


def test_a_followed_line_left_open_ends_before_jobctls_own_on_one_file(env: Env) -> None:
    env.write_config(
        '[jobs.bad]\ncommand = ["sh", "-c", "printf run$JOBCTL_ATTEMPT; exit 2"]\n'
        'max_attempts = 2\nbackoff = "10ms"\njitter = false\n'
    )
    start_worker(env)
    cmd = [*JOBCTL, *env.global_args(True, ()), "enqueue", "bad", "--follow"]
    merged = subprocess.run(  # `2>&1`: the job's bytes and jobctl's lines in one file
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env.env,
        cwd=env.root,
        timeout=60,
    )
    assert merged.returncode == 2
    job_id = _jobs(env)[0]["id"]
    assert merged.stdout.splitlines() == [
        f"jobctl: job {job_id} enqueued",
        "run1",
        f"jobctl: job {job_id}: attempt 2 started",
        "run2",
        f"jobctl: job {job_id} (bad) ended dead: exit code 2",
    ]
    apart = env.run("logs", str(job_id), "--follow", "--attempt", "1")
    assert (apart.stdout, apart.returncode) == ("run1run2", 1)  # the job's bytes, as logged


SCHEDULED = (
    '[jobs.task]\ncommand = ["true"]\n\n[schedules.nightly]\njob = "task"\ncron = "30 2 * * *"\n'
)


def test_an_unknown_schedule_is_a_usage_error_like_an_unknown_job(env: Env) -> None:
    env.write_config(SCHEDULED)
    assert _one_error_line(env.run("enqueue", "nope"), 2).startswith("jobctl: unknown job 'nope'")
    for command in ("run", "pause", "resume"):
        line = _one_error_line(env.run("schedule", command, "nope"), 2)
        assert line.startswith("jobctl: unknown schedule 'nope'") and "nightly" in line


def test_schedule_pause_and_resume_confirm_on_stdout_like_queues(env: Env) -> None:
    env.write_config(SCHEDULED)
    SqliteStore(env.db).close()  # they refuse a database that does not exist
    paused = env.run("schedule", "pause", "nightly", check=True)
    assert (paused.stdout, paused.stderr) == ("paused schedule nightly\n", "")
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["paused"] is True
    resumed = env.run("schedule", "resume", "nightly", check=True)
    assert (resumed.stdout, resumed.stderr) == ("resumed schedule nightly\n", "")


@pytest.mark.parametrize("words", [["dead"], ["schedule"], ["cron"]])
def test_a_group_without_its_command_shows_help_and_says_why_it_failed(
    env: Env, words: list[str]
) -> None:
    """Exit 2 like any usage error, with its one line on stderr after the help (stdout
    carries results alone)."""
    result = env.run(*words)
    assert (result.returncode, result.stdout) == (2, "")
    assert "Commands:" in result.stderr
    path = " ".join(["jobctl", *words])
    assert result.stderr.endswith(
        f"\njobctl: '{path}' needs a command, one of those listed above\n"
    )


def test_a_wait_no_worker_would_end_says_why(env: Env) -> None:
    """`enqueue --wait` in a CI step with no worker up, or on a paused queue, would wait in
    silence: without --timeout a note says why at once, and the wait goes on; with one,
    the line it ends with says why (one line, as every error)."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    env.enqueue("noop", "--delay", "1h")  # the database exists: no note that it is new
    alone = env.run("enqueue", "noop", "--wait", "--timeout", "200ms")
    job_id = max(job["id"] for job in _jobs(env))
    assert (alone.returncode, alone.stderr) == (
        124,
        f"jobctl: timed out after 200ms: job {job_id} (noop) is still queued"
        " (no live worker serves queue 'default' yet)\n",
    )
    env.run("pause", "default", check=True)
    paused = env.run("wait", str(job_id), "--timeout", "200ms")
    assert (paused.returncode, paused.stderr) == (
        124,
        f"jobctl: timed out after 200ms: job {job_id} (noop) is still queued"
        " (queue 'default' is paused until jobctl resume default)\n",
    )
    env.run("resume", "default", check=True)
    waiting = env.start("enqueue", "noop", "--wait")
    assert waiting.stderr is not None
    waiting_note = (
        "jobctl: note: no live worker serves queue 'default' yet; waiting for a worker"
        " (--timeout gives up)\n"
    )
    assert waiting.stderr.readline() == waiting_note
    follower = env.start("logs", str(_jobs(env)[-1]["id"]), "--follow")
    assert follower.stderr is not None
    assert follower.stderr.readline() == waiting_note
    start_worker(env)
    assert waiting.wait(timeout=30) == 0
    assert follower.wait(timeout=30) == 0
    served = env.run("enqueue", "noop", "--wait", "--timeout", "30s")
    assert (served.returncode, served.stderr) == (0, "")
