"""End to end: jobs that run after others (`enqueue --after`), through the real CLI and a
real worker."""

from __future__ import annotations

import json
from typing import Any

from conftest import Env

CONFIG = """\
[jobs.step]
command = ["sh", "-c", 'echo "$1" >> order.txt; exit "$2"', "sh", "{name}", "{code}"]
max_attempts = 1
"""


def _step(env: Env, name: str, *options: str, code: int = 0) -> int:
    return env.enqueue("step", "--arg", f"name={name}", "--arg", f"code={code}", *options)


def _jobs(env: Env) -> dict[int, dict[str, Any]]:
    listed = json.loads(env.run("list", "--json", "--limit", "0", check=True).stdout)
    return {job["id"]: job for job in listed}


def _chain(env: Env, length: int) -> int:
    """A job put off an hour, then `length` jobs each after the one before; the first's id."""
    root = _step(env, "root", "--delay", "1h")
    lines = "".join(
        json.dumps({"job": "step", "payload": {"name": f"n{i}", "code": 0}, "after": root + i})
        + "\n"
        for i in range(length)
    )
    env.run("enqueue", "--batch", "-", input=lines, check=True)
    return root


def _burst(env: Env, concurrency: int = 4) -> None:
    result = env.run("run-worker", "--burst", "--concurrency", str(concurrency), timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_job_runs_only_after_every_job_it_names_succeeded(env: Env) -> None:
    env.write_config(CONFIG)
    build = _step(env, "build")
    lint = _step(env, "lint")
    test = _step(env, "test", "--after", f"{build},{lint}", "--priority", "9")
    deploy = _step(env, "deploy", "--after", str(test))
    jobs = _jobs(env)
    assert [jobs[i]["state"] for i in (build, lint, test, deploy)] == [
        "queued",
        "queued",
        "waiting",
        "waiting",
    ]
    assert (jobs[test]["after"], jobs[deploy]["after"], jobs[build]["after"]) == (
        [build, lint],
        [test],
        [],
    )
    listed = env.run("list", check=True).stdout
    assert f"after {build},{lint}" in listed
    shown = env.run("show", str(test), check=True).stdout
    assert f"after      {build} (queued), {lint} (queued)" in shown
    _burst(env)  # four slots, yet test waits for both, deploy for test (despite its priority)
    lines = (env.root / "order.txt").read_text().split()
    assert sorted(lines[:2]) == ["build", "lint"] and lines[2:] == ["test", "deploy"]
    assert {job["state"] for job in _jobs(env).values()} == {"succeeded"}


def test_when_a_job_fails_every_job_waiting_on_it_is_dead(env: Env) -> None:
    env.write_config(CONFIG)
    build = _step(env, "build", code=3)
    test = _step(env, "test", "--after", str(build))
    deploy = _step(env, "deploy", "--after", str(test))
    other = _step(env, "other")
    _burst(env)
    assert sorted((env.root / "order.txt").read_text().split()) == ["build", "other"]
    jobs = _jobs(env)
    assert [jobs[i]["state"] for i in (build, test, deploy, other)] == [
        "dead",
        "dead",
        "dead",
        "succeeded",
    ]
    assert jobs[deploy]["error"] == f"job {build}, which it waited for, ended dead"
    waited = env.run("wait", str(deploy), "--timeout", "5s")
    assert waited.returncode == 1, waited.stderr
    # Retried alone, deploy would wait for a dead job: it stays dead, and says why.
    refused = env.run("dead", "retry", str(deploy))
    assert refused.returncode == 1
    assert f"runs after job {test}, which is dead" in refused.stderr
    env.write_config(CONFIG.replace('exit "$2"', "exit 0"))
    assert "retried 3" in env.run("dead", "retry", "--all", check=True).stdout
    _burst(env)
    assert {job["state"] for job in _jobs(env).values()} == {"succeeded"}
    assert (env.root / "order.txt").read_text().split()[-3:] == ["build", "test", "deploy"]


def test_cancelling_a_job_makes_the_jobs_after_it_dead(env: Env) -> None:
    env.write_config(CONFIG)
    first = _step(env, "first", "--delay", "1h")
    second = _step(env, "second", "--after", str(first))
    env.run("cancel", str(first), check=True)
    shown = env.show(second)
    assert shown["state"] == "dead"
    assert shown["error"] == f"job {first}, which it waited for, was cancelled"


def test_a_job_after_no_job_is_refused_and_nothing_is_stored(env: Env) -> None:
    env.write_config(CONFIG)
    first = _step(env, "first", code=1)
    _burst(env)
    for after, words in (
        ("99", "there is no job 99"),
        ("x", "'x' is not a job id"),
        ("0", "'0' is not a job id"),
    ):
        result = env.run("enqueue", "step", "--arg", "name=n", "--arg", "code=0", "--after", after)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("jobctl: --after") and words in result.stderr
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert list(_jobs(env)) == [first]


def test_a_job_after_another_on_no_database_yet_makes_none(env: Env) -> None:
    """The refusal made the database (and its lock file) first: an empty database left
    behind by a command that stored nothing."""
    env.write_config(CONFIG)
    step = ["step", "--arg", "name=n", "--arg", "code=0"]
    line = '{"job": "step", "payload": {"name": "n", "code": 0}'
    batch = f'{line}}}\n{line}, "after": 4}}\n'
    for args, refused in (
        (["enqueue", *step, "--after", "1"], "jobctl: --after 1: there is no job 1"),
        (
            ["enqueue", "--exec", "--after", "7", "--", "true"],
            "jobctl: --after 7: there is no job 7",
        ),
        (["enqueue", "--batch", "-"], "jobctl: <stdin>:2: after: there is no job 4"),
        (["enqueue", "--batch", "-", "--after", "3"], "jobctl: --after 3: there is no job 3"),
    ):
        result = env.run(*args, input=batch if "--batch" in args else None)
        assert (result.returncode, result.stderr.strip()) == (2, refused), args
        assert [p.name for p in env.db.parent.iterdir() if p.name.startswith(env.db.name)] == []


def test_a_batch_line_runs_after_an_earlier_line_or_the_option(env: Env) -> None:
    env.write_config(CONFIG)
    base = _step(env, "base", "--delay", "1h")
    lines = [
        {"job": "step", "payload": {"name": "one", "code": 0}},
        {"job": "step", "payload": {"name": "two", "code": 0}, "after": base + 1},
        {"job": "step", "payload": {"name": "three", "code": 0}, "after": [base + 1, base + 2]},
        {"job": "step", "payload": {"name": "four", "code": 0}},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    result = env.run("enqueue", "--batch", "-", "--after", str(base), input=text, check=True)
    ids = [int(word) for word in result.stdout.split()]
    assert ids == [base + 1, base + 2, base + 3, base + 4]
    jobs = _jobs(env)
    assert [jobs[i]["after"] for i in ids] == [[base], [base + 1], [base + 1, base + 2], [base]]
    assert {jobs[i]["state"] for i in ids} == {"waiting"}
    bad = env.run("enqueue", "--batch", "-", input='{"job": "step", "after": 0}\n')
    assert bad.returncode == 2 and "<stdin>:1: after: '0' is not a job id" in bad.stderr
    assert len(_jobs(env)) == 5


def test_a_batch_is_a_pipeline_whose_lines_name_the_lines_they_run_after(env: Env) -> None:
    env.write_config(CONFIG)
    lines = [
        {"job": "step", "payload": {"name": "build", "code": 0}, "ref": "build"},
        {"job": "step", "payload": {"name": "lint", "code": 0}, "ref": "lint"},
        {"job": "step", "payload": {"name": "test", "code": 0}, "ref": "test", "after": "build"},
        {"job": "step", "payload": {"name": "deploy", "code": 0}, "after": ["test", "lint"],
         "priority": 9},
    ]  # fmt: skip
    text = "".join(json.dumps(line) + "\n" for line in lines)
    ids = [
        int(w) for w in env.run("enqueue", "--batch", "-", input=text, check=True).stdout.split()
    ]
    jobs = _jobs(env)
    assert [jobs[i]["after"] for i in ids] == [[], [], [ids[0]], [ids[2], ids[1]]]
    _burst(env, concurrency=1)
    assert (env.root / "order.txt").read_text().split() == ["build", "lint", "test", "deploy"]


def test_a_batch_line_naming_no_earlier_line_is_refused_with_the_batch(env: Env) -> None:
    env.write_config(CONFIG)
    step = {"job": "step", "payload": {"name": "x", "code": 0}}
    for lines, words in (
        ([step | {"after": "build"}], "<stdin>:1: after 'build': no earlier line has this ref"),
        ([step | {"ref": "a", "after": "a"}], "<stdin>:1: after 'a': no earlier line"),
        ([step, step | {"after": "later"}, step | {"ref": "later"}], "<stdin>:2: after 'later'"),
        ([step | {"ref": "a"}, step | {"ref": "a"}], "<stdin>:2: ref 'a' is already"),
        ([step | {"ref": "12"}], "<stdin>:1: ref '12' is not a name"),
        ([step | {"ref": ["a"]}], "<stdin>:1: ref \"['a']\" is not a name"),
    ):
        text = "".join(json.dumps(line) + "\n" for line in lines)
        result = env.run("enqueue", "--batch", "-", input=text)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and len(result.stderr.splitlines()) == 1
    assert not env.db.exists()  # refused before the database was opened


def test_dead_retry_leaves_dead_a_job_whose_failed_job_was_purged(env: Env) -> None:
    env.write_config(CONFIG)
    build = _step(env, "build", code=1)
    deploy = _step(env, "deploy", "--after", str(build))
    _burst(env)
    env.run("dead", "purge", str(build), "--yes", check=True)
    refused = env.run("dead", "retry", str(deploy))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"jobctl: job {deploy} runs after job {build}, which is gone"
        " (deleted; whether it succeeded is not known); not retried\n"
    )
    _burst(env)
    assert (env.root / "order.txt").read_text().split() == ["build"]
    assert _jobs(env)[deploy]["state"] == "dead"


def test_dead_retry_of_ids_in_any_order_retries_each_after_the_jobs_it_runs_after(
    env: Env,
) -> None:
    env.write_config(CONFIG)
    build = _step(env, "build", code=1)
    test = _step(env, "test", "--after", str(build))
    deploy = _step(env, "deploy", "--after", str(test))
    _burst(env)
    retried = env.run("dead", "retry", str(deploy), str(test), str(build))
    assert (retried.returncode, retried.stderr) == (0, "")
    assert "retried 3" in retried.stdout
    jobs = _jobs(env)
    assert [jobs[i]["state"] for i in (build, test, deploy)] == ["queued", "waiting", "waiting"]


def test_dead_retry_says_which_job_it_runs_after_is_still_dead(env: Env) -> None:
    env.write_config(CONFIG)
    build = _step(env, "build", code=1)
    test = _step(env, "test", "--after", str(build))
    deploy = _step(env, "deploy", "--after", str(test))
    _burst(env)
    refused = env.run("dead", "retry", str(deploy), str(test))
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"jobctl: job {deploy} runs after job {test}, which is dead (dead retry it first);"
        " not retried",
        f"jobctl: job {test} runs after job {build}, which is dead (dead retry it first);"
        " not retried",
        "jobctl: 2 job(s) not retried",
    ]


def test_a_job_after_one_already_dead_is_stored_dead_and_waited_for_as_one(env: Env) -> None:
    """Refused with exit 2, a build that had failed looked like a mistyped command, while the
    same enqueue a moment earlier was stored and made dead by the cascade."""
    env.write_config(CONFIG)
    build = _step(env, "build", code=1)
    _burst(env)
    deploy = env.run("enqueue", "step", "--arg", "name=deploy", "--arg", "code=0", "--after",
                     str(build))  # fmt: skip
    assert deploy.returncode == 0, deploy.stderr
    deploy_id = int(deploy.stdout)
    assert deploy.stderr == (
        f"jobctl: note: job {deploy_id} is dead: job {build}, which it waited for, ended dead\n"
    )
    shown = env.show(deploy_id)
    assert (shown["state"], shown["error"]) == (
        "dead",
        f"job {build}, which it waited for, ended dead",
    )
    waited = env.run("enqueue", "step", "--arg", "name=d2", "--arg", "code=0", "--after",
                     str(deploy_id), "--wait", "--timeout", "5s")  # fmt: skip
    assert waited.returncode == 1, waited.stderr
    _burst(env)
    assert (env.root / "order.txt").read_text().split() == ["build"]


def test_cancel_of_a_pipeline_in_any_order_cancels_every_job(env: Env) -> None:
    env.write_config(CONFIG)
    build = _step(env, "build", "--delay", "1h")
    test = _step(env, "test", "--after", str(build))
    deploy = _step(env, "deploy", "--after", str(test))
    cancelled = env.run("cancel", str(build), str(test), str(deploy))
    assert (cancelled.returncode, cancelled.stderr) == (0, ""), cancelled.stderr
    assert cancelled.stdout.splitlines() == [
        f"cancelled {build} (was scheduled)",
        f"cancelled {test} (was waiting)",
        f"cancelled {deploy} (was waiting)",
    ]
    jobs = _jobs(env)
    assert [jobs[i]["state"] for i in (build, test, deploy)] == ["cancelled"] * 3


def test_dead_retry_all_names_twenty_jobs_left_dead_then_counts_the_rest(env: Env) -> None:
    """A chain of jobs after a cancelled one gave a line each (4,999 for 5,000)."""
    env.write_config(CONFIG)
    root = _chain(env, 30)
    env.run("cancel", str(root), check=True)
    result = env.run("dead", "retry", "--all")
    assert result.returncode == 1
    said = result.stderr.splitlines()
    assert len(said) == 22, said
    first = f"jobctl: job {root + 1} runs after job {root}, which is cancelled (it cannot run)"
    assert said[0] == f"{first}; not retried"
    assert said[-2:] == ["jobctl: and 10 more job(s) not retried", "jobctl: 30 job(s) not retried"]


def test_a_cancel_says_how_many_jobs_waiting_on_it_it_made_dead(env: Env) -> None:
    """`cancel 1` of a chain said only "cancelled 1 (was queued)", the jobs after it made dead
    without a word."""
    env.write_config(CONFIG)
    root = _chain(env, 3)
    other = _step(env, "other", "--delay", "1h")
    result = env.run("cancel", str(root), check=True)
    assert result.stdout == f"cancelled {root} (was scheduled)\n"
    assert result.stderr == (
        f"jobctl: note: 3 job(s) waiting on the jobs cancelled are dead now (first: job"
        f" {root + 1}; jobctl dead list shows them)\n"
    )
    assert env.run("cancel", str(other), check=True).stderr == ""  # none waits on it


def test_an_after_of_digits_other_than_ascii_is_no_id(env: Env) -> None:
    """`--after ²` ended in an unexpected error (exit 1), and a batch's "１" (full width) was
    taken for job 1."""
    env.write_config(CONFIG)
    first = _step(env, "first")
    for value in ("²", "１", "1_0"):
        result = env.run("enqueue", "step", "--arg", "name=x", "--arg", "code=0", "--after", value)
        assert result.returncode == 2, result.stderr
        assert f"--after: {value!r} is not a job id" in result.stderr
    line = json.dumps({"job": "step", "payload": {"name": "x", "code": 0}, "after": "１"})
    result = env.run("enqueue", "--batch", "-", input=line + "\n")
    assert result.returncode == 2 and "no earlier line has this ref" in result.stderr
    assert list(_jobs(env)) == [first]
