"""What the config's tables mean, whatever path reaches them: a schedule's inline job type
queues where its schedule does, a file is valid or not whatever the order of its tables, a
declared queue is a known one, and `~` in a job type's `cwd` is the home, as in `db`."""

from __future__ import annotations

import json
import subprocess

import pytest
from chaoslib import one_error_line
from conftest import JOBCTL, Env

INLINE_B = '[schedules.b]\ncommand = "echo b"\ncron = "@daily"\n'
NAMES_B = '[schedules.a]\njob = "schedule:b"\ncron = "@hourly"\n'


def _jobs(env: Env) -> list[dict[str, object]]:
    return json.loads(env.run("list", "--json", check=True).stdout)  # type: ignore[no-any-return]


def test_enqueue_of_an_inline_schedule_s_job_queues_it_as_schedule_run_does(env: Env) -> None:
    """`enqueue schedule:s` took the defaults, queue default and priority 0, where a worker
    of the schedule's queue never took it."""
    env.write_config(
        '[schedules.s]\ncommand = "echo hi"\ncron = "@daily"\nqueue = "q1"\npriority = 5\n'
    )
    env.run("schedule", "run", "s", check=True)
    env.run("enqueue", "schedule:s", check=True)
    placed = [(job["job"], job["queue"], job["priority"]) for job in _jobs(env)]
    assert placed == [("schedule:s", "q1", 5)] * 2, placed
    env.run("run-worker", "--burst", "--queue", "q1", check=True)
    assert [job["state"] for job in _jobs(env)] == ["succeeded"] * 2


@pytest.mark.parametrize("text", [INLINE_B + NAMES_B, NAMES_B + INLINE_B])
def test_a_schedule_naming_another_s_inline_command_is_refused_in_either_order(
    env: Env, text: str
) -> None:
    """The schedule written after the inline one was accepted, the one before it refused as
    naming an unknown job: the same file, its tables swapped, read otherwise."""
    env.write_config(text)
    refused = one_error_line(env.run("validate"), 2)
    line = text.splitlines().index('job = "schedule:b"') + 1
    assert refused.endswith(
        f":{line}: [schedules.a] job: 'schedule:b' is the inline command of [schedules.b], for"
        " it alone: to run that command on two schedules, move it into a [jobs.NAME] table"
        ' and set job = "NAME" in both'
    ), refused


def test_a_schedule_may_name_a_jobs_table_called_schedule_something(env: Env) -> None:
    env.write_config('[jobs."schedule:b"]\ncommand = ["true"]\n' + NAMES_B)
    assert env.run("validate", check=True).stderr == ""


def _completions(env: Env, line: str) -> list[str]:
    result = subprocess.run(
        [*JOBCTL],
        env={**env.env, "_JOBCTL_COMPLETE": "complete_line", "_JOBCTL_COMPLETE_LINE": line},
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [word for word in result.stdout.splitlines() if word]


def test_a_queue_table_without_max_running_declares_a_known_queue(env: Env) -> None:
    """The table was dropped: `enqueue --queue slow` warned of an unknown queue, `pause`
    refused it and completion left it out, though the config declares it."""
    env.write_config("[queues.slow]\n")
    assert env.run("validate", check=True).stderr == ""
    queued = env.run("enqueue", "--exec", "--queue", "slow", "true", check=True)
    assert "unknown queue" not in queued.stderr, queued.stderr
    assert _completions(env, "jobctl pause ") == ["default", "slow"]
    env.run("pause", "slow", check=True)
    # A name, and no limit: status shows none.
    status = json.loads(env.run("status", "--json", check=True).stdout)
    (slow,) = [row for row in status["queues"] if row["queue"] == "slow"]
    assert (slow["paused"], slow["max_running"]) == (True, None), slow


@pytest.mark.parametrize("cwd", ["~", "~/work"])
def test_a_cwd_under_the_home_is_expanded_as_db_is(env: Env, cwd: str) -> None:
    """`cwd = "~"` was taken as a folder named `~` beside the config: validate warned that
    it was no folder, and the job went dead after its attempts."""
    home = env.root / "home"
    (home / "work").mkdir()
    env.write_config(f'[jobs.a]\ncommand = "pwd"\ncwd = "{cwd}"\n')
    assert env.run("validate", check=True).stderr == ""
    job_id = env.enqueue("a")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    ran_in = env.run("logs", str(job_id), check=True).stdout.strip()
    assert ran_in == str(home / cwd.removeprefix("~").removeprefix("/")).rstrip("/"), ran_in
