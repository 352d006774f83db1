"""The cron daemon's schedules when `schedule pause` or `resume` finds one already so: the
real CLI.
"""

from __future__ import annotations

import json

from conftest import Env

# -- schedule pause and resume of a schedule already so -----------------------------------------

SCHEDULED = '[jobs.task]\ncommand = ["true"]\n\n[schedules.s]\njob = "task"\ncron = "30 2 * * *"\n'


def test_resume_of_a_schedule_not_paused_says_so_in_a_note(env: Env) -> None:
    """`schedule resume s` of a schedule not paused printed "resumed schedule s": a script
    or a person could not tell that nothing changed."""
    env.write_config(SCHEDULED)
    resumed = env.run("schedule", "resume", "s")
    assert resumed.returncode == 0
    assert (resumed.stdout, resumed.stderr) == (
        "",
        "jobctl: note: schedule s was not paused; nothing to resume\n",
    )
    as_json = env.run("schedule", "resume", "s", "--json", check=True)
    assert json.loads(as_json.stdout) == {"schedule": "s", "paused": False, "changed": False}
    assert as_json.stderr == ""


def test_pause_of_a_paused_schedule_says_so_in_a_note(env: Env) -> None:
    env.write_config(SCHEDULED)
    first = env.run("schedule", "pause", "s", "--json", check=True)
    assert json.loads(first.stdout) == {"schedule": "s", "paused": True, "changed": True}
    again = env.run("schedule", "pause", "s")
    assert again.returncode == 0
    assert (again.stdout, again.stderr) == (
        "",
        "jobctl: note: schedule s was paused already; nothing to pause\n",
    )
    as_json = env.run("schedule", "pause", "s", "--json", check=True)
    assert json.loads(as_json.stdout) == {"schedule": "s", "paused": True, "changed": False}
    resumed = env.run("schedule", "resume", "s", check=True)
    assert (resumed.stdout, resumed.stderr) == ("resumed schedule s\n", "")
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["paused"] is False
