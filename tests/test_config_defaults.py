"""The defaults that README and jobs.toml.example document, the bounds validate holds a
config to, and the retry delay as a number: the other tests set each value they rely on,
so a changed default or an off-by-one at a limit passed them all."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

import pytest
from chaoslib import one_error_line
from conftest import Env
from test_ops_support import start_worker

from jobctl.config import JobType, Settings, load_config
from jobctl.retry import retry_delay

MINIMAL = '[jobs.t]\ncommand = ["true"]\n'


def _loaded(tmp_path: Path, text: str = MINIMAL) -> tuple[JobType, Settings]:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    config = load_config(str(path), required=True)
    return config.jobs["t"], config.settings


# ---------------------------------------------------------------------------------------------
# Defaults, as jobs.toml.example documents them


def test_a_job_type_that_says_nothing_gets_the_documented_defaults(tmp_path: Path) -> None:
    """kill_grace "10s", max_attempts 3, backoff "1s", backoff_max "1h", jitter true, queue
    "default", priority 0; a timeout and a hook_timeout of its own only when it names one."""
    job_type, _ = _loaded(tmp_path)
    assert job_type == JobType(
        name="t",
        command=("true",),
        shell=False,
        cwd=None,
        env={},
        timeout=None,
        kill_grace=10.0,
        max_attempts=3,
        backoff=1.0,
        backoff_max=3600.0,
        jitter=True,
        queue="default",
        priority=0,
        description=None,
        user=None,
        group=None,
        on_failure=None,
        on_dead=None,
        hook_timeout=None,
    )


def test_settings_that_say_nothing_get_the_documented_defaults(tmp_path: Path) -> None:
    """lease "30s" (a dead worker's jobs run again after it), max_payload "64KiB",
    log_max_bytes "10MiB", durability "full", hook_timeout "30s", keep everything, and one
    attempt of an `enqueue --exec` command."""
    _, settings = _loaded(tmp_path)
    assert settings == Settings(
        db=None,
        lease=30.0,
        max_payload=64 * 1024,
        log_dir=None,
        log_max_bytes=10 * 1024 * 1024,
        timezone=None,
        durability="full",
        keep_succeeded=None,
        keep_dead=None,
        keep_cancelled=None,
        log_format="text",
        log_level="info",
        on_failure=None,
        on_dead=None,
        hook_timeout=30.0,
        allow_exec=None,
        exec_max_attempts=1,
    )


# ---------------------------------------------------------------------------------------------
# Durations that must be positive: a 0 would mean "no limit" to the code that reads them


@pytest.mark.parametrize(
    ("table", "setting", "message"),
    [
        ("jobs.t", 'timeout = "0"', "must be longer than 0s (leave it out for no timeout)"),
        ("jobs.t", 'timeout = "0s"', "must be longer than 0s (leave it out for no timeout)"),
        ("jobs.t", 'hook_timeout = "0"', "must be longer than 0s"),
        ("settings", 'hook_timeout = "0"', "must be longer than 0s"),
        ("settings", 'lease = "0"', "must be at least 1s"),
    ],
    ids=["timeout", "timeout-0s", "hook_timeout", "settings-hook_timeout", "lease"],
)
def test_a_zero_duration_that_must_be_positive_is_refused_at_its_line(
    env: Env, table: str, setting: str, message: str
) -> None:
    """`timeout = "0"` passed as "no timeout": a job that was meant to be stopped could hang
    for good."""
    if table == "settings":
        env.write_config(f"[settings]\n{setting}\n" + MINIMAL)
        line = 2
    else:
        env.write_config(f'[jobs.t]\ncommand = ["sleep", "5"]\n{setting}\n')
        line = 3
    key = setting.split(" = ")[0]
    refused = one_error_line(env.run("validate"), 2)
    assert refused.endswith(f":{line}: [{table}] {key}: {message}"), refused


# ---------------------------------------------------------------------------------------------
# max_payload: exactly the limit is accepted, a byte more refused

LIMIT = '[settings]\nmax_payload = "1KiB"\n'
AT_LIMIT = 1024 - len('{"x":""}')  # {"x":"aaa…"}, as stored: 1024 bytes


def _value(extra: int) -> str:
    return "a" * (AT_LIMIT + extra)


@pytest.mark.parametrize("extra", [0, 1], ids=["at-the-limit", "a-byte-over"])
def test_an_arg_payload_of_max_payload_bytes_is_taken_and_one_more_refused(
    env: Env, extra: int
) -> None:
    env.write_config(LIMIT + MINIMAL)
    result = env.run("enqueue", "t", "--arg", f"x={_value(extra)}")
    if extra:
        one_error_line(result, 2, f"payload is {1024 + extra} bytes, over the limit of 1024")
    else:
        assert result.returncode == 0, result.stderr
        assert env.show(int(result.stdout))["payload"] == {"x": _value(0)}


@pytest.mark.parametrize("extra", [0, 1], ids=["at-the-limit", "a-byte-over"])
def test_a_batch_line_of_max_payload_bytes_is_taken_and_one_more_refused(
    env: Env, extra: int
) -> None:
    env.write_config(LIMIT + MINIMAL)
    line = json.dumps({"job": "t", "payload": {"x": _value(extra)}}) + "\n"
    result = env.run("enqueue", "--batch", "-", input=line)
    if extra:
        assert result.returncode == 2, result.stderr
        assert f"payload is {1024 + extra} bytes, over the limit of 1024" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert env.show(int(result.stdout))["payload"] == {"x": _value(0)}


@pytest.mark.parametrize("extra", [0, 1], ids=["at-the-limit", "a-byte-over"])
def test_a_schedule_payload_of_max_payload_bytes_validates_and_one_more_is_refused(
    env: Env, extra: int
) -> None:
    env.write_config(
        LIMIT + MINIMAL + f'[schedules.s]\njob = "t"\ncron = "@hourly"\n'
        f'payload = {{ x = "{_value(extra)}" }}\n'
    )
    result = env.run("validate")
    if extra:
        one_error_line(result, 2, f"payload is {1024 + extra} bytes, over the limit of 1024")
    else:
        assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# The retry delay: backoff * 2^(n-1), capped at backoff_max, jitter over the upper half


def _retried(backoff: float, backoff_max: float, jitter: bool) -> JobType:
    return JobType(
        name="t", command=("true",), backoff=backoff, backoff_max=backoff_max, jitter=jitter
    )


def test_the_nth_retry_waits_backoff_doubled_n_minus_1_times_up_to_backoff_max() -> None:
    job_type = _retried(10.0, 100.0, jitter=False)
    assert [retry_delay(job_type, n) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
    assert retry_delay(_retried(1.0, 3600.0, jitter=False), 1000) == 3600  # no overflow


def test_jitter_spreads_retries_over_the_upper_half_of_the_wait() -> None:
    """Over the whole upper half (a retry never comes sooner than half the wait), so jobs
    that failed together do not all retry in the same instant."""
    rng = random.Random(0)
    job_type = _retried(10.0, 3600.0, jitter=True)
    for attempt, delay in ((1, 10.0), (3, 40.0), (20, 3600.0)):
        draws = [retry_delay(job_type, attempt, rng) for _ in range(2000)]
        assert all(delay / 2 <= d <= delay for d in draws), (attempt, min(draws), max(draws))
        assert min(draws) < 0.55 * delay and max(draws) > 0.95 * delay, (attempt, draws[:5])
        assert len(set(draws)) > 1900


def test_zero_backoff_retries_at_once_and_zero_kill_grace_kills_at_once(tmp_path: Path) -> None:
    """Unlike a timeout, these are meaningful at zero (jobs.toml.example says what each does),
    so validate takes them."""
    for setting in ('backoff = "0s"', 'backoff_max = "0"'):
        job_type, _ = _loaded(tmp_path, f"{MINIMAL}{setting}\n")
        assert [retry_delay(job_type, n) for n in (1, 2, 10)] == [0, 0, 0], setting
    job_type, _ = _loaded(tmp_path, f'{MINIMAL}kill_grace = "0"\n')
    assert job_type.kill_grace == 0


def _timestamp(text: object) -> float:
    assert isinstance(text, str)
    return datetime.fromisoformat(text).timestamp()


def test_a_failed_attempt_is_scheduled_again_exactly_one_backoff_after_it_ended(
    env: Env,
) -> None:
    """No waiting: the first retry's run_at, read back, is its attempt's end plus backoff."""
    env.write_config(
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 3\nbackoff = "1h"\nbackoff_max = "1d"\n'
        "jitter = false\n"
    )
    start_worker(env)
    job_id = env.enqueue("f")
    env.wait_for(lambda: env.show(job_id)["state"] == "scheduled")
    job = env.show(job_id)
    history = job["attempts_history"]
    assert isinstance(history, list) and len(history) == 1
    waited = _timestamp(job["run_at"]) - _timestamp(history[0]["finished_at"])
    assert waited == pytest.approx(3600, abs=0.005)
