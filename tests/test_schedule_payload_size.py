"""A schedule's payload is checked as an enqueue of it is: one that fills its command past
what Linux starts a process with is refused by validate and by a reload, where it passed
and every fire went dead with 'Argument list too long'."""

from __future__ import annotations

import json
import signal
import subprocess

from conftest import Env

from jobctl.errors import StoreMissing
from jobctl.models import Job, JobFilter
from jobctl.payload import MAX_ARG_BYTES
from jobctl.reloads import KEEPING
from jobctl.store.sqlite import SqliteStore

_JOB = '[jobs.three]\ncommand = ["echo", "{a}{a}{a}"]\nmax_attempts = 1\n'
_SCHEDULE = (
    '[schedules.big]\njob = "three"\ncron = "* * * * * *"\noverlap = "allow"\n'
    'payload = {{ a = "{value}" }}\n'
)
# Its `payload` line: the eighth of _JOB + _SCHEDULE.
_PAYLOAD_LINE = 8
# "{a}{a}{a}" filled is three times the value: _FITS fills its word to the limit, one byte
# more and no process starts.
_FITS = "y" * (MAX_ARG_BYTES // 3)
_TOO_LONG = "y" * (MAX_ARG_BYTES // 3 + 1)


def _refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of a command refused with exit 2, without its `jobctl: `."""
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line.removeprefix("jobctl: ")


def test_validate_refuses_a_schedule_payload_that_enqueue_refuses(env: Env) -> None:
    job_only = env.root / "job-only.toml"
    job_only.write_text(_JOB)
    enqueued = env.run("--config", str(job_only), "enqueue", "three", "--arg", f"a={_TOO_LONG}")
    env.write_config(_JOB + _SCHEDULE.format(value=_TOO_LONG))
    said = _refusal(env.run("validate"))
    assert said == (
        f"{env.config}:{_PAYLOAD_LINE}: [schedules.big] payload: {_refusal(enqueued)}"
    ), said
    assert "command word 2 is" in said


def test_validate_takes_a_schedule_payload_that_just_fits(env: Env) -> None:
    env.write_config(_JOB + _SCHEDULE.format(value=_FITS))
    env.run("validate", check=True)
    env.run("enqueue", "three", "--arg", f"a={_FITS}", check=True)


def test_validate_refuses_an_inline_shell_command_whose_quoted_payload_is_too_long(
    env: Env,
) -> None:
    """Shell-quoted, each ' of the value takes five bytes: a payload far under max_payload
    fills the command line past 128 KiB."""
    quotes = "'" * 30_000
    env.write_config(
        '[schedules.quotes]\ncommand = "echo {a}"\nshell = true\ncron = "@daily"\n'
        f'payload = {{ a = "{quotes}" }}\n'
    )
    said = _refusal(env.run("validate"))
    assert said.startswith(
        f"{env.config}:5: [schedules.quotes] payload: job 'schedule:quotes' with this payload:"
        " command word 1 is"
    ), said


def _jobs(env: Env) -> list[dict[str, object]]:
    result = env.run("list", "--json", "--limit", "0", config=False)
    if result.returncode == 3 and "does not exist" in result.stderr:
        return []  # the daemon has not created the database yet
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _stored(env: Env) -> list[Job]:
    """The jobs as the store holds them, read in this process: what a wait polls for, at the
    cost of a query rather than a `list` run each 50 ms."""
    try:
        with SqliteStore(env.db, create=False) as store:
            return store.list_jobs(JobFilter(limit=None))
    except StoreMissing:
        return []  # the daemon has not created the database yet


def _stopped(process: subprocess.Popen[str]) -> str:
    """Stop a process started with env.start; its stderr (the event lines)."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


def test_a_reload_keeps_the_previous_config_when_a_schedule_payload_is_too_long(
    env: Env,
) -> None:
    """The cron daemon and a worker refuse the edit, as for any bad schedule: the daemon
    fires the previous payload on, and no fire of the new one is stored to go dead."""
    env.write_config(_JOB + _SCHEDULE.format(value="hi"))
    daemon = env.start("schedule-daemon")
    worker = env.start("run-worker")
    try:
        env.wait_for(lambda: any(j.state == "succeeded" for j in _stored(env)))
        env.write_config(_JOB + _SCHEDULE.format(value=_TOO_LONG))
        refused = env.run("reload")  # refuses the file at once, and sends nothing
        assert refused.returncode == 2, refused.stderr
        assert "[schedules.big] payload: job 'three' with this payload" in refused.stderr
        daemon.send_signal(signal.SIGHUP)  # as kill -HUP would: the daemon reads it itself
        seen = len(_stored(env))
        env.wait_for(lambda: len(_stored(env)) >= seen + 2)  # fires on, as before the edit
        newest = max(job.id for job in _stored(env))  # fired after the edit
        env.wait_for(lambda: all(j.state == "succeeded" for j in _stored(env) if j.id == newest))
    finally:
        daemon_err = _stopped(daemon)
        worker_err = _stopped(worker)
    stored = _jobs(env)
    assert [job for job in stored if job["payload"] != {"a": "hi"}] == []
    assert [job for job in stored if job["state"] == "dead"] == []
    for event, err in (("scheduler", daemon_err), ("worker", worker_err)):
        refused = [line for line in err.splitlines() if f"{event}.reload_failed" in line]
        assert refused, err
        assert "[schedules.big] payload: job 'three' with this payload" in refused[0]
        assert KEEPING in refused[0], refused
