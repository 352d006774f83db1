"""`schedule list` names the zone of a NEXT time the clocks going back make happen twice: it
showed `2027-10-31 01:30:00` for the 01:30 of summer time and for the 01:30 an hour later
alike, and at 01:45 summer time the second read as a time already past."""

from __future__ import annotations

import json
import math
import re
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import Env

from jobctl.timefmt import iso, wall_time

HOUR = 3600
LONDON = ZoneInfo("Europe/London")


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_a_wall_time_the_clocks_going_back_repeat_names_its_zone() -> None:
    # 2027-10-31: London's clocks go back from 02:00 BST to 01:00 GMT.
    assert wall_time(at("2027-10-31T00:30:00+00:00"), LONDON) == "2027-10-31 01:30:00 BST"
    assert wall_time(at("2027-10-31T01:30:00+00:00"), LONDON) == "2027-10-31 01:30:00 GMT"


def test_a_wall_time_that_happens_once_stays_as_short_as_before() -> None:
    assert wall_time(at("2027-10-31T02:30:00+00:00"), LONDON) == "2027-10-31 02:30:00"
    assert wall_time(at("2027-10-30T23:59:59+00:00"), LONDON) == "2027-10-31 00:59:59"
    # Just after the clocks go forward (01:00 GMT is 02:00 BST): 02:30 happens once.
    assert wall_time(at("2027-03-28T01:30:00+00:00"), LONDON) == "2027-03-28 02:30:00"
    assert wall_time(at("2027-10-31T01:30:00+00:00"), ZoneInfo("UTC")) == "2027-10-31 01:30:00"


def test_a_repeated_wall_time_of_one_abbreviation_is_told_by_its_offset(tmp_path: Path) -> None:
    folder = tmp_path / "zones"
    change = 2_000_000_000
    _write_zone(folder / "Test" / "Same", change, ("ZZZ", "ZZZ"))
    with (folder / "Test" / "Same").open("rb") as handle:
        zone = ZoneInfo.from_file(handle, key="Test/Same")
    assert wall_time(change - HOUR / 2, zone).endswith(" +01:00")
    assert wall_time(change + HOUR / 2, zone).endswith(" +00:00")


def test_schedule_list_names_the_zone_of_a_next_fire_in_the_repeated_hour(
    env: Env, tmp_path: Path
) -> None:
    """The real CLI at the real time, in a zone whose clocks go back from +01:00 (XST) to
    +00:00 (XGT) 30 minutes from now: its wall clock now reads the hour it will read again."""
    change = math.ceil(time.time() / 60) * 60 + 30 * 60
    zones = tmp_path / "zones"
    _write_zone(zones / "Test" / "Fold", change, ("XST", "XGT"))
    env.env["PYTHONTZPATH"] = str(zones)

    def daily_at(instant: float) -> str:
        """The cron of a daily fire at the wall time `instant` has after the change."""
        wall = datetime.fromtimestamp(instant, UTC)
        return f"{wall.minute} {wall.hour} * * *"

    def hourly_at(instant: float) -> str:
        return f"{datetime.fromtimestamp(instant, UTC).minute} * * * *"

    def wall(instant: float) -> str:
        return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d %H:%M:%S")

    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        # Its wall time happens 15 minutes from now (summer time), and again an hour later.
        f'[schedules.first]\njob = "t"\ncron = "{daily_at(change + 45 * 60)}"\n'
        'timezone = "Test/Fold"\n'
        # Hourly: its wall time of 15 minutes ago comes again in 45 (cron fires both, as
        # every hour), and reads as past.
        f'[schedules.second]\njob = "t"\ncron = "{hourly_at(change + 15 * 60)}"\n'
        'timezone = "Test/Fold"\n'
        # After the repeated hour: one instant, shown as every other time.
        f'[schedules.later]\njob = "t"\ncron = "{daily_at(change + 3 * HOUR)}"\n'
        'timezone = "Test/Fold"\n'
    )
    listed = env.run("schedule", "list", check=True).stdout
    rows = {line.split()[0]: line for line in listed.splitlines()[1:]}
    assert re.search(rf"{wall(change + 45 * 60)} XST \(in \d+m", rows["first"]), listed
    assert re.search(rf"{wall(change + 15 * 60)} XGT \(in \d+m", rows["second"]), listed
    assert re.search(rf"{wall(change + 3 * HOUR)} \(in 3h", rows["later"]), listed
    # The JSON gave the offset already, and still does.
    shown = {s["name"]: s for s in json.loads(env.run("schedule", "list", "--json").stdout)}
    assert shown["first"]["next_fire"] == iso(change - 15 * 60, ZoneInfo("Etc/GMT-1"))
    assert shown["second"]["next_fire"] == iso(change + 15 * 60, UTC)


def _write_zone(path: Path, change: int, names: tuple[str, str]) -> None:
    """A zone file (TZif version 1, RFC 8536) whose clocks are at +01:00 (`names[0]`, summer
    time) from 10 days before `change`, and go back to +00:00 (`names[1]`) at `change`."""
    summer, winter = names
    letters = f"{summer}\0{winter}\0".encode()
    transitions = [change - 10 * 24 * HOUR, change]
    kinds = [(HOUR, 1, 0), (0, 0, len(summer) + 1)]  # utoff, isdst, index of its name
    header = struct.pack(">4sc15x6l", b"TZif", b"\0", 0, 0, 0, len(transitions), 2, len(letters))
    body = struct.pack(f">{len(transitions)}l", *transitions) + bytes([0, 1])
    body += b"".join(struct.pack(">lBB", *kind) for kind in kinds) + letters
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + body)
