"""Text a user, a config file, the environment or a job chose, on its way to a terminal by
the routes tables do not cover: error lines, JSON event lines and shell completions. Each
shows control and bidi characters escaped, as tables do, and changes nothing else.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from conftest import JOBCTL, Env
from test_observe_support import enqueue_at
from test_ops_completions import _ask

from jobctl.models import NewJob

# What a terminal obeys: C0 but newline, DEL, C1, and the bidi and zero-width characters.
OBEYED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")

HOSTILE = "\x1b]0;pwned\x07\x1b[2J"  # sets the window title, then clears the screen
HOSTILE_SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J"


def run_raw(
    env: Env, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS` with no --config or --db added: the paths under test are the only ones."""
    return subprocess.run(
        [*JOBCTL, *args],
        capture_output=True,
        text=True,
        env=env.env | (extra or {}),
        cwd=env.root,
        timeout=60,
    )


def assert_one_safe_line(stderr: str) -> None:
    assert stderr.endswith("\n") and stderr.count("\n") == 1, repr(stderr)
    assert not OBEYED.search(stderr), repr(stderr)


# ---------------------------------------------------------------------------------------------
# Error lines


def test_a_database_path_from_the_config_is_escaped_in_its_error(env: Env) -> None:
    env.write_config(f"[settings]\ndb = {json.dumps(f'x{HOSTILE}/q.db')}\n")  # TOML \u escapes
    result = run_raw(env, "-c", str(env.config), "list")
    assert result.returncode == 3
    assert_one_safe_line(result.stderr)
    assert f"x{HOSTILE_SHOWN}/q.db: does not exist" in result.stderr


def test_a_database_path_from_the_environment_is_escaped_in_its_error(env: Env) -> None:
    path = env.root / f"z{HOSTILE}.db"
    result = run_raw(env, "list", extra={"JOBCTL_DB": str(path)})
    assert result.returncode == 3
    assert result.stderr == (
        f"jobctl: database {env.root}/z{HOSTILE_SHOWN}.db: does not exist"
        " (nothing was ever enqueued there)\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "{path}", "validate"],
        ["enqueue", "a", "--payload-file", "{path}"],
        ["enqueue", "--batch", "{path}"],
        ["import-crontab", "{path}"],
    ],
    ids=["config", "payload-file", "batch", "import-crontab"],
)
def test_a_file_path_is_escaped_in_its_error(env: Env, args: list[str]) -> None:
    path = str(env.root / f"in{HOSTILE}\u202eod.txt")  # never created: "no such file"
    shown = f"{env.root}/in{HOSTILE_SHOWN}\\u202eod.txt"
    result = run_raw(env, "--db", str(env.db), *[a.format(path=path) for a in args])
    assert result.returncode == 2
    assert_one_safe_line(result.stderr)
    assert shown in result.stderr


def test_a_usage_error_is_not_escaped_twice(env: Env) -> None:
    """click quotes the word it refuses with repr, which escapes it already: kept as it is."""
    result = run_raw(env, "--db", str(env.db), f"li{HOSTILE}st")
    assert result.returncode == 2
    assert result.stderr == (
        f"jobctl: No such command 'li{HOSTILE_SHOWN}st'. (see 'jobctl --help')\n"
    )


def test_ordinary_error_lines_are_unchanged(env: Env) -> None:
    """Quotes, backslashes and non-ASCII text are no control characters: printed as they
    are."""
    missing = env.root / 'caf\u00e9 "q" \\ x.json'
    result = env.run("enqueue", "a", "--payload-file", str(missing))
    assert result.returncode == 2
    assert result.stderr == f"jobctl: --payload-file {missing}: No such file or directory\n"


# ---------------------------------------------------------------------------------------------
# JSON event lines


def test_json_event_lines_escape_c1_and_bidi_characters_losslessly(env: Env) -> None:
    # The job's error ends its stderr: an 8-bit CSI, a bidi override, DEL and a zero-width
    # space. (A worker's name may carry none: see below.)
    error = "a\x9b2J \u202eb\x7fc\u200bd"
    script = f"import sys; sys.stderr.write({error!r}); sys.exit(3)"
    env.write_config(
        f'[jobs.bad]\ncommand = [{json.dumps(sys.executable)}, "-c", {json.dumps(script)}]\n'
        "max_attempts = 1\n"
    )
    env.enqueue("bad")
    result = env.run("--log-format", "json", "run-worker", "--burst", check=True)
    assert not OBEYED.search(result.stderr), repr(result.stderr)
    events = [json.loads(line) for line in result.stderr.splitlines()]  # valid JSON, each line
    [dead] = [e for e in events if e["event"] == "job.dead"]
    assert dead["error"] == f"exit code 3: {error}"  # the same text, once decoded
    assert "\\u009b" in result.stderr and "\\u202e" in result.stderr and "\\u007f" in result.stderr


# ---------------------------------------------------------------------------------------------
# Shell completions


def test_completion_descriptions_are_escaped(env: Env) -> None:
    description = f"x{HOSTILE} \u202eevil\x9b"
    env.write_config(
        '[jobs.a]\ncommand = ["true"]\n'
        f"description = {json.dumps(description)}\n"
        '[jobs.b]\ncommand = ["true"]\ndescription = "Nightly \\"backup\\" \\\\ caf\u00e9"\n'
    )
    out = _ask(env, f"jobctl -c {env.config} enqueue ")
    assert not OBEYED.search(" ".join(out).replace("\t", " ")), repr(out)
    assert out == [
        f"a\tx{HOSTILE_SHOWN} \\u202eevil\\x9b",
        'b\tNightly "backup" \\ caf\u00e9',  # ordinary text as it is
    ]


def test_a_queue_name_a_terminal_would_obey_is_not_offered(env: Env) -> None:
    env.write_config('[jobs.a]\ncommand = ["true"]\n')
    enqueue_at(env, time.time(), NewJob(job="a", payload={}, queue=f"q{HOSTILE}"))
    env.run("enqueue", "a", "--queue", "qok", check=True)
    assert _ask(env, f"jobctl -c {env.config} --db {env.db} pause q") == ["qok"]


# ---------------------------------------------------------------------------------------------
# Warnings and notes: every line jobctl writes on stderr of its own


def test_a_tz_value_is_escaped_in_its_warning(env: Env) -> None:
    env.write_config('[jobs.t]\ncommand = ["true"]\n[schedules.s]\njob = "t"\ncron = "0 9 * * *"\n')
    for args in (["validate"], ["cron", "next", "0 9 * * *"]):
        result = subprocess.run(
            [*JOBCTL, *env.global_args(), *args],
            capture_output=True,
            text=True,
            env=env.env | {"TZ": f"JST-9{HOSTILE}"},
            cwd=env.root,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert_one_safe_line(result.stderr)
        assert HOSTILE_SHOWN in result.stderr


def test_a_worker_queue_warning_escapes_the_config_path(env: Env) -> None:
    folder = env.root / f"c{HOSTILE}"
    folder.mkdir()
    config = folder / "jobs.toml"
    config.write_text('[jobs.t]\ncommand = ["true"]\n')
    result = run_raw(
        env, "-c", str(config), "--db", str(env.db), "run-worker", "--burst", "-q", "x"
    )
    assert result.returncode == 0
    (warning,) = [line for line in result.stderr.splitlines() if "jobctl: warning" in line]
    assert not OBEYED.search(warning) and HOSTILE_SHOWN in warning


def test_json_documents_escape_bidi_and_zero_width_characters_losslessly(env: Env) -> None:
    payload = {"name": "a\u202eb\u200bc\ufeff"}
    job_id = env.enqueue("--exec", "--payload", json.dumps(payload), "--", "true")
    shown = env.run("show", str(job_id), "--json", check=True).stdout
    assert not OBEYED.search(shown.replace("\n", ""))
    assert json.loads(shown)["payload"] == payload


def test_a_worker_name_with_control_characters_is_refused(env: Env) -> None:
    """It would reach status tables, event lines and metrics labels."""
    for name in ("w\x9b2J", "", " "):
        result = env.run("run-worker", "--burst", "--worker-name", name)
        assert result.returncode == 2
        assert_one_safe_line(result.stderr)
        assert "--worker-name" in result.stderr
