"""The config a process acts and reports on is the file as it is now, not the one it started
with: a standby cron daemon that takes the lead, and the schedules `/metrics` exports.

A standby that took over fired from the config it had read at its start until its first
heartbeat: schedules taken out of the file fired again, those added did not (with
catch_up = "none" their fires were lost), and it warned of another --config in use. And
`run-worker --metrics-addr` exported the schedules of its first config for as long as it ran.
"""

from __future__ import annotations

import io
import json
import signal
import time
from pathlib import Path
from typing import Any

from conftest import Env
from test_observe_support import (
    Running,
    http_get,
    listening,
    parse_exposition,
    series,
    start_logged,
)

from jobctl.config import load_config_file
from jobctl.daemon import Daemon
from jobctl.observe.events import EventLog
from jobctl.scheduler import Scheduler
from jobctl.store.sqlite import SqliteStore

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
    env.wait_for(lambda: _fired(standby).count("new") >= 2)
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


def test_a_standby_compares_with_the_plan_only_the_file_it_has_read(tmp_path: Path) -> None:
    """A standby that read the file before an edit, and a leader that planned the edit
    before the standby compared: it lacks the edit's schedules only until it leads, when it
    reads the file as it is then. It warned that it would take them out of the plan."""
    path = tmp_path / "jobs.toml"
    path.write_text(OLD)
    store = SqliteStore(tmp_path / "cron.db")
    stream = io.StringIO()
    standby = Daemon(store, load_config_file(path), log=EventLog(stream=stream, fmt="json"))
    path.write_text(NEW)
    Scheduler(store, load_config_file(path), EventLog(stream=io.StringIO())).tick(time.time())
    standby._warn_of_other_config()
    said = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert "scheduler.other_config" not in said
    other = tmp_path / "other.toml"  # another config, unedited: it does lack "new"
    other.write_text(OLD)
    stream = io.StringIO()
    stray = Daemon(store, load_config_file(other), log=EventLog(stream=stream, fmt="json"))
    stray._warn_of_other_config()
    said = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["schedules"]) for e in said] == [("scheduler.other_config", "new")]


def _schedules_exported(port: int) -> set[str]:
    status, _, body = http_get("127.0.0.1", port, "/metrics")
    assert status == 200
    _, samples = parse_exposition(body)
    found = series(samples, "jobctl_schedule_next_fire_timestamp_seconds")
    return {dict(labels)["schedule"] for labels in found}


def test_worker_metrics_follow_the_config_file(env: Env) -> None:
    env.write_config(OLD)
    worker = start_logged(env, "run-worker", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, worker)
    worker.wait_event(env, "worker.started")
    assert _schedules_exported(port) == {"old"}
    env.write_config(NEW)  # "old" taken out, "new" put in: no restart, no signal
    assert _schedules_exported(port) == {"new"}
    env.write_config(BROKEN)  # a broken version keeps the last good one
    assert _schedules_exported(port) == {"new"}
    env.write_config(NEW + '[schedules.more]\njob = "oldjob"\ncron = "@daily"\n')
    assert _schedules_exported(port) == {"new", "more"}
    assert worker.stop() == 0


def test_standby_daemon_metrics_follow_the_config_file(env: Env) -> None:
    env.write_config(OLD)
    leader = start_logged(env, "schedule-daemon")
    leader.wait_event(env, "scheduler.leader")
    standby = start_logged(env, "schedule-daemon", "--metrics-addr", "127.0.0.1:0")
    _, port = listening(env, standby)
    standby.wait_event(env, "scheduler.standby")
    assert _schedules_exported(port) == {"old"}
    env.write_config(NEW)
    assert _schedules_exported(port) == {"new"}
    assert standby.stop() == 0
