"""Values the command line reads by guessing are refused: a single-value option given twice,
a number in other than ASCII digits, a number beyond what a store holds. Each is one line
naming the option or argument, exit 2, and nothing done."""

from __future__ import annotations

import json

import pytest
from conftest import Env

from jobctl.durations import parse_duration
from jobctl.errors import DurationError

ADHOC = "[settings]\nallow_exec = true\n"


def _refused(env: Env, *args: str, config: bool = True) -> str:
    result = env.run(*args, config=config)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _jobs(env: Env) -> list[dict[str, object]]:
    if not env.db.exists():  # nothing was ever enqueued
        return []
    result = env.run("list", "--json", check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--payload", '{"a":1}', "--payload", '{"b":2}'], "--payload"),
        (["--queue", "q1", "-q", "q2"], "--queue"),
        (["--key", "k1", "--key=k2"], "--key"),
        (["--delay", "1h", "-d", "1s"], "--delay"),
        (["--priority", "1", "--priority", "5"], "--priority"),
        (["--max-attempts", "1", "--max-attempts", "5"], "--max-attempts"),
        (["--payload-file", "a.json", "--payload-file", "b.json"], "--payload-file"),
        (["--at", "+1h", "--at", "+1m"], "--at"),
        # --wait leaves the line to typer: both ways of reading enqueue refuse it.
        (["--wait", "--key", "k1", "--key", "k2"], "--key"),
        (["--wait", "--timeout", "1s", "-t", "2s"], "--timeout"),
    ],
)
def test_enqueue_refuses_a_single_value_option_given_twice(
    env: Env, options: list[str], named: str
) -> None:
    env.write_config(ADHOC)
    line = _refused(env, "enqueue", *options, "--exec", "--", "true")
    assert f"{named} was given twice: it takes one value" in line
    assert _jobs(env) == []


@pytest.mark.parametrize(
    "options",
    [
        ["--db", "a.db", "--db", "b.db"],
        ["-c", "a.toml", "--config", "b.toml"],
        ["--log-format", "text", "--log-format", "json"],
        ["--log-level", "info", "--log-level", "debug"],
    ],
    ids=lambda options: options[0],
)
@pytest.mark.parametrize("command", [["enqueue", "--exec", "true"], ["list"]], ids=lambda c: c[0])
def test_a_global_option_given_twice_is_refused(
    env: Env, options: list[str], command: list[str]
) -> None:
    name = "--config" if options[0] == "-c" else options[0]
    line = _refused(env, *options, *command, config=False)
    assert line.startswith(f"jobctl: {name} was given twice: it takes one value")
    assert not (env.root / "a.db").exists() and not (env.root / "b.db").exists()


def test_other_commands_refuse_a_single_value_option_given_twice(env: Env) -> None:
    env.write_config(ADHOC)
    job_id = env.enqueue("--exec", "--delay", "1h", "--", "true")
    env.run("cancel", str(job_id), check=True)
    line = _refused(env, "retry", str(job_id), "--queue", "a", "--queue", "b")
    assert "--queue was given twice" in line
    assert env.show(job_id)["state"] == "cancelled"
    line = _refused(env, "list", "--limit", "1", "-n", "2")
    assert "--limit was given twice" in line
    line = _refused(env, "dead", "show", str(job_id), "--lines", "1", "-l", "2")
    assert "--lines was given twice" in line


def test_options_meant_to_repeat_still_repeat(env: Env) -> None:
    env.write_config(ADHOC + '[jobs.greet]\ncommand = ["echo", "{a}", "{b}"]\n')
    first = env.enqueue("greet", "--arg", "a=1", "-a", "b=2", "--delay", "1h")
    second = env.enqueue("greet", "--arg", "a=1", "--arg", "b=2", "--after", str(first))
    assert env.show(first)["payload"] == {"a": "1", "b": "2"}
    result = env.run("list", "--state", "scheduled", "--state", "waiting", "--json", check=True)
    assert sorted(job["id"] for job in json.loads(result.stdout)) == [first, second]
    line = _refused(env, "enqueue", "greet", "-a", "a=1", "-a", "a=2")
    assert "'a' is given twice" in line


def test_ids_are_ascii_digits_only(env: Env) -> None:
    env.write_config(ADHOC)
    ids = [env.enqueue("--exec", "--delay", "1h", "--", "true") for _ in range(16)]
    assert ids[-1] == 16
    line = _refused(env, "cancel", "1_6")
    assert "'[ID]...'" in line and "'1_6' is not a whole number" in line
    assert env.show(16)["state"] == "scheduled"
    for text in ("\u0661", " 1", "1 ", "\uff11", "+1"):
        line = _refused(env, "show", text)
        assert "'ID'" in line and "is not a whole number" in line, line
    assert env.show(1)["id"] == 1  # the same job named in ASCII digits


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--priority", "\uff11_\uff10"),
        ("--priority", "1_0"),
        ("--priority", " 5"),
        ("--max-attempts", "\u0663"),
        ("--max-attempts", "3 "),
    ],
)
def test_integer_options_are_ascii_digits_only(env: Env, option: str, value: str) -> None:
    env.write_config(ADHOC)
    line = _refused(env, "enqueue", option, value, "--exec", "--", "true")
    assert f"'{option}'" in line and f"{value!r} is not a whole number" in line
    assert _jobs(env) == []
    line = _refused(env, "list", "--limit", "1_0")
    assert "'--limit'" in line and "'1_0' is not a whole number" in line


def test_a_negative_number_is_read_where_it_is_allowed(env: Env) -> None:
    env.write_config(ADHOC)
    job_id = env.enqueue("--priority", "-5", "--exec", "--", "true")
    assert env.show(job_id)["priority"] == -5


@pytest.mark.parametrize("text", ["\u0663m", "1\u0665s", "1.\u0665s", "\uff15m", "1h\u0663m"])
def test_durations_are_ascii_digits_only(env: Env, text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)
    env.write_config(ADHOC)
    line = _refused(env, "enqueue", "--delay", text, "--exec", "--", "true")
    assert "--delay" in line and repr(text) in line
    assert _jobs(env) == []
    env.write_config(ADHOC + f'[jobs.sl]\ncommand = ["true"]\ntimeout = "{text}"\n')
    result = env.run("validate")
    assert result.returncode == 2 and repr(text) in result.stderr


def test_ascii_durations_are_still_read() -> None:
    assert parse_duration("1h 30m") == 5400.0
    assert parse_duration("1.5s") == 1.5


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["list", "--limit", "9223372036854775808"], "'--limit'"),
        (["dead", "list", "--limit", "9223372036854775808"], "'--limit'"),
        (["dead", "show", "1", "--lines", "9223372036854775808"], "'--lines'"),
        (["cancel", "9223372036854775808"], "'[ID]...'"),
    ],
)
def test_a_number_too_large_names_its_option(env: Env, command: list[str], named: str) -> None:
    env.write_config(ADHOC)
    line = _refused(env, *command)
    assert named in line
    assert "too large (at most 9223372036854775807)" in line or "too small" in line
