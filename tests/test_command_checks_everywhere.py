"""An --exec command is checked the same way on every route that stores one: `enqueue --exec`,
`edit -x`, a batch line's `command`. A route that skipped a check stored a job that every
worker then failed to start, and it went dead. The real CLI, on a real database."""

from __future__ import annotations

import json

import pytest
from chaoslib import one_error_line
from conftest import Env
from test_ops_support import burst

CONFIG = '[jobs.plain]\ncommand = ["true"]\n'


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
