"""End to end: every bad input gets one line on stderr, the documented exit code, and
changes nothing.

Exit codes: 2 bad usage, config or payload; 3 database unusable; 1 failed operation.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import forkserver
import pytest
from conftest import JOBCTL, Env

CONFIG = """\
[settings]
max_payload = "1KiB"

[jobs.greet]
command = ["echo", "hello {name}"]

[jobs.plain]
command = ["true"]
"""


def assert_one_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("jobctl: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def list_all(env: Env) -> list[dict[str, Any]]:
    result = env.run("list", "--json", "--limit", "0", check=True)
    jobs = json.loads(result.stdout)
    assert isinstance(jobs, list)
    return jobs


def create_empty_db(env: Env) -> None:
    env.run("run-worker", "--burst", check=True)
    assert env.db.exists()
    assert list_all(env) == []


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry of a directory with its bytes (None for directories)."""
    return {p.name: (None if p.is_dir() else p.read_bytes()) for p in sorted(directory.iterdir())}


# ---------------------------------------------------------------------------------------------
# Rejected enqueues: exit code, one line, nothing stored


REJECTED = [
    pytest.param(["enqueue", "nope"], 2, ["unknown job 'nope'", "greet"], id="unknown-job"),
    pytest.param(["enqueue"], 2, ["job name"], id="no-job-name"),
    pytest.param(["enqueue", "plain", "--delay", "5 minutes"], 2, ["--delay"], id="bad-delay"),
    pytest.param(["enqueue", "plain", "--delay", "-5s"], 2, ["--delay"], id="negative-delay"),
    pytest.param(["enqueue", "plain", "--at", "tomorrow"], 2, ["--at"], id="bad-at"),
    pytest.param(
        ["enqueue", "greet", "--payload", '{"name": '], 2, ["invalid JSON"], id="bad-json"
    ),
    pytest.param(
        ["enqueue", "plain", "--payload", "[1, 2]"], 2, ["JSON object"], id="array-payload"
    ),
    pytest.param(
        ["enqueue", "plain", "--payload", '"text"'], 2, ["JSON object"], id="string-payload"
    ),
    pytest.param(["enqueue", "plain", "--payload", "null"], 2, ["JSON object"], id="null"),
    pytest.param(
        ["enqueue", "plain", "--payload", json.dumps({"v": "x" * 2000})],
        2,
        ["over the limit of 1024"],
        id="oversized-payload",
    ),
    pytest.param(["enqueue", "greet"], 2, ["{name}"], id="missing-placeholder"),
    pytest.param(["enqueue", "greet", "--arg", "other=1"], 2, ["{name}"], id="wrong-placeholder"),
    pytest.param(["enqueue", "greet", "--arg", "name"], 2, ["key=value"], id="bad-arg"),
    pytest.param(
        ["enqueue", "greet", "--arg", "name:={bad"], 2, ["not valid JSON"], id="bad-json-arg"
    ),
    pytest.param(
        ["enqueue", "greet", "--arg", "name=a", "--payload", "{}"],
        2,
        ["one way"],
        id="two-payloads",
    ),
    pytest.param(
        ["enqueue", "greet", "--payload-file", "missing.json"],
        2,
        ["missing.json"],
        id="missing-payload-file",
    ),
    pytest.param(["enqueue", "plain", "extra"], 2, ["'extra'"], id="extra-argument"),
]


@pytest.mark.parametrize(("args", "code", "needles"), REJECTED)
def test_rejected_enqueue_stores_nothing(
    env: Env, args: list[str], code: int, needles: list[str]
) -> None:
    env.write_config(CONFIG)
    create_empty_db(env)
    result = env.run(*args)
    assert_one_error(result, code, *needles)
    assert result.stdout == ""
    assert list_all(env) == []


def test_payload_size_limit_is_exact_and_counts_bytes(env: Env) -> None:
    env.write_config(CONFIG)
    create_empty_db(env)
    # {"v":"…"} is 8 bytes of JSON around the value; the limit is 1024 bytes.
    assert env.run("enqueue", "plain", "--arg", "v=" + "x" * 1016).returncode == 0
    too_big = env.run("enqueue", "plain", "--arg", "v=" + "x" * 1017)
    assert_one_error(too_big, 2, "1025 bytes", "1024")
    too_big_unicode = env.run("enqueue", "plain", "--arg", "v=" + "é" * 509)  # 1018 + 8 bytes
    assert_one_error(too_big_unicode, 2, "1026 bytes")
    assert len(list_all(env)) == 1


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--payload", '{"name": "\\ud800"}'], id="lone-surrogate-json"),
        pytest.param(["--arg", "name=caf\udce9"], id="non-utf8-arg"),
    ],
)
def test_invalid_unicode_in_a_payload_is_rejected(env: Env, args: list[str]) -> None:
    # A lone surrogate (JSON \ud800) or a non-UTF-8 byte from argv cannot be stored.
    env.write_config(CONFIG)
    create_empty_db(env)
    assert_one_error(env.run("enqueue", "greet", *args), 2)
    assert list_all(env) == []


# ---------------------------------------------------------------------------------------------
# Config errors: file, line, table and key


def test_broken_toml_reports_the_line(env: Env) -> None:
    """In the `FILE:LINE:` form of every other config error, which editors jump to."""
    env.write_config('[jobs.greet]\ncommand = ["echo"]\nmax_attempts = = 3\n')
    for args in (["validate"], ["enqueue", "greet"], ["run-worker", "--burst"]):
        line = assert_one_error(env.run(*args), 2, str(env.config), "invalid TOML")
        assert line.startswith(f"jobctl: {env.config}:3: invalid TOML: "), line
        assert line.endswith(" (column 16)"), line
    assert not env.db.exists()
    env.write_config('[jobs.greet]\ncommand = ["echo"\n')
    assert env.run("validate").stderr == (
        f"jobctl: {env.config}:2: invalid TOML: Unclosed array (at the end of the file)\n"
    )


@pytest.mark.parametrize(
    ("text", "line_no", "key"),
    [
        pytest.param('[settings]\nlease = "5s"\nleese = "5s"\n', 3, "leese", id="settings"),
        pytest.param(
            '[jobs.a]\ncommand = ["true"]\n\n[jobs.b]\ncommand = ["true"]\ncomand = ["x"]\n',
            6,
            "comand",
            id="job",
        ),
    ],
)
def test_unknown_config_key_names_file_line_and_key(
    env: Env, text: str, line_no: int, key: str
) -> None:
    env.write_config(text)
    for args in (["validate"], ["enqueue", "a"]):
        line = assert_one_error(env.run(*args), 2, f"{env.config}:{line_no}:", key)
        assert "unknown key" in line


def test_unknown_top_level_table_names_its_line(env: Env) -> None:
    # Top-level keys have a line too, not only keys inside a table.
    env.write_config('[jobs.a]\ncommand = ["true"]\n\n[setting]\nlease = "5s"\n')
    assert_one_error(env.run("validate"), 2, f"{env.config}:4:", "setting")


@pytest.mark.parametrize(
    ("text", "line_no", "key"),
    [
        pytest.param('[settings]\nlease = "five seconds"\n', 2, "lease", id="lease"),
        pytest.param('[jobs.a]\ncommand = ["true"]\ntimeout = "10"\n', 3, "timeout", id="no-unit"),
        pytest.param(
            '[jobs.a]\ncommand = ["true"]\n\nbackoff = "1s30m"\n', 4, "backoff", id="wrong-order"
        ),
        pytest.param('[jobs.a]\ncommand = ["true"]\nkill_grace = 5\n', 3, "kill_grace", id="int"),
    ],
)
def test_bad_duration_in_config(env: Env, text: str, line_no: int, key: str) -> None:
    env.write_config(text)
    for args in (["validate"], ["enqueue", "a"]):
        assert_one_error(env.run(*args), 2, f"{env.config}:{line_no}:", key)


def test_bad_shutdown_timeout_option(env: Env) -> None:
    env.write_config(CONFIG)
    assert_one_error(env.run("run-worker", "--shutdown-timeout", "soon"), 2, "--shutdown-timeout")


def test_missing_config_file(env: Env) -> None:
    result = env.run("--config", str(env.root / "absent.toml"), "enqueue", "greet", config=False)
    assert_one_error(result, 2, "absent.toml")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["show", "abc"], id="non-integer-id"),
        pytest.param(["run-worker", "--concurrency", "0"], id="out-of-range"),
        pytest.param(["enqueue", "plain", "--no-such-option"], id="unknown-option"),
    ],
)
def test_usage_errors_are_one_line(env: Env, args: list[str]) -> None:
    # Errors found by the option parser follow the same one-line rule.
    env.write_config(CONFIG)
    assert_one_error(env.run(*args), 2)


# ---------------------------------------------------------------------------------------------
# Unknown ids: a failed operation


def test_show_of_an_unknown_id_exits_1_and_wait_2(env: Env) -> None:
    env.write_config(CONFIG)
    create_empty_db(env)
    assert_one_error(env.run("show", "12345"), 1, "12345")
    assert_one_error(env.run("show", "12345", "--json"), 1, "12345")
    assert_one_error(env.run("wait", "12345"), 2, "12345")  # its 1: a job failed


# ---------------------------------------------------------------------------------------------
# Databases that cannot be used: exit 3, and left untouched


def test_database_path_that_is_a_directory(env: Env) -> None:
    env.write_config(CONFIG)
    env.db.mkdir()
    for args in (["enqueue", "plain"], ["list"], ["show", "1"], ["run-worker", "--burst"]):
        assert_one_error(env.run(*args), 3, str(env.db), "directory")
    assert list(env.db.iterdir()) == []


def test_file_that_is_not_sqlite_is_left_untouched(env: Env) -> None:
    env.write_config(CONFIG)
    env.db.write_bytes(b"These are my notes, not a database.\n" * 200 + bytes(range(256)))
    before = snapshot(env.root)
    for args in (["enqueue", "plain"], ["list"], ["show", "1"], ["run-worker", "--burst"]):
        assert_one_error(env.run(*args), 3, str(env.db))
    assert snapshot(env.root) == before  # byte for byte, and no -wal, -shm or lock beside it


def test_sqlite_database_of_another_program_is_left_untouched(env: Env) -> None:
    env.write_config(CONFIG)
    with sqlite3.connect(env.db) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    before = snapshot(env.root)
    for args in (["enqueue", "plain"], ["list"], ["show", "1"], ["run-worker", "--burst"]):
        assert_one_error(env.run(*args), 3, str(env.db), "another program")
    assert snapshot(env.root) == before


def test_database_from_a_newer_jobctl_is_left_untouched(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("plain")
    with sqlite3.connect(env.db) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = snapshot(env.root)
    for args in (["enqueue", "plain"], ["list"], ["run-worker", "--burst"]):
        assert_one_error(env.run(*args), 3, "newer")
    assert snapshot(env.root) == before


def test_missing_database_for_a_read_command(env: Env) -> None:
    env.write_config(CONFIG)
    assert_one_error(env.run("show", "1"), 3, str(env.db))
    assert not env.db.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write a read-only file")
def test_read_only_database_refuses_enqueue(env: Env) -> None:
    env.write_config(CONFIG)
    first = env.enqueue("plain")
    env.db.chmod(0o400)
    try:
        assert_one_error(env.run("enqueue", "plain"), 3, str(env.db), "read-only")
        # Reading still works, and nothing was added.
        assert [job["id"] for job in list_all(env)] == [first]
    finally:
        env.db.chmod(0o600)


def test_max_payload_stays_below_what_linux_passes_a_process(env: Env) -> None:
    """A payload reaches its job in one environment string, which Linux caps at 128 KiB: a
    larger limit let jobs be queued that could never start (exit 126 on every attempt)."""
    env.write_config('[settings]\nmax_payload = "1MiB"\n[jobs.a]\ncommand = ["true"]\n')
    assert_one_error(env.run("validate"), 2, "max_payload", "at most 127KiB")
    env.write_config(
        '[settings]\nmax_payload = "127KiB"\n'
        '[jobs.a]\ncommand = ["sh", "-c", "echo ${#JOBCTL_PAYLOAD}"]\n'
    )
    payload = json.dumps({"data": "x" * (127 * 1024 - 11)}, separators=(",", ":"))
    assert len(payload) == 127 * 1024
    job_id = env.enqueue("a", "--payload", payload)
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert env.run("logs", str(job_id), check=True).stdout == f"{127 * 1024}\n"


def test_a_broken_config_does_not_block_commands_on_a_named_database(env: Env) -> None:
    """Someone pushed a typo: the running worker keeps its config, but list, cancel and a CI
    step's wait failed with exit 2. With the database named (--db, $JOBCTL_DB) they need no
    config: a warning, and on. Commands that do need it still refuse it."""
    env.write_config(CONFIG)
    job_id = env.enqueue("greet", "--arg", "name=x", "--delay", "1h")
    env.write_config(CONFIG + "[jobs.b\n")
    warning = f"jobctl: warning: {env.config}:"
    backup = str(env.root / "copy.db")
    for args in (
        ["list"],
        ["show", str(job_id)],
        ["status"],
        ["dead", "list"],
        ["metrics"],  # a node_exporter textfile line stopped updating its file
        ["backup", backup],  # the nightly backup from a cron line stopped
        ["prune", "--older-than", "30d", "--yes"],
        ["pause", "default"],
        ["resume", "default"],
    ):
        result = env.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr.startswith(warning) and "going on without it" in result.stderr
    assert env.run("cancel", str(job_id)).returncode == 0
    assert env.run("wait", str(job_id)).returncode == 1  # cancelled: waited, not refused
    for args in (["enqueue", "greet"], ["validate"], ["run-worker", "--burst"]):
        assert_one_error(env.run(*args), 2, str(env.config), "invalid TOML")
    # Without the database named, the config is what names it: still an error.
    unnamed = _without_db(env, "--config", str(env.config), "list")
    assert_one_error(unnamed, 2, str(env.config), "invalid TOML")


def _without_db(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS` with no database named (no --db, no $JOBCTL_DB): the config names it.
    A fork of the suite's server where it takes the call, as Env.run is."""
    environ = {k: v for k, v in env.env.items() if k != "JOBCTL_DB"}
    zygote = forkserver.zygote_for(args, environ)
    if zygote is not None:
        return zygote.run(args, environ=environ, cwd=env.root, input=None, timeout=60)
    return subprocess.run(
        [*JOBCTL, *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=env.root,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
