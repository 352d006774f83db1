"""Every-hour schedules through DST changes of any size: Australia/Lord_Howe's 30 minutes,
Antarctica/Troll's two hours, and the one-hour changes of Berlin, New York and London.

An hourly schedule runs at most once per real hour, and no every-hour schedule runs twice
closer than its shortest interval; on a forward change the fires are systemd's (the wall
times that exist), less one that would come too soon after the last fire before the change.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import Env

from jobctl import cron

HOUR = 3600
DAY = 86400
ZONES = [
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Europe/Berlin",
    "America/New_York",
    "Europe/London",
]


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def offset(zone: ZoneInfo, instant: int) -> int:
    found = datetime.fromtimestamp(instant, zone).utcoffset()
    assert found is not None
    return int(found.total_seconds())


@functools.cache
def changes(zone_name: str, year: int) -> list[tuple[int, bool]]:
    """The offset changes of a year, on whole minutes: (instant, whether forward).

    Hour by hour, then minute by minute within an hour whose offset differs from the last
    one's (the zones here change at most once in a day)."""
    zone = ZoneInfo(zone_name)
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    found = []
    previous = offset(zone, start)
    for hour in range(start + HOUR, start + 366 * DAY + HOUR, HOUR):
        if offset(zone, min(hour, start + 366 * DAY - 60)) == previous:
            continue
        for instant in range(hour - HOUR, hour, 60):
            current = offset(zone, instant)
            if current != previous:
                found.append((instant, current > previous))
                previous = current
    return found


def walls(fires: list[float], zone: str) -> list[str]:
    return [datetime.fromtimestamp(f, ZoneInfo(zone)).isoformat(timespec="minutes") for f in fires]


def test_lord_howe_hourly_runs_once_in_the_real_hour_of_the_spring_change() -> None:
    """The clocks go from 02:00 to 02:30: the skipped 02:00 does not run 30 minutes
    before 03:00, and 02:30 does not run 30 minutes after 01:30."""
    after = utc("2027-10-02T14:00")
    assert walls(cron.next_fires("0 * * * *", "Australia/Lord_Howe", after, 3), "UTC") == [
        "2027-10-02T14:30+00:00",  # 01:00+10:30
        "2027-10-02T16:00+00:00",  # 03:00+11:00
        "2027-10-02T17:00+00:00",
    ]
    assert walls(cron.next_fires("15 * * * *", "Australia/Lord_Howe", after, 2), "UTC") == [
        "2027-10-02T14:45+00:00",
        "2027-10-02T16:15+00:00",
    ]
    assert walls(cron.next_fires("30 * * * *", "Australia/Lord_Howe", after, 2), "UTC") == [
        "2027-10-02T15:00+00:00",  # 01:30+10:30
        "2027-10-02T16:30+00:00",  # 03:30+11:00; 02:30+11:00 is 15:30, 30 minutes on
    ]


@pytest.mark.parametrize("zone_name", ZONES)
def test_hourly_at_every_minute_runs_at_most_once_per_real_hour(zone_name: str) -> None:
    """Every minute of the hour across Lord Howe's half-hour change, where the minutes
    before and after the half hour take different paths; across a change of whole hours
    every minute takes the same path, and the hour's edges and middle stand for them."""
    zone = ZoneInfo(zone_name)
    whole_hours = all(
        (offset(zone, c) - offset(zone, c - 1)) % HOUR == 0 for c, _ in changes(zone_name, 2027)
    )
    minutes = (0, 1, 29, 30, 31, 58, 59) if whole_hours else range(60)
    for change, _ in changes(zone_name, 2027):
        for minute in minutes:
            fires = cron.fires_between(f"{minute} * * * *", zone, change - DAY, change + DAY)
            assert min(b - a for a, b in itertools.pairwise(fires)) == HOUR, (change, minute)
            latest = cron.fires_between(f"{minute} * * * *", zone, change - DAY, change + DAY, 5)
            assert latest == fires[-5:]
            back = [cron.fires_between(f"{minute} * * * *", zone, 0, f, 1)[0] for f in fires]
            assert back == fires


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("minutes", ["0,45", "*/7", "5-20/5", "10,40", "*/20", "59"])
def test_every_hour_schedules_never_run_closer_than_their_shortest_interval(
    zone_name: str, minutes: str
) -> None:
    fields = cron.parse(f"{minutes} * * * *").fields
    assert fields is not None
    listed = sorted(fields.minutes)
    shortest = 60 * min(b - a for a, b in itertools.pairwise([*listed, listed[0] + 60]))
    zone = ZoneInfo(zone_name)
    for change, _ in changes(zone_name, 2027):
        fires = cron.fires_between(f"{minutes} * * * *", zone, change - DAY, change + DAY)
        assert min(b - a for a, b in itertools.pairwise(fires)) >= shortest, (change, minutes)


def test_hour_steps_keep_rule_4_in_berlin() -> None:
    """Unchanged: `0 */2` runs its skipped 02:00 at 03:00 CEST, two real hours on."""
    fires = cron.next_fires("0 */2 * * *", "Europe/Berlin", utc("2027-03-27T22:30"), 3)
    assert walls(fires, "Europe/Berlin") == [
        "2027-03-28T00:00+01:00",
        "2027-03-28T03:00+02:00",
        "2027-03-28T04:00+02:00",
    ]


def systemd_fires(minute: int, zone: str, base: int, count: int) -> list[float]:
    """The elapses of `*-*-* *:MM:00 ZONE` strictly after `base`, as systemd computes them."""
    result = subprocess.run(
        [
            "systemd-analyze",
            "calendar",
            f"--iterations={count}",
            f"--base-time=@{base}",
            f"*-*-* *:{minute:02d}:00 {zone}",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
    )
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", result.stdout)
    assert len(stamps) == count, result.stdout
    return [utc(stamp.replace(" ", "T")) for stamp in stamps]


def spaced(fires: list[float], interval: float) -> list[float]:
    """`fires` less each that comes sooner than `interval` after the last one kept."""
    kept: list[float] = []
    for fire in fires:
        if not kept or fire - kept[-1] >= interval:
            kept.append(fire)
    return kept


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("zone_name", ZONES)
def test_forward_changes_fire_as_systemd_less_fires_within_the_hour(zone_name: str) -> None:
    """Where systemd fires twice within a real hour (Lord Howe's 01:30 and 02:30), the
    second is dropped; every other fire is systemd's."""
    forward = [change for change, ahead in changes(zone_name, 2027) if ahead]
    assert forward
    for change in forward:
        base = change - 3 * HOUR - 600  # no fire falls on it
        for minute in (0, 15, 29, 30, 31, 45, 59):
            theirs = systemd_fires(minute, zone_name, base, 8)
            ours = cron.next_fires(f"{minute} * * * *", zone_name, base, 7)
            assert ours == spaced(theirs, HOUR)[:7], (zone_name, change, minute)


def test_cron_next_shows_lord_howe_hourly_once_per_real_hour(env: Env) -> None:
    result = env.run(
        "cron",
        "next",
        "0 * * * *",
        "--tz",
        "Australia/Lord_Howe",
        "--from",
        "2027-10-03T00:30",
        "-n",
        "3",
        "--json",
        check=True,
    )
    assert json.loads(result.stdout) == [
        "2027-10-03T01:00:00+10:30",
        "2027-10-03T03:00:00+11:00",
        "2027-10-03T04:00:00+11:00",
    ]
