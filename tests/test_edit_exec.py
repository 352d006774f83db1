"""`jobctl edit` of an --exec job's command and directory, end to end: the real CLI on a real
database (SQLite, and the session's Redis server), and real workers running the result."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Env
from redis_server import RedisEnv
from test_ops_support import burst


def test_edit_replaces_a_command_in_a_chain_and_the_job_waiting_for_it_runs(env: Env) -> None:
    """A typo in one step of a chain: cancelling that step to queue it again made the step
    waiting for it dead."""
    (env.root / "sub").mkdir()
    typo = env.enqueue("--exec", "--", "sh", "-c", "echo typo >> runs.txt; exit 3")
    chained = env.enqueue(
        "--exec", "--after", str(typo), "--", "sh", "-c", "echo chained >> $0", "runs.txt"
    )
    result = env.run(
        "edit",
        str(typo),
        "--cwd",
        "sub",
        "--",
        "sh",
        "-c",
        "pwd > ../where.txt; echo fixed >> ../runs.txt",
    )
    assert (result.returncode, result.stdout) == (0, f"edited {typo} (queued)\n"), result.stderr
    shown = env.show(typo)
    assert shown["command"] == ["sh", "-c", "pwd > ../where.txt; echo fixed >> ../runs.txt"]
    assert shown["cwd"] == str(env.root / "sub")  # made absolute: a worker runs it elsewhere
    assert env.show(chained)["state"] == "waiting"
    burst(env, "--concurrency", "1")
    assert (env.show(typo)["state"], env.show(chained)["state"]) == ("succeeded", "succeeded")
    assert (env.root / "runs.txt").read_text() == "fixed\nchained\n"
    assert (env.root / "where.txt").read_text() == f"{env.root / 'sub'}\n"


def test_edit_reads_a_command_after_exec_as_enqueue_does(env: Env) -> None:
    job_id = env.enqueue("--exec", "--", "make", "tset")
    env.run("edit", str(job_id), "--exec", "make", "-k", "test", check=True)
    assert env.show(job_id)["command"] == ["make", "-k", "test"]  # -k is make's, not --key's
    env.run("edit", str(job_id), "--priority", "3", "-x", "--", "make", "--", "x", check=True)
    shown = env.show(job_id)
    assert (shown["command"], shown["priority"]) == (["make", "--", "x"], 3)
    env.run("edit", str(job_id), "--cwd", "/", check=True)
    shown = env.show(job_id)
    assert (shown["command"], shown["cwd"]) == (["make", "--", "x"], "/")  # the command kept


def test_edit_reads_exec_in_a_bundle_of_short_options_after_its_ids_as_enqueue_does(
    env: Env,
) -> None:
    """`edit ID -xq q2 CMD` is `edit ID -x -q q2 CMD`, as `enqueue -xq q2 CMD` is: the walk
    that takes a bundle apart stopped at the id, the first word no option, so that --exec
    went unseen and the command's words were read as ids (exit 2, 'sort' is not a whole
    number). A job name before a bundle holding --exec is refused as before -x alone."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    job_id = env.enqueue("--exec", "--delay", "1h", "--", "echo", "a")
    other = env.enqueue("--exec", "--delay", "1h", "--", "echo", "b")
    for queue, options in (
        ("q1", ["-xq", "q1"]),
        ("q2", ["-xqq2"]),
        ("q3", ["--queue=q3", "-xd", "2h"]),
    ):
        command = ["sort", "-k", queue, "f.txt"]  # -k is sort's, not an option of edit's
        env.run("edit", str(job_id), str(other), *options, *command, check=True)
        jobs = json.loads(env.run("list", "--json", check=True).stdout)
        assert [(j["command"], j["queue"]) for j in jobs] == [(command, queue)] * 2, options
    apart = env.run("enqueue", "noop", "-x", "-q", "q1", "echo")
    bundled = env.run("enqueue", "noop", "-xq", "q1", "echo")
    assert (bundled.returncode, bundled.stderr) == (2, apart.stderr)
    assert "a job name cannot be combined with --exec" in apart.stderr


def test_edit_of_a_command_is_refused_as_enqueue_refuses_it(env: Env) -> None:
    env.write_config('[jobs.greet]\ncommand = ["echo", "hi"]\n')
    (env.root / "file").write_text("")
    exec_job = env.enqueue("--exec", "--", "make", "tset")
    typed = env.enqueue("greet")
    before = {i: env.show(i) for i in (exec_job, typed)}
    refusals = {
        (str(exec_job), str(typed), "--", "make", "test"): "whose command and cwd come from",
        (str(typed), "--cwd", "/"): "'greet' job, whose command and cwd come from the config",
        (str(exec_job), "--", "make test"): "is one word, which names no program",
        (str(exec_job), "--cwd", "file"): "--cwd file: not a directory",
        (str(exec_job), "--cwd", "missing"): "--cwd missing: no such directory",
        (str(exec_job), "--exec"): "--exec needs a command",
        (str(exec_job), "--"): "--exec needs a command",
        (str(exec_job), "--", ""): "the command's name is empty",
    }
    for args, said in refusals.items():
        result = env.run("edit", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert said in result.stderr, (args, result.stderr)
        assert result.stdout == ""
    assert {i: env.show(i) for i in (exec_job, typed)} == before


def test_edit_of_a_command_on_redis_follows_allow_exec(redis_env: RedisEnv) -> None:
    """Workers of a shared store run commands only with allow_exec: a command edited in where
    enqueue would refuse it is refused the same way, and one allowed runs."""
    env = redis_env
    allowed = "[settings]\nallow_exec = true\n"
    env.write_config(allowed)
    job_id = env.enqueue("--exec", "--", "sh", "-c", "exit 3")
    env.write_config("")
    for args in (("--", "sh", "-c", "echo edited > out.txt"), ("--cwd", "/")):
        result = env.run("edit", str(job_id), *args)
        assert result.returncode == 2, result.stderr
        assert "allow_exec = true" in result.stderr
    assert env.show(job_id)["command"] == ["sh", "-c", "exit 3"]
    env.write_config(allowed)
    env.run("edit", str(job_id), "--", "sh", "-c", "echo edited > out.txt", check=True)
    burst(env)
    assert env.show(job_id)["state"] == "succeeded"
    assert (Path(env.root) / "out.txt").read_text() == "edited\n"
    listed = json.loads(env.run("list", "--json", check=True).stdout)
    assert [j["id"] for j in listed] == [job_id]  # the same job, not a second one
