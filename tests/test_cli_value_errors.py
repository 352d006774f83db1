"""Errors of values a command line or a batch line gives: each names the option (the line's
field) and the value, and says one range for it; `logs` picks by run; `cron next` of a word
no schedule has names the schedules there are; `list` and `dead list` head the same column
alike."""

from __future__ import annotations

import json

from conftest import Env
from redis_server import RedisEnv
from test_ops_support import burst

CONFIG = (
    '[jobs.greet]\ncommand = ["echo", "hello"]\nmax_attempts = 1\n'
    '[jobs.fail]\ncommand = ["sh", "-c", "echo run=$JOBCTL_RUN attempt=$JOBCTL_ATTEMPT; exit 1"]\n'
    "max_attempts = 1\n"
    '[schedules.tick]\njob = "greet"\ncron = "*/5 * * * *"\n'
)
PRIORITY_RANGE = "must be between -9007199254740991 and 9007199254740991"


def _refused(env: Env, *args: str, input: str | None = None) -> str:
    """The one line a refused command says (exit 2), with no job stored by it."""
    result = env.run(*args, input=input)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    return line


OUT_OF_RANGE = [
    ("--max-attempts", "0", "--max-attempts: must be between 1 and 1000, got 0"),
    ("--max-attempts", "-1", "--max-attempts: must be between 1 and 1000, got -1"),
    ("--max-attempts", "1001", "--max-attempts: must be between 1 and 1000, got 1001"),
    (
        "--max-attempts",
        "99999999999999999999",
        "--max-attempts: must be between 1 and 1000, got 99999999999999999999",
    ),
    ("--priority", "9007199254740992", f"--priority: {PRIORITY_RANGE}, got 9007199254740992"),
    (
        "--priority",
        "-9007199254740993",
        f"--priority: {PRIORITY_RANGE}, got -9007199254740993",
    ),
    # Beyond 64 bits: the same ceiling, not the store's integer's.
    (
        "--priority",
        "99999999999999999999",
        f"--priority: {PRIORITY_RANGE}, got 99999999999999999999",
    ),
]


def test_enqueue_retry_and_edit_name_the_option_and_value_out_of_range(env: Env) -> None:
    env.write_config(CONFIG)
    ended = env.enqueue("greet")
    burst(env)
    waiting = env.enqueue("greet", "--delay", "1h")
    for option, value, expected in OUT_OF_RANGE:
        line = f"jobctl: {expected}"
        assert _refused(env, "enqueue", "greet", option, value) == line
        assert _refused(env, "enqueue", option, value, "--exec", "true") == line
        # Not "job N cannot be edited: ...": the value is at fault, not the job.
        assert _refused(env, "retry", str(ended), option, value) == line
        assert _refused(env, "edit", str(waiting), option, value) == line
    jobs = json.loads(env.run("list", "--json", check=True).stdout)
    assert sorted(j["id"] for j in jobs) == [ended, waiting]


def test_retry_and_edit_refuse_a_bad_command_line_as_enqueue_whatever_the_job(env: Env) -> None:
    """A delay given with a time, or a bad queue name, was checked against each job: an edit
    of a job that ended or does not exist exited 1, one on a database that does not exist 3,
    and one of a waiting job blamed the job. Exit 2, in enqueue's words, whatever the job."""
    env.write_config(CONFIG)
    ended = env.enqueue("greet", "--delay", "1h")
    env.run("cancel", str(ended), check=True)
    waiting = env.enqueue("greet", "--delay", "1h")
    missing = env.root / "none.db"
    for options in (["--delay", "1m", "--at", "now"], ["--queue", "bad name"]):
        line = _refused(env, "enqueue", "greet", *options)
        for job_id in (str(ended), str(waiting), "999"):
            assert _refused(env, "edit", job_id, *options) == line, (job_id, options)
            assert _refused(env, "retry", job_id, *options) == line, (job_id, options)
        for command in ("edit", "retry"):
            assert _refused(env, "--db", str(missing), command, "1", *options) == line
    assert not missing.exists()
    jobs = json.loads(env.run("list", "--json", check=True).stdout)
    assert sorted(j["id"] for j in jobs) == [ended, waiting]
    assert env.show(waiting)["queue"] == "default"


def test_retry_cwd_on_a_store_whose_workers_run_no_command_is_refused_whatever_the_job(
    redis_env: RedisEnv,
) -> None:
    """Only an --exec job takes --cwd, and workers of a shared store without allow_exec run
    none: `retry 999 --cwd /` said "no job 999" (exit 1), and exit 3 of a namespace never
    used. Refused as `edit --cwd` is, before any job is read (exit 2)."""
    line = _refused(redis_env, "retry", "999", "--cwd", "/")
    assert line.startswith("jobctl: --cwd: ") and "allow_exec = true" in line
    redis_env.write_config(CONFIG)
    redis_env.enqueue("greet", "--delay", "1h")  # the namespace exists: no job 999 in it
    assert _refused(redis_env, "retry", "999", "--cwd", "/") == line


def test_a_batch_line_out_of_range_names_its_line_field_and_value(env: Env) -> None:
    env.write_config(CONFIG)
    lines = '{"job": "greet"}\n{"job": "greet", "max_attempts": 0}\n'
    line = _refused(env, "enqueue", "--batch", "-", input=lines)
    assert line == "jobctl: <stdin>:2: max_attempts: must be between 1 and 1000, got 0"
    lines = '{"job": "greet", "priority": 9007199254740992}\n'
    line = _refused(env, "enqueue", "--batch", "-", input=lines)
    assert line == f"jobctl: <stdin>:1: priority: {PRIORITY_RANGE}, got 9007199254740992"


def test_a_config_value_out_of_range_names_its_key_and_value(env: Env) -> None:
    env.write_config('[jobs.greet]\ncommand = ["true"]\nmax_attempts = 0\n')
    line = _refused(env, "validate")
    assert line.endswith("[jobs.greet] max_attempts: must be between 1 and 1000, got 0"), line
    env.write_config('[jobs.greet]\ncommand = ["true"]\npriority = 9007199254740992\n')
    line = _refused(env, "validate")
    assert line.endswith(f"[jobs.greet] priority: {PRIORITY_RANGE}, got 9007199254740992"), line


def test_logs_picks_a_run_by_run_and_says_runs_when_there_is_none(env: Env) -> None:
    """After a dead retry the second run is the job's attempt 1: `--run 2` names it, and
    `--attempt` and `-a` still pick by run as they did."""
    env.write_config(CONFIG)
    job_id = env.enqueue("fail")
    burst(env)
    env.run("dead", "retry", str(job_id), check=True)
    burst(env)
    for option in ("--run", "--attempt", "-a"):
        shown = env.run("logs", str(job_id), option, "2", check=True)
        assert shown.stdout == "run=2 attempt=1\n"
    result = env.run("logs", str(job_id), "--run", "3")
    assert (result.returncode, result.stderr) == (
        1,
        f"jobctl: job {job_id} has no run 3 (it has 2; jobctl show {job_id} lists them)\n",
    )
    help_text = env.run("logs", "--help", check=True).stdout
    assert "--run" in help_text and "jobctl logs 42 --run 1" in help_text


def test_cron_next_of_a_word_no_schedule_has_names_the_defined_ones(env: Env) -> None:
    env.write_config(CONFIG)
    fields = (
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading"
        " seconds field"
    )
    assert _refused(env, "cron", "next", "nosuch") == (
        f"jobctl: unknown schedule 'nosuch' in {env.config}; defined schedules: tick;"
        f" and no cron expression either: {fields}, got 1"
    )
    # As `schedule run` says it, the list of schedules first.
    run_line = _refused(env, "schedule", "run", "nosuch")
    assert run_line == f"jobctl: unknown schedule 'nosuch' in {env.config}; defined schedules: tick"
    # The empty expression says its fields in the same words.
    assert _refused(env, "cron", "next", "") == f"jobctl: invalid cron '': {fields}, got 0"
    assert _refused(env, "cron", "next", "* *") == f"jobctl: invalid cron '* *': {fields}, got 2"


def test_list_and_dead_list_head_attempts_alike(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("fail")
    burst(env)
    listed = env.run("list", "--state", "dead", check=True).stdout.splitlines()[0].split()
    dead = env.run("dead", "list", check=True).stdout.splitlines()[0].split()
    assert "TRIES" in listed and "TRIES" in dead and "ATTEMPTS" not in dead


def test_a_run_of_a_job_that_never_ran_and_a_config_without_schedules_are_said_plainly(
    env: Env,
) -> None:
    """`it has 0` and `defined schedules: none` read as counts gone wrong."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    job = env.enqueue("ok")
    never = env.run("logs", str(job), "--run", "2")
    assert (never.returncode, never.stderr) == (
        1,
        f"jobctl: job {job} has no run 2: it has not run (it is queued)\n",
    )
    said = _refused(env, "schedule", "run", "nightly")
    assert said == f"jobctl: unknown schedule 'nightly' in {env.config}, which defines no schedule"
