"""`jobctl stats` as people read it: a SUCCESS short of 100% never reads 100.0%.

Outcomes are recorded through the store exactly as a worker records them (3,000 jobs run
by a real worker took seconds for what one transaction writes); the views are the CLI's.
"""

from __future__ import annotations

import json
import time

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
