"""Hostile input: random configs, cron expressions, durations, command lines and payloads.

The rule everywhere: never a traceback, always a clean error (one line on stderr starting
`jobctl: `, exit 2 for bad usage, configuration or payload) or a correct result. The config
loader and the command line are driven in process (the real `jobctl.cli.main.run` entry
point, thousands of times); payloads go end to end through real enqueues and a real worker,
and must reach the command byte for byte, in argv and in $JOBCTL_PAYLOAD.

Inputs the random strategies leave out (line breaks in keys, TOML dates in payloads, integers
past SQLite's range) have tests of their own at the end of each section.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from chaoslib import one_error_line, require_full_scale, run_cli
from conftest import Env
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobctl.config import check_schedules, load_config_file, parse_config
from jobctl.durations import MAX_SECONDS, parse_duration
from jobctl.errors import EXIT_USAGE, ConfigError

# ---------------------------------------------------------------------------------------------
# The command line, in process


@dataclass
class Call:
    code: int
    stdout: str
    stderr: str


def call(argv: list[str], stdin: str = "", cwd: Path | None = None) -> Call:
    """`jobctl ARGV` through the real entry point, in this process."""
    from jobctl.cli import main
    from jobctl.cli.context import STATE

    STATE._config = None
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    err = io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr, os.getcwd()
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    if cwd is not None:
        os.chdir(cwd)
    try:
        main.run(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.chdir(saved[3])
    out.flush()
    stdout = out.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]
    return Call(code, stdout, err.getvalue())


def assert_clean(result: Call) -> None:
    """Exit 0 or a documented code; every line on stderr is one of jobctl's own."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in (0, 1, 2, 3, 124), (result.code, result.stderr)
    lines = result.stderr.splitlines()
    assert all(line.startswith("jobctl: ") for line in lines), result.stderr
    if result.code not in (0, 1):
        assert len(lines) == 1, result.stderr


@dataclass
class Sandbox:
    root: Path
    config: Path
    db: Path

    def argv(self, *args: str, db: str = "q.db") -> list[str]:
        return ["--config", str(self.config), "--db", str(self.root / db), *args]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("hostile")
    config = root / "jobs.toml"
    config.write_text(
        '[settings]\ndurability = "off"\n\n'
        '[jobs.noop]\ncommand = ["true"]\n\n'
        '[jobs.greet]\ncommand = ["echo", "hello {name}"]\n\n'
        '[schedules.s]\njob = "noop"\ncron = "@hourly"\ntimezone = "UTC"\n'
    )
    box = Sandbox(root, config, root / "q.db")
    assert call(box.argv("enqueue", "noop")).code == 0
    assert call(box.argv("enqueue", "greet", "--arg", "name=x")).code == 0
    yield box


# ---------------------------------------------------------------------------------------------
# Config files

SETTINGS_KEYS = [
    "db", "lease", "max_payload", "log_dir", "log_max_bytes", "timezone", "durability",
    "keep_succeeded", "keep_dead", "keep_cancelled", "log_format", "log_level", "on_failure",
    "on_dead", "hook_timeout",
]  # fmt: skip
JOB_KEYS = [
    "command", "shell", "cwd", "env", "timeout", "kill_grace", "max_attempts", "backoff",
    "backoff_max", "jitter", "queue", "priority", "description", "user", "group",
    "on_failure", "on_dead", "hook_timeout",
]  # fmt: skip
SCHEDULE_KEYS = [
    "job", "command", "cron", "payload", "timezone", "overlap", "catch_up", "catch_up_limit",
    "jitter", "enabled", "priority", "queue", "description",
]  # fmt: skip
PLAUSIBLE = [
    "1s", "30s", "0s", "250ms", "1h30m", "-1s", "10", "64KiB", "1GiB", "full", "normal",
    "off", "skip", "queue", "allow", "latest", "none", "all", "text", "json", "debug", "UTC",
    "Europe/Berlin", "Mars/Olympus", "* * * * *", "@hourly", "@every 1s", "61 * * * *",
    "0 0 30 2 *", "task", "default", "true", "sh", "echo {x}", "{x}", "nobody", "/tmp",
]  # fmt: skip
# TOML keys may hold any character; line breaks in keys have a test of their own below.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
KEY_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=LINE_BREAKS), max_size=10
)
SCALARS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(PLAUSIBLE),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.dates(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY_TEXT, inner, max_size=3),
    max_leaves=6,
)
# Schedule payloads hold no TOML dates or times here: a test below covers those.
JSONISH = st.recursive(
    st.text(max_size=8) | st.integers(-1000, 1000) | st.booleans() | st.floats(-1e9, 1e9),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY_TEXT, inner, max_size=3),
    max_leaves=5,
)


def table(keys: list[str], extra: dict[str, st.SearchStrategy[Any]] | None = None) -> Any:
    values = st.dictionaries(st.sampled_from(keys) | KEY_TEXT, VALUES, max_size=6)
    if extra:
        values = st.tuples(values, st.fixed_dictionaries({}, optional=extra)).map(
            lambda pair: {**pair[0], **pair[1]}
        )
    return values


NAMES = st.sampled_from(["task", "a.b", "exec", "x y", "-bad", "ok_1"]) | KEY_TEXT
# Mostly valid documents, so that loading succeeds often enough to check what it returns.
GOOD_JOB = st.fixed_dictionaries(
    {"command": st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3)},
    optional={
        "shell": st.booleans(),
        "timeout": st.sampled_from(["1s", "5m", "1h30m", "0s"]),
        "max_attempts": st.integers(0, 1001),
        "queue": st.sampled_from(["default", "q-1", "bad queue"]),
        "priority": st.integers(-(2**63), 2**63 - 1),
        "env": st.dictionaries(KEY_TEXT, st.text(max_size=5) | st.integers(), max_size=2),
    },
)
GOOD_SCHEDULE = st.fixed_dictionaries(
    {
        "job": st.sampled_from(["task", "missing"]),
        "cron": st.sampled_from(["@hourly", "*/5 * * * *", "0 0 30 2 *", "@every 90s", "x"]),
    },
    optional={
        "payload": st.dictionaries(KEY_TEXT, JSONISH, max_size=3),
        "catch_up": st.sampled_from(["all", "latest", "none", "some"]),
        "catch_up_limit": st.integers(-1, 10**6),
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Nowhere/Else"]),
        "jitter": st.sampled_from(["0s", "30s", "soon"]),
    },
)
DOCUMENTS = st.one_of(
    st.fixed_dictionaries(
        {"jobs": st.fixed_dictionaries({"task": GOOD_JOB})},
        optional={"schedules": st.dictionaries(NAMES, GOOD_SCHEDULE, max_size=2)},
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "settings": table(SETTINGS_KEYS) | VALUES,
            "jobs": st.dictionaries(NAMES, table(JOB_KEYS) | VALUES, max_size=3) | VALUES,
            "schedules": st.dictionaries(
                NAMES,
                table(
                    [k for k in SCHEDULE_KEYS if k != "payload"],
                    {"payload": st.dictionaries(KEY_TEXT, JSONISH, max_size=3)},
                ),
                max_size=3,
            )
            | VALUES,
        },
    ),
    st.dictionaries(KEY_TEXT, VALUES, max_size=3),
)


def check_loaded(text: str) -> None:
    """A config either loads with every schedule checked, or fails with a one-line
    ConfigError; a loaded one is what the document says."""
    try:
        config = check_schedules(parse_config(text))
    except ConfigError as exc:
        assert exc.exit_code == EXIT_USAGE
        assert len(str(exc).splitlines()) == 1, str(exc)
        return
    import tomllib

    doc = tomllib.loads(text)
    assert set(doc.get("jobs", {})) <= set(config.jobs)
    for name, job in config.jobs.items():
        written = doc.get("jobs", {}).get(name, {})
        if isinstance(written.get("command"), list):
            assert job.command == tuple(written["command"])
        if "max_attempts" in written:
            assert job.max_attempts == written["max_attempts"]
    for name, spec in config.schedules.items():
        assert spec.cron == doc["schedules"][name]["cron"]
        json.dumps(dict(spec.payload), allow_nan=True)  # what the store will write


@settings(max_examples=250, deadline=None)
@given(DOCUMENTS)
@example({"jobs": {"task": {"command": ["true"], "timeout": "0s"}}})
@example({"schedules": {"s": {"command": "true", "cron": "@every 0s"}}})
@example({"settings": {"max_payload": -1, "log_max_bytes": "1 PiB"}})
def test_random_toml_documents_load_or_fail_cleanly(document: dict[str, Any]) -> None:
    try:
        text = tomli_w.dumps(document)
    except (TypeError, ValueError):
        return  # not expressible in TOML
    check_loaded(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")))
@example(b"\xff\xfe[jobs.a]")
@example(b'[jobs.a]\ncommand = ["\xc3"]\n')
@example(b"[[jobs]]\n")
@example(b"jobs = 1\n")
def test_random_bytes_as_a_config_file_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "random.toml"
    path.write_bytes(data)
    try:
        config = check_schedules(load_config_file(path))
    except ConfigError as exc:
        assert len(str(exc).splitlines()) == 1, str(exc)
        assert str(path) in str(exc)
    else:
        assert config.path == path


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('[jobs."a\\nb"]\ncommand = ["true"]\n', id="job-name"),
        pytest.param('[settings]\n"le\\nase" = "5s"\n', id="settings-key"),
    ],
)
def test_a_key_with_a_line_break_is_reported_on_one_line(env: Env, text: str) -> None:
    env.write_config(text)
    one_error_line(env.run("validate"), 2)


def test_a_schedule_payload_that_validates_can_be_enqueued(env: Env) -> None:
    """A TOML date-time is no JSON value: validate refuses the payload at its line, where a
    payload it passed would have to be one `schedule run` can store. Taking it as a string
    instead is a decision for this test to record, not a change to pass unseen."""
    env.write_config(
        '[jobs.task]\ncommand = ["true"]\n\n[schedules.s]\njob = "task"\ncron = "@hourly"\n'
        "payload = { when = 1979-05-27T07:32:00Z }\n"
    )
    line = one_error_line(env.run("validate"), 2, "payload")
    assert ":7: [schedules.s] payload: " in line, line
    assert "must hold only JSON values" in line, line


def test_a_database_path_with_a_nul_byte_is_one_clean_error(env: Env) -> None:
    env.write_config('[settings]\ndb = "q\\u0000.db"\n\n[jobs.task]\ncommand = ["true"]\n')
    result = run_cli(env, "enqueue", "task", global_args=["--config", str(env.config)])
    one_error_line(result, 2)


# ---------------------------------------------------------------------------------------------
# Cron expressions and durations, through the command line

CRON_WORDS = st.sampled_from(
    ["*", "*/5", "1-5", "0", "59", "60", "MON-FRI", "jan", "L", "?", "#", ",", "-", "/", "7",
     "@hourly", "@every", "90s", "@reboot", "0/0", "1-0", "*/0", "99999999999999999999"]
)  # fmt: skip
CRON_TEXT = st.text(max_size=30) | st.lists(CRON_WORDS, max_size=7).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(CRON_TEXT)
@example("@every 99999999999d")
@example("0 0 30 2 *")
@example("* * * * * * *")
def test_any_cron_expression_on_the_command_line(sandbox: Sandbox, expression: str) -> None:
    result = call(sandbox.argv("cron", "next", "--", expression, "-n", "3", "--tz", "UTC"))
    assert_clean(result)
    if result.code == 0:
        from jobctl import cron

        cron.parse(expression)  # what was accepted parses
    else:
        assert result.code == 2


@settings(max_examples=50, deadline=None)
@given(CRON_TEXT)
def test_any_cron_expression_in_a_config(
    tmp_path_factory: pytest.TempPathFactory, expression: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "cron.toml"
    path.write_text(
        tomli_w.dumps(
            {
                "jobs": {"t": {"command": ["true"]}},
                "schedules": {"s": {"job": "t", "cron": expression}},
            }
        )
    )
    result = call(["--config", str(path), "validate"])
    assert_clean(result)
    assert result.code in (0, 2)
    if result.code == 2:
        assert f"{path}:" in result.stderr and "cron" in result.stderr


DURATION_TEXT = st.text(max_size=12) | st.from_regex(
    r"-?[0-9]{1,4}(\.[0-9]{1,3})?(ms|s|m|h|d|w)([0-9]{1,3}(ms|s|m|h))?", fullmatch=True
)


@settings(max_examples=60, deadline=None)
@given(DURATION_TEXT, st.sampled_from(["--delay", "--since", "--older-than", "--timeout"]))
@example("1h30m", "--delay")
@example("101y", "--delay")
@example("1e3s", "--since")
def test_any_duration_option(sandbox: Sandbox, text: str, option: str) -> None:
    try:
        seconds: float | None = parse_duration(text)
    except Exception:
        seconds = None
    if option == "--timeout":
        if seconds is not None and seconds > 0.05:
            return  # `wait` would wait: nothing runs the job
        queued = call(sandbox.argv("enqueue", "noop", db="durations.db"))
        args = ["wait", queued.stdout.strip(), "--timeout", text]
    else:
        args = {
            "--delay": ["enqueue", "noop", "--json", "--delay", text],
            "--since": ["list", "--json", "--since", text],
            "--older-than": ["dead", "purge", "--all", "--yes", "--older-than", text],
        }[option]
    before = time.time()
    result = call(sandbox.argv(*args, db="durations.db"))
    assert_clean(result)
    if seconds is None:
        assert result.code == 2
        assert option in result.stderr
        return
    assert 0 <= seconds <= MAX_SECONDS
    if option == "--delay":
        assert result.code == 0, result.stderr
        job = json.loads(result.stdout)
        run_at = dt.datetime.fromisoformat(job["run_at"]).timestamp()
        assert abs(run_at - (before + seconds)) < 5, (job["run_at"], seconds)
    elif option == "--timeout":
        assert result.code == 124
    else:
        assert result.code == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# Command lines

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=15)
# Integers SQLite can hold; larger ones have a test of their own below.
INTS = st.integers(-(2**63), 2**63 - 1).map(str) | st.sampled_from(
    ["0", "-1", "1", "2", "9223372036854775807", "-9223372036854775808", "1e3", "0x10", "٣"]
)
DURATIONS = st.sampled_from(["0s", "1ms", "5m", "1h30m", "99999d", "-1s", "1e3s", "", " ", "2w"])
# Instants between the years 1000 and 9000; the ends of the calendar are pinned below.
INSTANTS = st.sampled_from(
    ["2026-03-29T02:30", "2026-10-25T02:30", "now", "2026-13-01", "1970-01-01T00:00Z",
     "2026-05-01T09:30:00+02:00", "2026-05-01T09:30:00+25:00", "2026-05-01 09:30", ""]
) | st.datetimes(
    dt.datetime(1000, 1, 1), dt.datetime(9000, 1, 1), timezones=st.none() | st.timezones()
).map(lambda moment: moment.isoformat())  # fmt: skip
WORDS = st.sampled_from(
    ["noop", "greet", "s", "default", "queued", "dead", "succeeded", "running", "-", "--",
     "-h", "--help", "*", "* * * * *", "@every 1s", "UTC", "Europe/Berlin", "Mars/X", "{}",
     "[]", '{"name": 1}', "name=x", "name:=1", "name:={", "a=b", "nobody", "/", "."]
)  # fmt: skip
VALUE = st.one_of(TEXT, INTS, DURATIONS, INSTANTS, WORDS)


def option(name: str, values: st.SearchStrategy[str] = VALUE) -> st.SearchStrategy[list[str]]:
    return st.tuples(st.just(name), values).map(list)


def flag(name: str) -> st.SearchStrategy[list[str]]:
    return st.just([name])


def command(
    words: list[str],
    *options: st.SearchStrategy[list[str]],
    positional: st.SearchStrategy[str] = VALUE,
    max_positional: int = 2,
) -> st.SearchStrategy[list[str]]:
    chosen = st.lists(st.one_of(*options), max_size=4) if options else st.just([])
    return st.tuples(chosen, st.lists(positional, max_size=max_positional)).map(
        lambda parts: words + [word for group in parts[0] for word in group] + parts[1]
    )


COMMANDS = st.one_of(
    command(
        ["enqueue"],
        option("--arg"),
        option("-a"),
        option("--payload"),
        option("--delay", DURATIONS),
        option("--at", INSTANTS),
        option("--priority", INTS),
        option("--queue"),
        option("--key"),
        option("--max-attempts", INTS),
        option("--payload-file"),
        flag("--json"),
        flag("--exec"),
    ),
    command(
        ["list"],
        option("--state"),
        option("--job"),
        option("--queue"),
        option("--key"),
        option("--since", DURATIONS),
        option("--limit", INTS),
        flag("--json"),
        flag("--oldest-first"),
    ),
    command(["show"], flag("--json"), positional=INTS | VALUE, max_positional=1),
    command(["cancel"], positional=INTS | VALUE),
    command(["retry"], positional=INTS | VALUE, max_positional=1),
    command(["pause"], max_positional=1),
    command(["resume"], max_positional=1),
    command(["prune"], option("--older-than", DURATIONS), option("--state")),
    command(["stats"], option("--since", DURATIONS), flag("--json")),
    command(["metrics"]),
    command(["status"], flag("--json")),
    command(
        ["health"],
        option("--max-ready", INTS),
        option("--max-age", DURATIONS),
        option("--max-dead", INTS),
        flag("--json"),
    ),
    command(["logs"], option("--attempt", INTS), positional=INTS, max_positional=1),
    command(["validate"], flag("--quiet")),
    command(["wait", "--timeout", "0s"], flag("--json"), positional=INTS),
    command(
        ["dead", "list"],
        option("--job"),
        option("--since", DURATIONS),
        option("--limit", INTS),
        flag("--json"),
    ),
    command(["dead", "show"], option("--lines", INTS), flag("--json"), positional=INTS),
    command(["dead", "retry"], flag("--all"), option("--job"), positional=INTS),
    command(
        ["dead", "purge"],
        flag("--all"),
        option("--older-than", DURATIONS),
        option("--job"),
        flag("--yes"),
        positional=INTS,
    ),
    command(["schedule", "list"], flag("--json")),
    command(["schedule", "run"], max_positional=1),
    command(["schedule", "pause"], max_positional=1),
    command(["schedule", "resume"], max_positional=1),
    command(
        ["cron", "next"],
        option("--count", INTS),
        option("--tz"),
        option("--from", INSTANTS),
        flag("--json"),
        max_positional=1,
    ),
    command(["import-crontab"], flag("--system"), max_positional=1),
    command(["reload"]),
    command([], positional=WORDS | TEXT, max_positional=3),
)
GLOBALS = st.lists(option("--log-format") | option("--log-level"), max_size=1).map(
    lambda groups: [word for group in groups for word in group]
)


COMMAND_LINES_SEEN_TO_FAIL = [
    ([], ["show", "-1"], ""),
    ([], ["cancel", "0", "-5", "x"], ""),
    ([], ["enqueue", "greet", "--arg", "name:=[1, {}]", "--json"], ""),
    ([], ["import-crontab", "-"], "* * * * * echo hi\n@reboot x\nBAD LINE\n"),
    ([], ["enqueue", "--batch", "-"], '{"job": "noop"}\n{"job": "nope"}\n'),
]
CommandLineTest = Callable[..., None]


def over_command_lines(max_examples: int) -> Callable[[CommandLineTest], CommandLineTest]:
    """A test given (global options, a command's words, stdin): the lines that once failed,
    and max_examples drawn ones (each a run of the CLI in-process, so they cost CPU)."""

    def decorate(test: CommandLineTest) -> CommandLineTest:
        for seen in reversed(COMMAND_LINES_SEEN_TO_FAIL):
            test = example(*seen)(test)
        drawn: CommandLineTest = given(GLOBALS, COMMANDS, TEXT)(test)
        return settings(
            max_examples=max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )(drawn)

    return decorate


@over_command_lines(max_examples=30)
def test_any_command_line_fails_cleanly_or_works(
    sandbox: Sandbox, global_options: list[str], words: list[str], stdin: str
) -> None:
    assert_clean(call(sandbox.argv(*global_options, *words), stdin=stdin, cwd=sandbox.root))


@pytest.fixture(scope="module")
def full_scale(request: pytest.FixtureRequest) -> None:
    """Skips before hypothesis draws anything (a skip inside its run reads as a failure)."""
    require_full_scale(request)


@pytest.mark.chaos
@pytest.mark.usefixtures("full_scale")
@over_command_lines(max_examples=120)
def test_any_command_line_fails_cleanly_or_works_at_full_scale(
    sandbox: Sandbox, global_options: list[str], words: list[str], stdin: str
) -> None:
    assert_clean(call(sandbox.argv(*global_options, *words), stdin=stdin, cwd=sandbox.root))


@pytest.mark.parametrize(
    "args",
    [
        ["show", "9223372036854775808"],
        ["cancel", "9223372036854775808"],
        ["retry", "9223372036854775808"],
        ["logs", "9223372036854775808"],
        ["wait", "9223372036854775808", "--timeout", "0s"],
        ["dead", "retry", "9223372036854775808"],
        ["dead", "purge", "9223372036854775808"],
        ["list", "--limit", "9223372036854775808"],
        ["enqueue", "noop", "--priority", "9223372036854775808"],
        ["enqueue", "noop", "--priority", "-9223372036854775809"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_integers_beyond_64_bits_are_a_clean_error(sandbox: Sandbox, args: list[str]) -> None:
    result = call(sandbox.argv(*args))
    assert_clean(result)
    assert result.code in (1, 2)


# More digits than Python's int() reads (4,300): it raises a ValueError of its own, which
# crashed the commands that read such a number as an id or a cron field ("unexpected error").
LONG = "1" * 5001


@pytest.mark.parametrize(
    ("args", "batch"),
    [
        (["enqueue", "noop", "--after", LONG], ""),
        (["enqueue", "noop", "--after", f"1,{LONG}"], ""),
        (["enqueue", "--batch", "BATCH"], json.dumps({"job": "noop", "after": LONG})),
        (["enqueue", "--batch", "BATCH"], json.dumps({"job": "noop", "after": [LONG]})),
        (["retry", "1", "--after", LONG], ""),
        (["enqueue", "noop", "--priority", LONG], ""),
        (["enqueue", "noop", "--priority", f"-{LONG}"], ""),
        (["list", "--limit", LONG], ""),
        (["show", "0" * 5000 + LONG], ""),
        (["cron", "next", f"{LONG} * * * *"], ""),
        (["cron", "next", f"1-{LONG} * * * *"], ""),
        (["cron", "next", f"*/0{'0' * 5000} * * * *"], ""),
        (["cron", "next", LONG], ""),  # no such schedule: the name is quoted by its start
    ],
    ids=lambda value: " ".join(value[:2])[:20] if isinstance(value, list) else "",
)
def test_numbers_longer_than_python_reads_are_one_short_error_line(
    sandbox: Sandbox, args: list[str], batch: str
) -> None:
    lines = sandbox.root / "long.jsonl"
    lines.write_text(batch + "\n")
    result = call(sandbox.argv(*[str(lines) if arg == "BATCH" else arg for arg in args]))
    assert result.code == EXIT_USAGE, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("jobctl: ") and "unexpected" not in line, line
    assert len(line) < 400, line


def test_a_cron_number_longer_than_python_reads_in_a_config_is_its_error(tmp_path: Path) -> None:
    config = tmp_path / "jobs.toml"
    config.write_text(
        '[jobs.noop]\ncommand = ["true"]\n\n[schedules.s]\njob = "noop"\n'
        f'cron = "*/{LONG} 1 * * *"\n\n[schedules.t]\njob = "noop"\ncron = "{LONG} * * * *"\n'
    )
    result = call(["--config", str(config), "--db", str(tmp_path / "q.db"), "validate"])
    assert result.code == EXIT_USAGE, result.stderr
    (line,) = result.stderr.splitlines()
    assert "jobs.toml:10" in line and "out of range" in line and len(line) < 400, line
    # A step longer than the field takes the first value alone, as any step past its range.
    result = call(["cron", "next", f"*/{LONG} 1 * * *", "--tz", "UTC", "-n", "2", "--json"])
    assert result.code == 0, result.stderr
    assert [fire[11:16] for fire in json.loads(result.stdout)] == ["01:00", "01:00"]


@pytest.mark.parametrize(
    "args",
    [
        ["cron", "next", "@hourly", "--tz", "UTC", "--from", "0001-01-01T00:00"],
        ["cron", "next", "@every 1s", "--tz", "UTC", "--from", "9999-12-31T23:59:59"],
        # A --from the clocks skip has a note; a bad expression's error is then the one line.
        ["cron", "next", "BAD", "--tz", "Europe/Berlin", "--from", "2026-03-29T02:30"],
        ["enqueue-then-show", "--at", "0001-01-01T00:00:00+14:00"],
    ],
    ids=["cron-next-year-1", "cron-next-year-9999", "cron-next-skipped-bad", "enqueue-at-year-1"],
)
def test_instants_at_the_ends_of_the_calendar_are_a_clean_error(
    sandbox: Sandbox, args: list[str]
) -> None:
    if args[0] == "enqueue-then-show":  # on a database of its own: the job would stay
        queued = call(sandbox.argv("enqueue", "noop", *args[1:], db="calendar.db"))
        assert_clean(queued)
        if queued.code != 0:
            return  # refused at once: fine
        result = call(sandbox.argv("show", queued.stdout.strip(), "--json", db="calendar.db"))
    else:
        result = call(sandbox.argv(*args))
    assert_clean(result)


# ---------------------------------------------------------------------------------------------
# Payloads, end to end

DUMP = """\
import json, os, sys

out = os.path.join(sys.argv[1], os.environ["JOBCTL_JOB_ID"])
with open(out, "w") as handle:
    json.dump(
        {
            "argv": [os.fsencode(arg).hex() for arg in sys.argv[2:]],
            "payload": os.environb[b"JOBCTL_PAYLOAD"].hex(),
        },
        handle,
    )
"""
INJECTIONS = [
    "$(touch {canary})", "`touch {canary}`", "'; touch {canary}; '", '"; touch {canary}; "',
    "&& touch {canary}", "\ntouch {canary}\n", "|touch {canary}", "${IFS}touch${IFS}{canary}",
    "*", "~", "-rf", "--", "{a}", "{{b}}", "}{", "%s%n", "\\", "'", '"', " ", "\t", "\x1b[0m",
]  # fmt: skip
# Any Unicode an argv element can carry: no NUL (see the test below), no lone surrogates.
UNICODE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))


def payload_values(canary: Path) -> st.SearchStrategy[str]:
    hostile = st.sampled_from([piece.replace("{canary}", str(canary)) for piece in INJECTIONS])
    return st.lists(hostile | UNICODE, max_size=4).map("".join)


FINITE = st.floats(allow_nan=False, allow_infinity=False)
NESTED = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | FINITE | UNICODE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(UNICODE, inner, max_size=3),
    max_leaves=6,
)


def as_text(value: Any) -> str:
    """What a placeholder becomes: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def payload_config(env: Env) -> Path:
    dump = env.root / "dump.py"
    dump.write_text(DUMP)
    out = env.root / "out"
    out.mkdir(exist_ok=True)
    python, script, where = (json.dumps(str(p)) for p in (sys.executable, dump, out))
    shell_line = f"exec {sys.executable} {dump} {out} {{a}} pre-{{b}}-post"
    env.write_config(
        "[jobs.plain]\n"
        f'command = [{python}, {script}, {where}, "{{a}}", "pre-{{b}}-post", "{{a}}{{b}}"]\n\n'
        "[jobs.shelled]\nshell = true\n"
        f"command = {json.dumps(shell_line)}\n"
    )
    return out


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_payloads_reach_the_command_byte_for_byte(env: Env, data: st.DataObject) -> None:
    out = payload_config(env)
    canary = env.root / "pwned"
    strings = payload_values(canary)
    payloads: list[dict[str, Any]] = data.draw(
        st.lists(
            st.fixed_dictionaries(
                # (Not null: a placeholder needs a value, and a null one is refused.)
                {"a": strings, "b": strings | NESTED.filter(lambda v: v is not None)},
                optional={"extra": NESTED, "ünïcode ✓ key": NESTED},
            ),
            min_size=6,
            max_size=10,
        )
    )
    jobs = ["plain" if n % 2 else "shelled" for n in range(len(payloads))]
    lines = "".join(
        json.dumps({"job": job, "payload": p}) + "\n" for job, p in zip(jobs, payloads, strict=True)
    )
    result = env.run("enqueue", "--batch", "-", input=lines)
    assert result.returncode == 0, result.stderr
    expected = dict(
        zip(map(int, result.stdout.split()), zip(jobs, payloads, strict=True), strict=True)
    )
    # The other ways in: --payload, --arg (through jobctl's own argv) and --payload-file.
    first = payloads[0]
    expected[env.enqueue("plain", "--payload", json.dumps(first, ensure_ascii=False))] = (
        "plain",
        first,
    )
    as_args = {"a": first["a"], "b": as_text(first["b"])}
    expected[env.enqueue("shelled", "--arg", f"a={as_args['a']}", "--arg", f"b={as_args['b']}")] = (
        "shelled",
        as_args,
    )
    (env.root / "payload.json").write_text(json.dumps(first, ensure_ascii=False), "utf-8")
    expected[env.enqueue("plain", "--payload-file", str(env.root / "payload.json"))] = (
        "plain",
        first,
    )

    ran = env.run("run-worker", "--burst", "--concurrency", "4", timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert not canary.exists(), "a payload value ran as shell code"
    for job_id, (job, payload) in expected.items():
        seen = json.loads((out / str(job_id)).read_text())
        argv = [bytes.fromhex(arg) for arg in seen["argv"]]
        a, b = as_text(payload["a"]).encode(), as_text(payload["b"]).encode()
        wanted = [a, b"pre-" + b + b"-post"] + ([a + b] if job == "plain" else [])
        assert argv == wanted, (job_id, job, payload)
        received = bytes.fromhex(seen["payload"]).decode("utf-8")  # strict: valid UTF-8
        assert json.loads(received) == payload


@pytest.mark.parametrize(
    "args",
    [["--payload", '{"x": NaN}'], ["--arg", "x:=Infinity"]],
    ids=["payload-NaN", "arg-Infinity"],
)
def test_payloads_that_are_not_json_are_refused(env: Env, args: list[str]) -> None:
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    result = env.run("enqueue", "noop", *args)
    if result.returncode == 0:
        shown = env.run("show", result.stdout.strip(), "--json").stdout

        def strict(constant: str) -> None:
            raise ValueError(f"not JSON: {constant}")

        json.loads(shown, parse_constant=strict)
    else:
        one_error_line(result, 2)


def test_a_nul_in_a_placeholder_value_is_a_clean_error(env: Env) -> None:
    # No argv element can hold NUL: refused at enqueue, or the job ends saying why.
    env.write_config('[jobs.echo]\ncommand = ["echo", "{v}"]\nmax_attempts = 1\n')
    result = env.run("enqueue", "echo", "--payload", '{"v": "a\\u0000b"}')
    if result.returncode != 0:
        one_error_line(result, 2)
        return
    ran = env.run("run-worker", "--burst")
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    job = env.show(int(result.stdout))
    assert job["state"] == "dead"
    assert "null byte" in str(job["error"])
