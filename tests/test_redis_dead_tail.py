"""The end of an attempt's output that the Redis store keeps, as `dead show` and `logs`
print it once the log file is gone: from a line's start, as a file's last lines are read,
or after the line that says how much of its one long line was dropped.

Each test runs the real command in subprocesses against the session's redis-server
(tests/redis_server.py), in a namespace of its own.
"""

from __future__ import annotations

import json
import os
import re

from redis_server import RedisEnv

# 1,000 lines of 30 bytes: the last 16 KiB (16,384 bytes) start inside row 00453.
CONFIG = """
[jobs.lines]
command = ["python3", "-c", "[print(f'row {i:05d} ' + 'x' * 19) for i in range(1000)]; exit(3)"]
max_attempts = 1

[jobs.one_line]
command = ["python3", "-c", "print('y' * 20000, end=''); exit(3)"]
max_attempts = 1
"""


def _dead_with_its_log_gone(env: RedisEnv, job: str) -> int:
    """A job run dead here, its log file removed: the store's tail is all that is left."""
    job_id = env.enqueue(job)
    env.run("run-worker", "--burst", check=True)
    shown = json.loads(env.run("dead", "show", str(job_id), "--json", check=True).stdout)
    os.remove(shown["attempts_history"][0]["log_path"])
    return job_id


def test_a_stored_tail_cut_inside_a_line_starts_at_the_next_line(redis_env: RedisEnv) -> None:
    env = redis_env
    env.write_config(CONFIG)
    job_id = _dead_with_its_log_gone(env, "lines")
    whole = re.compile(r"row \d{5} x{19}")
    logs = env.run("logs", str(job_id))
    assert logs.returncode == 1 and "gone" in logs.stderr
    rows = logs.stdout.split("\n")
    assert rows[-1] == "" and rows[-2] == "row 00999 " + "x" * 19
    assert rows[0] == "row 00454 " + "x" * 19  # not the end of row 00453
    assert all(whole.fullmatch(row) for row in rows[:-1])
    dead = json.loads(env.run("dead", "show", str(job_id), "--json", check=True).stdout)
    tail = dead["attempts_history"][0]["log_tail"]
    assert all(whole.fullmatch(row) for row in tail.split("\n"))
    every = env.run("dead", "show", str(job_id), "--lines", "1000", check=True).stdout
    shown = [line.strip() for line in every.split("\n") if line.strip().startswith("row")]
    assert shown[0] == "row 00454 " + "x" * 19 and len(shown) == 546


def test_a_stored_tail_of_one_long_line_says_how_much_was_dropped(redis_env: RedisEnv) -> None:
    env = redis_env
    env.write_config(CONFIG)
    job_id = _dead_with_its_log_gone(env, "one_line")
    dead = json.loads(env.run("dead", "show", str(job_id), "--json", check=True).stdout)
    first, rest = dead["attempts_history"][0]["log_tail"].split("\n")
    assert re.fullmatch(
        r"\[\.\.\. 3616 bytes of earlier output dropped \(log file \d+\) \.\.\.\]", first
    )
    assert rest == "y" * 16384
    logs = env.run("logs", str(job_id))
    assert logs.returncode == 1
    assert logs.stdout == first + "\n" + "y" * 16384
