"""A config that breaks in an unusual way is refused as any other bad config: `validate`
exits 2 naming the file and line, and a running `up` keeps the version it has."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from conftest import JOBCTL, Env

_HUGE = "1" * 5000  # past Python's int() limit of 4,300 digits


def _validate(env: Env, text: str) -> subprocess.CompletedProcess[str]:
    env.write_config(text)
    return env.run("validate")


def _lines(log: Path, event: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f" {event} " in line]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            f'[jobs.a]\ncommand = "true"\npriority = {_HUGE}\n',
            "jobs.toml:3: invalid TOML: a number of over 4300 digits",
        ),
        (
            f'[settings]\nlog_max_bytes = "{_HUGE}KiB"\n',
            "jobs.toml:2: [settings] log_max_bytes: invalid size '1111",
        ),
    ],
    ids=["integer", "size"],
)
def test_validate_refuses_a_number_too_long_for_python_as_a_config_error(
    env: Env, text: str, said: str
) -> None:
    """tomllib's int() raised a bare ValueError: exit 1, "unexpected error", no file or line."""
    result = _validate(env, text)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr, result.stderr
    assert "unexpected error" not in result.stderr
    assert len(result.stderr) < 300, result.stderr  # the number is not echoed whole


def test_up_refuses_a_reload_with_a_number_too_long_and_runs_on(env: Env) -> None:
    """The edit killed up's cron daemon thread with a traceback, then its worker, and the
    job it was running was abandoned until its lease ended."""
    go = env.root / "go"
    job = f'[jobs.a]\ncommand = ["sh", "-c", "until [ -e {go} ]; do sleep 0.05; done"]\n'
    env.write_config(job)
    log = env.root / "up.log"
    with log.open("w") as out:
        up = subprocess.Popen(
            [*JOBCTL, *env.global_args(), "up"],
            stdout=subprocess.DEVNULL,
            stderr=out,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(up)
    first = env.enqueue("a")
    env.wait_for(lambda: env.show(first)["state"] == "running")
    env.write_config(f"{job}priority = {_HUGE}\n")
    up.send_signal(signal.SIGHUP)  # both re-read it now
    env.wait_for(lambda: _lines(log, "scheduler.reload_failed"))
    go.touch()
    env.run("wait", str(first), "--timeout", "30s", check=True)
    good = env.root / "good.toml"
    good.write_text(job)
    second = int(env.run("--config", str(good), "enqueue", "a", check=True).stdout)  # kept
    env.run("wait", str(second), "--timeout", "30s", check=True)
    assert up.poll() is None, log.read_text()
    up.send_signal(signal.SIGTERM)
    assert up.wait(timeout=30) == 0, log.read_text()
    for event in ("scheduler.reload_failed", "worker.reload_failed"):
        # Once, or twice where the worker found the edit itself before the SIGHUP asked again.
        said = _lines(log, event)
        assert 1 <= len(said) <= 2, log.read_text()
        for refused in said:
            assert "jobs.toml:3: invalid TOML: a number of over 4300 digits" in refused, refused
            assert "keeping the previous configuration" in refused, refused
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    "text",
    [
        '[jobs."b\\n"]\ncommand = "true"\n',
        '[jobs.b]\ncommand = "true"\nqueue = "slow\\n"\n',
        '[schedules."s\\n"]\ncommand = "true"\ncron = "@daily"\n',
        '[schedules.s]\ncommand = "true"\ncron = "@daily"\nqueue = "slow\\n"\n',
        '[queues."slow\\n"]\nmax_running = 1\n',
    ],
    ids=["job", "job-queue", "schedule", "schedule-queue", "queue-table"],
)
def test_a_name_ending_in_a_newline_is_refused(env: Env, text: str) -> None:
    """`$` matched before a final newline: "b\\n" was taken, and its event lines split."""
    result = _validate(env, text)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "use ASCII letters, digits" in result.stderr, result.stderr


def test_a_queue_option_ending_in_a_newline_is_refused(env: Env) -> None:
    result = env.run("enqueue", "--exec", "--queue", "x\n", "--", "true")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "bad queue name" in result.stderr, result.stderr
    assert not env.db.exists()  # nothing queued


def test_catch_up_limit_is_bounded(env: Env) -> None:
    """Past 2**63 validate said ok, and the cron daemon exited 2 at every start after any
    downtime, naming no key."""
    schedule = '[schedules.s]\ncommand = "true"\ncron = "@daily"\ncatch_up = "all"\n'
    result = _validate(env, f"{schedule}catch_up_limit = 1000000000000000000000000000000\n")
    assert result.returncode == 2, result.stdout
    assert (
        "jobs.toml:5: [schedules.s] catch_up_limit: must be between 1 and 100000, got 1000"
        in result.stderr
    ), result.stderr
    assert _validate(env, f"{schedule}catch_up_limit = 100000\n").returncode == 0


@pytest.mark.parametrize(
    "size",
    ["\u0662KiB", "\uff12KiB", "2\u00a0KiB", "\u20032KiB"],
    ids=["arabic-indic", "full-width", "no-break-space", "em-space"],
)
def test_sizes_take_ascii_digits_and_blanks_only(env: Env, size: str) -> None:
    result = _validate(env, f'[settings]\nlog_max_bytes = "{size}"\n')
    assert result.returncode == 2, result.stdout
    assert "[settings] log_max_bytes: invalid size" in result.stderr, result.stderr


def test_a_size_may_have_ascii_blanks(env: Env) -> None:
    result = _validate(env, '[settings]\nlog_max_bytes = " 2\\tKiB "\n')
    assert result.returncode == 0, result.stderr


def test_a_duration_error_does_not_echo_a_huge_input_whole(env: Env) -> None:
    result = env.run("enqueue", "--exec", "--delay", f"{_HUGE}s", "--", "true")
    assert result.returncode == 2, result.stdout
    assert "invalid duration '1111" in result.stderr, result.stderr
    assert len(result.stderr) < 300, result.stderr


def test_the_folder_check_follows_a_symlink_to_the_file_read(env: Env) -> None:
    """The check looked at the link's folder only: a file in a world-writable folder,
    reached through a link in a private one, was taken."""
    shared, private = env.root / "shared", env.root / "private"
    shared.mkdir()
    shared.chmod(0o777)
    private.mkdir(mode=0o700)
    real = shared / "jobs.toml"
    real.write_text('[jobs.a]\ncommand = "true"\n')
    real.chmod(0o600)
    link = private / "jobs.toml"
    link.symlink_to(real)
    result = env.run("--config", str(link), "validate")
    assert result.returncode == 2, result.stdout
    assert f"its folder {shared} is" in result.stderr, result.stderr
    # The other way round: the link's own folder, open to others, lets them swap the link.
    safe = private / "real.toml"
    safe.write_text('[jobs.a]\ncommand = "true"\n')
    safe.chmod(0o600)
    (shared / "link.toml").symlink_to(safe)
    result = env.run("--config", str(shared / "link.toml"), "validate")
    assert result.returncode == 2, result.stdout
    assert f"its folder {shared} is" in result.stderr, result.stderr
    assert env.run("--config", str(safe), "validate").returncode == 0


def test_a_zero_timeout_says_to_leave_the_key_out_in_the_words_of_other_keys(env: Env) -> None:
    result = _validate(env, '[jobs.a]\ncommand = "true"\ntimeout = "0"\n')
    assert result.returncode == 2, result.stdout
    assert (
        "[jobs.a] timeout: must be longer than 0s (leave it out for no timeout)" in result.stderr
    ), result.stderr
    result = _validate(env, '[settings]\nhook_timeout = "0"\n')
    assert "[settings] hook_timeout: must be longer than 0s" in result.stderr, result.stderr


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_an_env_value_that_is_no_finite_number_is_refused(env: Env, value: str) -> None:
    """`env = { LIMIT = inf }` reached the job as LIMIT=inf: TOML's infinity, not a number a
    program reads, where the text "inf" needs quoting to mean itself."""
    env.write_config(f'[jobs.a]\ncommand = ["true"]\nenv = {{ LIMIT = {value} }}\n')
    result = env.run("validate")
    assert result.returncode == 2, result.stderr
    assert "[jobs.a] env: value of 'LIMIT' is" in result.stderr
    assert "quote it to pass the text" in result.stderr


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # A key that is a table of its own header: its header's line, not its parent's.
        (
            '[jobs.a]\ncommand = ["true"]\n\n[jobs.a.env]\nX = [1]\n',
            "<config>:4: [jobs.a] env: value of 'X' must be a string or a number",
        ),
        (
            '[jobs.a]\ncommand = ["true"]\n\n[queues."-q"]\nmax_running = 1\n',
            "<config>:4: [queues] -q: bad queue name '-q'",
        ),
        # A line of a multi-line string is a value's, however much it reads like a key or a
        # header: the key's own line is named.
        (
            '[jobs.a]\ncommand = """sh -c \'\ntimeout = 5\n[jobs.b]\n\'"""\ntimeout = "0s"\n',
            "<config>:6: [jobs.a] timeout: must be longer than 0s",
        ),
        (
            '[jobs.a]\ncommand = \'\'\'x\n  timeout = 1\n\'\'\'\nenv = {A = """q""""}\n'
            'timeout = "0s"\n',
            "<config>:6: [jobs.a] timeout: must be longer than 0s",
        ),
    ],
)
def test_an_error_in_a_table_of_its_own_header_names_that_line(text: str, said: str) -> None:
    from jobctl.config import parse_config
    from jobctl.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert str(raised.value).startswith(said), str(raised.value)
