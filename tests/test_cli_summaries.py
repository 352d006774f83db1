"""Lines people read as sentences: `validate`'s summary and the `--db` help."""

from __future__ import annotations

import pytest
from conftest import Env

from jobctl.store.redis.location import parse_location


@pytest.mark.parametrize(
    ("jobs", "schedules", "summary"),
    [
        (1, 1, "ok (1 job, 1 schedule)"),
        (2, 0, "ok (2 jobs, 0 schedules)"),
        (1, 3, "ok (1 job, 3 schedules)"),
    ],
)
def test_validate_counts_one_job_and_one_schedule_in_the_singular(
    env: Env, jobs: int, schedules: int, summary: str
) -> None:
    """It said `ok (1 jobs, 1 schedules)`."""
    text = "".join(f'[jobs.j{n}]\ncommand = ["true"]\n' for n in range(jobs))
    text += "".join(f'[schedules.s{n}]\njob = "j0"\ncron = "@daily"\n' for n in range(schedules))
    env.write_config(text)
    result = env.run("validate", check=True)
    assert result.stdout == f"{env.config}: {summary}\n"


def test_db_help_names_the_redis_locations_the_store_takes(env: Env) -> None:
    """The help said `redis://[:password@]host:port/N`: no user, no TLS, a port and a database
    seemingly required, where the store takes all of these."""
    shape = "redis[s]://[[user]:password@]host[:port][/db]"
    helped = " ".join(env.run("--help", check=True, config=False).stdout.split())
    assert f"a SQLite file, or {shape} (default:" in helped
    for location in (
        "redis://queue.internal",
        "redis://:secret@queue.internal:6380/2",
        "redis://jobctl:secret@queue.internal/1",
        "rediss://queue.internal:6380",
    ):
        assert parse_location(location).shown.startswith(location.split("://")[0] + "://")
    refused = env.run("--db", "redis:///0", "list", config=False)
    assert refused.returncode == 2  # a location that names no database: bad usage
    assert refused.stderr == f"jobctl: redis:///0: expected {shape}\n"  # the help's shape
