"""A time zone named by a folder of the zone database (`Europe`, `America`) or by a name too
long for a file: zoneinfo fails on it with the OSError of its open(), not its own error, and
jobctl said "unexpected error" (exit 1) in validate, `cron next --tz` and every command
reading the config, and a cron daemon that re-read such an edit died."""

from __future__ import annotations

import signal

from chaoslib import one_error_line
from conftest import Env
from test_observe_support import start_logged

JOB = '[jobs.t]\ncommand = ["true"]\n'
SCHEDULE = '[schedules.s]\njob = "t"\ncron = "0 3 * * *"\ntimezone = "{zone}"\n'


def test_a_zone_folder_or_an_overlong_name_is_an_unknown_time_zone(env: Env) -> None:
    for zone in ("Europe", "America", "A" * 300):
        env.write_config(JOB + SCHEDULE.format(zone=zone))
        refused = one_error_line(env.run("validate"), 2, "[schedules.s] timezone")
        assert f"unknown time zone '{zone[:30]}" in refused, refused
    env.write_config(f'[settings]\ntimezone = "Europe"\n{JOB}')
    one_error_line(env.run("validate"), 2, "[settings] timezone: unknown time zone 'Europe'")
    one_error_line(
        env.run("cron", "next", "0 3 * * *", "--tz", "America"),
        2,
        "--tz: unknown time zone 'America'",
    )


def test_import_crontab_leaves_out_a_cron_tz_that_names_a_zone_folder(env: Env) -> None:
    result = env.run("import-crontab", "-", input="CRON_TZ=Europe\n0 3 * * * echo hi\n")
    assert result.returncode == 0, result.stderr
    assert "CRON_TZ ignored: unknown time zone 'Europe'" in result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


def test_a_daemon_keeps_its_config_when_an_edit_names_a_zone_folder(env: Env) -> None:
    env.write_config(JOB + SCHEDULE.format(zone="Europe/Berlin"))
    daemon = start_logged(env, "schedule-daemon")
    try:
        daemon.wait_event(env, "scheduler.leader")
        env.write_config(JOB + SCHEDULE.format(zone="Europe"))
        daemon.proc.send_signal(signal.SIGHUP)
        refused = daemon.wait_event(env, "scheduler.reload_failed")
        assert "unknown time zone 'Europe'" in str(refused), refused
        assert daemon.proc.poll() is None, daemon.text()
    finally:
        assert daemon.stop() == 0, daemon.text()
