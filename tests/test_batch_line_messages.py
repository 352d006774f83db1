"""A batch's refusals and warnings name the line they are about, as its other ones do."""

from __future__ import annotations

from chaoslib import one_error_line
from conftest import Env

CONFIG = '[jobs.noop]\ncommand = ["true"]\n'


def test_an_after_id_with_no_job_is_refused_at_its_line(env: Env) -> None:
    """It said `--after 99999998: there is no job 99999998`: no --after option was given,
    and in 10,000 generated lines nothing said which."""
    env.write_config(CONFIG)
    env.enqueue("noop")
    batch = '{"job": "noop"}\n\n{"job": "noop", "after": [1, 99999998]}\n'
    refused = one_error_line(env.run("enqueue", "--batch", "-", input=batch), 2)
    assert refused == "jobctl: <stdin>:3: after: there is no job 99999998"
    assert env.run("list", "--json", check=True).stdout.count('"id"') == 1  # nothing stored


def test_a_queue_nobody_knows_is_warned_of_once_at_its_first_line(env: Env) -> None:
    """`enqueue --queue typo` warned; a batch line's queue, or --batch --queue, went there
    in silence."""
    env.write_config(CONFIG)
    env.enqueue("noop")
    typo = '{"job": "noop", "queue": "nightyl"}\n'
    batch = '{"job": "noop"}\n' + typo + typo
    stored = env.run("enqueue", "--batch", "-", input=batch, check=True)
    assert stored.stdout.split() == ["2", "3", "4"]
    assert stored.stderr == (
        "jobctl: warning: <stdin>:2: unknown queue 'nightyl': known queues are default; the"
        " job goes there all the same\n"
    )
    defaulted = env.run("enqueue", "--batch", "-", "--queue", "nightly", input='{"job": "noop"}\n')
    assert defaulted.returncode == 0
    assert "<stdin>:1: unknown queue 'nightly' (did you mean 'nightyl'?)" in defaulted.stderr
    known = env.run("enqueue", "--batch", "-", "--queue", "nightly", input='{"job": "noop"}\n')
    assert known.stderr == ""  # the database knows it now
