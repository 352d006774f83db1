"""The cron side through the real CLI: `up` in real time, `schedule …`, `cron next`, reloads."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
from datetime import datetime

import pytest
from conftest import JOBCTL, Env, stop_outside_writes

from jobctl.errors import StoreMissing
from jobctl.models import Job, JobFilter
from jobctl.records import WorkerInfo
from jobctl.store.sqlite import SqliteStore

SECONDS_SCHEDULE = """
[jobs.tick]
command = ["true"]

[schedules.every-second]
job = "tick"
cron = "* * * * * *"
overlap = "allow"
"""


def jobs(env: Env) -> list[dict[str, object]]:
    """All jobs; none while the daemon under test has not created the database yet."""
    result = env.run("list", "--json", "--limit", "0")
    if result.returncode == 3 and "does not exist" in result.stderr:
        return []
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def stored(env: Env) -> list[Job]:
    """All jobs as the store holds them, read in this process: what a wait polls for, at
    the cost of a query (a `list` run per poll cost a process each 50 ms). None while the
    daemon under test has not created the database yet."""
    try:
        with SqliteStore(env.db, create=False) as store:
            return store.list_jobs(JobFilter(limit=None))
    except StoreMissing:
        return []


def stamp(text: object) -> float:
    assert isinstance(text, str)
    return datetime.fromisoformat(text).timestamp()


def test_up_runs_a_seconds_schedule_in_real_time(env: Env) -> None:
    env.write_config(SECONDS_SCHEDULE)
    up = env.start("up", "--concurrency", "2")
    env.wait_for(lambda: sum(1 for j in stored(env) if j.state == "succeeded") >= 3, timeout=20)
    up.send_signal(signal.SIGTERM)
    _, stderr = up.communicate(timeout=20)
    assert up.returncode == 0, stderr
    assert "schedule.fired" in stderr and "scheduler.stopped" in stderr
    done = [j for j in jobs(env) if j["schedule"] == "every-second"]
    fire_times = sorted(stamp(j["fire_time"]) for j in done if j.get("fire_time"))
    assert len(fire_times) == len(set(fire_times)) >= 3
    assert all(t == int(t) for t in fire_times)  # on the second
    for job in done:
        # Enqueued within a second of its fire time (the target is far tighter; see bench/).
        assert 0 <= stamp(job["created_at"]) - stamp(job["fire_time"]) < 1.0


def test_a_standby_daemon_takes_over_when_the_leader_dies(env: Env) -> None:
    env.write_config(SECONDS_SCHEDULE)
    leader = env.start("schedule-daemon")
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    standby_log = env.root / "standby.log"
    with standby_log.open("w") as sink:
        standby = subprocess.Popen(
            [*JOBCTL, *env.global_args(), "schedule-daemon"],
            stderr=sink,
            env=env.env,
            cwd=env.root,
        )
    try:
        env.wait_for(lambda: "scheduler.standby" in standby_log.read_text(), timeout=20)
        # Seen where an operator looks: one daemon leads, one stands by, ready to take over.
        kinds = sorted(w["kind"] for w in json.loads(env.run("status", "--json").stdout)["workers"])
        assert kinds == ["scheduler", "standby"]
        assert "jobctl_standby_schedulers 1" in env.run("metrics", check=True).stdout
        leader.kill()
        leader.communicate(timeout=10)
        seen = len(stored(env))
        env.wait_for(lambda: len(stored(env)) >= seen + 2, timeout=20)
        env.wait_for(lambda: "scheduler.leader" in standby_log.read_text(), timeout=5)
        workers = json.loads(env.run("status", "--json").stdout)["workers"]
        assert [(w["kind"], w["pid"]) for w in workers] == [("scheduler", standby.pid)]
    finally:
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=20) == 0
    fire_times = [j["fire_time"] for j in jobs(env)]
    assert len(fire_times) == len(set(fire_times))


def test_schedule_list_run_pause_resume(env: Env) -> None:
    env.write_config(
        '[jobs.task]\ncommand = ["false"]\nmax_attempts = 1\n\n'
        '[schedules.nightly]\njob = "task"\ncron = "30 2 * * *"\ntimezone = "Europe/Berlin"\n'
        'description = "the nightly run"\n'
    )
    listed = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    (entry,) = listed
    assert entry["name"] == "nightly" and entry["cron"] == "30 2 * * *"
    assert entry["timezone"] == "Europe/Berlin" and entry["enabled"] is True
    assert entry["next_fire"].endswith(("+01:00", "+02:00")) and "T02:30" in entry["next_fire"]
    assert entry["last_fire"] is None
    job_id = int(env.run("schedule", "run", "nightly", check=True).stdout)
    shown = env.show(job_id)
    assert shown["schedule"] == "nightly" and shown["state"] == "queued"
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["last_job_id"] == job_id and entry["last_outcome"] == "queued"
    env.run("schedule", "pause", "nightly", check=True)
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["paused"] is True and entry["next_fire"] is None
    env.run("schedule", "resume", "nightly", check=True)
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["paused"] is False
    plain = env.run("schedule", "list", check=True).stdout
    assert "nightly" in plain and "30 2 * * *" in plain and "→ queued" in plain
    assert "the nightly run" in plain
    env.run("run-worker", "--burst", check=True)
    env.run("prune", "--older-than", "0s", check=True)
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["last_job_id"] == job_id and entry["last_outcome"] is None
    plain = env.run("schedule", "list", check=True).stdout
    assert f"→ pruned (#{job_id})" in plain  # not "enqueued", as if it were still waiting
    # (A run that succeeded would stay: see the next test.)
    missing = env.run("schedule", "run", "nope")
    assert missing.returncode == 2 and "unknown schedule 'nope'" in missing.stderr


def test_schedule_list_shows_the_last_success_whatever_ran_since(env: Env) -> None:
    """Alerting when `backup` has not succeeded for 26 hours: `schedule list` showed the last
    fire and its job's outcome alone, so a run that failed hid when the last good one
    ended. The last success stays through failed runs and a prune that deletes them."""
    broken = env.root / "broken"
    env.write_config(
        f'[jobs.backup]\ncommand = ["sh", "-c", "test ! -e {broken}"]\nmax_attempts = 1\n'
        '[schedules.backup]\njob = "backup"\ncron = "30 2 * * *"\ntimezone = "Europe/Berlin"\n'
        '[schedules.never]\njob = "backup"\ncron = "0 3 * * *"\n'
    )
    good = int(env.run("schedule", "run", "backup", check=True).stdout)
    env.run("run-worker", "--burst", check=True)
    broken.touch()
    bad = int(env.run("schedule", "run", "backup", check=True).stdout)
    env.run("schedule", "run", "never", check=True)
    env.run("run-worker", "--burst", check=True)
    ended = stamp(env.show(good)["finished_at"])

    def listed() -> dict[str, dict[str, object]]:
        shown = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
        return {entry["name"]: entry for entry in shown}

    backup = listed()["backup"]
    assert (backup["last_job_id"], backup["last_outcome"]) == (bad, "dead")
    assert isinstance(backup["last_success"], str)
    assert backup["last_success"].endswith(("+01:00", "+02:00"))  # in its zone, as last_fire
    assert abs(stamp(backup["last_success"]) - ended) < 0.002
    assert listed()["never"]["last_success"] is None
    plain = env.run("schedule", "list", check=True).stdout.splitlines()
    assert plain[0].split()[4:8] == ["LAST", "LAST", "OK", "OVERLAP"]
    rows = {line.split()[0]: line for line in plain[1:]}
    assert re.search(rf"→ dead \(#{bad}\)  +\S+ ago  +skip", rows["backup"])
    assert re.search(r"→ dead \(#\d+\)  +-  +skip", rows["never"])
    env.run("prune", "--older-than", "0s", check=True)
    assert listed()["backup"]["last_success"] == backup["last_success"]
    assert env.show(good)["state"] == "succeeded"  # the run it was read from stays
    assert env.run("show", str(bad)).returncode != 0


def test_schedule_list_describes_a_schedule_by_its_job_type_when_it_has_no_words(
    env: Env,
) -> None:
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\ndescription = "tidies /tmp"\n\n'
        '[schedules.hourly]\njob = "task"\ncron = "0 * * * *"\n'
        '[schedules.own]\njob = "task"\ncron = "0 3 * * *"\ndescription = "its own words"\n'
    )
    listed = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert {e["name"]: e["description"] for e in listed} == {
        "hourly": "tidies /tmp",
        "own": "its own words",
    }
    plain = env.run("schedule", "list", check=True).stdout
    assert "DESCRIPTION" in plain and "tidies /tmp" in plain and "its own words" in plain


def test_cron_next_uses_the_daemon_rules(env: Env) -> None:
    result = env.run(
        "cron",
        "next",
        "30 2 * * *",
        "-n",
        "2",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-03-28T12:00:00+01:00",
        "--json",
        check=True,
    )
    assert json.loads(result.stdout) == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    every = env.run("cron", "next", "@every 90s", "-n", "3", "--tz", "UTC", "--json", check=True)
    times = [stamp(t) for t in json.loads(every.stdout)]
    assert [b - a for a, b in itertools.pairwise(times)] == [90, 90]


def test_bad_cron_is_named_with_schedule_and_field(env: Env) -> None:
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\n\n[schedules.broken]\njob = "task"\ncron = "61 * * * *"\n'
    )
    for command in (["validate"], ["schedule-daemon"], ["up"]):
        result = env.run(*command)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "[schedules.broken] cron" in line and "minute" in line and ":6:" in line
    bad = env.run("cron", "next", "* * *")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    zone = env.run("cron", "next", "* * * * *", "--tz", "Mars/Olympus")
    assert zone.returncode == 2 and "Mars/Olympus" in zone.stderr


def test_reload_keeps_the_old_config_when_the_new_one_is_invalid(env: Env) -> None:
    env.write_config(SECONDS_SCHEDULE)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    env.write_config(SECONDS_SCHEDULE + "\n[schedules.bad]\njob = 'tick'\ncron = 'nope'\n")
    result = env.run("reload")  # refuses it at once, and sends nothing
    assert result.returncode == 2 and "[schedules.bad] cron" in result.stderr
    daemon.send_signal(signal.SIGHUP)  # as an admin's kill -HUP would: the daemon refuses it
    seen = len(stored(env))
    env.wait_for(lambda: len(stored(env)) >= seen + 1, timeout=20)  # still firing
    env.write_config(SECONDS_SCHEDULE.replace("every-second", "renamed"))
    sent = env.run("reload", check=True)
    assert sent.stdout == f"reload sent to 1 daemon(s); checked {env.config}\n"
    env.wait_for(lambda: any(j.schedule == "renamed" for j in stored(env)), timeout=20)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=20)
    assert "scheduler.reload_failed" in stderr and "keeping the previous configuration" in stderr
    assert "scheduler.reloaded" in stderr


def test_reload_checks_the_file_the_daemon_reads_not_its_own(env: Env) -> None:
    """A daemon started with another --config re-reads its own file: `reload` checked only
    the one it was given, and said "reload sent" for a file the daemon would refuse."""
    env.write_config(SECONDS_SCHEDULE)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    other = env.root / "other.toml"
    other.write_text('[jobs.ok]\ncommand = ["true"]\n')
    other.chmod(0o600)
    env.write_config(SECONDS_SCHEDULE + "\n[schedules.bad]\njob = 'tick'\ncron = 'nope'\n")
    refused = env.run("--config", str(other), "reload", config=False)
    assert refused.returncode == 2
    assert str(env.config) in refused.stderr and "[schedules.bad] cron" in refused.stderr
    env.write_config(SECONDS_SCHEDULE)
    sent = env.run("--config", str(other), "reload", config=False, check=True)
    assert sent.stdout == f"reload sent to 1 daemon(s); checked {env.config}\n"
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)


def test_reload_refuses_when_the_daemon_s_own_file_is_gone(env: Env) -> None:
    """A deploy moved the jobs.toml a daemon found in its folder: `reload` said "reload
    sent" (exit 0), and the daemon refused it ("config file not found")."""
    env.write_config(SECONDS_SCHEDULE)
    assert env.config.parent == env.root  # the daemon finds it in its folder
    daemon = env.start("schedule-daemon", config=False)
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    moved = env.root / "moved.toml"
    env.config.rename(moved)
    refused = env.run("--config", str(moved), "reload", config=False)
    assert refused.returncode == 2, refused.stderr
    assert "config file not found" in refused.stderr and "jobs.toml" in refused.stderr
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)


def test_reload_from_another_folder_needs_no_config_of_its_own(env: Env) -> None:
    """`jobctl --db ... reload` from an admin's home was refused ("no config found"), though
    the daemon's own file is read from /proc; a broken jobs.toml there refused it too."""
    env.write_config(SECONDS_SCHEDULE)
    daemon = env.start("schedule-daemon", config=False)
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    elsewhere = env.root / "admin"
    elsewhere.mkdir()
    sent = env.run("reload", config=False, cwd=elsewhere, check=True)
    assert sent.stdout == f"reload sent to 1 daemon(s); checked {env.config}\n"
    (elsewhere / "jobs.toml").write_text("not toml [")
    assert env.run("reload", config=False, cwd=elsewhere).returncode == 0
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)


def test_reload_on_another_database_names_the_daemons_it_did_not_find(env: Env) -> None:
    """`reload` finds daemons through the database it is given: from a folder whose config
    or environment names another one (or none), it said only "no running worker or cron
    daemon found". It names the database it looked in and the daemon's process now."""
    env.write_config(SECONDS_SCHEDULE)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    other = env.root / "other.db"
    for exists in (False, True):
        result = subprocess.run(
            [*JOBCTL, "--config", str(env.config), "--db", str(other), "reload"],
            capture_output=True,
            text=True,
            env=env.env,
        )
        assert result.returncode == (1 if exists else 3), result.stderr
        [line] = result.stderr.splitlines()
        assert str(other) in line
        # Other tests' daemons may run too: this one is among those named.
        named = re.search(r"cron daemon process(?:es)? ([\d, ]+) runs? on this host", line)
        assert named is not None, line
        assert str(daemon.pid) in named.group(1).split(", ")
        made = [*JOBCTL, "--config", str(env.config), "--db", str(other), "enqueue", "tick"]
        subprocess.run(made, capture_output=True, env=env.env, check=True)
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)


def test_reload_signals_no_process_that_is_not_a_cron_daemon(env: Env) -> None:
    """`reload` sent SIGHUP to whatever live pid a scheduler record of this host named: a
    pid reused since its daemon died, or on a shared store any process a holder of its
    password named. Most programs die of SIGHUP; this one must live."""
    env.write_config(SECONDS_SCHEDULE)
    env.enqueue("tick")
    victim = subprocess.Popen(["sleep", "300"])
    try:
        now = time.time()
        with SqliteStore(env.db) as store:
            store.register_worker(
                WorkerInfo(
                    id=f"scheduler:{socket.gethostname()}:{victim.pid}",
                    host=socket.gethostname(),
                    pid=victim.pid,
                    queues=(),
                    concurrency=0,
                    started_at=now,
                    heartbeat_at=now,
                    kind="scheduler",
                    interval=3600.0,
                )
            )
        result = env.run("reload")
        # Said, and a failure: the record names a leader that reload could not reach.
        assert result.returncode == 1, result
        assert f"names pid {victim.pid} (sleep 300), which is not jobctl's" in result.stderr
        assert victim.poll() is None, "reload signalled a process that is no cron daemon"
    finally:
        victim.kill()
        victim.wait()


def test_cron_next_reads_a_naive_from_in_the_tz_given(env: Env) -> None:
    """--from without an offset is a wall-clock time of --tz, whatever zone the host has."""
    for host in ("America/New_York", "Asia/Kolkata"):
        env.env["TZ"] = host
        result = env.run(
            "cron",
            "next",
            "0 * * * *",
            "--tz",
            "Asia/Tokyo",
            "--from",
            "2026-01-01T00:00:00",
            "--count",
            "1",
            "--json",
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == ["2026-01-01T01:00:00+09:00"]


def test_a_bad_cron_line_on_disk_is_refused_by_reload_and_blinds_no_view(env: Env) -> None:
    """The daemon keeps its last good config when it refuses an edit. `reload` says so at
    once (exit 2, nothing sent), and `schedule list` and `metrics` go on showing the rest."""
    good = '[jobs.task]\ncommand = ["true"]\n[schedules.ok]\njob = "task"\ncron = "0 3 * * *"\n'
    env.write_config(good)
    env.run("schedule", "run", "ok", check=True)  # makes the database
    env.write_config(good + '[schedules.broken]\njob = "task"\ncron = "61 * * * *"\n')
    reloaded = env.run("reload")
    assert reloaded.returncode == 2 and "[schedules.broken] cron" in reloaded.stderr
    listed = env.run("schedule", "list", check=True).stdout
    assert "invalid cron" in listed and "ok" in listed
    (broken,) = [
        s
        for s in json.loads(env.run("schedule", "list", "--json", check=True).stdout)
        if s["name"] == "broken"
    ]
    assert broken["next_fire"] is None and "invalid cron" in broken["error"]
    metrics = env.run("metrics", check=True).stdout
    assert 'jobctl_schedule_next_fire_timestamp_seconds{schedule="ok"}' in metrics
    assert 'schedule="broken"}' not in metrics.split("jobctl_schedule_next_fire")[-1]


@pytest.mark.parametrize("value", ["Asia/Tokyo", ":Asia/Tokyo", ":/usr/share/zoneinfo/Asia/Tokyo"])
def test_the_hosts_zone_is_read_from_tz_in_every_form_the_c_library_reads(
    env: Env, value: str
) -> None:
    if value == ":/tmp/tokyo":  # a link to a zone file, as /etc/localtime is: TZ=:/etc/localtime
        value = f":{env.root / 'tokyo'}"
        (env.root / "tokyo").symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    env.env["TZ"] = value
    result = env.run("cron", "next", "0 9 * * *", "--from", "2025-12-31T12:00:00Z", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)[0] == "2026-01-01T09:00:00+09:00"


def test_a_tz_that_is_no_zone_name_is_warned_of(env: Env) -> None:
    """TZ=JST-9 (a POSIX rule) reaches the jobs, but schedules cannot follow it: said by
    `cron next`, `validate` and the daemon, not silently ignored."""
    env.env["TZ"] = "JST-9"
    result = env.run("cron", "next", "0 9 * * *", "--json")
    assert result.returncode == 0
    assert result.stderr.startswith("jobctl: warning: TZ='JST-9' is not a time zone this host")
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\n[schedules.s]\njob = "task"\ncron = "0 9 * * *"\n'
    )
    checked = env.run("validate")
    assert checked.returncode == 0 and "TZ='JST-9' is not a time zone this host" in checked.stderr
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\n[schedules.s]\njob = "task"\ncron = "0 9 * * *"\n'
        'timezone = "Asia/Tokyo"\n'
    )
    assert env.run("validate").stderr == ""  # every schedule names its zone: nothing to say
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\n[schedules.s]\njob = "task"\ncron = "0 9 * * *"\n'
    )
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=20)
    assert "scheduler.tz_ignored" in stderr and "TZ='JST-9'" in stderr


def test_cron_next_uses_the_zone_a_daemon_would_and_reads_schedule_names(env: Env) -> None:
    """`cron next` answers for the daemon: [settings] timezone applies to an expression, a
    schedule's own zone to its name, and --tz to both."""
    env.write_config(
        '[settings]\ntimezone = "Asia/Tokyo"\n[jobs.task]\ncommand = ["true"]\n'
        '[schedules.nightly]\njob = "task"\ncron = "0 9 * * *"\ntimezone = "Europe/Berlin"\n'
    )
    since = ["--from", "2025-12-31T12:00:00Z", "-n", "1", "--json"]
    for words, fire in [
        (["0 9 * * *"], "2026-01-01T09:00:00+09:00"),
        (["nightly"], "2026-01-01T09:00:00+01:00"),
        (["nightly", "--tz", "UTC"], "2026-01-01T09:00:00+00:00"),
    ]:
        result = env.run("cron", "next", *words, *since)
        assert (result.returncode, result.stderr) == (0, ""), words
        assert json.loads(result.stdout) == [fire], words


def test_a_daemon_with_no_config_file_refuses_to_start(env: Env) -> None:
    """It would run no schedule, and a reload re-reads the file it started with: none."""
    for command in ("schedule-daemon", "up"):
        result = env.run(command, timeout=20)
        assert result.returncode == 2, command
        assert result.stderr.startswith("jobctl: no config found"), command


def test_schedule_list_is_a_view_that_makes_no_database(env: Env) -> None:
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\n[schedules.nightly]\njob = "task"\ncron = "0 3 * * *"\n'
    )
    (listed,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert (listed["name"], listed["last_fire"], listed["paused"]) == ("nightly", None, False)
    assert not env.db.exists()


def test_cron_next_gives_sub_second_fires_to_the_millisecond(env: Env) -> None:
    result = env.run(
        "cron", "next", "@every 1500ms", "-n", "2", "--tz", "UTC", "--json",
        "--from", "2026-01-01T00:00:00Z", check=True,
    )  # fmt: skip
    assert json.loads(result.stdout) == [
        "2026-01-01T00:00:01.500+00:00",
        "2026-01-01T00:00:03.000+00:00",
    ]


def test_cron_next_checks_an_expression_even_with_a_broken_config(env: Env) -> None:
    env.write_config("[jobs\n")
    result = env.run("cron", "next", "0 3 * * *", "-n", "1", "--json")
    assert result.returncode == 0
    assert "invalid TOML" in result.stderr and "(the host's time zone is used)" in result.stderr
    zoned = env.run("cron", "next", "0 3 * * *", "--tz", "UTC", "-n", "1", "--json")
    assert (zoned.returncode, zoned.stderr) == (0, "")  # the config would change nothing
    assert env.run("cron", "next", "nightly").returncode == 2  # a name needs the config


def test_cron_next_of_a_mistyped_schedule_name_points_at_the_name(env: Env) -> None:
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\n[schedules.berlin]\njob = "task"\ncron = "0 9 * * *"\n'
    )
    result = env.run("cron", "next", "berlni")
    assert (result.returncode, result.stderr) == (
        2,
        f"jobctl: unknown schedule 'berlni' in {env.config} (did you mean 'berlin'?); defined"
        " schedules: berlin; and no cron expression either: expected 5 fields (minute hour"
        " day-of-month month day-of-week) or 6 with a leading seconds field, got 1\n",
    )


def test_cron_next_of_a_disabled_or_jittered_schedule_says_so(env: Env) -> None:
    """It lists the daemon's fire times; for a disabled schedule the daemon fires none."""
    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        '[schedules.off]\njob = "t"\ncron = "30 2 * * *"\nenabled = false\n'
        '[schedules.spread]\njob = "t"\ncron = "30 2 * * *"\njitter = "5m"\n'
        '[schedules.plain]\njob = "t"\ncron = "30 2 * * *"\n'
    )
    off = env.run("cron", "next", "off", check=True)
    assert off.stderr == (
        "jobctl: note: schedule 'off' is disabled: the daemon fires none of these\n"
    )
    spread = env.run("cron", "next", "spread", check=True)
    assert spread.stderr == (
        "jobctl: note: schedule 'spread' has a jitter: each run waits up to 5m after its fire"
        " time\n"
    )
    assert env.run("cron", "next", "plain", check=True).stderr == ""


def test_a_day_step_that_vixie_cron_reads_otherwise_is_warned_of(env: Env) -> None:
    """`0 0 */10 * 1-5` fires on every weekday here (POSIX: either day field), on weekdays
    among days 1, 11, 21 and 31 under vixie cron and cronie. A line copied by hand got no
    word of it; only import-crontab warned."""
    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        '[schedules.odd]\njob = "t"\ncron = "0 0 */2 * MON"\n'
        '[schedules.plain]\njob = "t"\ncron = "0 0 1-7 * MON"\n'
    )
    note = (
        "day-of-month '*/2' and day-of-week 'MON' are both restricted: jobctl fires on days"
        " matching either, as POSIX cron does (vixie cron and cronie require both when one"
        " starts with '*')"
    )
    checked = env.run("validate", check=True)
    assert checked.stderr == (
        f"jobctl: warning: {env.config}:5: [schedules.odd] cron: '0 0 */2 * MON': {note}\n"
    )
    assert env.run("cron", "next", "odd", check=True).stderr == f"jobctl: warning: {note}\n"
    assert env.run("cron", "next", "plain", check=True).stderr == ""
    assert env.run("cron", "next", "0 0 */2 * *", check=True).stderr == ""


def test_a_day_of_month_that_never_occurs_beside_a_day_step_is_warned_of(env: Env) -> None:
    """`0 0 31 4 */7` fires every Sunday in April here (no day 31 to OR with) and never under
    vixie cron and cronie, which AND the two: validate and `cron next` said nothing of it.
    `0 0 31 4 MON`, which any cron ORs, fires on the Mondays here and there: no word."""
    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        '[schedules.never]\njob = "t"\ncron = "0 0 31 4 */7"\n'
        '[schedules.mondays]\njob = "t"\ncron = "0 0 31 4 MON"\n'
    )
    note = (
        "day-of-month '31' never occurs in month field '4': jobctl fires on the days"
        " day-of-week '*/7' matches, as POSIX cron does (vixie cron and cronie require both"
        " day fields when one starts with '*', and never run it)"
    )
    checked = env.run("validate", check=True)
    assert checked.stderr == (
        f"jobctl: warning: {env.config}:5: [schedules.never] cron: '0 0 31 4 */7': {note}\n"
    )
    assert env.run("cron", "next", "never", check=True).stderr == f"jobctl: warning: {note}\n"
    assert env.run("cron", "next", "mondays", check=True).stderr == ""


def test_cron_next_s_title_is_the_expression_as_read(env: Env) -> None:
    """The title showed the argument as typed, blanks and tab included."""
    result = env.run("cron", "next", "  0\t 9 * * *", "--tz", "UTC", "-n", "1", check=True)
    assert result.stdout.splitlines()[0] == "0 9 * * *: at 09:00 (UTC)"
    result = env.run("cron", "next", "0 0 15 * 0-6", "--tz", "UTC", "-n", "1", check=True)
    assert result.stdout.splitlines()[0] == "0 0 15 * 0-6: at 00:00 (UTC)"


def test_cron_next_of_an_interval_stops_where_calendar_fires_stop(env: Env) -> None:
    """Fires past the year 9998 could not be shown: 'unexpected error: ValueError'."""
    result = env.run(
        "cron",
        "next",
        "@every 1000d",
        "--tz",
        "UTC",
        "--from",
        "9990-01-01T00:00:00Z",
        "-n",
        "5",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert [fire[:4] for fire in json.loads(result.stdout)] == ["9992", "9994", "9997"]


def test_a_reload_that_changes_a_setting_read_at_start_says_so(env: Env) -> None:
    """The daemon keeps its database and log settings until restarted: a worker said so of
    a changed `db`, the cron daemon kept the old database without a word."""
    env.write_config(SECONDS_SCHEDULE)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    env.write_config('[settings]\nlog_level = "warning"\n' + SECONDS_SCHEDULE)
    env.run("reload", check=True)
    seen = len(stored(env))
    env.wait_for(lambda: len(stored(env)) >= seen + 1, timeout=20)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=20)
    assert "scheduler.reloaded" in stderr
    assert "scheduler.restart_needed" in stderr and "settings=log_level" in stderr


def test_a_shell_tz_other_than_the_hosts_zone_is_noted_where_schedules_are_shown(
    env: Env,
) -> None:
    """With TZ exported in a shell on a UTC server, `schedule list` showed a zone-less
    schedule in the shell's zone, while the daemon (started by systemd, without TZ)
    followed the host's: two answers to when it runs, and nothing said so."""
    from jobctl.timefmt import host_zone

    shell = "Asia/Tokyo" if host_zone() != "Asia/Tokyo" else "America/New_York"
    schedule = '[jobs.ok]\ncommand = ["true"]\n[schedules.s]\njob = "ok"\ncron = "0 3 * * *"\n'
    env.write_config(schedule)
    env.env["TZ"] = shell
    note = (
        f"jobctl: note: schedules that name no timezone are shown in TZ={shell} of this shell;"
        f" a daemon started without TZ (by systemd, say) follows the host's zone, {host_zone()}:"
        " set [settings] timezone to make both the same\n"
    )
    assert env.run("schedule", "list", check=True).stderr == note
    assert env.run("cron", "next", "s", "-n", "1", check=True).stderr == note
    env.env["TZ"] = host_zone()
    assert env.run("schedule", "list", check=True).stderr == ""
    env.env["TZ"] = shell
    env.write_config(f'[settings]\ntimezone = "{shell}"\n' + schedule)
    assert env.run("schedule", "list", check=True).stderr == ""


def test_schedule_list_names_the_run_a_skipped_fire_waited_for(env: Env) -> None:
    """A fire skipped for an active run showed "→ skipped" and no job: the run that holds
    the schedule up was named nowhere."""
    env.write_config(
        '[jobs.long]\ncommand = ["sleep", "60"]\n[schedules.s]\njob = "long"\ncron = "0 3 * * *"\n'
    )
    first = int(env.run("schedule", "run", "s", check=True).stdout)  # queued: active
    again = env.run("schedule", "run", "s", check=True)  # skipped, as a fire would be
    assert int(again.stdout) == first
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["last_status"] == "skipped"
    assert entry["last_reason"] == f"overlap: run {first} is still active"
    plain = env.run("schedule", "list", check=True).stdout
    assert f"→ skipped: overlap: run {first} is still active" in plain


def _next_wall_clock(hour: int, zone: str) -> datetime:
    """The next `hour`:00 on the wall clock of `zone`."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo(zone))
    upcoming = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return upcoming if upcoming > now else upcoming + timedelta(days=1)


def test_schedule_times_are_in_the_zone_the_cron_daemon_plans_in(env: Env) -> None:
    """A daemon run with Environment=TZ=Asia/Tokyo in its unit fires a schedule that names
    no zone at 03:00 Tokyo time; `schedule list`, `cron next` and the next-fire metric, run
    from an admin's shell without TZ, worked it out in the host's zone: 9 hours off."""
    from jobctl.timefmt import host_zone

    daemon_zone = "Asia/Tokyo" if host_zone() not in ("Asia/Tokyo", "Japan") else "America/Chicago"
    env.write_config(
        '[jobs.backup]\ncommand = ["true"]\n[schedules.nightly]\njob = "backup"\n'
        'cron = "0 3 * * *"\n'
    )
    env.env["TZ"] = daemon_zone
    daemon = env.start("schedule-daemon")
    del env.env["TZ"]  # the admin's shell: the host's zone
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=20)

    def recorded() -> dict[str, str]:
        with SqliteStore(env.db) as store:
            return store.time_tables(["nightly"])

    env.wait_for(lambda: "nightly" in recorded(), timeout=20)
    fire = _next_wall_clock(3, daemon_zone)
    warning = (
        f"jobctl: warning: the cron daemon planned schedule 'nightly' (no timezone of its own)"
        f" in {daemon_zone} (its TZ, or its host's zone), not in {host_zone()} as this shell"
        f" would: shown in {daemon_zone}; set [settings] timezone to make both the same\n"
    )
    listed = env.run("schedule", "list", "--json", check=True)
    (entry,) = json.loads(listed.stdout)
    assert entry["timezone"] == daemon_zone
    assert stamp(entry["next_fire"]) == fire.timestamp() and "T03:00:00" in entry["next_fire"]
    assert listed.stderr == warning
    plain = env.run("schedule", "list", check=True)
    assert daemon_zone in plain.stdout and plain.stderr == warning
    upcoming = env.run("cron", "next", "nightly", "-n", "1", "--json", check=True)
    assert [stamp(t) for t in json.loads(upcoming.stdout)] == [fire.timestamp()]
    assert upcoming.stderr == warning
    metrics = env.run("metrics", check=True).stdout
    assert (
        f'jobctl_schedule_next_fire_timestamp_seconds{{schedule="nightly"}} {int(fire.timestamp())}'
        in metrics.splitlines()
    )
    env.env["TZ"] = daemon_zone  # a shell in the daemon's zone: nothing to say
    assert env.run("schedule", "list", check=True).stderr == ""
    assert env.run("cron", "next", "nightly", check=True).stderr == ""
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0


def test_schedule_list_warns_when_no_cron_daemon_runs(env: Env) -> None:
    """With the daemon stopped, `schedule list` counted NEXT down as if a fire would come."""
    env.write_config(
        '[jobs.backup]\ncommand = ["true"]\n[schedules.nightly]\njob = "backup"\n'
        'cron = "0 3 * * *"\ntimezone = "UTC"\n'
    )
    warning = (
        "jobctl: warning: no cron daemon is running on this database: no schedule fires until"
        " `jobctl up` or `jobctl schedule-daemon` runs\n"
    )

    def listed() -> tuple[bool, str]:
        result = env.run("schedule", "list", "--json", check=True)
        (entry,) = json.loads(result.stdout)
        return entry["daemon_running"], result.stderr

    # A config tried out before any daemon made its database: nothing to warn of yet.
    assert listed() == (False, "")
    env.run("schedule", "run", "nightly", check=True)  # makes the database
    assert listed() == (False, warning)
    assert env.run("schedule", "list", check=True).stderr == warning
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=20)
    assert listed() == (True, "")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    assert listed() == (False, warning)
    now = time.time()
    with SqliteStore(env.db) as store:  # a standby (this process) takes over when one leads
        store.register_worker(
            WorkerInfo(
                id=f"scheduler:{socket.gethostname()}:{os.getpid()}",
                host=socket.gethostname(),
                pid=os.getpid(),
                queues=(),
                concurrency=0,
                started_at=now,
                heartbeat_at=now,
                kind="standby",
                interval=3600.0,
            )
        )
    assert listed() == (True, "")
    with SqliteStore(env.db) as store:
        store.unregister_worker(f"scheduler:{socket.gethostname()}:{os.getpid()}")
    env.run("schedule", "pause", "nightly", check=True)
    assert listed() == (False, "")  # nothing would fire anyway


def test_schedule_list_says_no_daemon_runs_behind_a_stopped_leader(env: Env) -> None:
    """A leader stopped (SIGSTOP) or hung keeps the SQLite leader lock: its standby waits,
    nothing fires, and `schedule list` said daemon_running true, with no warning, for a
    standby that cannot take over."""
    env.write_config(
        '[jobs.tick]\ncommand = ["true"]\n[schedules.every10]\njob = "tick"\n'
        'cron = "*/10 * * * * *"\ntimezone = "UTC"\n'
    )
    leader = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=20)
    standby = env.start("schedule-daemon")

    def kinds() -> list[str]:
        workers = json.loads(env.run("status", "--json", check=True).stdout)["workers"]
        return sorted(w["kind"] for w in workers)

    env.wait_for(lambda: kinds() == ["scheduler", "standby"], timeout=20)

    def listed() -> tuple[bool, str | None, str]:
        result = env.run("schedule", "list", "--json", check=True)
        (entry,) = json.loads(result.stdout)
        return entry["daemon_running"], entry["stale_leader"], result.stderr

    assert listed() == (True, None, "")
    leader_id = _daemon_id(env, leader.pid)
    stop_outside_writes(env.db, leader.pid)
    try:
        # Its heartbeat a minute old, as three missed intervals leave it (not waited for).
        stale_at = time.time() - 60
        with SqliteStore(env.db) as store:
            assert store.heartbeat(leader_id, stale_at)
        running, stale, said = listed()
        assert (running, stale) == (False, leader_id)
        warning = re.escape(
            f"jobctl: warning: the leading cron daemon ({leader_id}, pid {leader.pid}) last"
            " heartbeated 1m ago: it is stopped or hung, and no schedule fires until it answers"
            " again; 1 standby daemon cannot take over while it holds the leader lock\n"
        ).replace("1m", r"1m(\d+s)?")  # the seconds the listing took
        assert re.fullmatch(warning, said), said
        table = env.run("schedule", "list", check=True)
        assert re.fullmatch(warning, table.stderr), table.stderr
    finally:
        os.kill(leader.pid, signal.SIGCONT)

    def heartbeat() -> float:
        with SqliteStore(env.db, create=False) as store:
            (found,) = [w.heartbeat_at for w in store.workers() if w.id == leader_id]
        return found

    # Going again, it heartbeats at its next interval, and the listing says it runs.
    env.wait_for(lambda: heartbeat() > stale_at, timeout=20)
    assert listed() == (True, None, "")
    for daemon in (leader, standby):
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0


def test_reload_names_a_stopped_leader_of_its_own_database(env: Env) -> None:
    """It said the daemon "runs on this host with another database", giving its pid."""
    env.write_config(SECONDS_SCHEDULE)
    leader = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=20)
    leader_id = _daemon_id(env, leader.pid)
    stop_outside_writes(env.db, leader.pid)
    try:
        with SqliteStore(env.db) as store:
            assert store.heartbeat(leader_id, time.time() - 60)
        result = env.run("reload")
    finally:
        os.kill(leader.pid, signal.SIGCONT)
    assert result.returncode == 1
    assert re.fullmatch(
        rf"jobctl: the cron daemon leading on this host for database \S+ \(pid {leader.pid}\)"
        r" last heartbeated 1m(\d+s)? ago: it is stopped \(SIGSTOP, Ctrl-Z\) or hung, and reads"
        rf" no reload until it runs again \(kill -CONT {leader.pid}\)\n",
        result.stderr,
    ), result.stderr
    leader.send_signal(signal.SIGTERM)
    assert leader.wait(timeout=20) == 0


def test_schedule_list_names_no_process_given_a_dead_leaders_pid_since(env: Env) -> None:
    """A leader killed (kill -9, the OOM killer, a reboot) leaves its record, and its pid
    goes to another process: `schedule list` called that one the leading cron daemon,
    stopped or hung, for an admin to kill. A process that started after the record is
    not the daemon that wrote it: no daemon runs."""
    env.write_config(
        '[jobs.tick]\ncommand = ["true"]\n[schedules.nightly]\njob = "tick"\n'
        'cron = "0 3 * * *"\ntimezone = "UTC"\n'
    )
    leader_id = f"scheduler:{socket.gethostname()}:dead"

    def lead(pid: int, started_at: float) -> None:
        with SqliteStore(env.db) as store:
            store.register_worker(
                WorkerInfo(
                    id=leader_id,
                    host=socket.gethostname(),
                    pid=pid,
                    queues=(),
                    concurrency=0,
                    started_at=started_at,
                    heartbeat_at=time.time() - 60,  # three intervals missed, and more
                    kind="scheduler",
                    interval=10.0,
                )
            )

    def listed() -> tuple[bool, str | None, str]:
        result = env.run("schedule", "list", "--json", check=True)
        (entry,) = json.loads(result.stdout)
        return entry["daemon_running"], entry["stale_leader"], result.stderr

    recorded = time.time() - 120
    with subprocess.Popen(["sleep", "60"]) as given_the_pid:  # started after the record
        try:
            lead(given_the_pid.pid, recorded)
            assert listed() == (
                False,
                None,
                "jobctl: warning: no cron daemon is running on this database: no schedule"
                " fires until `jobctl up` or `jobctl schedule-daemon` runs\n",
            )
            lead(given_the_pid.pid, time.time())  # its own record: a leader that hangs
            running, stale, said = listed()
            assert (running, stale) == (False, leader_id)
            # (1m2s on a loaded machine: the listing's own start counts)
            assert re.search(rf"pid {given_the_pid.pid}\) last heartbeated 1m(\d+s)? ago", said)
        finally:
            given_the_pid.kill()


def test_schedule_list_warns_when_the_leading_daemon_plans_otherwise(env: Env) -> None:
    """Another host's copy of the config, edited on one host only: schedule list showed a
    NEXT for a schedule the leading daemon did not have, or fired at another time, and
    nothing said so."""
    theirs = (
        '[jobs.ok]\ncommand = ["true"]\n'
        '[schedules.same]\njob = "ok"\ncron = "0 3 * * *"\ntimezone = "UTC"\n'
        '[schedules.moved]\njob = "ok"\ncron = "0 4 * * *"\ntimezone = "UTC"\n'
    )
    env.write_config(theirs)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=20)
    # (Its plan is recorded at its first tick, a moment after it registers.)
    env.wait_for(lambda: env.run("schedule", "list", check=True).stderr == "", timeout=20)
    mine = env.root / "mine.toml"
    mine.write_text(
        theirs.replace('cron = "0 4 * * *"', 'cron = "0 5 * * *"')
        + '[schedules.added]\njob = "ok"\ncron = "@hourly"\n'
    )
    listed = env.run("--config", str(mine), "schedule", "list", config=False, check=True)
    [line] = listed.stderr.splitlines()
    assert line.startswith("jobctl: warning: the leading cron daemon (scheduler:")
    assert "added (not in its plan)" in line
    assert "moved (cron 0 4 * * * -> 0 5 * * *, its -> this config's)" in line
    assert "same (" not in line
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)


RUN_SCHEDULES = """
[jobs.long]
command = ["sleep", "60"]

[schedules.skipper]
job = "long"
cron = "0 3 * * *"

[schedules.queuer]
job = "long"
cron = "0 3 * * *"
overlap = "queue"
"""


def test_schedule_run_json_tells_a_new_run_from_an_active_one_and_a_held_one(env: Env) -> None:
    """`schedule run` had no --json, and a new run, an active run standing for this one and
    a held run all exited 0, two of them printing an id: `id=$(jobctl schedule run X)` could
    not tell its own run from another."""
    env.write_config(RUN_SCHEDULES)
    SqliteStore(env.db).close()  # no note of a new database

    def run(name: str) -> tuple[dict[str, object], str]:
        result = env.run("schedule", "run", name, "--json")
        assert result.returncode == 0, result.stderr  # as without --json
        return json.loads(result.stdout), result.stderr

    new, said = run("skipper")
    assert said == ""
    assert (new["created"], new["status"], new["reason"], new["active"]) == (
        True,
        "enqueued",
        None,
        None,
    )
    shown = env.show(int(str(new["id"])))
    del shown["attempts_history"]
    assert {key: new[key] for key in shown} == shown  # the job, as enqueue --json gives it
    assert new["schedule"] == "skipper" and new["state"] == "queued"

    skipped, said = run("skipper")  # the active run stands for it, as a key's holder does
    assert (skipped["id"], skipped["created"], skipped["status"]) == (new["id"], False, "skipped")
    assert skipped["reason"] == f"overlap: run {new['id']} is still active"
    assert skipped["active"] == new["id"] and skipped["state"] == "queued"
    assert said.startswith(f"jobctl: run {new['id']} of schedule 'skipper' is still active;")

    first, _ = run("queuer")
    held, said = run("queuer")  # no job yet: the cron daemon enqueues it later
    assert (held["id"], held["state"], held["created"]) == (None, None, False)
    assert (held["status"], held["active"]) == ("pending", first["id"])
    assert held["reason"] == f"waiting for run {first['id']} to finish"
    assert held["schedule"] == "queuer"
    # The job's shape stays, every field null, as scripts reading `.job` or `.queue` expect.
    assert set(shown) <= set(held)
    assert all(held[key] is None for key in shown if key != "schedule")
    assert "this run waits for it to end" in said
    # No cron daemon serves this database: nothing will enqueue the held run, and it says so.
    assert "warning: no cron daemon is running on this database" in said
    again, said = run("queuer")  # one held run at most
    assert (again["id"], again["status"], again["active"]) == (None, "skipped", first["id"])
    assert again["reason"] == f"overlap: a fire already waits for run {first['id']}"
    assert "a run already waits for it" in said
    assert set(shown) <= set(again)

    # The text answers as before: an id only where one stands for the run.
    text = env.run("schedule", "run", "skipper", check=True)
    assert text.stdout == f"{new['id']}\n"
    assert env.run("schedule", "run", "queuer", check=True).stdout == ""


def test_schedule_pause_and_resume_json(env: Env) -> None:
    """`schedule pause` and `resume` had no --json, as `pause QUEUE` has."""
    env.write_config(RUN_SCHEDULES)
    SqliteStore(env.db).close()  # they refuse a database that does not exist
    paused = env.run("schedule", "pause", "skipper", "--json", check=True)
    assert json.loads(paused.stdout) == {"schedule": "skipper", "paused": True, "changed": True}
    listed = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert {entry["name"]: entry["paused"] for entry in listed} == {
        "queuer": False,
        "skipper": True,
    }
    resumed = env.run("schedule", "resume", "skipper", "--json", check=True)
    assert json.loads(resumed.stdout) == {"schedule": "skipper", "paused": False, "changed": True}
    assert env.run("schedule", "pause", "nope", "--json").returncode == 2


def test_schedule_run_held_says_nothing_of_a_daemon_when_one_serves(env: Env) -> None:
    """The warning that no daemon will enqueue a held run is only for a database none serves."""
    env.write_config(RUN_SCHEDULES)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: "scheduler" in env.run("status").stdout or daemon.poll() is not None)
    first = env.run("schedule", "run", "queuer", check=True)
    assert first.stdout.strip()
    held = env.run("schedule", "run", "queuer", check=True)
    assert "this run waits for it to end" in held.stderr
    assert "no cron daemon" not in held.stderr


def test_cron_next_says_when_fewer_fires_than_asked_fall_within_the_years_it_plans(
    env: Env,
) -> None:
    """Near the year 9998, `cron next -n 3` printed an empty table and exited 0: it read as
    "this schedule never fires"."""
    result = env.run("cron", "next", "@yearly", "--from", "9998-06-01T00:00", "-n", "3")
    assert result.returncode == 0
    assert "none of the 3 fire times asked for come before 9999" in result.stderr
    result = env.run("cron", "next", "0 0 1 * *", "--from", "9998-10-01T00:00", "-n", "5", "--json")
    assert len(json.loads(result.stdout)) == 2
    assert "only 2 of the 5 fire times" in result.stderr
    plenty = env.run("cron", "next", "0 0 1 * *", "-n", "5", check=True)
    assert "fire times asked for" not in plenty.stderr


def test_cron_next_plans_to_the_last_second_of_9998_on_the_schedule_s_wall_clock(
    env: Env,
) -> None:
    """Planning ended at 9998-12-31T00:00: the note said "up to the end of 9998" with that
    day's fires left out, and `@every` stopped at that instant in UTC in any zone."""

    def fires(expression: str, start: str, count: int, zone: str = "UTC") -> list[str]:
        result = env.run(
            "cron", "next", expression, "--from", start, "-n", str(count), "--tz", zone, "--json"
        )
        assert result.returncode == 0, result.stderr
        found: list[str] = json.loads(result.stdout)
        assert f"only {len(found)} of the {count} fire times asked for" in result.stderr
        return found

    assert fires("0 12 * * *", "9998-12-29", 5)[-1] == "9998-12-31T12:00:00+00:00"
    assert fires("0 12 31 12 *", "9997-01-01", 3) == [
        "9997-12-31T12:00:00+00:00",
        "9998-12-31T12:00:00+00:00",
    ]
    every_hour = fires("@every 1h", "9998-12-30T22:00Z", 30)
    assert (len(every_hour), every_hour[-1]) == (25, "9998-12-31T23:00:00+00:00")
    # On the zone's wall clock, as calendar fires: up to 23:00 in Tokyo, 14:00 UTC.
    assert fires("@every 1h", "9998-12-31T21:30", 5, "Asia/Tokyo")[-1] == (
        "9998-12-31T23:00:00+09:00"
    )
    assert fires("* * * * * *", "9998-12-31T23:59:58", 5, "Etc/GMT+12") == [
        "9998-12-31T23:59:59-12:00"
    ]


def test_up_serving_other_queues_warns_of_a_schedule_whose_runs_it_leaves(env: Env) -> None:
    """`up -q default` with a schedule whose job goes to `reports` said nothing: run 1
    waited there for good, and each later fire was skipped as "still active"."""
    env.write_config(
        '[jobs.report]\ncommand = ["true"]\nqueue = "reports"\n[jobs.tick]\ncommand = ["true"]\n'
        '[schedules.daily]\njob = "report"\ncron = "0 3 * * *"\n'
        '[schedules.moved]\njob = "tick"\ncron = "0 4 * * *"\nqueue = "reports"\n'
        '[schedules.served]\njob = "tick"\ncron = "0 5 * * *"\n'
    )
    daemon = env.start("up", "-q", "default")
    assert daemon.stderr is not None
    lines = [daemon.stderr.readline() for _ in range(2)]
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)
    assert lines == [
        f"jobctl: warning: schedule {name!r} enqueues into queue 'reports', which this worker"
        " does not serve (--queue default): its runs wait for another worker\n"
        for name in ("daily", "moved")
    ]


def test_a_resume_while_no_daemon_runs_leaves_the_fires_of_the_pause_unrun(env: Env) -> None:
    """`schedule pause`, the service stopped, `schedule resume`, the service started: the
    fires that came while the schedule was paused all ran at the start (catch_up = "all")."""
    env.write_config(
        '[jobs.tick]\ncommand = ["true"]\n\n[schedules.s]\njob = "tick"\n'
        'cron = "* * * * * *"\noverlap = "allow"\ncatch_up = "all"\n'
    )
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    env.run("schedule", "pause", "s", check=True)
    paused = time.time()
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)
    env.wait_for(lambda: time.time() > paused + 3)  # three fires come while it is paused
    resuming = time.time()
    env.run("schedule", "resume", "s", check=True)
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert (entry["paused"], entry["last_status"], entry["last_reason"]) == (
        False,
        "skipped",
        "paused",
    )
    assert stamp(entry["last_fire"]) > paused + 2
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: any((j.fire_time or 0) > resuming for j in stored(env)), timeout=20)
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)
    ran = [stamp(j["fire_time"]) for j in jobs(env)]
    assert [t for t in ran if paused < t <= resuming] == []


def test_a_reload_that_renames_a_schedule_warns_that_overlap_holds_per_name(env: Env) -> None:
    """A schedule renamed while its run goes on starts a second run beside it: overlap holds
    per schedule name. The reload said nothing of it."""
    env.write_config(SECONDS_SCHEDULE)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: len(stored(env)) >= 1, timeout=20)
    env.write_config(SECONDS_SCHEDULE.replace("every-second", "each-second"))
    env.run("reload", check=True)
    env.wait_for(lambda: any(j.schedule == "each-second" for j in stored(env)), timeout=20)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=20)
    (reloaded,) = [line for line in stderr.splitlines() if "scheduler.reloaded" in line]
    assert "WARNING" in reloaded and 'renamed="every-second -> each-second"' in reloaded
    assert "overlap holds per schedule name" in reloaded


def test_schedule_list_warns_of_a_schedule_the_leading_daemon_took_out(env: Env) -> None:
    """A reload took a schedule out; this shell's copy of the config still has it: the time
    table it was planned with was still recorded, and schedule list showed its NEXT as if
    the daemon would fire it."""
    kept = '[jobs.ok]\ncommand = ["true"]\n[schedules.kept]\njob = "ok"\ncron = "0 3 * * *"\n'
    both = kept + '[schedules.gone]\njob = "ok"\ncron = "0 4 * * *"\ntimezone = "UTC"\n'
    env.write_config(both)
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=20)
    env.wait_for(lambda: env.run("schedule", "list", check=True).stderr == "", timeout=20)
    env.write_config(kept)
    env.run("reload", check=True)
    mine = env.root / "mine.toml"
    mine.write_text(both)

    def said() -> str:
        return env.run("--config", str(mine), "schedule", "list", config=False).stderr

    env.wait_for(lambda: "gone (not in its plan)" in said(), timeout=20)
    assert "kept (" not in said()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0


def test_a_daemon_of_another_config_warns_and_leading_takes_the_schedules_it_lacks_out(
    env: Env,
) -> None:
    """A second daemon started by mistake with another --config stood by without a word, took
    the lead at the real one's restart and planned none of its schedules: the time tables the
    real one had recorded stayed, so `schedule list` said nothing while no schedule fired."""
    real = '[jobs.ok]\ncommand = ["true"]\n[schedules.b]\njob = "ok"\ncron = "0 3 * * *"\n'
    env.write_config(real)
    leader = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=20)
    env.wait_for(lambda: env.run("schedule", "list", check=True).stderr == "", timeout=20)
    other = env.root / "other.toml"
    other.write_text('[jobs.ok]\ncommand = ["true"]\n')
    stray_log = env.root / "stray.log"
    with stray_log.open("w") as sink:
        stray = subprocess.Popen(
            [*JOBCTL, "--config", str(other), "--db", str(env.db), "schedule-daemon"],
            stderr=sink,
            env=env.env,
            cwd=env.root,
        )
    try:
        env.wait_for(lambda: "scheduler.other_config" in stray_log.read_text(), timeout=20)
        said = stray_log.read_text()
        assert "scheduler.standby" in said
        assert (
            "the cron daemons of this database plan schedules this config lacks: b;"
            " is another --config in use?" in said
        )
        leader.send_signal(signal.SIGTERM)
        assert leader.wait(timeout=20) == 0
        env.wait_for(lambda: stray_log.read_text().count("scheduler.other_config") == 2, 20)
        warned = [line for line in stray_log.read_text().splitlines() if "other_config" in line]
        assert "WARNING" in warned[1] and "planned schedules this config lacks: b;" in warned[1]
        # The real config's view says the leader does not plan b.
        listed = env.run("schedule", "list", check=True).stderr
        assert "the leading cron daemon" in listed and "b (not in its plan)" in listed
        # A standby of the real config finds nothing the plan holds that its config lacks.
        back = env.start("schedule-daemon")
        env.wait_for(lambda: env.run("status", "--json").stdout.count('"standby"') == 1, 20)
    finally:
        stray.send_signal(signal.SIGTERM)
        assert stray.wait(timeout=20) == 0
    back.send_signal(signal.SIGTERM)
    _, stderr = back.communicate(timeout=20)
    assert "scheduler.other_config" not in stderr


def _daemon_id(env: Env, pid: int) -> str:
    """The id of the cron daemon of process `pid`, as it registered it."""
    with SqliteStore(env.db) as store:
        (found,) = [w.id for w in store.workers() if w.pid == pid and w.kind != "worker"]
    return found


def test_two_cron_daemons_of_one_host_and_pid_keep_records_of_their_own(env: Env) -> None:
    """Containers sharing a host name each run their daemon as pid 2 (behind the init):
    their ids were `scheduler:HOST:2` alike, one record for both, and a standby's clean stop
    erased the leader's, failing `health --require-scheduler` while it led."""
    from jobctl.config import load_config_file
    from jobctl.daemon import Daemon

    env.write_config(SECONDS_SCHEDULE)
    with SqliteStore(env.db) as store:
        config = load_config_file(env.config)
        first, second = Daemon(store, config), Daemon(store, config)
        assert first.id != second.id
        assert first.id.startswith(f"scheduler:{socket.gethostname()}:{os.getpid()}:")


def test_reload_refuses_a_broken_config_in_one_line(env: Env) -> None:
    """It warned first that it went on without the file, then refused it: two lines that
    say opposite things."""
    env.enqueue("--exec", "--", "true")  # the database, made before the config breaks
    env.write_config("[jobs.ok\n")
    for args in ([], ["--config", str(env.root / "nope.toml")]):
        result = env.run(*args, "reload")
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "going on without it" not in result.stderr


def test_cron_next_of_a_schedule_with_a_bad_cron_names_it_as_validate_does(env: Env) -> None:
    """It said only `invalid cron '*/5 * * *': ...`, with no schedule, file or line."""
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n[schedules.tick]\njob = "ok"\ncron = "*/5 * * *"\n'
    )
    refused = env.run("cron", "next", "tick")
    checked = env.run("validate")
    assert refused.returncode == checked.returncode == 2, refused.stderr
    assert refused.stderr == checked.stderr
    assert f"{env.config}:5: [schedules.tick] cron: invalid cron" in refused.stderr
