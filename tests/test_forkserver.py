"""The suite's fork server answers a CLI call as a new interpreter would.

Every `Env.run` goes through it when it can, so a difference here would hide or invent a
behaviour in hundreds of tests: each case runs both ways and compares what a caller sees.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import forkserver
import pytest
from conftest import Env

pytestmark = pytest.mark.skipif(
    os.environ.get("JOBCTL_TEST_FORK", "1") == "0", reason="the fork server is turned off"
)


def both_ways(
    env: Env, *args: str, input: str | None = None, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    argv = [*env.global_args(True, args), *args]
    where = env.root if cwd is None else cwd
    zygote = forkserver.zygote_for(argv, env.env)
    assert zygote is not None, "the call was not taken by a fork server"
    forked = zygote.run(argv, environ=env.env, cwd=where, input=input, timeout=60)
    spawned = env._spawn(argv, input=input, timeout=60, cwd=where)
    return forked, spawned


def same(
    forked: subprocess.CompletedProcess[str], spawned: subprocess.CompletedProcess[str]
) -> None:
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        spawned.returncode,
        spawned.stdout,
        spawned.stderr,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["validate"],
        ["enqueue", "nosuch"],
        ["enqueue", "ok", "--delay", "soon"],
        ["list", "--json"],
        ["show", "999"],
        ["nosuch-command"],
    ],
)
def test_a_call_says_and_exits_as_a_new_interpreter_does(env: Env, args: list[str]) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")  # the database exists for both runs alike
    same(*both_ways(env, *args))


def test_a_call_gets_its_own_environment_directory_input_and_process(env: Env) -> None:
    """The job sees the HOME and directory of the call that queued it; a batch comes on stdin;
    and the worker that runs it is a process of its own, not the server's."""
    env.write_config('[jobs.where]\ncommand = ["sh", "-c", "echo $HOME $PWD $PPID"]\n')
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    env.env["HOME"] = str(elsewhere)
    forked, spawned = both_ways(
        env, "enqueue", "--batch", "-", input='{"job": "where"}\n{"job": "where"}\n', cwd=elsewhere
    )
    assert (forked.returncode, spawned.returncode) == (0, 0)
    assert forked.stdout.split() == ["1", "2"] and spawned.stdout.split() == ["3", "4"]
    env.run("run-worker", "--burst", check=True, cwd=elsewhere)
    for job_id in (1, 2):
        home, pwd, parent = env.run("logs", str(job_id), check=True).stdout.split()
        assert (home, pwd) == (str(elsewhere), str(elsewhere))
        assert int(parent) != os.getpid()


def test_a_call_past_its_timeout_is_killed_at_it(env: Env) -> None:
    env.write_config('[jobs.nap]\ncommand = ["sleep", "60"]\n')
    env.enqueue("nap")
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        env.run("wait", "1", timeout=1)
    assert time.monotonic() - started < 10


def test_an_exit_is_the_code_the_interpreter_would_give() -> None:
    assert [forkserver._exit_code(code) for code in (None, 3, True, 256)] == [0, 3, True, 256]


def test_a_call_the_server_cannot_stand_in_for_runs_as_a_new_interpreter(env: Env) -> None:
    """A variable read as the interpreter starts (here the encoding of its streams) makes the
    call a plain subprocess: a forked one would keep the server's."""
    argv = ["--version"]
    assert forkserver.zygote_for(argv, env.env) is not None
    changed = env.env | {"PYTHONIOENCODING": "latin-1"}
    zygote = forkserver.zygote_for(argv, changed)
    assert zygote is None or zygote.key == forkserver._startup_key(changed)
