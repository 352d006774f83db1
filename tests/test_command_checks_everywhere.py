"""An --exec command is checked the same way on every route that stores one: `enqueue --exec`,
`edit -x`, a batch line's `command`, `retry` and `dead retry`. Each route that skipped a check
stored a job that every worker then refused or failed to start, and it went dead. The real
CLI, on SQLite and on the session's Redis server. An id a job runs after is read as every
id argument reads one."""

from __future__ import annotations

import json

import pytest
from chaoslib import one_error_line
from conftest import Env
from redis_server import RedisEnv
from test_ops_support import burst

CONFIG = '[jobs.plain]\ncommand = ["true"]\n'
ALLOWING = "[settings]\nallow_exec = true\n"


def _listed(env: Env) -> list[dict[str, object]]:
    return json.loads(env.run("list", "--json", check=True).stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ([""], "<stdin>:2: the command's name is empty"),
        (
            ["make && make install"],
            "<stdin>:2: 'make && make install' is one word, which names no program: jobctl runs"
            ' no shell; give the words apart (["make", ...]) or ask for a shell (["sh", "-c",'
            ' "make && make install"])',
        ),
        (["echo", "a\0b"], "<stdin>:2: command word 2 contains a NUL character"),
    ],
)
def test_a_batch_command_line_is_refused_as_exec_refuses_it(
    env: Env, command: list[str], said: str
) -> None:
    """A batch stored these, exit 0, where `enqueue --exec` refused them; each job then died
    (Permission denied, command not found, embedded null byte). All or nothing: the good line
    above is not stored either."""
    env.write_config(CONFIG)
    batch = '{"command": ["true"]}\n' + json.dumps({"command": command}) + "\n"
    refused = env.run("enqueue", "--batch", "-", input=batch)
    assert one_error_line(refused, 2) == f"jobctl: {said}"
    assert refused.stdout == ""
    assert not env.db.exists()  # nothing stored


def test_a_batch_line_of_one_word_that_names_a_program_is_stored(env: Env) -> None:
    """As with --exec: a program whose name has a space is one word, and runs."""
    env.write_config(CONFIG)
    program = env.root / "my tool"
    program.write_text("#!/bin/sh\necho ran\n")
    program.chmod(0o755)
    stored = env.run("enqueue", "--batch", "-", input='{"command": ["./my tool"]}\n', check=True)
    job_id = int(stored.stdout)
    burst(env)
    assert env.run("logs", str(job_id), check=True).stdout == "ran\n"


def test_on_redis_without_allow_exec_a_batch_command_line_is_refused(
    redis_env: RedisEnv,
) -> None:
    """Workers of a shared store run only their config's job types: `enqueue --exec` was
    refused at once there, and a batch line's command was stored, to die on every worker."""
    env = redis_env
    env.write_config(CONFIG)
    first = env.enqueue("plain")
    batch = '{"job": "plain"}\n{"command": ["echo", "hi"]}\n'
    refused = env.run("enqueue", "--batch", "-", input=batch)
    line = one_error_line(refused, 2, "<stdin>:2: command: ", "allow_exec = true")
    exec_refused = one_error_line(env.run("enqueue", "--exec", "--", "echo", "hi"), 2)
    assert line.split(": ", 3)[3] == exec_refused.split(": ", 2)[2]  # the same reason
    assert [j["id"] for j in _listed(env)] == [first]  # all or nothing
    env.write_config(ALLOWING + CONFIG)
    stored = env.run("enqueue", "--batch", "-", input=batch, check=True)
    assert len(stored.stdout.split()) == 2


def test_on_redis_without_allow_exec_retry_and_dead_retry_refuse_an_exec_job(
    redis_env: RedisEnv,
) -> None:
    """`retry` stored a copy of an --exec job and `dead retry` queued it again, exit 0, on a
    store whose workers refuse it: each copy died there. Now refused as `enqueue --exec` is:
    `retry` exits 2, `dead retry` leaves the job dead naming why (exit 1), as for a job type
    gone from the config."""
    env = redis_env
    env.write_config(ALLOWING + CONFIG)
    ran = env.enqueue("--exec", "--", "true")
    died = env.enqueue("--exec", "--", "false")
    burst(env)
    assert (env.show(ran)["state"], env.show(died)["state"]) == ("succeeded", "dead")
    env.write_config(CONFIG)
    retried = env.run("retry", str(ran))
    line = one_error_line(retried, 2, f"job {ran} cannot run again: ", "allow_exec = true")
    assert retried.stdout == ""
    dead = env.run("dead", "retry", str(died))
    assert dead.returncode == 1, dead.stderr
    assert dead.stderr == (
        f"jobctl: job {died} cannot run again ({line.split(': ', 2)[2]}); not retried\n"
    )
    assert env.show(died)["state"] == "dead"
    assert sorted(j["id"] for j in _listed(env)) == [ran, died]  # nothing new stored
    env.write_config(ALLOWING + CONFIG)  # allowed, both run again
    assert env.run("retry", str(ran)).returncode == 0
    env.run("dead", "retry", str(died), check=True)
    assert env.show(died)["state"] == "queued"


# A blank before the id, and after or before one of a list: all one check of each part.
@pytest.mark.parametrize("after", [" 1", "1, 1", "1 ,1"])
def test_after_refuses_blanks_around_an_id_as_every_id_argument_does(env: Env, after: str) -> None:
    """`cancel " 1"` is refused (exit 2); `--after " 1"` and a batch line's `"after": " 1"`
    took the id anyway."""
    env.write_config(CONFIG)
    first = env.enqueue("plain")
    word = next(part for part in after.split(",") if part != part.strip())
    refused = env.run("enqueue", "plain", "--after", after)
    assert one_error_line(refused, 2) == (
        f"jobctl: --after: {word!r} is not a job id (a blank around it)"
    )
    line = json.dumps({"job": "plain", "after": after})
    in_batch = env.run("enqueue", "--batch", "-", input=line + "\n")
    assert one_error_line(in_batch, 2) == (
        f"jobctl: <stdin>:1: after: {word!r} is not a job id (a blank around it)"
    )
    assert [j["id"] for j in _listed(env)] == [first]  # nothing stored
    joined = env.enqueue("plain", "--after", f"{first},{first}")  # commas alone still join
    assert env.show(joined)["after"] == [first]
    batch = json.dumps({"job": "plain", "after": f"{first},{joined}"}) + "\n"
    (last,) = env.run("enqueue", "--batch", "-", input=batch, check=True).stdout.split()
    assert env.show(int(last))["after"] == [first, joined]
