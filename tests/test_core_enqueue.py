"""End to end: every way of putting a job on the queue, and what `--json` says about it."""

from __future__ import annotations

import contextlib
import json
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import Env

from jobctl.payload import longest_batch_line
from jobctl.store.sqlite import SqliteStore

CONFIG = """\
[jobs.record]
command = ["sh", "-c", "echo $JOBCTL_JOB_ID >> order.txt"]

[jobs.greet]
command = ["echo", "hello {name}"]
max_attempts = 5

[jobs.report]
command = ["true"]
queue = "reports"
priority = 7
"""

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")


def timestamp(iso: Any) -> float:
    assert isinstance(iso, str), iso
    assert ISO.fullmatch(iso), iso
    moment = datetime.fromisoformat(iso)
    assert moment.tzinfo is not None
    return moment.timestamp()


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("jobctl: ")
    return lines[0]


def list_all(env: Env) -> list[dict[str, Any]]:
    result = env.run("list", "--json", "--limit", "0", "--oldest-first", check=True)
    jobs = json.loads(result.stdout)
    assert isinstance(jobs, list)
    return jobs


def make_database(env: Env) -> None:
    """The sandbox's database, made empty in this process (a `run-worker --burst` made it at
    the cost of a worker's start)."""
    SqliteStore(env.db).close()


def state(env: Env, job_id: int) -> str:
    """A job's state as the store holds it, read in this process: what a wait polls for (a
    `show` run per poll cost a process each 50 ms)."""
    with SqliteStore(env.db, create=False) as store:
        job = store.get(job_id)
    assert job is not None
    return job.state


def burst(env: Env, *args: str) -> None:
    result = env.run("run-worker", "--burst", *args, timeout=60)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# --key


def test_key_makes_enqueue_idempotent_while_the_job_is_active(env: Env) -> None:
    env.write_config(CONFIG)
    first = env.enqueue("greet", "--arg", "name=a", "--key", "nightly")
    again = env.run("enqueue", "greet", "--arg", "name=b", "--key", "nightly")
    assert again.returncode == 0, again.stderr
    assert int(again.stdout) == first
    note = one_error_line(again.stderr)
    assert str(first) in note
    assert "nightly" in note
    as_json = env.run("enqueue", "greet", "--arg", "name=c", "--key", "nightly", "--json")
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert document["id"] == first
    assert document["created"] is False
    assert document["payload"] == {"name": "a"}  # the stored job is unchanged
    assert len(list_all(env)) == 1

    burst(env)
    assert env.show(first)["state"] == "succeeded"
    # A finished job no longer holds its key.
    later = env.run("enqueue", "greet", "--arg", "name=d", "--key", "nightly")
    assert later.returncode == 0
    assert later.stderr == ""
    assert int(later.stdout) != first
    assert len(list_all(env)) == 2


def test_duplicate_keys_inside_one_batch_store_one_job(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("greet", "--arg", "name=first")  # the database exists: no note that it is new
    lines = "\n".join(
        json.dumps({"job": "greet", "payload": {"name": str(n)}, "key": "same"}) for n in range(3)
    )
    result = env.run("enqueue", "--batch", "-", input=lines + "\n")
    assert result.returncode == 0, result.stderr
    ids = [int(word) for word in result.stdout.split()]
    assert len(ids) == 3
    assert len(set(ids)) == 1
    assert "2 job(s)" in one_error_line(result.stderr)
    assert len(list_all(env)) == 2


def test_an_enqueue_that_makes_its_database_says_so(env: Env) -> None:
    """`enqueue` from a folder without the project's jobs.toml put its job into the default
    database, made on the spot, while the worker ran on the project's: the job waited for
    good and nothing said why."""
    env.write_config(CONFIG)
    first = env.run("enqueue", "greet", "--arg", "name=a")
    assert first.returncode == 0 and first.stdout.strip().isdigit()
    assert first.stderr == (
        f"jobctl: note: {env.db} is a new database, which no worker serves yet (a worker takes"
        " jobs from the database its --db, $JOBCTL_DB or jobs.toml names)\n"
    )
    again = env.run("enqueue", "greet", "--arg", "name=b")
    assert (again.returncode, again.stderr) == (0, "")
    env.db = env.root / "other.db"
    batch = env.run("enqueue", "--batch", "-", input="{}\n")
    assert batch.returncode == 2  # refused before anything is made: no note, no file
    assert "new database" not in batch.stderr and not env.db.exists()
    made = env.run("enqueue", "--batch", "-", input='{"job": "greet", "payload": {"name": "c"}}')
    assert made.returncode == 0 and "other.db is a new database" in made.stderr


# ---------------------------------------------------------------------------------------------
# --delay and --at


def test_delay_schedules_the_job_for_later(env: Env) -> None:
    env.write_config(CONFIG)
    job_id = env.enqueue("greet", "--arg", "name=x", "--delay", "1h30m")
    job = env.show(job_id)
    assert job["state"] == "scheduled"
    wait = timestamp(job["run_at"]) - timestamp(job["created_at"])
    assert wait == pytest.approx(5400, abs=0.01)
    burst(env)
    assert env.show(job_id)["state"] == "scheduled"


def test_short_delay_runs_once_it_is_due(env: Env) -> None:
    env.write_config(CONFIG)
    job_id = env.enqueue("record", "--delay", "300ms")
    worker = env.start("run-worker")
    waited = env.run("wait", str(job_id), "--timeout", "30s")
    assert waited.returncode == 0, waited.stderr
    job = env.show(job_id)
    assert timestamp(job["started_at"]) >= timestamp(job["created_at"]) + 0.3 - 0.002
    worker.terminate()
    assert worker.wait(timeout=30) == 0


def test_at_takes_an_iso_time_with_offset(env: Env) -> None:
    env.write_config(CONFIG)
    india = timezone(timedelta(hours=5, minutes=30))
    when = (datetime.now(UTC) + timedelta(hours=2)).astimezone(india).replace(microsecond=0)
    later = env.enqueue("record", "--at", when.isoformat())
    job = env.show(later)
    assert job["state"] == "scheduled"
    assert timestamp(job["run_at"]) == pytest.approx(when.timestamp(), abs=0.001)

    # A time already past runs now: a run_at years back made a job created a second ago the
    # oldest ready job by years (status, health --max-age, the wait times of stats).
    past = env.enqueue("record", "--at", "2020-01-01T00:00:00Z")
    job = env.show(past)
    assert job["state"] == "queued"
    assert timestamp(job["run_at"]) == timestamp(job["created_at"])
    assert env.run("health", "--max-age", "1h").returncode == 0
    batch = '{"job": "record", "payload": {"msg": "x"}, "at": "2020-01-01T00:00:00Z"}\n'
    (from_batch,) = map(int, env.run("enqueue", "--batch", "-", input=batch).stdout.split())
    job = env.show(from_batch)
    assert timestamp(job["run_at"]) == timestamp(job["created_at"])
    burst(env)
    assert env.show(past)["state"] == "succeeded"
    assert env.show(later)["state"] == "scheduled"


def test_delay_and_at_together_are_refused(env: Env) -> None:
    env.write_config(CONFIG)
    make_database(env)
    result = env.run("enqueue", "record", "--delay", "1m", "--at", "2030-01-01T00:00:00Z")
    assert result.returncode == 2
    one_error_line(result.stderr)
    assert list_all(env) == []


# ---------------------------------------------------------------------------------------------
# --priority, --queue


def test_priority_then_fifo(env: Env) -> None:
    env.write_config(CONFIG)
    priorities = [0, 0, 10, 5, 10, -1, 5]
    ids = [env.enqueue("record", "--priority", str(p)) for p in priorities]
    burst(env, "--concurrency", "1")
    ran = [int(word) for word in (env.root / "order.txt").read_text().split()]
    expected = [job_id for _, job_id in sorted(zip([-p for p in priorities], ids, strict=True))]
    assert ran == expected
    assert [env.show(i)["priority"] for i in ids[:3]] == [0, 0, 10]


def test_queue_option_and_worker_queue_filter(env: Env) -> None:
    env.write_config(CONFIG)
    mail = env.enqueue("record", "--queue", "mail")
    default = env.enqueue("record")
    report = env.enqueue("report")
    assert env.show(mail)["queue"] == "mail"
    assert env.show(default)["queue"] == "default"
    configured = env.show(report)
    assert configured["queue"] == "reports"  # the job type's queue and priority
    assert configured["priority"] == 7

    burst(env, "-q", "mail")
    assert env.show(mail)["state"] == "succeeded"
    assert env.show(default)["state"] == "queued"
    assert env.show(report)["state"] == "queued"

    burst(env, "--queue", "reports", "--queue", "default")
    assert env.show(default)["state"] == "succeeded"
    assert env.show(report)["state"] == "succeeded"


def test_bad_queue_name_is_refused(env: Env) -> None:
    env.write_config(CONFIG)
    result = env.run("enqueue", "record", "--queue", "no spaces/allowed")
    assert result.returncode == 2
    assert "queue" in one_error_line(result.stderr)


# ---------------------------------------------------------------------------------------------
# --batch


def test_batch_enqueues_every_line(env: Env) -> None:
    env.write_config(CONFIG)
    batch = env.root / "jobs.jsonl"
    batch.write_text(
        json.dumps({"job": "greet", "payload": {"name": "a"}})
        + "\n\n"
        + json.dumps({"job": "record", "priority": 3, "delay": "1h"})
        + "\n"
        + json.dumps({"command": ["true"], "queue": "adhoc"})
        + "\n"
    )
    result = env.run("enqueue", "--batch", str(batch))
    assert result.returncode == 0, result.stderr
    ids = [int(word) for word in result.stdout.split()]
    assert len(ids) == 3
    jobs = list_all(env)
    assert [j["id"] for j in jobs] == ids
    assert [j["job"] for j in jobs] == ["greet", "record", "exec"]
    assert jobs[0]["payload"] == {"name": "a"}
    assert jobs[1]["state"] == "scheduled"
    assert jobs[1]["priority"] == 3
    assert jobs[2]["queue"] == "adhoc"
    assert jobs[2]["command"] == ["true"]


# Values a payload may hold that JSON escapes: each must come back exactly as given.
AWKWARD_VALUES = [
    'say "hi"',
    "back\\slash \\u0041 \\n",
    "new\nline\ttab\r\x01\x1f\x7f",
    "é ß 漢字 \u2028 \ufeff",
    "😀 𝄞",
    "</script>",
    "",
]


def test_a_long_batch_stores_every_line_as_given(env: Env) -> None:
    """Runs of one job type go in by the run: the ids, states, payloads and counts of a
    batch whose runs are broken up by every other kind of line must come back as given."""
    env.write_config(CONFIG)
    lines: list[dict[str, Any]] = []
    for n in range(60):
        lines.append({"job": "record", "payload": {"n": n, "v": AWKWARD_VALUES[n % 7]}})
    lines.append({"job": "record", "key": "only-once"})
    lines += [{"job": "report", "payload": {"n": n}} for n in range(40)]
    lines.append({"job": "record", "delay": "1h"})
    lines += [{"job": "record", "payload": {"n": n}} for n in range(3)]  # a short run
    lines.append({"command": ["true"]})
    lines += [{"job": "greet", "payload": {"name": v}} for v in AWKWARD_VALUES * 5]
    batch = env.root / "long.jsonl"
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = env.run("enqueue", "--batch", str(batch))
    assert result.returncode == 0, result.stderr
    ids = [int(word) for word in result.stdout.split()]
    assert ids == list(range(1, len(lines) + 1))
    jobs = list_all(env)
    assert [j["id"] for j in jobs] == ids
    for line, job in zip(lines, jobs, strict=True):
        assert job["job"] == line.get("job", "exec")
        assert job["payload"] == line.get("payload", {})
    states = [j["state"] for j in jobs]
    assert states.count("scheduled") == 1
    assert jobs[60]["key"] == "only-once"
    assert {j["queue"] for j in jobs[61:101]} == {"reports"}
    assert {j["priority"] for j in jobs[61:101]} == {7}
    assert {j["max_attempts"] for j in jobs if j["job"] == "greet"} == {5}
    status = json.loads(env.run("status", "--json", check=True).stdout)
    counts = {q["queue"]: q["counts"] for q in status["queues"]}
    assert counts["reports"]["queued"] == 40
    assert counts["default"]["queued"] == len(lines) - 40 - 1
    assert counts["default"]["scheduled"] == 1


BAD_LINES = [
    pytest.param({"job": "nope"}, "unknown job 'nope'", 2, id="unknown-job"),
    pytest.param("{not json", "invalid JSON", 2, id="bad-json"),
    pytest.param([1, 2], "JSON object", 2, id="not-an-object"),
    pytest.param({"job": "greet"}, "{name}", 2, id="missing-placeholder"),
    # After lines of the same job type, which take the batch reader's short path.
    pytest.param({"job": "greet", "payload": {"name": "a\0b"}}, "NUL", 2, id="nul-in-placeholder"),
    pytest.param({"job": "record", "payload": [1]}, "payload", 2, id="payload-not-object"),
    pytest.param({"job": "record", "delay": "soon"}, "invalid duration", 2, id="bad-delay"),
    pytest.param({"job": "record", "colour": "red"}, "colour", 2, id="unknown-field"),
    pytest.param({"job": "record", "priority": "high"}, "priority", 2, id="bad-priority"),
    pytest.param(
        {"job": "record", "command": ["pwd"]}, "'job' or 'command'", 2, id="job-and-command"
    ),
    pytest.param({"job": "record", "cwd": "/tmp"}, "'cwd' goes with", 2, id="cwd-of-a-type"),
    pytest.param({"command": ["pwd"], "cwd": "rel"}, "absolute", 2, id="relative-cwd"),
    pytest.param({"job": "record", "key": "k" * 1025}, "over 1,024", 2, id="long-key"),
    pytest.param('{"job": "record", "key": "\\ud800"}', "key is not valid", 2, id="surrogate-key"),
    pytest.param(
        '{"command": ["true"], "cwd": "/tmp/\\ud800"}', "cwd is not valid", 2, id="surrogate-cwd"
    ),
]


@pytest.mark.parametrize(("bad", "needle", "code"), BAD_LINES)
def test_batch_is_all_or_nothing(env: Env, bad: object, needle: str, code: int) -> None:
    env.write_config(CONFIG)
    make_database(env)
    good = json.dumps({"job": "greet", "payload": {"name": "ok"}})
    bad_line = bad if isinstance(bad, str) else json.dumps(bad)
    lines = "\n".join([good, good, bad_line, good]) + "\n"
    result = env.run("enqueue", "--batch", "-", input=lines)
    assert result.returncode == code
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert line.startswith("jobctl: <stdin>:3: "), line
    assert needle in line
    assert list_all(env) == []


def test_batch_options_apply_to_every_line_that_does_not_say_otherwise(env: Env) -> None:
    """`--delay 1h` with a batch ran every line at once, in the wrong queue: the options
    were not even checked. They are defaults for the lines now; a line's own value wins."""
    env.write_config(CONFIG)
    lines = [
        {"job": "record"},
        {"job": "record"},  # the reader's short path: the first line's template
        {"job": "record", "priority": 2, "queue": "own", "max_attempts": 4},
        {"job": "record", "delay": 0},
        {"command": ["pwd"]},
        # Every field written, unset ones as null (jq, Python's None): the options apply.
        {"job": "record", "queue": None, "priority": None, "delay": None, "at": None,
         "max_attempts": None, "key": None, "payload": None},
    ]  # fmt: skip
    result = env.run(
        "enqueue", "--batch", "-", "--delay", "1h", "--priority", "9", "--queue", "bulk",
        "--max-attempts", "1", input="".join(json.dumps(line) + "\n" for line in lines),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    jobs = list_all(env)
    assert [(j["state"], j["queue"], j["priority"], j["max_attempts"]) for j in jobs] == [
        ("scheduled", "bulk", 9, 1),
        ("scheduled", "bulk", 9, 1),
        ("scheduled", "own", 2, 4),
        ("queued", "bulk", 9, 1),
        ("scheduled", "bulk", 9, 1),
        ("scheduled", "bulk", 9, 1),
    ]
    assert jobs[0]["run_at"] == jobs[1]["run_at"]
    assert jobs[4]["cwd"] == str(env.root)  # a command runs where --exec would run it
    for options, needle in [
        (["--delay", "bogus"], "--delay"),
        (["--queue", "bad name!"], "bad queue name"),
        (["--key", "k"], "--key names one job"),
        (["--delay", "1h", "--at", "2030-01-01T00:00:00Z"], "not both"),
    ]:
        refused = env.run("enqueue", "--batch", "-", *options, input='{"job": "record"}\n')
        assert refused.returncode == 2, options
        assert needle in one_error_line(refused.stderr), options
    assert len(list_all(env)) == len(lines)


def test_batch_error_names_the_file_and_line(env: Env) -> None:
    env.write_config(CONFIG)
    make_database(env)
    batch = env.root / "in.jsonl"
    batch.write_text('{"job": "record"}\n\n{"job": "record"}\n{"job": "missing"}\n')
    result = env.run("enqueue", "--batch", str(batch))
    assert result.returncode == 2
    assert one_error_line(result.stderr).startswith(f"jobctl: {batch}:4: ")
    assert list_all(env) == []


# ---------------------------------------------------------------------------------------------
# --exec


def test_exec_queues_an_ad_hoc_command_with_literal_arguments(env: Env) -> None:
    env.write_config(CONFIG)
    words = ["two words", "*", "$HOME", "; touch pwned", "ünï ✓"]
    job_id = env.enqueue("--exec", "--", "sh", "-c", 'printf "%s\\n" "$@" > exec.out', "sh", *words)
    job = env.show(job_id)
    assert job["job"] == "exec"
    assert job["command"] == ["sh", "-c", 'printf "%s\\n" "$@" > exec.out', "sh", *words]
    burst(env)
    assert env.show(job_id)["state"] == "succeeded"
    # It ran in the directory it was queued from, with every argument intact.
    assert (env.root / "exec.out").read_text(encoding="utf-8").splitlines() == words
    assert not (env.root / "pwned").exists()


def test_exec_without_a_command_is_refused(env: Env) -> None:
    env.write_config(CONFIG)
    result = env.run("enqueue", "--exec")
    assert result.returncode == 2
    assert "--exec" in one_error_line(result.stderr)
    empty = env.run("enqueue", "--exec", "--", "", "x")  # '' would fail every attempt
    assert empty.returncode == 2
    assert one_error_line(empty.stderr) == "jobctl: --exec: the command's name is empty"
    assert not env.db.exists()  # nothing stored


def test_exec_of_a_shell_line_in_one_word_is_refused_saying_how(env: Env) -> None:
    """pueue runs `pueue add 'make && make install'` with a shell; jobctl runs none, so the
    one word named no program and every attempt failed (command not found), then went dead."""
    env.write_config(CONFIG)
    result = env.run("enqueue", "--exec", "make && make install")
    assert result.returncode == 2
    assert one_error_line(result.stderr) == (
        "jobctl: --exec: 'make && make install' is one word, which names no program: jobctl"
        " runs no shell; give the words apart (--exec -- make ...) or ask for a shell"
        " (--exec -- sh -c 'make && make install')"
    )
    assert not env.db.exists()
    program = env.root / "my tool"  # a program whose name has a space is still one
    program.write_text("#!/bin/sh\necho ran\n")
    program.chmod(0o755)
    job_id = env.enqueue("--exec", "--", "./my tool")
    burst(env)
    assert env.run("logs", str(job_id), check=True).stdout == "ran\n"


# ---------------------------------------------------------------------------------------------
# --json


FIELDS = {
    "id",
    "job",
    "queue",
    "state",
    "priority",
    "attempts",
    "max_attempts",
    "payload",
    "key",
    "run_at",
    "created_at",
    "started_at",
    "finished_at",
    "exit_code",
    "error",
}


@pytest.mark.parametrize("tz", ["UTC0", "IST-5:30", "NST+3:30"])
def test_json_output_fields(env: Env, tz: str) -> None:
    env.env["TZ"] = tz
    env.write_config(CONFIG)
    before = time.time()
    result = env.run(
        "enqueue",
        "greet",
        "--json",
        "--arg",
        "name=Zoë",
        "--arg",
        "n:=3",
        "--key",
        "k-1",
        "--priority",
        "4",
    )
    after = time.time()
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= FIELDS
    assert isinstance(doc["id"], int)
    assert doc["job"] == "greet"
    assert doc["queue"] == "default"
    assert doc["state"] == "queued"
    assert doc["priority"] == 4
    assert doc["attempts"] == 0
    assert doc["max_attempts"] == 5
    assert doc["payload"] == {"name": "Zoë", "n": 3}
    assert doc["key"] == "k-1"
    assert before - 0.01 <= timestamp(doc["created_at"]) <= after + 0.01
    assert timestamp(doc["run_at"]) == timestamp(doc["created_at"])
    for name in ("started_at", "finished_at", "exit_code", "error"):
        assert doc[name] is None, name

    burst(env)
    done = env.show(doc["id"])
    assert set(done) >= FIELDS
    assert done["state"] == "succeeded"
    assert done["attempts"] == 1
    assert done["exit_code"] == 0
    assert done["error"] is None
    started, finished = timestamp(done["started_at"]), timestamp(done["finished_at"])
    assert timestamp(done["created_at"]) <= started <= finished <= time.time() + 0.01
    listed = list_all(env)
    assert listed[0]["id"] == doc["id"]
    assert set(listed[0]) >= FIELDS


def test_at_in_a_spring_forward_gap_runs_after_the_change_not_before(env: Env) -> None:
    """02:30 does not exist on 2027-03-14 in New York: it is read as 03:30 summer time, as
    at(1) reads it; --at gave 01:30, an hour before the time asked for. (A future date: a
    past --at runs now.)"""
    env.write_config(CONFIG)
    env.env["TZ"] = "America/New_York"
    done = env.run("enqueue", "record", "--at", "2027-03-14T02:30:00", check=True)
    job_id = int(done.stdout)
    assert (
        timestamp(env.show(job_id)["run_at"])
        == datetime(2027, 3, 14, 7, 30, tzinfo=UTC).timestamp()
    )
    # Said: the time asked for is not the one the job runs at.
    assert done.stderr.startswith(
        "jobctl: note: --at: 2027-03-14T02:30:00 does not exist in America/New_York (the"
        " clocks skip it): read as 2027-03-14T03:30:00-04:00\n"
    )


def test_at_a_local_time_that_happens_twice_takes_the_first_and_says_so(env: Env) -> None:
    env.write_config(CONFIG)
    env.env["TZ"] = "America/New_York"
    done = env.run("enqueue", "record", "--at", "2027-11-07T01:30", check=True)
    first = datetime(2027, 11, 7, 5, 30, tzinfo=UTC).timestamp()  # 01:30 summer time (-04:00)
    assert timestamp(env.show(int(done.stdout))["run_at"]) == first
    assert "happens twice in America/New_York" in done.stderr
    assert "read as the first, 2027-11-07T01:30:00-04:00; give an offset" in done.stderr
    # With an offset, or at a time that happens once, nothing needs saying.
    for at in ("2027-11-07T01:30-05:00", "2027-11-07T03:30"):
        assert env.run("enqueue", "record", "--at", at, check=True).stderr == ""


def test_a_key_is_an_id_not_a_document(env: Env) -> None:
    env.write_config(CONFIG)
    env.enqueue("record", "--key", "k" * 1024)
    refused = env.run("enqueue", "record", "--key", "k" * 1025)
    assert refused.returncode == 2
    assert "is 1,025 characters long, over 1,024" in one_error_line(refused.stderr)
    assert len(list_all(env)) == 1


def test_a_batch_file_may_start_with_a_byte_order_mark(env: Env) -> None:
    env.write_config(CONFIG)
    batch = env.root / "windows.jsonl"
    batch.write_bytes(b'\xef\xbb\xbf{"job": "record"}\r\n{"job": "record"}\r\n')
    for source, stdin in ((str(batch), None), ("-", batch.read_text(encoding="utf-8"))):
        result = env.run("enqueue", "--batch", source, input=stdin)
        assert result.returncode == 0, result.stderr
    assert len(list_all(env)) == 4


def test_at_follows_a_posix_tz_rule_the_c_library_reads(env: Env) -> None:
    env.write_config(CONFIG)
    env.env["TZ"] = "JST-9"
    job_id = env.enqueue("record", "--at", "2030-01-01T10:00:00")
    assert timestamp(env.show(job_id)["run_at"]) == datetime(2030, 1, 1, 1, tzinfo=UTC).timestamp()


def test_batch_options_are_checked_as_options_before_any_line(env: Env) -> None:
    env.write_config(CONFIG)
    own = '{"job": "record", "queue": "q", "max_attempts": 2}\n'
    for options, needle in [
        (
            ["--max-attempts", "0"],
            "--batch options: --max-attempts: must be between 1 and 1000, got 0",
        ),
        (["--queue", "bad name!"], "--batch options: bad queue name 'bad name!'"),
    ]:
        for lines in (own, ""):  # every line sets its own, or there is none
            refused = env.run("enqueue", "--batch", "-", *options, input=lines)
            assert refused.returncode == 2, (options, lines)
            assert one_error_line(refused.stderr).startswith(f"jobctl: {needle}")


def test_a_batch_command_in_a_deleted_directory_is_refused(env: Env) -> None:
    """It ran in the worker's directory instead of the caller's, without a word."""
    import shlex
    import subprocess
    import sys

    env.write_config(CONFIG)
    gone = env.root / "gone"
    gone.mkdir()
    jobctl = " ".join(shlex.quote(w) for w in [sys.executable, "-m", "jobctl"])
    script = (
        f"cd {shlex.quote(str(gone))} && rmdir {shlex.quote(str(gone))} && "
        f"{jobctl} --config {shlex.quote(str(env.config))} --db {shlex.quote(str(env.db))}"
        " enqueue --batch -"
    )
    result = subprocess.run(
        ["sh", "-c", script],
        input='{"job": "record"}\n{"command": ["pwd"]}\n',
        capture_output=True,
        text=True,
        env=env.env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "<stdin>:2: a command runs in the current directory" in one_error_line(result.stderr)


@pytest.mark.parametrize("how", ["--batch", "--payload-file"])
def test_jobs_read_from_a_slow_stdin_are_stamped_once_read(env: Env, how: str) -> None:
    """`producer | jobctl enqueue --batch - --delay 10m`: the producer may run for minutes.
    The jobs were stamped when the command started, so the delay ran out meanwhile and
    `created_at` came before the job existed."""
    import subprocess
    from pathlib import Path

    from conftest import JOBCTL

    env.write_config(CONFIG)
    args = ["--batch", "-"] if how == "--batch" else ["report", "--payload-file", "-"]
    proc = subprocess.Popen(
        [*JOBCTL, *env.global_args(), "enqueue", *args, "--delay", "1h"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
    )
    assert proc.stdin is not None
    wchan = Path(f"/proc/{proc.pid}/wchan")
    env.wait_for(lambda: "pipe_read" in wchan.read_text())  # blocked on its stdin
    written = time.time()
    out, _ = proc.communicate('{"job": "report"}\n' if how == "--batch" else "{}\n", timeout=30)
    assert proc.returncode == 0
    job = env.show(int(out))
    created = datetime.fromisoformat(str(job["created_at"])).timestamp()
    due = datetime.fromisoformat(str(job["run_at"])).timestamp()
    assert created >= written - 0.01  # to the millisecond, as shown
    assert due - created == pytest.approx(3600, abs=0.01)


def test_a_batch_command_no_process_could_start_with_is_refused(env: Env) -> None:
    """An argument over Linux's 128 KiB was stored, then failed every attempt and went dead."""
    env.write_config(CONFIG)
    batch = env.root / "big.jsonl"
    lines = [{"command": ["echo", "fine"]}, {"command": ["echo", "y" * 140_000]}]
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines))
    refused = env.run("enqueue", "--batch", str(batch))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"jobctl: {batch}:2: command word 2 is 140000 bytes: Linux starts no process with an"
        " argument over 128 KiB (pass large data in a file)\n"
    )
    assert not env.db.exists()  # nothing half-written: not even a database


def test_a_batch_command_whose_words_overflow_linux_s_limit_is_refused(env: Env) -> None:
    # 3,000 words of 1,000 bytes: each within 128 KiB, 3 MB in all, over ARG_MAX (2 MiB).
    env.write_config(CONFIG)
    line = json.dumps({"command": ["echo", *["w" * 999] * 3000]})
    refused = env.run("enqueue", "--batch", "-", input=line + "\n")
    assert refused.returncode == 2
    assert refused.stderr.startswith("jobctl: <stdin>:1: the command's 3001 words take 3024013")
    assert not env.db.exists()


def test_a_payload_that_fills_a_command_past_linux_s_limit_is_refused(env: Env) -> None:
    """Within max_payload, a value a placeholder uses twice (`{v}{v}`) made a 200 KB argument:
    stored, every attempt failed with 'Argument list too long', then the job went dead."""
    env.write_config(
        '[settings]\nmax_payload = "127KiB"\n'
        '[jobs.twice]\ncommand = ["sh", "-c", "echo ${#1}", "sh", "{v}{v}"]\n'
        '[jobs.once]\ncommand = ["sh", "-c", "echo ${#1}", "sh", "{v}"]\n'
    )
    big = json.dumps({"v": "x" * 100_000})
    refused = env.run("enqueue", "twice", "--payload", big)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "jobctl: job 'twice' with this payload: command word 5 is 200000 bytes: Linux starts no"
        " process with an argument over 128 KiB (pass large data in a file)\n"
    )
    small = '{"job": "twice", "payload": {"v": "a"}}'
    batch = env.run(
        "enqueue", "--batch", "-", input=f'{small}\n{{"job": "twice", "payload": {big}}}\n'
    )
    assert batch.returncode == 2 and batch.stderr.startswith("jobctl: <stdin>:2: job 'twice'")
    assert not env.db.exists()  # nothing stored, from either
    once = env.enqueue("once", "--payload", big)  # used once, it fits: it runs
    burst(env)
    assert env.run("logs", str(once), check=True).stdout == "100000\n"


def test_batch_lines_end_at_newlines_only(env: Env) -> None:
    """U+2028, U+2029 and U+0085 may stand raw inside a JSON string (json.dumps with
    ensure_ascii=False writes them so): splitlines() cut such a line in two."""
    env.write_config(CONFIG)
    values = ["a\u2028b", "c\u2029d", "e\x85f"]
    lines = [
        json.dumps({"job": "greet", "payload": {"name": v}}, ensure_ascii=False) for v in values
    ]
    batch = env.root / "seps.jsonl"
    batch.write_bytes(("\n".join(lines[:2]) + "\r\n" + lines[2] + "\r\n").encode())
    ids = [
        int(word) for word in env.run("enqueue", "--batch", str(batch), check=True).stdout.split()
    ]
    assert [env.show(i)["payload"] for i in ids] == [{"name": v} for v in values]


def test_a_batch_line_longer_than_any_job_is_refused_before_it_is_decoded(env: Env) -> None:
    env.write_config('[settings]\nmax_payload = "1KiB"\n' + CONFIG)
    line = json.dumps({"job": "greet", "payload": {"name": "x" * 20_000_000}})
    refused = env.run("enqueue", "--batch", "-", input=line + "\n")
    assert refused.returncode == 2
    assert refused.stderr == (
        f"jobctl: <stdin>:1: line is over {longest_batch_line(1024)} characters, longer than any"
        " job within max_payload (1024 bytes) could be\n"
    )


def test_a_batch_with_no_line_break_is_refused_at_the_longest_line_not_read_whole(
    env: Env,
) -> None:
    """`enqueue --batch /dev/zero` read until the kernel killed it (3.4 GB in 8 s): a line is
    read no further than the longest a job can fill, then refused with its number."""
    import resource
    import subprocess

    from conftest import JOBCTL

    env.write_config(CONFIG)

    def limited() -> None:  # far above what reading a batch line needs
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    ok_line = json.dumps({"job": "greet", "payload": {"name": "a"}}) + "\n"
    for args, stdin in ((["/dev/zero"], None), (["-"], "/dev/zero"), (["-"], "lines")):
        source = None
        if stdin == "/dev/zero":
            source = open("/dev/zero", "rb")  # noqa: SIM115
        elif stdin == "lines":  # two good lines, then one without end
            (env.root / "in.txt").write_bytes((ok_line * 2).encode() + b"\0" * 50_000_000)
            source = open(env.root / "in.txt", "rb")  # noqa: SIM115
        try:
            result = subprocess.run(
                [*JOBCTL, *env.global_args(), "enqueue", "--batch", *args],
                stdin=source,
                capture_output=True,
                timeout=60,
                env=env.env,
                cwd=env.root,
                preexec_fn=limited,
            )
        finally:
            if source is not None:
                source.close()
        line = 3 if stdin == "lines" else 1
        assert result.returncode == 2, result.stderr
        assert f":{line}: line is over " in result.stderr.decode()
    assert not env.db.exists()  # nothing stored


def test_a_batch_line_with_a_null_payload_has_an_empty_one(env: Env) -> None:
    """`jq -c '{job, payload: .args}'` writes null where a record has no args: null is taken
    as absent, as it is for key, queue and delay."""
    env.write_config(CONFIG)
    batch = env.root / "null.jsonl"
    batch.write_text('{"job": "report", "payload": null}\n{"job": "report", "key": null}\n')
    ids = [
        int(line) for line in env.run("enqueue", "--batch", str(batch), check=True).stdout.split()
    ]
    assert [env.show(job_id)["payload"] for job_id in ids] == [{}, {}]


def test_exec_jobs_run_on_a_database_named_as_a_sqlite_url(env: Env) -> None:
    """`--db sqlite:///PATH` is the same private file as the path: --exec commands are
    allowed there, as on any SQLite database (only a server's records are anyone's)."""
    url = f"sqlite://{env.root / 'q.db'}"
    env.run("--db", url, "enqueue", "--exec", "--", "touch", "ran", check=True)
    env.run("--db", url, "run-worker", "--burst", check=True)
    assert (env.root / "ran").exists()


def _enqueue_at_a_terminal(env: Env, *args: str) -> tuple[str, str]:
    """`jobctl enqueue ARGS` with stderr a terminal (a person at a shell): stdout, stderr."""
    import os
    import subprocess

    from conftest import JOBCTL

    terminal, its_side = os.openpty()
    try:
        done = subprocess.run(
            [*JOBCTL, *env.global_args(True, args), "enqueue", *args],
            stdout=subprocess.PIPE,
            stderr=its_side,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
        )
        os.close(its_side)
        said = b""
        with contextlib.suppress(OSError):  # EIO: the terminal's other side is closed
            while chunk := os.read(terminal, 4096):
                said += chunk
    finally:
        os.close(terminal)
    assert done.returncode == 0, said
    return done.stdout, said.decode().replace("\r\n", "\n")


def test_a_job_queued_at_a_terminal_where_no_worker_takes_it_is_said_so(env: Env) -> None:
    """pueue refuses `add` while its daemon is down; jobctl queues the job (a worker may come
    later), but a person at a shell who sees only an id takes it for a job about to run. At a
    terminal, enqueue says why nothing will run it: no live worker serves its queue, or the
    queue is paused. Scripts (no terminal on stderr) hear nothing, and a served queue
    nothing either."""
    env.write_config(CONFIG)
    env.enqueue("record")  # the database exists: its own note is not this one
    out, said = _enqueue_at_a_terminal(env, "record")
    assert out.strip().isdigit()
    assert said == (
        "jobctl: note: no live worker serves queue 'default' yet"
        " (`jobctl run-worker` or `jobctl up` starts one)\n"
    )
    assert env.run("enqueue", "record", check=True).stderr == ""  # a script's stderr
    env.run("pause", "reports", check=True)
    assert _enqueue_at_a_terminal(env, "report")[1] == (
        "jobctl: note: queue 'reports' is paused until jobctl resume reports\n"
    )
    batch = env.root / "two.jsonl"
    batch.write_text('{"job": "record"}\n{"job": "report"}\n{"job": "record"}\n')
    assert _enqueue_at_a_terminal(env, "--batch", str(batch))[1] == (
        "jobctl: note: no live worker serves queue 'default' yet"
        " (`jobctl run-worker` or `jobctl up` starts one)\n"
        "jobctl: note: queue 'reports' is paused until jobctl resume reports\n"
    )
    env.start("run-worker", "--queue", "default")
    first = env.enqueue("record")
    env.wait_for(lambda: state(env, first) == "succeeded")  # the worker is live
    assert _enqueue_at_a_terminal(env, "record")[1] == ""
