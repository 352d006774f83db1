"""`enqueue --exec --cwd DIR` (pueue add -w DIR): a command run in a directory other than the
caller's, checked when queued; and `--at now`, as at(1) scripts write it."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest
from conftest import JOBCTL, Env
from test_cli_fastpath import _read_both

CONFIG = """\
[jobs.record]
command = ["true"]
"""


def _burst(env: Env) -> None:
    done = env.run("run-worker", "--burst", timeout=60)
    assert done.returncode == 0, done.stderr


def _all_jobs(env: Env) -> list[dict[str, Any]]:
    done = env.run("list", "--json", "--limit", "0", "--oldest-first", check=True)
    jobs = json.loads(done.stdout)
    assert isinstance(jobs, list)
    return jobs


def _refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one line of a command refused as misused (exit 2)."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    return line


# ---------------------------------------------------------------------------------------------
# --cwd


@pytest.mark.parametrize("given", ["relative", "absolute"])
def test_exec_runs_in_the_directory_cwd_names(env: Env, given: str) -> None:
    """It ran in the caller's directory, whatever --exec was asked: `cd DIR &&` was the only
    way, and a relative path is read from where the job is queued, not where a worker runs."""
    env.write_config(CONFIG)
    work = env.root / "work"
    work.mkdir()
    elsewhere = env.root / "elsewhere"
    elsewhere.mkdir()
    cwd = "../work" if given == "relative" else str(work)
    job_id = int(
        env.run(
            "enqueue", "--exec", "--cwd", cwd, "--", "touch", "made-here", cwd=elsewhere,
            check=True,
        ).stdout
    )  # fmt: skip
    assert env.show(job_id)["cwd"] == str(work)
    _burst(env)
    assert env.show(job_id)["state"] == "succeeded"
    assert (work / "made-here").exists()
    assert not (elsewhere / "made-here").exists()


@pytest.mark.parametrize(
    ("cwd", "reason"),
    [("nowhere", "no such directory"), ("a-file", "not a directory"), ("", "")],
    ids=["missing", "a file", "empty"],
)
def test_a_cwd_that_is_no_directory_is_refused_when_queued(env: Env, cwd: str, reason: str) -> None:
    """Each attempt of the job would have failed at its worker, after its retries."""
    env.write_config(CONFIG)
    (env.root / "a-file").write_text("")
    done = env.run("enqueue", "--exec", "--cwd", cwd, "--", "true", cwd=env.root)
    expected = f"jobctl: --cwd {cwd}: {reason}" if cwd else "jobctl: --cwd: the path is empty"
    assert _refused(done) == expected
    assert not env.db.exists()  # nothing stored


def _enqueue_from_a_deleted_directory(env: Env, *words: str) -> subprocess.CompletedProcess[str]:
    """`jobctl enqueue WORDS` run by a shell standing in a directory it has just removed."""
    env.write_config(CONFIG)
    gone = env.root / "gone"
    gone.mkdir()
    jobctl = " ".join(shlex.quote(word) for word in JOBCTL)
    script = (
        f"cd {shlex.quote(str(gone))} && rmdir {shlex.quote(str(gone))} && {jobctl}"
        f" --config {shlex.quote(str(env.config))} --db {shlex.quote(str(env.db))}"
        f" enqueue {' '.join(words)}"
    )
    return subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env.env, timeout=60,
        check=False,
    )  # fmt: skip


def test_a_relative_cwd_from_a_deleted_directory_is_refused(env: Env) -> None:
    done = _enqueue_from_a_deleted_directory(env, "--exec", "--cwd", "sub", "--", "true")
    assert _refused(done) == (
        "jobctl: --cwd sub: the current directory, which it is read from, was deleted"
    )


def test_exec_from_a_deleted_directory_names_cwd(env: Env) -> None:
    done = _enqueue_from_a_deleted_directory(env, "--exec", "--", "true")
    assert _refused(done).endswith("cd to an existing directory first, or give --cwd DIR")


def test_cwd_without_exec_is_refused(env: Env) -> None:
    """A job type runs in its config's cwd: a --cwd given it would be dropped unsaid."""
    env.write_config(CONFIG)
    done = env.run("enqueue", "record", "--cwd", str(env.root))
    assert _refused(done) == (
        "jobctl: --cwd goes with --exec (or a --batch's command lines): a job type runs in"
        " its config's cwd"
    )
    assert not env.db.exists()


def test_a_batch_runs_its_command_lines_without_a_cwd_in_cwds(env: Env) -> None:
    env.write_config(CONFIG)
    work = env.root / "work"
    work.mkdir()
    lines = [
        {"command": ["touch", "made-here"]},
        {"command": ["true"], "cwd": str(env.root)},  # its own
        {"job": "record"},  # a job type's: none
    ]
    batch = "".join(json.dumps(line) + "\n" for line in lines)
    env.run("enqueue", "--batch", "-", "--cwd", "work", input=batch, cwd=env.root, check=True)
    assert [job["cwd"] for job in _all_jobs(env)] == [str(work), str(env.root), None]
    _burst(env)
    assert (work / "made-here").exists()
    missing = env.run("enqueue", "--batch", "-", "--cwd", "nowhere", input=batch, cwd=env.root)
    assert _refused(missing) == "jobctl: --cwd nowhere: no such directory"
    assert len(_all_jobs(env)) == 3  # nothing more stored


@pytest.mark.parametrize(
    "argv",
    [
        ["enqueue", "--cwd", "w", "--exec", "ls", "-la"],
        ["enqueue", "--exec", "--cwd=w", "--", "ls"],
        ["enqueue", "-x", "--cwd", "w", "--json", "ls", "--cwd", "x"],  # the command's own
        ["enqueue", "x", "--cwd", "w"],  # refused by the body, both ways
    ],
    ids=" ".join,
)
def test_cwd_is_read_by_the_fast_path_as_typer_reads_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_typer, by_fast_path = _read_both(argv, monkeypatch)
    assert by_fast_path == by_typer


def test_an_enqueue_with_cwd_does_not_import_typer(env: Env) -> None:
    """--cwd keeps `enqueue --exec` on the fast path (jobctl.cli.fastpath): typer and click
    are some 30 ms of a 70 ms enqueue."""
    env.write_config(CONFIG)
    done = subprocess.run(
        [*JOBCTL, *env.global_args(), "enqueue", "--exec", "--cwd", str(env.root), "--", "true"],
        capture_output=True,
        text=True,
        env={**env.env, "PYTHONPROFILEIMPORTTIME": "1"},
        cwd=env.root,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "jobctl" in imported and "sqlite3" in imported  # the listing is complete
    assert not imported & {"typer", "click", "rich"}, sorted(imported)


# ---------------------------------------------------------------------------------------------
# --at now


@pytest.mark.parametrize("word", ["now", "NOW", " now "])
def test_at_now_queues_the_job_as_no_at_does(env: Env, word: str) -> None:
    """`at now` scripts: `--at now` was refused as an invalid time."""
    env.write_config(CONFIG)
    _burst(env)  # makes the database: its note is not one of --at's
    before = time.time()
    done = env.run("enqueue", "record", "--at", word, "--json", check=True)
    after = time.time()
    job = json.loads(done.stdout)
    assert job["state"] == "queued"
    assert before - 1 <= datetime.fromisoformat(job["run_at"]).timestamp() <= after + 1
    assert done.stderr == ""  # no note: it is not a time past


def test_at_now_is_taken_by_a_batch_and_its_lines(env: Env) -> None:
    env.write_config(CONFIG)
    _burst(env)
    batch = '{"job": "record", "at": "now"}\n{"job": "record"}\n'
    done = env.run("enqueue", "--batch", "-", "--at", "now", input=batch, check=True)
    assert done.stderr == ""
    assert [job["state"] for job in _all_jobs(env)] == ["queued", "queued"]


def test_other_words_are_still_refused(env: Env) -> None:
    """`now` alone: at(1)'s `noon`, `midnight` and `now + 1 hour` are not read."""
    env.write_config(CONFIG)
    for word in ("noon", "now + 1 hour", "nowish"):
        line = _refused(env.run("enqueue", "record", "--at", word))
        assert line.startswith(f"jobctl: --at: invalid time {word!r}: expected ISO-8601")
        assert line.endswith(", +DURATION (+10m, +1h30m) or now")


def test_the_help_names_at_now_and_cwd(env: Env) -> None:
    shown = " ".join(env.run("enqueue", "--help", check=True).stdout.split())
    assert "+10m (from now), or now." in shown
    assert "--cwd DIR With --exec: run the command in DIR" in shown


def test_a_directory_gone_or_no_directory_is_refused_by_a_batch_line_retry_and_dead_retry(
    env: Env,
) -> None:
    """--cwd refused them, but a batch line's cwd, and a retry or dead retry of an --exec
    job whose directory was removed since, queued jobs that failed every attempt (`cannot
    start`)."""
    for line, why in (
        ('{"command": ["pwd"], "cwd": "/nonexistent"}', "cwd /nonexistent: no such directory"),
        ('{"command": ["pwd"], "cwd": "/etc/passwd"}', "cwd /etc/passwd: not a directory"),
    ):
        refused = env.run("enqueue", "--batch", "-", input=line + "\n")
        assert (refused.returncode, refused.stderr) == (2, f"jobctl: <stdin>:1: {why}\n")
    gone = env.root / "gone"
    gone.mkdir()
    ran = env.enqueue("--exec", "--cwd", str(gone), "--", "pwd")
    died = env.enqueue("--exec", "--cwd", str(gone), "--", "false")
    env.run("run-worker", "--burst", check=True)
    gone.rmdir()
    retried = env.run("retry", str(ran))
    assert (retried.returncode, retried.stderr) == (
        2,
        f"jobctl: job {ran} cannot run again: cwd {gone}: no such directory"
        f" (`jobctl retry {ran} --cwd DIR` runs it in another directory)\n",
    )
    dead = env.run("dead", "retry", str(died))
    assert dead.returncode == 1
    assert f"job {died} cannot run again (cwd {gone}: no such directory); not retried" in (
        dead.stderr
    )
    listed = env.run("list", "--json", check=True).stdout
    assert [job["id"] for job in json.loads(listed)] == [died, ran]  # nothing new queued
