"""The dead-letter queue: list, show, retry and purge, including races with workers."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from pathlib import Path

from conftest import JOBCTL, Env
from test_ops_support import (
    attempts,
    burst,
    dead_jobs,
    job,
    opened,
    runs_of,
    start_worker,
    wait_state,
)


def test_dead_list_and_show(env: Env) -> None:
    env.write_config(
        '[jobs.bad]\ncommand = ["sh", "-c", "echo out $JOBCTL_ATTEMPT; echo boom >&2; exit 3"]\n'
        'max_attempts = 2\nbackoff = "10ms"\njitter = false\n'
        '[jobs.ok]\ncommand = ["true"]\n'
    )
    bad = env.enqueue("bad", "--arg", "target=/srv")
    env.enqueue("ok")
    burst(env)
    listing = env.run("dead", "list", input="", check=True).stdout.splitlines()
    assert listing[0].split() == ["ID", "JOB", "QUEUE", "TRIES", "FAILED", "ERROR", "COMMAND"]
    assert listing[1].split()[:4] == [str(bad), "bad", "default", "2/2"]
    assert listing[1].endswith("exit code 3: boom  -")
    assert len(listing) == 2
    # Nothing dead: a pipe gets the heading alone, as from `list` (`tail -n +2 | wc -l` is 0).
    empty = env.run("dead", "list", "--job", "ok", check=True).stdout.splitlines()
    assert [line.split() for line in empty] == [listing[0].split()]
    assert json.loads(env.run("dead", "list", "--since", "1h", "--json").stdout)[0]["id"] == bad

    shown = env.run("dead", "show", str(bad), check=True).stdout
    assert 'payload    {"target": "/srv"}' in shown
    for number in (1, 2):
        section = shown.split(f"attempt {number} (run {number}) · failed · exit 3")[1]
        assert "  error:\n    exit code 3: boom\n" in section
        assert f"    out {number}\n" in section.split("attempt")[0]
    alive = env.enqueue("ok", "--delay", "1h")
    refused = env.run("dead", "show", str(alive))
    assert refused.returncode == 1
    assert refused.stderr == f"jobctl: job {alive} is scheduled, not dead (see `jobctl show`)\n"


def test_dead_show_gives_the_state_of_each_job_it_ran_after(env: Env) -> None:
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    first = env.enqueue("ok")
    bad = env.enqueue("bad", "--after", str(first))
    burst(env)
    assert (
        f"after      {first} (succeeded)\n" in env.run("dead", "show", str(bad), check=True).stdout
    )
    env.run("prune", "--older-than", "0s", "--state", "succeeded", check=True)
    assert f"after      {first} (gone)\n" in env.run("dead", "show", str(bad), check=True).stdout


def test_dead_retry_requeues_the_same_job_keeping_its_history(tmp_path: Path, env: Env) -> None:
    runs, ok = tmp_path / "runs", tmp_path / "ok"
    first, second, third = dead_jobs(env, 3, runs, ok)
    ok.touch()
    result = env.run("dead", "retry", str(first), str(second), check=True)
    assert result.stdout == f"retried 2 dead job(s): {first}, {second}\n"
    retried = job(env, first)
    assert retried is not None and (retried.state.value, retried.attempts) == ("queued", 0)
    burst(env)
    assert [a.outcome.value for a in attempts(env, first) if a.outcome] == ["failed", "succeeded"]
    assert [a.run for a in attempts(env, first)] == [1, 2]
    assert job(env, third) is not None and job(env, third).state.value == "dead"  # type: ignore[union-attr]

    again = env.run("dead", "retry", str(first), str(third), "999")
    assert again.returncode == 1
    assert again.stdout == f"retried 1 dead job(s): {third}\n"
    assert again.stderr.splitlines() == [
        f"jobctl: job {first} is succeeded, not dead; not retried",
        "jobctl: job 999 does not exist; not retried",
        "jobctl: 2 job(s) not retried",
    ]


def test_dead_retry_all_of_one_job_type(env: Env) -> None:
    env.write_config(
        '[jobs.a]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[jobs.b]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    ids = [env.enqueue("a"), env.enqueue("a"), env.enqueue("b")]
    burst(env)
    assert env.run("dead", "retry", "--all", "--job", "a", check=True).stdout == (
        f"retried 2 dead job(s): {ids[0]}, {ids[1]}\n"
    )
    assert [job(env, i).state.value for i in ids] == ["queued", "queued", "dead"]  # type: ignore[union-attr]
    assert env.run("dead", "retry", "--all", check=True).stdout == (
        f"retried 1 dead job(s): {ids[2]}\n"
    )


def test_dead_retry_and_purge_need_ids_or_all(env: Env) -> None:
    for command in ("retry", "purge"):
        neither = env.run("dead", command, input="")
        assert (neither.returncode, neither.stderr) == (
            2,
            "jobctl: give the ids of dead jobs, or --all\n",
        )
        both = env.run("dead", command, "1", "--all", input="")
        assert (both.returncode, both.stderr) == (2, "jobctl: give job ids or --all, not both\n")


def test_dead_purge_deletes_jobs_and_logs(tmp_path: Path, env: Env) -> None:
    runs, ok = tmp_path / "runs", tmp_path / "ok"
    ids = dead_jobs(env, 3, runs, ok)
    logs = [Path(str(attempts(env, i)[0].log_path)) for i in ids]
    assert all(p.is_file() for p in logs)
    result = env.run("dead", "purge", str(ids[0]), input="", check=True)
    assert result.stdout == f"purged 1 dead job(s): {ids[0]}; removed 1 log file(s)\n"
    assert job(env, ids[0]) is None and not logs[0].exists()
    kept = env.run("dead", "purge", "--all", "--older-than", "1h", input="", check=True)
    assert kept.stdout == "purged 0 dead job(s); removed 0 log file(s)\n"
    assert env.run("dead", "purge", "--all", input="", check=True).stdout.startswith(
        "purged 2 dead job(s)"
    )
    assert not any(p.exists() for p in logs)


def _on_a_terminal(env: Env, answer: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """Run jobctl with a pseudo-terminal as stdin, typing `answer`."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*JOBCTL, *env.global_args(), *args],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env.env,
            cwd=env.root,
        )
        os.close(follower)
        os.write(leader, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_dead_purge_asks_on_a_terminal_unless_yes(tmp_path: Path, env: Env) -> None:
    ids = dead_jobs(env, 2, tmp_path / "runs", tmp_path / "ok")
    declined = _on_a_terminal(env, b"n\n", "dead", "purge", "--all")
    assert declined.returncode == 1
    assert declined.stderr == (
        "Delete 2 dead job(s) and their logs? [y/N] jobctl: nothing deleted\n"
    )
    assert all(job(env, i) is not None for i in ids)
    accepted = _on_a_terminal(env, b"y\n", "dead", "purge", str(ids[0]))
    assert accepted.returncode == 0 and accepted.stdout.startswith("purged 1 dead job(s)")
    forced = _on_a_terminal(env, b"", "dead", "purge", "--all", "--yes")
    assert forced.returncode == 0 and forced.stdout.startswith("purged 1 dead job(s)")
    assert forced.stderr == ""


def test_dead_purge_ends_its_question_line_at_ctrl_d_and_ctrl_c(tmp_path: Path, env: Env) -> None:
    """Answered by Ctrl-D or Ctrl-C, the question's line was left open: the next output (the
    shell's prompt) began on it."""
    ids = dead_jobs(env, 1, tmp_path / "runs", tmp_path / "ok")
    ended = _on_a_terminal(env, b"\x04", "dead", "purge", "--all")
    assert ended.returncode == 1
    assert ended.stderr == (
        "Delete 1 dead job(s) and their logs? [y/N] \njobctl: nothing deleted\n"
    )
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*JOBCTL, *env.global_args(), "dead", "purge", "--all"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env.env,
            cwd=env.root,
        )
        os.close(follower)
        assert proc.stderr is not None
        asked = b""
        while not asked.endswith(b"[y/N] "):
            asked += proc.stderr.read(1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert proc.stderr.read() == b"\n"
    finally:
        os.close(leader)
    assert job(env, ids[0]) is not None


def _at_once(env: Env, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Each of `commands` run as Env.run runs it (a fork of the suite's server, not a new
    interpreter), all at the same moment, each from a thread of its own."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: env.run(*args, timeout=60), commands))


def test_concurrent_dead_retries_never_run_a_job_twice(tmp_path: Path, env: Env) -> None:
    runs, ok = tmp_path / "runs", tmp_path / "ok"
    ids = dead_jobs(env, 12, runs, ok)
    ok.touch()
    start_worker(env, "--concurrency", "4")
    everyone = _at_once(
        env,
        ["dead", "retry", "--all"],
        ["dead", "retry", "--all"],
        ["dead", "retry", *map(str, ids)],
        ["dead", "retry", "--all", "--job", "flaky"],
    )
    retried = 0
    for done in everyone:
        retried += int(done.stdout.split()[1])
    assert retried == len(ids)  # each dead job moved by exactly one of them
    for job_id in ids:
        wait_state(env, job_id, "succeeded")
    assert runs_of(runs) == {job_id: 2 for job_id in ids}  # one death, one retry: no duplicate


def test_purge_racing_retry_and_a_worker_deletes_or_runs_each_job_once(
    tmp_path: Path, env: Env
) -> None:
    runs, ok = tmp_path / "runs", tmp_path / "ok"
    ids = dead_jobs(env, 12, runs, ok)
    logs = {i: Path(str(attempts(env, i)[0].log_path)) for i in ids}
    ok.touch()
    start_worker(env, "--concurrency", "4")
    retry, purge = _at_once(env, ["dead", "retry", "--all"], ["dead", "purge", "--all", "--yes"])
    retried = int(retry.stdout.split()[1])
    purged = int(purge.stdout.split()[1])
    assert retried + purged == len(ids)

    def settled() -> bool:
        with opened(env) as store:
            found = store.get_many(ids)
        return all(j.state.value == "succeeded" for j in found.values())

    env.wait_for(settled)
    with opened(env) as store:
        survivors = store.get_many(ids)
    counts = runs_of(runs)
    assert len(survivors) == retried
    for job_id in ids:
        if job_id in survivors:
            assert counts[job_id] == 2  # retried, ran once more
        else:
            assert counts[job_id] == 1 and not logs[job_id].exists()  # purged while dead


def test_a_job_filter_that_names_no_job_type_and_matches_nothing_is_warned_of(env: Env) -> None:
    """`dead purge --all --job bakup --yes` in a script purged nothing and said all was well.
    A name the database holds jobs of, its job type since removed from the config, is no
    typo: a filter of it that matches nothing is warned of (a name neither knows is refused:
    test_a_job_name_neither_the_config_nor_the_database_knows_is_refused)."""
    env.write_config(
        '[jobs.backup]\ncommand = ["false"]\nmax_attempts = 1\n[jobs.old]\ncommand = ["true"]\n'
    )
    env.enqueue("backup")
    env.enqueue("old")
    env.run("run-worker", "--burst", check=True)
    env.write_config('[jobs.backup]\ncommand = ["false"]\nmax_attempts = 1\n')
    warning = (
        f"jobctl: warning: --job 'old' matched no job, and {env.config} has no job type of"
        " that name\n"
    )
    for words in (
        ["dead", "purge", "--all", "--job", "old", "--yes"],
        ["dead", "retry", "--all", "--job", "old"],
        ["dead", "list", "--job", "old"],
        ["list", "--job", "old", "--state", "queued"],
    ):
        result = env.run(*words)
        assert (result.returncode, result.stderr) == (0, warning), (words, result.stderr)
    waited = env.run("wait", "--job", "bakup")  # a CI gate: refused, not passed
    assert (waited.returncode, waited.stderr) == (
        2,
        f"jobctl: --job 'bakup': no job type of that name in {env.config}, and no job of it in"
        " the database (did you mean 'backup'?)\n",
    )
    known = env.run("dead", "list", "--job", "backup", check=True)
    assert known.stderr == ""


def test_dead_show_lines_0_does_not_call_a_log_empty(env: Env) -> None:
    env.write_config('[jobs.loud]\ncommand = ["sh", "-c", "echo out; exit 3"]\nmax_attempts = 1\n')
    job_id = env.enqueue("loud")
    env.run("run-worker", "--burst", check=True)
    shown = env.run("dead", "show", str(job_id), "--lines", "0", check=True).stdout
    assert "not shown (--lines 0)" in shown and "empty" not in shown
    assert "    out" in env.run("dead", "show", str(job_id), check=True).stdout


def test_dead_retry_leaves_dead_a_job_enqueue_would_refuse(env: Env) -> None:
    """A dead job whose job type the config no longer has, or whose payload lacks a value
    its command now needs, went back to the queue, only to fail every attempt and die
    again. It stays dead, named with enqueue's reason; the others are retried."""
    env.write_config(
        '[jobs.a]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[jobs.b]\ncommand = ["false", "{x}"]\nmax_attempts = 1\n'
        '[jobs.c]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    gone = env.enqueue("a")
    lacking = env.enqueue("b", "--arg", "x=1")
    fine = env.enqueue("c")
    command = env.enqueue("--exec", "--max-attempts", "1", "--", "false")
    burst(env)
    env.write_config(
        '[jobs.b]\ncommand = ["false", "{x}", "{y}"]\nmax_attempts = 1\n'
        '[jobs.c]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    refusals = [
        f"jobctl: job {gone} cannot run again (unknown job 'a' in {env.config}; defined jobs:"
        " b, c); not retried",
        f"jobctl: job {lacking} cannot run again (job 'b': no payload value for placeholder"
        " {y}); not retried",
    ]
    result = env.run("dead", "retry", str(gone), str(lacking), str(fine), str(command))
    assert (result.returncode, result.stdout) == (1, f"retried 2 dead job(s): {fine}, {command}\n")
    assert result.stderr.splitlines() == [*refusals, "jobctl: 2 job(s) not retried"]
    states = [job(env, i).state.value for i in (gone, lacking, fine, command)]  # type: ignore[union-attr]
    assert states == ["dead", "dead", "queued", "queued"]

    every = env.run("dead", "retry", "--all")
    assert (every.returncode, every.stdout) == (1, "retried 0 dead job(s)\n")
    assert every.stderr.splitlines() == [*refusals, "jobctl: 2 job(s) not retried"]
    alone = env.run("dead", "retry", str(gone))
    assert (alone.returncode, alone.stderr) == (1, refusals[0] + "\n")

    # With a broken config passed over (the database named), there is nothing to check
    # against: dead retry goes on, as the README promises of the `dead` commands.
    env.write_config("[jobs.b\n")
    passed = env.run("dead", "retry", str(gone))
    assert (passed.returncode, passed.stdout) == (0, f"retried 1 dead job(s): {gone}\n")
    assert passed.stderr.startswith("jobctl: warning: ")


def test_a_job_name_neither_the_config_nor_the_database_knows_is_refused(env: Env) -> None:
    """`dead retry --all --job fial` retried nothing and exited 0, with only a warning on
    stderr: a CI step passed. A job type since removed from the config, whose dead jobs the
    database still holds, is no typo: its name still picks them."""
    env.write_config(
        '[jobs.fail]\ncommand = ["false"]\nmax_attempts = 1\n'
        '[jobs.gone]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    fail, gone = env.enqueue("fail"), env.enqueue("gone")
    burst(env)
    env.write_config('[jobs.fail]\ncommand = ["true"]\nmax_attempts = 1\n')
    typo = (
        f"jobctl: --job 'fial': no job type of that name in {env.config}, and no job of it in"
        " the database (did you mean 'fail'?)\n"
    )
    for args in (
        ["dead", "list", "--job", "fial"],
        ["dead", "retry", "--all", "--job", "fial"],
        ["dead", "retry", str(fail), "--job", "fial"],
        ["dead", "purge", "--all", "--job", "fial", "--yes"],
    ):
        result = env.run(*args)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", typo), args
    assert [job(env, i).state.value for i in (fail, gone)] == ["dead", "dead"]  # type: ignore[union-attr]

    listed = env.run("dead", "list", "--job", "gone", "--json", check=True)
    assert [j["id"] for j in json.loads(listed.stdout)] == [gone] and listed.stderr == ""
    purged = env.run("dead", "purge", "--all", "--job", "gone", "--yes", check=True)
    assert purged.stdout == f"purged 1 dead job(s): {gone}; removed 0 log file(s)\n"
    assert job(env, gone) is None and job(env, fail).state.value == "dead"  # type: ignore[union-attr]
