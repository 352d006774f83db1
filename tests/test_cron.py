"""jobctl.cron: parsing, fire times, and the daylight saving rules of its docstring.

Everything is computed from explicit instants: no clock, no sleeping. The property tests
compare the module with an oracle that states the DST rules over instants, one minute
(or second) at a time, instead of over wall-clock slots as the module does.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobctl import cron
from jobctl.errors import EXIT_USAGE, ConfigError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600
DAY = 86400


def utc(text: str) -> float:
    """An instant written as UTC wall time, e.g. "2026-03-29T01:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def local(zone: ZoneInfo, text: str, fold: int = 0) -> float:
    """An instant written as wall time in `zone` (fold=1: the second of a repeated time)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold).timestamp()


def walls(fires: list[float], zone: ZoneInfo) -> list[str]:
    """Fires as local wall times with their offsets, for readable assertions."""
    return [datetime.fromtimestamp(f, zone).isoformat(timespec="minutes") for f in fires]


def gaps(fires: list[float]) -> set[float]:
    return {b - a for a, b in itertools.pairwise(fires)}


def day_fires(expr: str, zone: ZoneInfo, day: str) -> list[float]:
    """The fires during one local calendar day."""
    start = local(zone, f"{day}T00:00") - 1
    following = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    end = local(zone, f"{following}T00:00") - 1
    return cron.fires_between(expr, zone, start, end)


# ---------------------------------------------------------------------------------------------
# Parsing


@pytest.mark.parametrize(
    ("expr", "attribute", "expected"),
    [
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
        ("5/20 * * * *", "minutes", {5, 25, 45}),
        ("0,30 8-18/4 * * *", "hours", {8, 12, 16}),
        ("0 9 * JAN-MAR *", "months", {1, 2, 3}),
        ("0 9 * jan,Jul *", "months", {1, 7}),
        ("0 9 * * MON-FRI", "weekdays", {1, 2, 3, 4, 5}),
        ("0 9 * * 7", "weekdays", {0}),
        ("0 9 * * 5-7", "weekdays", {5, 6, 0}),
        ("0 9 * * sun,SAT", "weekdays", {0, 6}),
        ("0 0 1,15 * *", "days", {1, 15}),
        ("*/10 * * * * *", "seconds", {0, 10, 20, 30, 40, 50}),
        ("* * * * *", "seconds", {0}),
        ("30 0 12 * * *", "hours", {12}),
    ],
)
def test_fields_expand(expr: str, attribute: str, expected: set[int]) -> None:
    fields = cron.parse(expr).fields
    assert fields is not None
    assert getattr(fields, attribute) == frozenset(expected)


@pytest.mark.parametrize(
    ("macro", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_macros_mean_their_expressions(macro: str, equivalent: str) -> None:
    parsed = cron.parse(macro)
    assert parsed.fields == cron.parse(equivalent).fields
    assert parsed.text == macro


def test_text_is_the_expression_with_whitespace_normalized() -> None:
    assert cron.parse("  */5   *\t* * *  ").text == "*/5 * * * *"


def test_every_is_an_interval() -> None:
    parsed = cron.parse("@every 1h30m")
    assert parsed.interval == 5400
    assert parsed.fields is None


@pytest.mark.parametrize(
    ("expr", "either_day"),
    [
        ("0 0 1 * MON", True),
        ("0 0 */2 * MON", True),  # a step restricts the field (POSIX), unlike vixie cron
        ("0 0 1-31 * MON", True),
        ("0 0 * * MON", False),
        ("0 0 */1 * MON", False),
        ("0 0 1 * *", False),
        ("0 0 1 * */1", False),
    ],
)
def test_day_fields_are_ored_only_when_both_restricted(expr: str, either_day: bool) -> None:
    fields = cron.parse(expr).fields
    assert fields is not None
    assert fields.either_day is either_day


@pytest.mark.parametrize(
    ("expr", "keeps_rhythm"),
    [
        ("*/15 * * * *", True),
        ("30 * * * *", True),
        ("0 */2 * * *", True),
        ("0 1-23/2 * * *", True),
        ("0 0-23 * * *", True),
        ("@hourly", True),
        ("30 2 * * *", False),
        ("*/15 2 * * *", False),
        ("0 9-17 * * 1-5", False),
        ("@daily", False),
    ],
)
def test_rhythm_schedules_are_those_with_a_wildcard_or_step_hour(
    expr: str, keeps_rhythm: bool
) -> None:
    fields = cron.parse(expr).fields
    assert fields is not None
    assert fields.keeps_rhythm is keeps_rhythm


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "invalid cron '61 * * * *': minute field '61' out of range 0-59"),
        ("5,61 * * * *", "minute field '5,61': '61' out of range 0-59"),
        ("0 24 * * *", "hour field '24' out of range 0-23"),
        ("0 0 0 * *", "day-of-month field '0' out of range 1-31"),
        ("0 0 * 13 *", "month field '13' out of range 1-12"),
        ("0 0 * * 8", "day-of-week field '8' out of range 0-7"),
        ("60 * * * * *", "second field '60' out of range 0-59"),
        ("* * * *", "expected 5 fields"),
        ("* * * * * * *", "got 7"),
        ("", "invalid cron '': expected 5 fields (minute hour"),
        ("*/0 * * * *", "minute field '*/0' needs a step of at least 1"),
        ("*/x * * * *", "minute field '*/x' needs a step"),
        ("5-2 * * * *", "minute field '5-2' is a range that runs backwards"),
        ("0 0 * * FRI-MON", "day-of-week field 'FRI-MON' is a range that runs backwards"),
        ("1,,2 * * * *", "minute field '1,,2': '' is missing a value"),
        ("0 0 * FOO *", "month field 'FOO' is not a number or a name (JAN-DEC)"),
        ("0 0 * * MOX", "day-of-week field 'MOX' is not a number or a name (SUN-SAT)"),
        ("0 0 * * MON#2", "uses an extension jobctl does not support"),
        ("0 0 L * *", "uses an extension jobctl does not support"),
        ("0 0 ? * *", "uses an extension jobctl does not support"),
        ("H * * * *", "uses an extension jobctl does not support"),
        ("a * * * *", "minute field 'a' is not a number"),
        ("0 0 30 2 *", "day-of-month field '30' never occurs in month field '2'"),
        ("0 0 31 4,6 *", "never occurs"),
        ("@reboot", "@reboot is not supported"),
        ("@fortnightly", "unknown macro '@fortnightly'"),
        ("@daily 5", "@daily takes no fields"),
        ("@every", "@every needs a duration"),
        ("@every soon", "invalid duration 'soon'"),
        ("@every 500ms", "@every needs at least 1s"),
        ("0\u00a05 * * * *", r"minute field '0\xa05' is not a number"),  # blanks only separate
        ("\u00b2 * * * *", "minute field '\u00b2' is not a number"),  # ASCII digits only
    ],
)
def test_errors_name_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse(expr)
    assert message in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=40)
    | st.lists(st.sampled_from(["*", "1", "*/2", "MON", "-", ","])).map(" ".join)
)
def test_any_text_parses_or_raises_a_cron_error(text: str) -> None:
    try:
        parsed = cron.parse(text)
    except cron.CronError as exc:
        assert str(exc).startswith(("invalid cron", "unknown time zone"))
    else:
        assert parsed.fields is not None or parsed.interval is not None


def test_errors_are_configuration_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        cron.parse("61 * * * *")
    assert caught.value.exit_code == EXIT_USAGE


def test_parsing_does_not_import_croniter() -> None:
    """The CLI parses expressions on start-up paths that must not pay for croniter."""
    code = (
        "import sys, jobctl.cron as c; c.parse('*/5 * * * *'); c.describe('@daily'); "
        "c.next_fires('@every 5m', 'UTC', 0, 3); print('croniter' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Fire times without daylight saving


def test_next_fires_are_strictly_after() -> None:
    start = utc("2026-05-01T10:00")
    assert cron.next_fires("*/15 * * * *", "UTC", start, 3) == [
        start + 900,
        start + 1800,
        start + 2700,
    ]
    assert cron.next_fires("*/15 * * * *", "UTC", start - 0.5, 1) == [start]
    assert cron.next_fires("*/15 * * * *", "UTC", start + 0.5, 1) == [start + 900]


def test_next_fires_of_nothing() -> None:
    assert cron.next_fires("* * * * *", "UTC", 0, 0) == []


def test_seconds_field() -> None:
    start = utc("2026-05-01T10:00")
    assert cron.next_fires("*/20 * * * * *", "UTC", start, 4) == [
        start + 20,
        start + 40,
        start + 60,
        start + 80,
    ]
    assert cron.next_fires("30 0 12 * * *", "UTC", start, 1) == [utc("2026-05-01T12:00:30")]


def test_time_zone_given_by_name() -> None:
    fires = cron.next_fires("30 9 * * *", "Europe/Berlin", utc("2026-07-01T00:00"), 1)
    assert fires == [utc("2026-07-01T07:30")]


def test_unknown_time_zone() -> None:
    with pytest.raises(cron.CronError, match="unknown time zone 'Mars/Olympus'"):
        cron.next_fires("* * * * *", "Mars/Olympus", 0, 1)


def test_day_of_month_skips_short_months() -> None:
    fires = cron.next_fires("0 0 31 * *", "UTC", utc("2026-01-31T00:00"), 3)
    assert fires == [utc("2026-03-31T00:00"), utc("2026-05-31T00:00"), utc("2026-07-31T00:00")]


def test_leap_day() -> None:
    assert cron.next_fires("0 0 29 2 *", "UTC", utc("2026-01-01T00:00"), 2) == [
        utc("2028-02-29T00:00"),
        utc("2032-02-29T00:00"),
    ]


def test_either_day_field_matches() -> None:
    fires = cron.next_fires("0 0 1,15 * MON", "UTC", utc("2026-06-01T00:00"), 5)
    days = [datetime.fromtimestamp(f, UTC).strftime("%d %a") for f in fires]
    assert days == ["08 Mon", "15 Mon", "22 Mon", "29 Mon", "01 Wed"]


def test_impossible_day_leaves_the_weekday() -> None:
    fires = cron.next_fires("0 0 31 2 MON", "UTC", utc("2026-01-01T00:00"), 5)
    assert [datetime.fromtimestamp(f, UTC).strftime("%m-%d %a") for f in fires] == [
        "02-02 Mon",
        "02-09 Mon",
        "02-16 Mon",
        "02-23 Mon",
        "02-01 Mon",  # 2027
    ]


def test_wildcard_day_with_weekday_means_that_weekday() -> None:
    fires = cron.next_fires("0 0 */1 * MON", "UTC", utc("2026-06-01T00:00"), 3)
    assert {datetime.fromtimestamp(f, UTC).weekday() for f in fires} == {0}


def test_fires_between_is_start_exclusive_end_inclusive() -> None:
    start, end = utc("2026-05-01T10:00"), utc("2026-05-01T11:00")
    fires = cron.fires_between("*/15 * * * *", "UTC", start, end)
    assert fires == [start + 900, start + 1800, start + 2700, end]


def test_fires_between_limit_keeps_the_most_recent() -> None:
    start, end = utc("2026-05-01T00:00"), utc("2026-05-08T00:00")
    everything = cron.fires_between("0 * * * *", "UTC", start, end)
    assert len(everything) == 7 * 24
    assert cron.fires_between("0 * * * *", "UTC", start, end, limit=5) == everything[-5:]
    assert cron.fires_between("0 * * * *", "UTC", start, end, limit=1) == [end]


def test_fires_between_of_an_empty_range() -> None:
    moment = utc("2026-05-01T00:00")
    assert cron.fires_between("* * * * *", "UTC", moment, moment) == []
    assert cron.fires_between("* * * * *", "UTC", moment, moment - 60) == []
    assert cron.fires_between("* * * * *", "UTC", moment, moment + 3600, limit=0) == []


def test_far_future_ends_quietly() -> None:
    assert cron.next_fires("0 0 1 1 *", "UTC", utc("9998-06-01T00:00"), 3) == []


# ---------------------------------------------------------------------------------------------
# @every


def test_every_is_anchored_on_the_epoch() -> None:
    after = utc("2026-05-01T10:07:13")
    fires = cron.next_fires("@every 1h30m", BERLIN, after, 3)
    assert all(f % 5400 == 0 for f in fires)
    assert fires == [utc("2026-05-01T10:30"), utc("2026-05-01T12:00"), utc("2026-05-01T13:30")]
    # A restart at any moment keeps the same rhythm.
    assert cron.next_fires("@every 1h30m", BERLIN, fires[0], 2) == fires[1:]
    assert cron.next_fires("@every 1h30m", BERLIN, fires[0] - 0.001, 1) == fires[:1]


def test_every_ignores_daylight_saving() -> None:
    change = utc("2026-10-25T01:00")
    fires = cron.next_fires("@every 1h", BERLIN, change - 2 * HOUR, 4)
    assert gaps(fires) == {HOUR}


def test_every_between() -> None:
    start, end = 1000.0, 1000.0 + 10 * 60
    assert cron.fires_between("@every 60s", "UTC", start, end) == [
        float(t) for t in range(1020, 1601, 60)
    ]
    assert cron.fires_between("@every 60s", "UTC", start, end, limit=2) == [1500.0, 1560.0]
    assert cron.fires_between("@every 60s", "UTC", 1020, 1080) == [1080.0]


# ---------------------------------------------------------------------------------------------
# Daylight saving: each rule of the module docstring, in Berlin and New York, two years


@pytest.fixture(
    params=[
        # zone, spring-forward day, its change (UTC), fall-back day, its change, repeated hour
        (BERLIN, "2026-03-29", "2026-03-29T01:00", "2026-10-25", "2026-10-25T01:00", 2),
        (BERLIN, "2027-03-28", "2027-03-28T01:00", "2027-10-31", "2027-10-31T01:00", 2),
        (NEW_YORK, "2026-03-08", "2026-03-08T07:00", "2026-11-01", "2026-11-01T06:00", 1),
        (NEW_YORK, "2025-03-09", "2025-03-09T07:00", "2025-11-02", "2025-11-02T06:00", 1),
    ],
    ids=["berlin-2026", "berlin-2027", "new-york-2026", "new-york-2025"],
)
def dst(request: pytest.FixtureRequest) -> DstCase:
    zone, spring, spring_change, fall, fall_change, repeated = request.param
    return DstCase(zone, spring, utc(spring_change), fall, utc(fall_change), repeated)


class DstCase:
    def __init__(
        self,
        zone: ZoneInfo,
        spring: str,
        spring_change: float,
        fall: str,
        fall_change: float,
        repeated_hour: int,
    ) -> None:
        self.zone = zone
        self.spring = spring
        self.spring_change = spring_change
        self.fall = fall
        self.fall_change = fall_change
        self.repeated_hour = repeated_hour
        self.skipped_hour = 2  # both zones jump from 02:00 to 03:00


def test_rule1_skipped_fixed_time_runs_at_the_change(dst: DstCase) -> None:
    expr = f"30 {dst.skipped_hour} * * *"
    before = dst.spring_change - DAY
    fires = cron.next_fires(expr, dst.zone, before, 3)
    assert fires[0] == before + 30 * 60  # the day before: 02:30 in the old offset
    assert fires[1] == dst.spring_change  # 03:00 in the new offset
    assert fires[2] == dst.spring_change + DAY - 30 * 60  # next day: 02:30 again


def test_rule1_berlin_example() -> None:
    fires = cron.next_fires("30 2 * * *", BERLIN, utc("2026-03-28T12:00"), 2)
    assert walls(fires, BERLIN) == ["2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"]
    assert fires[0] == utc("2026-03-29T01:00")


def test_rule1_several_fires_in_the_gap_run_once(dst: DstCase) -> None:
    fires = day_fires(f"*/15 {dst.skipped_hour} * * *", dst.zone, dst.spring)
    assert fires == [dst.spring_change]
    normal_day = (datetime.fromisoformat(dst.spring) + timedelta(days=1)).date().isoformat()
    assert len(day_fires(f"*/15 {dst.skipped_hour} * * *", dst.zone, normal_day)) == 4


def test_rule1_fixed_time_after_the_gap_is_not_doubled(dst: DstCase) -> None:
    fires = day_fires(f"0 {dst.skipped_hour},{dst.skipped_hour + 1} * * *", dst.zone, dst.spring)
    assert fires == [dst.spring_change]


def test_rule2_repeated_fixed_time_runs_once_at_first_occurrence(dst: DstCase) -> None:
    expr = f"30 {dst.repeated_hour} * * *"
    fires = day_fires(expr, dst.zone, dst.fall)
    assert fires == [dst.fall_change - 30 * 60]
    text = f"{dst.fall}T{dst.repeated_hour:02d}:30"
    assert fires == [local(dst.zone, text, fold=0)]
    assert fires != [local(dst.zone, text, fold=1)]


def test_rule2_every_fire_of_the_repeated_hour_runs_once(dst: DstCase) -> None:
    fires = day_fires(f"*/15 {dst.repeated_hour} * * *", dst.zone, dst.fall)
    assert fires == [dst.fall_change - HOUR + 900 * k for k in range(4)]


def test_rule3_quarter_hours_keep_their_rhythm_in_real_time(dst: DstCase) -> None:
    fall = day_fires("*/15 * * * *", dst.zone, dst.fall)
    assert len(fall) == 25 * 4
    assert gaps(fall) == {900}
    spring = day_fires("*/15 * * * *", dst.zone, dst.spring)
    assert len(spring) == 23 * 4
    assert gaps(spring) == {900}


def test_rule3_hourly_fires_twice_at_the_repeated_wall_time(dst: DstCase) -> None:
    fires = day_fires("30 * * * *", dst.zone, dst.fall)
    assert len(fires) == 25
    assert gaps(fires) == {HOUR}
    repeated = f"{dst.fall}T{dst.repeated_hour:02d}:30"
    assert local(dst.zone, repeated, fold=0) in fires
    assert local(dst.zone, repeated, fold=1) in fires


def test_rule3_new_york_example() -> None:
    fires = cron.next_fires("30 * * * *", NEW_YORK, local(NEW_YORK, "2026-11-01T00:00"), 4)
    assert walls(fires, NEW_YORK) == [
        "2026-11-01T00:30-04:00",
        "2026-11-01T01:30-04:00",
        "2026-11-01T01:30-05:00",
        "2026-11-01T02:30-05:00",
    ]


def test_rule3_hour_step_does_not_run_twice_at_the_repeated_time() -> None:
    fires = day_fires("0 */2 * * *", BERLIN, "2026-10-25")
    assert walls(fires, BERLIN)[:3] == [
        "2026-10-25T00:00+02:00",
        "2026-10-25T02:00+02:00",
        "2026-10-25T04:00+01:00",
    ]
    assert len(fires) == 12


def test_rule3_step_that_lands_on_the_hour_after_the_change() -> None:
    fires = day_fires("0 */3 * * *", BERLIN, "2026-10-25")
    assert walls(fires, BERLIN)[:3] == [
        "2026-10-25T00:00+02:00",
        "2026-10-25T03:00+01:00",
        "2026-10-25T06:00+01:00",
    ]


def test_rule3_hourly_keeps_its_rhythm_across_spring_forward(dst: DstCase) -> None:
    fires = day_fires("30 * * * *", dst.zone, dst.spring)
    assert len(fires) == 23
    assert gaps(fires) == {HOUR}


def test_rule4_skipped_step_runs_two_real_hours_after_the_previous() -> None:
    fires = day_fires("0 */2 * * *", BERLIN, "2026-03-29")
    assert walls(fires, BERLIN)[:4] == [
        "2026-03-29T00:00+01:00",
        "2026-03-29T03:00+02:00",  # the 02:00 run, two real hours after 00:00
        "2026-03-29T04:00+02:00",
        "2026-03-29T06:00+02:00",
    ]
    assert len(fires) == 12


def test_rule4_new_york(dst: DstCase) -> None:
    fires = cron.next_fires("0 */2 * * *", dst.zone, dst.spring_change - 2 * HOUR - 1, 3)
    assert fires == [dst.spring_change - 2 * HOUR, dst.spring_change, dst.spring_change + HOUR]


def test_rule4_shifted_fire_seen_from_inside_the_window() -> None:
    """Asked from just after the change, the 02:00 run (at 03:00 CEST) is still ahead."""
    change = utc("2026-03-29T01:00")
    assert cron.next_fires("0 */2 * * *", BERLIN, change - 1, 1) == [change]
    assert cron.next_fires("0,20 */2 * * *", BERLIN, change, 2) == [change + 20 * 60, change + HOUR]


def test_half_hour_shift_interleaves_shifted_and_regular_fires_of_an_hour_step() -> None:
    """Lord Howe skips 02:00-02:30: an hour step's skipped slots keep the old offset
    (rule 4), the regular slots after the gap keep theirs, each slot fires once."""
    zone = ZoneInfo("Australia/Lord_Howe")
    change = utc("2026-10-03T15:30")
    fires = cron.fires_between("*/7 */2 * * *", zone, change - 20 * 60, change + 40 * 60)
    assert [(f - change) / 60 for f in fires] == [0, 5, 7, 12, 14, 19, 21, 26, 28]
    assert cron.fires_between("*/7 */2 * * *", zone, change - HOUR, change + 10 * 60, 2) == [
        change + 5 * 60,
        change + 7 * 60,
    ]


def test_half_hour_shift_skips_the_skipped_slots_of_an_every_hour_schedule() -> None:
    """An every-hour schedule runs on the wall clock after Lord Howe's gap: its skipped
    slots do not run 30 minutes before the regular ones."""
    zone = ZoneInfo("Australia/Lord_Howe")
    change = utc("2026-10-03T15:30")
    fires = cron.fires_between("*/7 * * * *", zone, change - 20 * 60, change + 30 * 60)
    assert [(f - change) / 60 for f in fires] == [-18, -11, -4, 5, 12, 19, 26, 30]
    assert cron.fires_between("*/7 * * * *", zone, change - HOUR, change + 10 * 60, 2) == [
        change - 4 * 60,
        change + 5 * 60,
    ]


def test_hourly_macro_in_fall_back() -> None:
    fires = day_fires("@hourly", NEW_YORK, "2026-11-01")
    assert len(fires) == 25
    assert gaps(fires) == {HOUR}


def test_midnight_skipped_by_the_change() -> None:
    """Santiago springs forward at midnight: @daily runs at 01:00, right after the change."""
    santiago = ZoneInfo("America/Santiago")
    fires = cron.next_fires("@daily", santiago, utc("2026-09-05T12:00"), 2)
    assert walls(fires, santiago) == ["2026-09-06T01:00-03:00", "2026-09-07T00:00-03:00"]


def test_seconds_keep_their_rhythm_through_both_changes() -> None:
    for change in (utc("2026-03-29T01:00"), utc("2026-10-25T01:00")):
        fires = cron.next_fires("*/10 * * * * *", BERLIN, change - 60, 12)
        assert gaps(fires) == {10}
        assert fires[5] == change


def test_backward_search_agrees_in_the_windows(dst: DstCase) -> None:
    for day in (dst.spring, dst.fall):
        start = local(dst.zone, f"{day}T00:00") - 1
        end = start + DAY + 2 * HOUR
        for expr in ("*/15 * * * *", "30 * * * *", "0 */2 * * *", "*/15 2 * * *", "20 1-3 * * *"):
            everything = cron.fires_between(expr, dst.zone, start, end)
            for limit in (1, 3, 7):
                assert cron.fires_between(expr, dst.zone, start, end, limit) == everything[-limit:]


# ---------------------------------------------------------------------------------------------
# Properties: the module against an oracle that applies the rules instant by instant

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute shift
    "America/Santiago",  # changes at midnight
    "Antarctica/Troll",  # a two-hour shift
    "Pacific/Chatham",  # a 45-minute base offset
    "Asia/Kolkata",  # no changes
]

MINUTES = ["*", "*/15", "0", "30", "0,45", "*/7", "5-20/5", "59", "10,40", "*/20"]
HOURS = ["*", "*/2", "*/3", "2", "1-3", "0-23", "2,3", "1", "0", "23", "*/5", "1-23/2", "0,2"]
DAYS = ["*", "*", "*", "1", "*/2", "25-31", "4,5"]
MONTHS = ["*", "*", "*", "3,4,9,10", "MAR", "OCT-NOV", "4"]
WEEKDAYS = ["*", "*", "*", "SUN", "1-5", "6", "0,6"]

expressions = st.tuples(*(st.sampled_from(f) for f in (MINUTES, HOURS, DAYS, MONTHS, WEEKDAYS)))


def _offset(zone: ZoneInfo, instant: int) -> int:
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _shift_instants(zone: ZoneInfo, year: int) -> list[int]:
    """The changes of a year, on the quarter hour: looked for hour by hour, then by quarter
    hours within an hour whose offset differs (these zones change at most once a day)."""
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    stop = start + 366 * DAY
    found = []
    previous = _offset(zone, start)
    for hour in range(start + HOUR, stop + HOUR, HOUR):
        if _offset(zone, min(hour, stop - 900)) == previous:
            continue
        for instant in range(hour - HOUR, min(hour, stop), 900):
            offset = _offset(zone, instant)
            if offset != previous:
                found.append(instant)
                previous = offset
    return found


SHIFT_INSTANTS = {name: _shift_instants(ZoneInfo(name), 2026) for name in ZONES}


class Oracle:
    """Which instants fire, decided for each instant alone (the docstring's rules 1-4, and
    the spacing of an every-hour schedule after a forward change)."""

    def __init__(self, expr: str, zone: ZoneInfo) -> None:
        fields = cron.parse(expr).fields
        assert fields is not None
        self.fields = fields
        self.zone = zone
        self.step = 1 if fields.seconds != frozenset({0}) else 60
        self.every_hour = len(fields.hours) == 24
        in_an_hour = [
            moment
            for moment in range(3600)
            if moment // 60 in fields.minutes and moment % 60 in fields.seconds
        ]
        self.shortest_gap = min(
            later - earlier
            for earlier, later in itertools.pairwise([*in_an_hour, in_an_hour[0] + 3600])
        )

    def wall(self, instant: int, offset: int) -> datetime:
        return datetime(1970, 1, 1) + timedelta(seconds=instant + offset)

    def fires(self, start: int, end: int) -> list[int]:
        step = self.step
        first = (start // step + 1) * step
        shifts = []  # (at, before, after) of each change near the range; all on whole minutes
        offsets = {}  # of each whole minute; a second has its minute's, as changes fall on one
        before = _offset(self.zone, first // 60 * 60 - DAY - 60)
        for instant in range(first // 60 * 60 - DAY, end + 60, 60):
            after = _offset(self.zone, instant)
            if before != after:
                assert _offset(self.zone, instant - 1) == before, "a change off the whole minute"
                shifts.append((instant, before, after))
            offsets[instant] = before = after
        found = []
        for instant in range(first, end + 1, step):
            if self.fires_at(instant, offsets[instant // 60 * 60], shifts):
                found.append(instant)
        return found

    def fires_at(self, instant: int, offset: int, shifts: list[tuple[int, int, int]]) -> bool:
        """Whether `instant`, whose offset is `offset`, fires."""
        matches = self.fields.matches
        here = self.wall(instant, offset)
        for at, before, after in shifts:
            if self.every_hour and after > before and at <= instant < at + self.shortest_gap:
                # On the wall clock, unless a fire before the change is closer than the gap.
                closer = range(instant - self.shortest_gap + self.step, at, self.step)
                return matches(here) and not any(matches(self.wall(t, before)) for t in closer)
            size = abs(after - before)
            if not at <= instant < at + size:
                continue
            old_wall = self.wall(instant, before)  # the wall time the old offset would show
            if after > before:  # just after a skipped interval
                if self.every_hour:
                    return matches(here)  # its skipped slots do not run
                if self.fields.keeps_rhythm:
                    return matches(here) or matches(old_wall)  # rule 4
                skipped = (self.wall(t, before) for t in range(at, at + size, self.step))
                return matches(here) or (instant == at and any(map(matches, skipped)))  # rule 1
            # a second occurrence of a repeated wall time
            return self.fields.keeps_rhythm and matches(here) and matches(old_wall)  # rules 2, 3
        return matches(here)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=expressions,
    zone_name=st.sampled_from(ZONES),
    shift_index=st.integers(0, 1),
    lead=st.integers(3 * HOUR, 36 * HOUR),
    near=st.integers(-2 * HOUR, 2 * HOUR),
)
def test_fires_match_the_oracle_near_changes(
    fields: tuple[str, ...], zone_name: str, shift_index: int, lead: int, near: int
) -> None:
    expr = " ".join(fields)
    try:
        cron.parse(expr)
    except cron.CronError:
        return  # e.g. day 31 in April only
    zone = ZoneInfo(zone_name)
    shifts = SHIFT_INSTANTS[zone_name] or [int(utc("2026-03-29T01:00"))]
    shift = shifts[shift_index % len(shifts)]
    # Two days (the oracle looks at each minute): the change, 3 to 36 h in, and the moment
    # up to 2 h from it both lie well inside.
    start, end = shift - lead, shift - lead + 2 * DAY
    expected = Oracle(expr, zone).fires(start, end)

    # Forward, over the whole range and fire by fire.
    assert cron.fires_between(expr, zone, start, end) == expected
    chained = cron.next_fires(expr, zone, start, len(expected) + 1)
    assert chained[: len(expected)] == expected
    assert all(fire > end for fire in chained[len(expected) :])
    # Forward and backward from an instant close to the change.
    moment = shift + near
    later = [f for f in expected if f > moment][:8]
    following = cron.next_fires(expr, zone, moment, 8)
    assert following[: len(later)] == later
    assert all(fire > end for fire in following[len(later) :])
    earlier = [f for f in expected if f <= moment]
    assert cron.fires_between(expr, zone, start, moment, 40) == earlier[-40:]
    assert cron.fires_between(expr, zone, start, end, 3) == expected[-3:]


@settings(max_examples=25, deadline=None)
@given(
    seconds=st.sampled_from(["*", "*/10", "0,30", "59", "*/7"]),
    minutes=st.sampled_from(["*", "*/15", "0", "59"]),
    hours=st.sampled_from(["*", "2", "*/2", "1-3"]),
    zone_name=st.sampled_from(["Europe/Berlin", "Australia/Lord_Howe"]),
    shift_index=st.integers(0, 1),
    nudge=st.integers(-2 * HOUR, HOUR),
)
def test_seconds_match_the_oracle_near_changes(
    seconds: str, minutes: str, hours: str, zone_name: str, shift_index: int, nudge: int
) -> None:
    expr = f"{seconds} {minutes} {hours} * * *"
    zone = ZoneInfo(zone_name)
    start = SHIFT_INSTANTS[zone_name][shift_index] + nudge
    end = start + 3 * HOUR
    expected = Oracle(expr, zone).fires(start, end)
    assert cron.fires_between(expr, zone, start, end) == expected
    assert cron.fires_between(expr, zone, start, end, 10) == expected[-10:]


@settings(max_examples=150, deadline=None)
@given(
    fields=expressions,
    zone_name=st.sampled_from([*ZONES, "UTC"]),
    after=st.floats(min_value=40_000_000, max_value=4_000_000_000, allow_nan=False),
)
def test_next_fires_increase_and_match_outside_gaps(
    fields: tuple[str, ...], zone_name: str, after: float
) -> None:
    expr = " ".join(fields)
    try:
        parsed = cron.parse(expr)
    except cron.CronError:
        return
    assert parsed.fields is not None
    zone = ZoneInfo(zone_name)
    fires = cron.next_fires(parsed, zone, after, 12)
    assert fires, "every valid expression fires again"
    assert fires[0] > after
    assert all(a < b for a, b in itertools.pairwise(fires))
    for fire in fires:
        assert fire == int(fire)
        moment = int(fire)
        wall = datetime.fromtimestamp(moment, zone).replace(tzinfo=None)
        just_after_a_skip = _offset(zone, moment - 3 * HOUR) < _offset(zone, moment)
        assert parsed.fields.matches(wall) or just_after_a_skip


@settings(max_examples=100, deadline=None)
@given(fields=expressions, wall=st.datetimes(datetime(1990, 1, 1), datetime(2060, 1, 1)))
def test_fields_agree_with_croniter(fields: tuple[str, ...], wall: datetime) -> None:
    """Our own matcher (used for rule 3) and croniter's calendar must agree."""
    from croniter import croniter

    expr = " ".join(fields)
    try:
        parsed = cron.parse(expr)
    except cron.CronError:
        return
    assert parsed.fields is not None
    wall = wall.replace(second=0, microsecond=0)
    following = croniter(expr, wall - timedelta(minutes=1)).get_next(datetime)
    assert parsed.fields.matches(wall) == (following == wall)


# ---------------------------------------------------------------------------------------------
# describe


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("* * * * *", "every minute"),
        ("*/15 * * * *", "every 15 minutes"),
        ("30 * * * *", "every hour at minute 30"),
        ("30 2 * * *", "at 02:30"),
        ("0 9,17 * * MON-FRI", "at 09:00 and 17:00 on Monday to Friday"),
        ("0 0 1 1 *", "at 00:00 on day 1 of the month in January"),
        ("0 0 1,15 * MON", "at 00:00 on day 1,15 of the month or Monday"),
        # Either day field matching, one allowing every day: every day, as canonical reads it.
        ("0 0 15 * 0-6", "at 00:00"),
        ("0 0 1-31 * MON", "at 00:00"),
        ("0 0 1-31 2 MON", "at 00:00 in February"),
        ("0 */2 * * *", "every 2 hours at minute 0"),
        ("*/10 * * * * *", "every 10 seconds"),
        ("@every 1h30m", "every 1h30m (counted from 1970-01-01 00:00 UTC)"),
        ("@weekly", "at 00:00 on Sunday"),
        # A step that does not divide its field is no even rhythm: 45 then 15 minutes.
        ("*/45 * * * *", "every hour at minute 0,45"),
        ("*/40 * * * * *", "every minute at second 0,40"),
        ("0 */5 * * *", "at 00:00, 05:00, 10:00, 15:00 and 20:00"),
    ],
)
def test_describe(expr: str, text: str) -> None:
    assert cron.describe(expr) == text


# ---------------------------------------------------------------------------------------------
# time tables: the same fire times however written


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("*/20 * * * * *", "0/20  *  * * * *"),
        ("0 9 * * MON-FRI", "0 9 * * mon-fri"),
        ("0 9 * * 1-5", "0 9 * * Mon,Tue,Wed,Thu,Fri"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 0 * * *"),
        ("@weekly", "0 0 * * 7"),
        ("@hourly", "0 */1 * * *"),
        ("0 0 * * *", "0 0 1-31 * *"),
        ("0 0 * * *", "0 0 * * 0-6"),
        ("0 0 * * *", "0 0 1-31 * 1"),  # either day field, one of them every day: every day
        ("@every 90s", "@every 1m30s"),
    ],
)
def test_spellings_of_one_time_table_have_one_canonical_text(one: str, other: str) -> None:
    assert cron.parse(one).canonical == cron.parse(other).canonical


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("*/20 * * * *", "*/20 * * * * *"),  # minutes, then seconds
        ("0 0 * * 1", "0 0 1 * 1"),  # Mondays, or Mondays and the 1st
        ("0 */2 * * *", "0 0,2,4,6,8,10,12,14,16,18,20,22 * * *"),  # rules 3 and 4 differ
        ("@every 60s", "* * * * *"),
        ("@every 90s", "@every 91s"),
    ],
)
def test_other_time_tables_have_other_canonical_texts(one: str, other: str) -> None:
    assert cron.parse(one).canonical != cron.parse(other).canonical


def test_the_canonical_text_lists_the_values_each_field_allows() -> None:
    assert cron.parse("*/20 * * * *").canonical == "0 0,20,40 * * * * rhythm"
    assert cron.parse("0 8 1,15 * MON").canonical == "0 0 8 1,15 * 1 either-day"
    assert cron.parse("@every 1.5s").canonical == "@every 1.5s"


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("UTC", "Etc/UTC", True),
        ("UTC", "Zulu", True),
        ("UTC", "Etc/GMT", True),  # another abbreviation: the same offsets
        ("Asia/Calcutta", "Asia/Kolkata", True),
        ("US/Eastern", "America/New_York", True),
        ("UTC", "Europe/London", False),
        ("Europe/Berlin", "Europe/Paris", False),  # one offset now, another before 1940
        ("America/New_York", "America/Toronto", False),
        ("UTC", "No/Such_Zone", False),
        ("Etc/UTC", "../zoneinfo/Etc/UTC", False),  # no zone key: no file is read for it
    ],
)
def test_zone_names_of_one_set_of_rules_are_the_same_zone(one: str, other: str, same: bool) -> None:
    assert cron.same_zone(one, other) is same
    assert cron.same_zone(other, one) is same


def test_zones_of_the_tzdata_package_compare_alike() -> None:
    """Where the system has no zone files, zoneinfo reads the tzdata package; so does this."""
    check = (
        "import zoneinfo; from jobctl import cron; assert zoneinfo.TZPATH == ();"
        "print(cron.same_zone('UTC', 'Etc/GMT'), cron.same_zone('Asia/Calcutta', 'Asia/Kolkata'),"
        " cron.same_zone('UTC', 'Europe/Berlin'))"
    )
    env = {"PYTHONTZPATH": "", "PATH": "/usr/bin:/bin", **_pythonpath()}
    done = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "True", "False"]


def _pythonpath() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


@pytest.mark.parametrize(
    ("recorded", "now", "changes"),
    [
        ("0/20  *  * * * * UTC", ("*/20 * * * * *", "Etc/UTC"), {}),
        ("@daily Etc/GMT", ("0 0 * * *", "Zulu"), {}),
        ("@every 6h UTC", ("@every 360m", "Asia/Tokyo"), {}),  # an interval has no zone
        ("0 3 * * * UTC", ("30 4 * * *", "UTC"), {"cron": "0 3 * * * -> 30 4 * * *"}),
        ("0 3 * * * UTC", ("0 3 * * *", "Asia/Tokyo"), {"timezone": "UTC -> Asia/Tokyo"}),
        ("@every 6h UTC", ("0 */6 * * *", "UTC"), {"cron": "@every 6h -> 0 */6 * * *"}),
    ],
)
def test_a_recorded_time_table_reads_back_and_compares_by_its_fires(
    recorded: str, now: tuple[str, str], changes: dict[str, str]
) -> None:
    """The daemons record "<cron> <zone>" as written (schema 3): read back, it compares by
    what it fires on, not by its text."""
    before = cron.TimeTable.read(recorded)
    assert before is not None
    assert before.changes(cron.TimeTable(cron.parse(now[0]), now[1])) == changes


def test_a_recorded_time_table_whose_cron_no_longer_reads_is_none() -> None:
    assert cron.TimeTable.read("0 3 * * * L UTC") is None


def test_count_fires_counts_a_calendar_up_to_a_limit_an_interval_in_full() -> None:
    start = utc("2026-06-01T00:00")
    assert cron.count_fires("0 * * * *", "UTC", start, start + DAY, 100) == 24
    assert cron.count_fires("* * * * *", "UTC", start, start + DAY, 100) is None
    assert cron.count_fires("@every 1m", "UTC", start, start + DAY, 100) == 1440
    assert cron.count_fires("@every 1m", "UTC", start + 30, start + 90, 100) == 1
