"""What a running worker takes of its config file as it changes (jobctl.reloads), and the
settings `validate` refuses or warns about."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import Env

_GREET = '[jobs.greet]\ncommand = ["sh", "-c", "echo {word} >> {marker}"]\nmax_attempts = 1\n'


def _stop(worker: subprocess.Popen[str]) -> str:
    """Stop a worker started with env.start; its stderr (the event lines)."""
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    return err


def _aged(path: Path) -> None:
    """Date the file's last change 10 s back: a write in progress that has stood still for
    longer than a reload waits for one to finish (a generator slow to print, a copy over
    a slow link)."""
    os.utime(path, (path.stat().st_atime - 10, path.stat().st_mtime - 10))


@pytest.mark.parametrize(
    "written_so_far",
    ["", "# jobs.toml, made by a generator\n\n", '[settings]\ndb = "q.db"\n'],
    ids=["empty", "only-a-comment", "no-job-type-yet"],
)
def test_a_worker_keeps_its_job_types_while_the_file_is_rewritten_slowly(
    env: Env, written_so_far: str
) -> None:
    """`generator > jobs.toml` truncates the file, then writes it as the generator prints: a
    worker that claimed a job in between took the empty file (or its first lines, without
    any job type) for its config, and the job went dead as of an unknown type."""
    marker = env.root / "ran"
    whole = _GREET.format(word="hi", marker=marker)
    good = env.root / "good.toml"
    good.write_text(whole)
    env.write_config(whole)
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("greet")), "--timeout", "30s", check=True)
        env.write_config(written_so_far)
        _aged(env.config)
        job_id = int(
            env.run("--config", str(good), "enqueue", "greet", check=True).stdout
        )  # (the file has no greet yet)
        env.run("wait", str(job_id), "--timeout", "30s", check=True)
        env.write_config(whole)  # the generator is done
        env.run("wait", str(env.enqueue("greet")), "--timeout", "30s", check=True)
    finally:
        err = _stop(worker)
    assert marker.read_text() == "hi\nhi\nhi\n"
    assert env.show(job_id)["attempts"] == 1
    assert "worker.unknown_jobs" not in err
    refused = [line for line in err.splitlines() if "worker.reload_failed" in line]
    assert len(refused) == 1 and str(env.config) in refused[0], err
    assert "write in progress" in refused[0], refused
    assert " WARNING worker.reload_failed " in refused[0], refused  # not an error: it passes
    assert "worker.restart_needed" not in err  # (the empty file has no db)


def test_a_worker_started_with_an_empty_file_takes_the_one_written_after(env: Env) -> None:
    """An empty file is refused only in place of one that says something: a worker
    started with nothing to keep takes the job types written after."""
    env.write_config("")
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("--exec", "true")), "--timeout", "30s", check=True)
        env.write_config('[jobs.a]\ncommand = ["true"]\n')
        env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
    finally:
        err = _stop(worker)
    assert "worker.reload_failed" not in err


def test_restart_needed_compares_with_the_settings_the_worker_started_with(env: Env) -> None:
    """A lease changed, then put back: the worker runs with the lease it started with all
    along, so only the first reload needs a restart. It was said again on the second,
    against the lease of the config in force before it."""
    job = '[jobs.a]\ncommand = ["true"]\n'
    env.write_config(f'[settings]\nlease = "30s"\n{job}')
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
        env.write_config(f'[settings]\nlease = "45s"  # longer\n{job}')
        env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
        env.write_config(f'[settings]\nlease = "30s"\n{job}')
        env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
    finally:
        err = _stop(worker)
    assert err.count("worker.reloaded") == 2, err
    assert err.count("worker.restart_needed") == 1, err


def test_a_lone_worker_refuses_a_bad_cron_line_as_the_cron_daemon_does(env: Env) -> None:
    """One edit, one verdict in every process: a run-worker started with schedules that
    plan took an edit whose new cron line the cron daemon (and validate) refused, and ran
    the new command of that half-applied edit."""
    marker = env.root / "ran"
    schedule = '[schedules.s]\njob = "greet"\ncron = "{cron}"\n'
    env.write_config(
        _GREET.format(word="v1", marker=marker) + schedule.format(cron="*/5 * * * * *")
    )
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("greet")), "--timeout", "30s", check=True)
        env.write_config(
            _GREET.format(word="v2", marker=marker) + schedule.format(cron="*/5 * * * * * *")
        )
        assert env.run("validate").returncode == 2
        env.run("wait", str(env.enqueue("greet")), "--timeout", "30s", check=True)
    finally:
        err = _stop(worker)
    assert marker.read_text() == "v1\nv1\n"
    assert "worker.reload_failed" in err and "cron" in err, err


def test_a_file_refused_for_its_mode_is_taken_once_chmod_fixes_it(env: Env) -> None:
    """The refusal says `chmod go-w FILE`; doing just that changes no byte of the file, and
    the worker, which knew the file by its size and modification time, kept the old config
    until the next edit."""
    marker = env.root / "ran"
    good = env.root / "good.toml"
    good.write_text(_GREET.format(word="v1", marker=marker))
    env.write_config(_GREET.format(word="v1", marker=marker))
    env.config.chmod(0o644)
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("greet")), "--timeout", "30s", check=True)
        env.config.chmod(0o666)
        env.write_config(_GREET.format(word="v2", marker=marker))
        job_id = int(env.run("--config", str(good), "enqueue", "greet", check=True).stdout)
        env.run("--config", str(good), "wait", str(job_id), "--timeout", "30s", check=True)
        env.config.chmod(0o644)
        job_id = env.enqueue("greet")
        env.run("wait", str(job_id), "--timeout", "30s", check=True)
    finally:
        err = _stop(worker)
    assert marker.read_text() == "v1\nv1\nv2\n"
    assert "chmod go-w" in err and "worker.reloaded" in err, err


def test_exec_max_attempts_sets_the_attempts_of_exec_jobs(env: Env) -> None:
    """The setting gives exec jobs their attempts (once, at first, no setting could change
    them); --max-attempts still wins."""
    count = env.root / "count"
    env.write_config("[settings]\nexec_max_attempts = 3\n")
    command = ["sh", "-c", f"echo run >> {count}; exit 1"]
    thrice = env.enqueue("--exec", "--", *command)
    twice = env.enqueue("--max-attempts", "2", "--exec", "--", *command)
    env.run("run-worker", "--burst", check=True)
    assert [env.show(i)["max_attempts"] for i in (thrice, twice)] == [3, 2]
    assert [env.show(i)["state"] for i in (thrice, twice)] == ["dead", "dead"]
    assert count.read_text() == "run\n" * 5


def test_a_failed_exec_job_runs_once_by_default(env: Env) -> None:
    """A failing `./deploy.sh` ran three times (its side effects too) unless asked not to:
    a command typed at a shell runs once, as pueue and at(1) run it."""
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    count = env.root / "count"
    job = env.enqueue("--exec", "--", "sh", "-c", f"echo run >> {count}; exit 1")
    assert env.show(job)["max_attempts"] == 1
    env.run("run-worker", "--burst", check=True)
    assert env.show(job)["state"] == "dead"
    assert count.read_text() == "run\n"


@pytest.mark.parametrize("value", ["0", "1023", '"0"', '"100"', '"1000B"'])
def test_validate_refuses_a_log_max_bytes_that_would_keep_next_to_nothing(
    env: Env, value: str
) -> None:
    """`log_max_bytes = "0"` was taken: every log was only the line saying its output was
    dropped, where many tools read 0 as "unlimited"."""
    env.write_config(f'[settings]\nlog_max_bytes = {value}\n[jobs.a]\ncommand = ["true"]\n')
    result = env.run("validate")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"jobctl: {env.config}:2: [settings] log_max_bytes: ")
    assert "at least 1KiB" in result.stderr and "0 would keep no output" in result.stderr


def test_validate_takes_a_log_max_bytes_of_1kib(env: Env) -> None:
    env.write_config('[settings]\nlog_max_bytes = "1KiB"\n[jobs.a]\ncommand = ["true"]\n')
    env.run("validate", check=True)


def test_validate_refuses_exec_max_attempts_out_of_range(env: Env) -> None:
    env.write_config("[settings]\nexec_max_attempts = 0\n")
    result = env.run("validate")
    assert result.returncode == 2
    assert "[settings] exec_max_attempts: must be between 1 and 1000" in result.stderr


def test_validate_warns_that_shell_true_does_nothing_to_a_list_command(env: Env) -> None:
    """`shell = true` with a list command runs no shell reading the words (each is quoted
    whole): `$HOME` stayed `$HOME` without a word from validate."""
    env.write_config(
        '[jobs.listed]\nshell = true\ncommand = ["echo", "$HOME", "a|b"]\n'
        '[jobs.string]\nshell = true\ncommand = "echo $HOME | tr a-z A-Z"\n'
    )
    result = env.run("validate")
    assert (result.returncode, result.stdout) == (0, f"{env.config}: ok (2 jobs, 0 schedules)\n")
    assert result.stderr.startswith(
        f"jobctl: warning: {env.config}:2: [jobs.listed] shell: has no effect on a list command"
    )
    assert "[jobs.string]" not in result.stderr
    assert result.stderr.count("jobctl: warning:") == 1, result.stderr
