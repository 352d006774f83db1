"""How option values are read alike by every command: an option's value that is one of the
command's own options is refused (a value forgotten before it), `list --queue` and `--key`
check what they are given as `wait` and `enqueue` do, the log options take any case as
--state does, and --since takes a time as --at does, as well as a duration."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Env

CONFIG = """\
[jobs.greet]
command = ["echo", "hello, {name}"]
max_attempts = 1

[jobs.fail]
command = ["false"]
max_attempts = 1

[jobs.other]
command = ["true"]
queue = "spare"
"""


@pytest.fixture
def cfg(env: Env) -> Env:
    env.write_config(CONFIG)
    return env


def listed(env: Env, *args: str) -> list[dict[str, Any]]:
    done = env.run("list", "--limit", "0", "--json", *args, check=True)
    jobs: list[dict[str, Any]] = json.loads(done.stdout)
    return jobs


# -- an option given where a value goes -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["enqueue", "greet", "-a", "name=x", "--key", "--json"], "--key: got --json"),
        (["enqueue", "greet", "-a", "name=x", "-k", "--json"], "--key: got --json"),
        (["enqueue", "greet", "-a", "name=x", "-q", "--priority=3"], "--queue: got --priority=3"),
        (["list", "--queue", "--json"], "--queue: got --json"),
        (["list", "--key", "--json"], "--key: got --json"),
        (["list", "--state", "-n", "5"], "--state: got -n"),
        (["dead", "list", "--job", "--json"], "--job: got --json"),
        (["stats", "--since", "--json"], "--since: got --json"),
        (["--log-level", "--log-format", "json", "list"], "--log-level: got --log-format"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_an_option_given_as_a_value_is_refused(cfg: Env, args: list[str], line: str) -> None:
    cfg.enqueue("greet", "--arg", "name=first")  # the database exists: only the value is wrong
    done = cfg.run(*args)
    assert done.returncode == 2, done
    assert done.stdout == ""
    name, _, word = line.partition(": got ")
    assert done.stderr.startswith(
        f"jobctl: {line}, an option of this command, where its value goes"
        f" (write {name}={word} if it is meant)"
    ), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert [j["id"] for j in listed(cfg)] == [1]  # nothing more stored


def test_a_value_attached_to_its_option_is_taken_as_written(cfg: Env) -> None:
    done = cfg.run("enqueue", "greet", "-a", "name=x", "--key=--json", "--json", check=True)
    assert json.loads(done.stdout)["key"] == "--json"
    assert [j["key"] for j in listed(cfg, "--key=--json")] == ["--json"]


def test_every_command_refuses_its_own_options_as_a_value() -> None:
    """Each option that takes a value, of each command, given each other option of that
    command: refused by the one hook every command's parser goes through."""
    import importlib

    import typer.main
    from typer._click.exceptions import BadOptionUsage

    from jobctl.cli import main
    from jobctl.cli.app import app

    for module in main.ALL_MODULES:
        importlib.import_module(f"jobctl.cli.{module}")
    checked = 0
    commands: list[Any] = [typer.main.get_command(app)]
    while commands:
        command = commands.pop()
        commands.extend(getattr(command, "commands", {}).values())  # a group's
        names = [n for p in command.params if p.param_type_name == "option" for n in p.opts]
        for param in command.params:
            if param.param_type_name != "option" or param.is_flag or param.count:
                continue
            for word in names:
                with pytest.raises(BadOptionUsage, match="an option of this command"):
                    command.make_context(command.name, [param.opts[0], word])
                checked += 1
    assert checked > 200


# -- list --queue and --key, read as wait and enqueue read them --------------------------------


def test_list_refuses_a_queue_nothing_knows_as_wait_does(cfg: Env) -> None:
    cfg.enqueue("greet", "--arg", "name=x")
    by_wait = cfg.run("wait", "--queue", "nosuch", "--timeout", "1s")
    assert by_wait.returncode == 2
    for args in (["--queue", "nosuch"], ["-q", "nosuch", "--limit", "0", "--json"]):
        done = cfg.run("list", *args)
        assert (done.returncode, done.stdout) == (2, ""), done
        assert done.stderr == by_wait.stderr
    # A queue the config names, with no job in it: nothing to list, and no mistake.
    done = cfg.run("list", "--queue", "spare", "--json")
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (0, [], "")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--queue", ""], "jobctl: --queue: bad queue name ''"),
        (["--queue", "a b"], "jobctl: --queue: bad queue name 'a b'"),
        (["--key", ""], "jobctl: --key: empty key (give one, or no --key at all)"),
    ],
    ids=repr,
)
def test_list_refuses_an_empty_or_malformed_name(cfg: Env, args: list[str], line: str) -> None:
    cfg.enqueue("greet", "--arg", "name=x")
    done = cfg.run("list", *args)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr.startswith(line), done.stderr
    refused_by_enqueue = cfg.run("enqueue", "greet", "-a", "name=y", *args)
    assert refused_by_enqueue.returncode == 2


# -- the log options in any case --------------------------------------------------------------


def test_the_log_options_take_any_case(cfg: Env) -> None:
    cfg.run("--log-level", "Info", "enqueue", "greet", "-a", "name=x", check=True)  # fast path
    cfg.run("--log-level", "DEBUG", "--log-format", "Text", "list", check=True)
    done = cfg.run("--log-format", "JSON", "run-worker", "--burst", check=True)
    events = [json.loads(line)["event"] for line in done.stderr.splitlines()]
    assert "job.succeeded" in events
    done = cfg.run("--log-level", "LOUD", "list")
    assert done.returncode == 2
    assert "--log-level: expected debug, info, warning or error, got 'LOUD'" in done.stderr


# -- --since: a duration, or a time ------------------------------------------------------------


def _between(first: str) -> str:
    """An ISO time just after `first` (a job's time) and before those of jobs made after."""
    earlier = datetime.fromisoformat(first).timestamp()
    while time.time() < earlier + 0.01:  # the next job is made a moment later, by the clock
        pass
    return datetime.fromtimestamp(earlier + 0.005, UTC).isoformat()


def test_list_since_takes_a_time(cfg: Env) -> None:
    old = cfg.enqueue("greet", "--arg", "name=old")
    boundary = _between(str(cfg.show(old)["created_at"]))
    new = cfg.enqueue("greet", "--arg", "name=new")
    assert [j["id"] for j in listed(cfg, "--since", boundary)] == [new]
    assert [j["id"] for j in listed(cfg, "--since", "1h")] == [new, old]  # still a duration
    assert [j["id"] for j in listed(cfg, "--since", "0:00")] == [new, old]  # today's 0:00


def test_dead_list_since_takes_a_time(cfg: Env) -> None:
    old = cfg.enqueue("fail")
    cfg.run("run-worker", "--burst", check=True)
    boundary = _between(str(cfg.show(old)["finished_at"]))
    new = cfg.enqueue("fail")
    cfg.run("run-worker", "--burst", check=True)
    done = cfg.run("dead", "list", "--since", boundary, "--json", check=True)
    assert [j["id"] for j in json.loads(done.stdout)] == [new]
    done = cfg.run("dead", "list", "--since", "1h", "--json", check=True)
    assert [j["id"] for j in json.loads(done.stdout)] == [new, old]


def test_stats_since_takes_a_time(cfg: Env) -> None:
    cfg.enqueue("greet", "--arg", "name=x")
    two_hours_ago = datetime.fromtimestamp(time.time() - 7200, UTC).isoformat(timespec="seconds")
    done = cfg.run("stats", "--since", two_hours_ago, "--json", check=True)
    assert [(r["job"], r["enqueued"]) for r in json.loads(done.stdout)] == [("greet", 1)]
    done = cfg.run("stats", "--since", two_hours_ago, check=True)
    assert f"last 2h (since {two_hours_ago})" in done.stdout


@pytest.mark.parametrize("command", [["list"], ["dead", "list"], ["stats"]], ids=" ".join)
def test_since_refuses_a_time_to_come_and_names_both_forms(cfg: Env, command: list[str]) -> None:
    cfg.enqueue("greet", "--arg", "name=x")
    ahead = datetime.fromtimestamp(time.time() + 3600, UTC).isoformat(timespec="seconds")
    done = cfg.run(*command, "--since", ahead)
    assert (done.returncode, done.stdout) == (2, "")
    assert "still to come" in done.stderr, done.stderr
    done = cfg.run(*command, "--since", "yesterday")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        "jobctl: --since: invalid duration or time 'yesterday': expected a duration"
    ), done.stderr
    assert "2026-05-01T09:30" in done.stderr
