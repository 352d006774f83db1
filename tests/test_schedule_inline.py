"""A schedule's inline `command` is a job type of its own: it runs once a fire, as a crontab
line does, and takes the job type's keys (timeout, max_attempts, env...) on the schedule."""

from __future__ import annotations

import json
from pathlib import Path

from chaoslib import one_error_line
from conftest import Env

from jobctl.config import load_config

YEARLY = 'cron = "0 0 1 1 *"\ntimezone = "UTC"\n'


def _job_type(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return load_config(str(path), required=True).jobs["schedule:s"]


def test_an_inline_command_fails_once_a_fire_as_a_crontab_line_does(env: Env) -> None:
    """It took the job types' default of 3 attempts: a failing cron command ran three times
    a fire, backoff between, unlike cron, `import-crontab` and `--exec`."""
    env.write_config(f'[schedules.s]\ncommand = "false"\n{YEARLY}')
    env.run("schedule", "run", "s", check=True)
    env.run("run-worker", "--burst", check=True)
    (job,) = json.loads(env.run("list", "--json", check=True).stdout)
    assert (job["job"], job["max_attempts"], job["state"]) == ("schedule:s", 1, "dead")


def test_an_inline_command_takes_the_job_type_s_keys_on_the_schedule(tmp_path: Path) -> None:
    job_type = _job_type(
        tmp_path,
        '[schedules.s]\ncommand = "backup.sh --full"\n'
        + YEARLY
        + 'timeout = "2h"\nmax_attempts = 3\nbackoff = "5m"\nenv = { LC_ALL = "C" }\n'
        'cwd = "/srv"\non_dead = "mail -s failed root"\nqueue = "night"\npriority = 5\n',
    )
    assert job_type.command == ("backup.sh", "--full")
    assert (job_type.timeout, job_type.max_attempts, job_type.backoff) == (7200, 3, 300)
    assert (job_type.env, job_type.cwd) == ({"LC_ALL": "C"}, "/srv")
    assert job_type.on_dead is not None


def test_a_bad_job_key_on_an_inline_schedule_is_named_at_its_line(env: Env) -> None:
    env.write_config(f'[schedules.s]\ncommand = "true"\n{YEARLY}timeout = "0s"\n')
    refused = one_error_line(env.run("validate"), 2)
    assert refused.endswith(
        ":5: [schedules.s] timeout: must be longer than 0s (leave it out for no timeout)"
    ), refused


def test_a_job_key_beside_job_is_refused_where_it_belongs(env: Env) -> None:
    """With `job =`, the job type's own table holds its keys: one on the schedule would be
    ignored, or differ from every other use of the type."""
    env.write_config(
        f'[jobs.backup]\ncommand = ["true"]\n[schedules.s]\njob = "backup"\n{YEARLY}'
        "max_attempts = 1\n"
    )
    refused = one_error_line(env.run("validate"), 2)
    assert refused.endswith(
        ":7: [schedules.s] max_attempts: a key of the job type: set it in [jobs.backup] (a"
        " schedule takes it only with an inline command)"
    ), refused
