"""How tables fit a terminal's width and how piped tables read: the real CLI on a real
pseudo-terminal of a given width (the rich path), or with stdout a pipe (the plain one)."""

from __future__ import annotations

import json
import re
from datetime import datetime

from conftest import Env
from rich.cells import cell_len
from test_output_edges import run_on_terminal

CONFIG = """
[jobs.echo]
command = ["echo", "{msg}"]
max_attempts = 1

[jobs.backup-database-nightly]
command = ["true", "{path}"]

[jobs.backup-database-weekly]
command = ["true", "{path}"]
"""

PATH = "path=/srv/data/postgres/main/base/16384"


def _lines(text: str) -> list[str]:
    """A terminal's output as lines without colour or the pty's line ends."""
    return [line.rstrip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()]


def _assert_fits(lines: list[str], columns: int) -> None:
    assert all(cell_len(line) <= columns for line in lines), "\n".join(lines)


def _two_backups(env: Env) -> tuple[int, int]:
    env.write_config(CONFIG)
    nightly = env.enqueue("backup-database-nightly", "--arg", PATH)
    weekly = env.enqueue("backup-database-weekly", "--arg", PATH, "--key", "weekly-2026-48")
    return nightly, weekly


def test_list_keeps_job_names_whole_and_drops_spare_columns_first(env: Env) -> None:
    """At 80 columns both jobs read `backup-database…` while TRIES and CREATED stayed: the
    job's name tells the rows apart, and the payload gives way before it."""
    nightly, weekly = _two_backups(env)
    for columns in (80, 60, 40):
        lines = _lines(run_on_terminal(env, "list", columns=columns))
        _assert_fits(lines, columns)
        rows = {int(line.split()[0]): line for line in lines[1:]}
        assert rows[nightly].split()[1] == "backup-database-nightly", lines
        assert rows[weekly].split()[1] == "backup-database-weekly", lines
        if columns < 80:  # the spare columns go before a name is cut
            assert "CREATED" not in lines[0] and "TRIES" not in lines[0]
    wide = _lines(run_on_terminal(env, "list", columns=200))
    assert "CREATED" in wide[0] and PATH in wide[1]


def test_a_queue_name_is_not_cut_before_the_payload(env: Env) -> None:
    """Queues were cut as a payload is: `reports-eu-east` and `reports-eu-west` both read
    `reports-eu…` on a narrow terminal."""
    env.write_config(CONFIG)
    east = env.enqueue("echo", "--arg", "msg=" + "x" * 60, "--queue", "reports-eu-east")
    west = env.enqueue("echo", "--arg", "msg=" + "y" * 60, "--queue", "reports-eu-west")
    for columns in (80, 50):
        lines = _lines(run_on_terminal(env, "list", columns=columns))
        _assert_fits(lines, columns)
        rows = {int(line.split()[0]): line for line in lines[1:]}
        assert "reports-eu-east" in rows[east] and "reports-eu-west" in rows[west], lines


def test_a_waiting_jobs_list_of_ids_is_cut_to_the_terminal(env: Env) -> None:
    """`after 6,7,8,...` for a fan-in of 30 jobs made every row of `list` 120 cells wide."""
    env.write_config(CONFIG)
    batch = "".join(
        json.dumps({"job": "echo", "payload": {"msg": str(n)}, "delay": "1h"}) + "\n"
        for n in range(30)
    )
    stored = env.run("enqueue", "--batch", "-", input=batch, check=True).stdout
    ids = [int(n) for n in stored.split()]
    after = ",".join(map(str, ids))
    last = env.enqueue("echo", "--arg", "msg=last", "--after", after)
    lines = _lines(run_on_terminal(env, "list", "--limit", "3", columns=80))
    _assert_fits(lines, 80)
    row = next(line for line in lines if line.startswith(f"{last} "))
    assert f"after {ids[0]},{ids[1]},{ids[2]},… (30 jobs)" in row, lines
    assert "echo" in row.split()
    piped = env.run("list", "--limit", "1", check=True).stdout  # for grep: every id
    assert f"after {after}" in piped


def test_status_leaves_out_counts_of_zero_before_counts_of_jobs(env: Env) -> None:
    """At 60 columns 30 scheduled jobs were left out and RUNNING 0 kept; at 40 the table
    was still 44 cells wide."""
    env.write_config(CONFIG)
    batch = "".join(
        json.dumps({"job": "echo", "payload": {"msg": str(n)}, "delay": "1h"}) + "\n"
        for n in range(30)
    )
    env.run("enqueue", "--batch", "-", input=batch, check=True)
    env.enqueue("echo", "--arg", "msg=now")
    for columns in (60, 40):
        lines = _lines(run_on_terminal(env, "status", columns=columns))
        _assert_fits(lines, columns)
        head = next(line for line in lines if line.startswith("QUEUE"))
        row = lines[lines.index(head) + 1]
        assert head.split()[:3] == ["QUEUE", "QUEUED", "SCHEDULED"], lines
        assert row.split()[:3] == ["default", "1", "30"], lines
    assert "RUNNING" not in head and "DEAD" not in head  # at 40: 0s are left out first


def test_the_stats_title_stays_on_one_line(env: Env) -> None:
    """At 80 columns the title folded onto a second line (`...(OK +` / `DEAD)`)."""
    _two_backups(env)
    for columns in (80, 40):
        lines = [line for line in _lines(run_on_terminal(env, "stats", columns=columns)) if line]
        assert lines[0].strip().startswith("last 24h, whole hours since "), lines
        assert lines[1].split()[:2] == ["QUEUE", "JOB"], lines
        assert cell_len(lines[0]) <= columns
        assert len(lines) == 4  # the title, the heading, a row per job type


def test_stats_keeps_the_backlog_longer_than_the_windows_enqueues(env: Env) -> None:
    """PENDING (the jobs waiting now) went before ENQUEUED (those the window added): at 50
    columns a backlog of two jobs was out of sight."""
    _two_backups(env)
    header = _lines(run_on_terminal(env, "stats", columns=50))[1].split()
    assert "PENDING" in header and "ENQUEUED" not in header, header


def test_an_error_of_jobctls_words_alone_keeps_its_start(env: Env) -> None:
    """`exit code 4`, with nothing the job wrote after it, was cut to `…de 4` at 40 columns:
    the times give way first, and the error is cut at its end if at all."""
    env.write_config(CONFIG)
    job = env.enqueue("--exec", "--max-attempts", "2", "--", "sh", "-c", "exit 4")
    env.run("run-worker", "--burst", check=True)
    shown = _lines(run_on_terminal(env, "show", str(job), columns=40))
    attempts = shown[shown.index(next(line for line in shown if line.startswith("RUN"))) :]
    _assert_fits(attempts, 40)
    assert [line.split()[0] for line in attempts[1:]] == ["1", "2"], shown
    assert all(line.endswith("exit code 4") for line in attempts[1:]), shown
    dead = _lines(run_on_terminal(env, "dead", "list", columns=40))
    _assert_fits(dead, 40)
    assert "…de 4" not in dead[1] and "exit code" in dead[1], dead


def test_piped_tables_align_by_the_cells_a_character_takes(env: Env) -> None:
    """A CJK or emoji key took 2 cells a character in a UTF-8 terminal (`jobctl list | less`)
    but was padded as 1: every later column shifted."""
    env.write_config(CONFIG)
    env.enqueue("echo", "--arg", "msg=x", "--key", "鍵🔑")
    env.enqueue("echo", "--arg", "msg=y", "--key", "plain-key")
    lines = env.run("list", check=True).stdout.splitlines()
    assert len(lines) == 3
    error_at = {cell_len(line[: line.rindex("  -  ")]) for line in lines[1:]}
    assert len(error_at) == 1, lines


def test_piped_listings_give_times_as_iso_8601(env: Env) -> None:
    """Piped `list` and `dead list` gave `13s ago`, which a saved or mailed report keeps long
    after it was true: they give when, as `show` does."""
    env.write_config(CONFIG)
    queued = env.enqueue("echo", "--arg", "msg=a", "--delay", "1h")
    dead = env.enqueue("--exec", "--", "sh", "-c", "exit 4")
    env.run("run-worker", "--burst", check=True)
    listed = env.run("list", check=True).stdout
    dead_listed = env.run("dead", "list", check=True).stdout
    assert " ago" not in listed and " in " not in listed and " ago" not in dead_listed
    fields = {int(line.split()[0]): line.split() for line in listed.splitlines()[1:]}
    shown = env.show(queued)
    assert fields[queued][6] == shown["created_at"]
    assert fields[queued][7:9] == ["due", shown["run_at"]]
    assert fields[dead][7:9] == ["ended", env.show(dead)["finished_at"]]
    failed = dead_listed.splitlines()[1].split()[4]
    assert datetime.fromisoformat(failed).utcoffset() is not None
    assert failed == env.show(dead)["finished_at"]


def test_an_error_cut_to_its_end_starts_at_a_whole_escape(env: Env) -> None:
    """The cut fell inside the `\\n` a newline of the job's output is shown as, and the
    error read `…nValueError: ...`, words the job never wrote. Lines of `ab` put a `\\n`
    every four characters, where some width cuts; an `n` is in none but the escape."""
    env.write_config(CONFIG)
    job = env.enqueue(
        "--exec", "--max-attempts", "1", "--", "sh", "-c", "yes ab | head -40 >&2; exit 17"
    )
    env.run("run-worker", "--burst", check=True)
    for columns in range(70, 78):
        dead = _lines(run_on_terminal(env, "dead", "list", columns=columns))
        row = next(line for line in dead if line.startswith(str(job)))
        cut = row.partition("exit code 17: …")[2]
        assert cut.endswith("ab") and not cut.startswith("n"), row


def test_cron_next_keeps_each_time_on_one_line_on_a_narrow_terminal(env: Env) -> None:
    """Its table folded every time over two lines below some 65 columns (`2026-12-03T02:30:00`
    then `+01:00`), and at 20 over seven, which can be neither read nor pasted."""
    for columns in (20, 50):
        shown = _lines(
            run_on_terminal(
                env,
                "cron",
                "next",
                "30 2 * * *",
                "-n",
                "2",
                "--tz",
                "Europe/Berlin",
                columns=columns,
            )
        )
        rows = [line for line in shown if re.match(r"\d{4}-\d\d-\d\dT", line)]
        assert len(rows) == 2, shown
        assert all(re.match(r"\d{4}-\d\d-\d\dT02:30:00\+0[12]:00\b", line) for line in rows), shown
