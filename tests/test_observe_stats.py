"""`jobctl stats`: counts per queue and job type, percentiles, the window, and prune.

The counts come from counters kept beside the jobs, so deleting finished jobs (prune) must
not change them; jobs from hours ago are written through the store with their real past
timestamps to check the window.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from conftest import Env
from test_observe_support import enqueue_at, finish_at, parse_exposition, sample, series

from jobctl.models import NewJob, Outcome

CONFIG = """
[jobs.ok]
command = ["true"]

[jobs.flaky]
command = ["sh", "-c", "exit 3"]
max_attempts = 2
backoff = "10ms"
jitter = false

[jobs.later]
command = ["true"]

[jobs.nap]
command = ["sleep", "{secs}"]
"""

COUNTS = ("enqueued", "processed", "succeeded", "failed_attempts", "dead", "cancelled")


def stats(env: Env, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = json.loads(env.run("stats", "--json", *args, check=True).stdout)
    assert isinstance(rows, list)
    return {(row["queue"], row["job"]): row for row in rows}


def _activity(env: Env) -> None:
    """3 ok + 1 ok in queue mail, 1 flaky (2 failed attempts, dead), 1 later cancelled and
    1 later still waiting."""
    env.write_config(CONFIG)
    for _ in range(3):
        env.enqueue("ok")
    env.enqueue("ok", "--queue", "mail")
    env.enqueue("flaky")
    cancelled = env.enqueue("later", "--delay", "1h")
    env.run("cancel", str(cancelled), check=True)
    env.enqueue("later", "--delay", "1h")
    env.run("run-worker", "--burst", check=True)


def test_stats_counts_per_queue_and_job_type(env: Env) -> None:
    _activity(env)
    rows = stats(env)
    assert set(rows) == {
        ("default", "ok"),
        ("mail", "ok"),
        ("default", "flaky"),
        ("default", "later"),
    }

    def counts(key: tuple[str, str]) -> dict[str, Any]:
        return {k: rows[key][k] for k in (*COUNTS, "pending", "success_rate")}

    assert counts(("default", "ok")) == {
        "enqueued": 3,
        "processed": 3,
        "succeeded": 3,
        "failed_attempts": 0,
        "dead": 0,
        "cancelled": 0,
        "pending": 0,
        "success_rate": 1.0,
    }
    assert counts(("mail", "ok"))["enqueued"] == 1 and counts(("mail", "ok"))["succeeded"] == 1
    assert counts(("default", "flaky")) == {
        "enqueued": 1,
        "processed": 2,
        "succeeded": 0,
        "failed_attempts": 2,
        "dead": 1,
        "cancelled": 0,
        "pending": 0,
        "success_rate": 0.0,
    }
    assert counts(("default", "later")) == {
        "enqueued": 2,
        "processed": 0,
        "succeeded": 0,
        "failed_attempts": 0,
        "dead": 0,
        "cancelled": 1,
        "pending": 1,
        "success_rate": None,
    }
    for key in (("default", "ok"), ("default", "flaky")):
        row = rows[key]
        assert 0 <= row["run_p50"] <= row["run_p95"] <= row["run_max"] < 30
        assert 0 <= row["wait_p50"] <= row["wait_p95"] < 60
        timings = [row[k] for k in ("run_p50", "run_p95", "run_max", "wait_p50", "wait_p95")]
        assert all(t == round(t, 3) for t in timings), timings  # seconds, to the millisecond
    later = rows[("default", "later")]
    assert [later[k] for k in ("run_p50", "run_p95", "run_max", "wait_p50")] == [None] * 4


def test_stats_percentiles_are_observed_run_times(env: Env) -> None:
    env.write_config(CONFIG)
    for secs in ("0", "0", "0", "0.4"):
        env.enqueue("nap", "--arg", f"secs={secs}")
    env.run("run-worker", "--burst", check=True)
    row = stats(env)[("default", "nap")]
    assert row["processed"] == 4
    assert row["run_p50"] < 0.4 <= row["run_p95"] == row["run_max"] < 10


def test_stats_table_for_people(env: Env) -> None:
    _activity(env)
    result = env.run("stats", check=True)
    lines = result.stdout.splitlines()
    assert "last 24h" in lines[0]
    header = lines[1].split()
    assert header[:10] == [
        "QUEUE",
        "JOB",
        "ENQUEUED",
        "PROCESSED",
        "OK",
        "FAILED",
        "DEAD",
        "CANCELLED",
        "PENDING",
        "SUCCESS",
    ]
    assert header[10:] == ["RUN", "P50", "P95", "MAX", "WAIT", "P50", "P95"]
    by_job = {(line.split()[0], line.split()[1]): line.split() for line in lines[2:]}
    assert by_job[("default", "ok")][2:10] == ["3", "3", "3", "0", "0", "0", "0", "100.0%"]
    assert by_job[("default", "flaky")][2:10] == ["1", "2", "0", "2", "1", "0", "0", "0.0%"]
    assert by_job[("default", "later")][2:9] == ["2", "0", "0", "0", "0", "1", "1"]


def test_stats_counts_survive_prune(env: Env) -> None:
    _activity(env)
    before = stats(env)
    metrics_before = parse_exposition(env.run("metrics", check=True).stdout)[1]
    pruned = env.run("prune", "--older-than", "0s", check=True)
    assert pruned.stdout.startswith("pruned 6 job(s)")
    remaining = json.loads(env.run("list", "--json", "--limit", "0", check=True).stdout)
    assert [job["state"] for job in remaining] == ["scheduled"]  # only the waiting one is left
    after = stats(env)
    assert set(after) == set(before)
    for key, row in before.items():
        assert {k: after[key][k] for k in COUNTS} == {k: row[k] for k in COUNTS}, key
        assert after[key]["pending"] == row["pending"]
        assert after[key]["success_rate"] == row["success_rate"]
    # The Prometheus counters and histograms do not go back either.
    metrics_after = parse_exposition(env.run("metrics", check=True).stdout)[1]
    for name in (
        "jobctl_job_runs_total",
        "jobctl_job_duration_seconds_count",
        "jobctl_job_wait_seconds_count",
        "jobctl_job_duration_seconds_bucket",
    ):
        assert series(metrics_after, name) == series(metrics_before, name), name
    # New work after the prune adds to what was counted before it.
    env.enqueue("ok")
    env.run("run-worker", "--burst", check=True)
    row = stats(env)[("default", "ok")]
    assert (row["enqueued"], row["processed"], row["succeeded"]) == (4, 4, 4)
    metrics = parse_exposition(env.run("metrics", check=True).stdout)[1]
    assert sample(metrics, "jobctl_job_runs_total", job_type="ok", outcome="succeeded") == 5


def test_stats_counts_survive_a_prune_through_the_store(env: Env) -> None:
    """The store's own deletion (what workers' keep_succeeded/keep_dead use) keeps counts."""
    from test_observe_support import opened

    from jobctl.models import State

    _activity(env)
    before = stats(env)
    with opened(env) as store:
        store.delete_jobs(states=[State.SUCCEEDED, State.DEAD, State.CANCELLED])
    after = stats(env)
    for key, row in before.items():
        assert {k: after[key][k] for k in COUNTS} == {k: row[k] for k in COUNTS}, key


def test_stats_window(env: Env) -> None:
    env.write_config(CONFIG)
    three_hours_ago = time.time() - 3 * 3600
    finish_at(env, "ok", three_hours_ago, 2.0, Outcome.SUCCEEDED)
    finish_at(env, "flaky", three_hours_ago + 60, 1.0, Outcome.FAILED)
    env.enqueue("ok")
    env.run("run-worker", "--burst", check=True)

    recent = stats(env, "--since", "1h")
    assert set(recent) == {("default", "ok")}
    assert (recent[("default", "ok")]["enqueued"], recent[("default", "ok")]["processed"]) == (1, 1)
    assert recent[("default", "ok")]["run_max"] < 2.0  # the old 2s run is outside the window

    wider = stats(env, "--since", "4h")
    ok = wider[("default", "ok")]
    assert (ok["enqueued"], ok["processed"], ok["succeeded"]) == (2, 2, 2)
    assert ok["run_max"] == pytest.approx(2.0)
    flaky = wider[("default", "flaky")]
    assert (flaky["processed"], flaky["failed_attempts"], flaky["dead"]) == (1, 1, 1)
    assert stats(env) == wider  # the default window is 24h


def test_stats_wait_time_counts_from_when_the_job_was_due(env: Env) -> None:
    env.write_config(CONFIG)
    now = time.time()
    # Enqueued 10 minutes ago to run 2 seconds ago: it has waited about 2 seconds, not 10m.
    enqueue_at(env, now - 600, NewJob(job="later", payload={}, run_at=now - 2))
    env.run("run-worker", "--burst", check=True)
    metrics = parse_exposition(env.run("metrics", check=True).stdout)[1]
    waited = sample(metrics, "jobctl_job_wait_seconds_sum", queue="default", job_type="later")
    assert 2 <= waited < 60
    row = stats(env)[("default", "later")]
    assert 2 <= row["wait_p50"] < 60, row


def test_stats_of_an_empty_database_and_bad_options(env: Env) -> None:
    env.write_config(CONFIG)
    missing = env.run("stats")
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    env.enqueue("later", "--delay", "1h")
    assert stats(env)[("default", "later")]["pending"] == 1
    bad = env.run("stats", "--since", "yesterday")
    assert bad.returncode == 2
    assert bad.stderr.startswith("jobctl: --since: invalid duration or time 'yesterday'")


def test_stats_refuse_a_window_past_the_hours_counted_by_the_hour(env: Env) -> None:
    """Hours older than 35 days are one lifetime total: `--since 40d` counted the 35 days
    kept under a header saying 40, as if nothing had run before them."""
    env.write_config(CONFIG)
    finish_at(env, "ok", time.time() - 40 * 86400, 2.0, Outcome.SUCCEEDED)
    env.run("prune", "--older-than", "100d", check=True)  # folds hours older than 35 days
    past = env.run("stats", "--since", "40d")
    assert (past.returncode, past.stdout) == (2, "")
    assert past.stderr == (
        "jobctl: --since 40d: stats counts by the hour for the last 35 days only (older hours"
        " are one lifetime total, which `jobctl metrics` exports): give a window of 35d or less\n"
    )
    assert env.run("stats", "--since", "35d", "--json", check=True).stdout == "[]\n"


def test_stats_leave_attempts_given_back_out_of_processed_and_run_times(tmp_path: Any) -> None:
    """Starts given back at the host's limits made `processed` 200 for 30 jobs, and a run p50
    of 4 ms for jobs that all took 2 s."""
    from jobctl.models import AttemptResult
    from jobctl.observe.stats import collect
    from jobctl.store import Finish
    from jobctl.store.sqlite import SqliteStore

    now = time.time()
    with SqliteStore(tmp_path / "q.db") as store:
        store.enqueue([NewJob(job="t", payload={})], now - 10)
        for _ in range(3):  # three starts given back
            (claim,) = store.claim("w", None, now - 9, 30.0)
            store.release([claim], now - 9, "not started")
        (claim,) = store.claim("w", None, now - 8, 30.0)
        store.finish(
            [Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0, finished_at=now - 6))],
            now - 6,
        )
        (row,) = collect(store, now - 3600)
    assert (row.processed, row.succeeded) == (1, 1)
    assert row.run_p50 == pytest.approx(2.0)


def test_stats_take_a_time_linear_in_the_queue_and_job_pairs(tmp_path: Any) -> None:
    """Each (queue, job type) pair scanned every count for its processed attempts: 10,000
    pairs took 5 s, 20,000 took 29 s, and a million never ended."""
    from jobctl.observe.stats import collect
    from jobctl.store.sqlite import SqliteStore

    now = time.time()
    pairs = 30_000
    with SqliteStore(tmp_path / "q.db") as store:
        store.enqueue(
            [NewJob(job=f"t{i % 100}", payload={}, queue=f"q{i // 100}") for i in range(pairs)],
            now - 10,
        )
        started = time.monotonic()
        rows = collect(store, now - 3600)
        took = time.monotonic() - started
    assert len(rows) == pairs
    assert {(r.enqueued, r.processed, r.pending) for r in rows} == {(1, 0, 1)}
    assert took < 10, f"stats over {pairs} pairs took {took:.1f}s"


def test_stats_header_names_the_whole_hours_its_counts_cover(env: Env) -> None:
    """`stats --since 5m` said "last 5m" over counts of the whole hour, up to 59 minutes
    more than asked: the header now names the hour they start at."""
    from datetime import datetime

    def hour_start(ts: float, shown: str = "%H:%M") -> str:
        return datetime.fromtimestamp(ts // 3600 * 3600).astimezone().strftime(shown)

    env.write_config(CONFIG)
    env.enqueue("ok")
    before = time.time()
    title = env.run("stats", "--since", "5m", check=True).stdout.splitlines()[0]
    after = time.time()
    hours = {hour_start(before - 300), hour_start(after - 300)}  # (an hour may turn meanwhile)
    assert any(f"last 5m, whole hours since {h};" in title for h in hours), title
    yesterday = hour_start(after - 86400, "%Y-%m-%d")
    assert f"whole hours since {yesterday} " in env.run("stats", check=True).stdout.splitlines()[0]
