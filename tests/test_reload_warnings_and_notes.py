"""What a reload under `up` says (the worker's own lines, as under run-worker), and what
`validate` notes of a job type's command and its list-form hooks."""

from __future__ import annotations

import os
import signal

import pytest
from conftest import Env
from test_worker_config_appears import _lines, _start_logged


def test_up_says_what_run_worker_says_of_a_reload(env: Env) -> None:
    """up's daemon read the edit and set it in its worker: the worker kept its old lease and
    log folder without a word, and the waiting jobs of the type removed went unmentioned,
    where run-worker says worker.restart_needed and worker.unknown_jobs. (A long lease: the
    idle worker does not look at the file before the daemon's 5 s check does.)"""
    job_a, job_b = '[jobs.a]\ncommand = ["true"]\n', '[jobs.b]\ncommand = ["true"]\n'
    env.write_config(f'[settings]\nlease = "5m"\n{job_a}{job_b}')
    env.enqueue("b", "--delay", "1h")
    log = env.root / "up.log"
    up = _start_logged(env, log, "up")
    env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
    env.write_config(f'[settings]\nlease = "10m"\nlog_dir = "logs2"\n{job_a}')
    env.wait_for(lambda: _lines(log, "worker.unknown_jobs"), timeout=20)
    env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
    up.send_signal(signal.SIGTERM)
    up.wait(timeout=30)
    assert up.returncode == 0, log.read_text()
    assert len(_lines(log, "scheduler.reloaded")) == 1, log.read_text()
    assert len(_lines(log, "worker.reloaded")) == 1, log.read_text()
    (needed,) = _lines(log, "worker.restart_needed")
    assert "settings=lease,log_dir" in needed
    (unknown,) = _lines(log, "worker.unknown_jobs")
    assert "jobs=b:1" in unknown


@pytest.mark.parametrize(
    "argv",
    [
        '["sh", "-ec", "echo dead $JOBCTL_JOB_ID"]',
        '["bash", "-lc", "echo dead $JOBCTL_JOB_ID"]',
        '["/bin/bash", "-xc", "echo dead $JOBCTL_JOB_ID"]',
        '["bash", "-o", "pipefail", "-c", "echo dead $JOBCTL_JOB_ID"]',
        '["/usr/bin/env", "bash", "-c", "echo dead $JOBCTL_JOB_ID"]',
        '["env", "-i", "PATH=/bin:/usr/bin", "sh", "-ec", "echo dead $JOBCTL_JOB_ID"]',
    ],
    ids=["sh-ec", "bash-lc", "bash-xc", "bash-o-c", "env-bash-c", "env-i-sh-ec"],
)
def test_a_list_hook_running_a_shell_script_gets_no_false_warning(env: Env, argv: str) -> None:
    """validate said `$JOBCTL_JOB_ID` was passed as written in hooks run by `sh -ec` or
    through env, whose shell expands it: a CI step failing on warnings broke on it."""
    env.write_config(f'[jobs.a]\ncommand = ["true"]\non_dead = {argv}\n')
    checked = env.run("validate")
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_a_hook_run_by_sh_ec_expands_the_variable(env: Env) -> None:
    """The hook validate warned of, run: its shell expanded $JOBCTL_JOB_ID."""
    out = env.root / "hook.out"
    env.write_config(
        '[jobs.a]\ncommand = ["false"]\nmax_attempts = 1\n'
        f'on_dead = ["sh", "-ec", "echo dead job $JOBCTL_JOB_ID > {out}"]\n'
    )
    job_id = env.enqueue("a")
    env.run("run-worker", "--burst", check=True)
    env.wait_for(out.exists)
    env.wait_for(lambda: out.read_text() == f"dead job {job_id}\n")


@pytest.mark.parametrize(
    "argv",
    [
        '["bash", "script.sh", "-c", "$JOBCTL_JOB_ID"]',
        '["/usr/bin/env", "python3", "-c", "print(1)", "$JOBCTL_JOB_ID"]',
        '["notify", "{src}"]',
    ],
    ids=["script-file", "env-not-a-shell", "placeholder"],
)
def test_a_list_hook_run_without_a_shell_script_is_still_warned_of(env: Env, argv: str) -> None:
    """A -c after a script file, or of a program that is no shell, is the script's or the
    program's word: nothing expands the variable (the first went unsaid)."""
    env.write_config(f'[jobs.a]\ncommand = ["true"]\non_dead = {argv}\n')
    checked = env.run("validate")
    assert checked.returncode == 0
    assert "is passed as written" in checked.stderr, checked.stderr


@pytest.mark.parametrize(
    ("command", "word"),
    [
        ("echo saved > out.txt", "'>'"),
        ("cd /srv && make", "'&&'"),
        ("cmd >> log 2>&1", "'>>'"),
        ("ls | wc -l", "'|'"),
        ("false || true", "'||'"),
        ("date ; date", "';'"),
        ("cmd 2>&1", "'2>&1'"),
        ("FOO=1 cmd", "'FOO=1'"),
    ],
)
def test_validate_warns_of_shell_syntax_in_a_string_command_without_a_shell(
    env: Env, command: str, word: str
) -> None:
    """A crontab line copied as it was (`echo saved > out.txt`) ran echo with `>` and
    `out.txt` as its words: the job succeeded, no file was made, and validate said ok."""
    env.write_config(f'[jobs.save]\ncommand = "{command}"\n')
    checked = env.run("validate")
    assert checked.returncode == 0, checked.stderr
    assert f"[jobs.save] command: {word} is shell syntax" in checked.stderr, checked.stderr
    assert "set shell = true" in checked.stderr


@pytest.mark.parametrize(
    ("command", "word"),
    [
        ("echo saved>out.txt", "'saved>out.txt'"),
        ("echo saved >out.txt", "'>out.txt'"),
        ("cmd >>log", "'>>log'"),
        ("sort <in.txt", "'<in.txt'"),
        ("ls |grep x", "'|grep'"),
        ("ls| grep x", "'ls|'"),
        ("run x;y", "'x;y'"),
        ("cd /srv&& make", "'/srv&&'"),
        ("make a&&b", "'a&&b'"),
        ("false ||true", "'||true'"),
        ("cmd x2>&1", "'x2>&1'"),
        ("cmd 2>/dev/null", "'2>/dev/null'"),
        ("sleep 5&", "'5&'"),
    ],
)
def test_validate_warns_of_shell_operators_written_against_a_word(
    env: Env, command: str, word: str
) -> None:
    """`echo saved>out.txt` ran echo with the word `saved>out.txt`, as `echo saved > out.txt`
    does, and validate said nothing: it saw an operator only as a word of its own."""
    env.write_config(f"[jobs.save]\ncommand = '{command}'\n")
    checked = env.run("validate")
    assert checked.returncode == 0, checked.stderr
    assert f"[jobs.save] command: {word} is shell syntax" in checked.stderr, checked.stderr


@pytest.mark.parametrize(
    "command",
    [
        'curl "https://x/?a=1&b=2"',
        'grep -E "a|b" file',
        "cmd --format=<x> <name>",
        'sed "s/a;b/c/" file',
        'jq ".a | .b" file',
        'awk "{print $1}" file',
        'cut "-d;" -f1',
        "draw a->b x=>y",
        'sqlite3 app.db "VACUUM;"',
        'psql -c "CHECKPOINT;"',
        'grep -c ";$" schema.sql',
        'Rscript -e "x<-1"',
        'grep -n ">$" file',
        'printf "%s" "a<b"',
        'curl "https://x/hook?token=abc&"',
        'mark "done;"',
        'echo ">"',
    ],
)
def test_validate_says_nothing_of_operator_characters_inside_an_argument(
    env: Env, command: str
) -> None:
    """A URL's query, a regex, a metavariable, a sed, jq or awk script and an option's
    value hold these characters as text: no shell would have read them either; nor a word
    quoted in the command (`"VACUUM;"`), where the quotes say it is meant as written."""
    env.write_config(f"[jobs.save]\ncommand = '{command}'\n")
    checked = env.run("validate")
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


@pytest.mark.parametrize(
    "job",
    [
        'command = "echo saved > out.txt"\nshell = true',
        'command = ["sh", "-c", "echo saved > out.txt"]',
        'command = "grep -c a|b file"',
        'command = "env FOO=1 cmd"',
    ],
    ids=["shell-true", "list", "operator-inside-a-word", "env-assignment"],
)
def test_validate_says_nothing_of_commands_a_shell_reads_or_without_shell_syntax(
    env: Env, job: str
) -> None:
    env.write_config(f"[jobs.save]\n{job}\n")
    checked = env.run("validate")
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_a_string_command_with_shell_syntax_still_runs_as_documented(env: Env) -> None:
    """Only a warning: no shell runs it, so its `>` reaches echo as a word."""
    env.write_config('[jobs.save]\ncommand = "echo saved > out.txt"\n')
    job_id = env.enqueue("save")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert not (env.root / "out.txt").exists()


@pytest.mark.parametrize("command", ['[""]', '["", "x"]', '"\\"\\" x"'])
def test_an_empty_program_name_is_refused_as_enqueue_exec_refuses_it(
    env: Env, command: str
) -> None:
    """command = [""] passed validate, and each of its jobs went dead: cannot start ''."""
    env.write_config(f"[jobs.empty]\ncommand = {command}\n")
    checked = env.run("validate")
    assert checked.returncode == 2
    assert "[jobs.empty] command: the command's name is empty" in checked.stderr
    assert "the command's name is empty" in env.run("enqueue", "--exec", "--", "").stderr


def test_a_config_file_touched_but_not_changed_is_no_reload(env: Env) -> None:
    """A file whose text is the one in force, under a newer stamp (touched, or read twice
    while it was written: once by up's daemon, once by its worker), was said as a second
    reload, with its warnings again."""
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    log = env.root / "worker.log"
    worker = _start_logged(env, log, "run-worker")
    env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
    stamp = env.config.stat().st_mtime_ns
    os.utime(env.config, ns=(stamp + 10**9, stamp + 10**9))  # the same text, a new stamp
    env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
    env.write_config('[jobs.a]\ncommand = ["true"]\n[jobs.b]\ncommand = ["true"]\n')
    env.run("wait", str(env.enqueue("b")), "--timeout", "30s", check=True)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, log.read_text()
    reloads = _lines(log, "worker.reloaded")
    assert len(reloads) == 1 and "jobs=2" in reloads[0], log.read_text()
