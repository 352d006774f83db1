"""A `wait` run by a job's own command: waiting for the jobs active now took that job too,
and the job could not end before its wait did (a CI fan-out step hung until its timeout)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import Env

FAN_OUT = """[jobs.noop]
command = ["true"]
[jobs.ci]
command = ["sh", "-c", "jobctl enqueue noop >/dev/null; jobctl wait {how} -t 20s; echo rc=$?"]
max_attempts = 1
"""


def _ci_log(env: Env, how: str) -> str:
    installed = str(Path(sys.executable).parent)  # where the `jobctl` command is
    env.env["PATH"] = f"{installed}:{env.env.get('PATH', '')}"
    env.write_config(FAN_OUT.replace("{how}", how))
    job_id = env.enqueue("ci")
    env.run("run-worker", "--burst", "--concurrency", "2", check=True)
    return env.run("logs", str(job_id), check=True).stdout


def test_wait_all_in_a_job_leaves_its_own_job_out(env: Env) -> None:
    said = _ci_log(env, "--all").splitlines()  # (stdout and stderr in the order caught)
    assert "rc=0" in said, said
    assert "jobctl: note: not waiting for job 1, whose command runs this wait" in said


def test_wait_for_a_queue_in_a_job_leaves_its_own_job_out(env: Env) -> None:
    assert "rc=0" in _ci_log(env, "--queue default").splitlines()


def test_a_job_waiting_for_its_own_id_is_refused_at_once(env: Env) -> None:
    said = _ci_log(env, "$JOBCTL_JOB_ID").splitlines()
    assert "rc=2" in said, said
    assert (
        "jobctl: job 1 is the job whose command runs this wait: it cannot end before the wait"
        " does" in said
    ), said
