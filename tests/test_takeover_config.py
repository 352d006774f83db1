"""The config a process acts on is the file as it is now, not the one it started with: a
standby cron daemon that takes the lead.

A standby that took over fired from the config it had read at its start until its first
heartbeat: schedules taken out of the file fired again, those added did not (with
catch_up = "none" their fires were lost), and it warned of another --config in use.
"""

from __future__ import annotations

import signal
from typing import Any

from conftest import Env
from test_observe_support import Running, start_logged

JOBS = """\
[jobs.oldjob]
command = ["true"]
[jobs.newjob]
command = ["true"]
"""

# No worker runs the fires' jobs: overlap = "allow" lets every second fire all the same.
OLD = JOBS + '[schedules.old]\njob = "oldjob"\ncron = "@every 1s"\noverlap = "allow"\n'
NEW = (
    JOBS
    + '[schedules.new]\njob = "newjob"\ncron = "@every 1s"\noverlap = "allow"\ncatch_up = "none"\n'
)
BROKEN = JOBS + '[schedules.new]\njob = "newjob"\ncron = "61 * * * *"\n'


def _fired(daemon: Running) -> list[str]:
    return [e["schedule"] for e in daemon.events() if e["event"] == "schedule.fired"]


def _events_of(daemon: Running, *names: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e["event"] in names]


def _standby_takes_over(env: Env, edited: str) -> Running:
    """A leader and a standby on one database; the file edited to `edited` while the
    standby stands by, and the leader (which read the edit) killed: the standby, leading."""
    env.write_config(OLD)
    leader = start_logged(env, "schedule-daemon")
    leader.wait_event(env, "schedule.fired", schedule="old")
    standby = start_logged(env, "schedule-daemon")
    standby.wait_event(env, "scheduler.standby")
    env.write_config(edited)
    leader.proc.send_signal(signal.SIGHUP)
    leader.wait_event(env, "scheduler.reload" + ("ed" if edited is NEW else "_failed"))
    leader.proc.kill()  # the kernel drops its lock: the standby leads at once
    leader.proc.wait(timeout=10)
    standby.wait_event(env, "scheduler.leader")
    return standby


def test_a_standby_takes_the_lead_with_the_file_as_it_is_now(env: Env) -> None:
    standby = _standby_takes_over(env, NEW)
    env.wait_for(lambda: _fired(standby).count("new") >= 3)
    assert "old" not in _fired(standby)  # taken out of the file: it fires no more
    assert not _events_of(standby, "scheduler.other_config")
    leading = _events_of(standby, "scheduler.reloaded", "scheduler.leader", "schedule.fired")
    assert [e["event"] for e in leading[:2]] == ["scheduler.reloaded", "scheduler.leader"]
    assert (leading[0]["schedules"], leading[1]["schedules"]) == (1, 1)
    # Every second since the takeover fired: none was lost as a wake "over 3h late".
    skipped = [e for e in _events_of(standby, "schedule.skipped") if e["schedule"] == "new"]
    assert skipped == []
    assert standby.stop() == 0


def test_a_standby_taking_the_lead_keeps_its_config_when_the_file_is_broken(env: Env) -> None:
    standby = _standby_takes_over(env, BROKEN)
    env.wait_for(lambda: "old" in _fired(standby))
    said = _events_of(standby, "scheduler.reload_failed", "schedule.fired")
    assert said[0]["event"] == "scheduler.reload_failed"  # said before it fires
    assert said[0]["error"].endswith("; keeping the previous configuration")
    assert "61" in said[0]["error"]
    assert standby.stop() == 0
