"""`jobctl stats` as people read it: a SUCCESS short of 100% never reads 100.0%, and a
window that the counters' UTC hours made start earlier than asked, in a zone whose offset
is not whole hours, says so in its header.

Outcomes are recorded through the store exactly as a worker records them (3,000 jobs run
by a real worker took seconds for what one transaction writes); the views are the CLI's.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from conftest import Env
from test_observe_support import opened

from jobctl.models import AttemptResult, NewJob, Outcome
from jobctl.store import Finish

CONFIG = """
[jobs.mostly_ok]
command = ["true"]

[jobs.mostly_dead]
command = ["false"]

[jobs.always_ok]
command = ["true"]

[jobs.never_ok]
command = ["false"]
"""

HOUR = 3600


def _ended(env: Env, job: str, succeeded: int, dead: int) -> None:
    """`succeeded` jobs of type `job` that succeeded and `dead` that failed their only
    attempt, run and ended now."""
    now = time.time()
    total = succeeded + dead
    with opened(env) as store:
        store.enqueue([NewJob(job=job, payload={}, max_attempts=1) for _ in range(total)], now)
        claims = store.claim("past-worker", None, now, 60.0, limit=total)
        assert len(claims) == total
        store.finish(
            [
                Finish(
                    claim,
                    AttemptResult(
                        Outcome.FAILED if index < dead else Outcome.SUCCEEDED,
                        exit_code=1 if index < dead else 0,
                        finished_at=now,
                    ),
                    None,
                )
                for index, claim in enumerate(claims)
            ],
            now,
        )


def test_success_short_of_100_percent_never_reads_100_or_0_percent(env: Env) -> None:
    """2,999 succeeded and 1 dead read 100.0% (`format(2999/3000, ".1%")` rounds up), so
    the one job type with a dead job looked like those without; 1 of 3,000 read 0.0%."""
    env.write_config(CONFIG)
    _ended(env, "mostly_ok", 2999, 1)
    _ended(env, "mostly_dead", 1, 2999)
    _ended(env, "always_ok", 3, 0)
    _ended(env, "never_ok", 0, 3)
    lines = env.run("stats", check=True).stdout.splitlines()
    header = lines[1].split()
    assert header[9] == "SUCCESS", header
    shown = {line.split()[1]: line.split()[2:10] for line in lines[2:]}
    assert shown["mostly_ok"] == ["3000", "3000", "2999", "1", "1", "0", "0", "99.97%"]
    assert shown["mostly_dead"] == ["3000", "3000", "1", "2999", "2999", "0", "0", "0.03%"]
    # (a tenth of a percent where it reaches neither end, whole ends where they are true)
    assert shown["always_ok"][-1] == "100.0%" and shown["never_ok"][-1] == "0.0%"
    rows = json.loads(env.run("stats", "--json", check=True).stdout)
    rates = {row["job"]: row["success_rate"] for row in rows}
    assert rates == {
        "mostly_ok": 2999 / 3000,
        "mostly_dead": 1 / 3000,
        "always_ok": 1.0,
        "never_ok": 0.0,
    }


def _title(env: Env, zone: str, since: str) -> str:
    env.env["TZ"] = zone
    return env.run("stats", "--since", since, check=True).stdout.splitlines()[0]


def test_a_window_started_earlier_by_the_utc_hours_says_so_in_the_header(env: Env) -> None:
    """In India (+05:30), `--since "today 0:00"` counts from 23:30 the day before, as the
    counters are by UTC hour: the header named 23:30 yesterday and no more, as if that were
    what was asked. Nepal's (+05:45) hours start at :45."""
    env.write_config(CONFIG)
    _ended(env, "always_ok", 1, 0)

    def counted_from(zone: str) -> str:
        """The UTC hour today's local midnight falls in, on the local clock."""
        today = datetime.now(ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
        its_hour = today.timestamp() // HOUR * HOUR
        return datetime.fromtimestamp(its_hour, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")

    for zone, early in (("Asia/Kolkata", "30m"), ("Asia/Kathmandu", "15m")):
        before = counted_from(zone)
        title = _title(env, zone, "today 0:00")
        starts = {before, counted_from(zone)}  # (a day may turn meanwhile)
        assert all(start.endswith(("23:30", "23:45")) for start in starts), starts
        assert any(
            title == f"last {title.split()[1]} (since today 0:00), whole hours since {start}"
            f" (UTC hours: {early} before the start asked); SUCCESS = OK / (OK + DEAD)"
            for start in starts
        ), title


def test_a_window_that_starts_as_asked_or_in_a_whole_hour_zone_adds_nothing(env: Env) -> None:
    """The note is for a start the UTC hours moved: a whole-hour zone's header is as it
    was (`--since 5m` at 10:40 counting from 10:00 says only that), and so is one asked to
    start where a UTC hour does (10:30 in India)."""
    env.write_config(CONFIG)
    _ended(env, "always_ok", 1, 0)
    assert re.search(
        r", whole hours since 00:00; SUCCESS", _title(env, "Europe/Berlin", "today 0:00")
    )
    assert "UTC hours" not in _title(env, "Europe/Berlin", "5m")
    utc_hour = (time.time() // HOUR - 1) * HOUR
    at_half_past = datetime.fromtimestamp(utc_hour, ZoneInfo("Asia/Kolkata"))
    assert at_half_past.minute == 30
    title = _title(env, "Asia/Kolkata", at_half_past.strftime("%Y-%m-%dT%H:%M"))
    assert re.search(rf", whole hours since (\S+ )?{at_half_past:%H:%M}; SUCCESS", title), title
    # (a start inside the counters' hour in India says how much earlier it is)
    assert re.search(
        r" \(UTC hours: \S+ before the start asked\); ", _title(env, "Asia/Kolkata", "5m")
    )
