"""`schedule run` on an overlap = "queue" schedule that holds a fire whose run has ended: a
cron daemon that stopped first left it held, and this command enqueues it before its own
run, as the daemon would. It said "run 2 is still active; this run waits for it", of a job
it had just made itself."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime

from conftest import Env

from jobctl.store.sqlite import SqliteStore

QUEUED_SCHEDULE = """
[jobs.nap]
command = ["true"]

[schedules.nap]
job = "nap"
cron = "{cron}"
timezone = "UTC"
overlap = "queue"
"""


def held_fires(env: Env) -> list[tuple[float, int]]:
    """The schedule's fires held (pending), with whether each was asked for by hand."""
    if not env.db.exists():
        return []
    with SqliteStore(env.db) as store:
        rows = store._read(
            "SELECT fire_time, manual FROM fires WHERE schedule = 'nap' AND status = 'pending'"
        )
    return [(float(fire_time), int(manual)) for fire_time, manual in rows]


def test_schedule_run_says_it_enqueued_the_fire_a_stopped_daemon_left_held(env: Env) -> None:
    env.write_config(QUEUED_SCHEDULE.format(cron="* * * * * *"))
    daemon = env.start("schedule-daemon")  # no worker: its first run stays queued, active
    env.wait_for(lambda: held_fires(env) or daemon.poll() is not None)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, stderr
    ((fire_time, manual),) = held_fires(env)
    assert manual == 0
    env.run("run-worker", "--burst", check=True)  # run 1 ends; no daemon enqueues the fire

    result = env.run("schedule", "run", "nap", check=True)

    assert result.stdout == ""  # this run is held: no id stands for it
    jobs = json.loads(env.run("list", "--json", "--limit", "0", check=True).stdout)
    released = max(jobs, key=lambda job: job["id"])
    assert released["state"] == "queued" and released["schedule"] == "nap"
    assert datetime.fromisoformat(released["fire_time"]).timestamp() == fire_time
    clock = datetime.fromtimestamp(fire_time, UTC).strftime("%H:%M:%S")  # the schedule's zone
    said = result.stderr.splitlines()[0]
    assert said.startswith("jobctl: the fire of ") and f"{clock} (" in said
    assert f"was enqueued as job {released['id']}" in said
    assert "this run waits for it to end" in said
    assert "is still active" not in result.stderr
    assert held_fires(env) != [] and all(manual == 1 for _, manual in held_fires(env))


def test_schedule_run_json_gives_the_held_run_it_enqueued_first(env: Env) -> None:
    env.write_config(QUEUED_SCHEDULE.format(cron="0 3 * * *"))
    first = int(env.run("schedule", "run", "nap", check=True).stdout)
    env.run("schedule", "run", "nap", check=True)  # held behind the first
    env.run("run-worker", "--burst", check=True)  # the first ends; no daemon serves
    ((held_at, manual),) = held_fires(env)
    assert manual == 1

    result = env.run("schedule", "run", "nap", "--json", check=True)

    document = json.loads(result.stdout)
    released = document["released"]
    assert released is not None and released["id"] not in (None, first)
    assert (released["state"], released["schedule"]) == ("queued", "nap")
    assert abs(datetime.fromisoformat(released["fire_time"]).timestamp() - held_at) < 0.001
    # This run waits for the one enqueued first, and says so.
    assert (document["status"], document["active"], document["created"]) == (
        "pending",
        released["id"],
        False,
    )
    assert "the run asked for at" in result.stderr
    assert f"was enqueued as job {released['id']}" in result.stderr

    again = json.loads(env.run("schedule", "run", "nap", "--json", check=True).stdout)
    assert again["released"] is None  # nothing held had a run that ended
    assert (again["status"], again["active"]) == ("skipped", released["id"])


# The run a held fire waits for ends between `schedule run`'s look for a held fire and its
# own record, which then enqueues the held fire first: the worker finishes it, in this
# process, as the record begins (a real jobctl process, its store's record_fire wrapped).
ENDS_THE_RUN_AS_THE_RECORD_BEGINS = """
import sys, time
import jobctl.store
from jobctl.models import AttemptResult, Outcome
from jobctl.store import Finish

real_open = jobctl.store.open_store

def open_store(*args, **options):
    store = real_open(*args, **options)
    record = store.record_fire

    def record_fire(*args, **options):
        for claim in store.claim("w", None, time.time(), 30, limit=10):
            done = AttemptResult(Outcome.SUCCEEDED, exit_code=0)
            store.finish([Finish(claim, done)], time.time())
        return record(*args, **options)

    store.record_fire = record_fire
    return store

jobctl.store.open_store = open_store
from jobctl.cli.main import run
sys.argv[0] = "jobctl"
run()
"""


def test_schedule_run_says_the_held_run_its_own_record_enqueued_first(env: Env) -> None:
    env.write_config(QUEUED_SCHEDULE.format(cron="0 0 1 1 *"))
    env.run("schedule", "run", "nap", check=True)  # job 1, queued: the schedule's active run
    env.run("schedule", "run", "nap", check=True)  # held behind job 1
    assert len(held_fires(env)) == 1

    script = ENDS_THE_RUN_AS_THE_RECORD_BEGINS
    result = subprocess.run(
        [sys.executable, "-c", script, *env.global_args(), "schedule", "run", "nap"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    said = result.stderr.splitlines()
    assert said[0].startswith("jobctl: the run asked for at ")
    assert "held for a run that has ended, was enqueued as job 2 (" in said[0], said
    jobs = {job["id"]: job["state"] for job in json.loads(env.run("list", "--json").stdout)}
    assert jobs == {1: "succeeded", 2: "queued"}
    assert len(held_fires(env)) == 1  # this run, held behind job 2
