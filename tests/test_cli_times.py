"""The times `--at` takes besides ISO-8601, as typed at a shell: a time of day, `today` and
`tomorrow`, a one-digit hour, `+DURATION`; the note for a time already past; durations with
blanks between their units. Read by the real CLI in the zone TZ names."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import Env

from jobctl.timefmt import parse_instant

CONFIG = """\
[jobs.record]
command = ["true"]
"""

BERLIN = ZoneInfo("Europe/Berlin")


def enqueued(env: Env, *args: str, stdin: str | None = None) -> tuple[dict[str, Any], str]:
    """The job `enqueue --json ARGS` stored, and what it said on stderr."""
    done = env.run("enqueue", "--json", "record", *args, input=stdin, check=True)
    return json.loads(done.stdout), done.stderr


def instant(iso: Any) -> float:
    assert isinstance(iso, str), iso
    return datetime.fromisoformat(iso).timestamp()


def next_occurrence(clock: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The next `clock` after `now` in `zone`: today's if still ahead, else tomorrow's."""
    today = now.astimezone(zone).date()
    moment = datetime.combine(today, clock, tzinfo=zone)
    if moment <= now:
        moment = datetime.combine(today + timedelta(days=1), clock, tzinfo=zone)
    return moment


def midday_zone() -> tuple[str, ZoneInfo]:
    """A zone without DST where it is 12:00 to 13:59 now: a time of day hours before or
    after is today's or tomorrow's whenever the test runs."""
    ahead = 12 - datetime.now(UTC).hour  # hours east of UTC; Etc/GMT's signs are reversed
    name = f"Etc/GMT{-ahead:+d}" if ahead else "Etc/GMT"
    return name, ZoneInfo(name)


@pytest.fixture
def berlin(env: Env) -> Env:
    env.write_config(CONFIG)
    env.env["TZ"] = "Europe/Berlin"
    env.run("run-worker", "--burst", check=True)  # the database: no note of a new one
    return env


def test_a_time_of_day_is_its_next_occurrence_and_the_note_says_which_day(env: Env) -> None:
    env.write_config(CONFIG)
    name, zone = midday_zone()
    env.env["TZ"] = name
    env.run("run-worker", "--burst", check=True)
    today = datetime.now(zone).date()
    tomorrow = today + timedelta(days=1)
    for text, clock, day in [
        ("16:30", time(16, 30), today),
        ("8:30", time(8, 30), tomorrow),
        ("08:30:15", time(8, 30, 15), tomorrow),
    ]:
        job, said = enqueued(env, "--at", text)
        expected = datetime.combine(day, clock, tzinfo=zone)
        assert instant(job["run_at"]) == expected.timestamp(), text
        assert job["state"] == "scheduled"
        word = "today" if day == today else "tomorrow"
        shown = expected.strftime("%Y-%m-%d %H:%M" + (":%S" if clock.second else "") + " %Z")
        assert re.search(
            rf"^jobctl: note: --at {text} is {word}, {re.escape(shown)} \(in \d+h(\d+m)?\)$",
            said,
            re.M,
        ), said
    job, said = enqueued(env, "--at", "tomorrow 16:30")  # the day named, whatever the time
    assert instant(job["run_at"]) == datetime.combine(tomorrow, time(16, 30), zone).timestamp()
    assert "note" not in said
    job, said = enqueued(env, "--at", "today 8:30")  # named, and past: runs now, said so
    assert job["state"] == "queued" and job["run_at"] == job["created_at"]
    past = re.escape(datetime.combine(today, time(8, 30), zone).isoformat())
    note = rf"^jobctl: note: --at today 8:30 was \S+ ago \({past}\): the job runs now$"
    assert re.search(note, said, re.M), said


def test_a_time_of_day_in_berlin(berlin: Env) -> None:
    now = datetime.now(BERLIN)
    for hours in (3, -3):
        clock = (now + timedelta(hours=hours)).time().replace(second=0, microsecond=0)
        text = f"{clock.hour}:{clock.minute:02d}"  # a one-digit hour as typed: 9:05
        job, said = enqueued(berlin, "--at", text)
        assert instant(job["run_at"]) == next_occurrence(clock, BERLIN, now).timestamp(), text
        assert f"jobctl: note: --at {text} is " in said


def test_a_date_with_a_one_digit_hour_and_the_dst_changes(berlin: Env) -> None:
    job, said = enqueued(berlin, "--at", "2030-12-01 9:00")
    assert instant(job["run_at"]) == datetime(2030, 12, 1, 9, tzinfo=BERLIN).timestamp()
    assert said == ""
    # 02:30 does not exist on 2030-03-31 in Berlin: 03:30 summer time, as ISO reads it.
    job, said = enqueued(berlin, "--at", "2030-03-31 2:30")
    assert job["run_at"] == "2030-03-31T03:30:00.000+02:00"
    assert said == (
        "jobctl: note: --at: 2030-03-31 2:30 does not exist in Europe/Berlin (the clocks skip"
        " it): read as 2030-03-31T03:30:00+02:00\n"
    )
    # 02:30 happens twice on 2030-10-27: the first, summer time.
    job, said = enqueued(berlin, "--at", "2030-10-27 2:30")
    assert job["run_at"] == "2030-10-27T02:30:00.000+02:00"
    assert "happens twice in Europe/Berlin (the clocks go back): read as the first" in said


def test_a_time_of_day_across_a_dst_change_is_that_days() -> None:
    """The day after is the next date, 23 or 25 hours on; a time the clocks skip that day
    is read as any such time is, and said."""
    notes: list[str] = []
    evening = datetime(2030, 3, 30, 23, 0, tzinfo=BERLIN).timestamp()
    read = parse_instant("2:30", "--at", BERLIN, notes, now=evening)
    assert read == datetime.fromisoformat("2030-03-31T03:30:00+02:00").timestamp()
    assert notes == [
        "--at: 2:30 does not exist in Europe/Berlin (the clocks skip it): read as"
        " 2030-03-31T03:30:00+02:00",
        "--at 2:30 is tomorrow, 2030-03-31 03:30 CEST (in 3h30m)",
    ]
    noon = datetime(2030, 3, 30, 12, 0, tzinfo=BERLIN).timestamp()
    tomorrow = parse_instant("tomorrow 12:00", "--at", BERLIN, now=noon)
    assert tomorrow - noon == 23 * 3600
    autumn = datetime(2030, 10, 26, 12, 0, tzinfo=BERLIN).timestamp()
    assert parse_instant("tomorrow 12:00", "--at", BERLIN, now=autumn) - autumn == 25 * 3600
    notes = []
    repeated = parse_instant("2:30", "--at", BERLIN, notes, now=autumn)
    assert repeated == datetime.fromisoformat("2030-10-27T02:30:00+02:00").timestamp()
    assert "happens twice in Europe/Berlin" in notes[0]
    assert notes[1] == "--at 2:30 is tomorrow, 2030-10-27 02:30 CEST (in 14h30m)"


def test_a_time_of_day_in_the_repeated_hour_is_the_second_when_the_first_is_past() -> None:
    """At 02:15 CET, after the clocks went back from 03:00 CEST, the next 02:30 on the wall
    is 02:30 CET in 15 minutes: not tomorrow's, and not the first, 45 minutes ago."""
    second_pass = datetime.fromisoformat("2030-10-27T02:15:00+01:00").timestamp()
    expected = datetime.fromisoformat("2030-10-27T02:30:00+01:00").timestamp()
    for text in ("2:30", "02:30", "today 2:30"):
        notes: list[str] = []
        assert parse_instant(text, "--at", BERLIN, notes, now=second_pass) == expected, text
        assert notes[0] == (
            f"--at: {text} happens twice in Europe/Berlin (the clocks go back): read as the"
            " second, 2030-10-27T02:30:00+01:00; give an offset to choose"
        )
    notes = []
    parse_instant("2:30", "--at", BERLIN, notes, now=second_pass)
    assert notes[1] == "--at 2:30 is today, 2030-10-27 02:30 CET (in 15m)"
    # During the first pass the first is next; once both are past, tomorrow's.
    first_pass = datetime.fromisoformat("2030-10-27T02:15:00+02:00").timestamp()
    first = datetime.fromisoformat("2030-10-27T02:30:00+02:00").timestamp()
    assert parse_instant("2:30", "--at", BERLIN, now=first_pass) == first
    after_both = datetime.fromisoformat("2030-10-27T02:45:00+01:00").timestamp()
    tomorrow = datetime.fromisoformat("2030-10-28T02:30:00+01:00").timestamp()
    assert parse_instant("2:30", "--at", BERLIN, now=after_both) == tomorrow
    # A time the clocks skip is not read as the hour before once it is past.
    spring = datetime.fromisoformat("2030-03-31T03:40:00+02:00").timestamp()
    skipped = datetime.fromisoformat("2030-04-01T02:30:00+02:00").timestamp()
    assert parse_instant("2:30", "--at", BERLIN, now=spring) == skipped


def test_plus_a_duration_is_from_now(berlin: Env) -> None:
    for text, seconds in [("+10m", 600), ("+1h 30m", 5400), ("+0", 0)]:
        job, said = enqueued(berlin, "--at", text)
        assert instant(job["run_at"]) - instant(job["created_at"]) == pytest.approx(
            seconds, abs=0.001
        ), text
        assert said == ""


def test_a_delay_and_a_config_duration_may_have_blanks_between_units(berlin: Env) -> None:
    job, _ = enqueued(berlin, "--delay", "1h 30m")
    assert instant(job["run_at"]) - instant(job["created_at"]) == pytest.approx(5400, abs=0.001)
    berlin.write_config(CONFIG + 'timeout = "1h 30m"\n')  # the config's durations alike
    assert berlin.run("validate", check=True).returncode == 0
    refused = berlin.run("enqueue", "record", "--delay", "1 h")  # not within a unit
    assert refused.returncode == 2 and "--delay: invalid duration '1 h'" in refused.stderr


def test_an_at_already_past_runs_now_with_a_note(berlin: Env) -> None:
    """`--at 2026-11-30T07:00` typed for 17:00 started the job at once without a word."""
    typed = (datetime.now(BERLIN) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    done = berlin.run("enqueue", "--json", "record", "--at", typed)
    assert done.returncode == 0
    job = json.loads(done.stdout)
    assert job["state"] == "queued" and job["run_at"] == job["created_at"]
    shown = re.escape(datetime.fromisoformat(typed).replace(tzinfo=BERLIN).isoformat())
    assert re.fullmatch(
        rf"jobctl: note: --at {typed} was 3h\S* ago \({shown}\): the job runs now\n", done.stderr
    ), done.stderr
    # An offset, far past: the same.
    done = berlin.run("enqueue", "record", "--at", "2020-01-01T00:00:00Z", check=True)
    assert "was " in done.stderr and "the job runs now" in done.stderr


def test_a_batch_says_once_how_many_lines_are_past(berlin: Env) -> None:
    past = (datetime.now(BERLIN) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    lines = [
        {"job": "record", "at": "2020-01-01T00:00:00Z"},
        {"job": "record", "at": "+10m"},
        {"job": "record", "at": past},
        {"job": "record"},
        {"job": "record", "at": "tomorrow 9:00"},
    ] + [{"job": "record", "at": "2020-01-01T00:00:00Z"}] * 3
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    done = berlin.run("enqueue", "--batch", "-", "--at", "+1h", input=stdin, check=True)
    notes = [line for line in done.stderr.splitlines() if "past" in line]
    assert len(notes) == 1, done.stderr  # one for the batch, not one a line
    assert re.fullmatch(
        r"jobctl: note: 5 line\(s\) give an 'at' already past \(the first, <stdin>:1, by"
        r" \S+\): their jobs run now",
        notes[0],
    ), notes
    listed = berlin.run("list", "--json", "--limit", "0", "--oldest-first", check=True)
    jobs = json.loads(listed.stdout)
    assert [job["id"] for job in jobs] == [int(word) for word in done.stdout.split()]
    created = instant(jobs[0]["created_at"])  # the batch's one `now`
    waits = [instant(job["run_at"]) - created for job in jobs]
    assert waits[0] == waits[2] == 0
    assert waits[1] == pytest.approx(600, abs=0.001)  # from when the batch was read
    assert waits[3] == pytest.approx(3600, abs=0.001)  # --at +1h: the lines with no time
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    assert instant(jobs[4]["run_at"]) == datetime.combine(tomorrow, time(9), BERLIN).timestamp()


def test_cron_next_from_takes_the_same_forms(berlin: Env) -> None:
    done = berlin.run(
        "cron", "next", "0 * * * *", "--tz", "Asia/Tokyo", "--from", "tomorrow 9:30", "--json",
        "-n", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    tokyo = ZoneInfo("Asia/Tokyo")
    tomorrow = datetime.now(tokyo).date() + timedelta(days=1)
    assert json.loads(done.stdout) == [
        datetime.combine(tomorrow, time(10), tokyo).isoformat(timespec="seconds")
    ]


@pytest.mark.parametrize("text", ["tomorrow", "25:00", "9.30", "2026-12-1 9:00", "next week"])
def test_an_unreadable_time_lists_the_forms_taken(berlin: Env, text: str) -> None:
    refused = berlin.run("enqueue", "record", "--at", text)
    assert refused.returncode == 2
    assert refused.stderr == (
        f"jobctl: --at: invalid time {text!r}: expected ISO-8601 (2026-05-01T09:30, 2026-05-01"
        " 9:30, 2026-05-01T09:30+02:00), a time of day (21:30, the next to come; today 9:00;"
        " tomorrow 9:00), +DURATION (+10m, +1h30m) or now\n"
    )
    bad = berlin.run("enqueue", "record", "--at", "+10x")
    assert bad.returncode == 2 and "--at: '+10x': invalid duration '10x'" in bad.stderr


def test_the_help_of_at_and_exec(berlin: Env) -> None:
    shown = " ".join(berlin.run("enqueue", "--help", check=True).stdout.split())
    assert "21:30 (the next one), today 9:00, tomorrow 9:00, +10m (from now), or now" in shown
    assert (
        "it runs once (one attempt) unless --max-attempts or [settings] exec_max_attempts"
        " says more" in shown
    )


@pytest.mark.parametrize("text", ["2027-01-01x09:30", "2027-01-01_09:30", "2027-01-01-09:30"])
def test_a_date_and_time_joined_by_another_character_is_refused(text: str) -> None:
    """Python reads any one character between an ISO date and its time: a typo such as
    2027-01-01-09:30 was read as 09:30, not refused."""
    from jobctl.errors import UsageError

    with pytest.raises(UsageError, match="put T or a blank between the date and the time"):
        parse_instant(text, "--at")


def test_the_iso_forms_with_t_or_a_blank_are_read() -> None:
    zone = ZoneInfo("UTC")
    expected = datetime(2027, 1, 1, 9, 30, tzinfo=UTC).timestamp()
    for text in ("2027-01-01T09:30", "2027-01-01t09:30", "2027-01-01 09:30", "20270101T0930"):
        assert parse_instant(text, "--at", zone) == expected
    assert parse_instant("2027-W01-1", "--at", zone) == datetime(2027, 1, 4, tzinfo=UTC).timestamp()
