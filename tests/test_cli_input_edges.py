"""Edges of the command line's input and output, end to end through the real `jobctl`.

Bytes that are not UTF-8 in an argument, a stdout that cannot be written (full, closed, a
reader gone), a working directory deleted under the shell, batch lines with numbers out of
range or nested too deeply, empty paths and limits below zero: each is one line on stderr
with a documented exit code, no traceback, and nothing stored.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from chaoslib import one_error_line, run_cli
from conftest import JOBCTL, Env

CONFIG = '[settings]\ndurability = "off"\n\n[jobs.ok]\ncommand = ["true"]\n'
NOT_UTF8 = os.fsdecode(b"\xff")  # what Python makes of the byte in an argv (surrogateescape)


@pytest.fixture
def box(env: Env) -> Env:
    env.write_config(CONFIG)
    return env


def stored(env: Env) -> list[dict[str, object]]:
    """Every job in the sandbox's database (none when it was never made)."""
    if not env.db.exists():
        return []
    jobs: list[dict[str, object]] = json.loads(
        env.run("list", "--json", "--limit", "0", check=True).stdout
    )
    return jobs


def run_with_stdout(
    env: Env, stdout: int, *args: str, buffered: bool, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS` with its stdout on the given descriptor, block-buffered (a failed write
    shows at the last flush) or not (PYTHONUNBUFFERED: at the write itself)."""
    environ = dict(env.env)
    environ.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        environ["PYTHONUNBUFFERED"] = "1"
    return subprocess.run(
        [*JOBCTL, *env.global_args(), *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
        cwd=env.root,
        timeout=60,
        preexec_fn=preexec_fn,
    )


# ---------------------------------------------------------------------------------------------
# 1. Arguments that are not UTF-8


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "ok", "--key", NOT_UTF8],
        ["enqueue", "--exec", "--", "echo", NOT_UTF8],
        ["enqueue", "ok", f"--queue=q{NOT_UTF8}"],
        ["list", "--key", NOT_UTF8],
        ["list", "--job", NOT_UTF8],
        ["list", "--queue", NOT_UTF8],
        ["dead", "list", "--job", NOT_UTF8],
        ["dead", "retry", "--all", "--job", NOT_UTF8],
    ],
    ids=lambda args: " ".join(a for a in args if a.isascii()),
)
def test_an_argument_that_is_not_utf8_is_refused_by_position(box: Env, args: list[str]) -> None:
    box.enqueue("ok")  # a database to read from
    result = box.run(*args)
    position = len(box.global_args()) + args.index(next(a for a in args if not a.isascii())) + 1
    line = one_error_line(result, 2, "not valid UTF-8", f"argument {position}", "\\xff")
    assert "\udcff" not in line
    assert len(stored(box)) == 1


# ---------------------------------------------------------------------------------------------
# 2. A stdout that cannot be written


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "args", [["list"], ["list", "--json"], ["enqueue", "ok"], ["enqueue", "ok", "--json"]]
)
def test_a_full_stdout_is_one_line_and_exit_1(box: Env, args: list[str], buffered: bool) -> None:
    box.enqueue("ok")
    before = len(stored(box))
    with open("/dev/full", "w") as full:
        result = run_with_stdout(box, full.fileno(), *args, buffered=buffered)
    line = one_error_line(result, 1, "cannot write to standard output: No space left on device")
    if args[0] == "enqueue":  # the job was stored before its id could not be printed
        assert len(stored(box)) == before + 1
        # Said, with its id: a retry on exit 1 would queue it twice.
        assert f"(job {before + 1} was queued, but its id could not be printed)" in line


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["enqueue", "ok"]])
def test_a_closed_stdout_is_like_dev_null(box: Env, args: list[str], buffered: bool) -> None:
    box.enqueue("ok")
    before = len(stored(box))
    result = run_with_stdout(
        box, subprocess.DEVNULL, *args, buffered=buffered, preexec_fn=lambda: os.close(1)
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert len(stored(box)) == before + (args[0] == "enqueue")


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [["list"], ["show", "1"]])
def test_a_reader_gone_is_a_quiet_exit_141_as_from_cat(
    box: Env, args: list[str], buffered: bool
) -> None:
    # `jobctl logs ID | head` ends as `cat FILE | head` does: no word, 128 + SIGPIPE; not 1,
    # which says that an operation failed. (An enqueue names the job it stored: see
    # test_cli_dispatch.)
    box.enqueue("ok")
    read, write = os.pipe()
    os.close(read)  # every write to the pipe fails: EPIPE
    try:
        result = run_with_stdout(box, write, *args, buffered=buffered)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, "")


# ---------------------------------------------------------------------------------------------
# 3. --exec from a deleted working directory


def test_exec_from_a_deleted_directory_is_a_usage_error(box: Env) -> None:
    gone = box.root / "gone"
    gone.mkdir()

    def enter_and_delete() -> None:
        os.chdir(gone)
        os.rmdir(gone)

    result = run_cli(box, "enqueue", "--exec", "--", "true", preexec_fn=enter_and_delete)
    one_error_line(result, 2, "--exec", "current directory", "deleted")
    assert stored(box) == []


# ---------------------------------------------------------------------------------------------
# 4. and 5. Numbers of batch lines, and max_attempts 0


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("delay", "1e300", "100 years"),
        ("delay", "Infinity", "100 years"),
        ("delay", "-Infinity", "negative"),
        ("delay", "NaN", "not a number"),
        ("delay", "3153600001", "100 years"),  # a second over 100 years, as --delay refuses
        ("delay", "1" + "0" * 400, "100 years"),  # beyond a float
        ("delay", '"5300w"', "100 years"),
        ("at", '"9999-12-31T23:59:59Z"', "out of range"),
        ("priority", "1e400", "integer"),
        ("priority", "NaN", "integer"),
        ("priority", str(2**63), "between"),
        ("priority", str(-(2**63) - 1), "between"),
        ("max_attempts", "Infinity", "integer"),
        ("max_attempts", "1001", "between 1 and 1000"),
        ("max_attempts", "0", "between 1 and 1000"),
        ("max_attempts", "-1", "between 1 and 1000"),
    ],
)
def test_a_batch_line_number_out_of_range_is_refused_with_its_line(
    box: Env, field: str, value: str, needle: str
) -> None:
    lines = f'{{"job": "ok"}}\n{{"job": "ok", "{field}": {value}}}\n{{"job": "ok"}}\n'
    result = box.run("enqueue", "--batch", "-", input=lines)
    one_error_line(result, 2, "<stdin>:2:", needle)
    assert stored(box) == []


def test_a_batch_delay_up_to_100_years_is_kept(box: Env) -> None:
    box.run("enqueue", "--batch", "-", input='{"job": "ok", "delay": 3153600000}\n', check=True)
    (job,) = stored(box)
    assert job["state"] == "scheduled"


@pytest.mark.parametrize("value", ["0", "-1"])
def test_max_attempts_0_is_refused_like_a_negative_one(box: Env, value: str) -> None:
    result = box.run("enqueue", "ok", "--max-attempts", value)
    one_error_line(result, 2, f"--max-attempts: must be between 1 and 1000, got {value}")
    assert stored(box) == []


def test_max_attempts_given_or_not(box: Env) -> None:
    assert box.show(box.enqueue("ok", "--max-attempts", "1"))["max_attempts"] == 1
    assert box.show(box.enqueue("ok"))["max_attempts"] == 3  # the job type's default


# ---------------------------------------------------------------------------------------------
# 6. A batch line nested too deeply


@pytest.mark.parametrize("padding", ["", " "], ids=["plain", "padded"])
def test_a_batch_line_nested_too_deeply_is_refused_with_its_line(box: Env, padding: str) -> None:
    deep = '{"job": "ok", "payload": {"d": ' + "[" * 50_000 + "]" * 50_000 + "}}" + padding
    result = box.run("enqueue", "--batch", "-", input=f'{{"job": "ok"}}\n{deep}\n')
    one_error_line(result, 2, "<stdin>:2:", "nested too deeply")
    assert stored(box) == []


def test_a_batch_line_nested_near_the_limit_is_stored_or_refused_cleanly(box: Env) -> None:
    # Around Python's recursion limit a line may decode and then be too deep to check or
    # encode: every depth is either taken or refused with its line, never a traceback.
    for depth in range(950, 1010, 4):
        deep = '{"job": "ok", "payload": {"d": ' + "[" * depth + "]" * depth + "}}"
        result = box.run("enqueue", "--batch", "-", input=f'{{"job": "ok"}}\n{deep}\n')
        if result.returncode != 0:
            one_error_line(result, 2, "<stdin>:2:", "nested too deeply")


# ---------------------------------------------------------------------------------------------
# 7. Empty paths


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--db", ""], "--db"),
        (["--db="], "--db"),
        (["--config", ""], "--config"),
        (["-c", ""], "--config"),
        (["--config="], "--config"),
    ],
    ids=["db", "db=", "config", "c", "config="],
)
def test_an_empty_path_is_a_usage_error(box: Env, options: list[str], needle: str) -> None:
    default_db = Path(box.env["XDG_STATE_HOME"]) / "jobctl" / "jobctl.db"
    others = ["--db", str(box.db)] if "db" not in options[0] else ["--config", str(box.config)]
    # The sandbox's own config is ./jobs.toml too: an ignored --config '' would find it.
    result = run_cli(box, "enqueue", "ok", global_args=[*others, *options])
    one_error_line(result, 2, needle, "empty")
    assert not default_db.exists()
    assert stored(box) == []


# ---------------------------------------------------------------------------------------------
# 8. list --limit


def test_list_limit_0_is_all_and_a_negative_limit_is_refused(box: Env) -> None:
    box.run("enqueue", "--batch", "-", input='{"job": "ok"}\n' * 3, check=True)
    assert len(stored(box)) == 3
    two = json.loads(box.run("list", "--json", "--limit", "2", check=True).stdout)
    assert len(two) == 2
    for value in ("-1", "-9"):
        one_error_line(box.run("list", "--limit", value), 2, "--limit", value)
    assert "--limit 0 lists every job" in box.run("list", "--help", check=True).stdout


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_logs_to_a_reader_gone_blames_no_log_file(box: Env, buffered: bool) -> None:
    box.write_config(CONFIG + '\n[jobs.talk]\ncommand = ["seq", "100000"]\n')
    job_id = box.enqueue("talk")
    box.run("run-worker", "--burst", check=True)
    read, write = os.pipe()
    os.close(read)
    try:
        result = run_with_stdout(box, write, "logs", str(job_id), buffered=buffered)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, "")


def test_exec_from_a_directory_whose_path_is_not_utf8_is_a_usage_error(box: Env) -> None:
    odd = os.fsencode(box.root) + b"/dir\xff"
    os.mkdir(odd)
    result = run_cli(box, "enqueue", "--exec", "--", "pwd", preexec_fn=lambda: os.chdir(odd))
    one_error_line(result, 2, "--exec", "current directory", "not UTF-8")
    assert stored(box) == []


@pytest.mark.parametrize("source", ["/dev/zero", "-"])
def test_a_payload_file_too_large_for_any_payload_is_not_read_whole(box: Env, source: str) -> None:
    huge = "x" * (8 * 64 * 1024 + 65536 + 10)
    result = run_cli(box, "enqueue", "ok", "--payload-file", source, input=huge)
    one_error_line(result, 2, f"--payload-file {source}", "too large for a payload")
    assert stored(box) == []


def test_a_config_too_large_for_any_config_is_not_read_whole(box: Env) -> None:
    result = run_cli(box, "validate", global_args=["--config", "/dev/zero"])
    one_error_line(result, 2, "/dev/zero", "too large for a config")


def test_a_cwd_with_a_nul_character_is_refused_by_validate(box: Env) -> None:
    box.write_config('[jobs.x]\ncommand = ["true"]\ncwd = "a\\u0000b"\n')
    result = run_cli(box, "validate")
    one_error_line(result, 2, "cwd", "NUL")


@pytest.mark.parametrize(
    "command", ['"echo ${HOME}/x"\nshell = true', '["sh", "-c", "cd ${HOME}", "sh"]']
)
def test_a_shell_variable_in_braces_is_refused_with_the_way_to_write_it(
    box: Env, command: str
) -> None:
    box.write_config(f"[jobs.x]\ncommand = {command}\n")
    result = run_cli(box, "validate")
    one_error_line(result, 2, "${HOME} holds the payload placeholder {HOME}", "${{HOME}} or $HOME")


def test_a_relative_xdg_state_home_is_ignored_as_the_xdg_spec_says(box: Env) -> None:
    """Taken as it was, each working folder had its own default queue."""
    home = Path(box.env["HOME"])
    box.env["XDG_STATE_HOME"] = "state"
    result = run_cli(box, "enqueue", "--exec", "--", "true", global_args=[])
    assert result.returncode == 0, result.stderr
    assert (home / ".local" / "state" / "jobctl" / "jobctl.db").is_file()
    assert not (box.root / "state").exists()


# ---------------------------------------------------------------------------------------------
# A database another process holds locked


@pytest.mark.parametrize("args", [["enqueue", "ok"], ["cancel", "1"]])
def test_a_command_waiting_for_a_locked_database_says_so_and_stops_at_ctrl_c(
    box: Env, args: list[str]
) -> None:
    """SQLite's busy wait ran in one piece for 30 s: nothing said why the command hung, and a
    Ctrl-C did nothing until the wait was over."""
    box.enqueue("ok")
    before = stored(box)
    locker = sqlite3.connect(box.db, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        proc = box.start(*args)
        assert proc.stderr is not None
        assert proc.stderr.readline() == (
            f"jobctl: note: waiting for {box.db}: another process holds it locked (up to 30s;"
            " Ctrl-C gives up)\n"
        )
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert time.monotonic() - began < 2
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert stored(box) == before
