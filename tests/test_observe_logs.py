"""Event lines on stderr: every event in text and in JSON, levels, and where they come from.

Each event is produced by the real thing (a worker running, failing, being cancelled, a job
recovered from a lost worker, a cron daemon firing and skipping) and read back in both
formats: JSON lines are parsed as JSON, text lines against the one readable layout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import JOBCTL, Env, small_file_system
from test_observe_support import (
    TEXT_LINE,
    enqueue_at,
    opened,
    parsed_events,
    start_logged,
    text_fields,
)

from jobctl.models import NewJob

FORMATS = ["text", "json"]

WORKER_CONFIG = """
[jobs.ok]
command = ["sh", "-c", "echo fine"]

[jobs.flaky]
command = ["sh", "-c", "echo 'disk is full' >&2; exit 3"]
max_attempts = 2
backoff = "10ms"
jitter = false
"""


def _subset(record: dict[str, str], **expected: object) -> None:
    wanted = {k: str(v) for k, v in expected.items()}
    got = {k: record.get(k) for k in wanted}
    assert got == wanted, record


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_worker_logs_start_success_retry_death_and_stop(env: Env, fmt: str) -> None:
    env.write_config(WORKER_CONFIG)
    ok = env.enqueue("ok")
    flaky = env.enqueue("flaky")
    before = time.time()
    result = env.run("--log-format", fmt, "run-worker", "--burst", check=True)
    after = time.time()
    assert result.stdout == ""  # events go to stderr only
    events = parsed_events(result.stderr, fmt)
    assert [(e["event"], e.get("job_id")) for e in events] == [
        ("worker.started", None),
        ("job.started", str(ok)),
        ("job.succeeded", str(ok)),
        ("job.started", str(flaky)),
        ("job.retrying", str(flaky)),
        ("job.started", str(flaky)),
        ("job.dead", str(flaky)),
        ("worker.stopped", None),
    ]
    started, succeeded, first, retrying, second, dead = events[1:7]
    _subset(events[0], level="info", concurrency=1)
    assert events[0]["worker"] == events[-1]["worker"] and events[0]["worker"]
    _subset(started, level="info", job="ok", queue="default", attempt=1)
    _subset(succeeded, level="info", job="ok", queue="default", attempt=1, exit_code=0)
    assert "error" not in succeeded
    _subset(first, job="flaky", attempt=1)
    error = "exit code 3: disk is full"
    _subset(retrying, level="warning", job="flaky", queue="default", attempt=1, exit_code=3)
    _subset(retrying, error=error)
    _subset(second, job="flaky", attempt=2)
    _subset(dead, level="error", job="flaky", queue="default", attempt=2, exit_code=3, error=error)
    if fmt == "json":
        records = [json.loads(line) for line in result.stderr.splitlines()]
        for record in records:
            assert list(record)[:3] == ["ts", "level", "event"]
            stamp = datetime.fromisoformat(record["ts"])
            assert stamp.tzinfo is not None
            assert before - 1 <= stamp.timestamp() <= after + 1
        # Numbers and lists, not the words of the text lines: a log shipper sums and compares.
        assert records[0]["queues"] == ["*"]
        assert isinstance(records[4]["retry_in_s"], int | float) and "retry_in" not in records[4]
        for record in records[2], records[4], records[6]:
            assert isinstance(record["duration_ms"], int | float) and record["duration_ms"] >= 0
            assert isinstance(record["job_id"], int) and isinstance(record["attempt"], int)
            assert isinstance(record["exit_code"], int)
    else:
        for event in events:  # in a pipe: the local date and time with its offset, to the ms
            stamp = datetime.fromisoformat(event["time"])
            assert stamp.tzinfo is not None and stamp.utcoffset() == stamp.astimezone().utcoffset()
            assert before - 1 <= stamp.timestamp() <= after + 1, event
            assert len(event["time"].split(".")[1]) == len("123+00:00"), event
        for event in (succeeded, retrying, dead):
            assert event["duration"].endswith(("ms", "s"))  # "in 12ms"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_cancelled_running_job_is_logged(env: Env, fmt: str) -> None:
    env.write_config('[jobs.hang]\ncommand = ["sleep", "60"]\n')
    worker = start_logged(env, "run-worker", log_format=fmt)
    job_id = env.enqueue("hang")

    def running() -> bool:
        with opened(env) as store:
            job = store.get(job_id)
        return job is not None and job.state.value == "running"

    env.wait_for(running)
    env.run("cancel", str(job_id), check=True)
    env.wait_for(lambda: "job.cancelled" in worker.text())
    assert worker.stop() == 0
    events = parsed_events(worker.text(), fmt)
    names = [e["event"] for e in events]
    assert names[-2:] == ["worker.stopping", "worker.stopped"]
    (cancelled,) = [e for e in events if e["event"] == "job.cancelled"]
    _subset(cancelled, level="warning", job_id=job_id, job="hang", queue="default", attempt=1)
    assert "duration_ms" in cancelled or "duration" in cancelled


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_job_of_a_lost_worker_is_logged_as_recovered(env: Env, fmt: str) -> None:
    # A short lease: a worker just started leaves others its lease/3 before a rescue.
    env.write_config('[settings]\nlease = "2s"\n[jobs.ok]\ncommand = ["true"]\n')
    long_ago = time.time() - 600
    (job_id,) = enqueue_at(env, long_ago, NewJob(job="ok", payload={}))
    with opened(env) as store:  # a worker took it ten minutes ago and died
        (claim,) = store.claim("vanished-worker", None, long_ago, 30.0)
    assert claim.job.id == job_id
    result = env.run("--log-format", fmt, "run-worker", "--burst", check=True)
    events = parsed_events(result.stderr, fmt)
    assert [e["event"] for e in events] == [
        "worker.started",
        "job.recovered",
        "job.started",
        "job.succeeded",
        "worker.stopped",
    ]
    _subset(events[1], level="warning", job_id=job_id, job="ok", queue="default", attempt=1)
    _subset(events[1], state="queued", error="worker vanished-worker lost: its lease expired")
    _subset(events[2], job_id=job_id, attempt=2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_cron_daemon_logs_fires_and_skips(env: Env, fmt: str) -> None:
    env.write_config(
        '[jobs.tick]\ncommand = ["true"]\n\n'
        '[schedules.every-second]\njob = "tick"\ncron = "* * * * * *"\noverlap = "skip"\n'
    )
    daemon = start_logged(env, "schedule-daemon", log_format=fmt)
    # No worker runs: the first fire's job stays queued, so the next fire is skipped.
    env.wait_for(lambda: "schedule.skipped" in daemon.text(), timeout=20)
    assert daemon.stop() == 0
    events = parsed_events(daemon.text(), fmt)
    names = [e["event"] for e in events]
    assert names[0] == "scheduler.leader" and names[-1] == "scheduler.stopped"
    fired = [e for e in events if e["event"] == "schedule.fired"]
    skipped = [e for e in events if e["event"] == "schedule.skipped"]
    assert len(fired) == 1, names
    jobs = json.loads(env.run("list", "--json", check=True).stdout)
    (job,) = jobs
    _subset(fired[0], level="info", schedule="every-second", job="tick", job_id=job["id"])
    assert datetime.fromisoformat(fired[0]["fire_time"]) == datetime.fromisoformat(job["fire_time"])
    _subset(skipped[0], level="warning", schedule="every-second")
    assert skipped[0]["reason"]
    assert datetime.fromisoformat(skipped[0]["fire_time"]) > datetime.fromisoformat(
        job["fire_time"]
    )


def test_settings_choose_the_format_and_the_option_overrides_them(env: Env) -> None:
    env.write_config('[settings]\nlog_format = "json"\n\n[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    from_settings = env.run("run-worker", "--burst", check=True)
    events = parsed_events(from_settings.stderr, "json")
    assert [e["event"] for e in events] == [
        "worker.started",
        "job.started",
        "job.succeeded",
        "worker.stopped",
    ]
    env.enqueue("ok")
    overridden = env.run("--log-format", "text", "run-worker", "--burst", check=True)
    lines = overridden.stderr.splitlines()
    assert len(lines) == 4 and all(TEXT_LINE.match(line) for line in lines), lines


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("error", ["job.dead"]),
        ("warning", ["job.retrying", "job.dead"]),
        (
            "info",
            [
                "worker.started",
                "job.started",
                "job.retrying",
                "job.started",
                "job.dead",
                "worker.stopped",
            ],
        ),
    ],
)
def test_log_level_drops_what_is_below_it(env: Env, level: str, expected: list[str]) -> None:
    env.write_config(WORKER_CONFIG)
    env.enqueue("flaky")
    result = env.run("--log-format", "json", "--log-level", level, "run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    assert [e["event"] for e in parsed_events(result.stderr, "json")] == expected


def test_log_level_from_settings_and_debug_shows_hook_results(env: Env) -> None:
    marker = env.root / "hook-ran"
    env.write_config(
        '[settings]\nlog_level = "debug"\nlog_format = "json"\n\n'
        f'[jobs.bad]\ncommand = ["false"]\nmax_attempts = 1\non_dead = ["touch", "{marker}"]\n'
    )
    worker = start_logged(env, "run-worker")
    env.enqueue("bad")
    record = worker.wait_event(env, "hook.succeeded")
    assert record["level"] == "debug" and record["hook"] == "dead" and record["job"] == "bad"
    assert marker.exists()
    assert worker.stop() == 0
    env.write_config('[settings]\nlog_level = "warning"\n\n[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    quiet = env.run("run-worker", "--burst", check=True)
    assert quiet.stderr == ""


def test_a_multiline_error_stays_on_one_line_in_both_formats(env: Env) -> None:
    script = env.root / "noisy.sh"
    script.write_text("printf 'first line\\nsecond line\\n' >&2\nexit 1\n")
    env.write_config(f'[jobs.noisy]\ncommand = ["sh", "{script}"]\nmax_attempts = 1\n')
    for fmt in FORMATS:
        job_id = env.enqueue("noisy")
        result = env.run("--log-format", fmt, "run-worker", "--burst", check=True)
        lines = result.stderr.splitlines()
        assert len(lines) == 4, lines  # worker.started, job.started, job.dead, worker.stopped
        dead = parsed_events(lines[2], fmt)[0]
        _subset(dead, event="job.dead", job_id=job_id, exit_code=1)
        if fmt == "json":
            assert dead["error"] == "exit code 1: first line\nsecond line"
        else:
            assert "first line" in dead["error"] and dead["error"].endswith("second line")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log-format", "xml"], "jobctl: --log-format: expected text or json, got 'xml'\n"),
        (
            ["--log-level", "loud"],
            "jobctl: --log-level: expected debug, info, warning or error, got 'loud'\n",
        ),
    ],
)
def test_bad_log_options_are_usage_errors(env: Env, args: list[str], message: str) -> None:
    result = env.run(*args, "run-worker", "--burst")
    assert (result.returncode, result.stderr) == (2, message)


def test_bad_log_settings_are_config_errors(env: Env) -> None:
    env.write_config('[settings]\nlog_format = "yaml"\n')
    result = env.run("validate")
    assert result.returncode == 2
    assert "[settings] log_format: must be 'text' or 'json'" in result.stderr
    env.write_config('[settings]\nlog_level = "verbose"\n')
    result = env.run("validate")
    assert result.returncode == 2
    assert "[settings] log_level" in result.stderr


LONG = "e" * 305
TEXT_LINES = [
    pytest.param(
        1700000000.25,
        "info",
        "job.succeeded",
        {"job_id": 7, "job": "noop", "queue": "default", "attempt": 1, "duration_ms": 1.2,
         "exit_code": 0, "error": None},
        ".250 job.succeeded   #7 noop queue=default attempt=1 in 1ms exit_code=0",
        id="succeeded",
    ),
    pytest.param(
        1700000000.999,
        "warning",
        "job.retrying",
        {"retry_in": "2.0s", "job_id": 8, "job": "backup", "queue": "default", "attempt": 2,
         "duration_ms": 1500, "exit_code": 3, "error": 'boom "x"\nline two'},
        '.999 WARNING job.retrying    #8 backup queue=default attempt=2 in 1.5s exit_code=3'
        ' error="boom \\"x\\" ⏎ line two" retry_in=2.0s',
        id="retrying",
    ),
    pytest.param(
        1700003599.5,
        "error",
        "job.dead",
        {"job_id": 9, "job": "sync", "duration_ms": 61000.0, "error": LONG, "path": "a\\b c"},
        f'.500 ERROR job.dead        #9 sync in 1m1s error={LONG[:297]}... path="a\\\\b c"',
        id="dead",
    ),
    pytest.param(
        -0.5,
        "info",
        "worker.started",
        {"worker": "host:1:ab", "queues": "*", "concurrency": 2},
        ".500 worker.started  worker=host:1:ab queues=* concurrency=2",
        id="before-1970",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("ts", "level", "event", "fields", "rest"), TEXT_LINES)
def test_text_lines_exactly(
    ts: float, level: str, event: str, fields: dict[str, object], rest: str
) -> None:
    """The text layout, byte for byte: the clock, the level unless info, the event padded,
    the job fields in their fixed order, then the others as given; None fields left out."""
    from jobctl.observe.events import _text_line

    clock = time.strftime("%H:%M:%S", time.localtime(ts))
    assert _text_line(ts, level, event, fields) == clock + rest
    # The clock is kept for the rest of its second, and made anew for the next one.
    assert _text_line(ts + 1, level, event, fields).startswith(
        time.strftime("%H:%M:%S", time.localtime(ts + 1))
    )
    # In a file or a pipe, with the date and the offset (as JSON's ts has them); under
    # journald, which stamps each line, the level's priority instead of a time.
    date = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts))
    offset = datetime.fromtimestamp(ts // 1).astimezone().isoformat()[-6:]
    millis, after = rest[:4], rest[4:]
    assert _text_line(ts, level, event, fields, "date") == date + millis + offset + after
    priority = {"info": "<6>", "warning": "<4>", "error": "<3>"}[level]
    assert _text_line(ts, level, event, fields, "journal") == priority + after.lstrip()


def _worker_with_stderr_in(
    env: Env, sink: int, *args: str, journal: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`jobctl ARGS run-worker --burst -q default -q typo` with its stderr on `sink` (a file,
    a terminal), under a journald whose stream is `journal` when given (a unit's variable
    names the stream by device and inode). The unknown queue draws a warning of jobctl's own."""
    environ = dict(env.env)
    if journal is not None:
        found = os.fstat(journal)
        environ["JOURNAL_STREAM"] = f"{found.st_dev}:{found.st_ino}"
    return subprocess.run(
        [
            *JOBCTL,
            *env.global_args(),
            *args,
            "run-worker",
            "--burst",
            "-q",
            "default",
            "-q",
            "typo",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=sink,
        text=True,
        env=environ,
        cwd=env.root,
        timeout=60,
    )


TYPO_WARNING = (
    "no job type, schedule or [queues] limit in {config} names queue 'typo': only jobs"
    " enqueued with --queue typo run there"
)
WORKER_EVENTS = [
    ("info", "worker.started"),
    ("info", "job.started"),
    ("info", "job.succeeded"),
    ("info", "job.started"),
    ("warning", "job.retrying"),
    ("info", "job.started"),
    ("error", "job.dead"),
    ("info", "worker.stopped"),
]
PRIORITY = {"error": "<3>", "warning": "<4>", "info": "<6>"}
JOURNAL_LINE = re.compile(r"^<(?P<priority>\d)>(?:(?:WARNING|ERROR) )?(?P<event>[a-z_]+\.[a-z_]+) ")


def test_under_journald_lines_carry_their_priority_and_no_time(env: Env) -> None:
    """journald stamps each line itself and takes its priority from a `<N>` prefix: the
    time showed twice, and every line was priority 6, so `journalctl -p warning` showed
    nothing, not even job.dead. jobctl's own warning has its priority too."""
    env.write_config(WORKER_CONFIG)
    journal = env.root / "journal"
    for fmt in FORMATS:
        env.enqueue("ok")
        env.enqueue("flaky")
        with journal.open("w") as sink:
            result = _worker_with_stderr_in(
                env, sink.fileno(), "--log-format", fmt, journal=sink.fileno()
            )
        assert result.returncode == 0, journal.read_text()
        warning, *lines = journal.read_text().splitlines()
        if fmt == "text":
            assert warning == "<4>jobctl: warning: " + TYPO_WARNING.format(config=env.config)
            events = [JOURNAL_LINE.match(line) for line in lines]
            assert all(events), lines
            said = [(match["priority"], match["event"]) for match in events if match]
        else:
            assert warning.startswith("<4>{")
            record = json.loads(warning[3:])
            assert (record["level"], record["event"]) == ("warning", "jobctl.warning")
            assert record["message"] == TYPO_WARNING.format(config=env.config)
            said = [(line[1], json.loads(line[3:])["event"]) for line in lines]
            for line in lines:
                assert PRIORITY[json.loads(line[3:])["level"]] == line[:3], line
        assert said == [(PRIORITY[level][1], event) for level, event in WORKER_EVENTS]


def test_a_journal_stream_named_for_another_file_is_not_journald(env: Env) -> None:
    """JOURNAL_STREAM passes on to whatever a unit starts: `jobctl up 2>>file` from its
    script writes to a file, which journald never reads, and where a time is wanted."""
    env.write_config(WORKER_CONFIG)
    env.enqueue("flaky")
    log = env.root / "worker.log"
    with log.open("w") as sink, env.config.open() as other:
        result = _worker_with_stderr_in(env, sink.fileno(), journal=other.fileno())
    assert result.returncode == 0, log.read_text()
    warning, *lines = log.read_text().splitlines()
    assert warning == "jobctl: warning: " + TYPO_WARNING.format(config=env.config)
    events = [text_fields(line) for line in lines]
    assert [e["event"] for e in events][::5] == ["worker.started", "worker.stopped"]
    assert all(datetime.fromisoformat(e["time"]).tzinfo is not None for e in events), lines


def test_at_a_terminal_lines_start_with_the_time_of_day(env: Env) -> None:
    """A file or a pipe gets the date too (a log kept for months had none); a terminal,
    read as it is written, keeps the short time of day."""
    env.write_config(WORKER_CONFIG)
    env.enqueue("ok")
    controller, terminal = os.openpty()
    try:
        result = _worker_with_stderr_in(env, terminal)
        os.close(terminal)
        output = b""
        with contextlib.suppress(OSError):  # EIO once the terminal's last writer is gone
            while chunk := os.read(controller, 65536):
                output += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    warning, *lines = output.decode().replace("\r\n", "\n").splitlines()
    assert warning == "jobctl: warning: " + TYPO_WARNING.format(config=env.config)
    events = [text_fields(line) for line in lines]
    assert [e["event"] for e in events] == [
        "worker.started",
        "job.started",
        "job.succeeded",
        "worker.stopped",
    ]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", e["time"]) for e in events), lines


def test_jobctls_own_lines_are_json_events_under_json(env: Env) -> None:
    """A JSON log shipper reading a worker's or a daemon's stderr met plain text lines: the
    warnings, notes and the error they stop with, which jobctl says apart from its events.
    The settings' log_format asks for JSON as the option does."""
    env.write_config('[settings]\nlog_format = "json"\n' + WORKER_CONFIG)
    env.enqueue("ok")
    log = env.root / "worker.log"
    with log.open("w") as sink:
        result = _worker_with_stderr_in(env, sink.fileno())
    assert result.returncode == 0, log.read_text()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == [
        "jobctl.warning",
        "worker.started",
        "job.started",
        "job.succeeded",
        "worker.stopped",
    ]
    assert list(records[0]) == ["ts", "level", "event", "message"]
    assert records[0]["level"] == "warning"
    assert records[0]["message"] == TYPO_WARNING.format(config=env.config)
    # The error a daemon stops with: a database that cannot be made under a file.
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n\n[schedules.s]\njob = "ok"\ncron = "@daily"\n'
    )
    for command in ("schedule-daemon", "up"):
        where = ("-c", str(env.config), "--db", f"{env.config}/q.db")
        stopped = env.run("--log-format", "json", *where, command)
        assert stopped.returncode == 3, stopped.stderr
        (line,) = stopped.stderr.splitlines()
        record = json.loads(line)
        assert (record["level"], record["event"]) == ("error", "jobctl.error")
        assert record["message"].startswith(f"database {env.config}/q.db: ")
    # Commands that log no events keep the plain line.
    listed = env.run("--log-format", "json", "--db", f"{env.config}/q.db", "list")
    assert listed.returncode == 3 and listed.stderr.startswith("jobctl: database ")


def test_control_characters_from_a_job_are_escaped_in_text_lines(env: Env) -> None:
    """A job's stderr tail reaches the event line; its ESC and CR must not drive the
    terminal of whoever reads the worker's log. JSON lines keep the exact text."""
    script = env.root / "ansi.sh"
    script.write_text("printf 'red\\033[31mRED\\rback' >&2\nexit 1\n")
    env.write_config(f'[jobs.ansi]\ncommand = ["sh", "{script}"]\nmax_attempts = 1\n')
    for fmt in FORMATS:
        env.enqueue("ansi")
        result = env.run("--log-format", fmt, "run-worker", "--burst", check=True)
        assert "\x1b" not in result.stderr and "\r" not in result.stderr
        dead = parsed_events(result.stderr.splitlines()[2], fmt)[0]
        if fmt == "json":
            assert dead["error"] == "exit code 1: red\x1b[31mRED\rback"
        else:
            assert "red\\\\x1b[31mRED\\\\rback" in dead["error"]  # quoted: \\ is \\\\


def test_a_store_outage_is_one_line_then_a_reminder_a_minute_then_one_when_back() -> None:
    """Not an error line a second for as long as a server is down."""
    import io

    from jobctl.observe.events import EventLog, Outage

    stream = io.StringIO()
    outage = Outage(EventLog(stream=stream, fmt="json"), "worker")
    outage.answered(0.0)  # all well: nothing to say
    for second in range(0, 125):
        outage.failed(ConnectionError("cannot reach the server"), float(second))
    outage.answered(125.0)
    outage.answered(126.0)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["level"]) for e in lines] == [
        ("worker.store_error", "error"),
        ("worker.store_error", "error"),
        ("worker.store_error", "error"),
        ("worker.store_back", "warning"),
    ]
    assert lines[0]["error"] == "cannot reach the server"
    assert lines[1]["error"] == "cannot reach the server (failing for 1m)"
    assert 125 <= lines[3]["after_s"] < 126  # seconds, as the text line's `after=2m5s`


@pytest.mark.timeout(120)
def test_a_full_disk_is_one_error_line_and_back_only_once_a_write_succeeds(env: Env) -> None:
    """On a full disk reads still answer: a turn of the worker's loop that wrote nothing (no
    heartbeat while failing, no job to claim) took the store for back, and an idle worker
    said store_error and store_back by turns every other second for the whole outage."""
    with small_file_system(env.root / "small", "size=4m") as small:
        env.db = small / "q.db"
        env.write_config('[settings]\nlease = "1s"\n\n[jobs.ok]\ncommand = ["true"]\n')
        first = env.enqueue("ok")
        worker = start_logged(env, "--log-level", "debug", "run-worker")
        worker.wait_event(env, "job.succeeded", job_id=first)
        with contextlib.suppress(OSError), open(small / "filler", "wb") as filler:
            while True:  # the disk is full now
                filler.write(b"\0" * 65536)
                filler.flush()

        def outage() -> list[str]:
            return [e["event"] for e in worker.events() if e["event"].startswith("worker.store")]

        # Tried again once a second, each try a debug line; it said "back" at the second.
        env.wait_for(
            lambda: outage().count("worker.store_retry") >= 3 or "worker.store_back" in outage()
        )
        said = outage()
        assert said == ["worker.store_error"] + ["worker.store_retry"] * (len(said) - 1)
        (small / "filler").unlink()
        worker.wait_event(env, "worker.store_back")
        second = env.enqueue("ok")
        worker.wait_event(env, "job.succeeded", job_id=second)
        assert worker.stop() == 0
    said = outage()
    assert said == [
        "worker.store_error",
        *["worker.store_retry"] * (len(said) - 2),
        "worker.store_back",
    ]


@pytest.mark.parametrize("later", [30000, 0], ids=["past-the-old-end", "shorter"])
def test_logs_follow_reads_a_log_emptied_by_copytruncate_from_its_new_start(
    env: Env, later: int
) -> None:
    """logrotate's `copytruncate` (cp f f.1; truncate -s 0 f) while the job wrote: `logs
    --follow` read on at its old offset, so that what came until the file grew past it was
    lost, and then it printed the rest of a line cut in the middle, saying nothing. The job
    writes `later` bytes after the truncation: more than the file held, or nothing."""
    from test_ops_support import start_worker, wait_state

    gate = env.root / "gate"
    os.mkfifo(gate)
    script = (
        f"head -c 20000 /dev/zero | tr '\\\\0' x | fold -w 99; echo; read line < {gate};"
        f" echo after; head -c {later} /dev/zero | tr '\\\\0' y | fold -w 49; echo; echo end"
    )
    env.write_config(f'[jobs.long]\ncommand = ["sh", "-c", "{script}"]\nmax_attempts = 1\n')
    start_worker(env)
    job_id = env.enqueue("long")
    wait_state(env, job_id, "running")
    follower = env.start("logs", str(job_id), "--follow")
    assert follower.stdout is not None
    before = [follower.stdout.readline() for _ in range(203)]  # 20,000 x in lines of 99
    assert "".join(before) == ("x" * 99 + "\n") * 202 + "xx\n"
    log = Path(env.show(job_id)["attempts_history"][0]["log_path"])  # type: ignore[index]
    shutil.copyfile(log, f"{log}.1")
    os.truncate(log, 0)
    with open(gate, "w") as opened_gate:
        opened_gate.write("go\n")
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert out == log.read_text()  # all of it, from its new start
    assert out.startswith("after\n") and out.endswith("\nend\n") and out.count("y") == later
    assert f"its log {log} was truncated by something other than jobctl" in err
